"""Plain functions for the web tests: a demo database behind the app, a test client, signing in (through the
emailed link, or directly for tests about something else), reading CSRF tokens and emailed links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from roadmap.demo import load_demo
from roadmap.service import Roadmap
from roadmap.settings import REPO_DATA, Settings
from roadmap.signin import SignIn
from roadmap.views import mail_detail, mail_lines
from roadmap.web.app import SESSION_COOKIE, create_app

BASE = "http://testserver"
DEMO_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, during school time

CPD = "cpd.numerique35@ac-rennes.fr"
DANE = "dane.premier-degre@ac-rennes.fr"
DPO = "dpd@ac-rennes.fr"  # data-protection officer of the académie de Rennes (read-only)
ADMIN = "admin.ent@ac-rennes.fr"
DIRECTOR = "claire.martin@ac-rennes.fr"  # of 0350122T (routed to transmission, Bruz)
DIRECTOR_CARDROC = "yann.kervella@ac-rennes.fr"  # of 0350165P (minutes awaiting the IEN)
IEN_STGREGOIRE = "ce.ien35.stgregoire@ac-rennes.fr"  # covers 0350165P
IEN_REDON = "ce.ien35.redon@ac-rennes.fr"  # covers 0350423V, not 0350165P
BAULON, CARDROC, REDON_SCHOOL = "0350122T", "0350165P", "0350423V"


@dataclass
class Clock:
    """A clock the test moves (sessions' timeouts, links' expiry)."""

    now: datetime = field(default=DEMO_NOW)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def demo_roadmap(settings: Settings, clock: Clock | None = None) -> Roadmap:
    roadmap = Roadmap(settings, clock=clock or Clock())
    load_demo(roadmap, REPO_DATA / "demo")
    return roadmap


def client_for(roadmap: Roadmap, *, base_url: str = BASE, raise_errors: bool = True, sink: bool = False) -> TestClient:
    return TestClient(create_app(roadmap, base_url=base_url, sink=sink), base_url=base_url,
                      raise_server_exceptions=raise_errors, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def form_token(client: TestClient, path: str = "/connexion") -> str:
    """A page's CSRF token (the browser's cookie is set by the same response)."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


def last_link(roadmap: Roadmap, recipient: str, pattern: str = r"(https?://\S+/connexion/lien/\S+)") -> str:
    """The path of the last link matching `pattern` emailed to `recipient` (from the outbox)."""
    for line in mail_lines(roadmap):
        if line.recipient == recipient:
            found = re.search(pattern, mail_detail(roadmap, line.id).text)
            if found:
                return "/" + found.group(1).split("://", 1)[1].split("/", 1)[1]
    raise AssertionError(f"no link emailed to {recipient}")


def sign_in_by_email(client: TestClient, roadmap: Roadmap, email: str) -> None:
    """The whole flow a person follows: ask for a link, open it from the email, confirm."""
    token = form_token(client)
    response = client.post("/connexion", data={"csrf": token, "email": email})
    assert response.status_code == 200, response.text
    link = last_link(roadmap, email)
    page = client.get(link)
    assert page.status_code == 200, page.text
    done = client.post(link.split("?")[0], data={"csrf": csrf_of(page.text), "suite": "/"})
    assert done.status_code == 303, done.text


def signed_in_client(roadmap: Roadmap, email: str, **options: bool) -> TestClient:
    """A client with a session opened directly (for tests whose subject is not the sign-in)."""
    client = client_for(roadmap, **options)
    raw, _info = SignIn(roadmap).open_session(email, method="test")
    client.cookies.set(SESSION_COOKIE, raw)
    return client
