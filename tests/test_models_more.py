"""Kolb's learning cycle, Rolfe's framework and "learning from a mistake": what each asks,
in what order, and the CPD record drafted from a finished run of each through the real
service on a SQLite file.

The all-dialogues harness (tests/test_every_dialogue.py, tests/test_dialogues.py) walks
these files too; this module checks what is particular to each model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cpd.draft import (
    DESCRIPTION_CHARS,
    FIELDS,
    IMPACT_CHARS,
    LEARNT_CHARS,
    REFLECTION_ON_PRACTICE,
    TITLE_CHARS,
    draft,
)
from bot.dialogues import Catalog, Dialogue, load_dialogue
from bot.messages import UserRef
from bot.service import ConversationService
from bot.store.crypto import Cipher, generate_key
from bot.store.db import open_engine, upgrade
from bot.store.repository import Store
from tests.conftest import Clock
from tests.worker import Worker, only_reflection

DIALOGUES = Path(__file__).resolve().parent.parent / "dialogues"
NEW_MODELS = ("kolb", "rolfe", "mistake")
SAM = UserRef("terminal", "sam", "Sam")


def shipped(name: str) -> Dialogue:
    return load_dialogue(DIALOGUES / f"{name}.yaml")


def asked(dialogue: Dialogue, step_id: str) -> str:
    """A step's question, hint and follow-up, in lower case, as one text."""
    step = dialogue.step(step_id)
    parts = [step.prompt, step.hint or "", step.follow_up.prompt if step.follow_up else ""]
    return " ".join(parts).lower()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


# ---- what each model asks ----------------------------------------------------------------


def test_kolb_goes_round_the_four_stages_in_order() -> None:
    kolb = shipped("kolb")
    assert list(kolb.stages) == ["experience", "observation", "ideas", "trying"]
    stages = [step.stage for step in kolb.steps]
    assert stages == sorted(stages, key=list(kolb.stages).index), "no step goes back a stage"
    assert set(stages) == set(kolb.stages)
    # Abstract conceptualisation: the experience linked to ideas from outside it.
    ideas = " ".join(asked(kolb, s.id) for s in kolb.steps if s.stage == "ideas")
    assert all(word in ideas for word in ("theory", "training", "guidance"))
    # Active experimentation: something to try, and when.
    trying = " ".join(asked(kolb, s.id) for s in kolb.steps if s.stage == "trying")
    assert "try" in trying
    assert "when" in trying


def test_rolfe_asks_its_own_questions_not_driscolls() -> None:
    rolfe, driscoll = shipped("rolfe"), shipped("driscoll")
    assert list(rolfe.stages.values()) == ["What?", "So what?", "Now what?"]
    labels = [rolfe.stage_label(step) for step in rolfe.steps]
    assert labels == sorted(labels, key=list(rolfe.stages.values()).index)
    # Not one question is Driscoll's, and the two share few of their words overall.
    theirs = {step.prompt for step in driscoll.steps if not step.is_choice}
    assert not theirs & {step.prompt for step in rolfe.steps}
    rolfe_words = words(" ".join(s.prompt for s in rolfe.steps if not s.is_choice))
    driscoll_words = words(" ".join(theirs))
    shared = rolfe_words & driscoll_words
    assert len(shared) / len(rolfe_words | driscoll_words) < 0.35, sorted(shared)
    # Rolfe's own sub-questions: the worker's role and aim, what their actions were
    # based on, the wider issues, and what would make things better.
    what = " ".join(asked(rolfe, s.id) for s in rolfe.steps if s.stage == "what")
    so_what = " ".join(asked(rolfe, s.id) for s in rolfe.steps if s.stage == "so_what")
    now_what = " ".join(asked(rolfe, s.id) for s in rolfe.steps if s.stage == "now_what")
    assert "your part" in what
    assert "trying to achieve" in what
    assert "consequences" in what
    assert "base your decisions on" in so_what
    assert "relationship" in so_what
    assert "caseload" in so_what
    assert "make things better" in now_what


def test_the_mistake_dialogue_asks_the_seeds_questions_strengths_first() -> None:
    mistake = shipped("mistake")
    order = [step.id for step in mistake.steps]
    assert order == [
        "what_happened",
        "went_well",
        "went_wrong",
        "why",
        "prevent",
        "who_should_know",
        "plan",
        "check_in",
    ]
    assert "what happened" in asked(mistake, "what_happened")
    assert "did you do well" in asked(mistake, "went_well")
    assert "went wrong" in asked(mistake, "went_wrong")
    assert "why" in asked(mistake, "why")
    assert "stop this happening again" in asked(mistake, "prevent")
    assert "who else should know" in asked(mistake, "who_should_know")
    # Why looks at the whole picture: mistakes happen when people are stretched.
    assert all(word in asked(mistake, "why") for word in ("caseload", "handover", "staffing"))
    # Kind from the start, and it says what to do first if someone may be at risk.
    assert mistake.intro is not None
    assert "not blame" in mistake.intro
    assert "safeguarding" in asked(mistake, "what_happened")
    assert mistake.minutes <= 10


