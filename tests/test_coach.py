"""Coaching follow-ups (dialogues/coach.yaml, bot/engine/coach.py): each rule on answers
that should and should not bring it, the file's problems as `file:line`, the labelled
sets, the exchange kept with the answer, and the engine asking at most one follow-up.

The labelled set `tests/data/coach_labelled.tsv` (rule<TAB>dialogue.step<TAB>answer)
was written before the rules were measured on it, then the rules were tuned on it;
`tests/data/coach_fresh.tsv` was written after the tuning and measured once, with no
rule changed for it. To see the figures:

    python -m pytest -q -s tests/test_coach.py -k labelled
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.care.cues import default_cues
from bot.care.export import markdown as export_markdown
from bot.care.identifiers import default_patterns
from bot.dialogues import Catalog, load_catalog
from bot.engine import CARE_CONTINUE, Context, RunState, SessionState, Turn, wording
from bot.engine import coach as coaching
from bot.engine.coach import CoachError, Exchange, load_coach
from bot.engine.effects import AnswerSaved, Effect, RunStarted
from bot.engine.engine import is_vague
from bot.journal import render_one, with_follow_up
from bot.messages import UserRef
from bot.store.repository import ReflectionRecord
from tests.engine_chat import EngineChat

ROOT = Path(__file__).resolve().parent.parent
DIALOGUES = ROOT / "dialogues"
DATA = Path(__file__).resolve().parent / "data"
SHIPPED = load_catalog([DIALOGUES])
COACH = SHIPPED.coach
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
USER = UserRef("terminal", "sam", "Sam")
NEUTRAL = (
    "We met at the family home and went through the plan for the coming weeks with both "
    "parents; the children were at school."
)
SELF_BLAME = "I forgot to send the referral on Friday. It was all my fault."

# Measured when these floors were set. The tuning set (182 answers, 103 with a rule):
# every rule precision 1.00 and recall 1.00, because the rules were widened against
# it. Later "nothing", "none" and "n/a" were taken out of say_more by decision (a fair
# answer to "who else should know?"): three rows relabelled none, three one-word rows
# added; 185 answers, 103 with a rule, still 1.00 and 1.00. The fresh set (55 answers, 39 with a rule), measured once before any change:
# precision 1.00 (20 of 20 asked), recall 0.51 (20 of 39): strengths_first 5/9,
# other_explanations 3/8, pressures 3/9, why 4/7, feelings 5/6 (no one-word answers
# were in that batch). So on new wording the rules ask about half of the follow-ups a
# person would, and almost never one that does not fit.
FLOORS = {"precision": 0.95, "recall": 0.95}
FRESH_FLOORS = {"precision": 0.9, "recall": 0.45}


def test_the_shipped_rules_load_with_the_dialogues() -> None:
    assert not SHIPPED.problems
    assert COACH is not None
    assert [rule.id for rule in COACH.rules] == [
        "strengths_first",
        "other_explanations",
        "pressures",
        "why",
        "feelings",
        "say_more",
    ]


def own_follow_up(where: str, text: str) -> bool:
    """Whether the question's own follow-up would be asked (as the engine decides)."""
    dialogue_id, step_id = where.split(".")
    dialogue = SHIPPED.get(dialogue_id)
    assert dialogue is not None, where
    probe = dialogue.step(step_id).follow_up
    if probe is None:
        return False
    return len(text.split()) < probe.min_words or (probe.when_vague and is_vague(text))


def rule_for(where: str, text: str) -> str:
    assert COACH is not None
    dialogue_id, step_id = where.split(".")
    dialogue = SHIPPED.get(dialogue_id)
    assert dialogue is not None, where
    step = dialogue.step(step_id)
    found = COACH.choose(dialogue_id, step, text, own_follow_up=own_follow_up(where, text))
    return found.rule if found else "-"


# ---- each rule, on answers that should and should not bring it ---------------------------

