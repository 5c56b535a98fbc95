"""Typed views: what every interface shows (CLI text and JSON today, web pages and API next). Each view is a frozen
dataclass built here once, from SQL that reads only the columns it needs and aggregates in the database; the
interfaces render them (`roadmap.jsonview.jsonable` for JSON) and never compute them again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import select as columns_of
from sqlmodel import Session, col, func, select

from notifications.calendar import BusinessCalendar, calendar_for
from notifications.models import OutboxMessage, SinkAttachment, SinkMessage
from notifications.policies import EventRule, ReminderRule
from roadmap.directory import ImportReport, short_circonscription_name
from roadmap.errors import InvalidValue, NotFound
from roadmap.french import french_datetime
from roadmap.jsonview import iso_utc
from roadmap.models import (
    Academie,
    AuditEntry,
    Circonscription,
    DepartedPerson,
    Departement,
    Person,
    ReturnedForms,
    School,
)
from roadmap.reminders import ZONES
from roadmap.service import NATIONAL, OPERATOR, Roadmap, in_scope, people_in_scope
from roadmap.signin import SIGN_IN_KIND
from roadmap.uai import normalize_uai
from workflows import Actor
from workflows.checklist import ChecklistItem
from workflows.definition import Definition
from workflows.models import RefusedAttempt, WorkflowInstance

__all__ = ["french_datetime", "iso_utc"]


# ------------------------------------------------------------------------------------------------ states and steps


@dataclass(frozen=True, slots=True)
class StatePlace:
    """Where a state sits on the roadmap: its step (holds and finals stand for themselves) and labels."""

    step: str
    step_label: str
    state_label: str
    waiting_for: str  # empty unless the state waits on someone's decision


def state_places(roadmap: Roadmap) -> dict[tuple[str, str], StatePlace]:
    """(definition id, state id) -> place, for every definition: computed once, used for thousands of rows."""
    places: dict[tuple[str, str], StatePlace] = {}
    for definition in roadmap.definitions.values():
        for state in definition.states.values():
            step = definition.step_of(state.id)
            places[(definition.id, state.id)] = StatePlace(
                step=step.id if step else state.id,
                step_label=step.label if step else state.label,
                state_label=state.label,
                waiting_for=state.waiting_for if step and state.id != step.id else "",
            )
    return places


def _place(places: dict[tuple[str, str], StatePlace], definition_id: str, state: str) -> StatePlace:
    return places.get((definition_id, state)) or StatePlace(state, state, state, "")


def _states_of_step(roadmap: Roadmap, step: str) -> list[str]:
    """The states a `--step` filter selects (a step id, or a state id), across definitions."""
    places = state_places(roadmap)
    states = sorted({state for (_, state), place in places.items() if step in (place.step, state)})
    if not states:
        national = roadmap.definitions[NATIONAL]
        raise InvalidValue(
            "étape",
            step,
            "étape inconnue.",
            hint="étapes : " + ", ".join(s.id for s in national.steps) + ", deployed, suspended, abandoned",
        )
    return states


# ------------------------------------------------------------------------------------------------ school lists


@dataclass(frozen=True, slots=True)
class SchoolSummary:
    uai: str
    name: str
    commune: str
    sector: str
    circonscription: str | None
    departement: str
    step: str
    step_label: str
    state: str
    state_label: str
    updated_at: datetime
    entered_at: datetime  # when it entered its current state
    working_days: int  # working days in the current state, on the school's calendar


def calendars_by_departement(session: Session) -> dict[str, BusinessCalendar]:
    """Each département's business calendar (its académie's holiday zone; Alsace-Moselle by code)."""
    query = columns_of(col(Departement.code), col(Academie.holiday_zone)).outerjoin(
        Academie, col(Academie.code) == col(Departement.academie_code)
    )
    return {code: calendar_for(zone if zone in ZONES else None, code) for code, zone in session.execute(query)}


def school_filters(
    roadmap: Roadmap,
    viewer: Actor,
    *,
    step: str | None = None,
    circonscription: str | None = None,
    departement: str | None = None,
) -> list[ColumnElement[bool]]:
    """SQL conditions on School ⋈ WorkflowInstance: the viewer's scope, then the filters (which only narrow it)."""
    conditions = [in_scope(viewer)]
    if circonscription:
        conditions.append(col(School.circonscription_uai) == normalize_uai(circonscription))
    if departement:
        conditions.append(col(School.departement_code) == departement.zfill(3))
    if step:
        conditions.append(col(WorkflowInstance.state).in_(_states_of_step(roadmap, step)))
    return conditions


