"""GDPR: processing records held once per publisher and département (guard, register), the DPO's read-only role,
retention of people who left (anonymised, history kept under a pseudonym), the access-request export."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlmodel import Session, SQLModel, col, select

from notifications.models import OutboxMessage, SinkMessage
from roadmap import gdpr
from roadmap.account_table import write_table
from roadmap.errors import InvalidValue, NotFound, RoadmapError
from roadmap.files import Upload
from roadmap.gdpr import ERASED, REGISTER_COLUMNS, actor_key, pseudonym_of
from roadmap.jsonview import dumps
from roadmap.mailer import daily_jobs
from roadmap.service import AdministrationRefused, Roadmap
from roadmap.settings import Settings
from roadmap.signin import SignIn
from roadmap.views import audit_lines, processing_record_lines, school_detail
from tests.conftest import ILLE_ET_VILAINE
from tests.factories import ADMIN_EMAIL, FIXED_NOW, make_roadmap
from tests.roadmap.test_cli import ok, run_cli, small_db  # noqa: F401  (small_db is a fixture)
from tests.roadmap.test_permissions import (
    CPD_22,
    CPD_35,
    DANE_14,
    DANE_24,
    DIRECTOR_1,
    DIRECTOR_2,
    S1,
    S2,
    setup_roadmap,
)
from tests.roadmap.walk import (
    CPD,
    DEFINITION_ITEMS,
    DIRECTOR,
    GDPR_ITEMS,
    SCHOOL,
    SETUP_ITEMS,
    TRANSMISSION_ITEMS,
    add_people,
    fill,
    send_in_table,
    through_account_creation,
    walk_to_transmission,
)
from workflows.errors import TransitionRefused

ONE = DEFINITION_ITEMS["ent"]  # "One 1D (Open Digital Education)"
BENEYLU = "Beneylu School"
RECORD = Upload("fiche-traitement-one.pdf", b"%PDF-1.4 fiche de traitement ODE\n")
DPO_14, DPO_24 = "dpd@ac-rennes.fr", "dpd@ac-creteil.fr"


def with_dpos(roadmap: Roadmap) -> Roadmap:
    roadmap.add_person(DPO_14, "dpo", "14", "Hélène Caradec", by=ADMIN_EMAIL)
    roadmap.add_person(DPO_24, "dpo", "24", "Marc Lévy", by=ADMIN_EMAIL)
    return roadmap


# ------------------------------------------------------------------------------------- processing records


def test_records_are_kept_by_the_cpd_dane_or_admin_of_the_departement(settings: Settings, tmp_path: Path) -> None:
    roadmap = with_dpos(setup_roadmap(settings, tmp_path))
    record = roadmap.add_processing_record("35", ONE, RECORD, by=CPD_35, received=date(2026, 11, 2))
    assert (record.departement_code, record.ent_name, record.publisher) == ("035", ONE, "Open Digital Education")
    roadmap.add_processing_record("022", BENEYLU, RECORD, by=DANE_14, publisher="Beneylu", sent_to_dsden=date(
        2026, 11, 5))
    # The same publisher and département again replaces the record (held once), and says so in the audit log.
    newer = Upload("fiche-one-v2.pdf", b"%PDF-1.4 version 2\n")
    roadmap.add_processing_record("035", ONE, newer, by=ADMIN_EMAIL)
    lines = processing_record_lines(roadmap)
    assert [(line.departement, line.ent, line.file_name, line.received_on) for line in lines] == [
        ("022", BENEYLU, RECORD.filename, FIXED_NOW.date()), ("035", ONE, newer.filename, FIXED_NOW.date())]
    assert roadmap.files.path_of(newer.sha256).read_bytes() == newer.content
    records = [e for e in roadmap.audit_log() if e.action == "gdpr.record"]
    assert [(e.actor, e.details and e.details["replaced"]) for e in records] == [
        (CPD_35, False), (DANE_14, False), (ADMIN_EMAIL, True)]

    refusals = {
        CPD_22: "hors du département 022",
        DANE_24: "hors de l'académie 24",
        DIRECTOR_1: "ne peut pas enregistrer une fiche de traitement",
        DPO_14: "ne peut pas enregistrer une fiche de traitement",
    }
    for who, reason in refusals.items():
        with pytest.raises(AdministrationRefused) as refused:
            roadmap.add_processing_record("035", ONE, RECORD, by=who)
        assert reason in str(refused.value), who
    assert len(processing_record_lines(roadmap)) == 2  # nothing written by the refused attempts

    with pytest.raises(InvalidValue) as unknown:
        roadmap.add_processing_record("035", "Moodle", RECORD, by=CPD_35)
    assert "ENT possibles" in str(unknown.value) and ONE in str(unknown.value)
    with pytest.raises(NotFound):
        roadmap.add_processing_record("099", ONE, RECORD, by=ADMIN_EMAIL)
    with pytest.raises(InvalidValue) as future:
        roadmap.add_processing_record("035", ONE, RECORD, by=CPD_35, received=FIXED_NOW.date() + timedelta(days=1))
    assert "date future" in str(future.value)


def test_record_list_shows_each_reader_their_scope(settings: Settings, tmp_path: Path) -> None:
    roadmap = with_dpos(setup_roadmap(settings, tmp_path))
    roadmap.add_processing_record("035", ONE, RECORD, by=ADMIN_EMAIL)
    roadmap.add_processing_record("094", ONE, RECORD, by=ADMIN_EMAIL)
    seen = {who: [line.departement for line in processing_record_lines(roadmap, roadmap.viewer(who))]
            for who in (CPD_35, CPD_22, DANE_14, DPO_14, DPO_24, ADMIN_EMAIL)}
    assert seen == {CPD_35: ["035"], CPD_22: [], DANE_14: ["035"], DPO_14: ["035"], DPO_24: ["094"],
                    ADMIN_EMAIL: ["035", "094"]}
    with pytest.raises(AdministrationRefused):
        processing_record_lines(roadmap, roadmap.viewer(DIRECTOR_1))


def test_register_rows_count_the_schools_using_each_ent_and_read_back(settings: Settings, tmp_path: Path) -> None:
    roadmap = with_dpos(setup_roadmap(settings, tmp_path))
    roadmap.check(S1, "ent", ONE, DIRECTOR_1)
    roadmap.check(S2, "ent", ONE, CPD_35)
    roadmap.add_processing_record("035", ONE, RECORD, by=CPD_35, received=date(2026, 11, 2),
                                  sent_to_dsden=date(2026, 11, 9))
    roadmap.add_processing_record("035", BENEYLU, Upload("=cmd.pdf", b"%PDF x"), by=CPD_35, publisher="=HYPERLINK()")
    rows = roadmap.register_rows("035", by=DPO_14)
    assert rows == [
        {"Département": "035", "Éditeur": "=HYPERLINK()", "ENT": BENEYLU, "Fiche de traitement": "=cmd.pdf",
         "Reçue le": "23/11/2026", "Envoyée à la DSDEN le": "", "Écoles du département utilisant cet ENT": "0",
         "Enregistrée par": CPD_35},
        {"Département": "035", "Éditeur": "Open Digital Education", "ENT": ONE,
         "Fiche de traitement": RECORD.filename, "Reçue le": "02/11/2026", "Envoyée à la DSDEN le": "09/11/2026",
         "Écoles du département utilisant cet ENT": "2", "Enregistrée par": CPD_35},
    ]
    assert [e.actor for e in roadmap.audit_log() if e.action == "gdpr.register"] == [DPO_14]
    with pytest.raises(AdministrationRefused):
        roadmap.register_rows("035", by=DPO_24)  # another académie's DPO
    with pytest.raises(AdministrationRefused):
        roadmap.register_rows("035", by=CPD_22)

    xlsx, comma = tmp_path / "registre.xlsx", tmp_path / "registre.csv"
    write_table(rows, xlsx, REGISTER_COLUMNS, "Registre des traitements")
    write_table(rows, comma, REGISTER_COLUMNS, "Registre des traitements")
    sheet = load_workbook(xlsx).active
    assert sheet is not None
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert cells[0] == list(REGISTER_COLUMNS)
    assert cells[1][:4] == ["035", "'=HYPERLINK()", BENEYLU, "'=cmd.pdf"]  # formulas neutralised
    assert cells[2][4:7] == ["02/11/2026", "09/11/2026", "2"]
    with comma.open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.reader(handle, delimiter=";"))
    assert read[0] == list(REGISTER_COLUMNS) and read[1][1] == "'=HYPERLINK()" and read[2][0] == "035"


def test_the_register_shows_an_anonymised_recorder_under_their_pseudonym(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    roadmap.add_processing_record("035", ONE, RECORD, by=CPD_35)
    assert roadmap.register_rows("035", by=ADMIN_EMAIL)[0]["Enregistrée par"] == CPD_35  # within the delay
    roadmap.remove_person(CPD_35, by=ADMIN_EMAIL)
    later = make_roadmap(settings, now=FIXED_NOW + timedelta(days=366), admin=False)
    later.purge(by=ADMIN_EMAIL)
    pseudonym = pseudonym_of(actor_key(CPD_35))
    assert later.register_rows("035", by=ADMIN_EMAIL)[0]["Enregistrée par"] == pseudonym
    assert [line.recorded_by for line in processing_record_lines(later)] == [pseudonym]


def gdpr_ready(settings: Settings, tmp_path: Path) -> Roadmap:
    """0350122T at the GDPR step (Ille-et-Vilaine), its checklist complete."""
    roadmap = make_roadmap(settings)
    roadmap.import_annuaire(ILLE_ET_VILAINE, by=ADMIN_EMAIL)
    add_people(roadmap)
    walk_to_transmission(roadmap, tmp_path)
    fill(roadmap, SCHOOL, TRANSMISSION_ITEMS, DIRECTOR)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    send_in_table(roadmap)  # the first table of the département, validated by the DANE
    through_account_creation(roadmap)
    fill(roadmap, SCHOOL, SETUP_ITEMS, DIRECTOR)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    fill(roadmap, SCHOOL, GDPR_ITEMS, DIRECTOR)
    return roadmap


def test_the_gdpr_step_waits_for_the_record_of_the_schools_ent_and_departement(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = gdpr_ready(settings, tmp_path)
    assert "processing_record" not in [line.id for line in school_detail(roadmap, SCHOOL).checklist]
    # Another ENT's record does not count.
    roadmap.add_processing_record("035", BENEYLU, RECORD, by=CPD)
    with pytest.raises(TransitionRefused) as refused:
        roadmap.fire(SCHOOL, "advance", DIRECTOR)
    message = str(refused.value)
    assert f"« {ONE} »" in message and "département 035" in message and "gdpr record add" in message
    assert school_detail(roadmap, SCHOOL).step == "gdpr_information"
    roadmap.add_processing_record("035", ONE, RECORD, by=CPD)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    assert school_detail(roadmap, SCHOOL).step == "teacher_training"


# ------------------------------------------------------------------------------------------------- DPO


def test_the_dpo_reads_its_academie_and_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    roadmap = with_dpos(setup_roadmap(settings, tmp_path))
    assert roadmap.visible_school(S1, roadmap.viewer(DPO_14)) == S1
    with pytest.raises(NotFound):
        roadmap.visible_school(S1, roadmap.viewer(DPO_24))
    with pytest.raises(TransitionRefused) as checked:
        roadmap.check(S1, "features", "messagerie", DPO_14)
    assert "lecture seule" in str(checked.value)
    with pytest.raises(TransitionRefused) as moved:
        roadmap.fire(S1, "suspend", DPO_14, note="essai")
    assert "lecture seule" in str(moved.value)
    with pytest.raises(AdministrationRefused):
        roadmap.add_person("x@ac-rennes.fr", "director", S1, "X", by=DPO_14)
    with pytest.raises(AdministrationRefused):
        roadmap.access_export(DIRECTOR_1, by=DPO_14)
    assert school_detail(roadmap, S1).version == 1  # nothing moved
    # Only an administrator registers a DPO.
    with pytest.raises(AdministrationRefused):
        roadmap.add_person("dpd2@ac-rennes.fr", "dpo", "14", "Autre", by=DANE_14)


# ------------------------------------------------------------------------------------------- retention


def mail_to(roadmap: Roadmap, address: str) -> None:
    with roadmap.engine.transaction() as session:
        for status in ("sent", "pending"):
            session.add(OutboxMessage(key=f"k-{status}", message_id=f"<{status}@test>", kind="reminder",
                                      recipient=address, recipient_name="Claire Martin", subject="Rappel",
                                      text_body="Bonjour Claire Martin", status=status))
        session.add(SinkMessage(message_id="<sent@test>", sender="ne-pas-repondre@localhost", recipients=[address],
                                subject="Rappel", text_body="Bonjour Claire Martin"))
    SignIn(roadmap).request_link(address, "127.0.0.1")
    SignIn(roadmap).open_session(address, method="test")


def test_people_who_left_are_anonymised_after_the_delay(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    roadmap.check(S1, "features", "messagerie, blog", DIRECTOR_1)
    mail_to(roadmap, DIRECTOR_1)  # a reminder sent, one pending, the demo's sink, a sign-in link, a session
    with roadmap.engine.transaction() as session:  # and a message to someone else that names her
        session.add(OutboxMessage(key="k-cpd", message_id="<cpd@test>", kind="reminder", recipient=CPD_35,
                                  subject="Suivi", text_body=f"Claire Martin ({DIRECTOR_1}) a rempli la fiche ; "
                                  f"écrivez à {DIRECTOR_1}.", status="sent"))
    roadmap.remove_person(DIRECTOR_1, by=ADMIN_EMAIL)
    pseudonym = pseudonym_of(actor_key(DIRECTOR_1))
    assert school_detail(roadmap, S1).history[-1].actor == DIRECTOR_1  # within the delay: as it was

    # Before the delay has passed, nobody is due; after it, a dry run says who, and changes nothing.
    assert roadmap.purge(by=ADMIN_EMAIL) == []
    later = make_roadmap(settings, now=FIXED_NOW + timedelta(days=366), admin=False)
    dry = later.purge(by=ADMIN_EMAIL, dry_run=True)
    assert [(d.email, d.name, d.pseudonym, d.reason) for d in dry] == [
        (DIRECTOR_1, "Claire Martin", pseudonym, "removed")]
    assert school_detail(later, S1).history[-1].actor == DIRECTOR_1
    with pytest.raises(AdministrationRefused):
        later.purge(by=CPD_35)  # administrators only

    done = later.purge(by=ADMIN_EMAIL)
    assert [d.email for d in done] == [DIRECTOR_1]
    assert later.purge(by=ADMIN_EMAIL) == []  # once
    # Every row that named her names the pseudonym: the history and the audit log included (rewritten under an
    # erasure grant), and the mail to other people that mentioned her.
    detail = school_detail(later, S1)
    assert detail.history[-1].actor == pseudonym and detail.history[-1].event == "check"
    assert DIRECTOR_1 not in dumps(detail)
    with later.session() as session:
        held = everything_held(session)
        departed = session.connection().execute(text("SELECT email, name FROM departed_person")).all()
        grants = session.connection().execute(text("SELECT count(*) FROM erasure_grant")).scalar_one()
        raw = session.connection().execute(text("SELECT actor FROM workflow_history WHERE event = 'check'")).all()
        told = session.exec(select(OutboxMessage).where(OutboxMessage.recipient == CPD_35)).one()
    assert DIRECTOR_1 not in held and "claire martin" not in held
    assert [tuple(row) for row in departed] == [(None, None)] and grants == 0 and [r[0] for r in raw] == [pseudonym]
    assert told.text_body == f"{pseudonym} ({pseudonym}) a rempli la fiche ; écrivez à {pseudonym}."
    # The mail log keeps its lines under the pseudonym, the texts erased, the pending one never sent; the sink, the
    # sign-in requests and the sessions no longer hold the address.
    with later.session() as session:
        mails = session.exec(select(OutboxMessage).where(OutboxMessage.recipient != CPD_35)
                             .order_by(col(OutboxMessage.id))).all()
        assert len(mails) == 3  # the reminder sent, the one pending, the sign-in link
        assert {(m.recipient, m.recipient_name, m.text_body) for m in mails} == {
            (f"{pseudonym}@anonyme.invalid", "", ERASED)}
        assert [m.status for m in mails][:2] == ["sent", "cancelled"] and "pending" not in {m.status for m in mails}
        for table in ("mail_sink", "sign_in_request", "web_session"):
            assert session.connection().execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    log = audit_lines(later)
    assert any(line.action == "people.remove" and line.target == pseudonym for line in log)
    purges = [line.details or {} for line in log if line.action == "gdpr.purge"]  # every run is traced
    assert [(p["anonymised"], p["caught_up"]) for p in purges] == [([], []), ([pseudonym], []), ([], [])]
    assert {"workflow_history", "audit_entry", "outbox_message"} <= set(purges[1]["rows"])


def everything_held(session: Session) -> str:
    """Every value of every row of every table, as one lower-cased text."""
    return "\n".join(
        repr(tuple(row)) for table in SQLModel.metadata.sorted_tables
        for row in session.connection().execute(table.select())
    ).lower()


def test_people_anonymised_before_their_rows_were_rewritten_are_caught_up(settings: Settings, tmp_path: Path) -> None:
    """An earlier version anonymised the departure row only (or a restored archive brought old rows back): the
    next purge recognises the address by its key and rewrites the rows, unless the address is in use again."""
    roadmap = setup_roadmap(settings, tmp_path)
    roadmap.check(S1, "features", "messagerie, blog", DIRECTOR_1)
    roadmap.check(S2, "features", "blog", DIRECTOR_2)
    for address in (DIRECTOR_1, DIRECTOR_2):
        roadmap.remove_person(address, by=ADMIN_EMAIL)
    with roadmap.engine.transaction() as session:  # what an earlier version's purge left
        session.connection().execute(text("UPDATE departed_person SET email = NULL, name = NULL, anonymised_at = "
                                          "left_at"))
    roadmap.add_person(DIRECTOR_2, "director", S2, "Yves Le Goff", by=ADMIN_EMAIL)  # the address is back in use

    (retention,) = daily_jobs(roadmap)  # what the worker runs every night
    assert retention.id == "gdpr-retention" and (retention.hour, retention.minute) == (3, 15)
    assert retention.run() == []  # nobody due, but the earlier one is caught up
    first, second = pseudonym_of(actor_key(DIRECTOR_1)), pseudonym_of(actor_key(DIRECTOR_2))
    assert school_detail(roadmap, S1).history[-1].actor == first
    assert school_detail(roadmap, S2).history[-1].actor == DIRECTOR_2
    runs = [line for line in audit_lines(roadmap) if line.action == "gdpr.purge"]
    assert [(r.actor, (r.details or {})["caught_up"]) for r in runs] == [("roadmap-conservation", [first])]
    assert second not in str(runs)
    retention.run()  # nothing left to do: the daily run leaves no trace
    assert len([line for line in audit_lines(roadmap) if line.action == "gdpr.purge"]) == 1


def test_rows_written_between_the_scan_and_the_rewrite_are_rewritten_too(settings: Settings, tmp_path: Path) -> None:
    """The scan reads without the write lock; the rewrite also reads the rows written since (and the small tables
    without a counter, again)."""
    roadmap = setup_roadmap(settings, tmp_path)
    roadmap.remove_person(DIRECTOR_1, by=ADMIN_EMAIL)
    later = make_roadmap(settings, now=FIXED_NOW + timedelta(days=366), admin=False)
    now = later.engine.clock()
    with later.session() as session:
        plan = gdpr.plan_erasure(session, gdpr.due_departures(session, now, 365))
    with later.engine.transaction() as session:
        session.add(OutboxMessage(key="k-after", message_id="<after@test>", kind="reminder", recipient=CPD_35,
                                  subject="Suivi", text_body=f"Relancez {DIRECTOR_1}.", status="sent"))
    with later.engine.transaction() as session:
        erased = gdpr.anonymise(session, plan, now, by=ADMIN_EMAIL)
    pseudonym = pseudonym_of(actor_key(DIRECTOR_1))
    assert erased.anonymised == [pseudonym] and erased.rows["outbox_message"] == 1
    with later.session() as session:
        assert DIRECTOR_1 not in everything_held(session)


def test_coming_back_before_the_delay_cancels_the_anonymisation(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    roadmap.remove_person(DIRECTOR_1, by=ADMIN_EMAIL)
    roadmap.add_person(DIRECTOR_1, "director", S1, "Claire Martin", by=ADMIN_EMAIL)
    later = make_roadmap(settings, now=FIXED_NOW + timedelta(days=400), admin=False)
    assert later.purge(by=ADMIN_EMAIL, dry_run=True) == []


def test_the_retention_delay_is_a_setting(settings: Settings, tmp_path: Path) -> None:
    assert Settings.from_env({"ROADMAP_RETENTION_DAYS": "30", "ROADMAP_HOME": str(tmp_path)}).retention_days == 30
    assert Settings.from_env({"ROADMAP_HOME": str(tmp_path)}).retention_days == 365
    with pytest.raises(RoadmapError) as bad:
        Settings.from_env({"ROADMAP_RETENTION_DAYS": "un an", "ROADMAP_HOME": str(tmp_path)})
    assert "ROADMAP_RETENTION_DAYS" in str(bad.value) and "→" in str(bad.value)
    roadmap = setup_roadmap(settings, tmp_path)
    roadmap.remove_person(DIRECTOR_1, by=ADMIN_EMAIL)
    short = Roadmap(Settings(**{**settings.__dict__, "retention_days": 10}), clock=lambda: FIXED_NOW + timedelta(
        days=11))
    assert [d.email for d in short.purge(by=ADMIN_EMAIL, dry_run=True)] == [DIRECTOR_1]


def test_a_mailbox_replaced_at_an_import_has_left(settings: Settings, tmp_path: Path) -> None:
    from tests.factories import ANNUAIRE_HEADER, annuaire_row, write_csv

    roadmap = setup_roadmap(settings, tmp_path)
    old = f"ecole.{S1.lower()}@ac-rennes.fr"
    assert old in [p.email for p in roadmap.people()]
    row = annuaire_row(S1, "Ecole primaire publique les Lucioles", departement="035", academie="14",
                       email="nouvelle.adresse@ac-rennes.fr")
    roadmap.import_annuaire(write_csv(tmp_path / "maj.csv", ANNUAIRE_HEADER, [row]), by=ADMIN_EMAIL)
    later = make_roadmap(settings, now=FIXED_NOW + timedelta(days=366), admin=False)
    left = later.purge(by=ADMIN_EMAIL, dry_run=True)
    assert [(d.email, d.reason) for d in left] == [(old, "annuaire")]


# -------------------------------------------------------------------------------------- access requests


def test_the_access_export_holds_everything_about_one_person(settings: Settings, tmp_path: Path) -> None:
    roadmap = with_dpos(setup_roadmap(settings, tmp_path))
    roadmap.check(S1, "features", "messagerie", DIRECTOR_1)
    with pytest.raises(TransitionRefused):
        roadmap.fire(S1, "advance", DIRECTOR_1)
    roadmap.set_reminder_mode(DIRECTOR_1, "immediate", by=DIRECTOR_1)
    with roadmap.session() as session, session.begin():
        session.connection().execute(text(
            "INSERT INTO sign_in_request (token_hash, email, ip, created_at, expires_at) "
            "VALUES ('secret-hash', :e, '203.0.113.9', :t, :t)"), {"e": DIRECTOR_1, "t": FIXED_NOW})
    data = roadmap.access_export(DIRECTOR_1, by=DANE_14)
    tables = data["tables"]
    assert [p["name"] for p in tables["person"]] == ["Claire Martin"]
    assert [(h["event"], h["school"]) for h in tables["workflow_history"]] == [("check", S1)]
    assert [v["item"] for v in tables["workflow_checklist_value"]] == ["features"]
    assert [r["event"] for r in tables["workflow_refused_attempt"]] == ["advance"]
    assert {e["action"] for e in tables["audit_entry"]} == {"people.add", "people.reminders"}
    assert tables["recipient_preference"][0]["mode"] == "immediate"
    assert tables["sign_in_request"][0]["ip"] == "203.0.113.9" and "token_hash" not in tables["sign_in_request"][0]
    assert "secret-hash" not in dumps(data)
    assert json.loads(dumps(data))["person"] == DIRECTOR_1
    last = roadmap.audit_log()[-1]
    assert (last.action, last.actor, last.target) == ("gdpr.access", DANE_14, DIRECTOR_1)
    for who in (CPD_35, DIRECTOR_1):
        with pytest.raises(AdministrationRefused):
            roadmap.access_export(DIRECTOR_1, by=who)


# ------------------------------------------------------------------------------------------------- CLI


def test_gdpr_commands(
    small_db: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    record = tmp_path / "fiche-one.pdf"
    record.write_bytes(b"%PDF-1.4 fiche ODE\n")
    out = ok(capsys, "gdpr", "record", "add", "--departement", "035", "--ent", ONE, "--file", record,
             "--received", "02/11/2026", "--sent", "2026-11-09", "--by", CPD)
    assert "Open Digital Education" in out and "02/11/2026" in out
    listed = json.loads(ok(capsys, "gdpr", "record", "list", "--json"))
    assert [(r["departement"], r["ent"], r["received_on"], r["sent_to_dsden_on"]) for r in listed] == [
        ("035", ONE, "2026-11-02", "2026-11-09")]
    assert "1 fiche(s) de traitement." in ok(capsys, "gdpr", "record", "list")

    added = ok(capsys, "people", "add", DPO_14, "--role", "dpo", "--scope", "14", "--name", "Hélène Caradec",
               "--by", ADMIN_EMAIL)
    assert "délégué(e) à la protection des données, périmètre 14" in added
    for target, reader in (("registre.xlsx", CPD), ("registre.csv", DPO_14)):
        ok(capsys, "gdpr", "register", "--departement", "35", "-o", tmp_path / target, "--by", reader)
    sheet = load_workbook(tmp_path / "registre.xlsx").active
    assert sheet is not None
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == list(REGISTER_COLUMNS) and rows[1][:5] == ["035", "Open Digital Education", ONE,
                                                                  record.name, "02/11/2026"]
    assert (tmp_path / "registre.csv").read_bytes().startswith("\ufeffDépartement;".encode())

    ok(capsys, "people", "remove", DIRECTOR, "--by", ADMIN_EMAIL)
    dry = json.loads(ok(capsys, "gdpr", "purge", "--dry-run", "--json", "--by", ADMIN_EMAIL))
    assert dry == []  # within the delay
    answer = tmp_path / "acces.json"
    ok(capsys, "gdpr", "access", DIRECTOR, "-o", answer, "--by", ADMIN_EMAIL)
    held = json.loads(answer.read_text(encoding="utf-8"))
    assert held["person"] == DIRECTOR and held["tables"]["departed_person"][0]["reason"] == "removed"
    assert oct(answer.stat().st_mode & 0o777) == "0o600"  # personal data: owner only

    # Bad input: French message saying what and how, exit code 1, nothing written.
    bad = [
        (("gdpr", "record", "add", "--departement", "035", "--ent", "Moodle", "--file", record, "--by", CPD),
         "ENT possibles"),
        (("gdpr", "record", "add", "--departement", "035", "--ent", ONE, "--file", tmp_path / "absent.pdf",
          "--by", CPD), "introuvable"),
        (("gdpr", "record", "add", "--departement", "035", "--ent", ONE, "--file", record, "--received",
          "31/02/2026", "--by", CPD), "n'existe pas"),
        (("gdpr", "register", "--departement", "035", "-o", tmp_path / "registre.ods", "--by", CPD), ".xlsx"),
        (("gdpr", "register", "--departement", "035", "-o", tmp_path / "r.csv", "--by", DIRECTOR_1), "inconnue"),
        (("gdpr", "access", DIRECTOR, "-o", tmp_path / "a.json", "--by", CPD), "demande d'accès"),
        (("gdpr", "purge", "--by", CPD), "administrateur"),
    ]
    for args, fragment in bad:
        code, _, err = run_cli(capsys, *args)
        assert code == 1 and fragment in err, (args, err)
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "a.json").exists()
