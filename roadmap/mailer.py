"""Sending the roadmap's mail: the generic outbox dispatcher, given the roadmap's calendars and digests, and run
after the reminders due at that instant are queued (each run: queue what became due, then send what may go)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifications.calendar import calendar_from_key
from notifications.delivery import DeliveryConfigError, Sender, SmtpSettings, sender_for
from notifications.dispatcher import Dispatcher, DispatchReport
from notifications.outbox import Draft, enqueue
from notifications.scheduler import DailyJob
from roadmap import audit
from roadmap.errors import RoadmapError
from roadmap.french import french_datetime
from roadmap.service import Roadmap


class MailSettingsProblem(RoadmapError):
    """The SMTP settings cannot be used (said in French by the delivery module, password never shown)."""


def configured_sender(roadmap: Roadmap) -> tuple[Sender, str]:
    """The SMTP server of the environment, or the local sink; and where mail goes, said for people."""
    try:
        settings = SmtpSettings.from_env()
    except DeliveryConfigError as error:
        raise MailSettingsProblem(str(error)) from None
    where = f"serveur SMTP {settings.host}:{settings.port}" if settings else "boîte locale (roadmap mail list)"
    return sender_for(settings, roadmap.db), where


@dataclass(frozen=True)
class WorkerRun:
    """One run of the worker: reminders queued, then what the dispatcher did."""

    reminders_due: int
    reminders_queued: int
    nobody: int  # due reminders with a role nobody covers for the school (listed by `roadmap reminders due`)
    dispatch: DispatchReport


class RoadmapDispatcher(Dispatcher):
    def __init__(self, roadmap: Roadmap, sender: Sender) -> None:
        super().__init__(
            roadmap.db,
            sender,
            calendar_from_key=calendar_from_key,
            digest_renderer=roadmap.notifier.messages.digest,
            mail_from=roadmap.settings.mail_from,
            clock=roadmap.engine.clock,
        )
        self.roadmap = roadmap
        self.last: WorkerRun | None = None

    def run_once(self, at: datetime | None = None) -> DispatchReport:
        moment = at or self.clock()
        with self.roadmap.engine.transaction() as session:
            due, queued = self.roadmap.notifier.queue_due(session, moment)
        self.roadmap.notifier.messages.digest_time = moment
        report = super().run_once(moment)
        self.last = WorkerRun(len(due), queued, sum(1 for d in due if d.missing_roles), report)
        return report


def daily_jobs(roadmap: Roadmap) -> list[DailyJob]:
    """What the worker does once a day besides sending: apply the GDPR retention rule (audited under its own
    actor when it anonymised someone)."""
    return [DailyJob("gdpr-retention", "Règle de conservation RGPD (anonymisation des personnes parties)",
                     roadmap.scheduled_purge, hour=3, minute=15)]


def send_test(roadmap: Roadmap, to: str, *, by: str) -> tuple[DispatchReport, str]:
    """Queue a test message to `to` and send it at once with the configured settings (an administrator's act,
    audited)."""
    manager = roadmap.manager(by, attempted="mail.test", target=to)
    if manager.role != "admin":
        roadmap.refuse_administration(manager, "mail.test", to, ["seul un administrateur envoie un message d'essai."])
    sender, where = configured_sender(roadmap)
    now = roadmap.engine.clock()
    rendered = roadmap.notifier.messages.renderer.render("test", {"server": where, "at": french_datetime(now)})
    with roadmap.engine.transaction() as session:
        enqueue(session, [Draft(key=f"test:{to.lower()}:{now.isoformat()}", recipient=to, subject=rendered.subject,
                                text=rendered.text, html=rendered.html, due_at=now, kind="test")],
                domain=roadmap.settings.mail_domain, now=now)
        audit.record(session, manager, "mail.test", to, {"server": where})
    return Dispatcher(roadmap.db, sender, calendar_from_key=calendar_from_key,
                      mail_from=roadmap.settings.mail_from, clock=roadmap.engine.clock).run_once(now), where
