"""Blame language in peer feedback: what `blame_phrases` finds, and what it leaves alone.

The labelled set `tests/data/feedback_tone.tsv` (label<TAB>sentence, `blame` or `ok`) was
written before the detector, from what critical friends in UK social work plausibly
write. The last test measures the detector on it. To see the figures:

    python -m pytest -q -s tests/test_tone.py -k labelled_set
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.tone import blame_phrases

LABELLED = Path(__file__).resolve().parent / "data" / "feedback_tone.tsv"
# Measured when the detector was written: precision 1.00 (62 of 62 flagged were blame),
# recall 0.94 (62 of 66 blame sentences found). The floors leave a little room for
# phrase lists to change without hiding a real slide.
PRECISION_FLOOR = 0.95
RECALL_FLOOR = 0.90


# ---- what it finds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("You should have rung the school.", "You should have"),
        ("you should've rung the school", "you should've"),
        ("You should\u2019ve rung the school", "You should\u2019ve"),
        ("you shouldve rung the school", "you shouldve"),
        ("you should of rung the school", "you should of"),
        ("you shoulda rung the school", "you shoulda"),
        ("You shouldn't have gone alone.", "You shouldn't have"),
        ("You shouldn\u2019t have gone alone.", "You shouldn\u2019t have"),
        ("You should not have gone alone.", "You should not have"),
        ("You really should have asked.", "You really should have"),
        ("U SHOULD HAVE RUNG THE POLICE", "U SHOULD HAVE"),
        ("You ought to have known.", "You ought to have"),
        ("Shouldn't you have checked first?", "Shouldn't you have"),
        ("It was your fault.", "your fault"),
        ("ur fault tbh", "ur fault"),
        ("It was you're fault.", "you're fault"),
        ("That was your mistake.", "your mistake"),
        ("You're to blame for the delay.", "You're to blame"),
        ("That's on you.", "That's on you"),
        ("Why didn't you tell your manager?", "Why didn't you"),
        ("Why didn\u2019t you tell your manager?", "Why didn\u2019t you"),
        ("why didnt you tell your manager", "why didnt you"),
        ("Why did you not tell your manager?", "Why did you not"),
        ("What were you thinking?", "What were you thinking"),
        ("How could you forget?", "How could you"),
        ("You failed to follow the policy.", "You failed to"),
        ("You never checked the file.", "You never checked"),
        ("You always rush the visits.", "You always rush"),
        ("You got it wrong.", "You got it wrong"),
        ("You messed up the handover.", "You messed up"),
        ("That was wrong of you.", "That was wrong of you"),
        ("Leaving the file out was careless.", "careless"),
        ("That was negligent.", "negligent"),
        ("Shouting back was unprofessional.", "unprofessional"),
    ],
)
def test_blame_is_found_as_written(text: str, phrase: str) -> None:
    assert blame_phrases(text) == [phrase]


def test_several_phrases_come_back_in_order_each_once() -> None:
    text = "You should have called. Why didn't you? It was your fault, and you should have known."
    assert blame_phrases(text) == ["You should have", "Why didn't you", "your fault"]


def test_a_phrase_inside_a_longer_one_is_not_counted_twice() -> None:
    assert blame_phrases("Your negligence put the placement at risk.") == ["Your negligence"]


# ---- what it leaves alone ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # self-talk
        "I should have checked in with you sooner.",
        "I wish I had known, so I could have helped.",
        "I was careless with a consent form once, so I know how it feels.",
        # questions that invite thinking
        "What might you try next time?",
        "How did you decide when to leave?",
        "Why do you think the mother found it hard to trust us?",
        "How could you have known he would react like that?",
        "Why don't you ask your manager for a joint visit next time?",
        # suggestions
        "You could try visiting when the children are at school.",
        "It might help to book time with your supervisor.",
        "You should have a chat with the practice educator.",
        "You should of course take the time you need.",
        # on the worker's side
        "You should have been given the case history.",
        "You should have had more support that week.",
        "You must have been exhausted.",
        "The duty system failed you that afternoon.",
        # praise that looks like "never" or "always"
        "You never lost your temper.",
        "You always make time for the children.",
        "You didn't rush her, and she opened up.",
    ],
)
def test_self_talk_questions_suggestions_and_praise_are_not_blame(text: str) -> None:
    assert blame_phrases(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "It wasn't your fault.",
        "it wasnt ur fault",
        "It\u2019s not your fault at all.",
        "None of this was your fault.",
        "I don't think you were careless.",
        "Nobody is saying you should have known.",
        "I'm not saying you should have done anything differently.",
        "You weren't to blame.",
    ],
)
def test_negated_or_denied_blame_is_not_blame(text: str) -> None:
    assert blame_phrases(text) == []


def test_negation_in_an_earlier_clause_does_not_excuse_a_later_one() -> None:
    assert blame_phrases("It wasn't your fault, but you should have called.") == ["you should have"]


def test_hindsight_stays_blame_under_i_dont_think() -> None:
    # "I don't think you should have gone" means "you shouldn't have gone".
    assert blame_phrases("I don't think you should have gone alone.") == ["you should have"]


@pytest.mark.parametrize(
    "text",
    [
        "You said you should have known, but nobody had told you.",
        "You wrote that you felt it was your fault.",
        'When the dad shouted "it\'s your fault", you kept calm.',
        "When she said 'you never listen to me', you stopped and listened.",
        "The young person said \u201cyou should have come sooner\u201d and you stayed calm.",
    ],
)
def test_the_colleagues_own_words_and_other_peoples_are_not_the_friends_blame(
    text: str,
) -> None:
    assert blame_phrases(text) == []


def test_empty_and_odd_text_is_fine() -> None:
    assert blame_phrases("") == []
    assert blame_phrases("   \n\t") == []
    assert blame_phrases("İstanbul ßtraße 😔 شعرت بالتعب") == []
    assert blame_phrases("'") == []


# ---- the labelled set -------------------------------------------------------------------


def labelled() -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate(LABELLED.read_text(encoding="utf-8").splitlines(), 1):
        label, sep, sentence = line.partition("\t")
        assert sep, f"line {number} has no tab: {line!r}"
        assert label in {"blame", "ok"}, f"line {number}: unknown label {label!r}"
        assert sentence.strip(), f"line {number} has no sentence"
        rows.append((label, sentence))
    return rows


def test_the_labelled_set_is_big_enough_and_about_two_fifths_blame() -> None:
    rows = labelled()
    assert len(rows) >= 120
    blame = sum(label == "blame" for label, _ in rows)
    assert 0.3 <= blame / len(rows) <= 0.5


def test_precision_and_recall_on_the_labelled_set() -> None:
    rows = labelled()
    flagged = {sentence for _, sentence in rows if blame_phrases(sentence)}
    blame = {sentence for label, sentence in rows if label == "blame"}
    true_hits = flagged & blame
    precision = len(true_hits) / len(flagged)
    recall = len(true_hits) / len(blame)
    report = (
        f"blame detector on {len(rows)} sentences: precision {precision:.2f} "
        f"({len(true_hits)} of {len(flagged)} flagged were blame), recall {recall:.2f} "
        f"({len(true_hits)} of {len(blame)} blame sentences found)"
    )
    print(report)
    for sentence in sorted(blame - flagged):
        print(f"  missed: {sentence}")
    for sentence in sorted(flagged - blame):
        print(f"  flagged but not blame: {sentence} {blame_phrases(sentence)}")
    assert precision >= PRECISION_FLOOR, report
    assert recall >= RECALL_FLOOR, report
