"""Transmission batches (`transmission compose|send|approve|return|list|show|file`) and publishers' agreements
(`agreements add|list`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from roadmap.cli.common import (
    AsOption,
    ByOption,
    JsonOption,
    agreements_app,
    out,
    print_json,
    require_by,
    service,
    transmission_app,
)
from roadmap.errors import RoadmapError
from roadmap.french import french_datetime
from roadmap.transmission import KIND_LABELS, BatchView

BatchId = Annotated[int, typer.Argument(help="Numéro (id) du tableau, donné par « roadmap transmission list ».")]


def print_batch(view: BatchView) -> None:
    out.print(f"Tableau {view.id} — n° {view.number} du département {view.departement} {view.departement_name} : "
              f"{view.status_label}, destination {view.route_label}.")
    out.print(f"Composé le {french_datetime(view.composed_at)} par {view.composed_by}.")
    if view.sent_at:
        copies = f" (copie : {', '.join(view.cc)})" if view.cc else ""
        out.print(f"Envoyé le {french_datetime(view.sent_at)} par {view.sent_by} à {view.to}{copies} ; "
                  f"fichier {view.filename} ({view.size} octets, sha256 {view.sha256}).")
    if view.decided_at:
        out.print(f"Décision de la DANE le {french_datetime(view.decided_at)} par {view.decided_by}.")
    if view.note:
        out.print(f"Note : {view.note}")
    out.print("Colonnes : " + " | ".join(view.columns))
    for row in view.rows:  # one line per school, every column (a 13-column table does not fit a terminal)
        out.print("  " + " | ".join(value or "—" for _column, value in row.cells))
    out.print(f"{len(view.rows)} école(s) dans le tableau, chaque ligne vérifiée.")
    if view.not_ready:
        out.print(f"{len(view.not_ready)} école(s) de l'étape Transmission hors du tableau :")
        for school in view.not_ready:
            out.print(f"  - {school.uai} {school.name} ({school.state_label}) : " + " ; ".join(school.reasons))


@transmission_app.command("compose")
def transmission_compose(
    departement: Annotated[str, typer.Option("--departement", help="Code du département (035).")],
    by: ByOption = "",
    as_json: JsonOption = False,
) -> None:
    """Composer (ou recomposer) le brouillon du tableau du département avec les écoles prêtes."""
    require_by(by)
    view = service().transmissions.compose(departement, by=by)
    if as_json:
        print_json(view)
        return
    print_batch(view)
    out.print(f"→ vérifiez-le, puis : roadmap transmission send {view.id} --by {by}")


@transmission_app.command("send")
def transmission_send(batch: BatchId, by: ByOption = "", as_json: JsonOption = False) -> None:
    """Envoyer un brouillon (tableau joint) : à la DANE pour le premier du département, sinon à la DSI."""
    require_by(by)
    view = service().transmissions.send(batch, by=by)
    if as_json:
        print_json(view)
        return
    out.print(f"Tableau {view.id} envoyé à {view.to} ({view.route_label}) : {len(view.rows)} école(s).")


@transmission_app.command("approve")
def transmission_approve(batch: BatchId, by: ByOption = "", as_json: JsonOption = False) -> None:
    """Valider un premier tableau (DANE) : ses écoles passent chez la DSI, qui reçoit le tableau."""
    require_by(by)
    view = service().transmissions.approve(batch, by=by)
    if as_json:
        print_json(view)
        return
    out.print(f"Tableau {view.id} validé : {len(view.rows)} école(s) chez la DSI.")


@transmission_app.command("return")
def transmission_return(
    batch: BatchId,
    note: Annotated[str, typer.Option("--note", help="Ce qu'il faut corriger (obligatoire).")] = "",
    by: ByOption = "",
    as_json: JsonOption = False,
) -> None:
    """Renvoyer un premier tableau au CPD (DANE), avec la raison : ses écoles reviennent à l'étape Transmission."""
    require_by(by)
    view = service().transmissions.return_(batch, by=by, note=note)
    if as_json:
        print_json(view)
        return
    out.print(f"Tableau {view.id} renvoyé : {len(view.rows)} école(s) reviennent à l'étape Transmission.")


