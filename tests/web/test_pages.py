"""What each role does with the pages: the dashboard (filters, sorting, pages, CSV/XLSX), a director completing a
step, an IEN reading and approving the minutes, emailed action links, bulk work, the inbox, the mail log and the
directory (scoped), the local mail sink."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html import unescape

import pytest
from openpyxl import load_workbook
from sqlmodel import col, func, select

from roadmap import roles
from roadmap.keys import secret_key
from roadmap.links import ActionLinks
from roadmap.mailer import send_test
from roadmap.models import Person, School
from roadmap.service import Roadmap
from roadmap.settings import Settings
from roadmap.views import mail_detail, mail_lines, school_detail, sink_lines
from tests.web.client import (
    ADMIN,
    BAULON,
    CARDROC,
    CPD,
    DANE,
    DIRECTOR_CARDROC,
    DPO,
    IEN_REDON,
    IEN_STGREGOIRE,
    REDON_SCHOOL,
    client_for,
    csrf_of,
    demo_roadmap,
    signed_in_client,
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def state_of(roadmap: Roadmap, uai: str) -> str:
    return school_detail(roadmap, uai).state


def history_length(roadmap: Roadmap, uai: str) -> int:
    return len(school_detail(roadmap, uai).history)


def director_of(roadmap: Roadmap, uai: str) -> str:
    return next(p.email for p in roadmap.people("director") if p.scope == uai)


def action_link(roadmap: Roadmap, recipient: str, event: str) -> str:
    """The path of the emailed link to `event`, from the last mail to `recipient` that carries one."""
    for line in mail_lines(roadmap):
        if line.recipient == recipient:
            text = mail_detail(roadmap, line.id).text
            for found in re.finditer(r"https?://[^/\s]+(/action/\S+)", text):
                links = ActionLinks(secret_key(roadmap.settings.home), roadmap.settings.base_url)
                if links.read(found.group(1).rsplit("/", 1)[1]).event == event:
                    return found.group(1)
    raise AssertionError(f"no {event} link emailed to {recipient}")


# ------------------------------------------------------------------------------------------------ dashboard


def test_the_cpd_dashboard_counts_filters_sorts_and_pages(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = signed_in_client(roadmap, CPD)
    page = client.get("/tableau-de-bord")
    assert page.status_code == 200
    assert "<svg" in page.text and 'role="img"' in page.text
    with roadmap.session() as session:
        schools = session.exec(select(func.count()).select_from(School)).one()
    assert f"<strong>{schools}</strong> écoles dans votre périmètre" in page.text
    assert schools > 100 and "Page 1 / 2" in page.text and page.text.count('href="/ecoles/') == 100

    late = client.get("/tableau-de-bord?retard=1")
    assert re.search(r"<strong>5</strong> écoles dans votre périmètre \(filtrées\)", late.text)
    assert CARDROC in late.text and BAULON in late.text and REDON_SCHOOL not in late.text

    redon = client.get("/tableau-de-bord?circonscription=0350743T&etape=school_council")
    assert REDON_SCHOOL in redon.text and CARDROC not in redon.text

    by_name = client.get("/tableau-de-bord?tri=nom&ordre=asc&etape=funding")
    names = re.findall(r'<a href="/ecoles/\w+">([^<]+)</a>', by_name.text)
    assert len(names) == 2 and names == sorted(names, key=str.casefold)
    assert 'aria-sort="ascending"' in by_name.text

    assert client.get("/tableau-de-bord?page=2").text.count('href="/ecoles/') == schools - 100
    bad = client.get("/tableau-de-bord?page=deux")
    assert bad.status_code == 422 and "numéro de page" in bad.text


# The demo's schools waiting on the CPD since the tables (at the DSI, accounts awaited): late too.
AWAITED = ["0351620W", "0350306T", "0351669Z"]


def test_the_dashboard_exports_what_the_filters_select(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = signed_in_client(roadmap, CPD)
    response = client.get("/tableau-de-bord.csv?retard=1")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "UAI" and sorted(r[0] for r in rows[1:]) == sorted([BAULON, CARDROC, *AWAITED])
    assert all(r[8] == "oui" for r in rows[1:])

    everything = client.get("/tableau-de-bord.xlsx")
    sheet = load_workbook(io.BytesIO(everything.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "UAI" and len(values) - 1 > 100  # every school, not one page
    cardroc = next(v for v in values if v[0] == CARDROC)
    assert cardroc[4] == "3. Conseil d'école" and isinstance(cardroc[7], int)
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", str(cardroc[9]))


def test_an_ien_sees_only_their_circonscription(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = signed_in_client(roadmap, IEN_REDON)
    assert client.get("/").headers["location"] == "/a-faire"
    page = client.get("/tableau-de-bord")
    assert REDON_SCHOOL in page.text and CARDROC not in page.text and BAULON not in page.text
    assert 'id="f-circo"' not in page.text  # a single circonscription: nothing to choose


# ------------------------------------------------------------------------------------------------ school page, work


def test_a_director_completes_the_council_step_and_the_ien_approves_what_they_read(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    director = signed_in_client(roadmap, director_of(roadmap, REDON_SCHOOL))
    assert director.get("/").headers["location"] == f"/ecoles/{REDON_SCHOOL}"
    page = director.get(f"/ecoles/{REDON_SCHOOL}")
    assert page.status_code == 200 and "Liste de l'étape" in page.text and "Pas encore possible" in page.text
    csrf = csrf_of(page.text)

    def fill(item: str, **data: str) -> None:
        response = director.post(f"/ecoles/{REDON_SCHOOL}/liste/{item}", data={"csrf": csrf, **data})
        assert response.status_code == 303, response.text

    fill("council_date", valeur=roadmap.engine.clock().strftime("%d/%m/%Y"))
    for item in ("reasons_presented", "onde_transfer_announced", "no_consent_explained", "rights_explained"):
        fill(item, valeur="oui")
    uploaded = director.post(f"/ecoles/{REDON_SCHOOL}/liste/minutes", data={"csrf": csrf},
                             files={"document": ("compte-rendu.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 303
    page = director.get(f"/ecoles/{REDON_SCHOOL}")
    assert "compte-rendu.pdf" in page.text and "Pas encore possible" not in page.text.split("Autres actions")[0]
    done = director.post(f"/ecoles/{REDON_SCHOOL}/evenements/advance", data={"csrf": csrf})
    assert done.status_code == 303 and state_of(roadmap, REDON_SCHOOL) == "school_council.awaiting_approval"

    ien = signed_in_client(roadmap, IEN_REDON)
    minutes = ien.get(f"/ecoles/{REDON_SCHOOL}/fichiers/minutes")
    assert minutes.status_code == 200 and minutes.content == PDF
    assert minutes.headers["content-type"] == "application/pdf"
    assert minutes.headers["content-disposition"].startswith("inline")
    todo = ien.get("/a-faire")
    assert REDON_SCHOOL in todo.text and "Approuver" in todo.text
    school = ien.get(f"/ecoles/{REDON_SCHOOL}")
    approved = ien.post(f"/ecoles/{REDON_SCHOOL}/evenements/approve", data={"csrf": csrf_of(school.text)})
    assert approved.status_code == 303 and state_of(roadmap, REDON_SCHOOL) == "transmission"
    assert "C'est enregistré" in ien.get(approved.headers["location"]).text


def test_a_refused_action_says_why_and_changes_nothing(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    director = signed_in_client(roadmap, director_of(roadmap, REDON_SCHOOL))
    csrf = csrf_of(director.get(f"/ecoles/{REDON_SCHOOL}").text)
    refused = director.post(f"/ecoles/{REDON_SCHOOL}/evenements/advance", data={"csrf": csrf})
    assert refused.status_code == 409 and "Date du conseil d'école" in unescape(refused.text)
    assert state_of(roadmap, REDON_SCHOOL) == "school_council"
    bad_date = director.post(f"/ecoles/{REDON_SCHOOL}/liste/council_date", data={"csrf": csrf, "valeur": "31/02/2026"})
    assert bad_date.status_code == 422 and "31/02/2026" in bad_date.text
    stale = director.post(f"/ecoles/{REDON_SCHOOL}/evenements/suspend",
                          data={"csrf": csrf, "version": "0", "note": "en attente"})
    assert stale.status_code == 409 and state_of(roadmap, REDON_SCHOOL) == "school_council"


# ------------------------------------------------------------------------------------------------ emailed links


def test_an_emailed_action_link_confirms_then_acts_once_and_is_bound_to_the_state(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    approve = action_link(roadmap, IEN_STGREGOIRE, "approve")
    ask_changes = action_link(roadmap, IEN_STGREGOIRE, "request_changes")
    ien = signed_in_client(roadmap, IEN_STGREGOIRE)

    anonymous = client_for(roadmap).get(approve)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/connexion?suite=")
    confirm = ien.get(approve)
    assert confirm.status_code == 200 and "Confirmer : approuver" in confirm.text
    assert state_of(roadmap, CARDROC) == "school_council.awaiting_approval"  # a GET changes nothing

    done = ien.post(approve, data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 303 and state_of(roadmap, CARDROC) == "transmission"
    again = ien.get(approve)
    assert again.status_code == 200 and "déjà fait" in again.text
    assert ien.post(approve, data={"csrf": csrf_of(again.text)}).status_code == 200
    assert state_of(roadmap, CARDROC) == "transmission"

    moved_on = ien.get(ask_changes)
    assert moved_on.status_code == 409 and "ne peut plus servir" in moved_on.text
    forged = ien.get(approve[:-3] + "xyz")
    assert forged.status_code == 404

    # The IEN leaves the directory and, a year on, is anonymised: the link names them by their pseudonym only.
    assert IEN_STGREGOIRE in unescape(again.text)
    roadmap.remove_person(IEN_STGREGOIRE, by=ADMIN)
    year_on = roadmap.engine.clock() + timedelta(days=366)
    roadmap.engine.clock = lambda: year_on
    assert [d.email for d in roadmap.purge(by=ADMIN)] == [IEN_STGREGOIRE]
    seen = unescape(signed_in_client(roadmap, ADMIN).get(approve).text)
    assert "déjà fait" in seen and "ancien-membre-" in seen and IEN_STGREGOIRE not in seen


# ------------------------------------------------------------------------------------------------ bulk, inbox


def test_bulk_work_applies_each_schools_guards_and_reports_refusals(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    cpd = signed_in_client(roadmap, CPD)
    form = cpd.get("/groupe?etape=funding")
    assert form.status_code == 200 and "funding_agreement" in form.text
    chosen = ["0350266Z", "0351019T", REDON_SCHOOL]
    before = {uai: history_length(roadmap, uai) for uai in chosen}
    report = cpd.post("/groupe", data={"csrf": csrf_of(form.text), "ecole": chosen, "element": "funding_agreement",
                                       "valeur": "oui"})
    assert report.status_code == 200
    assert re.search(r"<strong>2</strong> écoles mises à jour,\s*<strong>1</strong> refus", report.text)
    assert history_length(roadmap, REDON_SCHOOL) == before[REDON_SCHOOL]
    for uai in chosen[:2]:
        assert history_length(roadmap, uai) == before[uai] + 1
    nothing = cpd.post("/groupe", data={"csrf": csrf_of(form.text), "element": "funding_agreement", "valeur": "oui"})
    assert nothing.status_code == 422 and "aucune école cochée" in nothing.text
    assert signed_in_client(roadmap, IEN_REDON).get("/groupe").status_code == 403


def test_the_inbox_lists_what_waits_on_each_person(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    assert CARDROC in signed_in_client(roadmap, IEN_STGREGOIRE).get("/a-faire").text
    assert "Rien ne vous attend" in signed_in_client(roadmap, IEN_REDON).get("/a-faire").text
    assert BAULON in signed_in_client(roadmap, DANE).get("/a-faire").text  # the first table of the département
    director = signed_in_client(roadmap, director_of(roadmap, REDON_SCHOOL)).get("/a-faire")
    assert director.status_code == 200 and "Date du conseil d'école" in unescape(director.text)


# ------------------------------------------------------------------------------------------------ mail, people, sink


def _add_person_elsewhere(roadmap: Roadmap) -> str:
    with roadmap.session() as session, session.begin():
        session.add(Person(email="cpd.numerique94@ac-creteil.fr", name="CPD 94", role="cpd", scope="094"))
    return "cpd.numerique94@ac-creteil.fr"


def test_the_mail_log_and_the_directory_show_only_the_viewers_area(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    elsewhere = _add_person_elsewhere(roadmap)
    send_test(roadmap, elsewhere, by=ADMIN)
    cpd = signed_in_client(roadmap, CPD)
    log = cpd.get("/courriels")
    assert log.status_code == 200 and IEN_STGREGOIRE in log.text and "Compte rendu soumis" in log.text
    assert elsewhere not in log.text
    visitor = client_for(roadmap)
    visitor.post("/connexion", data={"csrf": csrf_of(visitor.get("/connexion").text), "email": CPD})
    sign_in = next(m for m in mail_lines(roadmap) if m.kind == "sign_in")
    assert cpd.get(f"/courriels/{sign_in.id}").status_code == 404  # a sign-in link is nobody else's business
    first = next(m for m in mail_lines(roadmap) if m.recipient == IEN_STGREGOIRE)
    assert "approbation" in cpd.get(f"/courriels/{first.id}").text
    admin_log = signed_in_client(roadmap, ADMIN).get("/courriels")
    assert elsewhere in admin_log.text and f'href="/courriels/{sign_in.id}"' in admin_log.text

    people = cpd.get("/annuaire")
    assert people.status_code == 200 and DIRECTOR_CARDROC in people.text and elsewhere not in people.text
    everyone = signed_in_client(roadmap, ADMIN).get("/annuaire")
    assert elsewhere in everyone.text
    assert signed_in_client(roadmap, DIRECTOR_CARDROC).get("/annuaire").status_code == 403


def test_the_local_mail_sink_is_readable_only_when_the_app_runs_with_it(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    send_test(roadmap, CPD, by=ADMIN)  # no SMTP server configured: delivered into the local sink
    delivered = sink_lines(roadmap, recipient=CPD)[0]  # (the demo's tables went to the DANE and the DSI too)
    with_sink = client_for(roadmap, sink=True)
    listing = with_sink.get(f"/boite-locale?destinataire={CPD}")
    assert listing.status_code == 200 and f'href="/boite-locale/{delivered.id}"' in listing.text
    message = with_sink.get(f"/boite-locale/{delivered.id}")
    assert message.status_code == 200 and delivered.subject in message.text
    without = client_for(roadmap)
    assert without.get("/boite-locale").status_code == 404
    assert without.get(f"/boite-locale/{delivered.id}").status_code == 404


def test_an_intercommunal_project_selects_the_schools_of_several_communes(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    cpd = signed_in_client(roadmap, CPD)
    one = re.findall(r'name="ecole" value="(\w+)"', cpd.get("/groupe?commune=Redon").text)
    two = re.findall(r'name="ecole" value="(\w+)"', cpd.get("/groupe?commune=Redon,%20Cardroc").text)
    assert REDON_SCHOOL in one and CARDROC not in one
    assert set(one) < set(two) and CARDROC in two
    with roadmap.session() as session:
        expected = session.exec(select(func.count()).select_from(School)
                                .where(col(School.commune).in_(["Redon", "Cardroc"]))).one()
    assert len(two) == expected


def test_the_dpo_opens_council_minutes_of_its_academie_and_nothing_else(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    roadmap = demo_roadmap(settings)
    dpo = signed_in_client(roadmap, DPO)
    minutes = dpo.get(f"/ecoles/{CARDROC}/fichiers/minutes")  # Cardroc's minutes wait for the IEN
    assert minutes.status_code == 200 and minutes.content.startswith(b"%PDF")
    last = roadmap.audit_log()[-1]
    assert (last.actor, last.action, last.target) == (DPO, "file.read", f"{CARDROC} school_council.minutes")
    # Nothing to change on the school page: no action button, no checklist form.
    page = dpo.get(f"/ecoles/{CARDROC}")
    assert page.status_code == 200 and "/evenements/" not in page.text and "/liste/" not in page.text
    # A document the DPO is not entitled to is refused (403), the refusal audited.
    monkeypatch.setitem(roles.READABLE_FILES, "dpo", ("gdpr_information.other",))
    refused = dpo.get(f"/ecoles/{CARDROC}/fichiers/minutes")
    assert refused.status_code == 403 and "ne consulte que" in unescape(refused.text)
    assert roadmap.audit_log()[-1].action == "refused"
