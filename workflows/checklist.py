"""Typed checklist items: what a step asks for, how user input becomes a stored value, when an item is done."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, get_args

from workflows.errors import InvalidItemValue

ItemType = Literal["bool", "date", "choice", "text", "file"]
ITEM_TYPES: tuple[str, ...] = get_args(ItemType)

_FRENCH_DATE = re.compile(r"(?P<day>\d{1,2})/(?P<month>\d{1,2})/(?P<year>\d{4})")
_ISO_DATE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})")
_TRUE = {"oui", "o", "vrai", "true", "1", "yes", "y", "x", "fait"}
_FALSE = {"non", "n", "faux", "false", "0", "no"}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'")


PLAUSIBLE_YEARS = range(1950, 2101)  # any date outside is a typing mistake (0001, 9999...)


def parse_date(raw: str) -> date:
    """Accept ISO (2026-11-23) and French (23/11/2026) dates."""
    text = raw.strip()
    match = _FRENCH_DATE.fullmatch(text) or _ISO_DATE.fullmatch(text)
    if match is None:
        raise ValueError("date attendue au format JJ/MM/AAAA ou AAAA-MM-JJ (année sur 4 chiffres)")
    parts = match.groupdict()
    try:
        parsed = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError as error:
        raise ValueError("cette date n'existe pas dans le calendrier") from error
    if parsed.year not in PLAUSIBLE_YEARS:
        raise ValueError(
            f"l'année {parsed.year} n'est pas plausible (entre {PLAUSIBLE_YEARS.start} et {PLAUSIBLE_YEARS.stop - 1})"
        )
    return parsed


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    label: str
    type: ItemType
    required: bool = True
    choices: tuple[str, ...] = field(default_factory=tuple)
    help: str = ""
    # Dates: how far back / ahead of today a value may be, and the "step.item" date it may not precede.
    max_years_back: int | None = None
    max_years_ahead: int | None = None
    not_before: str = ""
    # Id of an item of the same step whose value lets this required item be filed later (it stays owed).
    deferrable_with: str = ""
    # A living fact: still changed (by the step's roles) once the step is left, its state untouched.
    editable_after: bool = False

    def coerce(self, raw: object, today: date | None = None) -> Any:
        """Turn user input (text from a form or the CLI, or a native value) into the JSON value stored;
        dates are also checked against the item's bounds around `today`."""
        try:
            value = self._coerce(raw)
            if self.type == "date" and today is not None:
                self._check_bounds(date.fromisoformat(value), today)
            return value
        except ValueError as error:
            raise InvalidItemValue(self.label, raw, str(error)) from error

    def _check_bounds(self, day: date, today: date) -> None:
        if self.max_years_back is not None and day < _years_before(today, self.max_years_back):
            raise ValueError(
                f"le {day:%d/%m/%Y} est plus de {self.max_years_back} an(s) en arrière : vérifiez l'année"
            )
        if self.max_years_ahead is not None and day > _years_before(today, -self.max_years_ahead):
            if self.max_years_ahead == 0:
                raise ValueError(f"le {day:%d/%m/%Y} n'est pas encore passé : indiquez une date passée")
            raise ValueError(f"le {day:%d/%m/%Y} est plus de {self.max_years_ahead} an(s) en avant : vérifiez l'année")

    def _coerce(self, raw: object) -> Any:
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            folded = _fold(str(raw))
            if folded in _TRUE:
                return True
            if folded in _FALSE:
                return False
            raise ValueError("répondez oui ou non")
        if self.type == "date":
            if isinstance(raw, datetime):
                return raw.date().isoformat()
            if isinstance(raw, date):
                return raw.isoformat()
            return parse_date(str(raw)).isoformat()
        if self.type == "choice":
            wanted = _fold(str(raw))
            for choice in self.choices:
                if _fold(choice) == wanted:
                    return choice
            raise ValueError("choisissez parmi : " + ", ".join(f"« {c} »" for c in self.choices))
        if self.type == "text":
            text = str(raw).strip()
            if not text:
                raise ValueError("le texte est vide")
            return text
        if isinstance(raw, Mapping) and raw.get("name") and raw.get("sha256"):
            return dict(raw)
        raise ValueError("un fichier enregistré est attendu")

    def is_done(self, value: Any) -> bool:
        if value is None:
            return False
        if self.type == "bool":
            return value is True
        return bool(value)

    def display(self, value: Any) -> str:
        """French rendering of a stored value."""
        if value is None:
            return "—"
        if self.type == "bool":
            return "oui" if value else "non"
        if self.type == "date":
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        if self.type == "file":
            return f"{value.get('name')} ({value.get('size', '?')} octets)"
        return str(value)


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)
