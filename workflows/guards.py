"""Guards: named checks that return the reasons a move is not possible yet (an empty list means it is)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from workflows.checklist import ChecklistItem
from workflows.definition import Definition, GuardParam, GuardSignatures, StepSpec
from workflows.models import WorkflowInstance


@dataclass(frozen=True)
class Actor:
    id: str  # stable identifier written in the history (an email for people)
    role: str
    label: str = ""
    scope: str = ""  # the part of the world the actor may act on, interpreted by the application


# Who acts, resolved by the application inside the engine's transaction (e.g. a person looked up by address).
ActorSource = Callable[[Session], Actor]


@dataclass
class GuardContext:
    session: Session
    definition: Definition
    instance: WorkflowInstance
    load_values: Callable[[], Mapping[tuple[str, str], Any]]  # read on first use only
    now: datetime
    subject: Any = None  # what the instance is about, resolved by the application's subject loader
    target: str | None = None  # destination of the transition being checked
    _values: Mapping[tuple[str, str], Any] | None = field(default=None, init=False, repr=False)

    @property
    def values(self) -> Mapping[tuple[str, str], Any]:
        """(step, item) -> stored value; moves without guards never query them."""
        if self._values is None:
            self._values = self.load_values()
        return self._values

    @property
    def step(self) -> StepSpec | None:
        return self.definition.step_of(self.instance.state)

    def value(self, step: str, item: str) -> Any:
        return self.values.get((step, item))

    def item(self, guard: str, parameter: str) -> tuple[ChecklistItem, Any]:
        """The checklist item a guard's "item" parameter names in the definition, and its stored value."""
        ref = self.definition.item_ref(guard, parameter)
        return self.definition.item_spec(ref), self.value(*ref)

    def param(self, guard: str, parameter: str) -> Any:
        """A parameter of a guard as the definition gives it (validated on load)."""
        return self.definition.guard_params[guard][parameter]


Guard = Callable[[GuardContext], list[str]]


@dataclass(frozen=True)
class GuardInfo:
    name: str
    check: Guard
    description: str
    params: Mapping[str, GuardParam] = field(default_factory=dict)  # what the definition must give it


class GuardRegistry:
    """Guards a definition may name. The engine's own guards are registered by default."""

    def __init__(self) -> None:
        self._guards: dict[str, GuardInfo] = {}
        self.register("checklist_complete", checklist_complete, "Tous les éléments obligatoires de l'étape sont faits.")

    def register(
        self, name: str, check: Guard, description: str, params: Mapping[str, GuardParam] | None = None
    ) -> None:
        if name in self._guards:
            raise ValueError(f"guard {name!r} registered twice")
        self._guards[name] = GuardInfo(name, check, description, dict(params or {}))

    def guard(
        self, name: str, description: str, params: Mapping[str, GuardParam] | None = None
    ) -> Callable[[Guard], Guard]:
        def decorate(check: Guard) -> Guard:
            self.register(name, check, description, params)
            return check

        return decorate

    def __getitem__(self, name: str) -> GuardInfo:
        return self._guards[name]

    def __contains__(self, name: object) -> bool:
        return name in self._guards

    def __iter__(self) -> Iterator[str]:
        return iter(self._guards)

    def names(self) -> list[str]:
        return sorted(self._guards)

    def signatures(self) -> GuardSignatures:
        """Every guard with the parameters it reads: what definition loading validates against."""
        return {name: info.params for name, info in self._guards.items()}


def checklist_complete(ctx: GuardContext) -> list[str]:
    step = ctx.step
    if step is None:
        return []
    return [
        f"« {item.label} » n'est pas renseigné (étape {step.label})."
        for item in step.checklist
        if item.required and not item.is_done(ctx.value(step.id, item.id)) and not is_deferred(ctx, step, item)
    ]


def is_deferred(ctx: GuardContext, step: StepSpec, item: ChecklistItem) -> bool:
    """A required item may be filed later when the item it is `deferrable_with` is done (it then stays owed)."""
    partner = step.item(item.deferrable_with) if item.deferrable_with else None
    return partner is not None and partner.is_done(ctx.value(step.id, partner.id))
