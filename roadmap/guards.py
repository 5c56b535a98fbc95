"""The roadmap's own guards, registered next to the engine's generic ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlmodel import Session, select

from roadmap.account_table import AccountItems, build_row, row_problems
from roadmap.family_facts import FACT_ITEMS, family_documents_facts
from roadmap.gdpr import find_record
from roadmap.models import Departement, PublisherAgreement, School
from roadmap.settings import PARIS, REPO_DATA
from roadmap.territory import academies
from workflows import GuardContext, GuardParam, GuardRegistry
from workflows.guards import Guard, is_deferred

DEFAULT_TERRITORY = REPO_DATA / "territory" / "academies.toml"

# What each guard reads is given by the definition ([guards.NAME] tables): no item id is written here.
ENT_ITEM = {"item": GuardParam("item", "choice", "la liste des ENT conformes, où l'école choisit le sien")}
COUNCIL_ITEM = {"item": GuardParam("item", "date", "la date du conseil d'école")}
ACCOUNT_ITEMS = {
    "council_item": GuardParam("item", "date", "la date du conseil d'école (colonne « date CE »)"),
    "ent_item": GuardParam("item", "choice", "l'ENT choisi (colonne « ENT »)"),
}
ENT_CHOICE = {"ent_item": GuardParam("item", "choice", "l'ENT choisi par l'école")}
MANUAL_ROUTE = {
    "ent_item": GuardParam("item", "choice", "l'ENT choisi par l'école"),
    "list_item": GuardParam("item", "bool", "la liste des comptes transmise à l'éditeur (voie manuelle)"),
}
# A batch move (roadmap/transmission.py) names, in its session, the schools it moves and where each goes
# ({uai: target state}): the `in_batch` guard lets only those through, so these events cannot be fired on one school
# by hand, and the batch's route picks the edge.
BATCH_MOVE = "transmission_batch_move"
BATCH_GUARD = "in_batch"
AGREEMENT_KINDS = {
    "convention": "la convention entre le DASEN et l'éditeur",
    "dsi_agreement": "l'accord entre la DSI et l'éditeur",
}
RECORD_ITEMS = {"ent_item": GuardParam("item", "choice", "l'ENT choisi, dont l'éditeur fournit la fiche de traitement")}


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


def _school(ctx: GuardContext) -> School | None:
    return ctx.subject if isinstance(ctx.subject, School) else None


def automatic_ents(session: Session, territory_file: Path, school: School) -> tuple[str, ...]:
    """The ENTs whose accounts are created automatically in the school's académie (data, kept by the académie)."""
    departement = session.get(Departement, school.departement_code)
    info = academies(territory_file).get(departement.academie_code if departement else "")
    return info.auto_accounts_ents if info else ()


def _route_guards(territory_file: Path) -> tuple[Guard, Guard]:
    def automatic_accounts_route(ctx: GuardContext) -> list[str]:
        school = _school(ctx)
        if school is None:
            return ["école introuvable dans l'annuaire."]
        _item, chosen = ctx.item("automatic_accounts_route", "ent_item")
        if chosen and chosen not in automatic_ents(ctx.session, territory_file, school):
            return [f"ENT sans création automatique des comptes (« {chosen} ») : voie manuelle — cochez que la "
                    "liste des comptes a été transmise à l'éditeur."]
        return []

    def manual_accounts_route(ctx: GuardContext) -> list[str]:
        school = _school(ctx)
        if school is None:
            return ["école introuvable dans l'annuaire."]
        _item, chosen = ctx.item("manual_accounts_route", "ent_item")
        if not chosen:
            return ["aucun ENT n'est choisi (étape Définition du projet)."]
        if chosen in automatic_ents(ctx.session, territory_file, school):
            return [f"(voie manuelle sans objet : « {chosen} » bénéficie de la création automatique des comptes)"]
        item, sent = ctx.item("manual_accounts_route", "list_item")
        if not item.is_done(sent):
            return [f"voie manuelle : « {item.label} » n'est pas coché."]
        return []

    return automatic_accounts_route, manual_accounts_route


def in_batch(ctx: GuardContext) -> list[str]:
    if ctx.session.info.get(BATCH_MOVE, {}).get(ctx.instance.subject) == ctx.target:
        return []
    return ["cette action porte sur le tableau du département entier, pas sur une école seule : "
            "passez par « roadmap transmission » (ou la page Transmissions)."]


def publisher_agreements(ctx: GuardContext) -> list[str]:
    school = _school(ctx)
    if school is None:
        return ["école introuvable dans l'annuaire."]
    _item, ent = ctx.item("publisher_agreements", "ent_item")
    if not ent:
        return ["aucun ENT n'est choisi : l'éditeur destinataire de l'export est inconnu."]
    recorded = set(ctx.session.exec(
        select(PublisherAgreement.kind).where(
            PublisherAgreement.departement_code == school.departement_code, PublisherAgreement.publisher == ent
        )
    ).all())
    return [
        f"il manque {label} pour l'ENT « {ent} » dans le département {school.departement_code} : le CPD ou la "
        f"DANE l'enregistre (« roadmap agreements add --departement {school.departement_code} --kind {kind} »)."
        for kind, label in AGREEMENT_KINDS.items()
        if kind not in recorded
    ]


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


def roadmap_guards(territory_file: Path | None = None) -> GuardRegistry:
    automatic_accounts_route, manual_accounts_route = _route_guards(territory_file or DEFAULT_TERRITORY)
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
        "automatic_accounts_route",
        automatic_accounts_route,
        "L'ENT de l'école bénéficie de la création automatique des comptes dans son académie.",
        ENT_CHOICE,
    )
    registry.register(
        "manual_accounts_route",
        manual_accounts_route,
        "L'ENT de l'école suit la voie manuelle, et la liste des comptes a été transmise à l'éditeur.",
        MANUAL_ROUTE,
    )
    registry.register(
        BATCH_GUARD, in_batch, "Action faite pour tout le tableau du département (service des transmissions)."
    )
    registry.register(
        "publisher_agreements",
        publisher_agreements,
        "La convention DASEN–éditeur et l'accord DSI–éditeur sont enregistrés pour le département et l'ENT.",
        ENT_CHOICE,
    )
    registry.register(
        "family_documents_facts",
        family_documents_facts,
        "L'adresse de l'ENT et l'année scolaire des documents pour les familles sont bien formées.",
        FACT_ITEMS,
    )
    registry.register(
        "processing_record_held",
        processing_record_held,
        "La fiche de traitement de l'éditeur de l'ENT choisi est enregistrée pour le département.",
        RECORD_ITEMS,
    )
    return registry
