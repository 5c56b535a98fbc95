"""Who may act where: each role's scope against schools, enforced on every move and checklist change, and the
validation of the people registered in the tool."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from roadmap.account_table import director_name
from roadmap.errors import InvalidValue, RoadmapError
from roadmap.files import read_upload
from roadmap.models import School
from roadmap.permissions import authorize, covers, normalize_scope
from roadmap.service import Roadmap
from roadmap.settings import Settings
from tests.factories import ADMIN_EMAIL, ANNUAIRE_HEADER, annuaire_row, make_roadmap, write_csv
from workflows import Actor
from workflows.errors import TransitionRefused

KEY_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def uai(digits: str) -> str:
    return digits + KEY_LETTERS[int(digits) % 23]


# A small territory: two circonscriptions of Ille-et-Vilaine (035) and one of Côtes-d'Armor (022), académie de
# Rennes (14); a school of Val-de-Marne (094, académie de Créteil, 24) and one of Isère (038, Grenoble, 08).
CIRCO_A, CIRCO_B, CIRCO_C = uai("0350901"), uai("0350902"), uai("0220901")
NAME_A = "Circonscription d'inspection du 1er degré de Bruz"
NAME_B = "Circonscription d'inspection du 1er degré de Saint Grégoire"
NAME_C = "Circonscription d'inspection du 1er degré de Dinan"
S1, S2, S3, S4, S5 = uai("0350001"), uai("0350004"), uai("0220001"), uai("0941234"), uai("0381234")
UNKNOWN_SCHOOL = uai("0350998")
IEN_A, IEN_B, IEN_C = "ce.ien35.bruz@ac-rennes.fr", "ce.ien35.stgregoire@ac-rennes.fr", "ce.ien22.dinan@ac-rennes.fr"
DIRECTOR_1, DIRECTOR_2, DIRECTOR_3 = "claire.martin@ac-rennes.fr", "yann.guillou@ac-rennes.fr", "morgane@ac-rennes.fr"
CPD_35, CPD_22 = "cpd.numerique35@ac-rennes.fr", "cpd.numerique22@ac-rennes.fr"
DANE_14, DANE_24 = "dane.premier-degre@ac-rennes.fr", "dane.premier-degre@ac-creteil.fr"
ADMIN = "admin.ent@ac-rennes.fr"


def territory(tmp_path: Path) -> Path:
    def row(code: str, name: str, departement: str, academie: str, **extra: str) -> list[str]:
        values = annuaire_row(code, name, departement=departement, academie=academie, **extra)
        values[10], values[11] = {"035": ("Ille-et-Vilaine", "Rennes"), "022": ("Côtes-d'Armor", "Rennes"),
                                  "094": ("Val-de-Marne", "Créteil"), "038": ("Isère", "Grenoble")}[departement]
        return values

    office = {"kind": "Service Administratif", "nature": "809"}
    rows = [
        row(CIRCO_A, NAME_A, "035", "14", email=IEN_A, **office),
        row(CIRCO_B, NAME_B, "035", "14", email=IEN_B, **office),
        row(CIRCO_C, NAME_C, "022", "14", email=IEN_C, **office),
        row(S1, "Ecole primaire publique les Lucioles", "035", "14", circonscription=NAME_A,
            email=f"ecole.{S1}@ac-rennes.fr"),
        row(S2, "Ecole élémentaire publique de Cardroc", "035", "14", circonscription=NAME_B),
        row(S3, "Ecole primaire publique du Jerzual", "022", "14", circonscription=NAME_C, postal_code="22100"),
        row(S4, "Ecole élémentaire publique Paul Bert", "094", "24", postal_code="94000"),
        row(S5, "Ecole primaire publique des Alpes", "038", "08", postal_code="38000"),
    ]
    return write_csv(tmp_path / "territoire.csv", ANNUAIRE_HEADER, rows)


def setup_roadmap(settings: Settings, tmp_path: Path, *, people: bool = True) -> Roadmap:
    roadmap = make_roadmap(settings)
    report = roadmap.import_annuaire(territory(tmp_path), by=ADMIN_EMAIL)
    assert report.schools == 5 and report.circonscriptions == 3 and report.without_circonscription == [S4, S5]
    if people:
        roadmap.add_person(DIRECTOR_1, "director", S1, "Claire Martin", by=ADMIN_EMAIL)
        roadmap.add_person(DIRECTOR_2, "director", S2, "Yann Guillou", by=ADMIN_EMAIL)
        roadmap.add_person(DIRECTOR_3, "director", S3, "Morgane Le Bihan", by=ADMIN_EMAIL)
        roadmap.add_person(CPD_35, "cpd", "035", "Paul Le Gall", by=ADMIN_EMAIL)
        roadmap.add_person(CPD_22, "cpd", "022", "Erwan Tanguy", by=ADMIN_EMAIL)
        roadmap.add_person(DANE_14, "dane", "14", "Anne Riou", by=ADMIN_EMAIL)
        roadmap.add_person(DANE_24, "dane", "24", "Sophie Martin", by=ADMIN_EMAIL)
        roadmap.add_person(ADMIN, "admin", "*", "Administration ENT", by=ADMIN_EMAIL)
    return roadmap


def version(roadmap: Roadmap, school: str) -> tuple[str, int]:
    with roadmap.session() as session:
        instance = roadmap.instance(session, school)
        return instance.state, instance.version


def refused(roadmap: Roadmap, school: str, attempt: object) -> list[str]:
    assert callable(attempt)
    before = version(roadmap, school)
    with pytest.raises(TransitionRefused) as info:
        attempt()
    assert version(roadmap, school) == before
    return info.value.reasons


def to_awaiting_approval(roadmap: Roadmap, tmp_path: Path, school: str, by: str) -> None:
    """Fill the first three steps and submit the council's minutes (by a director, or the admin)."""
    minutes = tmp_path / f"compte-rendu-{school}.pdf"
    minutes.write_bytes(f"%PDF-1.4 compte rendu {school}\n".encode())
    steps = [
        {"teachers_council_date": "12/09/2026", "features": "blog", "ent": "Beneylu School", "sdet_framework": "oui",
         "secondary_interoperability": "oui", "reversibility": "oui", "editor_support": "oui", "admin_tools": "oui"},
        {"presented_to_collectivite": "20/09/2026", "funding_agreement": "oui", "contract_signed": "oui"},
        {"council_date": "06/11/2026", "reasons_presented": "oui", "onde_transfer_announced": "oui",
         "no_consent_explained": "oui", "rights_explained": "oui", "minutes": str(minutes)},
    ]
    for items in steps:
        for item, value in items.items():
            if item == "minutes":
                roadmap.check(school, item, None, by, upload=read_upload(minutes))
            else:
                roadmap.check(school, item, value, by)
        roadmap.fire(school, "advance", by)
    assert version(roadmap, school)[0] == "school_council.awaiting_approval"


