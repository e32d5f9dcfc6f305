"""Behaviours found in review: windows that are behind, failing storage, lost keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select, text

from bot.service import ConversationService
from bot.store.models import answers
from bot.store.repository import Store
from tests.chat_process import ChatProcess, cli_env, run_cli, texts
from tests.worker import Worker

LONG = "and we talked it through calmly, agreeing what would happen next for the family."


def count_answers(store: Store) -> int:
    with store.transaction() as tx:
        return int(tx.connection.scalar(select(func.count()).select_from(answers)) or 0)


def test_closing_a_window_that_is_behind_does_not_pause_the_other(
    service: ConversationService, store: Store
) -> None:
    behind = Worker(service)
    behind.start("gibbs")
    ahead = Worker(service, user=behind.user)
    ahead.start()  # offers the reflection the first window began
    ahead.says("1")
    behind.leaves()  # bound to a question that has moved on
    reply = ahead.says(f"From the window in front, {LONG}")
    assert "Feelings" in reply.messages[-1].text
    assert count_answers(store) == 1


def test_a_reply_to_a_question_closed_elsewhere_says_it_was_not_saved(
    service: ConversationService, store: Store
) -> None:
    first = Worker(service)
    first.start("gibbs")
    second = Worker(service, user=first.user, reply_token=first.reply_token)
    first.says("pause")
    reply = second.says(f"Typed in the other window, {LONG}")
    assert "haven't saved what you just sent" in reply.messages[0].text
    assert count_answers(store) == 0


def test_skip_from_a_window_that_is_behind_changes_nothing(service: ConversationService) -> None:
    behind = Worker(service)
    behind.start("gibbs")
    ahead = Worker(service, user=behind.user, reply_token=behind.reply_token)
    ahead.says(f"What happened, {LONG}")
    feelings = ahead.question.text
    reply = behind.says("skip")
    assert "moved on" in reply.messages[0].text
    assert ahead.says("help").messages[-1].text == feelings  # still at Feelings


def test_a_failing_database_gives_a_sentence_not_a_traceback(
    service: ConversationService, store: Store
) -> None:
    worker = Worker(service)
    worker.start("gibbs")
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE processed_events"))
    reply = worker.says(f"What happened, {LONG}")
    assert reply.failed
    assert "wasn't saved" in reply.messages[0].text


def test_a_huge_journal_number_in_chat_gets_a_sentence(service: ConversationService) -> None:
    worker = Worker(service)
    reply = worker.says("journal 99999999999999999999")
    assert reply.messages
    assert not reply.failed


def test_a_huge_journal_number_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "journal", "show", "99999999999999999999")
    assert result.returncode == 2
    assert b"is not a reflection number" in result.stderr
    assert b"Traceback" not in result.stderr


def test_a_lost_key_file_is_not_silently_replaced(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        chat.read_until_prompt()
        chat.send(f"What happened, {LONG}")
        chat.close_stdin()
    (tmp_path / "secret.key").unlink()
    result = run_cli(tmp_path, "journal")
    assert result.returncode == 2
    assert b"is missing, but this database already holds reflections" in result.stderr
    assert not (tmp_path / "secret.key").exists()


def test_the_wrong_key_on_the_command_line_gives_a_sentence(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        chat.read_until_prompt()
        chat.send(f"What happened, {LONG}")
        chat.send("pause")
        chat.close_stdin()
    other_key = "lbVtiZ1gaDdz7F3JfJfH8pYpX3hCq8bN5Qv0XHc1k2M="
    result = run_cli(tmp_path, "keys", "rotate", CRITICAL_FRIEND_SECRET_KEYS=other_key)
    assert result.returncode == 2
    assert b"encryption keys:" in result.stderr
    assert b"Traceback" not in result.stderr


def test_the_summary_is_short_and_the_journal_keeps_every_word(tmp_path: Path) -> None:
    long_answer = "We sat at the table and went through the plan slowly. " * 20
    with ChatProcess(tmp_path, "--dialogue", "gibbs_quick", "--user", "alex") as chat:
        messages = chat.read_until_prompt()
        while not messages[-1]["choices"]:
            messages = chat.send(long_answer.strip())
        end = texts(chat.send("3"))
        assert long_answer.strip() not in end
        assert "…" in end
    entries = json.loads(run_cli(tmp_path, "journal", "--user", "alex", "--format", "json").stdout)
    shown = run_cli(
        tmp_path, "journal", "show", str(entries[0]["id"]), "--user", "alex", "--format", "json"
    )
    assert json.loads(shown.stdout)["answers"]["what_happened"] == long_answer.strip()


def test_run_with_no_terminal_and_no_platform_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run")
    assert result.returncode == 2
    assert b"Run `critical-friend chat` in a terminal" in result.stderr


def test_lines_pasted_at_a_terminal_are_one_answer(tmp_path: Path) -> None:
    primary, secondary = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--dialogue", "gibbs", "--user", "pat"],
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(tmp_path),
    )
    os.close(secondary)
    try:
        time.sleep(3)  # let it start and ask the first question
        pasted = f"The first line of what happened, {LONG}\nA second line.\nA third line."
        os.write(primary, pasted.encode() + b"\n")
        time.sleep(2)
        os.write(primary, b"pause\n")
        time.sleep(2)
        os.write(primary, b"\x04")  # Ctrl-D, should it still be waiting
        process.wait(timeout=30)
    finally:
        os.close(primary)
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
    with ChatProcess(tmp_path, "--user", "pat") as chat:
        chat.read_until_prompt()
        chat.send("1")
        earlier = texts(chat.send("back"))
    assert "A second line.\nA third line." in earlier


def test_checking_a_folder_without_dialogues_is_not_all_good(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "dialogues", "check", str(tmp_path))
    assert result.returncode == 1
    assert b"No dialogue files" in result.stdout


def test_a_dialogue_file_name_that_cannot_be_an_id_is_reported(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parent.parent / "dialogues" / "driscoll.yaml"
    odd = tmp_path / "My Model.yaml"
    odd.write_text(source.read_text())
    result = run_cli(tmp_path, "dialogues", "check", str(odd))
    assert result.returncode == 1
    assert f"{odd}:1: the file name is the dialogue's id".encode() in result.stdout


def test_a_run_saved_by_an_older_version_without_newer_fields_still_loads() -> None:
    from bot.engine import RunState

    run = RunState.from_json({"key": "k", "dialogue_id": "gibbs", "step_id": "feelings"})
    assert run.answers == {}
    assert run.pending_answer is None
