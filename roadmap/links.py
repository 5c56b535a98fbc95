"""Action links in emails: a signed link naming a school, an event and the state it was written for.

Opening one changes nothing (mail scanners follow links): it leads to a confirmation page, and the change is a
POST from a signed-in session. The link is bound to the school's state at the time of writing (the state and the
instant it was entered), so once the school has moved on it is refused — or, if the move was this very action,
answered "already done".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import col, select

from roadmap.errors import RoadmapError
from roadmap.guards import BATCH_GUARD
from roadmap.models import School
from workflows import Actor, Definition
from workflows.definition import ANY_STATE
from workflows.models import HistoryEntry, as_utc

if TYPE_CHECKING:  # the service imports the reminders, which import this module
    from roadmap.service import Roadmap

LINK_MAX_AGE = timedelta(days=90)
SALT = "ent-roadmap/action-link"


class LinkRefused(RoadmapError):
    """A link that is not ours, or too old."""


@dataclass(frozen=True, slots=True)
class ActionClaim:
    uai: str
    event: str
    state: str
    entered: str  # the instant the school entered `state`, ISO to the second


def _second(moment: datetime) -> str:
    return as_utc(moment).replace(microsecond=0).isoformat()


class ActionLinks:
    def __init__(self, key: str, base_url: str) -> None:
        self.serializer = URLSafeTimedSerializer(key, salt=SALT)
        self.base_url = base_url.rstrip("/")

    def token(self, uai: str, event: str, state: str, entered_at: datetime) -> str:
        return str(self.serializer.dumps([uai, event, state, _second(entered_at)]))

    def url(self, uai: str, event: str, state: str, entered_at: datetime) -> str:
        return f"{self.base_url}/action/{self.token(uai, event, state, entered_at)}"

    def read(self, token: str) -> ActionClaim:
        try:
            uai, event, state, entered = self.serializer.loads(token, max_age=int(LINK_MAX_AGE.total_seconds()))
        except SignatureExpired:
            raise LinkRefused("Ce lien d'action est trop ancien.\n  → ouvrez la fiche de l'école depuis le tableau "
                              "de bord.") from None
        except (BadSignature, ValueError, TypeError):
            raise LinkRefused("Ce lien d'action n'est pas valide (il a peut-être été mal copié).") from None
        return ActionClaim(str(uai), str(event), str(state), str(entered))


def decisions_for(definition: Definition, state: str, role: str, *, one_school: bool = False) -> list[str]:
    """The events a person in `role` decides from `state` (edges written for that very state, not "any state").
    `one_school`: only those that can be taken on one school (not a table's moves, made for a whole batch)."""
    events: list[str] = []
    for transition in definition.transitions:
        if (transition.source == state and transition.source != ANY_STATE and role in transition.roles
                and transition.event not in events
                and not (one_school and batch_only(definition, state, transition.event))):
            events.append(transition.event)
    return events


def batch_only(definition: Definition, state: str, event: str) -> bool:
    """Whether `event` from `state` is only made by the transmission service for a whole table."""
    edges = [t for t in definition.transitions if t.source == state and t.event == event]
    return bool(edges) and all(BATCH_GUARD in t.guards for t in edges)


@dataclass(frozen=True, slots=True)
class ActionLinkView:
    """Where an emailed action stands for the person who opened it."""

    uai: str
    school: str
    event: str
    event_label: str
    state: str
    state_label: str
    status: str  # "open": may be confirmed; "done": this action already happened; "moved_on": the school moved
    current_state_label: str
    version: int
    note_required: bool
    done_by: str = ""
    done_at: datetime | None = None
    blockers: tuple[str, ...] = ()


def action_link_view(roadmap: Roadmap, claim: ActionClaim, viewer: Actor) -> ActionLinkView:
    """The claim checked against the school now (out of the viewer's scope: not found, like any school)."""
    uai = roadmap.visible_school(claim.uai, viewer)
    engine = roadmap.engine
    with roadmap.session() as session:
        school = session.get(School, uai)
        instance = roadmap.instance(session, uai)
        definition = engine.definition(instance.definition_id)
        note_required = any(t.note_required for t in definition.transitions
                            if t.event == claim.event and t.source == claim.state)
        base = ActionLinkView(
            uai=uai, school=school.name if school else uai, event=claim.event,
            event_label=engine.event_label(definition, claim.event), state=claim.state,
            state_label=definition.state_label(claim.state), status="moved_on",
            current_state_label=definition.state_label(instance.state), version=instance.version,
            note_required=note_required,
        )
        if instance.state == claim.state and _second(instance.entered_at) == claim.entered:
            return replace(base, status="open", blockers=tuple(engine.blockers(session, instance, claim.event)))
        done = session.exec(
            select(HistoryEntry)
            .where(HistoryEntry.instance_id == instance.id, HistoryEntry.event == claim.event,
                   HistoryEntry.source == claim.state, col(HistoryEntry.at) >= datetime.fromisoformat(claim.entered))
            .order_by(col(HistoryEntry.id))
        ).first()
    if done is not None:
        return replace(base, status="done", done_by=done.actor, done_at=as_utc(done.at))
    return base
