"""Coaching follow-ups through `critical-friend chat --json`, a real process and store."""

from __future__ import annotations

import json
from pathlib import Path

from bot.engine import wording
from tests.chat_process import ChatProcess, run_cli, texts

SELF_BLAME = "I forgot to send the referral on Friday. It was all my fault, I'm useless."
REPLY = "I did ring the family on Monday and explained, and the referral went that day."
NEUTRAL = (
    "I felt anxious going in, then calmer once mum started talking; now I feel relieved "
    "that the children are safe tonight."
)
FEELINGS = "What were you thinking and feeling"
WENT_WELL = "What went well"


def test_a_reframe_then_the_next_question_neutral_straight_on_and_skip_never_followed_up(
    tmp_path: Path,
) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs", "--user", "alex") as chat:
        chat.read_until_prompt()
        reframe = chat.send(SELF_BLAME)
        assert "harder on yourself" in texts(reframe)
        assert wording.COACH_SKIP in texts(reframe)
        assert FEELINGS not in texts(reframe)
        assert FEELINGS in texts(chat.send(REPLY))
        straight = chat.send(NEUTRAL)
        assert WENT_WELL in texts(straight)
        assert wording.COACH_SKIP not in texts(straight)
        skipped = chat.send("skip")
        assert "What went less well" in texts(skipped)
        assert wording.COACH_SKIP not in texts(skipped)
        chat.send("pause")
        assert chat.close_stdin() == 0

    with ChatProcess(tmp_path, "--user", "alex") as chat:
        chat.read_until_prompt()
        chat.send("1")  # carry on with the paused reflection
        for _ in range(12):
            last = chat.send("skip")
            if last and last[-1]["choices"]:
                break
        chat.send("No thanks")
        assert chat.close_stdin() == 0

    listing = json.loads(run_cli(tmp_path, "journal", "--user", "alex", "--format", "json").stdout)
    shown = run_cli(
        tmp_path, "journal", "show", str(listing[0]["id"]), "--user", "alex", "--format", "json"
    )
    record = json.loads(shown.stdout)
    assert record["coaching"]["what_happened"]["rule"] == "strengths_first"
    assert record["coaching"]["what_happened"]["reply"] == REPLY
    assert record["answers"]["what_happened"] == f"{SELF_BLAME}\n\n{REPLY}"
    assert record["answers"]["feelings"] == NEUTRAL
    text = run_cli(tmp_path, "journal", "show", str(listing[0]["id"]), "--user", "alex")
    assert "Critical Friend asked: That sounds like a heavy thing" in text.stdout.decode()
