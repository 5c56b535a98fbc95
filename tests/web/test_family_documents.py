"""The school page's "Documents pour les familles" and "Formulaires rendus": PDF downloads scoped like the page,
drafts while facts are missing, counts recorded through a CSRF-protected form and summed on the dashboard."""

from __future__ import annotations

import io
from html import unescape

from pypdf import PdfReader

from roadmap.settings import Settings
from tests.web.client import BAULON, CARDROC, CPD, DIRECTOR, DIRECTOR_CARDROC, csrf_of, demo_roadmap, signed_in_client

LETTER = "lettre-information-familles.pdf"


def test_the_director_downloads_the_documents_others_out_of_scope_get_404(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = signed_in_client(roadmap, DIRECTOR_CARDROC)
    page = unescape(client.get(f"/ecoles/{CARDROC}").text)
    assert "Documents pour les familles" in page
    assert f'href="/ecoles/{CARDROC}/documents/{LETTER}?brouillon=1"' in page  # facts missing: drafts offered
    assert "(setup.school_year)" in page and "(setup.ent_address)" not in page  # One's address: the catalogue's

    refused = client.get(f"/ecoles/{CARDROC}/documents/{LETTER}")
    assert refused.status_code == 400 and "il manque" in unescape(refused.text)
    draft = client.get(f"/ecoles/{CARDROC}/documents/{LETTER}?brouillon=1")
    assert draft.status_code == 200 and draft.headers["content-type"] == "application/pdf"
    assert draft.headers["content-disposition"] == f'attachment; filename="{CARDROC}-{LETTER}"'
    text = " ".join(PdfReader(io.BytesIO(draft.content)).pages[0].extract_text().split())
    assert CARDROC in text and "One 1D (Open Digital Education)" in text

    assert client.get(f"/ecoles/{BAULON}/documents/{LETTER}?brouillon=1").status_code == 404  # not their school
    assert client.get(f"/ecoles/{CARDROC}/documents/inconnu.pdf?brouillon=1").status_code == 404


def test_returned_forms_are_recorded_from_the_school_page_and_counted_on_the_dashboard(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    director = signed_in_client(roadmap, DIRECTOR)
    page = director.get(f"/ecoles/{BAULON}")
    assert "Formulaires rendus par les familles" in unescape(page.text)
    done = director.post(f"/ecoles/{BAULON}/formulaires", data={
        "csrf": csrf_of(page.text), "acknowledgements": "24", "authorisations": "21", "activation_codes": "25"})
    assert done.status_code == 303
    assert roadmap.returned_forms(BAULON).acknowledgements == 24
    bad = director.post(f"/ecoles/{BAULON}/formulaires", data={"csrf": csrf_of(page.text), "authorisations": "-2"})
    assert bad.status_code == 422 and "ne peut pas être négatif" in unescape(bad.text)
    no_token = director.post(f"/ecoles/{BAULON}/formulaires", data={"acknowledgements": "1"})
    assert no_token.status_code == 403
    assert roadmap.returned_forms(BAULON).authorisations == 21

    board = unescape(signed_in_client(roadmap, CPD).get("/tableau-de-bord").text)
    assert "Formulaires rendus par les familles" in board
    assert '<th scope="row">035</th><td>1</td><td>24</td><td>21</td><td>25</td>' in board


def test_the_api_reads_and_records_the_same_counts(settings: Settings) -> None:
    from tests.web.test_api import csrf_header

    roadmap = demo_roadmap(settings)
    director = signed_in_client(roadmap, DIRECTOR)
    headers = csrf_header(director)
    done = director.post(f"/api/schools/{BAULON}/forms", json={"activation_codes": 25}, headers=headers)
    assert done.status_code == 200 and done.json()["activation_codes"] == 25
    bad = director.post(f"/api/schools/{BAULON}/forms", json={"authorisations": "-1"}, headers=headers)
    assert bad.status_code == 422 and "ne peut pas être négatif" in bad.json()["detail"]
    shown = director.get(f"/api/schools/{BAULON}/forms").json()
    assert (shown["activation_codes"], shown["authorisations"], shown["updated_by"]) == (25, 0, DIRECTOR)
    assert director.get(f"/api/schools/{CARDROC}/forms").status_code == 404
