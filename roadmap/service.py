"""The product's service layer: wires the workflow engine to the directory, permissions and files.

Every action of the CLI (and later the web app) goes through here, so permissions hold whatever the UI.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import ColumnElement, Engine, and_, bindparam, false, or_, true
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, func, select

from notifications.models import MODES, RecipientPreference
from roadmap import annuaire, audit, forms, gdpr, locks
from roadmap.account_table import AccountItems, compose_row, directors_of
from roadmap.db import check_schema, make_engine, migrate
from roadmap.directory import ImportReport, add_person, import_extract, list_people, remove_person
from roadmap.errors import InvalidValue, NotFound, RoadmapError
from roadmap.family_facts import typed_fact_checks
from roadmap.files import FileStore, Upload
from roadmap.forms import ReturnedFormsView
from roadmap.guards import roadmap_guards
from roadmap.models import (
    AuditEntry,
    Circonscription,
    DepartedPerson,
    Departement,
    Person,
    ProcessingRecord,
    ReturnedForms,
    School,
    StoredFile,
)
from roadmap.permissions import (
    REGISTER_READERS,
    administration_reasons,
    authorize,
    check_scope,
    covers,
    departement_reasons,
)
from roadmap.progress import SILENT, Progress
from roadmap.reminders import Notifier
from roadmap.roles import READABLE_FILES, ROLE_LABELS
from roadmap.settings import PARIS, Settings
from roadmap.territory import academies
from roadmap.uai import normalize_uai, uai_problem
from workflows import (
    Actor,
    ChecklistItem,
    Definition,
    DefinitionError,
    GuardRegistry,
    TransitionRecord,
    UnknownInstance,
    WorkflowEngine,
    load_definitions,
)
from workflows.definition import load_definition_file
from workflows.models import HistoryEntry, RefusedAttempt, WorkflowInstance, utcnow
from workflows.versions import VersionChange, install, not_installed, plan

if TYPE_CHECKING:
    from roadmap.documents import FamilyDocument
    from roadmap.transmission import Transmissions

NATIONAL = "national"
OUT_OF_SIGHT = "vérifiez l'UAI ; seules les écoles de votre périmètre sont visibles."


# Someone with shell access to the database (the CLI without --as): sees everything, changes nothing by reading.
OPERATOR = Actor(id="operator", role="admin", label="opérateur (accès direct à la base)", scope="*")


def in_scope(viewer: Actor) -> ColumnElement[bool]:
    """SQL condition on School: the schools `viewer` may see."""
    scope = viewer.scope
    if viewer.role == "admin":
        return true()
    if viewer.role == "director":
        return col(School.uai) == scope
    if viewer.role == "ien":
        return col(School.circonscription_uai) == scope
    if viewer.role == "cpd":
        return col(School.departement_code) == scope
    if viewer.role in ("dane", "dpo"):
        return col(School.departement_code).in_(select(Departement.code).where(Departement.academie_code == scope))
    return false()


def people_in_scope(viewer: Actor) -> ColumnElement[bool]:
    """SQL condition on Person: the people whose work lies within `viewer`'s schools (their directors, IENs, CPDs,
    DANE), and the viewer themselves."""
    if viewer.role == "admin":
        return true()
    schools = select(School).where(in_scope(viewer)).subquery()
    return or_(
        col(Person.email) == viewer.id,
        and_(col(Person.role) == "director", col(Person.scope).in_(select(schools.c.uai))),
        and_(col(Person.role) == "ien", col(Person.scope).in_(select(schools.c.circonscription_uai))),
        and_(col(Person.role) == "cpd", col(Person.scope).in_(select(schools.c.departement_code))),
        and_(col(Person.role) == "dane", col(Person.scope).in_(
            select(Departement.academie_code).where(col(Departement.code).in_(select(schools.c.departement_code))))),
    )


NO_SCHOOL = "importez l'annuaire de son département, ou vérifiez l'UAI."


class _UnknownPerson(RoadmapError):
    """Raised inside a move's transaction; the service records the refusal once it is rolled back."""


_PEOPLE = SQLModel.metadata.tables["person"]
_PERSON_BY_EMAIL = sa_select(_PEOPLE.c.email, _PEOPLE.c.role, _PEOPLE.c.name, _PEOPLE.c.scope).where(
    _PEOPLE.c.email == bindparam("email")
)


_SCHOOL_BY_UAI = select(School).where(col(School.uai) == bindparam("uai"))


