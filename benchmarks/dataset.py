"""A deterministic national dataset for the benchmarks (issue 6): the whole country's primary schools.

- :func:`national_territory` draws, from a seed, N écoles spread over the 101 départements (weighted by population)
  of the 30 académies, about one circonscription (IEN office) per 38 écoles (~1,300 for 50,000), and one collège
  per 8 écoles (rows the importer must skip). UAIs carry their key letter (:func:`roadmap.uai.uai_key`) and start
  with their département's number, as real ones do; names, addresses, phones and mailboxes look like the real ones.
- :func:`write_annuaire` writes it as an extract of the Annuaire de l'éducation in either header variant of the two
  real files (``../shared/data/annuaire``): variant 0 is the 2023 layout (69 columns, ``Code postal``; schools name
  their circonscription, ``nom_circonscription``), variant 1 the 2026 layout (71 columns, ``Code_postal``, and
  ``code_circonscription``, the office's UAI). Both hold the circonscription offices (``code_nature`` 809).
- :func:`build_database` builds a migrated database of N schools at realistic steps (every state of the national
  roadmap), with the history a lawful walk leaves (~20 rows per school: checks, moves, the IEN's approvals and
  requests for corrections, the DANE's first validation per département, suspensions...) and checklist values
  consistent with each school's step. People come from the annuaire (school and IEN mailboxes) and, through the
  product, an administrator, a CPD per département and a DANE per académie. Bulk SQLAlchemy Core inserts: 50,000
  schools and a million history rows take well under two minutes.

The same seed and N always give the same territory, file and database (dates are relative to `now`).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import random
import re
import tempfile
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Table, func, select, text
from sqlalchemy.engine import Connection

from roadmap.directory import short_circonscription_name
from roadmap.models import Academie, Circonscription, Departement, Person, School, StoredFile
from roadmap.service import Roadmap
from roadmap.settings import REPO_DATA, Settings
from roadmap.territory import academies
from roadmap.uai import uai_key
from workflows.definition import Definition, StepSpec
from workflows.models import ChecklistValue, HistoryEntry, WorkflowInstance

SEED = 20261203
SCHOOLS_PER_CIRCONSCRIPTION = 38.5  # ~1,300 circonscriptions for 50,000 écoles
SCHOOLS_PER_COLLEGE = 8  # collèges are in a real extract too; the importer skips them
ADMIN_EMAIL = "admin.national@education.gouv.fr"
ANNUAIRE_NAME = "annuaire-education_national_bench.csv"
MAJ_DATE = "2026-05-27"  # `date_maj_ligne` of every row: the file does not depend on the day it is written

# ---------------------------------------------------------------------------------------------- territory

# The 30 académies of 2020 onwards (Caen and Rouen merged into Normandie, code 70): e-mail domain slug, region.
ACADEMIES: dict[str, tuple[str, str, str]] = {
    "01": ("paris", "11", "Ile-de-France"),
    "02": ("aix-marseille", "93", "Provence-Alpes-Côte d'Azur"),
    "03": ("besancon", "27", "Bourgogne-Franche-Comté"),
    "04": ("bordeaux", "75", "Nouvelle-Aquitaine"),
    "06": ("clermont", "84", "Auvergne-Rhône-Alpes"),
    "07": ("dijon", "27", "Bourgogne-Franche-Comté"),
    "08": ("grenoble", "84", "Auvergne-Rhône-Alpes"),
    "09": ("lille", "32", "Hauts-de-France"),
    "10": ("lyon", "84", "Auvergne-Rhône-Alpes"),
    "11": ("montpellier", "76", "Occitanie"),
    "12": ("nancy-metz", "44", "Grand Est"),
    "13": ("poitiers", "75", "Nouvelle-Aquitaine"),
    "14": ("rennes", "53", "Bretagne"),
    "15": ("strasbourg", "44", "Grand Est"),
    "16": ("toulouse", "76", "Occitanie"),
    "17": ("nantes", "52", "Pays de la Loire"),
    "18": ("orleans-tours", "24", "Centre-Val de Loire"),
    "19": ("reims", "44", "Grand Est"),
    "20": ("amiens", "32", "Hauts-de-France"),
    "22": ("limoges", "75", "Nouvelle-Aquitaine"),
    "23": ("nice", "93", "Provence-Alpes-Côte d'Azur"),
    "24": ("creteil", "11", "Ile-de-France"),
    "25": ("versailles", "11", "Ile-de-France"),
    "27": ("corse", "94", "Corse"),
    "28": ("reunion", "04", "La Réunion"),
    "31": ("martinique", "02", "Martinique"),
    "32": ("guadeloupe", "01", "Guadeloupe"),
    "33": ("guyane", "03", "Guyane"),
    "43": ("mayotte", "06", "Mayotte"),
    "70": ("normandie", "28", "Normandie"),
}

# code, name, académie, population in thousands (weights the number of écoles).
DEPARTEMENTS: tuple[tuple[str, str, str, int], ...] = (
    ("001", "Ain", "10", 650), ("002", "Aisne", "20", 530), ("003", "Allier", "06", 335),
    ("004", "Alpes-de-Haute-Provence", "02", 165), ("005", "Hautes-Alpes", "02", 140),
    ("006", "Alpes-Maritimes", "23", 1090), ("007", "Ardèche", "08", 330), ("008", "Ardennes", "19", 270),
    ("009", "Ariège", "16", 153), ("010", "Aube", "19", 310), ("011", "Aude", "11", 375),
    ("012", "Aveyron", "16", 280), ("013", "Bouches-du-Rhône", "02", 2040), ("014", "Calvados", "70", 695),
    ("015", "Cantal", "06", 145), ("016", "Charente", "13", 350), ("017", "Charente-Maritime", "13", 655),
    ("018", "Cher", "18", 300), ("019", "Corrèze", "22", 240), ("02A", "Corse-du-Sud", "27", 160),
    ("02B", "Haute-Corse", "27", 180), ("021", "Côte-d'Or", "07", 535), ("022", "Côtes-d'Armor", "14", 600),
    ("023", "Creuse", "22", 116), ("024", "Dordogne", "04", 413), ("025", "Doubs", "03", 545),
    ("026", "Drôme", "08", 520), ("027", "Eure", "70", 600), ("028", "Eure-et-Loir", "18", 430),
    ("029", "Finistère", "14", 915), ("030", "Gard", "11", 750), ("031", "Haute-Garonne", "16", 1400),
    ("032", "Gers", "16", 191), ("033", "Gironde", "04", 1620), ("034", "Hérault", "11", 1180),
    ("035", "Ille-et-Vilaine", "14", 1080), ("036", "Indre", "18", 220), ("037", "Indre-et-Loire", "18", 610),
    ("038", "Isère", "08", 1270), ("039", "Jura", "03", 260), ("040", "Landes", "04", 410),
    ("041", "Loir-et-Cher", "18", 330), ("042", "Loire", "10", 765), ("043", "Haute-Loire", "06", 227),
    ("044", "Loire-Atlantique", "17", 1430), ("045", "Loiret", "18", 680), ("046", "Lot", "16", 174),
    ("047", "Lot-et-Garonne", "04", 330), ("048", "Lozère", "11", 76), ("049", "Maine-et-Loire", "17", 820),
    ("050", "Manche", "70", 495), ("051", "Marne", "19", 565), ("052", "Haute-Marne", "19", 172),
    ("053", "Mayenne", "17", 307), ("054", "Meurthe-et-Moselle", "12", 733), ("055", "Meuse", "12", 184),
    ("056", "Morbihan", "14", 760), ("057", "Moselle", "12", 1045), ("058", "Nièvre", "07", 204),
    ("059", "Nord", "09", 2600), ("060", "Oise", "20", 830), ("061", "Orne", "70", 280),
    ("062", "Pas-de-Calais", "09", 1465), ("063", "Puy-de-Dôme", "06", 660),
    ("064", "Pyrénées-Atlantiques", "04", 680), ("065", "Hautes-Pyrénées", "16", 229),
    ("066", "Pyrénées-Orientales", "11", 480), ("067", "Bas-Rhin", "15", 1140), ("068", "Haut-Rhin", "15", 765),
    ("069", "Rhône", "10", 1870), ("070", "Haute-Saône", "03", 235), ("071", "Saône-et-Loire", "07", 550),
    ("072", "Sarthe", "17", 566), ("073", "Savoie", "08", 435), ("074", "Haute-Savoie", "08", 830),
    ("075", "Paris", "01", 2160), ("076", "Seine-Maritime", "70", 1255), ("077", "Seine-et-Marne", "24", 1420),
    ("078", "Yvelines", "25", 1450), ("079", "Deux-Sèvres", "13", 375), ("080", "Somme", "20", 570),
    ("081", "Tarn", "16", 390), ("082", "Tarn-et-Garonne", "16", 260), ("083", "Var", "23", 1080),
    ("084", "Vaucluse", "02", 560), ("085", "Vendée", "17", 685), ("086", "Vienne", "13", 440),
    ("087", "Haute-Vienne", "22", 372), ("088", "Vosges", "12", 365), ("089", "Yonne", "07", 335),
    ("090", "Territoire de Belfort", "03", 142), ("091", "Essonne", "25", 1300),
    ("092", "Hauts-de-Seine", "25", 1620), ("093", "Seine-Saint-Denis", "24", 1650),
    ("094", "Val-de-Marne", "24", 1400), ("095", "Val-d'Oise", "25", 1250), ("971", "Guadeloupe", "32", 385),
    ("972", "Martinique", "31", 360), ("973", "Guyane", "33", 285), ("974", "La Réunion", "28", 860),
    ("976", "Mayotte", "43", 280),
)  # fmt: skip

_PHONE_PREFIX = {  # by region: 01 Ile-de-France, 02 north-west, 03 north-east, 04 south-east, 05 south-west
    "11": "01", "24": "02", "28": "02", "52": "02", "53": "02", "27": "03", "32": "03", "44": "03",
    "84": "04", "93": "04", "94": "04", "75": "05", "76": "05",
    "01": "0590", "02": "0596", "03": "0594", "04": "0262", "06": "0269",
}  # fmt: skip

_ROOTS = (
    "Mont", "Ville", "Belle", "Beau", "Fontaine", "Roche", "Val", "Bois", "Champ", "Pont", "Neuf", "Clair", "Mar",
    "Ker", "Plou", "Lan", "Trév", "Cour", "Mes", "Sain", "Vern", "Mor", "Auber", "Bon", "Chastel", "Col", "Cré",
    "Douar", "Esc", "Gor", "Ham", "Lou", "Ma", "Noy", "Or", "Pré", "Riv", "Sal", "Tour", "Vau", "Vil", "Font",
    "Bré", "Ros", "Guer", "Quim", "Lor", "Chan", "Ber", "Mau",
)  # fmt: skip
_SUFFIXES = (
    "ac", "ville", "court", "ières", "bourg", "heim", "ange", "eux", "ay", "argues", "ois", "erre", "elle",
    "ignac", "oux", "ance", "ennes", "ot", "ouët", "eil", "an", "é", "ières-les-Bois", "ette", "ecourt",
)  # fmt: skip
_RIVERS = (
    "Loire",
    "Seine",
    "Marne",
    "Oise",
    "Rhône",
    "Garonne",
    "Vienne",
    "Meuse",
    "Moselle",
    "Dordogne",
    "Lot",
    "Tarn",
    "Cher",
    "Indre",
    "Sarthe",
    "Vilaine",
    "Orne",
    "Aisne",
    "Saône",
    "Doubs",
    "Allier",
    "Isère",
)
_SAINTS = (
    "Martin",
    "Jean",
    "Pierre",
    "Germain",
    "Georges",
    "Laurent",
    "Étienne",
    "Hilaire",
    "Aubin",
    "Denis",
    "Julien",
    "Sulpice",
    "Médard",
    "Brice",
    "Malo",
    "Gilles",
    "Maurice",
    "Amand",
    "Rémy",
    "Éloi",
)
_PATRONS = (
    "Jules Ferry", "Victor Hugo", "Jean Jaurès", "Jean Moulin", "Louis Pasteur", "Jacques Prévert", "Paul Langevin",
    "Marie Curie", "Jean de la Fontaine", "Anatole France", "Paul Bert", "Jean Macé", "Louise Michel",
    "Georges Brassens", "Antoine de Saint-Exupéry", "Simone Veil", "Albert Camus", "Jean Zay", "Condorcet",
    "Émile Zola", "Marcel Pagnol", "Robert Doisneau", "Henri Wallon", "Paul Éluard", "Frédéric Mistral",
    "Alphonse Daudet", "Charles Perrault", "Joséphine Baker", "Gisèle Halimi", "les Lilas", "les Tilleuls",
    "les Marronniers", "le Petit Prince", "Arc-en-Ciel", "les Coquelicots", "les Écureuils", "du Bourg", "du Centre",
    "des Acacias", "les Cerisiers", "les Glycines", "la Source", "le Moulin", "les Peupliers", "les Hirondelles",
    "le Val", "la Marelle", "les Lucioles", "Pierre Perret", "Olympe de Gouges",
)  # fmt: skip
_PRIVATE_PATRONS = (
    "Sainte-Marie",
    "Saint-Joseph",
    "Notre-Dame",
    "Sainte-Anne",
    "Saint-Michel",
    "Jeanne d'Arc",
    "Sainte-Thérèse",
    "Saint-Pierre",
    "Saint-Louis",
    "Immaculée Conception",
)
_STREETS = (
    "rue de la Mairie",
    "rue des Écoles",
    "rue Jean Jaurès",
    "avenue Victor Hugo",
    "rue du Stade",
    "place de l'Église",
    "rue Pasteur",
    "boulevard Gambetta",
    "allée des Tilleuls",
    "chemin des Vignes",
    "rue de la République",
    "impasse du Moulin",
    "route de la Gare",
    "rue du Général de Gaulle",
    "rue des Prés",
    "avenue de la Libération",
    "rue de Bretagne",
    "rue Émile Zola",
    "place du Marché",
)
_FIRST_NAMES = (
    "Claire",
    "Yann",
    "Sophie",
    "Karim",
    "Nathalie",
    "Julien",
    "Isabelle",
    "Thomas",
    "Aurélie",
    "Nicolas",
    "Fatima",
    "Laurent",
    "Camille",
    "Mehdi",
    "Céline",
    "Pierre",
    "Anne",
    "Hugo",
    "Léa",
    "Marc",
)
_LAST_NAMES = (
    "Martin",
    "Bernard",
    "Kervella",
    "Dubois",
    "Petit",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Benali",
    "Le Gall",
    "Fontaine",
)


def _columns(header: str) -> tuple[str, ...]:
    return tuple(header.split(";"))


HEADER_2023 = _columns(
    "Identifiant_de_l_etablissement;Nom_etablissement;Type_etablissement;Statut_public_prive;Adresse_1;Adresse_2;"
    "Adresse_3;Code postal;Code_commune;Nom_commune;Code_departement;Code_academie;Code_region;Ecole_maternelle;"
    "Ecole_elementaire;Voie_generale;Voie_technologique;Voie_professionnelle;Telephone;Fax;Web;Mail;Restauration;"
    "Hebergement;ULIS;Apprentissage;Segpa;Section_arts;Section_cinema;Section_theatre;Section_sport;"
    "Section_internationale;Section_europeenne;Lycee_Agricole;Lycee_militaire;Lycee_des_metiers;Post_BAC;"
    "Appartenance_Education_Prioritaire;GRETA;SIREN_SIRET;Nombre_d_eleves;Fiche_onisep;position;Type_contrat_prive;"
    "Libelle_departement;Libelle_academie;Libelle_region;coordonnee_X;coordonnee_Y;epsg;nom_circonscription;latitude;"
    "longitude;precision_localisation;date_ouverture;date_maj_ligne;etat;ministere_tutelle;etablissement_multi_lignes;"
    "rpi_concentre;rpi_disperse;code_nature;libelle_nature;Code_type_contrat_prive;PIAL;etablissement_mere;"
    "type_rattachement_etablissement_mere;code_bassin_formation;libelle_bassin_formation"
)
HEADER_2026 = _columns(
    "Identifiant_de_l_etablissement;Nom_etablissement;Type_etablissement;Statut_public_prive;Adresse_1;Adresse_2;"
    "Adresse_3;Code_postal;Code_commune;Nom_commune;Code_departement;Code_academie;Code_region;Ecole_maternelle;"
    "Ecole_elementaire;Voie_generale;Voie_technologique;Voie_professionnelle;Telephone;Fax;Web;Mail;Restauration;"
    "Hebergement;ULIS;Apprentissage;Segpa;Section_arts;Section_cinema;Section_theatre;Section_sport;"
    "Section_internationale;Section_europeenne;Lycee_Agricole;Lycee_militaire;Lycee_des_metiers;Post_BAC;"
    "Appartenance_Education_Prioritaire;GRETA;SIREN_SIRET;Fiche_onisep;position;Type_contrat_prive;"
    "Libelle_departement;Libelle_academie;Libelle_region;coordX_origine;coordY_origine;epsg_origine;"
    "nom_circonscription;latitude;longitude;precision_localisation;date_ouverture;date_maj_ligne;etat;"
    "ministere_tutelle;multi_uai;rpi_concentre;rpi_disperse;code_nature;libelle_nature;Code_type_contrat_prive;PIAL;"
    "etablissement_mere;type_rattachement_etablissement_mere;code_circonscription;code_zone_animation_pedagogique;"
    "libelle_zone_animation_pedagogique;code_bassin_formation;libelle_bassin_formation"
)
HEADERS = (HEADER_2023, HEADER_2026)
# Columns renamed between the two layouts: canonical (2023) name -> 2026 name.
_RENAMED_2026 = {
    "Code postal": "Code_postal",
    "coordonnee_X": "coordX_origine",
    "coordonnee_Y": "coordY_origine",
    "epsg": "epsg_origine",
    "etablissement_multi_lignes": "multi_uai",
}


@dataclass(frozen=True)
class DepartementInfo:
    code: str  # as the annuaire writes it: "035", "02A", "971"
    name: str
    academie_code: str
    academie_name: str
    domain: str  # "ac-rennes.fr"
    region_code: str
    region_name: str
    uai_prefix: str  # first 3 digits of its UAIs: "035", "620" (Corse-du-Sud), "971"
    postal_prefix: str  # "35", "20", "971"
    phone_prefix: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Commune:
    name: str
    code: str  # INSEE
    postal_code: str


@dataclass(frozen=True)
class Office:
    """A circonscription: the IEN's office, a row of code_nature 809 in the annuaire."""

    uai: str
    name: str
    departement: DepartementInfo
    commune: Commune
    street: str
    phone: str
    email: str


