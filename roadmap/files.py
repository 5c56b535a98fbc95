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
    """Files are checked and hashed first (`prepare`); their content is copied into the store and their row
    added only by `register`, inside the transaction of the accepted checklist change. A refused change
    therefore leaves nothing behind."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pending: dict[str, Path] = {}  # sha256 -> file waiting for its checklist change

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def prepare(self, source: Path) -> dict[str, Any]:
        """Check and hash a user's file; returns the checklist value that will describe it once stored."""
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
        self._pending[sha256] = source
        media_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        return {"name": source.name, "sha256": sha256, "size": size, "media_type": media_type}

    def register(self, session: Session, record: TransitionRecord) -> None:
        """Engine hook: a checklist change that attaches a file records the file in the same transaction."""
        value = (record.data or {}).get("value")
        if not isinstance(value, dict) or "sha256" not in value:
            return
        source = self._pending.pop(value["sha256"], None)
        target = self.path_of(value["sha256"])
        if source is not None and not target.exists():  # same content = same file: stored once
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            shutil.copyfile(source, partial)
            partial.replace(target)
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
