"""UAI (Unité Administrative Immatriculée): the national identifier of a French school or service.

An UAI is 7 digits followed by a check letter. The letter is taken from ``UAI_KEY_LETTERS`` (the alphabet
without I, O and Q) at the index ``int(digits) % 23``; for example ``0350122T`` or ``0940176F``.
"""

from __future__ import annotations

import re

UAI_KEY_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"

_DIGITS_RE = re.compile(r"[0-9]{7}")
_UAI_RE = re.compile(r"([0-9]{7})([A-Z])")
_EXAMPLE = "0350122T"


def normalize_uai(value: str) -> str:
    """Remove every whitespace character (spaces, tabs, non-breaking spaces) and upper-case."""
    return "".join(value.split()).upper()


def uai_key(digits: str) -> str:
    """Return the check letter of the 7 given digits.

    Raises ``ValueError`` (a programming error, not a user message) when ``digits`` is not exactly 7 ASCII
    digits.
    """
    if not _DIGITS_RE.fullmatch(digits):
        raise ValueError(f"uai_key expects exactly 7 ASCII digits, got {digits!r}")
    return UAI_KEY_LETTERS[int(digits) % 23]


def uai_problem(value: str) -> str | None:
    """Return ``None`` when ``value`` is a valid UAI once normalised, else a French reason (what to fix)."""
    uai = normalize_uai(value)
    if not uai:
        return f"l'UAI est vide : un UAI compte 7 chiffres suivis d'une lettre (ex. {_EXAMPLE})"
    if _DIGITS_RE.fullmatch(uai):
        return f"la lettre clé manque, l'UAI complet serait {uai}{uai_key(uai)}"
    match = _UAI_RE.fullmatch(uai)
    if match is None:
        return f"un UAI compte 7 chiffres suivis d'une lettre (ex. {_EXAMPLE})"
    digits, letter = match.groups()
    expected = uai_key(digits)
    if letter != expected:
        return f"la lettre clé devrait être {expected} ({digits}{expected})"
    return None


def is_valid_uai(value: str) -> bool:
    """True when ``value`` (after normalisation) is a well-formed UAI with the right check letter."""
    return uai_problem(value) is None
