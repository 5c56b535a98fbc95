"""Compiles a Definition into ONE shared, model-less `transitions` Machine.

Instances are not registered with the machine: each trigger passes a throw-away model holding the
instance's state, so thousands of instances share one Machine. Which transition fires is decided by the
machine from verdicts the engine computed beforehand (guards, roles, notes), passed as event data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transitions import EventData, Machine

from workflows.definition import RETURN, Definition, TransitionSpec


class StateHolder:
    """The minimal model `transitions` needs: something with a `state` attribute."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


@dataclass(frozen=True)
class Edge:
    index: int
    spec: TransitionSpec
    source: str
    dest: str
    returning: bool  # compiled from "@return": only valid when the instance was held from `dest`


@dataclass
class CompiledWorkflow:
    definition: Definition
    machine: Machine
    edges: list[Edge] = field(default_factory=list)

    def candidates(self, state: str, event: str, held_from: str | None) -> list[Edge]:
        """Edges for this event from this state that the instance's structure allows."""
        return [
            edge
            for edge in self.edges
            if edge.source == state and edge.spec.event == event and (not edge.returning or edge.dest == held_from)
        ]

    def events_from(self, state: str, held_from: str | None) -> list[str]:
        events: list[str] = []
        for edge in self.edges:
            if (
                edge.source == state
                and (not edge.returning or edge.dest == held_from)
                and edge.spec.event not in events
            ):
                events.append(edge.spec.event)
        return events

    def fire(self, state: str, event: str, verdicts: dict[int, bool]) -> str | None:
        """Run the machine on a throw-away model; returns the new state, or None if no edge passed."""
        holder = StateHolder(state)
        fired = self.machine.events[event].trigger(holder, verdicts=verdicts)
        return holder.state if fired else None


class _Verdict:
    """Condition of one compiled edge: reads the verdict the engine computed for it."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, event_data: EventData) -> bool:
        verdicts: dict[int, bool] = event_data.kwargs["verdicts"]
        return verdicts.get(self.index, False)


def compile_definition(definition: Definition) -> CompiledWorkflow:
    edges = [
        Edge(index, spec, source, dest, spec.dest == RETURN)
        for index, (spec, source, dest) in enumerate(definition.edges())
    ]
    transitions: list[dict[str, Any]] = [
        {"trigger": edge.spec.event, "source": edge.source, "dest": edge.dest, "conditions": [_Verdict(edge.index)]}
        for edge in edges
    ]
    machine = Machine(
        model=None,
        states=list(definition.states),
        transitions=transitions,
        initial=definition.initial,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    return CompiledWorkflow(definition=definition, machine=machine, edges=edges)
