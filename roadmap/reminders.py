"""Reminders and notifications of the ENT roadmap. Binds the policy files of data/reminders to the roadmap
definitions, finds who covers a school in each role (a reverse query on the directory, falling back to the
annuaire's functional mailboxes), computes what is due on the school's business calendar, and queues the messages
in the outbox — event notifications inside the transaction of the move that causes them."""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, or_
from sqlalchemy import select as columns_of
from sqlmodel import Session, SQLModel, col

from notifications.calendar import BusinessCalendar, calendar_for
from notifications.models import DIGEST, IMMEDIATE, OutboxMessage, RecipientPreference
from notifications.outbox import Draft, cancel, enqueue
from notifications.policies import EventRule, Policy, PolicyError, ReminderRule, Vocabulary, load_policy
from notifications.render import MailRenderer
from roadmap.errors import RoadmapError
from roadmap.french import french_datetime, lower_first
from roadmap.keys import secret_key
from roadmap.links import ActionLinks, decisions_for
from roadmap.models import Academie, Circonscription, Departement, School, TransmissionBatch
from roadmap.roles import ROLE_LABELS, ROLES
from roadmap.settings import Settings
from workflows.definition import Definition
from workflows.engine import CHECK_EVENT, TransitionRecord
from workflows.models import WorkflowInstance, as_utc

TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
ZONES = frozenset({"A", "B", "C"})  # other académies (Corsica, overseas) keep public holidays only
CONDITIONS = {
    "first_table_pending": "la première transmission du tableau du département n'est pas encore validée",
    "first_table_validated": "la première transmission du tableau du département est validée",
}


class PolicyProblem(RoadmapError):
    """A reminder policy cannot be used: the file, the line, what is wrong, how to fix it."""

    def __init__(self, error: PolicyError) -> None:
        super().__init__(error.message)


def load_policies(directory: Path, definitions: Mapping[str, Definition]) -> dict[str, Policy]:
    """The policy each definition follows: its own file, or that of the definition it extends (checked against
    the variant too: it must name only what the variant has)."""
    policies: dict[str, Policy] = {}
    for definition in definitions.values():
        chain = [definition.id]
        parent = definition.extends
        while parent:
            chain.append(parent)
            parent = definitions[parent].extends if parent in definitions else None
        path = next((directory / f"{name}.toml" for name in chain if (directory / f"{name}.toml").is_file()), None)
        if path is None:
            continue
        vocabulary = Vocabulary(
            definition=path.stem,
            states=list(definition.states),
            roles=ROLES,
            events=list(definition.events),
            conditions=list(CONDITIONS),
        )
        try:
            policies[definition.id] = load_policy(path, vocabulary)
        except PolicyError as error:
            raise PolicyProblem(error) from None
    return policies


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class SchoolPlace:
    """A school as reminders need it: where it is (who covers it) and which calendar it follows."""

    uai: str
    name: str
    commune: str
    email: str
    circonscription: str | None
    departement: str
    academie: str | None
    zone: str | None

    @property
    def scopes(self) -> dict[str, str | None]:
        return {"director": self.uai, "ien": self.circonscription, "cpd": self.departement, "dane": self.academie}


def calendar_of(place: SchoolPlace) -> BusinessCalendar:
    """The school's calendar: its académie's holiday zone, Alsace-Moselle's public holidays by département."""
    return calendar_for(place.zone if place.zone in ZONES else None, place.departement)


