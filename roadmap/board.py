"""The CPD's board: where every school of the viewer's scope stands, who is late and what blocks — filtered,
sorted and paged once here for the web page, the API and the CSV/XLSX exports (typed views, no logic elsewhere).

"Late" means a reminder has become due for the school's state (the reminder policy's first delay, in working days
of the school's calendar); "next reminder" is the working day the next one falls due.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy import select as columns_of
from sqlmodel import col

from notifications.calendar import calendar_for
from notifications.policies import ReminderRule
from roadmap.account_table import AccountItems
from roadmap.directory import short_circonscription_name
from roadmap.models import Circonscription, School
from roadmap.reminders import CONDITIONS, first_tables_validated
from roadmap.roles import ROLE_LABELS
from roadmap.service import NATIONAL, OPERATOR, Roadmap
from roadmap.views import STEP_SHORT, StatePlace, _place, calendars_by_departement, school_filters, state_places
from workflows import Actor
from workflows.models import ChecklistValue, WorkflowInstance, as_utc

PAGE_SIZE = 100
SORTS = {"jours": "jours en attente", "nom": "nom", "commune": "commune", "etape": "étape", "circonscription":
         "circonscription"}


@dataclass(frozen=True, slots=True)
class BoardFilters:
    departement: str | None = None
    circonscription: str | None = None
    step: str | None = None
    ent: str | None = None
    late_only: bool = False
    commune: str | None = None
    sort: str = "jours"
    descending: bool = True
    page: int = 1


@dataclass(frozen=True, slots=True)
class ChartBar:
    id: str
    short: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class BoardLine:
    uai: str
    name: str
    commune: str
    circonscription: str
    departement: str
    step: str
    step_label: str
    step_number: int | None
    state: str
    state_label: str
    ent: str
    entered_at: datetime
    working_days: int
    late: bool
    next_reminder: date | None
    blocking: str  # who the school waits for, or what its step still misses


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Board:
    filters: BoardFilters
    chart: list[ChartBar]
    schools: int  # matching the filters
    late: int
    lines: list[BoardLine]  # the page asked for
    page: int
    pages: int
    circonscriptions: list[Option] = field(default_factory=list)
    steps: list[Option] = field(default_factory=list)
    ents: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Row:
    uai: str
    name: str
    commune: str
    circo: str | None
    dep: str
    definition_id: str
    state: str
    entered_at: datetime
    ent: str
    instance_id: int
    days: int
    place: StatePlace
    rank: int


def _watching(roadmap: Roadmap) -> dict[tuple[str, str], list[ReminderRule]]:
    rules: dict[tuple[str, str], list[ReminderRule]] = {}
    for definition_id, policy in roadmap.notifier.policies.items():
        for rule in policy.reminders:
            for state in rule.states:
                rules.setdefault((definition_id, state), []).append(rule)
    return rules


def _applies(rule: ReminderRule, departement: str, validated: set[str]) -> bool:
    if rule.only_if == "first_table_pending":
        return departement not in validated
    if rule.only_if == "first_table_validated":
        return departement in validated
    return rule.only_if is None or rule.only_if not in CONDITIONS


def _next_due_day(rule: ReminderRule, days: int) -> int | None:
    """The working-day count at which the rule's next reminder falls due (today's included), None once over."""
    due = rule.after
    while due < days and rule.every:
        due += rule.every
    if due < days or (rule.stop_after is not None and due > rule.stop_after):
        return None
    return due


def communes(text: str) -> list[str]:
    return [name.strip() for name in re.split(r"[,;]", text) if name.strip()]


def board_view(roadmap: Roadmap, filters: BoardFilters, viewer: Actor = OPERATOR, *,
               page_size: int | None = PAGE_SIZE) -> Board:
    """The board for `viewer`: one query over the schools of their scope (narrowed by the filters), lateness in
    working days, the chart's counts, then the page asked for (blocking items read for that page only)."""
    places = state_places(roadmap)
    national = roadmap.definitions[NATIONAL]
    step_order = {s.id: i for i, s in enumerate(national.steps)}
    conditions = school_filters(roadmap, viewer, step=filters.step, circonscription=filters.circonscription,
                                departement=filters.departement)
    if filters.commune:  # one commune, or several (an intercommunal project): "Bruz, Laillé; Orgères"
        conditions.append(col(School.commune).in_(communes(filters.commune)))
    ent_item = AccountItems.of(national).ent  # where a school records the ENT it chose (named by the definition)
    ent_value = ChecklistValue.__table__.alias("ent_value")  # type: ignore[attr-defined]
    query = (
        columns_of(
            col(School.uai), col(School.name), col(School.commune), col(School.circonscription_uai),
            col(School.departement_code), col(WorkflowInstance.definition_id), col(WorkflowInstance.state),
            col(WorkflowInstance.entered_at), ent_value.c.value, col(WorkflowInstance.id),
        )
        .join(WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai))
        .outerjoin(ent_value, and_(ent_value.c.instance_id == col(WorkflowInstance.id),
                                   ent_value.c.step == ent_item[0], ent_value.c.item == ent_item[1]))
        .where(*conditions)
    )
    watching = _watching(roadmap)
    now = roadmap.engine.clock()
    rows: list[_Row] = []
    with roadmap.session() as session:
        calendars = calendars_by_departement(session)
        validated = first_tables_validated(session)
        default = calendar_for(None)
        circo_names = {uai: short_circonscription_name(name) for uai, name in session.execute(
            columns_of(col(Circonscription.uai), col(Circonscription.name)))}
        for uai, name, commune, circo, dep, definition_id, state, entered_at, ent, instance_id in session.execute(
                query):
            ent_text = ent if isinstance(ent, str) else ""
            if filters.ent and ent_text != filters.ent:
                continue
            place = _place(places, definition_id, state)
            days = calendars.get(dep, default).working_days_between(entered_at, now)
            rank = step_order.get(place.step, len(step_order) + (0 if state == "deployed" else 1))
            rows.append(_Row(uai, name, commune, circo, dep, definition_id, state, as_utc(entered_at), ent_text,
                             instance_id, days, place, rank))
        late_of = {row.uai: _late(row, watching, validated) for row in rows}
        if filters.late_only:
            rows = [row for row in rows if late_of[row.uai]]
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.place.step] = counts.get(row.place.step, 0) + 1
        rows.sort(key=_sort_key(filters.sort, circo_names), reverse=filters.descending)
        pages = max(1, -(-len(rows) // page_size)) if page_size else 1
        page = min(max(1, filters.page), pages)
        shown = rows[(page - 1) * page_size: page * page_size] if page_size else rows
        values = roadmap.engine.values_of(session, [row.instance_id for row in shown])
        circonscription_options = [
            Option(uai, name) for uai, name in sorted(
                {(r.circo, circo_names.get(r.circo, r.circo)) for r in rows if r.circo}, key=lambda o: o[1])
        ] if len(rows) < 20_000 else []
    column_ids = [step.id for step in national.steps] + ["deployed", "suspended", "abandoned"]
    chart = [ChartBar(c, STEP_SHORT.get(c, str(i + 1)), national.state_label(c), counts.get(c, 0))
             for i, c in enumerate(column_ids)]
    lines = [
        BoardLine(
            uai=row.uai, name=row.name, commune=row.commune, circonscription=circo_names.get(row.circo or "", ""),
            departement=row.dep, step=row.place.step, step_label=row.place.step_label,
            step_number=step_order[row.place.step] + 1 if row.place.step in step_order else None,
            state=row.state, state_label=row.place.state_label, ent=row.ent, entered_at=row.entered_at,
            working_days=row.days, late=late_of[row.uai],
            next_reminder=_next_reminder(row, watching, validated, calendars.get(row.dep, default)),
            blocking=_blocking(roadmap, row, values.get(row.instance_id, {})),
        )
        for row in shown
    ]
    ents = sorted({c for s in national.steps for i in s.checklist if (s.id, i.id) == ent_item for c in i.choices})
    return Board(
        filters=filters, chart=chart, schools=len(rows), late=sum(1 for r in rows if late_of[r.uai]), lines=lines,
        page=page, pages=pages, circonscriptions=circonscription_options,
        steps=[Option(c, national.state_label(c)) for c in column_ids], ents=ents,
    )


def _late(row: _Row, watching: dict[tuple[str, str], list[ReminderRule]], validated: set[str]) -> bool:
    rules = watching.get((row.definition_id, row.state), [])
    return any(row.days >= rule.after for rule in rules if _applies(rule, row.dep, validated))


def _next_reminder(row: _Row, watching: dict[tuple[str, str], list[ReminderRule]], validated: set[str],
                   calendar: Any) -> date | None:
    days = [d for rule in watching.get((row.definition_id, row.state), []) if _applies(rule, row.dep, validated)
            if (d := _next_due_day(rule, row.days)) is not None]
    if not days:
        return None
    due: date = calendar.add_working_days(row.entered_at, min(days))
    return due


def _blocking(roadmap: Roadmap, row: _Row, values: dict[tuple[str, str], Any]) -> str:
    if row.place.waiting_for:
        who = row.place.waiting_for
        return f"attend : {ROLE_LABELS.get(who, who)}"
    definition = roadmap.engine.definition(row.definition_id)
    step = definition.step_of(row.state)
    if step is None:
        return ""
    missing = [item.label for item in step.checklist if item.required and not item.is_done(values.get((step.id,
                                                                                                       item.id)))]
    if not missing:
        return "prête à passer à l'étape suivante"
    more = f" (+{len(missing) - 1})" if len(missing) > 1 else ""
    return f"manque : {missing[0]}{more}"


def _sort_key(sort: str, circo_names: dict[str, str]) -> Any:
    if sort == "nom":
        return lambda r: (r.name.casefold(), r.uai)
    if sort == "commune":
        return lambda r: (r.commune.casefold(), r.name.casefold())
    if sort == "etape":
        return lambda r: (r.rank, r.state, r.days)
    if sort == "circonscription":
        return lambda r: (circo_names.get(r.circo or "", ""), r.name.casefold())
    return lambda r: (r.days, r.uai)
