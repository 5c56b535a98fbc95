"""French wording helpers."""

from __future__ import annotations

from roadmap.french import lower_first


def test_a_label_inside_a_sentence_keeps_its_acronyms() -> None:
    assert lower_first("Compte rendu en attente d'approbation par l'IEN") == \
        "compte rendu en attente d'approbation par l'IEN"
    assert lower_first("ENT déployé") == "ENT déployé"
    assert lower_first("") == ""
