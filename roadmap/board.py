"""The CPD's board: where every school of the viewer's scope stands, who is late and what blocks — filtered,
sorted and paged once here for the web page, the API and the CSV/XLSX exports (typed views, no logic elsewhere).

"Late" means a reminder has become due for the school's state (the reminder policy's first delay, in working days
of the school's calendar); "next reminder" is the working day the next one falls due.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import Any

from sqlalchemy import JSON, ColumnElement, Text, and_, bindparam, case, cast, exists, false, func, or_
from sqlalchemy import select as columns_of
from sqlmodel import Session, col

from notifications.calendar import BusinessCalendar, calendar_for
from notifications.policies import ReminderRule
from roadmap.account_table import AccountItems
from roadmap.db import casefold
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


def _applies(rule: ReminderRule, first_table_validated: bool) -> bool:
    if rule.only_if == "first_table_pending":
        return not first_table_validated
    if rule.only_if == "first_table_validated":
        return first_table_validated
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


@dataclass
class _Reading:
    """What one reading of the board works with: the filters as SQL conditions, the calendars and rules of lateness,
    and how rows become lines (read within one session)."""

    roadmap: Roadmap
    session: Session
    filters: BoardFilters
    conditions: list[ColumnElement[bool]]
    late: ColumnElement[bool]
    places: dict[tuple[str, str], StatePlace]
    step_order: dict[str, int]
    ent_item: tuple[str, str]
    calendars: dict[str, BusinessCalendar]
    validated: set[str]
    watching: dict[tuple[str, str], list[ReminderRule]]
    now: datetime
    circo_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, roadmap: Roadmap, session: Session, filters: BoardFilters, viewer: Actor) -> _Reading:
        national = roadmap.definitions[NATIONAL]
        ent_item = AccountItems.of(national).ent  # where a school records the ENT it chose (named by the definition)
        conditions = school_filters(roadmap, viewer, step=filters.step, circonscription=filters.circonscription,
                                    departement=filters.departement)
        if filters.commune:  # one commune, or several (an intercommunal project): "Bruz, Laillé; Orgères"
            conditions.append(col(School.commune).in_(communes(filters.commune)))
        if filters.ent:
            conditions.append(_chose_ent(ent_item, filters.ent))
        watching = _watching(roadmap)
        now = roadmap.engine.clock()
        calendars = calendars_by_departement(session)
        if viewer.role != "admin" or filters.departement or filters.circonscription:
            # Only the départements the viewer may see: a CPD's board asks about one calendar, not every one.
            present = _departements_seen(session, roadmap, viewer, filters)
            calendars = {code: calendar for code, calendar in calendars.items() if code in present}
        validated = first_tables_validated(session)
        late = _late_condition(watching, validated, calendars, now)
        if filters.late_only:
            conditions.append(late)
        return cls(roadmap, session, filters, conditions, late, state_places(roadmap),
                   {s.id: i for i, s in enumerate(national.steps)}, ent_item, calendars, validated, watching, now)

    def circonscription_names(self, uais: Iterable[str | None]) -> dict[str, str]:
        """Short names of these circonscriptions (read once each)."""
        wanted = {uai for uai in uais if uai and uai not in self.circo_names}
        if wanted:
            query = columns_of(col(Circonscription.uai), col(Circonscription.name)).where(
                col(Circonscription.uai).in_(sorted(wanted)))
            self.circo_names.update((uai, short_circonscription_name(name))
                                    for uai, name in self.session.connection().execute(query))
        return self.circo_names

    def lines(self, rows: Iterable[_Row], chunk: int = 500) -> Iterator[BoardLine]:
        """Lines of rows in their order, their checklist values read `chunk` schools at a time."""
        default = calendar_for(None)
        rows = iter(rows)
        while batch := list(islice(rows, chunk)):
            values = self.roadmap.engine.values_of(self.session, [row.instance_id for row in batch])
            circo_names = self.circonscription_names(row.circo for row in batch)
            for row in batch:
                held = values.get(row.instance_id, {})
                ent = held.get(self.ent_item)
                yield BoardLine(
                    uai=row.uai, name=row.name, commune=row.commune,
                    circonscription=circo_names.get(row.circo or "", ""), departement=row.dep, step=row.place.step,
                    step_label=row.place.step_label,
                    step_number=self.step_order[row.place.step] + 1 if row.place.step in self.step_order else None,
                    state=row.state, state_label=row.place.state_label, ent=ent if isinstance(ent, str) else "",
                    entered_at=row.entered_at, working_days=row.days,
                    late=_late(row, self.watching, self.validated),
                    next_reminder=_next_reminder(row, self.watching, self.validated,
                                                 self.calendars.get(row.dep, default)),
                    blocking=_blocking(self.roadmap, row, held),
                )


def _departements_seen(session: Session, roadmap: Roadmap, viewer: Actor, filters: BoardFilters) -> set[str]:
    """The départements whose schools the board may show: known without a query when one is named (by the filter
    or by a CPD's scope: the filter then only narrows it to nothing or to itself)."""
    if filters.departement:
        return {filters.departement.zfill(3)}
    if viewer.role == "cpd":
        return {viewer.scope}
    where = school_filters(roadmap, viewer, circonscription=filters.circonscription, departement=filters.departement)
    return set(session.scalars(columns_of(col(School.departement_code)).distinct().where(*where)))


def board_view(roadmap: Roadmap, filters: BoardFilters, viewer: Actor = OPERATOR, *,
               page_size: int | None = PAGE_SIZE) -> Board:
    """The board for `viewer`, computed in the database: the schools of their scope narrowed by the filters, the
    chart's counts and the late ones by one grouped query, then only the page asked for is read (sorted in SQL; for
    the working-day sort, per business calendar and merged). Lateness in SQL compares `entered_at` with each
    calendar's bound (`BusinessCalendar.counted_since`), so a national board reads 100 rows, not 50,000."""
    national = roadmap.definitions[NATIONAL]
    with roadmap.session() as session:
        reading = _Reading.open(roadmap, session, filters, viewer)
        counts: dict[str, int] = {}
        total = late_total = 0
        # Below the national board, the same grouped query also says which circonscriptions the schools are in
        # (the filter's options): one scan, not two.
        scoped = viewer.role != "admin" or bool(filters.departement or filters.circonscription)
        keys = [col(WorkflowInstance.definition_id), col(WorkflowInstance.state),
                *([col(School.circonscription_uai)] if scoped else [])]
        grouped = (columns_of(func.count(), func.sum(case((reading.late, 1), else_=0)), *keys)
                   .select_from(School).join(WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai))
                   .where(*reading.conditions).group_by(*keys))
        circonscriptions: set[str] = set()
        for count, late_count, definition_id, state, *circonscription in session.execute(grouped):
            step = _place(reading.places, definition_id, state).step
            counts[step] = counts.get(step, 0) + count
            total += count
            late_total += int(late_count or 0)
            circonscriptions.update(uai for uai in circonscription if uai)
        circonscription_options: list[Option] = []
        if total < 20_000:
            if not scoped:
                circonscriptions = {uai for uai in session.scalars(
                    columns_of(col(School.circonscription_uai)).distinct().select_from(School)
                    .join(WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai))
                    .where(*reading.conditions, col(School.circonscription_uai).is_not(None))) if uai}
            names = reading.circonscription_names(circonscriptions)  # read before the lines: one query for both
            circonscription_options = sorted((Option(uai, names.get(uai, uai)) for uai in circonscriptions),
                                             key=lambda o: o.label)
        pages = max(1, -(-total // page_size)) if page_size else 1
        page = min(max(1, filters.page), pages)
        skip = (page - 1) * page_size if page_size else 0
        lines = list(reading.lines(_ordered_rows(reading, skip, page_size)))
    column_ids = [step.id for step in national.steps] + ["deployed", "suspended", "abandoned"]
    chart = [ChartBar(c, STEP_SHORT.get(c, str(i + 1)), national.state_label(c), counts.get(c, 0))
             for i, c in enumerate(column_ids)]
    ent_item = reading.ent_item
    ents = sorted({c for s in national.steps for i in s.checklist if (s.id, i.id) == ent_item for c in i.choices})
    return Board(
        filters=filters, chart=chart, schools=total, late=late_total, lines=lines, page=page, pages=pages,
        circonscriptions=circonscription_options,
        steps=[Option(c, national.state_label(c)) for c in column_ids], ents=ents,
    )


def board_lines(roadmap: Roadmap, filters: BoardFilters, viewer: Actor = OPERATOR) -> Iterator[BoardLine]:
    """Every line of the board in its order, streamed (the exports): a national board never sits whole in memory.
    The session stays open while the caller iterates."""
    with roadmap.session() as session:
        reading = _Reading.open(roadmap, session, filters, viewer)
        yield from reading.lines(_ordered_rows(reading, 0, None))


def _chose_ent(ent_item: tuple[str, str], ent: str) -> ColumnElement[bool]:
    """The school recorded `ent` as its ENT: the stored JSON compared as text with the same value serialised by the
    same column type (JSON has no equality operator on PostgreSQL)."""
    values = ChecklistValue.__table__  # type: ignore[attr-defined]
    return exists().where(
        values.c.instance_id == col(WorkflowInstance.id), values.c.step == ent_item[0], values.c.item == ent_item[1],
        cast(values.c.value, Text) == cast(bindparam("ent_choice", ent, type_=JSON), Text),
    )


def _late_condition(watching: dict[tuple[str, str], list[ReminderRule]], validated: set[str],
                    calendars: dict[str, BusinessCalendar], now: datetime) -> ColumnElement[bool]:
    """Late in SQL: for each watched state and each group of départements sharing a calendar (and whether their
    first table is validated), the state entered before the instant that makes the first reminder due."""
    groups: dict[tuple[BusinessCalendar, bool], list[str]] = {}
    for departement, calendar in calendars.items():
        groups.setdefault((calendar, departement in validated), []).append(departement)
    terms: list[ColumnElement[bool]] = []  # every school's département has a row (a foreign key): a calendar
    instance = WorkflowInstance.__table__.c  # type: ignore[attr-defined]  # plain columns: a quicker build
    for (calendar, is_validated), departements in groups.items():
        # The watched states of one definition with the same delay share one bound: one term each.
        delays: dict[tuple[str, int], list[str]] = {}
        for (definition_id, state), rules in watching.items():
            afters = [rule.after for rule in rules if _applies(rule, is_validated)]
            if afters:
                delays.setdefault((definition_id, min(afters)), []).append(state)
        states = [
            and_(instance.definition_id == definition_id, instance.state.in_(sorted(names)),
                 *([instance.entered_at < calendar.counted_since(now, after)] if after > 0 else []))
            for (definition_id, after), names in delays.items()
        ]
        if states:
            terms.append(and_(col(School.departement_code).in_(sorted(departements)), or_(*states)))
    return or_(*terms) if terms else false()


_ROW_COLUMNS = (col(School.uai), col(School.name), col(School.commune), col(School.circonscription_uai),
                col(School.departement_code), col(WorkflowInstance.definition_id), col(WorkflowInstance.state),
                col(WorkflowInstance.entered_at), col(WorkflowInstance.id))


def _ordered_rows(reading: _Reading, skip: int, size: int | None) -> Iterator[_Row]:
    """The rows of the board in the filters' order, from `skip`, `size` of them (every one when None), streamed."""
    filters, default = reading.filters, calendar_for(None)
    connection = reading.session.connection()
    if size is None:  # every line (the exports): streamed; a page comes in one round trip
        connection = connection.execution_options(stream_results=True, yield_per=1000)

    def rows_of(query: Any) -> Iterator[_Row]:
        for uai, name, commune, circo, dep, definition_id, state, entered_at, instance_id in connection.execute(query):
            place = _place(reading.places, definition_id, state)
            entered = as_utc(entered_at)
            rank = reading.step_order.get(place.step, len(reading.step_order) + (0 if state == "deployed" else 1))
            days = reading.calendars.get(dep, default).working_days_between(entered, reading.now)
            yield _Row(uai, name, commune, circo, dep, definition_id, state, entered, instance_id, days, place, rank)

    base = (columns_of(*_ROW_COLUMNS).select_from(School)
            .join(WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai)).where(*reading.conditions))
    if filters.sort != "jours":
        order = _sql_order(filters.sort, reading.step_order, reading.places)
        query = base.order_by(*(o.desc() if filters.descending == ascending else o.asc() for o, ascending in order))
        yield from rows_of(query.offset(skip).limit(size) if size else query)
        return
    # Working days: within one calendar they follow `entered_at` (earlier: more days), so each calendar's rows are
    # read in index order (up to the page's end) and the calendars merged: the most days first, then the earliest
    # entry, then the UAI (all three reversed for the fewest days first).
    groups: dict[BusinessCalendar, list[str]] = {}
    for departement, calendar in reading.calendars.items():
        groups.setdefault(calendar, []).append(departement)
    # (entry, UAI) is one index: the page's rows come in index order, without sorting thousands of ties.
    entered, uai = col(WorkflowInstance.entered_at), col(WorkflowInstance.subject)
    by_wait = (entered.asc(), uai.asc()) if filters.descending else (entered.desc(), uai.desc())
    streams = []
    for departements in groups.values():  # every school's département has a row (a foreign key)
        query = base.where(col(School.departement_code).in_(sorted(departements))).order_by(*by_wait)
        streams.append(rows_of(query.limit(skip + size) if size else query))
    merged = heapq.merge(*streams, key=lambda r: (-r.days, r.entered_at, r.uai), reverse=not filters.descending)
    yield from islice(merged, skip, skip + size if size else None)


def _sql_order(sort: str, step_order: dict[str, int],
               places: dict[tuple[str, str], StatePlace]) -> list[tuple[Any, bool]]:
    """The sort's columns, each with whether it goes up when the sort does."""
    name, commune, uai = casefold(col(School.name)), casefold(col(School.commune)), col(School.uai)
    if sort == "nom":
        return [(name, True), (uai, True)]
    if sort == "commune":
        return [(commune, True), (name, True), (uai, True)]
    if sort == "circonscription":
        circo = (columns_of(casefold(col(Circonscription.name))).where(
            col(Circonscription.uai) == col(School.circonscription_uai)).scalar_subquery())
        return [(func.coalesce(circo, ""), True), (name, True), (uai, True)]
    # étape: the roadmap's order, then the state, then the fewest days in it (the most recent entry first)
    ranks = {state: step_order.get(place.step, len(step_order) + (0 if state == "deployed" else 1))
             for (_, state), place in places.items()}
    rank = case(ranks, value=col(WorkflowInstance.state), else_=len(step_order) + 1)
    return [(rank, True), (col(WorkflowInstance.state), True), (col(WorkflowInstance.entered_at), False),
            (uai, True)]


def _late(row: _Row, watching: dict[tuple[str, str], list[ReminderRule]], validated: set[str]) -> bool:
    rules = watching.get((row.definition_id, row.state), [])
    return any(row.days >= rule.after for rule in rules if _applies(rule, row.dep in validated))


def _next_reminder(row: _Row, watching: dict[tuple[str, str], list[ReminderRule]], validated: set[str],
                   calendar: Any) -> date | None:
    days = [d for rule in watching.get((row.definition_id, row.state), []) if _applies(rule, row.dep in validated)
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
