"""What every command group shares: the Typer apps, the consoles, common options and helpers."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from roadmap.errors import RoadmapError
from roadmap.service import Roadmap

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


def service() -> Roadmap:
    return Roadmap.from_env().ready()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def require_by(by: str) -> None:
    if not by:
        raise RoadmapError("L'option --by EMAIL est obligatoire : elle indique qui agit (adresse enregistrée).")
