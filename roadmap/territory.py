"""Reference data about the territory that the annuaire does not carry: académies' holiday zones, where the
account tables go (the DSI's address) and which ENTs get their accounts created automatically."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from roadmap.errors import InputFileError


@dataclass(frozen=True)
class AcademieInfo:
    code: str
    name: str
    zone: str
    dsi_email: str = ""  # "" when the académie has not given one
    auto_accounts_ents: tuple[str, ...] = ()


@cache
def academies(path: Path) -> dict[str, AcademieInfo]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InputFileError(path, f"référentiel des académies illisible ({error}).") from error
    national = document.get("national", {})
    default_ents = tuple(str(name) for name in national.get("auto_accounts_ents", ()))
    return {
        str(entry["code"]): AcademieInfo(
            str(entry["code"]),
            str(entry["name"]),
            str(entry["zone"]),
            str(entry.get("dsi_email", "")).strip().lower(),
            tuple(str(name) for name in entry.get("auto_accounts_ents", default_ents)),
        )
        for entry in document.get("academies", [])
    }
