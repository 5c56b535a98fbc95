"""Every route × every role: who gets the page, who is sent to sign in, who is refused (403), for whom the school
does not exist (404, the attempt logged); a refused POST changes nothing. A route added without a line in ROUTES
fails this test."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from roadmap.keys import secret_key
from roadmap.links import ActionLinks
from roadmap.service import Roadmap
from roadmap.settings import Settings
from roadmap.views import mail_lines, school_detail
from roadmap.web.app import create_app
from tests.web.client import (
    ADMIN,
    CARDROC,
    CPD,
    DANE,
    DIRECTOR,
    DIRECTOR_CARDROC,
    DPO,
    IEN_REDON,
    IEN_STGREGOIRE,
    client_for,
    csrf_of,
    demo_roadmap,
    signed_in_client,
)

# The administrator may act for anyone (recorded as such in the history), like with the CLI.
ROLES = {  # who, seen from Cardroc (0350165P, circonscription of Saint-Grégoire, minutes awaiting the IEN)
    "anonyme": None,
    "directeur de l'école": DIRECTOR_CARDROC,
    "autre directrice": DIRECTOR,
    "IEN de l'école": IEN_STGREGOIRE,
    "autre IEN": IEN_REDON,
    "CPD": CPD,
    "DANE": DANE,
    "DPO": DPO,  # data-protection officer of the académie: reads, changes nothing
    "admin": ADMIN,
}
ANON, DIR, DIR2, IEN, IEN2, CPD_, DANE_, DPO_, ADM = ROLES


@dataclass(frozen=True)
class Check:
    method: str
    path: Callable[[Roadmap], str]  # the concrete path (a school, a message, a link of this database)
    expected: dict[str, int]
    body: dict[str, object] | None = None
    api: bool = False

    def status(self, role: str) -> int:
        return self.expected.get(role, self.expected.get("*", 0))


def every(status: int, **others: int) -> dict[str, int]:
    return {"*": status, **{_ROLE_KEYS[k]: v for k, v in others.items()}}


_ROLE_KEYS = {"anon": ANON, "dir": DIR, "dir2": DIR2, "ien": IEN, "ien2": IEN2, "cpd": CPD_, "dane": DANE_,
              "dpo": DPO_, "admin": ADM}


def _message_to_the_ien(roadmap: Roadmap) -> str:
    return str(next(m.id for m in mail_lines(roadmap) if m.recipient == IEN_STGREGOIRE))


def _approve_link(roadmap: Roadmap) -> str:
    links = ActionLinks(secret_key(roadmap.settings.home), roadmap.settings.base_url)
    version = school_detail(roadmap, CARDROC)
    return "/action/" + links.token(CARDROC, "approve", version.state, version.entered_at)


SCHOOL_PAGE = every(200, anon=303, dir2=404, ien2=404)
SCHOOL_API = every(200, anon=401, dir2=404, ien2=404)
BOARD_PAGE = every(200, anon=303, dir=403, dir2=403, dpo=403)  # the DPO reads minutes and the register only
BOARD_API = every(200, anon=401, dir=403, dir2=403, dpo=403)
TABLES = every(403, anon=303, cpd=200, dane=200, admin=200)
REGISTER = every(403, anon=303, cpd=200, dane=200, dpo=200, admin=200)  # the GDPR register and its downloads

ROUTES: dict[tuple[str, str], list[Check]] = {
    ("GET", "/"): [Check("GET", lambda r: "/", every(303))],
    ("GET", "/sante"): [Check("GET", lambda r: "/sante", every(200))],
    ("GET", "/connexion"): [Check("GET", lambda r: "/connexion", every(200))],
    ("POST", "/connexion"): [Check("POST", lambda r: "/connexion", every(200), {"email": CPD})],
    ("GET", "/connexion/lien/{token}"): [Check("GET", lambda r: "/connexion/lien/inconnu", every(410))],
    ("POST", "/connexion/lien/{token}"): [Check("POST", lambda r: "/connexion/lien/inconnu", every(410), {})],
    ("POST", "/deconnexion"): [Check("POST", lambda r: "/deconnexion", every(303), {})],
    ("GET", "/tableau-de-bord"): [Check("GET", lambda r: "/tableau-de-bord", BOARD_PAGE)],
    ("GET", "/tableau-de-bord.csv"): [Check("GET", lambda r: "/tableau-de-bord.csv", BOARD_PAGE)],
    ("GET", "/tableau-de-bord.xlsx"): [Check("GET", lambda r: "/tableau-de-bord.xlsx", BOARD_PAGE)],
    ("GET", "/ecoles/{uai}"): [Check("GET", lambda r: f"/ecoles/{CARDROC}", SCHOOL_PAGE)],
    ("GET", "/ecoles/{uai}/fichiers/{item}"): [
        Check("GET", lambda r: f"/ecoles/{CARDROC}/fichiers/minutes", SCHOOL_PAGE)],
    ("GET", "/ecoles/{uai}/documents/{name}"): [  # Cardroc lacks the setup's facts: drafts only, for now
        Check("GET", lambda r: f"/ecoles/{CARDROC}/documents/lettre-information-familles.pdf?brouillon=1",
              SCHOOL_PAGE)],
    ("POST", "/ecoles/{uai}/formulaires"): [  # counts: the school's director, its CPD, an administrator
        Check("POST", lambda r: f"/ecoles/{CARDROC}/formulaires",
              every(403, anon=303, dir2=404, ien2=404, dir=303, cpd=303, admin=303), {"acknowledgements": "3"})],
    ("POST", "/ecoles/{uai}/liste/{item}"): [  # the minutes are with the IEN: the list waits too
        Check("POST", lambda r: f"/ecoles/{CARDROC}/liste/council_date", every(409, anon=303, dir2=404, ien2=404),
              {"valeur": "02/11/2026"})],
    ("POST", "/ecoles/{uai}/evenements/{event}"): [
        Check("POST", lambda r: f"/ecoles/{CARDROC}/evenements/approve", every(409, anon=303, dir2=404, ien2=404,
                                                                                ien=303, admin=303), {})],
    ("GET", "/a-faire"): [Check("GET", lambda r: "/a-faire", every(200, anon=303))],
    ("GET", "/action/{token}"): [Check("GET", _approve_link, every(200, anon=303, dir2=404, ien2=404))],
    ("POST", "/action/{token}"): [
        Check("POST", _approve_link, every(409, anon=303, dir2=404, ien2=404, ien=303, admin=303), {})],
    ("GET", "/groupe"): [Check("GET", lambda r: "/groupe", every(403, anon=303, cpd=200, admin=200))],
    ("POST", "/groupe"): [Check("POST", lambda r: "/groupe", every(403, anon=303, cpd=200, admin=200),
                                {"ecole": [CARDROC], "element": "funding_agreement", "valeur": "oui"})],
    ("GET", "/courriels"): [Check("GET", lambda r: "/courriels", every(403, anon=303, cpd=200, admin=200))],
    ("GET", "/courriels/{message_id}"): [
        Check("GET", lambda r: f"/courriels/{_message_to_the_ien(r)}", every(403, anon=303, cpd=200, admin=200))],
    ("GET", "/annuaire"): [Check("GET", lambda r: "/annuaire", every(403, anon=303, cpd=200, dane=200, admin=200))],
    ("GET", "/transmissions"): [Check("GET", lambda r: "/transmissions", TABLES)],
    ("POST", "/transmissions"): [  # the CPD (or an administrator) composes the département's table
        Check("POST", lambda r: "/transmissions", every(403, anon=303, cpd=303, admin=303), {"departement": "035"})],
    ("GET", "/transmissions/{batch_id}"): [Check("GET", lambda r: "/transmissions/2", TABLES)],
    ("GET", "/transmissions/{batch_id}/fichier"): [Check("GET", lambda r: "/transmissions/2/fichier", TABLES)],
    ("POST", "/transmissions/{batch_id}/{action}"): [  # table 2 went to the DSI: nothing for the DANE to validate
        Check("POST", lambda r: "/transmissions/2/validation", every(403, anon=303), {})],
    ("GET", "/registre"): [Check("GET", lambda r: "/registre", REGISTER)],
    ("GET", "/registre/{departement}.{extension}"): [Check("GET", lambda r: "/registre/035.xlsx", REGISTER),
                                                     Check("GET", lambda r: "/registre/035.csv", REGISTER)],
    ("POST", "/registre"): [  # no file joined: the keepers get the French 422 page, nothing is written
        Check("POST", lambda r: "/registre", every(403, anon=303, cpd=422, dane=422, admin=422),
              {"departement": "035", "ent_choisi": "Beneylu School"})],
    ("GET", "/boite-locale"): [Check("GET", lambda r: "/boite-locale", every(404))],  # no sink: no page
    ("GET", "/boite-locale/{message_id}"): [Check("GET", lambda r: "/boite-locale/1", every(404))],
    ("GET", "/static"): [Check("GET", lambda r: "/static/app.css", every(200))],
    ("GET", "/api/openapi.json"): [Check("GET", lambda r: "/api/openapi.json", every(200))],
    ("GET", "/api/me"): [Check("GET", lambda r: "/api/me", every(200, anon=401), api=True)],
    ("GET", "/api/board"): [Check("GET", lambda r: "/api/board", BOARD_API, api=True)],
    ("GET", "/api/dashboard"): [Check("GET", lambda r: "/api/dashboard", BOARD_API, api=True)],
    ("GET", "/api/register"): [Check("GET", lambda r: "/api/register?departement=035",
                                     every(403, anon=401, cpd=200, dane=200, dpo=200, admin=200), api=True)],
    ("GET", "/api/schools/{uai}"): [Check("GET", lambda r: f"/api/schools/{CARDROC}", SCHOOL_API, api=True)],
    ("GET", "/api/inbox"): [Check("GET", lambda r: "/api/inbox", every(200, anon=401), api=True)],
    ("POST", "/api/schools/{uai}/events/{event}"): [
        Check("POST", lambda r: f"/api/schools/{CARDROC}/events/approve",
              every(409, anon=401, dir2=404, ien2=404, ien=200, admin=200), {}, api=True)],
    ("POST", "/api/schools/{uai}/checklist/{item}"): [
        Check("POST", lambda r: f"/api/schools/{CARDROC}/checklist/council_date",
              every(409, anon=401, dir2=404, ien2=404), {"value": "02/11/2026"}, api=True)],
    ("GET", "/api/schools/{uai}/forms"): [
        Check("GET", lambda r: f"/api/schools/{CARDROC}/forms", SCHOOL_API, api=True)],
    ("POST", "/api/schools/{uai}/forms"): [
        Check("POST", lambda r: f"/api/schools/{CARDROC}/forms",
              every(403, anon=401, dir2=404, ien2=404, dir=200, cpd=200, admin=200), {"authorisations": 2}, api=True)],
    ("GET", "/api/mail"): [Check("GET", lambda r: "/api/mail", every(403, anon=401, cpd=200, admin=200), api=True)],
}
CHANGES = {("POST", "/ecoles/{uai}/evenements/{event}"), ("POST", "/action/{token}"),
           ("POST", "/api/schools/{uai}/events/{event}")}  # may move Cardroc on: checked last, one at a time


def app_routes(app: object, prefix: str = "") -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in app.routes:  # type: ignore[attr-defined]
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            found |= app_routes(included, prefix + getattr(route.include_context, "prefix", ""))
        elif isinstance(route, Mount):
            found.add(("GET", route.path))
        elif isinstance(route, Route):
            found.update((method, prefix + route.path) for method in (route.methods or ()) if method != "HEAD")
    return found


def test_every_route_has_a_line_in_the_table(settings: Settings) -> None:
    app = create_app(demo_roadmap(settings), base_url="http://testserver")
    assert app_routes(app) == set(ROUTES), "add the new route to ROUTES with what each role gets"


def _client(roadmap: Roadmap, email: str | None) -> TestClient:
    return client_for(roadmap) if email is None else signed_in_client(roadmap, email)


def _call(client: TestClient, check: Check, roadmap: Roadmap) -> int:
    path = check.path(roadmap)
    if check.method == "GET":
        return client.get(path).status_code
    token = csrf_of(client.get("/connexion").text)
    if check.api:
        return client.post(path, json=check.body, headers={"X-CSRF-Token": token}).status_code
    return client.post(path, data={"csrf": token, **(check.body or {})}).status_code


PHASES = ["lectures et refus", *sorted(f"{m} {p}" for m, p in CHANGES)]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("role", list(ROLES))
def test_what_each_role_gets_on_every_route(settings: Settings, role: str, phase: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """One fresh demo per (role, phase): the routes that may move Cardroc on each get their own."""
    roadmap = demo_roadmap(settings)
    client = _client(roadmap, ROLES[role])
    routes = [(key, checks) for key, checks in ROUTES.items()
              if (f"{key[0]} {key[1]}" == phase) or (phase == PHASES[0] and key not in CHANGES)]
    routes.sort(key=lambda entry: entry[0] == ("POST", "/deconnexion"))  # signing out comes last
    got: dict[str, int] = {}
    expected: dict[str, int] = {}
    for key, checks in routes:
        for check in checks:
            before = school_detail(roadmap, CARDROC)
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="roadmap.web.access"):
                status = _call(client, check, roadmap)
            label = f"{check.method} {key[1]}"
            got[label], expected[label] = status, check.status(role)
            after = school_detail(roadmap, CARDROC)
            if status >= 400 or (check.method == "POST" and role == ANON):
                assert (after.state, after.version) == (before.state, before.version), f"{label} changed Cardroc"
            if status == 404 and "uai" in key[1]:
                assert any(CARDROC in r.getMessage() for r in caplog.records), f"{label}: attempt not logged"
    assert got == expected
