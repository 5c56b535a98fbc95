"""French renderings every interface shares: dates and times as people in France read them, in Europe/Paris."""

from __future__ import annotations

from datetime import UTC, datetime

from roadmap.settings import PARIS


def french_datetime(moment: datetime) -> str:
    """"03/12/2026 à 09:30" in Paris time; a datetime without a zone (as SQLite hands them back) is UTC."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(PARIS):%d/%m/%Y à %H:%M}"


def lower_first(label: str) -> str:
    """A label inside a sentence: "Compte rendu … par l'IEN" → "compte rendu … par l'IEN" (acronyms kept)."""
    if len(label) > 1 and label[1].isupper():
        return label  # starts with an acronym ("ENT déployé", "IEN …")
    return label[:1].lower() + label[1:]
