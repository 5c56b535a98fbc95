"""Reversibility: everything the product holds, exported to one ZIP file and restored from it.

The archive holds `data.json` (every table, rows in primary-key order, format version, Alembic revision)
and `files/<sha256>` (the attached documents). A restore goes into an empty, migrated database only, so
that the append-only history is never merged or rewritten.
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import DateTime, Engine, Table, delete, func, insert, select, text
from sqlmodel import SQLModel

import roadmap.models
import workflows.models
from roadmap.errors import InputFileError, RoadmapError
from roadmap.files import FileStore
from workflows.models import InstalledDefinition, as_utc

assert roadmap.models and workflows.models  # imported for their tables
FORMAT = "ent-roadmap-export"
FORMAT_VERSION = 1
_HINT = "donnez un fichier créé par « roadmap export »."
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _tables() -> list[Table]:
    return list(SQLModel.metadata.sorted_tables)  # parents before children


def _encode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    encoded = {}
    for column in table.columns:
        value = row[column.name]
        if isinstance(column.type, DateTime) and value is not None:
            value = as_utc(value).isoformat()
        encoded[column.name] = value
    return encoded


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    decoded = dict(row)
    for column in table.columns:
        if isinstance(column.type, DateTime) and decoded.get(column.name) is not None:
            decoded[column.name] = datetime.fromisoformat(decoded[column.name])
    return decoded


def _revision(db: Engine) -> str | None:
    with db.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def export_all(db: Engine, files: FileStore, target: Path) -> dict[str, int]:
    """Write the archive; returns the number of rows per table."""
    counts: dict[str, int] = {}
    data: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION, "revision": _revision(db), "tables": {}}
    with db.connect() as connection:
        for table in _tables():
            order = list(table.primary_key.columns)
            rows = [_encode(table, dict(row._mapping)) for row in connection.execute(select(table).order_by(*order))]
            data["tables"][table.name] = rows
            counts[table.name] = len(rows)
    partial = target.with_suffix(target.suffix + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=1))
        for row in data["tables"].get("stored_file", []):
            path = files.path_of(row["sha256"])
            if path.exists():
                archive.write(path, f"files/{row['sha256']}")
    partial.replace(target)
    return counts


def restore_all(db: Engine, files: FileStore, source: Path) -> dict[str, int]:
    """Load an archive into an empty database at the same schema revision; all or nothing."""
    try:
        archive = zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as error:
        raise InputFileError(source, f"archive illisible ({error}).", hint=_HINT) from error
    with archive:
        try:
            data = json.loads(archive.read("data.json"))
        except (KeyError, ValueError) as error:
            raise InputFileError(source, "data.json absent ou invalide.", hint=_HINT) from error
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise InputFileError(
                source,
                "ce n'est pas une exportation ent-roadmap de ce format.",
                hint=f"format attendu : {FORMAT} version {FORMAT_VERSION}.",
            )
        if data.get("revision") != _revision(db):
            raise RoadmapError(
                f"L'archive vient d'une base à la révision {data.get('revision')}, celle-ci est à la "
                f"révision {_revision(db)}.\n  → restaurez avec la version du produit qui l'a créée, "
                "ou mettez les deux au même niveau (roadmap init)."
            )
        counts: dict[str, int] = {}
        with db.begin() as connection:
            # `roadmap init` records the installed definitions: the archive's replace them (init then upgrades).
            connection.execute(delete(InstalledDefinition))
            for table in _tables():
                if connection.execute(select(func.count()).select_from(table)).scalar_one():
                    raise RoadmapError(
                        f"La base n'est pas vide (table {table.name}) : la restauration ne fusionne "
                        "pas.\n  → restaurez dans une base neuve (autre ROADMAP_HOME, puis roadmap init)."
                    )
            for table in _tables():
                rows = [_decode(table, row) for row in data["tables"].get(table.name, [])]
                if rows:
                    connection.execute(insert(table), rows)
                counts[table.name] = len(rows)
            if connection.dialect.name == "postgresql":  # explicit ids were inserted: move the sequences on
                for table in _tables():
                    if "id" in table.columns and counts[table.name]:
                        connection.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f"(SELECT MAX(id) FROM {table.name}))"
                            )
                        )
            for name in archive.namelist():
                sha256 = name.removeprefix("files/")
                if name.startswith("files/") and _SHA256.fullmatch(sha256):  # never a path of the archive's choosing
                    target = files.path_of(sha256)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(name))
        return counts
