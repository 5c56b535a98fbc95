"""Import commands: the annuaire."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from roadmap.roles import ROLE_LABELS

if TYPE_CHECKING:
    from roadmap.views import ImportSummary


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
        _closures(report)
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


KINDS = {"school": "école", "circonscription": "circonscription"}


def _closures(report: ImportSummary) -> None:
    """Establishments the file marks closed: their mailboxes out of the directory, people registered by hand kept."""
    if report.closed:
        out.print(
            f"{len(report.closed)} établissement(s) déjà connu(s) marqué(s) fermé(s) dans le fichier (fiche et "
            "parcours conservés) : " + ", ".join(f"{KINDS[c.kind]} {c.uai} {c.name}" for c in report.closed) + "."
        )
        if report.suspended:
            out.print(
                f"{len(report.suspended)} parcours suspendu(s) (plus de relances ; repris tout seul si l'école rouvre "
                "dans un prochain fichier) : " + ", ".join(report.suspended) + ". Si la fermeture est définitive, le "
                "CPD ou la DANE l'abandonne : roadmap school abandon UAI --note \"école fermée\" --by EMAIL"
            )
    if report.resumed:
        out.print(
            f"{len(report.resumed)} école(s) rouverte(s) dans le fichier : parcours repris là où la fermeture "
            "l'avait suspendu : " + ", ".join(report.resumed) + "."
        )
    if report.closed_unknown:
        out.print(f"{report.closed_unknown} établissement(s) fermé(s) inconnu(s) de l'outil : rien à faire.")
    if report.contacts_left:
        out.print(
            f"{len(report.contacts_left)} contact(s) de l'annuaire retiré(s) (établissement fermé ; anonymisation "
            "après le délai de conservation) : " + ", ".join(p.email for p in report.contacts_left) + "."
        )
    elif report.closed:
        out.print("Aucun contact à retirer : ceux de ces établissements ont déjà quitté l'annuaire.")
    for person in report.kept_manual:
        out.print(
            f"Conservé(e) : {person.name} <{person.email}> ({ROLE_LABELS.get(person.role, person.role)}, "
            f"{person.scope}), inscrit(e) à la main ; si cette personne n'y travaille plus, retirez-la avec "
            "« roadmap people remove »."
        )
