"""Content-addressed storage of files attached to checklist items (council minutes, processing records)."""

from __future__ import annotations

import hashlib
import mimetypes
import shutil
from pathlib import Path
from typing import Any

from sqlmodel import Session

from roadmap.errors import InputFileError
from roadmap.models import StoredFile
from workflows import TransitionRecord

MAX_FILE_BYTES = 20 * 1024 * 1024


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def store(self, source: Path) -> dict[str, Any]:
        """Copy a user's file into the store (idempotent, by content) and return the checklist value describing it.

        Only the content is written here; its database row is added by `register`, in the transaction that
        records the checklist change, so a refused change leaves no row behind."""
        if not source.is_file():
            raise InputFileError(source, "fichier introuvable.", hint="vérifiez le chemin du fichier à joindre.")
        size = source.stat().st_size
        if size == 0:
            raise InputFileError(source, "le fichier est vide.", hint="joignez le document complet.")
        if size > MAX_FILE_BYTES:
            raise InputFileError(
                source,
                f"fichier trop volumineux ({size} octets, maximum {MAX_FILE_BYTES}).",
                hint="réduisez-le (PDF compressé) avant de le joindre.",
            )
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                digest.update(chunk)
        sha256 = digest.hexdigest()
        target = self.path_of(sha256)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            shutil.copyfile(source, partial)
            partial.replace(target)
        media_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        return {"name": source.name, "sha256": sha256, "size": size, "media_type": media_type}

    def register(self, session: Session, record: TransitionRecord) -> None:
        """Engine hook: a checklist change that attaches a file records the file in the same transaction."""
        value = (record.data or {}).get("value")
        if not isinstance(value, dict) or "sha256" not in value:
            return
        if session.get(StoredFile, value["sha256"]) is not None:
            return
        session.add(
            StoredFile(
                sha256=value["sha256"],
                name=value["name"],
                size=value["size"],
                media_type=value.get("media_type", "application/octet-stream"),
            )
        )
