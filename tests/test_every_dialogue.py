"""Every dialogue file, end to end, through the real service on SQLite and PostgreSQL.

The files are found when the tests are collected, so a new `dialogues/*.yaml` is
covered the moment it is added: a worker starts it, answers every free-text question
(first briefly, so any follow-up is asked, then properly), picks the first option of
every choice question, and finishes. The reflection must then be in the journal with
every answer, and nothing the worker was shown may carry a traceback, a `{placeholder}`
left unfilled, or a stray "None".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.dialogues import Dialogue, Step, load_dialogue
from bot.dialogues.loader import dialogue_files
from bot.dialogues.model import PLACEHOLDER
from bot.engine import coach, wording
from bot.messages import Outgoing
from bot.service import ConversationService
from bot.store.models import reflections
from bot.store.repository import Store
from tests.worker import Worker, only_reflection, text_of

DIALOGUES = Path(__file__).resolve().parent.parent / "dialogues"
# Every reflective model; not coach.yaml, which holds the coaching follow-ups' rules.
DIALOGUE_FILES = dialogue_files([DIALOGUES])
MAX_TURNS = 200  # far more than any dialogue needs; a loop in a file stops here

BRIEF = "Hard."  # one word: short enough for any follow-up that asks for two words or more
ANSWER = (
    "We met the family at home, talked through the plan together, and agreed what "
    "each of us would do over the next two weeks before the review meeting."
)


def test_the_dialogues_folder_has_files_to_check() -> None:
    assert len(DIALOGUE_FILES) >= 3


def literal_parts(template: str) -> list[str]:
    """The text of a prompt around its {placeholders}, to find it in what was shown."""
    return [part.strip() for part in PLACEHOLDER.split(template)[::2] if part.strip()]


def shows(text: str, template: str) -> bool:
    parts = literal_parts(template)
    return bool(parts) and all(part in text for part in parts)


def asked_step(dialogue: Dialogue, question: Outgoing) -> tuple[Step, bool]:
    """Which step a question is, and whether it is that step's follow-up."""
    matches: list[tuple[int, Step, bool]] = []
    for step in dialogue.steps:
        if shows(question.text, step.prompt):
            matches.append((len("".join(literal_parts(step.prompt))), step, False))
        if step.follow_up and shows(question.text, step.follow_up.prompt):
            matches.append((len("".join(literal_parts(step.follow_up.prompt))), step, True))
    assert matches, f"no step of {dialogue.id} asks: {question.text!r}"
    _, step, is_follow_up = max(matches, key=lambda match: match[0])
    return step, is_follow_up


@dataclass
class Walk:
    worker: Worker
    dialogue: Dialogue
    expected: dict[str, str] = field(default_factory=dict)  # step id -> what was saved
    follow_ups: list[str] = field(default_factory=list)
    coached: list[str] = field(default_factory=list)  # steps given a coaching follow-up
    last: str | None = None  # the step answered last
    finished: bool = False
    writing: bool = False  # a message of free writing was kept: `done` comes next

    def done_writing(self) -> None:
        self.writing = False
        reply = self.worker.says("done")
        assert not reply.failed, text_of(reply)
        self.finished = all(message.reply_token is None for message in reply.messages)

    def answer_one(self) -> None:
        """Answer the open question the way the brief says; note what should be kept."""
        if self.writing:
            self.done_writing()
            return
        question = self.worker.question
        if wording.COACH_SKIP in question.text:
            # A coaching follow-up (coach.yaml) on the answer just given: the canned
            # answer names no feelings, say. Answered; the worker's words are both
            # answers, and the stored answer keeps the question between them.
            assert self.last is not None
            self.coached.append(self.last)
            reply = self.worker.says(ANSWER)
            self.expected[self.last] = coach.join(self.expected[self.last], ANSWER)
            assert not reply.failed, text_of(reply)
            self.finished = all(message.reply_token is None for message in reply.messages)
            return
        step, is_follow_up = asked_step(self.dialogue, question)
        self.last = step.id
        if step.is_choice:
            assert [c.value for c in question.choices] == [c.value for c in step.choices]
            first = step.choices[0]
            reply = self.worker.presses(first.value)
            self.expected[step.id] = first.label
        elif step.collect is not None:
            # Free writing: one message, then `done` (a step may take many; see test_write).
            reply = self.worker.says(ANSWER)
            self.expected[step.id] = ANSWER
            self.writing = True
        elif is_follow_up:
            self.follow_ups.append(step.id)
            reply = self.worker.says(ANSWER)
            self.expected[step.id] = f"{BRIEF}\n\n{ANSWER}"
        elif step.follow_up is not None and step.id not in self.follow_ups:
            reply = self.worker.says(BRIEF)  # short, so the gentle follow-up comes
            if wording.COACH_SKIP in self.worker.question.text:
                # A coaching follow-up came first: it is the one follow-up of the step.
                self.expected[step.id] = BRIEF
                self.follow_ups.append(step.id)
                return
            if step.follow_up.min_words > len(BRIEF.split()):
                assert asked_step(self.dialogue, self.worker.question) == (step, True)
                return
            self.expected[step.id] = BRIEF  # its follow-up is content with one word
        else:
            reply = self.worker.says(ANSWER)
            self.expected[step.id] = ANSWER
        assert reply.messages, "the service said nothing"
        assert not reply.failed, text_of(reply)
        self.finished = all(message.reply_token is None for message in reply.messages)

    def to_the_end(self) -> None:
        for _ in range(MAX_TURNS):
            self.answer_one()
            if self.finished:
                return
        pytest.fail(f"{self.dialogue.id} did not finish within {MAX_TURNS} turns")


