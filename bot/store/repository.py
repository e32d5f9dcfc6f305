"""The store's narrow interface: what the service may ask of the database.

Everything here runs inside one `Store.transaction()`; the caller decides where a
turn begins and ends. Free text is encrypted on the way in and decrypted on the way
out, so no other module ever sees a ciphertext or writes plain text by mistake.

A turn on the hot path is six statements: record the event, load the worker and their
state (locked), and at most an answer, a status change and the new state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from bot.messages import UserRef
from bot.store.crypto import Cipher
from bot.store.errors import StorageError, describe
from bot.store.hotpath import HotPath
from bot.store.ids import among
from bot.store.invites import InviteBook
from bot.store.models import (
    DEFAULT_ORGANISATION,
    answers,
    chat_sessions,
    check_ins,
    conversations,
    feedback,
    identities,
    organisations,
    reflections,
    shares,
    users,
)


@dataclass(frozen=True, slots=True)
class StoredRun:
    key: str
    dialogue_id: str
    state: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    dialogue_id: str
    started_at: datetime
    finished_at: datetime
    first_line: str
    tags: tuple[str, ...] = ()


# A check-in with the key and model of the reflection whose plan it asks about.
_CHECK_INS = select(
    check_ins.c.id,
    check_ins.c.user_id,
    check_ins.c.due_at,
    conversations.c.key,
    conversations.c.dialogue_id,
).join(conversations, conversations.c.id == check_ins.c.conversation_id)


@dataclass(frozen=True, slots=True)
class DueCheckIn:
    id: int
    user_id: int
    due_at: datetime
    key: str  # of the reflection whose plan it checks on
    dialogue_id: str


@dataclass(frozen=True, slots=True)
class StoredDraftRef:
    user_id: int
    key: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FollowUpRecord:
    dialogue_id: str
    finished_at: datetime
    answers: dict[str, str]


@dataclass(frozen=True, slots=True)
class PeerExchange:
    """A critical friend's feedback on a shared reflection, and the author's answer."""

    friend: str | None  # their display name, if known
    sent_at: datetime
    feedback: dict[str, str]  # step id of friend_feedback -> the friend's answer
    dialogue_id: str  # of the feedback, to label its answers
    answer: dict[str, str]  # step id of the author's answer -> text (empty: none yet)
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReflectionRecord:
    id: int
    dialogue_id: str
    started_at: datetime
    finished_at: datetime
    summary: str
    answers: dict[str, str]  # step id -> final text, in the order first answered
    revisions: dict[str, list[str]] = field(default_factory=dict)  # step id -> earlier texts
    follow_ups: list[FollowUpRecord] = field(default_factory=list)  # "how did it go?"
    peer: list[PeerExchange] = field(default_factory=list)  # its peer reflection


class Store:
    def __init__(
        self, engine: Engine, cipher: Cipher, *, organisation_name: str = "Default organisation"
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.organisation_name = organisation_name  # given to the organisation when first created
        self._hot = HotPath(engine.dialect.name)
        # Each thread keeps its connection between turns: checking one out of the pool
        # and resetting it on return cost about a tenth of a turn.
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._opened_lock = threading.Lock()

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            connection = self.engine.connect()
            self._local.connection = connection
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def release_thread(self) -> None:
        """Give back this thread's connection: for a thread that is about to end (a
        background job stopping), so the pool does not keep it for ever."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            return
        self._local.connection = None
        with self._opened_lock:
            if connection in self._opened:
                self._opened.remove(connection)
        connection.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One transaction: committed when the block ends, rolled back if it raises.

        Database failures leave as `StorageError`; `retry` is set when running the
        same turn again can succeed (two first messages of a new worker racing, or a
        connection the server dropped).
        """
        try:
            connection = self._connection()
            with connection.begin():
                yield Transaction(connection, self.cipher, self._hot, self.organisation_name)
        except IntegrityError as error:
            raise StorageError(describe(error), retry=True) from error
        except DBAPIError as error:
            raise StorageError(describe(error), retry=error.connection_invalidated) from error
        except SQLAlchemyError as error:
            raise StorageError(describe(error)) from error

    def dispose(self) -> None:
        with self._opened_lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()
        self.engine.dispose()


class Transaction:
    def __init__(
        self, connection: Connection, cipher: Cipher, hot: HotPath, organisation_name: str
    ) -> None:
        self.connection = connection
        self.cipher = cipher
        self._hot = hot
        self._organisation_name = organisation_name
        # Set when this transaction planned a message for someone other than the worker
        # whose turn it is (a critical-friend notice): once it commits, the dispatcher
        # is woken to send it now rather than at its next tick.
        self.told_others = False

    # ---- idempotency -------------------------------------------------------

    def record_event(self, channel: str, event_id: str, now: datetime) -> bool:
        """Remember an event id; False if it was already processed (a duplicate delivery)."""
        return self._hot.record_event(self.connection, channel, event_id, now)

    # ---- people and their state ----------------------------------------------

    def find_user(self, ref: UserRef) -> int | None:
        return self.connection.scalar(
            select(identities.c.user_id).where(
                identities.c.channel == ref.channel, identities.c.external_id == ref.external_id
            )
        )

    def load_worker(self, ref: UserRef, now: datetime) -> tuple[int, dict[str, Any]]:
        """The worker behind a channel identity and their engine state, locked for this turn.

        A first message creates the worker.
        """
        row = self._hot.load_worker(self.connection, ref.channel, ref.external_id)
        if row is None:
            return self._create_worker(ref, now), {}
        user_id, token = row
        state = self.cipher.decrypt_json(token)
        return user_id, state if isinstance(state, dict) else {}

    def join(self, ref: UserRef, organisation_id: int, now: datetime) -> int:
        """Make a worker of a person who joined an organisation (by invitation)."""
        return self._create_worker(ref, now, organisation_id=organisation_id)

    def _create_worker(
        self, ref: UserRef, now: datetime, *, organisation_id: int | None = None
    ) -> int:
        name = self.cipher.encrypt(ref.display_name) if ref.display_name else None
        user_id: int = self.connection.execute(
            insert(users)
            .values(
                organisation_id=organisation_id or self.default_organisation(now),
                display_name_enc=name,
                created_at=now,
            )
            .returning(users.c.id)
        ).scalar_one()
        # A concurrent first message for the same identity fails here on the unique
        # constraint; the service retries the turn and then finds this worker.
        self.connection.execute(
            insert(identities).values(
                user_id=user_id, channel=ref.channel, external_id=ref.external_id, created_at=now
            )
        )
        self.connection.execute(
            insert(chat_sessions).values(
                user_id=user_id, state_enc=self.cipher.encrypt_json({}), updated_at=now
            )
        )
        return user_id

    def redeem_invite(self, code: str, now: datetime) -> int | None:
        """Use one place on an open invitation; its organisation's id, or None."""
        return InviteBook(self.connection).redeem(code, now)

    def default_organisation(self, now: datetime) -> int:
        if self._hot.postgres:
            from sqlalchemy.dialects import postgresql  # only loaded when PostgreSQL is in use

            add: Any = postgresql.insert(organisations)
        else:
            add = sqlite.insert(organisations)
        self.connection.execute(
            add.on_conflict_do_nothing(),
            {"slug": DEFAULT_ORGANISATION, "name": self._organisation_name, "created_at": now},
        )
        return int(
            self.connection.execute(
                select(organisations.c.id).where(organisations.c.slug == DEFAULT_ORGANISATION)
            ).scalar_one()
        )

    def notice_due(self, user_id: int, now: datetime) -> bool:
        """Whether a notice (critical friends, retention) is due for the worker: one cheap query."""
        return self._hot.notice_due(self.connection, user_id, now)

    def set_display_name(self, user_id: int, name: str) -> None:
        self.connection.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(display_name_enc=self.cipher.encrypt(name))
        )

    def display_name(self, user_id: int) -> str | None:
        token = self.connection.scalar(
            select(users.c.display_name_enc).where(users.c.id == user_id)
        )
        return self.cipher.decrypt(token) if token else None

    def save_state(self, user_id: int, state: dict[str, Any], now: datetime) -> None:
        self._hot.save_state(self.connection, user_id, self.cipher.encrypt_json(state), now)

    # ---- reflections in progress -------------------------------------------

    def start_run(self, user_id: int, key: str, dialogue_id: str, now: datetime) -> None:
        self.connection.execute(
            insert(conversations).values(
                key=key,
                user_id=user_id,
                dialogue_id=dialogue_id,
                status="open",
                started_at=now,
                updated_at=now,
            )
        )

    def pause_run(self, key: str, state: dict[str, Any], now: datetime) -> None:
        """Keep a run as a draft, with where it stood."""
        self.connection.execute(
            update(conversations)
            .where(conversations.c.key == key)
            .values(status="paused", state_enc=self.cipher.encrypt_json(state), updated_at=now)
        )

    def resume_run(self, key: str, now: datetime) -> None:
        # The worker's session holds the state again; a second copy would only go stale.
        self.connection.execute(
            update(conversations)
            .where(conversations.c.key == key)
            .values(status="open", state_enc=None, updated_at=now)
        )

    def drafts(self, user_id: int, limit: int) -> list[StoredRun]:
        rows = self.connection.execute(
            select(
                conversations.c.key,
                conversations.c.dialogue_id,
                conversations.c.state_enc,
                conversations.c.updated_at,
            )
            .where(conversations.c.user_id == user_id, conversations.c.status == "paused")
            .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
            .limit(limit)
        )
        return [
            StoredRun(
                key=row.key,
                dialogue_id=row.dialogue_id,
                state=self.cipher.decrypt_json(row.state_enc) if row.state_enc else {},
                updated_at=row.updated_at,
            )
            for row in rows
        ]

    def unfinished(self, user_id: int, limit: int) -> list[tuple[str, datetime]]:
        """(dialogue id, last change) of reflections begun and not finished, newest first."""
        rows = self.connection.execute(
            select(conversations.c.dialogue_id, conversations.c.updated_at)
            .where(
                conversations.c.user_id == user_id,
                conversations.c.status.in_(("open", "paused")),
            )
            .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
            .limit(limit)
        )
        return [(row.dialogue_id, row.updated_at) for row in rows]

    # ---- what the nudges need --------------------------------------------------

    def reachable_many(self, user_ids: Iterable[int]) -> dict[int, UserRef]:
        """The chat app to reach each worker in unprompted: their newest identity that can
        be written to first (a terminal cannot). Workers with none are left out."""
        rows = self.connection.execute(
            select(identities.c.user_id, identities.c.channel, identities.c.external_id)
            .where(
                among(self.connection, identities.c.user_id, user_ids),
                identities.c.channel != "terminal",
            )
            .order_by(identities.c.created_at, identities.c.id)
        )
        # Oldest first, so the newest identity of each worker is the one kept.
        return {row.user_id: UserRef(row.channel, row.external_id) for row in rows}

    def joined_at(self, user_id: int) -> datetime | None:
        return self.connection.scalar(select(users.c.created_at).where(users.c.id == user_id))

    def last_finished(self, user_ids: Iterable[int]) -> dict[int, datetime]:
        """When each of these workers last finished a reflection (those who have)."""
        rows = self.connection.execute(
            select(reflections.c.user_id, func.max(reflections.c.finished_at))
            .where(among(self.connection, reflections.c.user_id, user_ids))
            .group_by(reflections.c.user_id)
        )
        return {int(row[0]): row[1] for row in rows}

    def timezones(self, user_ids: Iterable[int]) -> dict[int, str]:
        rows = self.connection.execute(
            select(users.c.id, users.c.timezone).where(
                among(self.connection, users.c.id, user_ids), users.c.timezone.is_not(None)
            )
        )
        return {int(row[0]): str(row[1]) for row in rows}

    def quiet_drafts(
        self, untouched_since: datetime, limit: int, *, touched_after: datetime
    ) -> list[StoredDraftRef]:
        """Paused reflections last touched between the two instants, oldest first (older
        ones are long past their reminder, and would fill every page for ever)."""
        rows = self.connection.execute(
            select(conversations.c.user_id, conversations.c.key, conversations.c.updated_at)
            .where(
                conversations.c.status == "paused",
                conversations.c.updated_at <= untouched_since,
                conversations.c.updated_at > touched_after,
            )
            .order_by(conversations.c.updated_at, conversations.c.id)
            .limit(limit)
        )
        return [StoredDraftRef(row.user_id, row.key, row.updated_at) for row in rows]

    def draft(self, key: str) -> StoredDraftRef | None:
        """A reflection still paused, by its key (None once carried on, finished or gone)."""
        row = self.connection.execute(
            select(conversations.c.user_id, conversations.c.key, conversations.c.updated_at).where(
                conversations.c.key == key, conversations.c.status == "paused"
            )
        ).first()
        return StoredDraftRef(row.user_id, row.key, row.updated_at) if row is not None else None

    def dialogue_of(self, key: str) -> str | None:
        return self.connection.scalar(
            select(conversations.c.dialogue_id).where(conversations.c.key == key)
        )

    def due_check_ins(self, until: datetime, limit: int) -> list[DueCheckIn]:
        """Pending action-plan check-ins due by `until`, soonest first."""
        rows = self.connection.execute(
            _CHECK_INS.where(check_ins.c.status == "pending", check_ins.c.due_at <= until)
            .order_by(check_ins.c.due_at, check_ins.c.id)
            .limit(limit)
        )
        return [DueCheckIn(*row) for row in rows]

    def check_in(self, check_in_id: int, user_id: int) -> DueCheckIn | None:
        """One of the worker's own check-ins, whatever its status."""
        row = self.connection.execute(
            _CHECK_INS.where(check_ins.c.id == check_in_id, check_ins.c.user_id == user_id)
        ).first()
        return DueCheckIn(*row) if row is not None else None

    def set_check_in_status(self, check_in_id: int, status: str) -> None:
        self.connection.execute(
            update(check_ins).where(check_ins.c.id == check_in_id).values(status=status)
        )

    def open_check_ins(self, user_id: int, now: datetime) -> list[DueCheckIn]:
        """The worker's check-ins that are due and not yet answered, oldest first."""
        rows = self.connection.execute(
            _CHECK_INS.where(
                check_ins.c.user_id == user_id,
                check_ins.c.status.in_(("pending", "planned", "sent")),
                check_ins.c.due_at <= now,
            ).order_by(check_ins.c.due_at, check_ins.c.id)
        )
        return [DueCheckIn(*row) for row in rows]

    def started_check_in(self, user_id: int) -> DueCheckIn | None:
        """The check-in the worker most recently chose to answer, not yet linked."""
        row = self.connection.execute(
            _CHECK_INS.where(check_ins.c.user_id == user_id, check_ins.c.status == "started")
            .order_by(check_ins.c.id.desc())
            .limit(1)
        ).first()
        return DueCheckIn(*row) if row is not None else None

    def set_follows(self, key: str, follows_key: str) -> None:
        self.connection.execute(
            update(conversations).where(conversations.c.key == key).values(follows_key=follows_key)
        )

    def answers_of(self, key: str) -> dict[str, str]:
        """The latest answer to each step of a conversation, by its key."""
        conversation_id = self._conversation_id(key)
        return {step: texts[-1] for step, texts in self._answer_history(conversation_id).items()}

    def follow_ups(self, user_id: int, key: str) -> list[FollowUpRecord]:
        """Finished follow-ups of a reflection, oldest first."""
        rows = self.connection.execute(
            select(conversations.c.id, conversations.c.dialogue_id, conversations.c.finished_at)
            .where(
                conversations.c.user_id == user_id,
                conversations.c.follows_key == key,
                conversations.c.status == "finished",
            )
            .order_by(conversations.c.finished_at, conversations.c.id)
        )
        return [
            FollowUpRecord(
                dialogue_id=row.dialogue_id,
                finished_at=row.finished_at,
                answers={step: texts[-1] for step, texts in self._answer_history(row.id).items()},
            )
            for row in rows
        ]

    def timezone(self, user_id: int) -> str | None:
        return self.connection.scalar(select(users.c.timezone).where(users.c.id == user_id))

    def set_timezone(self, user_id: int, name: str) -> None:
        self.connection.execute(update(users).where(users.c.id == user_id).values(timezone=name))

    def save_answer(self, key: str, step_id: str, text: str, now: datetime) -> None:
        """Add the next revision of a step's answer, in one statement."""
        if not self._hot.save_answer(self.connection, key, step_id, self.cipher.encrypt(text), now):
            raise LookupError(f"no conversation with key {key}")

    def _conversation_id(self, key: str) -> int:
        conversation_id = self.connection.scalar(
            select(conversations.c.id).where(conversations.c.key == key)
        )
        if conversation_id is None:
            raise LookupError(f"no conversation with key {key}")
        return int(conversation_id)

    def discard_run(self, key: str) -> None:
        """Delete a draft and everything written in it, for good."""
        conversation_id = self._conversation_id(key)
        for table in (answers, check_ins):
            self.connection.execute(delete(table).where(table.c.conversation_id == conversation_id))
        self.connection.execute(delete(conversations).where(conversations.c.id == conversation_id))

    def set_check_in(self, key: str, user_id: int, days: int, now: datetime) -> None:
        """Book (or with days=0 cancel) the follow-up check-in of a reflection."""
        conversation_id = self._conversation_id(key)
        self.connection.execute(
            delete(check_ins).where(check_ins.c.conversation_id == conversation_id)
        )
        if days > 0:
            self.connection.execute(
                insert(check_ins).values(
                    conversation_id=conversation_id,
                    user_id=user_id,
                    due_at=now + timedelta(days=days),
                    status="pending",
                    created_at=now,
                )
            )

    def finish_run(self, key: str, summary: str, now: datetime) -> int:
        run = self.connection.execute(
            select(
                conversations.c.id,
                conversations.c.user_id,
                conversations.c.dialogue_id,
                conversations.c.started_at,
            ).where(conversations.c.key == key)
        ).one()
        self.connection.execute(
            update(conversations)
            .where(conversations.c.id == run.id)
            .values(status="finished", state_enc=None, finished_at=now, updated_at=now)
        )
        return int(
            self.connection.execute(
                insert(reflections)
                .values(
                    conversation_id=run.id,
                    user_id=run.user_id,
                    dialogue_id=run.dialogue_id,
                    started_at=run.started_at,
                    finished_at=now,
                    summary_enc=self.cipher.encrypt(summary),
                )
                .returning(reflections.c.id)
            ).scalar_one()
        )

    # ---- the journal -------------------------------------------------------

    def journal(self, user_id: int) -> list[JournalEntry]:
        rows = self.connection.execute(
            select(reflections)
            .where(reflections.c.user_id == user_id)
            .order_by(reflections.c.finished_at, reflections.c.id)
        ).all()
        entries = []
        for row in rows:
            first = next(iter(self._answer_history(row.conversation_id).values()), [""])[-1]
            entries.append(
                JournalEntry(
                    id=row.id,
                    dialogue_id=row.dialogue_id,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    first_line=first.strip().splitlines()[0] if first.strip() else "",
                    tags=self._tags(row.tags_enc),
                )
            )
        return entries

    def reflection_key(self, user_id: int, reflection_id: int) -> str | None:
        """The conversation key of one of the worker's finished reflections."""
        found = self.connection.scalar(
            select(conversations.c.key)
            .join(reflections, reflections.c.conversation_id == conversations.c.id)
            .where(reflections.c.id == reflection_id, reflections.c.user_id == user_id)
        )
        return None if found is None else str(found)

    def tags_of(self, user_id: int, reflection_id: int) -> tuple[str, ...] | None:
        """One finished reflection's tags; None if it is not the worker's."""
        row = self.connection.execute(
            select(reflections.c.tags_enc).where(
                reflections.c.id == reflection_id, reflections.c.user_id == user_id
            )
        ).first()
        return None if row is None else self._tags(row.tags_enc)

    def _tags(self, token: bytes | None) -> tuple[str, ...]:
        return tuple(self.cipher.decrypt_json(token)) if token else ()

    def set_tags(self, user_id: int, reflection_id: int, tags: Sequence[str]) -> bool:
        """Replace a finished reflection's tags (encrypted); False if it is not theirs."""
        result = self.connection.execute(
            update(reflections)
            .where(reflections.c.id == reflection_id, reflections.c.user_id == user_id)
            .values(tags_enc=self.cipher.encrypt_json(list(tags)) if tags else None)
        )
        return bool(result.rowcount)

    def reflection(self, user_id: int, reflection_id: int) -> ReflectionRecord | None:
        row = self.connection.execute(
            select(reflections).where(
                reflections.c.id == reflection_id, reflections.c.user_id == user_id
            )
        ).first()
        if row is None:
            return None
        history = self._answer_history(row.conversation_id)
        key = self.connection.scalar(
            select(conversations.c.key).where(conversations.c.id == row.conversation_id)
        )
        return ReflectionRecord(
            id=row.id,
            dialogue_id=row.dialogue_id,
            started_at=row.started_at,
            finished_at=row.finished_at,
            summary=self.cipher.decrypt(row.summary_enc),
            answers={step: texts[-1] for step, texts in history.items()},
            revisions={step: texts[:-1] for step, texts in history.items() if len(texts) > 1},
            follow_ups=self.follow_ups(user_id, key) if key else [],
            peer=self.peer_exchanges(row.id),
        )

    def peer_exchanges(self, reflection_id: int) -> list[PeerExchange]:
        """Feedback sent on this reflection by critical friends it was shared with, and
        the author's answers: the reflection's peer reflection, for its record."""
        rows = self.connection.execute(
            select(
                feedback.c.user_id,
                feedback.c.run_key,
                feedback.c.sent_at,
                feedback.c.reply_key,
                feedback.c.replied_at,
                conversations.c.dialogue_id,
            )
            .join(shares, shares.c.id == feedback.c.share_id)
            .join(conversations, conversations.c.key == feedback.c.run_key)
            .where(shares.c.reflection_id == reflection_id, feedback.c.status == "sent")
            .order_by(feedback.c.sent_at, feedback.c.id)
        ).all()
        return [
            PeerExchange(
                friend=self.display_name(row.user_id),
                sent_at=row.sent_at,
                feedback=self.answers_of(row.run_key),
                dialogue_id=row.dialogue_id,
                answer=self.answers_of(row.reply_key) if row.replied_at and row.reply_key else {},
                answered_at=row.replied_at,
            )
            for row in rows
        ]

    def _answer_history(self, conversation_id: int) -> dict[str, list[str]]:
        rows = self.connection.execute(
            select(answers.c.step_id, answers.c.text_enc)
            .where(answers.c.conversation_id == conversation_id)
            .order_by(answers.c.id)
        )
        history: dict[str, list[str]] = {}
        for step_id, token in rows:
            history.setdefault(step_id, []).append(self.cipher.decrypt(token))
        return history
