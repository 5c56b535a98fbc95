"""School commands: list, show, check, the roadmap's events, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from roadmap.cli.common import (
    AsOption,
    ByOption,
    JsonOption,
    NoteOption,
    VersionOption,
    out,
    print_json,
    require_by,
    school_app,
    service,
    stream_json,
)
from roadmap.errors import RoadmapError
from roadmap.french import french_datetime
from roadmap.roles import ROLE_LABELS

if TYPE_CHECKING:
    from roadmap.views import ChecklistLine, SchoolDetail


@school_app.command("list")
def school_list(
    step: Annotated[str | None, typer.Option("--step", help="Filtrer par étape (ex. school_council).")] = None,
    circonscription: Annotated[str | None, typer.Option("--circonscription", help="UAI de la circonscription.")] = None,
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département (035).")] = None,
    as_json: JsonOption = False,
    as_person: AsOption = None,
) -> None:
    """Lister les écoles et l'étape où en est leur parcours."""
    roadmap = service()
    viewer = roadmap.viewer(as_person)
    from roadmap.views import school_summaries

    rows = school_summaries(roadmap, viewer, step=step, circonscription=circonscription, departement=departement)
    if as_json:
        stream_json(rows)
        return
    table = Table("UAI", "École", "Commune", "Étape", "État", "Jours")
    count = 0
    for row in rows:
        table.add_row(row.uai, row.name, row.commune, row.step_label, row.state_label, str(row.working_days))
        count += 1
    out.print(table)
    out.print(f"{count} école(s).")


@school_app.command("show")
def school_show(
    uai: Annotated[str, typer.Argument(help="UAI de l'école.")], as_json: JsonOption = False, as_person: AsOption = None
) -> None:
    """Afficher le parcours d'une école : étape, liste de contrôle, historique, actions possibles."""
    roadmap = service()
    from roadmap.views import school_detail

    detail = school_detail(roadmap, uai, roadmap.viewer(as_person))
    if as_json:
        print_json(detail)
        return
    _print_detail(detail)


def _print_detail(d: SchoolDetail) -> None:
    circo = d.circonscription
    out.print(f"{d.name} ({d.uai}) — {d.address.commune}, {d.sector}")
    out.print(
        f"Circonscription : {circo.name + ' (' + circo.uai + ')' if circo else 'inconnue'} · "
        f"Département {d.departement.code if d.departement else '?'} · "
        f"Académie {d.academie.name if d.academie else '?'} · Feuille de route : {d.definition_label}"
    )
    number = f"étape {d.step_number}/{d.steps_total} — " if d.step_number else ""
    out.print(f"{number}{d.step_label} · état : {d.state_label} ({d.state}, version {d.version})")
    out.print(f"Dans cet état depuis le {french_datetime(d.entered_at)} : {d.working_days} jour(s) ouvré(s).")
    if d.checklist:
        table = Table("", "Élément", "Valeur", title="Liste de contrôle", title_justify="left")
        for entry in d.checklist:
            table.add_row(_mark(entry), f"{entry.label} ({entry.id})", entry.value_text)
        out.print(table)
    actions = ", ".join(f"{d.event_labels[e]} ({e})" for e in d.allowed_events) or "aucune"
    out.print(f"Actions possibles maintenant : {actions}")
    for event, reasons in d.blockers.items():
        out.print(f"Pour « {d.event_labels.get(event, event)} », il manque :")
        for reason in reasons:
            out.print(f"  - {reason}")
    if d.owed:
        out.print("Encore dû (différé à une étape précédente, à déposer dès que possible) :")
        for owed in d.owed:
            out.print(f"  - {owed.label} ({owed.id}, étape {owed.step_label})")
    if d.living:
        table = Table("", "Élément", "Valeur", title="Toujours modifiable (étapes passées)", title_justify="left")
        for living in d.living:
            entry = living.line
            table.add_row(_mark(entry), f"{entry.label} ({entry.id}, étape {living.step_label})", entry.value_text)
        out.print(table)
        out.print(f"  → roadmap school check {d.uai} ÉLÉMENT VALEUR --by VOTRE_ADRESSE")
    out.print(Text("Historique", style="bold"))
    for h in d.history:
        who = f"{h.actor} ({ROLE_LABELS.get(h.role, h.role)})"
        out.print(f"  {french_datetime(h.at)} · {who} · {h.summary}" + (f" — « {h.note} »" if h.note else ""))


