"""The deployment's secret key (signs emailed action links and CSRF tokens): ROADMAP_SECRET_KEY, or a random key
created once in ROADMAP_HOME (owner-only file, written atomically) so that links survive a restart."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from roadmap.atomic import atomic_write
from roadmap.errors import RoadmapError

KEY_FILE = "secret_key"
MIN_LENGTH = 32


def secret_key(home: Path, environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    given = env.get("ROADMAP_SECRET_KEY", "").strip()
    if given:
        if len(given) < MIN_LENGTH:
            raise RoadmapError(
                f"ROADMAP_SECRET_KEY est trop courte ({len(given)} caractères, {MIN_LENGTH} au moins).\n"
                "  → générez-en une : python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return given
    path = home / KEY_FILE
    if path.is_file():
        return path.read_text(encoding="ascii").strip()
    home.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        handle.write(secrets.token_urlsafe(48).encode("ascii"))
    return path.read_text(encoding="ascii").strip()
