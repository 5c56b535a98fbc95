"""Returned forms: counts per school (never names), recorded by the school's director, its CPD or an administrator
with a trace in the audit log, refused for anyone else or for a count that is not a whole number ≥ 0; shown by
`forms show`, summed per département in the dashboard. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from roadmap.errors import InvalidValue, NotFound
from roadmap.models import AuditEntry
from roadmap.service import AdministrationRefused, Roadmap
from roadmap.settings import Settings
from roadmap.views import dashboard_view
from tests.factories import ADMIN_EMAIL
from tests.roadmap.test_cli import OTHER_DIRECTOR, ok, run_cli, small_db  # noqa: F401  (small_db is a fixture)
from tests.roadmap.walk import CPD, DANE, DIRECTOR, IEN, OTHER_SCHOOL, SCHOOL


@pytest.fixture
def roadmap(settings: Settings, tmp_path: Path) -> Roadmap:
    from tests.roadmap.test_walkthrough import small_roadmap

    return small_roadmap(settings, tmp_path)


def audit_of(roadmap: Roadmap, action: str) -> list[AuditEntry]:
    with roadmap.session() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


def test_the_director_records_counts_and_the_audit_log_keeps_before_and_after(roadmap: Roadmap) -> None:
    assert roadmap.returned_forms(SCHOOL).updated_at is None
    view = roadmap.record_returned_forms(SCHOOL, {"acknowledgements": "18", "authorisations": 15,
                                                  "activation_codes": "22"}, by=DIRECTOR)
    assert (view.acknowledgements, view.authorisations, view.activation_codes) == (18, 15, 22)
    later = roadmap.record_returned_forms(SCHOOL, {"acknowledgements": "20"}, by=CPD)  # the others are kept
    assert (later.acknowledgements, later.authorisations, later.activation_codes, later.updated_by) == (
        20, 15, 22, CPD)
    shown = roadmap.returned_forms(SCHOOL, roadmap.viewer(IEN))  # the IEN reads, within their circonscription
    assert shown == later and shown.updated_at is not None
    entries = audit_of(roadmap, "forms.record")
    assert [(e.actor, e.target) for e in entries] == [(DIRECTOR, SCHOOL), (CPD, SCHOOL)]
    assert entries[1].details is not None and entries[1].details["changes"] == {"acknowledgements": [18, 20]}
    roadmap.record_returned_forms(SCHOOL, {"activation_codes": 0}, by=ADMIN_EMAIL)
    assert roadmap.returned_forms(SCHOOL).activation_codes == 0


@pytest.mark.parametrize(("raw", "reason"), [
    ("-3", "ne peut pas être négatif"),
    (-1, "ne peut pas être négatif"),
    ("2,5", "nombre entier est attendu"),
    ("douze", "nombre entier est attendu"),
    ("", "nombre entier est attendu"),
    ("1000000", "vérifiez la saisie"),
])
def test_a_count_that_is_not_a_whole_number_is_refused_and_nothing_changes(roadmap: Roadmap, raw: object,
                                                                          reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        roadmap.record_returned_forms(SCHOOL, {"authorisations": raw}, by=DIRECTOR)
    assert reason in caught.value.message and "autorisations de publication rendues" in caught.value.message
    assert roadmap.returned_forms(SCHOOL).updated_at is None and not audit_of(roadmap, "forms.record")


def test_only_the_director_the_cpd_or_an_administrator_records(roadmap: Roadmap) -> None:
    for who in (IEN, DANE):
        with pytest.raises(AdministrationRefused) as caught:
            roadmap.record_returned_forms(SCHOOL, {"acknowledgements": 1}, by=who)
        assert "seuls la direction de l'école" in caught.value.message
    refused = audit_of(roadmap, "refused")
    assert [(e.actor, e.details and e.details["attempted"]) for e in refused] == [
        (IEN, "forms.record"), (DANE, "forms.record")]
    with pytest.raises(NotFound):  # another school's director: the school is not in sight
        roadmap.record_returned_forms(SCHOOL, {"acknowledgements": 1}, by=OTHER_DIRECTOR)
    with pytest.raises(NotFound):
        roadmap.returned_forms(SCHOOL, roadmap.viewer(OTHER_DIRECTOR))
    with pytest.raises(InvalidValue, match="aucun nombre"):
        roadmap.record_returned_forms(SCHOOL, {"acknowledgements": None}, by=DIRECTOR)
    assert roadmap.returned_forms(SCHOOL).updated_at is None


def test_the_dashboard_sums_them_per_departement_in_the_viewers_scope(roadmap: Roadmap) -> None:
    assert dashboard_view(roadmap).returned_forms == []
    roadmap.record_returned_forms(SCHOOL, {"acknowledgements": 10, "authorisations": 8, "activation_codes": 12},
                                  by=DIRECTOR)
    roadmap.record_returned_forms(OTHER_SCHOOL, {"acknowledgements": 5, "activation_codes": 7}, by=CPD)
    (total,) = dashboard_view(roadmap, viewer=roadmap.viewer(CPD)).returned_forms
    assert (total.departement, total.schools_reporting, total.acknowledgements, total.authorisations,
            total.activation_codes) == ("035", 2, 15, 8, 19)
    (own,) = dashboard_view(roadmap, viewer=roadmap.viewer(DIRECTOR)).returned_forms
    assert (own.schools_reporting, own.acknowledgements) == (1, 10)
    assert dashboard_view(roadmap, departement="022").returned_forms == []


def test_forms_record_and_show_on_the_command_line(small_db: Settings,  # noqa: F811
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "forms", "record", SCHOOL, "--acknowledgements", "18", "--authorisations", "15",
             "--codes", "22", "--by", DIRECTOR)
    assert "18 accusé(s) de réception, 15 autorisation(s) de publication, 22 code(s) d'activation remis" in out
    shown = json.loads(ok(capsys, "forms", "show", SCHOOL, "--json"))
    assert (shown["uai"], shown["acknowledgements"], shown["authorisations"], shown["activation_codes"],
            shown["updated_by"]) == (SCHOOL, 18, 15, 22, DIRECTOR)
    assert "Accusés de réception rendus : 18" in ok(capsys, "forms", "show", SCHOOL)
    assert "Formulaires rendus, département 035 (1 école(s)) : 18 accusé(s)" in ok(capsys, "dashboard")

    code, out, err = run_cli(capsys, "forms", "record", SCHOOL, "--codes", "-4", "--by", DIRECTOR)
    assert code == 1 and "ne peut pas être négatif" in err and "codes d'activation remis" in err
    code, out, err = run_cli(capsys, "forms", "record", SCHOOL, "--codes", "4.5", "--by", DIRECTOR)
    assert code == 1 and "nombre entier" in err
    code, out, err = run_cli(capsys, "forms", "record", SCHOOL, "--codes", "4", "--by", IEN)
    assert code == 1 and "Action refusée" in err
    code, out, err = run_cli(capsys, "forms", "show", "0350122", "--as", DIRECTOR)
    assert code == 1 and "introuvable" in err
    assert json.loads(ok(capsys, "forms", "show", SCHOOL, "--json"))["activation_codes"] == 22
