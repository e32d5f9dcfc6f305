"""Files in the fake Slack: the three steps of an upload as slack-sdk's files_upload_v2
takes them, without HTTP (tests/fakes/slack.py serves them).

1. files.getUploadURLExternal (filename, length) reserves a file: an id and an upload key.
2. A POST of the bytes to the upload URL (raw, or multipart with a `file` part) fills it.
3. files.completeUploadExternal (files=[{"id", "title"}]) finishes it, once; the fake then
   shares it where the call says.

Where the fake differs from Slack on purpose: an upload whose size is not the `length`
given in step 1 is refused (Slack's answer is not documented; a mismatch is a client's
bug), and an upload URL takes one upload.
"""

from __future__ import annotations

import itertools
import json
import mimetypes
import secrets
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, NamedTuple

Json = dict[str, Any]


class FileError(Exception):
    """A Slack error code for a Web API call about files."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


class Upload(NamedTuple):
    """One POST to an upload URL: the file it was for (None for an unknown URL), the bytes,
    the HTTP status answered, and when it arrived (time.monotonic())."""

    file_id: str | None
    content: bytes
    status: int
    at: float


class SharedFile(NamedTuple):
    """A file as a person sees it in a conversation: name, bytes, the comment it was shared
    with, its title, its id and the ts of the message that carries it."""

    filename: str
    content: bytes
    initial_comment: str
    title: str
    file_id: str
    ts: str


@dataclass
class StoredFile:
    id: str
    filename: str
    length: int
    upload_key: str
    created: int
    content: bytes | None = None  # None until uploaded
    title: str = ""
    completed: bool = False


class FileStore:
    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self._by_key: dict[str, StoredFile] = {}
        self._numbers = itertools.count(1)

    def reserve(self, filename: object, length: object) -> StoredFile:
        """Step 1: a file id and an upload key for a file of `length` bytes."""
        try:
            size = int(str(length))
        except ValueError:
            raise FileError(
                "invalid_arguments", ["[ERROR] length must be an integer [json-pointer:/length]"]
            ) from None
        if size <= 0:
            raise FileError("missing_argument")  # what Slack answers for a length of 0
        file_id = f"F0{next(self._numbers):09d}"
        stored = StoredFile(
            id=file_id,
            filename=str(filename),
            length=size,
            upload_key=secrets.token_urlsafe(16),
            created=int(time.time()),
        )
        self.by_id[file_id] = stored
        self._by_key[stored.upload_key] = stored
        return stored

    def find(self, key: str) -> StoredFile | None:
        return self._by_key.get(key)

    def receive(self, key: str, content: bytes) -> tuple[StoredFile | None, int, str]:
        """Step 2: the bytes for an upload URL; the file, the HTTP status and the body."""
        stored = self._by_key.get(key)
        if stored is None:
            return None, 404, "Not Found"
        if stored.content is not None:
            return stored, 400, "this upload URL has been used"
        if len(content) != stored.length:
            return stored, 400, f"expected {stored.length} bytes, got {len(content)}"
        stored.content = content
        return stored, 200, f"OK - {len(content)}"

    def complete(self, files: object) -> list[StoredFile]:
        """Step 3: the files named, uploaded and not completed before, now complete; a
        file_not_found error, and no change, if any is not."""
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                raise FileError("invalid_arguments", ["[ERROR] files must be JSON"]) from None
        if not isinstance(files, list) or not files:
            raise FileError("invalid_arguments", ["[ERROR] files must be a non-empty array"])
        chosen: list[tuple[StoredFile, str]] = []
        for item in files:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise FileError("invalid_arguments", ["[ERROR] each file needs an id"])
            stored = self.by_id.get(item["id"])
            if stored is None or stored.content is None or stored.completed:
                raise FileError("file_not_found")
            chosen.append((stored, str(item.get("title") or stored.filename)))
        for stored, title in chosen:
            stored.title = title
            stored.completed = True
        return [stored for stored, _ in chosen]


def file_object(stored: StoredFile, *, team_id: str, team_domain: str, user_id: str) -> Json:
    """A file as Slack describes it in a message's `files`."""
    name = stored.filename
    suffix = PurePosixPath(name).suffix.lstrip(".").lower()
    private = f"https://files.slack.com/files-pri/{team_id}-{stored.id}"
    return {
        "id": stored.id,
        "created": stored.created,
        "timestamp": stored.created,
        "name": name,
        "title": stored.title or name,
        "mimetype": mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream",
        "filetype": suffix or "binary",
        "pretty_type": suffix.upper() or "Binary",
        "user": user_id,
        "user_team": team_id,
        "editable": False,
        "size": len(stored.content or b""),
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": False,
        "public_url_shared": False,
        "display_as_bot": False,
        "url_private": f"{private}/{name}",
        "url_private_download": f"{private}/download/{name}",
        "permalink": f"https://{team_domain}.slack.com/files/{user_id}/{stored.id}/{name}",
    }
