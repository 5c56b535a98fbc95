"""Definition versions: installed versions are recorded; a new version that would strand instances in flight is
refused (naming them) unless the file says how they move; a changed definition needs a new version number."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from workflows import Actor, GuardRegistry, WorkflowEngine
from workflows.definition import Definition, build_definition
from workflows.errors import DefinitionError
from workflows.models import HistoryEntry, InstalledDefinition, WorkflowInstance
from workflows.versions import DefinitionVersionRefused, VersionChange, install, not_installed, plan

ROLES = {"clerk": "agent"}
CLERK = Actor(id="alice@example.org", role="clerk")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

FLOW = '''\
id = "flow"
label = "Circuit"
version = 1

[events]
go = "Avancer"
drop = "Abandonner"

[[steps]]
id = "first"
label = "Première"
roles = ["clerk"]

  [[steps.checklist]]
  id = "form"
  type = "bool"
  label = "Formulaire rempli"

[[steps]]
id = "second"
label = "Seconde"
roles = ["clerk"]

[[states]]
id = "done"
label = "Terminé"
final = true

[[states]]
id = "dropped"
label = "Abandonné"
final = true

[[transitions]]
event = "go"
from = "first"
to = "second"
roles = ["clerk"]

[[transitions]]
event = "go"
from = "second"
to = "done"
roles = ["clerk"]

[[transitions]]
event = "drop"
from = "*"
to = "dropped"
roles = ["clerk"]
'''

# Version 2 renames "second" to "review".
RENAMED = FLOW.replace("version = 1", "version = 2").replace('"second"', '"review"')
# Version 2 adds a required item to the first step.
NEW_ITEM = FLOW.replace("version = 1", "version = 2").replace(
    '  label = "Formulaire rempli"\n', '  label = "Formulaire rempli"\n\n  [[steps.checklist]]\n  id = "signature"\n'
    '  type = "bool"\n  label = "Signé"\n')


def definition(text: str) -> Definition:
    return build_definition(tomllib.loads(text), guards=["checklist_complete"], roles=ROLES)


def install_text(db: Engine, text: str) -> list[VersionChange]:
    with Session(db) as session, session.begin():
        return install(session, {"flow": definition(text)}, actor="system", role="admin", now=NOW)


def start_at(db: Engine, text: str, subjects: dict[str, str]) -> None:
    """Open one instance per subject and move it to the given state."""
    engine = WorkflowEngine(db, {"flow": definition(text)}, GuardRegistry())
    for subject, state in subjects.items():
        with engine.session() as session, session.begin():
            engine.start(session, "flow", subject, CLERK)
        path = {"first": [], "second": ["go"], "done": ["go", "go"], "dropped": ["drop"]}[state]
        for event in path:
            engine.fire(subject, event, CLERK)


def instances(db: Engine) -> dict[str, WorkflowInstance]:
    with Session(db) as session:
        rows = session.exec(select(WorkflowInstance).where(WorkflowInstance.definition_id == "flow")).all()
        return {row.subject: row for row in rows}


def upgrade_history(db: Engine) -> list[HistoryEntry]:
    with Session(db) as session:
        return list(session.exec(select(HistoryEntry).where(HistoryEntry.event == "upgrade")
                                 .order_by(col(HistoryEntry.id))))


def installed_rows(db: Engine) -> list[InstalledDefinition]:
    with Session(db) as session:
        return list(session.exec(select(InstalledDefinition).where(InstalledDefinition.definition_id == "flow")
                                 .order_by(col(InstalledDefinition.version))))


def refused(db: Engine, text: str) -> str:
    with pytest.raises(DefinitionVersionRefused) as caught:
        install_text(db, text)
    return caught.value.message


def test_first_install_records_the_version_then_nothing_changes(db: Engine) -> None:
    [change] = install_text(db, FLOW)
    assert (change.status, change.installed, change.version) == ("new", None, 1)
    assert [(row.version, row.installed_by) for row in installed_rows(db)] == [(1, "system")]
    with Session(db) as session:
        assert not_installed(session, {"flow": definition(FLOW)}) == []
        assert not_installed(session, {"flow": definition(NEW_ITEM)}) == ["flow"]
    [again] = install_text(db, FLOW)
    assert again.status == "unchanged"
    assert len(installed_rows(db)) == 1


def test_a_changed_definition_without_a_new_version_is_refused(db: Engine) -> None:
    install_text(db, FLOW)
    message = refused(db, FLOW.replace('label = "Seconde"', 'label = "Deuxième"'))
    assert "« flow » : le contenu a changé mais la version est restée 1" in message
    assert "passez « version » à 2" in message


def test_an_older_version_is_refused(db: Engine) -> None:
    install_text(db, NEW_ITEM)
    assert "on ne revient pas en arrière" in refused(db, FLOW)


def test_a_renamed_state_in_use_is_refused_naming_the_subjects(db: Engine) -> None:
    install_text(db, FLOW)
    start_at(db, FLOW, {"B-2": "second", "A-1": "second", "C-3": "first"})
    message = refused(db, RENAMED)
    assert "l'état « second » n'existe plus dans la version 2" in message
    assert "concernés (2) : A-1, B-2" in message
    assert "[upgrade] states" in message
    # nothing changed: no version row, instances untouched
    assert len(installed_rows(db)) == 1
    assert {s: i.state for s, i in instances(db).items()} == {"A-1": "second", "B-2": "second", "C-3": "first"}


def test_a_renamed_state_that_nobody_is_in_is_accepted(db: Engine) -> None:
    install_text(db, FLOW)
    start_at(db, FLOW, {"C-3": "first"})
    [change] = install_text(db, RENAMED)
    assert change.status == "upgrade"
    assert instances(db)["C-3"].definition_version == 2


def test_a_state_mapping_moves_instances_with_a_history_row_each(db: Engine) -> None:
    install_text(db, FLOW)
    start_at(db, FLOW, {"A-1": "second", "C-3": "first"})
    before = instances(db)
    [change] = install_text(db, RENAMED + '\n[upgrade]\nstates = { second = "review" }\n')
    assert (change.status, change.installed, change.version) == ("upgrade", 1, 2)
    after = instances(db)
    assert (after["A-1"].state, after["A-1"].definition_version) == ("review", 2)
    assert (after["C-3"].state, after["C-3"].definition_version) == ("first", 2)
    assert after["A-1"].version == before["A-1"].version + 1  # writers on the old version conflict
    rows = upgrade_history(db)
    assert [(row.source, row.target, row.actor, row.data) for row in rows] == [
        ("second", "review", "system", {"from_version": 1, "to_version": 2}),
        ("first", "first", "system", {"from_version": 1, "to_version": 2}),
    ]  # instances move in subject order
    assert [row.version for row in installed_rows(db)] == [1, 2]


def test_required_items_added_to_a_passed_step_are_refused(db: Engine) -> None:
    install_text(db, FLOW)
    start_at(db, FLOW, {"A-1": "second", "B-2": "done", "C-3": "first", "D-4": "dropped"})
    message = refused(db, NEW_ITEM)
    assert "l'étape « first » gagne des éléments obligatoires (signature)" in message
    assert "concernés (2) : A-1, B-2" in message  # not C-3 (still there), nor D-4 (abandoned)


def test_passed_schools_can_be_declared_exempt(db: Engine) -> None:
    install_text(db, FLOW)
    start_at(db, FLOW, {"A-1": "second"})
    [change] = install_text(db, NEW_ITEM + '\n[upgrade]\npassed_items = "exempt"\n')
    assert change.status == "upgrade"
    assert instances(db)["A-1"].definition_version == 2


def test_plan_reports_without_changing_anything(db: Engine) -> None:
    install_text(db, FLOW)
    start_at(db, FLOW, {"A-1": "second"})
    with Session(db) as session:
        [change] = plan(session, {"flow": definition(RENAMED)})
    assert [problem.subjects for problem in change.problems] == [("A-1",)]
    assert len(installed_rows(db)) == 1


def test_the_upgrade_table_is_validated() -> None:
    with pytest.raises(DefinitionError) as caught:
        definition(RENAMED + '\n[upgrade]\nstates = { second = "reviewing" }\n')
    assert "l'état « second » est envoyé vers « reviewing », qui n'existe pas" in caught.value.message
    with pytest.raises(DefinitionError) as caught:
        definition(RENAMED + '\n[upgrade]\npassed_items = "ignore"\n')
    assert "« passed_items » vaut « ignore », valeur inconnue" in caught.value.message
    with pytest.raises(DefinitionError) as caught:
        definition(RENAMED + '\n[upgrade]\nstate = {}\n')
    assert "clé inconnue « state »" in caught.value.message


def test_upgrade_rows_have_a_french_label_in_the_history(db: Engine) -> None:
    engine = WorkflowEngine(db, {"flow": definition(FLOW)}, GuardRegistry())
    assert engine.event_label(definition(FLOW), "upgrade") == "Passage à une nouvelle version de la définition"


VARIANT = '''\
id = "flow_x"
extends = "flow"
label = "Circuit, variante"
'''


def test_a_variant_without_an_upgrade_table_follows_its_base_s(db: Engine) -> None:
    """The base's version 2 exempts passed instances from its new required item: so does the variant's version 2
    (it follows its base's version, states and items), unless the variant says otherwise."""
    def both(text: str, variant: str = VARIANT) -> dict[str, Definition]:
        base = definition(text)
        return {"flow": base, "flow_x": build_definition(tomllib.loads(variant), guards=["checklist_complete"],
                                                          roles=ROLES, base=base)}

    with Session(db) as session, session.begin():
        install(session, both(FLOW), actor="system", role="admin", now=NOW)
    engine = WorkflowEngine(db, both(FLOW), GuardRegistry())
    with engine.session() as session, session.begin():
        engine.start(session, "flow_x", "X-1", CLERK)
    engine.fire("X-1", "go", CLERK)  # past "first", which gains a required item in version 2

    exempt = NEW_ITEM + '\n[upgrade]\npassed_items = "exempt"\n'
    assert both(exempt)["flow_x"].upgrade.passed_items == "exempt"
    own = both(exempt, VARIANT + "\n[upgrade]\nstates = {}\n")
    assert own["flow_x"].upgrade.passed_items == ""  # a variant's own [upgrade] replaces its base's
    with Session(db) as session:
        _, variant_change = plan(session, own)
    assert "gagne des éléments obligatoires" in variant_change.problems[0].message
    with Session(db) as session, session.begin():
        changes = install(session, both(exempt), actor="system", role="admin", now=NOW)
    assert [(c.definition_id, c.status) for c in changes] == [("flow", "upgrade"), ("flow_x", "upgrade")]
    with Session(db) as session:
        row = session.exec(select(WorkflowInstance).where(WorkflowInstance.subject == "X-1")).one()
    assert (row.state, row.definition_version) == ("second", 2)
