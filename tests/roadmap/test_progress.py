"""Long commands report progress: the work says its stages, a terminal draws a bar, a pipe or JSON gets nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

import roadmap.cli.common as cli_common
from roadmap.settings import Settings
from tests.factories import ADMIN_EMAIL, ANNUAIRE_HEADER, annuaire_row, make_roadmap, write_csv
from tests.roadmap.test_cli import ok, run_cli


class Recorder:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None]] = []
        self.done: dict[str, int] = {}

    def phase(self, label: str, total: int | None = None) -> None:
        self.phases.append((label, total))
        self.done[label] = 0

    def advance(self, amount: int = 1) -> None:
        self.done[self.phases[-1][0]] += amount


def extract(tmp_path: Path) -> Path:
    rows = [annuaire_row(uai, f"École {n}") for n, uai in enumerate(["0350122T", "0350165P", "0350266Z"])]
    return write_csv(tmp_path / "extrait.csv", ANNUAIRE_HEADER, rows)


def test_an_import_reports_its_stages_with_their_sizes(settings: Settings, tmp_path: Path) -> None:
    roadmap = make_roadmap(settings)
    recorder = Recorder()
    roadmap.import_annuaire(extract(tmp_path), by=ADMIN_EMAIL, progress=recorder)
    labels = [label for label, _ in recorder.phases]
    assert labels == ["Lecture de l'extrait", "Comparaison avec les écoles connues", "Enregistrement des écoles",
                      "Ouverture des parcours"]
    totals = dict(recorder.phases)
    assert totals["Enregistrement des écoles"] == 3 and recorder.done["Enregistrement des écoles"] == 3
    assert recorder.done["Ouverture des parcours"] == 3
    again = Recorder()
    roadmap.import_annuaire(extract(tmp_path), by=ADMIN_EMAIL, progress=again)
    assert dict(again.phases)["Enregistrement des écoles"] == 0  # unchanged: nothing to write


def test_a_terminal_gets_a_bar_and_a_pipe_or_json_gets_nothing(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = extract(tmp_path)
    _, _, piped = run_cli(capsys, "import", "annuaire", path, "--by", ADMIN_EMAIL)
    assert "Lecture" not in piped and "Enregistrement" not in piped
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(cli_common, "err", terminal)
    ok(capsys, "import", "annuaire", path, "--by", ADMIN_EMAIL, "--json")
    assert screen.getvalue() == ""  # JSON output: quiet even on a terminal
    ok(capsys, "import", "annuaire", path, "--by", ADMIN_EMAIL)
    drawn = screen.getvalue()
    assert "Comparaison avec les écoles connues" in drawn and "3/3" in drawn
    ok(capsys, "table", "export", tmp_path / "tableau.csv")
    assert "Lignes du tableau" in screen.getvalue()