class Contacts:
    """Who covers which scope in which role: registered people first (named ones before the annuaire's mailboxes),
    then the annuaire's functional mailbox of the school or the circonscription."""

    def __init__(self, people: Iterable[tuple[str, str, str, str, str]], mailboxes: Mapping[tuple[str, str], str],
                 preferences: Mapping[str, str]) -> None:
        # (role, scope) -> (registered by the annuaire?, address, name): raw and unsorted until asked for (the whole
        # directory is read to compute every school's reminders).
        self.by_scope: dict[tuple[str, str], list[tuple[bool, str, str]]] = {}
        for email, name, role, scope, source in people:
            self.by_scope.setdefault((role, scope), []).append((source != "manual", email, name))
        self.mailboxes = mailboxes
        self.preferences = preferences
        self.resolved: dict[tuple[str, str], list[Recipient]] = {}  # a CPD's or DANE's list, built once

    @classmethod
    def everyone(cls, session: Session) -> Contacts:
        """The whole directory at once (computing the reminders of every school)."""
        people = session.connection().execute(_EVERYONE)
        mailboxes = {("ien", uai): email for uai, email in session.execute(
            columns_of(col(Circonscription.uai), col(Circonscription.email)).where(col(Circonscription.email) != "")
        ) if email}
        return cls(people, mailboxes, _preferences(session))

    @classmethod
    def of_school(cls, session: Session, place: SchoolPlace, circonscription_email: str | None) -> Contacts:
        """Only the people who cover one school (a move's notifications): one prebuilt query."""
        scopes = {role: scope or "" for role, scope in place.scopes.items()}
        people = [tuple(row) for row in session.connection().execute(_COVERING, scopes)]
        mailboxes = {("ien", place.circonscription): circonscription_email} if (
            place.circonscription and circonscription_email) else {}
        addresses = [row[0] for row in people]
        preferences = (
            {address: mode for address, mode in session.connection().execute(_MODES, {"addresses": addresses})}
            if addresses
            else {}
        )
        return cls(people, mailboxes, preferences)

    def covering(self, place: SchoolPlace, role: str) -> list[Recipient]:
        scope = place.scopes.get(role)
        if not scope:
            return []
        resolved = self.resolved.get((role, scope))
        if resolved is not None:
            return resolved
        found = self.by_scope.get((role, scope))
        if found:
            ordered = sorted(found) if len(found) > 1 else found  # named people before the annuaire's mailboxes
            chosen = ordered[:1] if role == "director" else ordered  # one direction per school; every IEN/CPD/DANE
            resolved = self.resolved[(role, scope)] = [Recipient(email, name, role) for _, email, name in chosen]
            return resolved
        mailbox = self.mailboxes.get((role, scope)) or (place.email if role == "director" else "")
        return [Recipient(mailbox.lower(), "", role)] if mailbox else []

    def mode(self, address: str) -> str:
        return self.preferences.get(address, DIGEST)


def _preferences(session: Session) -> dict[str, str]:
    query = columns_of(col(RecipientPreference.address), col(RecipientPreference.mode))
    return {address: mode for address, mode in session.execute(query)}


