"""The roles people hold and what their scope designates (no database: the CLI's help reads them at start-up)."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["director", "ien", "cpd", "dane", "dpo", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
ROLE_LABELS: dict[str, str] = {
    "director": "direction d'école",
    "ien": "IEN de circonscription",
    "cpd": "CPD numérique",
    "dane": "DANE",
    "dpo": "délégué(e) à la protection des données",
    "admin": "administration",
}
# What a person's scope designates, by role.
SCOPE_KINDS: dict[str, str] = {
    "director": "école (UAI)",
    "ien": "circonscription (UAI)",
    "cpd": "département (code, ex. 035)",
    "dane": "académie (code, ex. 14)",
    "dpo": "académie (code, ex. 14)",
    "admin": "tout le territoire (*)",
}
# Roles that read and never change anything (no move, no checklist change, no administration).
READ_ONLY_ROLES: frozenset[str] = frozenset({"dpo"})
# The documents a read-only role may open ("step.item"): the data-protection officer reads the council minutes.
READABLE_FILES: dict[str, tuple[str, ...]] = {"dpo": ("school_council.minutes",)}
