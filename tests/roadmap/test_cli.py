"""The `roadmap` command line, run through its real entry point (`roadmap.cli.main`).

Most tests run the entry point in-process (fast, and capsys sees exactly what a user sees); a few run the
installed `roadmap` script in a subprocess, end to end. User-facing text is French: the tests assert on key
fragments, never on whole sentences.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import roadmap.cli
from roadmap.account_table import COLUMNS, row_problems
from roadmap.cli import french_usage_message
from roadmap.db import SCHEMA_HEAD
from roadmap.files import read_upload
from roadmap.settings import Settings
from tests.conftest import ILLE_ET_VILAINE, VAL_DE_MARNE
from tests.factories import ADMIN_EMAIL, ANNUAIRE_HEADER, annuaire_row, make_roadmap, write_csv
from tests.roadmap import walk
from tests.roadmap.walk import CPD, DANE, DIRECTOR, IEN, OTHER_SCHOOL, SCHOOL, SCHOOL_CIRCO

SCRIPT = Path(sys.executable).parent / "roadmap"
OTHER_CIRCO = "0350738M"  # Saint Grégoire, the circonscription of OTHER_SCHOOL
OTHER_IEN = "ce.ien35.stgregoire@ac-rennes.fr"  # its mailbox, imported from the annuaire
OTHER_DIRECTOR = "yann.guillou@ac-rennes.fr"
STEP_IDS = ["definition", "funding", "school_council", "transmission", "setup", "gdpr_information",
            "teacher_training", "parent_training"]

CliResult = tuple[int, str, str]


# ------------------------------------------------------------------------------------------------ helpers


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> CliResult:
    """Run `roadmap ARGS...` through the real entry point, in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()  # forget whatever was printed before
    argv = ["roadmap", *(str(arg) for arg in args)]
    code: int
    with mock.patch.object(sys, "argv", argv):
        try:
            roadmap.cli.main()
            code = 0
        except SystemExit as exit_:
            if exit_.code is None:
                code = 0
            elif isinstance(exit_.code, int):
                code = exit_.code
            else:  # sys.exit("message") prints the message and exits with 1
                code = 1
        except Exception as error:  # the user would see a traceback: fail with the details
            captured = capsys.readouterr()
            pytest.fail(f"`{' '.join(argv)}` let {error!r} escape main() (the user gets a traceback).\n"
                        f"stdout: {captured.out}\nstderr: {captured.err}")
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err, captured.out + captured.err
    return code, captured.out, captured.err


def ok(capsys: pytest.CaptureFixture[str], *args: object) -> str:
    """Run a command that must succeed; return its stdout."""
    code, out, err = run_cli(capsys, *args)
    assert code == 0, f"roadmap {' '.join(map(str, args))} → exit {code}\nstdout: {out}\nstderr: {err}"
    assert not err.strip(), err
    return out


def run_json(capsys: pytest.CaptureFixture[str], *args: object) -> Any:
    return json.loads(ok(capsys, *args, "--json"))


def show(capsys: pytest.CaptureFixture[str], uai: str = SCHOOL) -> dict[str, Any]:
    detail: dict[str, Any] = run_json(capsys, "school", "show", uai)
    return detail


def run_script(*args: object, env: dict[str, str] | None = None) -> CliResult:
    """Run the installed `roadmap` script in a subprocess (environment: this test's)."""
    completed = subprocess.run([str(SCRIPT), *(str(arg) for arg in args)], capture_output=True, text=True,
                               env=dict(os.environ if env is None else env), timeout=120, check=False)
    assert "Traceback" not in completed.stdout + completed.stderr, completed.stdout + completed.stderr
    return completed.returncode, completed.stdout, completed.stderr


def reason_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  - ")]


def small_extract(target: Path) -> Path:
    """A slice of the REAL Ille-et-Vilaine file: both walk schools, a few others, every circonscription office."""
    with ILLE_ET_VILAINE.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header = rows[0]
    uai, nature = header.index("Identifiant_de_l_etablissement"), header.index("code_nature")
    wanted = {SCHOOL, OTHER_SCHOOL}
    kept = [row for row in rows[1:] if row[uai] in wanted or row[nature] == "809"]
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, delimiter=";", lineterminator="\n").writerows([header, *kept])
    return target


@pytest.fixture
def small_db(cli_env: Settings, tmp_path: Path) -> Settings:
    """The test's database with the small real extract imported and the walk's people registered."""
    service = make_roadmap(cli_env)
    report = service.import_annuaire(small_extract(tmp_path / "extrait-035.csv"), by=ADMIN_EMAIL)
    assert report.schools_created >= 2 and not report.rejected
    walk.add_people(service)
    service.add_person(OTHER_DIRECTOR, "director", OTHER_SCHOOL, "Yann Guillou", by=ADMIN_EMAIL)
    service.db.dispose()
    return cli_env


def to_awaiting_approval(settings: Settings, tmp_path: Path) -> None:
    """Bring SCHOOL to the IEN's approval of the council minutes, through the service layer."""
    service = make_roadmap(settings)
    walk.fill(service, SCHOOL, walk.DEFINITION_ITEMS, DIRECTOR)
    service.fire(SCHOOL, "advance", DIRECTOR)
    walk.fill(service, SCHOOL, walk.FUNDING_ITEMS, DIRECTOR)
    service.fire(SCHOOL, "advance", DIRECTOR)
    walk.fill(service, SCHOOL, walk.COUNCIL_ITEMS, DIRECTOR)
    service.check(SCHOOL, "minutes", None, DIRECTOR, upload=read_upload(walk.minutes_file(tmp_path)))
    service.fire(SCHOOL, "advance", DIRECTOR)
    service.db.dispose()


# ------------------------------------------------------------------------------------- the acceptance walk


