"""What the CLI (and the web app) show: JSON-ready views of schools, in French with Paris dates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from roadmap.directory import short_circonscription_name
from roadmap.models import Academie, Circonscription, Departement, School
from roadmap.service import Roadmap
from roadmap.settings import PARIS
from workflows.models import WorkflowInstance, as_utc


def iso_utc(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def french_datetime(moment: datetime) -> str:
    local = as_utc(moment).astimezone(PARIS)
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


def school_summary(roadmap: Roadmap, school: School, instance: WorkflowInstance) -> dict[str, Any]:
    definition = roadmap.engine.definition(instance.definition_id)
    step_id = roadmap.step_id(instance)
    step = definition.step(step_id)
    return {
        "uai": school.uai,
        "name": school.name,
        "commune": school.commune,
        "sector": school.sector,
        "circonscription": school.circonscription_uai,
        "departement": school.departement_code,
        "step": step_id,
        "step_label": step.label if step else definition.state_label(step_id),
        "state": instance.state,
        "state_label": definition.state_label(instance.state),
        "updated_at": iso_utc(instance.updated_at),
    }


def school_detail(roadmap: Roadmap, uai: str) -> dict[str, Any]:
    uai = roadmap.school_uai(uai)
    with roadmap.session() as session:
        school = session.get(School, uai)
        assert school is not None
        instance = roadmap.instance(session, uai)
        definition = roadmap.engine.definition(instance.definition_id)
        ctx = roadmap.engine.context(session, instance)
        allowed = roadmap.engine.allowed_events(session, instance, ctx)
        blockers = {
            event: reasons
            for event in roadmap.engine.compiled[definition.id].events_from(instance.state, instance.held_from)
            if (reasons := roadmap.engine.blockers(session, instance, event, ctx))
        }
        history = roadmap.engine.history(session, instance)
        territory = _territory(session, school)
        owed = roadmap.engine.owed_items(instance, ctx.values)
    # The checklist shown is the current step's, or the held step's while suspended.
    step = definition.step_of(instance.state) or (
        definition.step_of(instance.held_from) if instance.held_from else None
    )
    checklist = (
        [
            {
                "id": item.id,
                "label": item.label,
                "type": item.type,
                "required": item.required,
                "choices": list(item.choices),
                "value": ctx.values.get((step.id, item.id)),
                "done": item.is_done(ctx.values.get((step.id, item.id))),
            }
            for item in step.checklist
        ]
        if step
        else []
    )
    step_id = roadmap.step_id(instance)
    position = next((i for i, s in enumerate(definition.steps) if s.id == (step.id if step else "")), None)
    return {
        "uai": school.uai,
        "name": school.name,
        "sector": school.sector,
        "address": {
            "street": school.street,
            "locality": school.locality,
            "postal_code": school.postal_code,
            "commune": school.commune,
        },
        "phone": school.phone,
        "email": school.email,
        "definition": definition.id,
        "step": step_id,
        "step_label": step.label if step and step_id == step.id else definition.state_label(step_id),
        "step_number": position + 1 if position is not None else None,
        "steps_total": len(definition.steps),
        "state": instance.state,
        "state_label": definition.state_label(instance.state),
        "held_from": instance.held_from,
        "version": instance.version,
        "checklist": checklist,
        **territory,
        "history": [
            {
                "at": iso_utc(entry.at),
                "actor": entry.actor,
                "role": entry.role,
                "event": entry.event,
                "event_label": roadmap.engine.event_label(definition, entry.event),
                "source": entry.source,
                "target": entry.target,
                "note": entry.note,
                "data": entry.data,
            }
            for entry in history
        ],
        "allowed_events": allowed,
        "blockers": blockers,
        # Deferred by a step already left (e.g. a late council): still to be filed.
        "owed": [
            {"step": owed_step.id, "step_label": owed_step.label, "id": item.id, "label": item.label}
            for owed_step, item in owed
        ],
    }


def _territory(session: Session, school: School) -> dict[str, Any]:
    circonscription = session.get(Circonscription, school.circonscription_uai) if school.circonscription_uai else None
    departement = session.get(Departement, school.departement_code)
    academie = session.get(Academie, departement.academie_code) if departement else None
    return {
        "circonscription": {"uai": circonscription.uai, "name": circonscription.name, "email": circonscription.email}
        if circonscription
        else None,
        "departement": {"code": departement.code, "name": departement.name} if departement else None,
        "academie": {"code": academie.code, "name": academie.name, "holiday_zone": academie.holiday_zone}
        if academie
        else None,
    }


STEP_SHORT = {"deployed": "OK", "suspended": "Sus", "abandoned": "Ab"}


def dashboard_view(roadmap: Roadmap, departement: str | None = None) -> dict[str, Any]:
    """Counts of schools per step and circonscription, and the schools waiting for someone's decision."""
    national = roadmap.definitions["national"]
    column_ids = [step.id for step in national.steps] + ["deployed", "suspended", "abandoned"]
    columns = [
        {
            "id": c,
            "short": STEP_SHORT.get(c, str(column_ids.index(c) + 1)),
            "label": national.state_label(c),
        }
        for c in column_ids
    ]
    rows: dict[str, dict[str, Any]] = {}
    totals: dict[str, int] = {}
    waiting: list[dict[str, Any]] = []
    with roadmap.session() as session:
        names = {c.uai: c.name for c in session.exec(select(Circonscription)).all()}
    pairs = roadmap.schools(departement=departement)
    for school, instance in pairs:
        step = roadmap.step_id(instance)
        key = school.circonscription_uai or "—"
        row = rows.setdefault(
            key,
            {
                "uai": school.circonscription_uai,
                "name": short_circonscription_name(names.get(key, "sans circonscription")),
                "counts": {},
                "total": 0,
            },
        )
        row["counts"][step] = row["counts"].get(step, 0) + 1
        row["total"] += 1
        totals[step] = totals.get(step, 0) + 1
        definition = roadmap.engine.definition(instance.definition_id)
        state = definition.states.get(instance.state)
        if state is not None and state.step and state.id != state.step:
            waiting.append(
                {
                    "uai": school.uai,
                    "name": school.name,
                    "state": instance.state,
                    "state_label": state.label,
                    "waiting_for": state.waiting_for,
                    "since": french_datetime(instance.updated_at),
                }
            )
    return {
        "columns": columns,
        "rows": sorted(rows.values(), key=lambda r: str(r["name"])),
        "totals": totals,
        "schools": len(pairs),
        "waiting": waiting,
    }
