"""Definitions as data: the real roadmaps load, toy definitions load, and every invalid definition is refused
with a message naming the file, the offending element and (when it can be found) the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadmap.guards import roadmap_guards
from roadmap.roles import ROLE_LABELS
from roadmap.service import load_roadmaps
from workflows.definition import (
    ANY_STATE,
    RETURN,
    Definition,
    GuardParam,
    build_definition,
    load_definition_file,
    load_definitions,
)
from workflows.errors import DefinitionError

ROADMAPS = Path(__file__).resolve().parents[2] / "data" / "roadmaps"
NATIONAL_STEPS = ["definition", "funding", "school_council", "transmission", "setup", "gdpr_information",
                  "teacher_training", "parent_training"]

TOY_GUARDS = ("checklist_complete", "budget_available")
TOY_ROLES = {"clerk": "agent", "manager": "responsable"}

PURCHASE = '''\
id = "purchase"
label = "Demande d'achat"
version = 2
initial = "draft"

[events]
advance = "Valider l'étape"
submit = "Soumettre au responsable"
approve = "Approuver"
reject = "Renvoyer pour correction"
pause = "Mettre en pause"
resume = "Reprendre"
cancel = "Annuler"

[[steps]]
id = "draft"
label = "Rédaction"
roles = ["clerk"]

  [[steps.checklist]]
  id = "supplier"
  type = "choice"
  label = "Fournisseur"
  choices = ["Bureau Vallée", "Lyreco"]

  [[steps.checklist]]
  id = "needed_by"
  type = "date"
  label = "Date de besoin"

  [[steps.checklist]]
  id = "comment"
  type = "text"
  label = "Commentaire"
  required = false

[[steps]]
id = "review"
label = "Examen"
roles = ["clerk", "manager"]

  [[steps.checklist]]
  id = "quote"
  type = "file"
  label = "Devis"

  [[steps.checklist]]
  id = "budget_line"
  type = "bool"
  label = "Ligne budgétaire identifiée"

  [[steps.waiting]]
  id = "pending"
  label = "En attente de la décision du responsable"
  waiting_for = "manager"

[[states]]
id = "done"
label = "Commande passée"
final = true

[[states]]
id = "paused"
label = "En pause"
hold = true

[[states]]
id = "cancelled"
label = "Annulée"
final = true

[[transitions]]
event = "advance"
from = "draft"
to = "review"
roles = ["clerk"]
guards = ["checklist_complete"]

[[transitions]]
event = "submit"
from = "review"
to = "review.pending"
roles = ["clerk"]
guards = ["checklist_complete", "budget_available"]

[[transitions]]
event = "approve"
from = "review.pending"
to = "done"
roles = ["manager"]

[[transitions]]
event = "reject"
from = "review.pending"
to = "review"
roles = ["manager"]
note_required = true

[[transitions]]
event = "pause"
from = "*"
to = "paused"
roles = ["clerk", "manager"]
note_required = true

[[transitions]]
event = "resume"
from = "paused"
to = "@return"
roles = ["clerk", "manager"]

[[transitions]]
event = "cancel"
from = "*"
to = "cancelled"
roles = ["manager"]
note_required = true
'''

VARIANT = '''\
id = "purchase_it"
extends = "purchase"
label = "Demande d'achat informatique"

[applies_to]
services = ["dsi"]

[[checklist]]
step = "draft"
id = "inventory_number"
type = "text"
label = "Numéro d'inventaire du matériel remplacé"

[[checklist]]
step = "review"
id = "security_opinion"
type = "choice"
label = "Avis du RSSI"
choices = ["Favorable", "Défavorable"]
required = false
'''

# A linear definition without "*" transitions, to build graphs with dead ends.
LINEAR = '''\
id = "linear"
label = "Linéaire"

[events]
go = "Avancer"

[[steps]]
id = "first"
label = "Première"
roles = ["clerk"]

[[steps]]
id = "second"
label = "Seconde"
roles = ["clerk"]

[[states]]
id = "end"
label = "Fin"
final = true

[[transitions]]
event = "go"
from = "first"
to = "second"
roles = ["clerk"]

[[transitions]]
event = "go"
from = "second"
to = "end"
roles = ["clerk"]
'''


def patched(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur exactly once in the toy definition"
    return text.replace(old, new)


def line_of(text: str, snippet: str, occurrence: int = 1) -> int:
    """1-based line of the n-th occurrence of `snippet` in `text`."""
    position = -1
    for _ in range(occurrence):
        position = text.index(snippet, position + 1)
    return text.count("\n", 0, position) + 1


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def load(directory: Path) -> dict[str, Definition]:
    return load_definitions(directory, guards=TOY_GUARDS, roles=TOY_ROLES)


def refused(directory: Path, text: str, *, name: str = "purchase.toml",
            others: dict[str, str] | None = None) -> tuple[DefinitionError, Path]:
    """Write the definition (and any others) in a fresh directory, load it, return the error and the file."""
    path = write(directory, name, text)
    for other_name, other_text in (others or {}).items():
        write(directory, other_name, other_text)
    with pytest.raises(DefinitionError) as caught:
        load(directory)
    error = caught.value
    assert error.source == str(path), "the error must name the offending file"
    assert str(path) in error.message
    return error, path


def assert_line(error: DefinitionError, line: int) -> None:
    assert error.line == line
    assert f"ligne {line} :" in error.message


def national_definitions() -> dict[str, Definition]:
    return load_definitions(ROADMAPS, guards=roadmap_guards().signatures(), roles=ROLE_LABELS)


# ======================================================================================== real definitions


def test_the_real_definitions_load() -> None:
    definitions = national_definitions()
    assert set(definitions) == {"national", "grenoble", "aix_marseille"}
    assert definitions["grenoble"].extends == "national"
    assert definitions["aix_marseille"].extends == "national"
    assert definitions["national"].extends is None


def test_national_has_the_eight_steps_in_order() -> None:
    national = national_definitions()["national"]
    assert [step.id for step in national.steps] == NATIONAL_STEPS
    assert national.initial == "definition"


def test_national_states() -> None:
    national = national_definitions()["national"]
    for state in ("deployed", "suspended", "abandoned", "school_council.awaiting_approval",
                  "transmission.submitted", *NATIONAL_STEPS):
        assert state in national.states
    assert set(national.final_states) == {"deployed", "abandoned"}
    assert national.states["suspended"].hold
    assert not national.states["suspended"].final
    awaiting = national.states["school_council.awaiting_approval"]
    assert awaiting.step == "school_council"
    assert awaiting.waiting_for == "ien"
    assert not awaiting.is_step_entry
    assert national.states["school_council"].is_step_entry
    assert national.step_of("transmission.submitted") is national.step("transmission")
    assert national.step_of("deployed") is None


def test_national_suspend_and_resume_cover_every_open_state() -> None:
    national = national_definitions()["national"]
    open_states = {s.id for s in national.states.values() if not s.final and s.id != "suspended"}
    assert set(national.return_targets("suspended")) == open_states
    resume_edges = {(source, dest) for spec, source, dest in national.edges() if spec.event == "resume"}
    assert resume_edges == {("suspended", state) for state in open_states}


@pytest.mark.parametrize(("variant", "step", "added"), [
    ("grenoble", "school_council", ["directory_connection_request", "ien_informed_for_register"]),
    ("aix_marseille", "funding", ["municipality_agreement", "provider_contract"]),
    ("aix_marseille", "gdpr_information", ["ril_declaration"]),
])
def test_variants_append_their_items_to_the_right_step(variant: str, step: str, added: list[str]) -> None:
    definitions = national_definitions()
    base_step = definitions["national"].step(step)
    variant_step = definitions[variant].step(step)
    assert base_step is not None and variant_step is not None
    base_items = [item.id for item in base_step.checklist]
    assert [item.id for item in variant_step.checklist] == base_items + added
    assert variant_step.checklist[:len(base_items)] == base_step.checklist
    # the base definition is left untouched
    assert not set(added) & set(base_items)


@pytest.mark.parametrize("variant", ["grenoble", "aix_marseille"])
def test_variants_keep_the_base_structure(variant: str) -> None:
    definitions = national_definitions()
    national, extended = definitions["national"], definitions[variant]
    assert [step.id for step in extended.steps] == NATIONAL_STEPS
    assert extended.states == national.states
    assert extended.transitions == national.transitions
    assert extended.initial == national.initial
    touched = {"grenoble": {"school_council"}, "aix_marseille": {"funding", "gdpr_information"}}[variant]
    for base_step, variant_step in zip(national.steps, extended.steps, strict=True):
        if base_step.id not in touched:
            assert variant_step == base_step


def test_variants_declare_where_they_apply() -> None:
    definitions = national_definitions()
    assert definitions["grenoble"].applies_to == {"academies": ("08",)}
    assert definitions["aix_marseille"].applies_to == {"academies": ("02",)}
    grenoble_item = definitions["grenoble"].step("school_council")
    assert grenoble_item is not None
    request = grenoble_item.item("directory_connection_request")
    assert request is not None and request.type == "file" and request.required


# ========================================================================================== toy definitions


def test_toy_definition_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "purchase.toml", PURCHASE)
    definition = load(tmp_path)["purchase"]
    assert definition.label == "Demande d'achat"
    assert definition.version == 2
    assert definition.source == str(path)
    assert [step.id for step in definition.steps] == ["draft", "review"]
    assert list(definition.states) == ["draft", "review", "review.pending", "done", "paused", "cancelled"]
    assert definition.final_states == ("done", "cancelled")
    draft = definition.step("draft")
    assert draft is not None
    assert draft.roles == ("clerk",)
    assert [(i.id, i.type, i.required) for i in draft.checklist] == [
        ("supplier", "choice", True), ("needed_by", "date", True), ("comment", "text", False)]
    supplier = draft.item("supplier")
    assert supplier is not None and supplier.choices == ("Bureau Vallée", "Lyreco")
    assert definition.states["review.pending"].waiting_for == "manager"
    submit = next(t for t in definition.transitions if t.event == "submit")
    assert submit.guards == ("checklist_complete", "budget_available")
    reject = next(t for t in definition.transitions if t.event == "reject")
    assert reject.note_required
    assert definition.event_label("reject") == "Renvoyer pour correction"
    assert definition.role_label("manager") == "responsable"
    assert definition.state_label("review.pending") == "En attente de la décision du responsable"


def test_any_state_and_return_expand_to_concrete_edges(tmp_path: Path) -> None:
    write(tmp_path, "purchase.toml", PURCHASE)
    definition = load(tmp_path)["purchase"]
    pause = next(t for t in definition.transitions if t.event == "pause")
    cancel = next(t for t in definition.transitions if t.event == "cancel")
    assert pause.source == ANY_STATE
    assert definition.sources_of(pause) == ("draft", "review", "review.pending")
    assert definition.sources_of(cancel) == ("draft", "review", "review.pending", "paused")
    assert definition.return_targets("paused") == ("draft", "review", "review.pending")
    resume = next(t for t in definition.transitions if t.event == "resume")
    assert resume.dest == RETURN
    assert [(s, d) for t, s, d in definition.edges() if t is resume] == [
        ("paused", "draft"), ("paused", "review"), ("paused", "review.pending")]


def test_build_definition_from_a_parsed_document() -> None:
    import tomllib

    definition = build_definition(tomllib.loads(PURCHASE), guards=TOY_GUARDS, roles=TOY_ROLES)
    assert definition.id == "purchase"
    assert definition.source is None
    with pytest.raises(DefinitionError) as caught:
        build_definition(tomllib.loads(PURCHASE), guards=["checklist_complete"], roles=TOY_ROLES)
    assert "garde inconnue « budget_available »" in caught.value.message
    assert caught.value.line is None  # no source text to point into


def test_variant_of_a_toy_definition(tmp_path: Path) -> None:
    write(tmp_path, "purchase.toml", PURCHASE)
    write(tmp_path, "purchase_it.toml", VARIANT)
    definitions = load(tmp_path)
    base, variant = definitions["purchase"], definitions["purchase_it"]
    variant_draft, variant_review = variant.step("draft"), variant.step("review")
    assert variant_draft is not None and variant_review is not None
    assert [i.id for i in variant_draft.checklist] == ["supplier", "needed_by", "comment", "inventory_number"]
    assert [i.id for i in variant_review.checklist] == ["quote", "budget_line", "security_opinion"]
    base_draft = base.step("draft")
    assert base_draft is not None
    assert [i.id for i in base_draft.checklist] == ["supplier", "needed_by", "comment"]
    assert variant.applies_to == {"services": ("dsi",)}
    assert variant.version == base.version
    assert variant.transitions == base.transitions


def test_load_definition_file_resolves_extends_with_known_definitions(tmp_path: Path) -> None:
    write(tmp_path, "purchase.toml", PURCHASE)
    known = load(tmp_path)
    draft_dir = tmp_path / "drafts"
    draft_dir.mkdir()
    variant = load_definition_file(write(draft_dir, "v.toml", VARIANT), guards=TOY_GUARDS, roles=TOY_ROLES,
                                   known=known)
    assert variant.extends == "purchase"
    with pytest.raises(DefinitionError) as caught:
        load_definition_file(draft_dir / "v.toml", guards=TOY_GUARDS, roles=TOY_ROLES)
    assert "« extends » désigne une définition inconnue : « purchase »" in caught.value.message
    assert_line(caught.value, line_of(VARIANT, 'extends = "purchase"'))


# ============================================================================================ invalid files


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'label = "Examen"\n', 'label = "Examen\n')
    error, _ = refused(tmp_path, text)
    line = line_of(text, 'label = "Examen')
    assert error.line == line
    assert error.column == len('label = "Examen') + 1
    assert f"ligne {line}, colonne {error.column} :" in error.message
    assert "syntaxe TOML invalide" in error.message


def test_unknown_guard(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'guards = ["checklist_complete", "budget_available"]',
                   'guards = ["checklist_complete", "budget_exists"]')
    error, _ = refused(tmp_path, text)
    assert "garde inconnue « budget_exists »" in error.message
    assert "transition « submit » de « review » vers « review.pending »" in error.message
    assert "budget_available, checklist_complete" in error.message  # the hint lists the known guards
    assert_line(error, line_of(text, "budget_exists"))


def test_unknown_role_in_a_transition(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'to = "done"\nroles = ["manager"]', 'to = "done"\nroles = ["director"]')
    error, _ = refused(tmp_path, text)
    assert "transition « approve » de « review.pending » vers « done »" in error.message
    assert "rôle inconnu « director »" in error.message
    assert "rôles connus : clerk, manager" in error.message
    assert_line(error, line_of(text, '"director"'))


def test_unknown_role_in_a_step(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'label = "Examen"\nroles = ["clerk", "manager"]',
                   'label = "Examen"\nroles = ["clerk", "buyer"]')
    error, _ = refused(tmp_path, text)
    assert "étape « review » : rôle inconnu « buyer »" in error.message
    assert_line(error, line_of(text, '"buyer"'))


def test_unknown_event(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'event = "reject"', 'event = "send_back"')
    error, _ = refused(tmp_path, text)
    assert "transition « send_back » de « review.pending » vers « review » : action inconnue" in error.message
    assert "actions déclarées : advance, submit" in error.message
    assert_line(error, line_of(text, 'event = "send_back"'))


def test_transition_to_an_unknown_state(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'to = "done"', 'to = "ordered"')
    error, _ = refused(tmp_path, text)
    assert ("transition « approve » de « review.pending » vers « ordered » : état d'arrivée inconnu"
            in error.message)
    assert_line(error, line_of(text, 'to = "ordered"'))


def test_transition_from_an_unknown_state(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'from = "review.pending"\nto = "done"', 'from = "review.waiting"\nto = "done"')
    error, _ = refused(tmp_path, text)
    assert ("transition « approve » de « review.waiting » vers « done » : état de départ inconnu"
            in error.message)
    assert_line(error, line_of(text, 'from = "review.waiting"'))


def test_transition_out_of_a_final_state(tmp_path: Path) -> None:
    text = PURCHASE + ('\n[[transitions]]\nevent = "reject"\nfrom = "cancelled"\nto = "draft"\n'
                       'roles = ["manager"]\n')
    error, _ = refused(tmp_path, text)
    assert ("transition « reject » de « cancelled » vers « draft » : "
            "un état final n'a pas de transition sortante") in error.message
    assert_line(error, line_of(text, 'from = "cancelled"'))


def test_unreachable_state(tmp_path: Path) -> None:
    text = PURCHASE + '\n[[states]]\nid = "archived"\nlabel = "Archivée"\nfinal = true\n'
    error, _ = refused(tmp_path, text)
    assert "état « archived » inaccessible depuis l'état initial « draft »" in error.message
    assert_line(error, line_of(text, 'id = "archived"'))


def test_step_reachable_only_through_a_return_edge_is_unreachable(tmp_path: Path) -> None:
    # No transition leads to "archive"; "pause" from "*" and "resume" to "@return" must not make it look
    # reachable: an instance can only return to a state it was in before.
    extra = ('[[steps]]\nid = "archive"\nlabel = "Archivage"\nroles = ["clerk"]\n\n'
             '[[transitions]]\nevent = "advance"\nfrom = "archive"\nto = "done"\nroles = ["clerk"]\n\n')
    text = patched(PURCHASE, '[[states]]\nid = "done"', extra + '[[states]]\nid = "done"')
    error, _ = refused(tmp_path, text)
    assert "état « archive » inaccessible depuis l'état initial « draft »" in error.message
    assert_line(error, line_of(text, 'id = "archive"'))


def test_unreachable_waiting_sub_state(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'from = "review"\nto = "review.pending"', 'from = "review"\nto = "done"')
    text = patched(text, 'event = "approve"\nfrom = "review.pending"\nto = "done"',
                   'event = "approve"\nfrom = "review.pending"\nto = "review"')
    error, _ = refused(tmp_path, text)
    assert "état « review.pending » inaccessible" in error.message
    assert_line(error, line_of(text, 'id = "pending"'))


def test_state_with_no_path_to_a_final_state(tmp_path: Path) -> None:
    text = patched(LINEAR, 'from = "second"\nto = "end"', 'from = "first"\nto = "end"')
    error, _ = refused(tmp_path, text, name="linear.toml")
    assert "état « second » sans chemin vers un état final" in error.message
    assert_line(error, line_of(text, 'id = "second"'))


def test_hold_state_without_a_way_out_has_no_path_to_a_final_state(tmp_path: Path) -> None:
    text = LINEAR + ('\n[[states]]\nid = "frozen"\nlabel = "Gelé"\nhold = true\n\n'
                     '[[transitions]]\nevent = "go"\nfrom = "first"\nto = "frozen"\nroles = ["clerk"]\n')
    error, _ = refused(tmp_path, text, name="linear.toml")
    assert "état « frozen » sans chemin vers un état final" in error.message
    assert_line(error, line_of(text, 'id = "frozen"'))


def test_duplicate_step_id(tmp_path: Path) -> None:
    text = patched(PURCHASE, '[[states]]\nid = "done"',
                   '[[steps]]\nid = "review"\nlabel = "Second examen"\nroles = ["manager"]\n\n'
                   '[[states]]\nid = "done"')
    error, _ = refused(tmp_path, text)
    assert "« review » déclaré deux fois" in error.message
    # the line is that of the second declaration, the one to remove or rename
    assert_line(error, line_of(text, 'id = "review"', occurrence=2))


def test_duplicate_state_id(tmp_path: Path) -> None:
    text = PURCHASE + '\n[[states]]\nid = "paused"\nlabel = "Encore en pause"\nhold = true\n'
    error, _ = refused(tmp_path, text)
    assert "état « paused » déclaré deux fois" in error.message
    assert_line(error, line_of(text, 'id = "paused"', occurrence=2))


def test_duplicate_checklist_item_in_one_step(tmp_path: Path) -> None:
    # "comment" is a legitimate item of the draft step; review declares its own "comment" twice.
    duplicate = ('  [[steps.checklist]]\n  id = "comment"\n  type = "text"\n  label = "Avis"\n\n'
                 '  [[steps.checklist]]\n  id = "comment"\n  type = "text"\n  label = "Avis bis"\n\n')
    text = patched(PURCHASE, '  [[steps.waiting]]', duplicate + '  [[steps.waiting]]')
    error, _ = refused(tmp_path, text)
    assert "étape « review »" in error.message
    assert "élément « comment » déclaré deux fois" in error.message
    # not line of draft's "comment" (a valid item), but the duplicate in the review step
    assert_line(error, line_of(text, 'id = "comment"', occurrence=3))


def test_duplicate_transition(tmp_path: Path) -> None:
    text = PURCHASE + ('\n[[transitions]]\nevent = "approve"\nfrom = "review.pending"\nto = "done"\n'
                       'roles = ["clerk"]\n')
    error, _ = refused(tmp_path, text)
    assert "transition « approve » de « review.pending » vers « done » déclarée deux fois" in error.message
    assert error.line is not None


def test_choice_item_without_choices(tmp_path: Path) -> None:
    text = patched(PURCHASE, '  choices = ["Bureau Vallée", "Lyreco"]\n', "")
    error, _ = refused(tmp_path, text)
    assert "étape « draft », élément « supplier »" in error.message
    assert "au moins deux « choices »" in error.message
    assert_line(error, line_of(text, 'id = "supplier"'))


def test_choice_item_with_a_single_choice(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'choices = ["Bureau Vallée", "Lyreco"]', 'choices = ["Lyreco"]')
    error, _ = refused(tmp_path, text)
    assert "élément « supplier »" in error.message
    assert "au moins deux « choices »" in error.message


def test_choices_on_a_non_choice_item(tmp_path: Path) -> None:
    text = patched(PURCHASE, '  label = "Date de besoin"\n',
                   '  label = "Date de besoin"\n  choices = ["a", "b"]\n')
    error, _ = refused(tmp_path, text)
    assert "élément « needed_by » : « choices » n'a de sens que pour le type choice" in error.message
    assert_line(error, line_of(text, 'id = "needed_by"'))


def test_unknown_item_type(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'id = "needed_by"\n  type = "date"', 'id = "needed_by"\n  type = "datetime"')
    error, _ = refused(tmp_path, text)
    assert "étape « draft », élément « needed_by » : type « datetime » inconnu" in error.message
    assert "types possibles : bool, date, choice, text, file" in error.message
    assert_line(error, line_of(text, 'id = "needed_by"'))


def test_item_error_points_at_the_offending_step_even_if_the_id_is_used_earlier(tmp_path: Path) -> None:
    # item ids are per step: review may have its own "comment"; its bad type must be located in review.
    bad = '  [[steps.checklist]]\n  id = "comment"\n  type = "memo"\n  label = "Avis"\n\n'
    text = patched(PURCHASE, '  [[steps.waiting]]', bad + '  [[steps.waiting]]')
    error, _ = refused(tmp_path, text)
    assert "étape « review », élément « comment » : type « memo » inconnu" in error.message
    assert_line(error, line_of(text, 'id = "comment"', occurrence=2))


def test_invalid_identifier(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'id = "budget_line"', 'id = "Budget-Line"')
    error, _ = refused(tmp_path, text)
    assert "identifiant « Budget-Line » invalide" in error.message
    assert_line(error, line_of(text, 'id = "Budget-Line"'))


def test_return_from_a_non_hold_state(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'event = "resume"\nfrom = "paused"', 'event = "resume"\nfrom = "review.pending"')
    error, _ = refused(tmp_path, text)
    assert "transition « resume » de « review.pending » vers « @return »" in error.message
    assert "« @return » ne part que d'un état d'attente (hold = true)" in error.message
    assert_line(error, line_of(text, 'to = "@return"'))


def test_return_from_any_state_is_refused(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'event = "resume"\nfrom = "paused"', 'event = "resume"\nfrom = "*"')
    error, _ = refused(tmp_path, text)
    assert "transition « resume » de « * » vers « @return »" in error.message


def test_no_final_state(tmp_path: Path) -> None:
    text = patched(LINEAR, 'final = true', 'hold = false')
    error, _ = refused(tmp_path, text, name="linear.toml")
    assert "définition « linear » : aucun état final (final = true)" in error.message


def test_unknown_initial_state(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'initial = "draft"', 'initial = "drafting"')
    error, _ = refused(tmp_path, text)
    assert "état initial « drafting » inconnu" in error.message
    assert_line(error, line_of(text, 'initial = "drafting"'))


def test_missing_events_table(tmp_path: Path) -> None:
    text = LINEAR.replace('[events]\ngo = "Avancer"\n', "")
    error, _ = refused(tmp_path, text, name="linear.toml")
    assert "définition « linear » : la table [events]" in error.message


def test_missing_definition_id(tmp_path: Path) -> None:
    error, _ = refused(tmp_path, patched(LINEAR, 'id = "linear"\n', ""), name="linear.toml")
    assert "la clé « id »" in error.message


def test_two_files_with_the_same_id(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", LINEAR)
    path = write(tmp_path, "b.toml", LINEAR)
    with pytest.raises(DefinitionError) as caught:
        load(tmp_path)
    assert caught.value.source == str(path)
    assert "identifiant « linear » déjà utilisé par a.toml" in caught.value.message
    assert_line(caught.value, 1)


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        load(tmp_path)
    assert "aucun fichier de définition" in caught.value.message


# ================================================================================================ variants


def test_variant_adding_an_item_that_already_exists(tmp_path: Path) -> None:
    text = patched(VARIANT, 'id = "inventory_number"', 'id = "needed_by"')
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert "étape « draft »" in error.message
    assert "élément « needed_by » déclaré deux fois" in error.message
    assert_line(error, line_of(text, 'id = "needed_by"'))


def test_variant_adding_the_same_item_twice(tmp_path: Path) -> None:
    text = patched(VARIANT, 'id = "security_opinion"', 'id = "inventory_number"')
    text = patched(text, 'step = "review"', 'step = "draft"')
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert "élément « inventory_number » déclaré deux fois" in error.message
    assert_line(error, line_of(text, 'id = "inventory_number"', occurrence=2))


def test_variant_extending_an_unknown_definition(tmp_path: Path) -> None:
    text = patched(VARIANT, 'extends = "purchase"', 'extends = "purchases"')
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert "« extends » désigne une définition inconnue : « purchases »" in error.message
    assert "définitions disponibles : purchase, purchase_it" in error.message
    assert_line(error, line_of(text, 'extends = "purchases"'))


def test_variant_adding_items_to_an_unknown_step(tmp_path: Path) -> None:
    text = patched(VARIANT, 'step = "review"', 'step = "delivery"')
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert "définition « purchase_it » : élément ajouté à une étape inconnue « delivery »" in error.message
    assert "étapes : draft, review" in error.message
    assert_line(error, line_of(text, 'step = "delivery"'))


def test_variant_item_without_a_step(tmp_path: Path) -> None:
    text = patched(VARIANT, 'step = "review"\n', "")
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert "élément ajouté à une étape inconnue « None »" in error.message


@pytest.mark.parametrize("key", ["steps", "states", "transitions"])
def test_variant_cannot_redefine_the_structure(tmp_path: Path, key: str) -> None:
    text = VARIANT + f'\n[[{key}]]\nid = "extra"\nlabel = "En plus"\n'
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert f"définition « purchase_it » : une variante ne redéfinit pas « {key} »" in error.message


def test_variant_cannot_change_the_initial_state(tmp_path: Path) -> None:
    text = patched(VARIANT, 'extends = "purchase"\n', 'extends = "purchase"\ninitial = "review"\n')
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert "une variante ne redéfinit pas « initial »" in error.message


def test_variant_item_errors_are_reported_in_the_variant_file(tmp_path: Path) -> None:
    text = patched(VARIANT, 'choices = ["Favorable", "Défavorable"]\n', "")
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert "étape « review », élément « security_opinion »" in error.message
    assert "au moins deux « choices »" in error.message
    assert_line(error, line_of(text, 'id = "security_opinion"'))


def test_extends_cycle(tmp_path: Path) -> None:
    first = patched(VARIANT, 'extends = "purchase"', 'extends = "purchase_b"')
    second = patched(patched(VARIANT, 'id = "purchase_it"', 'id = "purchase_b"'),
                     'extends = "purchase"', 'extends = "purchase_it"')
    write(tmp_path, "a.toml", first)
    write(tmp_path, "b.toml", second)
    with pytest.raises(DefinitionError) as caught:
        load(tmp_path)
    message = caught.value.message
    assert "cycle d'extensions" in message
    # the message shows the cycle itself, each definition of it named
    assert ("purchase_it → purchase_b → purchase_it" in message
            or "purchase_b → purchase_it → purchase_b" in message)


# ======================================================================================== strict keys and types


def test_misspelt_transition_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    text = patched(PURCHASE, 'to = "review"\nroles = ["manager"]\nnote_required = true',
                   'to = "review"\nroles = ["manager"]\nnote_requierd = true')
    error, _ = refused(tmp_path, text)
    assert "transition « reject » de « review.pending » vers « review »" in error.message
    assert ": clé inconnue « note_requierd »" in error.message
    assert "vouliez-vous dire « note_required » ?" in error.message
    assert_line(error, line_of(text, "note_requierd"))


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('label = "Demande d\'achat"\n', 'label = "Demande d\'achat"\ninitail = "draft"\n', "définition « purchase »"),
        ('id = "review"\nlabel = "Examen"\n', 'id = "review"\nlabel = "Examen"\noptionnal = true\n',
         "étape « review »"),
        ('label = "Fournisseur"\n', 'label = "Fournisseur"\nrequird = false\n', "élément « supplier »"),
        ('waiting_for = "manager"\n', 'waiting_for = "manager"\ncolour = "red"\n', "sous-état « pending »"),
        ('hold = true\n', 'hold = true\nfinale = true\n', "état « paused »"),
    ],
)
def test_unknown_keys_are_refused_everywhere(tmp_path: Path, old: str, new: str, where: str) -> None:
    text = patched(PURCHASE, old, new)
    error, _ = refused(tmp_path, text)
    unknown = new.removeprefix(old).split(" =")[0].strip()
    assert where in error.message
    assert f"clé inconnue « {unknown} »" in error.message
    assert_line(error, line_of(text, unknown + " ="))


def test_unknown_key_in_a_variant_checklist_entry(tmp_path: Path) -> None:
    text = patched(VARIANT, 'label = "Avis du RSSI"\n', 'label = "Avis du RSSI"\nrequiered = false\n')
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert "élément « security_opinion » : clé inconnue « requiered »" in error.message
    assert "vouliez-vous dire « required » ?" in error.message
    assert_line(error, line_of(text, "requiered"))


def test_unknown_top_level_key_in_a_variant(tmp_path: Path) -> None:
    text = patched(VARIANT, 'extends = "purchase"\n', 'extends = "purchase"\nextend = "purchase"\n')
    error, _ = refused(tmp_path, text, name="purchase_it.toml", others={"purchase.toml": PURCHASE})
    assert "définition « purchase_it » : clé inconnue « extend »" in error.message


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('label = "Commentaire"\n  required = false', 'label = "Commentaire"\n  required = "no"', "required"),
        ('hold = true\n', 'hold = "yes"\n', "hold"),
        ('to = "review"\nroles = ["manager"]\nnote_required = true', 'to = "review"\nroles = ["manager"]\n'
         'note_required = 1', "note_required"),
        ('id = "review"\nlabel = "Examen"\n', 'id = "review"\nlabel = "Examen"\noptional = "yes"\n', "optional"),
    ],
)
def test_flags_must_be_booleans(tmp_path: Path, old: str, new: str, key: str) -> None:
    text = patched(PURCHASE, old, new)
    error, _ = refused(tmp_path, text)
    assert f"« {key} » doit valoir true ou false" in error.message


@pytest.mark.parametrize(("old", "new"), [('version = 2', 'version = "2"'), ('version = 2', 'version = 0'),
                                          ('waiting_for = "manager"', 'waiting_for = 3'),
                                          ('guards = ["checklist_complete"]', 'guards = "checklist_complete"')])
def test_values_of_the_wrong_type_are_refused(tmp_path: Path, old: str, new: str) -> None:
    error, _ = refused(tmp_path, patched(PURCHASE, old, new))
    assert "doit être" in error.message


@pytest.mark.parametrize("event", ["start", "check"])
def test_the_engines_own_events_are_reserved(tmp_path: Path, event: str) -> None:
    text = patched(PURCHASE, 'cancel = "Annuler"\n', f'cancel = "Annuler"\n{event} = "Mon action"\n')
    error, _ = refused(tmp_path, text)
    assert f"l'action « {event} » est réservée au moteur" in error.message
    assert_line(error, line_of(text, f'{event} = "Mon action"'))


# ======================================================================================== guard parameters


MANUAL_PARAMS = ('[guards.manual_accounts_route]\nent_item = "definition.ent"\n'
                 'list_item = "transmission.accounts_list_sent"\n')


def national_copy(directory: Path, old: str, new: str) -> tuple[Path, str]:
    """The real definitions in `directory`, national.toml patched."""
    for source in ROADMAPS.glob("*.toml"):
        write(directory, source.name, source.read_text(encoding="utf-8"))
    text = patched((ROADMAPS / "national.toml").read_text(encoding="utf-8"), old, new)
    return write(directory, "national.toml", text), text


def national_refused(directory: Path, old: str, new: str) -> tuple[DefinitionError, str]:
    path, text = national_copy(directory, old, new)
    with pytest.raises(DefinitionError) as caught:
        national_definitions_in(directory)
    assert caught.value.source == str(path)
    return caught.value, text


def national_definitions_in(directory: Path) -> dict[str, Definition]:
    return load_definitions(directory, guards=roadmap_guards().signatures(), roles=ROLE_LABELS)


def test_guards_read_the_items_the_definition_names() -> None:
    national = national_definitions()["national"]
    assert national.item_ref("ent_compliant", "item") == ("definition", "ent")
    assert national.item_ref("account_row_valid", "council_item") == ("school_council", "council_date")
    assert national.guard_params["manual_accounts_route"] == {"ent_item": ("definition", "ent"),
                                                              "list_item": ("transmission", "accounts_list_sent")}
    assert national_definitions()["grenoble"].guard_params == national.guard_params  # variants inherit them


def test_removing_the_ent_item_makes_loading_fail(tmp_path: Path) -> None:
    ent_item = ('  [[steps.checklist]]\n  id = "ent"\n  type = "choice"\n'
                '  label = "ENT retenu (parmi les solutions conformes au SDET)"\n')
    national = (ROADMAPS / "national.toml").read_text(encoding="utf-8")
    choices_line = national[national.index(ent_item) + len(ent_item):].split("\n", 1)[0] + "\n"
    error, text = national_refused(tmp_path, ent_item + choices_line, "")
    assert "[guards.ent_compliant], « item » : élément inconnu « definition.ent »" in error.message
    assert_line(error, line_of(text, 'item = "definition.ent"'))


def test_a_missing_guard_parameter_is_refused(tmp_path: Path) -> None:
    error, _ = national_refused(tmp_path, '[guards.ent_compliant]\nitem = "definition.ent"\n', "")
    assert "la garde « ent_compliant » lit le paramètre « item »" in error.message
    assert "[guards.ent_compliant]" in error.message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('\nitem = "definition.ent"', '\nitem = "definition.features"',
         "l'élément « definition.features » est de type text"),
        ('\nitem = "definition.ent"', '\nitem = "definition.entt"', "élément inconnu « definition.entt »"),
        ('\nitem = "definition.ent"', '\nitem = ["definition.ent"]', "un texte entre guillemets est attendu"),
        ('\nitem = "definition.ent"', '\nitme = "definition.ent"', "clé inconnue « itme »"),
        (MANUAL_PARAMS, MANUAL_PARAMS.replace("transmission.accounts_list_sent", "transmission.accounts_sent"),
         "élément inconnu « transmission.accounts_sent »"),
        (MANUAL_PARAMS, MANUAL_PARAMS.replace("transmission.accounts_list_sent", "definition.ent"),
         "l'élément « definition.ent » est de type choice"),
    ],
)
def test_guard_parameters_are_validated(tmp_path: Path, old: str, new: str, expected: str) -> None:
    error, text = national_refused(tmp_path, old, new)
    assert expected in error.message
    offending = next(line for line in new.splitlines() if line and line not in old.splitlines())
    assert_line(error, line_of(text, offending))


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        ('event = "approve"\nfrom = "review.sent"\n', "état inconnu « review.sent »"),
        ('event = "validate"\nfrom = "review.pending"\n', "action inconnue « validate »"),
    ],
)
def test_state_and_event_parameters_are_validated(tmp_path: Path, new: str, expected: str) -> None:
    guards = {name: {} for name in TOY_GUARDS} | {
        "decided": {"event": GuardParam("event", description="l'action"), "from": GuardParam("state")}}
    text = PURCHASE + "\n[guards.decided]\n" + new
    write(tmp_path, "purchase.toml", text)
    with pytest.raises(DefinitionError) as caught:
        load_definitions(tmp_path, guards=guards, roles=TOY_ROLES)
    assert expected in caught.value.message
    assert_line(caught.value, line_of(text, new.splitlines()[0] if "validate" in new else new.splitlines()[1]))


def test_parameters_for_an_unknown_guard_are_refused(tmp_path: Path) -> None:
    error, text = national_refused(tmp_path, "[guards.ent_compliant]", "[guards.ent_compliance]")
    assert "paramètres donnés à une garde inconnue « ent_compliance »" in error.message
    assert_line(error, line_of(text, "[guards.ent_compliance]"))


def test_a_guard_without_parameters_accepts_none(tmp_path: Path) -> None:
    text = PURCHASE + '\n[guards.checklist_complete]\nstep = "draft"\n'
    error, _ = refused(tmp_path, text)
    assert "[guards.checklist_complete] : clé inconnue « step »" in error.message


@pytest.mark.parametrize(
    ("item", "key", "value", "expected"),
    [
        ("needed_by", "not_before", "draft.supplier", "« not_before » doit désigner un élément de type date"),
        ("needed_by", "not_before", "draft.delivery", "« not_before » doit désigner un élément de type date"),
        ("comment", "deferrable_with", "signature", "« deferrable_with » désigne un élément absent de l'étape"),
    ],
)
def test_item_references_must_exist(tmp_path: Path, item: str, key: str, value: str, expected: str) -> None:
    text = patched(PURCHASE, f'id = "{item}"\n', f'id = "{item}"\n  {key} = "{value}"\n')
    error, _ = refused(tmp_path, text)
    assert expected in error.message
    assert_line(error, line_of(text, f'{key} = "{value}"'))


def test_applies_to_names_only_academies(tmp_path: Path) -> None:
    national_copy(tmp_path, 'id = "national"', 'id = "national"')  # the real files, unchanged
    variant = (ROADMAPS / "grenoble.toml").read_text(encoding="utf-8").replace("academies = ", "academie = ")
    path = write(tmp_path, "grenoble.toml", variant)
    with pytest.raises(DefinitionError) as caught:
        load_roadmaps(tmp_path)
    assert caught.value.source == str(path)
    assert "[applies_to] : clé inconnue « academie »" in caught.value.message
    assert_line(caught.value, line_of(variant, "academie = "))
