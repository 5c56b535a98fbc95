"""`serve`: the web application (and, by default, the mail dispatcher in the same process)."""

from __future__ import annotations

from typing import Annotated

import typer

from roadmap.cli.common import app, out, service


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Adresse d'écoute (127.0.0.1 : ce poste seulement).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port d'écoute.", min=1, max=65535)] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Sans distributeur de courriels dans ce processus "
                                            "(un « roadmap worker » tourne à côté).")] = False,
) -> None:
    """Lancer l'application web (pages et API) ; par défaut, le distributeur de courriels tourne avec elle."""
    import os

    from roadmap.mailer import configured_sender
    from roadmap.web.server import public_address
    from roadmap.web.server import serve as run

    # Every emailed link (sign-in, reminders, decisions) leads to the address served, unless told otherwise.
    os.environ.setdefault("ROADMAP_BASE_URL", public_address(host, port))
    roadmap = service()
    _sender, where = configured_sender(roadmap)
    out.print(f"Application web : {public_address(host, port)} (écoute sur {host}:{port}) ; Ctrl-C pour arrêter.")
    out.print("Courriels : " + (f"distributeur dans ce processus, envoi vers {where}." if not no_worker
                                else "distribués par « roadmap worker » (lancé à part)."))
    if "boîte locale" in where:
        address = public_address(host, port)
        out.print(f"Les courriels (liens de connexion compris) se lisent dans {address}/boite-locale")
    run(roadmap, host=host, port=port, worker=not no_worker)
