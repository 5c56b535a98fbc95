"""Serving the web application: uvicorn, and by default the mail dispatcher in the same process (the embedded
default); with `worker=False` several web processes run beside one `roadmap worker`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from fastapi import FastAPI

from notifications.delivery import SinkSender
from notifications.dispatcher import LOCAL_TIMEZONE
from notifications.scheduler import JOB_ID, Lease, start_scheduler
from roadmap.mailer import RoadmapDispatcher, configured_sender, daily_jobs
from roadmap.service import Roadmap
from roadmap.web.app import create_app

INTERVAL_SECONDS = 30


@dataclass
class Served:
    app: FastAPI
    base_url: str
    where: str  # where mail goes, said for people
    scheduler: BackgroundScheduler | None


def public_address(host: str, port: int) -> str:
    """ROADMAP_BASE_URL, or the address `serve` listens on."""
    given = os.environ.get("ROADMAP_BASE_URL", "").strip().rstrip("/")
    if given:
        return given
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def build(roadmap: Roadmap, *, host: str, port: int, worker: bool) -> Served:
    base_url = public_address(host, port)
    sender, where = configured_sender(roadmap)
    scheduler: BackgroundScheduler | None = None
    wake = None
    if worker:
        dispatcher = RoadmapDispatcher(roadmap, sender)
        scheduler = start_scheduler(dispatcher, interval_seconds=INTERVAL_SECONDS,
                                    lease=Lease(roadmap.db, holder=dispatcher.worker_id), daily=daily_jobs(roadmap))
        running = scheduler

        def wake() -> None:  # a sign-in link goes out now, not at the next tick
            running.modify_job(JOB_ID, next_run_time=datetime.now(LOCAL_TIMEZONE))

    app = create_app(roadmap, base_url=base_url, sink=isinstance(sender, SinkSender), wake=wake)
    return Served(app, base_url, where, scheduler)


def serve(roadmap: Roadmap, *, host: str, port: int, worker: bool) -> None:
    served = build(roadmap, host=host, port=port, worker=worker)
    try:
        uvicorn.run(served.app, host=host, port=port, log_level="warning", proxy_headers=True,
                    server_header=False, date_header=True)
    finally:
        if served.scheduler is not None:
            served.scheduler.shutdown(wait=True)