def _mark(entry: ChecklistLine) -> Text:
    return Text("✔", "green") if entry.done else (Text("✘", "red") if entry.required else Text("·"))


@school_app.command("check")
def school_check(
    uai: Annotated[str, typer.Argument(help="UAI de l'école.")],
    item: Annotated[str, typer.Argument(help="Identifiant de l'élément (voir school show).")],
    value: Annotated[
        str | None,
        typer.Argument(
            help="Valeur : oui/non, date JJ/MM/AAAA, choix, texte, ou chemin de fichier. Sans valeur : coché."
        ),
    ] = None,
    by: ByOption = "",
    clear: Annotated[bool, typer.Option("--clear", help="Effacer la valeur.")] = False,
    expect_version: VersionOption = None,
) -> None:
    """Renseigner un élément de la liste de l'étape en cours, un élément encore dû, ou une information toujours
    modifiable d'une étape passée (adresse de l'ENT, année scolaire)."""
    require_by(by)
    roadmap = service()
    upload = None
    if not clear and roadmap.item_type(uai, item) == "file":
        if not value:
            raise RoadmapError(
                f"L'élément « {item} » attend un document.\n  → roadmap school check {uai} {item} CHEMIN --by {by}"
            )
        from roadmap.files import read_upload

        upload = read_upload(Path(value))
    record = roadmap.check(uai, item, value, by, upload=upload, clear=clear, expected_version=expect_version)
    data = record.data or {}
    shown = "effacé" if data.get("value") is None else json.dumps(data.get("value"), ensure_ascii=False)
    out.print(
        f"{record.subject} : « {data.get('item')} » {shown if shown == 'effacé' else '= ' + shown} "
        f"(version {record.version})."
    )


def _event_command(event: str, help_text: str) -> None:
    def command(
        uai: Annotated[str, typer.Argument(help="UAI de l'école.")],
        by: ByOption = "",
        note: NoteOption = None,
        expect_version: VersionOption = None,
    ) -> None:
        require_by(by)
        roadmap = service()
        record = roadmap.fire(uai, event, by, note=note, expected_version=expect_version)
        definition = roadmap.definitions[record.definition_id]
        out.print(
            f"{record.subject} : {definition.event_label(event)} — "
            f"{definition.state_label(record.source)} → {definition.state_label(record.target)} "
            f"({record.target}, version {record.version})."
        )

    command.__doc__ = help_text
    school_app.command(event)(command)
    if "_" in event:
        school_app.command(event.replace("_", "-"), hidden=True)(command)


for _event, _help in (
    ("advance", "Valider l'étape en cours et passer à la suivante (ou soumettre pour approbation)."),
    ("approve", "Approuver (IEN : compte rendu du conseil d'école)."),
    ("request_changes", "Renvoyer pour corrections, avec une note."),
    ("suspend", "Suspendre le parcours, avec une note."),
    ("resume", "Reprendre un parcours suspendu là où il s'était arrêté."),
    ("abandon", "Abandonner le parcours, avec une note."),
    ("skip", "Passer l'étape facultative (formation des parents), avec une note."),
    ("exported_to_publisher", "Noter que la DSI a exporté l'école vers l'éditeur (accords avec l'éditeur requis)."),
    ("accounts_created", "Noter que l'éditeur a créé les comptes de l'école."),
    # The table's own moves (send, validate, return) are made for a whole batch: « roadmap transmission ».
):
    _event_command(_event, _help)


@school_app.command("refusals")
def school_refusals(
    uai: Annotated[str, typer.Argument(help="UAI de l'école.")], as_json: JsonOption = False, as_person: AsOption = None
) -> None:
    """Lister les tentatives refusées pour une école (traçabilité)."""
    roadmap = service()
    from roadmap.views import refusal_lines

    refusals = refusal_lines(roadmap, uai, roadmap.viewer(as_person))
    if as_json:
        print_json(refusals)
        return
    for r in refusals:
        out.print(f"{french_datetime(r.at)} — {r.actor} ({r.role}) : {r.event} à l'état {r.state}")
        for reason in r.reasons:
            out.print(f"  - {reason}")
    out.print(f"{len(refusals)} tentative(s) refusée(s).")
