"""Territory and directory tables: académies, départements, circonscriptions, écoles, people."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Date, DateTime, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from workflows.models import utcnow


class Academie(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=4)
    name: str = Field(max_length=120)
    holiday_zone: str | None = Field(default=None, max_length=16)


class Departement(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=4)
    name: str = Field(max_length=120)
    academie_code: str = Field(foreign_key="academie.code", index=True)


class Circonscription(SQLModel, table=True):
    uai: str = Field(primary_key=True, max_length=8)
    name: str = Field(max_length=200)
    departement_code: str = Field(foreign_key="departement.code", index=True)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=20)


class School(SQLModel, table=True):
    uai: str = Field(primary_key=True, max_length=8)
    name: str = Field(max_length=200)
    sector: str = Field(max_length=16)
    nature_code: str = Field(default="", max_length=8)
    street: str = Field(default="", max_length=200)
    locality: str = Field(default="", max_length=200)
    postal_code: str = Field(default="", max_length=5)
    commune: str = Field(default="", max_length=120)
    phone: str = Field(default="", max_length=20)
    email: str = Field(default="", max_length=254)
    departement_code: str = Field(foreign_key="departement.code", index=True)
    circonscription_uai: str | None = Field(default=None, foreign_key="circonscription.uai", index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    scope: str = Field(max_length=16, index=True)
    source: str = Field(default="manual", max_length=16)  # "manual" or "annuaire" (functional mailbox)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class StoredFile(SQLModel, table=True):
    """A file attached to a checklist item; content lives in the file store, addressed by its hash."""

    __tablename__ = "stored_file"

    sha256: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=255)
    size: int
    media_type: str = Field(default="application/octet-stream", max_length=128)
    stored_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class AuditEntry(SQLModel, table=True):
    """An administrative action (people, imports, restore...): who, when, what. Append-only, like the history."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    actor: str = Field(max_length=254)
    role: str = Field(max_length=32)
    action: str = Field(max_length=64, index=True)
    target: str = Field(default="", max_length=254)
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ProcessLock(SQLModel, table=True):
    """One row per named lock (e.g. "import"): writing it first in a transaction serialises that kind of work."""

    __tablename__ = "process_lock"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(default="", max_length=254)
    acquired_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class SignInRequest(SQLModel, table=True):
    """A request for a sign-in link: kept for throttling (per address and per IP) even when the address is unknown
    (then no token exists). Only the token's hash is stored: the database never holds a usable link."""

    __tablename__ = "sign_in_request"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    email: str = Field(max_length=254, index=True)
    ip: str = Field(default="", max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random id, the database its hash. Ended on sign-out, after an idle
    period and at an absolute limit."""

    __tablename__ = "web_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    email: str = Field(max_length=254, index=True)
    method: str = Field(default="email-link", max_length=32)  # how the identity was proven (an SSO later)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))  # the absolute limit
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class ReturnedForms(SQLModel, table=True):
    """What came back from a school's families, as counts only (the product holds no pupil data): signed
    acknowledgements, photo/work authorisations, activation codes handed out. Each change is in the audit log."""

    __tablename__ = "returned_forms"
    __table_args__ = (
        CheckConstraint(
            "acknowledgements >= 0 AND authorisations >= 0 AND activation_codes >= 0", name="returned_forms_counts"
        ),
    )

    uai: str = Field(primary_key=True, foreign_key="school.uai", max_length=8)
    acknowledgements: int = Field(default=0)
    authorisations: int = Field(default=0)
    activation_codes: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_by: str = Field(max_length=254)


class TransmissionBatch(SQLModel, table=True):
    """A département's account-creation table as the CPD composes and sends it: the first one of a département
    goes to the DANE (route "dane"), later ones to the DSI with the DANE in copy (route "dsi")."""

    __tablename__ = "transmission_batch"
    __table_args__ = (UniqueConstraint("departement_code", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    departement_code: str = Field(foreign_key="departement.code", index=True, max_length=4)
    number: int  # 1, 2, … within the département
    route: str = Field(max_length=8)  # "dane" | "dsi", decided when sent
    status: str = Field(default="draft", max_length=16)  # draft | sent | validated | returned
    composed_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    composed_by: str = Field(max_length=254)
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    sent_by: str | None = Field(default=None, max_length=254)
    to_address: str | None = Field(default=None, max_length=254)
    cc: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    decided_by: str | None = Field(default=None, max_length=254)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    filename: str | None = Field(default=None, max_length=255)
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))  # the XLSX as sent
    sha256: str | None = Field(default=None, max_length=64)


class TransmissionBatchSchool(SQLModel, table=True):
    """A school of a batch, with its row of the table (13 columns) as composed, then as sent."""

    __tablename__ = "transmission_batch_school"

    batch_id: int = Field(foreign_key="transmission_batch.id", primary_key=True)
    uai: str = Field(foreign_key="school.uai", primary_key=True, max_length=8, index=True)
    position: int = Field(default=0)
    row: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class PublisherAgreement(SQLModel, table=True):
    """An agreement the DSI's export to a publisher needs, per département and ENT: the convention between the
    DASEN and the publisher, or the DSI's agreement with the publisher. Recorded once, by the CPD or the DANE."""

    __tablename__ = "publisher_agreement"
    __table_args__ = (UniqueConstraint("departement_code", "publisher", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    departement_code: str = Field(foreign_key="departement.code", index=True, max_length=4)
    publisher: str = Field(max_length=120)  # the ENT, as named in the definition's choices
    kind: str = Field(max_length=32)  # "convention" | "dsi_agreement"
    signed_on: date
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    recorded_by: str = Field(max_length=254)


class ProcessingRecord(SQLModel, table=True):
    """A publisher's GDPR processing record for one ENT in one département, held once for the DASEN's register
    (schools no longer upload it one by one). The file lives in the file store (`stored_file`)."""

    __tablename__ = "gdpr_processing_record"
    __table_args__ = (UniqueConstraint("departement_code", "ent_name", name="uq_gdpr_processing_record_ent"),)

    id: int | None = Field(default=None, primary_key=True)
    departement_code: str = Field(foreign_key="departement.code", index=True, max_length=4)
    ent_name: str = Field(max_length=120)  # the ENT as the roadmap's choice list names it
    publisher: str = Field(max_length=120)
    file_sha256: str = Field(foreign_key="stored_file.sha256", max_length=64)
    file_name: str = Field(max_length=255)
    received_on: date = Field(sa_column=Column(Date, nullable=False))
    sent_to_dsden_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    recorded_by: str = Field(max_length=254)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class DepartedPerson(SQLModel, table=True):
    """Someone who left the directory (removed, their mailbox changed at an import, or its establishment closed).
    Kept as they were until the retention delay has passed, then anonymised: address and name go, the pseudonym
    stays, and every row that named them (history and audit included) names the pseudonym instead. `actor_key`
    (the SHA-256 of the lower-cased address) still recognises the address if an archive made before the purge is
    restored."""

    __tablename__ = "departed_person"

    id: int | None = Field(default=None, primary_key=True)
    actor_key: str = Field(max_length=64, unique=True, index=True)
    email: str | None = Field(default=None, max_length=254)
    name: str | None = Field(default=None, max_length=200)
    role: str = Field(max_length=16)
    scope: str = Field(max_length=16)
    reason: str = Field(max_length=16)  # "removed", "annuaire" (mailbox replaced) or "closed" (establishment closed)
    pseudonym: str = Field(max_length=64)
    left_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    anonymised_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    # When every row naming them was rewritten to the pseudonym (None: anonymised by a version before 0009, or
    # restored from such an archive: the next purge catches up).
    rows_rewritten_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class ErasureGrant(SQLModel, table=True):
    """Present only inside the retention purge's transaction: while a row exists, the database lets the append-only
    history and audit log have their people columns rewritten (never their other columns, never a deletion)."""

    __tablename__ = "erasure_grant"

    id: int | None = Field(default=None, primary_key=True)
    opened_by: str = Field(max_length=254)
    opened_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
