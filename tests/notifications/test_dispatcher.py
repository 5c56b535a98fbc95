"""The dispatcher, against real components: the migrated database (SQLite, and PostgreSQL when the test command
started one), aiosmtpd on 127.0.0.1, real processes killed mid-run, APScheduler."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from notifications.delivery import Email, SendOutcome, SinkSender, SmtpSender
from notifications.dispatcher import Dispatcher, DispatchReport
from notifications.models import DIGESTED, FAILED, PENDING, SENT, OutboxMessage, RecipientPreference, SinkMessage
from notifications.outbox import Draft, cancel, enqueue
from notifications.scheduler import (
    JOB_ID,
    DailyJob,
    Lease,
    dispatch_if_holder,
    run_daily_if_holder,
    run_worker,
    schedule_dispatch,
    start_scheduler,
)
from roadmap.db import make_engine
from tests.notifications.smtp import SmtpServer

PARIS = ZoneInfo("Europe/Paris")
MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Paris
REPO = Path(__file__).resolve().parents[2]


class Weekdays:
    """Stands in for notifications.calendar (written in parallel): Monday to Friday, 08:30 to 17:30 in Paris."""

    key = "weekdays"

    def in_window(self, moment: datetime) -> bool:
        local = moment.astimezone(PARIS)
        return local.weekday() < 5 and time(8, 30) <= local.time() < time(17, 30)

    def next_opening(self, moment: datetime) -> datetime:
        local = moment.astimezone(PARIS)
        day = local.date() + timedelta(days=0 if local.time() < time(8, 30) else 1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return datetime.combine(day, time(8, 30), PARIS).astimezone(UTC)


def calendars(key: str) -> Weekdays:
    if key != "weekdays":
        raise KeyError(key)
    return Weekdays()


def draft(key: str, *, recipient: str = "ien@example.org", due: datetime = MONDAY, **changes: Any) -> Draft:
    values: dict[str, Any] = {"key": key, "recipient": recipient, "subject": f"Rappel {key}",
                              "text": f"Texte {key}", "html": f"<p>{key}</p>", "due_at": due, "kind": "reminder"}
    return Draft(**(values | changes))


def queue(db: Engine, *drafts: Draft) -> None:
    with Session(db) as session, session.begin():
        enqueue(session, drafts, domain="example.org")


def outbox(db: Engine) -> dict[str, OutboxMessage]:
    with Session(db) as session:
        return {row.key: row for row in session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))}


def aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def dispatcher(db: Engine, sender: Any, **options: Any) -> Dispatcher:
    return Dispatcher(db, sender, calendar_from_key=calendars, mail_from="Notifications <n@example.org>", **options)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def smtp_dispatcher(db: Engine, server: SmtpServer, **options: Any) -> Dispatcher:
    return dispatcher(db, SmtpSender(server.settings()), **options)


# ------------------------------------------------------------------------------------------------- sending


def test_due_messages_go_out_in_one_connection_and_are_marked_sent(db: Engine, smtp: SmtpServer) -> None:
    queue(db, *[draft(f"m{number:02}", recipient=f"p{number}@example.org") for number in range(20)],
          draft("later", due=MONDAY + timedelta(hours=1)))
    report = smtp_dispatcher(db, smtp).run_once(MONDAY)
    assert (report.sent, report.retried, report.failed, report.outside_window) == (20, 0, 0, 0)
    assert smtp.handler.connections == 1
    rows = outbox(db)
    assert smtp.handler.message_ids() == [rows[f"m{number:02}"].message_id for number in range(20)]
    first = rows["m00"]
    assert (first.status, first.attempts, first.claimed_by, first.claimed_until) == (SENT, 1, "", None)
    assert first.sent_at is not None and rows["later"].status == PENDING
    received = smtp.handler.received[0]
    assert received.message["From"] == "Notifications <n@example.org>" and received.rcpt_tos == ("p0@example.org",)
    assert smtp_dispatcher(db, smtp).run_once(MONDAY) == DispatchReport(at=MONDAY)  # nothing twice


def test_a_temporary_refusal_is_retried_later_and_later(db: Engine, smtp: SmtpServer) -> None:
    queue(db, draft("a"))
    smtp.handler.data_replies.extend(["451 4.3.0 Try again later", "451 4.3.0 Still busy"])
    send = smtp_dispatcher(db, smtp).run_once
    assert send(MONDAY).retried == 1
    row = outbox(db)["a"]
    assert (row.status, row.attempts, aware(row.next_attempt_at)) == (PENDING, 1, MONDAY + timedelta(minutes=1))
    assert row.last_error == "451 4.3.0 Try again later" and row.claimed_by == ""
    assert send(MONDAY + timedelta(seconds=59)) == DispatchReport(at=MONDAY + timedelta(seconds=59))  # not yet
    second = MONDAY + timedelta(minutes=1)
    assert send(second).retried == 1
    row = outbox(db)["a"]
    assert (row.attempts, aware(row.next_attempt_at)) == (2, second + timedelta(minutes=5))  # the delay grows
    assert send(second + timedelta(minutes=5)).sent == 1
    row = outbox(db)["a"]
    assert (row.status, row.attempts) == (SENT, 3)
    assert smtp.handler.message_ids() == [row.message_id]


def test_retries_end_in_failure_after_max_attempts(db: Engine, smtp: SmtpServer) -> None:
    queue(db, draft("a"))
    smtp.handler.data_replies.extend(["421 4.7.0 Too many connections"] * 2)
    send = smtp_dispatcher(db, smtp, max_attempts=2).run_once
    assert send(MONDAY).retried == 1
    assert send(MONDAY + timedelta(hours=1)).failed == 1
    row = outbox(db)["a"]
    assert row.status == FAILED and row.last_error == "421 4.7.0 Too many connections — abandonné après 2 tentatives"


def test_a_final_refusal_fails_at_once_and_refused_recipients_are_detected(db: Engine, smtp: SmtpServer) -> None:
    queue(db, draft("refused", recipient="parti@example.org"), draft("rejected"), draft("fine"),
          draft("full", recipient="plein@example.org"))
    smtp.handler.refused = {"parti@example.org": "550 5.1.1 No such user",
                            "plein@example.org": "452 4.2.2 Mailbox full"}
    smtp.handler.data_replies.append("550 5.7.1 Message rejected")  # the first DATA: "rejected"
    report = smtp_dispatcher(db, smtp).run_once(MONDAY)
    assert (report.sent, report.retried, report.failed) == (1, 1, 2)
    rows = outbox(db)
    assert (rows["refused"].status, rows["rejected"].status, rows["fine"].status, rows["full"].status) == \
        (FAILED, FAILED, SENT, PENDING)
    assert "parti@example.org (550 5.1.1 No such user)" in rows["refused"].last_error
    assert rows["rejected"].last_error == "550 5.7.1 Message rejected"
    assert rows["full"].attempts == 1 and "452 4.2.2" in rows["full"].last_error
    assert smtp.handler.connections == 1
    assert smtp_dispatcher(db, smtp).run_once(MONDAY + timedelta(days=1)).failed == 0  # failed stays failed


def test_a_server_down_then_up(db: Engine, smtp: SmtpServer) -> None:
    queue(db, draft("a"), draft("b"))
    smtp.stop()
    assert smtp_dispatcher(db, smtp).run_once(MONDAY).retried == 2
    assert outbox(db)["a"].last_error.startswith("connexion à 127.0.0.1")
    smtp.start()
    assert smtp_dispatcher(db, smtp).run_once(MONDAY + timedelta(minutes=1)).sent == 2
    assert len(smtp.handler.received) == 2


def test_downtime_across_due_times_sends_what_became_due(db: Engine, smtp: SmtpServer) -> None:
    queue(db, draft("nine", due=MONDAY + timedelta(hours=1)), draft("ten", due=MONDAY + timedelta(hours=2)),
          draft("noon", due=MONDAY + timedelta(hours=4)))
    send = smtp_dispatcher(db, smtp).run_once
    assert send(MONDAY).sent == 0
    # the worker is down from 09:00 to 11:30 (Paris): the next run sends both messages that fell due meanwhile
    assert send(MONDAY + timedelta(hours=2, minutes=30)).sent == 2
    assert [row.status for row in outbox(db).values()] == [SENT, SENT, PENDING]


def test_outside_the_sending_window_messages_wait(db: Engine, smtp: SmtpServer) -> None:
    friday_evening = datetime(2026, 11, 20, 16, 45, tzinfo=UTC)  # 17:45 in Paris: the window has closed
    queue(db, draft("a", due=friday_evening - timedelta(hours=1), calendar="weekdays"),
          draft("b", due=friday_evening, calendar="unknown-calendar"))
    send = smtp_dispatcher(db, smtp).run_once
    for moment in (friday_evening, datetime(2026, 11, 21, 10, tzinfo=UTC), MONDAY - timedelta(minutes=31)):
        report = send(moment)
        assert (report.sent, report.outside_window) == (0, 2), moment  # Friday evening, Saturday, Monday 07:59
    report = send(MONDAY - timedelta(minutes=30))  # Monday 08:30 in Paris
    assert (report.sent, report.outside_window) == (1, 1)  # an unknown calendar waits (and is logged)
    assert [row.status for row in outbox(db).values()] == [SENT, PENDING]


def test_a_message_cancelled_while_being_sent_is_recorded_as_sent(db: Engine) -> None:
    queue(db, draft("a", group_key="g"), draft("b", group_key="g"))

    class CancelMidway:
        async def send(self, emails: Sequence[Email]) -> list[SendOutcome]:
            with Session(db) as session, session.begin():
                cancel(session, "g")
            return [SendOutcome.sent(), SendOutcome.retry("451 later")]

    assert dispatcher(db, CancelMidway()).run_once(MONDAY).sent == 1
    rows = outbox(db)
    assert (rows["a"].status, rows["b"].status, rows["b"].claimed_by) == (SENT, "cancelled", "")


# ------------------------------------------------------------------------------------------------- crashes

CHILD = """
import os, sys
from datetime import datetime
from sqlmodel import Session
from notifications.delivery import SmtpSender, SmtpSettings
from notifications.dispatcher import Dispatcher
from notifications.outbox import Draft, enqueue
from roadmap.db import make_engine

