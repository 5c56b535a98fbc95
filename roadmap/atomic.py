"""Every file the product writes is written atomically: a temporary file in the same folder, written, flushed
and fsynced, then renamed over the target (and the folder fsynced). On any failure — a full disk, a missing or
read-only folder, Ctrl-C — the temporary file is removed and the target is left as it was."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from roadmap.errors import RoadmapError

PRIVATE_FILE = 0o600


class WriteError(RoadmapError):
    """A file could not be written; nothing was left behind."""

    def __init__(self, path: Path, reason: str, hint: str) -> None:
        self.path = path
        super().__init__(f"{path} : écriture impossible ({reason}) ; rien n'a été écrit.\n  → {hint}")


def _explain(path: Path, error: OSError) -> WriteError:
    folder = path.parent
    reasons = {
        errno.ENOENT: (f"le dossier « {folder} » n'existe pas", "créez-le ou choisissez un dossier existant."),
        errno.ENOTDIR: (f"« {folder} » n'est pas un dossier", "choisissez un dossier existant."),
        errno.EACCES: ("droits insuffisants", f"choisissez un dossier où vous pouvez écrire (pas « {folder} »)."),
        errno.EPERM: ("opération non permise", "choisissez un autre dossier."),
        errno.EROFS: ("système de fichiers en lecture seule", "choisissez un dossier où l'on peut écrire."),
        errno.ENOSPC: ("disque plein", "libérez de la place, ou écrivez sur un autre disque."),
        errno.EDQUOT: ("quota de disque dépassé", "libérez de la place, ou écrivez sur un autre disque."),
        errno.EISDIR: ("ce nom désigne un dossier", "donnez un nom de fichier."),
    }
    reason, hint = reasons.get(error.errno or 0, (error.strerror or str(error), "vérifiez le chemin et recommencez."))
    return WriteError(path, reason, hint)


@contextlib.contextmanager
def atomic_write(path: Path, mode: int = PRIVATE_FILE) -> Iterator[BinaryIO]:
    """Yield a binary handle; the target appears, complete and with `mode`, only if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise _explain(path, IsADirectoryError(errno.EISDIR, "is a directory"))
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _explain(path, error) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
        _fsync_folder(path.parent)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _explain(path, error) from None
        raise


@contextlib.contextmanager
def atomic_text(path: Path, encoding: str = "utf-8", mode: int = PRIVATE_FILE) -> Iterator[TextIO]:
    """The same, for text (newlines written as given: pass "\\n" or "\\r\\n" yourself, as the csv module does)."""
    with atomic_write(path, mode) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        yield text
        text.flush()
        text.detach()  # the binary handle is closed (and fsynced) by atomic_write


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened or synced
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet would take for a formula is written as text (OWASP "CSV injection")."""
    return "'" + value if value.startswith(SPREADSHEET_TRIGGERS) else value
