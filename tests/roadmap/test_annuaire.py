from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest

from roadmap.annuaire import AnnuaireExtract, AnnuaireRecord, ClosedRow, normalize_header, read_annuaire
from roadmap.errors import InputFileError
from roadmap.uai import is_valid_uai

DATA = Path("/work/shared/data/annuaire")
FILE_035 = DATA / "annuaire-education_035-ille-et-vilaine_2023.csv"
FILE_094 = DATA / "annuaire-education_094-val-de-marne_2026.csv"

HEADER = [
    "Identifiant_de_l_etablissement", "Nom_etablissement", "Type_etablissement", "Statut_public_prive",
    "Adresse_1", "Adresse_2", "Code postal", "Nom_commune", "Telephone", "Mail", "Code_departement",
    "Libelle_departement", "Code_academie", "Libelle_academie", "nom_circonscription", "etat", "code_nature",
    "code_circonscription",
]


# ------------------------------------------------------------------------------------------------ factories


def school_row(**fields: str) -> dict[str, str]:
    row = {
        "Identifiant_de_l_etablissement": "0350122T",
        "Nom_etablissement": "Ecole primaire publique les Lucioles",
        "Type_etablissement": "Ecole",
        "Statut_public_prive": "Public",
        "Adresse_1": "6 rue PHILIPPE",
        "Adresse_2": "",
        "Code postal": "35580",
        "Nom_commune": "Baulon",
        "Telephone": "0299853802",
        "Mail": "ecole.0350122T@ac-rennes.fr",
        "Code_departement": "035",
        "Libelle_departement": "Ille-et-Vilaine",
        "Code_academie": "14",
        "Libelle_academie": "Rennes",
        "nom_circonscription": "Circonscription d'inspection du 1er degré de Bruz",
        "etat": "OUVERT",
        "code_nature": "151",
        "code_circonscription": "0350739N",
    }
    row.update(fields)
    return row


def csv_text(rows: Sequence[dict[str, str]], header: Sequence[str] = HEADER, sep: str = ";") -> str:
    lines = [sep.join(header)]
    lines += [sep.join(row.get(column, "") for column in header) for row in rows]
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def by_uai(extract: AnnuaireExtract) -> dict[str, AnnuaireRecord]:
    return {record.uai: record for record in extract.records}


def kinds(extract: AnnuaireExtract) -> Counter[str]:
    return Counter(record.kind for record in extract.records)


# ------------------------------------------------------------------------------------------------ real files


def test_real_035_file() -> None:
    started = time.perf_counter()
    extract = read_annuaire(FILE_035)
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0
    assert kinds(extract) == {"school": 685, "circonscription": 23}
    assert extract.errors == []
    assert extract.ignored == 996 - 685 - 23  # collèges, lycées, médico-social, other services
    assert extract.columns["postal_code"] == "Code postal"
    assert extract.columns["uai"] == "Identifiant_de_l_etablissement"
    assert "circonscription_uai" not in extract.columns

    schools = [record for record in extract.records if record.kind == "school"]
    assert Counter(record.sector for record in schools) == {"Public": 421, "Privé": 264}
    assert {record.departement_code for record in extract.records} == {"035"}
    assert {record.academie_code for record in extract.records} == {"14"}
    assert all(record.circonscription_uai == "" for record in extract.records)

    first = extract.records[0]
    assert first == AnnuaireRecord(
        line=2, kind="school", uai="0350122T", name="Ecole primaire publique les Lucioles", sector="Public",
        nature_code="151", street="6 rue PHILIPPE", locality="", postal_code="35580", commune="Baulon",
        phone="0299853802", email="ecole.0350122T@ac-rennes.fr", departement_code="035",
        departement_name="Ille-et-Vilaine", academie_code="14", academie_name="Rennes",
        circonscription_uai="", circonscription_name="Circonscription d'inspection du 1er degré de Bruz",
    )
    office = by_uai(extract)["0350741R"]
    assert office.kind == "circonscription"
    assert office.line == 204
    assert office.nature_code == "809"
    assert office.name == "Circonscription d'inspection du 1er degré de Fougères"
    # "A FERMER" (closing soon) is still open: kept.
    assert by_uai(extract)["0351383N"].line == 868


