"""Settings from the environment, with an embedded default (SQLite file under ROADMAP_HOME)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    definitions_dir: Path
    territory_file: Path
    demo_dir: Path = REPO_DATA / "demo"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

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
        )
