"""The account-creation table: one row per school, 13 columns, sent for automatic account creation."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from sqlmodel import Session, col, select

from roadmap.atomic import atomic_text, atomic_write, spreadsheet_safe
from roadmap.models import Circonscription, Person, School
from roadmap.uai import uai_problem
from workflows.checklist import ChecklistItem
from workflows.definition import Definition, ItemRef

COLUMNS: tuple[str, ...] = (
    "RNE",
    "Secteur",
    "Nom",
    "Voie",
    "Lieu-dit",
    "CP",
    "Commune",
    "Téléphone",
    "Responsable",
    "CIRCO",
    "RNE CIRCO",
    "date CE",
    "ENT",
)
OPTIONAL_COLUMNS = frozenset({"Lieu-dit"})


@dataclass(frozen=True)
class AccountItems:
    """The checklist items the table reads, named by the definition (`[guards.account_row_valid]`)."""

    council_date: ItemRef
    ent: ItemRef
    # Late council: the item whose date (families informed one by one) stands in while the council is owed.
    council_stand_in: ItemRef | None = None

    @classmethod
    def of(cls, definition: Definition) -> AccountItems:
        guard = "account_row_valid"
        council = definition.item_ref(guard, "council_item")
        partner = definition.item_spec(council).deferrable_with
        stand_in = (council[0], partner) if partner else None
        return cls(council, definition.item_ref(guard, "ent_item"), stand_in)


def director_name(session: Session, school_uai: str) -> str:
    """Name of the school's director: a named person, not the annuaire's functional mailbox."""
    query = (
        select(Person)
        .where(Person.role == "director", Person.scope == school_uai, Person.source == "manual")
        .order_by(col(Person.id))
    )
    person = session.exec(query).first()
    return person.name if person else ""


def build_row(
    session: Session, school: School, values: Mapping[tuple[str, str], Any], items: AccountItems
) -> dict[str, str]:
    circonscription = session.get(Circonscription, school.circonscription_uai) if school.circonscription_uai else None
    return compose_row(school, values, items, circonscription, director_name(session, school.uai))


def directors_of(session: Session, school_uais: Sequence[str]) -> dict[str, str]:
    """The named director of each school (the first registered), in one query per thousand schools."""
    names: dict[str, str] = {}
    for offset in range(0, len(school_uais), 1000):
        query = (
            select(Person.scope, Person.name)
            .where(
                Person.role == "director",
                Person.source == "manual",
                col(Person.scope).in_(school_uais[offset : offset + 1000]),
            )
            .order_by(col(Person.id).desc())
        )
        names.update(dict(session.exec(query).all()))  # the first registered wins (read last)
    return names


def compose_row(
    school: School,
    values: Mapping[tuple[str, str], Any],
    items: AccountItems,
    circonscription: Circonscription | None,
    director: str,
) -> dict[str, str]:
    # A late council is still owed: the date the families were informed one by one stands in for it.
    council = values.get(items.council_date) or (values.get(items.council_stand_in) if items.council_stand_in else None)
    return {
        "RNE": school.uai,
        "Secteur": school.sector,
        "Nom": school.name,
        "Voie": school.street,
        "Lieu-dit": school.locality,
        "CP": school.postal_code,
        "Commune": school.commune,
        "Téléphone": school.phone,
        "Responsable": director,
        "CIRCO": circonscription.name if circonscription else "",
        "RNE CIRCO": circonscription.uai if circonscription else "",
        "date CE": date.fromisoformat(council).strftime("%d/%m/%Y") if council else "",
        "ENT": str(values.get(items.ent) or ""),
    }


def row_problems(row: Mapping[str, str], ent_item: ChecklistItem | None, today: date) -> list[str]:
    """Every reason the row cannot be sent, each naming its column and how to fix it."""
    problems: list[str] = []

    def bad(column: str, reason: str) -> None:
        problems.append(f"tableau, colonne « {column} » : {reason}")

    for column in COLUMNS:
        if column not in OPTIONAL_COLUMNS and not row.get(column, "").strip():
            fix = {
                "Responsable": "enregistrez le directeur ou la directrice de l'école "
                f"{row.get('RNE', '')} comme personne habilitée (rôle direction, avec son nom)",
                "CIRCO": "l'école n'est rattachée à aucune circonscription : réimportez un annuaire qui la renseigne",
                "RNE CIRCO": "l'école n'est rattachée à aucune circonscription",
                "date CE": "renseignez la date du conseil d'école (étape Conseil d'école)",
                "ENT": "choisissez l'ENT à l'étape Définition du projet",
            }.get(column, "complétez-la dans l'annuaire puis réimportez-le")
            bad(column, f"vide — {fix}.")
    if row.get("RNE") and (problem := uai_problem(row["RNE"])):
        bad("RNE", f"UAI invalide ({problem}).")
    if row.get("RNE CIRCO") and (problem := uai_problem(row["RNE CIRCO"])):
        bad("RNE CIRCO", f"UAI invalide ({problem}).")
    if row.get("Secteur") and row["Secteur"] not in ("Public", "Privé"):
        bad("Secteur", f"« {row['Secteur']} » n'est ni Public ni Privé.")
    if row.get("CP") and not re.fullmatch(r"\d{5}", row["CP"]):
        bad("CP", f"« {row['CP']} » n'est pas un code postal à 5 chiffres.")
    phone = re.sub(r"[\s.\-]", "", row.get("Téléphone", ""))
    if phone and not re.fullmatch(r"0\d{9}", phone):
        bad("Téléphone", f"« {row['Téléphone']} » n'est pas un numéro à 10 chiffres commençant par 0.")
    if row.get("date CE"):
        day, month, year = (int(p) for p in row["date CE"].split("/"))
        if date(year, month, day) > today:
            bad("date CE", f"le conseil d'école du {row['date CE']} n'a pas encore eu lieu.")
    if row.get("ENT") and ent_item is not None and row["ENT"] not in ent_item.choices:
        bad("ENT", f"« {row['ENT']} » ne fait pas partie des ENT conformes.")
    return problems


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET = "Création des comptes"


def _cells(rows: Sequence[Mapping[str, str]], columns: Sequence[str] = COLUMNS) -> list[list[str]]:
    return [[spreadsheet_safe(str(row.get(column, ""))) for column in columns] for row in rows]


def _save_xlsx(rows: Sequence[Mapping[str, str]], handle: IO[bytes], columns: Sequence[str] = COLUMNS,
               sheet_name: str = SHEET) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)  # streamed: a national table stays linear in time and memory
    sheet = workbook.create_sheet(sheet_name)
    for values in [list(columns), *_cells(rows, columns)]:
        row = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # never a formula, whatever the text
            row.append(cell)
        sheet.append(row)
    workbook.save(handle)


def _save_csv(rows: Sequence[Mapping[str, str]], handle: IO[str], columns: Sequence[str]) -> None:
    writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(_cells(rows, columns))


def xlsx_bytes(rows: Sequence[Mapping[str, str]]) -> bytes:
    """The table as an .xlsx file in memory (what a batch stores and attaches to its email)."""
    return table_bytes(rows, ".xlsx")


def table_bytes(rows: Sequence[Mapping[str, str]], suffix: str, columns: Sequence[str] = COLUMNS,
                sheet_name: str = SHEET) -> bytes:
    """The same file `write_table` writes, in memory (a web download): `suffix` is ".xlsx" or ".csv"."""
    buffer = io.BytesIO()
    if suffix.lower() == ".xlsx":
        _save_xlsx(rows, buffer, columns, sheet_name)
        return buffer.getvalue()
    text = io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="", write_through=True)
    _save_csv(rows, text, columns)
    text.flush()
    text.detach()  # the buffer stays open for reading
    return buffer.getvalue()


def write_table(rows: Sequence[Mapping[str, str]], path: Path, columns: Sequence[str] = COLUMNS,
                sheet_name: str = SHEET) -> None:
    """Write rows as .xlsx (what the DSI expects) or .csv (';', UTF-8 with BOM, for French Excel), atomically;
    cells that a spreadsheet would take for a formula are written as text. Other tables (the GDPR register)
    give their own columns."""
    if path.suffix.lower() == ".xlsx":
        with atomic_write(path) as handle:
            _save_xlsx(rows, handle, columns, sheet_name)
        return
    with atomic_text(path, encoding="utf-8-sig") as handle:
        _save_csv(rows, handle, columns)


def libreoffice_csv_filter(columns: int) -> str:
    """How LibreOffice Calc opens the product's CSV files (`soffice --infilter=…`, or the same choices in its import
    dialog): ';' separated, '"' quoted, UTF-8, from line 1, every column as text, French locale. Leading zeros
    (UAI, postcodes) stay and dates are never re-read as US dates."""
    formats = "/".join(f"{number}/2" for number in range(1, columns + 1))  # 2 = text
    return f"CSV:59,34,76,1,{formats},1036"
