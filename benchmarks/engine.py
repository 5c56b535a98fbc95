"""Benchmarks of the workflow engine. Prints figures; compares against baselines measured in the same run.

  python -m benchmarks.engine            (or `make bench`)

1. Machine cost: one shared model-less machine (what the engine does) vs. one `transitions` Machine per
   instance (the naive design), for N instances: build time, memory, and one trigger each.
2. A persisted move (`WorkflowEngine.fire`: guards, version check, history row, one transaction) on SQLite,
   against a baseline of the same-size bare transaction (one UPDATE + one INSERT), to show the engine's
   overhead as a ratio.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from transitions import Machine

from roadmap.db import make_engine, migrate
from roadmap.guards import roadmap_guards
from roadmap.roles import ROLE_LABELS
from roadmap.settings import REPO_DATA
from workflows import Actor, WorkflowEngine, load_definitions
from workflows.machine import compile_definition

ADMIN_EMAIL = "admin.bench@ac-rennes.fr"
INSTANCES = 500


def _timed(fn: Callable[[], Any], repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def machine_cost() -> None:
    definitions = load_definitions(REPO_DATA / "roadmaps", guards=roadmap_guards().signatures(), roles=ROLE_LABELS)
    definition = definitions["national"]
    compiled = compile_definition(definition)
    edges = [e for e in compiled.edges if e.source == "definition" and e.spec.event == "advance"]
    spec = [{"trigger": e.spec.event, "source": e.source, "dest": e.dest} for e in compiled.edges if not e.returning]

    class Model:  # the naive design: each instance is a model with its own Machine
        state = "definition"

    def per_instance() -> list[Machine]:
        machines = []
        for _ in range(INSTANCES):
            model = Model()
            machines.append(
                Machine(
                    model=model,
                    states=list(definition.states),
                    transitions=spec,
                    initial="definition",
                    auto_transitions=False,
                )
            )
        return machines

    def shared() -> None:
        for _ in range(INSTANCES):
            compiled.fire("definition", "advance", {edges[0].index: True})

    tracemalloc.start()
    per_instance_machines = per_instance()
    per_instance_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del per_instance_machines
    per_instance_s = _timed(per_instance, repeat=3)
    shared_s = _timed(shared)
    print(
        f"[machine] {INSTANCES} instances — one Machine each: {per_instance_s * 1e3:.1f} ms build, "
        f"{per_instance_bytes / INSTANCES / 1024:.1f} KiB each; shared machine: "
        f"{shared_s / INSTANCES * 1e6:.1f} µs per trigger, 0 KiB per instance"
    )
    print(f"[machine] ratio build-per-instance / shared-trigger: {per_instance_s / shared_s:.0f}×")


def persisted_moves() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = make_engine(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        migrate(db)
        definitions = load_definitions(REPO_DATA / "roadmaps", guards=roadmap_guards().signatures(), roles=ROLE_LABELS)
        engine = WorkflowEngine(db, definitions, roadmap_guards(), superuser_roles=frozenset({"admin"}))
        actor = Actor(id="bench", role="admin")
        with engine.session() as session, session.begin():
            for i in range(INSTANCES):
                engine.start(session, "national", f"S{i:06d}", actor)

        def fire_all() -> None:
            for i in range(INSTANCES):
                engine.fire(f"S{i:06d}", "suspend", actor, note="benchmark")
                engine.fire(f"S{i:06d}", "resume", actor)

        def bare_all() -> None:
            for i in range(INSTANCES):
                for _ in range(2):
                    with db.begin() as connection:
                        connection.execute(
                            text("UPDATE workflow_instance SET version = version + 1 WHERE subject = :s"),
                            {"s": f"S{i:06d}"},
                        )
                        connection.execute(
                            text(
                                "INSERT INTO workflow_refused_attempt (subject, at, actor, role, "
                                "event, reasons) VALUES (:s, CURRENT_TIMESTAMP, 'b', 'b', 'b', '[]')"
                            ),
                            {"s": f"S{i:06d}"},
                        )

        fire_s = _timed(fire_all, repeat=3)
        bare_s = _timed(bare_all, repeat=3)
        moves = INSTANCES * 2
        print(
            f"[persist] SQLite: engine.fire {fire_s / moves * 1e3:.2f} ms per move "
            f"({moves / fire_s:.0f} moves/s); bare UPDATE+INSERT transaction {bare_s / moves * 1e3:.2f} ms"
        )
        print(f"[persist] ratio engine / bare transaction: {fire_s / bare_s:.1f}×")
        db.dispose()


def annuaire_import() -> None:
    """Importing the demo extract into a fresh database, against parsing it alone (same run)."""
    from roadmap.annuaire import read_annuaire
    from roadmap.service import Roadmap
    from roadmap.settings import Settings

    extract = REPO_DATA / "demo" / "annuaire-demo-ille-et-vilaine.csv"
    parse_s = _timed(lambda: read_annuaire(extract))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            home=Path(tmp),
            database_url=f"sqlite:///{Path(tmp) / 'import.sqlite3'}",
            definitions_dir=REPO_DATA / "roadmaps",
            territory_file=REPO_DATA / "territory" / "academies.toml",
        )
        roadmap = Roadmap(settings)
        roadmap.init()
        roadmap.bootstrap_admin(ADMIN_EMAIL, "Banc d'essai")
        start = time.perf_counter()
        report = roadmap.import_annuaire(extract, by=ADMIN_EMAIL)
        first_s = time.perf_counter() - start
        again_s = _timed(lambda: roadmap.import_annuaire(extract, by=ADMIN_EMAIL), repeat=3)
        roadmap.db.dispose()
    print(
        f"[import] {report.schools} schools: parse {parse_s * 1e3:.0f} ms; first import {first_s * 1e3:.0f} ms "
        f"({first_s / parse_s:.0f}× parsing); re-import (all unchanged) {again_s * 1e3:.0f} ms "
        f"({again_s / parse_s:.0f}× parsing)"
    )


if __name__ == "__main__":
    machine_cost()
    persisted_moves()
    annuaire_import()
