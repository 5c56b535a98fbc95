"""Reversibility: export everything, restore it into a new database, get the same thing back."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sqlmodel import SQLModel

import roadmap.models  # noqa: F401  (its tables)
from roadmap.settings import Settings
from tests.factories import ADMIN_EMAIL
from tests.roadmap.test_cli import ok, run_cli


def test_export_then_restore_into_a_new_database_gives_everything_back(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(capsys, "demo")  # real schools, people, checks with an attached file, moves
    ok(capsys, "school", "suspend", "0350266Z", "--by", "cpd.numerique35@ac-rennes.fr", "--note", "budget")
    ok(capsys, "forms", "record", "0350122T", "--acknowledgements", "12", "--codes", "20",
       "--by", "claire.martin@ac-rennes.fr")
    forms_before = json.loads(ok(capsys, "forms", "show", "0350122T", "--json"))
    record = tmp_path / "fiche-traitement.pdf"  # GDPR: a publisher's record, and someone who left
    record.write_bytes(b"%PDF-1.4 fiche de traitement\n")
    ok(capsys, "gdpr", "record", "add", "--departement", "035", "--ent", "Beneylu School", "--file", record,
       "--by", ADMIN_EMAIL)
    ok(capsys, "people", "remove", "yann.kervella@ac-rennes.fr", "--by", ADMIN_EMAIL)
    first = tmp_path / "export-1.zip"
    assert "lignes exportées" in ok(capsys, "export", first)
    before = json.loads(ok(capsys, "school", "show", "0350122T", "--json"))

    # A brand-new home and SQLite database (the source may be PostgreSQL: the archive crosses backends).
    monkeypatch.setenv("ROADMAP_HOME", str(tmp_path / "restored"))
    monkeypatch.delenv("ROADMAP_DATABASE_URL")
    ok(capsys, "init")
    assert "lignes restaurées" in ok(capsys, "restore", first, "--by", ADMIN_EMAIL)
    after = json.loads(ok(capsys, "school", "show", "0350122T", "--json"))
    assert after == before
    assert json.loads(ok(capsys, "forms", "show", "0350122T", "--json")) == forms_before
    assert forms_before["acknowledgements"] == 12 and forms_before["activation_codes"] == 20
    minutes = next(i for i in json.loads(ok(capsys, "school", "show", "0350165P", "--json"))["history"]
                   if i["data"] and i["data"]["item"] == "minutes")["data"]["value"]
    restored_file = tmp_path / "restored" / "files" / minutes["sha256"][:2] / minutes["sha256"]
    assert restored_file.stat().st_size == minutes["size"]

    second = tmp_path / "export-2.zip"
    ok(capsys, "export", second)
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        original, again = json.loads(a.read("data.json")), json.loads(b.read("data.json"))
        assert sorted(a.namelist()) == sorted(b.namelist())
    # Everything comes back identical; the audit log has one more entry: the restore itself, and who did it.
    restore_entry = again["tables"]["audit_entry"].pop()
    assert (restore_entry["action"], restore_entry["actor"], restore_entry["target"]) == (
        "restore", ADMIN_EMAIL, "export-1.zip")
    assert original == again
    assert set(original["tables"]) == set(SQLModel.metadata.tables)  # every table, the GDPR ones included
    assert len(original["tables"]["gdpr_processing_record"]) == len(original["tables"]["departed_person"]) == 1
    assert json.loads(ok(capsys, "gdpr", "record", "list", "--json"))[0]["file_name"] == record.name
    sha = original["tables"]["gdpr_processing_record"][0]["file_sha256"]
    assert (tmp_path / "restored" / "files" / sha[:2] / sha).read_bytes() == record.read_bytes()

    # Work goes on after a restore: new rows get fresh ids, the history keeps growing.
    ok(capsys, "school", "resume", "0350266Z", "--by", "cpd.numerique35@ac-rennes.fr")
    code, _, err = run_cli(capsys, "restore", first, "--by", ADMIN_EMAIL)
    assert code == 1 and "n'est pas vide" in err


def test_restore_refuses_what_is_not_an_export(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    not_zip = tmp_path / "donnees.zip"
    not_zip.write_text("pas une archive", encoding="utf-8")
    code, _, err = run_cli(capsys, "restore", not_zip, "--by", ADMIN_EMAIL)
    assert code == 1 and "archive illisible" in err and "roadmap export" in err
    other = tmp_path / "autre.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("data.json", json.dumps({"format": "autre", "version": 1}))
    code, _, err = run_cli(capsys, "restore", other, "--by", ADMIN_EMAIL)
    assert code == 1 and "format attendu" in err
    code, _, err = run_cli(capsys, "export", tmp_path / "export.tar")
    assert code == 1 and ".zip" in err


def test_restore_into_each_backend_then_keep_working(
    empty_cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The archive comes from a separate SQLite installation...
    monkeypatch.setenv("ROADMAP_HOME", str(tmp_path / "source"))
    monkeypatch.delenv("ROADMAP_DATABASE_URL")
    ok(capsys, "demo")
    archive = tmp_path / "export.zip"
    ok(capsys, "export", archive)
    # ...and is restored into this test's fresh database (SQLite or PostgreSQL).
    monkeypatch.setenv("ROADMAP_HOME", str(empty_cli_env.home))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", empty_cli_env.database_url)
    ok(capsys, "restore", archive, "--by", "admin.ent@ac-rennes.fr")  # the demo's administrator
    before = json.loads(ok(capsys, "school", "show", "0350165P", "--json"))
    # New rows after explicit ids: sequences must have moved on (PostgreSQL) — no duplicate keys.
    ok(capsys, "school", "approve", "0350165P", "--by", "ce.ien35.stgregoire@ac-rennes.fr")
    ok(capsys, "people", "add", "nouvelle.cpd@ac-rennes.fr", "--role", "cpd", "--scope", "035", "--name", "Léa Morvan",
       "--by", "admin.ent@ac-rennes.fr")
    after = json.loads(ok(capsys, "school", "show", "0350165P", "--json"))
    assert after["state"] == "transmission" and after["version"] == before["version"] + 1
    assert after["history"][:-1] == before["history"]
