"""Same-run baselines: what the product's read and write paths do, written by hand with SQLAlchemy Core.

Nothing here imports the product, so that a baseline run as a process of its own measures a bare process too:
SQLAlchemy, the roadmap TOML files read with tomllib, openpyxl for the table. Tables are declared with Core's
lightweight `table()`/`column()` (the columns the baselines touch). Used in-process by benchmarks.national, and as

    python -m benchmarks.bare TASK DATABASE_URL [ARGS]     TASK: dashboard [DEPARTEMENT], list, export FILE [DEP]
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Integer,
    String,
    and_,
    column,
    create_engine,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy import table as core_table
from sqlalchemy.engine import Connection

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
WRITE_INTENT = "workflows_write_intent"  # workflows.engine.WRITE_INTENT: SQLite begins with BEGIN IMMEDIATE
STAMP = DateTime(timezone=True)

SCHOOL = core_table(
    "school",
    *(column(name, String) for name in ("uai", "name", "sector", "street", "locality", "postal_code", "commune")),
    *(column(name, String) for name in ("phone", "departement_code", "circonscription_uai")),
)
INSTANCE = core_table(
    "workflow_instance",
    column("id", Integer),
    *(column(name, String) for name in ("definition_id", "subject", "state", "held_from")),
    column("version", Integer),
    column("updated_at", STAMP),
    column("entered_at", STAMP),
)
HISTORY = core_table(
    "workflow_history",
    column("instance_id", Integer),
    column("at", STAMP),
    *(column(name, String) for name in ("actor", "role", "event", "source", "target", "note")),
    column("data", JSON),
)
VALUE = core_table(
    "workflow_checklist_value",
    column("id", Integer),
    column("instance_id", Integer),
    column("step", String),
    column("item", String),
    column("value", JSON),
    column("revision", Integer),
    column("updated_by", String),
    column("updated_at", STAMP),
)
CIRCONSCRIPTION = core_table(
    "circonscription", column("uai", String), column("name", String), column("departement_code", String)
)
PERSON = core_table(
    "person",
    column("id", Integer),
    column("name", String),
    column("role", String),
    column("scope", String),
    column("source", String),
)


# ------------------------------------------------------------------------------------------------- roadmap


@dataclass(frozen=True)
class States:
    """What the read paths need of the roadmaps: each state's step (holds and finals stand for themselves) and
    label, the waiting sub-states, and the account table's items."""

    step: dict[str, str]
    label: dict[str, str]
    waiting: frozenset[str]
    council: tuple[str, str]
    stand_in: tuple[str, str]
    ent: tuple[str, str]


def roadmap_states(directory: Path = REPO_DATA / "roadmaps") -> States:
    """Read from the national roadmap's TOML (variants add checklist items, not states)."""
    document = tomllib.loads((directory / "national.toml").read_text(encoding="utf-8"))
    step: dict[str, str] = {}
    label: dict[str, str] = {}
    waiting: set[str] = set()
    stand_in = ""
    for entry in document["steps"]:
        step[entry["id"]], label[entry["id"]] = entry["id"], entry["label"]
        for sub in entry.get("waiting", []):
            state = f"{entry['id']}.{sub['id']}"
            step[state], label[state] = entry["id"], sub["label"]
            waiting.add(state)
    for entry in document.get("states", []):
        step[entry["id"]], label[entry["id"]] = entry["id"], entry["label"]
    account = document["guards"]["account_row_valid"]
    council = tuple(account["council_item"].split(".", 1))
    for entry in document["steps"]:
        for item in entry.get("checklist", []):
            if entry["id"] == council[0] and item["id"] == council[1]:
                stand_in = item.get("deferrable_with", "")
    return States(
        step,
        label,
        frozenset(waiting),
        (council[0], council[1]),
        (council[0], stand_in),
        tuple(account["ent_item"].split(".", 1)),
    )


# ------------------------------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class AdvanceGuards:
    """What the guards of "advance" out of a step read: its required items, the ENT item and its choices."""

    required: frozenset[tuple[str, str]]
    ent: tuple[str, str] | None
    ent_choices: tuple[str, ...]
    target: str


def _write(connection: Connection) -> Connection:
    return connection.execution_options(**{WRITE_INTENT: True})


def _history(
    connection: Connection,
    instance_id: int,
    at: datetime,
    actor: str,
    role: str,
    event: str,
    source: str,
    target: str,
    data: dict[str, Any] | None = None,
) -> None:
    connection.execute(
        insert(HISTORY).values(
            instance_id=instance_id,
            at=at,
            actor=actor,
            role=role,
            event=event,
            source=source,
            target=target,
            note=None,
            data=data,
        )
    )


