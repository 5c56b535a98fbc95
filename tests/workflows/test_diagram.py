"""Mermaid rendering of definitions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from roadmap.guards import roadmap_guards
from roadmap.roles import ROLE_LABELS
from workflows.definition import ANY_STATE, RETURN, Definition, build_definition, load_definitions
from workflows.diagram import to_mermaid

ROADMAPS = Path(__file__).resolve().parents[2] / "data" / "roadmaps"

TOY = '''\
id = "leave"
label = "Demande de congé"

[events]
submit = "Déposer"
approve = "Accepter"
hold = "Mettre de côté"
back = "Reprendre"
withdraw = "Retirer"

[[steps]]
id = "request"
label = "Demande"
roles = ["clerk"]

  [[steps.waiting]]
  id = "pending"
  label = "En attente du responsable"

[[states]]
id = "granted"
label = "Accordé"
final = true

[[states]]
id = "aside"
label = "De côté"
hold = true

[[states]]
id = "withdrawn"
label = "Retiré"
final = true

[[transitions]]
event = "submit"
from = "request"
to = "request.pending"
roles = ["clerk"]
guards = ["checklist_complete"]

[[transitions]]
event = "approve"
from = "request.pending"
to = "granted"
roles = ["manager", "clerk"]

[[transitions]]
event = "hold"
from = "request.pending"
to = "aside"
roles = ["manager"]

[[transitions]]
event = "back"
from = "aside"
to = "@return"
roles = ["manager"]

[[transitions]]
event = "withdraw"
from = "*"
to = "withdrawn"
roles = ["clerk"]
'''


def national() -> Definition:
    definitions = load_definitions(ROADMAPS, guards=roadmap_guards().signatures(), roles=ROLE_LABELS)
    return definitions["national"]


def toy() -> Definition:
    return build_definition(tomllib.loads(TOY), guards=["checklist_complete"],
                            roles={"clerk": "agent", "manager": "responsable"})


def node(state_id: str) -> str:
    return state_id.replace(".", "__")


def notes(diagram: str) -> list[tuple[str, str]]:
    """(state node, text) of every note block."""
    pattern = re.compile(r"^    note right of (\S+)\n(.*?)\n    end note$", re.MULTILINE)
    return [(match.group(1), match.group(2).strip()) for match in pattern.finditer(diagram)]


def test_national_is_a_state_diagram() -> None:
    diagram = to_mermaid(national())
    assert diagram.startswith("stateDiagram-v2\n")
    assert diagram.endswith("\n")
    assert "    %% Feuille de route nationale — ENT du premier degré\n" in diagram
    assert "    [*] --> definition\n" in diagram


def test_national_declares_every_state_with_mermaid_safe_ids() -> None:
    definition = national()
    diagram = to_mermaid(definition)
    for state in definition.states.values():
        assert f'    state "{state.label}" as {node(state.id)}\n' in diagram
    assert "school_council__awaiting_approval" in diagram
    assert "transmission__submitted" in diagram
    # no dotted id is left where Mermaid expects a node name
    assert "school_council.awaiting_approval" not in diagram
    assert "transmission.submitted" not in diagram


def test_national_advance_from_definition_to_funding() -> None:
    diagram = to_mermaid(national())
    assert ("    definition --> funding : "
            "Valider l'étape [checklist_complete, ent_compliant] (director/cpd)\n") in diagram
    assert "    school_council__awaiting_approval --> transmission : Approuver (ien)\n" in diagram


def test_national_has_an_edge_for_every_plain_transition() -> None:
    definition = national()
    diagram = to_mermaid(definition)
    for transition in definition.transitions:
        if transition.source == ANY_STATE or transition.dest == RETURN:
            continue
        label = definition.event_label(transition.event)
        prefix = f"    {node(transition.source)} --> {node(transition.dest)} : {label}"
        assert prefix in diagram, transition
    edges = re.findall(r"^    (\S+) --> (\S+) : ", diagram, re.MULTILINE)
    plain = [t for t in definition.transitions if t.source != ANY_STATE and t.dest != RETURN]
    assert len(edges) == len(plain)


def test_national_notes_for_any_state_and_return_transitions() -> None:
    diagram = to_mermaid(national())
    assert notes(diagram) == [
        ("suspended", "« Suspendre » depuis tout état non final (director/cpd/dane)"),
        ("suspended", "« Reprendre » : retour à l'état d'avant (director/cpd/dane)"),
        ("abandoned", "« Abandonner » depuis tout état non final (cpd/dane)"),
    ]
    assert "--> @return" not in diagram and "* -->" not in diagram.replace("[*] -->", "")


def test_national_final_states_lead_to_the_end() -> None:
    diagram = to_mermaid(national())
    assert "    deployed --> [*]\n" in diagram
    assert "    abandoned --> [*]\n" in diagram
    assert "suspended --> [*]" not in diagram


def test_every_node_used_is_declared() -> None:
    for definition in (national(), toy()):
        diagram = to_mermaid(definition)
        declared = set(re.findall(r'^    state ".*" as (\S+)$', diagram, re.MULTILINE))
        used = {name for pair in re.findall(r"^    (\S+) --> (\S+)", diagram, re.MULTILINE) for name in pair}
        used |= {state for state, _ in notes(diagram)}
        assert used - {"[*]"} <= declared


@pytest.mark.parametrize("line", [
    "    request --> request__pending : Déposer [checklist_complete] (clerk)",
    "    request__pending --> granted : Accepter (manager/clerk)",
    "    request__pending --> aside : Mettre de côté (manager)",
    '    state "En attente du responsable" as request__pending',
    "    granted --> [*]",
    "    withdrawn --> [*]",
])
def test_toy_lines(line: str) -> None:
    assert line + "\n" in to_mermaid(toy())


def test_toy_notes() -> None:
    assert notes(to_mermaid(toy())) == [
        ("aside", "« Reprendre » : retour à l'état d'avant (manager)"),
        ("withdrawn", "« Retirer » depuis tout état non final (clerk)"),
    ]
