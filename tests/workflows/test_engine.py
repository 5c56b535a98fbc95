"""The workflow engine on a toy "purchase request" workflow, on every database backend of the suite."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, func, select

import workflows.engine as engine_module
import workflows.machine
from workflows.definition import Definition, load_definitions
from workflows.engine import TransitionRecord, WorkflowEngine
from workflows.errors import ConcurrencyConflict, InvalidItemValue, TransitionRefused, UnknownInstance
from workflows.guards import Actor, GuardContext, GuardRegistry
from workflows.machine import CompiledWorkflow
from workflows.models import ChecklistValue, HistoryEntry, RefusedAttempt, WorkflowInstance, as_utc

FIXED_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ROLES = {"clerk": "agent", "manager": "responsable"}
CLERK = Actor(id="alice@example.org", role="clerk", label="Alice", scope="compta")
OTHER_CLERK = Actor(id="carol@example.org", role="clerk", label="Carol", scope="compta")
MANAGER = Actor(id="bob@example.org", role="manager", label="Bob", scope="compta")
AUDITOR = Actor(id="root@example.org", role="auditor", label="Audit")
QUOTE = {"name": "devis.pdf", "sha256": "ab" * 32, "size": 1234}

PURCHASE = '''\
id = "purchase"
label = "Demande d'achat"
initial = "draft"

[events]
advance = "Valider l'étape"
submit = "Soumettre au responsable"
approve = "Approuver"
reject = "Renvoyer pour correction"
pause = "Mettre en pause"
resume = "Reprendre"
cancel = "Annuler"

[[steps]]
id = "draft"
label = "Rédaction"
roles = ["clerk"]

  [[steps.checklist]]
  id = "supplier"
  type = "choice"
  label = "Fournisseur"
  choices = ["Bureau Vallée", "Lyreco"]

  [[steps.checklist]]
  id = "needed_by"
  type = "date"
  label = "Date de besoin"

  [[steps.checklist]]
  id = "comment"
  type = "text"
  label = "Commentaire"
  required = false

[[steps]]
id = "review"
label = "Examen"
roles = ["clerk", "manager"]

  [[steps.checklist]]
  id = "quote"
  type = "file"
  label = "Devis"

  [[steps.checklist]]
  id = "budget_line"
  type = "bool"
  label = "Ligne budgétaire identifiée"

  [[steps.waiting]]
  id = "pending"
  label = "En attente de la décision du responsable"
  waiting_for = "manager"

[[steps]]
id = "delivery"
label = "Livraison"
roles = ["clerk", "manager"]

  [[steps.checklist]]
  id = "received"
  type = "bool"
  label = "Matériel reçu"

[[states]]
id = "done"
label = "Commande soldée"
final = true

[[states]]
id = "paused"
label = "En pause"
hold = true

[[states]]
id = "cancelled"
label = "Annulée"
final = true

[[transitions]]
event = "advance"
from = "draft"
to = "review"
roles = ["clerk"]
guards = ["checklist_complete"]

[[transitions]]
event = "submit"
from = "review"
to = "review.pending"
roles = ["clerk"]
guards = ["checklist_complete"]

[[transitions]]
event = "approve"
from = "review.pending"
to = "delivery"
roles = ["manager"]
guards = ["budget_available", "supplier_approved"]
note_required = true

[[transitions]]
event = "reject"
from = "review.pending"
to = "review"
roles = ["manager"]
note_required = true

[[transitions]]
event = "advance"
from = "delivery"
to = "done"
roles = ["clerk", "manager"]
guards = ["checklist_complete"]

[[transitions]]
event = "pause"
from = "*"
to = "paused"
roles = ["clerk", "manager"]
note_required = true

[[transitions]]
event = "resume"
from = "paused"
to = "@return"
roles = ["clerk", "manager"]

[[transitions]]
event = "cancel"
from = "*"
to = "cancelled"
roles = ["manager"]
note_required = true
'''

PURCHASE_IT = '''\
id = "purchase_it"
extends = "purchase"
label = "Demande d'achat informatique"

[[checklist]]
step = "draft"
id = "inventory_number"
type = "text"
label = "Numéro d'inventaire"
'''


# ============================================================================================== factories


@dataclass
class Switches:
    """What the toy guards answer; tests flip them."""

    budget_ok: bool = True
    blocked_suppliers: set[str] = field(default_factory=set)
    contexts: list[GuardContext] = field(default_factory=list)


class Clock:
    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_registry(switches: Switches) -> GuardRegistry:
    registry = GuardRegistry()

    @registry.guard("budget_available", "Le budget de l'année n'est pas épuisé.")
    def budget_available(ctx: GuardContext) -> list[str]:
        return [] if switches.budget_ok else ["le budget de l'année est épuisé."]

    @registry.guard("supplier_approved", "Le fournisseur choisi n'est pas bloqué.")
    def supplier_approved(ctx: GuardContext) -> list[str]:
        switches.contexts.append(ctx)
        supplier = ctx.value("draft", "supplier")
        if supplier in switches.blocked_suppliers:
            return [f"le fournisseur « {supplier} » est bloqué."]
        return []

    return registry


def make_definitions(directory: Path, registry: GuardRegistry) -> dict[str, Definition]:
    directory.mkdir(exist_ok=True)
    (directory / "purchase.toml").write_text(PURCHASE, encoding="utf-8")
    (directory / "purchase_it.toml").write_text(PURCHASE_IT, encoding="utf-8")
    return load_definitions(directory, guards=registry.names(), roles=ROLES)


def make_engine(db: Engine, tmp_path: Path, switches: Switches | None = None, *,
                clock: Callable[[], datetime] | None = None, **options: Any) -> WorkflowEngine:
    registry = make_registry(switches or Switches())
    definitions = make_definitions(tmp_path / "definitions", registry)
    return WorkflowEngine(db, definitions, registry, clock=clock or Clock(), **options)


def start(engine: WorkflowEngine, subject: str, definition_id: str = "purchase", actor: Actor = CLERK,
          note: str | None = None) -> None:
    with engine.session() as session, session.begin():
        engine.start(session, definition_id, subject, actor, note=note)


def instance(engine: WorkflowEngine, subject: str) -> WorkflowInstance:
    with engine.session() as session:
        return engine.get(session, subject)


def history(engine: WorkflowEngine, subject: str) -> list[HistoryEntry]:
    with engine.session() as session:
        return engine.history(session, engine.get(session, subject))


def values(engine: WorkflowEngine, subject: str) -> dict[tuple[str, str], Any]:
    with engine.session() as session:
        return engine.values(session, engine.get(session, subject))


def refusals(engine: WorkflowEngine, subject: str) -> list[RefusedAttempt]:
    with engine.session() as session:
        return engine.refusals(session, subject)


def snapshot(engine: WorkflowEngine, subject: str) -> tuple[Any, ...]:
    """Everything a move or a checklist change could write about an instance."""
    row = instance(engine, subject)
    rows = [(h.id, h.event, h.source, h.target, h.note, h.data) for h in history(engine, subject)]
    return row.state, row.held_from, row.version, as_utc(row.updated_at), rows, values(engine, subject)


def fill_draft(engine: WorkflowEngine, subject: str, supplier: str = "Lyreco") -> None:
    engine.set_item(subject, "supplier", supplier, CLERK)
    engine.set_item(subject, "needed_by", "15/12/2026", CLERK)


def walk_to(engine: WorkflowEngine, subject: str, target: str, *, supplier: str = "Lyreco") -> None:
    """Start a purchase and move it lawfully to `target` (one of its step states or final states)."""
    start(engine, subject)
    for _ in range(10):
        state = instance(engine, subject).state
        if state == target:
            return
        if state == "draft":
            fill_draft(engine, subject, supplier)
            engine.fire(subject, "advance", CLERK)
        elif state == "review":
            engine.set_item(subject, "quote", QUOTE, CLERK)
            engine.set_item(subject, "budget_line", "oui", CLERK)
            engine.fire(subject, "submit", CLERK)
        elif state == "review.pending":
            engine.fire(subject, "approve", MANAGER, note="accord")
        elif state == "delivery":
            engine.set_item(subject, "received", True, CLERK)
            engine.fire(subject, "advance", CLERK)
        else:
            break
    raise AssertionError(f"could not walk {subject} to {target}")


def run_in_threads(*calls: Callable[[], Any]) -> list[Any]:
    """Run each call in its own thread; returns each call's result or the exception it raised."""
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            results[index] = call()
        except BaseException as error:  # handed back to the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a thread is stuck"
    return results