@pytest.mark.parametrize("name", NEW_MODELS)
def test_each_new_model_ends_with_a_plan_and_an_offer_to_check_in(name: str) -> None:
    dialogue = shipped(name)
    last = dialogue.steps[-1]
    assert last.action == "check_in"
    assert [choice.value for choice in last.choices] == ["7", "14", "none"]
    plan = dialogue.step("plan")
    assert plan.follow_up is not None
    assert "when" in asked(dialogue, "plan")


def test_the_new_models_are_on_the_menu_after_the_first_three(catalog: Catalog) -> None:
    listed = [dialogue.id for dialogue in catalog.listed]
    assert listed[:3] == ["gibbs", "gibbs_quick", "driscoll"]
    assert set(NEW_MODELS) <= set(listed[3:])


# ---- a CPD record from a finished run of each -------------------------------------------


@pytest.fixture
def sqlite_service(tmp_path: Path, catalog: Catalog) -> Iterator[tuple[ConversationService, Store]]:
    engine = open_engine(f"sqlite:///{tmp_path / 'critical-friend.db'}")
    upgrade(engine)
    store = Store(engine, Cipher([generate_key()]))
    service = ConversationService(store, catalog, clock=Clock())
    yield service, store
    service.close()
    store.dispose()


def answer_for(step_id: str) -> str:
    """An answer that names its step, so each field's source can be seen."""
    tag = step_id.upper().replace("_", "-")
    return (
        f"{tag}: the visit to the family ran late and the young person was upset when we "
        f"arrived. {tag} is what I would say about it, in a sentence or two."
    )


# Where each model's answers should land: field -> the steps it is drafted from.
SOURCES = {
    "kolb": {
        "description": ("what_happened", "why"),
        "learnt": ("learnt", "ideas"),
        "impact": ("plan", "how_know"),
    },
    "rolfe": {
        "description": ("what_happened", "what_it_meant"),
        "learnt": ("learnt", "your_thinking"),
        "impact": ("plan", "making_it_work"),
    },
    "mistake": {
        "description": ("what_happened", "why"),
        "learnt": ("prevent",),
        "impact": ("plan", "who_should_know"),
    },
}


@pytest.mark.parametrize("name", NEW_MODELS)
def test_a_cpd_record_drafted_from_each_new_model_has_every_field(
    name: str, sqlite_service: tuple[ConversationService, Store], catalog: Catalog
) -> None:
    service, store = sqlite_service
    dialogue = catalog.get(name)
    assert dialogue is not None
    worker = Worker(service, SAM)
    reply = worker.start(name)
    while reply.waiting:
        question = worker.question
        if question.choices:
            reply = worker.presses(question.choices[0].value)
            continue
        step = next(
            (s for s in dialogue.steps if " ".join(s.prompt.split()) in question.text), None
        )
        # Not a step's question: a follow-up, and `skip` keeps the first answer as it was.
        reply = worker.says(answer_for(step.id) if step is not None else "skip")
    record = only_reflection(store, SAM)
    assert set(record.answers) == {step.id for step in dialogue.steps}

    fields = draft(record, catalog)
    assert fields.cpd_type == REFLECTION_ON_PRACTICE
    for field_name, _ in FIELDS:
        if field_name != "peer":  # no critical friend took part
            assert fields.text_of(field_name).strip(), field_name
    for field_name, steps in SOURCES[name].items():
        text = getattr(fields, field_name)
        for step_id in steps:
            assert f"{step_id.upper().replace('_', '-')}:" in text, (field_name, step_id)
    assert fields.title.startswith("WHAT-HAPPENED: the visit to the family ran late")
    limits = {
        "title": TITLE_CHARS,
        "description": DESCRIPTION_CHARS,
        "learnt": LEARNT_CHARS,
        "impact": IMPACT_CHARS,
    }
    for field_name, limit in limits.items():
        assert len(getattr(fields, field_name)) <= limit, field_name
    # What the form is not for: the check-in choice, and feelings kept for the worker.
    everything = " ".join(fields.text_of(f) for f, _ in FIELDS)
    assert "In a week" not in everything
