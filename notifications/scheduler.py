"""The clock of the dispatcher: one APScheduler 3 interval job, run by one process of the deployment at a time.

APScheduler 3 cannot share a job store between processes, so every web worker or `worker` process may start a
scheduler; a `Lease` decides which one works. The job asks for the lease at every tick: the holder dispatches, the
others stay idle, and when the holder dies its lease ends with it (no expiry to wait for), so the next tick of
another process takes over. The lease spares the database useless work; it is not what prevents double sends —
the dispatcher's claims do that, even with two dispatchers at once.

The lease is the database's own lock, nothing to clean up after a crash:
- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock` on a number derived from the lease's name),
  held on a dedicated connection for as long as the lease is; the server drops it when that connection ends;
- SQLite: an exclusive `flock` on a file next to the database file (`<database>.<name>.lock`, created once and
  never deleted: deleting a lock file lets two processes lock two different files); the kernel drops it when the
  process ends. The file holds the holder's name, for whoever wonders who is sending.

Job settings: explicit id `dispatch-outbox` and `replace_existing=True` (starting twice never makes two jobs),
`misfire_grace_time=None` (a run due while the process was suspended or busy still happens — APScheduler's
default grace of one second would silently drop it), `coalesce=True` (runs missed meanwhile make one run, the
dispatcher catches up on everything due anyway), `max_instances=1`, first run at start, timezone Europe/Paris.

Daily jobs (`DailyJob`, e.g. a retention rule the application wires in) run on the same scheduler at a fixed time
of day, Europe/Paris, only in the process holding the lease; a run missed by up to a few hours (process suspended,
busy) still happens, one missed entirely waits for the next day (the jobs catch up on everything due).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from notifications.dispatcher import LOCAL_TIMEZONE, Dispatcher, DispatchReport

logger = logging.getLogger(__name__)

JOB_ID = "dispatch-outbox"
DAILY_GRACE_SECONDS = 6 * 3600


@dataclass(frozen=True, slots=True)
class DailyJob:
    """`run` once a day at `hour`:`minute` (Europe/Paris), by the process holding the dispatch lease."""

    id: str
    name: str
    run: Callable[[], object]
    hour: int = 3
    minute: int = 15


class Lease:
    """One holder at a time for `name` across every process using the same database (see the module's doc).
    `acquire()` never waits: True when this object holds the lease (already, or from now on)."""

    def __init__(self, engine: Engine, name: str = JOB_ID, holder: str = "") -> None:
        self.engine = engine
        self.name = name
        self.holder = holder or f"pid {os.getpid()}"
        self._guard = threading.Lock()
        self._connection: Connection | None = None  # PostgreSQL
        self._file: int | None = None  # SQLite: the locked file's descriptor
        dialect = engine.dialect.name
        if dialect == "postgresql":
            self.key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        elif dialect == "sqlite":
            database = engine.url.database or ""
            if not database or database == ":memory:" or database.startswith("file:"):
                raise ValueError("a lease on SQLite needs a database file")
            slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name)
            self.path = Path(database).resolve().with_name(f"{Path(database).name}.{slug}.lock")
        else:
            raise ValueError(f"no lease for the {dialect} dialect (PostgreSQL or SQLite)")

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def acquire(self) -> bool:
        with self._guard:
            if self.engine.dialect.name == "postgresql":
                return self._acquire_advisory()
            return self._acquire_file()

    def release(self) -> None:
        with self._guard:
            if self._connection is not None:
                with contextlib.suppress(DBAPIError):
                    self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self._close_connection()
            if self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
                os.close(self._file)
                self._file = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    def _close_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):
                self._connection.close()
            self._connection = None

    def _acquire_advisory(self) -> bool:
        if self._connection is not None:
            try:  # the lock lives as long as its connection: still there, still ours
                self._connection.execute(text("SELECT 1"))
                return True
            except DBAPIError:
                logger.warning("lease %s: its connection was lost, taking it again", self.name)
                self._close_connection()
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
        except DBAPIError:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        logger.info("lease %s taken by %s", self.name, self.holder)
        return True

    def _acquire_file(self) -> bool:
        if self._file is not None:
            return True
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{self.holder}\n".encode())
        self._file = descriptor
        logger.info("lease %s taken by %s (%s)", self.name, self.holder, self.path)
        return True


def dispatch_if_holder(dispatcher: Dispatcher, lease: Lease) -> DispatchReport | None:
    """The job: one dispatcher run when this process holds the lease; None (idle) otherwise."""
    if not lease.acquire():
        logger.debug("lease %s held elsewhere: idle", lease.name)
        return None
    return dispatcher.run_once()


def schedule_dispatch(scheduler: Any, dispatcher: Dispatcher, *, lease: Lease, interval_seconds: int = 60) -> Any:
    """Add (or replace) the dispatch job on `scheduler`; returns the APScheduler job."""
    return scheduler.add_job(
        dispatch_if_holder, "interval", args=(dispatcher, lease), seconds=interval_seconds,
        id=JOB_ID, name="Envoi des messages de la boîte d'envoi", replace_existing=True,
        misfire_grace_time=None, coalesce=True, max_instances=1, next_run_time=datetime.now(LOCAL_TIMEZONE),
    )


def run_daily_if_holder(job: DailyJob, lease: Lease) -> object:
    """A daily job's run when this process holds the lease; None (idle) otherwise. A failure is logged and the
    job stays scheduled for the next day."""
    if not lease.acquire():
        return None
    try:
        return job.run()
    except Exception:
        logger.exception("daily job %s failed", job.id)
        return None


def schedule_daily(scheduler: Any, job: DailyJob, *, lease: Lease) -> Any:
    return scheduler.add_job(
        run_daily_if_holder, "cron", args=(job, lease), hour=job.hour, minute=job.minute, id=job.id, name=job.name,
        replace_existing=True, misfire_grace_time=DAILY_GRACE_SECONDS, coalesce=True, max_instances=1,
    )


def start_scheduler(dispatcher: Dispatcher, *, interval_seconds: int = 60, lease: Lease,
                    daily: Sequence[DailyJob] = ()) -> BackgroundScheduler:
    """A started background scheduler running the dispatch job and the daily jobs; its shutdown releases the
    lease."""
    scheduler = BackgroundScheduler(timezone=LOCAL_TIMEZONE)
    schedule_dispatch(scheduler, dispatcher, lease=lease, interval_seconds=interval_seconds)
    for job in daily:
        schedule_daily(scheduler, job, lease=lease)
    scheduler.add_listener(lambda _event: lease.release(), EVENT_SCHEDULER_SHUTDOWN)
    scheduler.start()
    return scheduler


def run_worker(dispatcher: Dispatcher, *, once: bool = False, at: datetime | None = None, lease: Lease | None = None,
               interval_seconds: int = 60, stop: threading.Event | None = None,
               daily: Sequence[DailyJob] = ()) -> DispatchReport | None:
    """`once`: one run at `at` (default now), its report. Otherwise run the scheduler until `stop` is set, SIGTERM
    or Ctrl-C (returns None); `at` makes no sense then."""
    if once:
        return dispatcher.run_once(at)
    if at is not None:
        raise ValueError("`at` only applies to a single run (once=True)")
    lease = lease or Lease(dispatcher.engine, JOB_ID, dispatcher.worker_id)
    stop = stop or threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous: Any = None
    if in_main_thread:
        def on_term(_signal: int, _frame: FrameType | None) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_term)
    scheduler = start_scheduler(dispatcher, interval_seconds=interval_seconds, lease=lease, daily=daily)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown(wait=True)
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    return None