def test_real_094_file_and_its_circonscriptions() -> None:
    extract = read_annuaire(FILE_094)

    assert kinds(extract) == {"school": 613}
    assert extract.errors == []
    assert extract.ignored == 0
    assert extract.columns["postal_code"] == "Code_postal"
    assert extract.columns["circonscription_uai"] == "code_circonscription"

    circonscriptions = {record.circonscription_uai for record in extract.records}
    assert len(circonscriptions) == 24
    assert all(is_valid_uai(uai) for uai in circonscriptions)
    assert {"0940927X", "0941397H", "0942396U"} <= circonscriptions

    fresnes = by_uai(extract)["0940176F"]
    assert (fresnes.line, fresnes.circonscription_uai, fresnes.postal_code) == (2, "0940927X", "94260")
    assert fresnes.departement_code == "094"
    assert fresnes.academie_name == "Créteil"
    orly = by_uai(extract)["0940388L"]
    assert orly.line == 16
    # The file writes "inspection  du" with two spaces.
    assert orly.circonscription_name == "Circonscription d'inspection du 1er degre d'Orly"


# ------------------------------------------------------------------------------------------------ formats


def test_comma_separated_cp1252_with_reordered_and_renamed_headers(tmp_path: Path) -> None:
    header = ["Commune", "CP", "Appellation officielle", "UAI", "Département", "Secteur", "Téléphone", "Type",
              "État"]
    text = (
        ",".join(header) + "\r\n"
        + 'Rennes,35000,"École Sainte-Thérèse, maternelle",0350122t,35,PRIVE,02 99 85 38 02,École,OUVERT\r\n'
        + "Créteil,94000,Collège Albert Camus,0940176F,94,Public,0172045505,Collège,OUVERT\r\n"
    )
    path = write(tmp_path, "extrait.csv", text, encoding="cp1252")

    extract = read_annuaire(path)

    assert extract.errors == []
    assert extract.ignored == 1
    assert extract.records == [AnnuaireRecord(
        line=2, kind="school", uai="0350122T", name="École Sainte-Thérèse, maternelle", sector="Privé",
        nature_code="", street="", locality="", postal_code="35000", commune="Rennes", phone="0299853802",
        email="", departement_code="035", departement_name="", academie_code="", academie_name="",
        circonscription_uai="", circonscription_name="",
    )]
    assert extract.columns == {"uai": "UAI", "name": "Appellation officielle", "type": "Type",
                               "sector": "Secteur", "postal_code": "CP", "commune": "Commune",
                               "phone": "Téléphone", "departement_code": "Département", "state": "État"}


def test_utf8_without_bom_and_txt_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "extrait.txt", csv_text([school_row(Nom_etablissement="École des Îles")]))
    extract = read_annuaire(path)
    assert [record.name for record in extract.records] == ["École des Îles"]


def test_xlsx_numbers_get_their_leading_zeros_back(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["UAI", "Nom_etablissement", "code_nature", "Code_postal", "Nom_commune", "Telephone",
                  "Code_departement", "Code_academie", "Statut_public_prive"])
    sheet.append(["0010001W", "Ecole du Bourg", 151, 1000, "Bourg-en-Bresse", 474000000, 1, 8, "Public"])
    sheet.append(["0350122T", "Ecole les Lucioles", 151.0, 35580.0, "Baulon", 299853802, 35, 14, "Public"])
    sheet.append([])
    sheet.append(["0350741R", "Circonscription de Fougères", 809, 35300, "Fougères", None, 35, 14, None])
    sheet.append(["0350122X", "Ecole à la clé fausse", 151, 35580, "Baulon", None, 35, 14, "Public"])
    other = workbook.create_sheet("Autre")
    other.append(["rien", "à", "lire"])
    path = tmp_path / "extrait.xlsx"
    workbook.save(path)

    extract = read_annuaire(path)

    records = by_uai(extract)
    bourg = records["0010001W"]
    assert (bourg.line, bourg.postal_code, bourg.phone) == (2, "01000", "0474000000")
    assert (bourg.departement_code, bourg.academie_code, bourg.nature_code) == ("001", "08", "151")
    lucioles = records["0350122T"]
    assert (lucioles.line, lucioles.postal_code, lucioles.nature_code) == (3, "35580", "151")
    office = records["0350741R"]
    assert (office.kind, office.line, office.phone, office.sector) == ("circonscription", 5, "", "")
    assert [(error.line, error.uai) for error in extract.errors] == [(6, "0350122X")]
    assert "la lettre clé devrait être T" in extract.errors[0].reason


# ------------------------------------------------------------------------------------------------ rows


