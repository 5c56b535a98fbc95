"""A school as its page shows it to one person: the detail every interface shares, plus what this person may do
(events of their role, with what still blocks each; checklist items they may fill), the roadmap's steps with the
current one marked, and the reminders pending for the school."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_
from sqlalchemy import select as columns_of
from sqlmodel import col

from notifications.models import PENDING, OutboxMessage
from roadmap.board import _applies, _next_due_day, _watching
from roadmap.documents import DOCUMENTS, DocumentKind, MissingFact, document_facts
from roadmap.family_facts import GUARD, FactItems
from roadmap.forms import RECORDERS, ReturnedFormsView
from roadmap.links import batch_only
from roadmap.reminders import _place as school_place
from roadmap.reminders import calendar_of, first_tables_validated
from roadmap.service import Roadmap
from roadmap.transmission import TABLE_READERS, BatchLine
from roadmap.views import SchoolDetail, school_detail
from workflows import Actor
from workflows.definition import ANY_STATE
from workflows.models import as_utc

ADMIN = "admin"
TRACK_FINALS = ("deployed",)


@dataclass(frozen=True, slots=True)
class ActionView:
    event: str
    label: str
    possible: bool  # the data allows it now (the role is the viewer's)
    blockers: list[str]
    note_required: bool


@dataclass(frozen=True, slots=True)
class TrackStep:
    id: str
    number: int
    label: str
    status: str  # "done", "current", "todo"


@dataclass(frozen=True, slots=True)
class PendingMail:
    recipient: str
    subject: str
    kind: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class SchoolPage:
    detail: SchoolDetail
    actions: list[ActionView]
    editable: bool  # the viewer may fill the checklist shown
    track: list[TrackStep]
    pending_mail: list[PendingMail]
    next_reminder: date | None
    documents: tuple[DocumentKind, ...] = DOCUMENTS  # the family documents, downloadable as PDF
    missing_facts: tuple[MissingFact, ...] = ()  # while any is missing, only drafts can be downloaded
    returned_forms: ReturnedFormsView | None = None
    may_record_forms: bool = False
    # Items of steps already left that stay editable (detail.living): those the viewer may change, and those that
    # are the family documents' facts (shown with the documents; any other living item with the checklist).
    living_editable: tuple[str, ...] = ()  # "step.item"
    living_facts: tuple[str, ...] = ()
    tables: tuple[BatchLine, ...] = ()  # the account tables the school travelled in
    may_open_tables: bool = False  # the viewer's role reads /transmissions/<id>


def school_page(roadmap: Roadmap, uai: str, viewer: Actor) -> SchoolPage:
    detail = school_detail(roadmap, uai, viewer)  # out of the viewer's scope: NotFound, like an unknown school
    definition = roadmap.definition(detail.definition)
    actions: list[ActionView] = []
    offered = {t.event for t in definition.transitions
               if (t.source in (detail.state, ANY_STATE) or (detail.held_from and t.source == detail.held_from))
               and (viewer.role == ADMIN or viewer.role in t.roles)
               and not batch_only(definition, detail.state, t.event)}  # a table's moves: on /transmissions
    for event in [*detail.allowed_events, *detail.blockers]:
        if event in offered and event not in {a.event for a in actions}:
            note = any(t.note_required for t in definition.transitions if t.event == event
                       and t.source in (detail.state, ANY_STATE))
            actions.append(ActionView(event, detail.event_labels.get(event, event), event in detail.allowed_events,
                                      detail.blockers.get(event, []), note))
    step = definition.step(detail.step)
    editable = step is not None and detail.state == step.id and (viewer.role == ADMIN or viewer.role in step.roles)
    order = [s.id for s in definition.steps]
    current = order.index(detail.step) if detail.step in order else (len(order) if detail.state in TRACK_FINALS
                                                                     else -1)
    track = [TrackStep(s.id, i + 1, s.label, "done" if i < current else "current" if i == current else "todo")
             for i, s in enumerate(definition.steps)]
    with roadmap.session() as session:
        pending = [
            PendingMail(recipient, subject, kind, as_utc(due_at))
            for recipient, subject, kind, due_at in session.execute(
                columns_of(col(OutboxMessage.recipient), col(OutboxMessage.subject), col(OutboxMessage.kind),
                           col(OutboxMessage.due_at))
                .where(col(OutboxMessage.status) == PENDING,
                       or_(col(OutboxMessage.key).startswith(f"reminder:{detail.uai}:"),
                           col(OutboxMessage.key).startswith(f"event:{detail.uai}:")))
                .order_by(col(OutboxMessage.due_at))
                .limit(50)
            )
        ]
        validated = first_tables_validated(session)
        found = school_place(session, detail.uai)
    next_reminder: date | None = None
    if found is not None:
        place = found[0]
        rules = [r for r in _watching(roadmap).get((detail.definition, detail.state), [])
                 if _applies(r, place.departement in validated)]
        days = [d for r in rules if (d := _next_due_day(r, detail.working_days)) is not None]
        if days:
            next_reminder = calendar_of(place).add_working_days(detail.entered_at, min(days))
    facts = document_facts(roadmap, detail.uai, viewer)
    returned = roadmap.returned_forms(detail.uai, viewer)
    may_record = viewer.role in RECORDERS  # and the school is in their scope: they see it
    living_editable = tuple(living.key for living in detail.living
                            if viewer.role == ADMIN or viewer.role in living.roles)
    fact_refs = FactItems.of(definition) if GUARD in definition.guard_params else None
    living_facts = tuple(f"{step}.{item}" for step, item in
                         ((fact_refs.ent, fact_refs.address, fact_refs.year) if fact_refs else ()))
    tables = tuple(roadmap.transmissions.of_school(detail.uai))
    return SchoolPage(detail, actions, editable, track, pending, next_reminder, DOCUMENTS, facts.missing, returned,
                      may_record, living_editable, living_facts, tables, viewer.role in TABLE_READERS)
