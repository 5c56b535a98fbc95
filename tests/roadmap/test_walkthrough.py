"""Behaviour of the national roadmap, step by step: the lawful walk of a school from `definition` to `deployed`,
and at each step the wrong attempts, refused with their reasons, leaving everything as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from roadmap.errors import InvalidValue, NotFound, RoadmapError
from roadmap.files import Upload, read_upload
from roadmap.jsonview import jsonable
from roadmap.service import AdministrationRefused, Roadmap
from roadmap.settings import Settings
from roadmap.views import school_detail, school_summaries
from tests.conftest import ILLE_ET_VILAINE
from tests.factories import ADMIN_EMAIL, ANNUAIRE_HEADER, annuaire_row, make_roadmap, write_csv
from tests.roadmap.walk import (
    COUNCIL_ITEMS,
    CPD,
    DANE,
    DEFINITION_ITEMS,
    DIRECTOR,
    FUNDING_ITEMS,
    GDPR_ITEMS,
    IEN,
    OTHER_SCHOOL,
    SCHOOL,
    SCHOOL_CIRCO,
    SETUP_ITEMS,
    TRAINING_ITEMS,
    TRANSMISSION_ITEMS,
    add_people,
    fill,
    minutes_file,
    submit_council,
    walk_from_transmission_to_deployed,
    walk_from_transmission_to_parent_training,
    walk_to_school_council,
    walk_to_transmission,
)
from workflows.errors import InvalidItemValue, TransitionRefused

OTHER_CIRCO = "0350738M"  # Saint Grégoire
OTHER_IEN = "ce.ien35.stgregoire@ac-rennes.fr"
OTHER_DIRECTOR = "yann.guillou@ac-rennes.fr"
SCHOOL_MAILBOX = "ecole.0350122T@ac-rennes.fr"  # the school's functional mailbox, imported as its director
UNKNOWN = "quelquun@example.org"

# A small territory outside Ille-et-Vilaine: Côtes-d'Armor (022, académie de Rennes) and Val-de-Marne
# (094, académie de Créteil).
CIRCO_22 = "0220999S"
CIRCO_22_NAME = "Circonscription d'inspection du 1er degré de Dinan"
IEN_22 = "ce.ien22.dinan@ac-rennes.fr"
SCHOOL_22 = "0221234X"
DIRECTOR_22 = "morgane.le-bihan@ac-rennes.fr"
CPD_22 = "cpd.numerique22@ac-rennes.fr"
SCHOOL_94 = "0941234F"
DANE_CRETEIL = "dane.premier-degre@ac-creteil.fr"

NOW = "2026-11-23T10:00:00Z"  # the fixed clock of tests.factories
FUTURE_COUNCIL = "24/11/2026"  # the day after the fixed clock

DEFINITION_REQUIRED = {
    "teachers_council_date": "Date du conseil des maîtres qui a retenu le projet",
    "features": "Fonctionnalités attendues (messagerie, blog, cahier de textes, cahier de liaison…)",
    "ent": "ENT retenu (parmi les solutions conformes au SDET)",
    "sdet_framework": "La solution s'inscrit dans le cadre de confiance et de sécurité du SDET",
    "secondary_interoperability": "Interopérabilité avec l'ENT du collège prévue pour le cycle 3",
    "reversibility": "Réversibilité : les données seront récupérables en cas de changement d'ENT",
    "editor_support": "Maintenance et assistance prises en charge par l'éditeur",
    "admin_tools": "Outils d'administration et de statistiques fournis par l'éditeur",
}
EXTRA_CLAUSES_LABEL = "Clauses complémentaires souhaitées (facultatif)"
FUNDING_REQUIRED = {
    "presented_to_collectivite": "Date de présentation du projet à la collectivité",
    "funding_agreement": "Accord de financement obtenu (collectivité, éditeur, école)",
    "contract_signed": "Contrat entre la collectivité et l'éditeur finalisé",
}
CONFORMITY_LABEL = "Avis de conformité demandé (facultatif)"
MINUTES_LABEL = "Compte rendu du conseil d'école mentionnant ces informations"
FAMILIES_LABEL = "Information individuelle des familles par le cahier de liaison, si le conseil se réunit tard"
PARENT_SESSION_LABEL = "Date de la réunion de présentation aux parents"
COMPLIANT_ENTS = ["Beneylu School", "It's learning", "K-d'école (Kosmos)", "OZE 1D (Itop)",
                  "One 1D (Open Digital Education)"]
ALL_EVENTS = ["advance", "approve", "request_changes", "suspend", "resume", "abandon", "skip"]


def detail_json(roadmap: Roadmap, uai: str) -> dict[str, Any]:
    """The school's typed view as its JSON (what `school show --json` prints)."""
    shown: dict[str, Any] = jsonable(school_detail(roadmap, uai))
    return shown


# --------------------------------------------------------------------------------------------------- helpers


def real_extract(tmp_path: Path, uais: set[str]) -> Path:
    """The header and the rows of the given establishments, copied from the real Ille-et-Vilaine extract."""
    lines = ILLE_ET_VILAINE.read_text(encoding="utf-8-sig").splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if line.split(";", 1)[0] in uais]
    assert len(kept) == len(uais) + 1, "every establishment asked for is in the real extract"
    path = tmp_path / "extrait-035.csv"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8-sig")
    return path


