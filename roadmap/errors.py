"""Errors shown to users. Each one builds its own French message from its fields."""

from __future__ import annotations

from pathlib import Path


class RoadmapError(Exception):
    """Base of every error the product reports to a user (CLI exit code 1, web 4xx)."""

    exit_code = 1

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # What would fix it, as a key each interface turns into its own words (the CLI: a command to type; the web:
        # a link). The domain never names a shell command or an option.
        self.remedy = remedy

    def __str__(self) -> str:
        return self.message


class InputFileError(RoadmapError):
    """A file given by the user cannot be used as a whole (unreadable, wrong format, missing columns)."""

    def __init__(
        self, path: Path | str, problem: str, hint: str = "", line: int | None = None, column: int | None = None
    ) -> None:
        self.path = Path(path)
        self.problem = problem
        self.hint = hint
        self.line = line
        self.column = column
        where = str(self.path)
        if line is not None:
            where += f", ligne {line}"
            if column is not None:
                where += f", colonne {column}"
        message = f"{where} : {problem}"
        if hint:
            message += f"\n  → {hint}"
        super().__init__(message)


class NotFound(RoadmapError):
    """An identifier given by the user matches nothing."""

    def __init__(self, what: str, key: str, hint: str = "", remedy: str | None = None) -> None:
        self.what = what
        self.key = key
        message = f"{what} introuvable : « {key} »."
        if hint:
            message += f"\n  → {hint}"
        super().__init__(message, remedy)


class InvalidValue(RoadmapError):
    """A value given by the user (option, argument, field) is not acceptable."""

    def __init__(self, field: str, value: object, reason: str, hint: str = "", remedy: str | None = None) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        message = f"Valeur refusée pour {field} (« {value} ») : {reason}"
        if hint:
            message += f"\n  → {hint}"
        super().__init__(message, remedy)