def test_bad_rows_are_reported_with_their_line_and_good_rows_kept(tmp_path: Path) -> None:
    rows = [
        school_row(),  # line 2
        school_row(Identifiant_de_l_etablissement="0350123X"),  # line 3
        school_row(Identifiant_de_l_etablissement="0940176F", Adresse_1='"Bâtiment A\nrue du Puits"'),  # 4-5
        school_row(Identifiant_de_l_etablissement="0350741R", **{"Code postal": "3558"}),  # line 6
        school_row(Identifiant_de_l_etablissement="0350739N", Nom_etablissement="  "),  # line 7
        school_row(Identifiant_de_l_etablissement="0350740P", Nom_commune="Baulon;Bruz"),  # line 8
        school_row(Identifiant_de_l_etablissement="0350742S", code_circonscription="0350739A"),  # line 9
        school_row(Identifiant_de_l_etablissement="0350743T", Statut_public_prive="Privee"),  # line 10
    ]
    path = write(tmp_path, "extrait.csv", csv_text(rows))

    extract = read_annuaire(path)

    assert [(record.line, record.uai) for record in extract.records] == [
        (2, "0350122T"), (4, "0940176F"), (10, "0350743T")]
    assert by_uai(extract)["0940176F"].street == "Bâtiment A\nrue du Puits"
    assert by_uai(extract)["0350743T"].sector == "Privé"
    errors = {error.line: error for error in extract.errors}
    assert sorted(errors) == [3, 6, 7, 8, 9]
    assert errors[3].uai == "0350123X"
    assert errors[3].reason.startswith("UAI 0350123X invalide : la lettre clé devrait être ")
    assert "code postal « 3558 »" in errors[6].reason and "03558" in errors[6].reason
    assert "nom de l'établissement vide" in errors[7].reason and "Nom_etablissement" in errors[7].reason
    assert "19 champs au lieu des 18" in errors[8].reason and errors[8].uai == "0350740P"
    assert "UAI de circonscription 0350739A invalide" in errors[9].reason
    assert "devrait être N (0350739N)" in errors[9].reason


def test_several_problems_on_one_row_are_reported_together(tmp_path: Path) -> None:
    row = school_row(Identifiant_de_l_etablissement="12345", Nom_etablissement="", **{"Code postal": "ABCDE"})
    extract = read_annuaire(write(tmp_path, "extrait.csv", csv_text([row])))
    [error] = extract.errors
    assert error.line == 2
    assert "UAI 12345 invalide" in error.reason
    assert "nom de l'établissement vide" in error.reason
    assert "code postal « ABCDE »" in error.reason


def test_duplicate_uai_names_the_earlier_line(tmp_path: Path) -> None:
    rows = [school_row(), school_row(Identifiant_de_l_etablissement="0940176F"),
            school_row(Nom_etablissement="Ecole en double")]
    extract = read_annuaire(write(tmp_path, "extrait.csv", csv_text(rows)))

    assert [record.line for record in extract.records] == [2, 3]
    [error] = extract.errors
    assert (error.line, error.uai) == (4, "0350122T")
    assert "en double" in error.reason and "ligne 2" in error.reason


def test_irrelevant_and_closed_rows_are_ignored(tmp_path: Path) -> None:
    rows = [
        school_row(),
        school_row(Identifiant_de_l_etablissement="0350741R", Type_etablissement="Collège",
                   code_nature="340"),
        school_row(Identifiant_de_l_etablissement="0350739N", etat="FERME"),
        school_row(Identifiant_de_l_etablissement="0350740P", etat="A FERMER"),
        school_row(Identifiant_de_l_etablissement="0350742S", Type_etablissement="", code_nature="101"),
        school_row(Identifiant_de_l_etablissement="0350743T", Type_etablissement="ECOLE", code_nature=""),
        school_row(Identifiant_de_l_etablissement="0350744U", Type_etablissement="Service Administratif",
                   code_nature="809", Statut_public_prive=""),
        # Ignored rows are not validated: a duplicate collège is not an error.
        school_row(Identifiant_de_l_etablissement="0350741R", Type_etablissement="Collège",
                   code_nature="340"),
    ]
    extract = read_annuaire(write(tmp_path, "extrait.csv", csv_text(rows)))

    assert extract.errors == []
    assert extract.ignored == 2  # the collège, twice
    assert [(record.uai, record.kind) for record in extract.records] == [
        ("0350122T", "school"), ("0350740P", "school"), ("0350742S", "school"), ("0350743T", "school"),
        ("0350744U", "circonscription")]
    assert extract.closed == {"0350739N": ClosedRow(4, "school", "0350739N", "035", "14")}


def test_closed_schools_and_offices_are_kept_apart(tmp_path: Path) -> None:
    rows = [
        school_row(Identifiant_de_l_etablissement="0350739N", etat="Fermé", Code_departement="35"),
        school_row(Identifiant_de_l_etablissement="0350744U", Type_etablissement="Service Administratif",
                   code_nature="809", etat="FERMEE"),
        # A closed collège is out of scope; a closed row without a valid UAI designates nothing: both ignored.
        school_row(Identifiant_de_l_etablissement="0350741R", Type_etablissement="Collège", code_nature="340",
                   etat="FERME"),
        school_row(Identifiant_de_l_etablissement="0350745X", etat="FERME"),
        # Listed closed, then open again in the same file: open wins (absence or doubt never closes).
        school_row(Identifiant_de_l_etablissement="0350122T", etat="FERME"),
        school_row(Identifiant_de_l_etablissement="0350122T"),
        # Closed twice: the first line is kept.
        school_row(Identifiant_de_l_etablissement="0350739N", etat="FERME"),
    ]
    extract = read_annuaire(write(tmp_path, "extrait.csv", csv_text(rows)))

    assert extract.errors == [] and extract.ignored == 2
    assert [record.uai for record in extract.records] == ["0350122T"]
    assert extract.closed == {
        "0350739N": ClosedRow(2, "school", "0350739N", "035", "14"),
        "0350744U": ClosedRow(3, "circonscription", "0350744U", "035", "14"),
    }


