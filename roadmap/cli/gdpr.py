"""GDPR commands: publishers' processing records and the DASEN's register, retention purge, access requests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from roadmap.cli.common import ByOption, JsonOption, app, out, print_json, require_by, service
from roadmap.errors import InvalidValue, RoadmapError

gdpr_app = typer.Typer(help="RGPD : fiches de traitement et registre, conservation, demandes d'accès.",
                       no_args_is_help=True)
record_app = typer.Typer(help="Fiches de traitement des éditeurs (une par éditeur et par département).",
                         no_args_is_help=True)
app.add_typer(gdpr_app, name="gdpr")
gdpr_app.add_typer(record_app, name="record")

DepartementOption = Annotated[str, typer.Option("--departement", help="Code du département (ex. 035).")]


def _date(option: str, raw: str | None) -> date | None:
    from workflows.checklist import parse_date

    if raw is None:
        return None
    try:
        return parse_date(raw)
    except ValueError as error:
        raise InvalidValue(option, raw, f"{error}.", hint="exemple : 18/11/2026.") from None


def _output(output: Path, suffixes: tuple[str, ...]) -> None:
    if output.suffix.lower() not in suffixes:
        raise RoadmapError(
            f"{output} : format non pris en charge.\n  → donnez un nom de fichier en " + " ou ".join(suffixes) + "."
        )


@record_app.command("add")
def record_add(
    departement: DepartementOption,
    ent: Annotated[str, typer.Option("--ent", help="L'ENT, tel que la feuille de route le nomme.")],
    file: Annotated[Path, typer.Option("--file", help="La fiche de traitement fournie par l'éditeur.")],
    publisher: Annotated[str | None, typer.Option("--publisher", help="L'éditeur (déduit du nom de l'ENT).")] = None,
    received: Annotated[str | None, typer.Option("--received", help="Reçue le (JJ/MM/AAAA ; aujourd'hui).")] = None,
    sent: Annotated[str | None, typer.Option("--sent", help="Envoyée à la DSDEN le (JJ/MM/AAAA).")] = None,
    by: ByOption = "",
) -> None:
    """Enregistrer la fiche de traitement d'un éditeur pour un département (remplace la précédente ; tracé)."""
    from roadmap.files import read_upload

    require_by(by)
    upload = read_upload(file)
    record = service().add_processing_record(
        departement, ent, upload, by=by, publisher=publisher, received=_date("--received", received),
        sent_to_dsden=_date("--sent", sent),
    )
    out.print(f"Fiche de traitement de {record.publisher} pour {record.ent_name} enregistrée (département "
              f"{record.departement_code}, reçue le {record.received_on:%d/%m/%Y}).")


@record_app.command("list")
def record_list(
    departement: Annotated[str | None, typer.Option("--departement", help="Un seul département.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Lire avec le périmètre de cette personne.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Lister les fiches de traitement enregistrées."""
    from roadmap.views import processing_record_lines

    roadmap = service()
    lines = processing_record_lines(roadmap, roadmap.viewer(by), departement)
    if as_json:
        print_json(lines)
        return
    table = Table("Département", "Éditeur", "ENT", "Fiche", "Reçue le", "Envoyée à la DSDEN le", "Par")
    for line in lines:
        table.add_row(line.departement, line.publisher, line.ent, line.file_name, f"{line.received_on:%d/%m/%Y}",
                      f"{line.sent_to_dsden_on:%d/%m/%Y}" if line.sent_to_dsden_on else "—", line.recorded_by)
    out.print(table)
    out.print(f"{len(lines)} fiche(s) de traitement.")


@gdpr_app.command("register")
def register(
    departement: DepartementOption,
    output: Annotated[Path, typer.Option("-o", "--output", help="Fichier à écrire : .xlsx ou .csv.")],
    by: ByOption = "",
) -> None:
    """Écrire le registre des traitements d'un département (une ligne par fiche d'éditeur), pour le DASEN."""
    from roadmap.account_table import write_table
    from roadmap.gdpr import REGISTER_COLUMNS, REGISTER_SHEET

    require_by(by)
    _output(output, (".xlsx", ".csv"))
    rows = service().register_rows(departement, by=by)
    write_table(rows, output, REGISTER_COLUMNS, REGISTER_SHEET)
    out.print(f"{output} : {len(rows)} traitement(s).")


@gdpr_app.command("purge")
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Montrer qui serait anonymisé, sans rien changer.")]
    = False,
    by: ByOption = "",
    as_json: JsonOption = False,
) -> None:
    """Anonymiser les personnes sorties de l'annuaire depuis plus que le délai de conservation
    (ROADMAP_RETENTION_DAYS, 365 jours par défaut) ; l'historique reste, sous un pseudonyme. Le distributeur
    (roadmap worker, roadmap serve) applique cette règle chaque nuit à 3 h 15."""
    from roadmap.views import departure_lines

    require_by(by)
    roadmap = service()
    lines = departure_lines(roadmap.purge(by=by, dry_run=dry_run))
    if as_json:
        print_json(lines)
        return
    verb = "serai(en)t anonymisée(s)" if dry_run else "anonymisée(s)"
    out.print(f"{len(lines)} personne(s) {verb} (délai : {roadmap.settings.retention_days} jours).")
    for line in lines:
        out.print(f"  - {line.email} ({line.role} {line.scope}, partie le {line.left_at:%d/%m/%Y}) → {line.pseudonym}")


@gdpr_app.command("access")
def access(
    email: Annotated[str, typer.Argument(help="Adresse de la personne qui demande l'accès à ses données.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Fichier JSON à écrire.")],
    by: ByOption = "",
) -> None:
    """Exporter tout ce que l'outil détient sur une personne (demande d'accès) ; administration ou DANE, tracé."""
    from roadmap import jsonview
    from roadmap.atomic import atomic_text

    require_by(by)
    _output(output, (".json",))
    data = service().access_export(email, by=by)
    with atomic_text(output) as handle:
        handle.write(jsonview.dumps(data) + "\n")
    total = sum(len(rows) for rows in data["tables"].values())
    out.print(f"{output} : {total} ligne(s) concernant {data['person']}.")
