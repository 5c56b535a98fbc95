"""Putting messages in the outbox, inside the caller's transaction: a change and the emails it causes are
committed together or not at all, and a message keyed like one already queued is not queued again."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel

from notifications.models import CANCELLED, PENDING, Attachment, utcnow


@dataclass(frozen=True)
class Draft:
    """A message to queue. `key` names what it is about, so that the same fact never makes two emails."""

    key: str
    recipient: str
    subject: str
    text: str
    due_at: datetime
    kind: str
    html: str = ""
    recipient_name: str = ""
    group_key: str = ""
    calendar: str = ""
    digest: bool = False
    meta: dict[str, Any] | None = field(default=None)
    cc: tuple[str, ...] = ()  # also receive the message (one message, several recipients)
    attachments: tuple[Attachment, ...] = ()


def as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def message_id_for(key: str, domain: str) -> str:
    """A Message-ID that depends only on the key: a message sent twice (crash between send and mark) carries the
    same one, so mail clients show it once."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def enqueue(session: Session, drafts: Sequence[Draft], *, domain: str, now: datetime | None = None) -> int:
    """Queue every draft not queued yet (same key = same message); returns how many were new."""
    if not drafts:
        return 0
    created = as_utc(now or utcnow())
    rows = [
        {
            "key": draft.key,
            "message_id": message_id_for(draft.key, domain),
            "kind": draft.kind,
            "group_key": draft.group_key,
            "recipient": draft.recipient.lower(),
            "recipient_name": draft.recipient_name,
            "subject": draft.subject,
            "text_body": draft.text,
            "html_body": draft.html,
            "calendar": draft.calendar,
            "digest": draft.digest,
            "status": PENDING,
            "created_at": created,
            "due_at": as_utc(draft.due_at),  # SQLite keeps no offset: every instant is stored in UTC
            "next_attempt_at": None,
            "attempts": 0,
            "last_error": "",
            "sent_at": None,
            "claimed_by": "",
            "claimed_until": None,
            "digest_id": None,
            "meta": draft.meta,
            "cc": [address.lower() for address in draft.cc] or None,
        }
        for draft in drafts
    ]
    table = _OUTBOX
    dialect = session.get_bind().dialect.name
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = upsert(table).on_conflict_do_nothing(index_elements=["key"])
    result = session.connection().execute(statement.returning(table.c.key, table.c.id), rows)
    inserted: dict[str, int] = {key: identifier for key, identifier in result}
    files = [
        {"message_id": inserted[draft.key], "position": position, "filename": attachment.filename,
         "content_type": attachment.content_type, "content": attachment.content}
        for draft in drafts
        if draft.key in inserted
        for position, attachment in enumerate(draft.attachments)
    ]
    if files:
        session.connection().execute(insert(_ATTACHMENTS), files)
    return len(inserted)


def cancel(session: Session, group_key: str) -> int:
    """Withdraw the pending messages of a group (what they said is no longer true); returns how many."""
    result = session.connection().execute(_CANCEL, {"cancelled_group": group_key})
    return int(result.rowcount)


_OUTBOX = SQLModel.metadata.tables["outbox_message"]
_ATTACHMENTS = SQLModel.metadata.tables["outbox_attachment"]
_CANCEL = (
    update(_OUTBOX)
    .where(_OUTBOX.c.group_key == bindparam("cancelled_group"), _OUTBOX.c.status == PENDING)
    .values(status=CANCELLED)
)
