"""The statements every turn runs, in plain SQL on the driver's own cursor.

Why not SQLAlchemy here, when it runs everything else: on these statements its
per-execution machinery (execution context, parameter processing, result objects)
cost about 80 microseconds each, six times the statement itself, and was a third
of a turn. The SQL is written once with `:name` parameters and adapted to each
driver's placeholder style; it stays inside the transaction SQLAlchemy opened, on
the same connection. The tests run every turn through this path on both SQLite and
PostgreSQL and read the rows back through SQLAlchemy.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

_RECORD_EVENT = """
INSERT INTO processed_events (channel, event_id, processed_at)
VALUES (:channel, :event_id, :now)
ON CONFLICT DO NOTHING
RETURNING event_id
"""

_LOAD_WORKER = """
SELECT s.user_id, s.state_enc
FROM chat_sessions AS s JOIN identities AS i ON i.user_id = s.user_id
WHERE i.channel = :channel AND i.external_id = :external_id
"""

_SAVE_STATE = """
UPDATE chat_sessions SET state_enc = :state, updated_at = :now WHERE user_id = :user_id
"""

# The next revision number is worked out in the same statement, so two writers can
# never both take revision 2 (the unique constraint would stop the second anyway).
# The casts give PostgreSQL one type for a parameter used twice.
_SAVE_ANSWER = """
INSERT INTO answers (conversation_id, step_id, revision, text_enc, created_at)
SELECT c.id, CAST(:step_id AS VARCHAR(100)),
       COALESCE((SELECT MAX(a.revision) FROM answers AS a
                 WHERE a.conversation_id = c.id AND a.step_id = CAST(:step_id AS VARCHAR(100))),
                0) + 1,
       :text, :now
FROM conversations AS c WHERE c.key = :key
"""

# Is a notice due for this worker (from a colleague, or about retention)? Almost always
# not: answered from the (user_id, kind, period) unique index, and only when it says yes
# does the service take the notices (through SQLAlchemy).
_NOTICE_DUE = """
SELECT 1 FROM deliveries
WHERE user_id = :user_id AND kind IN ('peer', 'retention') AND status = 'pending'
  AND due_at <= :now
LIMIT 1
"""

_NAMED = re.compile(r":([a-z_]+)")


class HotPath:
    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        load_worker = _LOAD_WORKER
        if self.postgres:
            # Lock the worker's session row so one worker's turns queue up; SQLite's
            # BEGIN IMMEDIATE already serialises every writer.
            load_worker += "FOR UPDATE OF s\n"
        self._sql = {
            name: self._placeholders(sql)
            for name, sql in {
                "record_event": _RECORD_EVENT,
                "load_worker": load_worker,
                "save_state": _SAVE_STATE,
                "save_answer": _SAVE_ANSWER,
                "notice_due": _NOTICE_DUE,
            }.items()
        }

    def _placeholders(self, sql: str) -> str:
        # sqlite3 understands :name itself; psycopg wants %(name)s.
        return _NAMED.sub(r"%(\1)s", sql) if self.postgres else sql

    def _time(self, moment: datetime) -> Any:
        # Stored exactly as SQLAlchemy stores UTCDateTime: aware on PostgreSQL, and on
        # SQLite naive UTC text, so both paths read each other's rows.
        if self.postgres:
            return moment.astimezone(UTC)
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def _run(self, connection: Connection, name: str, params: dict[str, Any]) -> Any:
        # driver_connection is only None for a connection already closed, never mid-turn.
        driver = connection.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self._sql[name], params)
        except connection.dialect.loaded_dbapi.Error as error:
            cursor.close()
            # Hand the failure over as SQLAlchemy would have, so it is handled in one
            # place (the store), a dropped connection is replaced, and no SQL parameter
            # ever reaches a message or a log.
            dropped = connection.dialect.is_disconnect(error, driver, cursor)
            if dropped:
                connection.invalidate(error)
            raise DBAPIError.instance(
                self._sql[name],
                None,
                error,
                connection.dialect.loaded_dbapi.Error,
                hide_parameters=True,
                connection_invalidated=dropped,
            ) from error
        return cursor

    def record_event(
        self, connection: Connection, channel: str, event_id: str, now: datetime
    ) -> bool:
        params = {"channel": channel, "event_id": event_id, "now": self._time(now)}
        cursor = self._run(connection, "record_event", params)
        inserted = cursor.fetchone() is not None
        cursor.close()
        return inserted

    def load_worker(
        self, connection: Connection, channel: str, external_id: str
    ) -> tuple[int, bytes] | None:
        cursor = self._run(
            connection, "load_worker", {"channel": channel, "external_id": external_id}
        )
        row = cursor.fetchone()
        cursor.close()
        return (int(row[0]), bytes(row[1])) if row is not None else None

    def save_state(self, connection: Connection, user_id: int, state: bytes, now: datetime) -> None:
        params = {"user_id": user_id, "state": state, "now": self._time(now)}
        self._run(connection, "save_state", params).close()

    def save_answer(
        self, connection: Connection, key: str, step_id: str, text: bytes, now: datetime
    ) -> bool:
        params = {"key": key, "step_id": step_id, "text": text, "now": self._time(now)}
        cursor = self._run(connection, "save_answer", params)
        inserted = bool(cursor.rowcount)
        cursor.close()
        return inserted

    def notice_due(self, connection: Connection, user_id: int, now: datetime) -> bool:
        cursor = self._run(connection, "notice_due", {"user_id": user_id, "now": self._time(now)})
        found = cursor.fetchone() is not None
        cursor.close()
        return found
