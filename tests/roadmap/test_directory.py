"""Import of annuaire extracts into the directory, through `Roadmap.import_annuaire` (and the CLI for exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, col, select

from roadmap.errors import InputFileError
from roadmap.models import Academie, Circonscription, Departement, Person, School
from roadmap.service import Roadmap
from roadmap.settings import Settings
from roadmap.uai import uai_key
from tests.conftest import ILLE_ET_VILAINE
from tests.factories import ADMIN_EMAIL, ANNUAIRE_HEADER, annuaire_row, make_roadmap, write_csv
from tests.roadmap.test_cli import run_cli, run_json
from workflows.models import HistoryEntry, WorkflowInstance

BRUZ = "0350739N"
BRUZ_NAME = "Circonscription d'inspection du 1er degré de Bruz"
BRUZ_MAILBOX = "ce.ien35.bruz@ac-rennes.fr"
COUNTED: tuple[type[SQLModel], ...] = (School, Circonscription, Person, WorkflowInstance, HistoryEntry, Academie,
                                       Departement)


def uai(digits: str) -> str:
    return digits + uai_key(digits)


SCHOOL_A = uai("0351001")
SCHOOL_B = uai("0351002")
SCHOOL_C = uai("0351003")


@pytest.fixture
def service(settings: Settings) -> Roadmap:
    return make_roadmap(settings)


def counts(service: Roadmap) -> dict[str, int]:
    """Rows of the directory tables, the test database's own administrator left out."""
    with service.session() as session:
        found = {model.__name__: session.exec(select(func.count()).select_from(model)).one() for model in COUNTED}
    found["Person"] = found.get("Person", 1) - 1
    return found


def row(uai_: str, name: str, **columns: str) -> list[str]:
    """An annuaire row (tests.factories layout) with some columns overridden by header name."""
    cells = annuaire_row(uai_, name, **{k: v for k, v in columns.items() if k in _FACTORY_ARGS})
    for header, value in columns.items():
        if header not in _FACTORY_ARGS:
            cells[ANNUAIRE_HEADER.index(header)] = value
    return cells


_FACTORY_ARGS = {"kind", "nature", "circonscription", "email", "departement", "academie", "phone", "postal_code",
                 "commune", "sector"}


def bruz_office() -> list[str]:
    return row(BRUZ, BRUZ_NAME, kind="Service Administratif", nature="809", email=BRUZ_MAILBOX)


def people_by_email(service: Roadmap) -> dict[str, Person]:
    """Everyone but the test database's own administrator."""
    with service.session() as session:
        return {p.email: p for p in session.exec(select(Person)).all() if p.email != ADMIN_EMAIL}


def get_school(service: Roadmap, uai_: str) -> School:
    with service.session() as session:
        school = session.get(School, uai_)
    assert school is not None, uai_
    return school


def instance_of(service: Roadmap, uai_: str) -> tuple[WorkflowInstance, list[HistoryEntry]]:
    with service.session() as session:
        instance = service.instance(session, uai_)
        return instance, service.engine.history(session, instance)


# ---------------------------------------------------------------------------------------- the real file


