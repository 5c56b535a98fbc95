"""The late-council rule: families informed one by one let a school go on; the council and its minutes stay owed."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadmap.files import read_upload
from roadmap.service import Roadmap
from roadmap.settings import Settings
from tests.roadmap.test_walkthrough import detail_json, small_roadmap
from tests.roadmap.walk import (
    COUNCIL_ITEMS,
    DIRECTOR,
    IEN,
    SCHOOL,
    fill,
    minutes_file,
    walk_to_school_council,
)
from workflows.errors import InvalidItemValue, TransitionRefused


def owed(roadmap: Roadmap, uai: str) -> list[str]:
    return [entry["id"] for entry in detail_json(roadmap, uai)["owed"]]


def test_a_late_council_lets_the_school_go_on_and_keeps_the_minutes_owed(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    walk_to_school_council(roadmap)
    with pytest.raises(TransitionRefused, match="Compte rendu du conseil"):
        roadmap.fire(SCHOOL, "advance", DIRECTOR)  # nothing yet: the council is owed
    roadmap.check(SCHOOL, "families_informed_individually", "16/11/2026", DIRECTOR)
    submitted = roadmap.fire(SCHOOL, "advance", DIRECTOR)
    deferred = (submitted.data or {})["deferred"]
    assert {"council_date", "minutes", "reasons_presented"} <= set(deferred)  # the IEN is told what is owed
    roadmap.fire(SCHOOL, "approve", IEN)
    assert set(owed(roadmap, SCHOOL)) == set(deferred)
    detail = detail_json(roadmap, SCHOOL)
    assert detail["state"] == "transmission"
    # Only the owed items of the council step may still be filed, in the later step; the council itself once met:
    with pytest.raises(InvalidItemValue, match="ne peut pas précéder"):
        roadmap.check(SCHOOL, "council_date", "01/09/2026", DIRECTOR)  # before the teachers' council
    fill(roadmap, SCHOOL, COUNCIL_ITEMS, DIRECTOR)
    roadmap.check(SCHOOL, "minutes", None, DIRECTOR, upload=read_upload(minutes_file(tmp_path)))
    assert owed(roadmap, SCHOOL) == []
    with pytest.raises(TransitionRefused, match="n'a pas d'élément « council_date »"):
        roadmap.check(SCHOOL, "council_date", "07/11/2026", DIRECTOR)  # no longer owed: the step is closed


def test_without_the_families_signatures_the_council_is_required(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    walk_to_school_council(roadmap)
    fill(roadmap, SCHOOL, {k: v for k, v in COUNCIL_ITEMS.items() if k != "council_date"}, DIRECTOR)
    with pytest.raises(TransitionRefused, match="date du conseil"):
        roadmap.fire(SCHOOL, "advance", DIRECTOR)
