"""Administration is a permissioned, audited action: people, imports, restore, the first administrator."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from roadmap.errors import RoadmapError
from roadmap.models import AuditEntry, Person
from roadmap.service import AdministrationRefused, Roadmap
from roadmap.settings import Settings
from tests.factories import ADMIN_EMAIL, make_roadmap
from tests.roadmap.test_cli import ok, run_cli, run_json
from tests.roadmap.test_permissions import (
    CIRCO_A,
    CIRCO_C,
    CPD_22,
    CPD_35,
    DANE_14,
    DANE_24,
    DIRECTOR_1,
    S1,
    S3,
    S4,
    setup_roadmap,
    territory,
)

NEW = "nouvelle.personne@ac-rennes.fr"

# (manager, role, scope of the person managed, allowed)
MATRIX = [
    (ADMIN_EMAIL, "admin", "*", True),
    (ADMIN_EMAIL, "director", S4, True),
    (CPD_35, "director", S1, True),
    (CPD_35, "ien", CIRCO_A, True),
    (CPD_35, "director", S3, False),  # another département
    (CPD_35, "ien", CIRCO_C, False),
    (CPD_35, "cpd", "035", False),  # a CPD does not make CPDs
    (CPD_35, "admin", "*", False),
    (DANE_14, "director", S3, True),
    (DANE_14, "cpd", "022", True),
    (DANE_14, "ien", CIRCO_C, True),
    (DANE_14, "director", S4, False),  # académie 24
    (DANE_24, "cpd", "035", False),
    (DANE_14, "dane", "14", False),
    (DIRECTOR_1, "director", S1, False),
    ("ce.ien35.bruz@ac-rennes.fr", "director", S1, False),
    ("inconnu@ac-rennes.fr", "director", S1, False),
]


def audit_log(roadmap: Roadmap) -> list[AuditEntry]:
    return roadmap.audit_log()


@pytest.mark.parametrize(("manager", "role", "scope", "allowed"), MATRIX)
def test_who_may_register_whom(
    settings: Settings, tmp_path: Path, manager: str, role: str, scope: str, allowed: bool
) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    before = len(audit_log(roadmap))
    if allowed:
        person = roadmap.add_person(NEW, role, scope, "Nouvelle Personne", by=manager)
        entry = audit_log(roadmap)[-1]
        assert (entry.actor, entry.action, entry.target) == (manager, "people.add", NEW)
        assert entry.details == {"role": role, "scope": person.scope, "name": "Nouvelle Personne"}
        roadmap.remove_person(NEW, by=manager)
        assert audit_log(roadmap)[-1].action == "people.remove"
        return
    with pytest.raises(AdministrationRefused) as refused:
        roadmap.add_person(NEW, role, scope, "Nouvelle Personne", by=manager)
    assert refused.value.reasons
    with roadmap.session() as session:
        assert session.exec(select(Person).where(Person.email == NEW)).first() is None
    entries = audit_log(roadmap)
    assert len(entries) == before + 1 and entries[-1].action == "refused"
    assert (entries[-1].details or {})["attempted"] == "people.add"


def test_the_first_administrator_is_created_explicitly_and_only_once(settings: Settings) -> None:
    roadmap = make_roadmap(settings, admin=False)
    with pytest.raises(AdministrationRefused, match="personne inconnue"):
        roadmap.add_person(NEW, "cpd", "035", "X", by="personne@ac-rennes.fr")
    assert roadmap.people() == []  # nobody became an administrator implicitly
    first = roadmap.bootstrap_admin(" Premier.Admin@AC-Rennes.fr ", "Premier Admin")
    assert (first.email, first.role, first.scope) == ("premier.admin@ac-rennes.fr", "admin", "*")
    assert roadmap.bootstrap_admin("premier.admin@ac-rennes.fr", "Premier Admin").id == first.id  # idempotent
    with pytest.raises(RoadmapError, match="existe déjà"):
        roadmap.bootstrap_admin("autre@ac-rennes.fr", "Autre")
    assert [(e.actor, e.action) for e in audit_log(roadmap)] == [
        ("personne@ac-rennes.fr", "refused"), ("premier.admin@ac-rennes.fr", "admin.bootstrap")]


def test_the_last_administrator_cannot_be_removed(settings: Settings) -> None:
    roadmap = make_roadmap(settings)
    with pytest.raises(AdministrationRefused, match="dernier administrateur"):
        roadmap.remove_person(ADMIN_EMAIL, by=ADMIN_EMAIL)


def test_imports_are_audited_and_limited_to_the_importers_scope(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    entry = next(e for e in audit_log(roadmap) if e.action == "import.annuaire")
    assert entry.actor == ADMIN_EMAIL and (entry.details or {})["schools_created"] == 5
    for who in (CPD_35, CPD_22, DANE_14, DIRECTOR_1):  # the file spans three départements and académies
        with pytest.raises(AdministrationRefused):
            roadmap.import_annuaire(territory(tmp_path), by=who)
    assert [e.actor for e in audit_log(roadmap) if e.action == "refused"][-4:] == [CPD_35, CPD_22, DANE_14, DIRECTOR_1]


def test_the_audit_log_is_append_only(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    for statement in ("UPDATE audit_entry SET actor = 'x'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"), roadmap.db.begin() as connection:
            connection.execute(text(statement))


def test_the_cli_requires_an_actor_and_shows_the_audit_log(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_cli(capsys, "people", "add", NEW, "--role", "cpd", "--scope", "035", "--name", "X")
    assert code == 1 and "--by" in err
    ok(capsys, "import", "annuaire", territory(tmp_path), "--by", ADMIN_EMAIL)
    ok(capsys, "people", "add", CPD_35, "--role", "cpd", "--scope", "035", "--name", "Paul", "--by", ADMIN_EMAIL)
    code, _out, err = run_cli(capsys, "people", "add", NEW, "--role", "cpd", "--scope", "022", "--name", "X",
                              "--by", CPD_35)
    assert code == 1 and "ne peut pas gérer le rôle CPD" in err
    entries = run_json(capsys, "audit")
    assert [e["action"] for e in entries] == ["admin.bootstrap", "import.annuaire", "people.add", "refused"]
    assert entries[-1]["actor"] == CPD_35 and entries[-1]["details"]["attempted"] == "people.add"
    assert "action d'administration refusée" in ok(capsys, "audit")


def test_init_creates_the_first_administrator_explicitly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ROADMAP_DATABASE_URL", raising=False)
    monkeypatch.setenv("ROADMAP_HOME", str(tmp_path / "home"))
    ok(capsys, "init")
    assert run_json(capsys, "people", "list") == []  # no implicit administrator
    out = ok(capsys, "init", "--admin", "chef@ac-rennes.fr", "--name", "Cheffe de projet")
    assert "Administrateur : Cheffe de projet <chef@ac-rennes.fr>" in out
    code, _out, err = run_cli(capsys, "init", "--admin", "autre@ac-rennes.fr", "--name", "Autre")
    assert code == 1 and "existe déjà" in err
    code, _out, err = run_cli(capsys, "init", "--admin", "chef@ac-rennes.fr")
    assert code == 1 and "--name" in err
