"""The dispatcher: sends what the outbox holds once it is due and its business calendar's sending window is open.

One run (`Dispatcher.run_once`):
1. counts the due messages per calendar and asks each calendar whether its window is open (an empty key: always);
   messages of a closed calendar wait, which is not an error;
2. groups the digest messages of each recipient who takes a daily digest into ONE new outbox message per recipient
   per local day (kind "digest"), at the first run in the window where there is something to group; the grouped
   messages become "digested";
3. claims a batch, sends it through the sender, records each outcome; again until nothing is left to claim.

Claims make several dispatchers safe together: a claim is a lease (`claimed_by`, `claimed_until`) taken in its own
committed transaction before anything is sent — on PostgreSQL with `SELECT … FOR UPDATE SKIP LOCKED`, on SQLite
with one `UPDATE … WHERE id IN (…) RETURNING` that runs under SQLite's single write lock (a transaction whose
first statement writes takes the lock, waiting its turn, before it reads). A dispatcher that dies leaves its claims
to expire: after `claimed_until` anyone takes them again. So a crash between the enqueue's commit and the send
loses nothing (sent later), and a crash between the send and the mark sends the messages of that one batch again
with the same Message-ID (the sender's own duplicate, which mail clients fold into one).

Times: `at` (default: the clock) is the instant the run acts for: what is due, which window is open, when to retry.
Claims use the clock, since they are about live processes. Datetimes are stored in UTC.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from html import escape
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlmodel import Session

from notifications.delivery import DEFAULT_MAIL_FROM, Email, Sender, SendOutcome
from notifications.models import (
    CANCELLED,
    DIGESTED,
    FAILED,
    IMMEDIATE,
    PENDING,
    SENT,
    Attachment,
    OutboxAttachment,
    OutboxMessage,
    RecipientPreference,
    utcnow,
)
from notifications.outbox import Draft, enqueue

logger = logging.getLogger(__name__)

LOCAL_TIMEZONE = ZoneInfo("Europe/Paris")
DEFAULT_BACKOFF = tuple(timedelta(minutes=minutes) for minutes in (1, 5, 15, 60, 240, 720, 1440))
DIGEST_KIND = "digest"

_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_PREFERENCES: Table = RecipientPreference.__table__  # type: ignore[attr-defined]
_ATTACHMENTS: Table = OutboxAttachment.__table__  # type: ignore[attr-defined]


class WindowCalendar(Protocol):
    """What the dispatcher needs of a business calendar (notifications.calendar.BusinessCalendar has it)."""

    def in_window(self, moment: datetime) -> bool: ...

    def next_opening(self, moment: datetime) -> datetime: ...


DigestRenderer = Callable[[str, Sequence[OutboxMessage]], tuple[str, str, str]]
"""(recipient, the grouped messages in due order) -> (subject, text, html) of the digest."""


def plain_digest(recipient: str, messages: Sequence[OutboxMessage]) -> tuple[str, str, str]:
    """A neutral digest, for when the application supplies no renderer: each message's subject and text."""
    count = len(messages)
    subject = f"Récapitulatif du jour : {count} message{'s' if count > 1 else ''}"
    text = "\n\n".join(f"— {message.subject}\n\n{message.text_body.strip()}" for message in messages)
    html = "".join(
        f"<h2>{escape(message.subject)}</h2>\n"
        + (message.html_body or f"<pre>{escape(message.text_body)}</pre>") + "\n"
        for message in messages)
    return subject, f"{subject}\n\n{text}\n", html