def test_list_without_type_nor_nature_is_a_list_of_schools(tmp_path: Path) -> None:
    text = ("UAI;Nom;CP;Commune;Dept\n"
            "0350122T;Ecole les Lucioles;35580;Baulon;35\n"
            "0940176F;Ecole;94260;Fresnes;94\n")
    extract = read_annuaire(write(tmp_path, "liste.csv", text))
    assert [(record.kind, record.departement_code) for record in extract.records] == [
        ("school", "035"), ("school", "094")]


def test_blank_lines_are_skipped_and_header_only_file_is_empty(tmp_path: Path) -> None:
    text = csv_text([school_row()]) + "\n;;;\n"
    assert len(read_annuaire(write(tmp_path, "a.csv", text)).records) == 1
    extract = read_annuaire(write(tmp_path, "b.csv", csv_text([])))
    assert (extract.records, extract.errors, extract.ignored) == ([], [], 0)


# ------------------------------------------------------------------------------------------------ whole file


def test_missing_required_columns_are_all_listed(tmp_path: Path) -> None:
    header = [column for column in HEADER if column not in ("Code postal", "Nom_commune")]
    path = write(tmp_path, "extrait.csv", csv_text([school_row()], header=header))

    with pytest.raises(InputFileError) as caught:
        read_annuaire(path)

    error = caught.value
    assert error.line == 1
    assert "code postal" in error.problem and "Code_postal" in error.problem and "CP" in error.problem
    assert "commune" in error.problem and "Nom_commune" in error.problem
    assert "UAI de l'établissement" not in error.problem
    assert error.hint


def test_single_column_header_hints_at_the_separator(tmp_path: Path) -> None:
    path = write(tmp_path, "extrait.csv", "UAI|Nom|CP\n0350122T|Ecole|35580\n")
    with pytest.raises(InputFileError) as caught:
        read_annuaire(path)
    assert "séparateur" in caught.value.hint


@pytest.mark.parametrize("content", [b"", b"  \n\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n;;\r\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "extrait.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError) as caught:
        read_annuaire(path)
    assert "vide" in caught.value.problem


def test_empty_workbook(tmp_path: Path) -> None:
    path = tmp_path / "extrait.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(InputFileError) as caught:
        read_annuaire(path)
    assert "vide" in caught.value.problem


@pytest.mark.parametrize("name", ["extrait.ods", "extrait.xls", "extrait"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, csv_text([school_row()]))
    with pytest.raises(InputFileError) as caught:
        read_annuaire(path)
    assert "extension" in caught.value.problem
    assert ".xlsx" in caught.value.hint


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="introuvable"):
        read_annuaire(tmp_path / "absent.csv")
    with pytest.raises(InputFileError, match="illisible"):
        read_annuaire(write(tmp_path, "abime.xlsx", "ceci n'est pas un classeur"))
    workbook_as_csv = tmp_path / "classeur.csv"
    openpyxl.Workbook().save(workbook_as_csv)
    with pytest.raises(InputFileError) as caught:
        read_annuaire(workbook_as_csv)
    assert ".xlsx" in caught.value.hint
    undecodable = tmp_path / "binaire.csv"
    undecodable.write_bytes(b"UAI;Nom\n\x81\x8d\x8f;x\n")
    with pytest.raises(InputFileError, match="encodage"):
        read_annuaire(undecodable)


def test_error_message_is_french_and_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "extrait.odt", "x")
    with pytest.raises(InputFileError) as caught:
        read_annuaire(path)
    assert str(caught.value).startswith(f"{path} : extension « .odt » non prise en charge")


@pytest.mark.parametrize(("header", "expected"), [
    ("\ufeffIdentifiant_de_l_etablissement", "identifiant_de_l_etablissement"),
    (" Code postal ", "code_postal"),
    ("Code-Postal", "code_postal"),
    ("Nom de l'établissement", "nom_de_l_etablissement"),
    ("Nom de l’ÉTABLISSEMENT", "nom_de_l_etablissement"),
])
def test_normalize_header(header: str, expected: str) -> None:
    assert normalize_header(header) == expected
