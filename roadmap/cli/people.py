"""People commands: add, remove, list."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from roadmap.cli.common import ByOption, JsonOption, out, people_app, print_json, require_by, service
from roadmap.errors import NotFound, RoadmapError
from roadmap.roles import ROLE_LABELS, ROLES, SCOPE_KINDS


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
    by: ByOption = "",
) -> None:
    """Enregistrer une personne avec son rôle et son périmètre (action d'administration, tracée)."""
    require_by(by)
    person = service().add_person(email, role, scope, name, by=by)
    out.print(f"{person.name} <{person.email}> enregistré(e) : {ROLE_LABELS[person.role]}, périmètre {person.scope}.")


@people_app.command("remove")
def people_remove(email: Annotated[str, typer.Argument(help="Adresse de la personne.")], by: ByOption = "") -> None:
    """Retirer une personne (elle ne peut plus agir ; l'historique garde la trace de ses actions)."""
    require_by(by)
    try:
        person = service().remove_person(email, by=by)
    except NotFound as missing:
        raise RoadmapError(f"{missing}\n  → consultez « roadmap people list ».") from None
    out.print(f"{person.name} <{person.email}> retiré(e) ; ses actions passées restent dans l'historique.")


@people_app.command("list")
def people_list(role: Annotated[str | None, typer.Option("--role")] = None, as_json: JsonOption = False) -> None:
    """Lister les personnes enregistrées."""
    from roadmap.views import people_lines

    people = people_lines(service(), role)
    if as_json:
        print_json(people)
        return
    table = Table("Adresse", "Nom", "Rôle", "Périmètre", "Origine")
    for p in people:
        table.add_row(p.email, p.name, ROLE_LABELS.get(p.role, p.role), p.scope, p.source)
    out.print(table)
    out.print(f"{len(people)} personne(s). Périmètres : " + "; ".join(f"{r} = {k}" for r, k in SCOPE_KINDS.items()))
