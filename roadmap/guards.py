"""The roadmap's own guards, registered next to the engine's generic ones."""

from __future__ import annotations

from datetime import date

from sqlmodel import col, select

from roadmap.account_table import COUNCIL_DATE, ENT_CHOICE, build_row, row_problems
from roadmap.models import School
from roadmap.settings import PARIS
from workflows import GuardContext, GuardRegistry
from workflows.guards import is_deferred
from workflows.models import HistoryEntry, WorkflowInstance

DANE_VALIDATION = ("approve", "transmission.submitted")  # (event, source) of the DANE's validation


def today(ctx: GuardContext) -> date:
    return ctx.now.astimezone(PARIS).date()


def ent_compliant(ctx: GuardContext) -> list[str]:
    step = ctx.definition.step(ENT_CHOICE[0])
    item = step.item(ENT_CHOICE[1]) if step else None
    chosen = ctx.value(*ENT_CHOICE)
    if item is None:
        return []
    if not chosen:
        return ["aucun ENT n'a été choisi parmi les solutions conformes."]
    if chosen not in item.choices:
        return [
            f"l'ENT choisi (« {chosen} ») ne figure pas parmi les solutions conformes : "
            + ", ".join(item.choices)
            + "."
        ]
    return []


def council_date_not_future(ctx: GuardContext) -> list[str]:
    council = ctx.value(*COUNCIL_DATE)
    if not council:
        step = ctx.definition.step(COUNCIL_DATE[0])
        item = step.item(COUNCIL_DATE[1]) if step else None
        if step is not None and item is not None and is_deferred(ctx, step, item):
            return []  # late council: families informed one by one, the council and its minutes stay owed
        return ["la date du conseil d'école n'est pas renseignée."]
    held = date.fromisoformat(council)
    if held > today(ctx):
        return [
            f"le conseil d'école du {held:%d/%m/%Y} n'a pas encore eu lieu : "
            "le compte rendu ne peut être soumis qu'après la réunion."
        ]
    return []


def account_row_valid(ctx: GuardContext) -> list[str]:
    school = ctx.subject
    if not isinstance(school, School):
        return ["école introuvable dans l'annuaire."]
    step = ctx.definition.step(ENT_CHOICE[0])
    row = build_row(ctx.session, school, ctx.values)
    return row_problems(row, step.item(ENT_CHOICE[1]) if step else None, today(ctx))


def departement_first_table_validated(ctx: GuardContext) -> list[str]:
    """The FIRST table of a département goes through the DANE; once validated, later ones need not."""
    school = ctx.subject
    if not isinstance(school, School):
        return ["école introuvable dans l'annuaire."]
    event, source = DANE_VALIDATION
    validated = ctx.session.exec(
        select(HistoryEntry.id)
        .join(WorkflowInstance, col(WorkflowInstance.id) == col(HistoryEntry.instance_id))
        .join(School, col(School.uai) == col(WorkflowInstance.subject))
        .where(
            HistoryEntry.event == event,
            HistoryEntry.source == source,
            School.departement_code == school.departement_code,
        )
        .limit(1)
    ).first()
    if validated is None:
        return [
            f"la première transmission du tableau pour le département {school.departement_code} doit être "
            "validée par la DANE avant tout passage au paramétrage (action « Approuver » de la DANE)."
        ]
    return []


def roadmap_guards() -> GuardRegistry:
    registry = GuardRegistry()
    registry.register("ent_compliant", ent_compliant, "L'ENT choisi fait partie des solutions conformes.")
    registry.register(
        "council_date_not_future",
        council_date_not_future,
        "Le conseil d'école a déjà eu lieu (date renseignée et non future).",
    )
    registry.register(
        "account_row_valid",
        account_row_valid,
        "La ligne de l'école dans le tableau de création des comptes est complète et valide.",
    )
    registry.register(
        "departement_first_table_validated",
        departement_first_table_validated,
        "La première transmission du département a été validée par la DANE.",
    )
    return registry