def school_summaries(
    roadmap: Roadmap,
    viewer: Actor = OPERATOR,
    *,
    step: str | None = None,
    circonscription: str | None = None,
    departement: str | None = None,
    batch: int = 2000,
) -> Iterator[SchoolSummary]:
    """The schools the viewer may see, ordered by UAI, streamed in batches (bounded memory at national scale)."""
    conditions = school_filters(roadmap, viewer, step=step, circonscription=circonscription, departement=departement)
    places = state_places(roadmap)
    query = (
        columns_of(
            col(School.uai),
            col(School.name),
            col(School.commune),
            col(School.sector),
            col(School.circonscription_uai),
            col(School.departement_code),
            col(WorkflowInstance.definition_id),
            col(WorkflowInstance.state),
            col(WorkflowInstance.updated_at),
            col(WorkflowInstance.entered_at),
        )
        .join(WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai))
        .where(*conditions)
        .order_by(col(School.uai))
        .execution_options(yield_per=batch)
    )
    now = roadmap.engine.clock()
    with roadmap.session() as session:
        calendars = calendars_by_departement(session)
        default = calendar_for(None)
        rows = session.execute(query)
        for uai, name, commune, sector, circo, dep, definition_id, state, updated_at, entered_at in rows:
            place = _place(places, definition_id, state)
            yield SchoolSummary(
                uai=uai,
                name=name,
                commune=commune,
                sector=sector,
                circonscription=circo,
                departement=dep,
                step=place.step,
                step_label=place.step_label,
                state=state,
                state_label=place.state_label,
                updated_at=updated_at,
                entered_at=entered_at,
                working_days=calendars.get(dep, default).working_days_between(entered_at, now),
            )


# ------------------------------------------------------------------------------------------------ one school


@dataclass(frozen=True, slots=True)
class Address:
    street: str
    locality: str
    postal_code: str
    commune: str


@dataclass(frozen=True, slots=True)
class ChecklistLine:
    id: str
    label: str
    type: str
    required: bool
    choices: list[str]
    value: Any
    value_text: str  # the value as people read it (French dates, oui/non, file name)
    done: bool


@dataclass(frozen=True, slots=True)
class HistoryLine:
    at: datetime
    actor: str
    role: str
    event: str
    event_label: str
    source: str | None
    target: str
    note: str | None
    data: dict[str, Any] | None
    summary: str  # what happened, in French


@dataclass(frozen=True, slots=True)
class OwedItem:
    step: str
    step_label: str
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class LivingLine:
    """An item of a step already left that stays editable (`editable_after`): a living fact, such as the school
    year of the documents for families."""

    step: str
    step_label: str
    roles: list[str]  # who may change it: the step's roles (and the administration)
    line: ChecklistLine

    @property
    def key(self) -> str:
        """"step.item", as the definition names it."""
        return f"{self.step}.{self.line.id}"


@dataclass(frozen=True, slots=True)
class CirconscriptionRef:
    uai: str
    name: str
    email: str | None


@dataclass(frozen=True, slots=True)
class DepartementRef:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class AcademieRef:
    code: str
    name: str
    holiday_zone: str | None


