"""The « Registre des traitements » page: each reader sees the départements of their scope, downloads the register
as the CLI writes it (the reading audited), and the roles that keep it record a processing record through a form
(bad input: a French 4xx page and nothing written)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import select

from roadmap.account_table import write_table
from roadmap.files import Upload
from roadmap.gdpr import REGISTER_COLUMNS, REGISTER_SHEET
from roadmap.models import Departement, ProcessingRecord
from roadmap.service import Roadmap
from roadmap.settings import Settings
from tests.web.client import ADMIN, CPD, DANE, DPO, IEN_STGREGOIRE, csrf_of, demo_roadmap, signed_in_client

ONE = "One 1D (Open Digital Education)"
BENEYLU = "Beneylu School"
PDF = b"%PDF-1.4\n%fiche de traitement\n%%EOF\n"


def _records(roadmap: Roadmap) -> list[ProcessingRecord]:
    with roadmap.session() as session:
        return list(session.exec(select(ProcessingRecord).order_by(ProcessingRecord.ent_name)).all())


def _post(client: object, token: str, files: dict[str, tuple[str, bytes, str]] | None = None,
          **fields: str) -> object:
    data = {"csrf": token, "departement": "035", "ent_choisi": BENEYLU, **fields}
    chosen = {"fiche": ("fiche-beneylu.pdf", PDF, "application/pdf")} if files is None else files
    return client.post("/registre", data=data, files=chosen)  # type: ignore[attr-defined]


def test_the_cpd_records_a_processing_record_and_downloads_the_register(settings: Settings, tmp_path: Path) -> None:
    roadmap = demo_roadmap(settings)
    before = {r.ent_name for r in _records(roadmap)}
    cpd = signed_in_client(roadmap, CPD)
    page = cpd.get("/registre")
    assert page.status_code == 200 and "Registre des traitements" in page.text
    assert 'href="/registre"' in page.text  # in the navigation
    assert "Enregistrer une fiche de traitement" in page.text and f"<option>{BENEYLU}</option>" in page.text
    saved = _post(cpd, csrf_of(page.text), editeur="Beneylu", recue_le="02/11/2026", envoyee_le="09/11/2026")
    assert saved.status_code == 303 and saved.headers["location"] == "/registre?departement=035&fait=fiche"  # type: ignore[attr-defined]
    shown = cpd.get("/registre?departement=035&fait=fiche").text
    assert "La fiche de traitement est enregistrée." in shown and "fiche-beneylu.pdf" in shown
    assert "02/11/2026" in shown and "09/11/2026" in shown
    record = next(r for r in _records(roadmap) if r.ent_name == BENEYLU)
    assert (record.publisher, record.recorded_by, record.file_name) == ("Beneylu", CPD, "fiche-beneylu.pdf")
    assert roadmap.files.path_of(record.file_sha256).read_bytes() == PDF
    assert {r.ent_name for r in _records(roadmap)} == before | {BENEYLU}
    assert [e.action for e in roadmap.audit_log() if e.actor == CPD][-1] == "gdpr.record"

    # The downloads are the file `roadmap gdpr register -o …` writes, byte for byte (CSV), and cell for cell.
    rows = roadmap.register_rows("035", by=ADMIN)
    expected_csv, expected_xlsx = tmp_path / "r.csv", tmp_path / "r.xlsx"
    write_table(rows, expected_csv, REGISTER_COLUMNS, REGISTER_SHEET)
    write_table(rows, expected_xlsx, REGISTER_COLUMNS, REGISTER_SHEET)
    audited = len([e for e in roadmap.audit_log() if e.action == "gdpr.register"])
    comma = cpd.get("/registre/035.csv")
    assert comma.status_code == 200 and comma.headers["content-type"].startswith("text/csv")
    assert 'filename="registre-traitements-035.csv"' in comma.headers["content-disposition"]
    assert comma.content == expected_csv.read_bytes()
    read = list(csv.reader(io.StringIO(comma.content.decode("utf-8-sig")), delimiter=";"))
    assert read[0] == list(REGISTER_COLUMNS)
    assert any(line[2] == BENEYLU and line[1] == "Beneylu" and line[7] == CPD for line in read[1:])
    sheet = cpd.get("/registre/35.xlsx")  # the code as people type it
    assert sheet.status_code == 200 and "registre-traitements-035.xlsx" in sheet.headers["content-disposition"]
    book = load_workbook(io.BytesIO(sheet.content))
    assert book.sheetnames == [REGISTER_SHEET]
    got = [[c.value for c in row] for row in book.active.iter_rows()]  # type: ignore[union-attr]
    want = [[c.value for c in row] for row in load_workbook(expected_xlsx).active.iter_rows()]  # type: ignore[union-attr]
    assert got == want
    assert len([e for e in roadmap.audit_log() if e.action == "gdpr.register"]) == audited + 2  # both readings
    assert cpd.get("/registre/035.pdf").status_code == 404


def test_bad_input_is_refused_in_french_and_nothing_is_written(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    before = [(r.ent_name, r.file_sha256) for r in _records(roadmap)]
    audit_before = len(roadmap.audit_log())
    cpd = signed_in_client(roadmap, CPD)
    token = csrf_of(cpd.get("/registre").text)
    cases = [
        ({"ent_choisi": "Moodle"}, None, 422, "ENT inconnu"),
        ({"recue_le": "31/02/2026"}, None, 422, "Reçue le"),
        ({"recue_le": "01/01/2099"}, None, 422, "date future"),
        ({"envoyee_le": "demain"}, None, 422, "jj/mm/aaaa"),
        ({}, {"fiche": ("fiche.exe", b"MZ\x90\x00", "application/octet-stream")}, 422, "type de fichier"),
        ({}, {}, 422, "aucun fichier joint"),
        ({"ent_choisi": ""}, None, 422, "ENT est obligatoire"),
        ({"departement": "999"}, None, 404, "999"),
        ({"departement": "022"}, None, 404, "022"),  # not in the demo's directory
    ]
    for fields, files, status, message in cases:
        response = _post(cpd, token, files, **fields)
        assert response.status_code == status, (fields, response.text)  # type: ignore[attr-defined]
        assert message in response.text and "<h1>" in response.text, fields  # type: ignore[attr-defined]
    expired = cpd.post("/registre", data={"csrf": "faux", "departement": "035", "ent_choisi": BENEYLU},
                       files={"fiche": ("f.pdf", PDF, "application/pdf")})
    assert expired.status_code == 403 and "formulaire a expiré" in expired.text
    assert [(r.ent_name, r.file_sha256) for r in _records(roadmap)] == before
    assert all(e.action != "gdpr.record" for e in roadmap.audit_log()[audit_before:])


def test_readers_see_their_scope_and_only_keepers_get_the_form(settings: Settings) -> None:
    roadmap = demo_roadmap(settings)
    with roadmap.engine.transaction() as session:  # a second département of the académie, without schools
        session.add(Departement(code="022", name="Côtes-d'Armor", academie_code="14"))
    roadmap.add_person("cpd22@ac-rennes.fr", "cpd", "022", "CPD des Côtes-d'Armor", by=ADMIN)
    dpo = signed_in_client(roadmap, DPO)
    assert dpo.get("/").headers["location"] == "/registre"  # the DPO's home
    page = dpo.get("/registre")
    assert page.status_code == 200 and '<option value="022" selected>022 Côtes-d&#39;Armor</option>' in page.text
    assert '<option value="035">035 ' in page.text  # its académie's two départements, the first shown
    assert 'href="/registre/035.xlsx"' in dpo.get("/registre?departement=035").text
    assert "Enregistrer une fiche de traitement" not in page.text  # reads, records nothing
    assert dpo.get("/registre/035.csv").status_code == 200
    refused = _post(dpo, csrf_of(page.text))
    assert refused.status_code == 403 and "consulter le registre" not in refused.text  # type: ignore[attr-defined]
    assert "enregistrer une fiche de traitement" in refused.text  # type: ignore[attr-defined]
    dane = signed_in_client(roadmap, DANE).get("/registre")
    assert "Enregistrer une fiche de traitement" in dane.text
    other = signed_in_client(roadmap, "cpd22@ac-rennes.fr")
    own = other.get("/registre")
    assert "Département 022" in own.text and 'value="035"' not in own.text and "Aucune fiche" in own.text
    assert other.get("/registre?departement=035").status_code == 403
    assert _post(other, csrf_of(own.text)).status_code == 403  # type: ignore[attr-defined]
    assert other.get("/registre/035.xlsx").status_code == 403
    ien = signed_in_client(roadmap, IEN_STGREGOIRE)
    assert ien.get("/registre").status_code == 403 and 'href="/registre"' not in ien.get("/a-faire").text
    assert all(r.ent_name != BENEYLU for r in _records(roadmap))  # none of the refused forms wrote anything
    roadmap.add_processing_record("035", ONE, Upload("fiche-one.pdf", PDF), by=ADMIN)
    # The API renders the same view (once a record is held): the DPO's académie, the records, no form;
    # the other CPD its own département only.
    api = dpo.get("/api/register?departement=035").json()
    assert [code for code, _ in api["departements"]] == ["022", "035"] and api["departement"] == "035"
    assert api["may_record"] is False and {line["departement"] for line in api["lines"]} == {"035"}
    assert len(api["lines"]) == len([r for r in _records(roadmap) if r.departement_code == "035"]) > 0
    assert other.get("/api/register").json()["departements"] == [["022", "Côtes-d'Armor"]]
    assert other.get("/api/register?departement=035").status_code == 403
