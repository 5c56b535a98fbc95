"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import notifications.models
import roadmap.models
import workflows.models
from roadmap.db import SCHEMA_HEAD, SQLITE_BUSY_TIMEOUT_MS, alembic_config, check_schema, make_engine, migrate
from roadmap.errors import RoadmapError
from tests.conftest import BACKENDS, postgres_database

assert roadmap.models and workflows.models and notifications.models  # imported for their tables

TABLES = {"academie", "departement", "circonscription", "school", "person", "stored_file", "workflow_instance",
          "workflow_history", "workflow_checklist_value", "workflow_refused_attempt", "audit_entry", "process_lock"}


@pytest.fixture
def engine(db: Engine) -> Engine:
    return db


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database that exists but holds no table at all."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield engine
        engine.dispose()
        return
    with postgres_database("roadmap_empty") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def head(engine: Engine) -> str:
    revision = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert revision
    return revision


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    assert set(SQLModel.metadata.tables) >= TABLES
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
        assert set(inspect(connection).get_table_names()) >= TABLES
    assert differences == [], differences


def test_migrate_on_a_migrated_database_is_a_no_op(engine: Engine) -> None:
    revision = head(engine)
    with engine.connect() as connection:
        tables_before = sorted(inspect(connection).get_table_names())
    assert migrate(engine) == (revision, revision)
    assert migrate(engine) == (revision, revision)
    with engine.connect() as connection:
        assert sorted(inspect(connection).get_table_names()) == tables_before
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [revision]
    check_schema(engine)  # does not raise


def test_check_schema_on_an_empty_database_tells_to_run_init(empty_engine: Engine) -> None:
    with pytest.raises(RoadmapError) as raised:
        check_schema(empty_engine)
    message = str(raised.value)
    assert "roadmap init" in message and "vide" in message and head(empty_engine) in message

    assert migrate(empty_engine) == (None, head(empty_engine))
    check_schema(empty_engine)
    with empty_engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) >= TABLES


