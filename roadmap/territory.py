"""Reference data about the territory that the annuaire does not carry (holiday zones of académies)."""

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


@cache
def academies(path: Path) -> dict[str, AcademieInfo]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InputFileError(path, f"référentiel des académies illisible ({error}).") from error
    return {
        str(entry["code"]): AcademieInfo(str(entry["code"]), str(entry["name"]), str(entry["zone"]))
        for entry in document.get("academies", [])
    }