RULES = {
    "strengths_first": (
        "gibbs.less_well",
        [
            "It was all my fault.",
            "I'm useless at this.",
            "I should have known he was lying.",
            "Stupid mistake on my part.",
            "I feel like such an idiot.",
            "I let the family down.",
            "I've been kicking myself all evening.",
        ],
        [
            "It wasn't my fault, the system timed out.",
            "Mum said it was all my fault.",
            "Not my fault, but I wish I'd checked.",
            "I don't blame myself, it was a joint decision.",
            "The young person said he's useless at maths.",
            "I'm the worst at remembering names, so I write them down.",
        ],
    ),
    "other_explanations": (
        "gibbs.what_happened",
        [
            "She was obviously lying about the bruise.",
            "Dad is manipulative and played me from the start.",
            "He only did it to wind me up.",
            "They knew exactly what they were doing.",
            "She's lying through her teeth.",
        ],
        [
            "I don't think she was lying, she seemed frightened.",
            "Maybe he was lying, or maybe he was embarrassed.",
            "She was obviously relieved to see her brother.",
            "He was clearly upset when we talked about school.",
        ],
    ),
    "pressures": (
        "gibbs.why",
        [
            "I had 32 cases and hadn't seen them for six weeks.",
            "There was no handover, so I didn't know the history.",
            "The system was down all morning.",
            "We're short staffed and I was covering duty.",
            "Nobody told me about the previous section 47.",
        ],
        [
            "One of the families on my caseload moved house.",
            "I raised the caseload with my manager and she's taking it forward.",
            "It went well because I had prepared.",
        ],
    ),
    "why": (
        "gibbs.why",
        [
            "The meeting went badly and we didn't agree a plan.",
            "I missed the signs of neglect.",
            "Dad didn't engage.",
            "The safety plan wasn't followed.",
        ],
        [
            "It went wrong because I rushed the introduction.",
            "Nothing went wrong, it was a calm visit.",
            "Partly my approach, which meant mum felt ambushed.",
            "I didn't explain the plan, so mum was confused.",
        ],
    ),
    "feelings": (
        "gibbs.feelings",
        [
            "I did the checks and left.",
            "fine",
            "Busy.",
            "I was thinking about whether to call the police.",
        ],
        [
            "I felt fine about it because I'd prepared well.",
            "Anxious going in, relieved afterwards.",
            "Upset. The little girl cried when I left.",
            "Mixed: sad for the kids but glad they're safe.",
        ],
    ),
    "say_more": (
        "gibbs.kinder_view",
        ["dont know", "Not much.", "ok", "Not sure.", "idk"],
        [
            "I'd tell them they did their best with what they knew.",
            "Be kind to yourself.",
            # Saying no to the question, which is let be, not pressed.
            "pass",
            "No comment.",
            # A fair answer to some questions ("who else should know?"): let be.
            "Nothing really.",
            "none",
            "n/a",
        ],
    ),
}


@pytest.mark.parametrize(
    ("rule", "where", "text"),
    [(rule, where, text) for rule, (where, yes, _) in RULES.items() for text in yes],
)
def test_a_rule_asks_when_its_words_are_there(rule: str, where: str, text: str) -> None:
    assert rule_for(where, text) == rule


@pytest.mark.parametrize(
    ("rule", "where", "text"),
    [(rule, where, text) for rule, (where, _, no) in RULES.items() for text in no],
)
def test_a_rule_stays_quiet_when_they_are_not(rule: str, where: str, text: str) -> None:
    assert rule_for(where, text) != rule


def test_the_why_rule_asks_only_where_why_is_the_question() -> None:
    assert rule_for("gibbs.why", "I missed the signs of neglect.") == "why"
    assert rule_for("gibbs.what_happened", "I missed the signs of neglect.") == "-"


def test_the_feelings_rule_asks_only_where_feelings_were_asked() -> None:
    assert rule_for("gibbs.feelings", "I did the checks and left.") == "feelings"
    assert rule_for("gibbs.what_happened", "I did the checks and left.") == "-"


