"""Private by default: what a worker writes never appears in the database file or the logs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.chat_process import ChatProcess

SECRET = "Zebrafinch-7731 told me about the kitchen"


def test_a_typed_phrase_is_nowhere_in_the_sqlite_files_or_the_logs(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("log_level: debug\n")
    with ChatProcess(
        tmp_path, "--config", str(config), "--dialogue", "gibbs", "--user", "Kim Doe"
    ) as chat:
        chat.read_until_prompt()
        chat.send(f"{SECRET} and we made a plan together for the next visit.")
        chat.send("back")
        chat.send(f"Revised: {SECRET}, and we agreed the next steps.")
        chat.send("pause")
        assert chat.close_stdin() == 0
        logs = chat.stderr()
    assert "turn terminal-" in logs  # the debug logs were really captured
    files = [p for p in tmp_path.iterdir() if p.name.startswith("critical-friend.db")]
    assert files, "the database file was not where expected"
    # (The --user name is the identity we look workers up by, so it is stored as is.)
    for needle in [SECRET, "Zebrafinch"]:
        assert needle not in logs
        for file in files:
            assert needle.encode() not in file.read_bytes(), file.name


def test_the_generated_key_file_is_readable_only_by_its_owner(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        chat.read_until_prompt()
        chat.close_stdin()
        assert "Created an encryption key" in chat.stderr()
    mode = stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode)
    assert mode == 0o600
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        chat.read_until_prompt()
        chat.close_stdin()
        assert "Created an encryption key" not in chat.stderr()  # said once only
