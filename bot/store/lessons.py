"""Lessons offered to the team, and the digests they go out in.

A lesson's text is encrypted like everything a worker writes. Every statement about a
lesson names its author (`user_id`), so someone else's lesson number reads as none at
all. A digest is one row per organisation, period and place. The lessons of a period
are fixed when its first digest is claimed (those approved before it was due), and read
again when each is sent, so a lesson its author deleted meanwhile is never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from bot.store.models import digests, lessons, organisations, reflections, users
from bot.store.repository import Transaction

DRAFT = "draft"
APPROVED = "approved"
MAX_ATTEMPTS = 5  # then the digest is marked failed and its lessons wait for the next


@dataclass(frozen=True, slots=True)
class StoredLesson:
    id: int
    reflection_id: int | None
    text: str
    theme: str
    approved: bool
    period: str | None  # the digest it is in ("2026-11-30"); None: not yet in one
    sent_at: datetime | None  # when that digest first went out


@dataclass(frozen=True, slots=True)
class TeamLesson:
    """A lesson as a digest shows it: the approved words and a theme, nothing else."""

    text: str
    theme: str


@dataclass(frozen=True, slots=True)
class ClaimedDigest:
    id: int
    organisation_id: int
    period: str
    destination: str
    attempts: int


class LessonBook:
    """One worker's lessons."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.connection = tx.connection

    def create(
        self, user_id: int, reflection_id: int, text: str, theme: str, now: datetime
    ) -> int | None:
        """A draft lesson from one of the worker's finished reflections; None if the
        reflection is not theirs."""
        organisation_id = self.connection.scalar(
            select(users.c.organisation_id)
            .join(reflections, reflections.c.user_id == users.c.id)
            .where(users.c.id == user_id, reflections.c.id == reflection_id)
        )
        if organisation_id is None:
            return None
        return int(
            self.connection.execute(
                insert(lessons)
                .values(
                    user_id=user_id,
                    organisation_id=organisation_id,
                    reflection_id=reflection_id,
                    text_enc=self.tx.cipher.encrypt(text),
                    theme=theme,
                    status=DRAFT,
                    created_at=now,
                )
                .returning(lessons.c.id)
            ).scalar_one()
        )

    def organisation_slug(self, user_id: int) -> str | None:
        return self.connection.scalar(
            select(organisations.c.slug)
            .join(users, users.c.organisation_id == organisations.c.id)
            .where(users.c.id == user_id)
        )

    def get(self, user_id: int, lesson_id: int) -> StoredLesson | None:
        rows = self._select(and_(lessons.c.id == lesson_id, lessons.c.user_id == user_id))
        return rows[0] if rows else None

    def of_reflection(self, user_id: int, reflection_id: int) -> StoredLesson | None:
        rows = self._select(
            and_(lessons.c.reflection_id == reflection_id, lessons.c.user_id == user_id)
        )
        return rows[0] if rows else None

    def mine(self, user_id: int) -> list[StoredLesson]:
        return self._select(lessons.c.user_id == user_id)

    def change(
        self, user_id: int, lesson_id: int, *, text: str | None = None, theme: str | None = None
    ) -> None:
        """New words or a new theme: a draft again, to be approved as it now reads."""
        values: dict[str, object] = {"status": DRAFT, "approved_at": None}
        if text is not None:
            values["text_enc"] = self.tx.cipher.encrypt(text)
        if theme is not None:
            values["theme"] = theme
        self.connection.execute(update(lessons).where(_open(user_id, lesson_id)).values(**values))

    def approve(self, user_id: int, lesson_id: int, now: datetime) -> None:
        self.connection.execute(
            update(lessons)
            .where(_open(user_id, lesson_id))
            .values(status=APPROVED, approved_at=now)
        )

    def delete(self, user_id: int, lesson_id: int) -> None:
        self.connection.execute(
            delete(lessons).where(lessons.c.id == lesson_id, lessons.c.user_id == user_id)
        )

    def _select(self, where: ColumnElement[bool]) -> list[StoredLesson]:
        sent = (
            select(func.min(digests.c.sent_at))
            .where(
                digests.c.organisation_id == lessons.c.organisation_id,
                digests.c.period == lessons.c.period,
                digests.c.status == "sent",
            )
            .scalar_subquery()
        )
        query = (
            select(
                lessons.c.id,
                lessons.c.reflection_id,
                lessons.c.text_enc,
                lessons.c.theme,
                lessons.c.status,
                lessons.c.period,
                sent.label("sent_at"),
            )
            .where(where)
            .order_by(lessons.c.id)
        )
        return [
            StoredLesson(
                id=row.id,
                reflection_id=row.reflection_id,
                text=self.tx.cipher.decrypt(row.text_enc),
                theme=row.theme,
                approved=row.status == APPROVED,
                period=row.period,
                sent_at=row.sent_at,
            )
            for row in self.connection.execute(query)
        ]


