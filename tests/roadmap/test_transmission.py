"""Transmission batches: the département's account table composed, checked, sent with the file attached (DANE first,
then the DSI with the DANE in copy), validated or returned as a whole; the account-creation stage (publishers'
agreements, the manual route for ENTs without automatic creation); files, backup and the CLI."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from notifications.delivery import SmtpSender
from notifications.models import OutboxAttachment, OutboxMessage
from roadmap.account_table import COLUMNS, XLSX_TYPE
from roadmap.backup import export_all, restore_all
from roadmap.files import read_upload
from roadmap.mailer import RoadmapDispatcher
from roadmap.models import PublisherAgreement, TransmissionBatch, TransmissionBatchSchool
from roadmap.service import AdministrationRefused, Roadmap
from roadmap.settings import Settings
from roadmap.views import due_reminder_views
from tests.factories import ADMIN_EMAIL
from tests.notifications.smtp import SmtpServer
from tests.roadmap.test_cli import ok, run_cli
from tests.roadmap.test_walkthrough import OTHER_DIRECTOR, OTHER_IEN, reasons_of, small_roadmap, state_of
from tests.roadmap.walk import (
    COUNCIL_ITEMS,
    CPD,
    DANE,
    DEFINITION_ITEMS,
    DIRECTOR,
    FUNDING_ITEMS,
    OTHER_SCHOOL,
    SCHOOL,
    SCHOOL_CIRCO,
    TRANSMISSION_ITEMS,
    fill,
    minutes_file,
    record_agreements,
    send_in_table,
    walk_to_transmission,
)

DSI = "dsi.creation-comptes@ac-rennes.fr"  # académie 14's address in data/territory/academies.toml
MANUAL_ENT = "K-d'école (Kosmos)"  # not in the national list of ENTs with automatic account creation


def ready(roadmap: Roadmap, tmp_path: Path, uai: str = SCHOOL, director: str = DIRECTOR, ien: str | None = None,
          ent: str | None = None) -> None:
    """Walk a school to transmission.submitted (its row sent to the CPD), with another ENT if asked."""
    if ent is not None:
        roadmap.check(uai, "ent", ent, director)
    walk_to_transmission(roadmap, tmp_path, uai=uai, director=director, **({"ien": ien} if ien else {}))
    fill(roadmap, uai, TRANSMISSION_ITEMS, director)
    roadmap.fire(uai, "advance", director)


def test_the_sent_table_is_stored_and_reads_back_cell_by_cell(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    ready(roadmap, tmp_path)
    draft = roadmap.transmissions.compose("035", by=CPD)
    assert draft.columns == COLUMNS and [column for column, _ in draft.rows[0].cells] == list(COLUMNS)
    assert draft.filename is None and draft.size == 0  # nothing is built before it is sent
    sent = roadmap.transmissions.send(draft.id, by=CPD)
    assert sent.filename == "tableau-creation-comptes-035-1.xlsx"

    with roadmap.session() as session:
        batch = session.get(TransmissionBatch, draft.id)
        assert batch is not None and batch.content is not None
        stored = batch.content
        assert batch.sha256 == hashlib.sha256(stored).hexdigest() == sent.sha256
        member = session.exec(select(TransmissionBatchSchool)).one()
    sheet = load_workbook(io.BytesIO(stored)).active
    assert sheet is not None
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert cells[0] == list(COLUMNS)
    row = {column: value or "" for column, value in zip(COLUMNS, cells[1], strict=True)}  # an empty cell is None
    assert row == member.row  # the row as sent is kept with the batch
    assert row["RNE"] == SCHOOL and row["RNE CIRCO"] == SCHOOL_CIRCO and row["CP"] == "35580"  # text: zeros kept
    assert row["Téléphone"].startswith("0") and row["Responsable"] == "Claire Martin"
    assert row["date CE"] == "06/11/2026" and row["ENT"] == DEFINITION_ITEMS["ent"]  # a French date, as text
    assert all(cell.data_type == "s" for cell in sheet[2] if cell.value is not None)  # text: nothing converted
    assert len(cells) == 2

    # The file as sent comes back byte for byte; the CSV has the same rows.
    name, content = roadmap.transmissions.file(draft.id, roadmap.viewer(None), ".xlsx")
    assert (name, content) == (sent.filename, stored)
    assert roadmap.transmissions.file(draft.id, roadmap.viewer(CPD), ".csv")[1] == [member.row]


def test_a_later_table_reaches_the_dsi_with_the_dane_in_copy_and_the_file_attached(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    ready(roadmap, tmp_path)
    first = send_in_table(roadmap)  # the first table: DANE, validated
    ready(roadmap, tmp_path, OTHER_SCHOOL, OTHER_DIRECTOR, OTHER_IEN)
    later = roadmap.transmissions.compose("035", by=CPD)
    assert [row.uai for row in later.rows] == [OTHER_SCHOOL] and later.route == "dsi"
    sent = roadmap.transmissions.send(later.id, by=CPD)
    assert (sent.to, sent.cc, sent.route_label) == (DSI, (DANE,), "DSI, DANE en copie")
    assert state_of(roadmap, OTHER_SCHOOL) == "transmission.at_dsi"
    with roadmap.session() as session:
        stored = session.get(TransmissionBatch, later.id)
        assert stored is not None and stored.content
        table = stored.content

    with SmtpServer() as server:
        RoadmapDispatcher(roadmap, SmtpSender(server.settings())).run_once(datetime(2026, 11, 23, 10, 5, tzinfo=UTC))
        to_dsi = [r for r in server.handler.received if DSI in r.rcpt_tos]
    # Two emails reached the DSI: the first table once the DANE validated it, and this one.
    assert len(to_dsi) == 2
    message: EmailMessage = next(r.message for r in to_dsi if "n° 2" in str(r.message["Subject"]))
    received = next(r for r in to_dsi if r.message is message)
    assert set(received.rcpt_tos) == {DSI, DANE} and message["Cc"] == DANE
    assert message["To"].addresses[0].addr_spec == DSI
    assert message.get_content_type() == "multipart/mixed"
    attachments = list(message.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in attachments] == [(sent.filename, XLSX_TYPE)]
    assert attachments[0].get_content() == table  # the very file recorded with the batch
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and OTHER_SCHOOL in body.get_content()
    assert "La DANE le reçoit en copie" in body.get_content()
    first_email = next(r.message for r in to_dsi if r.message is not message)
    assert "validé par la DANE" in str(first_email["Subject"]) and len(list(first_email.iter_attachments())) == 1
    assert first != later.id


def test_the_dane_returns_a_table_with_a_note_and_its_schools_correct_their_rows(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    ready(roadmap, tmp_path)
    ready(roadmap, tmp_path, OTHER_SCHOOL, OTHER_DIRECTOR, OTHER_IEN)
    tables = roadmap.transmissions
    draft = tables.compose("035", by=CPD)
    assert {row.uai for row in draft.rows} == {SCHOOL, OTHER_SCHOOL}
    tables.send(draft.id, by=CPD)
    returned = tables.return_(draft.id, by=DANE, note="Téléphone de Cardroc erroné.")
    assert returned.status == "returned" and returned.decided_by == DANE
    assert {state_of(roadmap, SCHOOL), state_of(roadmap, OTHER_SCHOOL)} == {"transmission"}
    with pytest.raises(AdministrationRefused, match="déjà renvoyé"):
        tables.approve(draft.id, by=DANE)
    # The CPD is told why (email queued in the same transaction), the directors too (event notification).
    with roadmap.session() as session:
        to_cpd = session.exec(select(OutboxMessage).where(OutboxMessage.recipient == CPD,
                                                          OutboxMessage.kind == "transmission")).one()
        assert "Téléphone de Cardroc erroné." in to_cpd.text_body and to_cpd.cc == [DANE]
        assert session.exec(select(OutboxMessage).where(OutboxMessage.recipient == DIRECTOR)).all()
    # A returned table keeps its schools for the record, but they are free for the next table.
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    again = tables.compose("035", by=CPD)
    assert [row.uai for row in again.rows] == [SCHOOL] and again.number == 2
    assert [(r.uai, r.state) for r in again.not_ready] == [(OTHER_SCHOOL, "transmission")]
    assert tables.show(draft.id, roadmap.viewer(DANE)).note == "Téléphone de Cardroc erroné."


def test_the_manual_route_never_enters_a_table(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    ready(roadmap, tmp_path)  # One 1D: automatic creation
    for items in ({**DEFINITION_ITEMS, "ent": MANUAL_ENT}, FUNDING_ITEMS, COUNCIL_ITEMS):  # another ENT
        fill(roadmap, OTHER_SCHOOL, items, OTHER_DIRECTOR)
        if items is COUNCIL_ITEMS:
            roadmap.check(OTHER_SCHOOL, "minutes", None, OTHER_DIRECTOR, upload=read_upload(minutes_file(tmp_path)))
        roadmap.fire(OTHER_SCHOOL, "advance", OTHER_DIRECTOR)
    roadmap.fire(OTHER_SCHOOL, "approve", OTHER_IEN)
    fill(roadmap, OTHER_SCHOOL, TRANSMISSION_ITEMS, OTHER_DIRECTOR)
    # Its row cannot go in a table: the advance says which route is its own, and what it still needs.
    reasons = reasons_of(roadmap, OTHER_SCHOOL, lambda: roadmap.fire(OTHER_SCHOOL, "advance", OTHER_DIRECTOR))
    assert any("ENT sans création automatique" in r and MANUAL_ENT in r for r in reasons)
    assert any("liste des comptes transmise à l'éditeur" in r and "n'est pas coché" in r for r in reasons)
    draft = roadmap.transmissions.compose("035", by=CPD)
    assert [row.uai for row in draft.rows] == [SCHOOL]
    manual = next(r for r in draft.not_ready if r.uai == OTHER_SCHOOL)
    assert manual.reasons == ("ENT sans création automatique : voie manuelle (l'école transmet sa liste à "
                              "l'éditeur).",)
    # The school sends its own list to the publisher, then waits for its accounts like the others.
    roadmap.check(OTHER_SCHOOL, "accounts_list_sent", "oui", OTHER_DIRECTOR)
    roadmap.fire(OTHER_SCHOOL, "advance", OTHER_DIRECTOR)
    assert state_of(roadmap, OTHER_SCHOOL) == "setup.awaiting_accounts"
    roadmap.transmissions.send(draft.id, by=CPD)
    with roadmap.session() as session:
        members = session.exec(select(TransmissionBatchSchool.uai)).all()
    assert members == [SCHOOL]
    roadmap.fire(OTHER_SCHOOL, "accounts_created", CPD)
    assert state_of(roadmap, OTHER_SCHOOL) == "setup"


def test_the_export_to_the_publisher_needs_both_agreements_naming_the_missing_one(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    ready(roadmap, tmp_path)
    send_in_table(roadmap)
    assert state_of(roadmap, SCHOOL) == "transmission.at_dsi"
    ent = DEFINITION_ITEMS["ent"]
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "exported_to_publisher", CPD))
    assert len(reasons) == 2 and "convention entre le DASEN" in reasons[0] and "accord entre la DSI" in reasons[1]
    roadmap.transmissions.add_agreement("035", ent, "convention", "2026-05-12", by=DANE)
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "exported_to_publisher", CPD))
    assert reasons == [f"il manque l'accord entre la DSI et l'éditeur pour l'ENT « {ent} » dans le département 035 : "
                       "le CPD ou la DANE l'enregistre (« roadmap agreements add --departement 035 --kind "
                       "dsi_agreement »)."]
    # Recorded once per département and ENT, by the CPD or the DANE in scope, never twice.
    with pytest.raises(AdministrationRefused, match="déjà enregistré"):
        roadmap.transmissions.add_agreement("035", ent, "convention", "2026-05-12", by=CPD)
    with pytest.raises(AdministrationRefused, match="seuls le CPD du département 035"):
        roadmap.transmissions.add_agreement("035", ent, "dsi_agreement", "2026-05-12", by=DIRECTOR)
    record_agreements(roadmap)
    roadmap.fire(SCHOOL, "exported_to_publisher", CPD)
    assert state_of(roadmap, SCHOOL) == "setup.awaiting_accounts"
    ien = "ce.ien35.bruz@ac-rennes.fr"
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "accounts_created", ien))
    assert any("rôle" in r for r in reasons)
    roadmap.fire(SCHOOL, "accounts_created", DIRECTOR)
    assert state_of(roadmap, SCHOOL) == "setup"
    kinds = [(line.kind, line.recorded_by) for line in roadmap.transmissions.agreements(roadmap.viewer(CPD))]
    assert kinds == [("convention", DANE), ("dsi_agreement", CPD)]
    assert roadmap.transmissions.agreements(roadmap.viewer(DIRECTOR)) == []


def test_batches_and_attachments_survive_export_and_restore(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    ready(roadmap, tmp_path)
    send_in_table(roadmap)
    record_agreements(roadmap)
    archive = tmp_path / "export.zip"
    export_all(roadmap.db, roadmap.files, archive)
    with zipfile.ZipFile(archive) as opened:
        tables = json.loads(opened.read("data.json"))["tables"]
    for name in ("transmission_batch", "transmission_batch_school", "publisher_agreement", "outbox_attachment"):
        assert tables[name], name
    with roadmap.session() as session:
        original = session.exec(select(TransmissionBatch)).one()
        attachment = session.exec(select(OutboxAttachment)).first()
        assert attachment is not None
        original_attachment = attachment.content
        agreements = len(session.exec(select(PublisherAgreement)).all())

    target = Roadmap(Settings(home=tmp_path / "restored", database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}",
                              definitions_dir=settings.definitions_dir, territory_file=settings.territory_file))
    target.init()  # a restore goes into an empty database
    restore_all(target.db, target.files, archive, by=ADMIN_EMAIL)
    with target.session() as session:
        restored = session.exec(select(TransmissionBatch)).one()
        assert (restored.content, restored.sha256, restored.cc) == (original.content, original.sha256, original.cc)
        restored_attachment = session.exec(select(OutboxAttachment)).first()
        assert restored_attachment is not None and restored_attachment.content == original_attachment
        assert len(session.exec(select(PublisherAgreement)).all()) == agreements == 2


def test_transmission_commands_say_what_is_wrong(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    roadmap = small_roadmap(cli_env, tmp_path)
    code, _, err = run_cli(capsys, "transmission", "compose", "--departement", "035", "--by", CPD)
    assert code == 1 and "Aucune école du département 035 n'est prête" in err
    code, _, err = run_cli(capsys, "transmission", "compose", "--departement", "099", "--by", CPD)
    assert code == 1 and "Département introuvable" in err
    code, _, err = run_cli(capsys, "transmission", "show", "999")
    assert code == 1 and "Tableau introuvable : « 999 »" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "transmission", "send", "abc", "--by", CPD)
    assert code == 2
    code, _, err = run_cli(capsys, "transmission", "send", "999", "--by", CPD)
    assert code == 1 and "Tableau introuvable" in err
    code, _, err = run_cli(capsys, "transmission", "send", "1", "--by", "personne@example.org")
    assert code == 1 and "personne inconnue" in err

    ready(roadmap, tmp_path)
    out = ok(capsys, "transmission", "compose", "--departement", "35", "--by", CPD)
    assert "Tableau 1 — n° 1 du département 035" in out and "DANE" in out and SCHOOL in out
    code, _, err = run_cli(capsys, "transmission", "file", "1", "-o", tmp_path / "tableau.pdf")
    assert code == 1 and ".xlsx ou .csv" in err
    code, _, err = run_cli(capsys, "transmission", "return", "1", "--by", DANE, "--note", "à revoir")
    assert code == 1 and "pas encore été envoyé" in err
    ok(capsys, "transmission", "send", "1", "--by", CPD)
    code, _, err = run_cli(capsys, "transmission", "return", "1", "--by", DANE)
    assert code == 1 and "raison du renvoi est obligatoire" in err
    shown = json.loads(ok(capsys, "transmission", "show", "1", "--json"))
    assert shown["status"] == "sent" and shown["to"] == DANE and shown["rows"][0]["uai"] == SCHOOL
    listed = json.loads(ok(capsys, "transmission", "list", "--departement", "035", "--json"))
    assert [(line["id"], line["schools"], line["status"]) for line in listed] == [(1, 1, "sent")]
    assert json.loads(ok(capsys, "transmission", "list", "--as", DIRECTOR, "--json")) == []
    code, _, err = run_cli(capsys, "transmission", "show", "1", "--as", DIRECTOR)
    assert code == 1 and "Tableau introuvable" in err  # out of scope: not revealed
    written = tmp_path / "envoye.xlsx"
    ok(capsys, "transmission", "file", "1", "-o", written)
    assert hashlib.sha256(written.read_bytes()).hexdigest() == shown["sha256"]
    ok(capsys, "transmission", "file", "1", "-o", tmp_path / "envoye.csv")
    assert SCHOOL in (tmp_path / "envoye.csv").read_text(encoding="utf-8-sig")
    code, _, err = run_cli(capsys, "agreements", "add", "--departement", "035", "--ent", "Moodle", "--kind",
                           "convention", "--date", "2026-05-01", "--by", CPD)
    assert code == 1 and "ENT inconnu" in err and "Beneylu School" in err
    code, _, err = run_cli(capsys, "agreements", "add", "--departement", "035", "--ent", "Beneylu School", "--kind",
                           "contrat", "--date", "2026-05-01", "--by", CPD)
    assert code == 1 and "convention" in err and "dsi_agreement" in err
    code, _, err = run_cli(capsys, "agreements", "add", "--departement", "035", "--ent", "Beneylu School", "--kind",
                           "convention", "--date", "01/05/2026", "--by", CPD)
    assert code == 1 and "AAAA-MM-JJ" in err
    ok(capsys, "agreements", "add", "--departement", "035", "--ent", "Beneylu School", "--kind", "convention",
       "--date", "2026-05-01", "--by", CPD)
    assert "Beneylu School" in ok(capsys, "agreements", "list")
    # The table's moves cannot be made on one school by hand: there is no such command, and the API refuses.
    code, _, err = run_cli(capsys, "school", "validate_table", SCHOOL, "--by", DANE)
    assert code == 2


def test_schools_at_the_dsi_without_accounts_are_reminded_to_the_cpd_then_the_dane(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    ready(roadmap, tmp_path)
    first = roadmap.transmissions.compose("035", by=CPD)
    roadmap.transmissions.send(first.id, by=CPD)  # Monday 23 November 2026 (the tests' clock)

    def due(day: str) -> list[tuple[str, int, list[str]]]:
        moment = datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC)
        return [(d.rule, d.working_days, [r.address for r in d.recipients])
                for d in due_reminder_views(roadmap, moment) if d.uai == SCHOOL]

    assert due("2026-11-30") == [("first-table-awaiting-dane", 5, [DANE])]  # the first table waits for the DANE
    roadmap.transmissions.approve(first.id, by=DANE)  # the same Monday: at the DSI from now on
    assert due("2026-12-04") == []
    assert due("2026-12-07") == [("accounts-awaiting-dsi", 10, [CPD])]  # routed to the DSI, still no accounts
    assert due("2026-12-18") == [("accounts-awaiting-dsi", 19, [CPD])]
    record_agreements(roadmap)
    roadmap.fire(SCHOOL, "exported_to_publisher", CPD)  # the same rule watches the accounts awaited
    assert due("2026-12-07") == [("accounts-awaiting-dsi", 10, [CPD])]
    roadmap.fire(SCHOOL, "accounts_created", DIRECTOR)
    assert due("2026-12-07") == []