def small_roadmap(settings: Settings, tmp_path: Path, *, named_director: bool = True) -> Roadmap:
    """Both Ille-et-Vilaine schools of walk.py and their two circonscriptions, from the real extract."""
    roadmap = make_roadmap(settings)
    extract = real_extract(tmp_path, {SCHOOL, OTHER_SCHOOL, SCHOOL_CIRCO, OTHER_CIRCO})
    report = roadmap.import_annuaire(extract, by=ADMIN_EMAIL)
    assert report.schools == 2 and not report.rejected
    if named_director:
        add_people(roadmap)
    else:
        roadmap.add_person(CPD, "cpd", "035", "Paul Le Gall", by=ADMIN_EMAIL)
        roadmap.add_person(DANE, "dane", "14", "Anne Riou", by=ADMIN_EMAIL)
    roadmap.add_person(OTHER_DIRECTOR, "director", OTHER_SCHOOL, "Yann Guillou", by=ADMIN_EMAIL)
    return roadmap


def outside_extract(tmp_path: Path) -> Path:
    """A Côtes-d'Armor circonscription and school (académie 14) and a Val-de-Marne school (académie 24)."""
    circo = annuaire_row(CIRCO_22, CIRCO_22_NAME, kind="Service Administratif", nature="809", email=IEN_22,
                         departement="022", academie="14", postal_code="22100", commune="Dinan")
    school = annuaire_row(SCHOOL_22, "Ecole primaire publique du Jerzual", circonscription=CIRCO_22_NAME,
                          email="ecole.0221234X@ac-rennes.fr", departement="022", academie="14",
                          postal_code="22100", commune="Dinan", phone="0296000000")
    school_94 = annuaire_row(SCHOOL_94, "Ecole élémentaire publique Paul Bert", departement="094", academie="24",
                             postal_code="94000", commune="Créteil", phone="0143000000")
    circo[10] = school[10] = "Côtes-d'Armor"
    school_94[10], school_94[11] = "Val-de-Marne", "Créteil"
    return write_csv(tmp_path / "hors-35.csv", ANNUAIRE_HEADER, [circo, school, school_94])


def snapshot(roadmap: Roadmap, uai: str) -> tuple[Any, ...]:
    with roadmap.session() as session:
        instance = roadmap.instance(session, uai)
        values = roadmap.engine.values(session, instance)
        history = roadmap.engine.history(session, instance)
        return instance.state, instance.held_from, instance.version, len(history), sorted(values.items())


def refused(roadmap: Roadmap, uai: str, attempt: Callable[[], object],
            error: type[Exception] = TransitionRefused) -> Any:
    """Run an attempt that must fail with `error`, and check it changed nothing; returns the exception."""
    before = snapshot(roadmap, uai)
    with pytest.raises(error) as info:
        attempt()
    assert snapshot(roadmap, uai) == before, "a refused attempt must change nothing"
    return info.value


def reasons_of(roadmap: Roadmap, uai: str, attempt: Callable[[], object]) -> list[str]:
    reasons: list[str] = refused(roadmap, uai, attempt).reasons
    assert reasons, "a refusal always says why"
    return reasons


def state_of(roadmap: Roadmap, uai: str) -> str:
    return str(snapshot(roadmap, uai)[0])


def moves(roadmap: Roadmap, uai: str) -> list[tuple[str, str, str, str | None, str]]:
    """(actor, role, event, source, target) of every history row but checklist changes."""
    return [(h["actor"], h["role"], h["event"], h["source"], h["target"])
            for h in detail_json(roadmap, uai)["history"] if h["event"] != "check"]


def assert_chained(history: list[dict[str, Any]], state: str) -> None:
    assert history[0]["event"] == "start" and history[0]["source"] is None
    for previous, row in pairwise(history):
        assert row["source"] == previous["target"]
    assert history[-1]["target"] == state


def walk_to_parent_training(roadmap: Roadmap, tmp_path: Path) -> None:
    walk_to_transmission(roadmap, tmp_path)
    walk_from_transmission_to_parent_training(roadmap, tmp_path)


# ------------------------------------------------------------------------------------------- the lawful walk


