"""The outbox: messages queued in the caller's transaction, never twice for the same key, withdrawn by group."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from notifications.models import CANCELLED, PENDING, OutboxMessage
from notifications.outbox import Draft, cancel, enqueue, message_id_for

DUE = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def draft(key: str, group: str = "school-1:waiting", recipient: str = "IEN@example.org") -> Draft:
    return Draft(key=key, recipient=recipient, subject="Rappel", text="Bonjour", html="<p>Bonjour</p>", due_at=DUE,
                 kind="reminder", group_key=group)


def test_the_same_key_is_queued_once_with_a_stable_message_id(db: Engine) -> None:
    with Session(db) as session, session.begin():
        assert enqueue(session, [draft("a"), draft("b"), draft("a")], domain="example.org") == 2
    with Session(db) as session, session.begin():
        assert enqueue(session, [draft("a"), draft("c")], domain="example.org") == 1
    with Session(db) as session:
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.key))).all()
    assert [r.key for r in rows] == ["a", "b", "c"]
    assert rows[0].message_id == message_id_for("a", "example.org") != rows[1].message_id
    assert rows[0].recipient == "ien@example.org" and rows[0].status == PENDING


def test_a_rolled_back_change_leaves_no_message(db: Engine) -> None:
    try:
        with Session(db) as session, session.begin():
            enqueue(session, [draft("a")], domain="example.org")
            raise RuntimeError("the change that caused it failed")
    except RuntimeError:
        pass
    with Session(db) as session:
        assert session.exec(select(OutboxMessage)).all() == []


def test_cancel_withdraws_only_the_pending_messages_of_the_group(db: Engine) -> None:
    with Session(db) as session, session.begin():
        enqueue(session, [draft("a"), draft("b"), draft("c", group="school-2:waiting")], domain="example.org")
        session.exec(select(OutboxMessage).where(OutboxMessage.key == "b")).one().status = "sent"
    with Session(db) as session, session.begin():
        assert cancel(session, "school-1:waiting") == 1
    with Session(db) as session:
        statuses = {r.key: r.status for r in session.exec(select(OutboxMessage)).all()}
    assert statuses == {"a": CANCELLED, "b": "sent", "c": PENDING}
