"""Renders a definition as a Mermaid state diagram (stateDiagram-v2)."""

from __future__ import annotations

from workflows.definition import ANY_STATE, RETURN, Definition


def _node(state_id: str) -> str:
    return state_id.replace(".", "__")


def to_mermaid(definition: Definition) -> str:
    lines = ["stateDiagram-v2", f"    %% {definition.label}"]
    for state in definition.states.values():
        lines.append(f'    state "{state.label}" as {_node(state.id)}')
    lines.append(f"    [*] --> {_node(definition.initial)}")
    for transition in definition.transitions:
        label = definition.event_label(transition.event)
        if transition.guards:
            label += " [" + ", ".join(transition.guards) + "]"
        roles = "/".join(transition.roles)
        if transition.source == ANY_STATE:
            lines.append(f"    note right of {_node(transition.dest)}")
            lines.append(f"        « {definition.event_label(transition.event)} » depuis tout état non final ({roles})")
            lines.append("    end note")
            continue
        if transition.dest == RETURN:
            lines.append(f"    note right of {_node(transition.source)}")
            lines.append(f"        « {definition.event_label(transition.event)} » : retour à l'état d'avant ({roles})")
            lines.append("    end note")
            continue
        lines.append(f"    {_node(transition.source)} --> {_node(transition.dest)} : {label} ({roles})")
    for final in definition.final_states:
        lines.append(f"    {_node(final)} --> [*]")
    return "\n".join(lines) + "\n"
