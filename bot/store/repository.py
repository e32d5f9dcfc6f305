"""The store's narrow interface: what the service may ask of the database.

Everything here runs inside one `Store.transaction()`; the caller decides where a
turn begins and ends. Free text is encrypted on the way in and decrypted on the way
out, so no other module ever sees a ciphertext or writes plain text by mistake.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import UserRef
from bot.store.crypto import Cipher
from bot.store.models import (
    Answer,
    ChatSession,
    CheckIn,
    Conversation,
    Identity,
    Organisation,
    ProcessedEvent,
    Reflection,
    User,
)

DEFAULT_ORGANISATION = "default"


@dataclass(frozen=True, slots=True)
class StoredRun:
    key: str
    dialogue_id: str
    status: str
    state: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    dialogue_id: str
    started_at: datetime
    finished_at: datetime
    first_line: str


@dataclass(frozen=True, slots=True)
class ReflectionRecord:
    id: int
    dialogue_id: str
    started_at: datetime
    finished_at: datetime
    summary: str
    answers: dict[str, str]  # step id -> final text, in the order answered
    revisions: dict[str, list[str]] = field(default_factory=dict)  # step id -> earlier texts


class Store:
    def __init__(self, engine: Engine, cipher: Cipher) -> None:
        self.engine = engine
        self.cipher = cipher
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._sessions.begin() as session:
            yield Transaction(session, self.cipher)

    def dispose(self) -> None:
        self.engine.dispose()


class Transaction:
    def __init__(self, session: Session, cipher: Cipher) -> None:
        self.session = session
        self.cipher = cipher
        self._dialect = session.get_bind().dialect.name

    # ---- idempotency -------------------------------------------------------

    def record_event(self, channel: str, event_id: str, now: datetime) -> bool:
        """Remember an event id; False if it was already processed (a duplicate delivery)."""
        inserted = self._insert_ignoring_conflict(
            ProcessedEvent, {"channel": channel, "event_id": event_id, "processed_at": now}
        )
        return inserted

    def _insert_ignoring_conflict(self, model: type[Any], values: dict[str, Any]) -> bool:
        table = model.__table__
        first_key = next(iter(table.primary_key.columns))
        if self._dialect == "postgresql":
            from sqlalchemy.dialects import postgresql  # only loaded when PostgreSQL is in use

            statement: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing()
        else:
            statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()
        # RETURNING tells us whether a row went in; rowcount is unreliable here (psycopg
        # through SQLAlchemy reports -1 for INSERT ... ON CONFLICT).
        return self.session.connection().execute(statement.returning(first_key)).first() is not None

    # ---- people ------------------------------------------------------------

    def find_user(self, ref: UserRef) -> int | None:
        return self.session.scalar(
            select(Identity.user_id).where(
                Identity.channel == ref.channel, Identity.external_id == ref.external_id
            )
        )

    def user_for(self, ref: UserRef, now: datetime) -> int:
        """The worker behind a channel identity, created on first contact."""
        user_id = self.find_user(ref)
        if user_id is not None:
            return user_id
        organisation_id = self._default_organisation(now)
        user = User(
            organisation_id=organisation_id,
            display_name_enc=self.cipher.encrypt(ref.display_name) if ref.display_name else None,
            created_at=now,
        )
        self.session.add(user)
        self.session.flush()
        self.session.add(
            Identity(
                user_id=user.id, channel=ref.channel, external_id=ref.external_id, created_at=now
            )
        )
        self.session.flush()
        return user.id

    def display_name(self, user_id: int) -> str | None:
        token = self.session.scalar(select(User.display_name_enc).where(User.id == user_id))
        return self.cipher.decrypt(token) if token else None

    def _default_organisation(self, now: datetime) -> int:
        self._insert_ignoring_conflict(
            Organisation,
            {"slug": DEFAULT_ORGANISATION, "name": "Default organisation", "created_at": now},
        )
        organisation_id = self.session.scalar(
            select(Organisation.id).where(Organisation.slug == DEFAULT_ORGANISATION)
        )
        assert organisation_id is not None  # inserted just above if it was missing
        return organisation_id

    # ---- the engine's state ------------------------------------------------

    def load_session(self, user_id: int, now: datetime) -> dict[str, Any]:
        """The worker's engine state, locked for this transaction (created empty if new)."""
        self._insert_ignoring_conflict(
            ChatSession,
            {"user_id": user_id, "state_enc": self.cipher.encrypt_json({}), "updated_at": now},
        )
        query = select(ChatSession.state_enc).where(ChatSession.user_id == user_id)
        if self._dialect == "postgresql":
            # Serialise the turns of one worker; SQLite does the same with BEGIN IMMEDIATE.
            query = query.with_for_update()
        token = self.session.scalar(query)
        state = self.cipher.decrypt_json(token) if token else {}
        return state if isinstance(state, dict) else {}

    def save_session(self, user_id: int, state: dict[str, Any], now: datetime) -> None:
        self.session.execute(
            update(ChatSession)
            .where(ChatSession.user_id == user_id)
            .values(state_enc=self.cipher.encrypt_json(state), updated_at=now)
        )

    # ---- reflections in progress -------------------------------------------

    def start_run(
        self, user_id: int, key: str, dialogue_id: str, state: dict[str, Any], now: datetime
    ) -> None:
        self.session.add(
            Conversation(
                key=key,
                user_id=user_id,
                dialogue_id=dialogue_id,
                status="open",
                state_enc=self.cipher.encrypt_json(state),
                started_at=now,
                updated_at=now,
            )
        )
        self.session.flush()

    def save_run(self, key: str, state: dict[str, Any], now: datetime) -> None:
        self.session.execute(
            update(Conversation)
            .where(Conversation.key == key)
            .values(state_enc=self.cipher.encrypt_json(state), updated_at=now)
        )

    def set_run_status(self, key: str, status: str, now: datetime) -> None:
        self.session.execute(
            update(Conversation)
            .where(Conversation.key == key)
            .values(status=status, updated_at=now)
        )

    def drafts(self, user_id: int, limit: int) -> list[StoredRun]:
        rows = self.session.execute(
            select(Conversation)
            .where(Conversation.user_id == user_id, Conversation.status == "paused")
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(limit)
        ).scalars()
        return [
            StoredRun(
                key=row.key,
                dialogue_id=row.dialogue_id,
                status=row.status,
                state=self.cipher.decrypt_json(row.state_enc),
                updated_at=row.updated_at,
            )
            for row in rows
        ]

    def _conversation_id(self, key: str) -> int:
        conversation_id = self.session.scalar(
            select(Conversation.id).where(Conversation.key == key)
        )
        if conversation_id is None:
            raise LookupError(f"no conversation with key {key}")
        return conversation_id

    def save_answer(self, key: str, step_id: str, text: str, now: datetime) -> None:
        conversation_id = self._conversation_id(key)
        latest = self.session.scalar(
            select(func.max(Answer.revision)).where(
                Answer.conversation_id == conversation_id, Answer.step_id == step_id
            )
        )
        self.session.add(
            Answer(
                conversation_id=conversation_id,
                step_id=step_id,
                revision=(latest or 0) + 1,
                text_enc=self.cipher.encrypt(text),
                created_at=now,
            )
        )

    def discard_run(self, key: str) -> None:
        """Delete a draft and everything written in it, for good."""
        conversation_id = self._conversation_id(key)
        self.session.execute(delete(Answer).where(Answer.conversation_id == conversation_id))
        self.session.execute(delete(CheckIn).where(CheckIn.conversation_id == conversation_id))
        self.session.execute(delete(Conversation).where(Conversation.id == conversation_id))

    def set_check_in(self, key: str, user_id: int, days: int, now: datetime) -> None:
        """Book (or with days=0 cancel) the follow-up check-in of a reflection."""
        conversation_id = self._conversation_id(key)
        self.session.execute(delete(CheckIn).where(CheckIn.conversation_id == conversation_id))
        if days > 0:
            self.session.add(
                CheckIn(
                    conversation_id=conversation_id,
                    user_id=user_id,
                    due_on=now + timedelta(days=days),
                    status="pending",
                    created_at=now,
                )
            )

    def finish_run(self, key: str, summary: str, now: datetime) -> int:
        conversation = self.session.scalars(
            select(Conversation).where(Conversation.key == key)
        ).one()
        conversation.status = "finished"
        conversation.finished_at = now
        conversation.updated_at = now
        reflection = Reflection(
            conversation_id=conversation.id,
            user_id=conversation.user_id,
            dialogue_id=conversation.dialogue_id,
            started_at=conversation.started_at,
            finished_at=now,
            summary_enc=self.cipher.encrypt(summary),
        )
        self.session.add(reflection)
        self.session.flush()
        return reflection.id

    # ---- the journal -------------------------------------------------------

    def journal(self, user_id: int) -> list[JournalEntry]:
        rows = self.session.execute(
            select(Reflection)
            .where(Reflection.user_id == user_id)
            .order_by(Reflection.finished_at, Reflection.id)
        ).scalars()
        entries = []
        for row in rows:
            answers = self._final_answers(row.conversation_id)
            first = next(iter(answers.values()), "")
            entries.append(
                JournalEntry(
                    id=row.id,
                    dialogue_id=row.dialogue_id,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    first_line=first.strip().splitlines()[0] if first.strip() else "",
                )
            )
        return entries

    def reflection(self, user_id: int, reflection_id: int) -> ReflectionRecord | None:
        row = self.session.scalar(
            select(Reflection).where(Reflection.id == reflection_id, Reflection.user_id == user_id)
        )
        if row is None:
            return None
        history = self._answer_history(row.conversation_id)
        return ReflectionRecord(
            id=row.id,
            dialogue_id=row.dialogue_id,
            started_at=row.started_at,
            finished_at=row.finished_at,
            summary=self.cipher.decrypt(row.summary_enc),
            answers={step: texts[-1] for step, texts in history.items()},
            revisions={step: texts[:-1] for step, texts in history.items() if len(texts) > 1},
        )

    def _answer_history(self, conversation_id: int) -> dict[str, list[str]]:
        rows = self.session.execute(
            select(Answer.step_id, Answer.text_enc)
            .where(Answer.conversation_id == conversation_id)
            .order_by(Answer.id)
        )
        history: dict[str, list[str]] = {}
        for step_id, token in rows:
            history.setdefault(step_id, []).append(self.cipher.decrypt(token))
        return history

    def _final_answers(self, conversation_id: int) -> dict[str, str]:
        return {step: texts[-1] for step, texts in self._answer_history(conversation_id).items()}
