"""Database engine (SQLite with WAL, foreign keys and a busy timeout; or PostgreSQL), migrations, and the true
cause of a database failure in French (a read-only or missing folder, a lock held too long, a server down...)."""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, String, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from roadmap.errors import RoadmapError
from workflows.engine import WRITE_INTENT

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SUPPORTED = "sqlite:///CHEMIN/roadmap.sqlite3 ou postgresql://UTILISATEUR:MOT_DE_PASSE@HÔTE:PORT/BASE"


class DatabaseProblem(RoadmapError):
    """The database cannot be used as configured; says why and what to do."""

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(f"{problem}\n  → {hint}")


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseProblem(
            f"ROADMAP_DATABASE_URL n'est pas une adresse de base de données lisible (« {url} »).",
            f"donnez une adresse de la forme {SUPPORTED}.",
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):  # the driver we ship is psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseProblem(
            f"type de base de données non pris en charge : « {parsed.get_backend_name()} ».",
            f"l'outil fonctionne avec SQLite ou PostgreSQL : {SUPPORTED}.",
        )
    return parsed


def prepare_folder(folder: Path, what: str = "Le dossier des données (ROADMAP_HOME)") -> None:
    """Create `folder` (owner-only) or say in French why it cannot hold the database and files."""
    if folder.exists() and not folder.is_dir():
        raise DatabaseProblem(
            f"{what} « {folder} » est un fichier, pas un dossier.",
            "indiquez un dossier dans ROADMAP_HOME (ou déplacez ce fichier).",
        )
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise DatabaseProblem(
            f"{what} « {folder} » ne peut pas être créé ({_strerror(error)}).",
            "choisissez un emplacement où vous avez le droit d'écrire (variable ROADMAP_HOME).",
        ) from None
    try:  # a real write: permission bits do not tell the whole story (root, read-only mounts)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise DatabaseProblem(
            f"{what} « {folder} » est en lecture seule ({_strerror(error)}).",
            "donnez-vous le droit d'y écrire, ou choisissez un autre dossier (variable ROADMAP_HOME).",
        ) from None


def _create_private(database: Path) -> None:
    """The database file is readable by its owner only (SQLite gives its -wal and -shm files the same mode)."""
    prepare_folder(database.parent)
    try:
        os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as error:
        raise DatabaseProblem(
            f"le fichier de la base de données « {database} » ne peut pas être créé ({_strerror(error)}).",
            "vérifiez le chemin et vos droits sur ce dossier (variable ROADMAP_HOME).",
        ) from None


def _strerror(error: OSError) -> str:
    return {
        errno.EACCES: "droits insuffisants",
        errno.EPERM: "opération non permise",
        errno.EROFS: "système de fichiers en lecture seule",
        errno.ENOTDIR: "un élément du chemin est un fichier, pas un dossier",
        errno.ENOSPC: "disque plein",
    }.get(error.errno or 0, error.strerror or str(error))


def make_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(parsed, pool_pre_ping=True)
        except NoSuchModuleError:
            raise DatabaseProblem(
                f"pilote de base de données inconnu : « {parsed.drivername} ».",
                f"utilisez une adresse de la forme {SUPPORTED}.",
            ) from None
    if parsed.database and parsed.database != ":memory:":
        _create_private(Path(parsed.database))
    engine = create_engine(parsed, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Transactions are begun by us (below), not by pysqlite's own rules (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's own lower() folds ASCII only: `casefold` (below) sorts "École" among the "e"s, as PostgreSQL does.
        dbapi_connection.create_function("casefold", 1, _casefold, deterministic=True)

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Connection) -> None:
        # A unit of work that will write takes the write lock at once: concurrent writers then wait their turn
        # (busy timeout) instead of failing on a stale WAL snapshot when they reach their first write.
        immediate = connection.get_execution_options().get(WRITE_INTENT)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# The latest migration. Kept here so that every command checks the schema without loading Alembic (a test holds it
# equal to the head of roadmap/migrations); only `roadmap init` runs Alembic.
SCHEMA_HEAD = "0009"


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's configuration interpolates "%": an encoded password or "?options=-c%20..." must be escaped.
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def _revision_and_tables(engine: Engine) -> tuple[str | None, list[str]]:
    with engine.connect() as connection:
        names = inspect(connection).get_table_names()
        current = (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            if "alembic_version" in names
            else None
        )
    tables = [name for name in names if name != "alembic_version"]
    return current, tables


