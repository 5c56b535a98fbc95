"""The demo data set, the dashboard and the account-table export, through the real entry point."""

from __future__ import annotations

import csv
import itertools
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from roadmap.account_table import COLUMNS
from roadmap.demo import happy_path
from roadmap.service import load_roadmaps
from roadmap.settings import REPO_DATA, Settings
from tests.roadmap.test_cli import ok, run_cli

DEMO_WALKED = {
    "0350122T": "transmission.submitted",
    "0350165P": "school_council.awaiting_approval",
    "0350266Z": "funding",
    "0350423V": "school_council",
    "0351019T": "funding",
    "0350294E": "setup",  # first table, validated by the DANE; accounts created
    "0350306T": "setup.awaiting_accounts",  # first table; exported to the publisher
    "0351620W": "transmission.at_dsi",  # a later table, at the DSI
    "0351669Z": "setup.awaiting_accounts",  # an ENT without automatic account creation: the manual route
}


def test_demo_installs_real_data_walks_schools_and_is_idempotent(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ok(capsys, "demo")
    assert "115 écoles importées" in out
    for uai, state in DEMO_WALKED.items():
        assert f"{uai} amené(e) jusqu'à l'état {state}" in out
        assert json.loads(ok(capsys, "school", "show", uai, "--json"))["state"] == state
    # The walk is real: guards and permissions applied, every move in the history with its actor.
    history = json.loads(ok(capsys, "school", "show", "0350165P", "--json"))["history"]
    assert [h["event"] for h in history if h["event"] != "check"] == ["start", "advance", "advance", "advance"]
    assert {h["actor"] for h in history[1:]} == {"yann.kervella@ac-rennes.fr"}
    again = ok(capsys, "demo")
    assert "déjà installée (115 écoles)" in again
    assert len(json.loads(ok(capsys, "school", "list", "--json"))) == 115
    # The tables of 035: the first validated by the DANE, a later one at the DSI; the suggested commands work.
    tables = json.loads(ok(capsys, "transmission", "list", "--json"))
    assert [(t["number"], t["status"], t["route"], t["schools"]) for t in tables] == [
        (1, "validated", "dane", 2), (2, "sent", "dsi", 1)]
    draft = json.loads(ok(capsys, "transmission", "compose", "--departement", "035", "--by",
                          "cpd.numerique35@ac-rennes.fr", "--json"))
    assert [row["uai"] for row in draft["rows"]] == ["0350122T"] and draft["route"] == "dsi"
    assert len(json.loads(ok(capsys, "agreements", "list", "--json"))) == 2
    # The school whose accounts exist has every fact its documents for families need: the pack, not a draft.
    out = ok(capsys, "documents", "0350294E", "-o", cli_env.home / "pack")
    assert "5 document(s) écrit(s)." in out and len(list((cli_env.home / "pack").glob("0350294E-*.pdf"))) == 5
    ok(capsys, "school", "approve", "0350165P", "--by", "ce.ien35.stgregoire@ac-rennes.fr")
    code, _, err = run_cli(capsys, "school", "advance", "0350266Z", "--by", "ecole.0350266z@ac-rennes.fr")
    assert code == 1 and "n'est pas renseigné" in err


def test_dashboard_counts_schools_per_step_and_circonscription(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "demo")
    overview = json.loads(ok(capsys, "dashboard", "--json"))
    assert overview["schools"] == 115
    assert overview["totals"] == {"definition": 106, "funding": 2, "school_council": 2, "transmission": 2,
                                  "setup": 3}
    assert sum(row["total"] for row in overview["rows"]) == 115
    bruz = next(row for row in overview["rows"] if row["uai"] == "0350739N")
    assert bruz["counts"] == {"definition": 25, "transmission": 1} and bruz["name"] == "de Bruz"
    assert {w["uai"]: w["waiting_for"] for w in overview["waiting"]} == {
        "0350122T": "cpd", "0350165P": "ien", "0351620W": "cpd", "0350306T": "cpd", "0351669Z": "cpd"}
    text = ok(capsys, "dashboard")
    assert "Écoles par étape" in text and "En attente d'une décision" in text
    assert json.loads(ok(capsys, "dashboard", "--departement", "022", "--json"))["schools"] == 0


def test_account_table_export_has_the_thirteen_columns(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ok(capsys, "demo")
    as_csv, as_xlsx = tmp_path / "tableau.csv", tmp_path / "tableau.xlsx"
    assert "1 école(s) (0350122T)" in ok(capsys, "table", "export", as_csv, "--departement", "035")
    with as_csv.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0] == list(COLUMNS) == ["RNE", "Secteur", "Nom", "Voie", "Lieu-dit", "CP", "Commune", "Téléphone",
                                        "Responsable", "CIRCO", "RNE CIRCO", "date CE", "ENT"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["RNE"] == "0350122T" and row["Responsable"] == "Claire Martin" and row["RNE CIRCO"] == "0350739N"
    assert row["ENT"] == "One 1D (Open Digital Education)" and row["CP"] == "35580"
    ok(capsys, "table", "export", as_xlsx)
    sheet = load_workbook(as_xlsx).active
    assert sheet is not None
    values = [[cell.value for cell in line] for line in sheet.iter_rows()]
    assert values[0] == list(COLUMNS) and values[1][0] == "0350122T"
    # Every cell is text, as typed: leading zeros kept (phone, postcode), French dates never turned into numbers.
    cells = dict(zip(values[0], [cell for cell in next(sheet.iter_rows(min_row=2, max_row=2))], strict=True))
    assert all(cell.data_type == "s" for cell in cells.values() if cell.value is not None)  # empty: Lieu-dit
    assert cells["Téléphone"].value == row["Téléphone"] and str(cells["Téléphone"].value).startswith("0")
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", str(cells["date CE"].value)) and cells["date CE"].value == row["date CE"]
    code, _, err = run_cli(capsys, "table", "export", tmp_path / "tableau.pdf")
    assert code == 1 and ".xlsx ou .csv" in err


def test_the_demo_walk_is_data_that_matches_the_national_roadmap() -> None:
    """The walk lives in data/demo/scenario.toml (no Python module names an item): each stop names a state of the
    national roadmap, items of that state's step, and an event that leaves the state towards the next stop."""
    national = load_roadmaps(REPO_DATA / "roadmaps")["national"]
    path = happy_path(REPO_DATA / "demo")
    assert [stop.state for stop in path][:2] == [national.initial, "funding"]
    for stop in path:
        step = national.step_of(stop.state)
        assert step is not None, stop.state
        assert all(step.item(item) for item in stop.items), (stop.state, stop.items)
    for stop, following in itertools.pairwise(path):
        assert any(t.event == stop.event and t.dest == following.state
                   for t, source, _ in national.edges() if source == stop.state), (stop.state, stop.event)