def test_reimporting_the_real_file_updates_and_never_duplicates(service: Roadmap) -> None:
    first = service.import_annuaire(ILLE_ET_VILAINE, by=ADMIN_EMAIL)
    assert (first.schools_created, first.schools_updated, first.schools_unchanged) == (685, 0, 0)
    assert first.rejected == [] and first.without_circonscription == []
    after_first = counts(service)
    assert after_first["School"] == 685 and after_first["WorkflowInstance"] == 685
    assert after_first["HistoryEntry"] == 685 and after_first["Circonscription"] == 23

    second = service.import_annuaire(ILLE_ET_VILAINE, by=ADMIN_EMAIL)
    assert (second.schools_created, second.schools_updated, second.schools_unchanged) == (0, 0, 685)
    assert second.rejected == []
    assert counts(service) == after_first

    with service.session() as session:
        # Every school has its roadmap, opened by the import, still at the first step.
        query = (select(WorkflowInstance, HistoryEntry)
                 .join(School, col(School.uai) == col(WorkflowInstance.subject))
                 .join(HistoryEntry, col(HistoryEntry.instance_id) == col(WorkflowInstance.id)))
        rows = session.exec(query).all()
        assert len(rows) == len({instance.subject for instance, _ in rows}) == 685
        assert {(instance.state, instance.definition_id, entry.event, entry.target) for instance, entry in rows} == {
            ("definition", "national", "start", "definition")}
        # Linked to their circonscription by the circonscription's name (the 035 file has no code column).
        links = dict(session.exec(select(School.uai, School.circonscription_uai)).all())
        assert links["0350122T"] == BRUZ and links["0350165P"] == "0350738M"
        assert None not in links.values()
        academie = session.get(Academie, "14")
        departement = session.get(Departement, "035")
    assert academie is not None and academie.name == "Rennes" and academie.holiday_zone == "B"
    assert departement is not None and departement.academie_code == "14"

    people = people_by_email(service)
    ien = people[BRUZ_MAILBOX]
    assert (ien.role, ien.scope, ien.source) == ("ien", BRUZ, "annuaire") and "Bruz" in ien.name
    director = people["ecole.0350122t@ac-rennes.fr"]
    assert (director.role, director.scope, director.source) == ("director", "0350122T", "annuaire")
    assert sum(1 for p in people.values() if p.role == "ien") == 23


# ------------------------------------------------------------------------------------------ re-imports


