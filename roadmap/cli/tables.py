"""The account-creation table: export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roadmap.cli.common import out, progress_shown, service, table_app
from roadmap.errors import RoadmapError


@table_app.command("export")
def table_export(
    output: Annotated[Path, typer.Argument(help="Fichier à écrire : .xlsx ou .csv.")],
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département (035).")] = None,
    state: Annotated[str, typer.Option("--state", help="État des écoles à inclure.")] = "transmission.submitted",
) -> None:
    """Écrire le tableau de création des comptes (13 colonnes) des écoles transmises, pour la DSI."""
    from roadmap.account_table import write_table

    if output.suffix.lower() not in (".xlsx", ".csv"):
        raise RoadmapError(f"{output} : format non pris en charge.\n  → donnez un nom de fichier en .xlsx ou .csv.")
    with progress_shown() as progress:
        rows = service().account_rows(departement=departement, state=state, progress=progress)
        write_table(rows, output)
    out.print(f"{output} : {len(rows)} école(s) ({', '.join(r['RNE'] for r in rows[:10])}).")
