"""Workflow definitions declared as data (TOML), validated on load.

A definition has steps (each with a checklist and optional waiting sub-states), extra states (holds and
finals) and transitions. Transition sources may be "*" (every non-final state) and the destination
"@return" sends an instance back to the state it was in before entering a hold state. A variant
`extends` another definition and appends checklist items to its steps.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

from workflows.checklist import ITEM_TYPES, ChecklistItem, ItemType
from workflows.errors import DefinitionError

ANY_STATE = "*"
RETURN = "@return"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_ITEM_REF = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")  # "step.item"
RESERVED_EVENTS = frozenset({"start", "check", "upgrade"})  # written by the engine itself in the history

# The keys each kind of table accepts; anything else is a mistake (a typo silently dropping a rule).
BASE_KEYS = frozenset(
    {"id", "label", "version", "initial", "events", "steps", "states", "transitions", "applies_to", "guards", "upgrade"}
)
VARIANT_KEYS = frozenset(
    {"id", "label", "version", "extends", "events", "checklist", "applies_to", "guards", "upgrade"}
)
STEP_KEYS = frozenset({"id", "label", "description", "roles", "optional", "checklist", "waiting"})
ITEM_KEYS = frozenset(
    {
        "id",
        "type",
        "label",
        "required",
        "choices",
        "help",
        "max_years_back",
        "max_years_ahead",
        "not_before",
        "deferrable_with",
        "editable_after",
    }
)
WAITING_KEYS = frozenset({"id", "label", "waiting_for"})
STATE_KEYS = frozenset({"id", "label", "final", "hold"})
TRANSITION_KEYS = frozenset({"event", "from", "to", "roles", "guards", "note_required", "four_eyes"})


ItemRef = tuple[str, str]  # (step, item)
ParamKind = Literal["item", "state", "event", "strings"]


@dataclass(frozen=True)
class GuardParam:
    """A parameter a guard reads, given by the definition in its `[guards.NAME]` table."""

    kind: ParamKind  # "item": "step.item" (resolved to a (step, item) pair); "strings": a list of texts
    item_type: ItemType | None = None  # for "item": the type the item must have
    description: str = ""

    def expected(self) -> str:
        return {
            "item": f"un élément « étape.élément »{f' de type {self.item_type}' if self.item_type else ''}",
            "state": "un identifiant d'état",
            "event": "un identifiant d'action",
            "strings": "une liste de textes",
        }[self.kind]


GuardSignatures = Mapping[str, Mapping[str, GuardParam]]  # guard name -> parameter name -> declaration


@dataclass(frozen=True)
class UpgradeSpec:
    """How instances in flight move to this version (`[upgrade]`); see workflows/versions.py."""

    states: Mapping[str, str] = field(default_factory=dict)  # state of the installed version -> state of this one
    passed_items: str = ""  # "exempt": instances past a step are exempt from the required items it gains


PASSED_ITEMS_POLICIES = ("exempt",)
UPGRADE_KEYS = frozenset({"states", "passed_items"})


@dataclass(frozen=True)
class StateSpec:
    id: str
    label: str
    step: str | None = None  # the step this state belongs to (None for holds and finals)
    final: bool = False
    hold: bool = False  # entering it remembers where the instance came from (for "@return")
    waiting_for: str = ""  # who or what a waiting sub-state waits for

    @property
    def is_step_entry(self) -> bool:
        return self.step is not None and self.id == self.step


@dataclass(frozen=True)
class StepSpec:
    id: str
    label: str
    roles: tuple[str, ...]
    checklist: tuple[ChecklistItem, ...]
    description: str = ""
    optional: bool = False

    def item(self, item_id: str) -> ChecklistItem | None:
        return next((item for item in self.checklist if item.id == item_id), None)


@dataclass(frozen=True)
class TransitionSpec:
    event: str
    source: str
    dest: str  # a state id, or RETURN
    roles: tuple[str, ...]
    guards: tuple[str, ...] = ()
    note_required: bool = False
    four_eyes: bool = False  # whoever moved the instance into the source state may not fire this one


@dataclass(frozen=True)
class Definition:
    id: str
    label: str
    version: int
    initial: str
    steps: tuple[StepSpec, ...]
    states: Mapping[str, StateSpec]
    transitions: tuple[TransitionSpec, ...]
    events: Mapping[str, str]  # event id -> French label
    roles: Mapping[str, str]  # role id -> French label
    applies_to: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    extends: str | None = None
    source: str | None = None
    guard_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # guard -> parameter -> value
    upgrade: UpgradeSpec = field(default_factory=UpgradeSpec)  # not part of the content (not fingerprinted)

    def item_ref(self, guard: str, parameter: str) -> ItemRef:
        """The (step, item) an "item" parameter of a guard names (validated on load)."""
        return cast(ItemRef, self.guard_params[guard][parameter])

    def item_spec(self, ref: ItemRef) -> ChecklistItem:
        step = self.step(ref[0])
        item = step.item(ref[1]) if step else None
        if item is None:
            raise KeyError(ref)
        return item

    def step(self, step_id: str) -> StepSpec | None:
        return next((step for step in self.steps if step.id == step_id), None)

    def step_of(self, state_id: str) -> StepSpec | None:
        state = self.states.get(state_id)
        return self.step(state.step) if state and state.step else None

    def state_label(self, state_id: str) -> str:
        state = self.states.get(state_id)
        return state.label if state else state_id

    def event_label(self, event: str) -> str:
        return self.events.get(event, event)

    def role_label(self, role: str) -> str:
        return self.roles.get(role, role)

    @property
    def final_states(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.states.values() if s.final)

    def completes(self, final_state: str) -> bool:
        """A final state entered from the last step by a transition of its own (completion), not one reachable
        from anywhere ("*": abandon)."""
        last = self.steps[-1].id
        return any(
            dest == final_state and self.states[source].step == last and transition.source != ANY_STATE
            for transition, source, dest in self.edges()
        )

    def steps_left(self, state: str, held_from: str | None = None) -> tuple[str, ...]:
        """The steps an instance in `state` has left behind: those before its current step (the step it was on
        when it entered a hold); every step once it completed; none in a final state reached otherwise."""
        spec = self.states.get(held_from or state)
        order = tuple(step.id for step in self.steps)
        if spec is None:
            return ()
        if spec.step is not None:
            return order[: order.index(spec.step)]
        return order if spec.final and held_from is None and self.completes(spec.id) else ()

    def sources_of(self, transition: TransitionSpec) -> tuple[str, ...]:
        """Concrete source states of a transition ("*" expands to every non-final state but its target)."""
        if transition.source != ANY_STATE:
            return (transition.source,)
        return tuple(s.id for s in self.states.values() if not s.final and s.id != transition.dest)

    def return_targets(self, hold_state: str) -> tuple[str, ...]:
        """States an instance may have come from when it entered `hold_state`."""
        targets: list[str] = []
        for transition in self.transitions:
            if transition.dest == hold_state:
                targets += [s for s in self.sources_of(transition) if s not in targets]
        return tuple(targets)

    def edges(self) -> Iterable[tuple[TransitionSpec, str, str]]:
        """Every concrete (transition, source, destination) edge, "@return" expanded."""
        for transition in self.transitions:
            for source in self.sources_of(transition):
                if transition.dest == RETURN:
                    for target in self.return_targets(source):
                        yield transition, source, target
                else:
                    yield transition, source, transition.dest


# --------------------------------------------------------------------------------------------- loading


def load_definitions(directory: Path, *, guards: Collection[str], roles: Mapping[str, str]) -> dict[str, Definition]:
    """Load and validate every `*.toml` definition of a directory, resolving `extends`."""
    raw: dict[str, tuple[Path, str, dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        document = _parse_toml(path, text)
        definition_id = document.get("id")
        if not isinstance(definition_id, str) or not definition_id:
            raise DefinitionError(path, "la clé « id » (identifiant de la définition) manque en tête de fichier.")
        if definition_id in raw:
            raise DefinitionError(
                path,
                f"identifiant « {definition_id} » déjà utilisé par {raw[definition_id][0].name}.",
                line=_locate(text, "id", definition_id),
            )
        raw[definition_id] = (path, text, document)
    if not raw:
        raise DefinitionError(directory, "aucun fichier de définition (*.toml) dans ce dossier.")
    loaded: dict[str, Definition] = {}

    def resolve(definition_id: str, chain: tuple[str, ...]) -> Definition:
        if definition_id in loaded:
            return loaded[definition_id]
        path, text, document = raw[definition_id]
        parent_id = document.get("extends")
        base = None
        if parent_id is not None:
            if parent_id not in raw:
                raise DefinitionError(
                    path,
                    f"« extends » désigne une définition inconnue : « {parent_id} ».",
                    line=_locate(text, "extends", str(parent_id)),
                    hint="définitions disponibles : " + ", ".join(sorted(raw)),
                )
            if parent_id in chain:
                raise DefinitionError(path, "cycle d'extensions : " + " → ".join((*chain, parent_id)))
            base = resolve(parent_id, (*chain, parent_id))
        definition = build_definition(document, guards=guards, roles=roles, source=path, text=text, base=base)
        loaded[definition_id] = definition
        return definition

    for definition_id in raw:
        resolve(definition_id, (definition_id,))
    return loaded


def load_definition_file(
    path: Path, *, guards: Collection[str], roles: Mapping[str, str], known: Mapping[str, Definition] | None = None
) -> Definition:
    """Load one file (e.g. to check an académie's draft); `known` resolves its `extends`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DefinitionError(
            path, f"fichier illisible ({error}).", hint="vérifiez le chemin et que le fichier est en UTF-8."
        ) from error
    document = _parse_toml(path, text)
    base = None
    parent_id = document.get("extends")
    if parent_id is not None:
        if not known or parent_id not in known:
            raise DefinitionError(
                path,
                f"« extends » désigne une définition inconnue : « {parent_id} ».",
                line=_locate(text, "extends", str(parent_id)),
            )
        base = known[parent_id]
    return build_definition(document, guards=guards, roles=roles, source=path, text=text, base=base)


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
        line, column = (int(match.group(1)), int(match.group(2))) if match else (None, None)
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        raise DefinitionError(
            path,
            f"syntaxe TOML invalide ({problem}).",
            line=line,
            column=column,
            hint="corrigez la syntaxe à cet endroit (guillemets, crochets, virgules).",
        ) from error


