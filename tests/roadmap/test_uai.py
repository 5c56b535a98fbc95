from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roadmap.uai import UAI_KEY_LETTERS, is_valid_uai, normalize_uai, uai_key, uai_problem

seven_digits = st.text(alphabet="0123456789", min_size=7, max_size=7)


def test_key_letters_are_the_alphabet_without_i_o_q() -> None:
    assert len(UAI_KEY_LETTERS) == 23
    assert set("IOQ").isdisjoint(UAI_KEY_LETTERS)


@pytest.mark.parametrize("uai", ["0350122T", "0940176F", "0940927X", "0350741R"])
def test_real_uais_are_valid(uai: str) -> None:
    assert uai_problem(uai) is None
    assert is_valid_uai(uai)


def test_uai_key_examples() -> None:
    assert uai_key("0350122") == "T"
    assert uai_key("0940176") == "F"
    assert uai_key("0000000") == "A"


@pytest.mark.parametrize("digits", ["035012", "03501222", "035012A", " 0350122", "０３５０１２２"])
def test_uai_key_rejects_anything_but_seven_ascii_digits(digits: str) -> None:
    with pytest.raises(ValueError):
        uai_key(digits)


def test_wrong_key_letter_names_the_expected_one() -> None:
    assert uai_problem("0350122X") == "la lettre clé devrait être T (0350122T)"
    assert not is_valid_uai("0350122X")


@pytest.mark.parametrize("value", ["035012T", "03501222T", "A350122T", "0350122TT", "0350-122T"])
def test_wrong_length_or_shape(value: str) -> None:
    problem = uai_problem(value)
    assert problem is not None
    assert "7 chiffres suivis d'une lettre" in problem
    assert not is_valid_uai(value)


def test_missing_key_letter_suggests_the_full_uai() -> None:
    problem = uai_problem("0350122")
    assert problem is not None
    assert "0350122T" in problem


def test_empty_value() -> None:
    problem = uai_problem("  ")
    assert problem is not None
    assert "vide" in problem


def test_lower_case_and_spaces_are_normalised() -> None:
    assert normalize_uai(" 0350122t ") == "0350122T"
    assert normalize_uai("035 0122\u00a0t") == "0350122T"
    assert is_valid_uai("0350122t")
    assert is_valid_uai(" 0940176 f ")


@given(seven_digits)
def test_uai_key_makes_every_seven_digit_string_valid(digits: str) -> None:
    assert is_valid_uai(digits + uai_key(digits))
    assert is_valid_uai((digits + uai_key(digits)).lower())


@given(seven_digits, st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
def test_any_other_letter_is_rejected(digits: str, letter: str) -> None:
    assert is_valid_uai(digits + letter) == (letter == uai_key(digits))
