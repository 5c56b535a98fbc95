"""The directory in the database: import of an annuaire extract, people and their scopes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from roadmap.annuaire import AnnuaireExtract, AnnuaireRecord, ClosedRow, RecordKind, RowError
from roadmap.errors import InvalidValue, NotFound
from roadmap.gdpr import Leaving, cancel_departures, record_departures
from roadmap.models import Academie, Circonscription, Departement, Person, School
from roadmap.permissions import check_scope
from roadmap.progress import SILENT, Progress
from roadmap.roles import ROLES
from roadmap.territory import AcademieInfo
from workflows.models import utcnow

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
StartInstances = Callable[[Session, list[tuple[str, str]]], None]  # (UAI, département) of each school created
# School fields an extract may leave out (or leave empty) without erasing what is held.
OPTIONAL_SCHOOL_FIELDS = ("sector", "nature_code", "street", "locality", "phone", "email")


CLOSED_REASON = "closed"  # departed_person.reason of a mailbox whose establishment the annuaire marks closed


@dataclass(frozen=True, slots=True)
class ClosedEstablishment:
    """A school or circonscription office held in the database that an extract marks closed. Its row and its
    roadmap stay (history is evidence); only its annuaire mailbox leaves the directory."""

    uai: str
    kind: RecordKind
    name: str


@dataclass
class ImportReport:
    path: Path
    columns: list[str] = field(default_factory=list)  # the columns read, as "label (header)"
    kept_values: int = 0  # empty cells that left a stored value as it was
    rejected_count: int = 0  # every rejected row; `rejected` lists the first ones
    schools_created: int = 0
    schools_updated: int = 0
    schools_unchanged: int = 0
    circonscriptions: int = 0
    contacts: int = 0
    ignored: int = 0
    rejected: list[RowError] = field(default_factory=list)
    without_circonscription: list[str] = field(default_factory=list)
    closed: list[ClosedEstablishment] = field(default_factory=list)  # held establishments the file marks closed
    closed_unknown: int = 0  # closed rows matching nothing held (in that département): nothing to do
    departed: list[Leaving] = field(default_factory=list)  # annuaire mailboxes of closed establishments, removed
    kept_manual: list[Leaving] = field(default_factory=list)  # people registered by hand there, left alone
    suspended: list[str] = field(default_factory=list)  # closed schools whose roadmap this import suspended
    resumed: list[str] = field(default_factory=list)  # reopened schools whose roadmap a closure had suspended

    @property
    def schools(self) -> int:
        return self.schools_created + self.schools_updated + self.schools_unchanged


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'").split())


def short_circonscription_name(name: str) -> str:
    return re.sub(r"^circonscription d'inspection\s+du 1er degr[eé]\s+", "", name, flags=re.IGNORECASE).strip()


def import_extract(
    session: Session,
    extract: AnnuaireExtract,
    zones: dict[str, AcademieInfo],
    start_instances: StartInstances,
    progress: Progress = SILENT,
    clock: Callable[[], datetime] = utcnow,
) -> ImportReport:
    """Upsert everything the extract holds, in the caller's transaction. Re-importing never duplicates.

    Written for national extracts (50,000 écoles): reference rows are read once for the run, rows are compared
    before anything is written, and inserts and updates go to the database in bulk."""
    report = ImportReport(
        path=extract.path,
        columns=extract.column_labels(),
        ignored=extract.ignored,
        rejected=list(extract.errors),
        rejected_count=extract.rejected,
    )
    # Only what the file says changes what is held: a column the file lacks, or an empty cell of an optional
    # column, leaves the stored value alone (a narrower extract never blanks data).
    optional = [key for key in OPTIONAL_SCHOOL_FIELDS if key in extract.columns]
    reads_circonscription = "circonscription_uai" in extract.columns or "circonscription_name" in extract.columns
    _upsert_territory(session, extract.records, zones)
    circonscriptions = _upsert_circonscriptions(session, extract.records, report)
    by_name = {(dep, _fold(name)): uai for uai, (name, dep) in circonscriptions.items()}
    columns = [col(getattr(School, name)) for name in SCHOOL_COLUMNS]
    existing = {row[0]: row for row in session.execute(sa_select(*columns))}
    created: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    stamp = utcnow()
    progress.phase("Comparaison avec les écoles connues", total=len(extract.records))
    for count, record in enumerate(extract.records, start=1):
        if count % BATCH == 0:
            progress.advance(BATCH)
        if record.kind != "school":
            continue
        current = existing.get(record.uai)
        held = dict(zip(SCHOOL_COLUMNS, current, strict=True)) if current else None
        circonscription_uai = record.circonscription_uai or by_name.get(
            (record.departement_code, _fold(record.circonscription_name))
        )
        if not circonscription_uai and not (held and held["circonscription_uai"]):
            report.without_circonscription.append(record.uai)
        fields: dict[str, Any] = {
            "name": record.name,
            "postal_code": record.postal_code,
            "commune": record.commune,
            "departement_code": record.departement_code,
        }
        for key in optional:
            if getattr(record, key):
                fields[key] = getattr(record, key)
            elif held and held[key]:
                report.kept_values += 1
        if reads_circonscription and circonscription_uai:
            fields["circonscription_uai"] = circonscription_uai
        if held is None:
            created.append({**NEW_SCHOOL, **fields, "uai": record.uai, "updated_at": stamp})
            report.schools_created += 1
        elif any(held[key] != value for key, value in fields.items()):
            changed.append({**fields, "uai": record.uai, "updated_at": stamp})
            report.schools_updated += 1
        else:
            report.schools_unchanged += 1
    progress.phase("Enregistrement des écoles", total=len(created) + len(changed))
    for offset in range(0, len(created), BATCH):
        session.execute(insert(School), created[offset : offset + BATCH])
        progress.advance(len(created[offset : offset + BATCH]))
    _update_by_key(session, School, changed)
    progress.advance(len(changed))
    progress.phase("Ouverture des parcours", total=len(created))
    start_instances(session, [(row["uai"], row["departement_code"]) for row in created])
    progress.advance(len(created))
    now = clock()
    if extract.closed:
        _close(session, list(extract.closed.values()), report, now)
    report.contacts = _sync_contacts(session, extract.records, circonscriptions, now)
    return report


BATCH = 5000  # rows per bulk statement
SCHOOL_COLUMNS = ("uai", *OPTIONAL_SCHOOL_FIELDS, "name", "postal_code", "commune", "departement_code",
                  "circonscription_uai")
NEW_SCHOOL: dict[str, Any] = {key: "" for key in OPTIONAL_SCHOOL_FIELDS} | {"circonscription_uai": None}


def _update_by_key(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Bulk UPDATE by primary key, grouped by the set of columns each row changes."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for group in groups.values():
        for offset in range(0, len(group), BATCH):
            session.execute(update(model), group[offset : offset + BATCH])


def _upsert_territory(session: Session, records: list[AnnuaireRecord], zones: dict[str, AcademieInfo]) -> None:
    academies = {a.code: a for a in session.exec(select(Academie)).all()}
    departements = set(session.exec(select(Departement.code)).all())
    for record in records:
        info = zones.get(record.academie_code)
        name = record.academie_name or (info.name if info else record.academie_code)
        academie = academies.get(record.academie_code)
        if academie is None:
            academie = Academie(code=record.academie_code, name=name, holiday_zone=info.zone if info else None)
            academies[academie.code] = academie
            session.add(academie)
        elif academie.name != name:
            academie.name = name
            session.add(academie)
        if record.departement_code not in departements:
            departements.add(record.departement_code)
            session.add(
                Departement(
                    code=record.departement_code,
                    name=record.departement_name or record.departement_code,
                    academie_code=record.academie_code,
                )
            )
    session.flush()


def _upsert_circonscriptions(
    session: Session, records: list[AnnuaireRecord], report: ImportReport
) -> dict[str, tuple[str, str]]:
    """Circonscription offices of the extract, and those schools name without an office row. Returns every
    circonscription held: UAI -> (name, département)."""
    query = sa_select(
        col(Circonscription.uai),
        col(Circonscription.name),
        col(Circonscription.departement_code),
        col(Circonscription.email),
        col(Circonscription.phone),
    )
    held = {uai: (name, dep, email, phone) for uai, name, dep, email, phone in session.execute(query)}
    created: dict[str, dict[str, Any]] = {}
    changed: list[dict[str, Any]] = []
    for record in records:
        if record.kind != "circonscription":
            continue
        report.circonscriptions += 1
        before = held.get(record.uai)
        row = {
            "uai": record.uai,
            "name": record.name,
            "departement_code": record.departement_code,
            "email": record.email or (before[2] if before else None),
            "phone": record.phone or (before[3] if before else None),
        }
        if before is None:
            created[record.uai] = row
        elif (row["name"], row["departement_code"], row["email"], row["phone"]) != before:
            changed.append(row)
        held[record.uai] = (row["name"], row["departement_code"], row["email"], row["phone"])
    for record in records:
        uai = record.circonscription_uai
        if record.kind == "school" and uai and uai not in held:
            row = {
                "uai": uai,
                "name": record.circonscription_name or record.circonscription_uai,
                "departement_code": record.departement_code,
                "email": None,
                "phone": None,
            }
            created[uai] = row
            held[uai] = (row["name"], row["departement_code"], None, None)
            report.circonscriptions += 1
    if created:
        session.execute(insert(Circonscription), list(created.values()))
    _update_by_key(session, Circonscription, changed)
    return {uai: (name, dep) for uai, (name, dep, _, _) in held.items()}


def _close(session: Session, rows: list[ClosedRow], report: ImportReport, now: datetime) -> None:
    """Establishments the extract marks closed: those held (in the département and académie the row names) lose
    their annuaire mailboxes, which leave the directory with a departure recorded (retention, roadmap/gdpr.py);
    people registered by hand there are left alone and reported. Absence from a file never closes anything."""
    names: dict[str, str] = {}
    for model in (School, Circonscription):
        wanted = {row.uai: row for row in rows if (row.kind == "school") == (model is School)}
        keys = list(wanted)
        for offset in range(0, len(keys), BATCH):
            held = (
                sa_select(col(model.uai), col(model.name), col(Departement.code), col(Departement.academie_code))
                .join(Departement, col(Departement.code) == col(model.departement_code))
                .where(col(model.uai).in_(keys[offset : offset + BATCH]))
            )
            for uai, name, departement, academie in session.execute(held):
                row = wanted[uai]
                if row.departement_code == departement and row.academie_code in ("", academie):
                    names[uai] = name
    report.closed = [ClosedEstablishment(row.uai, row.kind, names[row.uai]) for row in rows if row.uai in names]
    report.closed.sort(key=lambda closed: closed.uai)
    report.closed_unknown = len(rows) - len(report.closed)
    uais = list(names)
    leaving: list[tuple[int, Leaving]] = []
    for offset in range(0, len(uais), BATCH):
        query = (
            sa_select(col(Person.id), col(Person.email), col(Person.name), col(Person.role), col(Person.scope),
                      col(Person.source))
            .where(col(Person.scope).in_(uais[offset : offset + BATCH]))
            .order_by(col(Person.scope), col(Person.email))
        )
        for pid, email, name, role, scope, source in session.execute(query):
            person = Leaving(email, name, role, scope)
            if source == "annuaire":
                leaving.append((pid, person))
            else:
                report.kept_manual.append(person)
    ids = [pid for pid, _ in leaving]
    for offset in range(0, len(ids), BATCH):
        session.execute(delete(Person).where(col(Person.id).in_(ids[offset : offset + BATCH])))
    report.departed = [person for _, person in leaving]
    record_departures(session, report.departed, reason=CLOSED_REASON, now=now)


def _sync_contacts(
    session: Session, records: list[AnnuaireRecord], circonscriptions: dict[str, tuple[str, str]], now: datetime
) -> int:
    """Functional mailboxes of the annuaire become people: the school's direction, the circonscription's IEN."""
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    for record in records:
        if not record.email or not _EMAIL.match(record.email):
            continue
        if record.kind == "school":
            wanted[("director", record.uai)] = (record.email.lower(), f"Direction — {record.name}")
        else:
            short = short_circonscription_name(circonscriptions[record.uai][0])
            wanted[("ien", record.uai)] = (record.email.lower(), f"IEN — circonscription {short}")
    query = sa_select(
        col(Person.id), col(Person.email), col(Person.name), col(Person.role), col(Person.scope), col(Person.source)
    )
    people = [
        {"id": pid, "email": email, "name": name, "role": role, "scope": scope, "source": source}
        for pid, email, name, role, scope, source in session.execute(query)
    ]
    by_email = {p["email"]: p for p in people}
    from_annuaire = {(p["role"], p["scope"]): p for p in people if p["source"] == "annuaire"}
    created: list[dict[str, Any]] = []
    changed: dict[int, dict[str, Any]] = {}
    departures: list[dict[str, Any]] = []
    count = 0
    for (role, scope), (email, name) in wanted.items():
        person = from_annuaire.get((role, scope))
        owner = by_email.get(email)
        if owner is not None and owner is not person:
            continue  # the address already belongs to someone registered by hand, or to another scope
        if person is None:
            person = {"email": email, "name": name, "role": role, "scope": scope, "source": "annuaire",
                      "created_at": now}
            created.append(person)
        elif (person["email"], person["name"]) != (email, name):
            if person["email"] != email:  # the old mailbox left the directory (retention, roadmap/gdpr.py)
                departures.append({**person})
            by_email.pop(person["email"], None)
            person["email"], person["name"] = email, name
            changed[person["id"]] = {"id": person["id"], "email": email, "name": name}
        by_email[email] = person
        count += 1
    # Addresses move between people in one run (a mailbox handed to another school): clear them first so the
    # unique index never sees the same address twice.
    if changed:
        _update_by_key(session, Person, [{"id": pid, "email": f"~moving~{pid}"} for pid in changed])
        _update_by_key(session, Person, list(changed.values()))
    for offset in range(0, len(created), BATCH):
        session.execute(insert(Person), created[offset : offset + BATCH])
    # An address back in the directory before being anonymised (a school reopened, a mailbox handed back) has
    # nothing to anonymise any more.
    cancel_departures(session, [p["email"] for p in created] + [row["email"] for row in changed.values()])
    taken = {p["email"] for p in by_email.values()}
    gone = [Leaving(p["email"], p["name"], p["role"], p["scope"]) for p in departures if p["email"] not in taken]
    record_departures(session, gone, reason="annuaire", now=now)
    return count


def add_person(session: Session, email: str, role: str, scope: str, name: str) -> Person:
    address = email.strip().lower()
    if not _EMAIL.match(address):
        raise InvalidValue("EMAIL", email, "adresse électronique invalide.", hint="exemple : prenom.nom@ac-rennes.fr")
    if not name.strip():
        raise InvalidValue("nom", name, "le nom est vide.", hint="indiquez le prénom et le nom.")
    normalized = check_scope(session, role, scope)
    existing = session.exec(select(Person).where(Person.email == address)).first()
    if existing is not None and existing.source == "annuaire" and (existing.role, existing.scope) == (role, normalized):
        # A functional mailbox from the annuaire gets the name of the person who uses it (e.g. the director who
        # works from the school's address); imports no longer rename it.
        existing.name, existing.source = name.strip(), "manual"
        session.add(existing)
        return existing
    if existing is not None:
        raise InvalidValue(
            "EMAIL",
            address,
            "cette adresse est déjà enregistrée.",
            hint="une adresse ne désigne qu'une personne.",
            remedy="list_people",
        )
    person = Person(email=address, name=name.strip(), role=role, scope=normalized, source="manual")
    session.add(person)
    return person


def remove_person(session: Session, email: str) -> Person:
    """Forget a person (data minimisation); the history keeps the address of what they did."""
    address = email.strip().lower()
    person = session.exec(select(Person).where(Person.email == address)).first()
    if person is None:
        raise NotFound("Personne", address, hint="vérifiez l'adresse.", remedy="list_people")
    session.delete(person)
    return person


def list_people(session: Session, role: str | None = None, where: ColumnElement[bool] | None = None) -> list[Person]:
    query = select(Person).order_by(col(Person.role), col(Person.scope), col(Person.email))
    if where is not None:
        query = query.where(where)
    if role and role not in ROLES:
        raise InvalidValue("rôle", role, "rôle inconnu.", hint="rôles possibles : " + ", ".join(ROLES))
    if role:
        query = query.where(Person.role == role)
    return list(session.exec(query).all())