@dataclass(frozen=True, slots=True)
class SchoolDetail:
    uai: str
    name: str
    sector: str
    address: Address
    phone: str
    email: str
    definition: str
    definition_label: str
    step: str
    step_label: str
    step_number: int | None
    steps_total: int
    state: str
    state_label: str
    held_from: str | None
    version: int
    entered_at: datetime  # when it entered its current state
    working_days: int  # working days since, on the school's calendar
    checklist: list[ChecklistLine]
    circonscription: CirconscriptionRef | None
    departement: DepartementRef | None
    academie: AcademieRef | None
    history: list[HistoryLine]
    allowed_events: list[str]
    event_labels: dict[str, str]  # French label of every event named in allowed_events and blockers
    blockers: dict[str, list[str]]  # event -> what the data still misses for it
    owed: list[OwedItem]  # deferred by a step already left (e.g. a late council): still to be filed
    living: list[LivingLine]  # items of steps already left that may still be changed (editable_after)


def _history_summary(definition: Definition, event_label: str, source: str | None, target: str,
                     data: dict[str, Any] | None) -> str:
    if data and "item" in data:
        step = definition.step(data["step"])
        item = step.item(data["item"]) if step else None
        label = item.label if item else data["item"]
        value = item.display(data["value"]) if item else str(data["value"])
        return f"« {label} » : {value}" if data["value"] is not None else f"« {label} » effacé"
    def said(state: str) -> str:
        known = definition.states.get(state)
        return f"« {known.label} »" if known else state

    moved = f"{said(source)} → {said(target)}" if source else said(target)
    summary = f"{event_label} : {moved}"
    if data and data.get("deferred"):
        summary += " — différé : " + ", ".join(data["deferred"])
    return summary


def school_detail(roadmap: Roadmap, uai: str, viewer: Actor = OPERATOR) -> SchoolDetail:
    uai = roadmap.visible_school(uai, viewer)
    engine = roadmap.engine
    with roadmap.session() as session:
        school = session.get(School, uai)
        assert school is not None
        instance = roadmap.instance(session, uai)
        definition = engine.definition(instance.definition_id)
        ctx = engine.context(session, instance)
        allowed = engine.allowed_events(session, instance, ctx)
        blockers = engine.all_blockers(session, instance, ctx)
        history = engine.history(session, instance)
        circonscription, departement, academie = _territory(session, school)
        owed = engine.owed_items(instance, ctx.values)
        zone = academie.holiday_zone if academie and academie.holiday_zone in ZONES else None
        working_days = calendar_for(zone, school.departement_code).working_days_between(
            instance.entered_at, engine.clock()
        )
    # The checklist shown is the current step's, or the held step's while suspended.
    step = definition.step_of(instance.state) or (
        definition.step_of(instance.held_from) if instance.held_from else None
    )
    checklist = [_line(item, ctx.values.get((step.id, item.id))) for item in step.checklist] if step else []
    living = [LivingLine(s.id, s.label, list(s.roles), _line(item, ctx.values.get((s.id, item.id))))
              for s, item in engine.living_items(instance)]
    step_id = roadmap.step_id(instance)
    position = next((i for i, s in enumerate(definition.steps) if s.id == (step.id if step else "")), None)
    lines = []
    for entry in history:
        label = engine.event_label(definition, entry.event)
        lines.append(
            HistoryLine(entry.at, entry.actor, entry.role, entry.event, label, entry.source,
                        entry.target, entry.note, entry.data,
                        _history_summary(definition, label, entry.source, entry.target, entry.data))
        )
    return SchoolDetail(
        uai=school.uai,
        name=school.name,
        sector=school.sector,
        address=Address(school.street, school.locality, school.postal_code, school.commune),
        phone=school.phone,
        email=school.email,
        definition=definition.id,
        definition_label=definition.label,
        step=step_id,
        step_label=step.label if step and step_id == step.id else definition.state_label(step_id),
        step_number=position + 1 if position is not None else None,
        steps_total=len(definition.steps),
        state=instance.state,
        state_label=definition.state_label(instance.state),
        held_from=instance.held_from,
        version=instance.version,
        entered_at=instance.entered_at,
        working_days=working_days,
        checklist=checklist,
        circonscription=circonscription,
        departement=departement,
        academie=academie,
        history=lines,
        allowed_events=allowed,
        event_labels={event: engine.event_label(definition, event) for event in [*allowed, *blockers]},
        blockers=blockers,
        owed=[OwedItem(s.id, s.label, item.id, item.label) for s, item in owed],
        living=living,
    )


