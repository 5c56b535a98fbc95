"""The directory in the database: import of an annuaire extract, people and their scopes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from roadmap.annuaire import AnnuaireExtract, AnnuaireRecord, RowError
from roadmap.errors import InvalidValue, NotFound
from roadmap.models import ROLES, Academie, Circonscription, Departement, Person, School
from roadmap.permissions import check_scope
from roadmap.territory import AcademieInfo
from workflows.models import utcnow

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
StartInstance = Callable[[Session, School], None]
# School fields an extract may leave out (or leave empty) without erasing what is held.
OPTIONAL_SCHOOL_FIELDS = ("sector", "nature_code", "street", "locality", "phone", "email")


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

    @property
    def schools(self) -> int:
        return self.schools_created + self.schools_updated + self.schools_unchanged


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'").split())


def short_circonscription_name(name: str) -> str:
    return re.sub(r"^circonscription d'inspection\s+du 1er degr[eé]\s+", "", name, flags=re.IGNORECASE).strip()


def import_extract(
    session: Session, extract: AnnuaireExtract, zones: dict[str, AcademieInfo], start_instance: StartInstance
) -> ImportReport:
    """Upsert everything the extract holds, in the caller's transaction. Re-importing never duplicates."""
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
    for record in extract.records:
        _upsert_departement(session, record, zones)
    session.flush()
    circonscriptions = {c.uai: c for c in session.exec(select(Circonscription)).all()}
    for record in extract.records:
        if record.kind == "circonscription":
            circonscriptions[record.uai] = _upsert_circonscription(session, record, circonscriptions.get(record.uai))
            report.circonscriptions += 1
    for record in extract.records:
        if (
            record.kind == "school"
            and record.circonscription_uai
            and record.circonscription_uai not in circonscriptions
        ):
            created = Circonscription(
                uai=record.circonscription_uai,
                name=record.circonscription_name or record.circonscription_uai,
                departement_code=record.departement_code,
            )
            session.add(created)
            circonscriptions[created.uai] = created
            report.circonscriptions += 1
    session.flush()
    by_name = {(c.departement_code, _fold(c.name)): c.uai for c in circonscriptions.values()}
    existing = {s.uai: s for s in session.exec(select(School)).all()}
    for record in extract.records:
        if record.kind != "school":
            continue
        circonscription_uai = record.circonscription_uai or by_name.get(
            (record.departement_code, _fold(record.circonscription_name))
        )
        if not circonscription_uai and not (existing.get(record.uai) and existing[record.uai].circonscription_uai):
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
            elif record.uai in existing and getattr(existing[record.uai], key):
                report.kept_values += 1
        if reads_circonscription and circonscription_uai:
            fields["circonscription_uai"] = circonscription_uai
        school = existing.get(record.uai)
        if school is None:
            school = School(uai=record.uai, **{"sector": "", **fields})
            session.add(school)
            session.flush()
            start_instance(session, school)
            existing[school.uai] = school
            report.schools_created += 1
        elif any(getattr(school, key) != value for key, value in fields.items()):
            for key, value in fields.items():
                setattr(school, key, value)
            school.updated_at = utcnow()
            session.add(school)
            report.schools_updated += 1
        else:
            report.schools_unchanged += 1
    session.flush()
    report.contacts = _sync_contacts(session, extract.records, circonscriptions)
    return report


def _upsert_departement(session: Session, record: AnnuaireRecord, zones: dict[str, AcademieInfo]) -> None:
    academie = session.get(Academie, record.academie_code)
    info = zones.get(record.academie_code)
    name = record.academie_name or (info.name if info else record.academie_code)
    if academie is None:
        session.add(Academie(code=record.academie_code, name=name, holiday_zone=info.zone if info else None))
    elif academie.name != name:
        academie.name = name
        session.add(academie)
    departement = session.get(Departement, record.departement_code)
    if departement is None:
        session.add(
            Departement(
                code=record.departement_code,
                name=record.departement_name or record.departement_code,
                academie_code=record.academie_code,
            )
        )
        session.flush()


def _upsert_circonscription(
    session: Session, record: AnnuaireRecord, current: Circonscription | None
) -> Circonscription:
    circonscription = current or Circonscription(
        uai=record.uai, name=record.name, departement_code=record.departement_code
    )
    circonscription.name = record.name
    circonscription.departement_code = record.departement_code
    circonscription.email = record.email or circonscription.email
    circonscription.phone = record.phone or circonscription.phone
    session.add(circonscription)
    return circonscription


def _sync_contacts(
    session: Session, records: list[AnnuaireRecord], circonscriptions: dict[str, Circonscription]
) -> int:
    """Functional mailboxes of the annuaire become people: the school's direction, the circonscription's IEN."""
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    for record in records:
        if not record.email or not _EMAIL.match(record.email):
            continue
        if record.kind == "school":
            wanted[("director", record.uai)] = (record.email.lower(), f"Direction — {record.name}")
        else:
            short = short_circonscription_name(circonscriptions[record.uai].name)
            wanted[("ien", record.uai)] = (record.email.lower(), f"IEN — circonscription {short}")
    people = session.exec(select(Person)).all()
    by_email = {p.email: p for p in people}
    from_annuaire = {(p.role, p.scope): p for p in people if p.source == "annuaire"}
    count = 0
    for (role, scope), (email, name) in wanted.items():
        person = from_annuaire.get((role, scope))
        owner = by_email.get(email)
        if owner is not None and owner is not person:
            continue  # the address already belongs to someone registered by hand, or to another scope
        if person is None:
            person = Person(email=email, name=name, role=role, scope=scope, source="annuaire")
            by_email[email] = person
        else:
            by_email.pop(person.email, None)
            person.email, person.name = email, name
            by_email[email] = person
        session.add(person)
        count += 1
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


def list_people(session: Session, role: str | None = None) -> list[Person]:
    query = select(Person).order_by(col(Person.role), col(Person.scope), col(Person.email))
    if role and role not in ROLES:
        raise InvalidValue("rôle", role, "rôle inconnu.", hint="rôles possibles : " + ", ".join(ROLES))
    if role:
        query = query.where(Person.role == role)
    return list(session.exec(query).all())
