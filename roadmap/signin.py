"""Signing in without a password: a single-use link sent by email, then a server-side session.

How the identity is proven is one step (`IdentityProof`); the session that follows does not depend on it, so an
academic SSO (OIDC, CAS) can prove the address instead of the emailed link and open the same kind of session.
Only hashes of tokens and session ids are stored: a copy of the database opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, func, update
from sqlmodel import Session, col, select

from notifications.outbox import Draft, enqueue
from roadmap.models import Person, SignInRequest, WebSession
from roadmap.service import Roadmap
from workflows import Actor
from workflows.models import as_utc

LINK_LIFETIME = timedelta(minutes=15)
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=10)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often (not on every request)
THROTTLE_WINDOW = timedelta(minutes=15)
SIGN_IN_KIND = "sign_in"  # outbox kind of sign-in links: only an administrator sees them in the mail log
PER_ADDRESS = 5  # sign-in links asked for one address per window
PER_IP = 20  # requests from one IP per window, whatever the addresses


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class IdentityProof(Protocol):
    """A way of proving who someone is; it ends with a verified address, and a session is then opened for it."""

    method: str


@dataclass(frozen=True)
class SignInOutcome:
    sent: bool  # False for an unknown address: the caller answers the same either way
    throttled: bool


@dataclass(frozen=True)
class SessionInfo:
    """A live session: who, since when; `actor` is read from the directory at each request."""

    id_hash: str
    actor: Actor
    created_at: datetime
    expires_at: datetime


class SignIn:
    """Sign-in links and sessions, for one Roadmap (its database, clock, outbox and settings)."""

    method = "email-link"

    def __init__(self, roadmap: Roadmap, *, link_base: str | None = None) -> None:
        self.roadmap = roadmap
        self.link_base = (link_base or roadmap.settings.base_url).rstrip("/")

    # ------------------------------------------------------------------------------------- emailed link

    def request_link(self, address: str, ip: str, next_path: str = "") -> SignInOutcome:
        """Queue a sign-in link for a registered address; record the request in any case (throttling)."""
        email = address.strip().lower()[:254]
        now = self.roadmap.engine.clock()
        since = now - THROTTLE_WINDOW
        with self.roadmap.engine.transaction() as session:
            recent_address = _count(session, col(SignInRequest.email) == email, since)
            recent_ip = _count(session, col(SignInRequest.ip) == ip, since)
            if recent_address >= PER_ADDRESS or recent_ip >= PER_IP:
                return SignInOutcome(sent=False, throttled=True)
            person = session.exec(select(Person).where(Person.email == email)).first()
            token = secrets.token_urlsafe(32) if person else None
            session.add(SignInRequest(token_hash=digest(token) if token else None, email=email, ip=ip[:64],
                                      created_at=now, expires_at=now + LINK_LIFETIME))
            if person is None or token is None:
                return SignInOutcome(sent=False, throttled=False)
            link = f"{self.link_base}/connexion/lien/{token}" + (f"?suite={next_path}" if next_path else "")
            lifetime = int(LINK_LIFETIME.total_seconds() // 60)
            rendered = self.roadmap.notifier.messages.renderer.render(
                SIGN_IN_KIND, {"name": person.name, "link": link, "lifetime_minutes": lifetime}
            )
            enqueue(session, [Draft(key=f"sign-in:{digest(token)}", recipient=email, recipient_name=person.name,
                                    subject=rendered.subject, text=rendered.text, html=rendered.html, due_at=now,
                                    kind=SIGN_IN_KIND)],  # no calendar: a sign-in link goes out at once, any day
                    domain=self.roadmap.settings.mail_domain, now=now)
        return SignInOutcome(sent=True, throttled=False)

    def link_status(self, token: str) -> str | None:
        """None if the link can be used now; otherwise why not, in French."""
        with self.roadmap.session() as session:
            row = session.exec(select(SignInRequest).where(SignInRequest.token_hash == digest(token))).first()
        if row is None:
            return "ce lien de connexion n'existe pas (il a peut-être été mal copié)."
        if row.used_at is not None:
            return "ce lien de connexion a déjà servi : demandez-en un nouveau."
        if as_utc(row.expires_at) <= self.roadmap.engine.clock():
            return "ce lien de connexion a expiré : demandez-en un nouveau."
        return None

    def use_link(self, token: str, *, ip: str, user_agent: str) -> tuple[str, SessionInfo] | None:
        """Spend the link (once: a second use finds it used) and open a session; None if it cannot be used."""
        now = self.roadmap.engine.clock()
        with self.roadmap.engine.transaction() as session:
            spent = session.execute(
                update(SignInRequest)
                .where(col(SignInRequest.token_hash) == digest(token), col(SignInRequest.used_at).is_(None),
                       col(SignInRequest.expires_at) > now)
                .values(used_at=now)
                .returning(col(SignInRequest.email))
            ).first()
            if spent is None:
                return None
            return self._open(session, spent[0], self.method, ip, user_agent, now)

    # ------------------------------------------------------------------------------------- sessions

    def open_session(self, email: str, *, method: str, ip: str = "", user_agent: str = "") -> tuple[str, SessionInfo]:
        """A session for an address another proof (an SSO) has verified; it must be in the directory."""
        now = self.roadmap.engine.clock()
        with self.roadmap.engine.transaction() as session:
            return self._open(session, email.strip().lower(), method, ip, user_agent, now)

    def _open(self, session: Session, email: str, method: str, ip: str, user_agent: str,
              now: datetime) -> tuple[str, SessionInfo]:
        person = session.exec(select(Person).where(Person.email == email)).first()
        if person is None:
            raise LookupError(email)
        raw = secrets.token_urlsafe(32)  # a new id at every sign-in
        row = WebSession(id_hash=digest(raw), email=email, method=method, ip=ip[:64], user_agent=user_agent[:200],
                         created_at=now, last_seen_at=now, expires_at=now + ABSOLUTE_TIMEOUT)
        session.add(row)
        actor = Actor(id=person.email, role=person.role, label=person.name, scope=person.scope)
        return raw, SessionInfo(row.id_hash, actor, now, row.expires_at)

    def resume(self, raw: str) -> SessionInfo | None:
        """The session behind a cookie, if it is still alive (not ended, not idle too long, not too old) and its
        person still in the directory; its last activity is written at most once a minute."""
        if not raw or len(raw) > 100:
            return None
        now = self.roadmap.engine.clock()
        id_hash = digest(raw)
        with self.roadmap.session() as session:
            found = session.exec(
                select(WebSession, Person).join(Person, col(Person.email) == col(WebSession.email))
                .where(col(WebSession.id_hash) == id_hash)
            ).first()
        if found is None:
            return None
        row, person = found
        if row.ended_at is not None or as_utc(row.expires_at) <= now or as_utc(row.last_seen_at) + IDLE_TIMEOUT <= now:
            return None
        if as_utc(row.last_seen_at) + TOUCH_EVERY <= now:
            with self.roadmap.engine.transaction() as session:
                session.execute(update(WebSession).where(col(WebSession.id_hash) == id_hash).values(last_seen_at=now))
        actor = Actor(id=person.email, role=person.role, label=person.name, scope=person.scope)
        return SessionInfo(id_hash, actor, as_utc(row.created_at), as_utc(row.expires_at))

    def end(self, id_hash: str) -> None:
        with self.roadmap.engine.transaction() as session:
            session.execute(update(WebSession).where(col(WebSession.id_hash) == id_hash,
                                                     col(WebSession.ended_at).is_(None))
                            .values(ended_at=self.roadmap.engine.clock()))


def _count(session: Session, condition: ColumnElement[bool], since: datetime) -> int:
    query = select(func.count()).select_from(SignInRequest).where(condition, col(SignInRequest.created_at) >= since)
    return int(session.exec(query).one())
