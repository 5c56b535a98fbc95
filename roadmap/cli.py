"""The `roadmap` command line. Exit codes: 0 done, 1 refused or bad input (nothing written), 2 usage error,
3 import done but some rows rejected."""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from typer.exceptions import TyperException

from roadmap.account_table import write_table
from roadmap.backup import export_all, restore_all
from roadmap.errors import RoadmapError
from roadmap.models import ROLE_LABELS, ROLES, SCOPE_KINDS
from roadmap.service import Roadmap, check_academie_claims
from roadmap.views import dashboard_view, french_datetime, iso_utc, school_detail, school_summary
from workflows import TransitionRefused, WorkflowError
from workflows.definition import load_definition_file
from workflows.diagram import to_mermaid

EXIT_REJECTED_ROWS = 3

app = typer.Typer(
    help="Suivi du déploiement des ENT dans les écoles (feuille de route en 8 étapes).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
import_app = typer.Typer(help="Importer des données.", no_args_is_help=True)
people_app = typer.Typer(help="Personnes habilitées (direction, IEN, CPD, DANE, administration).", no_args_is_help=True)
school_app = typer.Typer(help="Écoles et leur parcours.", no_args_is_help=True)
definition_app = typer.Typer(help="Définitions de la feuille de route.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(people_app, name="people")
app.add_typer(school_app, name="school")
app.add_typer(definition_app, name="definition")
table_app = typer.Typer(help="Tableau de création des comptes.", no_args_is_help=True)
app.add_typer(table_app, name="table")

# markup=False: names, values and reasons come from users and files; "[x]" in them must print as typed.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

JsonOption = Annotated[bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")]
ByOption = Annotated[str, typer.Option("--by", help="Adresse de la personne qui agit.")]
NoteOption = Annotated[
    str | None, typer.Option("--note", help="Raison ou commentaire (obligatoire pour certaines actions).")
]
VersionOption = Annotated[
    int | None, typer.Option("--expect-version", help="Refuser si le parcours a changé depuis cette version.")
]


def _roadmap() -> Roadmap:
    return Roadmap.from_env().ready()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# ------------------------------------------------------------------------------------------- set-up


@app.command()
def init() -> None:
    """Créer la base de données ou la mettre à jour (migrations)."""
    roadmap = Roadmap.from_env()
    before, after = roadmap.init()
    where = roadmap.db.url.render_as_string(hide_password=True)
    if before == after:
        out.print(f"Base de données à jour (révision {after}) : {where}")
    else:
        out.print(f"Base de données {'créée' if before is None else 'mise à jour'} (révision {after}) : {where}")


@import_app.command("annuaire")
def import_annuaire(
    file: Annotated[Path, typer.Argument(help="Extrait de l'Annuaire de l'éducation (CSV ou XLSX).")],
    as_json: JsonOption = False,
) -> None:
    """Importer les écoles et circonscriptions d'un extrait de l'annuaire (réimporter met à jour)."""
    report = _roadmap().import_annuaire(file)
    if as_json:
        _print_json(
            {
                "file": str(report.path),
                "schools_created": report.schools_created,
                "schools_updated": report.schools_updated,
                "schools_unchanged": report.schools_unchanged,
                "circonscriptions": report.circonscriptions,
                "contacts": report.contacts,
                "ignored": report.ignored,
                "without_circonscription": report.without_circonscription,
                "rejected": [{"line": e.line, "uai": e.uai, "reason": e.reason} for e in report.rejected],
            }
        )
    else:
        out.print(
            f"{report.path.name} : {report.schools} écoles "
            f"({report.schools_created} nouvelles, {report.schools_updated} mises à jour, "
            f"{report.schools_unchanged} inchangées), {report.circonscriptions} circonscriptions, "
            f"{report.contacts} contacts, {report.ignored} lignes hors champ ignorées."
        )
        if report.without_circonscription:
            out.print(
                f"{len(report.without_circonscription)} école(s) sans circonscription reconnue : "
                + ", ".join(report.without_circonscription[:20])
            )
        for error in report.rejected:
            err.print(f"ligne {error.line} : {error.reason}")
    if report.rejected:
        err.print(
            f"{len(report.rejected)} ligne(s) rejetée(s) ; les autres sont importées. "
            "Corrigez ces lignes puis réimportez le fichier."
        )
        raise typer.Exit(EXIT_REJECTED_ROWS)


# ------------------------------------------------------------------------------------------- people


@people_app.command("add")
def people_add(
    email: Annotated[str, typer.Argument(help="Adresse professionnelle.")],
    role: Annotated[str, typer.Option("--role", help="Rôle : " + ", ".join(ROLES))],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="UAI d'école ou de circonscription, code de département (035) ou d'académie (14), * pour admin",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Prénom et nom.")],
) -> None:
    """Enregistrer une personne avec son rôle et son périmètre."""
    person = _roadmap().add_person(email, role, scope, name)
    out.print(f"{person.name} <{person.email}> enregistré(e) : {ROLE_LABELS[person.role]}, périmètre {person.scope}.")


@people_app.command("remove")
def people_remove(email: Annotated[str, typer.Argument(help="Adresse de la personne.")]) -> None:
    """Retirer une personne (elle ne peut plus agir ; l'historique garde la trace de ses actions)."""
    person = _roadmap().remove_person(email)
    out.print(f"{person.name} <{person.email}> retiré(e) ; ses actions passées restent dans l'historique.")


@people_app.command("list")
def people_list(role: Annotated[str | None, typer.Option("--role")] = None, as_json: JsonOption = False) -> None:
    """Lister les personnes enregistrées."""
    people = _roadmap().people(role)
    if as_json:
        _print_json(
            [{"email": p.email, "name": p.name, "role": p.role, "scope": p.scope, "source": p.source} for p in people]
        )
        return
    table = Table("Adresse", "Nom", "Rôle", "Périmètre", "Origine")
    for p in people:
        table.add_row(p.email, p.name, ROLE_LABELS.get(p.role, p.role), p.scope, p.source)
    out.print(table)
    out.print(f"{len(people)} personne(s). Périmètres : " + "; ".join(f"{r} = {k}" for r, k in SCOPE_KINDS.items()))


# ------------------------------------------------------------------------------------------- schools


@school_app.command("list")
def school_list(
    step: Annotated[str | None, typer.Option("--step", help="Filtrer par étape (ex. school_council).")] = None,
    circonscription: Annotated[str | None, typer.Option("--circonscription", help="UAI de la circonscription.")] = None,
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département (035).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Lister les écoles et l'étape où en est leur parcours."""
    roadmap = _roadmap()
    rows = [
        school_summary(roadmap, school, instance)
        for school, instance in roadmap.schools(step=step, circonscription=circonscription, departement=departement)
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("UAI", "École", "Commune", "Étape", "État")
    for row in rows:
        table.add_row(row["uai"], row["name"], row["commune"], row["step_label"], row["state_label"])
    out.print(table)
    out.print(f"{len(rows)} école(s).")


@school_app.command("show")
def school_show(uai: Annotated[str, typer.Argument(help="UAI de l'école.")], as_json: JsonOption = False) -> None:
    """Afficher le parcours d'une école : étape, liste de contrôle, historique, actions possibles."""
    roadmap = _roadmap()
    detail = school_detail(roadmap, uai)
    if as_json:
        _print_json(detail)
        return
    _print_detail(roadmap, detail)


def _print_detail(roadmap: Roadmap, d: dict[str, Any]) -> None:
    definition = roadmap.definitions[d["definition"]]
    circo = d["circonscription"]
    out.print(f"{d['name']} ({d['uai']}) — {d['address']['commune']}, {d['sector']}")
    out.print(
        f"Circonscription : {circo['name'] + ' (' + circo['uai'] + ')' if circo else 'inconnue'} · "
        f"Département {d['departement']['code'] if d['departement'] else '?'} · "
        f"Académie {d['academie']['name'] if d['academie'] else '?'} · Feuille de route : {definition.label}"
    )
    number = f"étape {d['step_number']}/{d['steps_total']} — " if d["step_number"] else ""
    out.print(f"{number}{d['step_label']} · état : {d['state_label']} ({d['state']}, version {d['version']})")
    if d["checklist"]:
        table = Table("", "Élément", "Valeur", title="Liste de contrôle", title_justify="left")
        step = definition.step_of(d["state"]) or definition.step_of(d["held_from"] or "")
        for entry in d["checklist"]:
            item = step.item(entry["id"]) if step else None
            mark = Text("✔", "green") if entry["done"] else (Text("✘", "red") if entry["required"] else Text("·"))
            value = item.display(entry["value"]) if item else str(entry["value"])
            table.add_row(mark, f"{entry['label']} ({entry['id']})", value)
        out.print(table)
    actions = ", ".join(f"{definition.event_label(e)} ({e})" for e in d["allowed_events"]) or "aucune"
    out.print(f"Actions possibles maintenant : {actions}")
    for event, reasons in d["blockers"].items():
        out.print(f"Pour « {definition.event_label(event)} », il manque :")
        for reason in reasons:
            out.print(f"  - {reason}")
    out.print(Text("Historique", style="bold"))
    for h in d["history"]:
        when = french_datetime(datetime.fromisoformat(h["at"]))
        who = f"{h['actor']} ({ROLE_LABELS.get(h['role'], h['role'])})"
        if h["data"] and "item" in h["data"]:
            step = definition.step(h["data"]["step"])
            item = step.item(h["data"]["item"]) if step else None
            label = item.label if item else h["data"]["item"]
            value = item.display(h["data"]["value"]) if item else str(h["data"]["value"])
            what = f"« {label} » : {value}" if h["data"]["value"] is not None else f"« {label} » effacé"
        else:
            moved = f"{h['source']} → {h['target']}" if h["source"] else h["target"]
            what = f"{h['event_label']} ({moved})"
        out.print(f"  {when} · {who} · {what}" + (f" — « {h['note']} »" if h["note"] else ""))


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
    """Renseigner un élément de la liste de contrôle de l'étape en cours."""
    _require_by(by)
    record = _roadmap().check(uai, item, value, by, clear=clear, expected_version=expect_version)
    data = record.data or {}
    shown = "effacé" if data.get("value") is None else json.dumps(data.get("value"), ensure_ascii=False)
    out.print(
        f"{record.subject} : « {data.get('item')} » {shown if shown == 'effacé' else '= ' + shown} "
        f"(version {record.version})."
    )


def _require_by(by: str) -> None:
    if not by:
        raise RoadmapError("L'option --by EMAIL est obligatoire : elle indique qui agit (adresse enregistrée).")


def _event_command(event: str, help_text: str) -> None:
    def command(
        uai: Annotated[str, typer.Argument(help="UAI de l'école.")],
        by: ByOption = "",
        note: NoteOption = None,
        expect_version: VersionOption = None,
    ) -> None:
        _require_by(by)
        roadmap = _roadmap()
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
    ("approve", "Approuver (IEN : compte rendu du conseil d'école ; DANE : première transmission du tableau)."),
    ("request_changes", "Renvoyer pour corrections, avec une note."),
    ("suspend", "Suspendre le parcours, avec une note."),
    ("resume", "Reprendre un parcours suspendu là où il s'était arrêté."),
    ("abandon", "Abandonner le parcours, avec une note."),
    ("skip", "Passer l'étape facultative (formation des parents), avec une note."),
):
    _event_command(_event, _help)


@school_app.command("refusals")
def school_refusals(uai: Annotated[str, typer.Argument(help="UAI de l'école.")], as_json: JsonOption = False) -> None:
    """Lister les tentatives refusées pour une école (traçabilité)."""
    roadmap = _roadmap()
    uai = roadmap.school_uai(uai)
    with roadmap.session() as session:
        refusals = roadmap.engine.refusals(session, uai)
    if as_json:
        _print_json(
            [
                {
                    "at": iso_utc(r.at),
                    "actor": r.actor,
                    "role": r.role,
                    "event": r.event,
                    "state": r.state,
                    "reasons": r.reasons,
                }
                for r in refusals
            ]
        )
        return
    for r in refusals:
        out.print(f"{french_datetime(r.at)} — {r.actor} ({r.role}) : {r.event} à l'état {r.state}")
        for reason in r.reasons:
            out.print(f"  - {reason}")
    out.print(f"{len(refusals)} tentative(s) refusée(s).")


# ------------------------------------------------------------------------------------------- definitions


@definition_app.command("show")
def definition_show(
    fmt: Annotated[str, typer.Option("--format", help="text, mermaid ou json.")] = "text",
    definition_id: Annotated[
        str, typer.Option("--id", help="Définition (national, grenoble, aix_marseille…).")
    ] = "national",
) -> None:
    """Afficher une feuille de route et son diagramme."""
    roadmap = Roadmap.from_env()
    if definition_id not in roadmap.definitions:
        raise RoadmapError(
            f"Définition inconnue : « {definition_id} ».\n  → disponibles : " + ", ".join(sorted(roadmap.definitions))
        )
    definition = roadmap.definitions[definition_id]
    if fmt == "mermaid":
        sys.stdout.write(to_mermaid(definition))
        return
    if fmt == "json":
        _print_json(
            {
                "id": definition.id,
                "label": definition.label,
                "extends": definition.extends,
                "applies_to": {k: list(v) for k, v in definition.applies_to.items()},
                "steps": [
                    {
                        "id": s.id,
                        "label": s.label,
                        "roles": list(s.roles),
                        "optional": s.optional,
                        "checklist": [
                            {
                                "id": i.id,
                                "label": i.label,
                                "type": i.type,
                                "required": i.required,
                                "choices": list(i.choices),
                            }
                            for i in s.checklist
                        ],
                    }
                    for s in definition.steps
                ],
                "states": [
                    {"id": s.id, "label": s.label, "step": s.step, "final": s.final, "hold": s.hold}
                    for s in definition.states.values()
                ],
                "transitions": [
                    {
                        "event": t.event,
                        "from": t.source,
                        "to": t.dest,
                        "roles": list(t.roles),
                        "guards": list(t.guards),
                        "note_required": t.note_required,
                    }
                    for t in definition.transitions
                ],
            }
        )
        return
    if fmt != "text":
        raise RoadmapError(f"Format inconnu : « {fmt} ».\n  → formats : text, mermaid, json.")
    out.print(
        f"{definition.label} ({definition.id}"
        + (f", variante de {definition.extends}" if definition.extends else "")
        + ")"
    )
    for number, step in enumerate(definition.steps, start=1):
        optional = " (facultative)" if step.optional else ""
        out.print(f"\n{number}. {step.label} {step.id}{optional} — " + ", ".join(ROLE_LABELS[r] for r in step.roles))
        for item in step.checklist:
            extra = f" : {' | '.join(item.choices)}" if item.choices else ""
            out.print(f"   {'•' if item.required else '◦'} {item.label} ({item.id}, {item.type}){extra}")
        for transition in definition.transitions:
            if transition.source == step.id or transition.source.startswith(step.id + "."):
                who = ", ".join(ROLE_LABELS[r] for r in transition.roles)
                note = ", note obligatoire" if transition.note_required else ""
                out.print(
                    f"   ↳ « {definition.event_label(transition.event)} » : {transition.source} → {transition.dest} "
                    f"({who}{note})"
                )
                for guard in transition.guards:
                    out.print(f"       si : {roadmap.engine.guards[guard].description}")
    out.print("\nÀ tout moment : suspendre (note obligatoire), reprendre, abandonner (note obligatoire).")


@definition_app.command("check")
def definition_check(file: Annotated[Path, typer.Argument(help="Fichier TOML à vérifier.")]) -> None:
    """Vérifier un fichier de définition (variante d'académie) sans l'installer."""
    roadmap = Roadmap.from_env()
    definition = load_definition_file(
        file, guards=list(roadmap.engine.guards), roles=ROLE_LABELS, known=roadmap.definitions
    )
    # Installed, it would sit beside the others (replacing the one with its id, if any).
    check_academie_claims({**roadmap.definitions, definition.id: definition})
    out.print(
        f"{file} : définition « {definition.id} » valide — {len(definition.steps)} étapes, "
        f"{len(definition.states)} états, {len(definition.transitions)} transitions."
    )


@table_app.command("export")
def table_export(
    output: Annotated[Path, typer.Argument(help="Fichier à écrire : .xlsx ou .csv.")],
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département (035).")] = None,
    state: Annotated[str, typer.Option("--state", help="État des écoles à inclure.")] = "transmission.submitted",
) -> None:
    """Écrire le tableau de création des comptes (13 colonnes) des écoles transmises, pour la DSI."""
    if output.suffix.lower() not in (".xlsx", ".csv"):
        raise RoadmapError(f"{output} : format non pris en charge.\n  → donnez un nom de fichier en .xlsx ou .csv.")
    rows = _roadmap().account_rows(departement=departement, state=state)
    write_table(rows, output)
    out.print(f"{output} : {len(rows)} école(s) ({', '.join(r['RNE'] for r in rows[:10])}).")


# ------------------------------------------------------------------------------------------- reversibility


@app.command("export")
def export_command(output: Annotated[Path, typer.Argument(help="Archive à écrire (.zip).")]) -> None:
    """Exporter tout ce que l'outil contient (données, historique, documents joints) dans une archive ZIP."""
    if output.suffix.lower() != ".zip":
        raise RoadmapError(f"{output} : l'archive doit porter l'extension .zip.")
    roadmap = _roadmap()
    counts = export_all(roadmap.db, roadmap.files, output)
    out.print(
        f"{output} : {sum(counts.values())} lignes exportées ("
        + ", ".join(f"{name} {count}" for name, count in counts.items() if count)
        + ")."
    )


@app.command("restore")
def restore_command(archive: Annotated[Path, typer.Argument(help="Archive créée par « roadmap export ».")]) -> None:
    """Restaurer une archive dans une base neuve (roadmap init d'abord ; aucune fusion avec des données existantes)."""
    roadmap = _roadmap()
    counts = restore_all(roadmap.db, roadmap.files, archive)
    out.print(f"{archive} : {sum(counts.values())} lignes restaurées.")


# ------------------------------------------------------------------------------------------- overview


@app.command()
def dashboard(
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département (035).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Vue d'ensemble : combien d'écoles à chaque étape, par circonscription, et qui attend qui."""
    _print_dashboard(_roadmap(), departement, as_json)


def _print_dashboard(roadmap: Roadmap, departement: str | None, as_json: bool) -> None:
    overview = dashboard_view(roadmap, departement)
    if as_json:
        _print_json(overview)
        return
    columns = overview["columns"]
    table = Table(
        "Circonscription", *[c["short"] for c in columns], "Total", title="Écoles par étape", title_justify="left"
    )
    for row in overview["rows"]:
        table.add_row(row["name"], *[str(row["counts"].get(c["id"], 0) or "·") for c in columns], str(row["total"]))
    totals = overview["totals"]
    table.add_row(
        "Total",
        *[f"{totals.get(c['id'], 0) or '·'}" for c in columns],
        f"{overview['schools']}",
    )
    out.print(table)
    out.print("Légende : " + " · ".join(f"{c['short']} = {c['label']}" for c in columns))
    if overview["waiting"]:
        out.print("En attente d'une décision :")
        for entry in overview["waiting"]:
            out.print(f"  {entry['uai']} {entry['name']} — {entry['state_label']} (depuis le {entry['since']})")


# ------------------------------------------------------------------------------------------- demo


@app.command()
def demo() -> None:
    """Installer la démonstration (base SQLite, extrait réel de l'annuaire, personnes, écoles avancées)."""
    from roadmap.demo import load_demo

    roadmap = Roadmap.from_env()
    summary = load_demo(roadmap, roadmap.settings.demo_dir)
    where = roadmap.db.url.render_as_string(hide_password=True)
    if summary.created:
        out.print(f"Démonstration installée dans {where} : {summary.schools} écoles importées.")
        for uai, state in summary.walked:
            out.print(f"  {uai} amené(e) jusqu'à l'état {state}")
    else:
        out.print(f"Démonstration déjà installée ({summary.schools} écoles) : {where}")
    _print_dashboard(roadmap, None, False)
    out.print(
        "\nEssayez, après avoir chargé l'environnement :\n"
        f"  export ROADMAP_HOME={roadmap.settings.home} PATH={Path(sys.executable).parent}:$PATH\n"
        "  roadmap school show 0350122T\n"
        "  roadmap school approve 0350122T --by dane.premier-degre@ac-rennes.fr\n"
        "  roadmap school approve 0350165P --by ce.ien35.stgregoire@ac-rennes.fr\n"
        "  roadmap school advance 0350266Z --by ecole.0350266z@ac-rennes.fr   (refusé : il manque des éléments)\n"
        "  roadmap school list --step school_council\n"
        "  roadmap dashboard\n"
        "  roadmap definition show --format mermaid"
    )


# ------------------------------------------------------------------------------------------- entry point


# The command-line parser's own messages, said in French (the parser only speaks English).
_USAGE_MESSAGES: tuple[tuple[str, str], ...] = (
    (r"No such command '(.+)'\.", "commande inconnue : « {0} »."),
    (r"Missing argument '(.+)'\.", "argument manquant : {0}."),
    (r"Missing option '(.+)'\.", "option obligatoire manquante : {0}."),
    (r"No such option: (\S+)(.*)", "option inconnue : {0}."),
    (r"Option '(.+)' requires an argument\.", "l'option {0} attend une valeur."),
    (r"Got unexpected extra argument(?:s|\(s\))? \((.+)\)", "argument(s) en trop : {0}."),
    (r"Invalid value for '?([^':]+)'?: (.+)", "valeur invalide pour {0} ({1})."),
    (r"Missing command\.", "sous-commande manquante."),
)


def french_usage_message(message: str) -> str:
    for pattern, french in _USAGE_MESSAGES:
        if match := re.fullmatch(pattern, message.strip(), flags=re.DOTALL):
            return french.format(*match.groups())
    return message


def main() -> None:
    try:
        result = app(standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except TyperException as error:  # usage errors of the command-line parser
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "roadmap"
        err.print(
            Text.assemble(
                ("Commande incorrecte", "bold red"),
                f" : {french_usage_message(error.format_message())}\n  → aide : {command} --help",
            )
        )
        sys.exit(getattr(error, "exit_code", 2))
    except KeyboardInterrupt:
        err.print("Interrompu.")
        sys.exit(130)
    except (RoadmapError, WorkflowError) as error:
        err.print(Text.assemble(("Erreur", "bold red"), f" : {error}"))
        if isinstance(error, TransitionRefused) and any("note" in reason for reason in error.reasons):
            err.print('  → ajoutez --note "la raison" à la commande.')
        sys.exit(1)
    except SQLAlchemyError as error:
        err.print(
            Text.assemble(
                ("Erreur", "bold red"),
                f" : la base de données ne répond pas comme attendu ({type(error).__name__}).\n"
                "  → vérifiez ROADMAP_DATABASE_URL (ou ROADMAP_HOME) et que le serveur est joignable, "
                "puis lancez « roadmap init ».",
            )
        )
        if os.environ.get("ROADMAP_DEBUG"):
            traceback.print_exc()
        sys.exit(1)
    except Exception as error:
        if os.environ.get("ROADMAP_DEBUG"):
            traceback.print_exc()
        err.print(
            f"Erreur inattendue : {type(error).__name__}: {error}\n"
            "  → relancez avec ROADMAP_DEBUG=1 pour le détail technique, et signalez-le."
        )
        sys.exit(1)


__all__ = ["app", "main"]
