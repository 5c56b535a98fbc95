"""Property-based tests: random sequences of checklist changes and moves, by lawful and unlawful people, on a
small territory, never break the roadmap's invariants (history chain, versions, scopes, the DANE's first
validation of each département, complete checklists before each advance, refusals that change nothing)."""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from itertools import count, pairwise
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, note, target
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from roadmap.errors import NotFound, RoadmapError
from roadmap.files import Upload, read_upload
from roadmap.models import Person, School
from roadmap.permissions import covers
from roadmap.service import Roadmap
from roadmap.settings import REPO_DATA, Settings
from tests.factories import ADMIN_EMAIL, ANNUAIRE_HEADER, FIXED_NOW, annuaire_row, make_roadmap, write_csv
from workflows.errors import WorkflowError
from workflows.models import ChecklistValue, HistoryEntry, RefusedAttempt, WorkflowInstance

KEY_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def uai(digits: str) -> str:
    return digits + KEY_LETTERS[int(digits) % 23]


# ------------------------------------------------------------------------------------------------ territory
# One académie (Rennes, 14), two départements, one circonscription each, two schools each. The last school has
# no named director (only the annuaire's mailbox): its account row can never be sent.

ACADEMIE = "14"
CIRCOS = {"035": uai("0350901"), "022": uai("0220901")}
CIRCO_NAMES = {"035": "Circonscription d'inspection du 1er degré de Bruz",
               "022": "Circonscription d'inspection du 1er degré de Dinan"}
SCHOOLS = [uai("0350001"), uai("0350004"), uai("0220001"), uai("0220002")]
DEPARTEMENT = {SCHOOLS[0]: "035", SCHOOLS[1]: "035", SCHOOLS[2]: "022", SCHOOLS[3]: "022"}
MAILBOX = {school: f"ecole.{school.lower()}@ac-rennes.fr" for school in SCHOOLS}
IEN = {"035": "ce.ien35.bruz@ac-rennes.fr", "022": "ce.ien22.dinan@ac-rennes.fr"}
DIRECTORS = {SCHOOLS[0]: "claire.martin@ac-rennes.fr", SCHOOLS[1]: "yann.guillou@ac-rennes.fr",
             SCHOOLS[2]: "morgane.le-bihan@ac-rennes.fr"}
CPD = {"035": "cpd.numerique35@ac-rennes.fr", "022": "cpd.numerique22@ac-rennes.fr"}
DANE = "dane.premier-degre@ac-rennes.fr"
ADMIN = "admin.ent@ac-rennes.fr"
UNKNOWN = "inconnu@example.org"
PEOPLE = [*DIRECTORS.values(), *MAILBOX.values(), *IEN.values(), *CPD.values(), DANE, ADMIN, UNKNOWN]
TODAY = FIXED_NOW.date()  # the fixed clock: 23/11/2026, 11:00 in Paris

EVENTS = ["advance", "approve", "request_changes", "suspend", "resume", "abandon", "skip", "send_table",
          "validate_table", "exported_to_publisher", "accounts_created"]
PROGRESS = ("advance", "approve", "resume", "skip", "exported_to_publisher", "accounts_created")
TABLE_STATES = ("transmission.submitted", "transmission.awaiting_dane")  # moved by the département's table only
NOTES = [None, "", "   ", "Raison expliquée dans la note"]


def territory_csv(path: Path) -> Path:
    rows = []
    for departement, circo in CIRCOS.items():
        rows.append(annuaire_row(circo, CIRCO_NAMES[departement], kind="Service Administratif", nature="809",
                                 email=IEN[departement], departement=departement, academie=ACADEMIE))
    for number, school in enumerate(SCHOOLS):
        departement = DEPARTEMENT[school]
        rows.append(annuaire_row(school, f"Ecole publique numéro {number}", circonscription=CIRCO_NAMES[departement],
                                 email=MAILBOX[school], departement=departement, academie=ACADEMIE,
                                 postal_code="35000" if departement == "035" else "22000"))
    for row in rows:
        row[10] = "Ille-et-Vilaine" if row[8] == "035" else "Côtes-d'Armor"
    return write_csv(path, ANNUAIRE_HEADER, rows)