def _find(text: str, key: str, value: str, start: int = 0) -> re.Match[str] | None:
    """First `key = "value"` (or, failing that, the quoted value) at or after `start`."""
    pattern = re.compile(rf'^\s*{re.escape(key)}\s*=\s*["\']{re.escape(value)}["\']', re.MULTILINE)
    return pattern.search(text, start) or re.compile(rf'["\']{re.escape(value)}["\']').search(text, start)


def _locate(text: str | None, key: str, value: str, start: int = 0) -> int | None:
    """Line of the offending `key = "value"`, searched from `start`, to point users at the right spot."""
    if not text:
        return None
    match = _find(text, key, value, start) or _find(text, key, value)
    return text.count("\n", 0, match.start()) + 1 if match else None


class _Builder:
    """Builds one Definition from a parsed document; every error names the offending step or transition."""

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        guards: Collection[str],
        roles: Mapping[str, str],
        source: Path | None,
        text: str | None,
    ) -> None:
        self.document = document
        self.guards = set(guards)
        self.signatures: GuardSignatures = guards if isinstance(guards, Mapping) else {}
        self.roles = roles
        self.source = source
        self.text = text
        # Where in the text the element being built starts, so errors point at it and not at an earlier
        # element with the same id; and where to look for the next one.
        self.cursor = 0
        self.next_search = 0

    def fail(self, problem: str, *, key: str = "id", value: str = "", hint: str = "") -> DefinitionError:
        line = _locate(self.text, key, value, self.cursor) if value else None
        return DefinitionError(self.source, problem, line=line, hint=hint)

    def enter_table(self, header: str, index: int) -> None:
        """Move to the `index`-th `[[header]]` table of the text."""
        if not self.text:
            return
        pattern = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]", re.MULTILINE)
        for number, match in enumerate(pattern.finditer(self.text)):
            if number == index:
                self.cursor, self.next_search = match.start(), match.end()
                return

    def enter_header(self, header: str) -> None:
        """Move to the `[header]` table of the text."""
        if self.text and (match := re.search(rf"^[ \t]*\[[ \t]*{re.escape(header)}[ \t]*\]", self.text, re.MULTILINE)):
            self.cursor, self.next_search = match.start(), match.end()

    def enter(self, key: str, value: object) -> None:
        """Move to the next `key = "value"` after the current element (an item or sub-state)."""
        if self.text and isinstance(value, str) and (match := _find(self.text, key, value, self.next_search)):
            self.cursor, self.next_search = match.start(), match.end()

    def key_line(self, key: str) -> int | None:
        """Line of `key = ...` (or of a `[...key]` table) at or after the current element."""
        if not self.text:
            return None
        pattern = re.compile(
            rf"^[ \t]*(?:{re.escape(key)}[ \t]*=|\[+[^\]\n]*\b{re.escape(key)}[ \t]*\]+)", re.MULTILINE
        )
        match = pattern.search(self.text, self.cursor) or pattern.search(self.text)
        return self.text.count("\n", 0, match.start()) + 1 if match else None

    def known_keys(self, table: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
        """Refuse any key the format does not know, suggesting the closest known one."""
        for key in table:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
            hint = f"vouliez-vous dire « {close[0]} » ?" if close else "clés possibles : " + ", ".join(sorted(allowed))
            raise DefinitionError(self.source, f"{where} : clé inconnue « {key} ».", line=self.key_line(key), hint=hint)

    def table(self, value: Any, key: str, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise DefinitionError(
                self.source, f"{where} : « {key} » doit être une table ([{key}]).", line=self.key_line(key)
            )
        return value

    def tables(self, value: Any, key: str, where: str) -> list[Mapping[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
            raise DefinitionError(
                self.source,
                f"{where} : « {key} » doit être une liste de tables ([[...{key}]]).",
                line=self.key_line(key),
            )
        return value

    def flag(self, table: Mapping[str, Any], key: str, where: str, default: bool = False) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise DefinitionError(
                self.source,
                f"{where} : « {key} » doit valoir true ou false (sans guillemets), pas {value!r}.",
                line=self.key_line(key),
            )
        return value

    def text_value(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = table.get(key, "")
        if not isinstance(value, str):
            raise DefinitionError(
                self.source, f"{where} : « {key} » doit être un texte entre guillemets.", line=self.key_line(key)
            )
        return value

    def string_list(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
            raise DefinitionError(
                self.source, f"{where} : « {key} » doit être une liste de textes.", line=self.key_line(key)
            )
        return tuple(value)

    def string(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where} : la clé « {key} » doit être un texte non vide.", value=str(table.get("id", "")))
        return value.strip()

    def identifier(self, table: Mapping[str, Any], where: str) -> str:
        value = self.string(table, "id", where)
        if not _ID.match(value):
            raise self.fail(
                f"{where} : identifiant « {value} » invalide (minuscules, chiffres et _ uniquement).", value=value
            )
        return value

    def role_list(self, table: Mapping[str, Any], where: str, owner: str) -> tuple[str, ...]:
        value = table.get("roles", [])
        if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
            raise self.fail(f"{where} : « roles » doit être une liste de rôles.", value=owner)
        for role in value:
            if role not in self.roles:
                raise self.fail(
                    f"{where} : rôle inconnu « {role} ».",
                    key="roles",
                    value=role,
                    hint="rôles connus : " + ", ".join(self.roles),
                )
        return tuple(value)

    def item(self, table: Mapping[str, Any], where: str) -> ChecklistItem:
        item_id = self.identifier(table, where)
        where = f"{where}, élément « {item_id} »"
        self.known_keys(table, ITEM_KEYS, where)
        item_type = table.get("type")
        if item_type not in ITEM_TYPES:
            raise self.fail(
                f"{where} : type « {item_type} » inconnu.",
                value=item_id,
                hint="types possibles : " + ", ".join(ITEM_TYPES),
            )
        required = self.flag(table, "required", where, default=True)
        choices = table.get("choices", [])
        if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
            raise self.fail(f"{where} : « choices » doit être une liste de textes.", value=item_id)
        if item_type == "choice" and len(choices) < 2:
            raise self.fail(f"{where} : un élément de type choice demande au moins deux « choices ».", value=item_id)
        if item_type != "choice" and choices:
            raise self.fail(f"{where} : « choices » n'a de sens que pour le type choice.", value=item_id)
        if len(set(choices)) != len(choices):
            raise self.fail(f"{where} : un choix apparaît deux fois.", value=item_id)
        years: dict[str, int | None] = {}
        for key in ("max_years_back", "max_years_ahead"):
            value = table.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise self.fail(f"{where} : « {key} » doit être un nombre entier d'années (≥ 0).", value=item_id)
            if value is not None and item_type != "date":
                raise self.fail(f"{where} : « {key} » n'a de sens que pour le type date.", value=item_id)
            years[key] = value
        not_before = table.get("not_before", "")
        if not isinstance(not_before, str) or (not_before and (item_type != "date" or not _ITEM_REF.match(not_before))):
            raise self.fail(
                f"{where} : « not_before » désigne une autre date sous la forme « étape.élément ».", value=item_id
            )
        deferrable_with = table.get("deferrable_with", "")
        if not isinstance(deferrable_with, str) or (deferrable_with and not _ID.match(deferrable_with)):
            raise self.fail(f"{where} : « deferrable_with » doit être l'identifiant d'un élément.", value=item_id)
        return ChecklistItem(
            id=item_id,
            label=self.string(table, "label", where),
            type=cast(ItemType, item_type),
            required=required,
            choices=tuple(choices),
            help=self.text_value(table, "help", where),
            max_years_back=years["max_years_back"],
            max_years_ahead=years["max_years_ahead"],
            not_before=not_before,
            deferrable_with=deferrable_with,
            editable_after=self.flag(table, "editable_after", where),
        )

    def checklist(self, entries: Any, where: str, existing: Iterable[ChecklistItem] = ()) -> tuple[ChecklistItem, ...]:
        items = list(existing)
        for entry in self.tables(entries, "checklist", where):
            self.enter("id", entry.get("id"))
            item = self.item(entry, where)
            if any(other.id == item.id for other in items):
                raise self.fail(f"{where} : élément « {item.id} » déclaré deux fois.", value=item.id)
            items.append(item)
        return tuple(items)


def build_definition(
    document: Mapping[str, Any],
    *,
    guards: Collection[str],
    roles: Mapping[str, str],
    source: Path | None = None,
    text: str | None = None,
    base: Definition | None = None,
) -> Definition:
    b = _Builder(document, guards=guards, roles=roles, source=source, text=text)
    definition_id = b.identifier(document, "définition")
    where = f"définition « {definition_id} »"
    label = b.string(document, "label", where)
    if base is not None:
        for key in ("steps", "states", "transitions", "initial"):
            if key in document:
                raise b.fail(
                    f"{where} : une variante ne redéfinit pas « {key} » ; "
                    "elle ajoute des éléments aux étapes avec [[checklist]] (clé step = l'étape)."
                )
    b.known_keys(document, VARIANT_KEYS if base is not None else BASE_KEYS, where)
    raw_applies = b.table(document.get("applies_to", {}), "applies_to", where)
    applies_to = {key: b.string_list(raw_applies, key, f"{where}, [applies_to]") for key in raw_applies}
    events = b.table(document.get("events", {}), "events", where)
    for event, event_label in events.items():
        if event in RESERVED_EVENTS:
            raise DefinitionError(
                b.source,
                f"{where} : l'action « {event} » est réservée au moteur (il l'écrit lui-même dans l'historique).",
                line=b.key_line(event),
                hint="choisissez un autre identifiant d'action.",
            )
        if not isinstance(event_label, str) or not _ID.match(event):
            raise DefinitionError(
                b.source,
                f"{where} : l'action « {event} » doit avoir un identifiant valide et un libellé entre guillemets.",
                line=b.key_line(event),
            )
    version = document.get("version", base.version if base else 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DefinitionError(
            b.source, f"{where} : « version » doit être un nombre entier ≥ 1.", line=b.key_line("version")
        )
    if base is not None:
        definition = _extend(b, base, document, definition_id, label, applies_to)
    else:
        definition = _build_base(b, document, definition_id, label, applies_to)
    # A variant follows its base's states and version: without an [upgrade] of its own, its base's applies.
    inherited = base is not None and "upgrade" not in document
    upgrade = definition.upgrade if inherited else _upgrade(b, document, definition)
    definition = replace(definition, guard_params=_guard_params(b, document, definition), upgrade=upgrade)
    _check_item_references(b, definition)
    _check_graph(b, definition)
    return definition


def _guard_params(b: _Builder, document: Mapping[str, Any], definition: Definition) -> dict[str, dict[str, Any]]:
    """`[guards.NAME]` tables: each parameter declared by the guard, given, of the right kind; variants inherit."""
    params: dict[str, dict[str, Any]] = {name: dict(values) for name, values in definition.guard_params.items()}
    where = f"définition « {definition.id} »"
    for name, raw in b.table(document.get("guards", {}), "guards", where).items():
        b.enter_header(f"guards.{name}")
        if name not in b.guards:
            raise DefinitionError(
                b.source,
                f"{where} : paramètres donnés à une garde inconnue « {name} ».",
                line=b.key_line(f"guards.{name}"),
                hint="gardes connues : " + ", ".join(sorted(b.guards)),
            )
        guard_where = f"{where}, [guards.{name}]"
        signature = b.signatures.get(name, {})
        table = b.table(raw, f"guards.{name}", where)
        b.known_keys(table, signature, guard_where)
        params[name] = params.get(name, {}) | {
            key: _param_value(b, definition, signature[key], table[key], f"{guard_where}, « {key} »", key)
            for key in table
        }
    b.cursor = 0
    used = {guard for transition in definition.transitions for guard in transition.guards}
    for name in sorted(used):
        for key, param in b.signatures.get(name, {}).items():
            if key not in params.get(name, {}):
                raise b.fail(
                    f"{where} : la garde « {name} » lit le paramètre « {key} » ({param.expected()}), "
                    "que la définition ne donne pas.",
                    key="guards",
                    value=name,
                    hint=f"ajoutez une table [guards.{name}] avec {key} = …",
                )
    return params


def _upgrade(b: _Builder, document: Mapping[str, Any], definition: Definition) -> UpgradeSpec:
    """`[upgrade]`: where states of the installed version go, and the policy for items added to passed steps."""
    where = f"définition « {definition.id} », [upgrade]"
    raw = b.table(document.get("upgrade", {}), "upgrade", f"définition « {definition.id} »")
    b.enter_header("upgrade")
    b.known_keys(raw, UPGRADE_KEYS, where)
    states = b.table(raw.get("states", {}), "states", where)
    for old, new in states.items():
        if not isinstance(new, str) or new not in definition.states:
            raise DefinitionError(
                b.source,
                f"{where} : l'état « {old} » est envoyé vers « {new} », qui n'existe pas dans cette version.",
                line=b.key_line(old) or b.key_line(f'"{old}"'),
                hint="états : " + ", ".join(definition.states),
            )
    passed_items = b.text_value(raw, "passed_items", where)
    if passed_items and passed_items not in PASSED_ITEMS_POLICIES:
        raise DefinitionError(
            b.source,
            f"{where} : « passed_items » vaut « {passed_items} », valeur inconnue.",
            line=b.key_line("passed_items"),
            hint="valeur possible : " + ", ".join(PASSED_ITEMS_POLICIES),
        )
    return UpgradeSpec(states={str(k): str(v) for k, v in states.items()}, passed_items=passed_items)


def _check_item_references(b: _Builder, definition: Definition) -> None:
    """`not_before` names an existing date item; `deferrable_with` an existing item of the same step."""
    b.cursor = 0
    for step in definition.steps:
        for item in step.checklist:
            where = f"étape « {step.id} », élément « {item.id} »"
            if item.not_before:
                before_step, _, before_item = item.not_before.partition(".")
                other = definition.step(before_step)
                target = other.item(before_item) if other else None
                if target is None or target.type != "date":
                    raise b.fail(
                        f"{where} : « not_before » doit désigner un élément de type date existant, "
                        f"pas « {item.not_before} ».",
                        key="not_before",
                        value=item.not_before,
                    )
            if item.deferrable_with and step.item(item.deferrable_with) is None:
                raise b.fail(
                    f"{where} : « deferrable_with » désigne un élément absent de l'étape : « {item.deferrable_with} ».",
                    key="deferrable_with",
                    value=item.deferrable_with,
                    hint="éléments de l'étape : " + ", ".join(other.id for other in step.checklist),
                )


def _param_value(b: _Builder, definition: Definition, param: GuardParam, value: Any, where: str, key: str) -> Any:
    def wrong(problem: str) -> DefinitionError:
        return DefinitionError(
            b.source, f"{where} : {problem}", line=b.key_line(key), hint=f"attendu : {param.expected()}."
        )

    if param.kind == "strings":
        if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
            raise wrong("une liste de textes est attendue.")
        return tuple(value)
    if not isinstance(value, str):
        raise wrong("un texte entre guillemets est attendu.")
    if param.kind == "state":
        if value not in definition.states:
            raise wrong(f"état inconnu « {value} ».")
        return value
    if param.kind == "event":
        if value not in definition.events:
            raise wrong(f"action inconnue « {value} ».")
        return value
    step_id, _, item_id = value.partition(".")
    step = definition.step(step_id)
    item = step.item(item_id) if step else None
    if item is None:
        raise wrong(f"élément inconnu « {value} » (aucun élément « {item_id} » à l'étape « {step_id} »).")
    if param.item_type and item.type != param.item_type:
        raise wrong(f"l'élément « {value} » est de type {item.type}.")
    return (step_id, item_id)


def _extend(
    b: _Builder,
    base: Definition,
    document: Mapping[str, Any],
    definition_id: str,
    label: str,
    applies_to: dict[str, tuple[str, ...]],
) -> Definition:
    additions: dict[str, list[Any]] = {}
    for index, entry in enumerate(
        b.tables(document.get("checklist", []), "checklist", f"définition « {definition_id} »")
    ):
        b.enter_table("checklist", index)
        step_id = entry.get("step")
        if not isinstance(step_id, str) or base.step(step_id) is None:
            raise b.fail(
                f"définition « {definition_id} » : élément ajouté à une étape inconnue « {step_id} ».",
                key="step",
                value=str(step_id),
                hint="étapes : " + ", ".join(step.id for step in base.steps),
            )
        additions.setdefault(step_id, []).append({k: v for k, v in entry.items() if k != "step"})
    steps = []
    for step in base.steps:
        if step.id in additions:
            b.cursor = b.next_search = 0  # additions are grouped by step, not in file order
            step = replace(step, checklist=b.checklist(additions[step.id], f"étape « {step.id} »", step.checklist))
        steps.append(step)
    events = {**base.events, **{str(k): str(v) for k, v in dict(document.get("events", {})).items()}}
    return replace(
        base,
        id=definition_id,
        label=label,
        steps=tuple(steps),
        events=events,
        applies_to=applies_to,
        extends=base.id,
        source=str(b.source) if b.source else None,
        version=int(document.get("version", base.version)),
    )


def _build_base(
    b: _Builder, document: Mapping[str, Any], definition_id: str, label: str, applies_to: dict[str, tuple[str, ...]]
) -> Definition:
    events = document.get("events")
    if not isinstance(events, dict) or not events:
        raise b.fail(f"définition « {definition_id} » : la table [events] (action → libellé) manque.")
    steps: list[StepSpec] = []
    states: dict[str, StateSpec] = {}

    def add_state(state: StateSpec) -> None:
        if state.id in states:
            raise b.fail(f"état « {state.id} » déclaré deux fois.", value=state.id.rsplit(".", 1)[-1])
        states[state.id] = state

    raw_steps = b.tables(document.get("steps", []), "steps", f"définition « {definition_id} »")
    if not raw_steps:
        raise b.fail(f"définition « {definition_id} » : aucune étape ([[steps]]).")
    for index, raw_step in enumerate(raw_steps):
        b.enter_table("steps", index)
        step_id = b.identifier(raw_step, "étape")
        where = f"étape « {step_id} »"
        b.known_keys(raw_step, STEP_KEYS, where)
        step = StepSpec(
            id=step_id,
            label=b.string(raw_step, "label", where),
            roles=b.role_list(raw_step, where, step_id),
            checklist=b.checklist(raw_step.get("checklist", []), where),
            description=b.text_value(raw_step, "description", where),
            optional=b.flag(raw_step, "optional", where),
        )
        steps.append(step)
        add_state(StateSpec(id=step_id, label=step.label, step=step_id))
        for raw_sub in b.tables(raw_step.get("waiting", []), "waiting", where):
            b.enter("id", raw_sub.get("id"))
            sub_id = b.identifier(raw_sub, f"{where}, sous-état")
            sub_where = f"{where}, sous-état « {sub_id} »"
            b.known_keys(raw_sub, WAITING_KEYS, sub_where)
            add_state(
                StateSpec(
                    id=f"{step_id}.{sub_id}",
                    label=b.string(raw_sub, "label", sub_where),
                    step=step_id,
                    waiting_for=b.text_value(raw_sub, "waiting_for", sub_where),
                )
            )
    for index, raw_state in enumerate(
        b.tables(document.get("states", []), "states", f"définition « {definition_id} »")
    ):
        b.enter_table("states", index)
        state_id = b.identifier(raw_state, "état")
        state_where = f"état « {state_id} »"
        b.known_keys(raw_state, STATE_KEYS, state_where)
        add_state(
            StateSpec(
                id=state_id,
                label=b.string(raw_state, "label", state_where),
                final=b.flag(raw_state, "final", state_where),
                hold=b.flag(raw_state, "hold", state_where),
            )
        )
    initial = document.get("initial", steps[0].id)
    if initial not in states:
        raise b.fail(f"état initial « {initial} » inconnu.", key="initial", value=str(initial))

    transitions: list[TransitionSpec] = []
    for index, raw in enumerate(
        b.tables(document.get("transitions", []), "transitions", f"définition « {definition_id} »")
    ):
        b.enter_table("transitions", index)
        event, source, dest = raw.get("event"), raw.get("from"), raw.get("to")
        where = f"transition « {event} » de « {source} » vers « {dest} »"
        b.known_keys(raw, TRANSITION_KEYS, where)
        if event not in events:
            raise b.fail(
                f"{where} : action inconnue (absente de [events]).",
                key="event",
                value=str(event),
                hint="actions déclarées : " + ", ".join(events),
            )
        if source != ANY_STATE and source not in states:
            raise b.fail(f"{where} : état de départ inconnu.", key="from", value=str(source))
        if dest != RETURN and dest not in states:
            raise b.fail(f"{where} : état d'arrivée inconnu.", key="to", value=str(dest))
        if source in states and states[source].final:
            raise b.fail(f"{where} : un état final n'a pas de transition sortante.", key="from", value=str(source))
        if dest == RETURN and not (source in states and states[source].hold):
            raise b.fail(
                f"{where} : « @return » ne part que d'un état d'attente (hold = true).", key="to", value=RETURN
            )
        raw_guards = b.string_list(raw, "guards", where)
        for guard in raw_guards:
            if guard not in b.guards:
                raise b.fail(
                    f"{where} : garde inconnue « {guard} ».",
                    key="guards",
                    value=guard,
                    hint="gardes connues : " + ", ".join(sorted(b.guards)),
                )
        roles = b.role_list(raw, where, str(event))
        if not roles:
            raise b.fail(f"{where} : aucun rôle autorisé (« roles »).", key="event", value=str(event))
        transitions.append(
            TransitionSpec(
                event=str(event),
                source=str(source),
                dest=str(dest),
                roles=roles,
                guards=tuple(raw_guards),
                note_required=b.flag(raw, "note_required", where),
                four_eyes=b.flag(raw, "four_eyes", where),
            )
        )
    seen: set[tuple[str, str, str]] = set()
    for transition in transitions:
        key = (transition.event, transition.source, transition.dest)
        if key in seen:
            raise b.fail(
                f"transition « {transition.event} » de « {transition.source} » vers « {transition.dest} » "
                "déclarée deux fois.",
                key="event",
                value=transition.event,
            )
        seen.add(key)
    return Definition(
        id=definition_id,
        label=label,
        version=int(document.get("version", 1)),
        initial=str(initial),
        steps=tuple(steps),
        states=states,
        transitions=tuple(transitions),
        events={str(k): str(v) for k, v in events.items()},
        roles=dict(b.roles),
        applies_to=applies_to,
        source=str(b.source) if b.source else None,
    )


def _check_graph(b: _Builder, definition: Definition) -> None:
    """Every state reachable from the initial one; from every state, a path to a final state."""
    b.cursor = 0  # errors here concern the whole graph: point at the state's declaration
    if not definition.final_states:
        raise b.fail(f"définition « {definition.id} » : aucun état final (final = true).")
    forward: dict[str, set[str]] = {state: set() for state in definition.states}
    backward: dict[str, set[str]] = {state: set() for state in definition.states}
    for transition, source, dest in definition.edges():
        if transition.dest != RETURN:  # an instance only returns to a state it had already reached
            forward[source].add(dest)
        backward[dest].add(source)
    reachable = _closure(definition.initial, forward)
    for state in definition.states:
        if state not in reachable:
            raise b.fail(
                f"état « {state} » inaccessible depuis l'état initial « {definition.initial} ».",
                value=state.rsplit(".", 1)[-1],
                hint="ajoutez une transition qui y mène, ou retirez-le.",
            )
    can_finish: set[str] = set()
    for final in definition.final_states:
        can_finish |= _closure(final, backward)
    for state in definition.states:
        if state not in can_finish:
            raise b.fail(
                f"état « {state} » sans chemin vers un état final.",
                value=state.rsplit(".", 1)[-1],
                hint="ajoutez une transition qui en sort vers la suite du parcours.",
            )


def _closure(start: str, graph: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for neighbour in graph[queue.popleft()]:
            if neighbour not in seen:
                seen.add(neighbour)
                queue.append(neighbour)
    return seen
