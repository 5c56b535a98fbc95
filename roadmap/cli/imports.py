"""Import commands: the annuaire."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roadmap.cli.common import (
    EXIT_REJECTED_ROWS,
    ByOption,
    JsonOption,
    err,
    import_app,
    out,
    print_json,
    progress_shown,
    require_by,
    service,
)


@import_app.command("annuaire")
def import_annuaire(
    file: Annotated[Path, typer.Argument(help="Extrait de l'Annuaire de l'éducation (CSV ou XLSX).")],
    by: ByOption = "",
    as_json: JsonOption = False,
) -> None:
    """Importer les écoles et circonscriptions d'un extrait de l'annuaire (réimporter met à jour ; action tracée)."""
    require_by(by)
    from roadmap.views import import_summary

    with progress_shown(quiet=as_json) as progress:
        report = import_summary(service().import_annuaire(file, by=by, progress=progress))
    if as_json:
        print_json(report)
    else:
        out.print(
            f"{report.file_name} : {report.schools} écoles "
            f"({report.schools_created} nouvelles, {report.schools_updated} mises à jour, "
            f"{report.schools_unchanged} inchangées), {report.circonscriptions} circonscriptions, "
            f"{report.contacts} contacts, {report.ignored} lignes hors champ ignorées."
        )
        if report.without_circonscription:
            out.print(
                f"{len(report.without_circonscription)} école(s) sans circonscription reconnue : "
                + ", ".join(report.without_circonscription[:20])
            )
        out.print("Colonnes lues : " + " ; ".join(report.columns) + ".")
        if report.kept_values:
            out.print(
                f"{report.kept_values} case(s) vide(s) dans le fichier : les valeurs déjà connues sont conservées "
                "(un import n'efface jamais une donnée)."
            )
        for error in report.rejected:
            err.print(f"ligne {error.line} : {error.reason}")
        if report.rejected_count > len(report.rejected):
            err.print(
                f"… et {report.rejected_count - len(report.rejected)} autre(s) ligne(s) rejetée(s) non détaillée(s)."
            )
    if report.rejected_count:
        err.print(
            f"{report.rejected_count} ligne(s) rejetée(s) ; les autres sont importées. "
            "Corrigez ces lignes puis réimportez le fichier."
        )
        raise typer.Exit(EXIT_REJECTED_ROWS)
