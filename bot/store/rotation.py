"""`critical-friend keys rotate`: re-encrypt every stored token with the newest key."""

from __future__ import annotations

from sqlalchemy import Engine, select, tuple_, update

from bot.store.crypto import Cipher
from bot.store.models import metadata

BATCH = 500


def encrypted_columns() -> list[tuple[str, str]]:
    """(table, column) of every column marked as holding encrypted text."""
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.info.get("encrypted"):
                found.append((table.name, column.name))
    return found


def rotate_keys(engine: Engine, cipher: Cipher) -> int:
    """Re-encrypt all tokens with the first key; returns how many values were rewritten.

    Each table is done in batches, each batch its own transaction, so a large store
    does not hold a lock for long, and running it again after an interruption is safe
    (a token already under the newest key is simply re-encrypted again).
    """
    rewritten = 0
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if c.info.get("encrypted")]
        if not columns:
            continue
        primary = list(table.primary_key.columns)
        last: tuple[object, ...] | None = None
        while True:
            with engine.begin() as connection:
                query = select(*primary, *columns).order_by(*primary).limit(BATCH)
                if last is not None:
                    query = query.where(tuple_(*primary) > tuple_(*last))
                rows = connection.execute(query).all()
                for row in rows:
                    keys = tuple(row[: len(primary)])
                    values = {
                        column.name: cipher.rotate(token)
                        for column, token in zip(columns, row[len(primary) :], strict=True)
                        if token is not None
                    }
                    if values:
                        # Compare-and-set: a value a turn changed since we read it is left
                        # alone (it was written with the newest key anyway).
                        condition = [c == k for c, k in zip(primary, keys, strict=True)]
                        condition += [
                            column == token
                            for column, token in zip(columns, row[len(primary) :], strict=True)
                            if token is not None
                        ]
                        result = connection.execute(
                            update(table).where(*condition).values(**values)
                        )
                        rewritten += len(values) if result.rowcount else 0
                    last = keys
            if len(rows) < BATCH:
                break
    return rewritten
