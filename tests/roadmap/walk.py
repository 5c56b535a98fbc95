"""A complete, lawful walk of one school through the roadmap, reused by several tests."""

from __future__ import annotations

from pathlib import Path

from roadmap.files import read_upload
from roadmap.models import School
from roadmap.service import Roadmap
from tests.factories import ADMIN_EMAIL

SCHOOL = "0350122T"  # École primaire publique les Lucioles, Baulon — circonscription de Bruz (0350739N)
SCHOOL_CIRCO = "0350739N"
OTHER_SCHOOL = "0350165P"  # Cardroc — circonscription de Saint Grégoire
DIRECTOR = "claire.martin@ac-rennes.fr"
IEN = "ce.ien35.bruz@ac-rennes.fr"  # the circonscription's mailbox, imported from the annuaire
CPD = "cpd.numerique35@ac-rennes.fr"
DANE = "dane.premier-degre@ac-rennes.fr"

DEFINITION_ITEMS = {
    "teachers_council_date": "12/09/2026",
    "features": "messagerie, blog, cahier de liaison",
    "ent": "One 1D (Open Digital Education)",
    "sdet_framework": "oui",
    "secondary_interoperability": "oui",
    "reversibility": "oui",
    "editor_support": "oui",
    "admin_tools": "oui",
}
FUNDING_ITEMS = {"presented_to_collectivite": "2026-09-20", "funding_agreement": "oui", "contract_signed": "oui"}
COUNCIL_ITEMS = {"council_date": "06/11/2026", "reasons_presented": "oui", "onde_transfer_announced": "oui",
                 "no_consent_explained": "oui", "rights_explained": "oui"}
TRANSMISSION_ITEMS = {"row_checked": "oui", "sent_to_ien": "oui"}
SETUP_ITEMS = {"configured": "oui", "delivery_date": "2026-11-15", "accepted_by_collectivite": "oui",
               "ent_address": "https://ent.exemple.fr/", "school_year": "2026-2027"}
GDPR_ITEMS = {"legal_notices_shown": "oui", "record_sent_to_dsden": "2026-11-18"}
TRAINING_ITEMS = {"technical_training_date": "2026-11-19", "usage_training_date": "2026-11-20"}


def add_people(roadmap: Roadmap, school: str = SCHOOL, director: str = DIRECTOR) -> None:
    roadmap.add_person(director, "director", school, "Claire Martin", by=ADMIN_EMAIL)
    roadmap.add_person(CPD, "cpd", "035", "Paul Le Gall", by=ADMIN_EMAIL)
    roadmap.add_person(DANE, "dane", "14", "Anne Riou", by=ADMIN_EMAIL)


def fill(roadmap: Roadmap, uai: str, items: dict[str, str], by: str) -> None:
    for item, value in items.items():
        roadmap.check(uai, item, value, by)


def minutes_file(tmp_path: Path) -> Path:
    path = tmp_path / "compte-rendu-conseil-ecole.pdf"
    path.write_bytes(b"%PDF-1.4 compte rendu du conseil d'ecole\n")
    return path


def walk_to_school_council(roadmap: Roadmap, uai: str = SCHOOL, director: str = DIRECTOR) -> None:
    """From definition to school_council (definition and funding complete)."""
    fill(roadmap, uai, DEFINITION_ITEMS, director)
    roadmap.fire(uai, "advance", director)
    fill(roadmap, uai, FUNDING_ITEMS, director)
    roadmap.fire(uai, "advance", director)


def submit_council(roadmap: Roadmap, tmp_path: Path, uai: str = SCHOOL, director: str = DIRECTOR) -> None:
    """From definition to school_council.awaiting_approval."""
    walk_to_school_council(roadmap, uai, director)
    fill(roadmap, uai, COUNCIL_ITEMS, director)
    roadmap.check(uai, "minutes", None, director, upload=read_upload(minutes_file(tmp_path)))
    roadmap.fire(uai, "advance", director)


def walk_to_transmission(roadmap: Roadmap, tmp_path: Path, uai: str = SCHOOL, director: str = DIRECTOR,
                         ien: str = IEN) -> None:
    submit_council(roadmap, tmp_path, uai, director)
    roadmap.fire(uai, "approve", ien)


def send_in_table(roadmap: Roadmap, first_in_departement: bool = True, departement: str = "035") -> int:
    """The CPD composes and sends the département's table (every school ready goes in it); the DANE validates the
    first one. Returns the batch id."""
    view = roadmap.transmissions.compose(departement, by=CPD)
    sent = roadmap.transmissions.send(view.id, by=CPD)
    assert sent.route == ("dane" if first_in_departement else "dsi")
    if sent.route == "dane":
        roadmap.transmissions.approve(view.id, by=DANE)
    return view.id


def record_agreements(roadmap: Roadmap, ent: str = DEFINITION_ITEMS["ent"], departement: str = "035") -> None:
    """Both agreements the DSI's export to the publisher needs (once per département and ENT)."""
    known = {(line.ent, line.kind) for line in roadmap.transmissions.agreements(roadmap.viewer(None), departement)}
    for kind in ("convention", "dsi_agreement"):
        if (ent, kind) not in known:
            roadmap.transmissions.add_agreement(departement, ent, kind, "2026-06-01", by=CPD)


def through_account_creation(roadmap: Roadmap, uai: str = SCHOOL, director: str = DIRECTOR) -> None:
    """From the DSI (transmission.at_dsi) to setup: the export to the publisher, then the accounts created."""
    record_agreements(roadmap)
    roadmap.fire(uai, "exported_to_publisher", CPD)
    roadmap.fire(uai, "accounts_created", director)
def hold_processing_record(roadmap: Roadmap, tmp_path: Path, uai: str = SCHOOL) -> None:
    """The publisher's processing record for the walked ENT, recorded once for the school's département."""
    record = tmp_path / "fiche-traitement.pdf"
    record.write_bytes(b"%PDF-1.4 fiche de traitement\n")
    with roadmap.session() as session:
        school = session.get(School, uai)
        assert school is not None
    roadmap.add_processing_record(school.departement_code, DEFINITION_ITEMS["ent"], read_upload(record),
                                  by=ADMIN_EMAIL)


def walk_from_transmission_to_parent_training(roadmap: Roadmap, tmp_path: Path, uai: str = SCHOOL,
                                              director: str = DIRECTOR, first_in_departement: bool = True) -> None:
    fill(roadmap, uai, TRANSMISSION_ITEMS, director)
    roadmap.fire(uai, "advance", director)
    send_in_table(roadmap, first_in_departement)
    through_account_creation(roadmap, uai, director)
    fill(roadmap, uai, SETUP_ITEMS, director)
    roadmap.fire(uai, "advance", director)
    fill(roadmap, uai, GDPR_ITEMS, director)
    hold_processing_record(roadmap, tmp_path, uai)
    roadmap.fire(uai, "advance", director)
    fill(roadmap, uai, TRAINING_ITEMS, director)
    roadmap.fire(uai, "advance", director)


def walk_from_transmission_to_deployed(roadmap: Roadmap, tmp_path: Path, uai: str = SCHOOL,
                                       director: str = DIRECTOR, first_in_departement: bool = True) -> None:
    walk_from_transmission_to_parent_training(roadmap, tmp_path, uai, director, first_in_departement)
    roadmap.fire(uai, "skip", director, note="Réunion des parents reportée à la rentrée prochaine")
