"""The entry point: runs the app, turns every error into a French message and an exit code."""

from __future__ import annotations

import os
import re
import sys
import traceback

from rich.text import Text
from typer.exceptions import TyperException

from roadmap.cli import (
    audit,
    backup,
    definitions,
    documents,
    gdpr,
    imports,
    mail,
    overview,
    people,
    schools,
    serve,
    setup,
    tables,
    transmission,
)
from roadmap.cli.common import app, err
from roadmap.errors import InvalidValue, RoadmapError
from workflows.errors import TransitionRefused, WorkflowError

# Importing a command group registers its commands.
COMMAND_GROUPS = (audit, backup, definitions, documents, gdpr, imports, mail, overview, people, schools, serve,
                  setup, tables, transmission)

# The command-line parser's own messages, said in French (the parser only speaks English).
_USAGE_MESSAGES: tuple[tuple[str, str], ...] = (
    (r"No such command '(.+)'\.", "commande inconnue : « {0} »."),
    (r"Missing argument '(.+)'\.", "argument manquant : {0}."),
    (r"Missing option '(.+)'\.", "option obligatoire manquante : {0}."),
    (r"No such option: (\S+)(.*)", "option inconnue : {0}."),
    (r"Option '(.+)' requires an argument\.", "l'option {0} attend une valeur."),
    (r"Got unexpected extra argument(?:s|\(s\))? \((.+)\)", "argument(s) en trop : {0}."),
    (r"Invalid value for '?([^':]+)'?: (.+)", "valeur invalide pour {0} ({1})."),
    (r"Missing command\.", "sous-commande manquante."),
)


def french_usage_message(message: str) -> str:
    for pattern, french in _USAGE_MESSAGES:
        if match := re.fullmatch(pattern, message.strip(), flags=re.DOTALL):
            return french.format(*match.groups())
    return message


# What fixes an error (its `remedy`), as the command to type here; the web says it its own way.
REMEDIES = {
    "add_person": "un administrateur l'enregistre : roadmap people add EMAIL --role ROLE --scope PÉRIMÈTRE "
    "--name NOM --by ADMIN",
    "list_people": "les personnes enregistrées : roadmap people list",
    "import_annuaire": "importez-le : roadmap import annuaire FICHIER --by EMAIL",
    "list_mail": "les messages : roadmap mail list",
    "install_definitions": "vérifiez : roadmap definition check FICHIER ; installez : roadmap init",
    "draft_documents": "ou produisez un brouillon à compléter à la main : ajoutez --draft",
}
# The option of the command line that carries each field named by the domain.
FIELD_OPTIONS = {"rôle": "--role", "périmètre": "--scope", "nom": "--name", "étape": "--step"}


def cli_hints(error: Exception) -> list[str]:
    hints = []
    if isinstance(error, InvalidValue) and error.field in FIELD_OPTIONS:
        hints.append(f"option {FIELD_OPTIONS[error.field]}")
    remedy = getattr(error, "remedy", None)
    if remedy in REMEDIES:
        hints.append(REMEDIES[remedy])
    return hints


def main() -> None:
    try:
        result = app(standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except TyperException as error:  # usage errors of the command-line parser
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "roadmap"
        err.print(
            Text.assemble(
                ("Commande incorrecte", "bold red"),
                f" : {french_usage_message(error.format_message())}\n  → aide : {command} --help",
            )
        )
        sys.exit(getattr(error, "exit_code", 2))
    except KeyboardInterrupt:
        err.print("Interrompu.")
        sys.exit(130)
    except (RoadmapError, WorkflowError) as error:
        err.print(Text.assemble(("Erreur", "bold red"), f" : {error}"))
        for line in cli_hints(error):
            err.print(f"  → {line}")
        if isinstance(error, TransitionRefused) and any("note" in reason for reason in error.reasons):
            err.print('  → ajoutez --note "la raison" à la commande.')
        sys.exit(1)
    except Exception as error:
        database_errors = sys.modules.get("sqlalchemy.exc")  # loaded only if a command used the database
        if database_errors is not None and isinstance(error, database_errors.SQLAlchemyError):
            from roadmap.db import explain
            from roadmap.settings import Settings

            err.print(Text.assemble(("Erreur", "bold red"), f" : {explain(error, Settings.from_env().database_url)}"))
            if os.environ.get("ROADMAP_DEBUG"):
                traceback.print_exc()
            sys.exit(1)
        if os.environ.get("ROADMAP_DEBUG"):
            traceback.print_exc()
        err.print(
            f"Erreur inattendue : {type(error).__name__}: {error}\n"
            "  → relancez avec ROADMAP_DEBUG=1 pour le détail technique, et signalez-le."
        )
        sys.exit(1)


__all__ = ["app", "main"]
