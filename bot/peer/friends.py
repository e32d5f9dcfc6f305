"""Critical friends: the pool, asking for a friend, invitations, pairings and rounds.

Everything here runs inside the turn's (or the tick's) transaction and returns what to
say to the worker in front of us; what a colleague should hear is planned as a notice
(`bot.peer.notices`) in the same transaction. Sharing and feedback are in `sharing.py`.

Who is asked: `bot.peer.matching` ranks the organisation's pool for the one asking
(never themselves, their line manager or their reports; someone outside their team
first; nobody they were paired with recently, if anyone else is free). One colleague is
asked at a time; a "no", or no answer within `invitation_hours`, moves on to the next,
and the one asking hears only that the search goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import FriendConfig
from bot.messages import Choice, Outgoing
from bot.peer import matching, wording
from bot.peer import notices as told
from bot.peer.notices import Notice
from bot.store import Transaction
from bot.store.friends import FriendBook, Invitation, Pairing, PoolMember, Profile
from bot.store.ids import as_id

log = logging.getLogger(__name__)

HISTORY = timedelta(weeks=52)  # how far back pairings count for "not again so soon"
MAX_PAIRINGS = 5
EXPIRED_PER_TICK = 200
ROUND_WEEKDAY = 0  # Monday
ROUND_HOUR = 10  # local time: a round goes out on a working morning


@dataclass(frozen=True, slots=True)
class Said:
    """What a friend command answers; `start` names a dialogue to begin after it."""

    messages: list[Outgoing]
    start: str | None = None


def book(tx: Transaction) -> FriendBook:
    return FriendBook(tx.connection)


def name_of(tx: Transaction, user_id: int) -> str:
    return tx.display_name(user_id) or wording.A_COLLEAGUE


def names_in(tx: Transaction, pairing: Pairing, user_id: int) -> str:
    return wording.names([name_of(tx, other) for other in pairing.others(user_id)])


def week_of(local: datetime) -> date:
    """The Monday of the week a local time falls in."""
    return local.date() - timedelta(days=local.weekday())


def until(moment: datetime) -> str:
    return f"{moment:%-d %B}"


class Friends:
    def __init__(self, config: FriendConfig, timezone: str = "Europe/London") -> None:
        self.config = config
        self.zone = ZoneInfo(timezone)

    @property
    def pairing_length(self) -> timedelta:
        return timedelta(weeks=self.config.pairing_weeks)

    # ---- the pool ----------------------------------------------------------------

    def join(self, tx: Transaction, user_id: int, now: datetime) -> list[Outgoing]:
        profile = book(tx).profile(user_id)
        if profile is not None and profile.in_pool:
            return [Outgoing(wording.JOINED_ALREADY)]
        rounds = profile.rounds if profile is not None else False
        limit = profile.max_pairings if profile is not None else 1
        book(tx).save_profile(user_id, Profile(True, rounds, limit), now)
        log.info("worker %d joined the critical-friend pool", user_id)
        return [Outgoing(wording.JOINED)]

    def leave(self, tx: Transaction, user_id: int, now: datetime) -> list[Outgoing]:
        friends = book(tx)
        profile = friends.profile(user_id)
        if profile is None or not profile.in_pool:
            return [Outgoing(wording.NOT_IN_POOL)]
        friends.save_profile(user_id, Profile(False, profile.rounds, profile.max_pairings), now)
        # Invitations waiting for them are withdrawn, and those requests move on.
        for invitation in friends.open_invitations_for(user_id):
            if friends.answer_invitation(invitation.id, "withdrawn", now):
                self._next_candidate(tx, invitation, now)
        return [Outgoing(wording.LEFT)]

    def set_rounds(self, tx: Transaction, user_id: int, on: bool, now: datetime) -> list[Outgoing]:
        profile = book(tx).profile(user_id)
        if profile is None or not profile.in_pool:
            return [Outgoing(wording.NOT_IN_POOL)]
        book(tx).save_profile(user_id, Profile(True, on, profile.max_pairings), now)
        said = [Outgoing(wording.ROUNDS_ON if on else wording.ROUNDS_OFF)]
        if on and not self._rounds_every(tx, user_id):
            said.append(Outgoing(wording.ROUNDS_NOT_HELD))
        return said

    def set_max(self, tx: Transaction, user_id: int, count: int, now: datetime) -> list[Outgoing]:
        if not 1 <= count <= MAX_PAIRINGS:
            return [Outgoing(wording.MAX_RANGE)]
        profile = book(tx).profile(user_id)
        if profile is None or not profile.in_pool:
            return [Outgoing(wording.NOT_IN_POOL)]
        book(tx).save_profile(user_id, Profile(True, profile.rounds, count), now)
        return [Outgoing(wording.MAX_SET.format(count=count, s="" if count == 1 else "s"))]

    # ---- asking for a friend -------------------------------------------------------

    def overview(self, tx: Transaction, user_id: int, now: datetime) -> list[Outgoing] | None:
        """The worker's pairings, or a request under way; None when there is neither."""
        friends = book(tx)
        pairings = friends.active_pairings(user_id, now)
        if pairings:
            lines = [wording.YOUR_PAIRINGS] + [
                wording.PAIRING_LINE.format(
                    names=names_in(tx, pairing, user_id), until=until(pairing.ends_at)
                )
                for pairing in pairings
            ]
            return [
                Outgoing(
                    "\n".join(lines),
                    shortcuts=(
                        Choice("friend share", wording.SHARE_A_REFLECTION),
                        Choice("friend end", wording.END_PAIRING),
                    ),
                )
            ]
        if friends.open_request(user_id) is not None:
            return [
                Outgoing(
                    wording.STILL_LOOKING,
                    shortcuts=(Choice("friend cancel", wording.STOP_LOOKING),),
                )
            ]
        return None

    @staticmethod
    def has_pairing(tx: Transaction, user_id: int, now: datetime) -> bool:
        return bool(book(tx).active_pairings(user_id, now))

    def ask(
        self, tx: Transaction, user_id: int, now: datetime, reflection_id: int | None = None
    ) -> list[Outgoing]:
        """`friend`: the worker's pairing if they have one, else a new request."""
        if reflection_id is not None and tx.reflection_key(user_id, reflection_id) is None:
            # Only one's own reflection is asked about (its share button comes back
            # with the pairing); any other id is refused in the one sentence.
            return [Outgoing(wording.NOT_AVAILABLE)]
        shown = self.overview(tx, user_id, now)
        if shown is not None:
            return shown
        request_id = book(tx).create_request(user_id, reflection_id, now)
        log.info("worker %d asked for a critical friend (request %d)", user_id, request_id)
        invited = self._invite_next(tx, request_id, user_id, now)
        text = wording.ASKED if invited else wording.NOBODY_FREE
        return [Outgoing(text, shortcuts=(Choice("friend cancel", wording.STOP_LOOKING),))]

    def cancel(self, tx: Transaction, user_id: int, now: datetime) -> list[Outgoing]:
        friends = book(tx)
        request = friends.open_request(user_id)
        if request is None:
            return [Outgoing(wording.NOTHING_TO_STOP)]
        if not friends.set_request_status(request.id, "cancelled", now):
            # A colleague said yes (in another process) between reading it and now:
            # they are paired, and "stopped looking" would not be true.
            return self.overview(tx, user_id, now) or [Outgoing(wording.NOTHING_TO_STOP)]
        invitation = friends.open_invitation(request.id)
        if invitation is not None:
            friends.answer_invitation(invitation.id, "withdrawn", now)
        return [Outgoing(wording.STOPPED_LOOKING)]

    def _candidates(
        self, tx: Transaction, requester_id: int, exclude: set[int], now: datetime
    ) -> list[int]:
        friends = book(tx)
        organisation_id = friends.organisation_of(requester_id)
        if organisation_id is None:
            return []
        pool = [m for m in friends.pool(organisation_id) if not self._paused(m, now)]
        team, manager = friends.place(requester_id)
        ids = [m.id for m in pool] + [requester_id]
        loads = friends.active_counts(ids, now)
        # An invitation not yet answered holds one of the colleague's places: asked by two
        # at once, someone with room for one could otherwise say yes to both.
        for user_id, waiting in friends.open_invitation_counts(ids, now).items():
            loads[user_id] = loads.get(user_id, 0) + waiting
        requester = matching.Person(requester_id, team, manager, capacity=1)
        people = [self._person(m, loads) for m in pool if m.id != requester_id]
        history = friends.history(organisation_id, now - HISTORY)
        return matching.rank_candidates(
            requester,
            people,
            history,
            now,
            repeat_weeks=self.config.repeat_weeks,
            exclude=exclude,
        )

    @staticmethod
    def _person(member: PoolMember, loads: dict[int, int]) -> matching.Person:
        spare = max(0, member.max_pairings - loads.get(member.id, 0))
        return matching.Person(member.id, member.team, member.manager_id, capacity=spare)

    def _paused(self, member: PoolMember, now: datetime) -> bool:
        """On holiday: the nudge pause doubles as "not now" for critical friends."""
        if member.paused_until is None:
            return False
        today: date = now.astimezone(self.zone).date()
        return today < member.paused_until

    def _invite_next(
        self, tx: Transaction, request_id: int, requester_id: int, now: datetime
    ) -> int | None:
        """Ask the best candidate not asked yet; their invitation id, or None if nobody is free."""
        friends = book(tx)
        ranked = self._candidates(tx, requester_id, friends.invited(request_id), now)
        if not ranked:
            return None
        expires = now + timedelta(hours=self.config.invitation_hours)
        invitation_id = friends.invite(request_id, ranked[0], now, expires)
        if invitation_id is None:
            return None  # another process asked them for this request just now
        told.tell(tx, ranked[0], Notice(told.INVITED, invitation_id), now)
        log.info("request %d: a candidate was invited (invitation %d)", request_id, invitation_id)
        return invitation_id

    def _next_candidate(self, tx: Transaction, closed: Invitation, now: datetime) -> None:
        """After a no (or no answer): ask the next one, and tell the requester the search
        goes on, without saying who said no."""
        request = book(tx).request(closed.request_id)
        if request is None or request.status != "open":
            return
        invited = self._invite_next(tx, request.id, request.user_id, now)
        if invited is not None:
            told.tell(tx, request.user_id, Notice(told.LOOKING, invited), now)
        else:
            told.tell(tx, request.user_id, Notice(told.WAITING, closed.id), now)

    # ---- answering an invitation --------------------------------------------------------

    def _open_invitation(
        self, tx: Transaction, user_id: int, token: str, now: datetime
    ) -> Invitation | None:
        invitation = book(tx).invitation_by_token(token)
        if invitation is None or invitation.user_id != user_id:
            return None
        if invitation.status != "open" or invitation.expires_at <= now:
            return None
        return invitation

    def accept(self, tx: Transaction, user_id: int, token: str, now: datetime) -> list[Outgoing]:
        friends = book(tx)
        invitation = self._open_invitation(tx, user_id, token, now)
        organisation_id = friends.organisation_of(user_id)
        if (
            invitation is None
            or organisation_id is None
            or friends.organisation_of(invitation.requester_id) != organisation_id
        ):
            return [Outgoing(wording.INVITATION_CLOSED)]
        if self._at_limit(tx, user_id, now):
            # Paired in a round meanwhile, or they lowered their limit: the request moves
            # on as after a no, and nobody is told.
            if friends.answer_invitation(invitation.id, "withdrawn", now):
                self._next_candidate(tx, invitation, now)
            return [Outgoing(wording.AT_YOUR_LIMIT)]
        if not friends.answer_invitation(invitation.id, "accepted", now):
            # Expired (and the next colleague asked) or withdrawn by another process
            # between reading it and now: the request is no longer this invitation's.
            return [Outgoing(wording.INVITATION_CLOSED)]
        if not friends.set_request_status(invitation.request_id, "paired", now):
            return [Outgoing(wording.INVITATION_CLOSED)]  # they stopped looking meanwhile
        members = (invitation.requester_id, user_id)
        pairing_id = self._pair(tx, organisation_id, "request", members, now)
        told.tell(tx, invitation.requester_id, Notice(told.PAIRED, pairing_id), now)
        log.info("invitation %d accepted: pairing %d", invitation.id, pairing_id)
        name = name_of(tx, invitation.requester_id)
        return [Outgoing(wording.PAIRED_FRIEND.format(name=name, weeks=self.config.pairing_weeks))]

    @staticmethod
    def _at_limit(tx: Transaction, user_id: int, now: datetime) -> bool:
        profile = book(tx).profile(user_id)
        limit = profile.max_pairings if profile is not None else 1
        return book(tx).active_counts([user_id], now).get(user_id, 0) >= limit

    def decline(self, tx: Transaction, user_id: int, token: str, now: datetime) -> list[Outgoing]:
        invitation = self._open_invitation(tx, user_id, token, now)
        if invitation is None:
            return [Outgoing(wording.INVITATION_CLOSED)]
        if book(tx).answer_invitation(invitation.id, "declined", now):
            self._next_candidate(tx, invitation, now)
        return [Outgoing(wording.DECLINED)]

    def _pair(
        self,
        tx: Transaction,
        organisation_id: int,
        source: str,
        members: tuple[int, ...],
        now: datetime,
    ) -> int:
        """A pairing, with its "did you talk?" check and its ending planned for everyone in it."""
        ends = now + self.pairing_length
        pairing_id = book(tx).create_pairing(organisation_id, source, members, now, ends)
        talk_at = now + timedelta(days=self.config.talk_check_days)
        for member in members:
            if talk_at < ends:
                told.tell(tx, member, Notice(told.TALK, pairing_id), now, due_at=talk_at)
            told.tell(tx, member, Notice(told.ENDED, pairing_id), now, due_at=ends)
        return pairing_id

    # ---- during a pairing ---------------------------------------------------------------

    def end(self, tx: Transaction, user_id: int, argument: str, now: datetime) -> list[Outgoing]:
        pairings = book(tx).active_pairings(user_id, now)
        if argument.isdecimal():
            pairings = [p for p in pairings if p.id == int(argument)]
            if not pairings:
                return [Outgoing(wording.NOT_AVAILABLE)]
        if not pairings:
            return [Outgoing(wording.NO_PAIRING)]
        if len(pairings) > 1:
            return [
                Outgoing(
                    wording.END_WHICH,
                    shortcuts=tuple(
                        Choice(
                            f"friend end {p.id}",
                            wording.END_WITH.format(names=names_in(tx, p, user_id)),
                        )
                        for p in pairings
                    ),
                )
            ]
        (pairing,) = pairings
        book(tx).end_pairing(pairing.id, now)
        ended = Notice(told.ENDED, pairing.id)
        told.call_off(tx, user_id, ended)
        for other in pairing.others(user_id):
            told.call_off(tx, other, Notice(told.TALK, pairing.id))
            told.bring_forward(tx, other, ended, now)
        told.call_off(tx, user_id, Notice(told.TALK, pairing.id))
        log.info("pairing %d ended by a member", pairing.id)
        return [Outgoing(wording.ENDED_BY_YOU.format(names=names_in(tx, pairing, user_id)))]

    def talked(self, tx: Transaction, user_id: int, argument: str, now: datetime) -> list[Outgoing]:
        answer, _, pairing_text = argument.partition(" ")
        pairing_id = as_id(pairing_text)
        pairing = book(tx).pairing(pairing_id) if pairing_id is not None else None
        if pairing is None or user_id not in pairing.members:
            return [Outgoing(wording.NOT_AVAILABLE)]
        yes = answer == "yes"
        book(tx).set_talked(pairing.id, user_id, yes)
        if yes:
            return [Outgoing(wording.GLAD)]
        shortcuts = (
            (Choice(f"friend end {pairing.id}", wording.END_PAIRING),)
            if pairing.active(now)
            else ()
        )
        return [
            Outgoing(
                wording.NOT_YET.format(names=names_in(tx, pairing, user_id)), shortcuts=shortcuts
            )
        ]

    # ---- the tick -------------------------------------------------------------------------

    def chores(self, tx: Transaction, now: datetime, organisations: dict[int, str]) -> None:
        """Invitations left unanswered move on; requests waiting for someone free are tried
        again; rounds that are due are held. `organisations`: id -> slug."""
        friends = book(tx)
        for invitation in friends.expired_invitations(now, EXPIRED_PER_TICK):
            if friends.answer_invitation(invitation.id, "expired", now):
                log.info("invitation %d expired unanswered", invitation.id)
                self._next_candidate(tx, invitation, now)
        for request in friends.waiting_requests():
            invited = self._invite_next(tx, request.id, request.user_id, now)
            if invited is not None:
                told.tell(tx, request.user_id, Notice(told.LOOKING, invited), now)
        for organisation_id in friends.organisations_with_rounds():
            every = self.config.rounds_for(organisations.get(organisation_id, ""))
            if every > 0:
                self._round_if_due(tx, organisation_id, every, now)

    def _rounds_every(self, tx: Transaction, user_id: int) -> int:
        organisation_id = book(tx).organisation_of(user_id)
        slug = book(tx).organisation_slug(organisation_id) if organisation_id is not None else None
        return self.config.rounds_for(slug or "")

    def _round_if_due(
        self, tx: Transaction, organisation_id: int, every_weeks: int, now: datetime
    ) -> None:
        local = now.astimezone(self.zone)
        if local.weekday() >= 5 or local.hour < ROUND_HOUR:
            return  # a working morning; a Monday missed while the bot was down comes on Tuesday
        friends = book(tx)
        last = friends.last_round(organisation_id)
        if last is not None:
            # Counted in calendar weeks, not days: with a few days' slack, rounds every
            # two weeks came every ten days (a Monday, then a Thursday, then a Monday...).
            weeks = (week_of(local) - week_of(last.astimezone(self.zone))).days // 7
            if weeks < every_weeks:
                return
        year, week, _ = local.isocalendar()
        round_id = friends.hold_round(organisation_id, f"{year}-W{week:02d}", now)
        if round_id is None:
            return  # another process holds it
        self.pair_round(tx, organisation_id, round_id, now)

    def pair_round(
        self, tx: Transaction, organisation_id: int, round_id: int, now: datetime
    ) -> matching.Round:
        friends = book(tx)
        pool = [m for m in friends.pool(organisation_id) if m.rounds and not self._paused(m, now)]
        loads = friends.active_counts([m.id for m in pool], now)
        people = [self._person(m, loads) for m in pool]
        history = friends.history(organisation_id, now - HISTORY)
        result = matching.pair_round(
            people, history, now, repeat_weeks=self.config.repeat_weeks, seed=round_id
        )
        groups: list[tuple[int, ...]] = [*result.pairs, *result.trios]
        for members in groups:
            pairing_id = self._pair(tx, organisation_id, "round", members, now)
            for member in members:
                told.tell(tx, member, Notice(told.ROUND, pairing_id), now)
        for member_id in result.deferred:
            told.tell(tx, member_id, Notice(told.DEFERRED, round_id), now)
        log.info(
            "round for organisation %d: %d pairs, %d trios, %d deferred",
            organisation_id,
            len(result.pairs),
            len(result.trios),
            len(result.deferred),
        )
        return result
