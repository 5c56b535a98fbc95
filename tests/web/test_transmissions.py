"""The transmission pages: the CPD composes, checks and sends the département's table; the DANE validates or
returns it; the file as sent is downloadable; nothing outside the viewer's scope is shown."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

from openpyxl import load_workbook

from notifications.delivery import SinkSender
from roadmap.mailer import RoadmapDispatcher
from roadmap.models import TransmissionBatch
from roadmap.settings import Settings
from roadmap.views import sink_lines
from tests.roadmap import walk
from tests.roadmap.test_transmission import ready
from tests.roadmap.test_walkthrough import small_roadmap, state_of
from tests.web.client import CPD, DEMO_NOW, DIRECTOR, client_for, csrf_of, demo_roadmap, signed_in_client

BAULON = "0350122T"  # ready in the demo, waiting for the CPD's next table


def test_the_cpd_composes_and_sends_a_table_from_the_page(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    cpd = signed_in_client(roadmap, CPD)
    listing = cpd.get("/transmissions")
    assert listing.status_code == 200 and "validé par la DANE" in listing.text and "n° 2" in listing.text
    assert "convention DASEN–éditeur" in listing.text  # the demo's agreements
    composed = cpd.post("/transmissions", data={"csrf": csrf_of(listing.text), "departement": "035"})
    assert composed.status_code == 303 and composed.headers["location"] == "/transmissions/3"
    draft = cpd.get("/transmissions/3")
    assert draft.status_code == 200 and BAULON in draft.text and "brouillon" in draft.text
    assert "Envoyer le tableau (DSI, DANE en copie)" in draft.text
    sent = cpd.post("/transmissions/3/envoi", data={"csrf": csrf_of(draft.text)})
    assert sent.status_code == 303
    page = cpd.get("/transmissions/3?fait=envoi").text
    assert "dsi.creation-comptes@ac-rennes.fr" in page and "tableau-creation-comptes-035-3.xlsx" in page
    download = cpd.get("/transmissions/3/fichier")
    with roadmap.session() as session:
        stored = session.get(TransmissionBatch, 3)
        assert stored is not None
    assert download.status_code == 200 and hashlib.sha256(download.content).hexdigest() == stored.sha256
    sheet = load_workbook(io.BytesIO(download.content)).active
    assert sheet is not None and sheet["A2"].value == BAULON

    # Without an SMTP server the table lands in the local mail sink, which lists the attached file.
    RoadmapDispatcher(roadmap, SinkSender(roadmap.db)).run_once(DEMO_NOW + timedelta(minutes=5))
    received = next(line for line in sink_lines(roadmap, recipient="dsi.creation-comptes@ac-rennes.fr")
                    if "n° 3" in line.subject)
    assert received.recipients == ["dsi.creation-comptes@ac-rennes.fr", "dane.premier-degre@ac-rennes.fr"]
    message = client_for(roadmap, sink=True).get(f"/boite-locale/{received.id}")
    assert "tableau-creation-comptes-035-3.xlsx" in message.text and "Pièces jointes" in message.text


def test_the_dane_returns_then_validates_a_first_table_from_the_page(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    ready(roadmap, tmp_path)
    first = roadmap.transmissions.compose("035", by=walk.CPD)
    roadmap.transmissions.send(first.id, by=walk.CPD)
    dane = signed_in_client(roadmap, walk.DANE)
    page = dane.get(f"/transmissions/{first.id}")
    assert page.status_code == 200 and "Valider le tableau" in page.text and "Renvoyer le tableau" in page.text
    assert "Valider le tableau" not in signed_in_client(roadmap, walk.CPD).get(f"/transmissions/{first.id}").text
    todo = dane.get("/a-faire").text  # the DANE's to-do leads to the table
    assert walk.SCHOOL in todo and 'href="/transmissions"' in todo and "sur le tableau du département" in todo
    school = dane.get(f"/ecoles/{walk.SCHOOL}").text  # the table's moves are made on the table, not one school
    assert "/evenements/validate_table" not in school and "/evenements/return_table" not in school
    empty_note = dane.post(f"/transmissions/{first.id}/renvoi", data={"csrf": csrf_of(page.text), "note": " "})
    assert empty_note.status_code == 422 and "raison du renvoi" in empty_note.text
    returned = dane.post(f"/transmissions/{first.id}/renvoi",
                         data={"csrf": csrf_of(page.text), "note": "Adresse incomplète (numéro de rue)."})
    assert returned.status_code == 303 and state_of(roadmap, walk.SCHOOL) == "transmission"
    assert "Adresse incomplète (numéro de rue)." in dane.get(f"/transmissions/{first.id}").text
    school = dane.get(f"/ecoles/{walk.SCHOOL}").text.split('id="tableaux"', 1)[1]
    assert f'href="/transmissions/{first.id}"' in school and "renvoyé par la DANE" in school
    roadmap.fire(walk.SCHOOL, "advance", walk.DIRECTOR)
    second = roadmap.transmissions.compose("035", by=walk.CPD)
    roadmap.transmissions.send(second.id, by=walk.CPD)
    page = dane.get(f"/transmissions/{second.id}")
    assert dane.post(f"/transmissions/{second.id}/validation", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert state_of(roadmap, walk.SCHOOL) == "transmission.at_dsi"
    refused = dane.post(f"/transmissions/{second.id}/validation", data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 403 and "déjà validé par la DANE" in refused.text
    assert signed_in_client(roadmap, walk.DIRECTOR).get(f"/transmissions/{second.id}").status_code == 403


def test_a_draft_shows_each_rows_check_and_a_school_sent_back_since(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    cpd = signed_in_client(roadmap, CPD)
    listing = cpd.get("/transmissions")
    draft = cpd.post("/transmissions", data={"csrf": csrf_of(listing.text), "departement": "035"})
    page = cpd.get(draft.headers["location"]).text
    assert "Chaque ligne a été vérifiée" in page and page.count("✓ vérifiée") == 1  # Baulon, the only one ready
    row = page.split(f'id="ligne-{BAULON}"', 1)[1].split("</tr>", 1)[0]
    assert "✓ vérifiée" in row

    # The CPD sends Baulon's row back after composing: the draft says so on its row, and how to fix it.
    roadmap.fire(BAULON, "request_changes", CPD, note="Téléphone de l'école à vérifier.")
    page = cpd.get(draft.headers["location"]).text
    row = page.split(f'id="ligne-{BAULON}"', 1)[1].split("</tr>", 1)[0]
    assert "à corriger" in row and "n&#39;est plus prête (Transmission du tableau" in row and "✓ vérifiée" not in row
    assert "1 ligne(s) ne sont plus valides" in page and "Recomposer le tableau" in page
    refused = cpd.post(draft.headers["location"] + "/envoi", data={"csrf": csrf_of(page)})
    assert refused.status_code == 400 and BAULON in refused.text and "recomposez" in refused.text
    sent = cpd.get("/transmissions/2").text  # a table already sent: its rows went as they were
    assert "envoyée" in sent and "à corriger" not in sent and "✓ vérifiée" not in sent


def test_the_school_page_says_which_tables_the_school_travelled_in(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    vignoc = signed_in_client(roadmap, CPD).get("/ecoles/0351620W").text  # in the demo's table n° 2, at the DSI
    section = vignoc.split('id="tableaux"', 1)[1].split("</section>", 1)[0]
    assert '<a href="/transmissions/2">Tableau n° 2 du département 035</a>' in section and "envoyé" in section
    assert "/transmissions/1" not in section  # not in the first one
    cpd = signed_in_client(roadmap, CPD)
    cpd.post("/transmissions", data={"csrf": csrf_of(cpd.get("/transmissions").text), "departement": "035"})
    director = signed_in_client(roadmap, DIRECTOR).get(f"/ecoles/{BAULON}").text  # Baulon, in the new draft
    section = director.split('id="tableaux"', 1)[1].split("</section>", 1)[0]
    assert "Tableau n° 3 du département 035" in section and "brouillon" in section
    assert "/transmissions/3" not in section  # the director does not read tables: no link to a 403
    assert 'id="tableaux"' not in signed_in_client(roadmap, CPD).get("/ecoles/0350165P").text  # Cardroc: none yet