def prepare(settings: Settings, tmp_path: Path) -> None:
    """Import the territory and register the people, in the test's database (then used as a template)."""
    roadmap = make_roadmap(settings)
    report = roadmap.import_annuaire(territory_csv(tmp_path / "territoire.csv"), by=ADMIN_EMAIL)
    assert report.schools == len(SCHOOLS) and not report.without_circonscription and not report.rejected
    for number, (school, email) in enumerate(DIRECTORS.items()):
        roadmap.add_person(email, "director", school, f"Direction {number}", by=ADMIN_EMAIL)
    for departement, email in CPD.items():
        roadmap.add_person(email, "cpd", departement, f"CPD {departement}", by=ADMIN_EMAIL)
    roadmap.add_person(DANE, "dane", ACADEMIE, "DANE", by=ADMIN_EMAIL)
    roadmap.add_person(ADMIN, "admin", "*", "Administration", by=ADMIN_EMAIL)
    ent = str(NATIONAL_ENT_CHOICES[-1])  # the ENT valid_value chooses: its accounts are created automatically
    for departement, email in CPD.items():  # the publisher's agreements, recorded once per département
        for kind in ("convention", "dsi_agreement"):
            roadmap.transmissions.add_agreement(departement, ent, kind, "2026-06-01", by=email)
    # The publishers' processing records are held for every ENT (the GDPR step's guard is tested in test_gdpr.py).
    ent_item = next(i for i in STEPS["definition"]["checklist"] if i["id"] == "ent")
    for departement in CPD:
        for choice in ent_item["choices"]:
            roadmap.add_processing_record(departement, choice, Upload("fiche.pdf", b"%PDF-1.4 fiche"), by=ADMIN_EMAIL)
    if roadmap.db.dialect.name == "sqlite":
        with roadmap.db.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    roadmap.db.dispose()


