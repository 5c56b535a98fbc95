"""Tables of the notifications engine: the outbox, the local mail sink, recipients' preferences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

PENDING = "pending"  # waiting for its time (due_at, next_attempt_at)
SENT = "sent"
FAILED = "failed"  # refused for good (5xx, or every attempt used): shown to those who watch the outbox
CANCELLED = "cancelled"  # no longer true (the subject moved on) before it was sent
DIGESTED = "digested"  # sent inside a digest message (which is itself a row of the outbox)
STATUSES = (PENDING, SENT, FAILED, CANCELLED, DIGESTED)

IMMEDIATE = "immediate"
DIGEST = "digest"
MODES = (IMMEDIATE, DIGEST)


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message: its name as the recipient sees it, its MIME type ("type/subtype"), its bytes."""

    filename: str
    content_type: str
    content: bytes

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0] or "application"

    @property
    def subtype(self) -> str:
        return self.content_type.partition("/")[2] or "octet-stream"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _moment(*, nullable: bool = False, index: bool = False) -> Any:
    default = None if nullable else utcnow
    column = Column(DateTime(timezone=True), nullable=nullable, index=index)
    return Field(default=None, sa_column=column) if nullable else Field(default_factory=default, sa_column=column)


class OutboxMessage(SQLModel, table=True):
    """One email to one recipient, written in the transaction of the change that causes it. `key` names what it
    is about (subject, reason, recipient, occurrence): the same message can never be queued twice."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "status", "due_at"),
        Index("ix_outbox_message_group", "group_key", "status"),  # cancelling a group reads only that group
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    message_id: str = Field(max_length=255, unique=True)  # stable: derived from the key, the same on every retry
    kind: str = Field(max_length=32)  # reminder, escalation, event, digest, test…: chosen by the application
    group_key: str = Field(default="", max_length=255)  # what cancels it (e.g. a subject's state)
    recipient: str = Field(max_length=254, index=True)
    recipient_name: str = Field(default="", max_length=200)
    subject: str = Field(max_length=255)
    text_body: str = Field(sa_column=Column(Text, nullable=False))
    html_body: str = Field(default="", sa_column=Column(Text, nullable=False))
    calendar: str = Field(default="", max_length=32)  # the business calendar its sending window follows
    digest: bool = Field(default=False)  # may travel in the recipient's daily digest instead of alone
    status: str = Field(default=PENDING, max_length=16)
    created_at: datetime = _moment()
    due_at: datetime = _moment()
    next_attempt_at: datetime | None = _moment(nullable=True)
    attempts: int = Field(default=0)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False))
    sent_at: datetime | None = _moment(nullable=True)
    claimed_by: str = Field(default="", max_length=128)
    claimed_until: datetime | None = _moment(nullable=True)
    digest_id: int | None = Field(default=None)  # the digest message that carried it
    meta: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    cc: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))  # copied recipients


class OutboxAttachment(SQLModel, table=True):
    """A file sent with an outbox message (kept with it: a retry sends the same bytes)."""

    __tablename__ = "outbox_attachment"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(
        sa_column=Column(Integer, ForeignKey("outbox_message.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    position: int = Field(default=0)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=128)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SinkMessage(SQLModel, table=True):
    """What the local mail sink received (the embedded default when no SMTP server is configured)."""

    __tablename__ = "mail_sink"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=255, index=True)
    received_at: datetime = _moment()
    sender: str = Field(max_length=254)
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str = Field(max_length=255)
    text_body: str = Field(sa_column=Column(Text, nullable=False))
    html_body: str = Field(default="", sa_column=Column(Text, nullable=False))


class SinkAttachment(SQLModel, table=True):
    """A file the local mail sink received with a message."""

    __tablename__ = "mail_sink_attachment"

    id: int | None = Field(default=None, primary_key=True)
    sink_id: int = Field(
        sa_column=Column(Integer, ForeignKey("mail_sink.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    position: int = Field(default=0)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=128)
    size: int = Field(default=0)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class RecipientPreference(SQLModel, table=True):
    """How a recipient wants reminders: one by one (immediate) or in one daily digest."""

    __tablename__ = "recipient_preference"

    address: str = Field(primary_key=True, max_length=254)
    mode: str = Field(default=DIGEST, max_length=16)
    updated_at: datetime = _moment()
