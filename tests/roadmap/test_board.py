"""The CPD's board computed in the database (roadmap/board.py) against a plain reference that reads every school
and counts each one's working days in Python: same totals, same late schools, same chart, same page in the same
order, for every sort, direction, filter and page boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select as columns_of
from sqlmodel import col, select

from benchmarks.dataset import bench_settings, build_database
from notifications.calendar import calendar_for
from roadmap.account_table import AccountItems
from roadmap.board import BoardFilters, _blocking, _Row, board_lines, board_view
from roadmap.models import Circonscription, Person, School
from roadmap.reminders import first_tables_validated
from roadmap.service import NATIONAL, Roadmap
from roadmap.views import calendars_by_departement, school_filters, state_places
from workflows import Actor
from workflows.models import WorkflowInstance, as_utc

SORTS = ("jours", "nom", "commune", "etape", "circonscription")


@dataclass(frozen=True)
class Expected:
    uai: str
    days: int
    late: bool
    step: str
    key: tuple[object, ...]
    blocking: str  # what the line says is missing, from every checklist value the school holds
    ent: str


def reference(roadmap: Roadmap, filters: BoardFilters, viewer: Actor) -> list[Expected]:
    """Every school of the viewer's scope, narrowed and sorted in Python, one working-day count per school."""
    places = state_places(roadmap)
    national = roadmap.definitions[NATIONAL]
    order = {s.id: i for i, s in enumerate(national.steps)}
    ent_item = AccountItems.of(national).ent
    now = roadmap.engine.clock()
    conditions = school_filters(roadmap, viewer, step=filters.step)
    query = (columns_of(col(School.uai), col(School.name), col(School.commune), col(School.circonscription_uai),
                        col(School.departement_code), col(WorkflowInstance.definition_id),
                        col(WorkflowInstance.state), col(WorkflowInstance.entered_at), col(WorkflowInstance.id))
             .join(WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai)).where(*conditions))
    with roadmap.session() as session:
        calendars = calendars_by_departement(session)
        validated = first_tables_validated(session)
        circos = {uai: name for uai, name in session.execute(columns_of(col(Circonscription.uai),
                                                                        col(Circonscription.name)))}
        rows = list(session.execute(query))
        values = roadmap.engine.values_of(session, [row[-1] for row in rows])
    expected = []
    for uai, name, commune, circo, dep, definition_id, state, entered_at, instance_id in rows:
        if filters.ent and values.get(instance_id, {}).get(ent_item) != filters.ent:
            continue
        days = calendars.get(dep, calendar_for(None)).working_days_between(as_utc(entered_at), now)
        afters = [rule.after for bound_to, policy in roadmap.notifier.policies.items() if bound_to == definition_id
                  for rule in policy.reminders if state in rule.states
                  and (rule.only_if != "first_table_pending" or dep not in validated)
                  and (rule.only_if != "first_table_validated" or dep in validated)]
        late = bool(afters) and days >= min(afters)
        if filters.late_only and not late:
            continue
        step = places[(definition_id, state)].step
        rank = order.get(step, len(order) + (0 if state == "deployed" else 1))
        key: tuple[object, ...] = {
            # the most days first; the same days: the earliest entry, then the UAI (all reversed when ascending)
            "jours": (-days, as_utc(entered_at).timestamp(), uai),
            "nom": (name.casefold(), uai),
            "commune": (commune.casefold(), name.casefold(), uai),
            "circonscription": (circos.get(circo or "", "").casefold(), name.casefold(), uai),
            "etape": (rank, state, -as_utc(entered_at).timestamp(), uai),
        }[filters.sort]
        held = values.get(instance_id, {})
        row = _Row(uai, name, commune, circo, dep, definition_id, state, as_utc(entered_at), instance_id, days,
                   places[(definition_id, state)], rank)
        ent_chosen = held.get(ent_item)
        expected.append(Expected(uai, days, late, step, key, _blocking(roadmap, row, held),
                                 ent_chosen if isinstance(ent_chosen, str) else ""))
    return sorted(expected, key=lambda e: e.key, reverse=filters.descending != (filters.sort == "jours"))