def test_lawful_walk_reaches_deployed_and_history_records_every_move(settings: Settings, tmp_path: Path) -> None:
    roadmap = make_roadmap(settings)
    report = roadmap.import_annuaire(ILLE_ET_VILAINE, by=ADMIN_EMAIL)
    assert report.schools_created > 600
    add_people(roadmap)

    walk_to_transmission(roadmap, tmp_path)
    assert state_of(roadmap, SCHOOL) == "transmission"
    walk_from_transmission_to_deployed(roadmap, tmp_path)

    detail = detail_json(roadmap, SCHOOL)
    assert detail["state"] == "deployed" and detail["step"] == "deployed"
    assert detail["allowed_events"] == []
    assert moves(roadmap, SCHOOL) == [
        (ADMIN_EMAIL, "admin", "start", None, "definition"),  # whoever imported the annuaire
        (DIRECTOR, "director", "advance", "definition", "funding"),
        (DIRECTOR, "director", "advance", "funding", "school_council"),
        (DIRECTOR, "director", "advance", "school_council", "school_council.awaiting_approval"),
        (IEN, "ien", "approve", "school_council.awaiting_approval", "transmission"),
        (DIRECTOR, "director", "advance", "transmission", "transmission.submitted"),
        (CPD, "cpd", "send_table", "transmission.submitted", "transmission.awaiting_dane"),  # the first table
        (DANE, "dane", "validate_table", "transmission.awaiting_dane", "transmission.at_dsi"),
        (CPD, "cpd", "exported_to_publisher", "transmission.at_dsi", "setup.awaiting_accounts"),
        (DIRECTOR, "director", "accounts_created", "setup.awaiting_accounts", "setup"),
        (DIRECTOR, "director", "advance", "setup", "gdpr_information"),
        (DIRECTOR, "director", "advance", "gdpr_information", "teacher_training"),
        (DIRECTOR, "director", "advance", "teacher_training", "parent_training"),
        (DIRECTOR, "director", "skip", "parent_training", "deployed"),
    ]
    history = detail["history"]
    assert_chained(history, "deployed")
    assert all(h["at"] == NOW for h in history)
    assert history[0]["note"] == f"import de {ILLE_ET_VILAINE.name}"
    assert history[-1]["note"] == "Réunion des parents reportée à la rentrée prochaine"
    assert all(h["note"] is None for h in history[1:-1])
    # Every checklist change is in the history too, with its step, item and stored value, in order.
    checks = [(h["data"]["step"], h["data"]["item"]) for h in history if h["event"] == "check"]
    assert checks == (
        [("definition", i) for i in DEFINITION_ITEMS] + [("funding", i) for i in FUNDING_ITEMS]
        + [("school_council", i) for i in COUNCIL_ITEMS] + [("school_council", "minutes")]
        + [("transmission", i) for i in TRANSMISSION_ITEMS] + [("setup", i) for i in SETUP_ITEMS]
        + [("gdpr_information", i) for i in GDPR_ITEMS]
        + [("teacher_training", i) for i in TRAINING_ITEMS]
    )
    council = next(h for h in history if h["event"] == "check" and h["data"]["item"] == "council_date")
    assert council["data"]["value"] == "2026-11-06"  # stored in ISO form whatever was typed
    assert all(h["source"] == h["target"] for h in history if h["event"] == "check")
    assert detail["version"] == len(history)

    # The other schools of the import did not move.
    other = detail_json(roadmap, OTHER_SCHOOL)
    assert other["state"] == "definition" and other["version"] == 1 and len(other["history"]) == 1
    assert [s.uai for s in school_summaries(roadmap, step="deployed")] == [SCHOOL]


# ---------------------------------------------------------------------------------- step 1 and 2: checklists


def test_definition_and_funding_refuse_to_advance_until_complete(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)

    # Nothing filled: every required item is named, the optional one is not; the ENT guard says none was chosen.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", DIRECTOR))
    for label in DEFINITION_REQUIRED.values():
        assert sum(label in reason for reason in reasons) == 1, label
    assert not any(EXTRA_CLAUSES_LABEL in reason for reason in reasons)
    assert any("aucun ENT" in reason for reason in reasons)
    assert len(reasons) == len(DEFINITION_REQUIRED) + 1

    # A non-compliant ENT is refused when it is typed, and nothing is stored.
    error = refused(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "ent", "Moodle", DIRECTOR), InvalidItemValue)
    assert "Moodle" in str(error) and all(ent in str(error) for ent in COMPLIANT_ENTS)
    # Other ill-typed values are refused too.
    for item, value, fragment in [("sdet_framework", "peut-être", "oui ou non"),
                                  ("teachers_council_date", "31/02/2026", "n'existe pas"),
                                  ("teachers_council_date", "hier", "JJ/MM/AAAA"),
                                  ("features", "   ", "vide")]:
        error = refused(roadmap, SCHOOL, partial(roadmap.check, SCHOOL, item, value, DIRECTOR),
                        InvalidItemValue)
        assert fragment in str(error), (item, value, str(error))
    # An item of another step, or an unknown one, is refused with the list of this step's items.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "council_date", "01/10/2026", DIRECTOR))
    assert "council_date" in reasons[0] and "teachers_council_date" in reasons[0]
    # People whose role has no part in this step cannot fill it, nor advance it.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "features", "blog", IEN))
    assert any("IEN de circonscription" in r and "ne permet pas" in r for r in reasons)
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "features", "blog", DANE))
    assert any("DANE" in r and "ne permet pas" in r for r in reasons)

    # The ENT is matched whatever the case; part of the list filled: only what is left is named.
    roadmap.check(SCHOOL, "ent", "one 1d (open digital education)", DIRECTOR)
    roadmap.check(SCHOOL, "teachers_council_date", "12/09/2026", DIRECTOR)
    roadmap.check(SCHOOL, "features", "messagerie, blog", DIRECTOR)
    roadmap.check(SCHOOL, "sdet_framework", "non", DIRECTOR)  # answered "no": not done
    roadmap.check(SCHOOL, "reversibility", "oui", DIRECTOR)
    detail = detail_json(roadmap, SCHOOL)
    assert {i["id"]: i["value"] for i in detail["checklist"]}["ent"] == "One 1D (Open Digital Education)"
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", DIRECTOR))
    missing = ["sdet_framework", "secondary_interoperability", "editor_support", "admin_tools"]
    assert len(reasons) == len(missing)
    for item in missing:
        assert any(DEFINITION_REQUIRED[item] in r for r in reasons), item
    assert detail["blockers"]["advance"] == reasons_of(roadmap, SCHOOL,
                                                       lambda: roadmap.fire(SCHOOL, "advance", DIRECTOR))

    fill(roadmap, SCHOOL, DEFINITION_ITEMS, DIRECTOR)
    # Only the parents' training is optional: this step cannot be skipped, even with a note.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "skip", CPD, note="pressés"))
    assert any("n'existe pas" in r for r in reasons)
    # The DANE may not advance a step that belongs to the school and the CPD.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", DANE))
    assert any("DANE" in r and "direction d'école" in r for r in reasons)
    record = roadmap.fire(SCHOOL, "advance", DIRECTOR)
    assert (record.source, record.target, record.event) == ("definition", "funding", "advance")

    # Funding: the three required items are named, the optional conformity opinion is not. The CPD may fill it.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", CPD))
    assert len(reasons) == len(FUNDING_REQUIRED)
    for label in FUNDING_REQUIRED.values():
        assert any(label in r for r in reasons), label
    assert not any(CONFORMITY_LABEL in r for r in reasons)
    roadmap.check(SCHOOL, "presented_to_collectivite", "20/09/2026", CPD)
    roadmap.check(SCHOOL, "funding_agreement", "oui", CPD)
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", CPD))
    assert len(reasons) == 1 and FUNDING_REQUIRED["contract_signed"] in reasons[0]
    roadmap.check(SCHOOL, "contract_signed", None, CPD)  # a bool without a value means "done"
    roadmap.fire(SCHOOL, "advance", CPD)
    assert state_of(roadmap, SCHOOL) == "school_council"
    assert moves(roadmap, SCHOOL)[-2:] == [(DIRECTOR, "director", "advance", "definition", "funding"),
                                          (CPD, "cpd", "advance", "funding", "school_council")]


