"""Read an extract of the public "Annuaire de l'éducation" into records (pure parsing, no database).

Accepted inputs: CSV (``.csv``/``.txt``, separated by ``;`` or ``,``, UTF-8 with or without BOM, or
Windows-1252 as written by a French Excel) and XLSX (first sheet). Columns are found by meaning, whatever
their order and spelling (``Code postal``, ``Code_postal``, ``CP``...).

Kept rows: schools (``Type_etablissement`` "Ecole" or ``code_nature`` 100-199) and circonscription offices
(``code_nature`` 809) that are not closed; a file with neither column is taken as a plain list of schools.
Schools and offices the ``etat`` column marks closed ("FERME"; "A FERMER" is still open) are kept apart in
``closed`` (their UAI, kind and where they lie), for the import to let their mailboxes leave the directory.
Other valid rows are only counted in ``ignored``. A row that cannot be used is reported as a
:class:`RowError` with a French reason; reading never stops on a bad row. Problems with the file as a whole
raise :class:`~roadmap.errors.InputFileError`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from sqlmodel import SQLModel

from roadmap.errors import InputFileError
from roadmap.progress import SILENT, Progress
from roadmap.uai import normalize_uai, uai_problem

RecordKind = Literal["school", "circonscription"]


@dataclass(frozen=True, slots=True)
class AnnuaireRecord:
    """One school or circonscription office read from an extract."""

    line: int  # line where the row starts (header is line 1); for XLSX the sheet row number
    kind: RecordKind
    uai: str
    name: str  # whitespace collapsed
    sector: str  # "Public", "Privé", or "" when the file leaves it empty
    nature_code: str
    street: str
    locality: str
    postal_code: str
    commune: str
    phone: str
    email: str
    departement_code: str  # zero-padded to 3 ("035")
    departement_name: str
    academie_code: str  # zero-padded to 2 ("08")
    academie_name: str
    circonscription_uai: str  # validated UAI, or ""
    circonscription_name: str  # whitespace collapsed, or ""


@dataclass(frozen=True, slots=True)
class ClosedRow:
    """A school or circonscription office the extract marks closed (``etat``). Only its UAI is checked: nothing
    else of a closed row is stored."""

    line: int
    kind: RecordKind
    uai: str
    departement_code: str  # zero-padded to 3, as in records
    academie_code: str  # zero-padded to 2, or "" when the file has no such column


@dataclass(frozen=True)
class RowError:
    """A row that could not be kept; ``reason`` is French and says how to fix it."""

    line: int
    reason: str
    uai: str = ""


@dataclass
class AnnuaireExtract:
    """Result of :func:`read_annuaire`."""

    path: Path
    records: list[AnnuaireRecord]
    errors: list[RowError]  # the first MAX_KEPT_ERRORS rejected rows
    ignored: int  # valid rows that are not relevant (collèges, lycées, other services, closed ones of those)
    columns: dict[str, str]  # meaning -> header as found in the file
    rejected: int = 0  # every rejected row, including those beyond `errors`
    # Schools and offices marked closed, by UAI (one the file also lists open is not closed).
    closed: dict[str, ClosedRow] = field(default_factory=dict)

    def column_labels(self) -> list[str]:
        """French label and header of every column read, in the order of meanings."""
        return [f"{m.label} ({self.columns[m.key]})" for m in _MEANINGS if m.key in self.columns]


# ----------------------------------------------------------------------------------------------------------
# Column meanings


@dataclass(frozen=True)
class _Meaning:
    key: str
    label: str  # French, shown to users
    headers: tuple[str, ...]  # accepted headers in priority order, as shown to users
    required: bool = False
    pad: int = 0  # width to restore leading zeros of numbers read from a spreadsheet


_MEANINGS: tuple[_Meaning, ...] = (
    _Meaning(
        "uai",
        "UAI de l'établissement",
        (
            "Identifiant_de_l_etablissement",
            "UAI",
            "RNE",
            "Code_UAI",
            "Numero_UAI",
            "Code_RNE",
            "UAI_etablissement",
            "N° UAI",
        ),
        required=True,
    ),
    _Meaning(
        "name",
        "nom de l'établissement",
        (
            "Nom_etablissement",
            "Appellation_officielle",
            "Nom",
            "Nom_de_l_etablissement",
            "Denomination",
            "Libelle_etablissement",
        ),
        required=True,
    ),
    _Meaning("type", "type d'établissement", ("Type_etablissement", "Type")),
    _Meaning(
        "sector",
        "secteur public ou privé",
        ("Statut_public_prive", "Secteur_public_prive", "Secteur", "Statut", "Public_prive"),
    ),
    _Meaning("nature_code", "code nature", ("code_nature", "Nature_UAI", "Nature"), pad=3),
    _Meaning("street", "adresse", ("Adresse_1", "Adresse", "Adresse_UAI", "Rue")),
    _Meaning("locality", "lieu-dit", ("Adresse_2", "Lieu_dit")),
    _Meaning("postal_code", "code postal", ("Code_postal", "CP", "Code_postal_UAI"), required=True, pad=5),
    _Meaning(
        "commune", "commune", ("Nom_commune", "Commune", "Libelle_commune", "Nom_de_la_commune", "Ville"), required=True
    ),
    _Meaning("phone", "téléphone", ("Telephone", "Tel", "Numero_de_telephone"), pad=10),
    _Meaning("email", "adresse électronique", ("Mail", "Email", "E-mail", "Courriel", "Adresse_mail")),
    _Meaning(
        "departement_code",
        "code du département",
        ("Code_departement", "Departement", "Code_dept", "Dept", "Numero_departement"),
        required=True,
        pad=3,
    ),
    _Meaning("departement_name", "nom du département", ("Libelle_departement", "Nom_departement")),
    _Meaning("academie_code", "code de l'académie", ("Code_academie",), pad=2),
    _Meaning("academie_name", "nom de l'académie", ("Libelle_academie", "Nom_academie", "Academie")),
    _Meaning("circonscription_uai", "UAI de la circonscription", ("code_circonscription", "UAI_circonscription")),
    _Meaning(
        "circonscription_name",
        "nom de la circonscription",
        ("nom_circonscription", "Circonscription", "Libelle_circonscription"),
    ),
    _Meaning("state", "état", ("etat", "Etat_etablissement")),
)

MAX_FILE_BYTES = 200 * 1024 * 1024  # the national annuaire (every establishment) is about a quarter of this
MAX_KEPT_ERRORS = 1000  # rejected rows kept for the report; the rest are only counted
JUNK_PREFIX = 1000  # if this many data rows are read and every one is rejected, the file is refused at once
PROGRESS_EVERY = 1000  # rows between two progress reports
def _field_limits() -> dict[str, int]:
    """Longest value each column may hold, from the tables that store it (the same on every database)."""
    from roadmap.models import Academie, Circonscription, Departement, School

    def length(table: type[SQLModel], column: str) -> int:
        size = table.__table__.c[column].type.length  # type: ignore[attr-defined]
        assert isinstance(size, int)
        return size

    return {
        "name": min(length(School, "name"), length(Circonscription, "name")),
        "street": length(School, "street"),
        "locality": length(School, "locality"),
        "commune": length(School, "commune"),
        "phone": min(length(School, "phone"), length(Circonscription, "phone")),
        "email": min(length(School, "email"), length(Circonscription, "email")),
        "nature_code": length(School, "nature_code"),
        "departement_name": length(Departement, "name"),
        "academie_name": length(Academie, "name"),
        "circonscription_name": length(Circonscription, "name"),
    }


FIELD_LIMITS = _field_limits()
_CLOSED_STATES = frozenset({"ferme", "fermee", "clos", "close", "closed"})
_CSV_SUFFIXES = frozenset({".csv", ".txt"})
_XLSX_SUFFIXES = frozenset({".xlsx"})
_FORMATS_HINT = (
    "Formats acceptés : CSV (.csv ou .txt, séparateur « ; » ou « , ») et classeur Excel "
    "(.xlsx). Exportez l'extrait de l'Annuaire de l'éducation dans l'un de ces formats."
)
_EMPTY_HINT = "Exportez à nouveau l'extrait : il doit contenir une ligne d'en-têtes puis une ligne par établissement."
_WORD_RE = re.compile(r"[a-z0-9]+")
_PHONE_RE = re.compile(r"[0-9][0-9 .\-]*")


@functools.lru_cache(maxsize=4096)
def normalize_header(text: str) -> str:
    """Fold a header (or a short label) for comparison.

    BOM and accents removed, lower-cased, and every run of other characters (space, underscore, hyphen,
    apostrophe...) turned into a single ``_``: ``"Code postal"`` and ``"code_postal"`` both give
    ``code_postal``.
    """
    decomposed = unicodedata.normalize("NFKD", text.replace("\ufeff", ""))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    return "_".join(_WORD_RE.findall(plain))


def _map_columns(header: Sequence[str]) -> tuple[dict[str, int], list[_Meaning]]:
    """Return meaning -> column index for the meanings found, and the required meanings that are missing."""
    positions: dict[str, int] = {}
    for index, text in enumerate(header):
        positions.setdefault(normalize_header(text), index)
    found: dict[str, int] = {}
    taken: set[int] = set()
    missing: list[_Meaning] = []
    for meaning in _MEANINGS:
        for synonym in meaning.headers:
            position = positions.get(normalize_header(synonym))
            if position is not None and position not in taken:
                found[meaning.key] = position
                taken.add(position)
                break
        else:
            if meaning.required:
                missing.append(meaning)
    return found, missing


# ----------------------------------------------------------------------------------------------------------
# Reading the file


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    """The file opened for reading, with a French message for each reason it cannot be."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputFileError(path, "fichier introuvable", "Vérifiez le chemin et le nom du fichier.") from None
    except IsADirectoryError:
        raise InputFileError(
            path, "ce chemin désigne un dossier, pas un fichier", "Indiquez le fichier de l'extrait lui-même."
        ) from None
    except PermissionError:
        raise InputFileError(
            path,
            "lecture du fichier refusée (droits insuffisants)",
            "Donnez les droits de lecture sur le fichier ou copiez-le ailleurs.",
        ) from None
    except OSError as exc:
        raise InputFileError(
            path,
            f"lecture du fichier impossible ({exc.strerror or exc})",
            "Vérifiez que le fichier est accessible puis recommencez.",
        ) from None
    with handle:
        yield handle


