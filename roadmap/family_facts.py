"""The facts the documents for families read from a school's checklist: where the definition keeps them
(`[guards.family_documents_facts]`), how each is checked, and the guard that checks them before the step is left."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from roadmap.ents import is_web_address
from roadmap.errors import InvalidValue
from workflows import GuardContext, GuardParam
from workflows.definition import Definition, ItemRef

GUARD = "family_documents_facts"
FACT_ITEMS = {
    "ent_item": GuardParam("item", "choice", "l'ENT choisi (nom de l'ENT et de son éditeur dans les documents)"),
    "address_item": GuardParam("item", "text", "l'adresse web de l'ENT donnée aux familles"),
    "year_item": GuardParam("item", "text", "l'année scolaire des documents (ex. 2026-2027)"),
}
_SCHOOL_YEAR = re.compile(r"(?P<first>\d{4})\s*[-/–]\s*(?P<second>\d{4})")


@dataclass(frozen=True)
class FactItems:
    """The checklist items holding the ENT, its web address and the school year, as the definition names them."""

    ent: ItemRef
    address: ItemRef
    year: ItemRef

    @classmethod
    def of(cls, definition: Definition) -> FactItems:
        return cls(
            definition.item_ref(GUARD, "ent_item"),
            definition.item_ref(GUARD, "address_item"),
            definition.item_ref(GUARD, "year_item"),
        )


def school_year(text: str) -> str | None:
    """"2026-2027" (or "2026 / 2027") in its normal form, or None when it is not two consecutive years."""
    match = _SCHOOL_YEAR.fullmatch(text.strip())
    if match is None:
        return None
    first, second = int(match["first"]), int(match["second"])
    if second != first + 1 or not 2000 <= first <= 2099:
        return None
    return f"{first}-{second}"


def year_problem(text: str) -> str | None:
    if school_year(text) is None:
        return (f"l'année scolaire « {text} » n'est pas de la forme 2026-2027 (deux années qui se suivent, "
                "séparées par un tiret).")
    return None


def address_problem(text: str) -> str | None:
    if not is_web_address(text):
        return f"l'adresse de l'ENT « {text} » n'est pas une adresse web complète (ex. https://ent.exemple.fr/)."
    return None


def family_documents_facts(ctx: GuardContext) -> list[str]:
    """The ENT's address and the school year, when given, are well formed (whether they are given at all is the
    checklist's business)."""
    reasons = []
    _item, address = ctx.item(GUARD, "address_item")
    if address and (problem := address_problem(str(address))):
        reasons.append(problem)
    _item, year = ctx.item(GUARD, "year_item")
    if year and (problem := year_problem(str(year))):
        reasons.append(problem)
    return reasons


def typed_fact_checks(definitions: Iterable[Definition]) -> dict[str, Callable[[str, str], str]]:
    """Item id -> check of a value as it is typed (label, raw) -> stored value: the school year (normalised) and
    the ENT's address are refused at once when malformed, not only when the step is left."""

    def year(label: str, raw: str) -> str:
        normal = school_year(raw)
        if normal is None:
            raise InvalidValue(label, raw, "deux années qui se suivent sont attendues, séparées par un tiret.",
                               hint="ex. 2026-2027")
        return normal

    def address(label: str, raw: str) -> str:
        if address_problem(raw):
            raise InvalidValue(label, raw, "une adresse web complète est attendue.", hint="ex. https://ent.exemple.fr/")
        return raw.strip()

    checks: dict[str, Callable[[str, str], str]] = {}
    for definition in definitions:
        if GUARD in definition.guard_params:
            items = FactItems.of(definition)
            checks[items.year[1]] = year
            checks[items.address[1]] = address
    return checks
