"""Distress and safeguarding cues: what `find_cues` finds, whose it is, and what it leaves alone.

The labelled set `tests/data/cues.tsv` (label<TAB>sentence; `worker_at_risk`,
`person_at_risk` or `-`) holds reflective sentences of the kind UK social workers
write. Its first 285 lines were written before the detector; three more batches
(113 + 48 lines) were written after it and each measured once before the phrases were
widened for it, to see how the detector does on wording it has not seen (in the module
docstring of bot/care/cues.py). To see the figures on the whole set:

    python -m pytest -q -s tests/test_cues.py -k labelled_set
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from bot.care.cues import Cue, CueError, CueKind, default_cues, find_cues, load_cues

LABELLED = Path(__file__).resolve().parent / "data" / "cues.tsv"
PACKAGED = Path(__file__).resolve().parents[1] / "bot" / "care" / "cues.yaml"

# Measured on the whole set of 446 when these floors were set: worker_at_risk precision
# 0.99 (145 of 146 flagged), recall 0.99 (145 of 147); person_at_risk precision 1.00
# (79 of 79), recall 0.98 (79 of 81). The phrases were widened against this set, so the
# floors guard against losing them; on wording not seen before, recall was about half
# (see the docstring of bot/care/cues.py).
FLOORS = {
    CueKind.WORKER_AT_RISK: (0.95, 0.95),  # (precision, recall)
    CueKind.PERSON_AT_RISK: (0.95, 0.93),
}

WORKER = CueKind.WORKER_AT_RISK
PERSON = CueKind.PERSON_AT_RISK


def kinds(text: str) -> set[CueKind]:
    return {cue.kind for cue in find_cues(text)}


# ---- the worker at risk -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("I can't go on like this.", "can't go on"),
        ("cant go on", "cant go on"),
        ("I can\u2019t go on anymore", "can\u2019t go on"),
        ("I CAN'T GO ON", "CAN'T GO ON"),
        ("i cannot go on", "cannot go on"),
        ("There's no point in anything.", "no point in anything"),
        ("Some days I want to end it all.", "end it all"),
        ("On the way home I thought about killing myself.", "thought about killing myself"),
        ("I've been self harming again.", "self harming"),
        ("I've been self-harming again.", "self-harming"),
        ("I've been selfharming again.", "selfharming"),
        ("I'm burnt out.", "burnt out"),
        ("I'm burned out.", "burned out"),
        ("I'm burnt-out.", "burnt-out"),
        ("Honestly, total burnout.", "burnout"),
        ("Exhausted and can't cope.", "can't cope"),
        ("i cnt cope", "cnt cope"),
        ("I feel suicidal tonight.", "suicidal"),
        ("I feel sucidal tonight.", "sucidal"),
        ("Everyone would be better off without me.", "better off without me"),
        ("I'm not coping.", "not coping"),
        ("I'm not okay.", "I'm not okay"),
        ("I just can't do this anymore.", "can't do this"),
        ("I feel completely hopeless.", "hopeless"),
        ("I'm at breaking point.", "at breaking point"),
    ],
)
def test_a_worker_at_risk_is_found_as_written(text: str, phrase: str) -> None:
    assert find_cues(text) == [Cue(WORKER, phrase)]


def test_several_cues_come_back_in_order_each_once() -> None:
    text = "I'm burnt out. I can't cope. I'm so burnt out. Some nights I think about suicide."
    assert [cue.phrase for cue in find_cues(text)] == [
        "burnt out",
        "can't cope",
        "think about suicide",
    ]


def test_a_phrase_inside_a_longer_one_is_not_counted_twice() -> None:
    assert find_cues("I've had thoughts of killing myself.") == [
        Cue(WORKER, "thoughts of killing myself")
    ]


# ---- negation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I'm not suicidal.",
        "I'm not suicidal, just very tired.",
        "I've never thought about self-harm.",
        "No thoughts of hurting myself, I just need a weekend.",
        "I don't feel hopeless, there's a plan now.",
        "I'm not burnt out yet.",
        "I don't think I'm burnt out, just busy.",
        "It's not that I can't cope, I just needed to vent.",
        "I don't want to die, I want a lighter caseload.",
        "I've not been self-harming.",
        "I'm not depressed or suicidal, just frustrated with the system.",
        "I'd tell my manager if I ever felt suicidal.",
    ],
)
def test_negated_or_supposed_distress_is_not_a_cue(text: str) -> None:
    assert find_cues(text) == []


def test_a_negation_in_an_earlier_clause_does_not_excuse_a_later_one() -> None:
    assert find_cues("I'm not suicidal, but I can't go on like this.") == [
        Cue(WORKER, "can't go on")
    ]


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Nobody at work knows I've started self-harming again.", "self-harming"),
        ("I can't stop thinking about killing myself.", "thinking about killing myself"),
        ("I never thought I'd feel suicidal.", "suicidal"),
        ("I don't know why I want to die.", "want to die"),
        ("If I'm honest I've thought about suicide a lot lately.", "thought about suicide"),
    ],
)
def test_a_negation_does_not_reach_past_knows_stop_or_thought_id(text: str, phrase: str) -> None:
    assert find_cues(text) == [Cue(WORKER, phrase)]


# ---- whose distress it is ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "The mother said she wanted to end it all.",
        "The young person disclosed self-harm.",
        "The young person disclosed self-harm and I made a referral to CAMHS that afternoon.",
        "Mum told me she can't go on like this with no support.",
        "Dad said he's completely burnt out caring for his wife.",
        "The foster carer told me she's not coping with his behaviour.",
        "Her history of self-harm is well documented.",
        "The mother's suicidal ideation was shared with the perinatal team.",
        "My colleague is burnt out and I'm worried about her.",
        "We talked about self-harm and she agreed a safety plan.",
        "I asked about self-harm and she said she had never hurt herself.",
        "I'd done the self-harm training so I knew what to ask.",
        "Mum said \"I can't cope any more\" and I arranged a carers' assessment.",
        "'I want to die,' he said, and I called his mental health worker straight away.",
    ],
)
def test_someone_elses_distress_described_is_neither_kind_of_cue(text: str) -> None:
    assert find_cues(text) == []


def test_a_family_word_then_i_and_a_verb_is_the_familys_not_the_workers() -> None:
    assert find_cues("The young person I visited can't go on like this.") == []
    assert find_cues("The mum I support is burnt out.") == []
    assert kinds("I told mum I can't go on.") == {WORKER}
    assert kinds("When mum left I felt suicidal.") == {WORKER}


def test_the_workers_own_words_in_quotation_marks_are_theirs() -> None:
    assert kinds("I kept thinking 'I can't go on'.") == {WORKER}


def test_so_am_i_after_someone_elses_distress_makes_it_the_workers() -> None:
    assert kinds("The mum is burnt out and frankly so am I.") == {WORKER}
    assert kinds("She said she was suicidal, and honestly so am I some days.") == {WORKER}


def test_a_sentence_without_a_person_is_the_workers() -> None:
    # People in distress drop the "I".
    assert kinds("Can't cope. Can't sleep.") == {WORKER}
    assert kinds("Honestly? Suicidal.") == {WORKER}


def test_someone_elses_distress_with_nothing_done_is_a_person_at_risk_cue() -> None:
    text = "The mother said she wanted to end it all and I didn't pass it on to the GP."
    assert find_cues(text) == [Cue(PERSON, "I didn't pass it on")]


# ---- hard-day language ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I was exhausted by the end of the visit.",
        "What a killer of a day.",
        "I could have died of embarrassment when I got her name wrong.",
        "I wanted to die of embarrassment.",
        "The deadline for the court report is killing me.",
        "My feet are killing me.",
        "I'm killing myself trying to get the assessments done on time.",
        "I'm absolutely shattered.",
        "I was knackered and running on empty by four o'clock.",
        "I'm dead on my feet.",
        "I'm drowning in paperwork this week.",
        "My manager would kill me if I missed another deadline.",
        "I could kick myself for forgetting the consent form.",
        "I cried in the car afterwards, which I think is normal after a visit like that.",
        "I can't go on leave until the court report is filed.",
        "The meeting can't go on without the chair.",
        "There's no point ringing the GP before ten.",
        "There was a breakdown in communication between health and us.",
        "I'm struggling with the new recording system.",
        "I felt hopeless about getting the housing department to act, so I escalated it.",
        "I'm not OK with how the meeting was chaired.",
    ],
)
def test_hard_day_idioms_and_ordinary_reflection_are_not_cues(text: str) -> None:
    assert find_cues(text) == []


# ---- a person at risk, nothing done -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("She told me her stepdad hits her and I didn't report it.", "I didn't report"),
        ("i didnt report it", "i didnt report"),
        ("I haven't told my manager.", "I haven't told my manager"),
        ("I still haven't told anyone about what the boy said.", "I still haven't told anyone"),
        ("No referral was made after the disclosure.", "No referral was made"),
        ("I promised him I wouldn't tell anyone.", "I promised him I wouldn't tell"),
        ("I kept it to myself.", "kept it to myself"),
        (
            "I'm not sure whether I should report what the carer said.",
            "not sure whether I should report",
        ),
    ],
)
def test_a_safeguarding_step_not_taken_is_a_person_at_risk_cue(text: str, phrase: str) -> None:
    assert find_cues(text) == [Cue(PERSON, phrase)]


def test_an_ordinary_inaction_counts_only_next_to_a_risk_word() -> None:
    assert find_cues("I didn't ask about the dog because it was shut in the garden.") == []
    assert kinds("I walked away and didn't ask about the marks on her neck.") == {PERSON}
    assert find_cues("I left the children with their grandmother, the agreed carer.") == []
    assert kinds("I left the children there even though dad was clearly drunk.") == {PERSON}
    # The risk word may be in the sentence before.
    assert kinds("Dad had been drinking heavily. I left the kids with him.") == {PERSON}


@pytest.mark.parametrize(
    "text",
    [
        "I didn't report it until the next morning.",
        "I didn't make the referral myself, my manager did.",
        "I wasn't sure whether to make a referral, so I rang the duty manager and we made one.",
        "I reported the bruise to the duty team and a section 47 was started.",
        "I didn't report my mileage for March either.",
        "I didn't tell mum about the referral before the strategy meeting.",
        "She said 'I didn't tell anyone' and started to cry, so I rang the police.",
    ],
)
def test_a_step_taken_after_all_or_not_a_safeguarding_step_is_not_a_cue(text: str) -> None:
    assert PERSON not in kinds(text)


def test_a_secret_about_the_workers_own_distress_is_not_about_a_family() -> None:
    assert find_cues("I haven't told anyone, but I've been cutting again.") == [
        Cue(WORKER, "been cutting again")
    ]


def test_empty_and_odd_text_is_fine() -> None:
    assert find_cues("") == []
    assert find_cues("   \n\t") == []
    assert find_cues("İstanbul ßtraße 😔 شعرت بالتعب") == []
    assert find_cues("'") == []
    assert find_cues('"') == []


# ---- the cues file ----------------------------------------------------------------------


def test_the_default_cues_are_read_once_and_match_the_packaged_file() -> None:
    assert default_cues() is default_cues()
    packaged = load_cues(PACKAGED)
    text = "I can't go on. The young person disclosed self-harm and I didn't report it."
    assert find_cues(text, packaged) == find_cues(text)


def test_a_cue_set_cannot_be_changed() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_cues().matchers = ()  # type: ignore[misc]  # assigning to a frozen field is the point


REPLACEMENT = """\
words:
  first_person: [i, my]
  third_person: [she, he, mum]
  negators: [not, never]