def _read_bytes(path: Path) -> bytes:
    with _opened(path) as handle:
        data = handle.read()
    if not data.strip():
        raise InputFileError(path, "le fichier est vide", _EMPTY_HINT)
    return data


def _check_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError:
        return  # reading it will say what is wrong
    if size > MAX_FILE_BYTES:
        raise InputFileError(
            path,
            f"fichier trop volumineux ({size // (1024 * 1024)} Mo ; un extrait de l'annuaire en fait au plus "
            f"{MAX_FILE_BYTES // (1024 * 1024)})",
            "Vérifiez qu'il s'agit bien d'un extrait de l'Annuaire de l'éducation, ou découpez-le par département.",
        )


_CHUNK = 1 << 20


def _scan(path: Path) -> str:
    """One pass over the bytes, a chunk at a time (memory stays flat whatever the size): refuse what is not a
    text CSV (XLSX, UTF-16, NUL bytes, with line and column) and return the encoding to read it with."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = True
    has_text = False
    newlines = 0
    offset = 0
    last_newline = -1  # offset of the last newline before the current chunk
    with _opened(path) as handle:
        while chunk := handle.read(_CHUNK):
            if offset == 0:
                _refuse_binary_start(path, chunk)
            if (nul := chunk.find(b"\x00")) >= 0:
                line = newlines + chunk.count(b"\n", 0, nul) + 1
                start = chunk.rfind(b"\n", 0, nul)
                start = offset + start if start >= 0 else last_newline
                handle.seek(start + 1)
                before = handle.read(offset + nul - start - 1)
                raise InputFileError(
                    path,
                    "caractère nul (octet 0) : un fichier CSV n'en contient jamais ; le fichier est abîmé ou n'est "
                    "pas un CSV (données binaires)",
                    "Supprimez ce caractère, ou exportez à nouveau l'extrait. " + _FORMATS_HINT,
                    line=line,
                    column=len(before.decode("utf-8", errors="replace")) + 1,
                )
            has_text = has_text or bool(chunk.strip())
            if is_utf8:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    is_utf8 = False
            newlines += chunk.count(b"\n")
            if (last := chunk.rfind(b"\n")) >= 0:
                last_newline = offset + last
            offset += len(chunk)
    if not has_text:
        raise InputFileError(path, "le fichier est vide", _EMPTY_HINT)
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    return "utf-8-sig" if is_utf8 else "cp1252"  # Windows-1252 decodes any byte but five: checked when reading


def _refuse_binary_start(path: Path, start: bytes) -> None:
    if start.startswith(b"PK\x03\x04"):
        raise InputFileError(
            path,
            "ce fichier est un classeur Excel (XLSX), pas un fichier CSV",
            "Renommez-le avec l'extension .xlsx, ou enregistrez-le au format CSV.",
        )
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError(
            path,
            "ce fichier est encodé en UTF-16, encodage non pris en charge",
            "Dans votre tableur, enregistrez-le au format « CSV UTF-8 » ou « CSV (séparateur : point-virgule) ».",
        )


_UNDECODABLE = (
    "encodage des caractères non reconnu (ni UTF-8 ni Windows-1252)",
    "Dans votre tableur, enregistrez le fichier au format « CSV UTF-8 ».",
)


def _sniff_delimiter(first_line: str) -> str:
    """Pick the separator from the first non-blank line (the header)."""
    counts = {sep: first_line.count(sep) for sep in (";", ",", "\t")}
    best = max(counts, key=lambda sep: counts[sep])  # ties keep the first: ";" then ","
    return best if counts[best] else ";"


def _read_csv(path: Path) -> tuple[str, Iterator[tuple[int, list[str]]]]:
    """Return the delimiter and, lazily, every row with the line where it starts (the file is streamed)."""
    encoding = _scan(path)
    try:
        with path.open(encoding=encoding, newline="") as handle:
            first = next((line for line in handle if line.strip()), "")
    except UnicodeDecodeError:
        raise InputFileError(path, *_UNDECODABLE) from None
    delimiter = _sniff_delimiter(first)

    def rows() -> Iterator[tuple[int, list[str]]]:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            start = 1
            try:
                for row in reader:
                    yield start, row
                    start = reader.line_num + 1
            except csv.Error as exc:
                raise InputFileError(
                    path,
                    f"structure CSV illisible ({exc})",
                    "Vérifiez les guillemets autour des champs à partir de cette ligne.",
                    line=start,
                ) from None
            except UnicodeDecodeError:
                raise InputFileError(path, *_UNDECODABLE, line=start) from None

    return delimiter, rows()


def _cell_text(value: object, pad: int = 0) -> str:
    """Turn a spreadsheet value back into the text the extract holds (leading zeros restored for numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        text = str(value)
        return text.zfill(pad) if pad and value >= 0 else text
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _read_xlsx(path: Path, data: bytes) -> list[tuple[int, tuple[object, ...]]]:
    """Return the non-empty rows of the first sheet with their row number."""
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputFileError(
            path,
            "ce classeur est à l'ancien format Excel (.xls) ou protégé par un mot de passe",
            "Ouvrez-le dans votre tableur, retirez le mot de passe s'il y en a un et "
            "enregistrez-le au format « Classeur Excel (.xlsx) » ou en CSV.",
        )
    import openpyxl  # imported lazily: only spreadsheets need it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds of errors on a damaged or foreign file
        raise InputFileError(
            path,
            "ce classeur Excel est illisible (fichier abîmé ou pas au format .xlsx)",
            "Ouvrez-le dans votre tableur et enregistrez-le à nouveau au format "
            "« Classeur Excel (.xlsx) », ou exportez-le en CSV.",
        ) from None
    try:
        if not workbook.worksheets:
            raise InputFileError(
                path,
                "le classeur ne contient aucune feuille de calcul",
                "Placez l'extrait dans la première feuille du classeur.",
            )
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some producers write a wrong used range; read what is really there
        rows: list[tuple[int, tuple[object, ...]]] = []
        try:
            for number, values in enumerate(sheet.iter_rows(min_row=1, min_col=1, values_only=True), start=1):
                if any(value is not None and str(value).strip() for value in values):
                    rows.append((number, tuple(values)))
        except Exception:  # damaged sheet XML
            raise InputFileError(
                path,
                "la première feuille du classeur est illisible (fichier abîmé)",
                "Ouvrez-le dans votre tableur et enregistrez-le à nouveau au format "
                "« Classeur Excel (.xlsx) », ou exportez-le en CSV.",
            ) from None
    finally:
        workbook.close()
    if not rows:
        raise InputFileError(
            path,
            "la première feuille du classeur est vide",
            "Placez l'extrait (ligne d'en-têtes puis une ligne par établissement) dans la "
            "première feuille du classeur.",
        )
    return rows


# ----------------------------------------------------------------------------------------------------------
# Rows


def _is_blank(cells: Sequence[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def _classify(type_value: str, nature_code: str) -> RecordKind | None:
    nature = int(nature_code) if nature_code.isascii() and nature_code.isdigit() else None
    if nature == 809:
        return "circonscription"
    folded_type = normalize_header(type_value)
    if folded_type == "ecole" or folded_type.startswith("ecole_"):
        return "school"
    if nature is not None and 100 <= nature <= 199:
        return "school"
    return None


def _sector(value: str) -> str | None:
    """Return "Public", "Privé", "" for an empty cell, or None when the value is not understood."""
    folded = normalize_header(value)
    if not folded:
        return ""
    if folded.startswith("pub"):
        return "Public"
    if folded.startswith("priv"):
        return "Privé"
    return None


def _phone(value: str) -> str:
    """Drop the separators of a French number written "02 99 85 38 02" or "02.99.85.38.02"."""
    if _PHONE_RE.fullmatch(value):
        return re.sub(r"[ .\-]", "", value)
    return value


def _zero_pad(value: str, width: int) -> str:
    return value.zfill(width) if value.isascii() and value.isalnum() else value


class _RowReader:
    """Validate data rows against the mapped header and collect records, errors and the ignored count."""

    def __init__(self, header: Sequence[str], found: dict[str, int], delimiter: str) -> None:
        self.width = len(header)
        self.found = found
        self.delimiter = delimiter
        self.columns = {key: header[index].replace("\ufeff", "").strip() for key, index in found.items()}
        self.records: list[AnnuaireRecord] = []
        self.closed: dict[str, ClosedRow] = {}
        self.errors: list[RowError] = []
        self.rejected = 0
        self.ignored = 0
        self.first_line: dict[str, int] = {}
        self.can_classify = "type" in found or "nature_code" in found

    def column(self, key: str) -> str:
        return self.columns.get(key, key)

    def add(self, line: int, cells: Sequence[str]) -> None:
        if len(cells) != self.width:
            self._wrong_width(line, cells)
            return

        def get(key: str) -> str:
            index = self.found.get(key)
            return cells[index].strip() if index is not None else ""

        kind: RecordKind | None = "school"
        if self.can_classify:  # a list without type nor nature column is taken as a list of schools
            kind = _classify(get("type"), get("nature_code"))
        if kind is None:
            self.ignored += 1
            return
        if normalize_header(get("state")) in _CLOSED_STATES:
            self._closed(line, kind, get)
            return

        problems: list[str] = []
        raw_uai = get("uai")
        uai = normalize_uai(raw_uai)
        uai_issue = uai_problem(raw_uai)
        if not uai:
            problems.append(
                f"UAI manquant : renseignez la colonne « {self.column('uai')} » "
                "(7 chiffres suivis d'une lettre, ex. 0350122T)"
            )
        elif uai_issue:
            problems.append(f"UAI {raw_uai} invalide : {uai_issue}")
        elif uai in self.first_line:
            problems.append(
                f"UAI {uai} en double : il figure déjà ligne {self.first_line[uai]} ; "
                "ne gardez qu'une ligne par établissement"
            )
        else:
            self.first_line[uai] = line

        name = " ".join(get("name").split())
        if not name:
            problems.append(f"nom de l'établissement vide : renseignez la colonne « {self.column('name')} »")

        postal_code = "".join(get("postal_code").split())
        if not postal_code:
            problems.append(
                f"code postal manquant : renseignez la colonne « {self.column('postal_code')} » (5 chiffres)"
            )
        elif not (len(postal_code) == 5 and postal_code.isascii() and postal_code.isdigit()):
            if len(postal_code) == 4 and postal_code.isascii() and postal_code.isdigit():
                problems.append(
                    f"code postal « {postal_code} » invalide : il doit compter 5 chiffres ; "
                    "si le zéro initial a été perdu (ouverture dans Excel), "
                    f"écrivez 0{postal_code}"
                )
            else:
                problems.append(f"code postal « {postal_code} » invalide : il doit compter 5 chiffres (ex. 35580)")

        sector = _sector(get("sector"))
        if sector is None:
            problems.append(
                f"secteur « {get('sector')} » non reconnu : indiquez Public ou Privé dans la "
                f"colonne « {self.column('sector')} »"
            )

        raw_circonscription = get("circonscription_uai")
        circonscription_uai = normalize_uai(raw_circonscription)
        circonscription_issue = uai_problem(raw_circonscription) if raw_circonscription else None
        if circonscription_issue:
            circonscription_uai = ""
            if kind == "school":
                problems.append(
                    f"UAI de circonscription {raw_circonscription} invalide (colonne "
                    f"« {self.column('circonscription_uai')} ») : {circonscription_issue}"
                )

        for key, limit in FIELD_LIMITS.items():
            value = get(key)
            value = " ".join(value.split()) if key in ("name", "circonscription_name") else value
            value = _phone(value) if key == "phone" else value
            if len(value) > limit:
                problems.append(
                    f"valeur trop longue dans la colonne « {self.column(key)} » ({len(value)} caractères, "
                    f"{limit} au plus) : vérifiez les séparateurs de cette ligne ou raccourcissez la valeur"
                )

        if problems:
            self.reject(RowError(line, " ; ".join(problems), uai))
            return
        self.records.append(
            AnnuaireRecord(
                line=line,
                kind=kind,
                uai=uai,
                name=name,
                sector=sector or "",
                nature_code=get("nature_code"),
                street=get("street"),
                locality=get("locality"),
                postal_code=postal_code,
                commune=get("commune"),
                phone=_phone(get("phone")),
                email=get("email"),
                departement_code=_zero_pad(get("departement_code"), 3),
                departement_name=get("departement_name"),
                academie_code=_zero_pad(get("academie_code"), 2),
                academie_name=get("academie_name"),
                circonscription_uai=circonscription_uai,
                circonscription_name=" ".join(get("circonscription_name").split()),
            )
        )

    def _closed(self, line: int, kind: RecordKind, get: Callable[[str], str]) -> None:
        """Keep the UAI of a closed establishment; one without a valid UAI designates nothing and is ignored."""
        uai = normalize_uai(get("uai"))
        if not uai or uai_problem(get("uai")):
            self.ignored += 1
            return
        self.closed.setdefault(uai, ClosedRow(line, kind, uai, _zero_pad(get("departement_code"), 3),
                                              _zero_pad(get("academie_code"), 2)))

    def _wrong_width(self, line: int, cells: Sequence[str]) -> None:
        index = self.found.get("uai")
        uai = normalize_uai(cells[index]) if index is not None and index < len(cells) else ""
        if self.delimiter:
            separator = "tabulation" if self.delimiter == "\t" else f"« {self.delimiter} »"
            reason = (
                f"cette ligne compte {len(cells)} champs au lieu des {self.width} de l'en-tête : "
                f"vérifiez les séparateurs ({separator}) et les guillemets (un texte contenant le "
                "séparateur doit être entre guillemets)"
            )
            if any("\n" in cell or "\r" in cell for cell in cells):
                reason += " ; un guillemet non refermé a pu fusionner plusieurs lignes"
        else:
            reason = (
                f"cette ligne contient des valeurs au-delà des {self.width} colonnes de l'en-tête : "
                "déplacez-les dans la bonne colonne ou supprimez-les"
            )
        self.reject(RowError(line, reason, uai))

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(error)


def _missing_columns_error(path: Path, line: int, header: Sequence[str], missing: list[_Meaning]) -> InputFileError:
    wanted = " ; ".join(f"{meaning.label} (en-têtes acceptés : {', '.join(meaning.headers)})" for meaning in missing)
    problem = f"colonnes obligatoires introuvables : {wanted}"
    shown = [text.replace("\ufeff", "").strip() for text in header if text.strip()]
    if len(shown) <= 1:
        hint = (
            "La ligne d'en-têtes ne contient qu'une colonne : le séparateur doit être « ; » ou « , ». "
            "Vérifiez qu'il s'agit bien d'un extrait de l'Annuaire de l'éducation."
        )
    else:
        listed = ", ".join(shown[:12]) + (", …" if len(shown) > 12 else "")
        hint = f"Ajoutez ou renommez ces colonnes dans la ligne d'en-têtes (en-têtes trouvés : {listed})."
    return InputFileError(path, problem, hint, line=line)


def _collect(
    path: Path,
    rows: Iterable[tuple[int, Sequence[str]]],
    header_line: int,
    header: Sequence[str],
    found: dict[str, int],
    delimiter: str,
    progress: Progress,
) -> AnnuaireExtract:
    reader = _RowReader(header, found, delimiter)
    progress.phase("Lecture de l'extrait")
    for count, (line, cells) in enumerate(rows, start=1):
        if count % PROGRESS_EVERY == 0:
            progress.advance(PROGRESS_EVERY)
        if line > header_line and not _is_blank(cells):
            reader.add(line, cells)
            if reader.rejected >= JUNK_PREFIX and not reader.records and not reader.ignored and not reader.closed:
                shown = "\n".join(f"    ligne {e.line} : {e.reason}" for e in reader.errors[:3])
                raise InputFileError(
                    path,
                    f"les {JUNK_PREFIX} premières lignes de données sont toutes rejetées : ce fichier n'est pas "
                    f"un extrait utilisable ; lecture arrêtée. Premières raisons :\n{shown}",
                    "Vérifiez qu'il s'agit bien d'un extrait de l'Annuaire de l'éducation (séparateur, colonnes), "
                    "corrigez-le puis importez-le à nouveau.",
                )
    return AnnuaireExtract(
        path=path,
        records=reader.records,
        errors=reader.errors,
        ignored=reader.ignored,
        columns=dict(reader.columns),
        rejected=reader.rejected,
        closed={uai: row for uai, row in reader.closed.items() if uai not in reader.first_line},
    )


def read_annuaire(path: Path, progress: Progress = SILENT) -> AnnuaireExtract:
    """Read an Annuaire de l'éducation extract (CSV or XLSX).

    Raises :class:`InputFileError` when the file as a whole cannot be used (unknown extension, unreadable,
    empty, undecodable, required columns missing). Bad rows never raise: they are listed in ``errors``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _CSV_SUFFIXES and suffix not in _XLSX_SUFFIXES:
        shown = f"« {path.suffix} »" if path.suffix else "absente"
        raise InputFileError(path, f"extension {shown} non prise en charge", _FORMATS_HINT)
    _check_size(path)
    if suffix in _CSV_SUFFIXES:
        delimiter, csv_rows = _read_csv(path)
        first = next(((line, cells) for line, cells in csv_rows if not _is_blank(cells)), None)
        if first is None:
            raise InputFileError(path, "le fichier est vide", _EMPTY_HINT)
        header_line, header = first
        found, missing = _map_columns(header)
        if missing:
            raise _missing_columns_error(path, header_line, header, missing)
        return _collect(path, csv_rows, header_line, header, found, delimiter, progress)

    sheet_rows = _read_xlsx(path, _read_bytes(path))
    header_line, raw_header = sheet_rows[0]
    header = [_cell_text(value) for value in raw_header]
    while header and not header[-1]:
        header.pop()
    found, missing = _map_columns(header)
    if missing:
        raise _missing_columns_error(path, header_line, header, missing)
    pads = {index: meaning.pad for meaning in _MEANINGS if (index := found.get(meaning.key)) is not None}
    width = len(header)
    text_rows: list[tuple[int, list[str]]] = []
    for line, values in sheet_rows[1:]:
        cells = [_cell_text(value, pads.get(index, 0)) for index, value in enumerate(values)]
        while len(cells) > width and not cells[-1]:
            cells.pop()
        cells.extend([""] * (width - len(cells)))
        text_rows.append((line, cells))
    return _collect(path, text_rows, header_line, header, found, "", progress)
