"""The wheel holds every package and the data: a non-editable install must work from any folder.

(The test command also builds the wheel, installs it in a fresh venv and runs `roadmap demo`: scripts/wheel_check.sh.)
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from roadmap.settings import REPO_DATA, Settings

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_python_package_of_the_tree_is_listed_for_the_wheel() -> None:
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("roadmap", "workflows", "notifications")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert found <= set(SETUPTOOLS["packages"]), "add these packages to pyproject.toml: " + ", ".join(
        sorted(found - set(SETUPTOOLS["packages"]))
    )


def test_every_data_file_is_shipped() -> None:
    patterns = SETUPTOOLS["package-data"]["roadmap_data"]
    shipped = {path for pattern in patterns for path in (REPO / "data").glob(pattern)}
    every = {path for path in (REPO / "data").rglob("*") if path.is_file()}
    assert every == shipped, "data files missing from package-data: " + ", ".join(map(str, every - shipped))


def test_data_is_found_through_the_installed_package_and_can_be_overridden(tmp_path: Path) -> None:
    assert (REPO_DATA / "roadmaps" / "national.toml").is_file()
    settings = Settings.from_env({"ROADMAP_HOME": str(tmp_path), "ROADMAP_DATA_DIR": str(tmp_path / "data")})
    assert settings.definitions_dir == tmp_path / "data" / "roadmaps"
    assert Settings.from_env({"ROADMAP_HOME": str(tmp_path)}).definitions_dir == REPO_DATA / "roadmaps"
