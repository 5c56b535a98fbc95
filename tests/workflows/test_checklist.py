"""Typed checklist items: coercion of user input, "done", French display."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from workflows.checklist import ChecklistItem
from workflows.errors import InvalidItemValue

ENTS = ("Beneylu School", "It's learning", "K-d'école (Kosmos)", "One 1D")
DATE_FORMAT_MESSAGE = "date attendue au format JJ/MM/AAAA ou AAAA-MM-JJ (année sur 4 chiffres)"


def bool_item(**overrides: Any) -> ChecklistItem:
    return ChecklistItem(**{"id": "signed", "label": "Convention signée", "type": "bool", **overrides})


def date_item(**overrides: Any) -> ChecklistItem:
    return ChecklistItem(**{"id": "met_on", "label": "Date de la réunion", "type": "date", **overrides})


def choice_item(**overrides: Any) -> ChecklistItem:
    return ChecklistItem(**{"id": "ent", "label": "ENT retenu", "type": "choice", "choices": ENTS,
                            **overrides})


def text_item(**overrides: Any) -> ChecklistItem:
    return ChecklistItem(**{"id": "why", "label": "Motif", "type": "text", **overrides})


def file_item(**overrides: Any) -> ChecklistItem:
    return ChecklistItem(**{"id": "minutes", "label": "Compte rendu", "type": "file", **overrides})


def stored_file(**overrides: Any) -> dict[str, Any]:
    return {"name": "compte-rendu.pdf", "sha256": "ab" * 32, "size": 2048, **overrides}


# ------------------------------------------------------------------------------------------------ bool


@pytest.mark.parametrize("raw", ["oui", "OUI", " Oui ", "o", "vrai", "true", "True", "1", "yes", "x", "fait",
                                 1, True])
def test_bool_accepts_yes_words(raw: object) -> None:
    assert bool_item().coerce(raw) is True


@pytest.mark.parametrize("raw", ["non", "NON", " Non", "n", "faux", "false", "0", "no", 0, False])
def test_bool_accepts_no_words(raw: object) -> None:
    assert bool_item().coerce(raw) is False


@pytest.mark.parametrize("raw", ["peut-être", "", "2", 2, "ouii"])
def test_bool_refuses_anything_else_with_the_item_label(raw: object) -> None:
    with pytest.raises(InvalidItemValue) as caught:
        bool_item().coerce(raw)
    assert caught.value.item_label == "Convention signée"
    assert caught.value.value == raw
    assert caught.value.reason == "répondez oui ou non"
    assert str(caught.value) == f"Valeur refusée pour « Convention signée » (« {raw} ») : répondez oui ou non"


# ------------------------------------------------------------------------------------------------ date


@pytest.mark.parametrize(("raw", "expected"), [
    ("23/11/2026", "2026-11-23"),
    ("1/2/2027", "2027-02-01"),
    (" 05/09/2026 ", "2026-09-05"),
    ("2026-11-23", "2026-11-23"),
    ("2028-02-29", "2028-02-29"),
    (date(2026, 11, 23), "2026-11-23"),
])
def test_date_accepts_french_and_iso_and_stores_iso(raw: object, expected: str) -> None:
    assert date_item().coerce(raw) == expected


def test_date_given_a_datetime_stores_the_day_only() -> None:
    # A datetime is a date: what is stored must stay a plain ISO day that display() can render.
    stored = date_item().coerce(datetime(2026, 11, 23, 10, 30))
    assert stored == "2026-11-23"
    assert date_item().display(stored) == "23/11/2026"


@pytest.mark.parametrize("raw", ["23/11", "demain", "", "23-11-2026", "aa/bb/cccc"])
def test_invalid_date_explains_the_expected_formats(raw: str) -> None:
    with pytest.raises(InvalidItemValue) as caught:
        date_item().coerce(raw)
    assert caught.value.reason == DATE_FORMAT_MESSAGE
    assert "« Date de la réunion »" in str(caught.value)
    assert f"« {raw} »" in str(caught.value)


@pytest.mark.parametrize("raw", ["31/02/2026", "29/02/2027", "2026-13-01"])
def test_impossible_date_is_named_as_such(raw: str) -> None:
    with pytest.raises(InvalidItemValue) as caught:
        date_item().coerce(raw)
    assert caught.value.reason == "cette date n'existe pas dans le calendrier"
    assert f"« {raw} »" in str(caught.value)


def test_two_digit_year_is_not_stored_as_year_26() -> None:
    # "JJ/MM/AAAA" asks for four digits: "23/11/26" must be refused, or read as 2026 — never year 0026.
    try:
        stored = date_item().coerce("23/11/26")
    except InvalidItemValue as error:
        assert error.reason == DATE_FORMAT_MESSAGE
    else:
        assert stored == "2026-11-23"


# ---------------------------------------------------------------------------------------------- choice


@pytest.mark.parametrize(("raw", "expected"), [
    ("Beneylu School", "Beneylu School"),
    ("beneylu school", "Beneylu School"),
    ("  BENEYLU SCHOOL ", "Beneylu School"),
    ("k-d'ecole (kosmos)", "K-d'école (Kosmos)"),
    ("K-D’ÉCOLE (KOSMOS)", "K-d'école (Kosmos)"),
    ("it’s learning", "It's learning"),
    ("one 1d", "One 1D"),
])
def test_choice_matches_ignoring_case_accents_and_apostrophes_and_returns_the_canonical_choice(
        raw: str, expected: str) -> None:
    assert choice_item().coerce(raw) == expected


def test_unknown_choice_lists_every_choice() -> None:
    with pytest.raises(InvalidItemValue) as caught:
        choice_item().coerce("Moodle")
    assert caught.value.reason == (
        "choisissez parmi : « Beneylu School », « It's learning », « K-d'école (Kosmos) », « One 1D »")
    assert "« ENT retenu »" in str(caught.value)
    assert "« Moodle »" in str(caught.value)


def test_a_prefix_of_a_choice_is_not_a_match() -> None:
    with pytest.raises(InvalidItemValue):
        choice_item().coerce("Beneylu")


# ------------------------------------------------------------------------------------------------ text


def test_text_is_stripped() -> None:
    assert text_item().coerce("  budget voté en conseil  ") == "budget voté en conseil"


@pytest.mark.parametrize("raw", ["", "   ", "\n\t"])
def test_empty_text_is_refused(raw: str) -> None:
    with pytest.raises(InvalidItemValue) as caught:
        text_item().coerce(raw)
    assert caught.value.reason == "le texte est vide"
    assert "« Motif »" in str(caught.value)


# ------------------------------------------------------------------------------------------------ file


def test_file_accepts_a_stored_file_mapping_and_copies_it() -> None:
    raw = stored_file()
    stored = file_item().coerce(raw)
    assert stored == raw
    assert stored is not raw
    assert isinstance(stored, dict)


@pytest.mark.parametrize("raw", [
    "compte-rendu.pdf",
    {"name": "compte-rendu.pdf"},
    {"sha256": "ab" * 32},
    {"name": "", "sha256": "ab" * 32},
    {"name": "compte-rendu.pdf", "sha256": ""},
    ["compte-rendu.pdf"],
])
def test_file_refuses_anything_but_a_stored_file(raw: object) -> None:
    with pytest.raises(InvalidItemValue) as caught:
        file_item().coerce(raw)
    assert caught.value.reason == "un fichier enregistré est attendu"
    assert "« Compte rendu »" in str(caught.value)


# --------------------------------------------------------------------------------------------- is_done


@pytest.mark.parametrize(("item", "value", "done"), [
    (bool_item(), True, True),
    (bool_item(), False, False),
    (bool_item(), None, False),
    (bool_item(), "oui", False),  # only the stored True counts
    (date_item(), "2026-11-23", True),
    (date_item(), None, False),
    (choice_item(), "One 1D", True),
    (choice_item(), None, False),
    (text_item(), "motif", True),
    (text_item(), "", False),
    (text_item(), None, False),
    (file_item(), stored_file(), True),
    (file_item(), {}, False),
    (file_item(), None, False),
])
def test_is_done(item: ChecklistItem, value: Any, done: bool) -> None:
    assert item.is_done(value) is done


def test_is_done_agrees_with_coerce() -> None:
    assert bool_item().is_done(bool_item().coerce("oui"))
    assert not bool_item().is_done(bool_item().coerce("non"))
    assert date_item().is_done(date_item().coerce("23/11/2026"))
    assert choice_item().is_done(choice_item().coerce("one 1d"))
    assert text_item().is_done(text_item().coerce(" x "))
    assert file_item().is_done(file_item().coerce(stored_file()))


# --------------------------------------------------------------------------------------------- display


@pytest.mark.parametrize(("item", "value", "shown"), [
    (bool_item(), True, "oui"),
    (bool_item(), False, "non"),
    (date_item(), "2026-11-23", "23/11/2026"),
    (date_item(), "2027-02-01", "01/02/2027"),
    (choice_item(), "K-d'école (Kosmos)", "K-d'école (Kosmos)"),
    (text_item(), "motif", "motif"),
    (file_item(), stored_file(), "compte-rendu.pdf (2048 octets)"),
    (file_item(), {"name": "cr.pdf", "sha256": "cd" * 32}, "cr.pdf (? octets)"),
])
def test_display_in_french(item: ChecklistItem, value: Any, shown: str) -> None:
    assert item.display(value) == shown


@pytest.mark.parametrize("item", [bool_item(), date_item(), choice_item(), text_item(), file_item()])
def test_display_of_a_missing_value_is_a_dash(item: ChecklistItem) -> None:
    assert item.display(None) == "—"


def test_display_round_trips_a_french_date() -> None:
    item = date_item()
    assert item.display(item.coerce("05/09/2026")) == "05/09/2026"
