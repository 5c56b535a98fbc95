"""Reminders and mail: what is due, the outbox, a person's reminder mode."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from roadmap.cli.common import (
    AsOption,
    AtOption,
    ByOption,
    JsonOption,
    app,
    err,
    instant,
    mail_app,
    out,
    people_app,
    print_json,
    reminders_app,
    require_by,
    service,
)
from roadmap.errors import RoadmapError
from roadmap.french import french_datetime
from roadmap.roles import ROLE_LABELS


@reminders_app.command("due")
def reminders_due(at: AtOption = None, as_json: JsonOption = False, as_person: AsOption = None) -> None:
    """Les rappels dus à cet instant (aucun le week-end, un jour férié, en vacances ou hors 8 h 30–17 h 30)."""
    from roadmap.views import due_reminder_views

    roadmap = service()
    moment = instant(at)
    due = due_reminder_views(roadmap, moment, roadmap.viewer(as_person))
    if as_json:
        print_json(due)
        return
    table = Table("UAI", "École", "Rappel", "Depuis", "Jours ouvrés", "Destinataires")
    for d in due:
        who = ", ".join(f"{r.address} ({ROLE_LABELS.get(r.role, r.role)})" for r in d.recipients)
        if d.nobody_for:
            who += (" ; " if who else "") + "PERSONNE pour : " + ", ".join(ROLE_LABELS.get(r, r) for r in d.nobody_for)
        label = d.rule_label + (" (relance)" if d.escalated else "")
        table.add_row(d.uai, d.school, label, french_datetime(d.since), str(d.working_days), who)
    out.print(table)
    out.print(f"{len(due)} rappel(s) dû(s) le {french_datetime(moment)}.")
    if not due:
        out.print(closed_window(moment))


def closed_window(moment: datetime) -> str:
    """Why nothing may be due at `moment`, when the mainland calendar already says it (the school holidays of
    each zone come on top)."""
    from notifications.calendar import calendar_for

    calendar = calendar_for(None)
    local = moment.astimezone(calendar.timezone)
    if local.weekday() >= 5:
        return "C'est le week-end : aucun rappel ne part."
    if (name := calendar.holiday_name(local.date())) is not None:
        return f"C'est un jour férié ({name}) : aucun rappel ne part."
    if not calendar.in_window(moment):
        return "C'est hors du créneau d'envoi (8 h 30–17 h 30, heure de Paris) : aucun rappel ne part."
    return "Aucune école n'attend assez longtemps pour un rappel à cet instant (ou sa zone est en vacances)."


@mail_app.command("list")
def mail_list(
    status: Annotated[
        str | None, typer.Option("--status", help="pending, sent, failed, cancelled ou digested.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Seulement les N derniers.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Le journal des courriels : chaque message, son destinataire et où il en est (envoyé, en attente, échec…)."""
    from roadmap.views import mail_lines

    lines = mail_lines(service(), status=status, limit=limit)
    if as_json:
        print_json(lines)
        return
    table = Table("N°", "Destinataire", "Objet", "État", "Prévu", "Essais")
    for m in lines:
        state = m.status + (f" — {m.last_error}" if m.last_error else "")
        table.add_row(str(m.id), m.recipient, m.subject, state, french_datetime(m.due_at), str(m.attempts))
    out.print(table)
    out.print(f"{len(lines)} message(s).")


@mail_app.command("show")
def mail_show(
    message: Annotated[int, typer.Argument(help="Numéro du message (voir roadmap mail list).")],
    as_json: JsonOption = False,
) -> None:
    """Lire un courriel tel qu'il est (ou sera) envoyé."""
    from roadmap.views import mail_detail

    roadmap = service()
    m = mail_detail(roadmap, message)
    if as_json:
        print_json(m)
        return
    out.print(f"De : {roadmap.settings.mail_from}")
    out.print(f"À : {m.recipient_name + ' ' if m.recipient_name else ''}<{m.recipient}>")
    out.print(f"Objet : {m.subject}")
    out.print(f"Message-ID : {m.message_id}")
    sent = f", envoyé le {french_datetime(m.sent_at)}" if m.sent_at else ""
    out.print(f"État : {m.status}{sent} ({m.attempts} essai(s)){' — ' + m.last_error if m.last_error else ''}")
    out.print("")
    out.print(m.text)


@people_app.command("reminders")
def people_reminders(
    email: Annotated[str, typer.Argument(help="Adresse de la personne.")],
    mode: Annotated[str, typer.Argument(help="digest (un récapitulatif par jour) ou immediate (un par un).")],
    by: ByOption = "",
) -> None:
    """Choisir comment une personne reçoit les rappels : un récapitulatif quotidien, ou un par un."""
    require_by(by)
    chosen = service().set_reminder_mode(email, mode, by=by)
    said = "un récapitulatif quotidien" if chosen == "digest" else "un par un, aussitôt"
    out.print(f"{email.strip().lower()} : rappels reçus {said}.")


@app.command("worker")
def worker(
    once: Annotated[bool, typer.Option("--once", help="Traiter ce qui est dû maintenant, puis s'arrêter.")] = False,
    at: AtOption = None,
) -> None:
    """Envoyer les rappels et les courriels : toutes les minutes (ou une fois avec --once), en jours ouvrés et
    dans le créneau d'envoi de chaque école ; chaque nuit (3 h 15), la règle de conservation RGPD. Un seul
    distributeur travaille à la fois par base."""
    from notifications.scheduler import Lease, run_worker
    from roadmap.mailer import RoadmapDispatcher, configured_sender, daily_jobs

    roadmap = service()
    sender, where = configured_sender(roadmap)
    dispatcher = RoadmapDispatcher(roadmap, sender)
    if not once:
        if at:
            raise RoadmapError("--at ne s'emploie qu'avec --once (un passage à l'instant donné).")
        out.print(f"Distributeur démarré (envoi : {where}) ; passage toutes les minutes. Ctrl-C pour arrêter.")
        run_worker(dispatcher, lease=Lease(roadmap.db, holder=dispatcher.worker_id), daily=daily_jobs(roadmap))
        out.print("Distributeur arrêté.")
        return
    moment = instant(at)
    report = run_worker(dispatcher, once=True, at=moment)
    run = dispatcher.last
    assert report is not None and run is not None
    out.print(
        f"{french_datetime(moment)} — rappels dus : {run.reminders_due}, nouvellement mis en file : "
        f"{run.reminders_queued} ; {report.summary()} (envoi : {where})."
    )
    if run.nobody:
        err.print(
            f"{run.nobody} rappel(s) dû(s) sans personne pour l'un des rôles à prévenir : "
            "roadmap reminders due les détaille (« PERSONNE pour »)."
        )


@mail_app.command("test")
def mail_test(
    to: Annotated[str, typer.Option("--to", help="Adresse qui recevra le message d'essai.")],
    by: ByOption = "",
) -> None:
    """Envoyer un message d'essai avec les réglages actuels (serveur SMTP, ou boîte locale sans serveur)."""
    from roadmap.mailer import send_test

    require_by(by)
    report, where = send_test(service(), to, by=by)
    if report.sent:
        out.print(f"Message d'essai envoyé à {to} ({where}).")
        return
    raise RoadmapError(
        f"Le message d'essai à {to} n'est pas parti ({where}) : {report.summary()}.\n"
        "  → le détail de l'erreur : roadmap mail list --status failed (ou pending, s'il sera réessayé)."
    )
