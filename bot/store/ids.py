"""Reading a row's id from what a worker typed or pressed."""

from __future__ import annotations

from typing import Final

LARGEST_ID: Final = 2**63 - 1  # the largest id a database column can hold


def as_id(text: str) -> int | None:
    """A number typed or pressed as an id; None if no row can have it. A number too large
    for the database would fail the turn instead of being refused like any unknown id."""
    if not text.isdecimal():
        return None
    number = int(text)
    return number if 0 < number <= LARGEST_ID else None