@dataclass(frozen=True)
class DispatchReport:
    at: datetime
    sent: int = 0
    retried: int = 0
    failed: int = 0
    outside_window: int = 0  # due, but their calendar's sending window is closed at `at`: they wait
    digests: int = 0  # digest messages created (then sent like any message, counted in `sent`…)
    digested: int = 0  # messages grouped into those digests

    def summary(self) -> str:
        return (f"envoyés : {self.sent}, à réessayer : {self.retried}, en échec : {self.failed}, "
                f"hors créneau : {self.outside_window}, récapitulatifs : {self.digests} "
                f"({self.digested} message{'s' if self.digested > 1 else ''} regroupé"
                f"{'s' if self.digested > 1 else ''})")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _message(row: Any) -> OutboxMessage:
    """A row of the outbox as a (detached) OutboxMessage, its instants aware UTC (SQLite hands back naive ones)."""
    values = dict(row._mapping)
    for name in ("created_at", "due_at", "next_attempt_at", "sent_at", "claimed_until"):
        if values.get(name) is not None:
            values[name] = _utc(values[name])
    return OutboxMessage(**values)


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:128]


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        *,
        calendar_from_key: Callable[[str], WindowCalendar],
        digest_renderer: DigestRenderer = plain_digest,
        mail_from: str = DEFAULT_MAIL_FROM,
        clock: Callable[[], datetime] = utcnow,
        timezone: tzinfo = LOCAL_TIMEZONE,
        batch_size: int = 100,
        max_attempts: int = 8,
        backoff: Sequence[timedelta] = DEFAULT_BACKOFF,
        lease_seconds: int = 300,
        worker_id: str | None = None,
    ) -> None:
        if batch_size < 1 or max_attempts < 1 or lease_seconds < 1 or not backoff:
            raise ValueError("batch_size, max_attempts and lease_seconds must be positive, backoff not empty")
        self.engine = engine
        self.sender = sender
        self.calendar_from_key = calendar_from_key
        self.digest_renderer = digest_renderer
        self.mail_from = mail_from
        self.clock = clock
        self.timezone = timezone
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff = tuple(backoff)
        self.lease = timedelta(seconds=lease_seconds)
        self.worker_id = (worker_id or _default_worker_id())[:128]
        self._calendars: dict[str, WindowCalendar | None] = {}
        self._postgresql = engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------------------------------- one run

    def run_once(self, at: datetime | None = None) -> DispatchReport:
        """Send everything that is due at `at` (default: now) and may go out then; returns what happened."""
        at = _utc(at or self.clock())
        open_keys, outside = self._open_calendars(at)
        counts = {"sent": 0, "retry": 0, "failed": 0}
        digests = digested = 0
        if open_keys:
            digests, digested = self._make_digests(at, open_keys)
            while True:
                now = _utc(self.clock())
                with self.engine.begin() as connection:
                    batch = self._claim(connection, lambda t, now: self._sendable(t, at, now, open_keys),
                                        limit=self.batch_size, now=now)
                if not batch:
                    break
                files = self._attachments([message.id for message in batch if message.id is not None])
                outcomes = self._send([self._email(message, at, files.get(message.id or 0, ())) for message in batch])
                with self.engine.begin() as connection:
                    final = self._mark(connection, batch, outcomes, at)
                for status in final:
                    counts[status] += 1
        report = DispatchReport(at=at, sent=counts["sent"], retried=counts["retry"], failed=counts["failed"],
                                outside_window=outside, digests=digests, digested=digested)
        if report != DispatchReport(at=at):
            logger.info("dispatch at %s: %s", at.isoformat(), report.summary())
        return report

    # ------------------------------------------------------------------------------------------- calendars

    def _calendar(self, key: str) -> WindowCalendar | None:
        if key not in self._calendars:
            try:
                self._calendars[key] = self.calendar_from_key(key)
            except Exception:
                logger.exception("unknown business calendar %r: its messages wait", key)
                self._calendars[key] = None
        return self._calendars[key]

    def is_open(self, key: str, at: datetime) -> bool:
        """Whether messages following calendar `key` may go out at `at` (an empty key: always)."""
        if not key:
            return True
        calendar = self._calendar(key)
        return calendar is not None and calendar.in_window(at)

    def _open_calendars(self, at: datetime) -> tuple[list[str], int]:
        """The calendar keys of due messages whose window is open, and how many due messages wait outside it."""
        t = _OUTBOX
        query = (select(t.c.calendar, func.count()).where(self._waiting(t, at, _utc(self.clock())))
                 .group_by(t.c.calendar))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        open_keys: list[str] = []
        outside = 0
        for key, count in rows:
            if self.is_open(key, at):
                open_keys.append(key)
            else:
                outside += count
        return sorted(open_keys), outside

    # ------------------------------------------------------------------------------------------- selection

    @staticmethod
    def _waiting(t: FromClause, at: datetime, now: datetime) -> ColumnElement[bool]:
        """Pending, due, its next try reached, and not claimed by a live dispatcher."""
        return and_(
            t.c.status == PENDING,
            t.c.due_at <= at,
            or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= at),
            or_(t.c.claimed_until.is_(None), t.c.claimed_until < now),
        )

    @staticmethod
    def _for_digest(t: FromClause) -> ColumnElement[bool]:
        """Travels in the recipient's digest: a digest message of a recipient not asking for immediate delivery
        (no preference row means digest)."""
        prefers_immediate = exists().where(_PREFERENCES.c.address == t.c.recipient, _PREFERENCES.c.mode == IMMEDIATE)
        return and_(t.c.digest.is_(true()), ~prefers_immediate)

    def _sendable(self, t: FromClause, at: datetime, now: datetime, keys: Sequence[str]) -> ColumnElement[bool]:
        return and_(self._waiting(t, at, now), t.c.calendar.in_(keys), ~self._for_digest(t))

    def _digestible(self, t: FromClause, at: datetime, now: datetime, keys: Sequence[str],
                    day: date) -> ColumnElement[bool]:
        """Waiting for its recipient's digest of `day`, that digest not made yet, for a batch of recipients."""

        def eligible(u: FromClause) -> ColumnElement[bool]:
            made = _OUTBOX.alias("made_digest")
            made_today = exists().where(made.c.key == literal("digest:") + u.c.recipient + literal(f":{day}"))
            return and_(self._waiting(u, at, now), u.c.calendar.in_(keys), self._for_digest(u), ~made_today)

        some = _OUTBOX.alias("digest_recipient")
        recipients = (select(some.c.recipient).where(eligible(some)).distinct().order_by(some.c.recipient)
                      .limit(self.batch_size))
        return and_(eligible(t), t.c.recipient.in_(recipients))

    def _claim(self, connection: Connection, where: Callable[[FromClause, datetime], ColumnElement[bool]], *,
               limit: int | None, now: datetime) -> list[OutboxMessage]:
        """Take a lease on the messages matching `where(table, now)` (at most `limit`), in the caller's
        transaction, which must commit before anything is sent."""
        t = _OUTBOX
        claim = (update(t).values(claimed_by=self.worker_id, claimed_until=now + self.lease)
                 .returning(*t.c))
        if self._postgresql:
            query = select(t.c.id).where(where(t, now)).order_by(t.c.due_at, t.c.id).limit(limit) \
                .with_for_update(skip_locked=True, of=t)
            ids = list(connection.execute(query).scalars())
            if not ids:
                return []
            result = connection.execute(claim.where(t.c.id.in_(ids)))
        else:
            # One statement: SQLite takes its write lock before reading the candidates (no stale snapshot).
            candidate = t.alias("candidate")
            query = select(candidate.c.id).where(where(candidate, now)).order_by(candidate.c.due_at, candidate.c.id) \
                .limit(limit)
            result = connection.execute(claim.where(t.c.id.in_(query)))
        messages = [_message(row) for row in result]
        messages.sort(key=lambda message: (message.due_at, message.id or 0))
        return messages

    # ------------------------------------------------------------------------------------------- digests

    def _make_digests(self, at: datetime, open_keys: Sequence[str]) -> tuple[int, int]:
        """Group the digest messages of `at`'s local day: one digest per recipient per day at most. Returns
        (digests created, messages grouped)."""
        day = at.astimezone(self.timezone).date()
        made = grouped = 0
        while True:
            now = _utc(self.clock())
            with self.engine.begin() as connection:
                claimed = self._claim(connection, lambda t, now: self._digestible(t, at, now, open_keys, day),
                                      limit=None, now=now)
                if not claimed:
                    return made, grouped
                by_recipient: dict[str, list[OutboxMessage]] = {}
                for message in claimed:
                    by_recipient.setdefault(message.recipient, []).append(message)
                for recipient, messages in by_recipient.items():
                    digest_id = self._add_digest(connection, recipient, messages, at, now, day)
                    ids = [message.id for message in messages]
                    mine = and_(_OUTBOX.c.id.in_(ids), _OUTBOX.c.claimed_by == self.worker_id)
                    release: dict[str, Any] = {"claimed_by": "", "claimed_until": None}
                    if digest_id is None:  # another dispatcher made today's digest meanwhile: tomorrow's
                        connection.execute(update(_OUTBOX).where(mine).values(**release))
                        continue
                    connection.execute(update(_OUTBOX).where(mine, _OUTBOX.c.status == PENDING)
                                       .values(status=DIGESTED, digest_id=digest_id, **release))
                    made += 1
                    grouped += len(messages)

    def _add_digest(self, connection: Connection, recipient: str, messages: Sequence[OutboxMessage],
                    at: datetime, now: datetime, day: date) -> int | None:
        """Queue the digest of `recipient` for `day`; its id, or None when it already exists."""
        subject, text, html = self.digest_renderer(recipient, messages)
        key = f"digest:{recipient}:{day}"
        domain = messages[0].message_id.rstrip(">").rpartition("@")[2] or "localhost"
        draft = Draft(
            key=key, recipient=recipient, subject=subject, text=text, html=html, due_at=at, kind=DIGEST_KIND,
            recipient_name=next((message.recipient_name for message in messages if message.recipient_name), ""),
            calendar=messages[0].calendar, digest=False, meta={"messages": len(messages)},
        )
        with Session(bind=connection) as session:
            if not enqueue(session, [draft], domain=domain, now=now):
                return None
        return connection.execute(select(_OUTBOX.c.id).where(_OUTBOX.c.key == key)).scalar_one()  # type: ignore[no-any-return]

    # ------------------------------------------------------------------------------------------- send, mark

    def _attachments(self, ids: Sequence[int]) -> dict[int, tuple[Attachment, ...]]:
        """The files of the claimed messages that have some (one query per batch)."""
        t = _ATTACHMENTS
        query = (select(t.c.message_id, t.c.filename, t.c.content_type, t.c.content)
                 .where(t.c.message_id.in_(ids)).order_by(t.c.message_id, t.c.position))
        found: dict[int, list[Attachment]] = {}
        with self.engine.connect() as connection:
            for message_id, filename, content_type, content in connection.execute(query):
                found.setdefault(message_id, []).append(Attachment(filename, content_type, bytes(content)))
        return {message_id: tuple(files) for message_id, files in found.items()}

    def _email(self, message: OutboxMessage, at: datetime, attachments: tuple[Attachment, ...] = ()) -> Email:
        return Email(message_id=message.message_id, sender=self.mail_from, to=message.recipient,
                     to_name=message.recipient_name, subject=message.subject, text=message.text_body,
                     html=message.html_body, date=at, cc=tuple(message.cc or ()), attachments=attachments)

    def _send(self, emails: Sequence[Email]) -> list[SendOutcome]:
        try:
            outcomes = asyncio.run(self.sender.send(emails))
        except Exception as error:  # a sender's bug or a broken environment: nothing known, try again later
            logger.exception("the sender failed on a batch of %d", len(emails))
            return [SendOutcome.retry(f"erreur de l'expéditeur : {error!r}") for _ in emails]
        if len(outcomes) != len(emails):
            logger.error("the sender answered %d outcomes for %d emails", len(outcomes), len(emails))
            return [SendOutcome.retry("réponse incomplète de l'expéditeur") for _ in emails]
        return outcomes

    def _delay(self, attempts_before: int) -> timedelta:
        return self.backoff[min(attempts_before, len(self.backoff) - 1)]

    def _mark(self, connection: Connection, batch: Sequence[OutboxMessage], outcomes: Sequence[SendOutcome],
              at: datetime) -> list[str]:
        """Record the outcomes of a batch we claimed; returns the final status of each ("sent", "retry",
        "failed"). A message cancelled meanwhile stays cancelled unless it was sent."""
        now = _utc(self.clock())
        sent: list[dict[str, Any]] = []
        retried: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        final: list[str] = []
        for message, outcome in zip(batch, outcomes, strict=True):
            attempts = message.attempts + 1
            row: dict[str, Any] = {"b_id": message.id, "b_attempts": attempts, "b_error": outcome.reason[:2000]}
            if outcome.status == "sent":
                sent.append(row)
                final.append("sent")
            elif outcome.status == "retry" and attempts < self.max_attempts:
                retried.append({**row, "b_next": at + self._delay(message.attempts)})
                final.append("retry")
            else:
                if outcome.status == "retry":
                    row["b_error"] = f"{outcome.reason} — abandonné après {attempts} tentatives"[:2000]
                failed.append(row)
                final.append("failed")
        t = _OUTBOX
        ours = and_(t.c.id == bindparam("b_id"), t.c.claimed_by == self.worker_id)
        release: dict[str, Any] = {"claimed_by": "", "claimed_until": None, "attempts": bindparam("b_attempts"),
                   "last_error": bindparam("b_error")}
        if sent:
            connection.execute(update(t).where(ours, or_(t.c.status == PENDING, t.c.status == CANCELLED))
                               .values(status=SENT, sent_at=now, **release), sent)
        if retried:
            connection.execute(update(t).where(ours, t.c.status == PENDING)
                               .values(next_attempt_at=bindparam("b_next"), **release), retried)
        if failed:
            connection.execute(update(t).where(ours, t.c.status == PENDING).values(status=FAILED, **release), failed)
        connection.execute(update(t).where(t.c.id.in_([message.id for message in batch]),
                                           t.c.claimed_by == self.worker_id)
                           .values(claimed_by="", claimed_until=None))
        return final
