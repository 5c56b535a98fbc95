"""Engine rules beyond plain moves: four eyes, date plausibility, concurrent checklist changes, entered-at,
definition version, hooks on start, items deferred by another one and still owed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.workflows.test_engine import Clock, run_in_threads
from workflows.definition import load_definitions
from workflows.engine import TransitionRecord, WorkflowEngine
from workflows.errors import ConcurrencyConflict, InvalidItemValue, TransitionRefused
from workflows.guards import Actor, GuardRegistry
from workflows.models import as_utc

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ROLES = {"clerk": "agent", "manager": "responsable", "admin": "administration"}
CLERK = Actor(id="alice@example.org", role="clerk", label="Alice")
MANAGER = Actor(id="bob@example.org", role="manager", label="Bob")
OTHER_MANAGER = Actor(id="dan@example.org", role="manager", label="Dan")
ADMIN = Actor(id="root@example.org", role="admin", label="Admin")

LOAN = '''\
id = "loan"
label = "Prêt de matériel"
version = 3

[events]
submit = "Soumettre"
approve = "Approuver"
advance = "Valider l'étape"

[[steps]]
id = "request"
label = "Demande"
roles = ["clerk", "manager"]

  [[steps.checklist]]
  id = "meeting_date"
  type = "date"
  label = "Date de la réunion d'équipe"
  max_years_back = 2
  max_years_ahead = 0

  [[steps.checklist]]
  id = "return_date"
  type = "date"
  label = "Date de retour prévue"
  max_years_ahead = 1
  not_before = "request.meeting_date"

  [[steps.checklist]]
  id = "form"
  type = "text"
  label = "Formulaire signé"
  deferrable_with = "emailed_notice"

  [[steps.checklist]]
  id = "emailed_notice"
  type = "date"
  label = "Avis envoyé par courriel (si le formulaire arrive plus tard)"
  required = false

  [[steps.checklist]]
  id = "note_a"
  type = "text"
  label = "Note A"
  required = false

  [[steps.checklist]]
  id = "note_b"
  type = "text"
  label = "Note B"
  required = false

  [[steps.waiting]]
  id = "pending"
  label = "En attente du responsable"
  waiting_for = "manager"

[[steps]]
id = "use"
label = "Utilisation"
roles = ["clerk", "manager"]

  [[steps.checklist]]
  id = "returned"
  type = "bool"
  label = "Matériel rendu"

[[states]]
id = "closed"
label = "Clos"
final = true

[[transitions]]
event = "submit"
from = "request"
to = "request.pending"
roles = ["clerk", "manager"]
guards = ["checklist_complete"]

[[transitions]]
event = "approve"
from = "request.pending"
to = "use"
roles = ["manager"]
four_eyes = true

[[transitions]]
event = "advance"
from = "use"
to = "closed"
roles = ["clerk", "manager"]
guards = ["checklist_complete"]
'''


def make_loan_engine(db: Engine, tmp_path: Path, clock: Callable[[], datetime] | None = None) -> WorkflowEngine:
    folder = tmp_path / "definitions"
    folder.mkdir(exist_ok=True)
    (folder / "loan.toml").write_text(LOAN, encoding="utf-8")
    registry = GuardRegistry()
    definitions = load_definitions(folder, guards=registry.names(), roles=ROLES)
    return WorkflowEngine(db, definitions, registry, clock=clock or Clock(NOW), superuser_roles=frozenset({"admin"}))


def open_loan(engine: WorkflowEngine, subject: str = "L-1") -> None:
    with engine.transaction() as session:
        engine.start(session, "loan", subject, CLERK)


def fill_request(engine: WorkflowEngine, subject: str = "L-1", *, form: bool = True) -> None:
    engine.set_item(subject, "meeting_date", "02/11/2026", CLERK)
    engine.set_item(subject, "return_date", "15/12/2026", CLERK)
    if form:
        engine.set_item(subject, "form", "signé", CLERK)
    else:
        engine.set_item(subject, "emailed_notice", "20/11/2026", CLERK)


def current(engine: WorkflowEngine, subject: str = "L-1") -> Any:
    with engine.session() as session:
        return engine.get(session, subject)


# ------------------------------------------------------------------------------------------- four eyes


def test_whoever_submitted_cannot_approve_whatever_their_role(db: Engine, tmp_path: Path) -> None:
    engine = make_loan_engine(db, tmp_path)
    open_loan(engine)
    fill_request(engine)
    engine.fire("L-1", "submit", MANAGER)
    for actor in (MANAGER, ADMIN.__class__(id=MANAGER.id, role="admin", label="Bob, administrateur")):
        with pytest.raises(TransitionRefused) as refused:
            engine.fire("L-1", "approve", actor)
        assert any("quatre yeux" in reason for reason in refused.value.reasons)
    assert engine.fire("L-1", "approve", OTHER_MANAGER).target == "use"


def test_four_eyes_looks_at_the_latest_submission(db: Engine, tmp_path: Path) -> None:
    engine = make_loan_engine(db, tmp_path)
    open_loan(engine)
    fill_request(engine)
    engine.fire("L-1", "submit", CLERK)
    assert engine.fire("L-1", "approve", MANAGER).target == "use"  # the clerk submitted: the manager may approve


# ----------------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("item", "raw", "reason"),
    [
        ("meeting_date", "01/01/0001", "n'est pas plausible"),
        ("meeting_date", "31/12/9999", "n'est pas plausible"),
        ("meeting_date", "01/09/2020", "plus de 2 an(s) en arrière"),
        ("meeting_date", "24/11/2026", "n'est pas encore passé"),
        ("return_date", "01/01/2028", "plus de 1 an(s) en avant"),
    ],
)
def test_impossible_or_implausible_dates_are_refused_with_the_reason(
    db: Engine, tmp_path: Path, item: str, raw: str, reason: str
) -> None:
    engine = make_loan_engine(db, tmp_path)
    open_loan(engine)
    version = current(engine).version
    with pytest.raises(InvalidItemValue, match=reason.replace("(", r"\(").replace(")", r"\)")):
        engine.set_item("L-1", item, raw, CLERK)
    assert current(engine).version == version


def test_a_date_cannot_precede_the_date_it_must_follow(db: Engine, tmp_path: Path) -> None:
    engine = make_loan_engine(db, tmp_path)
    open_loan(engine)
    engine.set_item("L-1", "meeting_date", "02/11/2026", CLERK)
    with pytest.raises(InvalidItemValue, match=r"ne peut pas précéder « Date de la réunion d'équipe » \(02/11/2026\)"):
        engine.set_item("L-1", "return_date", "01/11/2026", CLERK)
    assert engine.set_item("L-1", "return_date", "02/11/2026", CLERK).data == {
        "step": "request", "item": "return_date", "value": "2026-11-02"}


# ---------------------------------------------------------------------------------- concurrent checks


def test_people_ticking_different_items_at_the_same_time_all_succeed(db: Engine, tmp_path: Path) -> None:
    engine = make_loan_engine(db, tmp_path)
    open_loan(engine)
    items = ["meeting_date", "return_date", "form", "emailed_notice", "note_a", "note_b"]
    answers = {"meeting_date": "02/11/2026", "return_date": "15/12/2026", "form": "signé",
               "emailed_notice": "20/11/2026", "note_a": "a", "note_b": "b"}
    before = current(engine).version
    start = threading.Barrier(20, timeout=30)

    def tick(item: str) -> Callable[[], TransitionRecord]:
        def call() -> TransitionRecord:
            start.wait()
            return engine.set_item("L-1", item, answers[item], CLERK)
        return call

    # 20 people, 6 different items, several times each: only changes, no move — nobody may get a conflict
    # except on the same item (whose later writer then sees the new revision and conflicts honestly).
    calls = [tick(items[i % len(items)]) for i in range(20)]
    results = run_in_threads(*calls)
    done = [r for r in results if isinstance(r, TransitionRecord)]
    conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(done) + len(conflicts) == 20, [repr(r)[:300] for r in results if not isinstance(r, TransitionRecord)]
    assert {r.data["item"] for r in done if r.data} == set(items)  # every item got through at least once
    assert current(engine).version == before + len(done)


def test_twenty_people_ticking_twenty_different_items_never_conflict(db: Engine, tmp_path: Path) -> None:
    extra = "".join(
        f'\n  [[steps.checklist]]\n  id = "extra_{n}"\n  type = "bool"\n  label = "Case {n}"\n  required = false\n'
        for n in range(20)
    )
    definition = LOAN.replace('  [[steps.waiting]]', extra + '\n  [[steps.waiting]]', 1)
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "loan.toml").write_text(definition, encoding="utf-8")
    registry = GuardRegistry()
    engine = WorkflowEngine(db, load_definitions(folder, guards=registry.names(), roles=ROLES), registry,
                            clock=Clock(NOW))
    open_loan(engine)
    start = threading.Barrier(20, timeout=30)

    def tick(n: int) -> Callable[[], TransitionRecord]:
        def call() -> TransitionRecord:
            start.wait()
            return engine.set_item("L-1", f"extra_{n}", True, CLERK)
        return call

    results = run_in_threads(*(tick(n) for n in range(20)))
    assert all(isinstance(r, TransitionRecord) for r in results), results
    assert current(engine).version == 1 + 20
    assert sorted(r.version for r in results) == list(range(2, 22))


def test_a_check_against_a_stale_expected_version_still_conflicts(db: Engine, tmp_path: Path) -> None:
    engine = make_loan_engine(db, tmp_path)
    open_loan(engine)
    version = current(engine).version
    engine.set_item("L-1", "note_a", "a", CLERK)
    with pytest.raises(ConcurrencyConflict):
        engine.set_item("L-1", "note_b", "b", OTHER_MANAGER, expected_version=version)


def test_a_check_loses_against_a_move_made_since_it_looked(db: Engine, tmp_path: Path) -> None:
    engine = make_loan_engine(db, tmp_path)
    open_loan(engine)
    fill_request(engine)
    version = current(engine).version
    engine.fire("L-1", "submit", CLERK)
    with pytest.raises(ConcurrencyConflict):
        engine.set_item("L-1", "note_a", "trop tard", CLERK, expected_version=version)


# ---------------------------------------------------------------- entered-at, version, hooks on start


def test_entered_at_moves_with_the_state_not_with_checklist_changes(db: Engine, tmp_path: Path) -> None:
    clock = Clock(NOW)
    engine = make_loan_engine(db, tmp_path, clock)
    open_loan(engine)
    assert as_utc(current(engine).entered_at) == NOW
    clock.now = NOW + timedelta(days=3)
    fill_request(engine)
    row = current(engine)
    assert as_utc(row.entered_at) == NOW and as_utc(row.updated_at) == NOW + timedelta(days=3)
    clock.now = NOW + timedelta(days=5)
    engine.fire("L-1", "submit", CLERK)
    assert as_utc(current(engine).entered_at) == NOW + timedelta(days=5)


def test_an_instance_records_its_definition_version_and_start_runs_the_hooks(db: Engine, tmp_path: Path) -> None:
    engine = make_loan_engine(db, tmp_path)
    seen: list[tuple[str, str, str]] = []
    engine.hooks.append(lambda session, record: seen.append((record.event, record.subject, record.target)))
    open_loan(engine, "L-7")
    assert current(engine, "L-7").definition_version == 3
    assert seen == [("start", "L-7", "request")]


# ------------------------------------------------------------------------------ deferred, still owed


def test_a_deferred_item_lets_the_step_go_on_and_stays_owed_until_filed(db: Engine, tmp_path: Path) -> None:
    engine = make_loan_engine(db, tmp_path)
    open_loan(engine)
    with pytest.raises(TransitionRefused, match="Formulaire signé"):
        engine.fire("L-1", "submit", CLERK)  # neither the form nor the notice: the form is missing
    fill_request(engine, form=False)  # the notice was emailed instead
    assert engine.fire("L-1", "submit", CLERK).data == {"deferred": ["form"]}  # the approver is told
    engine.fire("L-1", "approve", MANAGER)
    with engine.session() as session:
        row = engine.get(session, "L-1")
        owed = engine.owed_items(row, engine.values(session, row))
    assert [(step.id, item.id) for step, item in owed] == [("request", "form")]
    # an owed item of a step already left may be filed; any other item of that step may not
    with pytest.raises(TransitionRefused):
        engine.set_item("L-1", "note_a", "trop tard", CLERK)
    record = engine.set_item("L-1", "form", "signé le 30/11", CLERK)
    assert record.data == {"step": "request", "item": "form", "value": "signé le 30/11"}
    with engine.session() as session:
        row = engine.get(session, "L-1")
        assert engine.owed_items(row, engine.values(session, row)) == []
        assert row.state == "use"
