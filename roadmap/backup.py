"""Reversibility: everything the product holds, exported to one ZIP file and restored from it.

The archive holds `data.json` (every table, rows in primary-key order, format version, Alembic revision)
and `files/<sha256>` (the attached documents). A restore goes into an empty, migrated database only, so
that the append-only history is never merged or rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Date, DateTime, Engine, LargeBinary, Table, delete, func, insert, select, text
from sqlmodel import SQLModel

import notifications.models
import roadmap.models
import workflows.models
from roadmap.atomic import atomic_write
from roadmap.db import parse_url, prepare_folder
from roadmap.errors import InputFileError, RoadmapError
from roadmap.files import MAX_FILE_BYTES, FileStore
from roadmap.models import AuditEntry
from roadmap.progress import SILENT, Progress
from workflows import Actor
from workflows.models import InstalledDefinition, as_utc, utcnow

assert roadmap.models and workflows.models and notifications.models  # imported for their tables
FORMAT = "ent-roadmap-export"
FORMAT_VERSION = 1
_HINT = "donnez un fichier créé par « roadmap export »."
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_DATA_BYTES = 512 * 1024 * 1024  # data.json of a national database with a million history rows is well below


def _tables() -> list[Table]:
    return list(SQLModel.metadata.sorted_tables)  # parents before children


def _encode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    encoded = {}
    for column in table.columns:
        value = row[column.name]
        if isinstance(column.type, DateTime) and value is not None:
            value = as_utc(value).isoformat()
        elif isinstance(column.type, Date) and value is not None:
            value = value.isoformat()
        elif isinstance(column.type, LargeBinary) and value is not None:
            value = base64.b64encode(bytes(value)).decode("ascii")  # files kept in a table (sent tables, mail)
        encoded[column.name] = value
    return encoded


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    decoded = dict(row)
    for column in table.columns:
        if decoded.get(column.name) is None:
            continue
        if isinstance(column.type, DateTime):
            decoded[column.name] = datetime.fromisoformat(decoded[column.name])
        elif isinstance(column.type, Date) and decoded.get(column.name) is not None:
            decoded[column.name] = date.fromisoformat(decoded[column.name])
        elif isinstance(column.type, LargeBinary) and decoded.get(column.name) is not None:
            decoded[column.name] = base64.b64decode(decoded[column.name])
    return decoded


def _revision(db: Engine) -> str | None:
    with db.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@dataclass
class ExportResult:
    counts: dict[str, int]
    missing: list[str] = field(default_factory=list)  # attached files left out (only with allow_missing)


def _unreadable_files(files: FileStore, rows: list[dict[str, Any]]) -> dict[str, str]:
    """sha256 -> description of every referenced file the store cannot give back."""
    missing = {}
    for row in rows:
        path = files.path_of(row["sha256"])
        try:
            with path.open("rb"):
                pass
        except OSError:
            missing[row["sha256"]] = f"{row['name']} ({row['sha256'][:12]}…, {path})"
    return missing


def export_all(
    db: Engine, files: FileStore, target: Path, *, allow_missing: bool = False, progress: Progress = SILENT
) -> ExportResult:
    """Write the archive atomically; refuse (nothing written) if an attached file is missing, unless told."""
    counts: dict[str, int] = {}
    data: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION, "revision": _revision(db), "tables": {}}
    progress.phase("Lecture des tables", total=len(_tables()))
    with db.connect() as connection:
        for table in _tables():
            progress.advance()
            order = list(table.primary_key.columns)
            rows = [_encode(table, dict(row._mapping)) for row in connection.execute(select(table).order_by(*order))]
            data["tables"][table.name] = rows
            counts[table.name] = len(rows)
    stored = data["tables"].get("stored_file", [])
    missing = _unreadable_files(files, stored)
    if missing and not allow_missing:
        raise RoadmapError(
            f"Exportation refusée : {len(missing)} document(s) joint(s) introuvable(s) ou illisible(s) dans le "
            "dossier des documents :\n" + "\n".join(f"  - {m}" for m in missing.values())
            + "\n  → remettez ces fichiers en place (sauvegarde du dossier files/), ou exportez sans eux en le "
            "demandant explicitement (l'archive dira lesquels manquent)."
        )
    data["missing_files"] = sorted(missing)  # recorded: a restore accepts exactly these as absent
    progress.phase("Écriture de l'archive", total=1 + len(stored))
    with atomic_write(target) as handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=1))
        progress.advance()
        for row in stored:
            progress.advance()
            if row["sha256"] not in data["missing_files"]:
                archive.write(files.path_of(row["sha256"]), f"files/{row['sha256']}")
    return ExportResult(counts, list(missing.values()))


def restore_all(
    db: Engine, files: FileStore, source: Path, *, by: str, progress: Progress = SILENT
) -> dict[str, int]:
    """Load an archive into an empty database at the same schema revision; all or nothing. Every attached file
    is checked (name, size, SHA-256) against the rows that refer to it before anything is written."""
    try:
        archive = zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as error:
        raise InputFileError(source, f"archive illisible ({error}).", hint=_HINT) from error
    with archive, tempfile.TemporaryDirectory(dir=_staging_parent(files)) as staging:
        data = _read_data(source, archive)
        if data.get("revision") != _revision(db):
            raise RoadmapError(
                f"L'archive vient d'une base à la révision {data.get('revision')}, celle-ci est à la "
                f"révision {_revision(db)}.\n  → restaurez avec la version du produit qui l'a créée, "
                "ou mettez les deux au même niveau (roadmap init)."
            )
        actor = _restoring_admin(source, data, by)
        staged = _verify_files(source, archive, data, Path(staging))
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
            total = sum(len(data["tables"].get(table.name, [])) for table in _tables())
            progress.phase("Restauration des lignes", total=total)
            for table in _tables():
                rows = [_decode(table, row) for row in data["tables"].get(table.name, [])]
                for offset in range(0, len(rows), 5000):
                    connection.execute(insert(table), rows[offset : offset + 5000])
                    progress.advance(len(rows[offset : offset + 5000]))
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
            connection.execute(
                insert(AuditEntry.__table__),  # type: ignore[attr-defined]
                [{"at": utcnow(), "actor": actor.id, "role": actor.role, "action": "restore", "target": source.name,
                  "details": {"rows": sum(counts.values()), "files": len(staged)}}],
            )
            for sha256, path in staged.items():  # verified content, moved into place (same file system)
                target = files.path_of(sha256)
                prepare_folder(target.parent, "Le dossier des documents joints")
                os.replace(path, target)
        return counts


def _restoring_admin(source: Path, data: dict[str, Any], by: str) -> Actor:
    """Whoever restores must be an administrator of the archive: the restored database's audit log says who."""
    address = by.strip().lower()
    person = next((p for p in data["tables"].get("person", []) if p.get("email") == address), None)
    if person is None or person.get("role") != "admin":
        raise RoadmapError(
            f"Restauration refusée : {address} n'est pas administrateur dans l'archive {source.name}.\n"
            "  → restaurez sous l'adresse d'un administrateur enregistré dans la base exportée."
        )
    return Actor(id=address, role="admin", label=str(person.get("name", "")))