def test_check_schema_refuses_a_database_at_another_revision(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000_old'"))
    with pytest.raises(RoadmapError) as raised:
        check_schema(engine)
    assert "0000_old" in str(raised.value) and "roadmap init" in str(raised.value)


def test_history_rows_cannot_be_changed_or_deleted(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO workflow_instance (definition_id, subject, state, version, created_at, "
                                "updated_at, entered_at) VALUES ('national', '0350122T', 'definition', 1, "
                                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        instance_id = connection.execute(text("SELECT id FROM workflow_instance")).scalar_one()
        connection.execute(text("INSERT INTO workflow_history (instance_id, at, actor, role, event, target) "
                                "VALUES (:id, CURRENT_TIMESTAMP, 'import', 'admin', 'start', 'definition')"),
                           {"id": instance_id})
    for statement in ("UPDATE workflow_history SET actor = 'someone-else'", "DELETE FROM workflow_history"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT actor FROM workflow_history")).scalars().all() == ["import"]


def test_audit_rows_cannot_be_changed_or_deleted(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO audit_entry (at, actor, role, action, target) "
                                "VALUES (CURRENT_TIMESTAMP, 'admin@example.fr', 'admin', 'people.add', 'x@ex.fr')"))
    for statement in ("UPDATE audit_entry SET actor = 'someone-else'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT actor FROM audit_entry")).scalars().all() == ["admin@example.fr"]


def test_an_erasure_grant_lets_only_the_people_columns_change_and_only_inside_its_transaction(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO workflow_instance (definition_id, subject, state, version, "
                                "definition_version, created_at, updated_at, entered_at) VALUES ('national', "
                                "'0350001L', 'definition', 1, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
                                "CURRENT_TIMESTAMP)"))
        instance_id = connection.execute(text("SELECT id FROM workflow_instance")).scalar_one()
        connection.execute(text("INSERT INTO workflow_history (instance_id, at, actor, role, event, target, note) "
                                "VALUES (:id, CURRENT_TIMESTAMP, 'a@ex.fr', 'cpd', 'check', 'definition', 'a@ex.fr')"),
                           {"id": instance_id})
        connection.execute(text("INSERT INTO audit_entry (at, actor, role, action, target) "
                                "VALUES (CURRENT_TIMESTAMP, 'admin@ex.fr', 'admin', 'people.add', 'a@ex.fr')"))
    grant = "INSERT INTO erasure_grant (opened_by, opened_at) VALUES ('test', CURRENT_TIMESTAMP)"
    refused = (
        "UPDATE workflow_history SET event = 'advance'",  # what was done stays what it was
        "UPDATE workflow_history SET target = 'funding'",
        "UPDATE audit_entry SET action = 'people.remove'",
        "DELETE FROM workflow_history",  # nothing is ever deleted
        "DELETE FROM audit_entry",
    )
    for statement in refused:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(grant))
            connection.execute(text(statement))
    with engine.begin() as connection:  # the people columns, under a grant: accepted
        connection.execute(text(grant))
        connection.execute(text("UPDATE workflow_history SET actor = 'p-1', note = 'p-1'"))
        connection.execute(text("UPDATE audit_entry SET target = 'p-1'"))
        connection.execute(text("DELETE FROM erasure_grant"))
    for statement in ("UPDATE workflow_history SET actor = 'a@ex.fr'", "UPDATE audit_entry SET target = 'x'"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:  # the grant is gone
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT actor, note, event FROM workflow_history")).all() == [
            ("p-1", "p-1", "check")]
        assert connection.execute(text("SELECT actor, target FROM audit_entry")).all() == [("admin@ex.fr", "p-1")]


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'roadmap.sqlite3'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000 == SQLITE_BUSY_TIMEOUT_MS
        assert (tmp_path / "nested" / "roadmap.sqlite3").exists()  # parent folder created
        migrate(engine)
        with engine.connect() as connection, pytest.raises(DBAPIError, match="FOREIGN KEY"):
            connection.execute(text("INSERT INTO departement (code, name, academie_code) VALUES ('035', 'x', '99')"))
    finally:
        engine.dispose()


def test_plain_postgresql_url_uses_the_shipped_psycopg_driver() -> None:
    engine = make_engine("postgresql://someone@127.0.0.1:1/nowhere")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_upgrade_from_0001_dates_each_instance_from_its_last_move(empty_engine: Engine) -> None:
    from alembic import command

    config = alembic_config(empty_engine)
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with empty_engine.begin() as connection:
        connection.execute(text("INSERT INTO workflow_instance (definition_id, subject, state, version, created_at, "
                                "updated_at) VALUES ('national', '0350122T', 'funding', 3, '2026-09-01 08:00:00', "
                                "'2026-10-05 08:00:00')"))
        instance_id = connection.execute(text("SELECT id FROM workflow_instance")).scalar_one()
        for at, event, target in (("2026-09-01 08:00:00", "start", "definition"),
                                  ("2026-09-20 08:00:00", "advance", "funding"),
                                  ("2026-10-05 08:00:00", "check", "funding")):
            connection.execute(text("INSERT INTO workflow_history (instance_id, at, actor, role, event, target) "
                                    "VALUES (:id, :at, 'x', 'director', :event, :target)"),
                               {"id": instance_id, "at": at, "event": event, "target": target})
    migrate(empty_engine)
    with empty_engine.connect() as connection:
        entered, definition_version = connection.execute(
            text("SELECT entered_at, definition_version FROM workflow_instance")).one()
    assert str(entered).startswith("2026-09-20 08:00:00")  # the move, not the later checklist change
    assert definition_version == 1


def test_the_schema_head_every_command_checks_is_the_head_of_the_migrations(engine: Engine) -> None:
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == SCHEMA_HEAD
