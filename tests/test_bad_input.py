"""Bad input gets a clear sentence, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from bot.engine import MAX_ANSWER_CHARS
from tests.chat_process import ChatProcess, run_cli, texts

ANSWER = "We met at the family home and talked through the plan for the coming weeks together."


def test_empty_lines_and_whitespace_are_re_asked_kindly(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        question = chat.read_until_prompt()[-1]["text"]
        for blank in ["", "   ", "\t"]:
            reply = chat.send(blank)
            assert "didn't catch anything" in texts(reply)
            assert reply[-1]["text"] == question


def test_a_200k_character_paste_gets_a_clear_message_and_nothing_is_lost(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        chat.read_until_prompt()
        second_question = chat.send(ANSWER)[-1]["text"]
        reply = chat.send("x" * 200_000)
        assert f"{MAX_ANSWER_CHARS:,}" in texts(reply)
        assert "haven't saved it" in texts(reply)
        assert reply[-1]["text"] == second_question
        accepted = chat.send("y " * (MAX_ANSWER_CHARS // 2 - 1))
        assert accepted[-1]["text"] != second_question  # at the limit it is accepted
        chat.send("pause")
    with ChatProcess(tmp_path) as chat:
        chat.read_until_prompt()
        chat.send("1")
        chat.send("back")
        back_twice = chat.send("back")
        assert ANSWER in texts(back_twice)  # the first answer survived


def test_control_characters_and_invalid_utf8_on_stdin_do_not_break_the_chat(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        chat.read_until_prompt()
        reply = chat.send(b"\xff\xfe\x00\x07")
        assert "couldn't read that" in texts(reply)
        moved_on = chat.send(b"The visit \x1b[31mwent\x07 ahead and we talked \xff about the plan.")
        assert "Feelings" in texts(moved_on)
        chat.close_stdin()
        assert "Traceback" not in chat.stderr()


def test_emoji_and_right_to_left_text_are_stored_and_shown_intact(tmp_path: Path) -> None:
    words = "I felt proud 😊 of how we listened; والدة الطفل شكرتنا في النهاية على الوقت."
    with ChatProcess(tmp_path, "--dialogue", "gibbs_quick", "--user", "rana") as chat:
        chat.read_until_prompt()
        chat.send(words)
        chat.send("back")
        shown = texts(chat.send("skip") and chat.send("back"))
        assert words in shown
    with ChatProcess(tmp_path, "--user", "rana") as chat:
        chat.read_until_prompt()
        chat.send("1")
        assert words in texts(chat.send("back"))


def test_unknown_commands_get_a_sentence_and_the_question_again(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        question = chat.read_until_prompt()[-1]["text"]
        reply = chat.send("/frobnicate")
        assert "don't know the command '/frobnicate'" in texts(reply)
        assert reply[-1]["text"] == question


def test_an_unknown_cli_command_exits_2_with_usage_and_no_traceback(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "reflectify")
    assert result.returncode == 2
    assert b"invalid choice" in result.stderr
    assert b"Traceback" not in result.stderr


def test_one_broken_dialogue_file_is_named_and_the_others_still_work(tmp_path: Path) -> None:
    dialogues = tmp_path / "dialogues"
    dialogues.mkdir()
    source = Path(__file__).resolve().parent.parent / "dialogues"
    for name in ["gibbs.yaml", "driscoll.yaml"]:
        (dialogues / name).write_text((source / name).read_text())
    (dialogues / "broken.yaml").write_text(
        "title: Broken\ndescription: x\nminutes: 5\nsteps:\n  - id: a\n    promt: hi\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"dialogues_dir: {dialogues}\n")
    with ChatProcess(tmp_path, "--config", str(config)) as chat:
        menu = chat.read_until_prompt()
        values = [c["value"] for c in menu[-1]["choices"]]
        assert values == ["dialogue:driscoll", "dialogue:gibbs"] or set(values) == {
            "dialogue:driscoll",
            "dialogue:gibbs",
        }
        chat.close_stdin()
        assert f"{dialogues / 'broken.yaml'}:6: unknown key 'promt'" in chat.stderr()


def test_a_database_path_that_cannot_be_a_database_gives_a_clear_error_and_exit_2(
    tmp_path: Path,
) -> None:
    # A path whose parent is a regular file can never be created, whoever we run as.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = run_cli(tmp_path, "--db", f"sqlite:///{blocker / 'cf.db'}", "chat", "--json")
    assert result.returncode == 2, result.stdout
    assert b"Traceback" not in result.stderr
    assert b"critical-friend: database" in result.stderr


def test_a_read_only_database_file_gives_a_clear_error_and_exit_2(tmp_path: Path) -> None:
    database = tmp_path / "cf.db"
    run_cli(tmp_path, "--db", f"sqlite:///{database}", "db", "upgrade")
    # chattr-free read-only: put a directory where the WAL file must go.
    (tmp_path / "cf.db-wal").mkdir()
    result = run_cli(tmp_path, "--db", f"sqlite:///{database}", "chat", "--json")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert b"Traceback" not in result.stderr


def test_a_postgres_server_that_is_down_gives_a_clear_error_and_exit_2(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "--db",
        "postgresql://nobody@127.0.0.1:1/none",
        "chat",
        CRITICAL_FRIEND_SECRET_KEYS="lbVtiZ1gaDdz7F3JfJfH8pYpX3hCq8bN5Qv0XHc1k2M=",
    )
    assert result.returncode == 2
    assert b"not reachable" in result.stderr
    assert b"Traceback" not in result.stderr


def test_journal_show_of_a_missing_id_says_so(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "journal", "show", "999")
    assert result.returncode == 1
    assert b"no reflection 999" in result.stderr
    listing = run_cli(tmp_path, "journal", "--format", "json")
    assert json.loads(listing.stdout) == []
