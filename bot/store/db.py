"""Opening the database: SQLite (WAL, busy timeout, immediate transactions) or PostgreSQL.

Migrations run at every start, so a worker never meets a half-upgraded schema.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.store.errors import describe
from bot.store.models import metadata

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Checked against Alembic's own view by a test; knowing it here
# lets an up-to-date database start without importing Alembic (a third of start-up).
HEAD_REVISION = "0009"
SQLITE_BUSY_TIMEOUT_MS = 15_000
# synchronous=FULL: a commit waits until the write-ahead log is on disk, so an answer
# the bot has acknowledged survives a power cut, not only a crash of the process.
SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    # Deleted rows are overwritten, not left in free pages: a worker who asks to be
    # forgotten is gone from the file itself (their words were encrypted anyway; their
    # chat ids and dates were not).
    "PRAGMA secure_delete = ON",
)


class DatabaseError(Exception):
    """The database cannot be opened or used; the message is for a person."""


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


def open_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"'{url}' is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            # No pre-ping (a round trip per turn): a connection found dead is invalidated
            # by SQLAlchemy and the service retries the turn once on a fresh one.
            return create_engine(parsed)
        except ModuleNotFoundError:
            raise DatabaseError(
                "PostgreSQL needs the psycopg driver: pip install 'critical-friend[postgres]'"
            ) from None
    raise DatabaseError(f"unsupported database '{backend}': use sqlite:///PATH or postgresql://...")


def _sqlite_engine(url: str) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseError(
                f"cannot create the folder {path.parent}: {error.strerror}"
            ) from None
    # Pooled connections: opening one costs the pragmas, and closing the last one
    # checkpoints the WAL with a sync to disk, several times the cost of a turn.
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # The driver opens each transaction with BEGIN IMMEDIATE before its first write,
        # taking the write lock at the start of a turn (every turn writes first: the
        # event id), so two terminals of one worker queue up instead of failing half
        # way through. Done by the driver rather than a "begin" event because any
        # connection event makes SQLAlchemy dispatch events on every statement.
        dbapi_connection.isolation_level = "IMMEDIATE"
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    return engine


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; safe to run at every start."""
    if current_revision(engine) == HEAD_REVISION:
        return
    try:
        if _create_fresh(engine):
            return
        from alembic import command

        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as error:
        raise DatabaseError(describe(error)) from None


def _create_fresh(engine: Engine) -> bool:
    """Give an empty database the current schema, stamped with the head revision.

    Alembic's documented create-and-stamp: a test checks that the migrations build
    exactly this schema. It spares a first start the import of Alembic, and it runs
    in one transaction (SQLite too: DDL is transactional there once BEGIN is sent),
    so two processes creating the same new database cannot both do it.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        if inspect(connection).get_table_names():
            connection.rollback()
            return False
        metadata.create_all(connection)
        version = Table(
            "alembic_version",
            MetaData(),
            Column("version_num", String(32), primary_key=True),
        )
        version.create(connection)
        connection.execute(version.insert().values(version_num=HEAD_REVISION))
        connection.commit()
    return True


def current_revision(engine: Engine) -> str | None:
    """The schema's migration revision, or None for a new (or unreadable) database."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None


def has_workers(engine: Engine) -> bool:
    """Whether anyone's reflections are stored here (so a missing key would lose them)."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT 1 FROM users LIMIT 1")).first() is not None
    except SQLAlchemyError:
        return False