# --------------------------------------------------------------------------------------- step 3: the council


def test_school_council_date_minutes_and_ien_approval(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    walk_to_school_council(roadmap)

    # Only the school fills the council step.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "reasons_presented", "oui", CPD))
    assert any("CPD numérique" in r and "ne permet pas" in r for r in reasons)

    fill(roadmap, SCHOOL, {**COUNCIL_ITEMS, "council_date": FUTURE_COUNCIL}, DIRECTOR)
    # Minutes missing: named; the optional individual information of the families is not.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", DIRECTOR))
    assert any(MINUTES_LABEL in r for r in reasons)
    assert not any(FAMILIES_LABEL in r for r in reasons)
    # A path is not an upload; an empty upload is refused; nothing stored.
    error = refused(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "minutes", str(tmp_path / "absent.pdf"),
                                                           DIRECTOR), InvalidValue)
    assert "document à joindre" in str(error)
    error = refused(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "minutes", None, DIRECTOR,
                                                           upload=Upload("cr.pdf", b"")), InvalidValue)
    assert "vide" in str(error)
    roadmap.check(SCHOOL, "minutes", None, DIRECTOR, upload=read_upload(minutes_file(tmp_path)))

    # A council that has not met yet blocks the submission: the only reason is about its date.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", DIRECTOR))
    assert len(reasons) == 1
    assert FUTURE_COUNCIL in reasons[0] and "pas encore eu lieu" in reasons[0]
    assert "advance" not in detail_json(roadmap, SCHOOL)["allowed_events"]
    # The IEN cannot submit for the school either.
    assert any("IEN" in r for r in reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", IEN)))

    # "Not future" is judged on the Paris calendar: at 23:30 UTC on the 23rd it is already the 24th in Paris.
    late_evening = make_roadmap(settings, now=datetime(2026, 11, 23, 23, 30, tzinfo=UTC))
    assert "advance" in detail_json(late_evening, SCHOOL)["allowed_events"]
    # With the fixed clock, a council held today is fine.
    roadmap.check(SCHOOL, "council_date", "23/11/2026", DIRECTOR)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    assert state_of(roadmap, SCHOOL) == "school_council.awaiting_approval"

    # While the IEN has the minutes, the checklist is frozen (even its optional item) and cannot be resubmitted.
    for item, value in [("council_date", "20/11/2026"), ("families_informed_individually", "10/11/2026")]:
        reasons = reasons_of(roadmap, SCHOOL, partial(roadmap.check, SCHOOL, item, value, DIRECTOR))
        assert any("attend une validation" in r for r in reasons)
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "council_date", None, DIRECTOR, clear=True))
    assert any("attend une validation" in r for r in reasons)
    assert any("n'existe pas" in r for r in reasons_of(roadmap, SCHOOL,
                                                        lambda: roadmap.fire(SCHOOL, "advance", DIRECTOR)))

    # The director cannot approve their own minutes; the CPD neither.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "approve", DIRECTOR))
    assert any("direction d'école" in r and "IEN de circonscription" in r for r in reasons)
    assert reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "approve", CPD))
    # The IEN of another circonscription cannot approve: the reason names both circonscriptions.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "approve", OTHER_IEN))
    assert any(OTHER_CIRCO in r and SCHOOL_CIRCO in r and SCHOOL in r for r in reasons)
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "request_changes", OTHER_IEN,
                                                               note="Il manque la mention RGPD"))
    assert any(OTHER_CIRCO in r for r in reasons)

    # Asking for changes needs a note saying what to change.
    for note in (None, "", "   "):
        reasons = reasons_of(roadmap, SCHOOL, partial(roadmap.fire, SCHOOL, "request_changes", IEN, note=note))
        assert any("note" in r for r in reasons)
    note = "Le compte rendu ne mentionne pas le droit de rectification."
    roadmap.fire(SCHOOL, "request_changes", IEN, note=note)
    detail = detail_json(roadmap, SCHOOL)
    assert detail["state"] == "school_council"
    assert detail["history"][-1]["note"] == note
    # What was filled is still there; the director fixes it and resubmits.
    values = {item["id"]: item["value"] for item in detail["checklist"]}
    assert values["council_date"] == "2026-11-23" and values["minutes"]["name"] == minutes_file(tmp_path).name
    fixed = tmp_path / "compte-rendu-corrige.pdf"
    fixed.write_bytes(b"%PDF-1.4 compte rendu corrige, droit de rectification\n")
    roadmap.check(SCHOOL, "minutes", None, DIRECTOR, upload=read_upload(fixed))
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    roadmap.fire(SCHOOL, "approve", IEN)
    assert state_of(roadmap, SCHOOL) == "transmission"
    assert moves(roadmap, SCHOOL)[-4:] == [
        (DIRECTOR, "director", "advance", "school_council", "school_council.awaiting_approval"),
        (IEN, "ien", "request_changes", "school_council.awaiting_approval", "school_council"),
        (DIRECTOR, "director", "advance", "school_council", "school_council.awaiting_approval"),
        (IEN, "ien", "approve", "school_council.awaiting_approval", "transmission"),
    ]


