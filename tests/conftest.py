"""Shared fixtures: a fresh, migrated database per test, on SQLite and (when the test command started one)
PostgreSQL. Migrations run once per worker into a template; each test gets a copy."""

from __future__ import annotations

import gc
import os
import shutil
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from roadmap.db import make_engine, migrate
from roadmap.service import SYSTEM_ACTOR, load_roadmaps
from roadmap.settings import REPO_DATA, Settings
from workflows.models import utcnow
from workflows.versions import install

POSTGRES_URL = os.environ.get("ROADMAP_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
ANNUAIRE_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "annuaire"
if not ANNUAIRE_DIR.exists():  # CI clones next to shared/; a developer's checkout may sit elsewhere
    ANNUAIRE_DIR = Path(os.environ.get("ROADMAP_ANNUAIRE_DIR", "../shared/data/annuaire")).resolve()
ILLE_ET_VILAINE = ANNUAIRE_DIR / "annuaire-education_035-ille-et-vilaine_2023.csv"
VAL_DE_MARNE = ANNUAIRE_DIR / "annuaire-education_094-val-de-marne_2026.csv"


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@event.listens_for(Engine, "engine_connect")
def _track_engine(connection: Connection) -> None:
    _ENGINES.add(connection.engine)


def pytest_report_header() -> str:
    return "database backends: " + ", ".join(BACKENDS) + (
        "" if POSTGRES_URL else " (set ROADMAP_TEST_POSTGRES_URL, or run `make test`, for PostgreSQL too)")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def set_up(engine: Engine) -> None:
    """What `roadmap init` does: migrate, then install the definitions of data/roadmaps."""
    migrate(engine)
    with Session(engine) as session, session.begin():
        install(session, load_roadmaps(REPO_DATA / "roadmaps"), actor=SYSTEM_ACTOR.id, role=SYSTEM_ACTOR.role,
                now=utcnow())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    set_up(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@contextmanager
def postgres_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (optionally copied from a template); dropped, connections closed, on exit."""
    assert POSTGRES_URL
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        for engine in list(_ENGINES):  # close what was left pooled before the database goes away
            if engine.url.database == name:
                engine.dispose()
        gc.collect()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    with postgres_database(f"roadmap_template_{_worker()}") as url:
        engine = make_engine(url)
        set_up(engine)
        engine.dispose()
        yield make_url(url).database or ""


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a brand-new database, already migrated to the latest revision."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "roadmap.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    with postgres_database("roadmap_test", template=template_name) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, definitions_dir=REPO_DATA / "roadmaps",
                    territory_file=REPO_DATA / "territory" / "academies.toml")


@pytest.fixture
def empty_cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Like cli_env, on a database holding nothing at all (no administrator): where a restore goes."""
    monkeypatch.setenv("ROADMAP_HOME", str(settings.home))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", settings.database_url)
    return settings


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the `roadmap` command (in-process or subprocess) at this test's database (its first administrator,
    tests.factories.ADMIN_EMAIL, created)."""
    from tests.factories import make_roadmap

    monkeypatch.setenv("ROADMAP_HOME", str(settings.home))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", settings.database_url)
    make_roadmap(settings).db.dispose()
    return settings
