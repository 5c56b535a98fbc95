"""The JSON API: the same views and permissions as the pages, writes with the CSRF header, errors as JSON in French,
its OpenAPI document."""

from __future__ import annotations

import re

from roadmap.settings import Settings
from tests.web.client import (
    BAULON,
    CARDROC,
    CPD,
    DIRECTOR_CARDROC,
    IEN_REDON,
    IEN_STGREGOIRE,
    REDON_SCHOOL,
    client_for,
    demo_roadmap,
    signed_in_client,
)


def csrf_header(client: object) -> dict[str, str]:
    """The token the pages carry in data-csrf, for scripts calling the API."""
    page = client.get("/a-faire")  # type: ignore[attr-defined]
    found = re.search(r'data-csrf="([^"]+)"', page.text)
    assert found, "no data-csrf in the page"
    return {"X-CSRF-Token": found.group(1)}


def test_the_api_renders_the_same_views_as_the_pages(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    cpd = signed_in_client(roadmap, CPD)
    me = cpd.get("/api/me").json()
    assert me == {"email": CPD, "name": me["name"], "role": "cpd", "scope": "035"}
    board = cpd.get("/api/board?retard=1").json()
    awaited = ["0351620W", "0350306T", "0351669Z"]  # the demo's schools at the DSI or awaiting their accounts
    assert sorted(line["uai"] for line in board["lines"]) == sorted([BAULON, CARDROC, *awaited])
    assert board["late"] == 5
    page = cpd.get("/tableau-de-bord?retard=1").text
    assert f"<strong>{board['schools']}</strong> écoles" in page
    assert sum(bar["count"] for bar in cpd.get("/api/board").json()["chart"]) == cpd.get("/api/board").json()["schools"]
    dashboard = cpd.get("/api/dashboard").json()
    assert dashboard and isinstance(dashboard, dict)
    school = cpd.get(f"/api/schools/{CARDROC}").json()
    assert school["detail"]["uai"] == CARDROC and school["detail"]["state"] == "school_council.awaiting_approval"
    inbox = signed_in_client(roadmap, IEN_STGREGOIRE).get("/api/inbox").json()
    assert [item["uai"] for item in inbox["items"]] == [CARDROC]


def test_api_writes_need_the_csrf_header_and_follow_the_same_rules(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    ien = signed_in_client(roadmap, IEN_STGREGOIRE)
    refused = ien.post(f"/api/schools/{CARDROC}/events/approve", json={})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    done = ien.post(f"/api/schools/{CARDROC}/events/approve", json={}, headers=csrf_header(ien))
    assert done.status_code == 200 and done.json()["detail"]["state"] == "transmission"

    director = signed_in_client(roadmap, DIRECTOR_CARDROC)
    headers = csrf_header(director)
    row = director.post(f"/api/schools/{CARDROC}/checklist/row_checked", json={"value": "oui"}, headers=headers)
    assert row.status_code == 200
    assert next(line for line in row.json()["detail"]["checklist"] if line["id"] == "row_checked")["done"]
    wrong = director.post(f"/api/schools/{CARDROC}/events/approve", json={}, headers=headers)
    assert wrong.status_code == 409 and "refusée" in wrong.json()["detail"]
    out_of_scope = director.post(f"/api/schools/{BAULON}/checklist/row_checked", json={"value": "oui"},
                                 headers=headers)
    assert out_of_scope.status_code == 404
    malformed = director.post(f"/api/schools/{CARDROC}/checklist/row_checked", content=b"{oui",
                              headers={**headers, "content-type": "application/json"})
    assert malformed.status_code == 422 and malformed.json()["error"] and "Traceback" not in malformed.text


def test_anonymous_and_out_of_scope_calls_answer_in_json(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    anonymous = client_for(roadmap).get("/api/board")
    assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith("application/json")
    ien = signed_in_client(roadmap, IEN_REDON)
    assert ien.get(f"/api/schools/{CARDROC}").status_code == 404
    assert ien.get(f"/api/schools/{REDON_SCHOOL}").status_code == 200
    assert ien.get("/api/mail").status_code == 403


def test_the_openapi_document_lists_every_api_route(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    document = client_for(roadmap).get("/api/openapi.json").json()
    paths = set(document["paths"])
    assert {"/api/me", "/api/board", "/api/dashboard", "/api/register", "/api/schools/{uai}", "/api/inbox",
            "/api/schools/{uai}/events/{event}", "/api/schools/{uai}/checklist/{item}", "/api/mail"} <= paths
    assert not any(not path.startswith("/api/") for path in paths)  # the pages are not part of the API
    assert "Board" in document["components"]["schemas"]
