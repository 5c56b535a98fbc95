""""To do": what waits on the viewer — decisions their role takes on schools of their scope (an IEN's approvals, the
DANE's validation of a first table, the CPD's routing), and for a director what their school still misses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select as columns_of
from sqlmodel import col

from notifications.calendar import calendar_for
from roadmap.board import _applies, _watching
from roadmap.links import batch_only, decisions_for
from roadmap.models import School
from roadmap.reminders import first_tables_validated
from roadmap.service import Roadmap, in_scope
from roadmap.views import calendars_by_departement, school_detail
from workflows import Actor
from workflows.models import WorkflowInstance, as_utc

LIMIT = 500


@dataclass(frozen=True, slots=True)
class InboxItem:
    uai: str
    school: str
    commune: str
    kind: str  # "decision": the viewer decides; "missing": an item of the current step; "owed": due from before
    title: str
    since: datetime
    working_days: int
    actions: list[str] = field(default_factory=list)  # event labels the viewer may choose among
    on_table: bool = False  # decided for the département's whole table (/transmissions), not on the school


@dataclass(frozen=True, slots=True)
class Inbox:
    items: list[InboxItem]
    total: int  # decisions waiting (items are the oldest LIMIT of them)


def inbox_view(roadmap: Roadmap, viewer: Actor) -> Inbox:
    if viewer.role == "director":
        return _director(roadmap, viewer)
    watching = _watching(roadmap)
    wanted: dict[tuple[str, str], list[str]] = {}
    on_table: set[tuple[str, str]] = set()
    for definition in roadmap.definitions.values():
        for state, spec in definition.states.items():
            step = definition.step_of(state)
            if step is None or state == step.id or not spec.waiting_for:
                continue  # only the waiting sub-states are decisions (a step itself is the school's own work)
            events = decisions_for(definition, state, viewer.role)
            if events:
                wanted[(definition.id, state)] = [definition.event_label(e) for e in events]
                if all(batch_only(definition, state, event) for event in events):
                    on_table.add((definition.id, state))
    if not wanted:
        return Inbox([], 0)
    states = sorted({state for _, state in wanted})
    query = (
        columns_of(col(School.uai), col(School.name), col(School.commune), col(School.departement_code),
                   col(WorkflowInstance.definition_id), col(WorkflowInstance.state), col(WorkflowInstance.entered_at))
        .join(WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai))
        .where(in_scope(viewer), col(WorkflowInstance.state).in_(states))
        .order_by(col(WorkflowInstance.entered_at), col(School.uai))
    )
    items: list[InboxItem] = []
    now = roadmap.engine.clock()
    total = 0
    with roadmap.session() as session:
        validated = first_tables_validated(session)
        calendars = calendars_by_departement(session)
        for uai, name, commune, dep, definition_id, state, entered_at in session.execute(query):
            labels = wanted.get((definition_id, state))
            if not labels:
                continue
            # A state some of whose decisions only apply under a condition (the DANE validates a département's
            # first table only): the reminder policy names the condition, for the role it reminds.
            rules = [r for r in watching.get((definition_id, state), []) if viewer.role in r.remind]
            if rules and not any(_applies(r, dep in validated) for r in rules):
                continue
            total += 1
            if len(items) >= LIMIT:
                continue
            definition = roadmap.engine.definition(definition_id)
            days = calendars.get(dep, calendar_for(None)).working_days_between(entered_at, now)
            items.append(InboxItem(uai, name, commune, "decision", definition.state_label(state), as_utc(entered_at),
                                   days, labels, (definition_id, state) in on_table))
    return Inbox(items, total)


def _director(roadmap: Roadmap, viewer: Actor) -> Inbox:
    detail = school_detail(roadmap, viewer.scope, viewer)
    items = [
        InboxItem(detail.uai, detail.name, detail.address.commune, "missing", line.label, detail.entered_at,
                  detail.working_days)
        for line in detail.checklist if line.required and not line.done
    ]
    items += [
        InboxItem(detail.uai, detail.name, detail.address.commune, "owed", f"{owed.label} ({owed.step_label})",
                  detail.entered_at, detail.working_days)
        for owed in detail.owed
    ]
    return Inbox(items, len(items))
