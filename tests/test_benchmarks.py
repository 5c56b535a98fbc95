"""The national benchmark dataset (benchmarks/dataset.py), small: an annuaire in both header layouts imports through
the product, and a generated database holds schools at every step with lawful histories."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from benchmarks.dataset import ADMIN_EMAIL, HEADERS, bench_settings, build_database, write_annuaire
from roadmap.models import School
from roadmap.service import Roadmap
from roadmap.uai import is_valid_uai


@pytest.mark.parametrize("variant", [0, 1])
def test_annuaire_of_300_schools_imports_through_the_product(tmp_path: Path, variant: int) -> None:
    summary = write_annuaire(tmp_path / "annuaire.csv", 300, variant)
    again = write_annuaire(tmp_path / "again.csv", 300, variant)
    assert summary.path.read_bytes() == again.path.read_bytes()  # deterministic
    with summary.path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert tuple(rows[0]) == HEADERS[variant]
    uais = [row["Identifiant_de_l_etablissement"] for row in rows]
    assert all(is_valid_uai(uai) for uai in uais) and len(set(uais)) == len(uais)
    schools = [row for row in rows if row["Type_etablissement"] == "Ecole"]
    offices = [row for row in rows if row["code_nature"] == "809"]
    assert len(schools) == 300 and len(offices) == summary.circonscriptions >= len(summary.departements)
    assert len(summary.departements) == 101 and len(summary.academies) == 30
    assert {"02A", "02B", "971", "976"} <= summary.departements
    if variant == 1:
        assert {row["code_circonscription"] for row in schools} <= {
            row["Identifiant_de_l_etablissement"] for row in offices
        }

    roadmap = Roadmap(bench_settings(f"sqlite:///{tmp_path / 'import.sqlite3'}", tmp_path / "home"))
    roadmap.init()
    roadmap.bootstrap_admin(ADMIN_EMAIL, "Administration du banc d'essai")
    report = roadmap.import_annuaire(summary.path, by=ADMIN_EMAIL)
    assert (report.schools_created, report.circonscriptions) == (300, summary.circonscriptions)
    assert (report.rejected_count, report.ignored, report.without_circonscription) == (0, summary.others, [])
    with roadmap.db.connect() as connection:
        departements = set(connection.execute(text("SELECT departement_code FROM school")).scalars())
        mismatched = connection.execute(
            text(
                "SELECT COUNT(*) FROM school s JOIN circonscription c ON c.uai = s.circonscription_uai "
                "WHERE c.departement_code = s.departement_code"
            )
        ).scalar_one()
        academies = connection.execute(text("SELECT COUNT(*) FROM academie")).scalar_one()
    roadmap.db.dispose()
    assert departements == summary.departements and academies == 30
    assert mismatched == 300  # every school in a circonscription of its own département


def test_database_of_200_schools_has_schools_at_every_step_with_their_histories(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'national.sqlite3'}"
    built = build_database(url, 200, home=tmp_path / "home")
    assert built.schools == 200 and sum(built.states.values()) == 200
    assert {"definition", "school_council.awaiting_approval", "transmission.submitted", "deployed"} <= set(built.states)
    assert 15 * 200 <= built.history_rows <= 30 * 200
    roadmap = Roadmap(bench_settings(url, tmp_path / "home")).ready()
    with roadmap.db.connect() as connection:
        counts = connection.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM school), (SELECT COUNT(*) FROM workflow_instance), "
                "(SELECT COUNT(*) FROM workflow_history), (SELECT COUNT(*) FROM workflow_instance i WHERE i.version "
                "<> (SELECT COUNT(*) FROM workflow_history h WHERE h.instance_id = i.id))"
            )
        ).one()
    assert tuple(counts) == (200, 200, built.history_rows, 0)  # one version per history row
    with roadmap.session() as session:
        for uai in built.move_ready[:5]:  # the guards of "advance" hold on the checklist values written
            assert "advance" in roadmap.engine.allowed_events(session, roadmap.instance(session, uai))
        for uai in built.check_ready[:5]:
            assert roadmap.engine.blockers(session, roadmap.instance(session, uai), "advance")
        school = session.get(School, built.move_ready[0])
        assert school is not None
    cpd = built.cpd_by_departement[school.departement_code]
    assert roadmap.fire(school.uai, "advance", by=cpd).target == "funding"  # through the service, as the CPD
    roadmap.db.dispose()


def test_web_benchmark_measures_the_dashboard_through_http_against_a_served_app(tmp_path: Path) -> None:
    from benchmarks import web

    output = tmp_path / "web.json"
    code = web.main(["--schools", "150", "--backend", "sqlite", "--runs", "3", "--output", str(output),
                     "--work-dir", str(tmp_path / "work")])
    assert code == 0
    figures = json.loads(output.read_text())["sqlite"]
    for key in ("dashboard_departement_p95_ms", "dashboard_national_p95_ms", "api_board_p95_ms"):
        assert figures[key] > 0 and figures["details"][key]["baseline"] > 0  # measured, next to /sante
    assert 30 < figures["web_peak_mb"] < 1000  # the served process's own VmHWM, not this one's
    assert figures["details"]["export_csv_s"]["note"].startswith("150 lines")
