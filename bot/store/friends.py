"""The critical-friend tables: who is in the pool, who asked whom, who is paired with
whom, what was shared and the feedback on it.

Plain reads and writes on the transaction's connection, like `DeliveryBook`; the rules
(who may see what, who is invited next) live in `bot.peer.friends`. Nothing here holds
free text: the feedback itself lives in the friend's own (encrypted) conversation.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from bot.store.deliveries import dialect_insert
from bot.store.models import (
    feedback,
    friend_invitations,
    friend_profiles,
    friend_requests,
    friend_rounds,
    nudge_settings,
    organisations,
    pairing_members,
    pairings,
    shares,
    users,
)

TOKEN_BYTES = 12  # 16 characters of URL-safe base64: 96 random bits, never guessed
DRAFTING = "drafting"
BEGUN = "begun"  # feedback the friend has just asked to give: the next new run is its
REPLY_BEGUN = ""  # reply_key while the author's answer is started but not yet linked


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class Profile:
    in_pool: bool
    rounds: bool
    max_pairings: int


@dataclass(frozen=True, slots=True)
class PoolMember:
    """A worker in the pool, as the matcher needs them."""

    id: int
    team: str | None
    manager_id: int | None
    max_pairings: int
    rounds: bool
    paused_until: date | None


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    user_id: int
    reflection_id: int | None
    status: str


@dataclass(frozen=True, slots=True)
class Invitation:
    id: int
    token: str
    request_id: int
    user_id: int  # the candidate
    status: str
    expires_at: datetime
    requester_id: int
    reflection_id: int | None


@dataclass(frozen=True, slots=True)
class Pairing:
    id: int
    organisation_id: int
    source: str
    started_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    members: tuple[int, ...]

    def active(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.ends_at

    def others(self, user_id: int) -> tuple[int, ...]:
        return tuple(member for member in self.members if member != user_id)


@dataclass(frozen=True, slots=True)
class Share:
    id: int
    token: str
    pairing_id: int
    reflection_id: int
    author_id: int
    shared_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Feedback:
    id: int
    token: str
    share_id: int
    friend_id: int
    run_key: str | None
    status: str
    sent_at: datetime | None
    reply_key: str | None
    replied_at: datetime | None


def _invitation(row: Any) -> Invitation:
    return Invitation(
        id=row.id,
        token=row.token,
        request_id=row.request_id,
        user_id=row.user_id,
        status=row.status,
        expires_at=row.expires_at,
        requester_id=row.requester_id,
        reflection_id=row.reflection_id,
    )


def _share(row: Any) -> Share:
    return Share(
        id=row.id,
        token=row.token,
        pairing_id=row.pairing_id,
        reflection_id=row.reflection_id,
        author_id=row.user_id,
        shared_at=row.shared_at,
        revoked_at=row.revoked_at,
    )


def _feedback(row: Any) -> Feedback:
    return Feedback(
        id=row.id,
        token=row.token,
        share_id=row.share_id,
        friend_id=row.user_id,
        run_key=row.run_key,
        status=row.status,
        sent_at=row.sent_at,
        reply_key=row.reply_key,
        replied_at=row.replied_at,
    )


_INVITATION_COLUMNS = (
    friend_invitations.c.id,
    friend_invitations.c.token,
    friend_invitations.c.request_id,
    friend_invitations.c.user_id,
    friend_invitations.c.status,
    friend_invitations.c.expires_at,
    friend_requests.c.user_id.label("requester_id"),
    friend_requests.c.reflection_id,
)


class FriendBook:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # ---- people and the pool ---------------------------------------------------

    def organisation_of(self, user_id: int) -> int | None:
        found = self.connection.scalar(select(users.c.organisation_id).where(users.c.id == user_id))
        return None if found is None else int(found)

    def set_place(self, user_id: int, team: str | None, manager_id: int | None) -> None:
        self.connection.execute(
            update(users).where(users.c.id == user_id).values(team=team, manager_id=manager_id)
        )

    def place(self, user_id: int) -> tuple[str | None, int | None]:
        row = self.connection.execute(
            select(users.c.team, users.c.manager_id).where(users.c.id == user_id)
        ).first()
        return (None, None) if row is None else (row.team, row.manager_id)

    def profile(self, user_id: int) -> Profile | None:
        row = self.connection.execute(
            select(friend_profiles).where(friend_profiles.c.user_id == user_id)
        ).first()
        if row is None:
            return None
        return Profile(in_pool=row.in_pool, rounds=row.rounds, max_pairings=row.max_pairings)

    def save_profile(self, user_id: int, profile: Profile, now: datetime) -> None:
        values = {
            "in_pool": profile.in_pool,
            "rounds": profile.rounds,
            "max_pairings": profile.max_pairings,
            "updated_at": now,
        }
        statement = dialect_insert(self.connection, friend_profiles).values(
            user_id=user_id, **values
        )
        self.connection.execute(
            statement.on_conflict_do_update(index_elements=["user_id"], set_=values)
        )

    def pool(self, organisation_id: int) -> list[PoolMember]:
        """Everyone in the organisation's pool, with their holiday pause if any."""
        rows = self.connection.execute(
            select(
                users.c.id,
                users.c.team,
                users.c.manager_id,
                friend_profiles.c.max_pairings,
                friend_profiles.c.rounds,
                nudge_settings.c.paused_until,
            )
            .join(friend_profiles, friend_profiles.c.user_id == users.c.id)
            .outerjoin(nudge_settings, nudge_settings.c.user_id == users.c.id)
            .where(users.c.organisation_id == organisation_id, friend_profiles.c.in_pool)
            .order_by(users.c.id)
        )
        return [
            PoolMember(
                id=row.id,
                team=row.team,
                manager_id=row.manager_id,
                max_pairings=row.max_pairings,
                rounds=row.rounds,
                paused_until=row.paused_until,
            )
            for row in rows
        ]

    def organisation_slug(self, organisation_id: int) -> str | None:
        found = self.connection.scalar(
            select(organisations.c.slug).where(organisations.c.id == organisation_id)
        )
        return None if found is None else str(found)

    def organisation_slugs(self) -> dict[int, str]:
        rows = self.connection.execute(select(organisations.c.id, organisations.c.slug))
        return {int(row.id): str(row.slug) for row in rows}

    def organisations_with_rounds(self) -> list[int]:
        rows = self.connection.execute(
            select(users.c.organisation_id)
            .join(friend_profiles, friend_profiles.c.user_id == users.c.id)
            .where(friend_profiles.c.in_pool, friend_profiles.c.rounds)
            .distinct()
        )
        return sorted(int(row[0]) for row in rows)

    # ---- requests and invitations ---------------------------------------------

    def open_request(self, user_id: int) -> Request | None:
        row = self.connection.execute(
            select(friend_requests)
            .where(friend_requests.c.user_id == user_id, friend_requests.c.status == "open")
            .order_by(friend_requests.c.id.desc())
        ).first()
        if row is None:
            return None
        return Request(row.id, row.user_id, row.reflection_id, row.status)

    def create_request(self, user_id: int, reflection_id: int | None, now: datetime) -> int:
        return int(
            self.connection.execute(
                insert(friend_requests)
                .values(
                    user_id=user_id,
                    reflection_id=reflection_id,
                    status="open",
                    created_at=now,
                    updated_at=now,
                )
                .returning(friend_requests.c.id)
            ).scalar_one()
        )

    def waiting_requests(self, limit: int = 200) -> list[Request]:
        """Open requests with nobody asked just now: nobody was free when they asked."""
        asked = select(friend_invitations.c.request_id).where(friend_invitations.c.status == "open")
        rows = self.connection.execute(
            select(friend_requests)
            .where(friend_requests.c.status == "open", friend_requests.c.id.not_in(asked))
            .order_by(friend_requests.c.id)
            .limit(limit)
        )
        return [Request(row.id, row.user_id, row.reflection_id, row.status) for row in rows]

    def request(self, request_id: int) -> Request | None:
        row = self.connection.execute(
            select(friend_requests).where(friend_requests.c.id == request_id)
        ).first()
        if row is None:
            return None
        return Request(row.id, row.user_id, row.reflection_id, row.status)

    def set_request_status(self, request_id: int, status: str, now: datetime) -> bool:
        result = self.connection.execute(
            update(friend_requests)
            .where(friend_requests.c.id == request_id, friend_requests.c.status == "open")
            .values(status=status, updated_at=now)
        )
        return bool(result.rowcount)

    def invite(
        self, request_id: int, candidate_id: int, now: datetime, expires_at: datetime
    ) -> int | None:
        """The invitation's id; None if this candidate was asked for this request already
        (two processes trying a waiting request at once both choose the same one)."""
        statement = (
            dialect_insert(self.connection, friend_invitations)
            .values(
                token=new_token(),
                request_id=request_id,
                user_id=candidate_id,
                status="open",
                sent_at=now,
                expires_at=expires_at,
            )
            .on_conflict_do_nothing(index_elements=["request_id", "user_id"])
            .returning(friend_invitations.c.id)
        )
        row = self.connection.execute(statement).first()
        return None if row is None else int(row[0])

    def _invitations(self) -> Any:
        return select(*_INVITATION_COLUMNS).join(
            friend_requests, friend_requests.c.id == friend_invitations.c.request_id
        )

    def invitation(self, invitation_id: int) -> Invitation | None:
        row = self.connection.execute(
            self._invitations().where(friend_invitations.c.id == invitation_id)
        ).first()
        return None if row is None else _invitation(row)

    def invitation_by_token(self, token: str) -> Invitation | None:
        row = self.connection.execute(
            self._invitations().where(friend_invitations.c.token == token)
        ).first()
        return None if row is None else _invitation(row)

    def open_invitation(self, request_id: int) -> Invitation | None:
        row = self.connection.execute(
            self._invitations().where(
                friend_invitations.c.request_id == request_id,
                friend_invitations.c.status == "open",
            )
        ).first()
        return None if row is None else _invitation(row)

    def invited(self, request_id: int) -> set[int]:
        rows = self.connection.execute(
            select(friend_invitations.c.user_id).where(
                friend_invitations.c.request_id == request_id
            )
        )
        return {int(row[0]) for row in rows}

    def answer_invitation(self, invitation_id: int, status: str, now: datetime) -> bool:
        """Move an open invitation on; False if it was answered or expired already."""
        result = self.connection.execute(
            update(friend_invitations)
            .where(friend_invitations.c.id == invitation_id, friend_invitations.c.status == "open")
            .values(status=status, answered_at=now)
        )
        return bool(result.rowcount)

    def expired_invitations(self, now: datetime, limit: int) -> list[Invitation]:
        rows = self.connection.execute(
            self._invitations()
            .where(friend_invitations.c.status == "open", friend_invitations.c.expires_at <= now)
            .order_by(friend_invitations.c.expires_at, friend_invitations.c.id)
            .limit(limit)
        )
        return [_invitation(row) for row in rows]

    def open_invitations_for(self, user_id: int) -> list[Invitation]:
        rows = self.connection.execute(
            self._invitations()
            .where(friend_invitations.c.user_id == user_id, friend_invitations.c.status == "open")
            .order_by(friend_invitations.c.id)
        )
        return [_invitation(row) for row in rows]

    def open_invitation_counts(self, user_ids: Iterable[int], now: datetime) -> dict[int, int]:
        """How many invitations each is still to answer."""
        rows = self.connection.execute(
            select(friend_invitations.c.user_id, func.count())
            .where(
                friend_invitations.c.user_id.in_(list(user_ids)),
                friend_invitations.c.status == "open",
                friend_invitations.c.expires_at > now,
            )
            .group_by(friend_invitations.c.user_id)
        )
        return {int(user_id): int(count) for user_id, count in rows}

    # ---- pairings ----------------------------------------------------------------

    def create_pairing(
        self,
        organisation_id: int,
        source: str,
        members: Collection[int],
        now: datetime,
        ends_at: datetime,
    ) -> int:
        pairing_id = int(
            self.connection.execute(
                insert(pairings)
                .values(
                    organisation_id=organisation_id,
                    source=source,
                    started_at=now,
                    ends_at=ends_at,
                )
                .returning(pairings.c.id)
            ).scalar_one()
        )
        self.connection.execute(
            insert(pairing_members),
            [{"pairing_id": pairing_id, "user_id": member} for member in members],
        )
        return pairing_id

    def _pairings(self, condition: Any) -> list[Pairing]:
        rows = self.connection.execute(
            select(pairings, pairing_members.c.user_id)
            .join(pairing_members, pairing_members.c.pairing_id == pairings.c.id)
            .where(condition)
            .order_by(pairings.c.id, pairing_members.c.user_id)
        ).all()
        found: dict[int, tuple[Any, list[int]]] = {}
        for row in rows:
            found.setdefault(row.id, (row, []))[1].append(row.user_id)
        return [
            Pairing(
                id=row.id,
                organisation_id=row.organisation_id,
                source=row.source,
                started_at=row.started_at,
                ends_at=row.ends_at,
                ended_at=row.ended_at,
                members=tuple(members),
            )
            for row, members in found.values()
        ]

    def pairing(self, pairing_id: int) -> Pairing | None:
        found = self._pairings(pairings.c.id == pairing_id)
        return found[0] if found else None

    def active_pairings(self, user_id: int, now: datetime) -> list[Pairing]:
        mine = select(pairing_members.c.pairing_id).where(pairing_members.c.user_id == user_id)
        return self._pairings(
            and_(pairings.c.id.in_(mine), pairings.c.ended_at.is_(None), pairings.c.ends_at > now)
        )

    def active_counts(self, user_ids: Iterable[int], now: datetime) -> dict[int, int]:
        rows = self.connection.execute(
            select(pairing_members.c.user_id, func.count())
            .join(pairings, pairings.c.id == pairing_members.c.pairing_id)
            .where(
                pairing_members.c.user_id.in_(list(user_ids)),
                pairings.c.ended_at.is_(None),
                pairings.c.ends_at > now,
            )
            .group_by(pairing_members.c.user_id)
        )
        return {int(user_id): int(count) for user_id, count in rows}

    def history(self, organisation_id: int, since: datetime) -> dict[frozenset[int], datetime]:
        """Who was paired with whom since `since`, and when last."""
        other = pairing_members.alias("other")
        rows = self.connection.execute(
            select(pairing_members.c.user_id, other.c.user_id, func.max(pairings.c.started_at))
            .join(pairings, pairings.c.id == pairing_members.c.pairing_id)
            .join(other, other.c.pairing_id == pairing_members.c.pairing_id)
            .where(
                pairings.c.organisation_id == organisation_id,
                pairings.c.started_at >= since,
                pairing_members.c.user_id < other.c.user_id,
            )
            .group_by(pairing_members.c.user_id, other.c.user_id)
        )
        return {frozenset((int(a), int(b))): when for a, b, when in rows}

    def end_pairing(self, pairing_id: int, now: datetime) -> bool:
        result = self.connection.execute(
            update(pairings)
            .where(pairings.c.id == pairing_id, pairings.c.ended_at.is_(None))
            .values(ended_at=now)
        )
        return bool(result.rowcount)

    def set_talked(self, pairing_id: int, user_id: int, talked: bool) -> None:
        self.connection.execute(
            update(pairing_members)
            .where(pairing_members.c.pairing_id == pairing_id, pairing_members.c.user_id == user_id)
            .values(talked=talked)
        )

    def hold_round(self, organisation_id: int, period: str, now: datetime) -> int | None:
        """Take this round for this process: its id, or None if it was held already (or
        another process is holding it now)."""
        statement = (
            dialect_insert(self.connection, friend_rounds)
            .values(organisation_id=organisation_id, period=period, held_at=now)
            .on_conflict_do_nothing(index_elements=["organisation_id", "period"])
            .returning(friend_rounds.c.id)
        )
        row = self.connection.execute(statement).first()
        return None if row is None else int(row[0])

    def last_round(self, organisation_id: int) -> datetime | None:
        held: datetime | None = self.connection.scalar(
            select(func.max(friend_rounds.c.held_at)).where(
                friend_rounds.c.organisation_id == organisation_id
            )
        )
        return held

    # ---- shares --------------------------------------------------------------------

    def share(self, pairing_id: int, reflection_id: int, author_id: int, now: datetime) -> Share:
        """Share a reflection with a pairing; sharing it again gives the same share back."""
        existing = self.connection.execute(
            select(shares).where(
                shares.c.pairing_id == pairing_id,
                shares.c.reflection_id == reflection_id,
                shares.c.revoked_at.is_(None),
            )
        ).first()
        if existing is not None:
            return _share(existing)
        row = self.connection.execute(
            insert(shares)
            .values(
                token=new_token(),
                pairing_id=pairing_id,
                reflection_id=reflection_id,
                user_id=author_id,
                shared_at=now,
            )
            .returning(*shares.c)
        ).one()
        return _share(row)

    def share_by_token(self, token: str) -> Share | None:
        row = self.connection.execute(select(shares).where(shares.c.token == token)).first()
        return None if row is None else _share(row)

    def share_of(self, share_id: int) -> Share | None:
        row = self.connection.execute(select(shares).where(shares.c.id == share_id)).first()
        return None if row is None else _share(row)

    def revoke(self, share_id: int, now: datetime) -> bool:
        result = self.connection.execute(
            update(shares)
            .where(shares.c.id == share_id, shares.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return bool(result.rowcount)

    # ---- feedback --------------------------------------------------------------------

    def start_feedback(self, share_id: int, friend_id: int, now: datetime) -> Feedback:
        """The friend's feedback on a share; one per friend and share."""
        existing = self.start_feedback_if_any(share_id, friend_id)
        if existing is not None:
            return existing
        row = self.connection.execute(
            insert(feedback)
            .values(
                token=new_token(),
                share_id=share_id,
                user_id=friend_id,
                status=DRAFTING,
                created_at=now,
            )
            .returning(*feedback.c)
        ).one()
        return _feedback(row)

    def start_feedback_if_any(self, share_id: int, friend_id: int) -> Feedback | None:
        row = self.connection.execute(
            select(feedback).where(feedback.c.share_id == share_id, feedback.c.user_id == friend_id)
        ).first()
        return None if row is None else _feedback(row)

    def begin_feedback(self, friend_id: int, feedback_id: int) -> None:
        """Make this the one feedback the friend's next new feedback run is for; one
        begun before and never started is begun no longer."""
        self.connection.execute(
            update(feedback)
            .where(feedback.c.user_id == friend_id, feedback.c.status == BEGUN)
            .values(status=DRAFTING)
        )
        self.connection.execute(
            update(feedback).where(feedback.c.id == feedback_id).values(status=BEGUN)
        )

    def feedback_waiting_for_run(self, friend_id: int) -> Feedback | None:
        """The friend's feedback just begun, whose run is about to start."""
        row = self.connection.execute(
            select(feedback).where(feedback.c.user_id == friend_id, feedback.c.status == BEGUN)
        ).first()
        return None if row is None else _feedback(row)

    def begin_reply(self, author_id: int, feedback_id: int) -> None:
        """Make this the one feedback the author's next answer is for: an answer begun
        on other feedback and never started would otherwise be chosen by its id."""
        theirs = select(shares.c.id).where(shares.c.user_id == author_id)
        self.connection.execute(
            update(feedback)
            .where(
                feedback.c.share_id.in_(theirs),
                feedback.c.reply_key == REPLY_BEGUN,
                feedback.c.replied_at.is_(None),
            )
            .values(reply_key=None)
        )
        self.connection.execute(
            update(feedback).where(feedback.c.id == feedback_id).values(reply_key=REPLY_BEGUN)
        )

    def reply_waiting_for_run(self, author_id: int) -> Feedback | None:
        """Feedback the author has just begun to answer (reply_key empty, not yet linked)."""
        row = self.connection.execute(
            select(feedback)
            .join(shares, shares.c.id == feedback.c.share_id)
            .where(
                shares.c.user_id == author_id,
                feedback.c.reply_key == REPLY_BEGUN,
                feedback.c.replied_at.is_(None),
            )
            .order_by(feedback.c.id.desc())
        ).first()
        return None if row is None else _feedback(row)

    def unlink_run(self, key: str) -> None:
        """A run belongs to one feedback (or answer) at a time."""
        self.connection.execute(
            update(feedback).where(feedback.c.run_key == key).values(run_key=None)
        )
        self.connection.execute(
            update(feedback).where(feedback.c.reply_key == key).values(reply_key=None)
        )

    def feedback_of(self, feedback_id: int) -> Feedback | None:
        row = self.connection.execute(select(feedback).where(feedback.c.id == feedback_id)).first()
        return None if row is None else _feedback(row)

    def reflection_asked_about(self, user_id: int, paired_at: datetime) -> int | None:
        """The reflection a worker asked for a friend from, for the request that was
        paired at `paired_at`."""
        found = self.connection.scalar(
            select(friend_requests.c.reflection_id)
            .where(
                friend_requests.c.user_id == user_id,
                friend_requests.c.status == "paired",
                friend_requests.c.updated_at == paired_at,
            )
            .order_by(friend_requests.c.id.desc())
        )
        return None if found is None else int(found)

    def feedback_by_token(self, token: str) -> Feedback | None:
        row = self.connection.execute(select(feedback).where(feedback.c.token == token)).first()
        return None if row is None else _feedback(row)

    def feedback_by_run(self, key: str) -> Feedback | None:
        row = self.connection.execute(select(feedback).where(feedback.c.run_key == key)).first()
        return None if row is None else _feedback(row)

    def feedback_by_reply(self, key: str) -> Feedback | None:
        row = self.connection.execute(select(feedback).where(feedback.c.reply_key == key)).first()
        return None if row is None else _feedback(row)

    def update_feedback(self, feedback_id: int, **values: Any) -> None:
        self.connection.execute(
            update(feedback).where(feedback.c.id == feedback_id).values(**values)
        )