# ------------------------------------------------------------------------------------------------ due reminders


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A reminder due now for one school: the rule, how long it has waited, who gets it (empty: nobody covers the
    school in that role — shown as such, never dropped in silence)."""

    uai: str
    school: str
    definition: str
    state: str
    state_label: str
    rule: str
    rule_label: str
    since: datetime
    days: int
    occurrence: int
    escalated: bool
    recipients: list[Recipient] = field(default_factory=list)
    missing_roles: list[str] = field(default_factory=list)


def _waiting_rows(session: Session, earliest: Mapping[str, int], at: datetime) -> Iterable[Any]:
    """Schools in a watched state long enough for a reminder to be possible: `earliest[state]` working days are at
    least as many calendar days, so younger ones are left in the database."""
    by_days: dict[int, list[str]] = {}
    for state, days in earliest.items():
        by_days.setdefault(days, []).append(state)
    waited = or_(*(
        and_(col(WorkflowInstance.state).in_(states), col(WorkflowInstance.entered_at) <= at - timedelta(days=days))
        for days, states in by_days.items()
    ))
    query = (
        columns_of(
            col(School.uai), col(School.name), col(School.commune), col(School.email),
            col(School.circonscription_uai), col(School.departement_code), col(Departement.academie_code),
            col(Academie.holiday_zone), col(WorkflowInstance.definition_id), col(WorkflowInstance.state),
            col(WorkflowInstance.entered_at),
        )
        .join(School, col(School.uai) == col(WorkflowInstance.subject))
        .join(Departement, col(Departement.code) == col(School.departement_code))
        .outerjoin(Academie, col(Academie.code) == col(Departement.academie_code))
        .where(waited)
        .order_by(col(School.uai))
    )
    return session.execute(query)


def first_tables_validated(session: Session) -> set[str]:
    """The départements whose first account table the DANE has validated (a batch validated)."""
    query = (
        columns_of(col(TransmissionBatch.departement_code))
        .distinct()
        .where(col(TransmissionBatch.status) == "validated")
    )
    return {code for (code,) in session.execute(query)}


def due_reminders(
    session: Session, policies: Mapping[str, Policy], definitions: Mapping[str, Definition], at: datetime
) -> list[DueReminder]:
    """Every reminder due at `at`: none for a school whose calendar is outside its sending window then (weekend,
    holiday, night)."""
    earliest: dict[str, int] = {}
    for watched in policies.values():
        for rule in watched.reminders:
            for state in rule.states:
                earliest[state] = min(earliest.get(state, rule.after), rule.after)
    if not earliest:
        return []
    contacts = Contacts.everyone(session)
    validated = first_tables_validated(session)
    due: list[DueReminder] = []
    # Per département: its calendar, whether its window is open at `at`, and `at` as a local date (computed once).
    calendars: dict[str, tuple[BusinessCalendar, bool, date]] = {}
    for row in _waiting_rows(session, earliest, at):
        uai, name, commune, email, circo, dep, aca, zone, definition_id, state, entered = row
        policy = policies.get(definition_id)
        if policy is None:
            continue
        known = calendars.get(dep)
        if known is None:
            calendar = calendar_of(SchoolPlace(uai, name, commune, email, circo, dep, aca, zone))
            known = calendars[dep] = (calendar, calendar.in_window(at), at.astimezone(calendar.timezone).date())
        calendar, open_now, today = known
        if not open_now:
            continue
        entered_at = as_utc(entered)
        days = calendar.working_days_between(entered_at, today)
        place: SchoolPlace | None = None
        for rule in policy.reminders:
            if state not in rule.states:
                continue
            occurrence = rule.occurrence(days)
            if occurrence is None:
                continue
            place = place or SchoolPlace(uai, name, commune, email, circo, dep, aca, zone)
            if not _holds(rule, place, validated):
                continue
            roles = rule.recipients(days)
            recipients = [r for role in roles for r in contacts.covering(place, role)]
            found = {r.role for r in recipients}
            definition = definitions[definition_id]
            due.append(
                DueReminder(
                    uai=uai,
                    school=name,
                    definition=definition_id,
                    state=state,
                    state_label=definition.state_label(state),
                    rule=rule.id,
                    rule_label=rule.label,
                    since=entered_at,
                    days=days,
                    occurrence=occurrence,
                    escalated=len(roles) > len(rule.remind),
                    recipients=recipients,
                    missing_roles=[role for role in roles if role not in found],
                )
            )
    return due


def _holds(rule: ReminderRule, place: SchoolPlace, validated: set[str]) -> bool:
    if rule.only_if == "first_table_pending":
        return place.departement not in validated
    if rule.only_if == "first_table_validated":
        return place.departement in validated
    return True


# ------------------------------------------------------------------------------------------------ messages


class Messages:
    """Turns due reminders and moves into outbox drafts, rendered from the French templates."""

    def __init__(self, settings: Settings, definitions: Mapping[str, Definition],
                 policies: Mapping[str, Policy]) -> None:
        self.settings = settings
        self.definitions = definitions
        self.policies = policies
        self.digest_time: datetime | None = None  # the instant of the dispatcher's run that makes the digests

    @functools.cached_property
    def renderer(self) -> MailRenderer:
        return MailRenderer(TEMPLATES)

    def link(self, uai: str) -> str:
        return f"{self.settings.base_url}/ecoles/{uai}"

    @functools.cached_property
    def action_links(self) -> ActionLinks:
        return ActionLinks(secret_key(self.settings.home), self.settings.base_url)

    def actions(self, definition: Definition, uai: str, state: str, entered_at: datetime,
                role: str) -> list[dict[str, str]]:
        """The decisions the recipient may take from their email: links to a confirmation page (see links.py)."""
        return [
            {"label": definition.event_label(event), "url": self.action_links.url(uai, event, state, entered_at)}
            for event in decisions_for(definition, state, role, one_school=True)
        ]

    def reminder_drafts(self, session: Session, due: Sequence[DueReminder], at: datetime) -> list[Draft]:
        modes = _preferences(session)
        places = _places(session, {d.uai for d in due})
        drafts = []
        for reminder in due:
            place = places[reminder.uai]
            definition = self.definitions[reminder.definition]
            rule = next(r for r in self.policies[reminder.definition].reminders if r.id == reminder.rule)
            step = definition.step_of(reminder.state)
            for recipient in reminder.recipients:
                context = {
                    "school": place,
                    "rule_label": rule.label,
                    "days": reminder.days,
                    "since": french_datetime(reminder.since),
                    "step_label": step.label if step else reminder.state_label,
                    "state_label": reminder.state_label,
                    "expected": _expected(definition, reminder.state),
                    "escalated": recipient.role not in rule.remind,
                    "escalate_after": rule.escalate_after,
                    "link": self.link(place.uai),
                    "actions": self.actions(definition, place.uai, reminder.state, reminder.since, recipient.role),
                    "recipient_name": recipient.name,
                    "role_label": ROLE_LABELS.get(recipient.role, recipient.role),
                    "mode": modes.get(recipient.address, DIGEST) if rule.digest else IMMEDIATE,
                }
                rendered = self.renderer.render("reminder", context)
                key = (f"reminder:{place.uai}:{reminder.state}:{reminder.since:%Y%m%dT%H%M%S}:{rule.id}:"
                       f"{recipient.address}:{reminder.occurrence}")
                drafts.append(Draft(
                    key=key, recipient=recipient.address, recipient_name=recipient.name,
                    subject=rendered.subject, text=rendered.text, html=rendered.html, due_at=at,
                    kind="escalation" if context["escalated"] else "reminder",
                    group_key=f"{place.uai}:{reminder.state}", calendar=calendar_of(place).key, digest=rule.digest,
                    meta={"uai": place.uai, "line": rendered.subject, "link": self.link(place.uai)},
                ))
        return drafts

    def event_drafts(self, session: Session, record: TransitionRecord) -> list[Draft]:
        policy = self.policies.get(record.definition_id)
        rules: list[EventRule] = [r for r in policy.events if r.matches(record.event, record.target)] if policy else []
        if not rules:
            return []
        found = _place(session, record.subject)
        if found is None:
            return []
        place, circonscription_email = found
        contacts = Contacts.of_school(session, place, circonscription_email)
        definition = self.definitions[record.definition_id]
        calendar = calendar_of(place)
        due_at = calendar.next_opening(record.at)
        drafts = []
        for rule in rules:
            for role in rule.notify:
                for recipient in contacts.covering(place, role):
                    if recipient.address == record.actor.id:
                        continue  # nobody is told of what they just did
                    context = {
                        "school": place,
                        "rule_label": rule.label,
                        "actor": record.actor.label or record.actor.id,
                        "event_label": definition.event_label(record.event),
                        "at": french_datetime(record.at),
                        "source_label": definition.state_label(record.source),
                        "target_label": definition.state_label(record.target),
                        "note": record.note or "",
                        "expected": _expected(definition, record.target),
                        "link": self.link(place.uai),
                        "actions": self.actions(definition, place.uai, record.target, record.at, recipient.role),
                        "recipient_name": recipient.name,
                        "role_label": ROLE_LABELS.get(recipient.role, recipient.role),
                        "mode": IMMEDIATE if rule.immediate else contacts.mode(recipient.address),
                    }
                    rendered = self.renderer.render("event", context)
                    drafts.append(Draft(
                        key=f"event:{place.uai}:{record.instance_id}:{record.version}:{rule.id}:{recipient.address}",
                        recipient=recipient.address, recipient_name=recipient.name, subject=rendered.subject,
                        text=rendered.text, html=rendered.html, due_at=due_at, kind="event",
                        calendar=calendar.key, digest=not rule.immediate,
                        meta={"uai": place.uai, "line": rendered.subject, "link": self.link(place.uai)},
                    ))
        return drafts

    def digest(self, recipient: str, messages: Sequence[OutboxMessage]) -> tuple[str, str, str]:
        """The daily digest of one recipient (the dispatcher groups their pending messages)."""
        items = [{"line": (m.meta or {}).get("line", m.subject), "link": (m.meta or {}).get("link", "")}
                 for m in messages]
        name = next((m.recipient_name for m in messages if m.recipient_name), "")
        day = french_datetime(self.digest_time or max(m.due_at for m in messages)).split(" à ")[0]
        rendered = self.renderer.render("digest", {"items": items, "recipient_name": name, "day": day})
        return rendered.subject, rendered.text, rendered.html


def _expected(definition: Definition, state_id: str) -> str:
    state = definition.states.get(state_id)
    if state is None:
        return ""
    if state.waiting_for:
        return f"une décision de : {definition.role_label(state.waiting_for)} ({lower_first(state.label)})"
    step = definition.step_of(state_id)
    if step is None:
        return ""
    missing = [item.label for item in step.checklist if item.required]
    return f"compléter l'étape « {step.label} »" + (f" ({len(missing)} éléments requis)" if missing else "")


_PEOPLE = SQLModel.metadata.tables["person"]
_EVERYONE = columns_of(_PEOPLE.c.email, _PEOPLE.c.name, _PEOPLE.c.role, _PEOPLE.c.scope, _PEOPLE.c.source)
_COVERING = columns_of(_PEOPLE.c.email, _PEOPLE.c.name, _PEOPLE.c.role, _PEOPLE.c.scope, _PEOPLE.c.source).where(
    or_(*(and_(_PEOPLE.c.role == role, _PEOPLE.c.scope == bindparam(role)) for role in ("director", "ien", "cpd",
                                                                                          "dane")))
)
_PREFERENCES = SQLModel.metadata.tables["recipient_preference"]
_MODES = columns_of(_PREFERENCES.c.address, _PREFERENCES.c.mode).where(
    _PREFERENCES.c.address.in_(bindparam("addresses", expanding=True))
)
_SCHOOLS, _DEPARTEMENTS, _ACADEMIES, _CIRCONSCRIPTIONS = (
    SQLModel.metadata.tables[name] for name in ("school", "departement", "academie", "circonscription")
)
_PLACE = (
    columns_of(
        _SCHOOLS.c.uai, _SCHOOLS.c.name, _SCHOOLS.c.commune, _SCHOOLS.c.email, _SCHOOLS.c.circonscription_uai,
        _SCHOOLS.c.departement_code, _DEPARTEMENTS.c.academie_code, _ACADEMIES.c.holiday_zone,
        _CIRCONSCRIPTIONS.c.email,
    )
    .join(_DEPARTEMENTS, _DEPARTEMENTS.c.code == _SCHOOLS.c.departement_code)
    .outerjoin(_ACADEMIES, _ACADEMIES.c.code == _DEPARTEMENTS.c.academie_code)
    .outerjoin(_CIRCONSCRIPTIONS, _CIRCONSCRIPTIONS.c.uai == _SCHOOLS.c.circonscription_uai)
    .where(_SCHOOLS.c.uai == bindparam("uai"))
)


def _place(session: Session, uai: str) -> tuple[SchoolPlace, str | None] | None:
    """One school's place and its circonscription's mailbox, in one prebuilt query (a move's hook)."""
    row = session.connection().execute(_PLACE, {"uai": uai}).first()
    return (SchoolPlace(*row[:8]), row[8]) if row else None


def _places(session: Session, uais: set[str]) -> dict[str, SchoolPlace]:
    if not uais:
        return {}
    query = (
        columns_of(
            col(School.uai), col(School.name), col(School.commune), col(School.email),
            col(School.circonscription_uai), col(School.departement_code), col(Departement.academie_code),
            col(Academie.holiday_zone),
        )
        .join(Departement, col(Departement.code) == col(School.departement_code))
        .outerjoin(Academie, col(Academie.code) == col(Departement.academie_code))
        .where(col(School.uai).in_(sorted(uais)))
    )
    return {row[0]: SchoolPlace(*row) for row in session.execute(query)}


# ------------------------------------------------------------------------------------------------ wiring


class Notifier:
    """What `roadmap` wires into the engine (a hook run inside every move's transaction) and the worker."""

    def __init__(self, settings: Settings, definitions: Mapping[str, Definition]) -> None:
        self.settings = settings
        self.definitions = definitions
        self.policies = load_policies(settings.reminders_dir, definitions)
        self.messages = Messages(settings, definitions, self.policies)

    def on_transition(self, session: Session, record: TransitionRecord) -> None:
        """Engine hook: a school that leaves a state takes its pending reminders with it; the policy's event
        notifications are queued in the same transaction as the move."""
        if record.event == CHECK_EVENT:
            return
        if record.source and record.source != record.target:
            cancel(session, f"{record.subject}:{record.source}")
        drafts = self.messages.event_drafts(session, record)
        enqueue(session, drafts, domain=self.settings.mail_domain, now=record.at)

    def due(self, session: Session, at: datetime) -> list[DueReminder]:
        with gc_paused():  # tens of thousands of small objects, none of them cyclic garbage
            return due_reminders(session, self.policies, self.definitions, at)

    def queue_due(self, session: Session, at: datetime) -> tuple[list[DueReminder], int]:
        """Queue the reminders due at `at` (a reminder already queued is not queued again)."""
        due = self.due(session, at)
        drafts = self.messages.reminder_drafts(session, due, at)
        return due, enqueue(session, drafts, domain=self.settings.mail_domain, now=at)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Build many objects without the cyclic collector running over them again and again (it collects after)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def describe(policy: Policy) -> list[str]:
    """The policy in French, for `roadmap definition show`."""
    lines = []
    for rule in policy.reminders:
        who = ", ".join(ROLE_LABELS.get(r, r) for r in rule.remind)
        text = f"Rappel « {rule.label} » ({', '.join(rule.states)}) : {who} après {rule.after} j ouvrés"
        if rule.every:
            text += f", puis tous les {rule.every}"
        if rule.escalate_to:
            escalated = ", ".join(ROLE_LABELS.get(r, r) for r in rule.escalate_to)
            text += f" ; escalade vers {escalated} à {rule.escalate_after}"
        if rule.stop_after is not None:
            text += f" ; plus de rappel après {rule.stop_after}"
        if rule.only_if:
            text += f" ; seulement si {CONDITIONS[rule.only_if]}"
        lines.append(text + ".")
    for event in policy.events:
        who = ", ".join(ROLE_LABELS.get(r, r) for r in event.notify)
        when = f" vers {', '.join(event.to_states)}" if event.to_states else ""
        mode = "aussitôt" if event.immediate else "selon la préférence (récapitulatif quotidien par défaut)"
        lines.append(f"Notification « {event.label} » (action {event.event}{when}) : {who}, {mode}.")
    return lines


__all__ = ["DueReminder", "Notifier", "Recipient", "describe", "load_policies"]