# ---------------------------------------------------------------------------------- step 4: the transmission


def test_transmission_needs_a_named_director_in_the_account_row(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path, named_director=False)
    # The school's functional mailbox is its director for the tool (imported from the annuaire)...
    walk_to_transmission(roadmap, tmp_path, director=SCHOOL_MAILBOX)
    assert state_of(roadmap, SCHOOL) == "transmission"

    # ...but the account table needs a person's name in the "Responsable" column.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", SCHOOL_MAILBOX))
    assert any("Ligne du tableau relue" in r for r in reasons)
    assert any("Tableau transmis à l'IEN" in r for r in reasons)
    fill(roadmap, SCHOOL, TRANSMISSION_ITEMS, SCHOOL_MAILBOX)
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", CPD))
    assert len(reasons) == 2 and "voie manuelle sans objet" in reasons[1], reasons  # the other route's guard
    reasons = reasons[:1]  # every other column comes from the annuaire and the checklists
    assert "« Responsable »" in reasons[0] and f"école {SCHOOL} comme personne habilitée (rôle direction" in reasons[0]
    assert detail_json(roadmap, SCHOOL)["blockers"]["advance"] == reasons

    roadmap.add_person(DIRECTOR, "director", SCHOOL, "Claire Martin", by=ADMIN_EMAIL)
    roadmap.fire(SCHOOL, "advance", SCHOOL_MAILBOX)
    assert state_of(roadmap, SCHOOL) == "transmission.submitted"
    # Submitted: the checklist is frozen while the CPD routes the table.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "row_checked", "non", DIRECTOR))
    assert any("attend une validation" in r for r in reasons)


def test_first_table_of_each_departement_goes_through_the_dane(settings: Settings, tmp_path: Path) -> None:
    roadmap = make_roadmap(settings)
    roadmap.import_annuaire(ILLE_ET_VILAINE, by=ADMIN_EMAIL)
    report = roadmap.import_annuaire(outside_extract(tmp_path), by=ADMIN_EMAIL)
    assert report.schools_created == 2 and report.without_circonscription == [SCHOOL_94]
    add_people(roadmap)
    roadmap.add_person(OTHER_DIRECTOR, "director", OTHER_SCHOOL, "Yann Guillou", by=ADMIN_EMAIL)
    roadmap.add_person(DIRECTOR_22, "director", SCHOOL_22, "Morgane Le Bihan", by=ADMIN_EMAIL)
    roadmap.add_person(CPD_22, "cpd", "22", "Erwan Tanguy", by=ADMIN_EMAIL)
    roadmap.add_person(DANE_CRETEIL, "dane", "24", "Sophie Martin", by=ADMIN_EMAIL)

    walk_to_transmission(roadmap, tmp_path)
    fill(roadmap, SCHOOL, TRANSMISSION_ITEMS, DIRECTOR)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    assert state_of(roadmap, SCHOOL) == "transmission.submitted"

    # The school cannot be sent on by hand: the département's table moves it (and picks where it goes).
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "send_table", CPD))
    assert any("tableau du département" in r and "roadmap transmission" in r for r in reasons)
    assert "send_table" not in detail_json(roadmap, SCHOOL)["allowed_events"]
    assert reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "approve", DANE))  # the old per-school route

    # The first table of Ille-et-Vilaine goes to the DANE; only the CPD of the département composes and sends it.
    tables = roadmap.transmissions
    with pytest.raises(AdministrationRefused, match="CPD du département 035"):
        tables.compose("035", by=CPD_22)
    first = tables.compose("035", by=CPD)
    assert [row.uai for row in first.rows] == [SCHOOL] and (first.route, first.status) == ("dane", "draft")
    sent = tables.send(first.id, by=CPD)
    assert (sent.status, sent.to, sent.cc) == ("sent", DANE, ())
    assert state_of(roadmap, SCHOOL) == "transmission.awaiting_dane"
    with pytest.raises(AdministrationRefused, match="déjà envoyé"):
        tables.send(first.id, by=CPD)
    # A DANE of another académie cannot validate it, nor the CPD; nor can one school be validated alone.
    with pytest.raises(AdministrationRefused, match="académie 14") as other:
        tables.approve(first.id, by=DANE_CRETEIL)
    assert "(24)" in str(other.value)
    with pytest.raises(AdministrationRefused, match="seule la DANE"):
        tables.approve(first.id, by=CPD)
    assert reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "validate_table", DANE))
    # The DANE sends the table back with a note; the school corrects and resubmits; the next table goes to the
    # DANE again (none of the département's tables is validated yet).
    with pytest.raises(InvalidValue, match="raison du renvoi"):
        tables.return_(first.id, by=DANE, note="  ")
    returned = tables.return_(first.id, by=DANE, note="Le numéro de téléphone est à vérifier.")
    assert (returned.status, returned.note) == ("returned", "Le numéro de téléphone est à vérifier.")
    assert state_of(roadmap, SCHOOL) == "transmission"
    assert moves(roadmap, SCHOOL)[-1] == (DANE, "dane", "return_table", "transmission.awaiting_dane", "transmission")
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    second = tables.compose("035", by=CPD)
    assert (second.number, second.route) == (2, "dane")
    tables.send(second.id, by=CPD)
    assert tables.approve(second.id, by=DANE).status == "validated"
    assert state_of(roadmap, SCHOOL) == "transmission.at_dsi"

    # Later tables of the same département go to the DSI, the DANE in copy.
    walk_to_transmission(roadmap, tmp_path, uai=OTHER_SCHOOL, director=OTHER_DIRECTOR, ien=OTHER_IEN)
    fill(roadmap, OTHER_SCHOOL, TRANSMISSION_ITEMS, OTHER_DIRECTOR)
    roadmap.fire(OTHER_SCHOOL, "advance", OTHER_DIRECTOR)
    third = tables.compose("035", by=CPD)
    assert [row.uai for row in third.rows] == [OTHER_SCHOOL] and third.route == "dsi"
    later = tables.send(third.id, by=CPD)
    assert (later.to, later.cc) == ("dsi.creation-comptes@ac-rennes.fr", (DANE,))
    assert moves(roadmap, OTHER_SCHOOL)[-1] == (CPD, "cpd", "send_table", "transmission.submitted",
                                                 "transmission.at_dsi")
    with pytest.raises(AdministrationRefused, match="parti à la DSI"):
        tables.approve(third.id, by=DANE)

    # Côtes-d'Armor has its own first table: its CPD sends it to the DANE, Ille-et-Vilaine's CPD has no say.
    walk_to_transmission(roadmap, tmp_path, uai=SCHOOL_22, director=DIRECTOR_22, ien=IEN_22)
    fill(roadmap, SCHOOL_22, TRANSMISSION_ITEMS, DIRECTOR_22)
    roadmap.fire(SCHOOL_22, "advance", DIRECTOR_22)
    with pytest.raises(AdministrationRefused, match="CPD du département 022"):
        tables.compose("022", by=CPD)
    table_22 = tables.compose("22", by=CPD_22)
    assert tables.send(table_22.id, by=CPD_22).route == "dane"
    tables.approve(table_22.id, by=DANE)
    assert moves(roadmap, SCHOOL_22)[-1] == (DANE, "dane", "validate_table", "transmission.awaiting_dane",
                                             "transmission.at_dsi")


