"""`roadmap backup -o FILE`: a consistent copy of the live SQLite database (SQLite's backup API), checked with
integrity_check, written atomically and owner-only; a server database is pointed to its own tools."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from roadmap.settings import Settings
from tests.roadmap.test_cli import ok, run_cli


def test_backup_copies_the_live_database(cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ok(capsys, "demo")
    target = tmp_path / "copie.sqlite3"
    if not cli_env.database_url.startswith("sqlite"):
        code, _, err = run_cli(capsys, "backup", "-o", target)
        assert code == 1 and "pg_dump" in err and not target.exists()
        return
    out = ok(capsys, "backup", "-o", target)
    assert "intégrité vérifiée" in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".copie.sqlite3.*"))  # nothing half-written left beside it
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM school").fetchone()[0] == 115
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    finally:
        copy.close()
    ok(capsys, "school", "approve", "0350165P", "--by", "ce.ien35.stgregoire@ac-rennes.fr")  # the live base goes on
    assert "intégrité vérifiée" in ok(capsys, "backup", "-o", target)  # replaced atomically


def test_backup_refuses_a_missing_folder_and_the_database_itself(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    if not cli_env.database_url.startswith("sqlite"):
        assert run_cli(capsys, "backup", "-o", tmp_path / "x.sqlite3")[0] == 1
        return
    code, _, err = run_cli(capsys, "backup", "-o", tmp_path / "absent" / "copie.sqlite3")
    assert code == 1 and "n'existe pas" in err and "Traceback" not in err
    database = Path(cli_env.database_url.removeprefix("sqlite:///"))
    code, _, err = run_cli(capsys, "backup", "-o", database)
    assert code == 1 and "la base elle-même" in err
