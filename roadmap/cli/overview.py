"""The overview: dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from roadmap.cli.common import AsOption, JsonOption, app, out, print_json, service
from roadmap.french import french_datetime

if TYPE_CHECKING:
    from roadmap.service import Roadmap
    from workflows import Actor


@app.command()
def dashboard(
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département (035).")] = None,
    as_json: JsonOption = False,
    as_person: AsOption = None,
) -> None:
    """Vue d'ensemble : combien d'écoles à chaque étape, par circonscription, et qui attend qui."""
    roadmap = service()
    print_dashboard(roadmap, departement, as_json, roadmap.viewer(as_person))


def print_dashboard(roadmap: Roadmap, departement: str | None, as_json: bool, viewer: Actor | None = None) -> None:
    from roadmap.service import OPERATOR
    from roadmap.views import dashboard_view

    overview = dashboard_view(roadmap, departement, viewer or OPERATOR)
    if as_json:
        print_json(overview)
        return
    columns = overview.columns
    table = Table(
        "Circonscription", *[c.short for c in columns], "Total", title="Écoles par étape", title_justify="left"
    )
    for row in overview.rows:
        table.add_row(row.name, *[str(row.counts.get(c.id, 0) or "·") for c in columns], str(row.total))
    table.add_row("Total", *[f"{overview.totals.get(c.id, 0) or '·'}" for c in columns], f"{overview.schools}")
    out.print(table)
    out.print("Légende : " + " · ".join(f"{c.short} = {c.label}" for c in columns))
    for forms in overview.returned_forms:
        out.print(
            f"Formulaires rendus, département {forms.departement} ({forms.schools_reporting} école(s)) : "
            f"{forms.acknowledgements} accusé(s) de réception, {forms.authorisations} autorisation(s) de publication, "
            f"{forms.activation_codes} code(s) d'activation remis."
        )
    if overview.waiting:
        out.print("En attente d'une décision :")
        for entry in overview.waiting:
            out.print(
                f"  {entry.uai} {entry.name} — {entry.state_label} (depuis le {french_datetime(entry.since)}, "
                f"{entry.working_days} j ouvrés)"
            )