def test_one_word_answers_get_the_questions_own_follow_up_where_it_has_one() -> None:
    assert rule_for("gibbs.went_well", "dont know") == "-"  # its own follow-up is asked
    assert rule_for("weekly.take_forward", "dont know") == "say_more"


def test_a_higher_priority_rule_wins() -> None:
    both = "It was all my fault, but I had 30 cases and no handover."
    assert rule_for("gibbs.why", both) == "strengths_first"
    assert rule_for("gibbs.why", "I had 30 cases and I missed the signs.") == "pressures"


def test_the_coach_is_quiet_in_a_friends_feedback_and_free_writing() -> None:
    assert COACH is not None
    feedback = SHIPPED.get("friend_feedback")
    assert feedback is not None
    assert COACH.choose("friend_feedback", feedback.steps[0], "It was all my fault.") is None
    assert "write" in COACH.quiet_in


def test_the_question_quotes_the_words_that_fitted() -> None:
    assert COACH is not None
    step = SHIPPED.dialogues["weekly"].step("take_forward")
    asked = COACH.choose("weekly", step, "Not much.")
    assert asked is not None
    assert 'You said "Not much."' in asked.question


def test_every_question_is_warm_plain_and_without_exclamation_marks() -> None:
    assert COACH is not None
    for rule in COACH.rules:
        assert "!" not in rule.ask
        assert rule.ask.rstrip().endswith("?")
        assert len(rule.ask) < 400


def test_the_workload_question_does_not_say_there_was_a_mistake() -> None:
    # It is asked anywhere, often of a visit that went well in spite of the pressure.
    assert rule_for("gibbs.what_happened", GOOD_UNDER_PRESSURE) == "pressures"
    assert COACH is not None
    asked = COACH.choose("gibbs", SHIPPED.dialogues["gibbs"].steps[0], GOOD_UNDER_PRESSURE)
    assert asked is not None
    assert "mistake" not in asked.question.lower()


GOOD_UNDER_PRESSURE = "I had no time to prepare, but the visit went well and mum talked openly."


# ---- the file ----------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "coach.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
negators: [not]
rules:
  - id: blame
    applies_at: anywhere
    when: ["my fault"]
    ask: What did you do well?
