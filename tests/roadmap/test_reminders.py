"""Reminders and notifications of the roadmap: policies as data checked on load, event emails queued with the
move that causes them, due reminders counted in working days of the school's calendar, escalation, recipients
found in the directory (or the annuaire's mailboxes), nobody-to-tell made visible, never queued twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from notifications.calendar import calendar_for
from notifications.models import CANCELLED, PENDING, OutboxMessage
from notifications.policies import PolicyError, Vocabulary, load_policy
from roadmap.reminders import PolicyProblem, load_policies
from roadmap.roles import ROLES
from roadmap.service import Roadmap, load_roadmaps
from roadmap.settings import REPO_DATA, Settings
from roadmap.views import due_reminder_views
from tests.roadmap.test_walkthrough import small_roadmap
from tests.roadmap.walk import CPD, DIRECTOR, IEN, SCHOOL, submit_council
from workflows.errors import TransitionRefused

PARIS_9AM = "T08:00:00+00:00"  # 09:00 in Paris in winter


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + PARIS_9AM)


def outbox(roadmap: Roadmap) -> list[OutboxMessage]:
    with roadmap.session() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def test_the_shipped_policy_fits_every_definition() -> None:
    definitions = load_roadmaps(REPO_DATA / "roadmaps")
    policies = load_policies(REPO_DATA / "reminders", definitions)
    assert set(policies) == set(definitions)  # the variants follow the national policy
    national = policies["national"]
    minutes = next(r for r in national.reminders if r.id == "minutes-awaiting-ien")
    assert (minutes.after, minutes.every, minutes.escalate_to, minutes.escalate_after) == (5, 5, ("cpd",), 15)


@pytest.mark.parametrize(("change", "expected"), [
    ('states = ["school_council.awaiting_approval"]', None),
    ('states = ["school_council.awaiting_aproval"]', "état inconnu(e) « school_council.awaiting_aproval »"),
    ('remnd = ["ien"]', "clé inconnue « remnd »"),
    ('escalate_after = 3', "l'escalade ne peut pas précéder le premier rappel"),
    ('only_if = "whenever"', "condition inconnu(e) « whenever »"),
])
def test_a_policy_is_checked_against_its_definition_with_the_line(
    tmp_path: Path, change: str, expected: str | None
) -> None:
    text = (
        'definition = "national"\n\n'
        "[[reminders]]\n"
        'id = "minutes"\n'
        'label = "Compte rendu en attente"\n'
        'states = ["school_council.awaiting_approval"]\n'
        'remind = ["ien"]\n'
        "after = 5\n"
        "every = 5\n"
        'escalate_to = ["cpd"]\n'
        "escalate_after = 15\n"
    )
    key = change.split(" ", 1)[0]
    lines = [line for line in text.splitlines() if not line.startswith(key + " ")]
    lines.insert(6, change)
    path = tmp_path / "national.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocabulary = Vocabulary("national", ["school_council.awaiting_approval", "definition"], ROLES,
                            ["advance", "approve"], ["first_table_pending"])
    if expected is None:
        assert load_policy(path, vocabulary).reminders[0].id == "minutes"
        return
    with pytest.raises(PolicyError) as error:
        load_policy(path, vocabulary)
    assert expected in str(error.value) and "ligne 7" in str(error.value), str(error.value)


def test_a_broken_policy_stops_the_product_with_a_clear_message(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "reminders"
    broken.mkdir()
    (broken / "national.toml").write_text('definition = "national"\n[[reminders]]\nid = 3\n', encoding="utf-8")
    with pytest.raises(PolicyProblem) as error:
        Roadmap(replace(settings, reminders_dir=broken))
    assert "national.toml" in str(error.value) and "« id » doit être un texte" in str(error.value)


def test_an_approval_request_is_queued_with_the_move_and_not_when_it_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    submit_council(roadmap, tmp_path)
    to_ien = [m for m in outbox(roadmap) if m.recipient == IEN]
    assert len(to_ien) == 1
    message = to_ien[0]
    assert message.kind == "event" and not message.digest and message.status == PENDING
    assert SCHOOL in message.subject and "IEN" in message.subject
    assert "ecoles/" + SCHOOL in message.text_body and "<a href=" in message.html_body
    assert message.message_id.startswith("<") and message.calendar
    # Sent in the window: a move at 10:00 UTC on a Monday is already inside it.
    assert message.due_at.replace(tzinfo=UTC) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    # The director who submitted is not told of it; a refused move queues nothing.
    assert not [m for m in outbox(roadmap) if m.recipient == DIRECTOR and "IEN" in m.subject]
    before = len(outbox(roadmap))
    with pytest.raises(TransitionRefused):
        roadmap.fire(SCHOOL, "approve", DIRECTOR)
    assert len(outbox(roadmap)) == before


def test_reminders_count_working_days_escalate_and_skip_weekends_and_holidays(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    submit_council(roadmap, tmp_path)  # Monday 23 November 2026, académie de Rennes (zone B)

    def due(day: str) -> list[tuple[str, int, int, list[str]]]:
        return [(d.rule, d.working_days, d.occurrence, [r.address for r in d.recipients])
                for d in due_reminder_views(roadmap, at(day)) if d.uai == SCHOOL]

    assert due("2026-11-27") == []  # 4 working days: not yet
    assert due("2026-11-30") == [("minutes-awaiting-ien", 5, 0, [IEN])]
    assert due("2026-12-05") == []  # a Saturday: nothing is sent
    assert due("2026-12-14") == [("minutes-awaiting-ien", 15, 2, [IEN, CPD])]  # escalated to the CPD
    # The Christmas holidays of zone B (19 Dec – 3 Jan) do not count: 20 working days on Monday 4 January.
    assert due("2027-01-04") == [("minutes-awaiting-ien", 20, 3, [IEN, CPD])]
    assert due_reminder_views(roadmap, datetime(2026, 11, 30, 18, 0, tzinfo=UTC)) == []  # after 17:30


def test_due_reminders_are_queued_once_and_leaving_the_state_cancels_them(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    submit_council(roadmap, tmp_path)
    with Session(roadmap.db) as session, session.begin():
        _, queued = roadmap.notifier.queue_due(session, at("2026-11-30"))
    with Session(roadmap.db) as session, session.begin():
        _, again = roadmap.notifier.queue_due(session, at("2026-11-30"))
    assert (queued, again) == (1, 0)
    reminder = next(m for m in outbox(roadmap) if m.kind == "reminder")
    assert reminder.recipient == IEN and reminder.group_key == f"{SCHOOL}:school_council.awaiting_approval"
    assert "5 j ouvrés" in reminder.subject and "Rappel" in reminder.subject
    roadmap.fire(SCHOOL, "approve", IEN)
    assert next(m for m in outbox(roadmap) if m.id == reminder.id).status == CANCELLED


def test_nobody_to_tell_is_visible(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    submit_council(roadmap, tmp_path)
    roadmap.remove_person(CPD, by="admin.tests@ac-rennes.fr")
    [escalated] = [d for d in due_reminder_views(roadmap, at("2026-12-14")) if d.uai == SCHOOL]
    assert [r.address for r in escalated.recipients] == [IEN] and escalated.nobody_for == ["cpd"]


def test_reminder_and_mail_commands(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.roadmap.test_cli import ok, run_cli, run_json

    ok(capsys, "demo")  # 0350165P waits on the IEN of Saint Grégoire since the demo's walk (about 16 days ago)
    ien = "ce.ien35.stgregoire@ac-rennes.fr"
    messages = run_json(capsys, "mail", "list")
    request = next(m for m in messages if m["recipient"] == ien and m["kind"] == "event")
    assert "0350165P" in request["subject"] and request["kind"] == "event"
    shown = ok(capsys, "mail", "show", request["id"])
    assert f"<{ien}>" in shown and "Message-ID : <" in shown and "ecoles/0350165P" in shown
    code, _, err = run_cli(capsys, "mail", "show", 99999)
    assert code == 1 and "introuvable" in err and "roadmap mail list" in err
    # Reminders count working days of the school's calendar (Rennes: zone B) at the next sending instant.
    calendar = calendar_for("B", "035")
    moment = calendar.next_opening(datetime.now(UTC))
    entered = datetime.fromisoformat(request["created_at"].replace("Z", "+00:00"))
    days = calendar.working_days_between(entered, moment)
    due = [d for d in run_json(capsys, "reminders", "due", "--at", moment.isoformat()) if d["uai"] == "0350165P"]
    if days >= 5:  # the usual case; a holiday fortnight inside the demo's age may leave it short of five
        assert [(d["rule"], d["working_days"], [r["address"] for r in d["recipients"]]) for d in due] == [
            ("minutes-awaiting-ien", days, [ien] + (["cpd.numerique35@ac-rennes.fr"] if days >= 15 else []))]
    else:
        assert due == []
    assert run_json(capsys, "reminders", "due", "--at", calendar.window_opening(moment.date()).replace(
        hour=3).isoformat()) == []  # at night nothing is due
    assert "C'est le week-end" in ok(capsys, "reminders", "due", "--at", "2026-12-05T10:00")
    assert "jour férié (Noël)" in ok(capsys, "reminders", "due", "--at", "2026-12-25T10:00")
    assert "hors du créneau d'envoi" in ok(capsys, "reminders", "due", "--at", "2026-12-07T20:00")
    code, _, err = run_cli(capsys, "reminders", "due", "--at", "demain")
    assert code == 1 and "ISO 8601" in err
    ok(capsys, "people", "reminders", ien, "immediate", "--by", ien)  # a person sets their own mode
    code, _, err = run_cli(capsys, "people", "reminders", ien, "weekly", "--by", ien)
    assert code == 1 and "mode inconnu" in err
    audit = run_json(capsys, "audit")
    assert any(e["action"] == "people.reminders" and e["target"] == ien for e in audit)


def test_definition_show_tells_the_reminder_policy(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.roadmap.test_cli import ok

    text = ok(capsys, "definition", "show")
    assert "Rappels et notifications (national.toml" in text
    assert "IEN de circonscription après 5 j ouvrés, puis tous les 5 ; escalade vers CPD numérique à 15" in text
    shown = json.loads(ok(capsys, "definition", "show", "--format", "json", "--id", "grenoble"))
    assert {r["id"] for r in shown["reminders"]} >= {"minutes-awaiting-ien", "idle-in-step"}
    assert any(n["event"] == "advance" and n["immediate"] for n in shown["notifications"])


def test_the_worker_counts_reminders_nobody_can_receive(settings: Settings, tmp_path: Path) -> None:
    from notifications.delivery import SinkSender
    from roadmap.mailer import RoadmapDispatcher

    roadmap = small_roadmap(settings, tmp_path)
    submit_council(roadmap, tmp_path)
    roadmap.remove_person(CPD, by="admin.tests@ac-rennes.fr")
    dispatcher = RoadmapDispatcher(roadmap, SinkSender(roadmap.db))
    dispatcher.run_once(at("2026-12-14"))
    assert dispatcher.last is not None and (dispatcher.last.reminders_due, dispatcher.last.nobody) == (1, 1)
    assert dispatcher.last.reminders_queued == 1  # the IEN is still reminded
