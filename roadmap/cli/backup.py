"""Reversibility commands: export, restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roadmap.cli.common import ByOption, app, err, out, progress_shown, require_by, service
from roadmap.errors import RoadmapError


@app.command("export")
def export_command(
    output: Annotated[Path, typer.Argument(help="Archive à écrire (.zip).")],
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing", help="Exporter même si des documents joints manquent (l'archive les signale)."
        ),
    ] = False,
) -> None:
    """Exporter tout ce que l'outil contient (données, historique, documents joints) dans une archive ZIP."""
    from roadmap.backup import export_all

    if output.suffix.lower() != ".zip":
        raise RoadmapError(f"{output} : l'archive doit porter l'extension .zip.")
    roadmap = service()
    with progress_shown() as progress:
        result = export_all(roadmap.db, roadmap.files, output, allow_missing=allow_missing, progress=progress)
    counts = result.counts
    out.print(
        f"{output} : {sum(counts.values())} lignes exportées ("
        + ", ".join(f"{name} {count}" for name, count in counts.items() if count)
        + ")."
    )
    if result.missing:
        err.print(
            f"ATTENTION : archive INCOMPLÈTE, {len(result.missing)} document(s) joint(s) manquant(s) laissé(s) de "
            "côté (l'archive les signale) :\n" + "\n".join(f"  - {m}" for m in result.missing)
        )


@app.command("restore")
def restore_command(
    archive: Annotated[Path, typer.Argument(help="Archive créée par « roadmap export ».")], by: ByOption = ""
) -> None:
    """Restaurer une archive dans une base neuve (roadmap init d'abord ; aucune fusion avec des données existantes)."""
    from roadmap.backup import restore_all

    require_by(by)
    roadmap = service()
    with progress_shown() as progress:
        counts = restore_all(roadmap.db, roadmap.files, archive, by=by, progress=progress)
    out.print(f"{archive} : {sum(counts.values())} lignes restaurées.")


@app.command("backup")
def backup_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Fichier de la copie (.sqlite3).")],
) -> None:
    """Copier la base SQLite en service, sans l'arrêter (copie cohérente, vérifiée, écrite d'un bloc)."""
    from roadmap.backup import online_backup
    from roadmap.settings import Settings

    size = online_backup(Settings.from_env().database_url, output)
    out.print(f"{output} : copie de la base ({size / 1_048_576:.1f} Mo), intégrité vérifiée.")