def advance(engine: Engine, guards: Mapping[str, AdvanceGuards], uai: str, actor: str, role: str) -> int:
    """A move by hand, in one transaction: read the instance and the checklist values its guards need,
    version-checked UPDATE, INSERT of the history row. Returns the new version."""
    now = datetime.now(UTC)
    with engine.connect() as connection, _write(connection).begin():
        instance = connection.execute(
            select(INSTANCE.c.id, INSTANCE.c.state, INSTANCE.c.version, INSTANCE.c.definition_id).where(
                INSTANCE.c.subject == uai
            )
        ).one()
        guard = guards[instance.definition_id]
        values = {
            (row.step, row.item): row.value
            for row in connection.execute(
                select(VALUE.c.step, VALUE.c.item, VALUE.c.value).where(
                    VALUE.c.instance_id == instance.id, VALUE.c.step == instance.state
                )
            )
        }
        missing = [key for key in guard.required if values.get(key) in (None, False, "")]
        if missing or (guard.ent and values.get(guard.ent) not in guard.ent_choices):
            raise RuntimeError(f"bare move refused for {uai}: {missing}")
        moved = connection.execute(
            update(INSTANCE)
            .where(INSTANCE.c.id == instance.id, INSTANCE.c.version == instance.version)
            .values(state=guard.target, held_from=None, version=INSTANCE.c.version + 1, updated_at=now, entered_at=now)
        )
        if moved.rowcount != 1:
            raise RuntimeError(f"concurrent change of {uai}")
        _history(connection, instance.id, now, actor, role, "advance", instance.state, guard.target)
        return int(instance.version) + 1


def check(engine: Engine, uai: str, step: str, item: str, value: Any, actor: str, role: str) -> int:
    """A checklist change by hand, in one transaction: read the instance and the item's row, UPDATE the instance
    (state-checked), UPDATE (revision-checked) or INSERT the value, INSERT the history row."""
    now = datetime.now(UTC)
    with engine.connect() as connection, _write(connection).begin():
        instance = connection.execute(
            select(INSTANCE.c.id, INSTANCE.c.state, INSTANCE.c.version).where(INSTANCE.c.subject == uai)
        ).one()
        seen = connection.execute(
            select(VALUE.c.id, VALUE.c.revision).where(
                VALUE.c.instance_id == instance.id, VALUE.c.step == step, VALUE.c.item == item
            )
        ).first()
        moved = connection.execute(
            update(INSTANCE)
            .where(INSTANCE.c.id == instance.id, INSTANCE.c.state == instance.state)
            .values(version=INSTANCE.c.version + 1, updated_at=now)
        )
        if moved.rowcount != 1:
            raise RuntimeError(f"concurrent change of {uai}")
        if seen is None:
            connection.execute(
                insert(VALUE).values(
                    instance_id=instance.id,
                    step=step,
                    item=item,
                    value=value,
                    revision=1,
                    updated_by=actor,
                    updated_at=now,
                )
            )
        else:
            connection.execute(
                update(VALUE)
                .where(VALUE.c.id == seen.id, VALUE.c.revision == seen.revision)
                .values(value=value, updated_by=actor, updated_at=now, revision=seen.revision + 1)
            )
        data = {"step": step, "item": item, "value": value}
        _history(connection, instance.id, now, actor, role, "check", instance.state, instance.state, data)
        return int(instance.version) + 1


# ------------------------------------------------------------------------------------------------- reads


def dashboard(engine: Engine, states: States, departement: str | None = None) -> dict[str, Any]:
    """The dashboard's figures in three queries: counts grouped in SQL, circonscription names, waiting schools."""
    join = SCHOOL.join(INSTANCE, INSTANCE.c.subject == SCHOOL.c.uai)
    where = [SCHOOL.c.departement_code == departement.zfill(3)] if departement else []
    counts = (
        select(SCHOOL.c.circonscription_uai, INSTANCE.c.state, func.count())
        .select_from(join)
        .where(*where)
        .group_by(SCHOOL.c.circonscription_uai, INSTANCE.c.state)
    )
    names_query = select(CIRCONSCRIPTION.c.uai, CIRCONSCRIPTION.c.name)
    if departement:
        names_query = names_query.where(CIRCONSCRIPTION.c.departement_code == departement.zfill(3))
    waiting_query = (
        select(SCHOOL.c.uai, SCHOOL.c.name, INSTANCE.c.state, INSTANCE.c.updated_at)
        .select_from(join)
        .where(INSTANCE.c.state.in_(sorted(states.waiting)), *where)
        .order_by(SCHOOL.c.uai)
    )
    rows: dict[str, dict[str, Any]] = {}
    totals: dict[str, int] = {}
    with engine.connect() as connection:
        names = dict(connection.execute(names_query).tuples().all())
        for circonscription, state, count in connection.execute(counts):
            step = states.step.get(state, state)
            key = circonscription or "—"
            row = rows.setdefault(key, {"uai": circonscription, "name": names.get(key, "—"), "counts": {}, "total": 0})
            row["counts"][step] = row["counts"].get(step, 0) + count
            row["total"] += count
            totals[step] = totals.get(step, 0) + count
        waiting = [
            {
                "uai": uai,
                "name": name,
                "state": state,
                "state_label": states.label.get(state, state),
                "since": updated_at.isoformat(),
            }
            for uai, name, state, updated_at in connection.execute(waiting_query)
        ]
    return {
        "rows": sorted(rows.values(), key=lambda r: str(r["name"])),
        "totals": totals,
        "schools": sum(totals.values()),
        "waiting": waiting,
    }