url, port, when, at = sys.argv[1:]
due = datetime.fromisoformat(at)

class DiesMidway:
    def __init__(self, inner):
        self.inner = inner

    async def send(self, emails):
        if when == "before-send":
            os._exit(9)
        await self.inner.send(emails)
        os._exit(9)  # killed between the send and the mark

engine = make_engine(url)
with Session(engine) as session, session.begin():
    enqueue(session, [Draft(key="k", recipient="ien@example.org", subject="Rappel", text="Bonjour", due_at=due,
                            kind="reminder")], domain="example.org")
sender = DiesMidway(SmtpSender(SmtpSettings(host="127.0.0.1", port=int(port), local_hostname="localhost")))
Dispatcher(engine, sender, calendar_from_key=lambda key: None, worker_id="doomed").run_once(due)
"""


def run_and_kill(database_url: str, smtp: SmtpServer, when: str) -> None:
    """A real process queues a message, claims it, and dies (os._exit) before or after sending it."""
    child = subprocess.run([sys.executable, "-c", CHILD, database_url, str(smtp.port), when, MONDAY.isoformat()],
                           env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    assert child.returncode == 9, child.stderr


def test_killed_between_send_and_mark_the_message_goes_again_with_the_same_message_id(
        db: Engine, database_url: str, smtp: SmtpServer) -> None:
    run_and_kill(database_url, smtp, "after-send")
    assert len(smtp.handler.received) == 1
    row = outbox(db)["k"]
    assert (row.status, row.claimed_by) == (PENDING, "doomed")
    assert smtp_dispatcher(db, smtp).run_once(MONDAY).sent == 0  # its claim still holds
    after_lease = utcnow_plus(seconds=301)
    assert smtp_dispatcher(db, smtp, clock=lambda: after_lease).run_once(MONDAY).sent == 1
    assert smtp.handler.message_ids() == [row.message_id, row.message_id]  # that message once more, same id
    assert outbox(db)["k"].status == SENT
    assert smtp_dispatcher(db, smtp, clock=lambda: after_lease).run_once(MONDAY).sent == 0


def test_killed_after_the_commit_before_the_send_nothing_is_lost(
        db: Engine, database_url: str, smtp: SmtpServer) -> None:
    run_and_kill(database_url, smtp, "before-send")
    assert smtp.handler.received == [] and outbox(db)["k"].claimed_by == "doomed"
    after_lease = utcnow_plus(seconds=301)
    assert smtp_dispatcher(db, smtp, clock=lambda: after_lease).run_once(MONDAY).sent == 1
    assert smtp.handler.message_ids() == [outbox(db)["k"].message_id]


def utcnow_plus(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


# ------------------------------------------------------------------------------------------------- digests


def test_digests_group_a_recipients_messages_once_a_day(db: Engine) -> None:
    rendered: list[tuple[str, list[str]]] = []

    def render(recipient: str, messages: Sequence[OutboxMessage]) -> tuple[str, str, str]:
        rendered.append((recipient, [message.key for message in messages]))
        return f"Récapitulatif ({len(messages)})", "texte", "<p>html</p>"

    with Session(db) as session, session.begin():
        session.add(RecipientPreference(address="cpd@example.org", mode="immediate"))
    queue(db, draft("a1", digest=True, calendar="weekdays"), draft("a2", digest=True, due=MONDAY - timedelta(hours=1)),
          draft("a-now", digest=False), draft("c1", recipient="cpd@example.org", digest=True),
          draft("c2", recipient="cpd@example.org", digest=True),
          draft("a-later", digest=True, due=MONDAY + timedelta(hours=3)))
    send = dispatcher(db, SinkSender(db), digest_renderer=render).run_once
    report = send(MONDAY)
    assert (report.digests, report.digested, report.sent) == (1, 2, 4)  # the digest, a-now, c1, c2
    assert rendered == [("ien@example.org", ["a2", "a1"])]
    rows = outbox(db)
    digest = rows["digest:ien@example.org:2026-11-23"]
    assert (digest.kind, digest.status, digest.digest, digest.calendar) == ("digest", SENT, False, "")
    assert [(rows[key].status, rows[key].digest_id) for key in ("a1", "a2")] == [(DIGESTED, digest.id)] * 2
    assert (rows["c1"].status, rows["c2"].status, rows["a-now"].status) == (SENT, SENT, SENT)  # immediate
    with Session(db) as session:
        sink = session.exec(select(SinkMessage).order_by(col(SinkMessage.id))).all()
    assert sorted(message.subject for message in sink) == [
        "Rappel a-now", "Rappel c1", "Rappel c2", "Récapitulatif (2)"]
    assert next(m for m in sink if m.subject.startswith("R\u00e9cap")).message_id == digest.message_id

    report = send(MONDAY + timedelta(hours=4))  # a-later is due, but today's digest has gone: tomorrow's
    assert (report.digests, report.sent, outbox(db)["a-later"].status) == (0, 0, PENDING)
    report = send(MONDAY + timedelta(days=1))
    assert (report.digests, report.digested, report.sent) == (1, 1, 1)
    assert outbox(db)["digest:ien@example.org:2026-11-24"].status == SENT
    assert rendered[-1] == ("ien@example.org", ["a-later"])


def test_the_digest_day_is_the_local_day(db: Engine) -> None:
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # already Tuesday in Paris
    queue(db, draft("a", digest=True, due=late))
    assert dispatcher(db, SinkSender(db)).run_once(late).digests == 1
    assert "digest:ien@example.org:2026-11-24" in outbox(db)


# ------------------------------------------------------------------------------------------------- concurrency


def test_two_dispatchers_at_once_send_each_message_once(db: Engine, database_url: str, smtp: SmtpServer) -> None:
    queue(db, *[draft(f"m{number:03}", recipient=f"p{number}@example.org") for number in range(120)])
    engines = [make_engine(database_url), make_engine(database_url)]
    start = threading.Barrier(2)
    reports: list[DispatchReport] = []

    def work(engine: Engine, name: str) -> None:
        worker = dispatcher(engine, SmtpSender(smtp.settings()), worker_id=name, batch_size=7)
        start.wait()
        reports.append(worker.run_once(MONDAY))

    threads = [threading.Thread(target=work, args=(engine, f"worker-{n}")) for n, engine in enumerate(engines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for engine in engines:
        engine.dispose()
    ids = smtp.handler.message_ids()
    assert len(ids) == len(set(ids)) == 120
    assert sum(report.sent for report in reports) == 120 and len(reports) == 2
    assert {row.status for row in outbox(db).values()} == {SENT}


# ------------------------------------------------------------------------------------------------- scheduler


def test_the_scheduler_has_one_well_configured_job_and_releases_its_lease(db: Engine) -> None:
    lease = Lease(db, holder="first")
    scheduler = start_scheduler(dispatcher(db, SinkSender(db)), interval_seconds=90, lease=lease)
    try:
        job = scheduler.get_job(JOB_ID)
        assert job.id == "dispatch-outbox" and job.func is dispatch_if_holder
        assert job.misfire_grace_time is None and job.coalesce is True and job.max_instances == 1
        assert job.trigger.interval == timedelta(seconds=90)
        assert str(scheduler.timezone) == "Europe/Paris" and str(job.trigger.timezone) == "Europe/Paris"
        schedule_dispatch(scheduler, dispatcher(db, SinkSender(db)), lease=lease)  # replace_existing: no error
        assert [job.id for job in scheduler.get_jobs()] == [JOB_ID]
    finally:
        scheduler.shutdown(wait=True)
    assert not lease.held
    with Lease(db, holder="next") as other:
        assert other.acquire()


def test_daily_jobs_run_at_their_hour_in_paris_in_the_lease_holder_only(db: Engine) -> None:
    runs: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    nightly = DailyJob("nightly", "Tâche de nuit", lambda: runs.append("ran") or "done", hour=2, minute=30)
    first, second = Lease(db, holder="first"), Lease(db, holder="second")
    scheduler = start_scheduler(dispatcher(db, SinkSender(db)), lease=first, daily=[nightly])
    try:
        job = scheduler.get_job("nightly")
        assert job.func is run_daily_if_holder and job.name == "Tâche de nuit" and job.coalesce is True
        assert job.misfire_grace_time >= 3600 and job.max_instances == 1
        fire = job.trigger.get_next_fire_time(None, datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
        assert (fire.hour, fire.minute, str(fire.tzinfo)) == (2, 30, "Europe/Paris")
        assert fire.astimezone(UTC) == datetime(2026, 7, 2, 0, 30, tzinfo=UTC)  # summer time: UTC+2
        assert sorted(j.id for j in scheduler.get_jobs()) == sorted([JOB_ID, "nightly"])
        assert first.acquire()
        assert run_daily_if_holder(nightly, second) is None and runs == []  # not the holder: idle
        assert run_daily_if_holder(nightly, first) == "done" and runs == ["ran"]
        assert run_daily_if_holder(DailyJob("bad", "Échoue", boom), first) is None  # logged, not raised
    finally:
        scheduler.shutdown(wait=True)


def test_a_second_lease_holder_stays_idle(db: Engine) -> None:
    queue(db, draft("a", due=datetime(2026, 1, 1, tzinfo=UTC)))
    first, second = Lease(db, holder="first"), Lease(db, holder="second")
    assert first.acquire() and first.acquire()  # held, and held again
    assert not second.acquire()
    assert dispatch_if_holder(dispatcher(db, SinkSender(db)), second) is None
    assert outbox(db)["a"].status == PENDING
    first.release()
    report = dispatch_if_holder(dispatcher(db, SinkSender(db)), second)
    assert report is not None and report.sent == 1
    assert not first.acquire()  # now the second holds it
    second.release()


def test_run_worker_once_and_as_a_service(db: Engine) -> None:
    queue(db, draft("past", due=datetime(2026, 1, 1, tzinfo=UTC)),
          draft("future", due=datetime(2100, 1, 1, tzinfo=UTC)))
    report = run_worker(dispatcher(db, SinkSender(db)), once=True, at=datetime(2026, 6, 1, tzinfo=UTC))
    assert report is not None and report.sent == 1
    queue(db, draft("now", due=datetime(2026, 1, 2, tzinfo=UTC)))
    stop = threading.Event()
    service = threading.Thread(target=run_worker, args=(dispatcher(db, SinkSender(db)),),
                               kwargs={"stop": stop, "interval_seconds": 3600})
    service.start()
    try:
        for _ in range(200):  # the job runs once at start
            if outbox(db)["now"].status == SENT:
                break
            stop.wait(0.05)
        assert outbox(db)["now"].status == SENT and outbox(db)["future"].status == PENDING
    finally:
        stop.set()
        service.join(timeout=30)
    assert not service.is_alive()
    with pytest.raises(ValueError):
        run_worker(dispatcher(db, SinkSender(db)), at=MONDAY)
