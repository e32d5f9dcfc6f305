"""The terminal channel: a reflection at the command line, for people or for programs.

Human mode prints questions with numbered options and reads answers at a `>`
prompt. `--json` mode prints one JSON object per line (`message`, `file` and
`prompt`) and reads one reply per line, so scripts and tests can drive a whole
reflection.

A message with a file (an export) saves it in the working directory, next to any
file of the same name ("export (2).json"), never over it, and says where.

Stdin is read on a daemon thread: a blocked read never keeps the process alive
after Ctrl-C, and undecodable bytes are replaced rather than crashing the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import sys
import textwrap
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from bot.messages import Attachment, Incoming, IncomingKind, Outgoing, Reply, UserRef

Handler = Callable[[Incoming], Awaitable[Reply]]
_EOF = None
PASTE_GAP_S = 0.05
# A terminal in its usual line mode keeps at most this many characters of one line.
TERMINAL_LINE_LIMIT = 4095
TERMINAL_CUT_WARNING = (
    "Your terminal may have cut a very long line short. If something is missing, type "
    "back and paste it again in shorter lines."
)


class TerminalChannel:
    def __init__(
        self,
        handle: Handler,
        user: UserRef,
        *,
        json_mode: bool = False,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        save_dir: Path | None = None,
    ) -> None:
        """Files are saved in `save_dir`, by default the working directory at the time."""
        self._handle = handle
        self._user = user
        self._json = json_mode
        self._stdin = stdin or _binary_safe_stdin()
        self._stdout = stdout or sys.stdout
        self._save_dir = save_dir
        self._reply_token: str | None = None
        # A person at a terminal (not a program in --json mode, not a pipe).
        self._interactive = not json_mode and stdin is None and sys.stdin.isatty()

    async def run(self, dialogue: str | None = None) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        reader = threading.Thread(target=self._read_lines, args=(loop, lines), daemon=True)
        reader.start()
        try:
            waiting = await self._send(IncomingKind.START, dialogue or "")
            # A person at a terminal is done once nothing is asked (paused, finished, "not
            # now"); a program in --json mode decides for itself when to stop (EOF).
            while waiting or self._json:
                self._prompt()
                line = await lines.get()
                if line is _EOF:
                    await self._leave()
                    return
                answer = line.rstrip("\r\n")
                if self._interactive:
                    answer = await self._rest_of_paste(answer, lines)
                waiting = await self._send(IncomingKind.TEXT, answer, bound=True)
        except asyncio.CancelledError:
            # Ctrl-C: the last turn is already saved; say so and leave like a pause.
            await asyncio.shield(self._leave())
            raise

    async def _leave(self) -> None:
        if not self._json:
            self._stdout.write("\n")
        # Bound to this window's question: if another window has moved on, leaving
        # this one must not pause the reflection going on there.
        await self._send(IncomingKind.LEAVE, "", bound=True)

    async def _send(self, kind: IncomingKind, text: str, *, bound: bool = False) -> bool:
        """Hand one message to the service and show the replies; True while a question is open."""
        incoming = Incoming(
            event_id=f"terminal-{uuid.uuid4()}",
            user=self._user,
            kind=kind,
            text=text,
            in_reply_to=self._reply_token if bound else None,
        )
        reply = await self._handle(incoming)
        for message in reply.messages:
            self._show(message)
            if message.reply_token is not None:
                self._reply_token = message.reply_token
        return reply.waiting or reply.failed

    async def _rest_of_paste(self, first: str, lines: asyncio.Queue[str | None]) -> str:
        """Lines that arrive together are one pasted answer, not answers to the next
        questions. A person typing cannot press Enter twice within PASTE_GAP_S."""
        parts = [first]
        while True:
            try:
                line = await asyncio.wait_for(lines.get(), PASTE_GAP_S)
            except TimeoutError:
                break
            if line is _EOF:
                lines.put_nowait(_EOF)  # handled by the main loop after this answer
                break
            parts.append(line.rstrip("\r\n"))
        if any(len(part) >= TERMINAL_LINE_LIMIT for part in parts):
            self._stdout.write(f"({TERMINAL_CUT_WARNING})\n")
        return "\n".join(parts)

    def _show(self, message: Outgoing) -> None:
        saved = self._save(message.attachment) if message.attachment is not None else None
        if self._json:
            self._stdout.write(json.dumps(_record(message, saved), ensure_ascii=False) + "\n")
        else:
            self._stdout.write("\n" + _wrap(message.text) + "\n")
            if saved is not None:
                path, problem = saved
                self._stdout.write(f"Saved to {path}\n" if path is not None else f"({problem})\n")
            for number, choice in enumerate(message.choices, start=1):
                self._stdout.write(f"  {number}. {choice.label}\n")
            if message.footer:
                self._stdout.write(f"({message.footer})\n")
        self._stdout.flush()

    def _save(self, attachment: Attachment) -> Saved:
        """Where the file was saved, or a sentence saying why it could not be."""
        folder = self._save_dir if self._save_dir is not None else Path.cwd()
        try:
            return save_file(folder, attachment), None
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            return None, f"Could not save {attachment.filename} in {folder}: {reason}"

    def _prompt(self) -> None:
        self._stdout.write('{"type": "prompt"}\n' if self._json else "> ")
        self._stdout.flush()

    def _read_lines(
        self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]
    ) -> None:
        try:
            for line in self._stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
        except (OSError, ValueError):
            pass  # the terminal went away; treat it as the end of input
        finally:
            # The loop may already be closed when we are exiting anyway.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lines.put_nowait, _EOF)


Saved = tuple[Path | None, str | None]  # where a file went, or why it could not be saved


def _record(message: Outgoing, saved: Saved | None) -> dict[str, Any]:
    """One line of --json output: a `message`, or a `file` with the path it was saved to
    (null, and an `error`, when it could not be)."""
    choices = [{"value": c.value, "label": c.label} for c in message.choices]
    if message.attachment is None or saved is None:
        return {"type": "message", "text": message.text, "choices": choices}
    path, problem = saved
    record: dict[str, Any] = {
        "type": "file",
        "name": message.attachment.filename,
        "path": str(path) if path is not None else None,
        "text": message.text,
    }
    if problem is not None:
        record["error"] = problem
    if choices:
        record["choices"] = choices
    return record


def save_file(folder: Path, attachment: Attachment) -> Path:
    """Write a file into `folder` under its own name, or "NAME (2).EXT", "NAME (3).EXT"...
    when that is taken: an existing file is never overwritten (each name is claimed with
    an exclusive create, so not even by another window saving at the same moment). Only
    the last part of the name is used, so a name cannot point outside the folder."""
    name = Path(attachment.filename.replace("\0", "")).name
    if name in ("", ".", ".."):
        name = "export"
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 1
    while True:
        path = folder / (name if number == 1 else f"{stem} ({number}){suffix}")
        try:
            file = path.open("xb")
        except FileExistsError:
            number += 1
            continue
        try:
            with file:
                file.write(attachment.content)
        except OSError:
            path.unlink(missing_ok=True)  # a part-written file would look complete
            raise
        return path.absolute()


def _binary_safe_stdin() -> TextIO:
    """Stdin as text that never raises on invalid UTF-8 (bad bytes become U+FFFD)."""
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    return sys.stdin


def _wrap(text: str) -> str:
    """Fit prose to the terminal so words are not broken across lines.

    Lines that start with spaces (lists, the help table) are left as written.
    """
    width = max(40, min(shutil.get_terminal_size((80, 24)).columns, 88) - 1)
    wrapped = []
    for line in text.split("\n"):
        if not line.strip() or line.startswith(" ") or len(line) <= width:
            wrapped.append(line)
        else:
            wrapped.append(textwrap.fill(line, width=width, break_long_words=False))
    return "\n".join(wrapped)