@contextmanager
def database_copy(template_url: str, tmp_path: Path, number: int) -> Iterator[str]:
    """A copy of the prepared database for one example (a file copy, or CREATE DATABASE ... TEMPLATE)."""
    url = make_url(template_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        copy = tmp_path / f"example-{number}.sqlite3"
        shutil.copyfile(url.database, copy)
        yield f"sqlite:///{copy}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
        return
    name = f"{url.database}_{number}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# ------------------------------------------------------------------------------- the roadmap, read independently
# The transitions are read from the TOML file itself, not through the engine, to serve as an oracle.

NATIONAL = tomllib.loads((REPO_DATA / "roadmaps" / "national.toml").read_text(encoding="utf-8"))
STEPS: dict[str, dict[str, Any]] = {step["id"]: step for step in NATIONAL["steps"]}
# Text items with a format (the documents' facts, named by the definition's guard table) and a value that fits it.
_FACTS = NATIONAL["guards"]["family_documents_facts"]
FORMATTED_TEXTS = {_FACTS["address_item"]: "https://ent.exemple.fr/", _FACTS["year_item"]: "2026-2027"}
STEP_ORDER = [step["id"] for step in NATIONAL["steps"]]
STATES: dict[str, str | None] = {}  # state -> its step (None for holds and finals)
for _step in NATIONAL["steps"]:
    STATES[_step["id"]] = _step["id"]
    for _sub in _step.get("waiting", []):
        STATES[f"{_step['id']}.{_sub['id']}"] = _step["id"]
FINALS = {s["id"] for s in NATIONAL["states"] if s.get("final")}
HOLDS = {s["id"] for s in NATIONAL["states"] if s.get("hold")}
for _state in NATIONAL["states"]:
    STATES[_state["id"]] = None


@dataclass(frozen=True)
class Rule:
    event: str
    source: str
    dest: str  # a state, or "@return"
    roles: tuple[str, ...]
    guards: tuple[str, ...]
    note_required: bool


RULES: list[Rule] = []
for _t in NATIONAL["transitions"]:
    _sources = [s for s in STATES if s not in FINALS and s != _t["to"]] if _t["from"] == "*" else [_t["from"]]
    RULES += [Rule(_t["event"], source, _t["to"], tuple(_t["roles"]), tuple(_t.get("guards", ())),
                   bool(_t.get("note_required", False))) for source in _sources]


NATIONAL_ENT_CHOICES = next(item for step in NATIONAL["steps"] for item in step.get("checklist", [])
                            if item["id"] == "ent")["choices"]


def rules_from(state: str, event: str | None = None) -> list[Rule]:
    return [rule for rule in RULES if rule.source == state and (event is None or rule.event == event)]


def done(item: dict[str, Any], value: Any) -> bool:
    if value is None:
        return False
    return value is True if item["type"] == "bool" else bool(value)


# --------------------------------------------------------------------------------------------------- actions

FILES: dict[str, Path] = {}


def check_as_the_cli_does(roadmap: Roadmap, school: str, item: dict[str, Any], value: str | None, by: str, *,
                          clear: bool = False) -> object:
    """A file item's value is a path the CLI reads into an upload (a missing file fails there, like the CLI)."""
    upload = read_upload(Path(value)) if item["type"] == "file" and value and not clear else None
    return roadmap.check(school, item["id"], value, by, upload=upload, clear=clear)


def valid_value(step: str, item: dict[str, Any]) -> str:
    if item["type"] == "date":
        return "06/11/2026" if step == "school_council" else "2026-10-01"
    if item["type"] == "bool":
        return "oui"
    if item["type"] == "choice":
        return str(item["choices"][-1])
    if item["type"] == "text":
        return FORMATTED_TEXTS.get(f"{step}.{item['id']}", "messagerie, blog, cahier de liaison")
    return str(FILES["minutes"])


def value_pool(item: dict[str, Any]) -> list[str | None]:
    """Valid and invalid inputs for an item of this type."""
    if item["type"] == "bool":
        return ["oui", "non", "peut-être", None, "x", "0"]
    if item["type"] == "date":
        return ["2026-09-12", "06/11/2026", "23/11/2026", "24/11/2026", "2027-03-01", "31/02/2026", "bientôt", None]
    if item["type"] == "choice":
        return [*item["choices"], "Moodle", item["choices"][0].upper(), None]
    if item["type"] == "text":
        return ["blog", "   ", None]
    return [str(FILES["minutes"]), str(FILES["record"]), str(FILES["missing"]), None]


ALL_ITEMS = [(step_id, item) for step_id, step in STEPS.items() for item in step.get("checklist", [])]

schools = st.sampled_from([0, 0, 0, 0, 1, 1, 2, 3])
fill_action = st.tuples(st.just("fill"), schools, st.sampled_from([0, 0, 0, 1, 2]))
forward_action = st.tuples(st.just("forward"), schools, st.integers(0, 7))
step_action = st.tuples(st.just("step"), schools, st.integers(0, 7))
check_action = st.tuples(st.just("check"), schools, st.integers(0, len(PEOPLE) - 1), st.integers(0, 99),
                         st.integers(0, 9), st.sampled_from([False, False, False, False, True]))
fire_action = st.tuples(st.just("fire"), schools, st.integers(0, len(PEOPLE) - 1), st.sampled_from([*EVENTS, "oups"]),
                        st.sampled_from(NOTES))
walk_action = st.tuples(st.just("walk"), schools, st.integers(1, 14), st.integers(0, 7))
actions = st.one_of(walk_action, step_action, step_action, step_action, fill_action, forward_action,
                    forward_action, check_action, check_action, fire_action, fire_action)
# Explicit examples: whole walks, so that the deepest paths are always exercised.
FULL_WALKS = [
    [("walk", 0, 14, 0), ("walk", 1, 14, 1)],  # Ille-et-Vilaine's first table goes to the DANE, the next to the DSI
    [("walk", 2, 5, 0), ("forward", 2, 1), ("walk", 3, 14, 0), ("forward", 2, 0), ("walk", 2, 14, 0)],
]


# --------------------------------------------------------------------------------------------------- snapshot


def snapshot(roadmap: Roadmap) -> tuple[Any, ...]:
    with roadmap.session() as session:
        instances = sorted((i.subject, i.state, i.held_from, i.version)
                           for i in session.exec(select(WorkflowInstance)).all())
        history = len(session.exec(select(HistoryEntry.id)).all())
        values = sorted((v.instance_id, v.step, v.item, json.dumps(v.value, sort_keys=True), v.updated_by)
                        for v in session.exec(select(ChecklistValue)).all())
    return tuple(instances), history, tuple(values)


@dataclass
class Runner:
    roadmap: Roadmap
    refused: int = 0
    moved: int = 0
    unknown_attempts: int = 0

    def state(self, school: str) -> str:
        with self.roadmap.session() as session:
            return self.roadmap.instance(session, school).state

    def attempt(self, school: str, description: str, call: Callable[[], object], *, by: str) -> bool:
        """Run one call; a refusal must change nothing, a success exactly one history row of this school."""
        before = snapshot(self.roadmap)
        try:
            call()
        except (RoadmapError, WorkflowError) as error:
            after = snapshot(self.roadmap)
            assert after == before, f"refused attempt changed something: {description}: {error}"
            self.refused += 1
            if by == UNKNOWN:
                assert isinstance(error, NotFound)
                self.unknown_attempts += 1
            note(f"refusé : {description} — {error}")
            return False
        after = snapshot(self.roadmap)
        assert by != UNKNOWN, "an unknown person acted"
        changed = [(b, a) for b, a in zip(before[0], after[0], strict=True) if b != a]
        assert len(changed) == 1 and changed[0][0][0] == school, (description, changed)
        assert changed[0][1][3] == changed[0][0][3] + 1, "each success bumps the version by one"
        assert after[1] == before[1] + 1, "each success adds one history row"
        self.moved += 1
        note(f"fait : {description}")
        return True

    # -- lawful helpers --------------------------------------------------------------------------------------

    def filler(self, school: str, who: int) -> str:
        lawful = DIRECTORS.get(school, MAILBOX[school])
        return [lawful, CPD[DEPARTEMENT[school]], ADMIN][who]

    def lawful_moves(self, school: str) -> list[tuple[str, str]]:
        state = self.state(school)
        candidates: list[tuple[str, str]] = []
        for rule in rules_from(state):
            if rule.event not in PROGRESS:
                continue
            for role in rule.roles:
                for person in self.people_with(role, school):
                    if (rule.event, person) not in candidates:
                        candidates.append((rule.event, person))
        return candidates

    def people_with(self, role: str, school: str) -> list[str]:
        departement = DEPARTEMENT[school]
        return {"director": [DIRECTORS.get(school, MAILBOX[school])], "ien": [IEN[departement]],
                "cpd": [CPD[departement]], "dane": [DANE]}.get(role, [])

    # -- actions ---------------------------------------------------------------------------------------------

    def fill(self, school: str, who: int) -> None:
        state = self.state(school)
        if state not in STEPS:
            return
        by = self.filler(school, who)
        for item in STEPS[state].get("checklist", []):
            if item.get("required", True):
                value = valid_value(state, item)
                self.attempt(school, f"{by} remplit {item['id']} = {value}",
                             partial(check_as_the_cli_does, self.roadmap, school, item, value, by), by=by)

    def table(self, school: str) -> None:
        """The département's table: composed and sent by its CPD, or validated by the DANE (a batch of schools)."""
        departement, state = DEPARTEMENT[school], self.state(school)
        tables = self.roadmap.transmissions

        def send() -> None:
            tables.send(tables.compose(departement, by=CPD[departement]).id, by=CPD[departement])

        def validate() -> None:
            sent = [line for line in tables.batches(self.roadmap.viewer(None), departement) if line.status == "sent"]
            for line in sent:
                if any(row.uai == school for row in tables.show(line.id, self.roadmap.viewer(None)).rows):
                    tables.approve(line.id, by=DANE)

        before = snapshot(self.roadmap)
        try:
            (send if state == "transmission.submitted" else validate)()
        except (RoadmapError, WorkflowError) as error:
            assert snapshot(self.roadmap) == before, f"refused table changed something: {error}"
            self.refused += 1
            note(f"refusé : tableau {departement} — {error}")
            return
        after = snapshot(self.roadmap)
        changed = [(b, a) for b, a in zip(before[0], after[0], strict=True) if b != a]
        assert changed and any(b[0] == school for b, _a in changed), changed
        assert all(a[3] == b[3] + 1 and DEPARTEMENT[b[0]] == departement for b, a in changed), changed
        assert after[1] == before[1] + len(changed), "one history row per school of the table"
        self.moved += 1
        note(f"fait : tableau {departement} ({state})")

    def forward(self, school: str, pick: int) -> None:
        if self.state(school) in TABLE_STATES:
            self.table(school)
            return
        moves = self.lawful_moves(school)
        if moves:
            event, by = moves[pick % len(moves)]
            self.attempt(school, f"{by} : {event}",
                         lambda: self.roadmap.fire(school, event, by, note="Étape franchie"), by=by)

    def check(self, school: str, person: int, item_pick: int, value_pick: int, clear: bool) -> None:
        state = self.state(school)
        own = STATES.get(state) or ""
        current = [(own, item) for item in STEPS[own].get("checklist", [])] if own else []
        step_id, item = current[item_pick % len(current)] if current and item_pick < 80 else \
            ALL_ITEMS[item_pick % len(ALL_ITEMS)]
        pool = value_pool(item)
        value = pool[value_pick % len(pool)]
        by = PEOPLE[person]
        self.attempt(school, f"{by} coche {step_id}.{item['id']} = {value!r} (effacer={clear})",
                     lambda: check_as_the_cli_does(self.roadmap, school, item, value, by, clear=clear), by=by)

    def fire(self, school: str, person: int, event: str, note: str | None) -> None:
        by = PEOPLE[person]
        self.attempt(school, f"{by} : {event} (note={note!r})",
                     lambda: self.roadmap.fire(school, event, by, note=note), by=by)

    def run(self, action: tuple[Any, ...]) -> None:
        kind, school = action[0], SCHOOLS[action[1]]
        if kind == "fill":
            self.fill(school, action[2])
        elif kind == "forward":
            self.forward(school, action[2])
        elif kind == "step":
            self.fill(school, 0)
            self.forward(school, action[2])
        elif kind == "walk":
            for turn in range(action[2]):
                self.fill(school, 0)
                self.forward(school, action[3] + turn)
        elif kind == "check":
            self.check(school, *action[2:])
        else:
            self.fire(school, *action[2:])


# ------------------------------------------------------------------------------------------------- invariants


def check_invariants(roadmap: Roadmap, runner: Runner) -> int:
    """Check (a) to (d) on every school; returns how far the furthest school went (for targeting)."""
    with roadmap.session() as session:
        instances = {i.subject: i for i in session.exec(select(WorkflowInstance)).all()}
        rows = session.exec(select(HistoryEntry).order_by(col(HistoryEntry.id))).all()
        people = {p.email: p for p in session.exec(select(Person)).all()}
        school_rows = {s.uai: s for s in session.exec(select(School)).all()}
        by_instance: dict[int, list[HistoryEntry]] = {}
        for row in rows:
            by_instance.setdefault(row.instance_id, []).append(row)
        # Ids of the DANE's (or admin's) validations of a table, by département.
        validations: dict[str, list[int]] = {}
        for subject, instance in instances.items():
            for row in by_instance[instance.id or 0]:
                if row.event == "validate_table":
                    validations.setdefault(school_rows[subject].departement_code, []).append(row.id or 0)

        furthest = 0
        for subject, instance in instances.items():
            school = school_rows[subject]
            history = by_instance[instance.id or 0]
            where = f"{subject}: " + " | ".join(f"{h.event} {h.source}->{h.target} by {h.actor}" for h in history)
            # (a) a known state; one history row per version; held_from only while held.
            assert instance.state in STATES, where
            assert instance.version == len(history), where
            if instance.state in HOLDS:
                assert instance.held_from == history[-1].source and instance.held_from in STATES, where
                assert instance.held_from not in FINALS | HOLDS, where
            else:
                assert instance.held_from is None, where
            # (b) a chain from the start row to the current state.
            start = history[0]
            assert (start.event, start.source, start.target, start.role) == ("start", None, NATIONAL["initial"],
                                                                              "admin"), where
            for previous, row in pairwise(history):
                assert row.source == previous.target, where
            assert history[-1].target == instance.state, where

            values: dict[tuple[str, str], Any] = {}
            for index, row in enumerate(history[1:], start=1):
                # (d) every move by a registered person whose role and scope cover the school.
                person = people.get(row.actor)
                assert person is not None and person.role == row.role, (row.actor, where)
                assert row.role == "admin" or covers(session, person.role, person.scope, school), (row.actor, where)
                if row.event == "check":
                    assert row.source == row.target and STATES.get(row.source) == row.source, where
                    assert row.data is not None and row.data["step"] == row.source, where
                    step_roles = STEPS[row.source]["roles"]
                    assert row.role in step_roles or row.role == "admin", where
                    values[(row.data["step"], row.data["item"])] = row.data["value"]
                    continue
                # Every move is a transition of the roadmap, by one of its roles, with a note when required.
                rules = [r for r in rules_from(row.source or "", row.event)
                         if r.dest == row.target or (r.dest == "@return" and row.target == history[index - 1].source)]
                assert rules, (row.event, row.source, row.target, where)
                assert any(row.role in r.roles or row.role == "admin" for r in rules), where
                if all(r.note_required for r in rules):
                    assert row.note and row.note.strip(), where
                # (c) what each advance needed was there at that moment (checks replayed).
                source_step = STATES.get(row.source or "")
                if row.event == "advance" and source_step is not None and source_step == row.source:
                    for item in STEPS[source_step].get("checklist", []):
                        if item.get("required", True):
                            assert done(item, values.get((source_step, item["id"]))), (item["id"], where)
                    if source_step == "definition":
                        ent = next(i for i in STEPS["definition"]["checklist"] if i["id"] == "ent")
                        assert values.get(("definition", "ent")) in ent["choices"], where
                    if source_step == "school_council":
                        assert date.fromisoformat(values[("school_council", "council_date")]) <= TODAY, where
                    if source_step == "transmission":
                        assert subject in DIRECTORS, "no account row without a named director: " + where
                        assert date.fromisoformat(values[("school_council", "council_date")]) <= TODAY, where
                if row.source == "school_council.awaiting_approval" and row.event == "approve":
                    assert row.role in ("ien", "admin"), where
                if row.event == "send_table":  # the first table of a département goes to the DANE, later ones on
                    earlier = [i for i in validations.get(school.departement_code, []) if i < (row.id or 0)]
                    assert (row.target == "transmission.at_dsi") == bool(earlier), (
                        "first table of the département without the DANE", where)
                if row.event == "validate_table":
                    assert row.role in ("dane", "admin"), where

            if instance.state == "deployed":
                events = [(h.event, h.source, h.target) for h in history]
                approvals = [h for h in history if h.event == "approve" and h.source == "school_council"
                             ".awaiting_approval" and h.role in ("ien", "admin")
                             and covers(session, people[h.actor].role, people[h.actor].scope, school)]
                assert approvals, where
                assert ("advance", "transmission", "transmission.submitted") in events, where
                assert ("send_table", "transmission.submitted") in {(e, source) for e, source, _t in events}, where
                assert ("accounts_created", "setup.awaiting_accounts", "setup") in events, where
            step = STATES.get(instance.state)
            furthest = max(furthest, len(STEP_ORDER) + 1 if instance.state == "deployed" else
                           (STEP_ORDER.index(step) + 1 if step else 0))

        # Every attempt by an unknown person was recorded, with a reason.
        unknown = session.exec(select(RefusedAttempt).where(RefusedAttempt.actor == UNKNOWN)).all()
        assert len(unknown) == runner.unknown_attempts
        assert all(a.role == "inconnu" and a.reasons for a in unknown)
    return furthest


# ------------------------------------------------------------------------------------------------------ tests


def test_random_sequences_keep_the_roadmap_invariants(settings: Settings, tmp_path: Path) -> None:
    FILES["minutes"] = tmp_path / "compte-rendu.pdf"
    FILES["minutes"].write_bytes(b"%PDF-1.4 compte rendu du conseil d'ecole\n")
    FILES["record"] = tmp_path / "fiche-traitement.pdf"
    FILES["record"].write_bytes(b"%PDF-1.4 fiche de traitement\n")
    FILES["missing"] = tmp_path / "absent.pdf"
    prepare(settings, tmp_path)
    numbers = count()
    reached: list[int] = []
    totals = [0, 0]  # successful calls, refused calls

    @hypothesis_settings(max_examples=40, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(sequence=st.lists(actions, max_size=40))
    @example(sequence=FULL_WALKS[0])
    @example(sequence=FULL_WALKS[1])
    def run(sequence: list[tuple[Any, ...]]) -> None:
        with database_copy(settings.database_url, tmp_path, next(numbers)) as url:
            roadmap = make_roadmap(replace(settings, database_url=url))
            try:
                runner = Runner(roadmap)
                for action in sequence:
                    runner.run(action)
                furthest = check_invariants(roadmap, runner)
                reached.append(furthest)
                totals[0] += runner.moved
                totals[1] += runner.refused
                target(float(furthest), label="étape la plus avancée")
            finally:
                roadmap.db.dispose()

    run()
    # The explicit examples take schools to the end; the random ones both move schools and get refused.
    assert max(reached) == len(STEP_ORDER) + 1, reached
    assert totals[0] > 0 and totals[1] > 0
