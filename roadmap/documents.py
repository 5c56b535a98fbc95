"""The documents a school hands out to families, pre-filled from what the product holds: the information letter,
the usage charter, the authorisation to publish photos and pupils' work, the acknowledgement signed by both legal
guardians, and the text read at the conseil d'école. Jinja2 → HTML → PDF (WeasyPrint), never fetching anything."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session

from roadmap.account_table import director_name
from roadmap.ents import EntInfo, ent_catalogue
from roadmap.errors import NotFound, RoadmapError
from roadmap.family_facts import GUARD, FactItems, address_problem, school_year
from roadmap.models import Circonscription, School
from workflows.definition import Definition, ItemRef

if TYPE_CHECKING:
    from roadmap.service import Roadmap
    from workflows import Actor
    from workflows.engine import WorkflowEngine
    from workflows.models import WorkflowInstance

TEMPLATES = Path(__file__).resolve().parent / "templates" / "documents"
BLANK = "……………………………………"  # a fact missing from a draft: filled in by hand
DOTS = "." * 110  # a line the family fills in by hand (a name, a date, a place)


@dataclass(frozen=True, slots=True)
class DocumentKind:
    name: str  # in file names and URLs: French, no spaces
    title: str
    template: str

    @property
    def file_name(self) -> str:
        return f"{self.name}.pdf"

    def download_name(self, uai: str) -> str:
        """The file's name on disk: the school's UAI first, so that several schools' packs can share a folder."""
        return f"{uai}-{self.name}.pdf"


DOCUMENTS: tuple[DocumentKind, ...] = (
    DocumentKind("lettre-information-familles", "Lettre d'information aux familles", "letter.html"),
    DocumentKind("charte-utilisation-ent", "Charte d'utilisation de l'ENT", "charter.html"),
    DocumentKind("autorisation-publication", "Autorisation de publier photos et travaux d'élèves",
                 "authorisation.html"),
    DocumentKind("accuse-reception-responsables", "Accusé de réception des responsables légaux",
                 "acknowledgement.html"),
    DocumentKind("texte-conseil-ecole", "Texte pour le conseil d'école et son compte rendu", "council.html"),
)
BY_NAME = {kind.name: kind for kind in DOCUMENTS}


@dataclass(frozen=True, slots=True)
class MissingFact:
    fact: str  # what the documents need, in French
    where: str  # where the director fills it (the checklist item, the directory...)


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the documents say about one school; an empty text is a fact the product does not hold."""

    uai: str
    school_name: str
    street: str
    postal_code: str
    commune: str
    director: str
    circonscription: str
    ent_name: str
    publisher: str
    hosted_in_france: bool  # the publisher commits to it (ENT catalogue)
    deletion_90_days: bool
    web_address: str
    year: str
    missing: tuple[MissingFact, ...]


TEXT_FACTS = ("school_name", "street", "postal_code", "commune", "director", "circonscription", "ent_name",
              "publisher", "web_address", "year")


@dataclass(frozen=True, slots=True)
class FamilyDocument:
    kind: DocumentKind
    pdf: bytes


class MissingFacts(RoadmapError):
    """The documents would have holes: every missing fact and where to fill it."""

    def __init__(self, uai: str, missing: Sequence[MissingFact]) -> None:
        self.missing = tuple(missing)
        lines = "\n".join(f"  - {m.fact} : {m.where}" for m in missing)
        super().__init__(
            f"Documents pour les familles de l'école {uai} : il manque {len(missing)} information(s).\n{lines}\n"
            "  → renseignez-les, ou produisez un brouillon (une ligne à compléter à la main à la place de chacune).",
            remedy="draft_documents",
        )


FACTS_BLOCK = "Informations pour les documents des familles"  # the school page's block of the living facts
# Where a fact's item stands for the school now: on its current step, a living fact of a step left (editable at
# any time), a step not reached yet (or waiting), or closed (a step left for good, a roadmap ended).
Reach = Literal["current", "living", "later", "closed"]


def item_reach(engine: WorkflowEngine, instance: WorkflowInstance, values: Mapping[tuple[str, str], Any],
               ref: ItemRef) -> Reach:
    definition = engine.definition(instance.definition_id)
    found = engine.editable_item(instance, values, ref[1])
    if found is not None and found[0].id == ref[0]:
        return "living" if ref[0] in definition.steps_left(instance.state, instance.held_from) else "current"
    if ref[0] in definition.steps_left(instance.state, instance.held_from) or definition.states[instance.state].final:
        return "closed"
    return "later"


def _where_item(definition: Definition, ref: ItemRef, uai: str, reach: Reach) -> str:
    step = definition.step(ref[0])
    item = definition.item_spec(ref)
    step_label = step.label if step else ref[0]
    where = f"étape « {step_label} », élément « {item.label} » ({ref[0]}.{ref[1]})"
    command = f"« roadmap school check {uai} {ref[1]} VALEUR --by VOTRE_ADRESSE »"
    return where + {
        "current": f" : à renseigner dès maintenant dans la liste de l'étape (page de l'école) ou avec {command}",
        "living": f" : modifiable à tout moment, page de l'école (« {FACTS_BLOCK} ») ou avec {command}",
        "later": " : à renseigner quand l'école sera sur cette étape (et non en attente)",
        "closed": " : plus modifiable dans l'état actuel du parcours",
    }[reach]


def collect_facts(session: Session, definition: Definition, school: School, values: Mapping[tuple[str, str], Any],
                  catalogue: dict[str, EntInfo], reach: Callable[[ItemRef], Reach] | None = None) -> DocumentFacts:
    """The documents' facts for one school; `reach` says where each item stands (by default: still to come)."""
    missing: list[MissingFact] = []
    if GUARD in definition.guard_params:
        items = FactItems.of(definition)
        ent = str(values.get(items.ent) or "")
        raw_address, raw_year = str(values.get(items.address) or ""), str(values.get(items.year) or "")
        where = {fact: _where_item(definition, ref, school.uai, reach(ref) if reach else "later") for fact, ref in
                 (("product", items.ent), ("address", items.address), ("year", items.year))}
    else:  # a definition that does not say where the facts are: each is missing, and the definition says why
        ent = raw_address = raw_year = ""
        where = dict.fromkeys(("product", "address", "year"),
                              f"la définition « {definition.id} » n'a pas de table [guards.{GUARD}]")
    info = catalogue.get(ent)
    if not ent:
        missing.append(MissingFact("l'ENT choisi", where["product"]))
    elif info is None:
        missing.append(MissingFact(f"l'éditeur de l'ENT « {ent} »",
                                   "catalogue des ENT (data/territory/ents.toml), à compléter par l'administration"))
    address = raw_address or (info.address if info else "")
    if not address or address_problem(address):
        missing.append(MissingFact("l'adresse web de l'ENT", where["address"]))
        address = ""
    year = school_year(raw_year) or ""
    if not year:
        missing.append(MissingFact("l'année scolaire (ex. 2026-2027)", where["year"]))
    director = director_name(session, school.uai)
    if not director:
        missing.append(MissingFact("le nom du directeur ou de la directrice",
                                   "personnes de l'outil : un administrateur ou le CPD enregistre la direction de "
                                   f"l'école (rôle directeur, périmètre {school.uai})"))
    if not school.street or not school.commune:
        missing.append(MissingFact("l'adresse de l'école", "annuaire de l'éducation : réimportez un extrait à jour"))
    circonscription = session.get(Circonscription, school.circonscription_uai) if school.circonscription_uai else None
    if circonscription is None:
        missing.append(MissingFact("la circonscription", "annuaire de l'éducation : l'école n'y est rattachée à "
                                   "aucune circonscription"))
    return DocumentFacts(
        uai=school.uai,
        school_name=school.name,
        street=school.street,
        postal_code=school.postal_code,
        commune=school.commune,
        director=director,
        circonscription=circonscription.name if circonscription else "",
        ent_name=ent,
        publisher=info.publisher if info else "",
        hosted_in_france=bool(info and info.hosted_in_france),
        deletion_90_days=bool(info and info.deletion_90_days),
        web_address=address,
        year=year,
        missing=tuple(missing),
    )


