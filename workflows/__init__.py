"""Generic workflow engine: declarative definitions, one shared state machine, persisted guarded moves.

Knows nothing about schools; the application supplies guards, an authoriser, a subject loader and hooks.

The names below are imported on first use (PEP 562), so that a program importing only `workflows.errors` (a
command-line tool printing its help, say) does not pay for SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.checklist import ChecklistItem
    from workflows.definition import (
        Definition,
        GuardParam,
        StateSpec,
        StepSpec,
        TransitionSpec,
        load_definitions,
    )
    from workflows.engine import TransitionRecord, WorkflowEngine
    from workflows.errors import (
        ConcurrencyConflict,
        DefinitionError,
        InvalidItemValue,
        TransitionRefused,
        UnknownInstance,
        WorkflowError,
    )
    from workflows.guards import Actor, ActorSource, GuardContext, GuardRegistry

_HOMES = {
    "ChecklistItem": "checklist",
    "Definition": "definition",
    "GuardParam": "definition",
    "StateSpec": "definition",
    "StepSpec": "definition",
    "TransitionSpec": "definition",
    "load_definitions": "definition",
    "TransitionRecord": "engine",
    "WorkflowEngine": "engine",
    "ConcurrencyConflict": "errors",
    "DefinitionError": "errors",
    "InvalidItemValue": "errors",
    "TransitionRefused": "errors",
    "UnknownInstance": "errors",
    "WorkflowError": "errors",
    "Actor": "guards",
    "ActorSource": "guards",
    "GuardContext": "guards",
    "GuardRegistry": "guards",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'workflows' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"workflows.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Actor",
    "ActorSource",
    "ChecklistItem",
    "ConcurrencyConflict",
    "Definition",
    "DefinitionError",
    "GuardContext",
    "GuardParam",
    "GuardRegistry",
    "InvalidItemValue",
    "StateSpec",
    "StepSpec",
    "TransitionRecord",
    "TransitionRefused",
    "TransitionSpec",
    "UnknownInstance",
    "WorkflowEngine",
    "WorkflowError",
    "load_definitions",
]