groups:
  - name: an organisation's own words
    kind: worker_at_risk
    phrases: [on my last nerve, "can't face the car park"]
  - name: a concern sat on
    kind: person_at_risk
    whose: anyone
    patterns: ["i sat on (?:it|the \\\\w+)"]
"""


def test_a_replacement_cue_file_is_used_whole(tmp_path: Path) -> None:
    path = tmp_path / "cues.yaml"
    path.write_text(REPLACEMENT, encoding="utf-8")
    cues = load_cues(path)
    assert find_cues("Honestly I'm on my last  nerve.", cues) == [Cue(WORKER, "on my last  nerve")]
    assert find_cues("I cant face the car park", cues) == [Cue(WORKER, "cant face the car park")]
    # Whose it is comes from the words before, as with the shipped cues.
    assert find_cues("She told me she is on my last nerve", cues) == []
    assert find_cues("I'm not on my last nerve", cues) == []
    assert find_cues("I sat on the disclosure", cues) == [Cue(PERSON, "I sat on the disclosure")]
    # The replacement is the whole file: the shipped phrases are not there.
    assert find_cues("I can't go on.", cues) == []
    assert find_cues("Honestly I'm on my last nerve.") == []


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("words: [\n", 2, "not valid YAML"),
        ("- a list\n", 1, "must be a mapping"),
        (REPLACEMENT.replace("  negators: [not, never]\n", ""), 1, "'negators' is missing"),
        (REPLACEMENT + "colour: blue\n", 13, "unknown key 'colour'"),
        (REPLACEMENT.replace("kind: worker_at_risk", "kind: worker_sad"), 7, "kind"),
        (REPLACEMENT.replace("(?:it|the", "(?:it|the["), 12, "not a valid pattern"),
        (REPLACEMENT.replace("i sat on", "{i} sat on"), 12, "unknown piece {i}"),
        (REPLACEMENT.replace("i sat on (?:it|the \\\\w+)", "(?:x)?"), 12, "matches empty text"),
        (REPLACEMENT.replace("[i, my]", "[i, my, two words]"), 2, "'two words'"),
        (REPLACEMENT.replace("    whose: anyone\n", "    whose: writer\n"), 11, "'whose'"),
        (REPLACEMENT.replace("first_person: [i, my]", "first_person: [i, my]\n  i: x"), 3, "'i'"),
        (
            REPLACEMENT.replace(
                "  first_person: [i, my]", "  first_person: [i]\n  first_person: [i]"
            ),
            3,
            "twice",
        ),
    ],
)
def test_a_broken_cue_file_names_the_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "cues.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CueError) as caught:
        load_cues(path)
    assert any(
        str(problem).startswith(f"{path}:{line}: ") and message in str(problem)
        for problem in caught.value.problems
    ), str(caught.value)


def test_a_missing_cue_file_is_a_cue_error(tmp_path: Path) -> None:
    with pytest.raises(CueError, match=r"cues\.yaml:1: cannot read"):
        load_cues(tmp_path / "cues.yaml")


# ---- speed ------------------------------------------------------------------------------


def test_a_long_answer_is_read_quickly() -> None:
    # The labelled set run together: a cue in every other sentence, the slow case.
    # Measured on one quiet core: about 20 ms (13 ms for ordinary text); the bound is
    # generous because the machine may be busy with other work. CPU time, not wall time,
    # so other processes do not count.
    sentences = [sentence for _, sentence in labelled()]
    text = " ".join(sentences * 2)[:20_000]
    assert len(text) == 20_000
    default_cues()
    best = min(_timed(text) for _ in range(5))
    print(f"find_cues on 20,000 characters of the labelled set: {best * 1000:.1f} ms of CPU")
    assert best < 0.1


def _timed(text: str) -> float:
    start = time.process_time()
    find_cues(text)
    return time.process_time() - start


# ---- the labelled set -------------------------------------------------------------------


def labelled() -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate(LABELLED.read_text(encoding="utf-8").splitlines(), 1):
        label, sep, sentence = line.partition("\t")
        assert sep, f"line {number} has no tab: {line!r}"
        assert label in {"worker_at_risk", "person_at_risk", "-"}, f"line {number}: {label!r}"
        assert sentence.strip(), f"line {number} has no sentence"
        rows.append((label, sentence))
    return rows


def test_the_labelled_set_is_big_enough_and_mixed() -> None:
    rows = labelled()
    assert len(rows) >= 200
    assert len({sentence for _, sentence in rows}) == len(rows), "a sentence is written twice"
    counts = {
        label: sum(row[0] == label for row in rows)
        for label in ("worker_at_risk", "person_at_risk", "-")
    }
    assert counts["-"] >= len(rows) * 0.4
    assert min(counts.values()) >= 50


@pytest.mark.parametrize("kind", list(CueKind))
def test_precision_and_recall_on_the_labelled_set(kind: CueKind) -> None:
    rows = labelled()
    flagged = {sentence for _, sentence in rows if any(c.kind is kind for c in find_cues(sentence))}
    wanted = {sentence for label, sentence in rows if label == kind.value}
    hits = flagged & wanted
    precision = len(hits) / len(flagged)
    recall = len(hits) / len(wanted)
    report = (
        f"{kind.value} on {len(rows)} sentences: precision {precision:.2f} ({len(hits)} of "
        f"{len(flagged)} flagged), recall {recall:.2f} ({len(hits)} of {len(wanted)} found)"
    )
    print(report)
    for sentence in sorted(wanted - flagged):
        print(f"  missed: {sentence}")
    for sentence in sorted(flagged - wanted):
        phrases = [c.phrase for c in find_cues(sentence) if c.kind is kind]
        print(f"  flagged but not {kind.value}: {sentence} {phrases}")
    precision_floor, recall_floor = FLOORS[kind]
    assert precision >= precision_floor, report
    assert recall >= recall_floor, report