# ------------------------------------------------------------------------------------ step 8: parents' training


def test_parent_training_can_be_skipped_only_with_a_note(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    walk_to_parent_training(roadmap, tmp_path)
    assert state_of(roadmap, SCHOOL) == "parent_training"

    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", DIRECTOR))
    assert len(reasons) == 1 and PARENT_SESSION_LABEL in reasons[0]
    for note in (None, "", "  \n "):
        reasons = reasons_of(roadmap, SCHOOL, partial(roadmap.fire, SCHOOL, "skip", DIRECTOR, note=note))
        assert any("note" in r for r in reasons)
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "skip", IEN, note="pas de réunion"))
    assert any("IEN" in r for r in reasons)
    roadmap.fire(SCHOOL, "skip", CPD, note="  Pas de réunion possible cette année  ")
    detail = detail_json(roadmap, SCHOOL)
    assert detail["state"] == "deployed" and detail["allowed_events"] == []
    assert detail["history"][-1]["note"] == "Pas de réunion possible cette année"
    assert moves(roadmap, SCHOOL)[-1] == (CPD, "cpd", "skip", "parent_training", "deployed")


def test_parent_training_advances_when_the_session_took_place(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    walk_to_parent_training(roadmap, tmp_path)
    roadmap.check(SCHOOL, "parent_session_date", "21/11/2026", DIRECTOR)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    assert state_of(roadmap, SCHOOL) == "deployed"
    # Deployed is final: nothing more can happen.
    for event in ALL_EVENTS:
        reasons = reasons_of(roadmap, SCHOOL, partial(roadmap.fire, SCHOOL, event, CPD, note="encore"))
        assert any("terminé" in r for r in reasons), event


# ----------------------------------------------------------------------------------- suspend, resume, abandon


def test_suspend_then_resume_returns_exactly_where_the_school_was(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    roadmap.check(SCHOOL, "features", "blog", DIRECTOR)

    # Suspending needs a note, and a role that may suspend.
    assert any("note" in r for r in reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "suspend", DIRECTOR)))
    assert any("IEN" in r for r in reasons_of(roadmap, SCHOOL,
                                                lambda: roadmap.fire(SCHOOL, "suspend", IEN, note="attente")))
    roadmap.fire(SCHOOL, "suspend", DIRECTOR, note="Changement de municipalité, projet en attente")
    detail = detail_json(roadmap, SCHOOL)
    assert (detail["state"], detail["held_from"], detail["step"]) == ("suspended", "definition", "suspended")
    assert set(detail["allowed_events"]) == {"resume", "abandon"}
    assert {i["id"]: i["value"] for i in detail["checklist"]}["features"] == "blog"  # the held step's list
    # While suspended, nothing but resume or abandon.
    reasons = reasons_of(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "admin_tools", "oui", DIRECTOR))
    assert any("étape en cours" in r for r in reasons)
    for event in ("advance", "suspend", "approve", "skip"):
        reasons_of(roadmap, SCHOOL, partial(roadmap.fire, SCHOOL, event, DIRECTOR, note="essai"))
    assert any("IEN" in r for r in reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "resume", IEN)))
    roadmap.fire(SCHOOL, "resume", DANE)
    detail = detail_json(roadmap, SCHOOL)
    assert (detail["state"], detail["held_from"]) == ("definition", None)
    assert {i["id"]: i["value"] for i in detail["checklist"]}["features"] == "blog"

    # From a waiting sub-state: back to exactly that sub-state.
    submit_council(roadmap, tmp_path, SCHOOL, DIRECTOR)
    roadmap.fire(SCHOOL, "suspend", CPD, note="Conseil d'école à reprogrammer")
    assert snapshot(roadmap, SCHOOL)[:2] == ("suspended", "school_council.awaiting_approval")
    reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "approve", IEN))
    roadmap.fire(SCHOOL, "resume", DIRECTOR)
    assert snapshot(roadmap, SCHOOL)[:2] == ("school_council.awaiting_approval", None)
    roadmap.fire(SCHOOL, "approve", IEN)

    # And from the transmission's waiting sub-state.
    fill(roadmap, SCHOOL, TRANSMISSION_ITEMS, DIRECTOR)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    roadmap.fire(SCHOOL, "suspend", DANE, note="Tableau à revoir avec la DSI")
    assert snapshot(roadmap, SCHOOL)[:2] == ("suspended", "transmission.submitted")
    roadmap.fire(SCHOOL, "resume", CPD)
    assert snapshot(roadmap, SCHOOL)[:2] == ("transmission.submitted", None)

    suspensions = [(m[2], m[3], m[4]) for m in moves(roadmap, SCHOOL) if m[2] in ("suspend", "resume")]
    assert suspensions == [
        ("suspend", "definition", "suspended"), ("resume", "suspended", "definition"),
        ("suspend", "school_council.awaiting_approval", "suspended"),
        ("resume", "suspended", "school_council.awaiting_approval"),
        ("suspend", "transmission.submitted", "suspended"), ("resume", "suspended", "transmission.submitted"),
    ]
    notes = [h["note"] for h in detail_json(roadmap, SCHOOL)["history"] if h["event"] == "suspend"]
    assert notes == ["Changement de municipalité, projet en attente", "Conseil d'école à reprogrammer",
                     "Tableau à revoir avec la DSI"]


