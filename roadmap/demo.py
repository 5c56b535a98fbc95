"""Demo data: a small real extract of the annuaire, a few people, schools walked to various steps.

Everything goes through the service layer, so the demo exercises the same permissions and guards as
real use and leaves a real history.
"""

from __future__ import annotations

import contextlib
import itertools
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, func, select

from roadmap.files import Upload
from roadmap.models import Person, School
from roadmap.service import Roadmap
from roadmap.settings import PARIS

DEMO_ANNUAIRE = "annuaire-demo-ille-et-vilaine.csv"
CPD_EMAIL = "cpd.numerique35@ac-rennes.fr"
DEMO_DEPARTEMENT = "035"

SCENARIO = "scenario.toml"


@dataclass(frozen=True)
class PathStep:
    """One stop of the demo's lawful walk: the state, the checklist values entered there, the event leaving it."""

    state: str
    items: dict[str, str]
    event: str


def happy_path(data_dir: Path) -> list[PathStep]:
    """The walk declared in the scenario file (data, so no Python module names an item of the roadmap)."""
    scenario = tomllib.loads((data_dir / SCENARIO).read_text(encoding="utf-8"))
    return [
        PathStep(str(entry["state"]), {str(k): str(v) for k, v in entry.get("items", {}).items()}, str(entry["event"]))
        for entry in scenario["path"]
    ]


@dataclass
class DemoSummary:
    created: bool
    schools: int
    walked: list[tuple[str, str]]


DEMO_MINUTES = Upload(
    "compte-rendu-conseil-ecole-demo.pdf", b"%PDF-1.4\n% Compte rendu fictif du conseil d'ecole (demonstration)\n"
)


def _value(raw: str, roadmap: Roadmap) -> str:
    """Relative days ("-20") become dates before today; "@school_year" the current school year ("2026-2027")."""
    today = roadmap.engine.clock().astimezone(PARIS).date()
    if raw.lstrip("-").isdigit():
        return (today + timedelta(days=int(raw))).isoformat()
    if raw == "@school_year":
        start = today.year if today.month >= 8 else today.year - 1
        return f"{start}-{start + 1}"
    return raw


def load_demo(roadmap: Roadmap, data_dir: Path) -> DemoSummary:
    roadmap.init()
    with roadmap.session() as session:
        schools = session.exec(select(func.count()).select_from(School)).one()
    if schools:
        return DemoSummary(created=False, schools=schools, walked=[])
    people = tomllib.loads((data_dir / "people.toml").read_text(encoding="utf-8"))
    admins = roadmap.people("admin")  # a database that already has its administrator keeps it
    admin = admins[0] if admins else roadmap.bootstrap_admin(people["admin"]["email"], people["admin"]["name"])
    report = roadmap.import_annuaire(data_dir / DEMO_ANNUAIRE, by=admin.email)
    for entry in people["people"]:
        roadmap.add_person(entry["email"], entry["role"], entry["scope"], entry["name"], by=admin.email)
    scenario = tomllib.loads((data_dir / SCENARIO).read_text(encoding="utf-8"))
    path = happy_path(data_dir)
    schools = scenario["schools"]
    with backdated(roadmap, DEMO_AGE):
        for number, table in enumerate(scenario.get("tables", []), start=1):
            for entry in (e for e in schools if e.get("table") == number):
                walk(roadmap, entry["uai"], entry["until"], path, entry.get("items", {}))
            draft = roadmap.transmissions.compose(DEMO_DEPARTEMENT, by=CPD_EMAIL)
            roadmap.transmissions.send(draft.id, by=CPD_EMAIL)
            if table.get("decision") == "validate":
                roadmap.transmissions.approve(draft.id, by=table["by"])
        for agreement in scenario.get("agreements", []):
            for kind in agreement["kinds"]:
                roadmap.transmissions.add_agreement(DEMO_DEPARTEMENT, agreement["publisher"], kind,
                                                    _value(agreement["signed_on"], roadmap), by=CPD_EMAIL)
        for entry in (e for e in schools if e.get("accounts")):
            roadmap.fire(entry["uai"], "exported_to_publisher", CPD_EMAIL)
            if entry["accounts"] == "created":
                roadmap.fire(entry["uai"], "accounts_created", CPD_EMAIL)
                for key, raw in entry.get("then", {}).items():  # in setup: what its family documents need
                    roadmap.check(entry["uai"], key.partition(".")[2], _value(str(raw), roadmap), CPD_EMAIL)
        for entry in (e for e in schools if "table" not in e):
            walk(roadmap, entry["uai"], entry["until"], path, entry.get("items", {}))
    with roadmap.session() as session:
        walked = [(entry["uai"], roadmap.instance(session, entry["uai"]).state) for entry in schools]
    return DemoSummary(created=True, schools=report.schools, walked=walked)


DEMO_AGE = timedelta(days=16)  # the demo's schools moved about two school weeks ago: reminders are due now


@contextlib.contextmanager
def backdated(roadmap: Roadmap, age: timedelta) -> Iterator[None]:
    """Walk as if it happened `age` ago, a second per clock reading (the history keeps its order), so that the
    demo shows what users see after a while: waiting schools, reminders due, digests."""
    real = roadmap.engine.clock
    start = real() - age
    ticks = itertools.count()
    roadmap.engine.clock = lambda: start + timedelta(seconds=next(ticks))
    try:
        yield
    finally:
        roadmap.engine.clock = real


def walk(roadmap: Roadmap, uai: str, until: str, path: list[PathStep], overrides: dict[str, str] | None = None) -> str:
    """Walk the school along `path` until `until`; `overrides` ("step.item" = value) change or add path values."""
    with roadmap.session() as session:
        director = session.exec(
            select(Person).where(Person.role == "director", Person.scope == uai).order_by(col(Person.source).desc())
        ).first()
        school = session.get(School, uai)
        ien = session.exec(
            select(Person).where(Person.role == "ien", Person.scope == (school.circonscription_uai if school else ""))
        ).first()
    if director is None or ien is None:
        raise ValueError(f"demo school {uai} has no director or IEN contact")
    for stop in path:
        if stop.state == until:
            return until
        extra = {key.partition(".")[2]: str(raw) for key, raw in (overrides or {}).items()
                 if key.partition(".")[0] == stop.state}
        for item, raw in {**stop.items, **extra}.items():
            if raw == "@minutes":
                roadmap.check(uai, item, None, director.email, upload=DEMO_MINUTES)
            else:
                roadmap.check(uai, item, _value(raw, roadmap), director.email)
        actor = ien.email if stop.event == "approve" else director.email
        roadmap.fire(uai, stop.event, actor)
    return until
