"""Reminder policies as data: after how many working days to remind whom while something waits, how often, when
and to whom to escalate, when to stop; and which event tells which roles. A policy names the states, roles and
events of a workflow definition it knows nothing about: the application gives their ids, and every name in the file
is checked against them on load, each error naming its line."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class PolicyError(Exception):
    """A policy file cannot be used. Names the file, the line when known, what is wrong and how to fix it."""

    def __init__(self, source: Path, problem: str, *, line: int | None = None, hint: str = "") -> None:
        self.source, self.problem, self.line, self.hint = source, problem, line, hint
        where = f"{source}, ligne {line}" if line else str(source)
        message = f"{where} : {problem}"
        if hint:
            message += f"\n  → {hint}"
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ReminderRule:
    """While a subject stays in one of `states`: remind `remind` after `after` working days, then every `every`;
    from `escalate_after`, `escalate_to` are reminded too; nothing after `stop_after`. `only_if` names a condition
    the application evaluates (e.g. "the département's first table is not validated yet")."""

    id: str
    label: str
    states: tuple[str, ...]
    remind: tuple[str, ...]
    after: int
    every: int | None = None
    escalate_to: tuple[str, ...] = ()
    escalate_after: int | None = None
    stop_after: int | None = None
    only_if: str | None = None
    digest: bool = True  # may travel in the recipient's daily digest

    def occurrence(self, days: int) -> int | None:
        """Which reminder is due after `days` working days in the state (0 = the first), or None."""
        if days < self.after or (self.stop_after is not None and days > self.stop_after):
            return None
        return (days - self.after) // self.every if self.every else 0

    def due_day(self, occurrence: int) -> int:
        """Working days after entering the state when reminder number `occurrence` is due."""
        return self.after + occurrence * (self.every or 0)

    def recipients(self, days: int) -> tuple[str, ...]:
        """The roles reminded after `days` working days (the escalation adds its roles)."""
        escalated = self.escalate_after is not None and days >= self.escalate_after
        return self.remind + tuple(r for r in self.escalate_to if r not in self.remind) if escalated else self.remind


@dataclass(frozen=True)
class EventRule:
    """When `event` moves a subject (into one of `to_states`, if given), tell `notify`."""

    id: str
    label: str
    event: str
    notify: tuple[str, ...]
    to_states: tuple[str, ...] = ()
    immediate: bool = True  # never held for a digest (e.g. an approval request)

    def matches(self, event: str, target: str) -> bool:
        return event == self.event and (not self.to_states or target in self.to_states)


@dataclass(frozen=True)
class Policy:
    definition: str
    reminders: tuple[ReminderRule, ...]
    events: tuple[EventRule, ...]
    source: Path

    def reminder_states(self) -> set[str]:
        return {state for rule in self.reminders for state in rule.states}


REMINDER_KEYS = frozenset({"id", "label", "states", "remind", "after", "every", "escalate_to", "escalate_after",
                           "stop_after", "only_if", "digest"})
EVENT_KEYS = frozenset({"id", "label", "event", "notify", "to_states", "immediate"})
TOP_KEYS = frozenset({"definition", "reminders", "events"})


@dataclass(frozen=True)
class Vocabulary:
    """What a policy may name: the definition's states, roles and events, the application's conditions."""

    definition: str
    states: Collection[str]
    roles: Collection[str]
    events: Collection[str]
    conditions: Collection[str] = ()


def load_policy(path: Path, vocabulary: Vocabulary) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(path, f"lecture impossible ({error.strerror or error}).") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", None)
        raise PolicyError(
            path, f"TOML invalide ({error}).", line=line, hint="vérifiez la syntaxe à cette ligne."
        ) from None
    return _Reader(path, text, vocabulary).policy(document)


def _suggest(name: str, known: Collection[str], what: str) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f"vouliez-vous dire « {close[0]} » ?" if close else f"{what} possibles : " + ", ".join(sorted(known))


class _Reader:
    def __init__(self, path: Path, text: str, vocabulary: Vocabulary) -> None:
        self.path, self.text, self.vocabulary = path, text, vocabulary
        self.cursor = 0  # where the element being read starts in the text

    def error(self, problem: str, key: str | None = None, hint: str = "") -> PolicyError:
        return PolicyError(self.path, problem, line=self.line(key), hint=hint)

    def line(self, key: str | None) -> int | None:
        if key is None:
            return self.text.count("\n", 0, self.cursor) + 1 if self.cursor else None
        pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=", re.MULTILINE)
        match = pattern.search(self.text, self.cursor) or pattern.search(self.text)
        return self.text.count("\n", 0, match.start()) + 1 if match else None

    def enter(self, header: str, index: int) -> None:
        """Move the cursor to the `index`-th `[[header]]` table."""
        headers = list(re.finditer(rf"^[ \t]*\[\[[ \t]*{header}[ \t]*\]\]", self.text, re.MULTILINE))
        self.cursor = headers[index].start() if index < len(headers) else 0

    def known(self, table: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(f"{where} : clé inconnue « {key} ».", key, _suggest(key, allowed, "clés"))

    def names(self, table: Mapping[str, Any], key: str, known: Collection[str], what: str, where: str,
              *, required: bool = True) -> tuple[str, ...]:
        value = table.get(key, [] if not required else None)
        if value is None:
            raise self.error(f"{where} : « {key} » manque.", None, f"donnez la liste des {what}.")
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.error(f"{where} : « {key} » doit être un texte ou une liste de textes.", key)
        if required and not values:
            raise self.error(f"{where} : « {key} » est vide.", key, f"donnez au moins un(e) {what}.")
        for name in values:
            if name not in known:
                hint = _suggest(name, known, f"{what}s")
                raise self.error(f"{where} : {what} inconnu(e) « {name} » dans « {key} ».", key, hint)
        return tuple(values)

    def days(self, table: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
        value = table.get(key)
        if value is None:
            if required:
                raise self.error(f"{where} : « {key} » manque (un nombre de jours ouvrés).")
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "every" else 0):
            raise self.error(f"{where} : « {key} » doit être un nombre entier de jours ouvrés.", key)
        return value

    def text_of(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{where} : « {key} » doit être un texte non vide.", key if key in table else None)
        return value.strip()

    def policy(self, document: Mapping[str, Any]) -> Policy:
        self.known(document, TOP_KEYS, "politique")
        definition = document.get("definition")
        if definition != self.vocabulary.definition:
            raise self.error(
                f"cette politique s'applique à la définition « {definition} », attendue : "
                f"« {self.vocabulary.definition} ».",
                "definition",
            )
        reminders = tuple(self.reminder(table, i) for i, table in enumerate(document.get("reminders", [])))
        events = tuple(self.event_rule(table, i) for i, table in enumerate(document.get("events", [])))
        for rules in (reminders, events):
            seen: set[str] = set()
            for rule in rules:
                if rule.id in seen:
                    self.cursor = 0
                    raise self.error(f"identifiant « {rule.id} » en double.", "id", "chaque règle a son identifiant.")
                seen.add(rule.id)
        return Policy(self.vocabulary.definition, reminders, events, self.path)

    def reminder(self, table: Mapping[str, Any], index: int) -> ReminderRule:
        self.enter("reminders", index)
        where = f"rappel n° {index + 1}"
        self.known(table, REMINDER_KEYS, where)
        rule_id = self.text_of(table, "id", where)
        where = f"rappel « {rule_id} »"
        v = self.vocabulary
        rule = ReminderRule(
            id=rule_id,
            label=self.text_of(table, "label", where),
            states=self.names(table, "states", v.states, "état", where),
            remind=self.names(table, "remind", v.roles, "rôle", where),
            after=self.days(table, "after", where, required=True) or 0,
            every=self.days(table, "every", where),
            escalate_to=self.names(table, "escalate_to", v.roles, "rôle", where, required=False),
            escalate_after=self.days(table, "escalate_after", where),
            stop_after=self.days(table, "stop_after", where),
            only_if=(self.names(table, "only_if", v.conditions, "condition", where)[0] if "only_if" in table else None),
            digest=bool(table.get("digest", True)),
        )
        if bool(rule.escalate_to) != (rule.escalate_after is not None):
            raise self.error(f"{where} : « escalate_to » et « escalate_after » vont ensemble.",
                             "escalate_to" if rule.escalate_to else "escalate_after")
        if rule.escalate_after is not None and rule.escalate_after < rule.after:
            raise self.error(f"{where} : l'escalade ne peut pas précéder le premier rappel.", "escalate_after")
        if rule.stop_after is not None and rule.stop_after < rule.after:
            raise self.error(f"{where} : « stop_after » précède le premier rappel.", "stop_after")
        return rule

    def event_rule(self, table: Mapping[str, Any], index: int) -> EventRule:
        self.enter("events", index)
        where = f"notification n° {index + 1}"
        self.known(table, EVENT_KEYS, where)
        rule_id = self.text_of(table, "id", where)
        where = f"notification « {rule_id} »"
        v = self.vocabulary
        return EventRule(
            id=rule_id,
            label=self.text_of(table, "label", where),
            event=self.names(table, "event", v.events, "événement", where)[0],
            notify=self.names(table, "notify", v.roles, "rôle", where),
            to_states=self.names(table, "to_states", v.states, "état", where, required=False),
            immediate=bool(table.get("immediate", True)),
        )
