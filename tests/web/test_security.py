"""Hardening: security headers, CSRF on every form, size limits, uploads checked by content, autoescape, generic
error pages."""

from __future__ import annotations

import pytest

from roadmap.models import School
from roadmap.settings import Settings
from roadmap.views import school_detail
from roadmap.web.security import MAX_BODY
from tests.web.client import (
    CARDROC,
    CPD,
    DIRECTOR_CARDROC,
    IEN_STGREGOIRE,
    REDON_SCHOOL,
    client_for,
    csrf_of,
    demo_roadmap,
    signed_in_client,
)


def test_security_headers_on_pages_api_static_and_errors(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    cpd = signed_in_client(roadmap, CPD)
    for path in ("/tableau-de-bord", "/api/me", "/ecoles/0000000A", "/connexion"):
        headers = cpd.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "same-origin"
        assert "no-store" in headers["cache-control"] and "strict-transport-security" not in headers
    static = cpd.get("/static/app.css").headers
    assert "no-store" not in static.get("cache-control", "") and static["x-content-type-options"] == "nosniff"
    secure = client_for(roadmap, base_url="https://ent.example.fr").get("/connexion").headers
    assert "max-age=" in secure["strict-transport-security"]


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    ien = signed_in_client(roadmap, IEN_STGREGOIRE)
    for data in ({}, {"csrf": "faux"}):
        refused = ien.post(f"/ecoles/{CARDROC}/evenements/approve", data=data)
        assert refused.status_code == 403 and "Traceback" not in refused.text
    other = signed_in_client(roadmap, IEN_STGREGOIRE)  # a token of another browser is worth nothing here
    stolen = csrf_of(other.get(f"/ecoles/{CARDROC}").text)
    ien.get(f"/ecoles/{CARDROC}")
    ien.cookies.set("roadmap_csrf", "un-autre-cookie")
    assert ien.post(f"/ecoles/{CARDROC}/evenements/approve", data={"csrf": stolen}).status_code == 403
    assert school_detail(roadmap, CARDROC).state == "school_council.awaiting_approval"


def test_oversized_bodies_and_disguised_uploads_are_refused(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    director = signed_in_client(roadmap, DIRECTOR_CARDROC)
    csrf = csrf_of(director.get(f"/ecoles/{CARDROC}").text)
    huge = director.post(f"/ecoles/{CARDROC}/liste/minutes", data={"csrf": csrf},
                         files={"document": ("cr.pdf", b"%PDF" + b"0" * (MAX_BODY + 1), "application/pdf")})
    assert huge.status_code == 413
    version = school_detail(roadmap, REDON_SCHOOL).version
    redon = signed_in_client(roadmap, next(p.email for p in roadmap.people("director") if p.scope == REDON_SCHOOL))
    csrf = csrf_of(redon.get(f"/ecoles/{REDON_SCHOOL}").text)
    disguised = redon.post(f"/ecoles/{REDON_SCHOOL}/liste/minutes", data={"csrf": csrf},
                           files={"document": ("compte-rendu.pdf", b"MZ\x90\x00 a program", "application/pdf")})
    assert disguised.status_code == 422 and "type de fichier" in disguised.text
    assert school_detail(roadmap, REDON_SCHOOL).version == version


def test_hostile_text_is_shown_escaped(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    with roadmap.session() as session, session.begin():
        school = session.get(School, CARDROC)
        assert school is not None
        school.name = '<script>alert("x")</script> École'
    cpd = signed_in_client(roadmap, CPD)
    for path in ("/tableau-de-bord?commune=Cardroc", f"/ecoles/{CARDROC}"):
        page = cpd.get(path).text
        assert '<script>alert("x")</script>' not in page and "&lt;script&gt;" in page


def test_an_unexpected_error_shows_a_generic_french_page(settings: Settings,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    roadmap = demo_roadmap(settings)
    import roadmap.web.pages as pages

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(pages, "inbox_view", broken)
    client = signed_in_client(roadmap, CPD, raise_errors=False)
    response = client.get("/a-faire")
    assert response.status_code == 500
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert 'lang="fr"' in response.text
    missing = client.get("/pas-de-page-ici")
    assert missing.status_code == 404 and 'lang="fr"' in missing.text


