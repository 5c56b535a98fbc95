"""Living facts: checklist items declared `editable_after = true` may still be changed by their step's roles once
the step is left (also once the instance completed, not once it was cancelled), with history, permissions and
optimistic concurrency as for any checklist change, the state untouched and no guard of a passed step re-run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.workflows.test_engine import Clock, history, instance, refusals, snapshot, values
from workflows.definition import Definition, load_definitions
from workflows.engine import WorkflowEngine
from workflows.errors import ConcurrencyConflict, DefinitionError, TransitionRefused
from workflows.guards import Actor, GuardContext, GuardRegistry
from workflows.versions import fingerprint

ROLES = {"clerk": "agent", "manager": "responsable", "admin": "administration"}
CLERK = Actor(id="alice@example.org", role="clerk", label="Alice")
MANAGER = Actor(id="bob@example.org", role="manager", label="Bob")
ADMIN = Actor(id="root@example.org", role="admin", label="Admin")

LEASE = '''\
id = "lease"
label = "Location d'une salle"
version = 1

[events]
advance = "Valider l'étape"
pause = "Suspendre"
resume = "Reprendre"
cancel = "Annuler"

[[steps]]
id = "request"
label = "Demande"
roles = ["clerk", "manager"]

  [[steps.checklist]]
  id = "purpose"
  type = "text"
  label = "Objet de la location"

[[steps]]
id = "setup"
label = "Installation"
roles = ["clerk"]

  [[steps.checklist]]
  id = "address"
  type = "text"
  label = "Adresse de la salle"
  editable_after = true

  [[steps.checklist]]
  id = "keys"
  type = "bool"
  label = "Clés remises"

[[steps]]
id = "use"
label = "Utilisation"
roles = ["clerk", "manager"]

  [[steps.checklist]]
  id = "returned"
  type = "bool"
  label = "Salle rendue"

[[states]]
id = "closed"
label = "Terminé"
final = true

[[states]]
id = "cancelled"
label = "Annulé"
final = true

[[states]]
id = "paused"
label = "Suspendu"
hold = true

[[transitions]]
event = "advance"
from = "request"
to = "setup"
roles = ["clerk", "manager"]
guards = ["checklist_complete"]

[[transitions]]
event = "advance"
from = "setup"
to = "use"
roles = ["clerk"]
guards = ["checklist_complete", "address_known"]

[[transitions]]
event = "advance"
from = "use"
to = "closed"
roles = ["clerk", "manager"]
guards = ["checklist_complete"]

[[transitions]]
event = "pause"
from = "*"
to = "paused"
roles = ["clerk", "manager"]

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
'''


class Calls:
    """How often the `address_known` guard of the setup → use move was evaluated."""

    def __init__(self) -> None:
        self.count = 0


def make_lease_engine(db: Engine, tmp_path: Path, calls: Calls | None = None) -> WorkflowEngine:
    registry = GuardRegistry()
    seen = calls or Calls()

    @registry.guard("address_known", "L'adresse commence par un numéro.")
    def address_known(ctx: GuardContext) -> list[str]:
        seen.count += 1
        address = str(ctx.value("setup", "address") or "")
        return [] if address[:1].isdigit() else ["l'adresse doit commencer par un numéro."]

    return WorkflowEngine(db, load_lease(tmp_path, LEASE, registry), registry, clock=Clock(),
                          superuser_roles=frozenset({"admin"}))


def load_lease(tmp_path: Path, text: str, registry: GuardRegistry | None = None) -> dict[str, Definition]:
    folder = tmp_path / "definitions"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lease.toml").write_text(text, encoding="utf-8")
    names = registry.names() if registry else [*GuardRegistry().names(), "address_known"]
    return load_definitions(folder, guards=names, roles=ROLES)


def walk_to_use(engine: WorkflowEngine, subject: str = "S-1") -> None:
    with engine.transaction() as session:
        engine.start(session, "lease", subject, CLERK)
    engine.set_item(subject, "purpose", "réunion de parents", CLERK)
    engine.fire(subject, "advance", CLERK)
    engine.set_item(subject, "address", "12 rue des Écoles", CLERK)
    engine.set_item(subject, "keys", True, CLERK)
    engine.fire(subject, "advance", CLERK)
    assert instance(engine, subject).state == "use"


# ------------------------------------------------------------------------------------------ editable after


def test_a_living_item_is_changed_after_its_step_without_moving_the_state(db: Engine, tmp_path: Path) -> None:
    engine = make_lease_engine(db, tmp_path)
    walk_to_use(engine)
    before = instance(engine, "S-1")
    record = engine.set_item("S-1", "address", "14 rue des Écoles", CLERK)
    assert (record.event, record.source, record.target) == ("check", "use", "use")
    assert record.data == {"step": "setup", "item": "address", "value": "14 rue des Écoles"}
    after = instance(engine, "S-1")
    assert (after.state, after.version, after.entered_at) == ("use", before.version + 1, before.entered_at)
    assert values(engine, "S-1")[("setup", "address")] == "14 rue des Écoles"
    last = history(engine, "S-1")[-1]
    assert (last.event, last.source, last.target, last.actor) == ("check", "use", "use", CLERK.id)
    assert last.data == {"step": "setup", "item": "address", "value": "14 rue des Écoles"}
    with engine.session() as session:
        row = engine.get(session, "S-1")
        assert [(s.id, i.id) for s, i in engine.living_items(row)] == [("setup", "address")]
        assert engine.editable_item(row, engine.values(session, row), "address") is not None


def test_the_guards_of_a_passed_step_are_not_run_again(db: Engine, tmp_path: Path) -> None:
    calls = Calls()
    engine = make_lease_engine(db, tmp_path, calls)
    walk_to_use(engine)
    evaluated = calls.count
    engine.set_item("S-1", "address", "salle des fêtes", CLERK)  # would no longer satisfy `address_known`
    assert calls.count == evaluated
    assert instance(engine, "S-1").state == "use"  # nothing reopened
    engine.set_item("S-1", "address", None, CLERK)  # even cleared: the step stays passed
    assert instance(engine, "S-1").state == "use" and values(engine, "S-1")[("setup", "address")] is None


def test_an_item_without_the_flag_stays_closed_once_its_step_is_left(db: Engine, tmp_path: Path) -> None:
    engine = make_lease_engine(db, tmp_path)
    walk_to_use(engine)
    before = snapshot(engine, "S-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.set_item("S-1", "keys", False, CLERK)
    assert "n'a pas d'élément « keys »" in caught.value.reasons[0]
    with pytest.raises(TransitionRefused):
        engine.set_item("S-1", "purpose", "autre chose", CLERK)  # a step left, no living item there
    assert snapshot(engine, "S-1") == before


def test_a_living_item_is_refused_to_a_role_that_cannot_fill_its_step(db: Engine, tmp_path: Path) -> None:
    engine = make_lease_engine(db, tmp_path)
    walk_to_use(engine)
    before = snapshot(engine, "S-1")
    with pytest.raises(TransitionRefused) as caught:
        engine.set_item("S-1", "address", "3 place de la Mairie", MANAGER)  # manager fills `use`, not `setup`
    assert caught.value.reasons == [
        "votre rôle (responsable) ne permet pas de remplir cette étape ; rôle(s) autorisé(s) : agent."]
    assert caught.value.action_label == "Mise à jour de la liste de contrôle : Adresse de la salle"
    assert snapshot(engine, "S-1") == before
    [attempt] = refusals(engine, "S-1")
    assert (attempt.event, attempt.state, attempt.actor) == ("check", "use", MANAGER.id)
    engine.set_item("S-1", "address", "3 place de la Mairie", ADMIN)  # the superuser role may
    assert values(engine, "S-1")[("setup", "address")] == "3 place de la Mairie"


def test_a_stale_version_is_still_a_conflict(db: Engine, tmp_path: Path) -> None:
    engine = make_lease_engine(db, tmp_path)
    walk_to_use(engine)
    seen = instance(engine, "S-1").version
    engine.set_item("S-1", "returned", True, CLERK)  # someone else changed the instance meanwhile
    with pytest.raises(ConcurrencyConflict):
        engine.set_item("S-1", "address", "5 rue Neuve", CLERK, expected_version=seen)
    assert values(engine, "S-1")[("setup", "address")] == "12 rue des Écoles"
    record = engine.set_item("S-1", "address", "5 rue Neuve", CLERK, expected_version=seen + 1)
    assert record.version == seen + 2


def test_not_before_the_step_is_reached(db: Engine, tmp_path: Path) -> None:
    engine = make_lease_engine(db, tmp_path)
    with engine.transaction() as session:
        engine.start(session, "lease", "S-2", CLERK)
    with pytest.raises(TransitionRefused):
        engine.set_item("S-2", "address", "1 rue Haute", CLERK)
    assert values(engine, "S-2") == {}


def test_editable_once_completed_and_while_on_hold_but_not_once_cancelled(db: Engine, tmp_path: Path) -> None:
    engine = make_lease_engine(db, tmp_path)
    walk_to_use(engine, "S-1")
    engine.set_item("S-1", "returned", True, CLERK)
    engine.fire("S-1", "advance", CLERK)
    assert instance(engine, "S-1").state == "closed"
    engine.set_item("S-1", "address", "2 rue Basse", CLERK)  # completed: the fact may still be corrected
    assert instance(engine, "S-1").state == "closed"

    walk_to_use(engine, "S-2")
    engine.fire("S-2", "pause", CLERK)
    engine.set_item("S-2", "address", "7 rue du Lac", CLERK)  # held after setup: still a living fact
    assert instance(engine, "S-2").state == "paused"
    engine.fire("S-2", "resume", CLERK)
    assert instance(engine, "S-2").state == "use"

    walk_to_use(engine, "S-3")
    engine.fire("S-3", "cancel", MANAGER)
    before = snapshot(engine, "S-3")
    with pytest.raises(TransitionRefused):
        engine.set_item("S-3", "address", "9 rue Close", CLERK)  # cancelled: ended, not completed
    assert snapshot(engine, "S-3") == before


def test_steps_left_per_state(tmp_path: Path) -> None:
    lease = load_lease(tmp_path, LEASE)["lease"]
    assert lease.steps_left("request") == ()
    assert lease.steps_left("use") == ("request", "setup")
    assert lease.steps_left("paused", "setup") == ("request",)
    assert lease.steps_left("closed") == ("request", "setup", "use")  # completed from the last step
    assert lease.steps_left("cancelled") == ()  # reachable from anywhere: nothing is known to be done
    assert lease.completes("closed") and not lease.completes("cancelled")


# ------------------------------------------------------------------------------------------ the definition


def test_a_bad_value_of_the_flag_is_refused_naming_the_step_the_item_and_the_line(tmp_path: Path) -> None:
    text = LEASE.replace("  editable_after = true", '  editable_after = "oui"')
    with pytest.raises(DefinitionError) as caught:
        load_lease(tmp_path, text)
    message = caught.value.message
    assert "étape « setup », élément « address »" in message
    assert "« editable_after » doit valoir true ou false" in message
    assert caught.value.line == text.splitlines().index('  editable_after = "oui"') + 1


def test_a_misspelt_flag_is_an_unknown_key_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_lease(tmp_path / "typo", LEASE.replace("editable_after = true", "editable_afer = true"))
    assert "clé inconnue « editable_afer »" in caught.value.message
    assert "editable_after" in caught.value.message


def test_the_flag_left_at_its_default_keeps_the_fingerprint_of_definitions_written_before_it(tmp_path: Path) -> None:
    lease = load_lease(tmp_path / "a", LEASE)["lease"]
    without = load_lease(tmp_path / "b", LEASE.replace("  editable_after = true\n", ""))["lease"]
    explicit = load_lease(tmp_path / "c", LEASE.replace("  editable_after = true\n", "  editable_after = false\n"))
    assert fingerprint(without) == fingerprint(explicit["lease"]) == fingerprint_before_the_flag(without)
    assert fingerprint(lease) != fingerprint(without)  # switching it on is a change of content


def fingerprint_before_the_flag(definition: Definition) -> str:
    """The fingerprint as computed before items had `editable_after` (what installed databases recorded)."""
    content = dataclasses.asdict(definition)
    for key in ("source", "upgrade"):
        content.pop(key)
    for step in content["steps"]:
        for item in step["checklist"]:
            del item["editable_after"]
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
