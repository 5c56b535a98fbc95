"""The roadmap's own guards, registered next to the engine's generic ones."""

from __future__ import annotations

from datetime import date

from sqlmodel import col, select

from roadmap.account_table import AccountItems, build_row, row_problems
from roadmap.gdpr import find_record
from roadmap.models import School
from roadmap.settings import PARIS
from workflows import GuardContext, GuardParam, GuardRegistry
from workflows.guards import is_deferred
from workflows.models import HistoryEntry, WorkflowInstance

# What each guard reads is given by the definition ([guards.NAME] tables): no item id is written here.
ENT_ITEM = {"item": GuardParam("item", "choice", "la liste des ENT conformes, où l'école choisit le sien")}
COUNCIL_ITEM = {"item": GuardParam("item", "date", "la date du conseil d'école")}
ACCOUNT_ITEMS = {
    "council_item": GuardParam("item", "date", "la date du conseil d'école (colonne « date CE »)"),
    "ent_item": GuardParam("item", "choice", "l'ENT choisi (colonne « ENT »)"),
}
RECORD_ITEMS = {"ent_item": GuardParam("item", "choice", "l'ENT choisi, dont l'éditeur fournit la fiche de traitement")}
DANE_VALIDATION = {
    "event": GuardParam("event", description="l'action de validation par la DANE"),
    "from": GuardParam("state", description="l'état d'où la DANE valide"),
}


def today(ctx: GuardContext) -> date:
    return ctx.now.astimezone(PARIS).date()


def ent_compliant(ctx: GuardContext) -> list[str]:
    item, chosen = ctx.item("ent_compliant", "item")
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
    item, council = ctx.item("council_date_not_future", "item")
    if not council:
        step = ctx.definition.step(ctx.definition.item_ref("council_date_not_future", "item")[0])
        if step is not None and is_deferred(ctx, step, item):
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
    items = AccountItems.of(ctx.definition)
    row = build_row(ctx.session, school, ctx.values, items)
    return row_problems(row, ctx.definition.item_spec(items.ent), today(ctx))


def departement_first_table_validated(ctx: GuardContext) -> list[str]:
    """The FIRST table of a département goes through the DANE; once validated, later ones need not."""
    school = ctx.subject
    if not isinstance(school, School):
        return ["école introuvable dans l'annuaire."]
    event = ctx.param("departement_first_table_validated", "event")
    source = ctx.param("departement_first_table_validated", "from")
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


def processing_record_held(ctx: GuardContext) -> list[str]:
    """The publisher's processing record for the school's ENT is held for its département (recorded once by the
    CPD or the DANE for the DASEN's register, not uploaded by each school)."""
    school = ctx.subject
    if not isinstance(school, School):
        return ["école introuvable dans l'annuaire."]
    _, chosen = ctx.item("processing_record_held", "ent_item")
    if not chosen:
        return ["aucun ENT n'est choisi : la fiche de traitement de son éditeur ne peut pas être cherchée."]
    if find_record(ctx.session, school.departement_code, str(chosen)) is None:
        return [
            f"la fiche de traitement de l'éditeur de « {chosen} » n'est pas enregistrée pour le département "
            f"{school.departement_code} : le CPD ou la DANE l'enregistre une fois pour toutes les écoles "
            f"(roadmap gdpr record add --departement {school.departement_code} --ent \"{chosen}\" --file FICHIER)."
        ]
    return []


def roadmap_guards() -> GuardRegistry:
    registry = GuardRegistry()
    registry.register("ent_compliant", ent_compliant, "L'ENT choisi fait partie des solutions conformes.", ENT_ITEM)
    registry.register(
        "council_date_not_future",
        council_date_not_future,
        "Le conseil d'école a déjà eu lieu (date renseignée et non future).",
        COUNCIL_ITEM,
    )
    registry.register(
        "account_row_valid",
        account_row_valid,
        "La ligne de l'école dans le tableau de création des comptes est complète et valide.",
        ACCOUNT_ITEMS,
    )
    registry.register(
        "departement_first_table_validated",
        departement_first_table_validated,
        "La première transmission du département a été validée par la DANE.",
        DANE_VALIDATION,
    )
    registry.register(
        "processing_record_held",
        processing_record_held,
        "La fiche de traitement de l'éditeur de l'ENT choisi est enregistrée pour le département.",
        RECORD_ITEMS,
    )
    return registry
