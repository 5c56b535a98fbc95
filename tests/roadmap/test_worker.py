"""The worker: reminders due are queued, then the outbox is sent — to a real SMTP server (aiosmtpd on 127.0.0.1)
or the local sink — on school days, in the sending window, once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from notifications.calendar import calendar_for
from notifications.delivery import SmtpSender
from notifications.models import SinkMessage
from roadmap.db import make_engine
from roadmap.mailer import RoadmapDispatcher
from roadmap.settings import Settings
from tests.factories import ADMIN_EMAIL
from tests.notifications.smtp import SmtpServer
from tests.roadmap.test_cli import ok, run_cli, run_json
from tests.roadmap.test_walkthrough import small_roadmap
from tests.roadmap.walk import DIRECTOR, IEN, SCHOOL, submit_council


def test_events_then_reminders_reach_a_real_smtp_server_on_school_days_only(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    submit_council(roadmap, tmp_path)  # Monday 23 November 2026, 10:00 UTC
    with SmtpServer() as server:
        dispatcher = RoadmapDispatcher(roadmap, SmtpSender(server.settings()))
        first = dispatcher.run_once(datetime(2026, 11, 23, 10, 5, tzinfo=UTC))
        to_ien = [r for r in server.handler.received if IEN in r.rcpt_tos]
        assert len(to_ien) == 1 and SCHOOL in str(to_ien[0].message["Subject"])  # the approval request, at once
        assert first.sent == len(server.handler.received) and first.failed == 0
        assert DIRECTOR not in {t for r in server.handler.received for t in r.rcpt_tos if "IEN" in
                                str(r.message["Subject"])}
        sent_before = len(server.handler.received)
        saturday = dispatcher.run_once(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))
        assert saturday.sent == 0 and len(server.handler.received) == sent_before
        assert dispatcher.last is not None and dispatcher.last.reminders_due == 0
        # Five working days later the IEN's reminder is due; the IEN takes reminders as a daily digest (default).
        monday = dispatcher.run_once(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
        assert dispatcher.last is not None and dispatcher.last.reminders_queued == 1
        digests = [r for r in server.handler.received[sent_before:] if IEN in r.rcpt_tos]
        assert len(digests) == 1 and monday.digests >= 1
        body = digests[0].message.get_body(preferencelist=("plain",))
        assert body is not None and "5 j ouvrés" in body.get_content() and SCHOOL in body.get_content()
        again = dispatcher.run_once(datetime(2026, 11, 30, 8, 30, tzinfo=UTC))
        assert again.sent == 0  # never twice


def test_worker_and_mail_test_commands(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(capsys, "demo")
    moment = calendar_for("B", "035").next_opening(datetime.now(UTC))
    out = ok(capsys, "worker", "--once", "--at", moment.isoformat())
    assert "rappels dus" in out and "boîte locale" in out
    sent = run_json(capsys, "mail", "list", "--status", "sent")
    assert sent, out
    with Session(make_engine(cli_env.database_url)) as session:
        sink = {m.message_id for m in session.exec(select(SinkMessage)).all()}
    assert {str(run_json(capsys, "mail", "show", str(m["id"]))["message_id"]) for m in sent} <= sink
    assert "envoyés : 0" in ok(capsys, "worker", "--once", "--at", moment.isoformat())  # nothing twice
    assert "Message d'essai envoyé" in ok(capsys, "mail", "test", "--to", "moi@example.org", "--by", ADMIN_EMAIL)
    code, _, err = run_cli(capsys, "mail", "test", "--to", "moi@example.org", "--by", "cpd.numerique35@ac-rennes.fr")
    assert code == 1 and "administrateur" in err
    monkeypatch.setenv("ROADMAP_SMTP_URL", "smtp://user:secret@:notaport")
    code, _, err = run_cli(capsys, "worker", "--once")
    assert code == 1 and "secret" not in err and "Erreur" in err
    code, _, err = run_cli(capsys, "worker", "--at", moment.isoformat())
    assert code == 1


def test_a_hostile_school_name_is_escaped_in_html_and_cannot_forge_headers(
    settings: Settings, tmp_path: Path
) -> None:
    from roadmap.models import School

    roadmap = small_roadmap(settings, tmp_path)
    with roadmap.engine.transaction() as session:
        school = session.get(School, SCHOOL)
        assert school is not None
        school.name = 'Les <b>Lucioles</b> "&"\r\nBcc: intrus@example.org'
        session.add(school)
    submit_council(roadmap, tmp_path)
    with SmtpServer() as server:
        RoadmapDispatcher(roadmap, SmtpSender(server.settings())).run_once(datetime(2026, 11, 23, 10, 5, tzinfo=UTC))
        received = [r for r in server.handler.received if IEN in r.rcpt_tos]
    assert len(received) == 1
    message = received[0].message
    assert "intrus@example.org" not in received[0].rcpt_tos and message["Bcc"] is None
    assert "\n" not in str(message["Subject"])
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    content = html.get_content()
    assert "&lt;b&gt;Lucioles&lt;/b&gt;" in content and "<b>Lucioles" not in content
