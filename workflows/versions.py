"""Definition versions: which versions are installed, and moving instances in flight to a new one.

A definition's content is fingerprinted; the database records every installed (id, version, fingerprint)
with a snapshot of what later versions are compared against (states, required items per step). A new
version is refused while it would strand instances: a state in use that disappears without a mapping
(`[upgrade] states`), or required items added to a step some instances have already passed (unless
`[upgrade] passed_items = "exempt"`). A changed definition whose version was not bumped is refused.
Installing moves instances to the new version in one transaction, one history row per instance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session, col, select

from workflows.definition import Definition
from workflows.errors import WorkflowError
from workflows.models import HistoryEntry, InstalledDefinition, WorkflowInstance

UPGRADE_EVENT = "upgrade"  # history rows written when an instance moves to a new definition version
Status = Literal["new", "unchanged", "upgrade", "refused"]
# Item keys added to the format after definitions were installed, with their default: an item that leaves one at
# its default has the fingerprint it had before the key existed (installed definitions stay identical).
ITEM_KEYS_ADDED: dict[str, Any] = {"editable_after": False}


def fingerprint(definition: Definition) -> str:
    """sha256 of what the definition says (not where it was read from, nor how to upgrade to it)."""
    content = dataclasses.asdict(definition)
    for key in ("source", "upgrade"):
        content.pop(key, None)
    for step in content["steps"]:  # keys added to the format since, left at their default, change nothing
        for item in step["checklist"]:
            for key, default in ITEM_KEYS_ADDED.items():
                if item.get(key) == default:
                    del item[key]
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def snapshot(definition: Definition) -> dict[str, Any]:
    """What a later version is compared against: the states, and the required items of each step in order."""
    return {
        "states": list(definition.states),
        "steps": [
            {"id": step.id, "required": [item.id for item in step.checklist if item.required]}
            for step in definition.steps
        ],
    }


@dataclass(frozen=True)
class VersionProblem:
    message: str  # French, complete
    subjects: tuple[str, ...] = ()  # the instances' subjects it concerns


@dataclass(frozen=True)
class InstanceMove:
    instance_id: int
    subject: str
    source: str
    target: str
    held_from: str | None


@dataclass
class VersionChange:
    """What installing one definition would do to the database."""

    definition_id: str
    installed: int | None  # the installed version, None if never installed
    version: int
    status: Status
    problems: list[VersionProblem] = field(default_factory=list)
    moves: list[InstanceMove] = field(default_factory=list)


class DefinitionVersionRefused(WorkflowError):
    def __init__(self, changes: Sequence[VersionChange]) -> None:
        self.changes = list(changes)
        lines = ["Les définitions ne peuvent pas être installées :"]
        for change in self.changes:
            for problem in change.problems:
                lines.append(f"  - « {change.definition_id} » : {problem.message}")
                if problem.subjects:
                    lines.append(f"    concernés ({len(problem.subjects)}) : " + ", ".join(problem.subjects))
        super().__init__("\n".join(lines))


def installed_versions(session: Session) -> dict[str, InstalledDefinition]:
    """The latest installed version of each definition."""
    latest: dict[str, InstalledDefinition] = {}
    for row in session.exec(select(InstalledDefinition).order_by(col(InstalledDefinition.version))):
        latest[row.definition_id] = row
    return latest


def not_installed(session: Session, definitions: Mapping[str, Definition]) -> list[str]:
    """Definitions whose version or content on disk is not the installed one (cheap: one query)."""
    latest = installed_versions(session)
    return [
        definition_id
        for definition_id, definition in definitions.items()
        if definition_id not in latest
        or latest[definition_id].version != definition.version
        or latest[definition_id].fingerprint != fingerprint(definition)
    ]


def plan(session: Session, definitions: Mapping[str, Definition]) -> list[VersionChange]:
    """What installing these definitions would change, and every reason it cannot, before anything changes."""
    latest = installed_versions(session)
    return [_change(session, definition, latest.get(definition.id)) for definition in definitions.values()]


def _change(session: Session, definition: Definition, installed: InstalledDefinition | None) -> VersionChange:
    change = VersionChange(definition.id, installed.version if installed else None, definition.version, "new")
    instances = list(
        session.exec(
            select(WorkflowInstance)
            .where(WorkflowInstance.definition_id == definition.id)
            .order_by(col(WorkflowInstance.subject))
        )
    )
    if installed is None:
        if instances:  # instances from before versions were recorded: they follow this version from now on
            change.moves = [
                _stay(instance) for instance in instances if instance.definition_version != definition.version
            ]
        return change
    if installed.version == definition.version:
        change.status = "unchanged"
        if installed.fingerprint != fingerprint(definition):
            change.problems.append(
                VersionProblem(
                    f"le contenu a changé mais la version est restée {definition.version} : "
                    f"passez « version » à {definition.version + 1} (et décrivez le passage dans [upgrade] si besoin)."
                )
            )
        return change
    if installed.version > definition.version:
        change.problems.append(
            VersionProblem(
                f"la version {installed.version} est déjà installée ; le fichier déclare la version "
                f"{definition.version}, plus ancienne : on ne revient pas en arrière."
            )
        )
        return change
    change.status = "upgrade"
    change.problems += _missing_states(definition, instances)
    change.problems += _items_added_to_passed_steps(definition, installed.snapshot, instances)
    if not change.problems:
        change.moves = [_move(definition, instance) for instance in instances]
    return change


def _stay(instance: WorkflowInstance) -> InstanceMove:
    assert instance.id is not None
    return InstanceMove(instance.id, instance.subject, instance.state, instance.state, instance.held_from)


def _mapped(definition: Definition, state: str) -> str:
    return definition.upgrade.states.get(state, state)


def _move(definition: Definition, instance: WorkflowInstance) -> InstanceMove:
    assert instance.id is not None
    held_from = _mapped(definition, instance.held_from) if instance.held_from else None
    return InstanceMove(instance.id, instance.subject, instance.state, _mapped(definition, instance.state), held_from)


def _missing_states(definition: Definition, instances: Sequence[WorkflowInstance]) -> list[VersionProblem]:
    stranded: dict[str, list[str]] = {}
    for instance in instances:
        for state in (instance.state, instance.held_from):
            if state and _mapped(definition, state) not in definition.states:
                stranded.setdefault(state, []).append(instance.subject)
    return [
        VersionProblem(
            f"l'état « {state} » n'existe plus dans la version {definition.version} alors que des instances "
            f'y sont (ou y reviendront) ; déclarez où elles vont : [upgrade] states = {{ "{state}" = "…" }}.',
            tuple(dict.fromkeys(subjects)),
        )
        for state, subjects in stranded.items()
    ]


def _items_added_to_passed_steps(
    definition: Definition, old: Mapping[str, Any], instances: Sequence[WorkflowInstance]
) -> list[VersionProblem]:
    if definition.upgrade.passed_items == "exempt":
        return []
    before = {step["id"]: set(step["required"]) for step in old.get("steps", [])}
    order = [step.id for step in definition.steps]
    problems = []
    for index, step in enumerate(definition.steps):
        added = [item.id for item in step.checklist if item.required and item.id not in before.get(step.id, set())]
        if not added:
            continue
        passed = [instance.subject for instance in instances if _passed(definition, instance, order, index)]
        if passed:
            problems.append(
                VersionProblem(
                    f"l'étape « {step.id} » gagne des éléments obligatoires ({', '.join(added)}) que des instances "
                    'ont déjà dépassée ; déclarez [upgrade] passed_items = "exempt" (elles en sont dispensées) '
                    "ou rendez ces éléments facultatifs.",
                    tuple(passed),
                )
            )
    return problems


def _passed(definition: Definition, instance: WorkflowInstance, order: Sequence[str], index: int) -> bool:
    """Whether the instance is past the step at `index` (a final state after steps counts as past them all)."""
    held_from = _mapped(definition, instance.held_from) if instance.held_from else None
    return order[index] in definition.steps_left(_mapped(definition, instance.state), held_from)


def install(
    session: Session, definitions: Mapping[str, Definition], *, actor: str, role: str, now: datetime
) -> list[VersionChange]:
    """Record the definitions' versions and move instances in flight, in the caller's transaction."""
    changes = plan(session, definitions)
    refused = [change for change in changes if change.problems]
    if refused:
        for change in refused:
            change.status = "refused"
        raise DefinitionVersionRefused(refused)
    for change in changes:
        if change.status == "unchanged":
            continue
        definition = definitions[change.definition_id]
        session.add(
            InstalledDefinition(
                definition_id=definition.id,
                version=definition.version,
                fingerprint=fingerprint(definition),
                snapshot=snapshot(definition),
                installed_at=now,
                installed_by=actor,
            )
        )
        for move in change.moves:
            _apply(session, definition, move, change.installed, actor=actor, role=role, now=now)
    session.flush()
    return changes


def _apply(
    session: Session,
    definition: Definition,
    move: InstanceMove,
    installed: int | None,
    *,
    actor: str,
    role: str,
    now: datetime,
) -> None:
    instance = session.get(WorkflowInstance, move.instance_id)
    assert instance is not None
    previous = instance.definition_version
    instance.definition_version = definition.version
    instance.held_from = move.held_from
    instance.version += 1  # concurrent writers working on the old version conflict
    instance.updated_at = now
    if move.target != instance.state:
        instance.state = move.target
        instance.entered_at = now
    session.add(instance)
    session.add(
        HistoryEntry(
            instance_id=move.instance_id,
            at=now,
            actor=actor,
            role=role,
            event=UPGRADE_EVENT,
            source=move.source,
            target=move.target,
            note=f"passage à la version {definition.version} de la définition « {definition.id} »",
            data={"from_version": installed if installed is not None else previous, "to_version": definition.version},
        )
    )