# --------------------------------------------------------------------------------------------- covers / authorize


COVERAGE = [
    # (role, scope, schools covered among S1..S5)
    ("director", S1, {S1}),
    ("director", S3, {S3}),
    ("ien", CIRCO_A, {S1}),
    ("ien", CIRCO_B, {S2}),
    ("ien", CIRCO_C, {S3}),
    ("cpd", "035", {S1, S2}),
    ("cpd", "022", {S3}),
    ("cpd", "094", {S4}),
    ("dane", "14", {S1, S2, S3}),
    ("dane", "24", {S4}),
    ("dane", "08", {S5}),
    ("admin", "*", {S1, S2, S3, S4, S5}),
    ("dasen", "035", set()),  # not a role of the tool
]


def test_covers_each_role_within_its_own_scope_only(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path, people=False)
    with roadmap.session() as session:
        schools = {uai: session.get(School, uai) for uai in (S1, S2, S3, S4, S5)}
        wrong = []
        for role, scope, expected in COVERAGE:
            for code, school in schools.items():
                assert school is not None
                if covers(session, role, scope, school) != (code in expected):
                    wrong.append((role, scope, code))
    assert wrong == []


def test_authorize_explains_who_is_out_of_scope(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path, people=False)
    with roadmap.session() as session:
        school = session.get(School, S1)
        assert school is not None
        instance = roadmap.instance(session, S1)

        def reasons(role: str, scope: str) -> list[str]:
            return authorize(session, Actor(id=f"{role}@ac-rennes.fr", role=role, label="Camille", scope=scope),
                             instance, school)

        for role, scope, expected in COVERAGE:
            got = reasons(role, scope)
            if S1 in expected:
                assert got == [], (role, scope)
            else:
                assert len(got) == 1 and S1 in got[0] and "Camille" in got[0], (role, scope, got)
        assert S2 in reasons("director", S2)[0]
        assert CIRCO_B in reasons("ien", CIRCO_B)[0] and CIRCO_A in reasons("ien", CIRCO_B)[0]
        assert "022" in reasons("cpd", "022")[0] and "035" in reasons("cpd", "022")[0]
        assert "académie 24" in reasons("dane", "24")[0] and "14" in reasons("dane", "24")[0]
        # Without a school in the directory, nobody is authorised (not even the admin).
        assert authorize(session, Actor(id="a", role="admin", scope="*"), instance, None)