def test_a_changed_phone_counts_as_updated_and_changes_the_school(service: Roadmap, tmp_path: Path) -> None:
    rows = [bruz_office(), row(SCHOOL_A, "École A", nom_circonscription=BRUZ_NAME),
            row(SCHOOL_B, "École B", nom_circonscription=BRUZ_NAME)]
    service.import_annuaire(write_csv(tmp_path / "v1.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)
    before = counts(service)
    instance_before, history_before = instance_of(service, SCHOOL_A)

    rows[1] = row(SCHOOL_A, "École A", nom_circonscription=BRUZ_NAME, phone="02 99 11 22 33")
    report = service.import_annuaire(write_csv(tmp_path / "v2.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)
    assert (report.schools_created, report.schools_updated, report.schools_unchanged) == (0, 1, 1)
    assert get_school(service, SCHOOL_A).phone == "0299112233"
    assert get_school(service, SCHOOL_B).phone == "0299000000"
    assert counts(service) == before
    instance_after, history_after = instance_of(service, SCHOOL_A)
    assert instance_after.version == instance_before.version and instance_after.state == "definition"
    assert len(history_after) == len(history_before) == 1


def test_school_mailbox_becomes_a_director_and_circonscription_mailbox_an_ien(
    service: Roadmap, tmp_path: Path
) -> None:
    rows = [bruz_office(), row(SCHOOL_A, "École A", nom_circonscription=BRUZ_NAME, email="Ecole.A@AC-Rennes.fr")]
    report = service.import_annuaire(write_csv(tmp_path / "extrait.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)
    assert report.contacts == 2
    people = people_by_email(service)
    assert set(people) == {BRUZ_MAILBOX, "ecole.a@ac-rennes.fr"}
    ien, director = people[BRUZ_MAILBOX], people["ecole.a@ac-rennes.fr"]
    assert (ien.role, ien.scope, ien.source) == ("ien", BRUZ, "annuaire")
    assert (director.role, director.scope, director.source) == ("director", SCHOOL_A, "annuaire")

    # A new mailbox in a later extract replaces the old one: still one director person from the annuaire.
    rows[1] = row(SCHOOL_A, "École A", nom_circonscription=BRUZ_NAME, email="ce.a@ac-rennes.fr")
    service.import_annuaire(write_csv(tmp_path / "extrait-2.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)
    people = people_by_email(service)
    assert set(people) == {BRUZ_MAILBOX, "ce.a@ac-rennes.fr"}
    assert people["ce.a@ac-rennes.fr"].id == director.id


def test_a_person_added_by_hand_is_never_overwritten_by_a_reimport(service: Roadmap, tmp_path: Path) -> None:
    rows = [bruz_office(), row(SCHOOL_A, "École A", nom_circonscription=BRUZ_NAME),
            row(SCHOOL_B, "École B", nom_circonscription=BRUZ_NAME, email="ecole.b@ac-rennes.fr")]
    service.import_annuaire(write_csv(tmp_path / "v1.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)
    service.add_person("claire.martin@ac-rennes.fr", "director", SCHOOL_A, "Claire Martin", by=ADMIN_EMAIL)
    service.add_person("paul.le-gall@ac-rennes.fr", "cpd", "035", "Paul Le Gall", by=ADMIN_EMAIL)
    by_hand = {email: (p.id, p.name, p.role, p.scope, p.source) for email, p in people_by_email(service).items()
               if p.source == "manual"}

    # The next extract lists these addresses as the school mailboxes of A and B.
    rows[1] = row(SCHOOL_A, "École A", nom_circonscription=BRUZ_NAME, email="Claire.Martin@ac-rennes.fr")
    rows[2] = row(SCHOOL_B, "École B", nom_circonscription=BRUZ_NAME, email="paul.le-gall@ac-rennes.fr")
    service.import_annuaire(write_csv(tmp_path / "v2.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)
    service.import_annuaire(write_csv(tmp_path / "v3.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)

    people = people_by_email(service)
    assert {email: (p.id, p.name, p.role, p.scope, p.source) for email, p in people.items()
            if email in by_hand} == by_hand
    # B's annuaire mailbox person keeps its old address rather than taking the hand-registered one.
    assert people["ecole.b@ac-rennes.fr"].source == "annuaire"
    assert people["ecole.b@ac-rennes.fr"].scope == SCHOOL_B
    assert len(people) == len({p.id for p in people.values()}) == 4


# --------------------------------------------------------------------------------------------- formats


def test_windows_1252_comma_file_with_renamed_and_reordered_headers(service: Roadmap, tmp_path: Path) -> None:
    header = ["Commune", "CP", "Nom", "RNE", "Secteur", "Code_dept", "Code_academie", "Tel", "Courriel", "Nature",
              "UAI_circonscription", "Libelle_circonscription"]
    rows = [["Saint-Médard-sur-Ille", "35250", "École élémentaire Jean-Macé", SCHOOL_A, "PRIVE", "35", "14",
             "02 99 55 20 10", "ecole.jean-mace@ac-rennes.fr", "151", BRUZ, BRUZ_NAME],
            ["Rennes", "35000", "École maternelle Léon Grimault", SCHOOL_B, "Public", "35", "14", "0299000001", "",
             "101", BRUZ, BRUZ_NAME]]
    path = write_csv(tmp_path / "extrait-excel.csv", header, rows, delimiter=",", encoding="cp1252")
    assert "é".encode("cp1252") in path.read_bytes()  # really Windows-1252, not UTF-8

    report = service.import_annuaire(path, by=ADMIN_EMAIL)
    assert report.rejected == [] and report.schools_created == 2
    school = get_school(service, SCHOOL_A)
    assert school.name == "École élémentaire Jean-Macé" and school.commune == "Saint-Médard-sur-Ille"
    assert (school.postal_code, school.sector, school.departement_code) == ("35250", "Privé", "035")
    assert (school.phone, school.nature_code, school.circonscription_uai) == ("0299552010", "151", BRUZ)
    assert get_school(service, SCHOOL_B).name == "École maternelle Léon Grimault"
    with service.session() as session:
        circonscription = session.get(Circonscription, BRUZ)
    assert circonscription is not None and circonscription.name == BRUZ_NAME


def test_xlsx_with_numbers_stored_as_numbers(service: Roadmap, tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(ANNUAIRE_HEADER)
    sheet.append([BRUZ, BRUZ_NAME, "Service Administratif", "Public", "", "", 35170, "Bruz", 35, 14,
                  "Ille-et-Vilaine", "Rennes", 299251865, BRUZ_MAILBOX, "", 809])
    sheet.append([SCHOOL_A, "Ecole primaire publique les Lucioles", "Ecole", "Public", "6 rue PHILIPPE", None, 35580,
                  "Baulon", 35, 14, "Ille-et-Vilaine", "Rennes", 299853802, "ecole.a@ac-rennes.fr", BRUZ_NAME, 151])
    path = tmp_path / "extrait.xlsx"
    workbook.save(path)

    report = service.import_annuaire(path, by=ADMIN_EMAIL)
    assert report.rejected == [] and report.schools_created == 1 and report.circonscriptions == 1
    school = get_school(service, SCHOOL_A)
    assert (school.postal_code, school.departement_code, school.phone) == ("35580", "035", "0299853802")
    assert (school.nature_code, school.locality, school.circonscription_uai) == ("151", "", BRUZ)
    with service.session() as session:
        departement = session.get(Departement, "035")
        academie = session.get(Academie, "14")
    assert departement is not None and departement.academie_code == "14"
    assert academie is not None and academie.holiday_zone == "B"
    assert people_by_email(service)[BRUZ_MAILBOX].scope == BRUZ


# --------------------------------------------------------------------------------------- bad rows/files


def bad_rows_file(tmp_path: Path) -> Path:
    rows = [row(SCHOOL_A, "École A"),  # line 2
            row(SCHOOL_B[:-1] + ("A" if SCHOOL_B[-1] != "A" else "B"), "École B"),  # line 3: wrong key letter
            row(SCHOOL_C, "   "),  # line 4: empty name
            row(uai("0351004"), "École D")]  # line 5
    return write_csv(tmp_path / "extrait.csv", ANNUAIRE_HEADER, rows)


def test_bad_rows_are_rejected_with_their_line_and_good_rows_imported(service: Roadmap, tmp_path: Path) -> None:
    report = service.import_annuaire(bad_rows_file(tmp_path), by=ADMIN_EMAIL)
    assert [error.line for error in report.rejected] == [3, 4]
    assert "lettre clé" in report.rejected[0].reason and SCHOOL_B in report.rejected[0].reason
    assert "nom" in report.rejected[1].reason and "vide" in report.rejected[1].reason
    assert report.schools_created == 2
    with service.session() as session:
        assert set(session.exec(select(School.uai)).all()) == {SCHOOL_A, uai("0351004")}
    assert counts(service)["WorkflowInstance"] == 2


def test_cli_import_with_rejected_rows_exits_3_and_names_the_lines(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "import", "annuaire", bad_rows_file(tmp_path), "--by", ADMIN_EMAIL)
    assert code == 3
    assert "2 écoles" in out
    assert "ligne 3" in err and "ligne 4" in err and "lettre clé" in err and "2 ligne(s) rejetée(s)" in err
    assert "ligne 2" not in err and "ligne 5" not in err
    assert {school["uai"] for school in run_json(capsys, "school", "list")} == {SCHOOL_A, uai("0351004")}

    code, out, err = run_cli(capsys, "import", "annuaire", bad_rows_file(tmp_path), "--by", ADMIN_EMAIL, "--json")
    assert code == 3
    assert "2 ligne(s) rejetée(s)" in err
    assert [error["line"] for error in json.loads(out)["rejected"]] == [3, 4]


def test_cli_shows_a_rejected_value_as_it_is_in_the_file(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Reasons quote the file's cells: they are data, not console markup, and must reach the user intact."""
    rows = [row(SCHOOL_A, "École A"), row(SCHOOL_B, "École B", sector="[inconnu]")]
    code, out, err = run_cli(capsys, "import", "annuaire", write_csv(tmp_path / "extrait.csv", ANNUAIRE_HEADER, rows),
                             "--by", ADMIN_EMAIL)
    assert code == 3 and "1 écoles" in out
    assert "ligne 3" in err and "« [inconnu] »" in err, err


def missing_column_file(tmp_path: Path) -> Path:
    header = [h for h in ANNUAIRE_HEADER if h != "Code postal"]
    rows = [[cell for h, cell in zip(ANNUAIRE_HEADER, row(SCHOOL_A, "École A"), strict=True) if h != "Code postal"]]
    return write_csv(tmp_path / "sans-code-postal.csv", header, rows)


def test_a_file_missing_a_required_column_imports_nothing(service: Roadmap, tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as raised:
        service.import_annuaire(missing_column_file(tmp_path), by=ADMIN_EMAIL)
    message = str(raised.value)
    assert "sans-code-postal.csv" in message and "code postal" in message and "Code_postal" in message
    assert set(counts(service).values()) == {0}


def test_cli_import_of_a_file_missing_a_required_column_exits_1(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "import", "annuaire", missing_column_file(tmp_path), "--by", ADMIN_EMAIL)
    assert code == 1 and out == ""
    assert err.startswith("Erreur") and "colonnes obligatoires" in err and "code postal" in err
    assert run_json(capsys, "school", "list") == []


# --------------------------------------------------------------------------------------------- territory


def test_holiday_zone_comes_from_the_territory_file(service: Roadmap, tmp_path: Path) -> None:
    rows = [row(SCHOOL_A, "École A"),
            row(uai("0941001"), "École de Créteil", departement="094", academie="24", postal_code="94000",
                Libelle_departement="Val-de-Marne", Libelle_academie="")]
    service.import_annuaire(write_csv(tmp_path / "extrait.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)
    with service.session() as session:
        academies = {a.code: (a.name, a.holiday_zone) for a in session.exec(select(Academie)).all()}
    assert academies == {"14": ("Rennes", "B"), "24": ("Créteil", "C")}


def test_each_academie_gets_its_roadmap_definition(service: Roadmap, tmp_path: Path) -> None:
    schools = {
        uai("0381001"): ("038", "08", "grenoble"),
        uai("0131001"): ("013", "02", "aix_marseille"),
        SCHOOL_A: ("035", "14", "national"),
        uai("0941001"): ("094", "24", "national"),
    }
    rows = [row(code, f"École {departement}", departement=departement, academie=academie, Libelle_academie="",
                Libelle_departement="")
            for code, (departement, academie, _) in schools.items()]
    report = service.import_annuaire(write_csv(tmp_path / "extrait.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)
    assert report.rejected == [] and report.schools_created == 4
    for code, (_, _, definition) in schools.items():
        instance, history = instance_of(service, code)
        assert instance.definition_id == definition, code
        assert instance.state == "definition"
        assert [(h.event, h.target) for h in history] == [("start", "definition")]
    grenoble = service.definitions["grenoble"]
    council = grenoble.step("school_council")
    assert council is not None and council.item("directory_connection_request") is not None


def test_circonscription_name_match_ignores_case_and_accents(service: Roadmap, tmp_path: Path) -> None:
    rows = [bruz_office(),
            row(SCHOOL_A, "École A", nom_circonscription="CIRCONSCRIPTION D'INSPECTION DU 1ER DEGRE DE  BRUZ"),
            row(SCHOOL_B, "École B", nom_circonscription="Circonscription de Nulle-Part")]
    report = service.import_annuaire(write_csv(tmp_path / "extrait.csv", ANNUAIRE_HEADER, rows), by=ADMIN_EMAIL)
    assert get_school(service, SCHOOL_A).circonscription_uai == BRUZ
    assert get_school(service, SCHOOL_B).circonscription_uai is None
    assert report.without_circonscription == [SCHOOL_B]
