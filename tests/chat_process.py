"""Drive `critical-friend chat --json` as a real subprocess, line by line."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRITICAL_FRIEND_")}
    env["CRITICAL_FRIEND_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_cli(
    home: Path, *args: str, stdin: str | bytes = b"", **extra: str
) -> subprocess.CompletedProcess[bytes]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=data,
        capture_output=True,
        env=cli_env(home, **extra),
        cwd=ROOT,
        timeout=60,
        check=False,
    )


class ChatProcess:
    """One `chat --json` session; `read_until_prompt` returns the messages before the prompt."""

    def __init__(self, home: Path, *args: str, **extra: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat", "--json", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(home, **extra),
            cwd=ROOT,
        )
        self._buffer = b""

    def _readline(self, timeout: float) -> bytes:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no output within {timeout} s; have {self._buffer!r}")
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    raise EOFError(f"the chat ended; stderr: {self.stderr()}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def read_until_prompt(self, timeout: float = 20) -> list[dict[str, Any]]:
        messages = []
        while True:
            record = json.loads(self._readline(timeout))
            if record["type"] == "prompt":
                return messages
            messages.append(record)

    def send(self, line: str | bytes) -> list[dict[str, Any]]:
        assert self.process.stdin is not None
        data = line.encode() if isinstance(line, str) else line
        self.process.stdin.write(data + b"\n")
        self.process.stdin.flush()
        return self.read_until_prompt()

    def kill_hard(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)

    def close_stdin(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=20)

    def rest_of_output(self) -> list[dict[str, Any]]:
        assert self.process.stdout is not None
        data = self._buffer + self.process.stdout.read()
        return [json.loads(line) for line in data.splitlines() if line.strip()]

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read().decode(errors="replace")

    def __enter__(self) -> ChatProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)