def test_abandon_is_final(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    roadmap.check(SCHOOL, "features", "blog", DIRECTOR)

    assert any("direction d'école" in r for r in reasons_of(
        roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "abandon", DIRECTOR, note="on arrête")))
    assert any("note" in r for r in reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "abandon", CPD)))
    roadmap.fire(SCHOOL, "abandon", CPD, note="La commune renonce au projet")
    detail = detail_json(roadmap, SCHOOL)
    assert (detail["state"], detail["step"], detail["allowed_events"]) == ("abandoned", "abandoned", [])
    assert detail["history"][-1]["note"] == "La commune renonce au projet"
    for event in ALL_EVENTS:
        reasons = reasons_of(roadmap, SCHOOL, partial(roadmap.fire, SCHOOL, event, DANE, note="reprise"))
        assert any("terminé" in r for r in reasons), event
    reasons_of(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "admin_tools", "oui", DIRECTOR))

    # Abandoning a suspended school is final too: it cannot be resumed.
    roadmap.fire(OTHER_SCHOOL, "suspend", OTHER_DIRECTOR, note="En attente de la commune")
    roadmap.fire(OTHER_SCHOOL, "abandon", DANE, note="Projet abandonné par la commune")
    assert snapshot(roadmap, OTHER_SCHOOL)[:2] == ("abandoned", None)
    assert any("terminé" in r for r in reasons_of(roadmap, OTHER_SCHOOL,
                                                  lambda: roadmap.fire(OTHER_SCHOOL, "resume", DANE)))
    assert detail_json(roadmap, OTHER_SCHOOL)["allowed_events"] == []


# ----------------------------------------------------------------------------------------- refused attempts


def test_refused_attempts_are_recorded_with_their_reasons(settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)

    reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", DIRECTOR))
    reasons_of(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "features", "blog", IEN))
    reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "approve", OTHER_IEN))
    assert "action inconnue." in reasons_of(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "valider", DIRECTOR))
    error = refused(roadmap, SCHOOL, lambda: roadmap.fire(SCHOOL, "advance", f"  {UNKNOWN.upper()} "), NotFound)
    assert UNKNOWN in str(error) and error.remedy == "add_person" and "roadmap" not in str(error)
    assert isinstance(error, RoadmapError)
    refused(roadmap, SCHOOL, lambda: roadmap.check(SCHOOL, "features", "blog", UNKNOWN), NotFound)
    reasons_of(roadmap, OTHER_SCHOOL, lambda: roadmap.fire(OTHER_SCHOOL, "suspend", DIRECTOR, note="pas mon école"))

    with roadmap.session() as session:
        attempts = roadmap.engine.refusals(session, SCHOOL)
        others = roadmap.engine.refusals(session, OTHER_SCHOOL)
    assert [(a.actor, a.role, a.event, a.state) for a in attempts] == [
        (DIRECTOR, "director", "advance", "definition"),
        (IEN, "ien", "check", "definition"),
        (OTHER_IEN, "ien", "approve", "definition"),
        (DIRECTOR, "director", "valider", "definition"),
        (UNKNOWN, "inconnu", "advance", "definition"),
        (UNKNOWN, "inconnu", "check", "definition"),
    ]
    assert all(a.reasons and a.subject == SCHOOL for a in attempts)
    assert any(DEFINITION_REQUIRED["features"] in r for r in attempts[0].reasons)
    assert any("IEN" in r for r in attempts[1].reasons)
    assert all("inconnue" in r for a in attempts[4:] for r in a.reasons)
    assert [(a.actor, a.event) for a in others] == [(DIRECTOR, "suspend")]
    assert any(SCHOOL in r and OTHER_SCHOOL in r for r in others[0].reasons)
    # Nothing moved.
    assert snapshot(roadmap, SCHOOL)[:3] == ("definition", None, 1)


