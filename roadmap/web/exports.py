"""The board as a file: CSV (semicolons, UTF-8 with BOM, as French spreadsheets open it) or XLSX (cells typed as
text, dates as French dates); cells a spreadsheet would take for a formula are neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from openpyxl import Workbook

from roadmap.atomic import spreadsheet_safe
from roadmap.board import BoardLine

COLUMNS = ["UAI", "École", "Commune", "Circonscription", "Étape", "État", "ENT", "Jours ouvrés dans l'état",
           "En retard", "Prochain rappel", "Ce qui bloque"]


def _cells(line: BoardLine) -> list[str]:
    return [
        line.uai, line.name, line.commune, line.circonscription,
        f"{line.step_number}. {line.step_label}" if line.step_number else line.step_label,
        line.state_label, line.ent, str(line.working_days), "oui" if line.late else "non",
        f"{line.next_reminder:%d/%m/%Y}" if line.next_reminder else "", line.blocking,
    ]


def board_csv(lines: Iterable[BoardLine]) -> bytes:
    """The lines as CSV, written as they come (a national board streams from the database)."""
    buffer = io.BytesIO()
    text = io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in lines:
        writer.writerow([spreadsheet_safe(c) for c in _cells(line)])
    text.flush()
    return buffer.getvalue()


def board_xlsx(lines: Iterable[BoardLine]) -> bytes:
    """The lines as a workbook written row by row (openpyxl's write-only mode keeps them on disk)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Écoles")
    sheet.append(COLUMNS)
    for line in lines:
        cells = _cells(line)
        cells[7] = line.working_days  # type: ignore[call-overload]  # a number, for sorting in the spreadsheet
        sheet.append([spreadsheet_safe(c) if isinstance(c, str) else c for c in cells])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
