"""Field encryption: every free-text field is stored as an authenticated Fernet token.

Keys come from `CRITICAL_FRIEND_SECRET_KEYS` (comma-separated, newest first). On the
embedded default with no key set, one is generated into a file beside the database,
readable only by its owner. MultiFernet decrypts with any listed key and encrypts
with the first, so keys can be rotated without downtime.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEYS_ENV = "CRITICAL_FRIEND_SECRET_KEYS"


class KeyringError(Exception):
    """The keys are missing or malformed, or a stored value cannot be decrypted."""


class Cipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise KeyringError("no encryption key was given")
        try:
            self._fernets = [Fernet(key.strip().encode("ascii")) for key in keys]
        except (ValueError, UnicodeEncodeError):
            raise KeyringError(
                "an encryption key is not valid: each must be 32 url-safe base64-encoded bytes "
                "(make one with `critical-friend keys generate`)"
            ) from None
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, text: str) -> str:
        return self._multi.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise KeyringError(
                "stored text cannot be decrypted with the configured keys "
                f"(was an old key removed from {KEYS_ENV}?)"
            ) from None

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def decrypt_json(self, token: str) -> Any:
        return json.loads(self.decrypt(token))

    def rotate(self, token: str) -> str:
        """Re-encrypt a token with the newest key (it may have been made with any listed key)."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise KeyringError(
                "a stored value cannot be decrypted with the configured keys"
            ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def keys_from_env(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    raw = environ.get(KEYS_ENV, "")
    return [key.strip() for key in raw.split(",") if key.strip()]


def load_or_create_key_file(path: Path) -> tuple[list[str], bool]:
    """The keys in `path`, creating it with a fresh key (mode 0600) if absent.

    Returns the keys and whether the file was just created, so the caller can say so once.
    """
    if path.exists():
        keys = [
            line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip()
        ]
        if not keys:
            raise KeyringError(f"{path}: the key file is empty")
        return keys, False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    # O_EXCL: never overwrite a key another process created a moment ago.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_key_file(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return [key], True
