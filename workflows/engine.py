"""The workflow engine: guarded moves and checklist changes on persisted instances.

Each move runs in ONE database transaction: the instance's state and version, its history row and
whatever the application's hooks add (outgoing messages) are committed together or not at all. The
version column makes concurrent moves safe: the second writer finds the version changed and gets a
ConcurrencyConflict, with nothing written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import Engine, Update, bindparam, insert, update
from sqlalchemy import select as select_columns
from sqlmodel import Session, SQLModel, col, select

from workflows.checklist import ChecklistItem, parse_date
from workflows.definition import Definition, StepSpec, TransitionSpec
from workflows.errors import ConcurrencyConflict, InvalidItemValue, TransitionRefused, UnknownInstance, WorkflowError
from workflows.guards import Actor, ActorSource, GuardContext, GuardRegistry, is_deferred
from workflows.machine import CompiledWorkflow, Edge, compile_definition
from workflows.models import ChecklistValue, HistoryEntry, RefusedAttempt, WorkflowInstance, utcnow
from workflows.versions import UPGRADE_EVENT

START_EVENT = "start"
CHECK_EVENT = "check"
# Execution option set on the connection of every write unit of work: a backend that needs it (SQLite: BEGIN
# IMMEDIATE) takes its write lock when the transaction begins, so concurrent writers queue instead of failing.
WRITE_INTENT = "workflows_write_intent"
_ENGINE_EVENT_LABELS = {
    START_EVENT: "Ouverture du parcours",
    CHECK_EVENT: "Mise à jour de la liste de contrôle",
    UPGRADE_EVENT: "Passage à une nouvelle version de la définition",
}


def _bump_statement(moved: bool, strict_version: bool) -> Update:
    """Version-checked UPDATE of an instance (built once: a move is the hottest write path)."""
    table = SQLModel.metadata.tables[WorkflowInstance.__tablename__]
    guard = table.c.version == bindparam("version") if strict_version else table.c.state == bindparam("source")
    values: dict[str, Any] = {
        "version": table.c.version + 1,
        "state": bindparam("state"),
        "held_from": bindparam("held_from"),
        "updated_at": bindparam("now"),
    }
    if moved:
        values["entered_at"] = bindparam("now")
    return update(table).where(table.c.id == bindparam("instance_id"), guard).values(values).returning(table.c.version)


_BUMP = {(moved, strict): _bump_statement(moved, strict) for moved in (True, False) for strict in (True, False)}
_APPEND = insert(SQLModel.metadata.tables[HistoryEntry.__tablename__])
_BY_SUBJECT = select(WorkflowInstance).where(col(WorkflowInstance.subject) == bindparam("subject"))
_VALUES_TABLE = SQLModel.metadata.tables[ChecklistValue.__tablename__]
_VALUES = select_columns(_VALUES_TABLE.c.step, _VALUES_TABLE.c.item, _VALUES_TABLE.c.value).where(
    _VALUES_TABLE.c.instance_id == bindparam("instance_id")
)


@dataclass(frozen=True)
class TransitionRecord:
    """What happened, handed to hooks inside the transaction and returned to the caller."""

    instance_id: int
    subject: str
    definition_id: str
    event: str
    source: str  # "" when the instance starts
    target: str
    actor: Actor
    at: datetime
    note: str | None
    version: int
    data: Mapping[str, Any] | None = None


Authorizer = Callable[[Session, Actor, WorkflowInstance, Any], list[str]]
SubjectLoader = Callable[[Session, str], Any]
TransitionHook = Callable[[Session, TransitionRecord], None]


class WorkflowEngine:
    def __init__(
        self,
        db: Engine,
        definitions: Mapping[str, Definition],
        guards: GuardRegistry,
        *,
        superuser_roles: frozenset[str] = frozenset(),
        authorize: Authorizer | None = None,
        load_subject: SubjectLoader | None = None,
        clock: Callable[[], datetime] = utcnow,
        timezone: tzinfo | None = None,
    ) -> None:
        self.db = db
        self.timezone = timezone  # where "today" is, for dates entered by people (None: UTC)
        self.guards = guards
        self.compiled: dict[str, CompiledWorkflow] = {key: compile_definition(d) for key, d in definitions.items()}
        self.superuser_roles = superuser_roles
        self.authorize = authorize
        self.load_subject = load_subject
        self.clock = clock
        self.hooks: list[TransitionHook] = []

    # ------------------------------------------------------------------------------------------ reading

    def session(self) -> Session:
        return Session(self.db, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction (committed on exit, rolled back on error) that announces it will write."""
        with self.session() as session, session.begin():
            session.connection(execution_options={WRITE_INTENT: True})
            yield session

    def today(self) -> date:
        now = self.clock()
        return (now.astimezone(self.timezone) if self.timezone else now).date()

    def definition(self, definition_id: str) -> Definition:
        return self.compiled[definition_id].definition

    def get(self, session: Session, subject: str) -> WorkflowInstance:
        instance = session.exec(_BY_SUBJECT, params={"subject": subject}).first()
        if instance is None:
            raise UnknownInstance(subject)
        return instance

    def values(self, session: Session, instance: WorkflowInstance) -> dict[tuple[str, str], Any]:
        rows = session.connection().execute(_VALUES, {"instance_id": instance.id})
        return {(step, item): value for step, item, value in rows}

    def values_of(
        self, session: Session, instance_ids: Sequence[int]
    ) -> dict[int, dict[tuple[str, str], Any]]:
        """The checklist values of many instances, a thousand instances per query."""
        table = _VALUES_TABLE
        held: dict[int, dict[tuple[str, str], Any]] = {}
        for offset in range(0, len(instance_ids), 1000):
            query = select_columns(table.c.instance_id, table.c.step, table.c.item, table.c.value).where(
                table.c.instance_id.in_(instance_ids[offset : offset + 1000])
            )
            for instance_id, step, item, value in session.connection().execute(query).all():
                held.setdefault(instance_id, {})[(step, item)] = value
        return held

    def history(self, session: Session, instance: WorkflowInstance) -> list[HistoryEntry]:
        query = select(HistoryEntry).where(HistoryEntry.instance_id == instance.id).order_by(col(HistoryEntry.id))
        return list(session.exec(query).all())

    def event_label(self, definition: Definition, event: str) -> str:
        return _ENGINE_EVENT_LABELS.get(event) or definition.event_label(event)

    def context(self, session: Session, instance: WorkflowInstance) -> GuardContext:
        definition = self.definition(instance.definition_id)
        subject = self.load_subject(session, instance.subject) if self.load_subject else None
        return GuardContext(
            session=session,
            definition=definition,
            instance=instance,
            load_values=lambda: self.values(session, instance),
            now=self.clock(),
            subject=subject,
        )

    def guard_reasons(self, ctx: GuardContext, transition: TransitionSpec, target: str) -> list[str]:
        ctx.target = target
        reasons: list[str] = []
        for name in transition.guards:
            reasons += [r for r in self.guards[name].check(ctx) if r not in reasons]
        return reasons

    def allowed_events(
        self, session: Session, instance: WorkflowInstance, ctx: GuardContext | None = None
    ) -> list[str]:
        """Events whose guards the data satisfies now, whoever would act (roles and notes not considered)."""
        compiled = self.compiled[instance.definition_id]
        ctx = ctx or self.context(session, instance)
        return [
            event
            for event in compiled.events_from(instance.state, instance.held_from)
            if any(
                not self.guard_reasons(ctx, edge.spec, edge.dest)
                for edge in compiled.candidates(instance.state, event, instance.held_from)
            )
        ]

    def blockers(
        self, session: Session, instance: WorkflowInstance, event: str, ctx: GuardContext | None = None
    ) -> list[str]:
        """What the data still misses for `event` (empty if it is possible or not offered here)."""
        compiled = self.compiled[instance.definition_id]
        ctx = ctx or self.context(session, instance)
        per_edge = [
            self.guard_reasons(ctx, edge.spec, edge.dest)
            for edge in compiled.candidates(instance.state, event, instance.held_from)
        ]
        return [] if not per_edge or any(not r for r in per_edge) else per_edge[0]

    def all_blockers(
        self, session: Session, instance: WorkflowInstance, ctx: GuardContext | None = None
    ) -> dict[str, list[str]]:
        """For every event offered in the current state, what the data still misses (events possible now left out)."""
        ctx = ctx or self.context(session, instance)
        events = self.compiled[instance.definition_id].events_from(instance.state, instance.held_from)
        return {event: reasons for event in events if (reasons := self.blockers(session, instance, event, ctx))}

    # ------------------------------------------------------------------------------------------ writing

    def start(
        self, session: Session, definition_id: str, subject: str, actor: Actor, note: str | None = None
    ) -> WorkflowInstance:
        """Open an instance in the caller's transaction (e.g. during an import)."""
        definition = self.definition(definition_id)
        now = self.clock()
        instance = WorkflowInstance(
            definition_id=definition_id,
            definition_version=definition.version,
            subject=subject,
            state=definition.initial,
            created_at=now,
            updated_at=now,
            entered_at=now,
        )
        session.add(instance)
        session.flush()
        assert instance.id is not None
        session.add(
            HistoryEntry(
                instance_id=instance.id,
                at=now,
                actor=actor.id,
                role=actor.role,
                event=START_EVENT,
                source=None,
                target=definition.initial,
                note=note,
            )
        )
        record = TransitionRecord(
            instance_id=instance.id,
            subject=subject,
            definition_id=definition_id,
            event=START_EVENT,
            source="",
            target=definition.initial,
            actor=actor,
            at=now,
            note=note,
            version=instance.version,
        )
        for hook in self.hooks:
            hook(session, record)
        return instance

    def start_many(
        self,
        session: Session,
        definition_id: str,
        subjects: Sequence[str],
        actor: Actor,
        note: str | None = None,
        batch: int = 5000,
    ) -> int:
        """Open many instances in the caller's transaction, in bulk (a national import opens 50,000): the same rows,
        history and hooks as `start`, written a batch at a time."""
        definition = self.definition(definition_id)
        now = self.clock()
        for offset in range(0, len(subjects), batch):
            chunk = subjects[offset : offset + batch]
            opened = session.execute(
                insert(WorkflowInstance).returning(col(WorkflowInstance.id), col(WorkflowInstance.subject)),
                [
                    {
                        "definition_id": definition_id,
                        "definition_version": definition.version,
                        "subject": subject,
                        "state": definition.initial,
                        "held_from": None,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                        "entered_at": now,
                    }
                    for subject in chunk
                ],
            ).all()
            session.execute(
                insert(HistoryEntry),
                [
                    {
                        "instance_id": instance_id,
                        "at": now,
                        "actor": actor.id,
                        "role": actor.role,
                        "event": START_EVENT,
                        "source": None,
                        "target": definition.initial,
                        "note": note,
                        "data": None,
                    }
                    for instance_id, _ in opened
                ],
            )
            for hook in self.hooks:
                for instance_id, subject in opened:
                    hook(
                        session,
                        TransitionRecord(
                            instance_id=instance_id,
                            subject=subject,
                            definition_id=definition_id,
                            event=START_EVENT,
                            source="",
                            target=definition.initial,
                            actor=actor,
                            at=now,
                            note=note,
                            version=1,
                        ),
                    )
        return len(subjects)

    def fire(
        self,
        subject: str,
        event: str,
        actor: Actor | ActorSource,
        *,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> TransitionRecord:
        """Move an instance. `actor` may be resolved inside the move's own transaction (one session, one round of
        reads: a move is the hottest write path)."""
        note = note.strip() if note and note.strip() else None
        return self._unit_of_work(
            subject,
            event,
            actor,
            lambda session, who: self._fire(session, subject, event, who, note, expected_version),
        )

    def fire_in(
        self, session: Session, subject: str, event: str, actor: Actor, *, note: str | None = None
    ) -> TransitionRecord:
        """Move an instance inside the caller's transaction, so that several moves (and what the caller writes
        beside them) commit together or not at all. A refusal raises `TransitionRefused`: the caller rolls back,
        and records the refusal if it wants to."""
        note = note.strip() if note and note.strip() else None
        return self._fire(session, subject, event, actor, note, None)

    def _unit_of_work(
        self,
        subject: str,
        event: str,
        actor: Actor | ActorSource,
        work: Callable[[Session, Actor], TransitionRecord],
    ) -> TransitionRecord:
        """Run `work` in one transaction; a refusal rolls it back, then is recorded in a transaction of its own."""
        who = actor if isinstance(actor, Actor) else None
        with self.session() as session:
            try:
                with session.begin():
                    session.connection(execution_options={WRITE_INTENT: True})
                    if who is None:
                        assert not isinstance(actor, Actor)
                        who = actor(session)
                    return work(session, who)
            except TransitionRefused as refused:
                assert who is not None
                self.record_refusal(subject, event, who, refused.reasons)
                raise

    def _fire(
        self, session: Session, subject: str, event: str, actor: Actor, note: str | None, expected_version: int | None
    ) -> TransitionRecord:
        instance = self.get(session, subject)
        self._check_version(instance, expected_version)
        compiled = self.compiled[instance.definition_id]
        definition = compiled.definition
        action = self.event_label(definition, event)
        state_label = definition.state_label(instance.state)
        candidates = compiled.candidates(instance.state, event, instance.held_from)
        if not candidates:
            offered = [
                self.event_label(definition, e) for e in compiled.events_from(instance.state, instance.held_from)
            ]
            reason = f"cette action n'existe pas à l'état « {state_label} »."
            if event not in definition.events:
                reason = "action inconnue."
            hint = (
                ("actions possibles ici : " + ", ".join(f"« {o} »" for o in offered))
                if offered
                else "aucune action n'est possible : le parcours est terminé."
            )
            raise TransitionRefused(subject, action, state_label, [reason, hint])
        ctx = self.context(session, instance)
        verdicts: dict[int, bool] = {}
        reasons: list[str] = []
        for edge in candidates:
            edge_reasons = self._edge_reasons(session, ctx, edge, actor, note)
            verdicts[edge.index] = not edge_reasons
            reasons += [r for r in edge_reasons if r not in reasons]
        target = compiled.fire(instance.state, event, verdicts)
        if target is None:
            raise TransitionRefused(subject, action, state_label, reasons)
        held_from = instance.state if definition.states[target].hold else None
        step = definition.step_of(instance.state)
        deferred = (
            [
                item.id
                for item in step.checklist
                if is_deferred(ctx, step, item) and not item.is_done(ctx.value(step.id, item.id))
            ]
            if step is not None and instance.state == step.id and not definition.states[target].hold
            else []
        )
        data = {"deferred": deferred} if deferred else None  # filed later, owed meanwhile: those who decide see it
        return self._commit_move(session, instance, event, target, held_from, actor, note, data=data)

    def _edge_reasons(
        self, session: Session, ctx: GuardContext, edge: Edge, actor: Actor, note: str | None
    ) -> list[str]:
        definition = ctx.definition
        reasons: list[str] = []
        if actor.role not in edge.spec.roles and actor.role not in self.superuser_roles:
            allowed = ", ".join(definition.role_label(r) for r in edge.spec.roles)
            reasons.append(
                f"votre rôle ({definition.role_label(actor.role)}) ne permet pas cette action ; "
                f"rôle(s) autorisé(s) : {allowed}."
            )
        if self.authorize:
            reasons += self.authorize(session, actor, ctx.instance, ctx.subject)
        if edge.spec.four_eyes and self.entered_by(session, ctx.instance) == actor.id:
            reasons.append(
                "vous avez vous-même soumis ce dossier : une autre personne doit se prononcer "
                "(principe des quatre yeux)."
            )
        if edge.spec.note_required and not note:
            reasons.append("une note expliquant la raison est obligatoire.")
        reasons += self.guard_reasons(ctx, edge.spec, edge.dest)
        return reasons

    def entered_by(self, session: Session, instance: WorkflowInstance) -> str | None:
        """Who moved the instance into its current state (the submitter, for a waiting state)."""
        query = (
            select(HistoryEntry.actor)
            .where(
                HistoryEntry.instance_id == instance.id,
                HistoryEntry.target == instance.state,
                HistoryEntry.event != CHECK_EVENT,
            )
            .order_by(col(HistoryEntry.id).desc())
            .limit(1)
        )
        return session.exec(query).first()

    def owed_items(
        self, instance: WorkflowInstance, values: Mapping[tuple[str, str], Any]
    ) -> list[tuple[StepSpec, ChecklistItem]]:
        """Required items of steps already left that were deferred (their `deferrable_with` item is done) and
        are still not filed: they stay owed whatever the current step."""
        definition = self.definition(instance.definition_id)
        current = definition.step_of(instance.state) or definition.step_of(instance.held_from or "")
        order = [step.id for step in definition.steps]
        # In a final state every step was left (or never reached: then nothing was deferred there).
        passed = order[: order.index(current.id)] if current is not None else order
        owed: list[tuple[StepSpec, ChecklistItem]] = []
        for step in definition.steps:
            if step.id not in passed:
                continue
            for item in step.checklist:
                partner = step.item(item.deferrable_with) if item.deferrable_with else None
                if (
                    item.required
                    and partner is not None
                    and partner.is_done(values.get((step.id, partner.id)))
                    and not item.is_done(values.get((step.id, item.id)))
                ):
                    owed.append((step, item))
        return owed

    def living_items(self, instance: WorkflowInstance) -> list[tuple[StepSpec, ChecklistItem]]:
        """Items declared `editable_after` of the steps the instance has left: living facts, still changed by the
        step's roles whatever the current step (also once completed, not once ended otherwise, e.g. abandoned)."""
        definition = self.definition(instance.definition_id)
        left = definition.steps_left(instance.state, instance.held_from)
        return [(step, item) for step in definition.steps if step.id in left
                for item in step.checklist if item.editable_after]

    def editable_item(
        self, instance: WorkflowInstance, values: Mapping[tuple[str, str], Any], item_id: str
    ) -> tuple[StepSpec, ChecklistItem] | None:
        """The item `item_id` may be changed now: one of the current step's (on the step itself, not while it
        waits or is held), one still owed by a step already left, or a living fact of a step already left."""
        definition = self.definition(instance.definition_id)
        step = definition.step_of(instance.state)
        if step is not None and instance.state == step.id and (item := step.item(item_id)) is not None:
            return step, item
        return next(
            ((s, i) for s, i in [*self.owed_items(instance, values), *self.living_items(instance)] if i.id == item_id),
            None,
        )

    def set_item(
        self,
        subject: str,
        item_id: str,
        value: Any,
        actor: Actor | ActorSource,
        *,
        expected_version: int | None = None,
        prepare: Callable[[ChecklistItem], Any] | None = None,
    ) -> TransitionRecord:
        """Set (or clear, with value None) a checklist item of the instance's current step, or an item still owed
        by a step already left. Changes of different items do not conflict with each other."""
        return self._unit_of_work(
            subject,
            CHECK_EVENT,
            actor,
            lambda session, who: self._set_item(session, subject, item_id, value, who, expected_version, prepare),
        )

    def _set_item(
        self,
        session: Session,
        subject: str,
        item_id: str,
        raw: Any,
        actor: Actor,
        expected_version: int | None,
        prepare: Callable[[ChecklistItem], Any] | None = None,
    ) -> TransitionRecord:
        instance = self.get(session, subject)
        self._check_version(instance, expected_version)
        definition = self.definition(instance.definition_id)
        state_label = definition.state_label(instance.state)
        action = self.event_label(definition, CHECK_EVENT)
        values = self.values(session, instance)
        found = self.editable_item(instance, values, item_id)
        if found is None:
            step = definition.step_of(instance.state)
            if step is None or instance.state != step.id:
                why = "le parcours attend une validation" if step else "le parcours n'est pas sur une étape en cours"
                reason = f"la liste de contrôle n'est modifiable que sur l'étape en cours ({why})."
            else:
                known = ", ".join(i.id for i in step.checklist)
                reason = f"l'étape « {step.label} » n'a pas d'élément « {item_id} » ; éléments : {known}."
            raise TransitionRefused(subject, action, state_label, [reason])
        step, item = found
        reasons: list[str] = []
        if actor.role not in step.roles and actor.role not in self.superuser_roles:
            allowed = ", ".join(definition.role_label(r) for r in step.roles)
            reasons.append(
                f"votre rôle ({definition.role_label(actor.role)}) ne permet pas de remplir cette étape ; "
                f"rôle(s) autorisé(s) : {allowed}."
            )
        if self.authorize:
            subject_object = self.load_subject(session, subject) if self.load_subject else None
            reasons += self.authorize(session, actor, instance, subject_object)
        if reasons:
            raise TransitionRefused(subject, f"{action} : {item.label}", state_label, reasons)
        if prepare is not None:  # the caller turns its input into the raw value once it knows the item's type
            raw = prepare(item)
        value = None if raw is None else item.coerce(raw, self.today())
        if value is not None and item.not_before:
            self._check_not_before(definition, item, value, values, raw)
        instance_id, step_id = instance.id, step.id
        assert instance_id is not None
        seen = session.exec(
            select(ChecklistValue).where(
                ChecklistValue.instance_id == instance_id,
                ChecklistValue.step == step_id,
                ChecklistValue.item == item_id,
            )
        ).first()
        seen_revision = seen.revision if seen else 0

        def store_value(now: datetime) -> None:
            # Runs once the instance row is locked (every change of an item locks it first): a change of the SAME
            # item made since this one looked (a new revision, or a first value) is a conflict; others go through.
            if seen is None:
                if session.exec(
                    select(ChecklistValue.id).where(
                        ChecklistValue.instance_id == instance_id,
                        ChecklistValue.step == step_id,
                        ChecklistValue.item == item_id,
                    )
                ).first():
                    raise ConcurrencyConflict(instance.subject, instance.version, None, item_label=item.label)
                session.add(
                    ChecklistValue(
                        instance_id=instance_id,
                        step=step_id,
                        item=item_id,
                        value=value,
                        updated_by=actor.id,
                        updated_at=now,
                    )
                )
                return
            changed = session.execute(
                update(ChecklistValue)
                .where(col(ChecklistValue.id) == seen.id, col(ChecklistValue.revision) == seen_revision)
                .values(value=value, updated_by=actor.id, updated_at=now, revision=seen_revision + 1)
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise ConcurrencyConflict(instance.subject, instance.version, None, item_label=item.label)

        data = {"step": step.id, "item": item.id, "value": value}
        return self._commit_move(
            session,
            instance,
            CHECK_EVENT,
            instance.state,
            instance.held_from,
            actor,
            None,
            data=data,
            apply=store_value,
            strict_version=expected_version is not None,
        )

    def _check_not_before(
        self,
        definition: Definition,
        item: ChecklistItem,
        value: str,
        values: Mapping[tuple[str, str], Any],
        raw: Any,
    ) -> None:
        other_step_id, other_item_id = item.not_before.split(".", 1)
        other_step = definition.step(other_step_id)
        other = other_step.item(other_item_id) if other_step else None
        earliest = values.get((other_step_id, other_item_id))
        if other is not None and earliest and value < earliest:
            raise InvalidItemValue(
                item.label,
                raw,
                f"cette date ne peut pas précéder « {other.label} » ({parse_date(earliest):%d/%m/%Y}).",
            )

    def _commit_move(
        self,
        session: Session,
        instance: WorkflowInstance,
        event: str,
        target: str,
        held_from: str | None,
        actor: Actor,
        note: str | None,
        data: dict[str, Any] | None,
        apply: Callable[[datetime], None] | None = None,
        strict_version: bool = True,
    ) -> TransitionRecord:
        """Bump the version (or lose the race), apply the change, append the history row, run the hooks.

        A move requires the version it read (any change since then is a conflict). A checklist change only
        requires the state it read, unless the caller gave an expected version: changes of different items of
        the same instance go through one after the other."""
        assert instance.id is not None
        source, version, now = instance.state, instance.version, self.clock()
        moved = event != CHECK_EVENT
        connection = session.connection()
        new_version = connection.execute(
            _BUMP[(moved, strict_version)],
            {"instance_id": instance.id, "version": version, "source": source, "state": target,
             "held_from": held_from, "now": now},
        ).scalar_one_or_none()
        if new_version is None:
            current = session.exec(select(WorkflowInstance.version).where(col(WorkflowInstance.id) == instance.id))
            raise ConcurrencyConflict(instance.subject, version, current.first())
        if apply is not None:
            apply(now)
        connection.execute(
            _APPEND,
            {"instance_id": instance.id, "at": now, "actor": actor.id, "role": actor.role, "event": event,
             "source": source, "target": target, "note": note, "data": data},
        )
        record = TransitionRecord(
            instance_id=instance.id,
            subject=instance.subject,
            definition_id=instance.definition_id,
            event=event,
            source=source,
            target=target,
            actor=actor,
            at=now,
            note=note,
            version=new_version,
            data=data,
        )
        for hook in self.hooks:
            hook(session, record)
        session.flush()
        return record

    def _check_version(self, instance: WorkflowInstance, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != instance.version:
            raise ConcurrencyConflict(instance.subject, expected_version, instance.version)

    def record_refusal(self, subject: str, event: str, actor: Actor, reasons: Sequence[str]) -> None:
        with self.transaction() as session:
            instance = session.exec(select(WorkflowInstance).where(WorkflowInstance.subject == subject)).first()
            session.add(
                RefusedAttempt(
                    instance_id=instance.id if instance else None,
                    subject=subject,
                    at=self.clock(),
                    actor=actor.id,
                    role=actor.role,
                    event=event,
                    state=instance.state if instance else None,
                    reasons=list(reasons),
                )
            )

    def refusals(self, session: Session, subject: str) -> list[RefusedAttempt]:
        query = select(RefusedAttempt).where(RefusedAttempt.subject == subject).order_by(col(RefusedAttempt.id))
        return list(session.exec(query).all())


__all__ = ["Actor", "TransitionRecord", "WorkflowEngine", "WorkflowError"]
