"""Transmission batches: the account-creation table of a département as the CPD composes, checks and sends it.

The first table of a département (no earlier batch validated) goes to the DANE of the académie, who validates or
returns it as a whole; later tables go to the DSI, the DANE in copy. Every school of a batch moves with it, through
the engine (one history row each), in the same transaction as the batch's own change and the email that carries the
table (XLSX attached, queued in the outbox). Those moves are only reachable from here: the service names the schools
it moves in the session (`guards.BATCH_MOVE`), and the `in_batch` guard refuses the same events fired by hand.

Agreements with publishers (the DASEN's convention and the DSI's agreement, per département and ENT) are recorded
here too: the school's move to "awaiting accounts" needs both (`publisher_agreements` guard).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, true
from sqlmodel import Session, col, select

from notifications.models import Attachment
from notifications.outbox import Draft, enqueue
from notifications.render import MailRenderer
from roadmap import audit
from roadmap.account_table import COLUMNS, XLSX_TYPE, AccountItems, row_problems, xlsx_bytes
from roadmap.errors import InvalidValue, NotFound, RoadmapError
from roadmap.french import french_datetime
from roadmap.guards import AGREEMENT_KINDS, BATCH_MOVE, automatic_ents
from roadmap.models import (
    Departement,
    Person,
    PublisherAgreement,
    School,
    TransmissionBatch,
    TransmissionBatchSchool,
)
from roadmap.reminders import TEMPLATES
from roadmap.settings import PARIS
from workflows import Actor, TransitionRefused
from workflows.models import WorkflowInstance

if TYPE_CHECKING:
    from roadmap.service import Roadmap

READY = "transmission.submitted"  # a school whose row waits for the CPD's table
STEP = "transmission"
SEND, VALIDATE, RETURN = "send_table", "validate_table", "return_table"
TARGET = {"dane": "transmission.awaiting_dane", "dsi": "transmission.at_dsi"}
DRAFT, SENT, VALIDATED, RETURNED = "draft", "sent", "validated", "returned"
OPEN = (DRAFT, SENT)  # a school in such a batch cannot enter another one
STATUS_LABELS = {
    DRAFT: "brouillon",
    SENT: "envoyé",
    VALIDATED: "validé par la DANE",
    RETURNED: "renvoyé par la DANE",
}
ROUTE_LABELS = {"dane": "DANE (premier tableau du département)", "dsi": "DSI, DANE en copie"}
KIND_LABELS = {"convention": "convention DASEN–éditeur", "dsi_agreement": "accord DSI–éditeur"}
TABLE_READERS = ("cpd", "dane", "admin")  # who reads the tables (each within their scope: `visible_batches`)
MANUAL_ROUTE = "ENT sans création automatique : voie manuelle (l'école transmet sa liste à l'éditeur)."


# ------------------------------------------------------------------------------------------------ views


@dataclass(frozen=True)
class BatchRow:
    """A school of the table: its 13 columns in order, and what is wrong with it (empty: checked)."""

    uai: str
    cells: tuple[tuple[str, str], ...]  # (column, value), in the order of COLUMNS
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotReady:
    """A school of the département at the transmission step that is not in the table, and why."""

    uai: str
    name: str
    state: str
    state_label: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class BatchLine:
    id: int
    departement: str
    number: int
    status: str
    status_label: str
    route: str
    schools: int
    composed_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class BatchView:
    id: int
    departement: str
    departement_name: str
    number: int
    status: str
    status_label: str
    route: str  # "dane" or "dsi": where it went, or (draft) where it would go now
    route_label: str
    composed_at: datetime
    composed_by: str
    sent_at: datetime | None
    sent_by: str | None
    to: str | None
    cc: tuple[str, ...]
    decided_at: datetime | None
    decided_by: str | None
    note: str | None
    filename: str | None
    sha256: str | None
    size: int
    rows: tuple[BatchRow, ...]
    not_ready: tuple[NotReady, ...] = ()
    columns: tuple[str, ...] = field(default=COLUMNS)


@dataclass(frozen=True)
class AgreementLine:
    departement: str
    ent: str
    kind: str
    kind_label: str
    signed_on: date
    recorded_at: datetime
    recorded_by: str


# ------------------------------------------------------------------------------------------------ helpers


def visible_batches(viewer: Actor) -> ColumnElement[bool]:
    """SQL condition on TransmissionBatch: the batches `viewer` may see (CPD: département; DANE: académie)."""
    if viewer.role == "admin":
        return true()
    if viewer.role == "cpd":
        return col(TransmissionBatch.departement_code) == viewer.scope
    if viewer.role == "dane":
        return col(TransmissionBatch.departement_code).in_(
            select(Departement.code).where(Departement.academie_code == viewer.scope)
        )
    return col(TransmissionBatch.id).is_(None)


def _academie(session: Session, departement: str) -> str:
    found = session.get(Departement, departement)
    return found.academie_code if found else ""


def _cells(row: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((column, row.get(column, "")) for column in COLUMNS)


def _row_check(uai: str, ready: Sequence[Mapping[str, str]] | None, report: Sequence[NotReady]) -> tuple[str, ...]:
    """What is wrong now with a draft's row (empty: checked); nothing to check once sent (`ready` is None)."""
    if ready is None or any(row.get("RNE") == uai for row in ready):
        return ()
    found = next((r for r in report if r.uai == uai), None)
    if found is None:
        return ("l'école n'est plus à l'étape « Transmission » : recomposez le tableau.",)
    return (f"l'école n'est plus prête ({found.state_label}) :", *found.reasons)


