"""Set-up commands: init, demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from roadmap.cli.common import app, out
from roadmap.errors import RoadmapError

if TYPE_CHECKING:
    from roadmap.service import Roadmap


@app.command()
def init(
    admin: Annotated[
        str | None, typer.Option("--admin", help="Adresse du premier administrateur (création explicite).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Prénom et nom du premier administrateur.")] = None,
) -> None:
    """Créer la base de données ou la mettre à jour (migrations) ; --admin crée le premier administrateur."""
    if admin and not name:
        raise RoadmapError("Le premier administrateur a besoin d'un nom.\n  → ajoutez --name \"Prénom Nom\".")
    from roadmap.service import Roadmap

    roadmap = Roadmap.from_env()
    before, after = roadmap.init()
    where = roadmap.db.url.render_as_string(hide_password=True)
    if before == after:
        out.print(f"Base de données à jour (révision {after}) : {where}")
    else:
        out.print(f"Base de données {'créée' if before is None else 'mise à jour'} (révision {after}) : {where}")
    if admin and name:
        person = roadmap.bootstrap_admin(admin, name)
        out.print(f"Administrateur : {person.name} <{person.email}>.")


@app.command()
def demo() -> None:
    """Installer la démonstration (base SQLite, extrait réel de l'annuaire, personnes, écoles avancées)."""
    from roadmap.cli.overview import print_dashboard
    from roadmap.demo import load_demo
    from roadmap.service import Roadmap

    roadmap = Roadmap.from_env()
    summary = load_demo(roadmap, roadmap.settings.demo_dir)
    where = roadmap.db.url.render_as_string(hide_password=True)
    if summary.created:
        out.print(f"Démonstration installée dans {where} : {summary.schools} écoles importées.")
        for uai, state in summary.walked:
            out.print(f"  {uai} amené(e) jusqu'à l'état {state}")
    else:
        out.print(f"Démonstration déjà installée ({summary.schools} écoles) : {where}")
    print_dashboard(roadmap, None, False)
    show_demo_mail(roadmap)
    out.print(
        "\nDans le navigateur (roadmap serve, puis http://localhost:8000) : demandez un lien de connexion pour\n"
        "  cpd.numerique35@ac-rennes.fr (CPD), ce.ien35.stgregoire@ac-rennes.fr (IEN),\n"
        "  dane.premier-degre@ac-rennes.fr (DANE) ou claire.martin@ac-rennes.fr (directrice) ;\n"
        "  le lien arrive dans la boîte locale (/boite-locale)."
    )
    out.print(
        "\nEssayez, après avoir chargé l'environnement :\n"
        f"  export ROADMAP_HOME={roadmap.settings.home} PATH={Path(sys.executable).parent}:$PATH\n"
        "  roadmap school show 0350122T\n"
        "  roadmap transmission list   (le premier tableau validé par la DANE, le suivant chez la DSI)\n"
        "  roadmap transmission compose --departement 035 --by cpd.numerique35@ac-rennes.fr   (0350122T est prête)\n"
        "  roadmap agreements list\n"
        "  roadmap school approve 0350165P --by ce.ien35.stgregoire@ac-rennes.fr\n"
        "  roadmap school advance 0350266Z --by ecole.0350266z@ac-rennes.fr   (refusé : il manque des éléments)\n"
        "  roadmap school list --step school_council\n"
        "  roadmap people add direction.0350266z@ac-rennes.fr --role director --scope 0350266Z "
        "--name 'Nom Prénom' --by cpd.numerique35@ac-rennes.fr\n"
        "  roadmap mail list          (puis roadmap mail show N : le courriel tel qu'il est envoyé)\n"
        "  roadmap reminders due      (les rappels dus maintenant ; --at 2027-01-11T09:00 pour un autre jour)\n"
        "  roadmap worker --once      (met en file les rappels dus et envoie ce qui peut partir)\n"
        "  roadmap audit\n"
        "  roadmap dashboard\n"
        "  roadmap definition show --format mermaid"
    )


def show_demo_mail(roadmap: Roadmap) -> None:
    """Run the mail worker once for the demo, always into the local sink (the demo's addresses are not to be
    written to), and show what it produced."""
    from notifications.delivery import SinkSender
    from roadmap.mailer import RoadmapDispatcher
    from roadmap.views import mail_lines

    dispatcher = RoadmapDispatcher(roadmap, SinkSender(roadmap.db))
    report = dispatcher.run_once()
    lines = mail_lines(roadmap)
    pending = [m for m in lines if m.status == "pending"]
    out.print(
        f"\nCourriels : {len(lines)} dans le journal, {report.sent} remis maintenant dans la boîte locale"
        + (f", {len(pending)} en attente du prochain créneau d'envoi (jours ouvrés, 8 h 30–17 h 30)" if pending else "")
        + "."
    )
    for m in lines[:6]:
        out.print(f"  n° {m.id} · {m.status} · {m.recipient} · {m.subject}")
