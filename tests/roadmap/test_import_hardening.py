"""Imports never destroy what is held, stay bounded on hostile files, and run one at a time."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from roadmap.annuaire import FIELD_LIMITS, JUNK_PREFIX, read_annuaire
from roadmap.directory import ImportReport
from roadmap.errors import InputFileError
from roadmap.models import Person, School
from roadmap.service import Roadmap
from roadmap.settings import Settings
from roadmap.uai import uai_key
from tests.conftest import ILLE_ET_VILAINE
from tests.factories import ADMIN_EMAIL, ANNUAIRE_HEADER, annuaire_row, make_roadmap, write_csv
from tests.roadmap.test_cli import run_cli, run_json
from tests.workflows.test_engine import run_in_threads

SCHOOL = "0350122T"
NARROW = ["Identifiant_de_l_etablissement", "Nom_etablissement", "Code postal", "Nom_commune", "Code_departement",
          "Code_academie"]


@pytest.fixture
def service(settings: Settings) -> Roadmap:
    return make_roadmap(settings)


def narrow_extract(tmp_path: Path, *, empty_cells: bool = False) -> Path:
    """The real file cut down to a few columns (or, with `empty_cells`, every column kept but the optional ones
    emptied): what a CPD gets from another export."""
    with ILLE_ET_VILAINE.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header = rows[0]
    if empty_cells:
        blank = {header.index(name) for name in ("Adresse_1", "Telephone", "Mail", "Statut_public_prive",
                                                 "nom_circonscription")}
        kept = [header] + [[("" if i in blank else cell) for i, cell in enumerate(row)] for row in rows[1:]]
    else:
        wanted = [header.index(name) for name in [*NARROW, "Type_etablissement", "code_nature"]]
        kept = [[row[i] for i in wanted] for row in rows]
    path = tmp_path / "narrow.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, delimiter=";", lineterminator="\n").writerows(kept)
    return path


def snapshot(service: Roadmap) -> dict[str, tuple[str, ...]]:
    with service.session() as session:
        return {
            s.uai: (s.name, s.sector, s.street, s.phone, s.email, s.commune, s.circonscription_uai or "")
            for s in session.exec(select(School)).all()
        }


@pytest.mark.parametrize("empty_cells", [False, True], ids=["columns-missing", "cells-empty"])
def test_a_narrower_extract_never_blanks_what_is_held(service: Roadmap, tmp_path: Path, empty_cells: bool) -> None:
    service.import_annuaire(ILLE_ET_VILAINE, by=ADMIN_EMAIL)
    before = snapshot(service)
    with service.session() as session:
        contacts = session.exec(select(func.count()).select_from(Person)).one()
    report = service.import_annuaire(narrow_extract(tmp_path, empty_cells=empty_cells), by=ADMIN_EMAIL)
    assert not report.rejected
    assert snapshot(service) == before
    assert report.schools_updated == 0 and report.schools_unchanged == len(before)
    with service.session() as session:
        assert session.exec(select(func.count()).select_from(Person)).one() == contacts
    if empty_cells:
        assert report.kept_values > 0
        assert any("téléphone" in column for column in report.columns)
    else:
        assert not any("téléphone" in column for column in report.columns)
        assert any(column == "code postal (Code postal)" for column in report.columns)


def test_the_cli_says_which_columns_were_read_and_what_was_kept(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli(capsys, "import", "annuaire", ILLE_ET_VILAINE, "--by", ADMIN_EMAIL)
    report = run_json(capsys, "import", "annuaire", narrow_extract(tmp_path, empty_cells=True), "--by", ADMIN_EMAIL)
    assert "téléphone (Telephone)" in report["columns"] and report["kept_values"] > 0
    code, out, _err = run_cli(capsys, "import", "annuaire", narrow_extract(tmp_path), "--by", ADMIN_EMAIL)
    assert code == 0 and "Colonnes lues : UAI de l'établissement (Identifiant_de_l_etablissement)" in out


def test_a_too_long_value_is_a_rejected_row_the_same_on_every_backend(service: Roadmap, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "long.csv", ANNUAIRE_HEADER, [
        annuaire_row("0350122T", "École A"),
        annuaire_row("0350165P", "École B", phone="02" + "9" * FIELD_LIMITS["phone"]),
        annuaire_row("0350266Z", "É" * (FIELD_LIMITS["name"] + 1)),
    ])
    report = service.import_annuaire(path, by=ADMIN_EMAIL)
    assert [(e.line, e.uai) for e in report.rejected] == [(3, "0350165P"), (4, "0350266Z")]
    assert "colonne « Telephone »" in report.rejected[0].reason and "au plus" in report.rejected[0].reason
    assert "colonne « Nom_etablissement »" in report.rejected[1].reason
    assert report.schools_created == 1


def test_a_nul_byte_is_reported_with_its_line_and_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "nul.csv", ANNUAIRE_HEADER, [annuaire_row("0350122T", "École A"),
                                                             annuaire_row("0350165P", "École\x00 B")])
    with pytest.raises(InputFileError) as error:
        read_annuaire(path)
    assert (error.value.line, error.value.column) == (3, 15) and "caractère nul" in str(error.value)


def test_the_file_is_streamed_a_nul_byte_far_in_is_still_found_with_its_line_and_column(tmp_path: Path) -> None:
    rows = [annuaire_row(f"035{n:04d}" + uai_key(f"035{n:04d}"), f"École numéro {n}", commune="Rennes-Centre-Ville")
            for n in range(9999)]
    path = write_csv(tmp_path / "big.csv", ANNUAIRE_HEADER, rows)
    assert path.stat().st_size > 1_200_000  # beyond the first chunk read
    data = path.read_bytes()
    at = data.index("École numéro 9500;".encode())
    path.write_bytes(data[:at] + "Éc\x00".encode() + data[at + 3 :])
    with pytest.raises(InputFileError) as error:
        read_annuaire(path)
    line = data.count(b"\n", 0, at) + 1
    column = len(data[data.rfind(b"\n", 0, at) + 1 : at].decode()) + 3
    assert (error.value.line, error.value.column) == (line, column) and line > 9000


@pytest.mark.parametrize(("content", "expected"), [
    (b"\xff\xfeI\x00d\x00", "UTF-16"),
    (b"PK\x03\x04rest of a zip", "classeur Excel (XLSX)"),
    (";".join(ANNUAIRE_HEADER).encode() + b"\n0350122T;\x81\x8d\x90;" + b";" * 14 + b"\n", "ni UTF-8 ni Windows-1252"),
    (b" \n\n  \n", "vide"),
])
def test_files_that_are_not_a_text_csv_are_refused_with_the_reason(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "extrait.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError) as error:
        read_annuaire(path)
    assert expected in str(error.value)


def test_a_file_of_junk_rows_is_refused_early_with_the_first_reasons(tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    junk = "\n".join(f"X{n};rien;00000;nulle part;035;14" for n in range(300_000))
    path.write_text(";".join(NARROW) + "\n" + junk + "\n", encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        read_annuaire(path)
    assert f"les {JUNK_PREFIX} premières lignes" in str(error.value) and "ligne 2 :" in str(error.value)


def test_many_bad_rows_are_counted_but_only_the_first_are_detailed(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [annuaire_row("0350122T", "École A")] + [annuaire_row(f"12{n:04d}A", "Mauvaise") for n in range(250)]
    path = write_csv(tmp_path / "bad.csv", ANNUAIRE_HEADER, rows)
    code, _out, err = run_cli(capsys, "import", "annuaire", path, "--by", ADMIN_EMAIL)
    assert code == 3
    assert err.count("\nligne ") + err.startswith("ligne ") == 100
    assert "… et 150 autre(s) ligne(s) rejetée(s)" in err and "250 ligne(s) rejetée(s)" in err


def test_two_imports_at_once_both_succeed_without_duplicates(settings: Settings) -> None:
    first, second = make_roadmap(settings), make_roadmap(settings)
    results = run_in_threads(lambda: first.import_annuaire(ILLE_ET_VILAINE, by=ADMIN_EMAIL),
                             lambda: second.import_annuaire(ILLE_ET_VILAINE, by=ADMIN_EMAIL))
    assert all(isinstance(r, ImportReport) for r in results), results
    created = sorted(r.schools_created for r in results)
    assert created[0] == 0 and created[1] > 600  # the second waited, then found every school already there
    with first.session() as session:
        assert session.exec(select(func.count()).select_from(School)).one() == created[1]
        assert session.exec(select(func.count(col(School.uai).distinct()))).one() == created[1]
