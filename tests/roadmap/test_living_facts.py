"""The family documents' facts (the ENT's address, the school year) are living facts of step `setup` (version 3 of
the national roadmap): a school already past setup when they appeared — it only got drafts — fills them once the
database is upgraded, through the service or `roadmap school check`, and then gets the full pack; the school year
is changed again the next September. The missing-fact message says where to fill each fact."""

from __future__ import annotations

import io
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import Session, delete

from roadmap.bulk import apply_bulk
from roadmap.documents import MissingFacts, document_facts
from roadmap.errors import RoadmapError
from roadmap.service import OPERATOR, Roadmap
from roadmap.settings import REPO_DATA, Settings
from roadmap.views import school_detail
from tests.factories import make_roadmap
from tests.roadmap.test_cli import ok, run_cli
from tests.roadmap.test_documents import at_setup
from tests.roadmap.test_walkthrough import small_roadmap
from tests.roadmap.walk import (
    CPD,
    DIRECTOR,
    IEN,
    SCHOOL,
    SETUP_ITEMS,
    TRANSMISSION_ITEMS,
    fill,
    send_in_table,
    through_account_creation,
    walk_to_transmission,
)
from workflows.errors import TransitionRefused
from workflows.models import InstalledDefinition

FACTS = ("ent_address", "school_year")
AUTHORISATION = "autorisation-publication"


def roadmaps_before_version_3(tmp_path: Path) -> Path:
    """data/roadmaps as a database installed them before version 3: the facts not editable after setup, and
    optional (as for the schools exempted from them when version 2 added them past their step)."""
    folder = tmp_path / "roadmaps-v2"
    shutil.copytree(REPO_DATA / "roadmaps", folder)
    national = folder / "national.toml"
    text = national.read_text(encoding="utf-8")
    text = re.sub(r"^version = 3$", "version = 2", text, count=1, flags=re.MULTILINE)
    text = re.sub(r"^  editable_after = true.*\n", "", text, flags=re.MULTILINE)
    for item in FACTS:
        text = text.replace(f'  id = "{item}"\n', f'  id = "{item}"\n  required = false\n')
    assert "editable_after = true" not in text and "version = 2\n" in text
    national.write_text(text, encoding="utf-8")
    return folder


def past_setup_without_the_facts(roadmap: Roadmap, tmp_path: Path) -> None:
    walk_to_transmission(roadmap, tmp_path)
    fill(roadmap, SCHOOL, TRANSMISSION_ITEMS, DIRECTOR)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    send_in_table(roadmap)
    through_account_creation(roadmap)
    fill(roadmap, SCHOOL, {k: v for k, v in SETUP_ITEMS.items() if k not in FACTS}, DIRECTOR)
    assert roadmap.fire(SCHOOL, "advance", DIRECTOR).target == "gdpr_information"


def pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_school_past_setup_fills_its_facts_after_the_upgrade_then_gets_the_full_pack(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A database whose installed roadmap is the one before version 3, with a school past setup without the facts.
    with Session(make_roadmap(cli_env).db) as session, session.begin():
        session.execute(delete(InstalledDefinition))
    old_settings = replace(cli_env, definitions_dir=roadmaps_before_version_3(tmp_path))
    Roadmap(old_settings).install_definitions()
    old = small_roadmap(old_settings, tmp_path)
    past_setup_without_the_facts(old, tmp_path)
    with pytest.raises(TransitionRefused, match="n'a pas d'élément « school_year »"):
        old.check(SCHOOL, "school_year", "2026-2027", DIRECTOR)  # before version 3: closed with its step
    with pytest.raises(MissingFacts) as caught:
        old.family_documents(SCHOOL)
    assert "(setup.school_year) : plus modifiable" in caught.value.message
    old.db.dispose()

    # The product's own definitions (version 3): every command asks for `roadmap init`, which upgrades the school.
    code, _, err = run_cli(capsys, "school", "show", SCHOOL)
    assert code == 1 and "roadmap init" in err
    ok(capsys, "init")
    roadmap = make_roadmap(cli_env, admin=False).ready()
    with roadmap.session() as session:
        instance = roadmap.instance(session, SCHOOL)
        assert (instance.state, instance.definition_version) == ("gdpr_information", 3)

    # Only a draft so far; the message says the facts can be filled now, and how.
    with pytest.raises(MissingFacts) as caught:
        roadmap.family_documents(SCHOOL)
    message = caught.value.message
    assert "(setup.school_year) : modifiable à tout moment" in message
    assert "Informations pour les documents des familles" in message
    assert f"roadmap school check {SCHOOL} school_year VALEUR" in message
    assert "setup.ent_address" not in message  # the catalogue's address of One stands in meanwhile
    draft = roadmap.family_documents(SCHOOL, draft=True, only=[AUTHORISATION])[0]
    assert "2026-2027" not in pdf_text(draft.pdf)

    # Filled through the service and the command; the state does not move, the history says who did it.
    version = school_detail(roadmap, SCHOOL).version
    roadmap.check(SCHOOL, "ent_address", "https://ent.ecole-baulon.fr/", DIRECTOR)
    out = ok(capsys, "school", "check", SCHOOL, "school_year", "2026 / 2027", "--by", CPD)
    assert '« school_year » = "2026-2027"' in out
    detail = school_detail(roadmap, SCHOOL)
    assert (detail.state, detail.version) == ("gdpr_information", version + 2)
    assert [(h.actor, h.event, h.data) for h in detail.history[-2:]] == [
        (DIRECTOR, "check", {"step": "setup", "item": "ent_address", "value": "https://ent.ecole-baulon.fr/"}),
        (CPD, "check", {"step": "setup", "item": "school_year", "value": "2026-2027"}),
    ]
    assert [(line.key, line.line.value) for line in detail.living] == [
        ("setup.ent_address", "https://ent.ecole-baulon.fr/"), ("setup.school_year", "2026-2027")]

    # The full pack, then a new school year in September: the authorisation follows.
    assert document_facts(roadmap, SCHOOL, OPERATOR).missing == ()
    pack = roadmap.family_documents(SCHOOL)
    assert len(pack) == 5
    letter = pdf_text(pack[0].pdf)
    assert "https://ent.ecole-baulon.fr/" in letter and "2026-2027" in letter
    roadmap.check(SCHOOL, "school_year", "2027-2028", DIRECTOR)
    authorisation = pdf_text(roadmap.family_documents(SCHOOL, only=[AUTHORISATION])[0].pdf)
    assert "L'année scolaire 2027-2028 seulement" in authorisation

    # Still the step's roles and scope, and the values checked as typed.
    with pytest.raises(TransitionRefused, match="ne permet pas de remplir cette étape"):
        roadmap.check(SCHOOL, "school_year", "2028-2029", IEN)
    with pytest.raises(RoadmapError, match="deux années qui se suivent"):
        roadmap.check(SCHOOL, "school_year", "2028", DIRECTOR)
    with pytest.raises(TransitionRefused):
        roadmap.check(SCHOOL, "configured", "non", DIRECTOR)  # the other setup items stay closed
    # The bulk work (a CPD's new school year for many schools) goes through the same service.
    report = apply_bulk(roadmap, [SCHOOL], roadmap.viewer(CPD), item="school_year", value="2028-2029")
    assert report.done == 1, report.outcomes
    assert {line.key: line.line.value for line in school_detail(roadmap, SCHOOL).living}["setup.school_year"] == (
        "2028-2029")
    shown = json.loads(ok(capsys, "school", "show", SCHOOL, "--json"))
    assert [(entry["step"], entry["line"]["id"]) for entry in shown["living"]] == [
        ("setup", "ent_address"), ("setup", "school_year")]
    text = ok(capsys, "school", "show", SCHOOL)
    assert "Toujours modifiable (étapes passées)" in text and "2028-2029" in text


def test_the_message_says_when_each_fact_can_be_filled(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    with pytest.raises(MissingFacts) as caught:
        roadmap.family_documents(SCHOOL)  # at the first step
    assert "(setup.school_year) : à renseigner quand l'école sera sur cette étape" in caught.value.message
    at_setup(roadmap, tmp_path, configured="oui")
    with pytest.raises(MissingFacts) as caught:
        roadmap.family_documents(SCHOOL)
    assert "(setup.school_year) : à renseigner dès maintenant dans la liste de l'étape" in caught.value.message
    roadmap.fire(SCHOOL, "abandon", CPD, note="la commune renonce")
    with pytest.raises(MissingFacts) as caught:
        roadmap.family_documents(SCHOOL)
    assert "(setup.school_year) : plus modifiable" in caught.value.message
    with pytest.raises(TransitionRefused):
        roadmap.check(SCHOOL, "school_year", "2026-2027", DIRECTOR)
    with roadmap.session() as session:
        assert roadmap.engine.living_items(roadmap.instance(session, SCHOOL)) == []