# ================================================================================================= start


def test_start_opens_an_instance_at_the_initial_state_with_a_history_row(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1", note="import")
    row = instance(engine, "PO-1")
    assert (row.definition_id, row.state, row.held_from, row.version) == ("purchase", "draft", None, 1)
    assert as_utc(row.created_at) == FIXED_NOW
    [first] = history(engine, "PO-1")
    assert (first.instance_id, first.actor, first.role, first.event, first.source, first.target,
            first.note) == (row.id, CLERK.id, "clerk", "start", None, "draft", "import")
    assert as_utc(first.at) == FIXED_NOW


def test_a_subject_has_at_most_one_instance(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    with pytest.raises(IntegrityError):
        start(engine, "PO-1", "purchase_it")
    assert instance(engine, "PO-1").definition_id == "purchase"


# ================================================================================================ (a) moves


def test_a_move_writes_state_version_and_history(db: Engine, tmp_path: Path) -> None:
    clock = Clock()
    engine = make_engine(db, tmp_path, clock=clock)
    start(engine, "PO-1")
    fill_draft(engine, "PO-1")
    before = instance(engine, "PO-1")
    assert before.id is not None
    clock.now = FIXED_NOW + timedelta(hours=2, minutes=5)

    record = engine.fire("PO-1", "advance", CLERK, note="  devis demandé  ")

    assert record == TransitionRecord(instance_id=before.id, subject="PO-1", definition_id="purchase",
                                      event="advance", source="draft", target="review", actor=CLERK,
                                      at=clock.now, note="devis demandé", version=before.version + 1,
                                      data=None)
    after = instance(engine, "PO-1")
    assert (after.state, after.held_from, after.version) == ("review", None, before.version + 1)
    assert as_utc(after.updated_at) == clock.now
    assert as_utc(after.created_at) == FIXED_NOW
    entries = history(engine, "PO-1")
    assert len(entries) == 4  # start, two checks, the move
    last = entries[-1]
    assert (last.instance_id, last.actor, last.role, last.event, last.source, last.target, last.note,
            last.data) == (before.id, CLERK.id, "clerk", "advance", "draft", "review", "devis demandé", None)
    assert as_utc(last.at) == clock.now


def test_history_times_are_utc_with_the_default_clock(db: Engine, tmp_path: Path) -> None:
    registry = make_registry(Switches())
    engine = WorkflowEngine(db, make_definitions(tmp_path / "defs", registry), registry)
    before = datetime.now(UTC)
    start(engine, "PO-1")
    engine.fire("PO-1", "pause", CLERK, note="congés")
    after = datetime.now(UTC)
    for entry in history(engine, "PO-1"):
        moment = as_utc(entry.at)
        assert moment.utcoffset() is not None
        assert before - timedelta(seconds=1) <= moment <= after + timedelta(seconds=1)
    updated = as_utc(instance(engine, "PO-1").updated_at)
    assert before - timedelta(seconds=1) <= updated <= after + timedelta(seconds=1)


def test_the_whole_happy_path_is_recorded_in_order(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    walk_to(engine, "PO-1", "done")
    moves = [(h.event, h.source, h.target, h.role) for h in history(engine, "PO-1") if h.event != "check"]
    assert moves == [
        ("start", None, "draft", "clerk"),
        ("advance", "draft", "review", "clerk"),
        ("submit", "review", "review.pending", "clerk"),
        ("approve", "review.pending", "delivery", "manager"),
        ("advance", "delivery", "done", "clerk"),
    ]
    entries = history(engine, "PO-1")
    assert instance(engine, "PO-1").version == len(entries)  # every write bumps the version once
    assert [h.id for h in entries] == sorted(h.id for h in entries if h.id is not None)


def test_advance_from_the_last_step_goes_to_done_for_either_role(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    walk_to(engine, "PO-1", "delivery")
    engine.set_item("PO-1", "received", "oui", CLERK)
    record = engine.fire("PO-1", "advance", MANAGER)
    assert (record.source, record.target) == ("delivery", "done")


def test_reject_sends_back_to_the_step_with_the_note(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    walk_to(engine, "PO-1", "review.pending")
    record = engine.fire("PO-1", "reject", MANAGER, note="devis périmé")
    assert (record.source, record.target, record.note) == ("review.pending", "review", "devis périmé")
    assert instance(engine, "PO-1").state == "review"
    # values of the step are kept
    assert values(engine, "PO-1")[("review", "quote")] == QUOTE


# ================================================================================= (b) refusals, every reason


def test_a_refused_move_lists_every_unmet_condition_and_writes_nothing(db: Engine, tmp_path: Path) -> None:
    switches = Switches(budget_ok=False, blocked_suppliers={"Lyreco"})
    clock = Clock()
    engine = make_engine(db, tmp_path, switches, clock=clock)
    walk_to(engine, "PO-1", "review.pending")
    before = snapshot(engine, "PO-1")
    clock.now = FIXED_NOW + timedelta(days=1)

    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "approve", CLERK, note="   ")

    refusal = caught.value
    assert refusal.reasons == [
        "votre rôle (agent) ne permet pas cette action ; rôle(s) autorisé(s) : responsable.",
        "une note expliquant la raison est obligatoire.",
        "le budget de l'année est épuisé.",
        "le fournisseur « Lyreco » est bloqué.",
    ]
    assert (refusal.subject, refusal.action_label, refusal.state_label) == (
        "PO-1", "Approuver", "En attente de la décision du responsable")
    assert str(refusal).splitlines() == [
        "Action « Approuver » refusée pour PO-1 (état : En attente de la décision du responsable) :",
        *[f"  - {reason}" for reason in refusal.reasons],
    ]
    assert snapshot(engine, "PO-1") == before
    [attempt] = refusals(engine, "PO-1")
    recorded = (attempt.instance_id, attempt.subject, attempt.actor, attempt.role, attempt.event,
                attempt.state)
    assert recorded == (instance(engine, "PO-1").id, "PO-1", CLERK.id, "clerk", "approve", "review.pending")
    assert attempt.reasons == refusal.reasons
    assert as_utc(attempt.at) == clock.now


def test_once_the_conditions_are_met_the_same_move_passes(db: Engine, tmp_path: Path) -> None:
    switches = Switches(budget_ok=False)
    engine = make_engine(db, tmp_path, switches)
    walk_to(engine, "PO-1", "review.pending")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "approve", MANAGER, note="ok")
    assert caught.value.reasons == ["le budget de l'année est épuisé."]  # only what is really missing
    switches.budget_ok = True
    assert engine.fire("PO-1", "approve", MANAGER, note="ok").target == "delivery"
    assert len(refusals(engine, "PO-1")) == 1


def test_checklist_guard_names_every_missing_required_item(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "advance", MANAGER)
    assert caught.value.reasons == [
        "votre rôle (responsable) ne permet pas cette action ; rôle(s) autorisé(s) : agent.",
        "« Fournisseur » n'est pas renseigné (étape Rédaction).",
        "« Date de besoin » n'est pas renseigné (étape Rédaction).",
    ]  # the optional "Commentaire" is not asked for
    assert instance(engine, "PO-1").state == "draft"


# =================================================================================== (c) unavailable events


def test_event_not_available_here_names_the_possible_actions(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    before = snapshot(engine, "PO-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "approve", MANAGER, note="ok")
    assert caught.value.reasons == [
        "cette action n'existe pas à l'état « Rédaction ».",
        "actions possibles ici : « Valider l'étape », « Mettre en pause », « Annuler »",
    ]
    assert caught.value.action_label == "Approuver"
    assert snapshot(engine, "PO-1") == before
    [attempt] = refusals(engine, "PO-1")
    assert (attempt.event, attempt.state, attempt.reasons) == ("approve", "draft", caught.value.reasons)


def test_unknown_event_is_refused_as_such(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "teleport", MANAGER)
    assert caught.value.reasons[0] == "action inconnue."
    assert "« Valider l'étape »" in caught.value.reasons[1]
    assert instance(engine, "PO-1").version == 1


def test_resume_is_not_offered_when_nothing_is_on_hold(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    walk_to(engine, "PO-1", "review")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "resume", CLERK)
    assert caught.value.reasons == [
        "cette action n'existe pas à l'état « Examen ».",
        "actions possibles ici : « Soumettre au responsable », « Mettre en pause », « Annuler »",
    ]


def test_nothing_is_possible_from_a_final_state(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    engine.fire("PO-1", "cancel", MANAGER, note="doublon")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "pause", MANAGER, note="x")
    assert caught.value.reasons == ["cette action n'existe pas à l'état « Annulée ».",
                                    "aucune action n'est possible : le parcours est terminé."]
    with engine.session() as session:
        assert engine.allowed_events(session, engine.get(session, "PO-1")) == []


# ========================================================================================== (d) checklist


def test_set_item_coerces_and_records_a_check(db: Engine, tmp_path: Path) -> None:
    clock = Clock()
    engine = make_engine(db, tmp_path, clock=clock)
    start(engine, "PO-1")
    clock.now = FIXED_NOW + timedelta(minutes=3)

    record = engine.set_item("PO-1", "supplier", "  lyreco ", CLERK)
    engine.set_item("PO-1", "needed_by", "15/12/2026", CLERK)
    engine.set_item("PO-1", "comment", "  urgent  ", CLERK)

    assert (record.event, record.source, record.target, record.version, record.at) == (
        "check", "draft", "draft", 2, clock.now)
    assert record.data == {"step": "draft", "item": "supplier", "value": "Lyreco"}
    assert values(engine, "PO-1") == {("draft", "supplier"): "Lyreco", ("draft", "needed_by"): "2026-12-15",
                                      ("draft", "comment"): "urgent"}
    checks = [h for h in history(engine, "PO-1") if h.event == "check"]
    assert [(h.actor, h.role, h.source, h.target, h.note) for h in checks] == [
        (CLERK.id, "clerk", "draft", "draft", None)] * 3
    assert [h.data for h in checks] == [
        {"step": "draft", "item": "supplier", "value": "Lyreco"},
        {"step": "draft", "item": "needed_by", "value": "2026-12-15"},
        {"step": "draft", "item": "comment", "value": "urgent"},
    ]
    row = instance(engine, "PO-1")
    assert (row.state, row.version) == ("draft", 4)
    with engine.session() as session:
        stored = session.exec(select(ChecklistValue).where(ChecklistValue.item == "supplier")).one()
    assert (stored.step, stored.updated_by, as_utc(stored.updated_at)) == ("draft", CLERK.id, clock.now)


def test_set_item_overwrites_the_previous_value(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    engine.set_item("PO-1", "supplier", "Lyreco", CLERK)
    engine.set_item("PO-1", "supplier", "bureau vallee", OTHER_CLERK)
    assert values(engine, "PO-1") == {("draft", "supplier"): "Bureau Vallée"}
    with engine.session() as session:
        rows = session.exec(select(ChecklistValue)).all()
    assert [(r.item, r.updated_by) for r in rows] == [("supplier", OTHER_CLERK.id)]


def test_invalid_value_is_refused_and_nothing_is_written(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    before = snapshot(engine, "PO-1")
    with pytest.raises(InvalidItemValue) as caught:
        engine.set_item("PO-1", "needed_by", "31/02/2026", CLERK)
    assert caught.value.item_label == "Date de besoin"
    with pytest.raises(InvalidItemValue):
        engine.set_item("PO-1", "supplier", "Amazon", CLERK)
    assert snapshot(engine, "PO-1") == before


def test_clearing_an_item_with_none(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    fill_draft(engine, "PO-1")
    record = engine.set_item("PO-1", "supplier", None, CLERK)
    assert record.data == {"step": "draft", "item": "supplier", "value": None}
    assert values(engine, "PO-1")[("draft", "supplier")] is None
    assert history(engine, "PO-1")[-1].data == {"step": "draft", "item": "supplier", "value": None}
    with engine.session() as session:
        row = engine.get(session, "PO-1")
        assert engine.blockers(session, row, "advance") == [
            "« Fournisseur » n'est pas renseigné (étape Rédaction)."]
    with pytest.raises(TransitionRefused):
        engine.fire("PO-1", "advance", CLERK)


def test_checklist_is_only_editable_on_the_step_entry_state(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    walk_to(engine, "PO-1", "review.pending")
    before = snapshot(engine, "PO-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.set_item("PO-1", "budget_line", "non", MANAGER)
    assert caught.value.reasons == [
        "la liste de contrôle n'est modifiable que sur l'étape en cours (le parcours attend une validation)."]
    assert caught.value.action_label == "Mise à jour de la liste de contrôle"
    assert snapshot(engine, "PO-1") == before
    [attempt] = refusals(engine, "PO-1")
    assert (attempt.event, attempt.state, attempt.actor) == ("check", "review.pending", MANAGER.id)


def test_checklist_is_not_editable_on_hold(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    engine.fire("PO-1", "pause", CLERK, note="congés")
    with pytest.raises(TransitionRefused) as caught:
        engine.set_item("PO-1", "supplier", "Lyreco", CLERK)
    assert caught.value.reasons == [
        "la liste de contrôle n'est modifiable que sur l'étape en cours "
        "(le parcours n'est pas sur une étape en cours)."]
    assert values(engine, "PO-1") == {}


def test_only_the_current_step_items_can_be_set(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    walk_to(engine, "PO-1", "review")
    with pytest.raises(TransitionRefused) as caught:
        engine.set_item("PO-1", "supplier", "Lyreco", CLERK)
    assert caught.value.reasons == [
        "l'étape « Examen » n'a pas d'élément « supplier » ; éléments : quote, budget_line."]


def test_set_item_checks_the_step_roles(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    before = snapshot(engine, "PO-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.set_item("PO-1", "supplier", "Lyreco", MANAGER)
    assert caught.value.reasons == [
        "votre rôle (responsable) ne permet pas de remplir cette étape ; rôle(s) autorisé(s) : agent."]
    assert caught.value.action_label == "Mise à jour de la liste de contrôle : Fournisseur"
    assert snapshot(engine, "PO-1") == before
    assert [a.event for a in refusals(engine, "PO-1")] == ["check"]


def test_a_variant_instance_uses_the_variant_checklist(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "IT-1", "purchase_it")
    start(engine, "PO-1", "purchase")
    fill_draft(engine, "IT-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("IT-1", "advance", CLERK)
    assert caught.value.reasons == ["« Numéro d'inventaire » n'est pas renseigné (étape Rédaction)."]
    engine.set_item("IT-1", "inventory_number", "INV-42", CLERK)
    assert engine.fire("IT-1", "advance", CLERK).target == "review"
    with pytest.raises(TransitionRefused):
        engine.set_item("PO-1", "inventory_number", "INV-42", CLERK)


# ======================================================================================= (e) hold / @return


def test_pause_from_every_open_state_and_resume_returns_exactly_there(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    definition = engine.definition("purchase")
    open_states = [s.id for s in definition.states.values() if not s.final and not s.hold]
    assert open_states == ["draft", "review", "review.pending", "delivery"]
    for number, origin in enumerate(open_states):
        subject = f"PO-{number}"
        walk_to(engine, subject, origin)
        kept = values(engine, subject)

        paused = engine.fire(subject, "pause", CLERK, note="fournisseur en congés")
        assert (paused.source, paused.target) == (origin, "paused")
        row = instance(engine, subject)
        assert (row.state, row.held_from) == ("paused", origin)
        with engine.session() as session:
            assert engine.allowed_events(session, engine.get(session, subject)) == ["resume", "cancel"]

        resumed = engine.fire(subject, "resume", MANAGER)
        assert (resumed.source, resumed.target) == ("paused", origin)
        row = instance(engine, subject)
        assert (row.state, row.held_from) == (origin, None)
        assert values(engine, subject) == kept
        last = history(engine, subject)[-1]
        assert (last.event, last.source, last.target) == ("resume", "paused", origin)


def test_held_from_follows_each_pause_of_the_same_instance(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    engine.fire("PO-1", "pause", CLERK, note="1")
    assert engine.fire("PO-1", "resume", CLERK).target == "draft"
    fill_draft(engine, "PO-1")
    engine.fire("PO-1", "advance", CLERK)
    engine.fire("PO-1", "pause", CLERK, note="2")
    assert instance(engine, "PO-1").held_from == "review"
    assert engine.fire("PO-1", "resume", CLERK).target == "review"
    assert instance(engine, "PO-1").held_from is None


def test_pause_is_not_possible_while_paused_but_cancel_is(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    walk_to(engine, "PO-1", "review")
    engine.fire("PO-1", "pause", CLERK, note="attente")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "pause", CLERK, note="encore")
    assert caught.value.reasons[1] == "actions possibles ici : « Reprendre », « Annuler »"
    record = engine.fire("PO-1", "cancel", MANAGER, note="abandon")
    assert (record.source, record.target) == ("paused", "cancelled")
    row = instance(engine, "PO-1")
    assert (row.state, row.held_from) == ("cancelled", None)


def test_pause_needs_a_note(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "pause", CLERK)
    assert caught.value.reasons == ["une note expliquant la raison est obligatoire."]
    assert instance(engine, "PO-1").held_from is None


# ============================================================================ (f) allowed events, blockers


def test_allowed_events_respect_guards_but_not_roles_or_notes(db: Engine, tmp_path: Path) -> None:
    switches = Switches()
    engine = make_engine(db, tmp_path, switches)
    start(engine, "PO-1")
    with engine.session() as session:
        # cancel is offered though it is for managers and needs a note; advance is blocked by the checklist
        assert engine.allowed_events(session, engine.get(session, "PO-1")) == ["pause", "cancel"]
    fill_draft(engine, "PO-1")
    with engine.session() as session:
        assert engine.allowed_events(session, engine.get(session, "PO-1")) == ["advance", "pause", "cancel"]


def test_blockers_give_the_reasons_the_data_still_misses(db: Engine, tmp_path: Path) -> None:
    switches = Switches()
    engine = make_engine(db, tmp_path, switches)
    start(engine, "PO-1")
    with engine.session() as session:
        row = engine.get(session, "PO-1")
        assert engine.blockers(session, row, "advance") == [
            "« Fournisseur » n'est pas renseigné (étape Rédaction).",
            "« Date de besoin » n'est pas renseigné (étape Rédaction).",
        ]
        assert engine.blockers(session, row, "cancel") == []  # possible (for the right person, with a note)
        assert engine.blockers(session, row, "approve") == []  # not offered here
    pending = "PO-2"
    walk_to(engine, pending, "review.pending", supplier="Bureau Vallée")
    switches.budget_ok = False
    switches.blocked_suppliers = {"Bureau Vallée"}
    with engine.session() as session:
        row = engine.get(session, pending)
        assert engine.allowed_events(session, row) == ["reject", "pause", "cancel"]
        assert engine.blockers(session, row, "approve") == [
            "le budget de l'année est épuisé.", "le fournisseur « Bureau Vallée » est bloqué."]
    switches.budget_ok = True
    switches.blocked_suppliers = set()
    with engine.session() as session:
        row = engine.get(session, pending)
        assert engine.allowed_events(session, row) == ["approve", "reject", "pause", "cancel"]
        assert engine.blockers(session, row, "approve") == []


def test_guards_see_the_instance_values_subject_target_and_clock(db: Engine, tmp_path: Path) -> None:
    switches = Switches()
    clock = Clock(FIXED_NOW + timedelta(days=3))
    subjects: list[str] = []

    def load_subject(session: Session, subject: str) -> dict[str, str]:
        subjects.append(subject)
        return {"reference": subject, "service": "compta"}

    engine = make_engine(db, tmp_path, switches, clock=clock, load_subject=load_subject)
    walk_to(engine, "PO-1", "review.pending")
    switches.contexts.clear()
    engine.fire("PO-1", "approve", MANAGER, note="ok")
    [ctx] = switches.contexts
    assert ctx.target == "delivery"
    assert ctx.subject == {"reference": "PO-1", "service": "compta"}
    assert ctx.now == clock.now
    assert ctx.instance.subject == "PO-1"
    assert ctx.step is not None and ctx.step.id == "review"
    assert ctx.value("draft", "supplier") == "Lyreco"
    assert ctx.value("review", "quote") == QUOTE
    assert ctx.value("review", "nothing") is None
    assert "PO-1" in subjects


# ================================================================================= (g) superuser, authorize


def test_superuser_role_passes_role_checks_but_not_guards_or_notes(db: Engine, tmp_path: Path) -> None:
    switches = Switches()
    engine = make_engine(db, tmp_path, switches, superuser_roles=frozenset({"auditor"}))
    start(engine, "PO-1")
    engine.set_item("PO-1", "supplier", "Lyreco", AUDITOR)
    engine.set_item("PO-1", "needed_by", "2026-12-15", AUDITOR)
    record = engine.fire("PO-1", "advance", AUDITOR)
    assert record.target == "review"
    assert history(engine, "PO-1")[-1].role == "auditor"
    walk_to(engine, "PO-2", "review.pending")
    switches.budget_ok = False
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-2", "approve", AUDITOR)
    assert caught.value.reasons == ["une note expliquant la raison est obligatoire.",
                                    "le budget de l'année est épuisé."]


def test_without_superuser_roles_an_unknown_role_is_refused(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.set_item("PO-1", "supplier", "Lyreco", AUDITOR)
    assert caught.value.reasons == [
        "votre rôle (auditor) ne permet pas de remplir cette étape ; rôle(s) autorisé(s) : agent."]


def test_authorize_hook_reasons_are_included(db: Engine, tmp_path: Path) -> None:
    calls: list[tuple[str, str, Any]] = []

    def authorize(session: Session, actor: Actor, row: WorkflowInstance, subject: Any) -> list[str]:
        calls.append((actor.id, row.subject, subject))
        if subject is not None and actor.scope != subject["service"]:
            return [f"la demande {row.subject} relève du service {subject['service']}, pas du vôtre."]
        return []

    def load_subject(session: Session, subject: str) -> dict[str, str]:
        return {"service": "achats" if subject.startswith("ACH") else "compta"}

    engine = make_engine(db, tmp_path, authorize=authorize, load_subject=load_subject,
                         superuser_roles=frozenset({"auditor"}))
    walk_to(engine, "PO-1", "review.pending")
    assert (CLERK.id, "PO-1", {"service": "compta"}) in calls  # with the loaded subject
    outsider = Actor(id="eve@example.org", role="manager", scope="achats")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "approve", outsider)
    assert caught.value.reasons == [
        "la demande PO-1 relève du service compta, pas du vôtre.",
        "une note expliquant la raison est obligatoire.",
    ]
    clerk_outsider = Actor(id="dan@example.org", role="clerk", scope="achats")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "approve", clerk_outsider, note="ok")
    assert caught.value.reasons == [
        "votre rôle (agent) ne permet pas cette action ; rôle(s) autorisé(s) : responsable.",
        "la demande PO-1 relève du service compta, pas du vôtre.",
    ]
    # superusers still go through the application's authorisation
    auditor_elsewhere = Actor(id="root@example.org", role="auditor", scope="achats")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire("PO-1", "approve", auditor_elsewhere, note="ok")
    assert caught.value.reasons == ["la demande PO-1 relève du service compta, pas du vôtre."]
    # and the checklist too
    walk_to(engine, "PO-2", "review")
    with pytest.raises(TransitionRefused) as caught:
        engine.set_item("PO-2", "budget_line", "oui", clerk_outsider)
    assert caught.value.reasons == ["la demande PO-2 relève du service compta, pas du vôtre."]
    assert ("review", "budget_line") not in values(engine, "PO-2")
    assert engine.fire("PO-1", "approve", MANAGER, note="ok").target == "delivery"


# ======================================================================================== (h) concurrency


def test_expected_version_mismatch_is_a_conflict_and_writes_nothing(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    fill_draft(engine, "PO-1")
    before = snapshot(engine, "PO-1")
    version = instance(engine, "PO-1").version
    with pytest.raises(ConcurrencyConflict) as caught:
        engine.fire("PO-1", "advance", CLERK, expected_version=version - 1)
    assert (caught.value.subject, caught.value.expected_version, caught.value.actual_version) == (
        "PO-1", version - 1, version)
    assert f"version attendue {version - 1}, version actuelle {version}" in str(caught.value)
    with pytest.raises(ConcurrencyConflict):
        engine.set_item("PO-1", "comment", "trop tard", CLERK, expected_version=version + 1)
    assert snapshot(engine, "PO-1") == before
    assert engine.fire("PO-1", "advance", CLERK, expected_version=version).version == version + 1


def test_two_concurrent_moves_one_wins_the_other_conflicts(db: Engine, tmp_path: Path) -> None:
    armed = threading.Event()
    barrier = threading.Barrier(2, timeout=20)
    both_looked = threading.Barrier(2, timeout=20)
    # On PostgreSQL both transactions read the instance before either writes; SQLite queues writers at BEGIN
    # (the second transaction starts after the first commits), so there the race is on the version both read.
    inside = db.dialect.name == "postgresql"

    def authorize(session: Session, actor: Actor, row: WorkflowInstance, subject: Any) -> list[str]:
        if armed.is_set() and inside:
            barrier.wait()  # both have read the instance, neither has written yet
        return []

    engine = make_engine(db, tmp_path, authorize=authorize)
    walk_to(engine, "PO-1", "review.pending")
    before = instance(engine, "PO-1")
    history_before = len(history(engine, "PO-1"))

    def attempt(event: str, actor: Actor) -> Callable[[], TransitionRecord]:
        def call() -> TransitionRecord:
            with engine.session() as own:
                version = engine.get(own, "PO-1").version
            both_looked.wait()
            return engine.fire("PO-1", event, actor, note="décision", expected_version=version)
        return call

    armed.set()
    results = run_in_threads(attempt("approve", MANAGER), attempt("reject", MANAGER))
    armed.clear()

    winners = [r for r in results if isinstance(r, TransitionRecord)]
    losers = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    [winner], [loser] = winners, losers
    assert (loser.expected_version, loser.actual_version) == (before.version, before.version + 1)
    after = instance(engine, "PO-1")
    assert (after.state, after.version) == (winner.target, before.version + 1)
    entries = history(engine, "PO-1")
    assert len(entries) == history_before + 1
    assert (entries[-1].event, entries[-1].target) == (winner.event, winner.target)


def test_two_concurrent_first_checks_of_the_same_item_one_wins_the_other_conflicts(db: Engine,
                                                                                   tmp_path: Path) -> None:
    """Both read the instance and find no value for the item, then both write: same promise as for moves."""
    engine = make_engine(db, tmp_path)
    walk_to(engine, "PO-1", "review")
    assert ("review", "budget_line") not in values(engine, "PO-1")
    before = instance(engine, "PO-1")
    history_before = len(history(engine, "PO-1"))

    barrier = threading.Barrier(2)
    flushed = threading.local()

    def before_first_flush(session: Session, *_: Any) -> None:
        # Hold each thread just before its first write, until the other one has read everything too. The
        # timeout keeps this harmless for an engine that takes its lock before that point.
        if not getattr(flushed, "done", False):
            flushed.done = True
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=1)

    def attempt(actor: Actor, answer: str) -> Callable[[], TransitionRecord]:
        def call() -> TransitionRecord:
            with engine.session() as own:
                version = engine.get(own, "PO-1").version
            return engine.set_item("PO-1", "budget_line", answer, actor, expected_version=version)
        return call

    event.listen(Session, "before_flush", before_first_flush)
    try:
        results = run_in_threads(attempt(CLERK, "oui"), attempt(OTHER_CLERK, "non"))
    finally:
        event.remove(Session, "before_flush", before_first_flush)

    winners = [r for r in results if isinstance(r, TransitionRecord)]
    losers = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    [winner] = winners
    assert winner.data is not None
    assert values(engine, "PO-1")[("review", "budget_line")] is winner.data["value"]
    assert instance(engine, "PO-1").version == before.version + 1
    assert len(history(engine, "PO-1")) == history_before + 1


# ============================================================================= (i) hooks, same transaction


def outbox_hook(session: Session, record: TransitionRecord) -> None:
    """Stand-in for an outgoing message written in the move's transaction."""
    session.add(RefusedAttempt(instance_id=record.instance_id, subject=record.subject, actor=record.actor.id,
                               role=record.actor.role, event=f"outbox:{record.event}", state=record.target,
                               reasons=[f"{record.source} → {record.target}"]))


def outbox(engine: WorkflowEngine, subject: str) -> list[RefusedAttempt]:
    return [a for a in refusals(engine, subject) if a.event.startswith("outbox:")]


def test_hook_rows_are_committed_with_the_move(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    seen: list[tuple[str, str, int, int]] = []

    def inspecting_hook(session: Session, record: TransitionRecord) -> None:
        state, version = session.exec(select(WorkflowInstance.state, WorkflowInstance.version)
                                      .where(WorkflowInstance.id == record.instance_id)).one()
        rows = session.exec(select(func.count()).select_from(HistoryEntry)
                            .where(HistoryEntry.instance_id == record.instance_id)).one()
        seen.append((record.event, state, version, rows))

    engine.hooks += [outbox_hook, inspecting_hook]
    start(engine, "PO-1")
    engine.set_item("PO-1", "supplier", "Lyreco", CLERK)
    engine.fire("PO-1", "pause", CLERK, note="congés")

    assert [(a.event, a.state, a.reasons) for a in outbox(engine, "PO-1")] == [
        ("outbox:start", "draft", [" → draft"]),  # hooks run when an instance starts too
        ("outbox:check", "draft", ["draft → draft"]),
        ("outbox:pause", "paused", ["draft → paused"]),
    ]
    # inside the hook, the new state, version and history row are already visible: same transaction
    assert seen == [("start", "draft", 1, 1), ("check", "draft", 2, 2), ("pause", "paused", 3, 3)]


def test_a_failing_hook_rolls_back_the_whole_move(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    fill_draft(engine, "PO-1")

    def failing_hook(session: Session, record: TransitionRecord) -> None:
        raise RuntimeError("serveur de messagerie injoignable")

    engine.hooks += [outbox_hook, failing_hook]
    before = snapshot(engine, "PO-1")
    with pytest.raises(RuntimeError, match="injoignable"):
        engine.fire("PO-1", "advance", CLERK)
    with pytest.raises(RuntimeError, match="injoignable"):
        engine.set_item("PO-1", "comment", "urgent", CLERK)
    assert snapshot(engine, "PO-1") == before
    assert refusals(engine, "PO-1") == []  # neither the hook's row nor a refusal
    engine.hooks.remove(failing_hook)
    assert engine.fire("PO-1", "advance", CLERK).target == "review"
    assert [a.event for a in outbox(engine, "PO-1")] == ["outbox:advance"]


# ============================================================================= (j) append-only history


def test_history_rejects_update_and_delete_in_the_database(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    engine.fire("PO-1", "pause", CLERK, note="congés")
    before = [(h.id, h.event, h.note, h.actor) for h in history(engine, "PO-1")]
    assert len(before) == 2

    for statement in ("UPDATE workflow_history SET note = 'falsifié'",
                      "UPDATE workflow_history SET actor = 'mallory@example.org' WHERE event = 'pause'",
                      "DELETE FROM workflow_history",
                      "DELETE FROM workflow_history WHERE event = 'start'"):
        with pytest.raises(DBAPIError, match="append-only"), db.begin() as connection:
            connection.execute(text(statement))

    with pytest.raises(DBAPIError, match="append-only"), engine.session() as session, session.begin():
        entry = session.exec(select(HistoryEntry).order_by(col(HistoryEntry.id))).first()
        assert entry is not None
        entry.note = "réécrit"
        session.add(entry)
    with pytest.raises(DBAPIError, match="append-only"), engine.session() as session, session.begin():
        entry = session.exec(select(HistoryEntry).order_by(col(HistoryEntry.id))).first()
        session.delete(entry)

    assert [(h.id, h.event, h.note, h.actor) for h in history(engine, "PO-1")] == before
    # appending still works
    engine.fire("PO-1", "resume", CLERK)
    assert len(history(engine, "PO-1")) == 3


# ==================================================================================== (k) one shared machine


def test_one_machine_per_definition_shared_by_every_instance(db: Engine, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    compiled_for: list[str] = []
    real_compile = workflows.machine.compile_definition

    def counting_compile(definition: Definition) -> CompiledWorkflow:
        compiled_for.append(definition.id)
        return real_compile(definition)

    monkeypatch.setattr(engine_module, "compile_definition", counting_compile)
    engine = make_engine(db, tmp_path)
    assert sorted(compiled_for) == ["purchase", "purchase_it"]
    machine = engine.compiled["purchase"].machine
    assert machine is not engine.compiled["purchase_it"].machine
    assert list(machine.models) == []

    subjects = [f"PO-{n:03d}" for n in range(200)]
    with engine.session() as session, session.begin():
        for subject in subjects:
            engine.start(session, "purchase", subject, CLERK)
    for number, subject in enumerate(subjects):
        if number % 2:
            engine.fire(subject, "cancel", MANAGER, note="doublon")
        else:
            engine.fire(subject, "pause", CLERK, note="attente")

    assert sorted(compiled_for) == ["purchase", "purchase_it"]  # nothing recompiled
    assert engine.compiled["purchase"].machine is machine
    assert list(machine.models) == []  # no model registered per instance
    with engine.session() as session:
        query = select(WorkflowInstance.state, func.count()).group_by(WorkflowInstance.state)
        states = session.exec(query).all()
    assert sorted(states) == [("cancelled", 100), ("paused", 100)]


# =================================================================================== (l) unknown instance


def test_unknown_subject(db: Engine, tmp_path: Path) -> None:
    engine = make_engine(db, tmp_path)
    start(engine, "PO-1")
    with pytest.raises(UnknownInstance) as caught:
        engine.fire("PO-404", "advance", CLERK)
    assert caught.value.subject == "PO-404"
    assert str(caught.value) == "Aucun parcours n'est suivi pour « PO-404 »."
    with pytest.raises(UnknownInstance):
        engine.set_item("PO-404", "supplier", "Lyreco", CLERK)
    with engine.session() as session, pytest.raises(UnknownInstance):
        engine.get(session, "PO-404")
    assert instance(engine, "PO-1").version == 1