def check_what_was_shown(messages: list[Outgoing]) -> None:
    for message in messages:
        shown = "\n".join([message.text, message.footer or "", *(c.label for c in message.choices)])
        assert message.text.strip(), "an empty message was sent"
        assert "Traceback" not in shown, shown
        assert "{" not in shown, f"a placeholder was left: {shown!r}"
        assert "}" not in shown, f"a placeholder was left: {shown!r}"
        assert "None" not in shown, shown


@pytest.mark.parametrize("path", DIALOGUE_FILES, ids=lambda path: path.stem)
def test_a_worker_can_walk_through_the_whole_dialogue(
    path: Path, service: ConversationService, store: Store
) -> None:
    dialogue = load_dialogue(path)
    assert service.catalog.get(dialogue.id) == dialogue, "the service offers this file"
    worker = Worker(service)
    walk = Walk(worker, dialogue)
    started = worker.start(dialogue.id)
    if dialogue.intro:
        assert shows(text_of(started), dialogue.intro)
    walk.to_the_end()
    check_what_was_shown(worker.seen)

    # Every free-text step with a follow-up had it asked once, and kept both answers.
    probed = [
        s.id
        for s in dialogue.steps
        if s.follow_up and s.follow_up.min_words > 1 and s.id in walk.expected
    ]
    assert walk.follow_ups == probed
    # The closing (or the default thanks) is the last thing said.
    if dialogue.closing:
        assert shows(worker.last.text, dialogue.closing)
    else:
        assert "saved in your journal" in worker.last.text

    with store.transaction() as tx:
        assert tx.connection.scalar(select(func.count()).select_from(reflections)) == 1
        user_id = tx.find_user(worker.user)
        assert user_id is not None
        entries = tx.journal(user_id)
        assert [entry.dialogue_id for entry in entries] == [dialogue.id]
        record = tx.reflection(user_id, entries[0].id)
    assert record is not None
    assert coach.shown(record.answers) == walk.expected
    for step_id in walk.coached:  # the coaching question is kept with its answers
        assert coach.parse(record.answers[step_id]) is not None
    # The summary kept in the journal carries the answers: the file's own, or the default.
    if dialogue.summary:
        shown_in_summary = [s for s in PLACEHOLDER.findall(dialogue.summary) if s in walk.expected]
    else:
        shown_in_summary = list(walk.expected)
    for step_id in shown_in_summary:
        assert walk.expected[step_id] in record.summary

    listed = worker.says("journal")
    assert dialogue.title in text_of(listed)
    # Buttons-capable channels offer the entry as a button that types the same command.
    (button,) = listed.messages[0].shortcuts
    assert button.value == f"journal {entries[0].id}"
    assert dialogue.title in button.label
    shown = worker.says(button.value)
    assert ANSWER in text_of(shown)
    check_what_was_shown(listed.messages + shown.messages)


@pytest.mark.parametrize("path", DIALOGUE_FILES, ids=lambda path: path.stem)
def test_a_dialogue_paused_after_the_first_answer_carries_on_where_it_stopped(
    path: Path, service: ConversationService, store: Store
) -> None:
    dialogue = load_dialogue(path)
    worker = Worker(service)
    walk = Walk(worker, dialogue)
    worker.start(dialogue.id)
    # A one-question dialogue (friend_reply) ends with its first answer: it is paused
    # at that question instead.
    while not walk.expected and len(dialogue.steps) > 1:
        walk.answer_one()
    assert not walk.finished
    where = worker.question.text
    paused = worker.says("pause")
    assert "Paused" in text_of(paused)
    offer = worker.start()
    assert dialogue.title in text_of(offer)
    assert worker.question.choices[0].value.startswith("resume:")
    worker.presses(worker.question.choices[0].value)
    assert worker.question.text == where
    walk.to_the_end()
    check_what_was_shown(worker.seen)
    record = only_reflection(store, worker.user)
    assert coach.shown(record.answers) == walk.expected


def test_journal_with_a_number_that_is_not_a_digit_is_answered_not_a_crash(
    service: ConversationService,
) -> None:
    worker = Worker(service)
    worker.start("gibbs_quick")
    question = worker.question
    reply = worker.says("/journal ²")
    assert not reply.failed
    assert "Traceback" not in text_of(reply)
    last = reply.messages[-1]  # and the open question comes back
    assert (last.text, last.reply_token) == (question.text, question.reply_token)