# ------------------------------------------------------------------------------------------- the school view


def test_school_detail_shows_the_step_checklist_territory_history_and_allowed_events(
        settings: Settings, tmp_path: Path) -> None:
    roadmap = small_roadmap(settings, tmp_path)
    roadmap.check(SCHOOL, "ent", "Beneylu School", DIRECTOR)
    roadmap.check(SCHOOL, "sdet_framework", "oui", DIRECTOR)

    detail = detail_json(roadmap, SCHOOL.lower())
    assert detail["uai"] == SCHOOL
    assert detail["name"] == "Ecole primaire publique les Lucioles"
    assert (detail["step"], detail["state"], detail["step_number"], detail["steps_total"]) == (
        "definition", "definition", 1, 8)
    items = {item["id"]: item for item in detail["checklist"]}
    assert [item["id"] for item in detail["checklist"]] == [
        "teachers_council_date", "features", "ent", "sdet_framework", "secondary_interoperability",
        "reversibility", "editor_support", "admin_tools", "extra_clauses"]
    for item in detail["checklist"]:
        assert set(item) >= {"id", "label", "type", "required", "choices", "value", "done"}
        if item["id"] in DEFINITION_REQUIRED:
            assert item["label"] == DEFINITION_REQUIRED[item["id"]] and item["required"] is True
    assert items["ent"] == {"id": "ent", "label": DEFINITION_REQUIRED["ent"], "type": "choice", "required": True,
                            "choices": COMPLIANT_ENTS, "value": "Beneylu School", "value_text": "Beneylu School",
                            "done": True}
    assert (items["sdet_framework"]["type"], items["sdet_framework"]["value"], items["sdet_framework"]["done"]) == (
        "bool", True, True)
    assert (items["teachers_council_date"]["type"], items["teachers_council_date"]["value"],
            items["teachers_council_date"]["done"]) == ("date", None, False)
    assert items["extra_clauses"]["required"] is False and items["extra_clauses"]["done"] is False
    assert items["features"]["choices"] == []
    assert detail["circonscription"]["uai"] == SCHOOL_CIRCO
    assert detail["circonscription"]["name"] == "Circonscription d'inspection du 1er degré de Bruz"
    assert (detail["departement"]["code"], detail["departement"]["name"]) == ("035", "Ille-et-Vilaine")
    assert (detail["academie"]["code"], detail["academie"]["name"]) == ("14", "Rennes")
    assert [(h["actor"], h["event"], h["source"], h["target"]) for h in detail["history"]] == [
        (ADMIN_EMAIL, "start", None, "definition"),
        (DIRECTOR, "check", "definition", "definition"),
        (DIRECTOR, "check", "definition", "definition"),
    ]
    for entry in detail["history"]:
        assert set(entry) >= {"at", "actor", "event", "source", "target", "note"} and entry["at"] == NOW
    assert detail["history"][2]["data"] == {"step": "definition", "item": "sdet_framework", "value": True}
    # Incomplete: advancing is not offered, only what needs no data.
    assert set(detail["allowed_events"]) == {"suspend", "abandon"}
    assert "advance" in detail["blockers"]

    fill(roadmap, SCHOOL, DEFINITION_ITEMS, DIRECTOR)
    assert set(detail_json(roadmap, SCHOOL)["allowed_events"]) == {"advance", "suspend", "abandon"}

    # Awaiting the IEN: the council's checklist is shown, with the IEN's events offered.
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    fill(roadmap, SCHOOL, FUNDING_ITEMS, DIRECTOR)
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    fill(roadmap, SCHOOL, COUNCIL_ITEMS, DIRECTOR)
    roadmap.check(SCHOOL, "minutes", None, DIRECTOR, upload=read_upload(minutes_file(tmp_path)))
    roadmap.fire(SCHOOL, "advance", DIRECTOR)
    detail = detail_json(roadmap, SCHOOL)
    assert (detail["step"], detail["state"], detail["step_number"]) == (
        "school_council", "school_council.awaiting_approval", 3)
    items = {item["id"]: item for item in detail["checklist"]}
    assert items["council_date"]["value"] == "2026-11-06" and items["council_date"]["done"] is True
    assert items["minutes"]["type"] == "file" and items["minutes"]["done"] is True
    assert set(detail["allowed_events"]) == {"approve", "request_changes", "suspend", "abandon"}
    assert detail["history"][-1]["event"] == "advance"
    assert detail["version"] == len(detail["history"])

    with pytest.raises(NotFound):
        detail_json(roadmap, "0350998V")
    with pytest.raises(InvalidValue) as info:
        detail_json(roadmap, "0350122A")
    assert "lettre clé" in str(info.value)