def _line(item: ChecklistItem, value: Any) -> ChecklistLine:
    return ChecklistLine(item.id, item.label, item.type, item.required, list(item.choices), value,
                         item.display(value), item.is_done(value))


def _territory(
    session: Session, school: School
) -> tuple[CirconscriptionRef | None, DepartementRef | None, AcademieRef | None]:
    circonscription = session.get(Circonscription, school.circonscription_uai) if school.circonscription_uai else None
    departement = session.get(Departement, school.departement_code)
    academie = session.get(Academie, departement.academie_code) if departement else None
    return (
        CirconscriptionRef(circonscription.uai, circonscription.name, circonscription.email)
        if circonscription
        else None,
        DepartementRef(departement.code, departement.name) if departement else None,
        AcademieRef(academie.code, academie.name, academie.holiday_zone) if academie else None,
    )


@dataclass(frozen=True, slots=True)
class RefusalLine:
    at: datetime
    actor: str
    role: str
    event: str
    state: str | None
    reasons: list[str]


def refusal_lines(roadmap: Roadmap, uai: str, viewer: Actor = OPERATOR) -> list[RefusalLine]:
    refusals = roadmap.refusals(uai, viewer)
    return [_refusal(r) for r in refusals]


def _refusal(r: RefusedAttempt) -> RefusalLine:
    return RefusalLine(r.at, r.actor, r.role, r.event, r.state, list(r.reasons))


# ------------------------------------------------------------------------------------------------ dashboard

STEP_SHORT = {"deployed": "OK", "suspended": "Sus", "abandoned": "Ab"}


@dataclass(frozen=True, slots=True)
class DashboardColumn:
    id: str
    short: str
    label: str


@dataclass(frozen=True, slots=True)
class DashboardRow:
    uai: str | None
    name: str
    counts: dict[str, int]
    total: int


@dataclass(frozen=True, slots=True)
class WaitingSchool:
    uai: str
    name: str
    state: str
    state_label: str
    waiting_for: str
    since: datetime  # when it entered the waiting state
    working_days: int  # how long, in working days of the school's calendar


@dataclass(frozen=True, slots=True)
class FormsTotal:
    """What came back from families, summed over a département's schools (counts only)."""

    departement: str
    schools_reporting: int  # schools that recorded something
    acknowledgements: int
    authorisations: int
    activation_codes: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    columns: list[DashboardColumn]
    rows: list[DashboardRow]
    totals: dict[str, int]
    schools: int
    waiting: list[WaitingSchool] = field(default_factory=list)
    returned_forms: list[FormsTotal] = field(default_factory=list)


def returned_forms_totals(roadmap: Roadmap, viewer: Actor = OPERATOR, departement: str | None = None
                          ) -> list[FormsTotal]:
    """Returned forms summed per département over the viewer's schools (one grouped query)."""
    query = (
        columns_of(
            col(School.departement_code),
            func.count(),
            func.sum(col(ReturnedForms.acknowledgements)),
            func.sum(col(ReturnedForms.authorisations)),
            func.sum(col(ReturnedForms.activation_codes)),
        )
        .select_from(ReturnedForms)
        .join(School, col(School.uai) == col(ReturnedForms.uai))
        .where(in_scope(viewer))
        .group_by(col(School.departement_code))
        .order_by(col(School.departement_code))
    )
    if departement:
        query = query.where(col(School.departement_code) == departement.zfill(3))
    with roadmap.session() as session:
        return [FormsTotal(dep, int(n), int(a or 0), int(b or 0), int(c or 0))
                for dep, n, a, b, c in session.execute(query)]


