"""Row ids: reading one from what a worker typed or pressed, and matching many at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sqlalchemy import ColumnElement, Connection, any_, bindparam
from sqlalchemy.dialects import postgresql

LARGEST_ID: Final = 2**63 - 1  # the largest id a database column can hold


def as_id(text: str) -> int | None:
    """A number typed or pressed as an id; None if no row can have it. A number too large
    for the database would fail the turn instead of being refused like any unknown id."""
    if not text.isdecimal():
        return None
    number = int(text)
    return number if 0 < number <= LARGEST_ID else None


def among(
    connection: Connection, column: ColumnElement[int], ids: Iterable[int]
) -> ColumnElement[bool]:
    """`column IN (ids)`, spelled for the database behind `connection`.

    SQLAlchemy writes IN with a placeholder an id. On PostgreSQL each placeholder gets
    its cast written out, and psycopg parses them all again on every call: for the
    nudge tick's batches of 500 that was about a third of the CPU its claims and
    settles took (bench/bench_nudges.py). `= ANY(array)` sends the ids as one value.
    """
    values = list(ids)
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)