def school_list(engine: Engine, states: States, out: TextIO) -> int:
    """Every school with its step, streamed from one joined SELECT to JSON."""
    query = (
        select(
            SCHOOL.c.uai,
            SCHOOL.c.name,
            SCHOOL.c.commune,
            SCHOOL.c.sector,
            SCHOOL.c.circonscription_uai,
            SCHOOL.c.departement_code,
            INSTANCE.c.state,
            INSTANCE.c.updated_at,
        )
        .join(INSTANCE, INSTANCE.c.subject == SCHOOL.c.uai)
        .order_by(SCHOOL.c.uai)
    )
    count = 0
    out.write("[")
    with engine.connect() as connection:
        for row in connection.execution_options(stream_results=True, yield_per=2000).execute(query):
            step = states.step.get(row.state, row.state)
            item = {
                "uai": row.uai,
                "name": row.name,
                "commune": row.commune,
                "sector": row.sector,
                "circonscription": row.circonscription_uai,
                "departement": row.departement_code,
                "step": step,
                "step_label": states.label.get(step, step),
                "state": row.state,
                "state_label": states.label.get(row.state, row.state),
                "updated_at": row.updated_at.isoformat(),
            }
            out.write((",\n" if count else "\n") + json.dumps(item, ensure_ascii=False))
            count += 1
    out.write("\n]\n")
    return count


# roadmap.account_table.COLUMNS, copied: this module must not import the product (see the docstring).
TABLE_COLUMNS = ("RNE", "Secteur", "Nom", "Voie", "Lieu-dit", "CP", "Commune", "Téléphone", "Responsable", "CIRCO",
                 "RNE CIRCO", "date CE", "ENT")  # fmt: skip


def account_table(
    engine: Engine, states: States, path: Path, departement: str | None = None, state: str = "transmission.submitted"
) -> int:
    """The account table of the schools in `state`: a joined SELECT, the items it shows, the named directors;
    written with openpyxl (write-only)."""
    from openpyxl import Workbook

    where = [INSTANCE.c.state == state]
    if departement:
        where.append(SCHOOL.c.departement_code == departement.zfill(3))
    query = (
        select(
            SCHOOL.c.uai,
            SCHOOL.c.sector,
            SCHOOL.c.name,
            SCHOOL.c.street,
            SCHOOL.c.locality,
            SCHOOL.c.postal_code,
            SCHOOL.c.commune,
            SCHOOL.c.phone,
            CIRCONSCRIPTION.c.name,
            CIRCONSCRIPTION.c.uai,
            INSTANCE.c.id,
        )
        .join(INSTANCE, INSTANCE.c.subject == SCHOOL.c.uai)
        .outerjoin(CIRCONSCRIPTION, CIRCONSCRIPTION.c.uai == SCHOOL.c.circonscription_uai)
        .where(*where)
        .order_by(SCHOOL.c.uai)
    )
    ids = select(INSTANCE.c.id).join(SCHOOL, INSTANCE.c.subject == SCHOOL.c.uai).where(*where)
    uais = select(SCHOOL.c.uai).join(INSTANCE, INSTANCE.c.subject == SCHOOL.c.uai).where(*where)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        values = {
            (row.instance_id, row.step, row.item): row.value
            for row in connection.execute(
                select(VALUE.c.instance_id, VALUE.c.step, VALUE.c.item, VALUE.c.value).where(
                    VALUE.c.instance_id.in_(ids),
                    tuple_(VALUE.c.step, VALUE.c.item).in_([states.council, states.stand_in, states.ent]),
                )
            )
        }
        directors: dict[str, str] = {}
        for scope, name in connection.execute(
            select(PERSON.c.scope, PERSON.c.name)
            .where(and_(PERSON.c.role == "director", PERSON.c.source == "manual", PERSON.c.scope.in_(uais)))
            .order_by(PERSON.c.id)
        ):
            directors.setdefault(scope, name)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Création des comptes")
    sheet.append(list(TABLE_COLUMNS))
    for uai, sector, name, street, locality, postal, commune, phone, circo, circo_uai, instance_id in rows:
        day = values.get((instance_id, *states.council)) or values.get((instance_id, *states.stand_in))
        sheet.append(
            [
                uai,
                sector,
                name,
                street,
                locality,
                postal,
                commune,
                phone,
                directors.get(uai, ""),
                circo or "",
                circo_uai or "",
                datetime.fromisoformat(day).strftime("%d/%m/%Y") if day else "",
                str(values.get((instance_id, *states.ent)) or ""),
            ]
        )
    workbook.save(path)
    return len(rows)


def main(argv: list[str]) -> int:
    task, url, *rest = argv
    engine = create_engine(url)
    states = roadmap_states()
    if task == "dashboard":
        sys.stdout.write(json.dumps(dashboard(engine, states, rest[0] if rest else None), ensure_ascii=False) + "\n")
    elif task == "list":
        school_list(engine, states, sys.stdout)
    elif task == "export":
        account_table(engine, states, Path(rest[0]), rest[1] if len(rest) > 1 else None)
    else:
        raise SystemExit(f"unknown task {task!r}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