def dashboard_view(roadmap: Roadmap, departement: str | None = None, viewer: Actor = OPERATOR) -> Dashboard:
    """Counts of schools per step and circonscription (grouped in SQL), and the schools waiting for a decision."""
    national = roadmap.definitions[NATIONAL]
    column_ids = [step.id for step in national.steps] + ["deployed", "suspended", "abandoned"]
    columns = [
        DashboardColumn(c, STEP_SHORT.get(c, str(column_ids.index(c) + 1)), national.state_label(c))
        for c in column_ids
    ]
    places = state_places(roadmap)
    conditions = school_filters(roadmap, viewer, departement=departement)
    joined = col(WorkflowInstance.subject) == col(School.uai)
    counted = (
        select(School.circonscription_uai, WorkflowInstance.definition_id, WorkflowInstance.state, func.count())
        .join(WorkflowInstance, joined)
        .where(*conditions)
        .group_by(col(School.circonscription_uai), col(WorkflowInstance.definition_id), col(WorkflowInstance.state))
    )
    waiting_states = sorted({state for (_, state), place in places.items() if place.waiting_for})
    waiting_query = (
        columns_of(
            col(School.uai),
            col(School.name),
            col(School.departement_code),
            col(WorkflowInstance.definition_id),
            col(WorkflowInstance.state),
            col(WorkflowInstance.entered_at),
        )
        .join(WorkflowInstance, joined)
        .where(*conditions, col(WorkflowInstance.state).in_(waiting_states))
        .order_by(col(WorkflowInstance.entered_at), col(School.uai))
    )
    counts: dict[str | None, dict[str, int]] = {}
    totals: dict[str, int] = {}
    with roadmap.session() as session:
        for circo, definition_id, state, n in session.exec(counted):
            step = _place(places, definition_id, state).step
            row = counts.setdefault(circo, {})
            row[step] = row.get(step, 0) + n
            totals[step] = totals.get(step, 0) + n
        names = dict(
            session.exec(
                select(Circonscription.uai, Circonscription.name).where(
                    col(Circonscription.uai).in_([c for c in counts if c])
                )
            ).all()
        ) if counts else {}
        waiting = []
        calendars = calendars_by_departement(session)
        now = roadmap.engine.clock()
        for uai, name, dep, definition_id, state, entered_at in session.execute(waiting_query):
            place = _place(places, definition_id, state)
            days = calendars.get(dep, calendar_for(None)).working_days_between(entered_at, now)
            waiting.append(WaitingSchool(uai, name, state, place.state_label, place.waiting_for, entered_at, days))
    rows = [
        DashboardRow(
            circo,
            short_circonscription_name(names.get(circo, "sans circonscription") if circo else "sans circonscription"),
            row,
            sum(row.values()),
        )
        for circo, row in counts.items()
    ]
    rows.sort(key=lambda r: r.name)
    forms = returned_forms_totals(roadmap, viewer, departement)
    return Dashboard(columns, rows, totals, sum(totals.values()), waiting, forms)


# ------------------------------------------------------------------------------------------------ people, audit


@dataclass(frozen=True, slots=True)
class PersonLine:
    email: str
    name: str
    role: str
    scope: str
    source: str


def people_lines(roadmap: Roadmap, role: str | None = None, viewer: Actor = OPERATOR) -> list[PersonLine]:
    """The directory, or the part of it within `viewer`'s schools."""
    return [PersonLine(p.email, p.name, p.role, p.scope, p.source) for p in roadmap.people(role, viewer)]


@dataclass(frozen=True, slots=True)
class AuditLine:
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    details: dict[str, Any] | None


def audit_lines(roadmap: Roadmap, limit: int | None = None) -> list[AuditLine]:
    log = roadmap.audit_log(limit)
    return [_audit(e) for e in log]


def _audit(e: AuditEntry) -> AuditLine:
    return AuditLine(e.at, e.actor, e.role, e.action, e.target, e.details)


@dataclass(frozen=True, slots=True)
class ProcessingRecordLine:
    departement: str
    ent: str
    publisher: str
    file_name: str
    file_sha256: str
    received_on: date
    sent_to_dsden_on: date | None
    recorded_by: str
    recorded_at: datetime


def processing_record_lines(
    roadmap: Roadmap, viewer: Actor = OPERATOR, departement: str | None = None
) -> list[ProcessingRecordLine]:
    records = roadmap.processing_records(viewer, departement)
    return [
        ProcessingRecordLine(r.departement_code, r.ent_name, r.publisher, r.file_name, r.file_sha256, r.received_on,
                             r.sent_to_dsden_on, r.recorded_by, r.recorded_at)
        for r in records
    ]


