"""Field encryption: every free-text field is stored as an authenticated AES-256-GCM token.

Keys come from `CRITICAL_FRIEND_SECRET_KEYS` (comma-separated, newest first). On the
embedded default with no key set, one is generated into a file beside the database,
readable only by its owner. Any listed key decrypts; the first one encrypts, so keys
can be rotated without downtime (`critical-friend keys rotate`).

Why AES-GCM from `cryptography` and not its Fernet recipe: both are authenticated,
but Fernet costs 60-140 microseconds per value in Python (CBC, a separate HMAC and
base64), which was a fifth of a whole turn; GCM is one call of a few microseconds.
The envelope around it is deliberately tiny:

    version (1 byte) | key id (4 bytes) | nonce (12 random bytes) | ciphertext + tag

The key id (the start of the key's SHA-256) picks the key to decrypt with. Nonces are
random, so one key should encrypt well under 2**32 values: rotate long before that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEYS_ENV = "CRITICAL_FRIEND_SECRET_KEYS"
VERSION = b"\x01"
NONCE_BYTES = 12
KEY_ID_BYTES = 4
HEADER_BYTES = len(VERSION) + KEY_ID_BYTES + NONCE_BYTES
# Binds every token to this application and format, so a token from another system
# (or a future format) never decrypts as ours.
ASSOCIATED_DATA = b"critical-friend field v1"


class KeyringError(Exception):
    """The keys are missing or malformed, or a stored value cannot be decrypted."""


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


def _decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise KeyringError(
            "an encryption key is not valid: each must be 32 url-safe base64-encoded bytes "
            "(make one with `critical-friend keys generate`)"
        )
    return key


class Cipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise KeyringError("no encryption key was given")
        raw = [_decode_key(key) for key in keys]
        self._newest_id = _key_id(raw[0])
        self._newest = AESGCM(raw[0])
        self._by_id = {}
        for key in reversed(raw):  # on an id clash (2**-32), the newer key wins
            self._by_id[_key_id(key)] = AESGCM(key)

    def encrypt(self, text: str) -> bytes:
        return self._seal(text.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        return self._open(token).decode("utf-8")

    def encrypt_json(self, value: Any) -> bytes:
        return self._seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())

    def decrypt_json(self, token: bytes) -> Any:
        return json.loads(self._open(token))

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt a token with the newest key (it may have been made with any listed key)."""
        return self._seal(self._open(token))

    def _seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        header = VERSION + self._newest_id + nonce
        return header + self._newest.encrypt(nonce, plain, ASSOCIATED_DATA)

    def _open(self, token: bytes) -> bytes:
        token = bytes(token)  # PostgreSQL hands back memoryview
        if len(token) <= HEADER_BYTES or token[:1] != VERSION:
            raise KeyringError("a stored value is not in a format this version can read")
        key = self._by_id.get(token[1 : 1 + KEY_ID_BYTES])
        if key is None:
            raise KeyringError(
                f"a stored value was encrypted with a key that is not in {KEYS_ENV} "
                "(was an old key removed before `keys rotate` finished?)"
            )
        nonce = token[1 + KEY_ID_BYTES : HEADER_BYTES]
        try:
            return key.decrypt(nonce, token[HEADER_BYTES:], ASSOCIATED_DATA)
        except InvalidTag:
            raise KeyringError("a stored value failed its integrity check") from None


def generate_key() -> str:
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def keys_from_env(environ: Mapping[str, str]) -> list[str]:
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
    # Written in full to a private temporary file, then linked into place: another
    # process starting at the same moment sees either no key file or a whole one, and
    # a key another process put there first is never overwritten.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)
    except FileExistsError:
        return load_or_create_key_file(path)
    finally:
        temporary.unlink()
    return [key], True
