"""Documents for families: the ENT catalogue, the facts read from a school, the five PDFs (their text read back
with pypdf), the missing-fact refusal and drafts, the scope, and `roadmap documents`."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from pypdf import PdfReader

from roadmap.documents import (
    BLANK,
    DOCUMENTS,
    DocumentFacts,
    MissingFacts,
    _refusing_fetcher,
    collect_facts,
    family_documents,
    render_pdf,
)
from roadmap.ents import ent_catalogue
from roadmap.errors import InputFileError, InvalidValue, NotFound
from roadmap.family_facts import GUARD
from roadmap.models import School
from roadmap.service import Roadmap, load_roadmaps
from roadmap.settings import REPO_DATA, Settings
from roadmap.views import school_detail
from tests.factories import make_roadmap
from tests.roadmap.test_cli import OTHER_DIRECTOR, ok, run_cli, small_db  # noqa: F401  (small_db is a fixture)
from tests.roadmap.walk import (
    DIRECTOR,
    SCHOOL,
    SETUP_ITEMS,
    TRANSMISSION_ITEMS,
    fill,
    send_in_table,
    through_account_creation,
    walk_to_transmission,
)
from workflows import Actor
from workflows.errors import TransitionRefused

ONE = "One 1D (Open Digital Education)"
CATALOGUE = REPO_DATA / "territory" / "ents.toml"
FACTS = DocumentFacts(
    uai="0350122T", school_name="École primaire publique les Lucioles", street="2 rue des Écoles",
    postal_code="35580", commune="Baulon", director="Claire Martin", circonscription="Bruz", ent_name=ONE,
    publisher="Open Digital Education", hosted_in_france=True, deletion_90_days=True,
    web_address="https://oneconnect.opendigitaleducation.com/", year="2026-2027", missing=(),
)


def text_of(pdf: bytes) -> str:
    """The PDF's text as one line per line, whitespace runs folded (line breaks fall anywhere)."""
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def rendered(facts: DocumentFacts, *names: str, draft: bool = False) -> dict[str, str]:
    return {d.kind.name: text_of(d.pdf) for d in family_documents(facts, draft=draft, only=list(names) or None)}


# ------------------------------------------------------------------------------------------- catalogue


def test_the_catalogue_describes_every_compliant_ent_and_only_what_the_sources_say() -> None:
    definitions = load_roadmaps(REPO_DATA / "roadmaps")
    for definition in definitions.values():
        choices = definition.item_spec(("definition", "ent")).choices
        assert sorted(ent_catalogue(CATALOGUE)) == sorted(choices)
    catalogue = ent_catalogue(CATALOGUE)
    assert catalogue[ONE].publisher == "Open Digital Education"
    assert catalogue[ONE].hosted_in_france and catalogue[ONE].deletion_90_days  # seed 000
    assert catalogue[ONE].address.startswith("https://")
    others = [info for name, info in catalogue.items() if name != ONE]
    assert others and not any(info.hosted_in_france or info.deletion_90_days for info in others)