"""


def test_a_small_file_loads(tmp_path: Path) -> None:
    rules = load_coach(write(tmp_path, GOOD))
    assert [rule.id for rule in rules.rules] == ["blame"]


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (GOOD.replace("id: blame", "id: Blame"), 3, "a rule id uses lower-case letters"),
        (GOOD.replace('["my fault"]', '["(my fault"]'), 5, "not a valid phrase"),
        (GOOD.replace('["my fault"]', '["{who} fault"]'), 5, "unknown piece {who}"),
        (GOOD.replace("applies_at: anywhere", "applies_at: everywhere"), 4, "write 'anywhere'"),
        (GOOD.replace("    ask: What did you do well?\n", ""), 3, "'ask' is missing"),
        (GOOD + "    colour: blue\n", 7, "unknown key 'colour'"),
        (GOOD.replace("ask: What", "ask: So {answer}, what"), 6, "'{answer}' is not known here"),
        (GOOD + GOOD.split("rules:\n")[1], 7, "rule id 'blame' is used twice"),
        ("rules: [\n", 2, "not valid YAML"),
    ],
)
def test_problems_are_reported_as_file_line(
    tmp_path: Path, change: str, line: int, message: str
) -> None:
    path = write(tmp_path, change)
    with pytest.raises(CoachError) as raised:
        load_coach(path)
    first = str(raised.value.problems[0])
    assert first.startswith(f"{path}:{line}: "), first
    assert message in first


def test_a_broken_coach_file_leaves_the_dialogues_running(tmp_path: Path) -> None:
    for name in ("gibbs.yaml", "gibbs_quick.yaml"):
        (tmp_path / name).write_text((DIALOGUES / name).read_text())
    write(tmp_path, "rules: []\n")
    catalog = load_catalog([tmp_path])
    assert set(catalog.dialogues) == {"gibbs", "gibbs_quick"}
    assert catalog.coach is None
    assert [p.file for p in catalog.problems] == [str(tmp_path / "coach.yaml")]


def run_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "dialogues", "check", *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_dialogues_check_reads_the_coach_file_and_exits_2_when_it_is_broken(
    tmp_path: Path,
) -> None:
    (tmp_path / "gibbs.yaml").write_text((DIALOGUES / "gibbs.yaml").read_text())
    path = write(tmp_path, GOOD.replace('["my fault"]', '["(my fault"]'))
    result = run_check(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith(f"{path}:5: ")
    assert "Traceback" not in result.stderr
    good = run_check(write(tmp_path, GOOD))
    assert good.returncode == 0, good.stdout + good.stderr


def test_a_dialogue_step_may_name_its_topics(tmp_path: Path) -> None:
    text = (DIALOGUES / "gibbs_quick.yaml").read_text()
    text = text.replace("  - id: learnt\n", "  - id: learnt\n    topics: [causes]\n")
    (tmp_path / "gibbs_quick.yaml").write_text(text)
    write(tmp_path, (DIALOGUES / "coach.yaml").read_text())
    catalog = load_catalog([tmp_path])
    assert not catalog.problems
    assert catalog.coach is not None
    step = catalog.dialogues["gibbs_quick"].step("learnt")
    assert step.topics == ("causes",)
    asked = catalog.coach.choose("gibbs_quick", step, "The meeting went badly and we argued.")
    assert asked is not None
    assert asked.rule == "why"


# ---- the labelled sets -------------------------------------------------------------------


def labelled(name: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, where, text = line.split("\t")
            rows.append((label, where, text))
    return rows


def figures(rows: list[tuple[str, str, str]], title: str) -> dict[str, tuple[float, float]]:
    assert COACH is not None
    asked: Counter[str] = Counter()
    wanted: Counter[str] = Counter()
    right: Counter[str] = Counter()
    misses = []
    for label, where, text in rows:
        got = rule_for(where, text)
        asked[got] += got != "-"
        wanted[label] += label != "-"
        right[got] += got == label != "-"
        if got != label:
            misses.append(f"  wanted {label}, got {got} at {where}: {text}")
    result = {}
    print(f"\n{title}: {len(rows)} answers, {sum(wanted.values())} with a rule")
    for rule in [*(r.id for r in COACH.rules), "overall"]:
        hit = sum(right.values()) if rule == "overall" else right[rule]
        made = sum(asked.values()) if rule == "overall" else asked[rule]
        want = sum(wanted.values()) if rule == "overall" else wanted[rule]
        precision = hit / made if made else 1.0
        recall = hit / want if want else 1.0
        result[rule] = (precision, recall)
        print(
            f"  {rule:<19} precision {precision:.2f} ({hit} of {made} asked), "
            f"recall {recall:.2f} ({hit} of {want} wanted)"
        )
    print("\n".join(misses))
    return result


def test_the_labelled_set_is_big_enough_and_mixed() -> None:
    rows = labelled("coach_labelled.tsv")
    assert len(rows) >= 150
    assert len({(where, text) for _, where, text in rows}) == len(rows)
    counts = Counter(label for label, _, _ in rows)
    assert counts["-"] >= len(rows) * 0.35
    assert COACH is not None
    assert all(counts[rule.id] >= 10 for rule in COACH.rules), counts
    for _, where, _ in rows:
        dialogue_id, step_id = where.split(".")
        assert SHIPPED.dialogues[dialogue_id].has_step(step_id), where


def test_precision_and_recall_on_the_labelled_set() -> None:
    result = figures(labelled("coach_labelled.tsv"), "coach_labelled.tsv (tuned on)")
    for rule, (precision, recall) in result.items():
        assert precision >= FLOORS["precision"], rule
        assert recall >= FLOORS["recall"], rule


def test_precision_and_recall_on_the_fresh_labelled_set() -> None:
    rows = labelled("coach_fresh.tsv")
    assert len(rows) >= 50
    precision, recall = figures(rows, "coach_fresh.tsv (written after tuning)")["overall"]
    assert precision >= FRESH_FLOORS["precision"]
    assert recall >= FRESH_FLOORS["recall"]


# ---- the exchange, kept with the answer --------------------------------------------------


def test_an_exchange_is_kept_in_the_answer_and_read_back() -> None:
    kept = coaching.encode("It was my fault.\n\nI did ring the GP.", "strengths_first", "Q?", 1)
    assert kept == (
        "It was my fault.\n\nCritical Friend asked (strengths_first): Q?\n\nI did ring the GP."
    )
    assert coaching.parse(kept) == Exchange(
        "It was my fault.", "strengths_first", "Q?", "I did ring the GP."
    )
    assert coaching.worker_words(kept) == "It was my fault.\n\nI did ring the GP."
    assert coaching.parse("A plain answer.") is None
    assert coaching.worker_words("A plain answer.") == "A plain answer."


def test_a_first_answer_of_several_paragraphs_stays_before_the_question() -> None:
    first = "One.\n\nTwo."
    kept = coaching.encode(coaching.join(first, "Three."), "why", "Why?", 2)
    found = coaching.parse(kept)
    assert found is not None
    assert (found.answer, found.reply) == (first, "Three.")


def test_a_skipped_follow_up_is_kept_without_a_reply() -> None:
    kept = coaching.encode("fine", "feelings", "How did it feel?", 1)
    assert coaching.parse(kept) == Exchange("fine", "feelings", "How did it feel?", "")
    assert "(You moved on without answering.)" in with_follow_up(kept)


def test_the_journal_shows_the_whole_exchange() -> None:
    kept = coaching.encode(coaching.join(SELF_BLAME, "I did ring mum."), "strengths_first", "Q?", 1)
    record = ReflectionRecord(
        id=3,
        dialogue_id="gibbs",
        started_at=NOW,
        finished_at=NOW,
        summary="",
        answers={"what_happened": kept, "feelings": "Tired."},
        revisions={},
        follow_ups=[],
        peer=[],
    )
    text = render_one(record, SHIPPED, "text")
    assert f"{SELF_BLAME}\n\nCritical Friend asked: Q?\n\nI did ring mum." in text
    markdown = render_one(record, SHIPPED, "markdown")
    assert "*Critical Friend asked:* Q?" in markdown
    data = json.loads(render_one(record, SHIPPED, "json"))
    assert data["answers"]["what_happened"] == f"{SELF_BLAME}\n\nI did ring mum."
    assert data["coaching"] == {
        "what_happened": {
            "rule": "strengths_first",
            "question": "Q?",
            "answer": SELF_BLAME,
            "reply": "I did ring mum.",
        }
    }


def test_an_earlier_version_in_the_markdown_copy_shows_the_exchange_without_the_rule() -> None:
    kept = coaching.encode(coaching.join(SELF_BLAME, "I did ring mum."), "strengths_first", "Q?", 1)
    reflection = {
        "dialogue": "gibbs",
        "finished_at": NOW.isoformat(),
        "answers": {"what_happened": "I rang mum and apologised."},
        "revisions": {"what_happened": [kept]},
        "follow_ups": [],
        "peer_reflection": [],
    }
    data = {
        "profile": {
            "display_name": "Sam",
            "organisation": "Org",
            "time_zone": None,
            "team": None,
            "line_manager": None,
            "joined_at": NOW.isoformat(),
            "chat_apps": [],
        },
        "nudge_settings": None,
        "reflections": [reflection],
        "drafts": [],
        "critical_friends": {
            "in_pool": False,
            "in_rounds": False,
            "pairings": [],
            "shared": [],
            "feedback_given": [],
        },
        "audit": [],
    }
    copy = export_markdown(data, SHIPPED, NOW)
    assert f"*An earlier version:* {SELF_BLAME}" in copy
    assert "*Critical Friend asked:* Q?" in copy
    assert "(strengths_first)" not in copy


# ---- the engine --------------------------------------------------------------------------


def context(**changes: object) -> Context:
    base = Context(
        catalog=SHIPPED,
        now=NOW,
        new_run_key="run-1",
        display_name="Sam",
        identifiers=default_patterns(),
        cues=default_cues(),
    )
    return replace(base, **changes)


@dataclass
class Chat(EngineChat):
    ctx: Context = field(default_factory=context)
    user: UserRef = USER
    dialogue: str = "gibbs"


def texts(turn: Turn) -> str:
    return "\n".join(reply.text for reply in turn.replies)


def saved(effects: list[Effect]) -> dict[str, str]:
    return {e.step_id: e.text for e in effects if isinstance(e, AnswerSaved)}


def coached(turn: Turn) -> bool:
    return wording.COACH_SKIP in texts(turn)


def cared(turn: Turn) -> bool:
    return wording.CARE_CHOICE in texts(turn)


FEELINGS_PROMPT = "What were you thinking and feeling at the time?"


def test_a_self_blaming_answer_gets_a_reframe_before_the_next_question() -> None:
    chat = Chat()
    chat.start()
    turn = chat.says(SELF_BLAME)
    assert "harder on yourself" in texts(turn)
    assert coached(turn)
    assert FEELINGS_PROMPT not in texts(turn)
    assert chat.run.step_id == "what_happened"
    assert not saved(chat.effects)
    after = chat.says("I did ring mum straight away and explained.")
    assert FEELINGS_PROMPT in texts(after)
    found = coaching.parse(saved(chat.effects)["what_happened"])
    assert found is not None
    assert (found.answer, found.rule) == (SELF_BLAME, "strengths_first")
    assert found.reply == "I did ring mum straight away and explained."


def test_a_neutral_full_answer_goes_straight_to_the_next_question() -> None:
    chat = Chat()
    chat.start()
    turn = chat.says(NEUTRAL)
    assert FEELINGS_PROMPT in texts(turn)
    assert not coached(turn)
    assert saved(chat.effects) == {"what_happened": NEUTRAL}


def test_skip_is_never_followed_up_and_skipping_the_follow_up_keeps_the_exchange() -> None:
    chat = Chat()
    chat.start()
    turn = chat.says("skip")
    assert not coached(turn)
    assert FEELINGS_PROMPT in texts(turn)
    assert coached(chat.says("fine"))
    moved_on = chat.says("skip")
    assert not coached(moved_on)
    assert "What went well" in texts(moved_on)
    found = coaching.parse(saved(chat.effects)["feelings"])
    assert found is not None
    assert (found.answer, found.rule, found.reply) == ("fine", "feelings", "")


def test_never_two_follow_ups_on_one_question() -> None:
    chat = Chat()
    chat.start()
    assert coached(chat.says("My fault."))  # short too: the coach asks, not the step's own
    turn = chat.says("ok")
    assert FEELINGS_PROMPT in texts(turn)
    assert chat.run.probed == ["what_happened"]


def test_back_at_the_follow_up_keeps_the_first_answer_as_written() -> None:
    chat = Chat()
    chat.start()
    chat.says(SELF_BLAME)
    turn = chat.says("back")
    assert saved(chat.effects) == {"what_happened": SELF_BLAME}
    assert "Critical Friend asked" not in texts(turn)
    assert chat.run.coached is None
    again = chat.says("It was all my fault, really.")  # a new version: not followed up
    assert FEELINGS_PROMPT in texts(again)


def test_a_distress_cue_brings_care_and_no_follow_up_in_the_same_turn() -> None:
    chat = Chat()
    chat.start()
    turn = chat.says("It was all my fault and I can't go on like this.")
    assert cared(turn)
    assert not coached(turn)
    carried = chat.presses(CARE_CONTINUE)
    assert not coached(carried)
    assert FEELINGS_PROMPT in texts(carried)


def test_identifiers_in_the_reply_are_redacted_and_the_exchange_stays_in_place() -> None:
    chat = Chat()
    chat.start()
    chat.says(SELF_BLAME)
    chat.says("I rang Mrs Begum on 07700 900123 to apologise.")
    chat.presses("redact")
    found = coaching.parse(saved(chat.effects)["what_happened"])
    assert found is not None
    assert found.answer == SELF_BLAME
    assert "07700" not in found.reply
    assert "[phone]" in found.reply


def test_edit_of_a_held_reply_shows_the_first_answer_too_so_it_is_not_lost() -> None:
    """The new version replaces the first answer and the reply together: both are shown."""
    chat = Chat()
    chat.start()
    chat.says(SELF_BLAME)
    reply = "I rang Mrs Begum on 07700 900123 to apologise."
    chat.says(reply)
    editing = chat.presses("edit")
    asked = texts(editing)
    assert SELF_BLAME in asked
    assert reply in asked
    assert "whole new version" in asked


def test_the_follow_up_survives_a_restart_and_old_states_load() -> None:
    chat = Chat()
    chat.start()
    chat.says(SELF_BLAME)
    stored = json.loads(json.dumps(chat.state.to_json()))
    assert SessionState.from_json(stored).run == chat.run
    old = dict(stored["run"])
    del old["coached"]
    assert RunState.from_json(old).coached is None


def test_the_summary_has_the_workers_words_not_the_question() -> None:
    chat = Chat(dialogue="gibbs_quick")
    chat.start()
    chat.says(SELF_BLAME)
    chat.says("I did ring mum.")
    for _ in range(10):
        if chat.state.pending:
            break
        chat.says(NEUTRAL + " I felt calm and relieved.")
    end = chat.says("No thanks")
    assert "I did ring mum." in texts(end)
    assert "Critical Friend asked" not in texts(end)


# ---- a property: at most one follow-up a question, never after skip, never with care -----

ANSWERS = [
    SELF_BLAME,
    NEUTRAL,
    "fine",
    "ok",
    "I had 32 cases and no handover.",
    "She was obviously lying.",
    "The meeting went badly.",
    "I can't go on.",
    "skip",
    "skip",
    "back",
    "pause",
    "resume",
    "1",
    CARE_CONTINUE,
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["gibbs", "gibbs_quick", "driscoll", "mistake"]),
    st.lists(st.sampled_from(ANSWERS), min_size=3, max_size=25),
)
def test_one_follow_up_at_most_never_after_skip_never_with_care(
    dialogue: str, messages: list[str]
) -> None:
    chat = Chat(dialogue=dialogue)
    chat.start()
    asked: Counter[tuple[str, str]] = Counter()
    for message in messages:
        before = chat.state.run
        was_asked = before is not None and before.coached is not None
        turn = chat.presses(message) if message == CARE_CONTINUE else chat.says(message)
        after = chat.state.run
        if any(isinstance(effect, RunStarted) for effect in turn.effects):
            asked.clear()  # a new reflection (this stand-in gives every run the same key)
        if after is None or after.coached is None or was_asked:
            continue  # no follow-up newly asked (shown again after resume or help is not new)
        assert coached(turn), messages
        assert not cared(turn), messages
        assert message.strip() != "skip", messages
        asked[(after.key, after.step_id)] += 1
        assert asked[(after.key, after.step_id)] == 1, messages


def test_the_catalog_without_a_coach_asks_only_the_steps_own_follow_ups() -> None:
    quiet = Catalog.of(SHIPPED.dialogues.values())
    chat = Chat(ctx=context(catalog=quiet))
    chat.start()
    turn = chat.says(SELF_BLAME + " I should have checked the address twice.")
    assert not coached(turn)
    assert FEELINGS_PROMPT in texts(turn)
