"""The product's service layer: wires the workflow engine to the directory, permissions and files.

Every action of the CLI (and later the web app) goes through here, so permissions hold whatever the UI.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from roadmap import annuaire
from roadmap.account_table import AccountItems, build_row
from roadmap.db import check_schema, make_engine, migrate
from roadmap.directory import ImportReport, add_person, import_extract, list_people, remove_person
from roadmap.errors import InvalidValue, NotFound, RoadmapError
from roadmap.files import FileStore
from roadmap.guards import roadmap_guards
from roadmap.models import ROLE_LABELS, Departement, Person, School
from roadmap.permissions import authorize
from roadmap.settings import Settings
from roadmap.territory import academies
from roadmap.uai import normalize_uai, uai_problem
from workflows import (
    Actor,
    Definition,
    DefinitionError,
    GuardRegistry,
    TransitionRecord,
    WorkflowEngine,
    load_definitions,
)
from workflows.definition import load_definition_file
from workflows.models import WorkflowInstance, utcnow
from workflows.versions import VersionChange, install, not_installed, plan

NATIONAL = "national"
IMPORT_ACTOR = Actor(id="import-annuaire", role="admin", label="import de l'annuaire")
SYSTEM_ACTOR = Actor(id="roadmap-init", role="admin", label="installation des définitions")


def load_roadmaps(directory: Path, guards: GuardRegistry | None = None) -> dict[str, Definition]:
    definitions = load_definitions(directory, guards=(guards or roadmap_guards()).signatures(), roles=ROLE_LABELS)
    if NATIONAL not in definitions:
        raise DefinitionError(directory, f'la définition nationale (id = "{NATIONAL}") est absente.')
    check_academie_claims(definitions)
    return definitions


APPLIES_TO_KEYS = ("academies",)


def check_academie_claims(definitions: dict[str, Definition]) -> None:
    """`[applies_to]` only names académies, and an académie follows at most one variant."""
    claimed: dict[str, str] = {}
    for definition in definitions.values():
        for key in definition.applies_to:
            if key not in APPLIES_TO_KEYS:
                raise DefinitionError(
                    definition.source,
                    f"définition « {definition.id} », [applies_to] : clé inconnue « {key} ».",
                    line=_line_of_key(definition.source, key),
                    hint="clés possibles : " + ", ".join(APPLIES_TO_KEYS),
                )
        for code in definition.applies_to.get("academies", ()):
            if code in claimed:
                raise DefinitionError(
                    definition.source, f"l'académie {code} est déjà couverte par la définition « {claimed[code]} »."
                )
            claimed[code] = definition.id


def _line_of_key(source: str | None, key: str) -> int | None:
    try:
        lines = Path(source).read_text(encoding="utf-8").splitlines() if source else []
    except OSError:
        return None
    return next((number for number, line in enumerate(lines, 1) if line.strip().startswith(f"{key} ")), None)


class Roadmap:
    def __init__(self, settings: Settings, *, db: Engine | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.db = db or make_engine(settings.database_url)
        guards = roadmap_guards()
        self.definitions = load_roadmaps(settings.definitions_dir, guards)
        self.engine = WorkflowEngine(
            self.db,
            self.definitions,
            guards,
            superuser_roles=frozenset({"admin"}),
            authorize=authorize,
            load_subject=lambda s, uai: s.get(School, uai),
            clock=clock,
        )
        self.files = FileStore(settings.files_dir)
        self.engine.hooks.append(self.files.register)

    @classmethod
    def from_env(cls) -> Roadmap:
        return cls(Settings.from_env())

    # --------------------------------------------------------------------------------------- set-up

    def init(self) -> tuple[str | None, str]:
        revisions = migrate(self.db)
        self.install_definitions()
        return revisions

    def ready(self) -> Roadmap:
        check_schema(self.db)
        with self.session() as session:
            pending = not_installed(session, self.definitions)
        if pending:
            raise RoadmapError(
                "Les définitions de feuille de route sur disque ne sont pas celles installées dans la base ("
                + ", ".join(sorted(pending))
                + ").\n  → vérifiez-les avec « roadmap definition check FICHIER », puis lancez « roadmap init »."
            )
        return self

    # ---------------------------------------------------------------------------------- definitions

    def install_definitions(self) -> list[VersionChange]:
        """Record the definitions on disk; instances in flight move to new versions (one transaction)."""
        with self.session() as session, session.begin():
            return install(
                session, self.definitions, actor=SYSTEM_ACTOR.id, role=SYSTEM_ACTOR.role, now=self.engine.clock()
            )

    def definition_changes(self, candidate: Definition | None = None) -> list[VersionChange] | None:
        """What installing the definitions (or only `candidate`) would change; None if the database is not set up."""
        try:
            check_schema(self.db)
        except RoadmapError:
            return None
        definitions = self._with_variants(candidate) if candidate else self.definitions
        with self.session() as session:
            return plan(session, definitions)

    def _with_variants(self, candidate: Definition) -> dict[str, Definition]:
        """The candidate, and the installed variants extending it rebuilt on it (they change with their base)."""
        result = {candidate.id: candidate}
        for definition in self.definitions.values():
            if definition.extends == candidate.id and definition.source:
                result[definition.id] = load_definition_file(
                    Path(definition.source),
                    guards=self.engine.guards.signatures(),
                    roles=ROLE_LABELS,
                    known={**self.definitions, **result},
                )
        return result

    def read_definition_file(self, path: Path) -> Definition:
        """A draft definition file, validated as if installed beside the others."""
        definition = load_definition_file(
            path, guards=self.engine.guards.signatures(), roles=ROLE_LABELS, known=self.definitions
        )
        check_academie_claims({**self.definitions, definition.id: definition})
        return definition

    def guard_description(self, name: str) -> str:
        return self.engine.guards[name].description

    def session(self) -> Session:
        return Session(self.db, expire_on_commit=False)

    def definition_for_academie(self, academie_code: str | None) -> Definition:
        for definition in self.definitions.values():
            if academie_code in definition.applies_to.get("academies", ()):
                return definition
        return self.definitions[NATIONAL]

    # ------------------------------------------------------------------------------------ directory

    def import_annuaire(self, path: Path) -> ImportReport:
        extract = annuaire.read_annuaire(path)
        zones = academies(self.settings.territory_file)

        def start(session: Session, school: School) -> None:
            departement = session.get(Departement, school.departement_code)  # from the identity map after the first
            definition = self.definition_for_academie(departement.academie_code if departement else None)
            self.engine.start(session, definition.id, school.uai, IMPORT_ACTOR, note=f"import de {path.name}")

        with self.session() as session, session.begin():
            return import_extract(session, extract, zones, start)

    def add_person(self, email: str, role: str, scope: str, name: str) -> Person:
        with self.session() as session, session.begin():
            return add_person(session, email, role, scope, name)

    def remove_person(self, email: str) -> Person:
        with self.session() as session, session.begin():
            return remove_person(session, email)

    def people(self, role: str | None = None) -> list[Person]:
        with self.session() as session:
            return list_people(session, role)

    def actor(self, email: str, *, attempted: str, uai: str) -> Actor:
        """The person behind --by; an unknown address is refused and the attempt recorded."""
        address = email.strip().lower()
        with self.session() as session:
            person = session.exec(select(Person).where(Person.email == address)).first()
        if person is None:
            self.engine.record_refusal(
                uai, attempted, Actor(id=address, role="inconnu"), ["personne inconnue de l'annuaire de l'outil."]
            )
            raise NotFound(
                "Personne",
                address,
                hint="enregistrez-la avec « roadmap people add EMAIL --role ROLE "
                "--scope PÉRIMÈTRE --name NOM », ou vérifiez l'adresse.",
            )
        return Actor(id=person.email, role=person.role, label=person.name, scope=person.scope)

    # ------------------------------------------------------------------------------------- schools

    def school_uai(self, raw: str) -> str:
        uai = normalize_uai(raw)
        problem = uai_problem(uai)
        if problem:
            raise InvalidValue("UAI", raw, problem + ".", hint="un UAI compte 7 chiffres et une lettre, ex. 0350122T.")
        with self.session() as session:
            if session.get(School, uai) is None:
                raise NotFound("École", uai, hint="importez l'annuaire de son département, ou vérifiez l'UAI.")
        return uai

    def fire(
        self, uai: str, event: str, by: str, *, note: str | None = None, expected_version: int | None = None
    ) -> TransitionRecord:
        uai = self.school_uai(uai)
        actor = self.actor(by, attempted=event, uai=uai)
        return self.engine.fire(uai, event, actor, note=note, expected_version=expected_version)

    def check(
        self,
        uai: str,
        item_id: str,
        value: str | None,
        by: str,
        *,
        clear: bool = False,
        expected_version: int | None = None,
    ) -> TransitionRecord:
        uai = self.school_uai(uai)
        actor = self.actor(by, attempted="check", uai=uai)
        with self.session() as session:
            instance = self.engine.get(session, uai)
            definition = self.engine.definition(instance.definition_id)
        step = definition.step_of(instance.state)
        item = step.item(item_id) if step else None
        raw: Any = None if clear else value
        if not clear and item is not None:
            if item.type == "file":
                if value is None:
                    raise InvalidValue(
                        item_id,
                        "",
                        "un chemin de fichier est attendu.",
                        hint=f"roadmap school check {uai} {item_id} CHEMIN --by {actor.id}",
                    )
                raw = self.files.prepare(Path(value))
            elif value is None:
                if item.type != "bool":
                    raise InvalidValue(
                        item_id,
                        "",
                        "une valeur est attendue pour cet élément.",
                        hint=f"roadmap school check {uai} {item_id} VALEUR --by {actor.id}",
                    )
                raw = True
        return self.engine.set_item(uai, item_id, raw, actor, expected_version=expected_version)

    def instance(self, session: Session, uai: str) -> WorkflowInstance:
        return self.engine.get(session, uai)

    def schools(
        self, *, step: str | None = None, circonscription: str | None = None, departement: str | None = None
    ) -> list[tuple[School, WorkflowInstance]]:
        query = select(School, WorkflowInstance).join(
            WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai)
        )
        if circonscription:
            query = query.where(School.circonscription_uai == normalize_uai(circonscription))
        if departement:
            query = query.where(School.departement_code == departement.zfill(3))
        with self.session() as session:
            rows: list[tuple[School, WorkflowInstance]] = [
                (school, instance) for school, instance in session.exec(query.order_by(col(School.uai))).all()
            ]
        if step:
            known = {s.id for d in self.definitions.values() for s in d.steps} | {
                s for d in self.definitions.values() for s in d.states
            }
            if step not in known:
                raise InvalidValue(
                    "--step",
                    step,
                    "étape inconnue.",
                    hint="étapes : "
                    + ", ".join(s.id for s in self.definitions[NATIONAL].steps)
                    + ", deployed, suspended, abandoned",
                )
            rows = [(school, inst) for school, inst in rows if self.step_id(inst) == step or inst.state == step]
        return rows

    def account_rows(
        self, *, departement: str | None = None, state: str = "transmission.submitted"
    ) -> list[dict[str, str]]:
        """Rows of the account-creation table for the schools in `state` (by default: transmitted, to route)."""
        rows = []
        with self.session() as session:
            for school, instance in self.schools(departement=departement):
                if instance.state == state:
                    items = AccountItems.of(self.engine.definition(instance.definition_id))
                    rows.append(build_row(session, school, self.engine.values(session, instance), items))
        return rows

    def step_id(self, instance: WorkflowInstance) -> str:
        """The roadmap step of an instance; holds and final states stand for themselves."""
        step = self.engine.definition(instance.definition_id).step_of(instance.state)
        return step.id if step else instance.state


__all__ = ["Roadmap", "RoadmapError"]
