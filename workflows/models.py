"""Tables of the engine: one row per instance, append-only history, checklist values, refused attempts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone: they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timestamp() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class WorkflowInstance(SQLModel, table=True):
    __tablename__ = "workflow_instance"
    __table_args__ = (
        UniqueConstraint("subject", name="uq_workflow_instance_subject"),
        Index("ix_workflow_instance_entered_at", "entered_at", "subject"),  # the longest waits first, in order
    )

    id: int | None = Field(default=None, primary_key=True)
    definition_id: str = Field(max_length=64)
    subject: str = Field(max_length=64)
    state: str = Field(max_length=128, index=True)
    held_from: str | None = Field(default=None, max_length=128)
    version: int = Field(default=1)
    definition_version: int = Field(default=1)  # the version of the definition the instance follows
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()  # moves on every change, checklist included
    entered_at: datetime = _timestamp()  # when the instance entered its current state


class HistoryEntry(SQLModel, table=True):
    """Append-only: database triggers refuse UPDATE and DELETE on this table."""

    __tablename__ = "workflow_history"

    id: int | None = Field(default=None, primary_key=True)
    instance_id: int = Field(foreign_key="workflow_instance.id", index=True)
    at: datetime = _timestamp()
    actor: str = Field(max_length=254)
    role: str = Field(max_length=32)
    event: str = Field(max_length=64)
    source: str | None = Field(default=None, max_length=128)
    target: str = Field(max_length=128)
    note: str | None = None
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ChecklistValue(SQLModel, table=True):
    __tablename__ = "workflow_checklist_value"
    __table_args__ = (UniqueConstraint("instance_id", "step", "item", name="uq_checklist_value_item"),)

    id: int | None = Field(default=None, primary_key=True)
    instance_id: int = Field(foreign_key="workflow_instance.id", index=True)
    step: str = Field(max_length=64)
    item: str = Field(max_length=64)
    value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    revision: int = Field(default=1)  # bumped on every change of this item: concurrent edits of it conflict
    updated_by: str = Field(max_length=254)
    updated_at: datetime = _timestamp()


class RefusedAttempt(SQLModel, table=True):
    """A move or change that was refused, with its reasons: inspectable like the history."""

    __tablename__ = "workflow_refused_attempt"

    id: int | None = Field(default=None, primary_key=True)
    instance_id: int | None = Field(default=None, foreign_key="workflow_instance.id", index=True)
    subject: str = Field(max_length=64, index=True)
    at: datetime = _timestamp()
    actor: str = Field(max_length=254)
    role: str = Field(max_length=32)
    event: str = Field(max_length=64)
    state: str | None = Field(default=None, max_length=128)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class InstalledDefinition(SQLModel, table=True):
    """A definition version installed in this database, with what later versions are compared against."""

    __tablename__ = "workflow_definition_version"
    __table_args__ = (UniqueConstraint("definition_id", "version", name="uq_definition_version"),)

    id: int | None = Field(default=None, primary_key=True)
    definition_id: str = Field(max_length=64, index=True)
    version: int
    fingerprint: str = Field(max_length=64)  # sha256 of the definition's content
    snapshot: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # states, required items per step
    installed_at: datetime = _timestamp()
    installed_by: str = Field(max_length=254)