@transmission_app.command("list")
def transmission_list(
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département (035).")] = None,
    as_person: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Lister les tableaux (brouillons, envoyés, validés, renvoyés)."""
    roadmap = service()
    lines = roadmap.transmissions.batches(roadmap.viewer(as_person), departement)
    if as_json:
        print_json(lines)
        return
    table = Table("Id", "Dépt", "N°", "État", "Destination", "Écoles", "Composé le", "Envoyé le")
    for line in lines:
        table.add_row(str(line.id), line.departement, str(line.number), line.status_label,
                      line.route.upper() if line.status != "draft" else "—", str(line.schools),
                      french_datetime(line.composed_at), french_datetime(line.sent_at) if line.sent_at else "—")
    out.print(table)
    out.print(f"{len(lines)} tableau(x).")


@transmission_app.command("show")
def transmission_show(batch: BatchId, as_person: AsOption = None, as_json: JsonOption = False) -> None:
    """Afficher un tableau : ses lignes (13 colonnes), et pour un brouillon les écoles qui n'y sont pas, et pourquoi."""
    roadmap = service()
    view = roadmap.transmissions.show(batch, roadmap.viewer(as_person))
    if as_json:
        print_json(view)
        return
    print_batch(view)


@transmission_app.command("file")
def transmission_file(
    batch: BatchId,
    output: Annotated[Path, typer.Option("-o", "--output", help="Fichier à écrire : .xlsx (tel qu'envoyé) ou .csv.")],
    as_person: AsOption = None,
) -> None:
    """Écrire le fichier d'un tableau : le XLSX tel qu'il a été envoyé, ou ses lignes en CSV."""
    from roadmap.account_table import write_table
    from roadmap.atomic import atomic_write

    suffix = output.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise RoadmapError(f"{output} : format non pris en charge.\n  → donnez un nom de fichier en .xlsx ou .csv.")
    roadmap = service()
    _name, content = roadmap.transmissions.file(batch, roadmap.viewer(as_person), suffix)
    if isinstance(content, bytes):
        with atomic_write(output) as handle:
            handle.write(content)
    else:
        write_table(content, output)
    out.print(f"{output} écrit.")


@agreements_app.command("add")
def agreements_add(
    departement: Annotated[str, typer.Option("--departement", help="Code du département (035).")],
    ent: Annotated[str, typer.Option("--ent", help="L'ENT (l'éditeur), tel que proposé à l'étape Définition.")],
    kind: Annotated[str, typer.Option("--kind", help="convention (DASEN–éditeur) ou dsi_agreement (DSI–éditeur).")],
    signed_on: Annotated[str, typer.Option("--date", help="Date de signature, AAAA-MM-JJ.")],
    by: ByOption = "",
) -> None:
    """Enregistrer un accord avec un éditeur pour un département (une fois, pas par école)."""
    require_by(by)
    line = service().transmissions.add_agreement(departement, ent, kind, signed_on, by=by)
    out.print(f"{line.kind_label} enregistré(e) pour « {line.ent} », département {line.departement} "
              f"(signé(e) le {line.signed_on:%d/%m/%Y}).")


@agreements_app.command("list")
def agreements_list(
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département (035).")] = None,
    as_person: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Lister les accords avec les éditeurs enregistrés."""
    roadmap = service()
    lines = roadmap.transmissions.agreements(roadmap.viewer(as_person), departement)
    if as_json:
        print_json(lines)
        return
    table = Table("Dépt", "ENT", "Accord", "Signé le", "Enregistré par")
    for line in lines:
        table.add_row(line.departement, line.ent, line.kind_label, f"{line.signed_on:%d/%m/%Y}", line.recorded_by)
    out.print(table)
    out.print(f"{len(lines)} accord(s). Types : " + "; ".join(f"{k} = {v}" for k, v in KIND_LABELS.items()))
