"""The web application in a real browser (Chromium of the distribution, Playwright): signing in through the
emailed link, an IEN deciding from an email, a director completing a step, the CPD's dashboard, accessibility
basics (no console error or CSP violation, French, labels, keyboard focus), the phone-size layout, and a
département's first account table from the CPD's composing to the DANE's validation.

The application runs as `roadmap serve` runs it (local mail sink, dispatcher in the same process) on a fresh demo
database per test; screenshots of the main pages land in test-artifacts/screenshots/."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, expect, sync_playwright

from roadmap.settings import Settings
from tests.roadmap import walk
from tests.roadmap.test_transmission import ready
from tests.roadmap.test_walkthrough import OTHER_DIRECTOR, OTHER_SCHOOL, small_roadmap
from tests.web.client import ADMIN, BAULON, CARDROC, CPD, DIRECTOR, IEN_STGREGOIRE, REDON_SCHOOL
from tests.web.live import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    LiveApp,
    Watched,
    address_of,
    assert_visibly_focused,
    clipped_svg_text,
    horizontal_overflow,
    local_listener,
    numbers,
    open_mail,
    open_session,
    same_named_controls,
    screenshot,
    serve,
    serve_demo,
    sign_in_by_email,
    smallest_svg_text,
    tab_to,
    unlabelled_controls,
)

NEW_DIRECTOR = "gwenaelle.le-bihan@ac-rennes.fr"  # registered by the test for 0350423V (school council to hold)
READABLE_PX = 9  # the smallest text a phone's chart may show, in CSS pixels
MINUTES_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")  # Playwright's event loop must be gone before other modules' tests run
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium "
                    "(scripts/chromium.sh), or `apt-get install chromium chromium-driver`.")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _local_mail(monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    """A listener for the server; mail goes to the local sink and its links lead to this server."""
    for name in list(os.environ):
        if name.startswith("ROADMAP_SMTP_"):
            monkeypatch.delenv(name)
    listener = local_listener()
    monkeypatch.setenv("ROADMAP_BASE_URL", address_of(listener))
    return listener


@pytest.fixture
def live(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveApp]:
    listener = _local_mail(monkeypatch)
    with serve_demo(settings, listener) as app:
        yield app


@pytest.fixture
def live_first_table(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LiveApp]:
    """Ille-et-Vilaine before its first table: Baulon's row is ready, Cardroc is at the transmission step with its
    checklist empty (left out of the table, with the reason)."""
    listener = _local_mail(monkeypatch)
    roadmap = small_roadmap(replace(settings, base_url=address_of(listener)), tmp_path)
    ready(roadmap, tmp_path)
    walk.walk_to_transmission(roadmap, tmp_path, uai=OTHER_SCHOOL, director=OTHER_DIRECTOR, ien=IEN_STGREGOIRE)
    with serve(roadmap, listener) as app:
        yield app


@pytest.fixture
def backend(settings: Settings) -> str:
    return settings.database_url.split(":", 1)[0].split("+", 1)[0]


def new_context(browser: Browser, live: LiveApp, **options: object) -> BrowserContext:
    context = browser.new_context(base_url=live.base_url, locale="fr-FR", timezone_id="Europe/Paris",
                                  **options)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def context(browser: Browser, live: LiveApp) -> Iterator[BrowserContext]:
    context = new_context(browser, live)
    yield context
    context.close()


@pytest.fixture
def tab(context: BrowserContext) -> Iterator[Watched]:
    """A page whose console errors and uncaught exceptions fail the test."""
    watched = Watched(context.new_page())
    yield watched
    assert not watched.problems, "\n".join(watched.problems)


# ------------------------------------------------------------------------------------------------ a. sign-in


def test_a_person_signs_in_through_the_link_read_in_the_local_sink(tab: Watched) -> None:
    page = tab.page
    page.goto("/tableau-de-bord")
    expect(page).to_have_url(re.compile(r"/connexion\?suite=%2Ftableau-de-bord$"))
    sign_in_by_email(page, CPD)
    expect(page).to_have_url(re.compile(r"/tableau-de-bord$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Tableau de bord")
    expect(page.locator("form.signout")).to_contain_text("Paul Le Gall")
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile(r"/connexion\?sortie=1$"))
    page.goto("/tableau-de-bord")
    expect(page).to_have_url(re.compile(r"/connexion\?suite="))  # the session ended on the server too


# ------------------------------------------------------------------------------------------------ b. emailed action


def test_an_ien_approves_the_minutes_from_the_emailed_link(tab: Watched, backend: str) -> None:
    page = tab.page
    open_mail(page, IEN_STGREGOIRE, "Compte rendu soumis")
    text = page.locator("pre.mail").inner_text()
    approve_url = re.search(r"Approuver : (\S+/action/\S+)", text)
    assert approve_url, text
    link = page.locator(f'pre.mail a[href="{approve_url.group(1)}"]')
    expect(link).to_have_count(1)
    link.click()

    expect(page).to_have_url(re.compile(r"/connexion\?suite=%2Faction%2F"))  # signing in first
    sign_in_by_email(page, IEN_STGREGOIRE)
    expect(page).to_have_url(approve_url.group(1))  # back to the emailed action
    expect(page.get_by_role("heading", level=1)).to_contain_text("Approuver")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cardroc")
    screenshot(page, "action", backend)
    page.get_by_role("button", name="Confirmer : approuver").click()

    expect(page).to_have_url(re.compile(rf"/ecoles/{CARDROC}\?fait=approve$"))
    expect(page.get_by_role("status")).to_contain_text("C'est enregistré")
    expect(page.locator("p.state")).to_contain_text("Étape 4 sur")
    expect(page.locator("p.state")).to_contain_text("Transmission")

    page.goto(approve_url.group(1))  # the same link, once more
    expect(page.get_by_role("status")).to_contain_text("C'est déjà fait")
    expect(page.get_by_role("button", name=re.compile("^Confirmer"))).to_have_count(0)


# ------------------------------------------------------------------------------------------------ c. a director


def test_a_director_fills_the_checklist_uploads_the_minutes_and_moves_on(
        context: BrowserContext, tab: Watched, live: LiveApp, backend: str) -> None:
    live.roadmap.add_person(NEW_DIRECTOR, "director", REDON_SCHOOL, "Gwenaëlle Le Bihan", by=ADMIN)
    open_session(context, live, NEW_DIRECTOR)
    page = tab.page
    page.goto("/")
    expect(page).to_have_url(re.compile(rf"/ecoles/{REDON_SCHOOL}$"))
    expect(page.locator("p.state")).to_contain_text("Conseil d'école")
    advance = page.get_by_role("button", name="Valider l'étape")
    expect(advance).to_have_attribute("aria-describedby", "bloque-advance")  # blocked: the checklist is empty

    def item(item_id: str) -> Locator:
        return page.locator(f"#element-{item_id}")

    item("council_date").get_by_label("Date").fill("16/11/2026")
    item("council_date").get_by_role("button", name="Enregistrer").click()
    expect(item("council_date")).to_contain_text("16/11/2026")
    for item_id in ("reasons_presented", "onde_transfer_announced", "no_consent_explained", "rights_explained"):
        item(item_id).get_by_role("button", name="Cocher : fait").click()
        expect(item(item_id).get_by_role("button", name="Décocher")).to_be_visible()
    item("minutes").get_by_label("Document").set_input_files(
        {"name": "compte-rendu-conseil.pdf", "mimeType": "application/pdf", "buffer": MINUTES_PDF})
    item("minutes").get_by_role("button", name="Joindre").click()
    expect(item("minutes").get_by_role("link", name="compte-rendu-conseil.pdf")).to_be_visible()
    expect(page.locator("#element-minutes.done")).to_have_count(1)

    expect(advance).not_to_have_attribute("aria-describedby", "bloque-advance")
    advance.click()
    expect(page).to_have_url(re.compile(rf"/ecoles/{REDON_SCHOOL}\?fait=advance$"))
    expect(page.get_by_role("status")).to_contain_text("C'est enregistré")
    expect(page.locator("p.state")).to_contain_text("Compte rendu en attente d'approbation par l'IEN")
    expect(page.locator("ol.history li").first).to_contain_text(NEW_DIRECTOR)
    screenshot(page, "ecole-directrice", backend)


# ------------------------------------------------------------------------------------------------ d. dashboard


def test_the_cpd_filters_and_sorts_the_dashboard_with_its_chart(
        context: BrowserContext, tab: Watched, live: LiveApp, backend: str) -> None:
    open_session(context, live, CPD)
    page = tab.page
    page.goto("/tableau-de-bord")
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    assert chart.locator("rect.chart-bar").count() >= 5
    rows = page.locator("table.board tbody tr")
    total = rows.count()
    assert total >= 5

    page.get_by_label("En retard seulement").check()
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile(r"retard=1"))
    expect(page.locator("p.lead")).to_contain_text("(filtrées)")
    late = rows.count()
    assert 0 < late < total
    expect(rows.locator(".badge-late")).to_have_count(late)
    screenshot(page, "tableau-de-bord-en-retard", backend)

    page.get_by_label("En retard seulement").uncheck()
    circonscription = page.get_by_label("Circonscription")
    chosen = circonscription.locator("option").filter(has_text="Saint Gr").first.inner_text()
    circonscription.select_option(label=chosen)
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile(r"circonscription="))
    names = page.locator("table.board tbody tr td:nth-child(3)").all_inner_texts()
    assert names and all(n == names[0] for n in names) and len(names) < total
    expect(rows.filter(has_text=CARDROC)).to_have_count(1)

    page.get_by_role("link", name="Effacer").click()
    days_header = page.get_by_role("columnheader", name="Jours ouvrés")
    expect(days_header).to_have_attribute("aria-sort", "descending")  # the default: the longest wait first
    days = numbers(page.locator("table.board tbody td.num").all_inner_texts())
    assert days == sorted(days, reverse=True)
    days_header.get_by_role("link").click()
    expect(days_header).to_have_attribute("aria-sort", "ascending")
    ascending = numbers(page.locator("table.board tbody td.num").all_inner_texts())
    assert ascending == sorted(ascending) and ascending != days


# ------------------------------------------------------------------------------------------------ e. accessibility


def check_page(tab: Watched, path: str, focus_ids: list[str]) -> None:
    """On `path`: French, every control labelled, Tab reaches each of `focus_ids` and shows where it is."""
    page = tab.page
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path}: {response and response.status}"
    assert page.get_attribute("html", "lang") == "fr"
    assert unlabelled_controls(page) == [], f"{path}: controls without a label"
    assert clipped_svg_text(page) == [], f"{path}: text cut off at the edge of a drawing"
    assert same_named_controls(page) == [], f"{path}: controls a screen reader cannot tell apart"
    for element_id in focus_ids:
        assert_visibly_focused(tab_to(page, element_id))
    assert not tab.problems, "\n".join(tab.problems)


def test_main_pages_are_french_labelled_keyboard_usable_and_error_free(
        browser: Browser, live: LiveApp, backend: str) -> None:
    pages: dict[str | None, list[tuple[str, list[str], str]]] = {  # who, what, controls Tab reaches, screenshot
        None: [("/connexion", ["email"], "connexion"), ("/boite-locale", ["s-dest"], "boite-locale")],
        CPD: [("/tableau-de-bord", ["f-circo", "f-etape", "f-retard"], "tableau-de-bord"),
              (f"/ecoles/{CARDROC}", [], "ecole"),
              ("/courriels", ["m-statut"], "courriels"),
              ("/groupe", ["g-circo", "g-etape"], "saisie-groupee"),
              ("/annuaire", [], "annuaire"),
              ("/transmissions", ["t-departement"], "transmissions"),
              ("/registre", ["f-ent", "f-fiche", "f-recue"], "registre")],
        IEN_STGREGOIRE: [("/a-faire", [], "a-faire")],
        DIRECTOR: [(f"/ecoles/{BAULON}", [], "ecole-directrice-transmission")],
    }
    for person, visits in pages.items():
        context = new_context(browser, live)
        try:
            if person:
                open_session(context, live, person)
            tab = Watched(context.new_page())
            for path, focus_ids, name in visits:
                check_page(tab, path, focus_ids)
                screenshot(tab.page, name, backend)
        finally:
            context.close()


def test_the_school_page_form_controls_are_reachable_by_keyboard(
        context: BrowserContext, tab: Watched, live: LiveApp) -> None:
    live.roadmap.add_person(NEW_DIRECTOR, "director", REDON_SCHOOL, "Gwenaëlle Le Bihan", by=ADMIN)
    open_session(context, live, NEW_DIRECTOR)
    check_page(tab, f"/ecoles/{REDON_SCHOOL}", ["v-council_date", "v-minutes"])


# ------------------------------------------------------------------------------------------------ f. phone


def test_on_a_phone_the_dashboard_and_school_page_do_not_scroll_sideways(
        browser: Browser, live: LiveApp, backend: str) -> None:
    for person, visits in ((CPD, [("/tableau-de-bord", "telephone-tableau-de-bord"),
                                  (f"/ecoles/{CARDROC}", "telephone-ecole")]),
                           (DIRECTOR, [(f"/ecoles/{BAULON}", "telephone-ecole-directrice")])):
        context = new_context(browser, live, viewport=PHONE, is_mobile=True, has_touch=True)
        try:
            open_session(context, live, person)
            tab = Watched(context.new_page())
            for path, name in visits:
                tab.page.goto(path)
                expect(tab.page.get_by_role("heading", level=1)).to_be_visible()
                assert horizontal_overflow(tab.page, PHONE["width"]) == {}, f"{path} scrolls sideways on a phone"
                if tab.page.locator("svg.chart").count():
                    assert smallest_svg_text(tab.page, "svg.chart") >= READABLE_PX, f"{path}: unreadable chart"
                screenshot(tab.page, name, backend, full_page=False)  # what the phone shows first
            assert not tab.problems, "\n".join(tab.problems)
        finally:
            context.close()


# ------------------------------------------------------------------------------------------------ g. transmissions


def test_the_first_table_goes_from_the_cpds_composing_to_the_danes_validation(
        browser: Browser, live_first_table: LiveApp, backend: str) -> None:
    live = live_first_table
    state = {"dane": "en attente de validation par la DANE", "dsi": "Tableau chez la DSI"}
    cpd_context, dane_context = new_context(browser, live), new_context(browser, live)
    try:
        cpd = Watched(cpd_context.new_page())
        page = cpd.page
        page.goto("/transmissions")
        sign_in_by_email(page, walk.CPD)
        expect(page).to_have_url(re.compile(r"/transmissions$"))
        expect(page.locator("tbody").first).to_contain_text("Aucun tableau.")
        expect(page.get_by_label("Département")).to_have_value("035")  # the CPD's own
        page.get_by_role("button", name="Composer le tableau").click()

        # The draft: Baulon's row checked, Cardroc left out with what it still lacks, the route the table takes.
        expect(page).to_have_url(re.compile(r"/transmissions/\d+$"))
        table_path = page.url.removeprefix(live.base_url)
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Tableau n° 1 du département 035"))
        expect(page.get_by_role("status")).to_contain_text("Chaque ligne a été vérifiée")
        rows = page.locator("table.rows tbody tr")
        expect(rows).to_have_count(1)
        expect(page.locator(f"#ligne-{walk.SCHOOL} td.check")).to_have_text("✓ vérifiée")
        expect(page.locator(f"#ligne-{walk.SCHOOL}")).to_contain_text("Baulon")
        left_out = page.locator("li").filter(has_text=OTHER_SCHOOL).first
        expect(left_out).to_contain_text("Cardroc")
        expect(left_out.locator("ul li").first).not_to_be_empty()
        screenshot(page, "transmission-brouillon", backend)
        page.get_by_role("button", name="Envoyer le tableau (DANE (premier tableau du département))").click()

        expect(page).to_have_url(re.compile(r"\?fait=envoi$"))
        expect(page.locator("main")).to_contain_text("État : envoyé")
        expect(page.locator(f"#ligne-{walk.SCHOOL} td.check")).to_have_text("envoyée")
        expect(page.get_by_role("link", name="tableau-creation-comptes-035-1.xlsx")).to_be_visible()
        expect(page.get_by_role("button", name="Valider le tableau")).to_have_count(0)  # the DANE's, not the CPD's
        page.goto(f"/ecoles/{walk.SCHOOL}")
        expect(page.locator("p.state")).to_contain_text(state["dane"])
        page.goto(f"/ecoles/{OTHER_SCHOOL}")
        expect(page.locator("p.state")).not_to_contain_text(state["dane"])  # left out, left where it was
        assert not cpd.problems, "\n".join(cpd.problems)

        # The DANE reads the email (the table attached), follows its link, signs in and validates.
        dane = Watched(dane_context.new_page())
        page = dane.page
        open_mail(page, walk.DANE, "Premier tableau de création des comptes du département 035")
        expect(page.locator("main")).to_contain_text("Pièces jointes")
        expect(page.locator("main ul li").filter(has_text="tableau-creation-comptes-035-1.xlsx")).to_have_count(1)
        page.locator(f'pre.mail a[href$="{table_path}"]').click()
        expect(page).to_have_url(re.compile(r"/connexion\?suite="))
        sign_in_by_email(page, walk.DANE)
        expect(page).to_have_url(re.compile(re.escape(table_path) + "$"))
        screenshot(page, "transmission-dane", backend)
        page.get_by_role("button", name="Valider le tableau").click()

        expect(page).to_have_url(re.compile(r"\?fait=validation$"))
        expect(page.locator("main")).to_contain_text("État : validé par la DANE")
        expect(page.locator("main")).to_contain_text("Décision de la DANE le")
        expect(page.get_by_role("button", name="Valider le tableau")).to_have_count(0)  # once
        page.goto(f"/ecoles/{walk.SCHOOL}")
        expect(page.locator("p.state")).to_contain_text(state["dsi"])

        # The validated table goes on to the DSI, attached, the DANE and the CPD in copy.
        open_mail(page, "dsi.creation-comptes@ac-rennes.fr", "validé par la DANE")
        expect(page.locator("dl.meta")).to_contain_text(walk.CPD)
        expect(page.locator("main ul li").filter(has_text="tableau-creation-comptes-035-1.xlsx")).to_have_count(1)
        assert not dane.problems, "\n".join(dane.problems)
    finally:
        cpd_context.close()
        dane_context.close()
