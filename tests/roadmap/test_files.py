"""Files attached to checklist items: stored once by content, only when the change is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import func, select

from roadmap.files import read_upload
from roadmap.models import StoredFile
from roadmap.settings import Settings
from tests.roadmap.test_walkthrough import small_roadmap
from tests.roadmap.walk import COUNCIL_ITEMS, DIRECTOR, SCHOOL, fill, walk_to_school_council
from workflows import TransitionRefused


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_refused_file_check_leaves_nothing_behind(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    minutes = tmp_path / "compte-rendu.pdf"
    minutes.write_bytes(b"%PDF-1.4 minutes")
    # The step is still `definition`: the minutes item does not exist yet, the change is refused.
    with pytest.raises(TransitionRefused):
        roadmap.check(SCHOOL, "minutes", None, DIRECTOR, upload=read_upload(minutes))
    assert stored_files(settings.files_dir) == []
    with roadmap.session() as session:
        assert session.exec(select(func.count()).select_from(StoredFile)).one() == 0


def test_accepted_file_is_stored_once_by_content(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    walk_to_school_council(roadmap)
    fill(roadmap, SCHOOL, COUNCIL_ITEMS, DIRECTOR)
    first, copy = tmp_path / "cr.pdf", tmp_path / "cr-copie.pdf"
    first.write_bytes(b"%PDF-1.4 the same minutes")
    copy.write_bytes(b"%PDF-1.4 the same minutes")
    record = roadmap.check(SCHOOL, "minutes", None, DIRECTOR, upload=read_upload(first))
    roadmap.check(SCHOOL, "minutes", None, DIRECTOR, upload=read_upload(copy))
    value = (record.data or {})["value"]
    files = stored_files(settings.files_dir)
    assert len(files) == 1
    assert files[0].name == value["sha256"]
    assert files[0].read_bytes() == b"%PDF-1.4 the same minutes"
    with roadmap.session() as session:
        assert session.exec(select(func.count()).select_from(StoredFile)).one() == 1


def test_missing_or_empty_file_is_refused_with_a_hint(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    empty = tmp_path / "vide.pdf"
    empty.write_bytes(b"")
    for path, fragment in ((tmp_path / "absent.pdf", "introuvable"), (empty, "vide"), (tmp_path, "dossier")):
        with pytest.raises(Exception) as caught:
            roadmap.files.store(read_upload(path))
        assert fragment in str(caught.value)
        assert "→" in str(caught.value)
