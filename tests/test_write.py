"""Free reflective writing: `/write` opens a journal entry with no script, taken in as many
messages as the worker likes until `done`.

Each message is kept as it arrives (its own stored answer, `entry`, `entry_part_2` ...),
passes the same care checks as any answer, and the finished entry sits in the journal
beside structured reflections: listed, opened, searched, tagged, revised, exported and
drafted into CPD. Engine first (no database), then the real service on SQLite and
PostgreSQL, then `critical-friend write` and `chat --json` as real processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.care.cues import default_cues
from bot.care.identifiers import default_patterns
from bot.cpd.draft import draft
from bot.dialogues import Catalog, Dialogue, DialogueError, load_catalog, load_dialogue
from bot.dialogues.model import joined, part_key, parts
from bot.engine import CARE_CONTINUE, REDACT, Context, Draft, Held, Mode, Turn, wording
from bot.engine.effects import AnswerSaved, Effect, RunFinished, RunPaused
from bot.messages import Command, IncomingKind, UserRef, parse_command
from bot.service import ConversationService
from bot.store.models import answers
from bot.store.repository import Store
from tests.chat_process import ChatProcess, cli_env, run_cli, texts
from tests.engine_chat import EngineChat
from tests.worker import Worker, only_reflection, text_of

DIALOGUES = Path(__file__).resolve().parent.parent / "dialogues"
WRITE = load_dialogue(DIALOGUES / "write.yaml")
NOW = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
USER = UserRef("terminal", "sam", "Sam")

FIRST = "A hard day at court\nThe hearing ran late and the family were upset."
SECOND = "I kept calm and explained each step to the mother as it happened."
THIRD = "Next time I will book the interpreter a day earlier."
# In --json mode a terminal takes each line as one message.
TITLE = "A hard day at court"

# A short dialogue with an ordinary question, a choice labelled Done, and free writing
# in the middle, to see `done` and free writing beside other kinds of step.
MIXED = Dialogue.model_validate(
    {
        "id": "mixed",
        "title": "Mixed",
        "description": "An ordinary question, free writing, then a choice.",
        "minutes": 5,
        "steps": [
            {"id": "what", "prompt": "What happened?"},
            {"id": "notes", "prompt": "Anything else on your mind?", "collect": "until_done"},
            {
                "id": "close",
                "prompt": "Finished?",
                "choices": [{"value": "done", "label": "Done"}, {"value": "more", "label": "More"}],
            },
        ],
    }
)
CATALOG = Catalog.of([WRITE, MIXED])


def context(**changes: object) -> Context:
    base = Context(
        catalog=CATALOG,
        now=NOW,
        new_run_key="run-1",
        display_name="Sam",
        identifiers=default_patterns(),
        cues=default_cues(),
    )
    return replace(base, **changes)


def chat(**changes: object) -> EngineChat:
    return EngineChat(context(**changes), USER, "write")


def said(turn: Turn) -> str:
    return "\n".join(reply.text for reply in turn.replies)


def saved(effects: list[Effect]) -> list[tuple[str, str]]:
    return [(e.step_id, e.text) for e in effects if isinstance(e, AnswerSaved)]


def finished(effects: list[Effect]) -> list[RunFinished]:
    return [e for e in effects if isinstance(e, RunFinished)]


# ---- the command words ----------------------------------------------------------------


def test_write_and_done_are_commands_only_as_the_whole_message() -> None:
    assert parse_command("/write") == Command("write")
    assert parse_command("write") == Command("write")
    assert parse_command("WRITE") == Command("write")
    assert parse_command("done") == Command("done")
    assert parse_command("/done") == Command("done")
    # Answers that merely start with the word stay answers.
    assert parse_command("write it all down") is None
    assert parse_command("done my best today") is None


# ---- the engine ---------------------------------------------------------------------


def test_write_opens_an_entry_and_each_message_is_saved_as_it_arrives() -> None:
    sam = chat()
    opened = sam.says("/write")
    assert sam.run.dialogue_id == "write"
    assert WRITE.intro is not None
    assert WRITE.intro in said(opened)
    assert WRITE.steps[0].prompt in said(opened)
    assert opened.replies[-1].footer == wording.HOW_TO_PAUSE

    first = sam.says(FIRST)
    assert saved(first.effects) == [("entry", FIRST)]
    assert said(first) == wording.NOTED_FIRST
    assert first.replies[-1].reply_token == sam.state.reply_token  # still open
    second = sam.says(SECOND)
    assert saved(second.effects) == [("entry_part_2", SECOND)]
    assert said(second) == wording.NOTED  # quieter from now on
    third = sam.says(THIRD)
    assert saved(third.effects) == [("entry_part_3", THIRD)]
    assert said(third) == wording.NOTED
    assert sam.run.answers == {"entry": FIRST, "entry_part_2": SECOND, "entry_part_3": THIRD}

    done = sam.says("done")
    (end,) = finished(done.effects)
    assert f"{FIRST}\n\n{SECOND}\n\n{THIRD}" in end.summary
    assert WRITE.closing is not None
    assert said(done).endswith(WRITE.closing)
    assert sam.state.mode is Mode.IDLE
    assert not saved(done.effects)  # done adds nothing to the entry


def test_bare_write_starts_it_too_and_a_slash_done_finishes() -> None:
    sam = chat()
    sam.says("write")
    sam.says(FIRST)
    assert finished(sam.says("/done").effects)


def test_writing_is_offered_in_the_menu_last() -> None:
    shipped = load_catalog([DIALOGUES])
    assert not [p for p in shipped.problems if p.file.endswith("write.yaml")]
    assert shipped.listed[-1].id == "write"
    sam = chat(catalog=shipped)
    menu = sam.send(IncomingKind.START, "")
    values = [choice.value for choice in menu.replies[-1].choices]
    assert "dialogue:write" in values
    sam.presses("dialogue:write")
    assert sam.run.dialogue_id == "write"


def test_done_or_skip_with_nothing_written_saves_nothing_and_asks_kindly() -> None:
    sam = chat()
    sam.says("/write")
    for word in ("done", "skip", "/done"):
        turn = sam.says(word)
        assert said(turn) == wording.ENTRY_EMPTY
        assert not turn.effects
        assert sam.state.mode is Mode.IN_RUN
    # The worker can still write, and then it is saved.
    sam.says(SECOND)
    assert finished(sam.says("done").effects)


def test_skip_after_writing_finishes_the_entry_like_done() -> None:
    sam = chat()
    sam.says("/write")
    sam.says(FIRST)
    (end,) = finished(sam.says("skip").effects)
    assert FIRST.splitlines()[0] in end.summary


def test_stop_then_discard_deletes_the_entry() -> None:
    sam = chat()
    sam.says("/write")
    sam.says(FIRST)
    assert wording.CONFIRM_STOP in said(sam.says("stop"))
    carried_on = sam.presses("continue")
    assert FIRST.splitlines()[-1] in said(carried_on)  # where the entry had got to
    sam.says("stop")
    sam.presses("discard")
    assert sam.state.mode is Mode.IDLE
    assert not finished(sam.effects)


def test_back_has_nowhere_to_go_and_says_what_is_kept() -> None:
    sam = chat()
    sam.says("/write")
    sam.says(FIRST)
    turn = sam.says("back")
    assert said(turn).startswith(wording.NO_BACK_IN_ENTRY)
    assert not turn.effects
    assert sam.run.answers == {"entry": FIRST}


def test_done_when_nothing_is_open_says_how_to_start() -> None:
    sam = chat()
    assert said(sam.says("done")) == wording.NOTHING_TO_FINISH


def test_done_at_an_ordinary_question_is_an_answer_and_at_a_choice_picks_done() -> None:
    sam = chat()
    sam.says("/reflect mixed")
    sam.says("done")
    assert sam.run.answers == {"what": "done"}
    assert sam.run.step_id == "notes"
    sam.says(SECOND)
    sam.says(THIRD)
    sam.says("done")  # finishes the free writing, not the reflection
    assert sam.run.step_id == "close"
    assert not finished(sam.effects)
    sam.says("done")  # typed at the choice labelled Done: that choice
    (end,) = finished(sam.effects)
    assert f"{SECOND}\n\n{THIRD}" in end.summary
    assert saved(sam.effects)[-1] == ("close", "Done")


def test_done_from_an_older_window_is_stale() -> None:
    sam = chat()
    sam.says("/write")
    old = sam.state.reply_token
    sam.says(FIRST)
    turn = sam.send(IncomingKind.TEXT, "done", old)
    assert turn.stale
    assert not turn.effects
    assert sam.state.mode is Mode.IN_RUN


def test_a_care_cue_in_one_message_is_answered_with_care_and_the_rest_is_kept() -> None:
    sam = chat()
    sam.says("/write")
    sam.says(FIRST)
    held = sam.says("Honestly, I can't go on like this.")
    assert not saved(held.effects)
    assert sam.run.held_for is Held.CARE
    assert "Samaritans" in said(held)
    assert sam.run.answers == {"entry": FIRST}
    # done waits for the worker's choice; nothing is lost or finished
    waiting = sam.says("done")
    assert wording.ENTRY_WAITING in said(waiting)
    assert not finished(waiting.effects)
    carried = sam.presses(CARE_CONTINUE)
    assert saved(carried.effects) == [("entry_part_2", "Honestly, I can't go on like this.")]
    assert said(carried) == wording.NOTED_FIRST  # after the care message, the fuller word
    # The same words later in the same entry are not answered twice.
    again = sam.says("I can't go on like this, I said.")
    assert saved(again.effects) == [("entry_part_3", "I can't go on like this, I said.")]


def test_identifiers_in_a_message_are_offered_for_redaction_before_it_is_kept() -> None:
    sam = chat()
    sam.says("/write")
    sam.says(FIRST)
    held = sam.says("Mrs Patel rang me on 07700 900123 after the hearing.")
    assert sam.run.held_for is Held.IDENTIFIERS
    assert not saved(held.effects)
    kept = sam.presses(REDACT)
    assert saved(kept.effects) == [
        ("entry_part_2", "Mrs [name] rang me on [phone] after the hearing.")
    ]
    assert sam.state.mode is Mode.IN_RUN


def test_skip_with_a_message_held_waits_like_done_and_loses_nothing() -> None:
    sam = chat()
    sam.says("/write")
    sam.says(FIRST)
    sam.says("Mrs Patel rang me on 07700 900123 after the hearing.")
    waiting = sam.says("skip")
    assert wording.ENTRY_WAITING in said(waiting)
    assert not finished(waiting.effects)
    assert sam.run.held_for is Held.IDENTIFIERS
    kept = sam.presses(REDACT)
    assert saved(kept.effects) == [
        ("entry_part_2", "Mrs [name] rang me on [phone] after the hearing.")
    ]
    # The only message, held at the care question: skip neither drops it nor says the
    # entry is empty.
    alone = chat()
    alone.says("/write")
    alone.says("Honestly, I can't go on like this.")
    turn = alone.says("skip")
    assert wording.ENTRY_EMPTY not in said(turn)
    assert alone.run.held_answer == "Honestly, I can't go on like this."


def test_without_the_checks_configured_a_message_is_kept_as_written() -> None:
    sam = chat(identifiers=None, cues=None)
    sam.says("/write")
    turn = sam.says("Mrs Patel rang me on 07700 900123.")
    assert saved(turn.effects) == [("entry", "Mrs Patel rang me on 07700 900123.")]


def test_pausing_keeps_every_message_and_resuming_shows_where_it_got_to() -> None:
    sam = chat()
    sam.says("/write")
    sam.says(FIRST)
    sam.says(SECOND)
    paused = sam.says("pause")
    (pause,) = [e for e in paused.effects if isinstance(e, RunPaused)]
    assert pause.run.answers == {"entry": FIRST, "entry_part_2": SECOND}
    assert wording.YOUR_WRITING in said(paused)

    sam.ctx = context(drafts=(Draft(pause.run, NOW),), new_run_key="run-2")
    offer = sam.says("/write")
    assert "Free writing" in said(offer)
    resumed = sam.presses("resume:run-1")
    assert SECOND in said(resumed)
    assert "type done" in said(resumed)
    more = sam.says(THIRD)
    assert saved(more.effects) == [("entry_part_3", THIRD)]
    assert said(more) == wording.NOTED_FIRST  # the first message after a pause
    (end,) = finished(sam.says("done").effects)
    assert THIRD in end.summary


def test_a_held_message_waits_through_a_pause() -> None:
    sam = chat()
    sam.says("/write")
    sam.says("Mrs Patel rang me.")
    paused = sam.says("pause")
    (pause,) = [e for e in paused.effects if isinstance(e, RunPaused)]
    assert pause.run.held_answer == "Mrs Patel rang me."
    assert pause.run.answers == {}


def test_the_whole_entry_is_limited_like_one_answer_and_nothing_is_cut() -> None:
    sam = chat(max_answer_chars=100)
    sam.says("/write")
    sam.says("a" * 60)
    refused = sam.says("b" * 50)
    assert wording.entry_full(100) in said(refused)
    assert not refused.effects
    assert sam.run.answers == {"entry": "a" * 60}
    one_too_long = sam.says("c" * 101)
    assert "101 characters" in said(one_too_long)
    assert finished(sam.says("done").effects)


def test_a_long_last_message_is_shortened_from_the_front_when_shown_again() -> None:
    shown = wording.entry_so_far("word " * 200, 280)
    assert shown.startswith("Your entry so far ends:\n…word")
    assert len(shown) < 400


# ---- the format and its checks ----------------------------------------------------------


def test_parts_and_joined_read_the_messages_in_order() -> None:
    written = {"what": "x", "notes": "one", part_key("notes", 2): "two", "notes_part_3": "three"}
    assert parts(written, "notes") == ["one", "two", "three"]
    assert parts(written, "missing") == []
    assert joined(written, MIXED) == {"what": "x", "notes": "one\n\ntwo\n\nthree"}


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("    follow_up:\n      prompt: More?\n", "cannot have 'follow_up'"),
        ("    guard: blame\n", "cannot have 'guard'"),
        ("    choices:\n      - value: a\n        label: A\n", "cannot have 'choices'"),
    ],
)
def test_free_writing_with_a_follow_up_guard_or_choices_is_reported_at_its_line(
    tmp_path: Path, extra: str, problem: str
) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text(
        "title: Mine\ndescription: Mine.\nminutes: 5\nsteps:\n"
        "  - id: entry\n    prompt: Write.\n    collect: until_done\n" + extra
    )
    with pytest.raises(DialogueError) as raised:
        load_dialogue(file)
    (found,) = [p for p in raised.value.problems if problem in p.message]
    assert found.line >= 5


def test_a_step_named_like_a_later_message_is_reported(tmp_path: Path) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text(
        "title: Mine\ndescription: Mine.\nminutes: 5\nsteps:\n"
        "  - id: entry\n    prompt: Write.\n    collect: until_done\n"
        "  - id: entry_part_2\n    prompt: Then?\n"
    )
    with pytest.raises(DialogueError) as raised:
        load_dialogue(file)
    assert any("entry_part_2" in p.message for p in raised.value.problems)


def test_an_unknown_way_of_collecting_is_reported(tmp_path: Path) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text(
        "title: Mine\ndescription: Mine.\nminutes: 5\nsteps:\n"
        "  - id: entry\n    prompt: Write.\n    collect: forever\n"
    )
    with pytest.raises(DialogueError) as raised:
        load_dialogue(file)
    assert any(p.line == 7 for p in raised.value.problems)


# ---- the service, on SQLite and PostgreSQL ------------------------------------------------


def write_an_entry(worker: Worker, *messages: str) -> int:
    """A whole entry through the service; the journal number it got."""
    worker.says("/write")
    for message in messages:
        reply = worker.says(message)
        assert reply.waiting
        assert not reply.failed
    done = worker.says("done")
    assert not done.waiting, text_of(done)
    listing = worker.says("journal")
    return int(listing.messages[0].shortcuts[0].value.split()[1])


def test_an_entry_is_in_the_journal_with_its_first_line_and_every_message(
    service: ConversationService, store: Store
) -> None:
    sam = Worker(service)
    number = write_an_entry(sam, FIRST, SECOND, THIRD)
    listing = text_of(sam.says("journal"))
    assert "Free writing" in listing
    assert "A hard day at court" in listing  # the first line is its title in the list
    shown = text_of(sam.says(f"journal {number}"))
    assert f"{FIRST}\n\n{SECOND}\n\n{THIRD}" in shown  # one text, in order
    assert shown.count(WRITE.steps[0].prompt.splitlines()[0]) == 1
    record = only_reflection(store, sam.user)
    assert record.answers == {"entry": FIRST, "entry_part_2": SECOND, "entry_part_3": THIRD}
    assert record.revisions == {}  # each message stored once, never copied again


def test_an_entry_is_found_by_search_tagged_revised_and_exported(
    service: ConversationService, store: Store
) -> None:
    sam = Worker(service)
    number = write_an_entry(sam, FIRST, SECOND, THIRD)
    found = text_of(sam.says("journal search interpreter"))
    assert "Free writing" in found
    assert "court" in text_of(sam.says(f"tag {number} court"))
    assert "A hard day at court" in text_of(sam.says("journal search tag:court model:write"))
    assert "Nothing" in text_of(sam.says("journal search tag:court model:gibbs"))

    listed = text_of(sam.says(f"revise {number}"))
    assert "1. A hard day at court" in listed
    assert "3. Next time I will book" in listed
    sam.says(f"revise {number} 2: I stayed calm and explained each step.")
    record = only_reflection(store, sam.user)
    assert record.answers["entry_part_2"] == "I stayed calm and explained each step."
    assert record.revisions == {"entry_part_2": [SECOND]}

    files = [m.attachment for m in sam.says("export").messages if m.attachment is not None]
    as_json = json.loads(next(f for f in files if f.media_type == "application/json").content)
    (kept,) = as_json["reflections"]
    assert kept["dialogue"] == "write"
    assert kept["answers"]["entry"] == FIRST
    markdown = next(f for f in files if f.media_type == "text/markdown").content.decode()
    assert "Free writing" in markdown
    assert THIRD in markdown
    assert f"*An earlier version:* {SECOND}" in markdown  # the revised message's old text


def test_an_entry_drafts_a_cpd_record_from_its_own_words(
    service: ConversationService, store: Store
) -> None:
    sam = Worker(service)
    number = write_an_entry(sam, FIRST, SECOND, THIRD)
    record = only_reflection(store, sam.user)
    fields = draft(record, service.catalog)
    assert fields.title == "A hard day at court"
    assert fields.description.startswith("A hard day at court")
    assert fields.learnt == SECOND
    assert fields.impact == THIRD
    text = text_of(sam.says(f"cpd new {number}"))
    assert "A hard day at court" in text
    assert THIRD in text


def test_one_long_message_is_drafted_by_its_paragraphs(
    service: ConversationService, store: Store
) -> None:
    sam = Worker(service)
    write_an_entry(sam, f"{FIRST}\n\n{SECOND}\n\n{THIRD}")
    fields = draft(only_reflection(store, sam.user), service.catalog)
    assert (fields.learnt, fields.impact) == (SECOND, THIRD)


def test_an_entry_is_encrypted_at_rest(service: ConversationService, store: Store) -> None:
    sam = Worker(service)
    secret = "Kingfisher-4419 waited in the corridor"
    sam.says("/write")
    sam.says(f"{secret} for an hour.")
    sam.says("And then another hour.")
    with store.transaction() as tx:
        stored = [row.text_enc for row in tx.connection.execute(select(answers.c.text_enc))]
    assert len(stored) == 2
    assert all("Kingfisher" not in str(value) for value in stored)
    sam.says("done")
    assert secret in only_reflection(store, sam.user).answers["entry"]


def test_a_restart_mid_entry_keeps_every_message_and_carries_on(
    store: Store, catalog: Catalog
) -> None:
    first = ConversationService(store, catalog)
    sam = Worker(first)
    sam.says("/write")
    sam.says(FIRST)
    sam.says(SECOND)
    # The same message delivered again after a crash (the same event id) is not added twice.
    sam.says(THIRD, event_id="delivered-twice")
    first.close()  # the process goes away mid-entry

    again = ConversationService(store, catalog)
    try:
        sam = Worker(again)
        repeat = sam.says(THIRD, event_id="delivered-twice")
        assert repeat.duplicate
        offer = sam.start()  # a new session: the entry is offered to carry on
        assert "Free writing" in text_of(offer)
        resumed = sam.presses(sam.question.choices[0].value)
        assert THIRD in text_of(resumed)
        sam.says("One more thought after the break.")
        sam.says("done")
    finally:
        again.close()
    record = only_reflection(store, sam.user)
    assert parts(record.answers, "entry") == [
        FIRST,
        SECOND,
        THIRD,
        "One more thought after the break.",
    ]


def test_an_empty_entry_never_reaches_the_journal(service: ConversationService) -> None:
    sam = Worker(service)
    sam.says("/write")
    assert wording.ENTRY_EMPTY in text_of(sam.says("done"))
    sam.says("stop")
    sam.presses("discard")
    assert "journal is empty" in text_of(sam.says("journal"))


# ---- real processes: `critical-friend write` and `chat --json` -------------------------------


class WriteProcess(ChatProcess):
    """`critical-friend write --json`, driven like `chat --json`."""

    def __init__(self, home: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "write", "--json", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(home),
            cwd=Path(__file__).resolve().parent.parent,
        )
        self._buffer = b""


def test_critical_friend_write_opens_an_entry_that_lands_in_the_journal(tmp_path: Path) -> None:
    with WriteProcess(tmp_path, "--user", "alex") as process:
        opened = texts(process.read_until_prompt())
        assert WRITE.steps[0].prompt in opened
        assert process.send(TITLE)[-1]["text"] == wording.NOTED_FIRST
        assert process.send(SECOND)[-1]["text"] == wording.NOTED
        ended = texts(process.send("done"))
        assert "saved in your journal" in ended
        assert process.close_stdin() == 0
    listing = run_cli(tmp_path, "journal", "--user", "alex", "--format", "json")
    (entry,) = json.loads(listing.stdout)
    assert entry["dialogue"] == "write"
    assert entry["first_line"] == "A hard day at court"
    shown = run_cli(tmp_path, "journal", "show", str(entry["id"]), "--user", "alex")
    assert f"{TITLE}\n\n{SECOND}" in shown.stdout.decode()


def test_slash_write_in_chat_and_kill_9_mid_entry_keeps_what_was_written(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--user", "alex") as process:
        process.read_until_prompt()
        assert WRITE.steps[0].prompt in texts(process.send("/write"))
        process.send(TITLE)
        process.send(SECOND)
        process.kill_hard()
    with WriteProcess(tmp_path, "--user", "alex") as process:
        offer = process.read_until_prompt()
        assert "haven't finished" in texts(offer)
        resumed = process.send("1")
        assert SECOND in texts(resumed)
        process.send(THIRD)
        assert "saved in your journal" in texts(process.send("done"))
        process.close_stdin()
    shown = run_cli(tmp_path, "journal", "show", "1", "--user", "alex", "--format", "json")
    record = json.loads(shown.stdout)
    assert parts(record["answers"], "entry") == [TITLE, SECOND, THIRD]