class DigestBook:
    """Organisations' digests: planned, claimed by one process, sent, settled."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.connection: Connection = tx.connection

    def organisations(self) -> list[tuple[int, str]]:
        rows = self.connection.execute(
            select(organisations.c.id, organisations.c.slug).order_by(organisations.c.id)
        )
        return [(row.id, row.slug) for row in rows]

    def plan(
        self, organisation_id: int, period: str, destination: str, due_at: datetime, now: datetime
    ) -> bool:
        """The digest for a period and place, unless it is planned already."""
        exists = self.connection.scalar(
            select(digests.c.id).where(
                digests.c.organisation_id == organisation_id,
                digests.c.period == period,
                digests.c.destination == destination,
            )
        )
        if exists is not None:
            return False
        # Two processes may both get here; the unique constraint keeps one row.
        inserted = self.connection.execute(
            _insert_ignoring_duplicates(self.connection).values(
                organisation_id=organisation_id,
                period=period,
                destination=destination,
                due_at=due_at,
                status="pending",
                created_at=now,
            )
        )
        return bool(inserted.rowcount)

    def claim(self, now: datetime, claimant: str, lease: timedelta) -> list[ClaimedDigest]:
        """Due digests, each claimed by this process alone; their lessons fixed now."""
        candidates = self.connection.execute(
            select(digests).where(
                digests.c.due_at <= now,
                or_(digests.c.not_before.is_(None), digests.c.not_before <= now),
                or_(
                    digests.c.status == "pending",
                    and_(digests.c.status == "claimed", digests.c.lease_until < now),
                ),
            )
        ).all()
        claimed = []
        for row in candidates:
            won = self.connection.execute(
                update(digests)
                .where(
                    digests.c.id == row.id,
                    or_(
                        digests.c.status == "pending",
                        and_(digests.c.status == "claimed", digests.c.lease_until < now),
                    ),
                )
                .values(status="claimed", claimed_by=claimant, lease_until=now + lease)
            ).rowcount
            if not won:
                continue  # another process took it between the two statements
            self.attach(row.organisation_id, row.period, row.due_at)
            claimed.append(
                ClaimedDigest(
                    row.id, row.organisation_id, row.period, row.destination, row.attempts
                )
            )
        return claimed

    def attach(self, organisation_id: int, period: str, due_at: datetime) -> None:
        """Approved lessons not yet in a digest go into this period's, for every place.
        Only those approved before it was due: every place's digest has the same ones."""
        self.connection.execute(
            update(lessons)
            .where(
                lessons.c.organisation_id == organisation_id,
                lessons.c.status == APPROVED,
                lessons.c.period.is_(None),
                lessons.c.approved_at <= due_at,
            )
            .values(period=period)
        )

    def lessons_in(self, digest: ClaimedDigest) -> list[TeamLesson]:
        rows = self.connection.execute(
            select(lessons.c.text_enc, lessons.c.theme)
            .where(
                lessons.c.organisation_id == digest.organisation_id,
                lessons.c.period == digest.period,
                lessons.c.status == APPROVED,
            )
            .order_by(lessons.c.approved_at, lessons.c.id)
        )
        return [TeamLesson(self.tx.cipher.decrypt(row.text_enc), row.theme) for row in rows]

    def waiting(self, organisation_id: int) -> list[TeamLesson]:
        """Approved lessons the next digest would carry (for `digest preview`): those in
        no digest yet, and those of a digest not yet sent anywhere."""
        sent = select(digests.c.period).where(
            digests.c.organisation_id == organisation_id, digests.c.status == "sent"
        )
        rows = self.connection.execute(
            select(lessons.c.text_enc, lessons.c.theme)
            .where(
                lessons.c.organisation_id == organisation_id,
                lessons.c.status == APPROVED,
                or_(lessons.c.period.is_(None), lessons.c.period.not_in(sent)),
            )
            .order_by(lessons.c.approved_at, lessons.c.id)
        )
        return [TeamLesson(self.tx.cipher.decrypt(row.text_enc), row.theme) for row in rows]

    def settle(self, digest: ClaimedDigest, outcome: str, now: datetime, claimant: str) -> None:
        """`sent`, `empty` (nothing to say), `gone` (the place refuses us) or `retry`."""
        mine = and_(digests.c.id == digest.id, digests.c.claimed_by == claimant)
        if outcome in {"sent", "empty"}:
            self.connection.execute(
                update(digests)
                .where(mine)
                .values(status=outcome, sent_at=now, lease_until=None, outcome=None)
            )
            return
        attempts = digest.attempts + 1
        if outcome == "retry" and attempts < MAX_ATTEMPTS:
            self.connection.execute(
                update(digests)
                .where(mine)
                .values(
                    status="pending",
                    attempts=attempts,
                    lease_until=None,
                    # Backoff: 1, 4, 9, 16 minutes.
                    not_before=now + timedelta(minutes=attempts * attempts),
                )
            )
            return
        # Given up (logged by the caller); the other places still had their copy.
        self.connection.execute(
            update(digests)
            .where(mine)
            .values(status="failed", attempts=attempts, lease_until=None, outcome=outcome[:200])
        )
        same_period = and_(
            digests.c.organisation_id == digest.organisation_id,
            digests.c.period == digest.period,
        )
        still_going = self.connection.scalar(
            select(func.count())
            .select_from(digests)
            .where(same_period, digests.c.status != "failed")
        )
        if not still_going:
            # No place took this period's digest: its lessons wait for the next one
            # rather than being marked as in a digest nobody read.
            self.connection.execute(
                update(lessons)
                .where(
                    lessons.c.organisation_id == digest.organisation_id,
                    lessons.c.period == digest.period,
                )
                .values(period=None)
            )


def _open(user_id: int, lesson_id: int) -> ColumnElement[bool]:
    """The worker's own lesson, while it is in no digest yet (and can still change)."""
    return and_(lessons.c.id == lesson_id, lessons.c.user_id == user_id, lessons.c.period.is_(None))


def _insert_ignoring_duplicates(connection: Connection):  # type: ignore[no-untyped-def]
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(digests).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(digests).on_conflict_do_nothing()


__all__: Sequence[str] = (
    "APPROVED",
    "DRAFT",
    "ClaimedDigest",
    "DigestBook",
    "LessonBook",
    "StoredLesson",
    "TeamLesson",
)
