"""The audit log of administrative actions (people, imports, restore, first administrator): who, when, what.

Rows are written in the same transaction as the change they describe (refusals in their own), and the database
refuses to change or delete them (triggers, migration 0002).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from roadmap.models import AuditEntry
from workflows import Actor
from workflows.models import utcnow

ACTION_LABELS = {
    "admin.bootstrap": "premier administrateur créé",
    "people.add": "personne enregistrée",
    "people.remove": "personne retirée",
    "import.annuaire": "annuaire importé",
    "directory.closed": "contact retiré : établissement fermé dans l'annuaire",
    "restore": "archive restaurée",
    "people.reminders": "réception des rappels réglée",
    "mail.test": "message d'essai envoyé",
    "forms.record": "formulaires rendus enregistrés",
    "refused": "action d'administration refusée",
    "transmission.compose": "tableau composé",
    "transmission.send": "tableau envoyé",
    "transmission.approve": "tableau validé par la DANE",
    "transmission.return": "tableau renvoyé par la DANE",
    "agreements.add": "accord avec un éditeur enregistré",
    "gdpr.record": "fiche de traitement enregistrée",
    "gdpr.register": "registre des traitements exporté",
    "gdpr.purge": "personnes parties anonymisées",
    "gdpr.access": "demande d'accès exportée",
    "file.read": "document consulté (lecture seule)",
}


def record(session: Session, actor: Actor, action: str, target: str, details: dict[str, Any] | None = None) -> None:
    session.add(
        AuditEntry(at=utcnow(), actor=actor.id, role=actor.role, action=action, target=target[:254], details=details)
    )


def entries(session: Session, limit: int | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc())
    if limit:
        query = query.limit(limit)
    return list(reversed(session.exec(query).all()))
