"""Returned forms: how many signed acknowledgements and publication authorisations came back to a school, and how
many activation codes it handed out. Counts only — the product never holds pupils' names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from roadmap.errors import InvalidValue
from roadmap.models import ReturnedForms, School
from workflows import Actor
from workflows.models import as_utc

# field -> French label (the CLI's options and the web form's fields name the same three counts)
COUNTS = {
    "acknowledgements": "accusés de réception rendus",
    "authorisations": "autorisations de publication rendues",
    "activation_codes": "codes d'activation remis",
}
MAX_COUNT = 100_000  # more than any school has pupils: a typing mistake
RECORDERS = ("director", "cpd", "admin")


@dataclass(frozen=True, slots=True)
class ReturnedFormsView:
    uai: str
    school_name: str
    acknowledgements: int
    authorisations: int
    activation_codes: int
    updated_at: datetime | None  # None: nothing recorded yet
    updated_by: str | None


def parse_count(field: str, raw: object) -> int:
    """A count typed by someone: a whole number from 0 to MAX_COUNT, or a French message saying what is wrong."""
    label = COUNTS.get(field, field)
    if isinstance(raw, bool):
        raise InvalidValue(label, raw, "un nombre entier est attendu.")
    if isinstance(raw, int):
        number = raw
    else:
        text = str(raw).strip().replace("\u202f", "").replace(" ", "")
        if not text.lstrip("-").isdigit():
            raise InvalidValue(label, raw, "un nombre entier est attendu (ex. 24), sans virgule ni lettre.")
        number = int(text)
    if number < 0:
        raise InvalidValue(label, raw, "un nombre ne peut pas être négatif.", hint="indiquez 0 si rien n'est revenu.")
    if number > MAX_COUNT:
        raise InvalidValue(label, raw, f"plus de {MAX_COUNT} : vérifiez la saisie.")
    return number


def record_reasons(actor: Actor, school: School) -> list[str]:
    """Who may record a school's counts: its director, the CPD of its département, an administrator."""
    if actor.role == "admin":
        return []
    if actor.role == "director" and actor.scope == school.uai:
        return []
    if actor.role == "cpd" and actor.scope == school.departement_code:
        return []
    return [f"seuls la direction de l'école {school.uai}, le CPD du département {school.departement_code} ou un "
            "administrateur enregistrent les formulaires rendus."]


def view_of(school: School, row: ReturnedForms | None) -> ReturnedFormsView:
    if row is None:
        return ReturnedFormsView(school.uai, school.name, 0, 0, 0, None, None)
    return ReturnedFormsView(school.uai, school.name, row.acknowledgements, row.authorisations, row.activation_codes,
                             as_utc(row.updated_at), row.updated_by)


def apply_counts(session: Session, school: School, counts: dict[str, int], actor: Actor,
                 now: datetime) -> tuple[ReturnedFormsView, dict[str, list[int]]]:
    """Write the given counts (the others keep their value); returns the new view and what changed (old, new)."""
    row = session.get(ReturnedForms, school.uai, with_for_update=True)
    if row is None:
        row = ReturnedForms(uai=school.uai, updated_by=actor.id, updated_at=now)
    changes = {}
    for field, number in counts.items():
        before = int(getattr(row, field) or 0)
        if before != number:
            changes[field] = [before, number]
        setattr(row, field, number)
    row.updated_at, row.updated_by = now, actor.id
    session.add(row)
    session.flush()
    return view_of(school, row), changes
