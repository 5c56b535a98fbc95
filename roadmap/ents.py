"""The ENT catalogue (`data/territory/ents.toml`): each compliant ENT's publisher and what the publisher commits
to about the data (hosting in France, deletion 90 days after an account closes), read by the family documents."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from roadmap.errors import InputFileError

ENT_KEYS = frozenset({"name", "publisher", "hosted_in_france", "deletion_90_days", "address"})
_WEB_ADDRESS = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)


@dataclass(frozen=True)
class EntInfo:
    name: str  # one of the choices of the definition's ENT item
    publisher: str
    hosted_in_france: bool
    deletion_90_days: bool
    address: str = ""


def is_web_address(text: str) -> bool:
    return bool(_WEB_ADDRESS.fullmatch(text.strip()))


def _entry_lines(text: str) -> list[int]:
    """The line of each `[[ents]]` header, in order."""
    return [number for number, line in enumerate(text.splitlines(), 1) if line.strip().startswith("[[ents]]")]


def _entry(path: Path, raw: Mapping[str, Any], line: int | None) -> EntInfo:
    def fail(problem: str, hint: str = "") -> InputFileError:
        return InputFileError(path, problem, hint, line=line)

    unknown = sorted(set(raw) - ENT_KEYS)
    if unknown:
        raise fail(f"clé inconnue « {unknown[0]} » dans un ENT.", "clés possibles : " + ", ".join(sorted(ENT_KEYS)))
    texts: dict[str, str] = {}
    for key in ("name", "publisher", "address"):
        value = raw.get(key, "")
        if not isinstance(value, str) or (key != "address" and not value.strip()):
            raise fail(f"« {key} » doit être un texte non vide entre guillemets.")
        texts[key] = value.strip()
    flags: dict[str, bool] = {}
    for key in ("hosted_in_france", "deletion_90_days"):
        value = raw.get(key)
        if not isinstance(value, bool):
            raise fail(
                f"ENT « {texts['name']} » : « {key} » doit valoir true ou false.",
                "écrivez true seulement si l'éditeur s'y engage dans un document connu, sinon false.",
            )
        flags[key] = value
    if texts["address"] and not is_web_address(texts["address"]):
        raise fail(f"ENT « {texts['name']} » : l'adresse « {texts['address']} » n'est pas une adresse web.",
                   "écrivez-la en entier, ex. https://ent.exemple.fr/")
    return EntInfo(texts["name"], texts["publisher"], flags["hosted_in_france"], flags["deletion_90_days"],
                   texts["address"])


@cache
def ent_catalogue(path: Path) -> dict[str, EntInfo]:
    """Every ENT of the catalogue by name; a malformed file is refused with the line of the faulty entry."""
    try:
        text = path.read_text(encoding="utf-8")
        document = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InputFileError(path, f"catalogue des ENT illisible ({error}).") from error
    entries = document.get("ents", [])
    if set(document) - {"ents"} or not isinstance(entries, list):
        raise InputFileError(path, "le catalogue ne contient que des tables [[ents]].")
    lines = _entry_lines(text)
    catalogue: dict[str, EntInfo] = {}
    for index, raw in enumerate(entries):
        line = lines[index] if index < len(lines) else None
        info = _entry(path, raw, line)
        if info.name in catalogue:
            raise InputFileError(path, f"l'ENT « {info.name} » est décrit deux fois.", line=line)
        catalogue[info.name] = info
    return catalogue


def missing_from_catalogue(catalogue: Mapping[str, EntInfo], choices: tuple[str, ...]) -> list[str]:
    """The ENTs a definition offers that the catalogue does not describe."""
    return [choice for choice in choices if choice not in catalogue]
