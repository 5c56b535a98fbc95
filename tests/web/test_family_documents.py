"""The school page's "Documents pour les familles" and "Formulaires rendus": PDF downloads scoped like the page,
drafts while facts are missing, the facts still editable once setup is left ("Informations pour les documents des
familles"), counts recorded through a CSRF-protected form and summed on the dashboard."""

from __future__ import annotations

import io
from html import unescape

from pypdf import PdfReader

from roadmap.service import Roadmap
from roadmap.settings import Settings
from roadmap.views import school_detail
from tests.web.client import (
    BAULON,
    CARDROC,
    CPD,
    DANE,
    DIRECTOR,
    DIRECTOR_CARDROC,
    csrf_of,
    demo_roadmap,
    signed_in_client,
)

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


IRODOUER = "0350294E"  # demo: in setup, its accounts created
DIRECTOR_IRODOUER = "lea.chauvel@ac-rennes.fr"


def past_setup(roadmap: Roadmap) -> None:
    """The demo's school in setup fills the step and leaves it (the school year is already there)."""
    for item, value in (("configured", "oui"), ("delivery_date", "10/11/2026"), ("accepted_by_collectivite", "oui"),
                        ("ent_address", "https://ent.irodouer.fr/")):
        roadmap.check(IRODOUER, item, value, DIRECTOR_IRODOUER)
    assert roadmap.fire(IRODOUER, "advance", DIRECTOR_IRODOUER).target == "gdpr_information"


def test_the_school_page_offers_the_family_facts_after_setup_and_records_them(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    client = signed_in_client(roadmap, DIRECTOR_IRODOUER)
    assert "Informations pour les documents des familles" not in client.get(f"/ecoles/{IRODOUER}").text  # at setup
    past_setup(roadmap)
    page = unescape(client.get(f"/ecoles/{IRODOUER}").text)
    block = page[page.index("Informations pour les documents des familles"):page.index("Formulaires rendus")]
    assert "https://ent.irodouer.fr/" in block and "(étape « Paramétrage et livraison »)" in block
    for item in ("ent_address", "school_year"):
        assert f'action="/ecoles/{IRODOUER}/liste/{item}"' in block
    assert 'action="/ecoles/' + IRODOUER + '/liste/configured"' not in page  # the step's other items: closed

    done = client.post(f"/ecoles/{IRODOUER}/liste/school_year", data={"csrf": csrf_of(page), "valeur": "2027-2028"})
    assert done.status_code == 303 and done.headers["location"] == f"/ecoles/{IRODOUER}#element-school_year"
    detail = school_detail(roadmap, IRODOUER)
    assert detail.state == "gdpr_information"
    assert {line.key: line.line.value for line in detail.living}["setup.school_year"] == "2027-2028"
    assert "2027-2028" in unescape(client.get(f"/ecoles/{IRODOUER}").text)
    bad = client.post(f"/ecoles/{IRODOUER}/liste/school_year", data={"csrf": csrf_of(page), "valeur": "2027"})
    assert bad.status_code in (400, 422) and "deux années qui se suivent" in unescape(bad.text)
    assert client.post(f"/ecoles/{IRODOUER}/liste/school_year", data={"valeur": "2028-2029"}).status_code == 403

    # The DANE sees the facts but does not fill step setup: no form, and a post is refused.
    dane = signed_in_client(roadmap, DANE)
    seen = unescape(dane.get(f"/ecoles/{IRODOUER}").text)
    assert "Informations pour les documents des familles" in seen and "2027-2028" in seen
    assert f'action="/ecoles/{IRODOUER}/liste/school_year"' not in seen
    refused = dane.post(f"/ecoles/{IRODOUER}/liste/school_year", data={"csrf": csrf_of(seen), "valeur": "2028-2029"})
    assert refused.status_code == 409 and "ne permet pas de remplir cette étape" in unescape(refused.text)


def test_the_api_sets_a_family_fact_after_setup(settings: Settings) -> None:
    from tests.web.test_api import csrf_header

    roadmap = demo_roadmap(settings)
    past_setup(roadmap)
    director = signed_in_client(roadmap, DIRECTOR_IRODOUER)
    done = director.post(f"/api/schools/{IRODOUER}/checklist/school_year", json={"value": "2028-2029"},
                         headers=csrf_header(director))
    assert done.status_code == 200
    body = done.json()
    assert {entry["step"] + "." + entry["line"]["id"]: entry["line"]["value"]
            for entry in body["detail"]["living"]}["setup.school_year"] == "2028-2029"
    assert "setup.school_year" in body["living_editable"] and body["detail"]["state"] == "gdpr_information"
