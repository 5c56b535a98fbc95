"""Imports for the national benchmarks, each in a process of its own (its peak memory is the process's):

    python -m benchmarks.workers TASK DATABASE_URL ANNUAIRE [HOME]     (prints one JSON object: the timing inside)

- import / reimport: the product's import through the service (`Roadmap.import_annuaire`) on a fresh database
  (migrated, first administrator) or again on the same one;
- parse: the product's parser alone;
- bare-import: the baseline, the product's parser then everything an import writes with Core bulk inserts in one
  transaction; bare-reimport: the product's parser and a comparison with what is stored (one SELECT, no write).
"""

from __future__ import annotations

import json
import sys
import time
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection

from roadmap.annuaire import read_annuaire
from roadmap.db import make_engine, migrate
from roadmap.models import Academie, Circonscription, Departement, Person, School
from roadmap.service import NATIONAL, load_roadmaps
from roadmap.settings import REPO_DATA
from roadmap.territory import academies
from workflows.definition import Definition
from workflows.engine import WRITE_INTENT
from workflows.models import ChecklistValue, HistoryEntry, WorkflowInstance

ADVANCE = "advance"
CHECK = "check"


def table(model: Any) -> Table:
    found = model.__table__
    assert isinstance(found, Table)
    return found


SCHOOL = table(School)
INSTANCE = table(WorkflowInstance)
HISTORY = table(HistoryEntry)
VALUE = table(ChecklistValue)
CIRCONSCRIPTION = table(Circonscription)
PERSON = table(Person)


def definitions() -> dict[str, Definition]:
    return load_roadmaps(REPO_DATA / "roadmaps")


def definition_for_academie(found: Mapping[str, Definition], academie: str) -> Definition:
    return next((d for d in found.values() if academie in d.applies_to.get("academies", ())), found[NATIONAL])


def write_transaction(connection: Connection) -> Connection:
    """The connection, announcing a write (SQLite: BEGIN IMMEDIATE), as the product's units of work do."""
    return connection.execution_options(**{WRITE_INTENT: True})


# ------------------------------------------------------------------------------------------- import baselines


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def bare_import(url: str, path: Path) -> dict[str, Any]:
    """Parse with the product's parser, then insert everything an import writes with Core bulk inserts in one
    transaction: académies, départements, circonscriptions, schools, instances with their start row, contacts."""
    engine = make_engine(url)
    migrate(engine)
    found = definitions()
    zones = academies(REPO_DATA / "territory" / "academies.toml")
    began = time.perf_counter()
    extract = read_annuaire(path)
    records = extract.records
    now = datetime.now(UTC)
    academie_rows = {r.academie_code: r.academie_name or zones[r.academie_code].name for r in records}
    departement_rows = {r.departement_code: (r.departement_name, r.academie_code) for r in records}
    offices = {r.uai: r for r in records if r.kind == "circonscription"}
    circonscriptions: dict[str, dict[str, Any]] = {
        uai: {
            "uai": uai,
            "name": r.name,
            "departement_code": r.departement_code,
            "email": r.email or None,
            "phone": r.phone or None,
        }
        for uai, r in offices.items()
    }
    for r in records:
        if r.kind == "school" and r.circonscription_uai and r.circonscription_uai not in circonscriptions:
            circonscriptions[r.circonscription_uai] = {
                "uai": r.circonscription_uai,
                "name": r.circonscription_name or r.circonscription_uai,
                "departement_code": r.departement_code,
                "email": None,
                "phone": None,
            }
    by_name = {(c["departement_code"], _fold(c["name"])): uai for uai, c in circonscriptions.items()}
    schools: list[dict[str, Any]] = []
    instances: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    people: dict[str, dict[str, Any]] = {}  # by address: the first row that gives it, as the product does

    def contact(email: str, name: str, role: str, scope: str) -> None:
        if email:
            row = {"email": email.lower(), "name": name, "role": role, "scope": scope, "source": "annuaire"}
            people.setdefault(email.lower(), {**row, "created_at": now})

    for r in records:
        if r.kind == "circonscription":
            contact(r.email, f"IEN — {r.name}", "ien", r.uai)
            continue
        circonscription = r.circonscription_uai or by_name.get((r.departement_code, _fold(r.circonscription_name)))
        schools.append(
            {
                "uai": r.uai,
                "name": r.name,
                "sector": r.sector,
                "nature_code": r.nature_code,
                "street": r.street,
                "locality": r.locality,
                "postal_code": r.postal_code,
                "commune": r.commune,
                "phone": r.phone,
                "email": r.email,
                "departement_code": r.departement_code,
                "circonscription_uai": circonscription,
                "updated_at": now,
            }
        )
        definition = definition_for_academie(found, r.academie_code)
        instance_id = len(instances) + 1
        instances.append(
            {
                "id": instance_id,
                "definition_id": definition.id,
                "definition_version": definition.version,
                "subject": r.uai,
                "state": definition.initial,
                "held_from": None,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "entered_at": now,
            }
        )
        history.append(
            {
                "instance_id": instance_id,
                "at": now,
                "actor": "bench",
                "role": "admin",
                "event": "start",
                "source": None,
                "target": definition.initial,
                "note": f"import de {path.name}",
                "data": None,
            }
        )
        contact(r.email, f"Direction — {r.name}", "director", r.uai)
    with engine.connect() as connection, write_transaction(connection).begin():
        for model, rows in (
            (Academie, [{"code": c, "name": n, "holiday_zone": None} for c, n in academie_rows.items()]),
            (Departement, [{"code": c, "name": n, "academie_code": a} for c, (n, a) in departement_rows.items()]),
            (Circonscription, list(circonscriptions.values())),
            (School, schools),
            (WorkflowInstance, instances),
            (HistoryEntry, history),
            (Person, list(people.values())),
        ):
            if rows:
                connection.execute(insert(table(model)), rows)
    seconds = time.perf_counter() - began
    engine.dispose()
    return {"seconds": seconds, "schools": len(schools), "circonscriptions": len(circonscriptions)}


