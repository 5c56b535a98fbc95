"""The read paths the dashboard and the lists take, checked with the database's own query planner: they never
read the history (a million rows at national scale), and a département's view is found through an index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from roadmap.service import Roadmap
from roadmap.settings import Settings
from roadmap.views import dashboard_view, school_summaries
from tests.roadmap.test_walkthrough import small_roadmap

Statement = tuple[str, Any]


@contextmanager
def recorded(db: Engine) -> Iterator[list[Statement]]:
    statements: list[Statement] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(db, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db, "before_cursor_execute", record)


def plans(roadmap: Roadmap, read: Callable[[], object], *, no_seqscan: bool = False) -> list[str]:
    with recorded(roadmap.db) as statements:
        read()
    assert statements, "the read ran no query"
    found = []
    with roadmap.db.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres and no_seqscan:
            connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            explain = ("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + statement
            rows = connection.exec_driver_sql(explain, parameters).all()
            found.append("\n".join(" ".join(str(c) for c in row) for row in rows))
    return found


def test_dashboard_and_lists_never_read_the_history(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    for read in (
        lambda: dashboard_view(roadmap),
        lambda: dashboard_view(roadmap, "035"),
        lambda: list(school_summaries(roadmap)),
        lambda: list(school_summaries(roadmap, step="definition")),
    ):
        for plan in plans(roadmap, read):
            assert "workflow_history" not in plan, plan


def test_a_departement_dashboard_is_found_through_an_index(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    found = plans(roadmap, lambda: dashboard_view(roadmap, "035"), no_seqscan=True)
    grouped = next(plan for plan in found if "departement_code" in plan or "school" in plan.lower())
    assert "ix_school_departement_code" in grouped, grouped
