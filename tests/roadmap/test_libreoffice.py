"""The product's spreadsheets survive a round trip through LibreOffice Calc (`soffice --headless --convert-to`):
XLSX → ODS → XLSX, and CSV → XLSX with the product's filter options, read back with openpyxl. UAIs and postcodes
keep their leading zeros, dates stay French (dd/mm/yyyy text or real dates), never US dates.

LibreOffice comes from Debian (`libreoffice-calc-nogui`, installed by scripts/libreoffice.sh in the test command)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from roadmap.account_table import COLUMNS, libreoffice_csv_filter, write_table
from roadmap.atomic import atomic_write
from roadmap.board import BoardFilters, board_view
from roadmap.settings import Settings
from roadmap.web.exports import COLUMNS as BOARD_COLUMNS
from roadmap.web.exports import board_csv, board_xlsx
from tests.web.client import demo_roadmap

SOFFICE = shutil.which("soffice") or "/usr/bin/soffice"
ROWS = [  # an Ain school (postcode and UAI starting with 0), a date whose day and month could be swapped
    {"RNE": "0010001W", "Secteur": "Public", "Nom": "École primaire du Lac", "Voie": "2 rue du Port",
     "Lieu-dit": "", "CP": "01000", "Commune": "Bourg-en-Bresse", "Téléphone": "0474000000",
     "Responsable": "Claire Martin", "CIRCO": "Bourg-en-Bresse", "RNE CIRCO": "0011234B", "date CE": "06/11/2026",
     "ENT": "One 1D (Open Digital Education)"},
    {"RNE": "0350122T", "Secteur": "Public", "Nom": "=HYPERLINK(\"x\")", "Voie": "", "Lieu-dit": "Le Bourg",
     "CP": "35580", "Commune": "Baulon", "Téléphone": "0299000000", "Responsable": "Yann Guillou",
     "CIRCO": "Bruz", "RNE CIRCO": "0350739N", "date CE": "12/01/2026", "ENT": "Beneylu School"},
]


@pytest.fixture(scope="module")
def soffice(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if not Path(SOFFICE).exists():
        pytest.fail("LibreOffice (soffice) is missing: run the test command (scripts/test.sh sources "
                    "scripts/libreoffice.sh), or install Debian's libreoffice-calc-nogui.")
    profile = tmp_path_factory.mktemp("lo-profile")  # a profile of its own: no clash with a running LibreOffice
    return [SOFFICE, "--headless", "--norestore", f"-env:UserInstallation=file://{profile}"]


def convert(soffice: list[str], source: Path, target_format: str, folder: Path, infilter: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    command = [*soffice, "--convert-to", target_format, "--outdir", str(folder), str(source)]
    if infilter:
        command.insert(len(soffice), f"--infilter={infilter}")
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    result = folder / (source.stem + "." + target_format.split(":")[0])
    assert done.returncode == 0 and result.exists(), (done.stdout, done.stderr)
    return result


def cells(path: Path) -> list[list[Any]]:
    sheet = load_workbook(path).active
    assert sheet is not None
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def french(value: Any) -> str:
    """A date cell as people read it: text must already be dd/mm/yyyy; a real date is shown that way."""
    if isinstance(value, datetime | date):
        return f"{value:%d/%m/%Y}"
    assert isinstance(value, str), value
    return value


def check_account_table(read: list[list[Any]]) -> None:
    assert read[0] == list(COLUMNS)
    for expected, row in zip(ROWS, read[1:], strict=True):
        got = dict(zip(COLUMNS, row, strict=True))
        assert got["RNE"] == expected["RNE"] and got["RNE CIRCO"] == expected["RNE CIRCO"]
        assert got["CP"] == expected["CP"] and isinstance(got["CP"], str)  # "01000", not 1000
        assert got["Téléphone"] == expected["Téléphone"]  # the leading 0 of a phone number too
        assert french(got["date CE"]) == expected["date CE"]  # 06/11/2026 stays the 6th of November
    assert read[2][2] == "'=HYPERLINK(\"x\")"  # still text, never a formula


def test_account_table_xlsx_to_ods_and_back(soffice: list[str], tmp_path: Path) -> None:
    xlsx = tmp_path / "tableau.xlsx"
    write_table(ROWS, xlsx)
    ods = convert(soffice, xlsx, "ods", tmp_path / "ods")
    back = convert(soffice, ods, "xlsx", tmp_path / "back")
    check_account_table(cells(back))


def test_account_table_csv_to_xlsx_with_the_products_filter(soffice: list[str], tmp_path: Path) -> None:
    comma = tmp_path / "tableau.csv"
    write_table(ROWS, comma)
    back = convert(soffice, comma, "xlsx", tmp_path / "back", libreoffice_csv_filter(len(COLUMNS)))
    check_account_table(cells(back))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the files are the same on both databases
def test_board_exports_survive_libreoffice(soffice: list[str], settings: Settings, tmp_path: Path) -> None:
    roadmap = demo_roadmap(settings)
    board = board_view(roadmap, BoardFilters())
    expected = [(line.uai, f"{line.next_reminder:%d/%m/%Y}" if line.next_reminder else "") for line in board.lines]
    assert expected and all(uai.startswith("0") for uai, _ in expected)
    assert any(reminder for _, reminder in expected)  # a date to check
    files = {"tableau-de-bord.xlsx": board_xlsx(board.lines), "tableau-de-bord.csv": board_csv(board.lines)}
    for name, content in files.items():
        with atomic_write(tmp_path / name) as handle:
            handle.write(content)
    ods = convert(soffice, tmp_path / "tableau-de-bord.xlsx", "ods", tmp_path / "ods")
    from_xlsx = convert(soffice, ods, "xlsx", tmp_path / "back")
    from_csv = convert(soffice, tmp_path / "tableau-de-bord.csv", "xlsx", tmp_path / "csv",
                       libreoffice_csv_filter(len(BOARD_COLUMNS)))
    for back in (from_xlsx, from_csv):
        read = cells(back)
        assert read[0] == BOARD_COLUMNS
        uai, reminder = BOARD_COLUMNS.index("UAI"), BOARD_COLUMNS.index("Prochain rappel")
        got = [(row[uai], french(row[reminder]) if row[reminder] is not None else "") for row in read[1:]]
        assert got == expected, back.name