def _staging_parent(files: FileStore) -> Path:
    prepare_folder(files.root, "Le dossier des documents joints")
    return files.root


def _read_data(source: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = archive.getinfo("data.json")
    except KeyError:
        raise InputFileError(source, "data.json absent.", hint=_HINT) from None
    if info.file_size > MAX_DATA_BYTES:
        raise InputFileError(
            source, f"data.json trop volumineux ({info.file_size} octets, maximum {MAX_DATA_BYTES}).", hint=_HINT
        )
    try:
        with archive.open(info) as member:
            data = json.loads(_read_capped(member, MAX_DATA_BYTES, source, "data.json"))
    except ValueError as error:
        raise InputFileError(source, f"data.json invalide ({error}).", hint=_HINT) from error
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
        raise InputFileError(
            source,
            "ce n'est pas une exportation ent-roadmap de ce format.",
            hint=f"format attendu : {FORMAT} version {FORMAT_VERSION}.",
        )
    return data


def _read_capped(member: IO[bytes], limit: int, source: Path, name: str) -> bytes:
    content = member.read(limit + 1)  # the declared size may lie: never read more than the limit
    if len(content) > limit:
        raise InputFileError(source, f"{name} dépasse la taille permise ({limit} octets).", hint=_HINT)
    return content


def _verify_files(source: Path, archive: zipfile.ZipFile, data: dict[str, Any], staging: Path) -> dict[str, Path]:
    """Stream every attached file into `staging` while hashing it; refuse the archive at the first doubt."""
    rows = {row["sha256"]: row for row in data["tables"].get("stored_file", [])}
    declared_missing = set(data.get("missing_files", []))
    problems: list[str] = []
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        sha256 = info.filename.removeprefix("files/")
        if info.filename == "data.json":
            continue
        if not info.filename.startswith("files/") or not _SHA256.fullmatch(sha256):
            problems.append(f"élément inattendu dans l'archive : « {info.filename} »")
        elif sha256 not in rows:
            problems.append(f"fichier {sha256[:12]}… sans ligne qui y renvoie")
        elif info.file_size != rows[sha256]["size"] or info.file_size > MAX_FILE_BYTES:
            expected = rows[sha256]["size"]
            problems.append(f"fichier {rows[sha256]['name']} : taille {info.file_size} au lieu de {expected}")
        else:
            members[sha256] = info
    for sha256, row in rows.items():
        if sha256 not in members and sha256 not in declared_missing and not any(sha256 in p for p in problems):
            problems.append(f"fichier {row['name']} ({sha256[:12]}…) absent de l'archive")
    staged: dict[str, Path] = {}
    if not problems:
        for sha256, info in members.items():
            digest = hashlib.sha256()
            path = staging / sha256
            size = 0
            with archive.open(info) as member, path.open("wb") as out:
                while chunk := member.read(1 << 16):
                    size += len(chunk)
                    if size > rows[sha256]["size"]:
                        break
                    digest.update(chunk)
                    out.write(chunk)
            if size != rows[sha256]["size"] or digest.hexdigest() != sha256:
                problems.append(f"fichier {rows[sha256]['name']} : contenu modifié (empreinte SHA-256 différente)")
            else:
                os.chmod(path, 0o600)
                staged[sha256] = path
    if problems:
        raise InputFileError(
            source,
            "archive refusée, rien n'a été restauré :\n" + "\n".join(f"  - {p}" for p in problems),
            hint="restaurez une archive produite par « roadmap export » et non modifiée depuis.",
        )
    return staged


def online_backup(database_url: str, target: Path) -> int:
    """Copy a live SQLite database with SQLite's backup API (a consistent snapshot, even while others write),
    check the copy with `integrity_check`, and write it atomically (owner-only). Returns its size in bytes."""
    url = parse_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise RoadmapError(
            "La sauvegarde en ligne copie la base SQLite intégrée ; cette base est sur un serveur "
            f"({url.get_backend_name()}).\n  → sauvegardez-la avec les outils du serveur (pg_dump), ou exportez "
            "tout le contenu de l'outil avec « roadmap export ARCHIVE.zip »."
        )
    source = Path(url.database).resolve()
    if not source.is_file():
        raise RoadmapError(f"La base « {source} » n'existe pas encore.\n  → créez-la d'abord (roadmap init).")
    if Path(target).resolve() == source:
        raise RoadmapError(f"{target} est la base elle-même.\n  → donnez un autre nom de fichier pour la copie.")
    with atomic_write(Path(target)) as handle, tempfile.TemporaryDirectory(dir=Path(target).parent) as staging:
        copy = Path(staging) / "copie.sqlite3"
        origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        destination = sqlite3.connect(copy)
        try:
            origin.backup(destination)
            destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            verdict = destination.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            destination.close()
            origin.close()
        if verdict != "ok":
            raise RoadmapError(f"La copie de la base est incohérente ({verdict}) : rien n'a été écrit.")
        with copy.open("rb") as copied:
            shutil.copyfileobj(copied, handle, length=1 << 20)
    return Path(target).stat().st_size
