"""Signing in: the emailed single-use link, the same answer for unknown addresses, throttling, sessions (cookie
flags, new id, idle and absolute timeouts, server-side sign-out), no open redirect."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from sqlmodel import func, select

from roadmap.models import SignInRequest, WebSession
from roadmap.settings import Settings
from roadmap.signin import PER_ADDRESS, PER_IP
from roadmap.views import mail_lines
from roadmap.web.app import SESSION_COOKIE
from tests.web.client import (
    CPD,
    Clock,
    client_for,
    csrf_of,
    demo_roadmap,
    form_token,
    last_link,
    sign_in_by_email,
)


def test_a_person_signs_in_through_the_emailed_link_and_lands_on_their_page(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = client_for(roadmap)
    assert client.get("/tableau-de-bord").headers["location"].startswith("/connexion?suite=")
    sign_in_by_email(client, roadmap, CPD)
    page = client.get("/tableau-de-bord")
    assert page.status_code == 200 and "Paul Le Gall" in page.text
    message = next(m for m in mail_lines(roadmap) if m.kind == "sign_in")
    assert message.recipient == CPD and message.status == "pending"  # queued in the outbox, sent by the dispatcher


def test_the_link_works_once_and_the_database_holds_only_its_hash(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = client_for(roadmap)
    sign_in_by_email(client, roadmap, CPD)
    link = last_link(roadmap, CPD)
    token = link.rsplit("/", 1)[-1].split("?")[0]
    with roadmap.session() as session:
        stored = session.exec(select(SignInRequest.token_hash)).all()
    assert token not in stored and len(stored) == 1
    other = client_for(roadmap)
    again = other.get(link)
    assert again.status_code == 410 and "déjà servi" in again.text
    refused = other.post(link.split("?")[0], data={"csrf": form_token(other), "suite": "/"})
    assert refused.status_code == 410 and SESSION_COOKIE not in refused.cookies


def test_an_expired_link_is_refused(settings: Settings) -> None:
    clock = Clock()
    roadmap = demo_roadmap(settings, clock)
    client = client_for(roadmap)
    client.post("/connexion", data={"csrf": form_token(client), "email": CPD})
    link = last_link(roadmap, CPD)
    clock.advance(minutes=16)
    page = client.get(link)
    assert page.status_code == 410 and "expiré" in page.text


def test_an_unknown_address_gets_the_same_answer_and_no_email(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = client_for(roadmap)
    known = client.post("/connexion", data={"csrf": form_token(client), "email": CPD})
    unknown = client.post("/connexion", data={"csrf": form_token(client), "email": "inconnu@ac-rennes.fr"})
    assert known.status_code == unknown.status_code == 200

    def masked(text: str, address: str) -> str:
        return text.replace(address, "X").replace(quote(address), "X")

    assert masked(known.text, CPD) == masked(unknown.text, "inconnu@ac-rennes.fr")
    assert not [m for m in mail_lines(roadmap) if m.recipient == "inconnu@ac-rennes.fr"]


def test_requests_are_throttled_per_address_and_per_ip(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = client_for(roadmap)
    for _ in range(PER_ADDRESS):
        assert client.post("/connexion", data={"csrf": form_token(client), "email": CPD}).status_code == 200
    throttled = client.post("/connexion", data={"csrf": form_token(client), "email": CPD})
    assert throttled.status_code == 429 and "patientez" in throttled.text
    assert len([m for m in mail_lines(roadmap) if m.kind == "sign_in"]) == PER_ADDRESS
    for i in range(PER_IP - PER_ADDRESS):  # a refused request is not counted
        client.post("/connexion", data={"csrf": form_token(client), "email": f"x{i}@ac-rennes.fr"})
    assert client.post("/connexion", data={"csrf": form_token(client), "email": "y@ac-rennes.fr"}).status_code == 429


def test_session_cookie_flags_and_a_new_id_at_each_sign_in(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = client_for(roadmap)
    client.post("/connexion", data={"csrf": form_token(client), "email": CPD})
    link = last_link(roadmap, CPD)
    page = client.get(link)
    response = client.post(link.split("?")[0], data={"csrf": csrf_of(page.text), "suite": "/"})
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    first = client.cookies[SESSION_COOKIE]
    sign_in_by_email(client, roadmap, CPD)
    assert client.cookies[SESSION_COOKIE] != first
    secure = client_for(roadmap, base_url="https://ent.example.fr")
    secure.post("/connexion", data={"csrf": form_token(secure), "email": CPD})
    link = last_link(roadmap, CPD, r"(https://ent\.example\.fr/connexion/lien/\S+)")
    page = secure.get(link)
    response = secure.post(link.split("?")[0], data={"csrf": csrf_of(page.text), "suite": "/"})
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "Secure" in cookie


def test_idle_and_absolute_timeouts_end_the_session(settings: Settings) -> None:
    clock = Clock()
    roadmap = demo_roadmap(settings, clock)
    client = client_for(roadmap)
    sign_in_by_email(client, roadmap, CPD)
    start = clock.now
    for _ in range(30):  # active every 25 minutes: never idle, but ten hours at most
        clock.advance(minutes=25)
        if client.get("/tableau-de-bord").status_code != 200:
            break
    assert timedelta(hours=10) <= clock.now - start <= timedelta(hours=10, minutes=25)
    assert client.get("/tableau-de-bord").status_code == 303
    sign_in_by_email(client, roadmap, CPD)
    clock.advance(minutes=31)
    assert client.get("/tableau-de-bord").headers["location"].startswith("/connexion")


def test_sign_out_ends_the_session_on_the_server(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = client_for(roadmap)
    sign_in_by_email(client, roadmap, CPD)
    raw = client.cookies[SESSION_COOKIE]
    page = client.get("/tableau-de-bord")
    assert client.post("/deconnexion", data={"csrf": csrf_of(page.text)}).status_code == 303
    replay = client_for(roadmap)
    replay.cookies.set(SESSION_COOKIE, raw)  # the old cookie, kept by someone: worthless now
    assert replay.get("/tableau-de-bord").status_code == 303
    with roadmap.session() as session:
        assert session.exec(select(func.count()).select_from(WebSession)
                            .where(WebSession.ended_at != None)).one() == 1  # noqa: E711


def test_after_sign_in_only_a_path_of_this_site_is_followed(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = client_for(roadmap)
    client.post("/connexion", data={"csrf": form_token(client), "email": CPD, "suite": "//evil.example/x"})
    link = last_link(roadmap, CPD)
    page = client.get(link)
    response = client.post(link.split("?")[0], data={"csrf": csrf_of(page.text), "suite": "https://evil.example"})
    assert response.headers["location"] == "/"
    client.post("/connexion", data={"csrf": form_token(client), "email": CPD, "suite": "/ecoles/0350122T"})
    link = last_link(roadmap, CPD)
    page = client.get(link)
    response = client.post(link.split("?")[0], data={"csrf": csrf_of(page.text), "suite": "/ecoles/0350122T"})
    assert response.headers["location"] == "/ecoles/0350122T"
