"""Reads with a viewer: a person sees the schools of their scope only, and an out-of-scope school is "not found"
exactly like an unknown one (its existence is not revealed). Without --as, the local operator sees everything."""

from __future__ import annotations

import json

import pytest

from roadmap.settings import Settings
from tests.roadmap.test_cli import ok, run_cli

DIRECTOR = "claire.martin@ac-rennes.fr"  # director of 0350122T
IEN_STGREGOIRE = "ce.ien35.stgregoire@ac-rennes.fr"
CPD = "cpd.numerique35@ac-rennes.fr"
DANE = "dane.premier-degre@ac-rennes.fr"


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> set[str]:
    return {row["uai"] for row in json.loads(ok(capsys, "school", "list", "--json", *args))}


def test_each_role_lists_only_its_scope(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "demo")
    everything = listed(capsys)
    assert len(everything) == 115
    assert listed(capsys, "--as", DIRECTOR) == {"0350122T"}
    district = listed(capsys, "--as", IEN_STGREGOIRE)
    assert "0350165P" in district and "0350122T" not in district and 0 < len(district) < 115
    # The whole demo is in 035 (académie 14): the CPD and the DANE see it all.
    assert listed(capsys, "--as", CPD) == everything
    assert listed(capsys, "--as", DANE) == everything
    # A filter narrows within the scope, never widens it.
    assert listed(capsys, "--as", DIRECTOR, "--step", "funding") == set()


def test_out_of_scope_school_is_not_found_like_an_unknown_one(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "demo")
    assert json.loads(ok(capsys, "school", "show", "0350122T", "--json", "--as", DIRECTOR))["uai"] == "0350122T"
    outside = run_cli(capsys, "school", "show", "0350165P", "--as", DIRECTOR)
    unknown = run_cli(capsys, "school", "show", "0359999D", "--as", DIRECTOR)
    assert outside[0] == unknown[0] == 1
    assert "introuvable" in outside[2] and "introuvable" in unknown[2]
    assert outside[2].replace("0350165P", "X") == unknown[2].replace("0359999D", "X")
    code, _, err = run_cli(capsys, "school", "refusals", "0350165P", "--as", DIRECTOR)
    assert code == 1 and "introuvable" in err
    assert ok(capsys, "school", "refusals", "0350165P", "--json", "--as", IEN_STGREGOIRE) == "[]\n"


def test_dashboard_counts_only_what_the_viewer_sees(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "demo")
    mine = json.loads(ok(capsys, "dashboard", "--json", "--as", DIRECTOR))
    assert mine["schools"] == 1 and mine["totals"] == {"transmission": 1}
    assert [w["uai"] for w in mine["waiting"]] == ["0350122T"]
    district = json.loads(ok(capsys, "dashboard", "--json", "--as", IEN_STGREGOIRE))
    assert district["schools"] == len(listed(capsys, "--as", IEN_STGREGOIRE))
    # Minutes awaiting the IEN; a table at the DSI and accounts awaited (the CPD's to follow), all in the district.
    assert {w["uai"] for w in district["waiting"]} == {"0350165P", "0351620W", "0350306T", "0351669Z"}
    assert json.loads(ok(capsys, "dashboard", "--json", "--as", CPD))["schools"] == 115


def test_unknown_viewer_is_refused(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "demo")
    code, _, err = run_cli(capsys, "school", "list", "--as", "nobody@example.org")
    assert code == 1 and "nobody@example.org" in err and "introuvable" in err
