"""What every command group shares: the Typer apps, the consoles, common options and helpers."""

from __future__ import annotations

import contextlib
import gc
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.rich_utils
from rich.console import Console
from rich.text import Text
from typer._click import core as click_core
from typer._click import formatting as click_formatting

from roadmap import jsonview
from roadmap.errors import RoadmapError
from roadmap.progress import SILENT, Silent
from roadmap.settings import PARIS

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from roadmap.service import Roadmap

EXIT_REJECTED_ROWS = 3

app = typer.Typer(
    help="Suivi du déploiement des ENT dans les écoles (feuille de route en 8 étapes).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
import_app = typer.Typer(help="Importer des données.", no_args_is_help=True)
people_app = typer.Typer(
    help="Personnes habilitées (direction, IEN, CPD, DANE, délégué(e) à la protection des données, administration).",
    no_args_is_help=True,
)
school_app = typer.Typer(help="Écoles et leur parcours.", no_args_is_help=True)
definition_app = typer.Typer(help="Définitions de la feuille de route.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(people_app, name="people")
app.add_typer(school_app, name="school")
app.add_typer(definition_app, name="definition")
table_app = typer.Typer(help="Tableau de création des comptes.", no_args_is_help=True)
app.add_typer(table_app, name="table")
reminders_app = typer.Typer(help="Rappels et relances par courriel.", no_args_is_help=True)
app.add_typer(reminders_app, name="reminders")
mail_app = typer.Typer(help="Courriels : journal d'envoi, lecture, essai.", no_args_is_help=True)
app.add_typer(mail_app, name="mail")
forms_app = typer.Typer(help="Formulaires rendus par les familles (nombres seulement).", no_args_is_help=True)
app.add_typer(forms_app, name="forms")
transmission_app = typer.Typer(
    help="Tableaux de création des comptes envoyés par le CPD (DANE pour le premier, puis DSI).", no_args_is_help=True
)
app.add_typer(transmission_app, name="transmission")
agreements_app = typer.Typer(
    help="Accords avec les éditeurs (convention DASEN–éditeur, accord DSI–éditeur), par département.",
    no_args_is_help=True,
)
app.add_typer(agreements_app, name="agreements")

# C0/C1 controls (ESC, BEL, \r...), DEL and bidi overrides/isolates: shown escaped, never sent raw to a terminal.
_UNSAFE_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """The text with every control character replaced by its escape (e.g. ESC becomes \\x1b)."""
    return _UNSAFE_CHARACTERS.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class SafeConsole(Console):
    """A console that never interprets markup and escapes control characters in every string it renders.

    Strings given to print() and the cells of rich tables both go through render_str, so data from users and
    files ("[bold]", "\x1b[31m", "\r") prints as typed, made visible, wherever it appears.
    """

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs["markup"] = False
        return super().render_str(terminal_safe(text), **kwargs)


out = SafeConsole(highlight=False, soft_wrap=True, markup=False)
err = SafeConsole(stderr=True, highlight=False, soft_wrap=True, markup=False)


def _french_help_chrome() -> None:
    """Typer's and click's help texts in French: panel titles, usage prefix, defaults, the --help option itself."""
    rich_utils: Any = typer.rich_utils
    rich_utils.ARGUMENTS_PANEL_TITLE = "Arguments"
    rich_utils.OPTIONS_PANEL_TITLE = "Options"
    rich_utils.COMMANDS_PANEL_TITLE = "Commandes"
    rich_utils.ERRORS_PANEL_TITLE = "Erreur"
    rich_utils.ABORTED_TEXT = "Interrompu."
    rich_utils.DEFAULT_STRING = "[défaut : {}]"
    rich_utils.ENVVAR_STRING = "[variable d'environnement : {}]"
    rich_utils.REQUIRED_LONG_STRING = "[obligatoire]"
    rich_utils.DEPRECATED_STRING = "(obsolète) "
    rich_utils.RICH_HELP = "Essayez [blue]'{command_path} {help_option}'[/] pour l'aide."
    formatter: Any = click_formatting.HelpFormatter
    english_write_usage = formatter.write_usage

    def write_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        english_write_usage(self, prog, args, "Utilisation : " if prefix is None else prefix)

    formatter.write_usage = write_usage
    command: Any = click_core.Command
    english_help_option = command.get_help_option

    def get_help_option(self: Any, ctx: Any) -> Any:
        option = english_help_option(self, ctx)
        if option is not None:
            option.help = "Afficher ce message et quitter."
        return option

    command.get_help_option = get_help_option


_french_help_chrome()

JsonOption = Annotated[bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as", help="Voir comme cette personne (son périmètre seulement) ; sans --as : tout, en opérateur."
    ),
]
ByOption = Annotated[str, typer.Option("--by", help="Adresse de la personne qui agit.")]
AtOption = Annotated[
    str | None,
    typer.Option("--at", help="Instant considéré, ISO 8601 (2026-12-07T09:00, heure de Paris) ; défaut : maintenant."),
]


def instant(text: str | None) -> datetime:
    """--at as an aware UTC instant: a time without zone is Paris time (what users mean)."""
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RoadmapError(
            f"Instant illisible : « {text} ».\n  → écrivez-le en ISO 8601, par exemple 2026-12-07T09:00."
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=PARIS)).astimezone(UTC)
NoteOption = Annotated[
    str | None, typer.Option("--note", help="Raison ou commentaire (obligatoire pour certaines actions).")
]
VersionOption = Annotated[
    int | None, typer.Option("--expect-version", help="Refuser si le parcours a changé depuis cette version.")
]


def service() -> Roadmap:
    """The service on the configured database, checked ready (imported here: `--help` never loads it)."""
    from roadmap.service import Roadmap

    return Roadmap.from_env().ready()


class _TerminalProgress:
    """A rich progress bar on the error console: counts, elapsed and remaining time; gone when the work ends."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task: TaskID | None = None

    def phase(self, label: str, total: int | None = None) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total or self.bar.tasks[-1].completed)
        self.task = self.bar.add_task(label, total=total)

    def advance(self, amount: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, amount)


@contextlib.contextmanager
def progress_shown(quiet: bool = False) -> Iterator[_TerminalProgress | Silent]:
    """A progress bar when a person watches a terminal; nothing when piped, redirected or asked for JSON."""
    if quiet or not err.is_terminal:
        yield SILENT
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("reste"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        yield _TerminalProgress(bar)


def print_json(view: Any) -> None:
    """Any typed view (or list of views) as JSON, the one way every command speaks JSON."""
    sys.stdout.write(jsonview.dumps(view) + "\n")


def stream_json(views: Iterable[Any]) -> None:
    """A long list as a JSON array written view by view (bounded memory; the cyclic collector, which would
    otherwise walk the young objects again and again, runs once at the end)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        for chunk in jsonview.stream_array(views):
            sys.stdout.write(chunk)
    finally:
        if enabled:
            gc.enable()


def require_by(by: str) -> None:
    if not by:
        raise RoadmapError("L'option --by EMAIL est obligatoire : elle indique qui agit (adresse enregistrée).")
