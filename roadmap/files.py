"""Content-addressed storage of files attached to checklist items (council minutes, processing records).

Files arrive as uploads (a name and bytes: a web form's upload or a file the CLI read), are checked, then stored
by their SHA-256 before the checklist change; the change's transaction records the `stored_file` row (engine
hook). A refused change removes the content again unless another row already refers to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from roadmap.atomic import atomic_write
from roadmap.db import prepare_folder
from roadmap.errors import InputFileError, InvalidValue
from roadmap.models import StoredFile
from workflows import TransitionRecord

MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A file as a person hands it over: its name and its content."""

    filename: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def check(self, upload: Upload) -> None:
        name = upload.filename.strip()
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise InvalidValue("fichier", upload.filename, "nom de fichier invalide.")
        if not upload.content:
            raise InvalidValue("fichier", name, "le fichier est vide.", hint="joignez le document complet.")
        if len(upload.content) > MAX_FILE_BYTES:
            raise InvalidValue(
                "fichier",
                name,
                f"fichier trop volumineux ({len(upload.content)} octets, maximum {MAX_FILE_BYTES}).",
                hint="réduisez-le (PDF compressé) avant de le joindre.",
            )

    def store(self, upload: Upload) -> dict[str, Any]:
        """Check and store the content (once per content); returns the checklist value describing it."""
        self.check(upload)
        sha256 = upload.sha256
        target = self.path_of(sha256)
        if not target.exists():
            prepare_folder(self.root, "Le dossier des documents joints")
            prepare_folder(target.parent, "Le dossier des documents joints")
            with atomic_write(target) as handle:
                handle.write(upload.content)
        media_type = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        size = len(upload.content)
        return {"name": upload.filename.strip(), "sha256": sha256, "size": size, "media_type": media_type}

    def discard_unreferenced(self, session: Session, sha256: str) -> None:
        """After a refused change: remove content that no row refers to."""
        if session.get(StoredFile, sha256) is None:
            with contextlib.suppress(OSError):
                self.path_of(sha256).unlink()

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


def read_upload(path: Path) -> Upload:
    """A file of the local disk as an upload (the CLI's way in); every reason it cannot be read, in French."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise InputFileError(path, "ce chemin désigne un dossier.", hint="indiquez le document lui-même.")
        if size > MAX_FILE_BYTES:
            raise InputFileError(
                path,
                f"fichier trop volumineux ({size} octets, maximum {MAX_FILE_BYTES}).",
                hint="réduisez-le (PDF compressé) avant de le joindre.",
            )
        return Upload(filename=path.name, content=path.read_bytes())
    except FileNotFoundError:
        raise InputFileError(path, "fichier introuvable.", hint="vérifiez le chemin du fichier à joindre.") from None
    except PermissionError:
        raise InputFileError(
            path, "lecture refusée (droits insuffisants).", hint="donnez le droit de lire ce fichier, ou copiez-le."
        ) from None
    except OSError as error:
        raise InputFileError(
            path, f"fichier illisible ({error.strerror or error}).", hint="vérifiez le fichier et recommencez."
        ) from None