def _label(batch: TransmissionBatch) -> str:
    return f"tableau n° {batch.number} du département {batch.departement_code} (id {batch.id})"


class Transmissions:
    """The service for batches and agreements; every write goes through here with an actor and leaves a trace
    (history rows for the schools, the batch row itself, the audit log)."""

    def __init__(self, roadmap: Roadmap) -> None:
        self.roadmap = roadmap
        self.renderer = MailRenderer(TEMPLATES)

    # ------------------------------------------------------------------------------------ permissions

    def _refuse(self, actor: Actor, action: str, target: str, reasons: list[str]) -> None:
        if reasons:
            self.roadmap.refuse_administration(actor, action, target, reasons)

    @staticmethod
    def _cpd_reasons(actor: Actor, departement: str) -> list[str]:
        if actor.role == "admin" or (actor.role == "cpd" and actor.scope == departement):
            return []
        return [f"seul le CPD du département {departement} (ou un administrateur) compose et envoie son tableau ; "
                f"vous êtes {actor.role} ({actor.scope or 'sans périmètre'})."]

    @staticmethod
    def _dane_reasons(actor: Actor, departement: str, academie: str) -> list[str]:
        if actor.role == "admin" or (actor.role == "dane" and actor.scope == academie):
            return []
        if actor.role == "dane":
            return [f"le département {departement} relève de l'académie {academie}, pas de la vôtre ({actor.scope})."]
        return [f"seule la DANE de l'académie {academie} (ou un administrateur) valide ou renvoie un tableau ; "
                f"vous êtes {actor.role} ({actor.scope or 'sans périmètre'})."]

    def _batch(self, session: Session, batch_id: int) -> TransmissionBatch:
        batch = session.get(TransmissionBatch, batch_id)
        if batch is None:
            raise NotFound("Tableau", str(batch_id), hint="« roadmap transmission list » donne les tableaux connus.")
        return batch

    # ------------------------------------------------------------------------------------ reading

    def route_for(self, session: Session, departement: str) -> str:
        """Where a table of the département goes now: the DANE until one of its tables is validated."""
        validated = session.exec(
            select(TransmissionBatch.id).where(
                TransmissionBatch.departement_code == departement, TransmissionBatch.status == VALIDATED
            ).limit(1)
        ).first()
        return "dsi" if validated is not None else "dane"

    def _in_open_batches(self, session: Session, departement: str) -> dict[str, TransmissionBatch]:
        query = (
            select(TransmissionBatchSchool.uai, TransmissionBatch)
            .join(TransmissionBatch, col(TransmissionBatch.id) == col(TransmissionBatchSchool.batch_id))
            .where(TransmissionBatch.departement_code == departement, col(TransmissionBatch.status).in_(OPEN))
        )
        return {uai: batch for uai, batch in session.exec(query).all()}

    def _candidates(
        self, session: Session, departement: str, *, keep: int | None = None
    ) -> tuple[list[dict[str, str]], list[NotReady]]:
        """Rows ready for a table of the département (checked), and a report on every other school at the
        transmission step. `keep`: a draft being recomposed (its schools are free for it)."""
        roadmap = self.roadmap
        today = roadmap.engine.clock().astimezone(PARIS).date()
        taken = {uai: batch for uai, batch in self._in_open_batches(session, departement).items() if batch.id != keep}
        rows = {row["RNE"]: row for row in roadmap.account_rows(departement=departement, state=READY)}
        instances = session.exec(
            select(School, WorkflowInstance)
            .join(WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai))
            .where(School.departement_code == departement, col(WorkflowInstance.state).startswith(STEP))
            .order_by(col(School.uai))
        ).all()
        ready: list[dict[str, str]] = []
        report: list[NotReady] = []
        for school, instance in instances:
            definition = roadmap.engine.definition(instance.definition_id)
            label = definition.state_label(instance.state)
            reasons: list[str] = []
            if instance.state == READY:
                row = rows.get(school.uai, {})
                items = AccountItems.of(definition)
                reasons = row_problems(row, definition.item_spec(items.ent), today)
                if school.uai in taken:
                    batch = taken[school.uai]
                    reasons.insert(0, f"déjà dans le {_label(batch)} ({STATUS_LABELS[batch.status]}).")
                if not reasons:
                    ready.append(row)
                    continue
            elif instance.state == STEP:
                ent = roadmap.engine.values(session, instance).get(AccountItems.of(definition).ent)
                if ent and ent not in automatic_ents(session, roadmap.settings.territory_file, school):
                    reasons = [MANUAL_ROUTE]
                else:
                    reasons = roadmap.engine.blockers(session, instance, "advance") or [
                        "l'école n'a pas encore transmis sa ligne (action « Valider l'étape »)."
                    ]
            else:
                continue  # already sent: it travels with its batch
            report.append(NotReady(school.uai, school.name, instance.state, label, tuple(reasons)))
        return ready, report

    def _view(self, session: Session, batch: TransmissionBatch, not_ready: Sequence[NotReady] = (),
              ready: Sequence[Mapping[str, str]] | None = None) -> BatchView:
        """`ready`: for a draft, the rows ready now (`_candidates`); each of the draft's rows is checked against
        them, and a row no longer ready carries the reasons (what sending it would refuse)."""
        assert batch.id is not None
        members = session.exec(
            select(TransmissionBatchSchool)
            .where(TransmissionBatchSchool.batch_id == batch.id)
            .order_by(col(TransmissionBatchSchool.position))
        ).all()
        departement = session.get(Departement, batch.departement_code)
        route = batch.route if batch.status != DRAFT else self.route_for(session, batch.departement_code)
        return BatchView(
            id=batch.id,
            departement=batch.departement_code,
            departement_name=departement.name if departement else "",
            number=batch.number,
            status=batch.status,
            status_label=STATUS_LABELS.get(batch.status, batch.status),
            route=route,
            route_label=ROUTE_LABELS[route],
            composed_at=batch.composed_at,
            composed_by=batch.composed_by,
            sent_at=batch.sent_at,
            sent_by=batch.sent_by,
            to=batch.to_address,
            cc=tuple(batch.cc or ()),
            decided_at=batch.decided_at,
            decided_by=batch.decided_by,
            note=batch.note,
            filename=batch.filename,
            sha256=batch.sha256,
            size=len(batch.content or b""),
            rows=tuple(BatchRow(member.uai, _cells(member.row), _row_check(member.uai, ready, not_ready))
                       for member in members),
            not_ready=tuple(not_ready),
        )

    def batches(self, viewer: Actor, departement: str | None = None) -> list[BatchLine]:
        return self._lines(visible_batches(viewer), departement)

    def of_school(self, uai: str) -> list[BatchLine]:
        """The tables a school travelled in (a returned one too), oldest first. The caller has checked that the
        viewer sees the school (its page)."""
        return self._lines(col(TransmissionBatch.id).in_(
            select(TransmissionBatchSchool.batch_id).where(TransmissionBatchSchool.uai == uai)))

    def _lines(self, condition: ColumnElement[bool], departement: str | None = None) -> list[BatchLine]:
        counts = (
            select(TransmissionBatchSchool.batch_id, func.count().label("schools"))
            .group_by(col(TransmissionBatchSchool.batch_id))
            .subquery()
        )
        query = (
            select(TransmissionBatch, counts.c.schools)
            .outerjoin(counts, counts.c.batch_id == col(TransmissionBatch.id))
            .where(condition)
            .order_by(col(TransmissionBatch.departement_code), col(TransmissionBatch.number))
        )
        if departement:
            query = query.where(TransmissionBatch.departement_code == departement.strip().zfill(3))
        with self.roadmap.session() as session:
            return [
                BatchLine(b.id or 0, b.departement_code, b.number, b.status, STATUS_LABELS.get(b.status, b.status),
                          b.route, schools or 0, b.composed_at, b.sent_at)
                for b, schools in session.exec(query).all()
            ]

    def show(self, batch_id: int, viewer: Actor) -> BatchView:
        with self.roadmap.session() as session:
            batch = session.exec(
                select(TransmissionBatch).where(TransmissionBatch.id == batch_id, visible_batches(viewer))
            ).first()
            if batch is None:
                raise NotFound("Tableau", str(batch_id), hint="vérifiez le numéro ; seuls les tableaux de votre "
                               "périmètre sont visibles (« roadmap transmission list »).")
            report: list[NotReady] = []
            ready: list[dict[str, str]] | None = None
            if batch.status == DRAFT:
                ready, report = self._candidates(session, batch.departement_code, keep=batch.id)
            return self._view(session, batch, report, ready)

    def file(self, batch_id: int, viewer: Actor, suffix: str) -> tuple[str, bytes | list[dict[str, str]]]:
        """The table of a batch: the stored XLSX as sent (or built from the draft's rows), or its rows for CSV."""
        view = self.show(batch_id, viewer)
        rows = [dict(row.cells) for row in view.rows]
        if suffix == ".csv":
            return f"tableau-{view.departement}-{view.number}.csv", rows
        with self.roadmap.session() as session:
            stored = self._batch(session, batch_id).content
        return view.filename or f"tableau-{view.departement}-{view.number}.xlsx", stored or xlsx_bytes(rows)

    # ------------------------------------------------------------------------------------ compose

    def compose(self, departement: str, *, by: str) -> BatchView:
        """Compose (or recompose) the département's draft from every school ready for it."""
        code = departement.strip().zfill(3) if departement.strip().isdigit() else departement.strip().upper()
        actor = self.roadmap.manager(by, attempted="transmission.compose", target=f"département {code}")
        with self.roadmap.session() as session:
            if session.get(Departement, code) is None:
                raise NotFound("Département", code, hint="donnez le code du département (ex. 035), dont l'annuaire "
                               "a été importé.")
        self._refuse(actor, "transmission.compose", f"département {code}", self._cpd_reasons(actor, code))
        with self.roadmap.engine.transaction() as session:
            draft = session.exec(
                select(TransmissionBatch).where(
                    TransmissionBatch.departement_code == code, TransmissionBatch.status == DRAFT
                ).order_by(col(TransmissionBatch.id)).limit(1)
            ).first()
            ready, report = self._candidates(session, code, keep=draft.id if draft else None)
            if not ready:
                lines = [f"{r.uai} {r.name} ({r.state_label}) : " + " ; ".join(r.reasons) for r in report]
                raise RoadmapError(
                    f"Aucune école du département {code} n'est prête pour un tableau (ligne transmise et valide, "
                    "hors d'un autre tableau en cours)." + "".join(f"\n  - {line}" for line in lines)
                    + "\n  → les écoles valident d'abord l'étape « Transmission » (roadmap school advance UAI)."
                )
            now = self.roadmap.engine.clock()
            if draft is None:
                number = session.exec(
                    select(func.coalesce(func.max(TransmissionBatch.number), 0)).where(
                        TransmissionBatch.departement_code == code
                    )
                ).one()
                draft = TransmissionBatch(departement_code=code, number=int(number) + 1, route="dane",
                                          composed_by=actor.id, composed_at=now)
                session.add(draft)
                session.flush()
            else:
                for member in session.exec(
                    select(TransmissionBatchSchool).where(TransmissionBatchSchool.batch_id == draft.id)
                ).all():
                    session.delete(member)
                draft.composed_by, draft.composed_at = actor.id, now
                session.flush()
            assert draft.id is not None
            draft.route = self.route_for(session, code)
            for position, row in enumerate(ready):
                session.add(TransmissionBatchSchool(batch_id=draft.id, uai=row["RNE"], position=position, row=row))
            audit.record(session, actor, "transmission.compose", _label(draft),
                         {"schools": [row["RNE"] for row in ready], "not_ready": [r.uai for r in report]})
            session.flush()
            return self._view(session, draft, report, ready)

    # ------------------------------------------------------------------------------------ send

    def _dane_addresses(self, session: Session, academie: str) -> list[str]:
        return list(session.exec(
            select(Person.email).where(Person.role == "dane", Person.scope == academie).order_by(col(Person.id))
        ).all())

    def _dsi_address(self, academie: str) -> str:
        if self.roadmap.settings.dsi_email:
            return self.roadmap.settings.dsi_email
        from roadmap.territory import academies

        info = academies(self.roadmap.settings.territory_file).get(academie)
        return info.dsi_email if info else ""

    def _move(self, session: Session, batch: TransmissionBatch, event: str, target: str, actor: Actor,
              note: str | None = None) -> list[str]:
        """Move every school of the batch (the service's own moves: see `in_batch`); the reasons of refusals."""
        members = session.exec(
            select(TransmissionBatchSchool.uai).where(TransmissionBatchSchool.batch_id == batch.id)
            .order_by(col(TransmissionBatchSchool.position))
        ).all()
        session.info[BATCH_MOVE] = {uai: target for uai in members}
        problems: list[str] = []
        try:
            for uai in members:
                try:
                    self.roadmap.engine.fire_in(session, uai, event, actor, note=note)
                except TransitionRefused as refused:
                    problems.append(f"{uai} : " + " ; ".join(refused.reasons))
        finally:
            session.info.pop(BATCH_MOVE, None)
        return problems

    def _queue(self, session: Session, batch: TransmissionBatch, kind: str, to: str, cc: Sequence[str],
               actor: Actor, rows: Sequence[Mapping[str, str]], attach: bool) -> None:
        departement = session.get(Departement, batch.departement_code)
        context: dict[str, Any] = {
            "kind": kind,
            "number": batch.number,
            "departement": batch.departement_code,
            "departement_name": departement.name if departement else "",
            "schools": [{"uai": r.get("RNE", ""), "name": r.get("Nom", ""), "commune": r.get("Commune", ""),
                         "publisher": r.get("ENT", "")} for r in rows],
            "actor": actor.label or actor.id,
            "at": french_datetime(self.roadmap.engine.clock()),
            "note": batch.note or "",
            "filename": batch.filename or "",
            "link": f"{self.roadmap.settings.base_url}/transmissions/{batch.id}",
        }
        rendered = self.renderer.render("transmission", context)
        attachments = (Attachment(batch.filename or "tableau.xlsx", XLSX_TYPE, batch.content or b""),) if attach \
            else ()
        enqueue(session, [Draft(
            key=f"transmission:{batch.id}:{kind}:{to}", recipient=to, subject=rendered.subject, text=rendered.text,
            html=rendered.html, due_at=self.roadmap.engine.clock(), kind="transmission",
            cc=tuple(address for address in dict.fromkeys(cc) if address != to), attachments=attachments,
            meta={"batch": batch.id, "departement": batch.departement_code},
        )], domain=self.roadmap.settings.mail_domain, now=self.roadmap.engine.clock())

    def send(self, batch_id: int, *, by: str) -> BatchView:
        """Send a draft: to the DANE (first table of the département) or the DSI with the DANE in copy; the
        table attached; every school moves to its waiting state. All in one transaction."""
        actor = self.roadmap.manager(by, attempted="transmission.send", target=f"tableau {batch_id}")
        with self.roadmap.session() as session:
            batch = self._batch(session, batch_id)
            academie = _academie(session, batch.departement_code)
            reasons = self._cpd_reasons(actor, batch.departement_code)
            if batch.status != DRAFT:
                reasons.append(f"le {_label(batch)} est déjà {STATUS_LABELS[batch.status]} : seul un brouillon "
                               "s'envoie (composez-en un nouveau).")
            route = self.route_for(session, batch.departement_code)
            danes = self._dane_addresses(session, academie)
            if not danes:
                reasons.append(f"aucune DANE n'est enregistrée pour l'académie {academie} : enregistrez-la "
                               f"(roadmap people add … --role dane --scope {academie}).")
            dsi = self._dsi_address(academie) if route == "dsi" else ""
            if route == "dsi" and not dsi:
                reasons.append(f"l'adresse de la DSI de l'académie {academie} n'est pas connue : renseignez "
                               "dsi_email dans data/territory/academies.toml (ou ROADMAP_DSI_EMAIL).")
        self._refuse(actor, "transmission.send", f"tableau {batch_id}", reasons)
        to, cc = (danes[0], danes[1:]) if route == "dane" else (dsi, danes)
        with self.roadmap.engine.transaction() as session:
            batch = self._batch(session, batch_id)
            ready, _report = self._candidates(session, batch.departement_code, keep=batch.id)
            current = {row["RNE"]: row for row in ready}
            members = session.exec(
                select(TransmissionBatchSchool).where(TransmissionBatchSchool.batch_id == batch.id)
                .order_by(col(TransmissionBatchSchool.position))
            ).all()
            stale = [member.uai for member in members if member.uai not in current]
            if stale:
                raise RoadmapError(
                    f"Envoi refusé : le {_label(batch)} contient des écoles qui ne sont plus prêtes ("
                    + ", ".join(stale) + ") ; recomposez-le (roadmap transmission compose --departement "
                    f"{batch.departement_code}) puis envoyez le nouveau brouillon."
                )
            rows = [current[member.uai] for member in members]
            for member, row in zip(members, rows, strict=True):
                member.row = row  # the row as sent
                session.add(member)
            now = self.roadmap.engine.clock()
            content = xlsx_bytes(rows)
            batch.status, batch.route, batch.sent_at, batch.sent_by = SENT, route, now, actor.id
            batch.to_address, batch.cc = to, list(cc)
            batch.filename = f"tableau-creation-comptes-{batch.departement_code}-{batch.number}.xlsx"
            batch.content, batch.sha256 = content, hashlib.sha256(content).hexdigest()
            session.add(batch)
            session.flush()
            problems = self._move(session, batch, SEND, TARGET[route], actor)
            if problems:
                raise RoadmapError("Envoi refusé : des écoles ne peuvent pas suivre le tableau :\n"
                                   + "\n".join(f"  - {p}" for p in problems))
            self._queue(session, batch, "first" if route == "dane" else "later", to, cc, actor, rows, attach=True)
            audit.record(session, actor, "transmission.send", _label(batch),
                         {"route": route, "to": to, "cc": list(cc), "sha256": batch.sha256, "schools": len(rows)})
            session.flush()
            return self._view(session, batch)

    # ------------------------------------------------------------------------------------ DANE's decision

    def _decision(self, batch_id: int, by: str, action: str) -> tuple[Actor, str]:
        actor = self.roadmap.manager(by, attempted=action, target=f"tableau {batch_id}")
        with self.roadmap.session() as session:
            batch = self._batch(session, batch_id)
            academie = _academie(session, batch.departement_code)
            reasons = self._dane_reasons(actor, batch.departement_code, academie)
            if batch.status == DRAFT:
                reasons.append(f"le {_label(batch)} n'a pas encore été envoyé.")
            elif batch.status != SENT:
                reasons.append(f"le {_label(batch)} est déjà {STATUS_LABELS[batch.status]}.")
            elif batch.route != "dane":
                reasons.append(f"le {_label(batch)} est parti à la DSI (le premier tableau du département est déjà "
                               "validé) : la DANE n'a rien à valider.")
        self._refuse(actor, action, f"tableau {batch_id}", reasons)
        return actor, academie

    def approve(self, batch_id: int, *, by: str) -> BatchView:
        """The DANE validates the first table as a whole: the schools go to the DSI, which receives the table."""
        actor, academie = self._decision(batch_id, by, "transmission.approve")
        dsi = self._dsi_address(academie)
        with self.roadmap.engine.transaction() as session:
            batch = self._batch(session, batch_id)
            batch.status, batch.decided_at, batch.decided_by = VALIDATED, self.roadmap.engine.clock(), actor.id
            session.add(batch)
            session.flush()
            problems = self._move(session, batch, VALIDATE, TARGET["dsi"], actor)
            if problems:
                raise RoadmapError("Validation refusée :\n" + "\n".join(f"  - {p}" for p in problems))
            rows = [member.row for member in session.exec(
                select(TransmissionBatchSchool).where(TransmissionBatchSchool.batch_id == batch.id)
                .order_by(col(TransmissionBatchSchool.position))).all()]
            copies = [*self._dane_addresses(session, academie), batch.sent_by or ""]
            if dsi:  # the validated table goes on to the DSI
                self._queue(session, batch, "validated", dsi, [c for c in copies if c], actor, rows, attach=True)
            audit.record(session, actor, "transmission.approve", _label(batch), {"forwarded_to": dsi})
            session.flush()
            return self._view(session, batch)

    def return_(self, batch_id: int, *, by: str, note: str) -> BatchView:
        """The DANE sends the table back with a note: every school returns to the transmission step."""
        if not note or not note.strip():
            raise InvalidValue("--note", note or "", "la raison du renvoi est obligatoire.",
                               hint="dites ce que le CPD et les écoles doivent corriger.")
        actor, academie = self._decision(batch_id, by, "transmission.return")
        with self.roadmap.engine.transaction() as session:
            batch = self._batch(session, batch_id)
            batch.status, batch.decided_at, batch.decided_by = RETURNED, self.roadmap.engine.clock(), actor.id
            batch.note = note.strip()
            session.add(batch)
            session.flush()
            problems = self._move(session, batch, RETURN, STEP, actor, note=note)
            if problems:
                raise RoadmapError("Renvoi refusé :\n" + "\n".join(f"  - {p}" for p in problems))
            rows = [member.row for member in session.exec(
                select(TransmissionBatchSchool).where(TransmissionBatchSchool.batch_id == batch.id)
                .order_by(col(TransmissionBatchSchool.position))).all()]
            if batch.sent_by:
                self._queue(session, batch, "returned", batch.sent_by, self._dane_addresses(session, academie),
                            actor, rows, attach=False)
            audit.record(session, actor, "transmission.return", _label(batch), {"note": batch.note})
            session.flush()
            return self._view(session, batch)

    # ------------------------------------------------------------------------------------ agreements

    def add_agreement(self, departement: str, ent: str, kind: str, signed_on: str, *, by: str) -> AgreementLine:
        code = departement.strip().zfill(3) if departement.strip().isdigit() else departement.strip().upper()
        if kind not in AGREEMENT_KINDS:
            raise InvalidValue("--kind", kind, "type d'accord inconnu.",
                               hint="types : " + ", ".join(f"{k} ({v})" for k, v in KIND_LABELS.items()))
        try:
            signed = date.fromisoformat(signed_on.strip())
        except ValueError:
            signed = None
        actor = self.roadmap.manager(by, attempted="agreements.add", target=f"{code} {ent}")
        today = self.roadmap.engine.clock().astimezone(PARIS).date()
        if signed is None or signed > today:
            raise InvalidValue("--date", signed_on, "date invalide ou à venir.",
                               hint="la date de signature, au format AAAA-MM-JJ (ex. 2026-09-15).")
        with self.roadmap.session() as session:
            if session.get(Departement, code) is None:
                raise NotFound("Département", code, hint="donnez le code du département (ex. 035).")
            academie = _academie(session, code)
            definition = self.roadmap.definition_for_academie(academie)
            choices = definition.item_spec(AccountItems.of(definition).ent).choices
            if ent not in choices:
                raise InvalidValue("--ent", ent, "ENT inconnu.", hint="ENT possibles : " + ", ".join(choices))
            existing = session.exec(select(PublisherAgreement).where(
                PublisherAgreement.departement_code == code, PublisherAgreement.publisher == ent,
                PublisherAgreement.kind == kind)).first()
        reasons = [] if actor.role == "admin" or (actor.role == "cpd" and actor.scope == code) or (
            actor.role == "dane" and actor.scope == academie) else [
            f"seuls le CPD du département {code}, la DANE de l'académie {academie} ou un administrateur "
            "enregistrent les accords avec les éditeurs."]
        if existing is not None:
            reasons.append(f"{KIND_LABELS[kind]} pour « {ent} » dans le département {code} est déjà enregistré(e) "
                           f"(signé(e) le {existing.signed_on:%d/%m/%Y}, par {existing.recorded_by}).")
        self._refuse(actor, "agreements.add", f"{code} {ent}", reasons)
        with self.roadmap.engine.transaction() as session:
            agreement = PublisherAgreement(departement_code=code, publisher=ent, kind=kind, signed_on=signed,
                                           recorded_at=self.roadmap.engine.clock(), recorded_by=actor.id)
            session.add(agreement)
            audit.record(session, actor, "agreements.add", f"{code} {ent}", {"kind": kind, "signed_on": signed_on})
            session.flush()
            return _agreement_line(agreement)

    def agreements(self, viewer: Actor, departement: str | None = None) -> list[AgreementLine]:
        query = select(PublisherAgreement).order_by(
            col(PublisherAgreement.departement_code), col(PublisherAgreement.publisher), col(PublisherAgreement.kind))
        if departement:
            query = query.where(PublisherAgreement.departement_code == departement.strip().zfill(3))
        if viewer.role == "cpd":
            query = query.where(PublisherAgreement.departement_code == viewer.scope)
        elif viewer.role == "dane":
            query = query.where(col(PublisherAgreement.departement_code).in_(
                select(Departement.code).where(Departement.academie_code == viewer.scope)))
        elif viewer.role != "admin":
            return []
        with self.roadmap.session() as session:
            return [_agreement_line(a) for a in session.exec(query).all()]


def _agreement_line(agreement: PublisherAgreement) -> AgreementLine:
    return AgreementLine(agreement.departement_code, agreement.publisher, agreement.kind, KIND_LABELS[agreement.kind],
                         agreement.signed_on, agreement.recorded_at, agreement.recorded_by)
