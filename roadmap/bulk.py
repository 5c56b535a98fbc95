"""Recording the same fact for many schools (a commune's, an intercommunal project's, a filter's): each school goes
through the service one by one — its permissions, guards and history apply — and the summary says, school by
school, what was done and what was refused and why. One school's refusal never stops the others."""

from __future__ import annotations

from dataclasses import dataclass

from roadmap.errors import RoadmapError
from roadmap.service import Roadmap
from workflows import Actor
from workflows.errors import WorkflowError

MAX_SCHOOLS = 500


@dataclass(frozen=True, slots=True)
class BulkItem:
    step: str
    step_label: str
    id: str
    label: str
    type: str
    choices: list[str]


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    uai: str
    done: bool
    message: str  # what was recorded, or every reason for the refusal


@dataclass(frozen=True, slots=True)
class BulkReport:
    outcomes: list[BulkOutcome]

    @property
    def done(self) -> int:
        return sum(1 for o in self.outcomes if o.done)

    @property
    def refused(self) -> int:
        return len(self.outcomes) - self.done


def bulk_items(roadmap: Roadmap, role: str) -> list[BulkItem]:
    """The checklist items of the national roadmap a role fills (files excepted: one per school)."""
    definition = roadmap.definition("national")
    return [
        BulkItem(step.id, step.label, item.id, item.label, item.type, list(item.choices))
        for step in definition.steps
        if role == "admin" or role in step.roles
        for item in step.checklist
        if item.type != "file"
    ]


def apply_bulk(roadmap: Roadmap, uais: list[str], viewer: Actor, *, item: str | None = None,
               value: str | None = None, event: str | None = None, note: str | None = None) -> BulkReport:
    """For each school: set `item` to `value` (if given), then fire `event` (if given), as `viewer`."""
    if not item and not event:
        raise RoadmapError("Rien à enregistrer.\n  → choisissez un élément à renseigner et/ou une action.")
    if len(uais) > MAX_SCHOOLS:
        raise RoadmapError(f"Trop d'écoles à la fois ({len(uais)}, {MAX_SCHOOLS} au plus).\n"
                           "  → resserrez le filtre (circonscription, commune, étape).")
    outcomes = []
    for raw in dict.fromkeys(uais):
        try:
            uai = roadmap.visible_school(raw, viewer)
            said = []
            if item:
                roadmap.check(uai, item, value or None, viewer.id)
                said.append("élément renseigné")
            if event:
                record = roadmap.fire(uai, event, viewer.id, note=note or None)
                said.append(f"action effectuée ({record.source} → {record.target})")
            outcomes.append(BulkOutcome(uai, True, ", ".join(said)))
        except (RoadmapError, WorkflowError) as error:
            outcomes.append(BulkOutcome(raw, False, str(error)))
    return BulkReport(outcomes)