@pytest.mark.parametrize(("entry", "expected"), [
    ('name = "X"\npublisher = "Y"\nhosted_in_france = "oui"\ndeletion_90_days = false\n', "true ou false"),
    ('name = "X"\npublisher = "Y"\nhosted_in_france = true\ndeletion_90_days = false\nediteur = "Z"\n',
     "clé inconnue « editeur »"),
    ('name = "X"\npublisher = ""\nhosted_in_france = true\ndeletion_90_days = false\n', "« publisher »"),
    ('name = "X"\npublisher = "Y"\nhosted_in_france = true\ndeletion_90_days = true\naddress = "ent.fr"\n',
     "n'est pas une adresse web"),
])
def test_a_faulty_catalogue_entry_is_refused_with_its_line(tmp_path: Path, entry: str, expected: str) -> None:
    good = 'name = "A"\npublisher = "B"\nhosted_in_france = false\ndeletion_90_days = false\n'
    path = tmp_path / "ents.toml"
    path.write_text(f"# catalogue\n\n[[ents]]\n{good}\n[[ents]]\n{entry}", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        ent_catalogue(path)
    assert expected in caught.value.message
    assert caught.value.line == 9  # the second [[ents]]


# ------------------------------------------------------------------------------------------- the PDFs


def test_the_five_documents_carry_the_school_the_ent_its_publisher_and_the_rights() -> None:
    texts = rendered(FACTS)
    assert list(texts) == [kind.name for kind in DOCUMENTS]
    for name, text in texts.items():
        assert "École primaire publique les Lucioles" in text and "0350122T" in text, name
        assert "2026-2027" in text, name
        assert BLANK not in text, name
    letter = texts["lettre-information-familles"]
    assert ONE in letter and "Open Digital Education" in letter
    assert "https://oneconnect.opendigitaleducation.com/" in letter
    assert "ONDE" in letter and "date de naissance" in letter
    assert "ne demande pas votre consentement" in letter and "mission de service public" in letter
    assert "faire corriger" in letter and "demander leur effacement" in letter  # rectification, erasure
    assert "héberger ces données en France" in letter
    assert "90 jours après la fermeture d'un compte" in letter
    assert "Claire Martin" in letter and "Bruz" in letter
    charter = texts["charte-utilisation-ent"]
    assert "droit à la déconnexion" in charter.casefold() and "Signature d'un responsable légal" in charter
    authorisation = texts["autorisation-publication"]
    assert "blog public" in authorisation and "réservés à ses membres" in authorisation
    assert "accord de l'élève" in authorisation and "L'année scolaire 2026-2027 seulement" in authorisation
    assert "Signature du responsable légal" in authorisation and "....." in authorisation
    acknowledgement = texts["accuse-reception-responsables"]
    assert "Responsable légal 1" in acknowledgement and "Responsable légal 2" in acknowledgement
    assert acknowledgement.count("Lu et approuvé") == 2 and acknowledgement.count("Nom : .....") == 2
    council = texts["texte-conseil-ecole"]
    assert "article 14" in council and "article 6" in council and "compte rendu" in council


def test_hosting_and_the_90_day_deletion_are_said_only_when_the_publisher_commits_to_them() -> None:
    beneylu = replace(FACTS, ent_name="Beneylu School", publisher="Beneylu", hosted_in_france=False,
                      deletion_90_days=False)
    texts = rendered(beneylu, "lettre-information-familles", "texte-conseil-ecole")
    for text in texts.values():
        assert "90 jours" not in text and "en France" not in text
        assert "Beneylu School" in text
    only_hosting = replace(beneylu, hosted_in_france=True)
    letter = rendered(only_hosting, "lettre-information-familles")["lettre-information-familles"]
    assert "héberger ces données en France" in letter and "90 jours" not in letter


def test_school_data_is_escaped_and_nothing_is_fetched() -> None:
    hostile = replace(FACTS, school_name='<img src="http://example.invalid/x.png">École & Cie')
    letter = rendered(hostile, "lettre-information-familles")["lettre-information-familles"]
    assert '<img src="http://example.invalid/x.png">École & Cie' in letter  # shown as text, not an image
    fetcher = _refusing_fetcher()
    with pytest.raises(Exception, match="refusée"):
        fetcher.fetch("https://example.invalid/style.css")
    pdf = render_pdf('<html><body><img src="https://example.invalid/logo.png"><p>sans réseau</p></body></html>')
    assert "sans réseau" in text_of(pdf)


def test_a_draft_leaves_a_blank_line_for_each_missing_fact() -> None:
    holes = replace(FACTS, web_address="", year="", missing=(object(),))  # type: ignore[arg-type]
    letter = rendered(holes, "lettre-information-familles", draft=True)["lettre-information-familles"]
    assert f"Adresse de l'ENT : {BLANK}" in letter and f"année scolaire {BLANK}" in letter


# ------------------------------------------------------------------------------------------- from the database


def at_setup(roadmap: Roadmap, tmp_path: Path, **setup: str) -> None:
    """SCHOOL in step setup (its first table validated by the DANE, its accounts created), the setup items filled
    as given."""
    walk_to_transmission(roadmap, tmp_path)
    fill(roadmap, SCHOOL, TRANSMISSION_ITEMS, DIRECTOR)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    send_in_table(roadmap)
    through_account_creation(roadmap)
    fill(roadmap, SCHOOL, setup, DIRECTOR)


@pytest.fixture
def roadmap(settings: Settings, tmp_path: Path) -> Roadmap:
    from tests.roadmap.test_walkthrough import small_roadmap

    service = small_roadmap(settings, tmp_path)  # OTHER_DIRECTOR leads OTHER_SCHOOL
    return service


def test_the_pack_of_a_school_reads_the_annuaire_the_people_and_the_checklist(roadmap: Roadmap,
                                                                             tmp_path: Path) -> None:
    at_setup(roadmap, tmp_path, **SETUP_ITEMS)
    pack = roadmap.family_documents(SCHOOL, roadmap.viewer(DIRECTOR), only=["lettre-information-familles"])
    letter = text_of(pack[0].pdf)
    assert "Baulon" in letter.title() and SCHOOL in letter and "Claire Martin" in letter
    assert ONE in letter and "https://ent.exemple.fr/" in letter  # the checklist's address wins over the catalogue
    assert "2026-2027" in letter and "90 jours" in letter
    with pytest.raises(NotFound):  # another school's director sees neither the school nor its documents
        roadmap.family_documents(SCHOOL, roadmap.viewer(OTHER_DIRECTOR))


def test_missing_facts_are_listed_with_the_item_that_holds_each(roadmap: Roadmap, tmp_path: Path) -> None:
    with pytest.raises(MissingFacts) as caught:
        roadmap.family_documents(SCHOOL)
    message = caught.value.message
    assert "l'ENT choisi" in message and "(definition.ent)" in message
    assert "(setup.ent_address)" in message  # no ENT chosen yet: not even the catalogue's address
    assert "(setup.school_year)" in message and "étape « Paramétrage et livraison »" in message
    assert "brouillon" in message
    drafts = roadmap.family_documents(SCHOOL, draft=True)
    assert len(drafts) == 5 and BLANK in text_of(drafts[0].pdf)


def test_the_catalogue_address_stands_in_until_the_school_gives_its_own(roadmap: Roadmap, tmp_path: Path) -> None:
    at_setup(roadmap, tmp_path, configured="oui")
    with pytest.raises(MissingFacts) as caught:
        roadmap.family_documents(SCHOOL)
    assert "(setup.school_year)" in caught.value.message and "setup.ent_address" not in caught.value.message
    roadmap.check(SCHOOL, "school_year", "2026 / 2027", DIRECTOR)
    letter = text_of(roadmap.family_documents(SCHOOL, only=["lettre-information-familles"])[0].pdf)
    assert "https://oneconnect.opendigitaleducation.com/" in letter and "2026-2027" in letter


def test_the_school_year_and_the_address_are_checked_as_typed(roadmap: Roadmap, tmp_path: Path) -> None:
    at_setup(roadmap, tmp_path, configured="oui")
    with pytest.raises(InvalidValue) as caught:
        roadmap.check(SCHOOL, "school_year", "2026-2028", DIRECTOR)
    assert "deux années qui se suivent" in caught.value.message and "2026-2027" in caught.value.message
    with pytest.raises(InvalidValue) as caught:
        roadmap.check(SCHOOL, "ent_address", "ent de l'école", DIRECTOR)
    assert "adresse web complète" in caught.value.message
    roadmap.check(SCHOOL, "school_year", " 2026 / 2027 ", DIRECTOR)
    assert school_detail(roadmap, SCHOOL).checklist[-1].value == "2026-2027"  # normalised


def test_leaving_setup_needs_a_real_school_year_and_web_address(roadmap: Roadmap, tmp_path: Path) -> None:
    """Values that did not come through the service's checks (restored, written by another tool) are caught when
    the step is left."""
    at_setup(roadmap, tmp_path, **SETUP_ITEMS)
    director = Actor(id=DIRECTOR, role="director", label="Claire Martin", scope=SCHOOL)
    roadmap.engine.set_item(SCHOOL, "school_year", "2026-2028", director)
    roadmap.engine.set_item(SCHOOL, "ent_address", "ent de l'école", director)
    with pytest.raises(TransitionRefused) as caught:
        roadmap.fire(SCHOOL, "advance", DIRECTOR)
    reasons = " ".join(caught.value.reasons)
    assert "« 2026-2028 » n'est pas de la forme 2026-2027" in reasons
    assert "« ent de l'école » n'est pas une adresse web" in reasons
    fill(roadmap, SCHOOL, {"school_year": "2026-2027", "ent_address": "https://ent.exemple.fr/"}, DIRECTOR)
    assert roadmap.fire(SCHOOL, "advance", DIRECTOR).target == "gdpr_information"


# ------------------------------------------------------------------------------------------- the CLI


def test_roadmap_documents_writes_the_five_pdfs(small_db: Settings, tmp_path: Path,  # noqa: F811
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    service = make_roadmap(small_db)
    at_setup(service, tmp_path, **SETUP_ITEMS)
    service.db.dispose()
    target = tmp_path / "pack"
    out = ok(capsys, "documents", SCHOOL, "-o", target, "--by", DIRECTOR)
    written = sorted(path.name for path in target.iterdir())
    assert written == sorted(f"{SCHOOL}-{kind.name}.pdf" for kind in DOCUMENTS)
    assert all(" " not in name for name in written) and "5 document(s) écrit(s)." in out
    assert "Claire Martin" in text_of((target / f"{SCHOOL}-lettre-information-familles.pdf").read_bytes())

    code, out, err = run_cli(capsys, "documents", SCHOOL, "-o", tmp_path / "other", "--by", OTHER_DIRECTOR)
    assert code == 1 and "introuvable" in err and not (tmp_path / "other").exists()
    code, out, err = run_cli(capsys, "documents", "0350122X", "-o", target)
    assert code == 1 and "0350122X" in err


def test_roadmap_documents_refuses_holes_unless_draft(small_db: Settings, tmp_path: Path,  # noqa: F811
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "documents", SCHOOL, "-o", tmp_path / "pack")
    assert code == 1 and "il manque" in err and "(setup.school_year)" in err and "--draft" in err
    assert not (tmp_path / "pack").exists()
    out = ok(capsys, "documents", SCHOOL, "-o", tmp_path / "pack", "--draft")
    assert "(brouillon)" in out and len(list((tmp_path / "pack").iterdir())) == 5


def test_a_definition_without_the_facts_table_lists_them_missing_and_says_why(roadmap: Roadmap) -> None:
    national = roadmap.definitions["national"]
    bare = replace(national, guard_params={k: v for k, v in national.guard_params.items() if k != GUARD})
    with roadmap.session() as session:
        school = session.get(School, SCHOOL)
        assert school is not None
        facts = collect_facts(session, bare, school, {}, ent_catalogue(CATALOGUE))
    reasons = [m.where for m in facts.missing]
    assert sum("n'a pas de table [guards.family_documents_facts]" in r for r in reasons) == 3
    assert facts.director == "Claire Martin" and facts.school_name
