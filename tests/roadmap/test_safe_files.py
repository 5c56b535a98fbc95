"""Files the product writes: atomic, private, free of spreadsheet formulas; archives verified before a restore."""

from __future__ import annotations

import csv
import errno
import json
import os
import stat
import zipfile
from pathlib import Path

import openpyxl
import pytest

from roadmap.account_table import COLUMNS, write_table
from roadmap.atomic import WriteError, atomic_write
from roadmap.settings import Settings
from tests.factories import ADMIN_EMAIL
from tests.roadmap.test_cli import ok, run_cli

HOSTILE = {"RNE": "0350122T", "Nom": "=HYPERLINK(\"http://x\",\"clic\")", "Voie": "+33 rue", "Commune": "-2+3",
           "Responsable": "@SUM(A1)", "CIRCO": "\tcirco", "ENT": "\rOne"}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix in (".tmp", ".part"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------------------------------------ atomic


def test_a_missing_folder_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    with pytest.raises(WriteError, match="n'existe pas"), atomic_write(tmp_path / "absent" / "t.csv") as handle:
        handle.write(b"x")
    assert not (tmp_path / "absent").exists()


def test_a_full_disk_leaves_the_previous_file_whole_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "tableau.csv"
    target.write_bytes(b"previous content")

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match="disque plein"), atomic_write(target) as handle:
        handle.write(b"new content")
    assert target.read_bytes() == b"previous content"
    assert leftovers(tmp_path) == []


def test_ctrl_c_in_the_middle_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "export.zip"
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as handle:
        handle.write(b"half")
        raise KeyboardInterrupt
    assert not target.exists() and leftovers(tmp_path) == []


def test_the_cli_says_why_an_export_cannot_be_written(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (("table", "export"), ("export",)):
        suffix = ".csv" if command[0] == "table" else ".zip"
        code, _out, err = run_cli(capsys, *command, tmp_path / "nowhere" / f"out{suffix}")
        assert code == 1 and "n'existe pas" in err and "inattendue" not in err


# ---------------------------------------------------------------------------------------- spreadsheets


def test_formulas_are_written_as_text_in_csv_and_xlsx(tmp_path: Path) -> None:
    write_table([HOSTILE], tmp_path / "t.csv")
    write_table([HOSTILE], tmp_path / "t.xlsx")
    with (tmp_path / "t.csv").open(encoding="utf-8-sig", newline="") as handle:
        header, row = list(csv.reader(handle, delimiter=";"))
    assert header == list(COLUMNS)
    cells = dict(zip(header, row, strict=True))
    for column, value in HOSTILE.items():
        assert cells[column] == (value if column == "RNE" else "'" + value)
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    assert sheet is not None
    values = {sheet.cell(1, i + 1).value: sheet.cell(2, i + 1) for i in range(len(COLUMNS))}
    assert all(cell.data_type == "s" for cell in values.values() if cell.value)
    assert values["Nom"].value == "'" + HOSTILE["Nom"]


# ------------------------------------------------------------------------------------ private, archives


def test_database_files_and_exports_are_private(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "private-home"
    monkeypatch.setenv("ROADMAP_HOME", str(home))
    monkeypatch.delenv("ROADMAP_DATABASE_URL")
    ok(capsys, "demo")
    ok(capsys, "export", tmp_path / "all.zip")
    assert mode(home) == 0o700 and mode(home / "roadmap.sqlite3") == 0o600
    assert mode(home / "files") == 0o700
    stored = [p for p in (home / "files").rglob("*") if p.is_file()]
    assert stored and all(mode(p) == 0o600 for p in stored)
    assert all(mode(p) == 0o700 for p in (home / "files").iterdir())
    assert mode(tmp_path / "all.zip") == 0o600


def exported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    ok(capsys, "demo")
    archive = tmp_path / "export.zip"
    ok(capsys, "export", archive)
    return archive


def rewrite(archive: Path, target: Path, change: dict[str, bytes | None]) -> Path:
    """A copy of `archive` with members replaced (bytes), removed (None) or added."""
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(target, "w") as copy:
        for name in source.namelist():
            if name not in change:
                copy.writestr(name, source.read(name))
        for name, content in change.items():
            if content is not None:
                copy.writestr(name, content)
    return target


def restore_into_fresh(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       archive: Path) -> tuple[int, str]:
    monkeypatch.setenv("ROADMAP_HOME", str(tmp_path / f"fresh-{archive.stem}"))
    monkeypatch.delenv("ROADMAP_DATABASE_URL", raising=False)
    ok(capsys, "init")
    code, _out, err = run_cli(capsys, "restore", archive, "--by", ADMIN_EMAIL)
    return code, err


def test_a_tampered_or_padded_archive_is_refused_and_nothing_restored(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = exported(capsys, tmp_path)
    with zipfile.ZipFile(archive) as source:
        member = next(n for n in source.namelist() if n.startswith("files/"))
        original = source.read(member)
    cases = {
        "tampered": ({member: bytes(reversed(original))}, "contenu modifié"),
        "resized": ({member: original + b"x"}, "taille"),
        "extra": ({"files/" + "0" * 64: b"intrus"}, "sans ligne"),
        "foreign": ({"../../etc/evil": b"x"}, "élément inattendu"),
        "missing": ({member: None}, "absent de l'archive"),
    }
    for name, (change, expected) in cases.items():
        copy = rewrite(archive, tmp_path / f"{name}.zip", change)
        code, err = restore_into_fresh(capsys, tmp_path, monkeypatch, copy)
        assert code == 1 and expected in err and "rien n'a été restauré" in err, (name, err)
        assert "0 école(s)" in ok(capsys, "school", "list")


def test_export_refuses_a_missing_attached_file_unless_asked(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(capsys, "demo")
    stored = next(p for p in cli_env.files_dir.rglob("*") if p.is_file())
    stored.unlink()
    code, _out, err = run_cli(capsys, "export", tmp_path / "partial.zip")
    assert code == 1 and "introuvable" in err and stored.name[:12] in err
    assert not (tmp_path / "partial.zip").exists()
    code, _out, err = run_cli(capsys, "export", tmp_path / "partial.zip", "--allow-missing")
    assert code == 0 and "INCOMPLÈTE" in err
    with zipfile.ZipFile(tmp_path / "partial.zip") as archive:
        assert json.loads(archive.read("data.json"))["missing_files"] == [stored.name]
    code, err = restore_into_fresh(capsys, tmp_path, monkeypatch, tmp_path / "partial.zip")
    assert code == 0, err
