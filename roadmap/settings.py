"""Settings from the environment, with an embedded default (SQLite file under ROADMAP_HOME)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from roadmap.errors import RoadmapError

PARIS = ZoneInfo("Europe/Paris")


def _data_dir() -> Path:
    """The repository's `data/`, shipped in the wheel as the package `roadmap_data` (see pyproject.toml)."""
    spec = importlib.util.find_spec("roadmap_data")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "roadmaps").is_dir():
            return Path(location).resolve()
    return Path(__file__).resolve().parent.parent / "data"  # a source tree that is not installed


REPO_DATA = _data_dir()


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    definitions_dir: Path
    territory_file: Path
    demo_dir: Path = REPO_DATA / "demo"
    busy_timeout_ms: int = 30_000  # how long a write waits for another one before giving up (SQLite)
    reminders_dir: Path = REPO_DATA / "reminders"
    base_url: str = "http://localhost:8000"  # where the links of emails lead (the web application)
    mail_from: str = "ent-roadmap <ne-pas-repondre@ent-roadmap.localhost>"
    dsi_email: str = ""  # ROADMAP_DSI_EMAIL: where every later account table goes (else the académie's dsi_email)
    retention_days: int = 365  # people who left the directory are anonymised after this delay (GDPR)

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def ents_file(self) -> Path:
        """The ENT catalogue, beside the académies' reference data."""
        return self.territory_file.parent / "ents.toml"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        default_home = Path(env.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "ent-roadmap"
        home = Path(env.get("ROADMAP_HOME", default_home)).expanduser().resolve()
        data = Path(env.get("ROADMAP_DATA_DIR", REPO_DATA)).expanduser().resolve()
        url = env.get("ROADMAP_DATABASE_URL") or f"sqlite:///{home / 'roadmap.sqlite3'}"
        return cls(
            home=home,
            database_url=url,
            definitions_dir=data / "roadmaps",
            territory_file=data / "territory" / "academies.toml",
            demo_dir=data / "demo",
            busy_timeout_ms=_busy_timeout_ms(env.get("ROADMAP_BUSY_TIMEOUT", "")),
            reminders_dir=data / "reminders",
            base_url=env.get("ROADMAP_BASE_URL", "http://localhost:8000").rstrip("/"),
            mail_from=env.get("ROADMAP_MAIL_FROM", "ent-roadmap <ne-pas-repondre@ent-roadmap.localhost>"),
            dsi_email=env.get("ROADMAP_DSI_EMAIL", "").strip().lower(),
            retention_days=_retention_days(env.get("ROADMAP_RETENTION_DAYS", "")),
        )

    @property
    def mail_domain(self) -> str:
        """The domain of Message-IDs: the sender's."""
        address = self.mail_from.rsplit("<", 1)[-1].rstrip(">")
        return address.rsplit("@", 1)[-1] or "ent-roadmap.localhost"


def _busy_timeout_ms(seconds: str) -> int:
    try:
        return max(0, int(float(seconds) * 1000)) if seconds.strip() else 30_000
    except ValueError:
        return 30_000


def _retention_days(days: str) -> int:
    """ROADMAP_RETENTION_DAYS: whole days, 0 or more; an unreadable value is refused (a GDPR delay is not guessed)."""
    text = days.strip()
    if not text:
        return 365
    if not text.isdigit():
        raise RoadmapError(
            f"ROADMAP_RETENTION_DAYS vaut « {days} » : un nombre entier de jours (0 ou plus) est attendu.\n"
            "  → par exemple ROADMAP_RETENTION_DAYS=365, ou retirez la variable (365 jours par défaut)."
        )
    return int(text)
