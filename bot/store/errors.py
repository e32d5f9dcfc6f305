"""What the store says when the database lets it down: one sentence for a person.

The rest of the bot never sees SQLAlchemy's or a driver's exceptions (their text can
carry SQL and parameters); it sees a `StorageError` that says whether trying the same
turn again could help.
"""

from __future__ import annotations


class StorageError(Exception):
    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry  # a conflict or a dropped connection: the turn may simply be run again


def describe(error: BaseException) -> str:
    """One sentence about a database failure, without SQL or parameters (they may hold answers)."""
    original = getattr(error, "orig", None) or error
    text = (
        str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    )
    if "readonly" in text or "read-only" in text:
        return "the database file is read-only"
    if "unable to open database" in text:
        return "the database file cannot be opened (is the folder writable?)"
    if "Connection refused" in text or "could not connect" in text or "connection failed" in text:
        return "the database server is not reachable"
    if "database is locked" in text:
        return "the database is busy; try again in a moment"
    return type(original).__name__ + ": " + text[:200]