def _person_source(address: str) -> Callable[[Session], Actor]:
    """The registered person behind `address`, read in the caller's transaction."""
    def resolve(session: Session) -> Actor:
        row = session.connection().execute(_PERSON_BY_EMAIL, {"email": address}).first()
        if row is None:
            raise _UnknownPerson(address)
        email, role, name, scope = row
        return Actor(id=email, role=role, label=name, scope=scope)

    return resolve


class AdministrationRefused(RoadmapError):
    """An administrative action the person may not take; every reason listed, nothing changed."""

    def __init__(self, who: str, action: str, target: str, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__(
            f"Action refusée pour {who} ({action} : {target}) :\n" + "\n".join(f"  - {r}" for r in reasons)
        )


def import_reasons(manager: Actor, extract: annuaire.AnnuaireExtract) -> list[str]:
    """An admin imports anything; a CPD (DANE) a file whose every establishment, open or marked closed, lies in
    their département (académie)."""
    if manager.role == "admin":
        return []
    if manager.role not in ("cpd", "dane"):
        return ["seuls un administrateur, un CPD (pour son département) ou une DANE (pour son académie) importent "
                "l'annuaire."]
    attribute = "departement_code" if manager.role == "cpd" else "academie_code"
    rows: list[annuaire.AnnuaireRecord | annuaire.ClosedRow] = [*extract.records, *extract.closed.values()]
    outside = sorted({getattr(r, attribute) for r in rows} - {manager.scope})
    if outside:
        where = "département(s)" if manager.role == "cpd" else "académie(s)"
        return [f"le fichier contient des établissements hors de votre périmètre ({manager.scope}) : {where} "
                + ", ".join(outside) + "."]
    return []
SYSTEM_ACTOR = Actor(id="roadmap-init", role="admin", label="installation des définitions")
SUSPEND, RESUME = "suspend", "resume"  # the events a closure in the annuaire fires, and a reopening
CLOSURE_NOTE = "établissement fermé dans l'annuaire"
REOPENING_NOTE = "établissement rouvert dans l'annuaire"
RETENTION_ACTOR = Actor(id="roadmap-conservation", role="admin", label="règle de conservation (tâche quotidienne)")


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
        self.db = db or make_engine(settings.database_url, busy_timeout_ms=settings.busy_timeout_ms)
        guards = roadmap_guards(settings.territory_file)
        self.definitions = load_roadmaps(settings.definitions_dir, guards)
        self.engine = WorkflowEngine(
            self.db,
            self.definitions,
            guards,
            superuser_roles=frozenset({"admin"}),
            authorize=authorize,
            load_subject=lambda s, uai: s.exec(_SCHOOL_BY_UAI, params={"uai": uai}).first(),
            clock=clock,
            timezone=PARIS,
        )
        self.files = FileStore(settings.files_dir)
        self.engine.hooks.append(self.files.register)
        self.fact_checks = typed_fact_checks(self.definitions.values())  # the documents' facts, checked as typed
        # Emails a move causes are queued in the move's own transaction (committed together or not at all).
        self.notifier = Notifier(settings, self.definitions)
        self.engine.hooks.append(self.notifier.on_transition)

    @functools.cached_property
    def transmissions(self) -> Transmissions:
        """Account tables sent in batches, and agreements with publishers (roadmap/transmission.py)."""
        from roadmap.transmission import Transmissions

        return Transmissions(self)

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
                + ") : vérifiez-les, puis installez-les.",
                remedy="install_definitions",
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

    def import_annuaire(self, path: Path, *, by: str, progress: Progress = SILENT) -> ImportReport:
        """Import an extract, as `by`: an admin anywhere, a CPD or DANE for a file entirely within their scope."""
        manager = self.manager(by, attempted="import.annuaire", target=path.name)
        extract = annuaire.read_annuaire(path, progress)
        reasons = import_reasons(manager, extract)
        if reasons:
            self.refuse_administration(manager, "import.annuaire", path.name, reasons)
        zones = academies(self.settings.territory_file)

        def start(session: Session, created: list[tuple[str, str]]) -> None:
            academie_of = dict(session.exec(select(Departement.code, Departement.academie_code)).all())
            by_definition: dict[str, list[str]] = {}
            for uai, departement in created:
                definition = self.definition_for_academie(academie_of.get(departement))
                by_definition.setdefault(definition.id, []).append(uai)
            for definition_id, subjects in by_definition.items():
                self.engine.start_many(session, definition_id, subjects, manager, note=f"import de {path.name}")

        with self.engine.transaction() as session:
            locks.hold(session, locks.IMPORT, f"import de {path.name}")  # a second import waits for this one
            report = import_extract(session, extract, zones, start, progress, self.engine.clock)
            self._follow_closures(session, manager, report, extract, path.name)
            audit.record(
                session,
                manager,
                "import.annuaire",
                path.name,
                {
                    "schools_created": report.schools_created,
                    "schools_updated": report.schools_updated,
                    "schools_unchanged": report.schools_unchanged,
                    "circonscriptions": report.circonscriptions,
                    "contacts": report.contacts,
                    "rejected": report.rejected_count,
                    "columns": report.columns,
                    "closed": [closed.uai for closed in report.closed],
                    "closed_unknown": report.closed_unknown,
                    "contacts_left": len(report.departed),
                    "kept_manual": len(report.kept_manual),  # addresses only as targets: displays pseudonymise those
                    "suspended": report.suspended,
                    "resumed": report.resumed,
                },
            )
            for gone in report.departed:  # each mailbox that left, under its own address (like people.remove)
                audit.record(session, manager, "directory.closed", gone.email,
                             {"role": gone.role, "scope": gone.scope, "file": path.name})
            return report

    def _follow_closures(self, session: Session, manager: Actor, report: ImportReport,
                         extract: annuaire.AnnuaireExtract, file_name: str) -> None:
        """A school the file marks closed has its roadmap suspended by the importer (no more reminders; the note
        says why), unless it ended or is suspended already; a school listed open again whose roadmap a closure
        suspended resumes where it was. Other suspensions are people's decisions: an import never lifts them."""
        states = [state for d in self.definitions.values() for state in d.states.values()]
        holds = sorted({state.id for state in states if state.hold})
        resting = sorted({state.id for state in states if state.hold or state.final})  # nothing to suspend
        closed = [c.uai for c in report.closed if c.kind == "school"]
        for instance in self._instances(session, closed, col(WorkflowInstance.state).not_in(resting)):
            if SUSPEND in self.engine.allowed_events(session, instance):
                self.engine.fire_in(session, instance.subject, SUSPEND, manager,
                                    note=f"{CLOSURE_NOTE} (import de {file_name})")
                report.suspended.append(instance.subject)
        listed = [record.uai for record in extract.records if record.kind == "school"]
        held = self._instances(session, listed, col(WorkflowInstance.state).in_(holds))
        for instance in held:
            last = session.exec(select(HistoryEntry.note).where(
                HistoryEntry.instance_id == instance.id, HistoryEntry.target == instance.state,
            ).order_by(col(HistoryEntry.id).desc()).limit(1)).first()
            if last and last.startswith(CLOSURE_NOTE) and RESUME in self.engine.allowed_events(session, instance):
                self.engine.fire_in(session, instance.subject, RESUME, manager,
                                    note=f"{REOPENING_NOTE} (import de {file_name})")
                report.resumed.append(instance.subject)

    @staticmethod
    def _instances(session: Session, subjects: list[str], where: ColumnElement[bool]) -> list[WorkflowInstance]:
        """The instances of these subjects that meet `where`, ordered by subject (read 5,000 subjects at a time)."""
        found: list[WorkflowInstance] = []
        for offset in range(0, len(subjects), 5000):
            found += session.exec(select(WorkflowInstance).where(
                col(WorkflowInstance.subject).in_(subjects[offset : offset + 5000]), where)).all()
        return sorted(found, key=lambda instance: instance.subject)

    def bootstrap_admin(self, email: str, name: str) -> Person:
        """Create the FIRST administrator (never implicitly); the same address again changes nothing."""
        address = email.strip().lower()
        with self.engine.transaction() as session:
            admins = session.exec(select(Person).where(Person.role == "admin")).all()
            if any(admin.email == address for admin in admins):
                return next(admin for admin in admins if admin.email == address)
            if admins:
                raise RoadmapError(
                    f"Un administrateur existe déjà ({', '.join(a.email for a in admins)}) : les suivants sont "
                    "enregistrés par un administrateur existant, qui signe l'ajout."
                )
            person = add_person(session, address, "admin", "*", name)
            audit.record(session, Actor(id=person.email, role="admin", label=person.name), "admin.bootstrap", address)
            return person

    def manager(self, by: str, *, attempted: str, target: str) -> Actor:
        """The registered person behind `by` for an administrative action; an unknown address is refused (and
        the attempt written in the audit log)."""
        address = by.strip().lower()
        with self.session() as session:
            person = session.exec(select(Person).where(Person.email == address)).first()
        if person is None:
            self.refuse_administration(
                Actor(id=address, role="inconnu"), attempted, target, ["personne inconnue de l'outil."]
            )
        assert person is not None
        return Actor(id=person.email, role=person.role, label=person.name, scope=person.scope)

    def refuse_administration(self, actor: Actor, attempted: str, target: str, reasons: list[str]) -> NoReturn:
        with self.engine.transaction() as session:
            audit.record(session, actor, "refused", target, {"attempted": attempted, "reasons": reasons})
        raise AdministrationRefused(actor.id, audit.ACTION_LABELS.get(attempted, attempted), target, reasons)

    def add_person(self, email: str, role: str, scope: str, name: str, *, by: str) -> Person:
        manager = self.manager(by, attempted="people.add", target=email)
        with self.session() as session:
            normalized = check_scope(session, role, scope)
            reasons = administration_reasons(session, manager, role, normalized)
        if reasons:
            self.refuse_administration(manager, "people.add", email, reasons)
        with self.engine.transaction() as session:
            person = add_person(session, email, role, scope, name)
            gdpr.cancel_departure(session, person.email)
            audit.record(
                session, manager, "people.add", person.email, {"role": role, "scope": person.scope, "name": person.name}
            )
            return person

    def remove_person(self, email: str, *, by: str) -> Person:
        manager = self.manager(by, attempted="people.remove", target=email)
        address = email.strip().lower()
        with self.session() as session:
            person = session.exec(select(Person).where(Person.email == address)).first()
            if person is None:
                raise NotFound("Personne", address)
            reasons = administration_reasons(session, manager, person.role, person.scope)
            admins = session.exec(select(func.count()).select_from(Person).where(Person.role == "admin")).one()
        if person.role == "admin" and admins == 1:
            reasons.append("c'est le dernier administrateur : enregistrez-en un autre avant de le retirer.")
        if reasons:
            self.refuse_administration(manager, "people.remove", address, reasons)
        with self.engine.transaction() as session:
            removed = remove_person(session, address)
            gdpr.record_departure(session, email=removed.email, name=removed.name, role=removed.role,
                                  scope=removed.scope, reason="removed", now=self.engine.clock())
            audit.record(
                session, manager, "people.remove", removed.email, {"role": removed.role, "scope": removed.scope}
            )
            return removed

    def set_reminder_mode(self, email: str, mode: str, *, by: str) -> str:
        """How a person receives reminders: one by one, or in one daily digest. A person sets their own; an
        administrator (or their CPD/DANE, within scope) may set it for them. Recorded in the audit log."""
        address = email.strip().lower()
        if mode not in MODES:
            raise InvalidValue("mode", mode, "mode inconnu.", hint="modes : " + ", ".join(MODES))
        manager = self.manager(by, attempted="people.reminders", target=address)
        with self.session() as session:
            person = session.exec(select(Person).where(Person.email == address)).first()
            if person is None:
                raise NotFound("Personne", address, remedy="list_people")
            reasons = [] if manager.id == address else administration_reasons(session, manager, person.role,
                                                                             person.scope)
        if reasons:
            self.refuse_administration(manager, "people.reminders", address, reasons)
        with self.engine.transaction() as session:
            preference = session.get(RecipientPreference, address) or RecipientPreference(address=address)
            preference.mode, preference.updated_at = mode, self.engine.clock()
            session.add(preference)
            audit.record(session, manager, "people.reminders", address, {"mode": mode})
        return mode

    def audit_log(self, limit: int | None = None) -> list[AuditEntry]:
        with self.session() as session:
            return audit.entries(session, limit)

    def people(self, role: str | None = None, viewer: Actor = OPERATOR) -> list[Person]:
        with self.session() as session:
            return list_people(session, role, where=None if viewer is OPERATOR else people_in_scope(viewer))

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
                hint="vérifiez l'adresse, ou faites enregistrer cette personne par un administrateur.",
                remedy="add_person",
            )
        return Actor(id=person.email, role=person.role, label=person.name, scope=person.scope)

    # ------------------------------------------------------------------------------------- schools

    def valid_uai(self, raw: str) -> str:
        """The UAI in its normal form, or an error saying what is wrong with it (no database read)."""
        uai = normalize_uai(raw)
        problem = uai_problem(uai)
        if problem:
            raise InvalidValue("UAI", raw, problem + ".", hint="un UAI compte 7 chiffres et une lettre, ex. 0350122T.")
        return uai

    def school_uai(self, raw: str) -> str:
        uai = self.valid_uai(raw)
        with self.session() as session:
            if session.get(School, uai) is None:
                raise NotFound("École", uai, hint=NO_SCHOOL)
        return uai

    def fire(
        self, uai: str, event: str, by: str, *, note: str | None = None, expected_version: int | None = None
    ) -> TransitionRecord:
        """Move a school as `by`: the person, the instance, the school and the move in one transaction."""
        uai = self.valid_uai(uai)
        address = by.strip().lower()
        try:
            return self.engine.fire(
                uai, event, _person_source(address), note=note, expected_version=expected_version
            )
        except UnknownInstance:
            raise NotFound("École", uai, hint=NO_SCHOOL) from None
        except _UnknownPerson:
            self.school_uai(uai)  # an unknown school is said first, as for every other action
            self.actor(address, attempted=event, uai=uai)  # records the refusal and says who is unknown
            raise

    def check(
        self,
        uai: str,
        item_id: str,
        value: str | None,
        by: str,
        *,
        upload: Upload | None = None,
        clear: bool = False,
        expected_version: int | None = None,
    ) -> TransitionRecord:
        """Set a checklist item; a file item takes an `upload` (name and content), never a path. The person, the
        item and the change are read and written in one transaction."""
        uai = self.valid_uai(uai)
        address = by.strip().lower()
        stored: list[str] = []  # content stored for a file item: removed again if the change does not happen

        def prepare(item: ChecklistItem) -> Any:
            if clear:
                return None
            if item.type == "file":
                if upload is None:
                    raise InvalidValue(item_id, value or "", "un document à joindre est attendu.")
                raw = self.files.store(upload)
                stored.append(raw["sha256"])
                return raw
            if value is None:
                if item.type != "bool":
                    raise InvalidValue(item_id, "", "une valeur est attendue pour cet élément.")
                return True
            if item.type == "text" and item.id in self.fact_checks:
                return self.fact_checks[item.id](item.label, value)
            return value

        try:
            return self.engine.set_item(
                uai, item_id, None, _person_source(address), expected_version=expected_version, prepare=prepare
            )
        except UnknownInstance:
            raise NotFound("École", uai, hint=NO_SCHOOL) from None
        except _UnknownPerson:
            self.school_uai(uai)
            self.actor(address, attempted="check", uai=uai)
            raise
        finally:
            if stored:  # refused or failed: the content stored above goes again (kept if the change was committed)
                with self.session() as session:
                    self.files.discard_unreferenced(session, stored[0])

    def item_type(self, uai: str, item_id: str) -> str | None:
        """The type of the checklist item `item_id` the school may change now (None if it may not)."""
        uai = self.school_uai(uai)
        with self.session() as session:
            instance = self.engine.get(session, uai)
            found = self.engine.editable_item(instance, self.engine.values(session, instance), item_id)
        return found[1].type if found else None

    def instance(self, session: Session, uai: str) -> WorkflowInstance:
        return self.engine.get(session, uai)

    # ------------------------------------------------------------------------------------------ reading

    def viewer(self, email: str | None) -> Actor:
        """Who is reading: a registered person (sees their scope), or None for the local operator."""
        if email is None:
            return OPERATOR
        address = email.strip().lower()
        with self.session() as session:
            person = session.exec(select(Person).where(Person.email == address)).first()
        if person is None:
            raise NotFound("Personne", address)
        return Actor(id=person.email, role=person.role, label=person.name, scope=person.scope)

    def visible_school(self, uai: str, viewer: Actor) -> str:
        """The school's UAI if `viewer` may see it; a school outside their scope is "not found", like an unknown
        one (its existence is not revealed)."""
        if viewer is OPERATOR:
            return self.school_uai(uai)
        uai = normalize_uai(uai)
        with self.session() as session:
            school = session.get(School, uai)
            if school is None or not covers(session, viewer.role, viewer.scope, school):
                raise NotFound("École", uai, hint=OUT_OF_SIGHT)
        return uai

    def school_file(self, uai: str, item: str, viewer: Actor = OPERATOR) -> dict[str, Any]:
        """A document attached to the school's checklist (current or past step) as `viewer` may open it. A
        read-only role opens only its documents (the DPO: the council minutes), and each opening is audited."""
        uai = self.visible_school(uai, viewer)
        with self.session() as session:
            values = self.engine.values(session, self.instance(session, uai))
        found = [(step, value) for (step, key), value in values.items()
                 if key == item and isinstance(value, dict) and "sha256" in value]
        if not found:
            raise NotFound("Document", item, hint="ce document n'a pas (encore) été joint par l'école.")
        step, value = found[0]
        readable = READABLE_FILES.get(viewer.role)
        if readable is not None:
            if f"{step}.{item}" not in readable:
                self.refuse_administration(viewer, "file.read", f"{uai} {step}.{item}", [
                    f"le rôle {ROLE_LABELS[viewer.role]} ne consulte que : " + ", ".join(readable) + "."])
            with self.engine.transaction() as session:
                audit.record(session, viewer, "file.read", f"{uai} {step}.{item}", {"name": value.get("name")})
        return value

    def refusals(self, uai: str, viewer: Actor = OPERATOR) -> list[RefusedAttempt]:
        uai = self.visible_school(uai, viewer)
        with self.session() as session:
            return self.engine.refusals(session, uai)

    def account_rows(
        self, *, departement: str | None = None, state: str = "transmission.submitted", progress: Progress = SILENT
    ) -> list[dict[str, str]]:
        """Rows of the account-creation table for the schools in `state` (by default: transmitted, to route):
        a handful of queries whatever the number of schools (the table of a whole département, or the country)."""
        query = (
            select(School, WorkflowInstance)
            .join(WorkflowInstance, col(WorkflowInstance.subject) == col(School.uai))
            .where(col(WorkflowInstance.state) == state)
            .order_by(col(School.uai))
        )
        if departement:
            query = query.where(col(School.departement_code) == departement.zfill(3))
        with self.session() as session:
            pairs = list(session.exec(query).all())
            progress.phase("Lignes du tableau", total=len(pairs))
            circonscriptions = {
                c.uai: c
                for c in session.exec(
                    select(Circonscription).where(
                        col(Circonscription.uai).in_({s.circonscription_uai for s, _ in pairs if s.circonscription_uai})
                    )
                )
            }
            directors = directors_of(session, [school.uai for school, _ in pairs])
            values = self.engine.values_of(session, [instance.id for _, instance in pairs if instance.id])
        rows = []
        for school, instance in pairs:
            items = AccountItems.of(self.engine.definition(instance.definition_id))
            circonscription = circonscriptions.get(school.circonscription_uai or "")
            held = values.get(instance.id or 0, {})
            rows.append(compose_row(school, held, items, circonscription, directors.get(school.uai, "")))
            progress.advance()
        return rows

    def family_documents(
        self, uai: str, viewer: Actor = OPERATOR, *, draft: bool = False, only: list[str] | None = None
    ) -> list[FamilyDocument]:
        """The documents for the families of a school the viewer may see, pre-filled; refused while facts are
        missing (each named with where to fill it), unless `draft` (a blank line stands for each)."""
        from roadmap.documents import document_facts, family_documents

        return family_documents(document_facts(self, uai, viewer), draft=draft, only=only)

    # --------------------------------------------------------------------------------- returned forms

    def returned_forms(self, uai: str, viewer: Actor = OPERATOR) -> ReturnedFormsView:
        """What came back from the families of a school the viewer may see (zeros while nothing is recorded)."""
        uai = self.visible_school(uai, viewer)
        with self.session() as session:
            school = session.get(School, uai)
            assert school is not None
            return forms.view_of(school, session.get(ReturnedForms, uai))

    def record_returned_forms(self, uai: str, counts: dict[str, object], *, by: str) -> ReturnedFormsView:
        """Set some of the counts of a school (the others are kept), as `by`: its director, its CPD or an
        administrator. Each change is written in the audit log with the counts before and after."""
        parsed = {field: forms.parse_count(field, raw) for field, raw in counts.items() if raw is not None}
        unknown = sorted(set(parsed) - set(forms.COUNTS))
        if unknown:
            raise InvalidValue("formulaire", unknown[0], "compte inconnu.", hint="comptes : " + ", ".join(forms.COUNTS))
        if not parsed:
            raise InvalidValue("formulaires rendus", "", "aucun nombre donné.",
                               hint="indiquez au moins un des comptes : " + ", ".join(forms.COUNTS.values()) + ".")
        actor = self.manager(by, attempted="forms.record", target=uai)
        uai = self.visible_school(uai, actor)
        with self.session() as session:
            school = session.get(School, uai)
            assert school is not None
            reasons = forms.record_reasons(actor, school)
        if reasons:
            self.refuse_administration(actor, "forms.record", uai, reasons)
        with self.engine.transaction() as session:
            school = session.get(School, uai)
            assert school is not None
            view, changes = forms.apply_counts(session, school, parsed, actor, self.engine.clock())
            audit.record(session, actor, "forms.record", uai, {"changes": changes, **parsed})
            return view

    def definition(self, definition_id: str) -> Definition:
        if definition_id not in self.definitions:
            raise NotFound("Définition", definition_id, hint="disponibles : " + ", ".join(sorted(self.definitions)))
        return self.definitions[definition_id]

    def step_id(self, instance: WorkflowInstance) -> str:
        """The roadmap step of an instance; holds and final states stand for themselves."""
        step = self.engine.definition(instance.definition_id).step_of(instance.state)
        return step.id if step else instance.state

    # ----------------------------------------------------------------------------------------- GDPR

    def _departement(self, code: str) -> Departement:
        normalized = code.strip().zfill(3) if code.strip().isdigit() else code.strip().upper()
        with self.session() as session:
            departement = session.get(Departement, normalized)
        if departement is None:
            raise NotFound("Département", normalized, hint="donnez son code (ex. 035) ; l'annuaire qui le contient "
                           "doit d'abord être importé.")
        return departement

    def ent_item(self, departement: Departement) -> tuple[ChecklistItem, tuple[str, str]]:
        """The ENT choice item of the roadmap this département follows (named by its guard parameters)."""
        definition = self.definition_for_academie(departement.academie_code)
        ref = definition.item_ref("processing_record_held", "ent_item")
        return definition.item_spec(ref), ref

    def _record_keeper(self, departement: str, by: str, ent: str = "") -> tuple[Departement, Actor]:
        place = self._departement(departement)
        target = f"{place.code} {ent}".strip()
        manager = self.manager(by, attempted="gdpr.record", target=target)
        with self.session() as session:
            reasons = departement_reasons(session, manager, place.code, write=True)
        if reasons:
            self.refuse_administration(manager, "gdpr.record", target, reasons)
        return place, manager

    def may_keep_register(self, departement: str, *, by: str) -> str:
        """The département's code when `by` may record its processing records (refused, and traced, otherwise):
        an interface asks before reading a whole form."""
        return self._record_keeper(departement, by)[0].code

    def add_processing_record(
        self, departement: str, ent: str, upload: Upload, *, by: str, publisher: str | None = None,
        received: date | None = None, sent_to_dsden: date | None = None,
    ) -> ProcessingRecord:
        """Record (or replace) a publisher's processing record for one ENT in one département: admin, the
        département's CPD or the académie's DANE. Audited; the file goes to the file store."""
        place, manager = self._record_keeper(departement, by, ent)
        item, _ = self.ent_item(place)
        name = ent.strip()
        if name not in item.choices:
            raise InvalidValue("ENT", ent, "ENT inconnu de la feuille de route de ce département.",
                               hint="ENT possibles : " + ", ".join(item.choices))
        today = self.engine.clock().astimezone(PARIS).date()
        received_on = received or today
        if received_on > today or (sent_to_dsden and sent_to_dsden > today):
            raise InvalidValue("date", f"{max(received_on, sent_to_dsden or received_on):%d/%m/%Y}",
                               "date future.", hint="donnez la date à laquelle c'est arrivé (jj/mm/aaaa).")
        raw = self.files.store(upload)
        with self.engine.transaction() as session:
            if session.get(StoredFile, raw["sha256"]) is None:
                session.add(StoredFile(sha256=raw["sha256"], name=raw["name"], size=raw["size"],
                                       media_type=raw["media_type"]))
            record = gdpr.find_record(session, place.code, name) or ProcessingRecord(
                departement_code=place.code, ent_name=name, publisher="", file_sha256=raw["sha256"], file_name="",
                received_on=received_on, recorded_by=manager.id)
            replaced = record.id is not None
            record.publisher = (publisher or "").strip() or gdpr.publisher_of(name)
            record.file_sha256, record.file_name = raw["sha256"], raw["name"]
            record.received_on, record.sent_to_dsden_on = received_on, sent_to_dsden
            record.recorded_by, record.recorded_at = manager.id, self.engine.clock()
            session.add(record)
            audit.record(session, manager, "gdpr.record", f"{place.code} {name}",
                         {"file": raw["name"], "sha256": raw["sha256"], "replaced": replaced})
        return record

    def register_departements(self, viewer: Actor, departement: str | None = None) -> list[str]:
        """The départements whose register `viewer` may read (one, or all of their scope)."""
        with self.session() as session:
            if departement is not None:
                code = self._departement(departement).code
                reasons = departement_reasons(session, viewer, code, write=False)
                if reasons:
                    self.refuse_administration(viewer, "gdpr.register", code, reasons)
                return [code]
            reasons = [] if viewer.role in REGISTER_READERS else departement_reasons(session, viewer, "", write=False)
            if reasons:
                self.refuse_administration(viewer, "gdpr.register", viewer.scope, reasons)
            query = select(Departement.code).order_by(col(Departement.code))
            if viewer.role in ("dane", "dpo"):
                query = query.where(Departement.academie_code == viewer.scope)
            elif viewer.role == "cpd":
                query = query.where(Departement.code == viewer.scope)
            return list(session.exec(query).all())

    def processing_records(self, viewer: Actor = OPERATOR, departement: str | None = None) -> list[ProcessingRecord]:
        codes = self.register_departements(viewer, departement)
        with self.session() as session:
            return gdpr.records(session, codes)

    def register_rows(self, departement: str, *, by: str) -> list[dict[str, str]]:
        """The DASEN's register for a département: one row per processing record, with how many of its schools
        chose that ENT. Read by the admin, the CPD, the DANE or the DPO of its académie; audited."""
        reader = self.manager(by, attempted="gdpr.register", target=departement)
        place = self._departement(departement)
        codes = self.register_departements(reader, place.code)
        _, ref = self.ent_item(place)
        with self.engine.transaction() as session:
            usage = gdpr.ent_usage(session, place.code, ref)
            rows = [gdpr.register_row(record, usage.get(record.ent_name, 0)) for record in gdpr.records(session, codes)]
            audit.record(session, reader, "gdpr.register", place.code, {"rows": len(rows)})
        return rows

    def purge(self, *, by: str, dry_run: bool = False) -> list[DepartedPerson]:
        """Anonymise the people who left the directory more than `retention_days` ago (admin only): every row that
        named them names their pseudonym from now on, history and audit included (roadmap/gdpr.py)."""
        manager = self.manager(by, attempted="gdpr.purge", target="rétention")
        if manager.role != "admin":
            self.refuse_administration(manager, "gdpr.purge", "rétention",
                                       ["seul un administrateur applique la règle de conservation."])
        return self._purge(manager, dry_run=dry_run)

    def scheduled_purge(self) -> list[DepartedPerson]:
        """The daily run of the retention rule by the worker, under its own audited actor."""
        return self._purge(RETENTION_ACTOR)

    def _purge(self, manager: Actor, *, dry_run: bool = False) -> list[DepartedPerson]:
        """The scan for the rows to rewrite reads without the write lock (seconds at national scale); the write
        transaction then only rewrites what it found, plus the rows written since."""
        now = self.engine.clock()
        with self.session() as session:
            due = gdpr.due_departures(session, now, self.settings.retention_days)
            found = [DepartedPerson(**row.model_dump()) for row in due]  # as they were, for the report
            if dry_run:
                return found
            plan = gdpr.plan_erasure(session, due)
        with self.engine.transaction() as session:
            erased = gdpr.anonymise(session, plan, now, by=manager.id)
            if erased.anonymised or erased.caught_up or manager is not RETENTION_ACTOR:
                audit.record(session, manager, "gdpr.purge", "rétention", {
                    "anonymised": erased.anonymised, "caught_up": erased.caught_up, "rows": erased.rows,
                    "retention_days": self.settings.retention_days})
        return [person for person in found if person.pseudonym in erased.anonymised]

    def access_export(self, email: str, *, by: str) -> dict[str, Any]:
        """Everything held about one person (access request, GDPR art. 15): admin or DANE; audited."""
        address = email.strip().lower()
        manager = self.manager(by, attempted="gdpr.access", target=address)
        if manager.role not in ("admin", "dane"):
            self.refuse_administration(manager, "gdpr.access", address,
                                       ["seuls un administrateur ou la DANE répondent à une demande d'accès."])
        with self.engine.transaction() as session:
            held = gdpr.held_about(session, address)
            audit.record(session, manager, "gdpr.access", address, {"rows": gdpr.counts(held)})
        return {"person": address, "exported_at": self.engine.clock(), "exported_by": manager.id,
                "retention_days": self.settings.retention_days, "tables": held}


__all__ = ["Roadmap", "RoadmapError"]
