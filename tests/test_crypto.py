"""Field encryption: authenticated, rotatable, and clear about what went wrong."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.store.crypto import Cipher, KeyringError, generate_key, load_or_create_key_file

WORDS = "I felt out of my depth 😔 when the father raised his voice."


def test_a_value_round_trips_and_is_not_readable_in_its_token() -> None:
    cipher = Cipher([generate_key()])
    token = cipher.encrypt(WORDS)
    assert cipher.decrypt(token) == WORDS
    assert b"father" not in token
    assert cipher.encrypt(WORDS) != token  # a fresh nonce every time


def test_a_tampered_token_is_refused() -> None:
    cipher = Cipher([generate_key()])
    token = bytearray(cipher.encrypt(WORDS))
    token[-5] ^= 0x01
    with pytest.raises(KeyringError, match="integrity check"):
        cipher.decrypt(bytes(token))


def test_a_token_from_another_key_is_refused_with_a_clear_reason() -> None:
    token = Cipher([generate_key()]).encrypt(WORDS)
    with pytest.raises(KeyringError, match="not in CRITICAL_FRIEND_SECRET_KEYS"):
        Cipher([generate_key()]).decrypt(token)


def test_an_older_key_still_decrypts_and_rotation_moves_to_the_newest() -> None:
    old, new = generate_key(), generate_key()
    token = Cipher([old]).encrypt(WORDS)
    both = Cipher([new, old])
    assert both.decrypt(token) == WORDS
    rotated = both.rotate(token)
    assert Cipher([new]).decrypt(rotated) == WORDS
    with pytest.raises(KeyringError):
        Cipher([old]).decrypt(rotated)


@pytest.mark.parametrize("key", ["", "not-a-key", "c2hvcnQ=", "x" * 44])
def test_a_malformed_key_is_refused(key: str) -> None:
    with pytest.raises(KeyringError):
        Cipher([key])


def test_a_truncated_or_foreign_token_is_refused() -> None:
    cipher = Cipher([generate_key()])
    for token in [b"", b"\x01abc", b"gAAAAAfernet-looking-token"]:
        with pytest.raises(KeyringError):
            cipher.decrypt(token)


def test_the_key_file_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    keys, created = load_or_create_key_file(path)
    assert created
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, created_again = load_or_create_key_file(path)
    assert again == keys
    assert not created_again
    Cipher(keys)  # the generated key is usable
