"""`documents` (the family documents of a school as PDF) and `forms record|show` (what came back)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roadmap.cli.common import AsOption, ByOption, JsonOption, app, forms_app, out, print_json, service
from roadmap.errors import RoadmapError
from roadmap.french import french_datetime

PUBLIC_FILE = 0o644  # documents meant to be printed and shared


@app.command("documents")
def documents(
    uai: Annotated[str, typer.Argument(help="UAI de l'école.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dossier où écrire les PDF (créé au besoin).")],
    by: Annotated[
        str | None, typer.Option("--by", help="Adresse de la personne qui les produit (son périmètre seulement).")
    ] = None,
    draft: Annotated[
        bool, typer.Option("--draft", help="Brouillon : une ligne à compléter à la main par information manquante.")
    ] = False,
) -> None:
    """Écrire les cinq documents pour les familles de l'école (PDF pré-remplis) : lettre d'information, charte,
    autorisation de publication, accusé de réception, texte pour le conseil d'école."""
    from roadmap.atomic import atomic_write

    roadmap = service()
    pack = roadmap.family_documents(uai, roadmap.viewer(by), draft=draft)
    if output.exists() and not output.is_dir():
        raise RoadmapError(f"{output} : ce n'est pas un dossier.\n  → donnez le dossier où écrire les PDF.")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RoadmapError(f"{output} : dossier impossible à créer ({error.strerror}).") from None
    school = roadmap.valid_uai(uai)
    for document in pack:
        path = output / document.kind.download_name(school)
        with atomic_write(path, mode=PUBLIC_FILE) as handle:
            handle.write(document.pdf)
        out.print(f"{path} — {document.kind.title} ({len(document.pdf) // 1024} Ko)")
    out.print(f"{len(pack)} document(s) écrit(s){' (brouillon)' if draft else ''}.")


@forms_app.command("record")
def forms_record(
    uai: Annotated[str, typer.Argument(help="UAI de l'école.")],
    by: ByOption,
    acknowledgements: Annotated[
        str | None, typer.Option("--acknowledgements", help="Accusés de réception rendus signés (nombre).")
    ] = None,
    authorisations: Annotated[
        str | None, typer.Option("--authorisations", help="Autorisations de publication rendues (nombre).")
    ] = None,
    codes: Annotated[str | None, typer.Option("--codes", help="Codes d'activation remis (nombre).")] = None,
) -> None:
    """Enregistrer combien de formulaires sont revenus (les nombres non donnés restent inchangés)."""
    view = service().record_returned_forms(
        uai,
        {"acknowledgements": acknowledgements, "authorisations": authorisations, "activation_codes": codes},
        by=by,
    )
    out.print(
        f"{view.school_name} ({view.uai}) : {view.acknowledgements} accusé(s) de réception, "
        f"{view.authorisations} autorisation(s) de publication, {view.activation_codes} code(s) d'activation remis."
    )


@forms_app.command("show")
def forms_show(
    uai: Annotated[str, typer.Argument(help="UAI de l'école.")], as_json: JsonOption = False, as_person: AsOption = None
) -> None:
    """Afficher les formulaires rendus d'une école."""
    roadmap = service()
    view = roadmap.returned_forms(uai, roadmap.viewer(as_person))
    if as_json:
        print_json(view)
        return
    out.print(f"{view.school_name} ({view.uai})")
    out.print(f"  Accusés de réception rendus : {view.acknowledgements}")
    out.print(f"  Autorisations de publication rendues : {view.authorisations}")
    out.print(f"  Codes d'activation remis : {view.activation_codes}")
    if view.updated_at is None:
        out.print("  Rien d'enregistré pour l'instant.")
    else:
        out.print(f"  Mis à jour le {french_datetime(view.updated_at)} par {view.updated_by}.")
