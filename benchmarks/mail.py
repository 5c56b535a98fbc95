"""Benchmarks of the reminders and the mail (issue 7 §10), each against a same-run baseline:

- computing the reminders due at one instant for every school, against the bare SQL query that selects the
  schools waiting in the watched states;
- sending N messages through the outbox dispatcher to a local aiosmtpd, against a bare aiosmtplib loop over one
  connection sending the same number of messages.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text

CHUNK = 1000


class CountingHandler:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 OK"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def median_of(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def due_reminders(roadmap: Any, at: datetime, runs: int = 3) -> tuple[float, float, int]:
    """(product seconds, bare seconds, reminders due) at `at`."""
    states = sorted({s for p in roadmap.notifier.policies.values() for s in p.reminder_states()})
    listed = ", ".join(f"'{s}'" for s in states)
    bare_sql = text(
        "SELECT s.uai, s.departement_code, s.circonscription_uai, i.state, i.entered_at FROM workflow_instance i "
        f"JOIN school s ON s.uai = i.subject WHERE i.state IN ({listed})"
    )
    found: list[int] = []

    def product() -> None:
        with roadmap.session() as session:
            found.append(len(roadmap.notifier.due(session, at)))

    def bare_query() -> None:
        with roadmap.db.connect() as connection:
            connection.execute(bare_sql).all()

    return median_of(product, runs), median_of(bare_query, runs), found[-1]


def sending(roadmap: Any, count: int) -> tuple[float, float]:
    """(product messages/s, bare messages/s) to a local aiosmtpd: the dispatcher over the outbox, and a bare
    aiosmtplib loop over one connection."""
    from notifications.delivery import SmtpSender, SmtpSettings
    from notifications.dispatcher import Dispatcher
    from notifications.outbox import Draft, enqueue

    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        now = datetime.now(UTC) - timedelta(minutes=1)
        drafts = [
            Draft(key=f"bench:{n}", recipient=f"person{n % 500}@example.org", subject=f"[ENT] Rappel n° {n}",
                  text="Bonjour,\n\nUn rappel de démonstration.\n", html="<p>Bonjour,</p><p>Un rappel.</p>",
                  due_at=now, kind="bench")
            for n in range(count)
        ]
        with roadmap.engine.transaction() as session:
            # Only the benchmark's messages go out (the moves measured before queued their own notifications).
            session.execute(text("UPDATE outbox_message SET status = 'cancelled' WHERE status = 'pending'"))
            for offset in range(0, count, CHUNK):
                enqueue(session, drafts[offset : offset + CHUNK], domain="bench.localhost")
        settings = SmtpSettings(host="127.0.0.1", port=port, local_hostname="localhost", timeout=30)
        dispatcher = Dispatcher(roadmap.db, SmtpSender(settings), calendar_from_key=lambda _key: _Always(),
                                batch_size=500)
        start = time.perf_counter()
        while dispatcher.run_once().sent:
            pass
        product_s = time.perf_counter() - start
        if handler.received != count:
            raise RuntimeError(f"{handler.received} messages received, {count} expected")
        start = time.perf_counter()
        asyncio.run(_bare_loop(port, count))
        bare_s = time.perf_counter() - start
    finally:
        controller.stop()
    return count / product_s, count / bare_s


class _Always:
    def in_window(self, moment: datetime) -> bool:
        return True

    def next_opening(self, moment: datetime) -> datetime:
        return moment


async def _bare_loop(port: int, count: int) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="localhost", start_tls=False)
    await client.connect()
    try:
        for n in range(count):
            message = EmailMessage()
            message["From"] = "bench@bench.localhost"
            message["To"] = f"person{n % 500}@example.org"
            message["Subject"] = f"[ENT] Rappel n° {n}"
            message.set_content("Bonjour,\n\nUn rappel de démonstration.\n")
            message.add_alternative("<p>Bonjour,</p><p>Un rappel.</p>", subtype="html")
            await client.send_message(message)
    finally:
        await client.quit()


def clear_outbox(db: Engine) -> None:
    with db.begin() as connection:
        connection.execute(text("DELETE FROM outbox_message WHERE kind = 'bench'"))