def document_facts(roadmap: Roadmap, uai: str, viewer: Actor) -> DocumentFacts:
    """The facts for one school the viewer may see (out of scope: not found, like an unknown school)."""
    uai = roadmap.visible_school(uai, viewer)
    catalogue = ent_catalogue(roadmap.settings.ents_file)
    with roadmap.session() as session:
        school = session.get(School, uai)
        if school is None:  # pragma: no cover - visible_school said it exists
            raise NotFound("École", uai)
        instance = roadmap.instance(session, uai)
        definition = roadmap.engine.definition(instance.definition_id)
        values = roadmap.engine.values(session, instance)
        return collect_facts(session, definition, school, values, catalogue,
                             lambda ref: item_reach(roadmap.engine, instance, values, ref))


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(kind: DocumentKind, facts: DocumentFacts) -> str:
    """The document as HTML; each missing fact is a blank line to fill by hand."""
    blanks: dict[str, Any] = {key: getattr(facts, key) or BLANK for key in TEXT_FACTS}
    shown = replace(facts, **blanks)
    return _environment().get_template(kind.template).render(f=shown, kind=kind, dots=DOTS)


def _refusing_fetcher() -> Any:
    """A WeasyPrint URL fetcher that fetches nothing (no network, no local file): the documents are self-contained."""
    from weasyprint.urls import URLFetcher, URLFetchingError

    class Refusing(URLFetcher):  # type: ignore[misc]
        refused: list[str]

        def fetch(self, url: str, headers: Any = None) -> Any:
            self.refused.append(url)
            raise URLFetchingError(f"ressource externe refusée : {url}")

    fetcher = Refusing()
    fetcher.refused = []
    return fetcher


def render_pdf(html: str) -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=html, base_url=str(TEMPLATES), url_fetcher=_refusing_fetcher()).write_pdf()
    return pdf


def family_documents(facts: DocumentFacts, *, draft: bool = False,
                     only: Sequence[str] | None = None) -> list[FamilyDocument]:
    """The PDFs (all five, or those named in `only`); refused while facts are missing, unless `draft`."""
    if facts.missing and not draft:
        raise MissingFacts(facts.uai, facts.missing)
    kinds = DOCUMENTS if only is None else [document_kind(name) for name in only]
    return [FamilyDocument(kind, render_pdf(render_html(kind, facts))) for kind in kinds]


def document_kind(name: str) -> DocumentKind:
    kind = BY_NAME.get(name.removesuffix(".pdf"))
    if kind is None:
        raise NotFound("Document", name, hint="documents : " + ", ".join(BY_NAME))
    return kind
