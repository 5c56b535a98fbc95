"""GDPR duties of the product: the publishers' processing records (held once per publisher and département for the
DASEN's register), retention of people who left the directory (anonymised after a delay), the access-request
export of everything held about one person.

Permissions are checked by the service (`Roadmap`); this module reads and writes in the caller's session.

Retention: a `departed_person` row (keyed by the SHA-256 of the address) is written when someone leaves. After the
delay the purge anonymises them: every text and JSON column of every table that names their address (or their
full name) is rewritten to name their pseudonym instead — the append-only history and audit log included, which
the database allows only for those columns and only while the purge holds an `erasure_grant` (migration 0009).
The history keeps what was done, when, and that one same (pseudonymous) person did it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    case,
    cast,
    delete,
    func,
    or_,
    update,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from notifications.models import CANCELLED, PENDING, OutboxMessage, SinkMessage
from roadmap.models import DepartedPerson, ErasureGrant, Person, ProcessingRecord, School, SignInRequest, WebSession
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


def register_row(record: ProcessingRecord, schools: int) -> dict[str, str]:
    return {
        "Département": record.departement_code,
        "Éditeur": record.publisher,
        "ENT": record.ent_name,
        "Fiche de traitement": record.file_name,
        "Reçue le": f"{record.received_on:%d/%m/%Y}",
        "Envoyée à la DSDEN le": f"{record.sent_to_dsden_on:%d/%m/%Y}" if record.sent_to_dsden_on else "",
        "Écoles du département utilisant cet ENT": str(schools),
        "Enregistrée par": record.recorded_by,
    }


# -------------------------------------------------------------------------------------------- retention


def actor_key(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def pseudonym_of(key: str) -> str:
    """Stable: the same address always gets the same pseudonym (so one person's actions stay together)."""
    return PSEUDONYM_PREFIX + key[:10]


@dataclass(frozen=True, slots=True)
class Leaving:
    """Someone leaving the directory, as the person row held them."""

    email: str
    name: str
    role: str
    scope: str


def record_departure(
    session: Session, *, email: str, name: str, role: str, scope: str, reason: str, now: datetime
) -> DepartedPerson:
    """Someone left the directory now: kept as they were until the retention delay has passed."""
    [departed] = record_departures(session, [Leaving(email, name, role, scope)], reason=reason, now=now)
    return departed


def record_departures(
    session: Session, people: Sequence[Leaving], *, reason: str, now: datetime
) -> list[DepartedPerson]:
    """`record_departure` for many people in one query (an import). Someone already anonymised stays so; someone
    who had left and not been anonymised yet has left again now."""
    keys = [actor_key(person.email) for person in people]
    held: dict[str, DepartedPerson] = {}
    for offset in range(0, len(keys), _KEYS_PER_QUERY):
        query = select(DepartedPerson).where(col(DepartedPerson.actor_key).in_(keys[offset : offset + _KEYS_PER_QUERY]))
        held.update((departed.actor_key, departed) for departed in session.exec(query))
    result: list[DepartedPerson] = []
    for key, person in zip(keys, people, strict=True):
        departed = held.get(key)
        if departed is None:
            departed = held[key] = DepartedPerson(actor_key=key, pseudonym=pseudonym_of(key), role=person.role,
                                                  scope=person.scope, reason=reason, left_at=now)
        if departed.anonymised_at is None:  # an anonymised person stays anonymised
            departed.email, departed.name, departed.role, departed.scope = (person.email, person.name, person.role,
                                                                            person.scope)
            departed.reason, departed.left_at = reason, now
        session.add(departed)
        result.append(departed)
    return result


_KEYS_PER_QUERY = 1000


def cancel_departures(session: Session, emails: Iterable[str]) -> None:
    """`cancel_departure` for many addresses, in one query (no hashing: the pending rows still hold the address)."""
    wanted = set(emails)
    if not wanted:
        return
    pending = session.execute(
        sa_select(col(DepartedPerson.id), col(DepartedPerson.email)).where(col(DepartedPerson.anonymised_at).is_(None))
    ).all()
    ids = [departed_id for departed_id, email in pending if email in wanted]
    for offset in range(0, len(ids), _KEYS_PER_QUERY):
        chunk = ids[offset : offset + _KEYS_PER_QUERY]
        session.execute(delete(DepartedPerson).where(col(DepartedPerson.id).in_(chunk)))


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
# Tables the rewrite leaves alone: the departure rows (blanked field by field), the grant, Alembic's, and the
# territory (public directory data: a school's functional mailbox is the school's, whoever read it).
_NOT_REWRITTEN = {"departed_person", "erasure_grant", "alembic_version", "academie", "departement", "circonscription",
                  "school"}
_WIDE = 200  # a string column narrower than this holds codes and states, never an address (254) nor a name (200)


@dataclass(frozen=True, slots=True)
class Erasure:
    """What one purge did: who, and the rows rewritten per table (a row counts once)."""

    anonymised: list[str]  # pseudonyms of the people anonymised now
    caught_up: list[str]  # pseudonyms of people anonymised earlier whose address some row still held
    rows: dict[str, int]


# table -> (the last id the plan scanned, the keys of the rows it found naming someone); (None, []) for a table
# without an integer key, read again by the rewrite (small tables).
Found = dict[str, tuple[int | None, list[tuple[Any, ...]]]]


@dataclass(frozen=True, slots=True)
class ErasurePlan:
    """What the purge found without taking the write lock (the long part, `plan_erasure`), for `anonymise`."""

    due: list[int]  # departed_person ids
    stale: list[int]  # anonymised before their rows were rewritten (an earlier version, an old archive)
    earlier: dict[str, str]  # the addresses of the stale ones still held somewhere -> pseudonym
    targets: dict[str, str]  # every text to replace (lower case) -> pseudonym
    found: Found


def plan_erasure(session: Session, due: Sequence[DepartedPerson]) -> ErasurePlan:
    """Read-only: what to replace, and the rows that hold it. Tables with an integer key remember the last id
    scanned, so that `anonymise` only reads the rows written since."""
    stale = list(session.exec(select(DepartedPerson.id).where(
        col(DepartedPerson.anonymised_at).is_not(None), col(DepartedPerson.rows_rewritten_at).is_(None))).all())
    if not due and not stale:
        return ErasurePlan([], [], {}, {}, {})
    earlier = _earlier_addresses(session) if stale else {}
    targets = dict(earlier) | _targets(session, due)
    found: Found = {}
    for table, texts, keys in _text_tables() if targets else ():
        last = _last_id(session, keys)
        if last is not None:
            naming = _naming(session, texts, targets) & (keys[0] <= last)
            found[table.name] = (last, [tuple(row) for row in session.connection().execute(
                sa_select(*keys).where(naming))])
    return ErasurePlan([d.id for d in due if d.id is not None], [i for i in stale if i is not None], earlier,
                       targets, found)


def anonymise(session: Session, plan: ErasurePlan, now: datetime, *, by: str) -> Erasure:
    """Anonymise the planned departures still due: their mail stays a line of the mail log under the pseudonym with
    its text erased (never sent if still pending); their sink messages, sign-in requests and sessions go; every
    row of every table that names their address or full name names their pseudonym instead (history and audit
    included, under an erasure grant). Addresses of people anonymised earlier that rows still hold are rewritten
    too, unless the address is in the directory again."""
    if not plan.due and not plan.stale:
        return Erasure([], [], {})
    due = list(session.exec(select(DepartedPerson).where(
        col(DepartedPerson.id).in_(plan.due), col(DepartedPerson.anonymised_at).is_(None))).all())
    # Someone registered again since the plan is no longer due (their departure row is gone), and an address or
    # name now in the directory is left alone: the texts kept are all among those the plan scanned for.
    still = {departed.pseudonym for departed in due} | set(plan.earlier.values())
    current = _in_directory(session, plan.targets)
    targets = {text: who for text, who in plan.targets.items() if who in still and text not in current}
    _erase_mail(session, {d.email: d.pseudonym for d in due if d.email and d.email.lower() in targets})
    rows = _rewrite(session, targets, plan.found, by=by, now=now) if targets else {}
    caught_up = sorted(set(plan.earlier.values()) & set(targets.values()))
    for departed in [*due, *session.exec(select(DepartedPerson).where(col(DepartedPerson.id).in_(plan.stale)))]:
        departed.email, departed.name = None, None
        departed.anonymised_at = departed.anonymised_at or now
        departed.rows_rewritten_at = now
        session.add(departed)
    return Erasure([d.pseudonym for d in due], caught_up, rows)


def _in_directory(session: Session, texts: Iterable[str]) -> set[str]:
    """Those of `texts` (lower case) that are the address or the name of someone in the directory now."""
    wanted = list(set(texts))
    found: set[str] = set()
    for offset in range(0, len(wanted), 500):
        chunk = wanted[offset : offset + 500]
        found.update(session.exec(select(Person.email).where(col(Person.email).in_(chunk))).all())
        found.update(name.lower() for name in session.exec(
            select(Person.name).where(func.lower(col(Person.name)).in_(chunk))).all())
    return found


def _targets(session: Session, departures: Sequence[DepartedPerson]) -> dict[str, str]:
    """The address and (if specific enough, and borne by nobody in the directory) the full name of each."""
    texts = [d.email.lower() for d in departures if d.email] + [d.name.lower() for d in departures if d.name]
    current = _in_directory(session, texts)
    targets: dict[str, str] = {}
    for departed in departures:
        if departed.email and departed.email.lower() not in current:
            targets[departed.email.lower()] = departed.pseudonym
        if departed.name and _personal(departed.name) and departed.name.lower() not in current:
            targets[departed.name.lower()] = departed.pseudonym
    return targets


def _personal(name: str) -> bool:
    """A full name (two words at least) is specific enough to be replaced wherever it appears."""
    return len(name.split()) >= 2 and len(name.strip()) >= 5


def _erase_mail(session: Session, pseudonyms: dict[str, str]) -> None:
    """Mail addressed to these addresses (-> pseudonym): logged under the pseudonym, text erased, never sent if
    pending; their local-sink messages, sign-in requests and sessions deleted."""
    if not pseudonyms:
        return
    for address, pseudonym in pseudonyms.items():
        session.execute(
            update(OutboxMessage).where(col(OutboxMessage.recipient) == address)
            .values(recipient=f"{pseudonym}@anonyme.invalid", recipient_name="", text_body=ERASED, html_body="",
                    meta=None,
                    status=case((col(OutboxMessage.status) == PENDING, CANCELLED), else_=col(OutboxMessage.status))))
    for message in session.exec(select(SinkMessage)).all():
        if pseudonyms.keys() & set(message.recipients):
            session.delete(message)
    session.execute(delete(SignInRequest).where(col(SignInRequest.email).in_(pseudonyms)))
    session.execute(delete(WebSession).where(col(WebSession.email).in_(pseudonyms)))


def _earlier_addresses(session: Session) -> dict[str, str]:
    """address -> pseudonym, for the addresses the people columns still hold that belong to anonymised people."""
    anonymised = dict(session.exec(
        select(DepartedPerson.actor_key, DepartedPerson.pseudonym).where(col(DepartedPerson.anonymised_at).is_not(None))
    ).all())
    found: dict[str, str] = {}
    for name, columns in ADDRESS_COLUMNS.items():
        table = _table(name)
        for column in columns:
            for (value,) in session.connection().execute(sa_select(table.c[column]).distinct()):
                if value and (pseudonym := anonymised.get(actor_key(value))):
                    found[value.lower()] = pseudonym
    current = _in_directory(session, found)
    return {address: pseudonym for address, pseudonym in found.items() if address not in current}


def _holds_text(column: Column[Any]) -> bool:
    kind = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type  # SQLModel's AutoString
    if isinstance(kind, JSON | Text):
        return True
    return isinstance(kind, String) and (kind.length is None or kind.length >= _WIDE)


def _text_tables() -> list[tuple[Table, list[Column[Any]], list[Column[Any]]]]:
    """(table, its columns that may hold a person's address or name, its primary key) for every table rewritten."""
    result = []
    for table in SQLModel.metadata.sorted_tables:
        texts = [column for column in table.c if _holds_text(column)]
        keys = list(table.primary_key.columns)
        if table.name not in _NOT_REWRITTEN and texts and keys:
            result.append((table, texts, keys))
    return result


def _last_id(session: Session, keys: list[Column[Any]]) -> int | None:
    if len(keys) != 1 or not isinstance(keys[0].type, Integer):
        return None
    return int(session.connection().execute(sa_select(func.coalesce(func.max(keys[0]), 0))).scalar_one())


def _naming(session: Session, texts: list[Column[Any]], targets: dict[str, str]) -> ColumnElement[bool]:
    """Rows where some text column contains some target, case aside (a superset: `_rewrite` matches exactly).
    SQLite's LIKE ignores ASCII case by itself (and its lower() knows no other letters); PostgreSQL needs ILIKE.
    Stored JSON may escape accented letters ("\\u00e9"): both spellings are looked for."""
    needles = {needle for text in targets for needle in (text, json.dumps(text)[1:-1])}
    postgres = session.get_bind().dialect.name == "postgresql"
    conditions = []
    for column in texts:
        held = cast(column, Text) if isinstance(column.type, JSON) else column
        match = held.ilike if postgres else held.like
        conditions += [match(f"%{_escape(needle)}%", escape="/") for needle in needles]
    return or_(*conditions)


def _escape(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _rewrite(session: Session, targets: dict[str, str], found: Found, *, by: str, now: datetime) -> dict[str, int]:
    """Replace every `targets` text in the rows the plan found, and in the rows written since it scanned."""
    pattern = re.compile(
        "|".join(rf"(?<![\w.+-]){re.escape(text)}(?![\w-]|\.\w)" for text in sorted(targets, key=len, reverse=True)),
        re.IGNORECASE,
    )

    def replaced(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda match: targets[match.group(0).lower()], value)
        if isinstance(value, list):
            return [replaced(item) for item in value]
        if isinstance(value, dict):
            return {replaced(key): replaced(item) for key, item in value.items()}
        return value

    grant = ErasureGrant(opened_by=by, opened_at=now)
    session.add(grant)
    session.flush()
    counts: dict[str, int] = {}
    for table, texts, keys in _text_tables():
        last, known = found.get(table.name, (None, []))
        naming = _naming(session, texts, targets)
        if last is None:  # a small table without a counter: read again
            queries = [sa_select(*keys, *texts).where(naming)]
        else:  # the rows the plan found, and those written since it scanned
            ids = [key for (key,) in known]
            queries = [sa_select(*keys, *texts).where(keys[0].in_(ids[i : i + 500])) for i in range(0, len(ids), 500)]
            queries.append(sa_select(*keys, *texts).where(keys[0] > last, naming))
        changed = 0
        for row in (row for query in queries for row in session.connection().execute(query).all()):
            held = row._mapping
            values = {column.name: replaced(held[column.name]) for column in texts}
            values = {name: value for name, value in values.items() if value != held[name]}
            if values:
                session.connection().execute(
                    table.update().where(*(key == held[key.name] for key in keys)).values(values))
                changed += 1
        if changed:
            counts[table.name] = changed
    session.delete(grant)
    session.flush()
    return counts


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
    subjects = (
        dict(
            session.exec(
                select(WorkflowInstance.id, WorkflowInstance.subject).where(col(WorkflowInstance.id).in_(instances))
            ).all()
        )
        if instances
        else {}
    )
    for row in result["workflow_history"] + result["workflow_checklist_value"]:
        row["school"] = subjects.get(row["instance_id"])
    return result


def counts(held: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in held.items()}
