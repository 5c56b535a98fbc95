"""GDPR duties of the product: the publishers' processing records (held once per publisher and département for the
DASEN's register), retention of people who left the directory (anonymised after a delay), the access-request
export of everything held about one person.

Permissions are checked by the service (`Roadmap`); this module reads and writes in the caller's session.

Retention never rewrites the append-only history or audit log: those rows keep the actor's address as written.
A `departed_person` row keyed by the SHA-256 of the address carries the pseudonym; once the person is anonymised,
every display of history, refusals and audit goes through `pseudonyms()` and shows the pseudonym instead.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, case, delete, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from notifications.models import CANCELLED, PENDING, OutboxMessage, SinkMessage
from roadmap.models import DepartedPerson, ProcessingRecord, School, SignInRequest, WebSession
from workflows.definition import ItemRef
from workflows.models import ChecklistValue, WorkflowInstance

RETENTION_DAYS = 365  # default delay before people who left are anonymised (ROADMAP_RETENTION_DAYS)
PSEUDONYM_PREFIX = "ancien-membre-"

REGISTER_COLUMNS: tuple[str, ...] = (
    "Département",
    "Éditeur",
    "ENT",
    "Fiche de traitement",
    "Reçue le",
    "Envoyée à la DSDEN le",
    "Écoles du département utilisant cet ENT",
    "Enregistrée par",
)
REGISTER_SHEET = "Registre des traitements"


def register_filename(departement: str, suffix: str) -> str:
    """The name a downloaded register gets ("registre-traitements-035.xlsx")."""
    return f"registre-traitements-{departement}{suffix}"


# ------------------------------------------------------------------------------------ processing records


def publisher_of(ent: str) -> str:
    """The publisher an ENT label names between brackets ("One 1D (Open Digital Education)"), else the ENT."""
    found = re.search(r"\(([^()]+)\)\s*$", ent)
    return found.group(1).strip() if found else ent


def find_record(session: Session, departement: str, ent: str) -> ProcessingRecord | None:
    query = select(ProcessingRecord).where(
        ProcessingRecord.departement_code == departement, ProcessingRecord.ent_name == ent
    )
    return session.exec(query).first()


def records(session: Session, departements: Sequence[str] | None = None) -> list[ProcessingRecord]:
    query = select(ProcessingRecord).order_by(col(ProcessingRecord.departement_code), col(ProcessingRecord.ent_name))
    if departements is not None:
        query = query.where(col(ProcessingRecord.departement_code).in_(departements))
    return list(session.exec(query).all())


def ent_usage(session: Session, departement: str, ent_item: ItemRef) -> Counter[str]:
    """How many schools of the département chose each ENT (the item the definition names)."""
    query = (
        select(ChecklistValue.value)
        .join(WorkflowInstance, col(WorkflowInstance.id) == col(ChecklistValue.instance_id))
        .join(School, col(School.uai) == col(WorkflowInstance.subject))
        .where(
            School.departement_code == departement,
            ChecklistValue.step == ent_item[0],
            ChecklistValue.item == ent_item[1],
        )
    )
    return Counter(str(value) for value in session.exec(query).all() if value)


def register_row(record: ProcessingRecord, schools: int, recorded_by: str | None = None) -> dict[str, str]:
    """One line of the register; `recorded_by`: who recorded it as displays show them (a pseudonym once they
    were anonymised)."""
    return {
        "Département": record.departement_code,
        "Éditeur": record.publisher,
        "ENT": record.ent_name,
        "Fiche de traitement": record.file_name,
        "Reçue le": f"{record.received_on:%d/%m/%Y}",
        "Envoyée à la DSDEN le": f"{record.sent_to_dsden_on:%d/%m/%Y}" if record.sent_to_dsden_on else "",
        "Écoles du département utilisant cet ENT": str(schools),
        "Enregistrée par": recorded_by or record.recorded_by,
    }


# -------------------------------------------------------------------------------------------- retention


def actor_key(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def pseudonym_of(key: str) -> str:
    """Stable: the same address always gets the same pseudonym (so one person's actions stay together)."""
    return PSEUDONYM_PREFIX + key[:10]


def record_departure(
    session: Session, *, email: str, name: str, role: str, scope: str, reason: str, now: datetime
) -> DepartedPerson:
    """Someone left the directory now: kept as they were until the retention delay has passed."""
    key = actor_key(email)
    departed = session.exec(select(DepartedPerson).where(DepartedPerson.actor_key == key)).first()
    if departed is None:
        departed = DepartedPerson(actor_key=key, pseudonym=pseudonym_of(key), role=role, scope=scope,
                                  reason=reason, left_at=now)
    if departed.anonymised_at is None:  # an anonymised person stays anonymised
        departed.email, departed.name, departed.role, departed.scope = email, name, role, scope
        departed.reason, departed.left_at = reason, now
    session.add(departed)
    return departed


def cancel_departure(session: Session, email: str) -> None:
    """The address is back in the directory before being anonymised: nothing to anonymise any more."""
    departed = session.exec(select(DepartedPerson).where(DepartedPerson.actor_key == actor_key(email))).first()
    if departed is not None and departed.anonymised_at is None:
        session.delete(departed)


def due_departures(session: Session, now: datetime, retention_days: int) -> list[DepartedPerson]:
    """People who left more than `retention_days` ago and are not anonymised yet."""
    cutoff = now - timedelta(days=retention_days)
    query = (
        select(DepartedPerson)
        .where(col(DepartedPerson.anonymised_at).is_(None), col(DepartedPerson.left_at) <= cutoff)
        .order_by(col(DepartedPerson.left_at))
    )
    return list(session.exec(query).all())


ERASED = "(message effacé : son destinataire a quitté l'annuaire et a été anonymisé)"


def anonymise(session: Session, departures: Iterable[DepartedPerson], now: datetime) -> None:
    """Blank the departure row, and what else names the person and is not evidence: the mail addressed to them
    (kept as a line of the mail log under the pseudonym, its text erased, never sent if still pending), the local
    mail sink, their sign-in requests and sessions. History and audit rows stay as written (append-only)."""
    for departed in departures:
        address = departed.email
        if address:
            placeholder = f"{departed.pseudonym}@anonyme.invalid"
            session.execute(
                update(OutboxMessage).where(col(OutboxMessage.recipient) == address)
                .values(recipient=placeholder, recipient_name="", text_body=ERASED, html_body="", meta=None,
                        status=case((col(OutboxMessage.status) == PENDING, CANCELLED),
                                    else_=col(OutboxMessage.status))))
            for message in session.exec(select(SinkMessage)).all():
                if address in message.recipients:
                    session.delete(message)
            session.execute(delete(SignInRequest).where(col(SignInRequest.email) == address))
            session.execute(delete(WebSession).where(col(WebSession.email) == address))
        departed.email, departed.name, departed.anonymised_at = None, None, now
        session.add(departed)


def pseudonyms(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """actor (address) -> pseudonym, for the actors among `actors` who were anonymised."""
    keys = {actor_key(actor): actor for actor in set(actors) if actor}
    if not keys:
        return {}
    rows = session.exec(
        select(DepartedPerson.actor_key, DepartedPerson.pseudonym).where(
            col(DepartedPerson.actor_key).in_(keys), col(DepartedPerson.anonymised_at).is_not(None)
        )
    ).all()
    return {keys[key]: pseudonym for key, pseudonym in rows}


# ------------------------------------------------------------------------------------- access requests

# Columns never handed out: hashes of sign-in tokens and session ids (they identify nothing to the person and
# would help forge nothing, but they are secrets of the deployment).
SECRET_COLUMNS = {"token_hash", "id_hash"}
# table -> the columns that hold a person's address.
ADDRESS_COLUMNS: dict[str, tuple[str, ...]] = {
    "person": ("email",),
    "departed_person": ("email",),
    "workflow_history": ("actor",),
    "workflow_checklist_value": ("updated_by",),
    "workflow_refused_attempt": ("actor",),
    "audit_entry": ("actor", "target"),
    "outbox_message": ("recipient",),
    "recipient_preference": ("address",),
    "sign_in_request": ("email",),
    "web_session": ("email",),
    "gdpr_processing_record": ("recorded_by",),
}


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def held_about(session: Session, address: str) -> dict[str, list[dict[str, Any]]]:
    """Every row that names `address` (or, for the retention record, its key), table by table."""
    result: dict[str, list[dict[str, Any]]] = {}
    for name, columns in ADDRESS_COLUMNS.items():
        table = _table(name)
        conditions: list[ColumnElement[bool]] = [table.c[column] == address for column in columns]
        if name == "departed_person":
            conditions.append(table.c.actor_key == actor_key(address))
        query = sa_select(table).where(or_(*conditions))
        if "id" in table.c:
            query = query.order_by(table.c.id)
        rows = [
            {key: value for key, value in row._mapping.items() if key not in SECRET_COLUMNS}
            for row in session.connection().execute(query)
        ]
        result[name] = rows
    # The schools the history rows are about, so the export is readable on its own.
    instances = {row["instance_id"] for row in result["workflow_history"] + result["workflow_checklist_value"]}
    subjects = dict(
        session.exec(
            select(WorkflowInstance.id, WorkflowInstance.subject).where(col(WorkflowInstance.id).in_(instances))
        ).all()
    ) if instances else {}
    for row in result["workflow_history"] + result["workflow_checklist_value"]:
        row["school"] = subjects.get(row["instance_id"])
    return result


def counts(held: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in held.items()}

