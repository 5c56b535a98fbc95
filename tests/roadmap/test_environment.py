"""Environment faults each get their own true message: where the data lives, which database, who holds a lock."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from roadmap.settings import REPO_DATA, Settings
from tests.conftest import POSTGRES_URL, postgres_database
from tests.factories import ADMIN_EMAIL
from tests.roadmap.test_cli import ok, run_cli

DEMO_EXTRACT = REPO_DATA / "demo" / "annuaire-demo-ille-et-vilaine.csv"


def fails(capsys: pytest.CaptureFixture[str], *args: object) -> str:
    code, _out, err = run_cli(capsys, *args)
    assert code == 1, err
    assert "inattendue" not in err
    return err


@pytest.fixture
def sqlite_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ROADMAP_DATABASE_URL", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("ROADMAP_HOME", str(home))
    return home


def test_a_roadmap_home_that_is_a_file_is_named_as_such(
    sqlite_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite_home.write_text("not a folder", encoding="utf-8")
    for command in (("init",), ("school", "list")):
        err = fails(capsys, *command)
        assert "est un fichier, pas un dossier" in err and str(sqlite_home) in err
        assert "roadmap init" not in err


def test_a_read_only_roadmap_home_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ROADMAP_DATABASE_URL", raising=False)
    if os.geteuid() == 0:  # permission bits do not stop root: use a folder of a read-only file system
        home = Path("/sys/kernel")
    else:
        home = tmp_path / "read-only"
        home.mkdir(mode=0o500)
    monkeypatch.setenv("ROADMAP_HOME", str(home))
    err = fails(capsys, "init")
    assert "lecture seule" in err and str(home) in err
    assert not (home / "roadmap.sqlite3").exists()


def test_a_database_locked_past_the_timeout_says_another_operation_holds_it(
    sqlite_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "init", "--admin", ADMIN_EMAIL, "--name", "Administration")
    monkeypatch.setenv("ROADMAP_BUSY_TIMEOUT", "0.2")
    holder = sqlite3.connect(sqlite_home / "roadmap.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing
        err = fails(capsys, "import", "annuaire", DEMO_EXTRACT, "--by", ADMIN_EMAIL)
        assert "occupée par une autre opération" in err
        assert "roadmap init" not in err
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    monkeypatch.setenv("ROADMAP_BUSY_TIMEOUT", "5")
    ok(capsys, "import", "annuaire", DEMO_EXTRACT, "--by", ADMIN_EMAIL)  # the lock gone, the same command works


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://user@localhost/roadmap", "non pris en charge : « mysql »"),
        ("not a url at all", "n'est pas une adresse de base de données lisible"),
        ("postgresql://roadmap@127.0.0.1:1/roadmap", "le serveur PostgreSQL ne répond pas"),
    ],
)
def test_unusable_database_urls_are_explained(
    url: str, expected: str, sqlite_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROADMAP_DATABASE_URL", url)
    err = fails(capsys, "school", "list")
    assert expected in err
    assert "roadmap init" not in err


def test_a_dropped_migration_table_is_not_answered_by_run_init(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "import", "annuaire", DEMO_EXTRACT, "--by", ADMIN_EMAIL)
    engine = create_engine(cli_env.database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    for command in (("school", "list"), ("init",)):
        err = fails(capsys, *command)
        assert "alembic_version" in err and "ne lancez pas « roadmap init »" in err
    engine = create_engine(cli_env.database_url)
    with engine.connect() as connection:  # init refused: nothing was touched
        assert connection.execute(text("SELECT count(*) FROM school")).scalar_one() == 115
    engine.dispose()


def test_a_percent_sign_in_the_sqlite_path_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ROADMAP_DATABASE_URL", raising=False)
    monkeypatch.setenv("ROADMAP_HOME", str(tmp_path / "données 100%"))
    ok(capsys, "init")
    ok(capsys, "school", "list")


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs the throwaway PostgreSQL server of the test command")
def test_a_postgresql_url_with_percent_encoded_options_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with postgres_database("roadmap_percent") as url:
        encoded = make_url(url).render_as_string(hide_password=False) + "?options=-c%20statement_timeout%3D60000"
        monkeypatch.setenv("ROADMAP_HOME", str(tmp_path))
        monkeypatch.setenv("ROADMAP_DATABASE_URL", encoded)
        ok(capsys, "init", "--admin", ADMIN_EMAIL, "--name", "Administration")
        ok(capsys, "import", "annuaire", DEMO_EXTRACT, "--by", ADMIN_EMAIL)
        assert "115 école(s)" in ok(capsys, "school", "list")