@dataclass(frozen=True, slots=True)
class RegisterPage:
    """The register of processing records as a reader sees it: the départements of their scope, the records of
    the one shown, the ENTs a record may be given for there, and whether this reader may record one."""

    departements: tuple[tuple[str, str], ...]  # (code, name) readable by the viewer
    departement: str | None  # the one shown (None: the viewer's scope holds none)
    lines: tuple[ProcessingRecordLine, ...]
    ents: tuple[str, ...]
    may_record: bool


def register_page(roadmap: Roadmap, viewer: Actor, departement: str | None = None) -> RegisterPage:
    """Refused (AdministrationRefused) to a role that may not read registers, or for a département outside the
    viewer's scope; an unknown département is NotFound."""
    from roadmap.permissions import departement_reasons

    codes = roadmap.register_departements(viewer)
    shown = roadmap.register_departements(viewer, departement)[0] if departement else (codes[0] if codes else None)
    with roadmap.session() as session:
        names = dict(session.exec(select(Departement.code, Departement.name)
                                  .where(col(Departement.code).in_(codes))).all()) if codes else {}
        place = session.get(Departement, shown) if shown else None
        may_record = place is not None and not departement_reasons(session, viewer, place.code, write=True)
    ents = tuple(roadmap.ent_item(place)[0].choices) if place is not None else ()
    lines = tuple(processing_record_lines(roadmap, viewer, shown)) if shown else ()
    return RegisterPage(tuple((code, names.get(code, "")) for code in codes), shown, lines, ents, may_record)


@dataclass(frozen=True, slots=True)
class DepartureLine:
    pseudonym: str
    email: str | None
    name: str | None
    role: str
    scope: str
    reason: str
    left_at: datetime


def departure_lines(departures: list[DepartedPerson]) -> list[DepartureLine]:
    return [DepartureLine(d.pseudonym, d.email, d.name, d.role, d.scope, d.reason, d.left_at) for d in departures]



# ------------------------------------------------------------------------------------------------ definitions


@dataclass(frozen=True, slots=True)
class ItemView:
    id: str
    label: str
    type: str
    required: bool
    choices: list[str]
    editable_after: bool  # still changed once its step is left (a living fact)


@dataclass(frozen=True, slots=True)
class StepView:
    id: str
    label: str
    roles: list[str]
    optional: bool
    checklist: list[ItemView]


@dataclass(frozen=True, slots=True)
class StateView:
    id: str
    label: str
    step: str | None
    final: bool
    hold: bool


@dataclass(frozen=True, slots=True)
class TransitionView:
    event: str
    event_label: str
    source: str = field(metadata={"json": "from"})
    dest: str = field(metadata={"json": "to"})
    roles: list[str] = field(default_factory=list)
    guards: list[str] = field(default_factory=list)
    guard_descriptions: list[str] = field(default_factory=list)
    note_required: bool = False


@dataclass(frozen=True, slots=True)
class DefinitionView:
    id: str
    label: str
    version: int
    extends: str | None
    guards: dict[str, dict[str, Any]]
    applies_to: dict[str, list[str]]
    steps: list[StepView]
    states: list[StateView]
    transitions: list[TransitionView]
    reminders: list[ReminderRule]  # the reminder policy the definition follows (data/reminders)
    notifications: list[EventRule]


def definition_view(roadmap: Roadmap, definition_id: str) -> DefinitionView:
    definition = roadmap.definition(definition_id)
    return DefinitionView(
        id=definition.id,
        label=definition.label,
        version=definition.version,
        extends=definition.extends,
        guards={
            guard: {key: ".".join(v) if isinstance(v, tuple) else v for key, v in params.items()}
            for guard, params in definition.guard_params.items()
        },
        applies_to={k: list(v) for k, v in definition.applies_to.items()},
        steps=[
            StepView(s.id, s.label, list(s.roles), s.optional,
                     [ItemView(i.id, i.label, i.type, i.required, list(i.choices), i.editable_after)
                      for i in s.checklist])
            for s in definition.steps
        ],
        states=[StateView(s.id, s.label, s.step, s.final, s.hold) for s in definition.states.values()],
        transitions=[
            TransitionView(t.event, definition.event_label(t.event), t.source, t.dest, list(t.roles), list(t.guards),
                           [roadmap.guard_description(g) for g in t.guards], t.note_required)
            for t in definition.transitions
        ],
        reminders=list(policy.reminders) if (policy := roadmap.notifier.policies.get(definition.id)) else [],
        notifications=list(policy.events) if policy else [],
    )