def test_acceptance_walk_of_0350122T_on_the_real_ille_et_vilaine_file(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = ok(capsys, "import", "annuaire", ILLE_ET_VILAINE, "--by", ADMIN_EMAIL)
    assert "685 écoles" in out and "685 nouvelles" in out and "23 circonscriptions" in out
    assert show(capsys)["circonscription"]["uai"] == SCHOOL_CIRCO

    for email, role, scope, name in ((DIRECTOR, "director", SCHOOL, "Claire Martin"),
                                     (CPD, "cpd", "035", "Paul Le Gall"), (DANE, "dane", "14", "Anne Riou")):
        out = ok(capsys, "people", "add", email, "--role", role, "--scope", scope, "--name", name, "--by", ADMIN_EMAIL)
        assert email in out and "enregistré" in out

    def check(items: dict[str, str]) -> None:
        for item, value in items.items():
            out = ok(capsys, "school", "check", SCHOOL, item, value, "--by", DIRECTOR)
            assert SCHOOL in out and item in out

    def fire(event: str, by: str, expected: str, *extra: str) -> None:
        out = ok(capsys, "school", event, SCHOOL, "--by", by, *extra)
        assert SCHOOL in out
        detail = show(capsys)
        assert detail["state"] == expected, (event, detail["state"])

    check(walk.DEFINITION_ITEMS)
    assert show(capsys)["checklist"][0]["value"] == "2026-09-12"  # French date stored as ISO
    fire("advance", DIRECTOR, "funding")
    check(walk.FUNDING_ITEMS)
    fire("advance", DIRECTOR, "school_council")
    check(walk.COUNCIL_ITEMS)
    minutes = walk.minutes_file(tmp_path)
    ok(capsys, "school", "check", SCHOOL, "minutes", minutes, "--by", DIRECTOR)
    fire("advance", DIRECTOR, "school_council.awaiting_approval")
    assert show(capsys)["step"] == "school_council"
    fire("approve", IEN, "transmission")
    check(walk.TRANSMISSION_ITEMS)
    fire("advance", DIRECTOR, "transmission.submitted")
    # The first table of the département: composed and sent by the CPD to the DANE, who validates it.
    out = ok(capsys, "transmission", "compose", "--departement", "035", "--by", CPD)
    assert SCHOOL in out and "brouillon" in out and "DANE" in out
    batch = str(json.loads(ok(capsys, "transmission", "list", "--json"))[0]["id"])
    code, _, err = run_cli(capsys, "transmission", "approve", batch, "--by", DANE)
    assert code == 1 and "pas encore été envoyé" in err
    assert DANE in ok(capsys, "transmission", "send", batch, "--by", CPD)
    assert show(capsys)["state"] == "transmission.awaiting_dane"
    ok(capsys, "transmission", "approve", batch, "--by", DANE)
    assert show(capsys)["state"] == "transmission.at_dsi"
    code, _, err = run_cli(capsys, "school", "exported_to_publisher", SCHOOL, "--by", CPD)
    assert code == 1 and "convention entre le DASEN et l'éditeur" in err and "accord entre la DSI" in err
    for kind in ("convention", "dsi_agreement"):
        ok(capsys, "agreements", "add", "--departement", "035", "--ent", walk.DEFINITION_ITEMS["ent"], "--kind", kind,
           "--date", "2026-06-01", "--by", CPD)
    fire("exported_to_publisher", CPD, "setup.awaiting_accounts")
    fire("accounts_created", DIRECTOR, "setup")
    check(walk.SETUP_ITEMS)
    fire("advance", DIRECTOR, "gdpr_information")
    check(walk.GDPR_ITEMS)
    record = tmp_path / "fiche-traitement.pdf"
    record.write_bytes(b"%PDF-1.4 fiche de traitement\n")
    code, _, error = run_cli(capsys, "school", "advance", SCHOOL, "--by", DIRECTOR)
    assert code == 1 and "fiche de traitement" in error and "gdpr record add" in error, error
    ok(capsys, "gdpr", "record", "add", "--departement", "35", "--ent", walk.DEFINITION_ITEMS["ent"], "--file", record,
       "--by", ADMIN_EMAIL)
    fire("advance", DIRECTOR, "teacher_training")
    check(walk.TRAINING_ITEMS)
    fire("advance", DIRECTOR, "parent_training")
    fire("skip", DIRECTOR, "deployed", "--note", "Réunion des parents reportée à la rentrée prochaine")

    detail = show(capsys)
    assert detail["step"] == "deployed" and detail["state"] == "deployed"
    assert detail["allowed_events"] == []
    moves = [(h["event"], h["actor"], h["target"]) for h in detail["history"] if h["event"] != "check"]
    assert moves == [
        ("start", ADMIN_EMAIL, "definition"),  # whoever imported the annuaire opened the roadmap
        ("advance", DIRECTOR, "funding"),
        ("advance", DIRECTOR, "school_council"),
        ("advance", DIRECTOR, "school_council.awaiting_approval"),
        ("approve", IEN, "transmission"),
        ("advance", DIRECTOR, "transmission.submitted"),
        ("send_table", CPD, "transmission.awaiting_dane"),
        ("validate_table", DANE, "transmission.at_dsi"),
        ("exported_to_publisher", CPD, "setup.awaiting_accounts"),
        ("accounts_created", DIRECTOR, "setup"),
        ("advance", DIRECTOR, "gdpr_information"),
        ("advance", DIRECTOR, "teacher_training"),
        ("advance", DIRECTOR, "parent_training"),
        ("skip", DIRECTOR, "deployed"),
    ]
    assert detail["history"][-1]["note"] == "Réunion des parents reportée à la rentrée prochaine"
    checks = [h for h in detail["history"] if h["event"] == "check"]
    expected_checks = sum(len(items) for items in (walk.DEFINITION_ITEMS, walk.FUNDING_ITEMS, walk.COUNCIL_ITEMS,
                                                   walk.TRANSMISSION_ITEMS, walk.SETUP_ITEMS, walk.GDPR_ITEMS,
                                                   walk.TRAINING_ITEMS)) + 1
    assert len(checks) == expected_checks
    assert {h["actor"] for h in checks} == {DIRECTOR}

    # The two documents were copied into the file store, under ROADMAP_HOME/files: the minutes attached by the
    # school, the publisher's processing record held once for the département.
    stored = {h["data"]["item"]: h["data"]["value"] for h in checks if h["data"]["item"] == "minutes"}
    records = json.loads(ok(capsys, "gdpr", "record", "list", "--json"))
    assert [(r["departement"], r["ent"], r["file_name"]) for r in records] == [
        ("035", walk.DEFINITION_ITEMS["ent"], record.name)]
    stored["processing_record"] = {"name": records[0]["file_name"], "sha256": records[0]["file_sha256"],
                                   "size": record.stat().st_size}
    files_dir = cli_env.home / "files"
    for source, value in ((minutes, stored["minutes"]), (record, stored["processing_record"])):
        content = source.read_bytes()
        assert value["name"] == source.name and value["size"] == len(content)
        assert value["sha256"] == hashlib.sha256(content).hexdigest()
        copies = [p for p in files_dir.rglob("*") if p.is_file() and p.read_bytes() == content]
        assert copies, f"{source.name} not found under {files_dir}"


# ------------------------------------------------------------------------------------------ school show


def test_show_json_has_every_documented_field(small_db: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    detail = show(capsys)
    assert {"uai", "name", "step", "state", "checklist", "circonscription", "departement", "academie", "history",
            "allowed_events"} <= set(detail)
    assert detail["uai"] == SCHOOL and "Lucioles" in detail["name"]
    assert detail["step"] == "definition" and detail["state"] == "definition"
    assert len(detail["checklist"]) == 9
    for entry in detail["checklist"]:
        assert {"id", "label", "type", "required", "choices", "value", "done"} <= set(entry)
        assert entry["value"] is None and entry["done"] is False
    ent = next(entry for entry in detail["checklist"] if entry["id"] == "ent")
    assert ent["type"] == "choice" and "One 1D (Open Digital Education)" in ent["choices"]
    assert {e["id"]: e["required"] for e in detail["checklist"]}["extra_clauses"] is False
    assert detail["circonscription"]["uai"] == SCHOOL_CIRCO and "Bruz" in detail["circonscription"]["name"]
    assert detail["departement"]["code"] == "035"
    assert detail["academie"]["code"] == "14" and detail["academie"]["holiday_zone"] == "B"
    [start] = detail["history"]
    assert {"at", "actor", "event", "source", "target", "note"} <= set(start)
    assert start["event"] == "start" and start["source"] is None and start["target"] == "definition"
    assert start["at"].endswith("Z")
    assert "advance" not in detail["allowed_events"]  # the checklist is empty
    assert "suspend" in detail["allowed_events"]

    for item, value in walk.DEFINITION_ITEMS.items():
        ok(capsys, "school", "check", SCHOOL, item, value, "--by", DIRECTOR)
    detail = show(capsys)
    assert "advance" in detail["allowed_events"]
    assert {e["id"]: e["done"] for e in detail["checklist"]} == {
        **{item: True for item in walk.DEFINITION_ITEMS}, "extra_clauses": False}
    assert detail["version"] == 1 + len(walk.DEFINITION_ITEMS)


def test_show_text_names_the_school_its_step_and_what_is_missing(
    small_db: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ok(capsys, "school", "show", SCHOOL)
    assert "Lucioles" in out and SCHOOL in out and "Baulon" in out
    assert "Bruz" in out and "Rennes" in out
    assert "étape 1/8" in out and "Définition du projet" in out
    assert "Actions possibles maintenant" in out
    assert "il manque" in out and len(reason_lines(out)) >= 8


# ------------------------------------------------------------------------------------------- refusals


def test_refused_advance_prints_every_reason_and_writes_nothing(
    small_db: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    before = show(capsys)
    code, out, err = run_cli(capsys, "school", "advance", SCHOOL, "--by", DIRECTOR)
    assert code == 1 and out == ""
    assert err.startswith("Erreur") and "refusée" in err and SCHOOL in err
    reasons = reason_lines(err)
    assert len(reasons) >= 8, err
    for item in ("Date du conseil des maîtres", "Fonctionnalités attendues", "Réversibilité",
                 "Outils d'administration"):
        assert any(item in line for line in reasons), item
    assert any("aucun ENT" in line for line in reasons)
    after = show(capsys)
    assert after["version"] == before["version"] and after["state"] == "definition"
    assert after["history"] == before["history"]

    refusals = run_json(capsys, "school", "refusals", SCHOOL)
    assert len(refusals) == 1
    [refusal] = refusals
    assert refusal["actor"] == DIRECTOR and refusal["role"] == "director"
    assert refusal["event"] == "advance" and refusal["state"] == "definition"
    assert len(refusal["reasons"]) == len(reasons)
    assert refusal["at"].endswith("Z")
    assert "1 tentative(s) refusée(s)" in ok(capsys, "school", "refusals", SCHOOL)


def test_wrong_people_are_refused_and_their_attempts_recorded(
    small_db: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The director of another school may not fill this school's checklist.
    code, _, err = run_cli(capsys, "school", "check", SCHOOL, "features", "blog", "--by", OTHER_DIRECTOR)
    assert code == 1 and "habilité" in err and SCHOOL in err
    # An address nobody registered is refused, with the command to register it.
    code, _, err = run_cli(capsys, "school", "advance", SCHOOL, "--by", "inconnu@ac-rennes.fr")
    assert code == 1 and "introuvable" in err and "inconnu@ac-rennes.fr" in err and "people add" in err
    # The IEN may not do the director's work.
    code, _, err = run_cli(capsys, "school", "check", SCHOOL, "features", "blog", "--by", IEN)
    assert code == 1 and "rôle" in err
    assert show(capsys)["version"] == 1

    to_awaiting_approval(small_db, tmp_path)
    version = show(capsys)["version"]
    # The IEN of another circonscription may not approve the minutes.
    code, _, err = run_cli(capsys, "school", "approve", SCHOOL, "--by", OTHER_IEN)
    assert code == 1 and OTHER_CIRCO in err and SCHOOL_CIRCO in err and "habilité" in err
    # Neither may the director approve their own minutes.
    code, _, err = run_cli(capsys, "school", "approve", SCHOOL, "--by", DIRECTOR)
    assert code == 1 and "rôle" in err
    detail = show(capsys)
    assert detail["state"] == "school_council.awaiting_approval" and detail["version"] == version

    refusals = run_json(capsys, "school", "refusals", SCHOOL)
    assert [(r["actor"], r["event"]) for r in refusals] == [
        (OTHER_DIRECTOR, "check"), ("inconnu@ac-rennes.fr", "advance"), (IEN, "check"),
        (OTHER_IEN, "approve"), (DIRECTOR, "approve")]
    assert refusals[1]["role"] == "inconnu"
    assert all(r["reasons"] for r in refusals)

    # The school's own IEN approves; a stale --expect-version is refused first.
    code, _, err = run_cli(capsys, "school", "approve", SCHOOL, "--by", IEN, "--expect-version", version - 1)
    assert code == 1 and "Conflit" in err
    out = ok(capsys, "school", "approve", SCHOOL, "--by", IEN, "--expect-version", version)
    assert "Approuver" in out and f"version {version + 1}" in out
    assert show(capsys)["state"] == "transmission"


def test_request_changes_needs_a_note_and_sends_back(
    small_db: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    to_awaiting_approval(small_db, tmp_path)
    code, _, err = run_cli(capsys, "school", "request_changes", SCHOOL, "--by", IEN)
    assert code == 1 and "note" in err
    ok(capsys, "school", "request-changes", SCHOOL, "--by", IEN, "--note", "Le compte rendu ne mentionne pas ONDE")
    detail = show(capsys)
    assert detail["state"] == "school_council"
    assert detail["history"][-1]["note"] == "Le compte rendu ne mentionne pas ONDE"


# ---------------------------------------------------------------------------------------------- people


def test_people_add_and_list(small_db: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "people", "add", "Marie.Durand@AC-Rennes.fr", "--role", "cpd", "--scope", "35",
             "--name", "  Marie Durand ", "--by", ADMIN_EMAIL)
    assert "marie.durand@ac-rennes.fr" in out and "CPD" in out and "035" in out
    people = run_json(capsys, "people", "list")
    for person in people:
        assert {"email", "name", "role", "scope"} <= set(person)
    by_email = {p["email"]: p for p in people}
    marie = by_email["marie.durand@ac-rennes.fr"]
    assert (marie["name"], marie["role"], marie["scope"]) == ("Marie Durand", "cpd", "035")
    assert by_email[DIRECTOR]["role"] == "director" and by_email[DIRECTOR]["scope"] == SCHOOL
    assert by_email[DANE]["scope"] == "14"
    assert by_email[IEN]["role"] == "ien" and by_email[IEN]["scope"] == SCHOOL_CIRCO  # imported mailbox
    cpds = run_json(capsys, "people", "list", "--role", "cpd")
    assert {p["email"] for p in cpds} == {CPD, "marie.durand@ac-rennes.fr"}
    out = ok(capsys, "people", "list")
    assert f"{len(people)} personne(s)" in out

    ok(capsys, "people", "add", "jeanne.leroy@ac-rennes.fr", "--role", "director", "--scope", "0350122t",
       "--name", "Jeanne Leroy", "--by", ADMIN_EMAIL)
    assert {p["email"]: p["scope"] for p in run_json(capsys, "people", "list")}["jeanne.leroy@ac-rennes.fr"] == SCHOOL
    ok(capsys, "people", "add", "admin@ac-rennes.fr", "--role", "admin", "--scope", "*", "--name", "Admin", "--by",
       ADMIN_EMAIL)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["x.y@ac-rennes.fr", "--role", "inspecteur", "--scope", "035", "--name", "X Y"],
         ["--role", "inspecteur", "rôles possibles", "director", "ien", "cpd", "dane", "admin"]),
        (["x.y@ac-rennes.fr", "--role", "cpd", "--scope", "099", "--name", "X Y"], ["--scope", "099", "département"]),
        (["x.y@ac-rennes.fr", "--role", "director", "--scope", "0350122A", "--name", "X Y"],
         ["--scope", "0350122A", "0350122T"]),
        (["x.y@ac-rennes.fr", "--role", "ien", "--scope", "0000000A", "--name", "X Y"], ["--scope", "circonscription"]),
        (["x.y@ac-rennes.fr", "--role", "dane", "--scope", "99", "--name", "X Y"], ["--scope", "académie"]),
        (["x.y@ac-rennes.fr", "--role", "admin", "--scope", "035", "--name", "X Y"], ["--scope", "*"]),
        (["pas-une-adresse", "--role", "cpd", "--scope", "035", "--name", "X Y"], ["pas-une-adresse", "adresse"]),
        (["x.y@ac-rennes.fr", "--role", "cpd", "--scope", "035", "--name", " "], ["--name", "vide"]),
        ([DIRECTOR.upper(), "--role", "cpd", "--scope", "035", "--name", "X Y"], [DIRECTOR, "déjà enregistrée"]),
    ],
    ids=["role", "departement", "uai-key", "circonscription", "academie", "admin", "email", "name", "duplicate"],
)
def test_people_add_refuses_bad_input_with_a_hint(
    small_db: Settings, capsys: pytest.CaptureFixture[str], args: list[str], fragments: list[str]
) -> None:
    before = run_json(capsys, "people", "list")
    code, out, err = run_cli(capsys, "people", "add", *args, "--by", ADMIN_EMAIL)
    assert code == 1 and out == ""
    assert err.startswith("Erreur") and "Valeur refusée" in err and "→" in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert run_json(capsys, "people", "list") == before


def test_people_name_is_printed_verbatim(small_db: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Names are data, not console markup: square brackets are shown as typed."""
    out = ok(capsys, "people", "add", "jean.dupont@ac-rennes.fr", "--role", "cpd", "--scope", "035",
             "--name", "Jean [/b] Dupont", "--by", ADMIN_EMAIL)
    assert "Jean [/b] Dupont" in out
    assert {p["email"]: p["name"] for p in run_json(capsys, "people", "list")}["jean.dupont@ac-rennes.fr"] == \
        "Jean [/b] Dupont"


# ------------------------------------------------------------------------------------------- school list


def test_school_list_filters_on_the_real_file(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ok(capsys, "import", "annuaire", ILLE_ET_VILAINE, "--by", ADMIN_EMAIL)
    service = make_roadmap(cli_env)
    walk.add_people(service)
    service.db.dispose()

    rows = run_json(capsys, "school", "list", "--step", "definition")
    assert len(rows) == 685
    assert {row["step"] for row in rows} == {"definition"}
    assert {"uai", "name", "commune", "step", "state", "circonscription"} <= set(rows[0])
    assert [row["uai"] for row in rows] == sorted(row["uai"] for row in rows)

    bruz = run_json(capsys, "school", "list", "--circonscription", SCHOOL_CIRCO)
    assert 0 < len(bruz) < 685
    assert {row["circonscription"] for row in bruz} == {SCHOOL_CIRCO}
    assert SCHOOL in {row["uai"] for row in bruz} and OTHER_SCHOOL not in {row["uai"] for row in bruz}
    assert run_json(capsys, "school", "list", "--circonscription", SCHOOL_CIRCO.lower()) == bruz
    assert len(run_json(capsys, "school", "list", "--departement", "35")) == 685
    assert run_json(capsys, "school", "list", "--departement", "094") == []

    assert run_json(capsys, "school", "list", "--step", "school_council") == []
    to_awaiting_approval(cli_env, tmp_path)
    council = run_json(capsys, "school", "list", "--step", "school_council")
    assert [(row["uai"], row["state"]) for row in council] == [(SCHOOL, "school_council.awaiting_approval")]
    assert len(run_json(capsys, "school", "list", "--step", "definition")) == 684
    both = run_json(capsys, "school", "list", "--step", "school_council", "--circonscription", OTHER_CIRCO)
    assert both == []

    out = ok(capsys, "school", "list", "--step", "school_council")
    assert "1 école(s)" in out


def test_school_list_refuses_an_unknown_step_and_lists_the_steps(
    small_db: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "school", "list", "--step", "conseil", "--json")
    assert code == 1 and out == ""
    assert "conseil" in err and "étape inconnue" in err
    for step in STEP_IDS:
        assert step in err


# ------------------------------------------------------------------------------------------- bad input


BAD_INPUT = [
    pytest.param(["school", "show", "0000000A"], 1, ["École introuvable", "0000000A", "→"], id="unknown-uai"),
    pytest.param(["school", "show", "0350122A"], 1, ["UAI", "0350122A", "lettre clé", "0350122T"],
                 id="uai-key-letter"),
    pytest.param(["school", "show", "12345"], 1, ["UAI", "7 chiffres"], id="uai-too-short"),
    pytest.param(["school", "check", SCHOOL, "colour", "bleu", "--by", DIRECTOR], 1,
                 ["colour", "teachers_council_date"], id="unknown-item"),
    pytest.param(["school", "check", SCHOOL, "minutes", "{tmp}/cr.pdf", "--by", DIRECTOR], 1,
                 ["minutes", "features"], id="item-of-another-step"),
    pytest.param(["school", "check", SCHOOL, "teachers_council_date", "31/02/2026", "--by", DIRECTOR], 1,
                 ["31/02/2026", "n'existe pas"], id="impossible-date"),
    pytest.param(["school", "check", SCHOOL, "teachers_council_date", "demain", "--by", DIRECTOR], 1,
                 ["demain", "JJ/MM/AAAA"], id="date-as-word"),
    pytest.param(["school", "check", SCHOOL, "teachers_council_date", "--by", DIRECTOR], 1,
                 ["teachers_council_date", "valeur"], id="date-without-value"),
    pytest.param(["school", "check", SCHOOL, "ent", "Moodle", "--by", DIRECTOR], 1, ["Moodle", "Beneylu School"],
                 id="choice-not-offered"),
    pytest.param(["school", "check", SCHOOL, "sdet_framework", "peut-être", "--by", DIRECTOR], 1,
                 ["peut-être", "oui ou non"], id="bool-not-understood"),
    pytest.param(["school", "check", SCHOOL, "features", "blog"], 1, ["--by"], id="check-without-by"),
    pytest.param(["school", "advance", SCHOOL], 1, ["--by"], id="advance-without-by"),
    pytest.param(["school", "suspend", SCHOOL, "--by", DIRECTOR], 1, ["note"], id="suspend-without-note"),
    pytest.param(["school", "abandon", SCHOOL, "--by", DIRECTOR, "--note", "fermeture"], 1, ["rôle"],
                 id="abandon-by-director"),
    pytest.param(["school", "resume", SCHOOL, "--by", DIRECTOR], 1, ["Reprendre", "n'existe pas"],
                 id="resume-when-not-suspended"),
    pytest.param(["school", "advance", SCHOOL, "--by", DIRECTOR, "--expect-version", "7"], 1, ["Conflit", "7"],
                 id="stale-version"),
    pytest.param(["school", "refusals", "0350122A"], 1, ["0350122A", "lettre clé"], id="refusals-bad-uai"),
    pytest.param(["school", "frobnicate", SCHOOL, "--by", DIRECTOR], 2, ["frobnicate"], id="unknown-event"),
    pytest.param(["school", "advance", SCHOOL, "--by", DIRECTOR, "--expect-version", "deux"], 2,
                 ["--expect-version"], id="version-not-a-number"),
    pytest.param(["school", "show"], 2, ["UAI"], id="show-without-uai"),
    pytest.param(["import", "annuaire", "{tmp}/absent.csv", "--by", ADMIN_EMAIL], 1, ["absent.csv", "introuvable"],
                 id="import-missing-file"),
    pytest.param(["import", "annuaire", "{tmp}/dossier.csv", "--by", ADMIN_EMAIL], 1,
                 ["dossier.csv", "dossier, pas un fichier"], id="import-directory"),
    pytest.param(["import", "annuaire", "{tmp}/notes.pdf", "--by", ADMIN_EMAIL], 1, ["notes.pdf", "extension", "CSV"],
                 id="import-pdf"),
    pytest.param(["definition", "show", "--id", "bretagne"], 1, ["bretagne", "national", "grenoble", "aix_marseille"],
                 id="unknown-definition"),
    pytest.param(["definition", "show", "--format", "pdf"], 1, ["pdf", "mermaid"], id="unknown-format"),
    pytest.param(["definition", "check", "{tmp}/absent.toml"], 1, ["absent.toml", "illisible"],
                 id="check-missing-definition-file"),
    pytest.param(["school", "show", "[/x]"], 1, ["[/x]", "UAI"], id="uai-with-console-markup"),
]


@pytest.mark.parametrize(("args", "expected_code", "fragments"), BAD_INPUT)
def test_bad_input_is_refused_without_a_traceback(
    small_db: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    args: list[str], expected_code: int, fragments: list[str],
) -> None:
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4\n")
    (tmp_path / "dossier.csv").mkdir()
    (tmp_path / "cr.pdf").write_bytes(b"%PDF-1.4\n")
    code, out, err = run_cli(capsys, *(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert code == expected_code, (code, out, err)
    if expected_code == 1:
        assert err.startswith("Erreur"), err
        assert "inattendue" not in err, err
    for fragment in fragments:  # usage errors (exit 2) come from Typer, in its own words and case
        assert fragment.lower() in err.lower() if expected_code == 2 else fragment in err, (fragment, err)
    detail = show(capsys)  # nothing was written
    assert detail["version"] == 1 and len(detail["history"]) == 1 and detail["state"] == "definition"


def test_checklist_text_is_stored_and_echoed_verbatim(small_db: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """A value is data, not console markup: square brackets are kept and shown as typed."""
    out = ok(capsys, "school", "check", SCHOOL, "features", "blog [/b] messagerie", "--by", DIRECTOR)
    assert "blog [/b] messagerie" in out and "version 2" in out
    values = {e["id"]: e["value"] for e in show(capsys)["checklist"]}
    assert values["features"] == "blog [/b] messagerie"


def test_check_clear_and_expect_version(small_db: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "school", "check", SCHOOL, "sdet_framework", "--by", DIRECTOR)  # no value: ticked
    assert "true" in out
    ok(capsys, "school", "check", SCHOOL, "ent", "one 1d (open digital education)", "--by", DIRECTOR,
       "--expect-version", "2")
    values = {e["id"]: e["value"] for e in show(capsys)["checklist"]}
    assert values["sdet_framework"] is True and values["ent"] == "One 1D (Open Digital Education)"
    out = ok(capsys, "school", "check", SCHOOL, "sdet_framework", "--clear", "--by", DIRECTOR)
    assert "effacé" in out
    detail = show(capsys)
    assert {e["id"]: e["value"] for e in detail["checklist"]}["sdet_framework"] is None
    assert detail["version"] == 4


def test_commands_before_init_tell_to_run_roadmap_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROADMAP_HOME", str(tmp_path / "fresh-home"))
    monkeypatch.delenv("ROADMAP_DATABASE_URL", raising=False)
    for args in (["school", "list"], ["people", "list"], ["school", "show", SCHOOL],
                 ["import", "annuaire", ILLE_ET_VILAINE, "--by", ADMIN_EMAIL],
                 ["people", "add", DIRECTOR, "--role", "admin", "--scope", "*", "--name", "Claire Martin", "--by",
                  ADMIN_EMAIL]):
        code, out, err = run_cli(capsys, *args)
        assert code == 1, (args, out, err)
        assert "roadmap init" in err and "vide" in err, (args, err)
        assert "inattendue" not in err

    out = ok(capsys, "init")
    assert "créée" in out and SCHEMA_HEAD in out
    out = ok(capsys, "init")
    assert "à jour" in out and SCHEMA_HEAD in out
    assert run_json(capsys, "school", "list") == []


def test_init_is_idempotent_on_a_migrated_database(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "people", "add", CPD, "--role", "admin", "--scope", "*", "--name", "Paul Le Gall", "--by", ADMIN_EMAIL)
    for _ in range(2):
        out = ok(capsys, "init")
        assert "à jour" in out and SCHEMA_HEAD in out
    assert [p["email"] for p in run_json(capsys, "people", "list")] == [ADMIN_EMAIL, CPD]  # data kept


# ------------------------------------------------------------------------------------------- definitions


def test_definition_show_text_mermaid_json(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "definition", "show")
    for number, label in enumerate(["Définition du projet", "Financement", "Conseil d'école", "Transmission",
                                    "Paramétrage", "Information RGPD", "Formation des enseignants",
                                    "Formation des parents"], start=1):
        assert f"{number}. {label}" in out, label
    for step in STEP_IDS:
        assert step in out
    assert "facultative" in out and "directory_connection_request" not in out

    mermaid = ok(capsys, "definition", "show", "--format", "mermaid")
    assert mermaid.startswith("stateDiagram-v2")
    assert "[*] --> definition" in mermaid and "deployed --> [*]" in mermaid

    document = json.loads(ok(capsys, "definition", "show", "--format", "json"))
    assert document["id"] == "national"
    assert [step["id"] for step in document["steps"]] == STEP_IDS
    assert {t["event"] for t in document["transitions"]} >= {"advance", "approve", "skip", "suspend"}
    assert document["version"] == 3
    assert document["guards"]["account_row_valid"] == {"council_item": "school_council.council_date",
                                                       "ent_item": "definition.ent"}

    grenoble = ok(capsys, "definition", "show", "--id", "grenoble")
    assert "directory_connection_request" in grenoble and "national" in grenoble
    grenoble_json = json.loads(ok(capsys, "definition", "show", "--id", "grenoble", "--format", "json"))
    council = next(step for step in grenoble_json["steps"] if step["id"] == "school_council")
    assert "directory_connection_request" in [item["id"] for item in council["checklist"]]
    assert grenoble_json["applies_to"] == {"academies": ["08"]} and grenoble_json["extends"] == "national"
    assert "municipality_agreement" in ok(capsys, "definition", "show", "--id", "aix_marseille")


VALID_VARIANT = """\
id = "bretagne_test"
extends = "national"
label = "Feuille de route — essai"

[applies_to]
academies = ["14"]

[[checklist]]
step = "funding"
id = "region_informed"
type = "bool"
label = "Région informée du projet"
"""


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (VALID_VARIANT.replace('step = "funding"', 'step = "financement"'), 9, "financement"),
        (VALID_VARIANT.replace('type = "bool"', 'type = "booleen"'), 10, "booleen"),  # the item's line
        (VALID_VARIANT.replace('label = "Région', 'label = Région'), 12, "TOML"),
        (VALID_VARIANT.replace('extends = "national"', 'extends = "bretagne"'), 2, "bretagne"),
    ],
    ids=["unknown-step", "unknown-type", "toml-syntax", "unknown-parent"],
)
def test_definition_check(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    good = tmp_path / "variante.toml"
    good.write_text(VALID_VARIANT, encoding="utf-8")
    out = ok(capsys, "definition", "check", good)
    assert "variante.toml" in out and "bretagne_test" in out and "valide" in out and "8 étapes" in out

    broken = tmp_path / "variante-cassee.toml"
    broken.write_text(text, encoding="utf-8")
    code, out, err = run_cli(capsys, "definition", "check", broken)
    assert code == 1 and out == ""
    assert "variante-cassee.toml" in err and f"ligne {line}" in err and fragment in err, err

    # The national definition shipped with the product checks too.
    out = ok(capsys, "definition", "check", cli_env.definitions_dir / "national.toml")
    assert "national" in out and "valide" in out


def test_definition_check_refuses_a_variant_for_an_academie_already_covered(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Installed next to grenoble.toml, this file would stop every command (académie 08 claimed twice):
    the check meant to be run before installing must say so."""
    draft = tmp_path / "grenoble-bis.toml"
    draft.write_text(VALID_VARIANT.replace('"bretagne_test"', '"grenoble_bis"').replace('["14"]', '["08"]'),
                     encoding="utf-8")
    code, out, err = run_cli(capsys, "definition", "check", draft)
    assert code == 1 and out == ""
    assert "grenoble-bis.toml" in err and "08" in err and "grenoble" in err.replace("grenoble-bis", ""), err


def test_suspend_and_resume(small_db: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "school", "check", SCHOOL, "features", "blog", "--by", DIRECTOR)
    out = ok(capsys, "school", "suspend", SCHOOL, "--by", DIRECTOR, "--note", "Changement de direction")
    assert "Suspendu" in out
    detail = show(capsys)
    assert (detail["state"], detail["held_from"], detail["step"]) == ("suspended", "definition", "suspended")
    assert "resume" in detail["allowed_events"] and "advance" not in detail["allowed_events"]
    assert {e["id"]: e["value"] for e in detail["checklist"]}["features"] == "blog"  # the held step's checklist
    code, _, err = run_cli(capsys, "school", "check", SCHOOL, "ent", "Beneylu School", "--by", DIRECTOR)
    assert code == 1 and "étape en cours" in err
    assert [row["uai"] for row in run_json(capsys, "school", "list", "--step", "suspended")] == [SCHOOL]
    ok(capsys, "school", "resume", SCHOOL, "--by", CPD)
    detail = show(capsys)
    assert (detail["state"], detail["held_from"], detail["version"]) == ("definition", None, 4)
    assert {e["id"]: e["value"] for e in detail["checklist"]}["features"] == "blog"


# ----------------------------------------------------------------------------------------- Val-de-Marne


def test_import_of_the_real_val_de_marne_file(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_json(capsys, "import", "annuaire", VAL_DE_MARNE, "--by", ADMIN_EMAIL)
    assert report["schools_created"] == 613 and report["rejected"] == [] and report["ignored"] == 0
    assert report["without_circonscription"] == []
    assert report["circonscriptions"] == 24

    with VAL_DE_MARNE.open(encoding="utf-8-sig", newline="") as handle:
        expected = {row["Identifiant_de_l_etablissement"]: row["code_circonscription"]
                    for row in csv.DictReader(handle, delimiter=";")}
    rows = run_json(capsys, "school", "list", "--departement", "094")
    assert len(rows) == 613
    assert {row["uai"]: row["circonscription"] for row in rows} == expected

    detail = show(capsys, "0940176F")
    assert detail["circonscription"]["uai"] == "0940927X" and "Fresnes" in detail["circonscription"]["name"]
    assert detail["academie"]["name"] == "Créteil" and detail["academie"]["holiday_zone"] == "C"
    assert detail["definition"] == "national" and detail["step"] == "definition"

    out = ok(capsys, "import", "annuaire", VAL_DE_MARNE, "--by", ADMIN_EMAIL)
    assert "613 écoles" in out and "0 nouvelles" in out and "613 inchangées" in out


# --------------------------------------------------------------------------------- the installed script


def test_script_end_to_end(small_db: Settings) -> None:
    code, out, _ = run_script("init")
    assert code == 0 and "à jour" in out
    code, out, _ = run_script("school", "check", SCHOOL, "features", "blog, messagerie", "--by", DIRECTOR)
    assert code == 0 and "version 2" in out
    code, out, _ = run_script("school", "show", SCHOOL, "--json")
    detail = json.loads(out)
    assert code == 0 and detail["step"] == "definition" and detail["version"] == 2
    assert {e["id"]: e["value"] for e in detail["checklist"]}["features"] == "blog, messagerie"
    code, _, err = run_script("school", "advance", SCHOOL, "--by", DIRECTOR)
    assert code == 1 and len(reason_lines(err)) >= 8
    code, _, err = run_script("school", "frobnicate", SCHOOL)
    assert code == 2
    code, _, err = run_script("school", "show", "[/x]")
    assert code == 1 and "[/x]" in err


def test_script_before_init_then_init_twice(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "ROADMAP_DATABASE_URL"}
    env["ROADMAP_HOME"] = str(tmp_path / "fresh-home")
    code, _, err = run_script("school", "list", env=env)
    assert code == 1 and "roadmap init" in err
    code, out, _ = run_script("init", env=env)
    assert code == 0 and "créée" in out
    code, out, _ = run_script("init", env=env)
    assert code == 0 and "à jour" in out
    code, out, _ = run_script("school", "list", "--json", env=env)
    assert code == 0 and json.loads(out) == []


@pytest.mark.parametrize(
    ("english", "french"),
    [
        ("No such command 'nope'.", "commande inconnue : « nope »."),
        ("Missing argument 'uai'.", "argument manquant : uai."),
        ("Missing option '--by'.", "option obligatoire manquante : --by."),
        ("No such option: --nope", "option inconnue : --nope."),
        ("Option '--step' requires an argument.", "l'option --step attend une valeur."),
        ("Got unexpected extra argument(s) (a b)", "argument(s) en trop : a b."),
        ("Got unexpected extra argument (a)", "argument(s) en trop : a."),
        ("Something new", "Something new"),
    ],
)
def test_parser_messages_are_said_in_french(english: str, french: str) -> None:
    assert french_usage_message(english) == french


def test_usage_error_is_french_with_a_help_hint(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "school", "nope")
    assert code == 2
    assert "commande inconnue : « nope »" in err
    assert "roadmap school --help" in err
    assert "Traceback" not in out + err


def test_people_remove_stops_a_person_acting_and_keeps_the_history(
    small_db: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "school", "check", SCHOOL, "features", "blog", "--by", DIRECTOR)  # small_db registered DIRECTOR
    assert "retiré(e)" in ok(capsys, "people", "remove", DIRECTOR.upper(), "--by", ADMIN_EMAIL)
    assert DIRECTOR not in ok(capsys, "people", "list", "--json")
    code, _, err = run_cli(capsys, "school", "check", SCHOOL, "admin_tools", "--by", DIRECTOR)
    assert code == 1 and "introuvable" in err
    history = json.loads(ok(capsys, "school", "show", SCHOOL, "--json"))["history"]
    assert [h["actor"] for h in history if h["event"] == "check"] == [DIRECTOR]
    code, _, err = run_cli(capsys, "people", "remove", "personne@ac-rennes.fr", "--by", ADMIN_EMAIL)
    assert code == 1 and "people list" in err


# ------------------------------------------------------------------------------- help chrome and terminal safety


@pytest.mark.parametrize("command", [[], ["school"], ["school", "list"], ["people", "add"], ["definition"]])
def test_help_is_in_french(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    assert "Utilisation" in out and "Afficher ce message et quitter" in out, out
    for english in ("Usage", "Show this message", "Commands", "[default", "[required]"):
        assert english not in out, f"{english!r} left in the help of {command}:\n{out}"


def test_help_names_commands_and_defaults_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    assert "Commandes" in ok(capsys, "--help")
    assert "Arguments" in ok(capsys, "school", "show", "--help")


def test_control_characters_and_markup_in_a_school_name_reach_the_terminal_escaped(
        cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = "École \x1b[31mRouge[bold] gras\r écrasée\u202e"
    extract = write_csv(tmp_path / "annuaire.csv", ANNUAIRE_HEADER, [annuaire_row(SCHOOL, f'"{hostile}"')])
    service = make_roadmap(cli_env)
    assert not service.import_annuaire(extract, by=ADMIN_EMAIL).rejected
    service.db.dispose()
    for command in (["school", "list"], ["school", "show", SCHOOL]):
        out = ok(capsys, *command)
        assert "\x1b" not in out and "\r" not in out and "\u202e" not in out, repr(out)
        assert "\\x1b[31m" in out and "\\u202e" in out, out
    assert "\\x1b[31mRouge[bold] gras" in ok(capsys, "school", "show", SCHOOL)


def test_stored_refusal_reasons_name_no_cli_command(small_db: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """The domain says what is wrong; only the CLI names its commands and flags, when it prints."""
    assert run_cli(capsys, "school", "advance", SCHOOL, "--by", DIRECTOR)[0] == 1
    assert run_cli(capsys, "school", "advance", SCHOOL, "--by", "inconnu@ac-rennes.fr")[0] == 1
    empty_row = dict.fromkeys(COLUMNS, "") | {"RNE": SCHOOL}
    reasons = [r for refusal in run_json(capsys, "school", "refusals", SCHOOL) for r in refusal["reasons"]]
    for reason in reasons + row_problems(empty_row, None, date(2026, 12, 3)):
        assert "roadmap " not in reason and "--" not in reason, reason
