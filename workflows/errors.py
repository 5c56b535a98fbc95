"""Errors raised by the workflow engine. Each builds its own (French, user-facing) message."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class WorkflowError(Exception):
    """Base of every error the engine reports; `message` is ready to show to a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class DefinitionError(WorkflowError):
    """A workflow definition is invalid. Names the file, the line when known, and the offending element."""

    def __init__(
        self,
        source: Path | str | None,
        problem: str,
        *,
        line: int | None = None,
        column: int | None = None,
        hint: str = "",
    ) -> None:
        self.source = str(source) if source is not None else None
        self.problem = problem
        self.line = line
        self.column = column
        where = self.source or "définition"
        if line is not None:
            where += f", ligne {line}"
            if column is not None:
                where += f", colonne {column}"
        message = f"{where} : {problem}"
        if hint:
            message += f"\n  → {hint}"
        super().__init__(message)


class UnknownInstance(WorkflowError):
    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(f"Aucun parcours n'est suivi pour « {subject} ».")


class InvalidItemValue(WorkflowError):
    """A checklist value does not fit its item's type."""

    def __init__(self, item_label: str, value: object, reason: str) -> None:
        self.item_label = item_label
        self.value = value
        self.reason = reason
        super().__init__(f"Valeur refusée pour « {item_label} » (« {value} ») : {reason}")


class TransitionRefused(WorkflowError):
    """A move (or a checklist change) was refused; `reasons` lists every unmet condition."""

    def __init__(self, subject: str, action_label: str, state_label: str, reasons: Sequence[str]) -> None:
        self.subject = subject
        self.action_label = action_label
        self.state_label = state_label
        self.reasons = list(reasons)
        lines = [f"Action « {action_label} » refusée pour {subject} (état : {state_label}) :"]
        lines += [f"  - {reason}" for reason in self.reasons]
        super().__init__("\n".join(lines))


class ConcurrencyConflict(WorkflowError):
    """Someone else changed the same instance between the read and the write."""

    def __init__(
        self, subject: str, expected_version: int, actual_version: int | None, *, item_label: str = ""
    ) -> None:
        self.subject = subject
        self.expected_version = expected_version
        self.actual_version = actual_version
        self.item_label = item_label
        what = (
            f"« {item_label} » a été modifié par quelqu'un d'autre pendant votre saisie"
            if item_label
            else f"le parcours de {subject} a été modifié entre-temps "
            f"(version attendue {expected_version}, version actuelle {actual_version})"
        )
        super().__init__(
            f"Conflit : {what}. Rechargez le parcours de {subject} et recommencez votre action ; "
            "rien n'a été enregistré."
        )
