"""Set-up commands: init, demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from roadmap.cli.common import app, out
from roadmap.errors import RoadmapError


@app.command()
def init(
    admin: Annotated[
        str | None, typer.Option("--admin", help="Adresse du premier administrateur (création explicite).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Prénom et nom du premier administrateur.")] = None,
) -> None:
    """Créer la base de données ou la mettre à jour (migrations) ; --admin crée le premier administrateur."""
    if admin and not name:
        raise RoadmapError("Le premier administrateur a besoin d'un nom.\n  → ajoutez --name \"Prénom Nom\".")
    from roadmap.service import Roadmap

    roadmap = Roadmap.from_env()
    before, after = roadmap.init()
    where = roadmap.db.url.render_as_string(hide_password=True)
    if before == after:
        out.print(f"Base de données à jour (révision {after}) : {where}")
    else:
        out.print(f"Base de données {'créée' if before is None else 'mise à jour'} (révision {after}) : {where}")
    if admin and name:
        person = roadmap.bootstrap_admin(admin, name)
        out.print(f"Administrateur : {person.name} <{person.email}>.")


@app.command()
def demo() -> None:
    """Installer la démonstration (base SQLite, extrait réel de l'annuaire, personnes, écoles avancées)."""
    from roadmap.cli.overview import print_dashboard
    from roadmap.demo import load_demo
    from roadmap.service import Roadmap

    roadmap = Roadmap.from_env()
    summary = load_demo(roadmap, roadmap.settings.demo_dir)
    where = roadmap.db.url.render_as_string(hide_password=True)
    if summary.created:
        out.print(f"Démonstration installée dans {where} : {summary.schools} écoles importées.")
        for uai, state in summary.walked:
            out.print(f"  {uai} amené(e) jusqu'à l'état {state}")
    else:
        out.print(f"Démonstration déjà installée ({summary.schools} écoles) : {where}")
    print_dashboard(roadmap, None, False)
    out.print(
        "\nEssayez, après avoir chargé l'environnement :\n"
        f"  export ROADMAP_HOME={roadmap.settings.home} PATH={Path(sys.executable).parent}:$PATH\n"
        "  roadmap school show 0350122T\n"
        "  roadmap school approve 0350122T --by dane.premier-degre@ac-rennes.fr\n"
        "  roadmap school approve 0350165P --by ce.ien35.stgregoire@ac-rennes.fr\n"
        "  roadmap school advance 0350266Z --by ecole.0350266z@ac-rennes.fr   (refusé : il manque des éléments)\n"
        "  roadmap school list --step school_council\n"
        "  roadmap people add direction.0350266z@ac-rennes.fr --role director --scope 0350266Z "
        "--name 'Nom Prénom' --by cpd.numerique35@ac-rennes.fr\n"
        "  roadmap audit\n"
        "  roadmap dashboard\n"
        "  roadmap definition show --format mermaid"
    )
