"""`critical-friend chat --json` as a real process: a whole reflection, crashes, resuming."""

from __future__ import annotations

import json
from pathlib import Path

from tests.chat_process import ChatProcess, run_cli, texts

ANSWER = "We met at the family home and talked through the plan for the coming weeks together."


def answer_until_choice(chat: ChatProcess, messages: list[dict], limit: int = 40) -> list[dict]:
    """Answer free-text questions until a question with choices appears."""
    for _ in range(limit):
        if messages and messages[-1]["choices"]:
            return messages
        messages = chat.send(ANSWER)
    raise AssertionError("no choice question came up")


def test_a_whole_gibbs_reflection_completes_and_shows_in_the_journal(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs", "--user", "alex") as chat:
        first = chat.read_until_prompt()
        assert "Description" in texts(first)
        last = answer_until_choice(chat, first)
        assert [c["value"] for c in last[-1]["choices"]] == ["7", "14", "none"]
        end = chat.send("In two weeks")
        assert "journal" in texts(end).lower()
        assert chat.close_stdin() == 0

    listing = run_cli(tmp_path, "journal", "--user", "alex", "--format", "json")
    assert listing.returncode == 0, listing.stderr
    entries = json.loads(listing.stdout)
    assert len(entries) == 1
    assert entries[0]["dialogue"] == "gibbs"
    shown = run_cli(
        tmp_path, "journal", "show", str(entries[0]["id"]), "--user", "alex", "--format", "json"
    )
    record = json.loads(shown.stdout)
    assert {"id", "dialogue", "started_at", "finished_at", "answers"} <= record.keys()
    assert record["answers"]["what_happened"] == ANSWER
    assert record["answers"]["check_in"] == "In two weeks"
    text = run_cli(tmp_path, "journal", "--user", "alex").stdout.decode()
    assert "Gibbs" in text
    assert "We met at the family home" in text


def test_after_kill_9_the_next_chat_resumes_at_the_same_question(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs", "--user", "alex") as chat:
        chat.read_until_prompt()
        chat.send(ANSWER)
        waiting = chat.send(ANSWER)
        question = waiting[-1]["text"]
        chat.kill_hard()

    with ChatProcess(tmp_path, "--user", "alex") as chat:
        offer = chat.read_until_prompt()
        assert "haven't finished" in texts(offer)
        resumed = chat.send("1")
        assert resumed[-1]["text"] == question
        chat.close_stdin()

    record_count = run_cli(tmp_path, "journal", "--user", "alex", "--format", "json")
    assert json.loads(record_count.stdout) == []  # not finished, so not in the journal yet


def test_ctrl_c_mid_question_keeps_everything(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs", "--user", "alex") as chat:
        chat.read_until_prompt()
        question = chat.send(ANSWER)[-1]["text"]
        assert chat.interrupt() == 0
        said = texts(chat.rest_of_output())
        assert "Paused" in said
        assert "Traceback" not in chat.stderr()

    with ChatProcess(tmp_path, "--user", "alex") as chat:
        chat.read_until_prompt()
        assert chat.send("1")[-1]["text"] == question


def test_ctrl_d_mid_question_pauses_like_pause(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "driscoll", "--user", "alex") as chat:
        chat.read_until_prompt()
        assert chat.close_stdin() == 0
        assert "Paused" in texts(chat.rest_of_output())
    with ChatProcess(tmp_path, "--user", "alex") as chat:
        assert "haven't finished" in texts(chat.read_until_prompt())


def test_the_menu_offers_every_listed_model_and_accepts_a_number(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--user", "alex") as chat:
        menu = chat.read_until_prompt()
        labels = [c["label"] for c in menu[-1]["choices"]]
        assert any("Gibbs" in label for label in labels)
        assert any("Driscoll" in label for label in labels)
        started = chat.send("1")
        assert started[-1]["choices"] == []


def test_a_channel_identity_works_as_a_user(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs_quick", "--user", "telegram:12345") as chat:
        chat.read_until_prompt()
        chat.send(ANSWER)
        chat.send("pause")
    listing = run_cli(tmp_path, "journal", "--user", "telegram:12345", "--format", "json")
    assert listing.returncode == 0
    assert json.loads(listing.stdout) == []