def test_directors_act_on_their_own_school_only(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    roadmap.check(S1, "features", "blog", DIRECTOR_1)
    # The school's functional mailbox from the annuaire is a director of that school.
    roadmap.check(S1, "admin_tools", "oui", f"ecole.{S1}@ac-rennes.fr")
    reasons = refused(roadmap, S2, lambda: roadmap.check(S2, "features", "blog", DIRECTOR_1))
    assert len(reasons) == 1 and f"qui dirige l'école {S1}" in reasons[0] and S2 in reasons[0]
    reasons = refused(roadmap, S2, lambda: roadmap.fire(S2, "suspend", DIRECTOR_1, note="pas la mienne"))
    assert any(S1 in r and S2 in r for r in reasons)
    roadmap.fire(S1, "suspend", DIRECTOR_1, note="en attente")
    roadmap.fire(S1, "resume", DIRECTOR_1)
    assert version(roadmap, S1) == ("definition", 5)


def test_ien_approves_in_their_own_circonscription_only(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    to_awaiting_approval(roadmap, tmp_path, S1, DIRECTOR_1)
    for other in (IEN_B, IEN_C):
        reasons = refused(roadmap, S1, partial(roadmap.fire, S1, "approve", other))
        assert any(CIRCO_A in r and S1 in r for r in reasons), reasons
    reasons = refused(roadmap, S1, lambda: roadmap.fire(S1, "request_changes", IEN_B, note="à revoir"))
    assert any(CIRCO_B in r for r in reasons)
    # The IEN's role gives no hand on the school's checklists, even in their circonscription.
    reasons = refused(roadmap, S2, lambda: roadmap.check(S2, "features", "blog", IEN_B))
    assert any("IEN de circonscription" in r for r in reasons)
    roadmap.fire(S1, "approve", IEN_A)
    assert version(roadmap, S1)[0] == "transmission"


def test_cpd_acts_in_their_own_departement_only(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    roadmap.check(S1, "features", "blog", CPD_35)
    roadmap.check(S2, "features", "blog", CPD_35)
    reasons = refused(roadmap, S3, lambda: roadmap.check(S3, "features", "blog", CPD_35))
    assert reasons == [reasons[0]] and "département 035" in reasons[0] and "022" in reasons[0]
    roadmap.check(S3, "features", "blog", CPD_22)
    reasons = refused(roadmap, S1, lambda: roadmap.fire(S1, "abandon", CPD_22, note="hors périmètre"))
    assert any("022" in r and "035" in r for r in reasons)
    roadmap.fire(S3, "abandon", CPD_22, note="La commune renonce")
    assert version(roadmap, S3)[0] == "abandoned"


def test_dane_acts_in_their_own_academie_only(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    for school in (S1, S3):  # two départements of the académie de Rennes
        roadmap.fire(school, "suspend", DANE_14, note="point d'étape académique")
    reasons = refused(roadmap, S4, lambda: roadmap.fire(S4, "suspend", DANE_14, note="hors académie"))
    assert any("académie 14" in r and "24" in r for r in reasons)
    reasons = refused(roadmap, S1, lambda: roadmap.fire(S1, "resume", DANE_24))
    assert any("académie 24" in r and "14" in r for r in reasons)
    roadmap.fire(S4, "suspend", DANE_24, note="point d'étape académique")
    assert [version(roadmap, s)[0] for s in (S1, S2, S3, S4)] == ["suspended", "definition", "suspended", "suspended"]


def test_admin_acts_everywhere_including_the_ien_approval(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path)
    # The admin fills a step reserved to the school (the council) and submits it; four eyes: another person
    # must approve, even for an admin.
    to_awaiting_approval(roadmap, tmp_path, S2, ADMIN)
    reasons = refused(roadmap, S2, lambda: roadmap.fire(S2, "approve", ADMIN))
    assert any("quatre yeux" in r for r in reasons)
    roadmap.fire(S2, "request_changes", ADMIN, note="reprise par la direction")
    roadmap.fire(S2, "advance", DIRECTOR_2)
    # ... and the admin approves in the IEN's place what the director submitted.
    roadmap.fire(S2, "approve", ADMIN)
    with roadmap.session() as session:
        last = roadmap.engine.history(session, roadmap.instance(session, S2))[-1]
    assert (last.actor, last.role, last.event, last.source, last.target) == (
        ADMIN, "admin", "approve", "school_council.awaiting_approval", "transmission")
    for school in (S4, S5):  # other académies, including one with its own variant of the roadmap
        roadmap.check(school, "features", "blog", ADMIN)
        roadmap.fire(school, "suspend", ADMIN, note="audit")
        assert version(roadmap, school) == ("suspended", 3)
    # A note is still required from the admin when the move requires one.
    reasons = refused(roadmap, S1, lambda: roadmap.fire(S1, "abandon", ADMIN))
    assert any("note" in r for r in reasons)


# ---------------------------------------------------------------------------------------------- people add


BAD_PEOPLE = [
    # (email, role, scope, name, fragments expected in the message: the domain names fields, never CLI options)
    ("claire.martin-ac-rennes.fr", "director", S1, "Claire Martin", ["EMAIL", "adresse électronique invalide",
                                                                     "exemple"]),
    ("claire martin@ac-rennes.fr", "director", S1, "Claire Martin", ["adresse électronique invalide"]),
    ("", "director", S1, "Claire Martin", ["adresse électronique invalide"]),
    ("nouvelle@ac-rennes.fr", "director", S1, "  ", ["nom", "nom est vide"]),
    ("nouvelle@ac-rennes.fr", "inspecteur", S1, "Claire Martin", ["rôle", "inspecteur", "rôle inconnu",
                                                                       "director, ien, cpd, dane, dpo, admin"]),
    ("ien@ac-rennes.fr", "ien", "035", "Jean Ien", ["périmètre", "035", "UAI invalide", "circonscription (UAI)"]),
    ("ien@ac-rennes.fr", "ien", S1, "Jean Ien", ["périmètre", S1, "circonscription (UAI)", "importé"]),
    ("dir@ac-rennes.fr", "director", CIRCO_A, "Jean Dir", ["périmètre", CIRCO_A, "école (UAI)", "importé"]),
    ("dir@ac-rennes.fr", "director", UNKNOWN_SCHOOL, "Jean Dir", ["périmètre", UNKNOWN_SCHOOL, "école (UAI)",
                                                                  "importé"]),
    ("dir@ac-rennes.fr", "director", S1[:7] + ("A" if S1[7] != "A" else "B"), "Jean Dir",
     ["périmètre", "lettre clé devrait être " + S1[7], S1]),
    ("dir@ac-rennes.fr", "director", S1[:7], "Jean Dir", ["périmètre", "lettre clé manque", S1]),
    ("dir@ac-rennes.fr", "director", "école Lucioles", "Jean Dir", ["périmètre", "UAI invalide", "école (UAI)"]),
    ("cpd@ac-rennes.fr", "cpd", S1, "Jean Cpd", ["périmètre", "département (code, ex. 035)", "importé"]),
    ("cpd@ac-rennes.fr", "cpd", "029", "Jean Cpd", ["périmètre", "029", "département", "importé"]),
    ("dane@ac-rennes.fr", "dane", "035", "Jean Dane", ["périmètre", "035", "académie (code, ex. 14)"]),
    ("dane@ac-rennes.fr", "dane", "Rennes", "Jean Dane", ["périmètre", "Rennes", "académie"]),
    ("admin@ac-rennes.fr", "admin", "035", "Jean Admin", ["périmètre", "035", "« * »"]),
    # Addresses already used: by a person registered by hand (whatever the case), or by an annuaire mailbox.
    (DIRECTOR_1, "cpd", "035", "Autre Personne", ["EMAIL", DIRECTOR_1, "déjà enregistrée"]),
    ("  Claire.MARTIN@AC-Rennes.fr ", "director", S1, "Claire Martin", ["déjà enregistrée", DIRECTOR_1]),
    (IEN_A, "cpd", "035", "Jean Ien", ["déjà enregistrée"]),  # an annuaire mailbox, claimed with another role
    (f"ecole.{S1}@ac-rennes.fr".upper(), "admin", "*", "Direction", ["déjà enregistrée"]),
]


def test_people_add_refuses_bad_entries_saying_what_and_how_to_fix(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path, people=False)
    roadmap.add_person(DIRECTOR_1, "director", S1, "Claire Martin", by=ADMIN_EMAIL)
    before = [(p.email, p.role, p.scope) for p in roadmap.people()]
    problems: list[tuple[object, ...]] = []
    for email, role, scope, name, fragments in BAD_PEOPLE:
        try:
            roadmap.add_person(email, role, scope, name, by=ADMIN_EMAIL)
        except RoadmapError as error:
            message = str(error)
            if not isinstance(error, InvalidValue) or "→" not in message:
                problems.append((email, role, scope, "no hint", message))
            missing = [f for f in fragments if f not in message]
            if "--" in message or "roadmap " in message:
                problems.append((email, role, scope, "names a command", message))
            if missing:
                problems.append((email, role, scope, missing, message))
        else:
            problems.append((email, role, scope, "accepted", ""))
    assert problems == []
    assert [(p.email, p.role, p.scope) for p in roadmap.people()] == before


@pytest.mark.parametrize(("role", "raw", "expected"), [
    ("cpd", "35", "035"), ("cpd", " 035 ", "035"), ("cpd", "22", "022"), ("cpd", "2A", "2A"), ("cpd", "2b", "2B"),
    ("dane", "8", "08"), ("dane", "14", "14"), ("dane", " 8", "08"),
    ("director", "0350122t", "0350122T"), ("director", " 0350 122t\u00a0", "0350122T"), ("ien", "0350739n", "0350739N"),
    ("admin", "*", "*"), ("admin", "", "*"),
])
def test_normalize_scope(role: str, raw: str, expected: str) -> None:
    assert normalize_scope(role, raw) == expected


def test_people_add_stores_normalised_scopes_that_then_work(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path, people=False)
    added = [
        roadmap.add_person("  Paul.LeGall@AC-Rennes.fr ", "cpd", "35", " Paul Le Gall ", by=ADMIN_EMAIL),
        roadmap.add_person("anne.riou@ac-grenoble.fr", "dane", "8", "Anne Riou", by=ADMIN_EMAIL),
        roadmap.add_person("claire.martin@ac-rennes.fr", "director", f" {S1.lower()} ", "Claire Martin",
                           by=ADMIN_EMAIL),
        roadmap.add_person("ien.dinan@ac-rennes.fr", "ien", CIRCO_C.lower(), "Jean Ien", by=ADMIN_EMAIL),
        roadmap.add_person("admin@ac-rennes.fr", "admin", "", "Administration", by=ADMIN_EMAIL),
    ]
    assert [(p.email, p.role, p.scope, p.name) for p in added] == [
        ("paul.legall@ac-rennes.fr", "cpd", "035", "Paul Le Gall"),
        ("anne.riou@ac-grenoble.fr", "dane", "08", "Anne Riou"),
        ("claire.martin@ac-rennes.fr", "director", S1, "Claire Martin"),
        ("ien.dinan@ac-rennes.fr", "ien", CIRCO_C, "Jean Ien"),
        ("admin@ac-rennes.fr", "admin", "*", "Administration"),
    ]
    stored = {p.email: p.scope for p in roadmap.people()}
    assert stored["paul.legall@ac-rennes.fr"] == "035" and stored["anne.riou@ac-grenoble.fr"] == "08"
    # The normalised scopes really cover their schools (and the address is matched whatever its case).
    roadmap.check(S1, "features", "blog", "PAUL.LEGALL@ac-rennes.fr")
    roadmap.check(S1, "admin_tools", "oui", "Claire.Martin@ac-rennes.fr")
    roadmap.fire(S5, "suspend", "anne.riou@ac-grenoble.fr", note="point d'étape")
    assert version(roadmap, S1) == ("definition", 3) and version(roadmap, S5) == ("suspended", 2)
    reasons = refused(roadmap, S3, lambda: roadmap.fire(S3, "suspend", "anne.riou@ac-grenoble.fr", note="x"))
    assert any("académie 08" in r for r in reasons)


def test_an_annuaire_mailbox_can_be_named_by_the_person_who_uses_it(settings: Settings, tmp_path: Path) -> None:
    roadmap = setup_roadmap(settings, tmp_path, people=False)
    mailbox = f"ecole.{S1}@ac-rennes.fr"
    person = roadmap.add_person(mailbox.upper(), "director", S1.lower(), "Claire Martin", by=ADMIN_EMAIL)
    assert (person.email, person.name, person.source) == (mailbox.lower(), "Claire Martin", "manual")
    assert [p.email for p in roadmap.people() if p.email == mailbox.lower()] == [mailbox.lower()]  # no duplicate
    with roadmap.session() as session:
        assert director_name(session, S1) == "Claire Martin"  # the account table's Responsable
    roadmap.import_annuaire(territory(tmp_path), by=ADMIN_EMAIL)  # a later import does not take the name back
    assert [(p.name, p.source) for p in roadmap.people() if p.email == mailbox.lower()] == [("Claire Martin", "manual")]
