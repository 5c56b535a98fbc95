"""Plain-function factories for tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from roadmap.service import Roadmap
from roadmap.settings import Settings

FIXED_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, during school time


def fixed_clock(moment: datetime = FIXED_NOW) -> Callable[[], datetime]:
    return lambda: moment


ADMIN_EMAIL = "admin.tests@ac-rennes.fr"  # the first administrator of every test database (see make_roadmap)


def make_roadmap(settings: Settings, *, db: Engine | None = None, now: datetime = FIXED_NOW,
                 admin: bool = True) -> Roadmap:
    """A service on the test's database; with `admin`, its first administrator ADMIN_EMAIL is created."""
    roadmap = Roadmap(settings, db=db, clock=fixed_clock(now))
    if admin:
        roadmap.bootstrap_admin(ADMIN_EMAIL, "Administration des tests")
    return roadmap


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, delimiter: str = ";",
              encoding: str = "utf-8-sig") -> Path:
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


ANNUAIRE_HEADER = ["Identifiant_de_l_etablissement", "Nom_etablissement", "Type_etablissement", "Statut_public_prive",
                   "Adresse_1", "Adresse_2", "Code postal", "Nom_commune", "Code_departement", "Code_academie",
                   "Libelle_departement", "Libelle_academie", "Telephone", "Mail", "nom_circonscription", "code_nature"]


def annuaire_row(uai: str, name: str, *, kind: str = "Ecole", nature: str = "151", circonscription: str = "",
                 email: str = "", departement: str = "035", academie: str = "14", phone: str = "0299000000",
                 postal_code: str = "35000", commune: str = "Rennes", sector: str = "Public") -> list[str]:
    return [uai, name, kind, sector, "1 rue de l'École", "", postal_code, commune, departement, academie,
            "Ille-et-Vilaine", "Rennes", phone, email, circonscription, nature]
