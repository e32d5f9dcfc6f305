"""The store on both SQLite and PostgreSQL: migrations, encryption at rest, key rotation."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from bot.service import ConversationService
from bot.store.crypto import Cipher, generate_key
from bot.store.db import HEAD_REVISION, alembic_config, current_revision, open_engine
from bot.store.models import answers, metadata
from bot.store.repository import Store
from bot.store.rotation import encrypted_columns, rotate_keys
from tests.worker import Worker

PHRASE = "The grandmother's kitchen table, where we finally talked properly about the plan."


def test_migrations_build_exactly_the_models_schema(database_url: str) -> None:
    # Run the migrations themselves (a new database normally skips them: create-and-stamp).
    engine = open_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "head")
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert differences == []
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_a_new_database_is_created_and_stamped_at_the_head_revision(store: Store) -> None:
    assert current_revision(store.engine) == HEAD_REVISION
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_the_known_head_revision_is_alembics_head(store: Store) -> None:
    scripts = ScriptDirectory.from_config(alembic_config(store.engine))
    assert scripts.get_current_head() == HEAD_REVISION


def test_every_free_text_column_is_encrypted() -> None:
    assert set(encrypted_columns()) == {
        ("users", "display_name_enc"),
        ("chat_sessions", "state_enc"),
        ("conversations", "state_enc"),
        ("answers", "text_enc"),
        ("reflections", "summary_enc"),
        ("reflections", "tags_enc"),
        ("cpd_records", "fields_enc"),
        ("cpd_drafts", "fields_enc"),
        ("lessons", "text_enc"),
    }


def test_answers_are_unreadable_in_the_database(service: ConversationService, store: Store) -> None:
    worker = Worker(service)
    worker.start("gibbs")
    worker.says(PHRASE)
    with store.engine.connect() as connection:
        for table, column in encrypted_columns():
            for (value,) in connection.execute(text(f"SELECT {column} FROM {table}")):  # noqa: S608 - names from our own metadata
                assert value is None or b"kitchen" not in bytes(value)


def test_rotation_re_encrypts_everything_with_the_newest_key(
    service: ConversationService, store: Store, secret_key: str
) -> None:
    worker = Worker(service)
    worker.start("gibbs")
    worker.says(PHRASE)
    with store.transaction() as tx:
        before = tx.connection.scalar(select(answers.c.text_enc))
    new_key = generate_key()
    count = rotate_keys(store.engine, Cipher([new_key, secret_key]))
    assert count == 3  # display name, the session state, the answer
    only_new_key = Store(store.engine, Cipher([new_key]))
    with only_new_key.transaction() as tx:
        after = tx.connection.scalar(select(answers.c.text_enc))
        assert after != before
        assert tx.cipher.decrypt(after) == PHRASE


def test_after_rotation_the_old_key_alone_can_no_longer_read(
    service: ConversationService, store: Store, secret_key: str
) -> None:
    worker = Worker(service)
    worker.start("gibbs")
    worker.says(PHRASE)
    rotate_keys(store.engine, Cipher([generate_key(), secret_key]))
    reply = Worker(service, user=worker.user).says("skip")
    assert reply.failed  # the service says so in a sentence instead of crashing