# ------------------------------------------------------------------------------------------------ imports


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    uai: str
    reason: str


@dataclass(frozen=True, slots=True)
class ClosedLine:
    uai: str
    kind: str  # "school" or "circonscription"
    name: str


@dataclass(frozen=True, slots=True)
class ImportSummary:
    file: str
    file_name: str
    schools: int
    schools_created: int
    schools_updated: int
    schools_unchanged: int
    circonscriptions: int
    contacts: int
    ignored: int
    without_circonscription: list[str]
    columns: list[str]
    kept_values: int
    rejected_count: int
    rejected: list[RejectedRow]  # the first ones; rejected_count says how many in all
    closed: list[ClosedLine] = field(default_factory=list)  # held establishments the file marks closed
    closed_unknown: int = 0  # rows marked closed that designate nothing held
    contacts_left: list[PersonLine] = field(default_factory=list)  # their annuaire mailboxes, out of the directory
    kept_manual: list[PersonLine] = field(default_factory=list)  # people registered by hand there, left alone
    suspended: list[str] = field(default_factory=list)  # closed schools whose roadmap the import suspended
    resumed: list[str] = field(default_factory=list)  # reopened schools whose roadmap a closure had suspended


SHOWN_REJECTIONS = 100  # rejected rows detailed; the count says how many more


def import_summary(report: ImportReport) -> ImportSummary:
    return ImportSummary(
        file=str(report.path),
        file_name=report.path.name,
        schools=report.schools,
        schools_created=report.schools_created,
        schools_updated=report.schools_updated,
        schools_unchanged=report.schools_unchanged,
        circonscriptions=report.circonscriptions,
        contacts=report.contacts,
        ignored=report.ignored,
        without_circonscription=list(report.without_circonscription),
        columns=list(report.columns),
        kept_values=report.kept_values,
        rejected_count=report.rejected_count,
        rejected=[RejectedRow(e.line, e.uai, e.reason) for e in report.rejected[:SHOWN_REJECTIONS]],
        closed=[ClosedLine(c.uai, c.kind, c.name) for c in report.closed],
        closed_unknown=report.closed_unknown,
        contacts_left=[PersonLine(p.email, p.name, p.role, p.scope, "annuaire") for p in report.departed],
        kept_manual=[PersonLine(p.email, p.name, p.role, p.scope, "manual") for p in report.kept_manual],
        suspended=list(report.suspended),
        resumed=list(report.resumed),
    )


# ------------------------------------------------------------------------------------------------ reminders, mail


@dataclass(frozen=True, slots=True)
class RecipientView:
    address: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class DueReminderView:
    uai: str
    school: str
    state: str
    state_label: str
    rule: str
    rule_label: str
    since: datetime
    working_days: int
    occurrence: int
    escalated: bool
    recipients: list[RecipientView]
    nobody_for: list[str]  # roles nobody covers for this school: the reminder cannot reach them


def due_reminder_views(roadmap: Roadmap, at: datetime, viewer: Actor = OPERATOR) -> list[DueReminderView]:
    """What would be sent at `at` (nothing outside each school's sending window), for the schools `viewer` sees."""
    with roadmap.session() as session:
        due = roadmap.notifier.due(session, at)
        visible = {uai for (uai,) in session.execute(columns_of(col(School.uai)).where(in_scope(viewer)))}
    return [
        DueReminderView(d.uai, d.school, d.state, d.state_label, d.rule, d.rule_label, d.since, d.days, d.occurrence,
                        d.escalated, [RecipientView(r.address, r.name, r.role) for r in d.recipients],
                        list(d.missing_roles))
        for d in due
        if d.uai in visible
    ]