def _refuse_unversioned(engine: Engine, tables: list[str]) -> None:
    """Tables but no schema version: the version table was dropped, or the database belongs to something else."""
    raise DatabaseProblem(
        f"La base de données ({engine.url.render_as_string()}) contient des tables ({', '.join(sorted(tables)[:5])}"
        f"{'…' if len(tables) > 5 else ''}) mais pas la table qui indique la version de son schéma "
        "(alembic_version) : elle a été modifiée à la main, ou n'a pas été créée par cet outil.",
        "ne lancez pas « roadmap init » dessus ; restaurez la dernière exportation dans une base neuve "
        "(ROADMAP_HOME ou ROADMAP_DATABASE_URL vers un emplacement vide, roadmap init, puis roadmap restore), "
        "ou rétablissez la table alembic_version depuis une sauvegarde.",
    )


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema; returns (revision before, revision after)."""
    before, tables = _revision_and_tables(engine)
    if before is None and tables:
        _refuse_unversioned(engine, tables)
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    head = ScriptDirectory.from_config(config).get_current_head()
    return before, head or ""


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database that is not at the latest migration."""
    current, tables = _revision_and_tables(engine)
    if current is None and tables:
        _refuse_unversioned(engine, tables)
    head = SCHEMA_HEAD
    if current != head:
        state = "vide" if current is None else f"à la révision {current}"
        raise RoadmapError(
            f"La base de données ({engine.url.render_as_string()}) est {state} ; "
            f"la version attendue est {head}.\n  → lancez « roadmap init » pour la créer ou la mettre à jour."
        )


def explain(error: SQLAlchemyError, url: str | URL) -> DatabaseProblem:
    """The true cause of a database failure, for a person: what happened and what to do."""
    where = url if isinstance(url, str) else url.render_as_string(hide_password=True)
    original = getattr(error, "orig", None)
    text = str(original or error).lower()
    if isinstance(error, OperationalError) and "database is locked" in text:
        return DatabaseProblem(
            "la base de données est occupée par une autre opération (import, restauration…) depuis trop longtemps.",
            "attendez que l'autre commande se termine, puis relancez celle-ci.",
        )
    if "readonly database" in text or "read-only" in text:
        return DatabaseProblem(
            f"la base de données ({where}) est en lecture seule.",
            "donnez le droit d'écrire sur le fichier et son dossier (ROADMAP_HOME), ou changez d'emplacement.",
        )
    if "unable to open database file" in text:
        return DatabaseProblem(
            f"le fichier de la base de données ({where}) ne peut pas être ouvert ou créé.",
            "vérifiez que le dossier ROADMAP_HOME existe et que vous avez le droit d'y écrire.",
        )
    if "disk is full" in text or "no space left" in text:
        return DatabaseProblem("le disque est plein : la base de données ne peut pas grandir.", "libérez de la place.")
    if "connection refused" in text or "could not translate host name" in text or "timeout expired" in text:
        return DatabaseProblem(
            f"le serveur PostgreSQL ne répond pas ({where}).",
            "vérifiez qu'il est démarré et joignable, et l'adresse donnée dans ROADMAP_DATABASE_URL.",
        )
    if "password authentication failed" in text or ("role" in text and "does not exist" in text):
        return DatabaseProblem(
            f"le serveur PostgreSQL refuse la connexion ({where}) : utilisateur ou mot de passe refusé.",
            "vérifiez l'utilisateur et le mot de passe de ROADMAP_DATABASE_URL.",
        )
    if "no such table" in text or "undefinedtable" in text or ("relation" in text and "does not exist" in text):
        return DatabaseProblem(
            f"une table attendue manque dans la base de données ({where}).",
            "si la base est neuve, lancez « roadmap init » ; sinon elle a été modifiée à la main : "
            "restaurez la dernière exportation dans une base neuve.",
        )
    return DatabaseProblem(
        f"la base de données ({where}) a refusé l'opération ({type(original or error).__name__}).",
        "vérifiez ROADMAP_DATABASE_URL (ou ROADMAP_HOME) ; relancez avec ROADMAP_DEBUG=1 pour le détail technique.",
    )


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


class casefold(FunctionElement[str]):
    """Case-insensitive sort key of a text column: Python's `str.casefold` on SQLite, `lower` on PostgreSQL."""

    type = String()
    inherit_cache = True


@compiles(casefold)
def _casefold_default(element: casefold, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(casefold, "sqlite")
def _casefold_sqlite(element: casefold, compiler: Any, **kw: Any) -> str:
    return f"casefold({compiler.process(element.clauses, **kw)})"
