"""Establishments an annuaire extract marks closed: their mailboxes leave the directory (retention), the rest stays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from roadmap.models import DepartedPerson, School
from roadmap.service import AdministrationRefused, Roadmap
from roadmap.settings import Settings
from roadmap.views import audit_lines
from tests.factories import ADMIN_EMAIL, ANNUAIRE_HEADER, FIXED_NOW, make_roadmap, write_csv
from tests.roadmap.test_cli import run_cli
from tests.roadmap.test_directory import (
    BRUZ,
    BRUZ_MAILBOX,
    BRUZ_NAME,
    SCHOOL_A,
    SCHOOL_B,
    SCHOOL_C,
    bruz_office,
    counts,
    people_by_email,
    row,
    uai,
)
from workflows.models import WorkflowInstance

HEADER = [*ANNUAIRE_HEADER, "etat"]
MAILBOX_A = f"ecole.{SCHOOL_A.lower()}@ac-rennes.fr"
MAILBOX_B = f"ecole.{SCHOOL_B.lower()}@ac-rennes.fr"
MAILBOX_C = f"ecole.{SCHOOL_C.lower()}@ac-rennes.fr"
BY_HAND = "claire.martin@ac-rennes.fr"  # the director of school B, registered by hand
LATER = FIXED_NOW + timedelta(days=30)


def school(uai_: str, mailbox: str, state: str = "OUVERT", **columns: str) -> list[str]:
    return [*row(uai_, f"École {uai_}", circonscription=BRUZ_NAME, email=mailbox, **columns), state]


def office(state: str = "OUVERT") -> list[str]:
    return [*bruz_office(), state]


def extract(tmp_path: Path, name: str, *rows: list[str]) -> Path:
    return write_csv(tmp_path / name, HEADER, list(rows))


def first_import(settings: Settings, tmp_path: Path) -> Roadmap:
    """Three schools of Bruz and its office, each with its mailbox; a director of B registered by hand."""
    roadmap = make_roadmap(settings)
    roadmap.import_annuaire(extract(tmp_path, "rentree.csv", office(), school(SCHOOL_A, MAILBOX_A),
                                    school(SCHOOL_B, MAILBOX_B), school(SCHOOL_C, MAILBOX_C)), by=ADMIN_EMAIL)
    roadmap.add_person(BY_HAND, "director", SCHOOL_B, "Claire Martin", by=ADMIN_EMAIL)
    return roadmap


def closing_file(tmp_path: Path) -> Path:
    """A later, partial extract: A, B and the office closed, C open; a school the tool never held closed too."""
    never_held = uai("0351009")
    return extract(tmp_path, "fermetures.csv", office("FERME"), school(SCHOOL_A, MAILBOX_A, "FERME"),
                   school(SCHOOL_B, MAILBOX_B, "FERME"), school(SCHOOL_C, MAILBOX_C), school(never_held, "", "FERME"))


def departures(roadmap: Roadmap) -> dict[str, tuple[str, datetime]]:
    with roadmap.session() as session:
        rows = session.exec(select(DepartedPerson).order_by(col(DepartedPerson.id))).all()
    # SQLite gives back naive UTC datetimes, PostgreSQL aware ones.
    return {row.email or row.pseudonym: (row.reason, row.left_at.replace(tzinfo=row.left_at.tzinfo or UTC))
            for row in rows}


def test_closed_establishments_lose_their_mailboxes_and_keep_their_roadmap(settings: Settings, tmp_path: Path) -> None:
    first_import(settings, tmp_path)
    later = make_roadmap(settings, now=LATER, admin=False)
    report = later.import_annuaire(closing_file(tmp_path), by=ADMIN_EMAIL)

    assert [(c.uai, c.kind) for c in report.closed] == [(BRUZ, "circonscription"), (SCHOOL_A, "school"),
                                                        (SCHOOL_B, "school")]
    assert report.closed_unknown == 1
    assert sorted(p.email for p in report.departed) == sorted([BRUZ_MAILBOX, MAILBOX_A, MAILBOX_B])
    assert [(p.email, p.role, p.scope) for p in report.kept_manual] == [(BY_HAND, "director", SCHOOL_B)]
    assert set(people_by_email(later)) == {BY_HAND, MAILBOX_C}
    assert departures(later) == {address: ("closed", LATER) for address in (BRUZ_MAILBOX, MAILBOX_A, MAILBOX_B)}
    # The schools and their roadmaps stay: history is evidence.
    with later.session() as session:
        assert set(session.exec(select(School.uai)).all()) == {SCHOOL_A, SCHOOL_B, SCHOOL_C}
        assert len(session.exec(select(WorkflowInstance)).all()) == 3
    # Traced: the import with what it closed, then one line per mailbox that left (its address as the target).
    log = audit_lines(later)
    [imported] = [line for line in log if line.action == "import.annuaire" and line.target == "fermetures.csv"]
    assert imported.details is not None
    assert (imported.details["closed"], imported.details["closed_unknown"], imported.details["contacts_left"],
            imported.details["kept_manual"]) == ([BRUZ, SCHOOL_A, SCHOOL_B], 1, 3, 1)
    assert sorted((line.target, line.actor, (line.details or {}).get("scope")) for line in log
                  if line.action == "directory.closed") == sorted(
        [(BRUZ_MAILBOX, ADMIN_EMAIL, BRUZ), (MAILBOX_A, ADMIN_EMAIL, SCHOOL_A), (MAILBOX_B, ADMIN_EMAIL, SCHOOL_B)])


def test_importing_the_same_file_again_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    first_import(settings, tmp_path)
    make_roadmap(settings, now=LATER, admin=False).import_annuaire(closing_file(tmp_path), by=ADMIN_EMAIL)
    before, left, log = counts(make_roadmap(settings, admin=False)), departures(make_roadmap(settings, admin=False)), \
        len(audit_lines(make_roadmap(settings, admin=False)))

    again = make_roadmap(settings, now=LATER + timedelta(days=5), admin=False)
    report = again.import_annuaire(closing_file(tmp_path), by=ADMIN_EMAIL)

    assert len(report.closed) == 3 and report.departed == [] and len(report.kept_manual) == 1
    assert counts(again) == before
    assert departures(again) == left  # no second departure: the delay still runs from the first one
    assert [line.action for line in audit_lines(again)[log:]] == ["import.annuaire"]


def test_absence_from_a_file_is_no_closure(settings: Settings, tmp_path: Path) -> None:
    roadmap = first_import(settings, tmp_path)
    report = roadmap.import_annuaire(extract(tmp_path, "filtre.csv", school(SCHOOL_C, MAILBOX_C)), by=ADMIN_EMAIL)
    assert report.closed == [] and report.departed == []
    assert set(people_by_email(roadmap)) == {BRUZ_MAILBOX, MAILBOX_A, MAILBOX_B, MAILBOX_C, BY_HAND}
    assert departures(roadmap) == {}


def test_a_reopened_school_gets_its_mailbox_back(settings: Settings, tmp_path: Path) -> None:
    first_import(settings, tmp_path)
    make_roadmap(settings, now=LATER, admin=False).import_annuaire(closing_file(tmp_path), by=ADMIN_EMAIL)

    reopened = make_roadmap(settings, now=LATER + timedelta(days=60), admin=False)
    report = reopened.import_annuaire(extract(tmp_path, "reouverture.csv", school(SCHOOL_A, MAILBOX_A), office()),
                                      by=ADMIN_EMAIL)

    assert report.closed == [] and report.contacts == 2
    people = people_by_email(reopened)
    assert (people[MAILBOX_A].scope, people[MAILBOX_A].source) == (SCHOOL_A, "annuaire")
    assert (people[BRUZ_MAILBOX].role, people[BRUZ_MAILBOX].scope) == ("ien", BRUZ)
    assert set(departures(reopened)) == {MAILBOX_B}  # nothing left to anonymise for A and the office
    purged = make_roadmap(settings, now=LATER + timedelta(days=400), admin=False).purge(by=ADMIN_EMAIL)
    assert [d.email for d in purged] == [MAILBOX_B]


def test_a_school_reopened_after_the_anonymisation_comes_back_and_the_pseudonym_stays(
    settings: Settings, tmp_path: Path
) -> None:
    first_import(settings, tmp_path)
    make_roadmap(settings, now=LATER, admin=False).import_annuaire(closing_file(tmp_path), by=ADMIN_EMAIL)
    much_later = make_roadmap(settings, now=LATER + timedelta(days=400), admin=False)
    assert {d.email for d in much_later.purge(by=ADMIN_EMAIL)} == {MAILBOX_A, MAILBOX_B, BRUZ_MAILBOX}

    much_later.import_annuaire(extract(tmp_path, "reouverture.csv", school(SCHOOL_A, MAILBOX_A)), by=ADMIN_EMAIL)

    assert MAILBOX_A in people_by_email(much_later)
    with much_later.session() as session:
        held = session.exec(select(DepartedPerson)).all()
    assert len(held) == 3 and all(d.email is None and d.anonymised_at is not None for d in held)


def test_a_mailbox_removed_by_hand_and_brought_back_by_an_import_is_no_longer_due(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = first_import(settings, tmp_path)
    roadmap.remove_person(MAILBOX_C, by=ADMIN_EMAIL)
    assert set(departures(roadmap)) == {MAILBOX_C}
    roadmap.import_annuaire(extract(tmp_path, "maj.csv", school(SCHOOL_C, MAILBOX_C)), by=ADMIN_EMAIL)
    assert MAILBOX_C in people_by_email(roadmap) and departures(roadmap) == {}


def test_a_closed_row_acts_only_in_the_departement_it_names(settings: Settings, tmp_path: Path) -> None:
    roadmap = first_import(settings, tmp_path)
    elsewhere = school(SCHOOL_A, MAILBOX_A, "FERME", departement="094", academie="24")
    report = roadmap.import_annuaire(extract(tmp_path, "ailleurs.csv", elsewhere), by=ADMIN_EMAIL)
    assert report.closed == [] and report.closed_unknown == 1
    assert MAILBOX_A in people_by_email(roadmap)


def test_a_cpd_may_not_import_closures_outside_their_departement(settings: Settings, tmp_path: Path) -> None:
    roadmap = first_import(settings, tmp_path)
    roadmap.add_person("cpd.35@ac-rennes.fr", "cpd", "035", "CPD d'Ille-et-Vilaine", by=ADMIN_EMAIL)
    closures = extract(tmp_path, "fermetures-94.csv", school(SCHOOL_C, MAILBOX_C),
                       school(uai("0941001"), "", "FERME", departement="094", academie="24"))
    with pytest.raises(AdministrationRefused) as refused:
        roadmap.import_annuaire(closures, by="cpd.35@ac-rennes.fr")
    assert "094" in str(refused.value)
    in_scope = extract(tmp_path, "fermetures-35.csv", school(SCHOOL_A, MAILBOX_A, "FERME"))
    assert [c.uai for c in roadmap.import_annuaire(in_scope, by="cpd.35@ac-rennes.fr").closed] == [SCHOOL_A]
    assert MAILBOX_A not in people_by_email(roadmap)


def test_a_mailbox_handed_from_a_closed_school_to_an_open_one_moves_in_one_import(
    settings: Settings, tmp_path: Path
) -> None:
    roadmap = first_import(settings, tmp_path)
    report = roadmap.import_annuaire(
        extract(tmp_path, "fusion.csv", school(SCHOOL_A, MAILBOX_A, "FERME"), school(SCHOOL_C, MAILBOX_A)),
        by=ADMIN_EMAIL)
    assert [p.email for p in report.departed] == [MAILBOX_A]
    people = people_by_email(roadmap)
    assert people[MAILBOX_A].scope == SCHOOL_C and MAILBOX_C not in people
    assert set(departures(roadmap)) == {MAILBOX_C}  # A's mailbox is held again; C's old one has left


def test_the_cli_report_names_closures_departures_and_people_kept(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    roadmap = make_roadmap(cli_env, admin=False)
    roadmap.import_annuaire(extract(tmp_path, "rentree.csv", office(), school(SCHOOL_A, MAILBOX_A),
                                    school(SCHOOL_B, MAILBOX_B)), by=ADMIN_EMAIL)
    roadmap.add_person(BY_HAND, "director", SCHOOL_B, "Claire Martin", by=ADMIN_EMAIL)
    closing = closing_file(tmp_path)

    code, out, err = run_cli(capsys, "import", "annuaire", closing, "--by", ADMIN_EMAIL)
    assert code == 0, err
    assert "3 établissement(s) déjà connu(s) marqué(s) fermé(s)" in out
    assert f"école {SCHOOL_A} École {SCHOOL_A}" in out
    assert f"circonscription {BRUZ} {BRUZ_NAME}" in out
    assert "1 établissement(s) fermé(s) inconnu(s)" in out
    assert f"2 parcours suspendu(s) (plus de relances ; repris tout seul si l'école rouvre dans un prochain " \
           f"fichier) : {SCHOOL_A}, {SCHOOL_B}." in out
    assert 'roadmap school abandon UAI --note "école fermée"' in out
    assert "3 contact(s) de l'annuaire retiré(s)" in out and MAILBOX_A in out and BRUZ_MAILBOX in out
    assert "Conservé(e) : Claire Martin <claire.martin@ac-rennes.fr> (direction d'école" in out
    assert "people remove" in out

    code, out, err = run_cli(capsys, "import", "annuaire", closing, "--by", ADMIN_EMAIL, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [(c["uai"], c["kind"]) for c in report["closed"]] == [(BRUZ, "circonscription"), (SCHOOL_A, "school"),
                                                                 (SCHOOL_B, "school")]
    assert report["closed_unknown"] == 1  # the school the tool never held
    assert report["contacts_left"] == []  # they left at the first import of this file
    assert report["suspended"] == [] and report["resumed"] == []  # suspended at the first import already
    assert [(p["email"], p["name"], p["source"]) for p in report["kept_manual"]] == [
        (BY_HAND, "Claire Martin", "manual")]

    code, out, err = run_cli(capsys, "import", "annuaire", closing, "--by", ADMIN_EMAIL)
    assert code == 0 and "Aucun contact à retirer" in out


def states(roadmap: Roadmap) -> dict[str, str]:
    with roadmap.session() as session:
        return {i.subject: i.state for i in session.exec(select(WorkflowInstance)).all()}


def test_a_closed_school_s_roadmap_is_suspended_and_resumes_if_it_reopens(settings: Settings, tmp_path: Path) -> None:
    roadmap = first_import(settings, tmp_path)
    roadmap.fire(SCHOOL_C, "suspend", by=ADMIN_EMAIL, note="travaux dans l'école")  # a person's decision
    with roadmap.session() as session:
        before = roadmap.instance(session, SCHOOL_A).state
    later = make_roadmap(settings, now=LATER, admin=False)
    report = later.import_annuaire(closing_file(tmp_path), by=ADMIN_EMAIL)

    assert report.suspended == [SCHOOL_A, SCHOOL_B] and report.resumed == []
    assert states(later) == {
        SCHOOL_A: "suspended", SCHOOL_B: "suspended", SCHOOL_C: "suspended"}
    with later.session() as session:
        history = later.engine.history(session, later.instance(session, SCHOOL_A))
    assert (history[-1].event, history[-1].actor, history[-1].note) == (
        "suspend", ADMIN_EMAIL, "établissement fermé dans l'annuaire (import de fermetures.csv)")
    [imported] = [line for line in audit_lines(later) if line.action == "import.annuaire"
                  and line.target == "fermetures.csv"]
    assert (imported.details or {})["suspended"] == [SCHOOL_A, SCHOOL_B]
    # The same file again: already suspended, nothing fired twice.
    again = make_roadmap(settings, now=LATER + timedelta(days=1), admin=False)
    assert again.import_annuaire(closing_file(tmp_path), by=ADMIN_EMAIL).suspended == []

    # A reopens (listed open); C's suspension was a person's, not a closure's: the import leaves it alone.
    reopened = make_roadmap(settings, now=LATER + timedelta(days=60), admin=False)
    report = reopened.import_annuaire(extract(tmp_path, "reouverture.csv", office(), school(SCHOOL_A, MAILBOX_A),
                                              school(SCHOOL_C, MAILBOX_C)), by=ADMIN_EMAIL)
    assert report.resumed == [SCHOOL_A] and report.suspended == []
    assert states(reopened) == {SCHOOL_A: before, SCHOOL_B: "suspended", SCHOOL_C: "suspended"}
    with reopened.session() as session:
        last = reopened.engine.history(session, reopened.instance(session, SCHOOL_A))[-1]
    assert (last.event, last.note) == ("resume", "établissement rouvert dans l'annuaire (import de reouverture.csv)")


def test_a_closed_school_whose_roadmap_ended_is_left_as_it_is(settings: Settings, tmp_path: Path) -> None:
    roadmap = first_import(settings, tmp_path)
    roadmap.fire(SCHOOL_A, "abandon", by=ADMIN_EMAIL, note="projet arrêté")
    report = make_roadmap(settings, now=LATER, admin=False).import_annuaire(closing_file(tmp_path), by=ADMIN_EMAIL)
    assert report.suspended == [SCHOOL_B]
    assert states(roadmap)[SCHOOL_A] == "abandoned"
