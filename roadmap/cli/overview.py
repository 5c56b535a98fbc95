"""The overview: dashboard."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from roadmap.cli.common import JsonOption, app, out, print_json, service
from roadmap.service import Roadmap
from roadmap.views import dashboard_view


@app.command()
def dashboard(
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département (035).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Vue d'ensemble : combien d'écoles à chaque étape, par circonscription, et qui attend qui."""
    print_dashboard(service(), departement, as_json)


def print_dashboard(roadmap: Roadmap, departement: str | None, as_json: bool) -> None:
    overview = dashboard_view(roadmap, departement)
    if as_json:
        print_json(overview)
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