@dataclass(frozen=True, slots=True)
class MailLine:
    id: int
    kind: str
    recipient: str
    subject: str
    status: str
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str


@dataclass(frozen=True, slots=True)
class MailDetail:
    id: int
    message_id: str
    kind: str
    recipient: str
    recipient_name: str
    subject: str
    status: str
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str
    text: str
    html: str


def mail_lines(roadmap: Roadmap, *, status: str | None = None, limit: int | None = None,
               viewer: Actor = OPERATOR) -> list[MailLine]:
    """The outbox, newest first: every message with where it stands (pending, sent, failed with its reason…).
    Anyone but an administrator sees only the mail of the people within their schools, and no sign-in link."""
    query = select(OutboxMessage).order_by(col(OutboxMessage.id).desc())
    if viewer.role != "admin":
        query = query.where(col(OutboxMessage.recipient).in_(select(Person.email).where(people_in_scope(viewer))),
                            col(OutboxMessage.kind) != SIGN_IN_KIND)
    if status:
        query = query.where(col(OutboxMessage.status) == status)
    if limit:
        query = query.limit(limit)
    with roadmap.session() as session:
        return [
            MailLine(m.id or 0, m.kind, m.recipient, m.subject, m.status, m.created_at, m.due_at, m.sent_at,
                     m.attempts, m.last_error)
            for m in session.exec(query)
        ]


def mail_detail(roadmap: Roadmap, message_id: int, viewer: Actor = OPERATOR) -> MailDetail:
    with roadmap.session() as session:
        m = session.get(OutboxMessage, message_id)
        if m is not None and viewer.role != "admin" and (m.kind == SIGN_IN_KIND or session.exec(
                select(Person.email).where(Person.email == m.recipient, people_in_scope(viewer))).first() is None):
            m = None  # out of sight: not found, like an unknown message
    if m is None:
        raise NotFound("Message", str(message_id), remedy="list_mail")
    return MailDetail(m.id or 0, m.message_id, m.kind, m.recipient, m.recipient_name, m.subject, m.status,
                      m.created_at, m.due_at, m.sent_at, m.attempts, m.last_error, m.text_body, m.html_body)


@dataclass(frozen=True, slots=True)
class SinkLine:
    id: int
    received_at: datetime
    recipients: list[str]
    subject: str


@dataclass(frozen=True, slots=True)
class SinkDetail:
    id: int
    message_id: str
    received_at: datetime
    sender: str
    recipients: list[str]
    subject: str
    text: str
    html: str
    attachments: tuple[tuple[str, str, int], ...] = ()  # (file name, type, size in bytes) of each attached file


def sink_lines(roadmap: Roadmap, *, recipient: str | None = None, limit: int = 200) -> list[SinkLine]:
    """What the local mail sink received, newest first (the embedded default, read in the app)."""
    query = columns_of(col(SinkMessage.id), col(SinkMessage.received_at), col(SinkMessage.recipients),
                       col(SinkMessage.subject)).order_by(col(SinkMessage.id).desc()).limit(limit)
    with roadmap.session() as session:
        rows = [SinkLine(i, at, list(to), subject) for i, at, to, subject in session.execute(query)]
    if recipient:
        rows = [r for r in rows if recipient.lower() in r.recipients]
    return rows


def sink_detail(roadmap: Roadmap, message_id: int) -> SinkDetail:
    with roadmap.session() as session:
        m = session.get(SinkMessage, message_id)
        files = session.execute(
            columns_of(col(SinkAttachment.filename), col(SinkAttachment.content_type), col(SinkAttachment.size))
            .where(col(SinkAttachment.sink_id) == message_id).order_by(col(SinkAttachment.position))).all()
    if m is None:
        raise NotFound("Message reçu", str(message_id))
    return SinkDetail(m.id or 0, m.message_id, m.received_at, m.sender, list(m.recipients), m.subject, m.text_body,
                      m.html_body, tuple((name, kind, size) for name, kind, size in files))