@pytest.fixture
def national(database_url: str, tmp_path: Path) -> Roadmap:
    built = build_database(database_url, 240, home=tmp_path / "home")
    assert built.schools == 240
    return Roadmap(bench_settings(database_url, tmp_path / "home")).ready()


def actor(roadmap: Roadmap, role: str) -> Actor:
    with roadmap.session() as session:
        person = session.exec(select(Person).where(Person.role == role).order_by(col(Person.email))).first()
        assert person is not None
        return Actor(id=person.email, role=person.role, label=person.name, scope=person.scope)


def test_the_board_counts_and_pages_exactly_as_reading_every_school_would(national: Roadmap) -> None:
    roadmap = national
    viewers = [actor(roadmap, "admin"), actor(roadmap, "cpd")]
    size = 7  # small pages: many page boundaries, ties on working days among them
    checked = 0
    combinations = [  # every sort both ways for both viewers, the filters with the working-day and name sorts
        *((viewer, sort, descending, False, None)
          for viewer in viewers for sort in SORTS for descending in (True, False)),
        *((viewers[0], sort, descending, late_only, ent) for sort in ("jours", "nom") for descending in (True, False)
          for late_only, ent in ((True, None), (False, "Beneylu School"), (True, "Beneylu School"))),
    ]
    for viewer, sort, descending, late_only, ent in combinations:
        first = BoardFilters(sort=sort, descending=descending, late_only=late_only, ent=ent)
        expected = reference(roadmap, first, viewer)
        pages = max(1, -(-len(expected) // size))
        for page in sorted({1, pages // 2 or 1, pages}):
            filters = BoardFilters(sort=sort, descending=descending, late_only=late_only, ent=ent, page=page)
            board = board_view(roadmap, filters, viewer, page_size=size)
            assert (board.schools, board.pages, board.page) == (len(expected), pages, page)
            assert board.late == sum(e.late for e in expected)
            wanted = expected[(page - 1) * size: page * size]
            got = [(line.uai, line.working_days, line.late) for line in board.lines]
            assert got == [(e.uai, e.days, e.late) for e in wanted], (sort, descending, late_only, ent, page)
            checked += 1
        chart = {bar.id: bar.count for bar in board.chart}
        for step in {e.step for e in expected}:
            assert chart[step] == sum(e.step == step for e in expected)
    assert checked > 60
    everything = reference(roadmap, BoardFilters(), viewers[0])
    whole = board_view(roadmap, BoardFilters(), viewers[0], page_size=None)
    assert [line.uai for line in whole.lines] == [e.uai for e in everything]
    # What each line says is missing, and the ENT it shows, as every value the school holds says.
    assert [(line.blocking, line.ent) for line in whole.lines] == [(e.blocking, e.ent) for e in everything]
    assert {e.blocking.split(" :")[0] for e in everything} >= {"manque", "attend"}
    assert 0 < whole.late < whole.schools  # the dataset holds both kinds
    streamed = board_lines(roadmap, BoardFilters(sort="nom"), viewers[0])  # the exports: every line, in order
    assert [line.uai for line in streamed] == [e.uai for e in reference(roadmap, BoardFilters(sort="nom"),
                                                                          viewers[0])]


def test_late_schools_and_working_days_follow_the_clock(national: Roadmap) -> None:
    roadmap = national
    admin = actor(roadmap, "admin")
    today = board_view(roadmap, BoardFilters(), admin)
    later = roadmap.engine.clock() + (datetime(2027, 6, 1) - datetime(2027, 1, 1))
    roadmap.engine.clock = lambda: later  # five months on: every waiting school is late
    months_on = board_view(roadmap, BoardFilters(), admin)
    assert months_on.late > today.late
    assert months_on.lines[0].working_days > today.lines[0].working_days
    assert months_on.late == sum(e.late for e in reference(roadmap, BoardFilters(), admin))
