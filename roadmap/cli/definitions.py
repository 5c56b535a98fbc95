"""Definition commands: show, check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from roadmap.cli.common import definition_app, out, print_json
from roadmap.errors import RoadmapError
from roadmap.roles import ROLE_LABELS

if TYPE_CHECKING:
    from workflows.versions import VersionChange


@definition_app.command("show")
def definition_show(
    fmt: Annotated[str, typer.Option("--format", help="text, mermaid ou json.")] = "text",
    definition_id: Annotated[
        str, typer.Option("--id", help="Définition (national, grenoble, aix_marseille…).")
    ] = "national",
) -> None:
    """Afficher une feuille de route et son diagramme."""
    from roadmap.service import Roadmap
    from roadmap.views import definition_view
    from workflows.diagram import to_mermaid

    roadmap = Roadmap.from_env()
    definition = roadmap.definition(definition_id)
    if fmt == "mermaid":
        sys.stdout.write(to_mermaid(definition))
        return
    if fmt == "json":
        print_json(definition_view(roadmap, definition_id))
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
            living = " — modifiable après l'étape" if item.editable_after else ""
            out.print(f"   {'•' if item.required else '◦'} {item.label} ({item.id}, {item.type}){extra}{living}")
        for transition in definition.transitions:
            if transition.source == step.id or transition.source.startswith(step.id + "."):
                who = ", ".join(ROLE_LABELS[r] for r in transition.roles)
                note = ", note obligatoire" if transition.note_required else ""
                out.print(
                    f"   ↳ « {definition.event_label(transition.event)} » : {transition.source} → {transition.dest} "
                    f"({who}{note})"
                )
                for guard in transition.guards:
                    out.print(f"       si : {roadmap.guard_description(guard)}")
    out.print("\nÀ tout moment : suspendre (note obligatoire), reprendre, abandonner (note obligatoire).")
    policy = roadmap.notifier.policies.get(definition.id)
    if policy is not None:
        from roadmap.reminders import describe

        out.print(f"\nRappels et notifications ({policy.source.name}, jours ouvrés du calendrier de l'école) :")
        for line in describe(policy):
            out.print(f"  - {line}")


@definition_app.command("check")
def definition_check(file: Annotated[Path, typer.Argument(help="Fichier TOML à vérifier.")]) -> None:
    """Vérifier un fichier de définition et sa compatibilité avec les écoles en cours, sans rien installer."""
    from roadmap.service import Roadmap
    from workflows.versions import DefinitionVersionRefused

    roadmap = Roadmap.from_env()
    definition = roadmap.read_definition_file(file)
    out.print(
        f"{file} : définition « {definition.id} » (version {definition.version}) valide — "
        f"{len(definition.steps)} étapes, {len(definition.states)} états, {len(definition.transitions)} transitions."
    )
    changes = roadmap.definition_changes(definition)
    if changes is None:
        out.print("Base de données non initialisée : compatibilité avec les écoles en cours non vérifiée.")
        return
    for change in changes:
        if change.problems:
            raise DefinitionVersionRefused(changes)
        out.print(compatibility_line(change))


def compatibility_line(change: VersionChange) -> str:
    name = f"« {change.definition_id} » : "
    if change.status == "unchanged":
        return name + f"version {change.version} déjà installée, identique : rien ne changera."
    if change.installed is None:
        return name + f"nouvelle définition : « roadmap init » installera la version {change.version}."
    moved = sum(1 for move in change.moves if move.source != move.target)
    return name + (
        f"compatible : « roadmap init » passera de la version {change.installed} à la version {change.version} ; "
        f"{len(change.moves)} école(s) suivront la nouvelle version, dont {moved} changeront d'état."
    )
