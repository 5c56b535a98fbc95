"""Generic workflow engine: declarative definitions, one shared state machine, persisted guarded moves.

Knows nothing about schools; the application supplies guards, an authoriser, a subject loader and hooks.
"""

from workflows.checklist import ChecklistItem
from workflows.definition import Definition, GuardParam, StateSpec, StepSpec, TransitionSpec, load_definitions
from workflows.engine import TransitionRecord, WorkflowEngine
from workflows.errors import (
    ConcurrencyConflict,
    DefinitionError,
    InvalidItemValue,
    TransitionRefused,
    UnknownInstance,
    WorkflowError,
)
from workflows.guards import Actor, GuardContext, GuardRegistry

__all__ = [
    "Actor",
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
