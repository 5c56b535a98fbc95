"""Definitions change while schools are in flight: commands refuse definitions that are not installed,
`definition check` reports the compatibility with the schools in the database, `init` installs (moving schools)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from sqlmodel import Session, select

from roadmap.db import make_engine
from roadmap.settings import REPO_DATA, Settings
from tests.roadmap.test_cli import ok, run_cli, small_db  # noqa: F401  (small_db is a fixture)
from tests.roadmap.walk import OTHER_SCHOOL, SCHOOL
from workflows.models import HistoryEntry, WorkflowInstance


@pytest.fixture
def data_copy(small_db: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """A copy of data/ the commands read (ROADMAP_DATA_DIR): its national.toml can be edited."""
    data = tmp_path / "data"
    shutil.copytree(REPO_DATA / "roadmaps", data / "roadmaps")
    shutil.copytree(REPO_DATA / "territory", data / "territory")
    monkeypatch.setenv("ROADMAP_DATA_DIR", str(data))
    return data / "roadmaps" / "national.toml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


# The installed version of the national roadmap, and the one these tests write (versions move with the product).
V = tomllib.loads((REPO_DATA / "roadmaps" / "national.toml").read_text(encoding="utf-8"))["version"]
NEXT = V + 1


def bump(path: Path) -> None:
    edit(path, f"version = {V}", f"version = {NEXT}")


def test_a_new_version_is_checked_then_installed_by_init(
    data_copy: Path, small_db: Settings, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    bump(data_copy)
    edit(data_copy, 'label = "Financement"', 'label = "Financement du projet"')
    code, out, err = run_cli(capsys, "school", "list")
    assert code == 1 and out == ""
    assert "ne sont pas celles installées" in err and "roadmap init" in err
    assert "national" in err and "grenoble" in err  # the variants extend it: they changed too

    out = ok(capsys, "definition", "check", data_copy)
    assert "« national » : compatible" in out and f"de la version {V} à la version {NEXT}" in out
    assert "« grenoble » : compatible" in out  # its variants are rebuilt on the new version and checked too

    ok(capsys, "init")
    assert SCHOOL in ok(capsys, "school", "list")
    instance, upgrades = instance_of(small_db, SCHOOL)
    assert instance.definition_version == NEXT
    assert [(row.source, row.target, row.actor) for row in upgrades] == [("definition", "definition", "roadmap-init")]


def test_a_changed_definition_keeping_its_version_is_refused(
    data_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(data_copy, 'label = "Financement"', 'label = "Financement du projet"')
    code, _, err = run_cli(capsys, "definition", "check", data_copy)
    assert code == 1
    assert f"le contenu a changé mais la version est restée {V}" in err
    code, _, err = run_cli(capsys, "init")
    assert code == 1 and f"la version est restée {V}" in err


def test_renaming_a_state_with_schools_in_it_is_refused_naming_them(
    data_copy: Path, small_db: Settings, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    bump(data_copy)
    text = data_copy.read_text(encoding="utf-8").replace('"definition"', '"project"').replace(
        '"definition.', '"project.')
    data_copy.write_text(text, encoding="utf-8")
    code, _, err = run_cli(capsys, "definition", "check", data_copy)
    assert code == 1
    assert f"l'état « definition » n'existe plus dans la version {NEXT}" in err
    assert SCHOOL in err and OTHER_SCHOOL in err and '[upgrade] states = { "definition" = "…" }' in err

    code, _, err = run_cli(capsys, "init")
    assert code == 1 and SCHOOL in err
    data_copy.write_text(text + '\n[upgrade]\nstates = { definition = "project" }\n', encoding="utf-8")
    ok(capsys, "definition", "check", data_copy)
    ok(capsys, "init")
    instance, upgrades = instance_of(small_db, SCHOOL)
    assert (instance.state, instance.definition_version) == ("project", NEXT)
    assert [(row.source, row.target) for row in upgrades] == [("definition", "project")]


def instance_of(settings: Settings, subject: str) -> tuple[WorkflowInstance, list[HistoryEntry]]:
    """The subject's instance and its upgrade history rows, read straight from the database."""
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        instance = session.exec(select(WorkflowInstance).where(WorkflowInstance.subject == subject)).one()
        upgrades = session.exec(select(HistoryEntry).where(HistoryEntry.instance_id == instance.id,
                                                           HistoryEntry.event == "upgrade")).all()
    engine.dispose()
    return instance, list(upgrades)