@dataclass(frozen=True)
class Establishment:
    """An école (or a collège, for the rows an import skips)."""

    uai: str
    name: str
    kind: str  # Type_etablissement: "Ecole" or "Collège"
    sector: str  # "Public" / "Privé"
    nature_code: str
    nature_label: str
    departement: DepartementInfo
    commune: Commune
    street: str
    locality: str
    phone: str
    email: str
    office: Office | None
    pupils: int


@dataclass(frozen=True)
class Territory:
    seed: int
    departements: tuple[DepartementInfo, ...]
    offices: tuple[Office, ...]
    schools: tuple[Establishment, ...]
    colleges: tuple[Establishment, ...]

    @property
    def academie_codes(self) -> set[str]:
        return {d.academie_code for d in self.departements}

    def schools_by_departement(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for school in self.schools:
            counts[school.departement.code] = counts.get(school.departement.code, 0) + 1
        return counts


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")


def _allocate(total: int, weights: Sequence[float], minimum: int) -> list[int]:
    """Split `total` by `weights` (largest remainder), each share at least `minimum` when the total allows."""
    floor = minimum if total >= minimum * len(weights) else 0
    rest = total - floor * len(weights)
    whole = sum(weights)
    exact = [rest * w / whole for w in weights]
    shares = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in order[: rest - sum(shares)]:
        shares[i] += 1
    return [floor + s for s in shares]


def _departements(rng: random.Random) -> tuple[DepartementInfo, ...]:
    names = academies(REPO_DATA / "territory" / "academies.toml")
    result = []
    for code, name, academie, _population in DEPARTEMENTS:
        slug, region_code, region_name = ACADEMIES[academie]
        if code in ("02A", "02B"):
            uai_prefix, postal_prefix = ("620" if code == "02A" else "720"), "20"
        elif code.startswith("97"):
            uai_prefix, postal_prefix = code, code
        else:
            uai_prefix, postal_prefix = code, code[1:]
        result.append(
            DepartementInfo(
                code=code,
                name=name,
                academie_code=academie,
                academie_name=names[academie].name,
                domain=f"ac-{slug}.fr",
                region_code=region_code,
                region_name=region_name,
                uai_prefix=uai_prefix,
                postal_prefix=postal_prefix,
                phone_prefix=_PHONE_PREFIX[region_code],
                latitude=rng.uniform(42.6, 50.9) if not code.startswith("97") else rng.uniform(-21.3, 16.3),
                longitude=rng.uniform(-4.4, 7.6) if not code.startswith("97") else rng.uniform(-61.8, 55.7),
            )
        )
    return tuple(result)


def _commune_name(rng: random.Random) -> str:
    pattern = rng.random()
    base = rng.choice(_ROOTS) + rng.choice(_SUFFIXES)
    if pattern < 0.18:
        return f"Saint-{rng.choice(_SAINTS)}" + (f"-de-{base}" if rng.random() < 0.5 else "")
    if pattern < 0.30:
        return f"{base}-sur-{rng.choice(_RIVERS)}"
    if pattern < 0.38:
        return f"{rng.choice(('Le', 'La', 'Les'))} {base}"
    if pattern < 0.44:
        return f"{base}-{rng.choice(('le-Château', 'la-Forêt', 'en-Bresse', 'les-Bains', 'le-Vieux'))}"
    return base


def _communes(rng: random.Random, departement: DepartementInfo, count: int) -> list[Commune]:
    """`count` communes with distinct names, INSEE codes ("35016", "2A004", "97101") and postal codes."""
    overseas = departement.code.startswith("97")
    insee_prefix = departement.code if overseas else departement.code[1:]  # "971", "35", "2A"
    width = 5 - len(insee_prefix)
    numbers = rng.sample(range(1, 10**width), min(count, 10**width - 1))
    seen: set[str] = set()
    communes: list[Commune] = []
    while len(communes) < count:
        name = _commune_name(rng)
        if name in seen:
            name = f"{name}-{rng.choice(_SAINTS)}"
            if name in seen:
                continue
        seen.add(name)
        number = numbers[len(communes) % len(numbers)]
        postal_width = 5 - len(departement.postal_prefix)
        communes.append(
            Commune(
                name=name,
                code=f"{insee_prefix}{number:0{width}d}",
                postal_code=f"{departement.postal_prefix}{rng.randrange(10**postal_width):0{postal_width}d}",
            )
        )
    return communes


def _phone(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(str(rng.randrange(10)) for _ in range(10 - len(prefix)))


def _street(rng: random.Random) -> str:
    return f"{rng.randrange(1, 120)} {rng.choice(_STREETS)}"


@functools.lru_cache(maxsize=4)
def national_territory(schools: int, seed: int = SEED) -> Territory:
    """N écoles over the country, their circonscriptions and some collèges; the same for the same (N, seed)."""
    if schools < 1:
        raise ValueError("at least one school")
    rng = random.Random(seed)
    departements = _departements(rng)
    per_departement = _allocate(schools, [d[3] ** 0.85 for d in DEPARTEMENTS], minimum=1)
    offices: list[Office] = []
    all_schools: list[Establishment] = []
    colleges: list[Establishment] = []
    for departement, count in zip(departements, per_departement, strict=True):
        if count == 0:
            continue
        n_offices = max(1, round(count / SCHOOLS_PER_CIRCONSCRIPTION))
        n_colleges = count // SCHOOLS_PER_COLLEGE
        if count + n_offices + n_colleges > 10_000:
            raise ValueError(f"too many schools for département {departement.code} (7-digit UAIs)")
        numbers = rng.sample(range(10_000), count + n_offices + n_colleges)
        uais = [f"{departement.uai_prefix}{n:04d}" for n in numbers]
        uais = [digits + uai_key(digits) for digits in uais]
        communes = _communes(rng, departement, max(1, count // 3))
        dep_offices = []
        office_names: set[str] = set()
        for index, uai in enumerate(uais[count : count + n_offices]):
            commune = communes[index % len(communes)]
            name = f"Circonscription d'inspection du 1er degré de {commune.name}"
            if name in office_names:
                name = f"{name} {index + 1}"
            office_names.add(name)
            dep2 = departement.code[1:] if not departement.code.startswith("97") else departement.code
            office = Office(
                uai=uai,
                name=name,
                departement=departement,
                commune=commune,
                street=_street(rng),
                phone=_phone(rng, departement.phone_prefix),
                email=f"ce.ien{dep2.lower()}.{_slug(commune.name)}{index + 1}@{departement.domain}",
            )
            dep_offices.append(office)
        offices += dep_offices
        for index, uai in enumerate(uais[:count]):
            all_schools.append(_school(rng, uai, departement, communes, dep_offices[index % len(dep_offices)]))
        for uai in uais[count + n_offices :]:
            commune = rng.choice(communes)
            colleges.append(
                Establishment(
                    uai=uai,
                    name=f"Collège {rng.choice(_PATRONS)}",
                    kind="Collège",
                    sector="Public",
                    nature_code="340",
                    nature_label="COLLEGE",
                    departement=departement,
                    commune=commune,
                    street=_street(rng),
                    locality="",
                    phone=_phone(rng, departement.phone_prefix),
                    email=f"ce.{uai}@{departement.domain}",
                    office=None,
                    pupils=rng.randrange(250, 900),
                )
            )
    return Territory(seed, departements, tuple(offices), tuple(all_schools), tuple(colleges))


def _school(
    rng: random.Random, uai: str, departement: DepartementInfo, communes: Sequence[Commune], office: Office
) -> Establishment:
    private = rng.random() < 0.13
    draw = rng.random()
    if draw < 0.34:
        nature, label, kind_name = "101", "ECOLE MATERNELLE", "maternelle"
    elif draw < 0.36:
        nature, label, kind_name = "153", "ECOLE ELEMENTAIRE D APPLICATION", "élémentaire d'application"
    elif draw < 0.37:
        nature, label, kind_name = "162", "ECOLE DE NIVEAU ELEMENTAIRE SPECIALISEE", "élémentaire spécialisée"
    else:
        nature, label = "151", "ECOLE DE NIVEAU ELEMENTAIRE"
        kind_name = "primaire" if rng.random() < 0.45 else "élémentaire"
    patron = rng.choice(_PRIVATE_PATRONS if private else _PATRONS)
    sector_word = "privée" if private else "publique"
    commune = rng.choice(communes)
    mailbox = "ecole" if departement.academie_code == "14" else "ce"
    return Establishment(
        uai=uai,
        name=f"Ecole {kind_name} {sector_word} {patron}",
        kind="Ecole",
        sector="Privé" if private else "Public",
        nature_code=nature,
        nature_label=label,
        departement=departement,
        commune=commune,
        street=_street(rng),
        locality=f"Lieu-dit {rng.choice(_ROOTS)}{rng.choice(_SUFFIXES)}" if rng.random() < 0.04 else "",
        phone=_phone(rng, departement.phone_prefix),
        email="" if rng.random() < 0.01 else f"{mailbox}.{uai}@{departement.domain}",
        office=office,
        pupils=rng.randrange(25, 320),
    )


# ---------------------------------------------------------------------------------------------- annuaire


@dataclass(frozen=True)
class AnnuaireSummary:
    path: Path
    header_variant: int
    schools: int
    circonscriptions: int
    others: int  # rows the importer skips (collèges)
    departements: frozenset[str]
    academies: frozenset[str]


def _row(entry: Establishment | Office, seed: int) -> dict[str, str]:
    departement = entry.departement
    commune = entry.commune
    jitter = int(hashlib.blake2b(f"{seed}{entry.uai}".encode(), digest_size=4).hexdigest(), 16) / 2**32
    latitude = departement.latitude + (jitter - 0.5) * 0.8
    longitude = departement.longitude + (0.5 - jitter) * 1.1
    row = {
        "Identifiant_de_l_etablissement": entry.uai,
        "Nom_etablissement": entry.name,
        "Adresse_1": entry.street,
        "Adresse_3": f"{commune.postal_code} {_slug(commune.name).replace('-', ' ').upper()}",
        "Code postal": commune.postal_code,
        "Code_commune": commune.code,
        "Nom_commune": commune.name,
        "Code_departement": departement.code,
        "Code_academie": departement.academie_code,
        "Code_region": departement.region_code,
        "Telephone": entry.phone,
        "Mail": entry.email,
        "Libelle_departement": departement.name,
        "Libelle_academie": departement.academie_name,
        "Libelle_region": departement.region_name,
        "position": f"{latitude}, {longitude}",
        "Type_contrat_prive": "SANS OBJET",
        "coordonnee_X": f"{300000 + jitter * 700000:.1f}",
        "coordonnee_Y": f"{6200000 + jitter * 900000:.1f}",
        "epsg": "EPSG:2154",
        "latitude": str(latitude),
        "longitude": str(longitude),
        "precision_localisation": "Numéro de rue",
        "date_ouverture": "1965-10-01",
        "date_maj_ligne": MAJ_DATE,
        "etat": "OUVERT",
        "ministere_tutelle": "MINISTERE DE L'EDUCATION NATIONALE",
        "etablissement_multi_lignes": "0",
        "Code_type_contrat_prive": "99",
    }
    if isinstance(entry, Office):
        row.update(
            {
                "Type_etablissement": "Service Administratif",
                "code_nature": "809",
                "libelle_nature": "CIRCONSCRIPTIONS INSPECTION EDUC NAT",
            }
        )
        return row
    row.update(
        {
            "Type_etablissement": entry.kind,
            "Statut_public_prive": entry.sector,
            "Adresse_2": entry.locality,
            "Ecole_maternelle": "1" if entry.nature_code == "101" or "primaire" in entry.name else "0",
            "Ecole_elementaire": "0" if entry.nature_code == "101" else "1",
            "Restauration": "1",
            "Hebergement": "0",
            "ULIS": "1" if entry.pupils > 250 else "0",
            "SIREN_SIRET": f"2{entry.uai[:7]}{entry.pupils:06d}",
            "Nombre_d_eleves": str(entry.pupils),
            "rpi_concentre": "0",
            "code_nature": entry.nature_code,
            "libelle_nature": entry.nature_label,
        }
    )
    if entry.sector == "Privé":
        row["Type_contrat_prive"] = "CONTRAT D'ASSOCIATION TOUTES CLASSES"
        row["Code_type_contrat_prive"] = "30"
    if entry.office is not None:
        row["nom_circonscription"] = entry.office.name
        row["code_circonscription"] = entry.office.uai
    return row


def annuaire_rows(territory: Territory) -> Iterator[Establishment | Office]:
    """Every row of the extract in the order of a real one: by département, offices, schools and collèges mixed
    (sorted by UAI)."""
    by_departement: dict[str, list[Establishment | Office]] = {}
    entries: list[Establishment | Office] = [*territory.offices, *territory.schools, *territory.colleges]
    for entry in entries:
        by_departement.setdefault(entry.departement.code, []).append(entry)
    for departement in territory.departements:
        yield from sorted(by_departement.get(departement.code, []), key=lambda e: e.uai)


def write_annuaire(path: Path, schools: int, header_variant: int, *, seed: int = SEED) -> AnnuaireSummary:
    """Write an annuaire extract of `schools` écoles: `;`-separated, UTF-8 with BOM, CRLF, like the real files.

    header_variant 0: the 2023 layout (``Code postal``; schools name their circonscription only);
    header_variant 1: the 2026 layout (``Code_postal``; schools also give ``code_circonscription``).
    """
    if header_variant not in (0, 1):
        raise ValueError("header_variant is 0 (2023 layout) or 1 (2026 layout)")
    territory = national_territory(schools, seed)
    header = HEADERS[header_variant]
    canonical = {(_RENAMED_2026.get(k, k) if header_variant else k): k for k in HEADER_2023}
    canonical["code_circonscription"] = "code_circonscription"
    keys = [canonical.get(column, "") for column in header]
    if header_variant == 0:
        keys = [k if k != "code_circonscription" else "" for k in keys]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(header)
        for entry in annuaire_rows(territory):
            row = _row(entry, seed)
            writer.writerow([row.get(key, "") if key else "" for key in keys])
    return AnnuaireSummary(
        path=path,
        header_variant=header_variant,
        schools=len(territory.schools),
        circonscriptions=len(territory.offices),
        others=len(territory.colleges),
        departements=frozenset(d.code for d in territory.departements if d.code in territory.schools_by_departement()),
        academies=frozenset(s.departement.academie_code for s in territory.schools),
    )


# ---------------------------------------------------------------------------------------------- database

# Where schools stand (shares of N, exact by largest remainder); "definition" holds the move candidates.
STATE_SHARES: dict[str, float] = {
    "definition": 0.20,
    "funding": 0.14,
    "school_council": 0.10,
    "school_council.awaiting_approval": 0.04,
    "transmission": 0.06,
    "transmission.submitted": 0.10,  # 5,000 transmitted schools for 50,000: the account table's export
    "setup": 0.08,
    "gdpr_information": 0.06,
    "teacher_training": 0.06,
    "parent_training": 0.04,
    "deployed": 0.08,
    "suspended": 0.03,
    "abandoned": 0.01,
}
MOVE_READY_SHARE = 0.6  # of the schools at "definition": checklist complete, "advance" will pass its guards
# The lawful walk: each stop (a state of the national roadmap) and the event that leaves it.
PATH: tuple[tuple[str, str], ...] = (
    ("definition", "advance"),
    ("funding", "advance"),
    ("school_council", "advance"),
    ("school_council.awaiting_approval", "approve"),
    ("transmission", "advance"),
    ("transmission.submitted", "advance"),  # "approve" by the DANE for the first school of a département
    ("setup", "advance"),
    ("gdpr_information", "advance"),
    ("teacher_training", "advance"),
    ("parent_training", "advance"),  # or "skip", with a note
)
_TEXTS = {
    "features": ("messagerie, blog de classe, cahier de liaison", "cahier de textes, messagerie, espace documentaire",
                 "blog, messagerie, agenda partagé, cahier multimédia"),
    "extra_clauses": ("Hébergement des données en France", "Formation de deux enseignants référents incluse"),
    "ent_address": ("https://ent.exemple.fr/", "https://oneconnect.opendigitaleducation.com/"),
    "school_year": ("2026-2027",),
}  # fmt: skip
_NOTES = {
    "suspend": ("Changement de direction à la rentrée", "Attente du vote du budget municipal", "Travaux dans l'école"),
    "abandon": ("Fusion avec l'école voisine", "La commune a retenu une autre solution"),
    "request_changes": ("Le compte rendu ne mentionne pas l'information des familles (RGPD, art. 14).",),
    "skip": ("Réunion des parents reportée à la rentrée ; information faite par le cahier de liaison.",),
}


@dataclass
class NationalDatabase:
    """What :func:`build_database` built, and what the benchmarks need to act on it."""

    url: str
    schools: int
    circonscriptions: int
    departements: int
    history_rows: int
    checklist_values: int
    people: int
    seconds: float
    admin_email: str
    cpd_by_departement: dict[str, str]
    move_ready: list[str]  # at "definition", checklist complete: "advance" passes its guards
    check_ready: list[str]  # at "definition", checklist incomplete
    states: dict[str, int]
    largest_departement: str
    busiest_uai: str  # a school with a long history (for `school show`)


Planned = tuple[str, str, str, str, str | None, dict[str, Any] | None]  # event, source, target, actor, note, data


@dataclass
class _Walk:
    """One school's lawful past: its history rows, its checklist values, and where it stands."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    values: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    state: str = ""
    held_from: str | None = None
    entered_at: datetime | None = None


class _Walker:
    """Writes the history of a school that walked the roadmap lawfully up to a given state."""

    def __init__(self, rng: random.Random, now: datetime, cpd: Mapping[str, str], dane: Mapping[str, str]) -> None:
        self.rng = rng
        self.now = now
        self.start = now - timedelta(days=600)  # the national import
        self.cpd = cpd
        self.dane = dane
        self.dane_validated: set[str] = set()  # départements whose first table the DANE validated

    def walk(
        self, definition: Definition, school: Establishment, director: str, target: str, hold_at: str, complete: bool
    ) -> _Walk:
        """`target`: a state of STATE_SHARES; `hold_at`: where a suspended or abandoned school stopped; `complete`:
        for a school stopping on a step, whether that step's checklist is complete."""
        rng = self.rng
        departement = school.departement.code
        cpd = self.cpd[departement]
        ien = school.office.email if school.office else cpd
        roles = {director: "director", ien: "ien", cpd: "cpd", self.dane[school.departement.academie_code]: "dane"}
        stop_at = hold_at if target in ("suspended", "abandoned") else target
        plan: list[Planned] = []
        for position, (stop, event) in enumerate(PATH):
            step = definition.step_of(stop)
            assert step is not None, stop
            if stop == step.id:
                plan += self._checks(step, director if "director" in step.roles else cpd, stop != stop_at or complete)
            if stop == stop_at:
                break
            following = PATH[position + 1][0] if position + 1 < len(PATH) else "deployed"
            actor, note = director, None
            if stop == "school_council.awaiting_approval":
                actor = ien
                if rng.random() < 0.08:  # the IEN asked for corrections once: new minutes, submitted again
                    plan.append(("request_changes", stop, step.id, ien, rng.choice(_NOTES["request_changes"]), None))
                    plan += self._checks(step, director, True, only="minutes")
                    plan.append(("advance", step.id, stop, director, None, None))
            elif stop == "transmission.submitted":
                if departement in self.dane_validated:
                    actor = cpd
                else:  # the first table of a département goes through the DANE
                    event, actor = "approve", self.dane[school.departement.academie_code]
                    self.dane_validated.add(departement)
            elif stop == "parent_training" and rng.random() < 0.3:
                event, note = "skip", rng.choice(_NOTES["skip"])
                plan = [p for p in plan if not (p[0] == "check" and p[1] == stop)]
            plan.append((event, stop, following, actor, note, None))
        if target in ("suspended", "abandoned"):
            event = "suspend" if target == "suspended" else "abandon"
            plan.append((event, stop_at, target, cpd, rng.choice(_NOTES[event]), None))
        # The start at the import, then every row later, in order, up to yesterday.
        span = (self.now - timedelta(days=1) - self.start).total_seconds()
        moments = sorted(rng.uniform(3600, span) for _ in plan)
        walk = _Walk()
        walk.rows.append(
            _history(
                "start", None, definition.initial, ADMIN_EMAIL, "admin", self.start, note=f"import de {ANNUAIRE_NAME}"
            )
        )
        walk.state, walk.entered_at = definition.initial, self.start
        for (event, source, dest, actor, note, data), offset in zip(plan, moments, strict=True):
            at = self.start + timedelta(seconds=offset)
            if data is not None:
                data = self._value(data, at, school.uai, actor, walk)
            walk.rows.append(_history(event, source, dest, actor, roles[actor], at, note=note, data=data))
            if event != "check":
                walk.state, walk.entered_at = dest, at
        walk.held_from = stop_at if target == "suspended" else None
        return walk

    def _checks(self, step: StepSpec, actor: str, full: bool, only: str = "") -> list[Planned]:
        """Checks of a step's items: all required ones (and some optional) when `full`, else some but not all."""
        rng = self.rng
        items = [item for item in step.checklist if not only or item.id == only]
        chosen = [item for item in items if item.required]
        if not full:
            chosen = chosen[: rng.randrange(len(chosen))] if chosen else []
        # Optional items now and then; never the late council's stand-in (a deferral is a story of its own).
        chosen += [
            item
            for item in items
            if not item.required
            and not item.deferrable_with
            and not any(other.deferrable_with == item.id for other in step.checklist)
            and rng.random() < 0.3
        ]
        return [
            (
                "check",
                step.id,
                step.id,
                actor,
                None,
                {"step": step.id, "item": item.id, "type": item.type, "choices": item.choices},
            )
            for item in chosen
        ]

    def _value(self, spec: dict[str, Any], at: datetime, uai: str, actor: str, walk: _Walk) -> dict[str, Any]:
        """The value a check stores (dates: the day it was entered, so they follow the path's order)."""
        rng = self.rng
        kind, step, item = spec["type"], spec["step"], spec["item"]
        value: Any
        if kind == "bool":
            value = True
        elif kind == "date":
            value = at.date().isoformat()
        elif kind == "choice":
            choices = spec["choices"]
            value = choices[min(int(rng.paretovariate(1.2)) - 1, len(choices) - 1)]
        elif kind == "text":
            value = rng.choice(_TEXTS.get(item, ("Renseigné par l'école",)))
        else:
            digest = hashlib.sha256(f"{uai}/{step}/{item}/{at.isoformat()}".encode()).hexdigest()
            value = {
                "name": f"{item}-{uai}.pdf",
                "sha256": digest,
                "size": rng.randrange(40_000, 900_000),
                "media_type": "application/pdf",
            }
            walk.files.append({**value, "stored_at": at})
        previous = walk.values.get((step, item))
        walk.values[(step, item)] = {
            "step": step,
            "item": item,
            "value": value,
            "updated_by": actor,
            "updated_at": at,
            "revision": previous["revision"] + 1 if previous else 1,
        }
        return {"step": step, "item": item, "value": value}


def _history(
    event: str,
    source: str | None,
    target: str,
    actor: str,
    role: str,
    at: datetime,
    *,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "role": role,
        "event": event,
        "source": source,
        "target": target,
        "note": note,
        "data": data,
    }


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _insert(connection: Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk insert: Core executemany; on PostgreSQL, COPY (several times faster for a million rows)."""
    if not rows:
        return
    table = _table(model)
    if connection.dialect.name != "postgresql":
        for start in range(0, len(rows), 20_000):
            connection.execute(table.insert(), rows[start : start + 20_000])
        return
    columns = list(rows[0])
    as_json = {name for name in columns if isinstance(table.c[name].type, JSON)}
    raw: Any = connection.connection.dbapi_connection  # psycopg 3, in the transaction of `connection`
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in as_json else row[c] for c in columns])


def bench_settings(url: str, home: Path) -> Settings:
    """The product's settings for a benchmark database (repository definitions and territory)."""
    return Settings(
        home=home,
        database_url=url,
        definitions_dir=REPO_DATA / "roadmaps",
        territory_file=REPO_DATA / "territory" / "academies.toml",
    )


def build_database(
    url: str, schools: int, *, seed: int = SEED, now: datetime | None = None, home: Path | None = None
) -> NationalDatabase:
    """Create (migrate, install the definitions) and fill a database with `schools` schools at realistic steps.

    The territory, the annuaire's people (school and IEN mailboxes, named directors) and the histories are written
    with bulk Core inserts in one transaction; the administrator, a CPD per département and a DANE per académie are
    registered through the product. `now` anchors the dates (default: now, so the guards on dates hold today).
    """
    began = time.perf_counter()
    now = now or datetime.now(UTC)
    territory = national_territory(schools, seed)
    rng = random.Random(seed + 1)
    roadmap = Roadmap(bench_settings(url, home or Path(tempfile.gettempdir()) / "roadmap-bench-home"))
    try:
        roadmap.init()
        roadmap.bootstrap_admin(ADMIN_EMAIL, "Administration nationale (banc d'essai)")
        zones = academies(roadmap.settings.territory_file)
        with roadmap.db.begin() as connection:
            _insert(
                connection,
                Academie,
                [
                    {"code": code, "name": zones[code].name, "holiday_zone": zones[code].zone}
                    for code in sorted(territory.academie_codes)
                ],
            )
            _insert(
                connection,
                Departement,
                [{"code": d.code, "name": d.name, "academie_code": d.academie_code} for d in territory.departements],
            )
            _insert(
                connection,
                Circonscription,
                [
                    {
                        "uai": o.uai,
                        "name": o.name,
                        "departement_code": o.departement.code,
                        "email": o.email,
                        "phone": o.phone,
                    }
                    for o in territory.offices
                ],
            )
        cpd = {d.code: f"cpd.numerique{d.code.lower()}@{d.domain}" for d in territory.departements}
        dane = {d.academie_code: f"dane.premier-degre@{d.domain}" for d in territory.departements}
        for code, email in cpd.items():
            roadmap.add_person(
                email, "cpd", code, f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}", by=ADMIN_EMAIL
            )
        for code, email in sorted(dane.items()):
            roadmap.add_person(email, "dane", code, f"DANE de l'académie {zones[code].name}", by=ADMIN_EMAIL)
        built = _fill(roadmap, territory, _Walker(rng, now, cpd, dane))
    finally:
        roadmap.db.dispose()
    built.seconds = time.perf_counter() - began
    return built


def _state_plan(rng: random.Random, count: int) -> list[str]:
    quotas = _allocate(count, list(STATE_SHARES.values()), minimum=0)
    states = [state for state, quota in zip(STATE_SHARES, quotas, strict=True) for _ in range(quota)]
    rng.shuffle(states)
    return states


def _fill(roadmap: Roadmap, territory: Territory, walker: _Walker) -> NationalDatabase:
    rng = walker.rng
    plan = _state_plan(rng, len(territory.schools))
    definitions = {code: roadmap.definition_for_academie(code) for code in territory.academie_codes}
    holds = [stop for stop, _ in PATH if "." not in stop][:6]  # where suspended and abandoned schools stopped
    built = NationalDatabase(
        url=roadmap.settings.database_url,
        schools=0,
        circonscriptions=len(territory.offices),
        departements=len(territory.schools_by_departement()),
        history_rows=0,
        checklist_values=0,
        people=len(walker.cpd) + len(walker.dane) + 1,
        seconds=0.0,
        admin_email=ADMIN_EMAIL,
        cpd_by_departement=dict(walker.cpd),
        move_ready=[],
        check_ready=[],
        states={},
        largest_departement=max(territory.schools_by_departement().items(), key=lambda item: item[1])[0],
        busiest_uai="",
    )
    longest = 0
    batch: dict[str, list[dict[str, Any]]] = {
        "person": [
            {
                "email": o.email,
                "name": f"IEN — circonscription {short_circonscription_name(o.name)}",
                "role": "ien",
                "scope": o.uai,
                "source": "annuaire",
                "created_at": walker.start,
            }
            for o in territory.offices
        ]
    }
    with roadmap.db.begin() as connection:
        instance_id = connection.execute(select(func.coalesce(func.max(_table(WorkflowInstance).c.id), 0)))
        next_id = int(instance_id.scalar_one()) + 1
        for index, (school, target) in enumerate(zip(territory.schools, plan, strict=True)):
            definition = definitions[school.departement.academie_code]
            complete = target == "definition" and rng.random() < MOVE_READY_SHARE
            hold_at = rng.choice(holds)
            people = batch.setdefault("person", [])
            mailbox = school.email.lower()
            if mailbox:  # the school's functional mailbox, as an import registers it
                people.append(
                    {
                        "email": mailbox,
                        "name": f"Direction — {school.name}",
                        "role": "director",
                        "scope": school.uai,
                        "source": "annuaire",
                        "created_at": walker.start,
                    }
                )
            # A named director: needed to transmit the account table ("Responsable"), and then some.
            stands = PATH_INDEX.get(hold_at if target in ("suspended", "abandoned") else target, len(PATH))
            named = ""
            if not mailbox or stands >= PATH_INDEX["transmission"] or rng.random() < 0.3:
                first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
                named = f"{_slug(first)}.{_slug(last)}.{index}@{school.departement.domain}"
                people.append(
                    {
                        "email": named,
                        "name": f"{first} {last}",
                        "role": "director",
                        "scope": school.uai,
                        "source": "manual",
                        "created_at": walker.start,
                    }
                )
            walk = walker.walk(definition, school, mailbox or named, target, hold_at, complete)
            if walk.state == "definition":
                (built.move_ready if complete else built.check_ready).append(school.uai)
            built.states[walk.state] = built.states.get(walk.state, 0) + 1
            if walk.state == "setup" and len(walk.rows) > longest:
                built.busiest_uai, longest = school.uai, len(walk.rows)
            batch.setdefault("school", []).append(
                {
                    "uai": school.uai,
                    "name": school.name,
                    "sector": school.sector,
                    "nature_code": school.nature_code,
                    "street": school.street,
                    "locality": school.locality,
                    "postal_code": school.commune.postal_code,
                    "commune": school.commune.name,
                    "phone": school.phone,
                    "email": school.email,
                    "departement_code": school.departement.code,
                    "circonscription_uai": school.office.uai if school.office else None,
                    "updated_at": walker.start,
                }
            )
            batch.setdefault("instance", []).append(
                {
                    "id": next_id,
                    "definition_id": definition.id,
                    "definition_version": definition.version,
                    "subject": school.uai,
                    "state": walk.state,
                    "held_from": walk.held_from,
                    "version": len(walk.rows),
                    "created_at": walker.start,
                    "updated_at": walk.rows[-1]["at"],
                    "entered_at": walk.entered_at,
                }
            )
            batch.setdefault("history", []).extend({**row, "instance_id": next_id} for row in walk.rows)
            batch.setdefault("values", []).extend({**v, "instance_id": next_id} for v in walk.values.values())
            batch.setdefault("files", []).extend(walk.files)
            next_id += 1
            built.schools += 1
            if len(batch["history"]) >= 50_000:
                _flush(connection, batch, built)
        _flush(connection, batch, built)
        if connection.dialect.name == "postgresql":  # ids were given explicitly: move the sequence past them
            connection.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('workflow_instance', 'id'), "
                    "(SELECT MAX(id) FROM workflow_instance))"
                )
            )
    if roadmap.db.dialect.name == "postgresql":  # autovacuum would soon do it; the benchmarks should not wait
        with roadmap.db.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return built


PATH_INDEX = {stop: index for index, (stop, _) in enumerate(PATH)}


def _flush(connection: Connection, batch: dict[str, list[dict[str, Any]]], built: NationalDatabase) -> None:
    for model, key in (
        (School, "school"),
        (Person, "person"),
        (WorkflowInstance, "instance"),
        (ChecklistValue, "values"),
        (HistoryEntry, "history"),
        (StoredFile, "files"),
    ):
        _insert(connection, model, batch.get(key, []))
    built.history_rows += len(batch.get("history", []))
    built.checklist_values += len(batch.get("values", []))
    built.people += len(batch.get("person", []))
    batch.clear()