_COMPARED = (
    "name",
    "sector",
    "nature_code",
    "street",
    "locality",
    "postal_code",
    "commune",
    "phone",
    "email",
    "departement_code",
)


def bare_reimport(url: str, path: Path) -> dict[str, Any]:
    """Parse with the product's parser and compare every record with what is stored (one SELECT), no writes."""
    engine = make_engine(url)
    began = time.perf_counter()
    extract = read_annuaire(path)
    columns = [SCHOOL.c[name] for name in ("uai", *_COMPARED, "circonscription_uai")]
    with engine.connect() as connection:
        stored = {row[0]: row for row in connection.execute(select(*columns))}
        offices = {row[0]: row for row in connection.execute(select(CIRCONSCRIPTION.c.uai, CIRCONSCRIPTION.c.name))}
    changed = unchanged = 0
    for r in extract.records:
        if r.kind == "circonscription":
            row = offices.get(r.uai)
            changed += row is None or row[1] != r.name
            continue
        row = stored.get(r.uai)
        if (
            row is not None
            and all(getattr(r, key) == row[i + 1] for i, key in enumerate(_COMPARED))
            and (not r.circonscription_uai or r.circonscription_uai == row[-1])
        ):
            unchanged += 1
        else:
            changed += 1
    seconds = time.perf_counter() - began
    engine.dispose()
    return {"seconds": seconds, "unchanged": unchanged, "changed": changed}


def product_import(url: str, path: Path, home: Path, *, fresh: bool) -> dict[str, Any]:
    """The product's import through the service (`Roadmap.import_annuaire`), on a fresh database or again."""
    from benchmarks.dataset import ADMIN_EMAIL, bench_settings
    from roadmap.service import Roadmap

    roadmap = Roadmap(bench_settings(url, home))
    if fresh:
        roadmap.init()
        roadmap.bootstrap_admin(ADMIN_EMAIL, "Administration nationale (banc d'essai)")
    began = time.perf_counter()
    report = roadmap.import_annuaire(path, by=ADMIN_EMAIL)
    seconds = time.perf_counter() - began
    roadmap.db.dispose()
    return {
        "seconds": seconds,
        "schools": report.schools,
        "created": report.schools_created,
        "unchanged": report.schools_unchanged,
        "circonscriptions": report.circonscriptions,
    }


# ------------------------------------------------------------------------------------------ command line


def main(argv: list[str]) -> int:
    task, url, path, *rest = argv
    if task in ("import", "reimport"):
        result = product_import(url, Path(path), Path(rest[0]), fresh=task == "import")
    elif task == "bare-import":
        result = bare_import(url, Path(path))
    elif task == "bare-reimport":
        result = bare_reimport(url, Path(path))
    elif task == "parse":  # the product's parser alone (its peak memory)
        began = time.perf_counter()
        records = len(read_annuaire(Path(path)).records)
        result = {"seconds": time.perf_counter() - began, "records": records}
    else:
        raise SystemExit(f"unknown task {task!r}")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
