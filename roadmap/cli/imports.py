"""Import commands: the annuaire."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roadmap.cli.common import EXIT_REJECTED_ROWS, JsonOption, err, import_app, out, print_json, service


@import_app.command("annuaire")
def import_annuaire(
    file: Annotated[Path, typer.Argument(help="Extrait de l'Annuaire de l'éducation (CSV ou XLSX).")],
    as_json: JsonOption = False,
) -> None:
    """Importer les écoles et circonscriptions d'un extrait de l'annuaire (réimporter met à jour)."""
    report = service().import_annuaire(file)
    if as_json:
        print_json(
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
