"""Progress of long work (imports, exports, restores, tables), reported to whoever shows it. The work says what
it is doing and how far it is; the interface decides whether to draw a bar (a terminal) or nothing (a pipe, JSON,
a web request)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, label: str, total: int | None = None) -> None:
        """A new stage of the work, with its size when known (in rows, files…)."""

    def advance(self, amount: int = 1) -> None:
        """`amount` more units of the current stage are done."""


class Silent:
    """Reports nothing: the default, and what pipes and JSON output get."""

    def phase(self, label: str, total: int | None = None) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None


SILENT = Silent()
