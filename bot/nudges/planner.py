"""The nudges as rows: planning them, claiming the due ones, and what each one says.

Everything here runs in store transactions on a worker thread; the dispatcher
(`bot.nudges.dispatcher`) calls it from its tick and hands the messages to the chat
channels. The database decides: a nudge is sent because its row was claimed, and the
unique (worker, kind, period) key means no second row for the same nudge can exist.

Kinds of row:
- weekly: the worker's weekly nudge; its period is the local date it falls on. One is
  planned ahead for every worker who has not opted out; when it is settled, the next is.
- snoozed: "remind me tomorrow", at most one a day.
- draft_reminder: one gentle reminder about a reflection paused and untouched for a
  day; its period names the reflection, so it is never sent twice.
- follow_up: a reflection that ended with "check in with me in a week" comes back on
  that day at the worker's nudge time: "You planned: ... How did it go?". Its period
  names the check-in.

A weekly nudge is not sent (it is skipped, and says why in the row) when the worker
finished a reflection in the six days before it: they have reflected this week, and a
message asking them to would only be noise.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.care.retention import RETENTION
from bot.dialogues import Catalog
from bot.engine import coach
from bot.messages import Choice, Outgoing, Pushed, UserRef
from bot.nudges import wording
from bot.nudges.schedule import (
    SATURDAY,
    NudgeSchedule,
    due_between,
    follow_up_at,
    is_zone,
    local_date,
    local_instant,
    next_nudge,
    remind_tomorrow,
)
from bot.peer.notices import PEER
from bot.store import Store, Transaction
from bot.store.deliveries import (
    Delivery,
    DeliveryBook,
    NudgeSettingsBook,
    PlannedRow,
    StoredNudgeSettings,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.care.retention import Retention
    from bot.cpd.year import Policy
    from bot.peer.commands import Peer

WEEKLY = "weekly"
SNOOZED = "snoozed"
DRAFT_REMINDER = "draft_reminder"
FOLLOW_UP = "follow_up"
WEEKLY_DIALOGUE = "weekly"
FOLLOW_UP_DIALOGUE = "follow_up"
PLAN_QUOTE_CHARS = 600  # a long plan is shortened in the message; the journal has it all
DRAFT_QUIET = timedelta(hours=24)  # a paused reflection untouched this long gets a reminder
REFLECTED_RECENTLY = timedelta(days=6)
RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=20))
PLAN_BATCH = 1_000
# A notice for someone who only uses the terminal waits there; the dispatcher looks again
# this much later, in case they have since connected a chat app.
NOTICE_HELD = timedelta(days=1)
WAITING_FOR = timedelta(days=3)  # a terminal worker is shown their weekly look-back this long


@dataclass(frozen=True, slots=True)
class NudgeDefaults:
    """The organisation's default schedule (config `nudges:`), for settings left unset."""

    weekdays: frozenset[int] = frozenset({4})
    at: time = time(14, 0)
    timezone: str = "Europe/London"
    working_days_only: bool = False
    grace: timedelta = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Outbound:
    """A claimed row, ready to go: to whom, and what to say."""

    delivery: Delivery
    user: UserRef
    messages: tuple[Outgoing, ...]


@dataclass(slots=True)
class Claimed:
    outbound: list[Outbound] = field(default_factory=list)
    skipped: int = 0


def nudge_buttons(dialogue: str = WEEKLY_DIALOGUE) -> tuple[Choice, ...]:
    return (
        Choice(f"reflect {dialogue}", wording.REFLECT_NOW),
        Choice("nudge tomorrow", wording.TOMORROW),
        Choice("nudge skip", wording.SKIP_WEEK),
    )


class Nudges:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        defaults: NudgeDefaults,
        *,
        weekly: bool = True,
        peer: Peer | None = None,
        retention: Retention | None = None,
        cpd: Policy | None = None,
    ) -> None:
        """`weekly` false: nudges are off, and only notices go out (critical friends from
        `peer`, deletions announced by `retention`). With `cpd`, a weekly nudge late in
        the CPD year says what is still missing (`bot.cpd.reminder`)."""
        self.store = store
        self.catalog = catalog
        self.defaults = defaults
        self.weekly = weekly
        self.peer = peer
        self.retention = retention
        self.cpd = cpd

    # ---- schedules -------------------------------------------------------------

    def schedule(self, tx: Transaction, user_id: int) -> NudgeSchedule:
        """The worker's own settings over the organisation's defaults."""
        return self.schedules(tx, [user_id])[user_id]

    def schedules(self, tx: Transaction, user_ids: Collection[int]) -> dict[int, NudgeSchedule]:
        """`schedule` for many workers in two queries, for the tick's batches."""
        own = NudgeSettingsBook(tx.connection).get_many(user_ids)
        zones = tx.timezones(user_ids)
        return {
            uid: merged_schedule(self.defaults, own.get(uid), zones.get(uid)) for uid in user_ids
        }

    # ---- planning ----------------------------------------------------------------

    def plan(self, now: datetime) -> int:
        """Plan the next weekly nudge of everyone who has none, draft reminders and
        follow-ups; and move critical-friend requests and rounds on."""
        planned = self._plan_nudges(now) if self.weekly else 0
        for name, chores in (
            ("critical-friend", self._peer_chores),
            ("retention", self._retention_chores),
        ):
            # Either failing must not stop the tick: the nudges and notices due still go.
            try:
                chores(now)
            except Exception as error:  # logged by kind only: no row's content in a log
                log.error("%s chores stopped early: %s", name, type(error).__name__)
        return planned

    def _peer_chores(self, now: datetime) -> None:
        if self.peer is not None:
            with self.store.transaction() as tx:
                self.peer.chores(tx, now)

    def _retention_chores(self, now: datetime) -> None:
        if self.retention is not None:
            with self.store.transaction() as tx:
                self.retention.chores(tx, now)

    def _plan_nudges(self, now: datetime) -> int:
        planned = 0
        after = 0
        while True:
            with self.store.transaction() as tx:
                book = DeliveryBook(tx.connection)
                ids = book.workers_needing(WEEKLY, now, PLAN_BATCH, after=after)
                schedules = self.schedules(tx, ids)
                rows = [
                    row
                    for user_id in ids
                    if (row := _weekly_row(user_id, schedules[user_id], now)) is not None
                ]
                planned += book.plan_many(rows, now)
            if len(ids) < PLAN_BATCH:
                break
            after = ids[-1]
        with self.store.transaction() as tx:
            rows = [
                PlannedRow(
                    draft.user_id,
                    DRAFT_REMINDER,
                    f"draft:{draft.key}",
                    draft.updated_at + DRAFT_QUIET,
                    reference=draft.key,
                )
                for draft in tx.quiet_drafts(
                    now - DRAFT_QUIET,
                    PLAN_BATCH,
                    touched_after=now - DRAFT_QUIET - self.defaults.grace,
                )
            ]
            planned += DeliveryBook(tx.connection).plan_many(rows, now)
        with self.store.transaction() as tx:
            check_ins = tx.due_check_ins(now + timedelta(days=1), PLAN_BATCH)
            schedules = self.schedules(tx, {check.user_id for check in check_ins})
            rows = []
            for check in check_ins:
                schedule = schedules[check.user_id]
                due = follow_up_at(schedule, local_date(schedule.timezone, check.due_at))
                period = f"check-in:{check.id}"
                rows.append(PlannedRow(check.user_id, FOLLOW_UP, period, due, str(check.id)))
                tx.set_check_in_status(check.id, "planned")
            planned += DeliveryBook(tx.connection).plan_many(rows, now)
        return planned

    # ---- claiming and settling --------------------------------------------------------

    def claim(self, now: datetime, claimant: str, limit: int, lease: timedelta) -> Claimed:
        """Claim due rows and say what each one should send; rows that should not be
        sent any more (too late, reflected already, carried on) are skipped here.

        What the checks need is read once for the whole batch, not once a row.
        """
        claimed = Claimed()
        with self.store.transaction() as tx:
            book = DeliveryBook(tx.connection)
            batch = book.claim(now, claimant, limit, lease)
            known = self._known(tx, {delivery.user_id for delivery in batch})
            cpd_lines = self._cpd_lines(tx, known, batch, now)
            following: list[Delivery] = []
            for delivery in batch:
                if delivery.kind in {PEER, RETENTION}:
                    self._claim_notice(tx, book, known, delivery, claimant, now, claimed)
                    continue
                reason = self._reason_to_skip(tx, known, delivery, now)
                target = known.reachable.get(delivery.user_id)
                if reason is None and target is None:
                    reason = "no chat app to reach the worker in"
                if reason is not None or target is None:
                    book.skipped(delivery.id, reason or "unreachable", claimant=claimant)
                    log.info("delivery %d (%s) skipped: %s", delivery.id, delivery.kind, reason)
                    following.append(delivery)
                    claimed.skipped += 1
                    continue
                messages = self._messages(tx, delivery, cpd_lines.get(delivery.user_id))
                claimed.outbound.append(Outbound(delivery, target, messages))
            self._plan_following(tx, book, known, following, now)
        return claimed

    def _claim_notice(
        self,
        tx: Transaction,
        book: DeliveryBook,
        known: _Known,
        delivery: Delivery,
        claimant: str,
        now: datetime,
        claimed: Claimed,
    ) -> None:
        """A notice (critical friends, retention): skipped if it no longer applies, kept
        for the conversation if the worker has no chat app to be sent to, else sent."""
        messages: tuple[Outgoing, ...] | None = None
        if delivery.kind == PEER and self.peer is not None:
            messages = self.peer.render(tx, delivery, now)
        elif delivery.kind == RETENTION and self.retention is not None:
            messages = self.retention.render(tx, delivery)
        target = known.reachable.get(delivery.user_id)
        if not messages:
            book.skipped(delivery.id, "no longer applies", claimant=claimant)
            claimed.skipped += 1
        elif target is None:
            book.hold(
                delivery.id, now + NOTICE_HELD, "waiting in the conversation", claimant=claimant
            )
        else:
            claimed.outbound.append(Outbound(delivery, target, tuple(messages)))

    def _known(self, tx: Transaction, user_ids: Collection[int]) -> _Known:
        return _Known(
            schedules=self.schedules(tx, user_ids),
            reachable=tx.reachable_many(user_ids),
            last_finished=tx.last_finished(user_ids),
        )

    def _cpd_lines(
        self, tx: Transaction, known: _Known, batch: Sequence[Delivery], now: datetime
    ) -> dict[int, str]:
        """What is missing from the CPD year of the batch's workers due a weekly nudge, for
        those whose year ends within two months: one statement for the whole batch."""
        weekly = {d.user_id for d in batch if d.kind == WEEKLY}
        if self.cpd is None or not weekly:
            return {}
        from bot.cpd.reminder import nudge_lines

        zones = {user_id: known.schedules[user_id].timezone for user_id in weekly}
        return nudge_lines(tx, zones, now, self.cpd)

    def _reason_to_skip(
        self, tx: Transaction, known: _Known, delivery: Delivery, now: datetime
    ) -> str | None:
        if now - delivery.due_at > self.defaults.grace:
            return "the grace window had passed (the bot was not running)"
        schedule = known.schedules[delivery.user_id]
        if delivery.kind in {WEEKLY, SNOOZED}:
            if schedule.opted_out:
                return "the worker has stopped weekly nudges"
            if delivery.kind == WEEKLY and not schedule.nudges_on(
                local_date(schedule.timezone, delivery.due_at)
            ):
                return "the schedule changed"
            finished = known.last_finished.get(delivery.user_id)
            if finished is not None and finished >= delivery.due_at - REFLECTED_RECENTLY:
                return "the worker reflected this week already"
        if delivery.kind == FOLLOW_UP:
            check = tx.check_in(int(delivery.reference or 0), delivery.user_id)
            if check is None:
                return "the reflection it follows up is gone"
        if delivery.kind == DRAFT_REMINDER:
            # Unasked for, so it keeps to "stop" and to holidays; a follow-up was asked for.
            today = local_date(schedule.timezone, now)
            if schedule.opted_out or (schedule.paused_until and today < schedule.paused_until):
                return "the worker has stopped or paused nudges"
            draft = tx.draft(delivery.reference or "")
            if draft is None or draft.updated_at + DRAFT_QUIET > delivery.due_at:
                return "the reflection was carried on, finished or discarded"
        return None

    def _messages(
        self, tx: Transaction, delivery: Delivery, cpd_line: str | None = None
    ) -> tuple[Outgoing, ...]:
        if delivery.kind == FOLLOW_UP:
            return (self._follow_up_message(tx, delivery),)
        if delivery.kind == DRAFT_REMINDER:
            dialogue = self.catalog.get(tx.dialogue_of(delivery.reference or "") or "")
            title = dialogue.title if dialogue is not None else "your reflection"
            return (
                Outgoing(
                    wording.DRAFT_REMINDER.format(title=title),
                    shortcuts=(Choice("resume", wording.CARRY_ON),),
                ),
            )
        text = wording.SNOOZED if delivery.kind == SNOOZED else wording.weekly(cpd_line)
        return (Outgoing(text, shortcuts=nudge_buttons(), footer=wording.HOW_TO_CHANGE),)

    def _follow_up_message(self, tx: Transaction, delivery: Delivery) -> Outgoing:
        check_in_id = int(delivery.reference or 0)
        check = tx.check_in(check_in_id, delivery.user_id)
        plan = self._plan_text(tx, check.key, check.dialogue_id) if check is not None else None
        button = (Choice(f"followup {check_in_id}", wording.LOOK_BACK_NOW),)
        if not plan:
            return Outgoing(wording.FOLLOW_UP_NO_PLAN, shortcuts=button)
        if len(plan) > PLAN_QUOTE_CHARS:
            plan = plan[: PLAN_QUOTE_CHARS - 1].rstrip() + "…"
        return Outgoing(wording.FOLLOW_UP.format(plan=plan), shortcuts=button)

    def _plan_text(self, tx: Transaction, key: str, dialogue_id: str) -> str | None:
        """What the worker planned: their answer to the last question before the check-in."""
        dialogue = self.catalog.get(dialogue_id)
        if dialogue is None:
            return None
        answers = tx.answers_of(key)
        before_check_in: list[str] = []
        for step in dialogue.steps:
            if step.action == "check_in":
                break
            before_check_in.append(step.id)
        for step_id in reversed(before_check_in):
            if answers.get(step_id):
                # The worker's words only, not a coaching question kept with them.
                return coach.worker_words(answers[step_id])
        return None

    def release(self, outbound: Sequence[Outbound], claimant: str) -> None:
        """Give back claimed rows that will not be sent by this process after all."""
        with self.store.transaction() as tx:
            ids = [item.delivery.id for item in outbound]
            DeliveryBook(tx.connection).release_many(ids, claimant=claimant)

    def settle(
        self, results: Sequence[tuple[Delivery, Pushed]], now: datetime, claimant: str
    ) -> None:
        """Record what became of claimed rows, in one transaction: sent, retried later with
        backoff, or failed for good; and plan the weekly nudges that follow."""
        with self.store.transaction() as tx:
            book = DeliveryBook(tx.connection)
            sent = [delivery for delivery, pushed in results if pushed is Pushed.SENT]
            book.sent_many([delivery.id for delivery in sent], now, claimant=claimant)
            for delivery in sent:
                if delivery.kind == FOLLOW_UP:
                    tx.set_check_in_status(int(delivery.reference or 0), "sent")
            settled = list(sent)
            for delivery, pushed in results:
                if pushed is Pushed.SENT:
                    continue
                if pushed is Pushed.RETRY and delivery.attempts <= len(RETRY_BACKOFF):
                    pause = RETRY_BACKOFF[delivery.attempts - 1]
                    book.retry(
                        delivery.id, now + pause, "not delivered; will retry", claimant=claimant
                    )
                    continue
                outcome = "unreachable" if pushed is Pushed.GONE else "gave up after retries"
                book.failed(delivery.id, outcome, claimant=claimant)
                log.warning("delivery %d (%s) failed: %s", delivery.id, delivery.kind, outcome)
                settled.append(delivery)
            weekly = [delivery for delivery in settled if delivery.kind == WEEKLY]
            if weekly:
                known = _Known(self.schedules(tx, {d.user_id for d in weekly}), {}, {})
                self._plan_following(tx, book, known, weekly, now)

    def _plan_following(
        self,
        tx: Transaction,
        book: DeliveryBook,
        known: _Known,
        settled: Sequence[Delivery],
        now: datetime,
    ) -> None:
        """Plan the weekly nudge after a settled one at once, so one that falls due while
        the bot is down has a row, and is sent late or skipped, never silently lost.
        Weeks missed beyond the grace window are counted in the log, not given rows."""
        horizon = now - self.defaults.grace
        rows = []
        for delivery in settled:
            if delivery.kind != WEEKLY:
                continue
            schedule = known.schedules[delivery.user_id]
            if horizon > delivery.due_at:
                missed = len(due_between(schedule, delivery.due_at, horizon))
                if missed:
                    log.info(
                        "%d weekly nudge(s) of worker %d fell in downtime", missed, delivery.user_id
                    )
            row = _weekly_row(delivery.user_id, schedule, max(delivery.due_at, horizon))
            if row is not None:
                rows.append(row)
        book.plan_many(rows, now)

    # ---- for workers who cannot be reached unprompted ------------------------------------

    def waiting_for(self, tx: Transaction, user_id: int, now: datetime) -> list[Outgoing]:
        """What is due for a worker who only uses the terminal, shown when they start.

        Nobody can be sent a message in a terminal, so their weekly look-back (when
        its time this week has come and they have not reflected since) and their due
        follow-ups wait for them here instead, with what to type.
        """
        if user_id in tx.reachable_many([user_id]):
            return []  # they get these as messages
        waiting: list[Outgoing] = []
        schedule = self.schedule(tx, user_id)
        last = _last_nudge(schedule, now)
        joined = tx.joined_at(user_id)
        finished = tx.last_finished([user_id]).get(user_id)
        # Not for someone who joined after it: nobody had asked them yet.
        if (
            last is not None
            and (joined is None or joined < last)
            and (finished is None or finished < last - REFLECTED_RECENTLY)
        ):
            waiting.append(Outgoing(wording.WEEKLY_WAITING))
        for check in tx.open_check_ins(user_id, now):
            plan = self._plan_text(tx, check.key, check.dialogue_id)
            text = wording.FOLLOW_UP.format(plan=plan) if plan else wording.FOLLOW_UP_NO_PLAN
            waiting.append(Outgoing(f"{text} {wording.TYPE_FOLLOW_UP.format(number=check.id)}"))
        return waiting

    # ---- what a worker can say about them ------------------------------------------------

    def command(
        self, tx: Transaction, user_id: int, argument: str, now: datetime
    ) -> Sequence[Outgoing]:
        """`nudge tomorrow` and `nudge skip`, from the nudge's buttons (or typed)."""
        schedule = self.schedule(tx, user_id)
        book = DeliveryBook(tx.connection)
        word = argument.strip().lower()
        if word == "tomorrow":
            due = remind_tomorrow(schedule, now)
            period = local_date(schedule.timezone, due).isoformat()
            if not book.plan(user_id, SNOOZED, period, due, now) and not book.move(
                user_id, SNOOZED, period, due
            ):
                book.reinstate(user_id, SNOOZED, period, due)  # after "skip this week"
            when = due.astimezone(ZoneInfo(schedule.timezone)).strftime("%H:%M")
            return [Outgoing(wording.WILL_REMIND.format(when=when))]
        if word == "skip":
            today = local_date(schedule.timezone, now)
            next_monday = today + timedelta(days=7 - today.weekday())
            week_ends = local_instant(schedule.timezone, next_monday, time(0, 0))
            for pending in book.pending_for(user_id):
                if pending.kind in {WEEKLY, SNOOZED} and pending.due_at < week_ends:
                    book.cancel(user_id, pending.kind, pending.period, "skipped by the worker")
            paused = schedule.paused_until
            if paused is None or paused < next_monday:
                NudgeSettingsBook(tx.connection).save(user_id, now, paused_until=next_monday)
            return [Outgoing(wording.SKIPPED)]
        return [Outgoing(wording.UNKNOWN)]


def _last_nudge(schedule: NudgeSchedule, now: datetime) -> datetime | None:
    """The most recent weekly nudge time, if it came in the last three days: after that
    the moment has passed, and the next one is only days away."""
    last = None
    due = next_nudge(schedule, now - WAITING_FOR)
    while due is not None and due <= now:
        last = due
        due = next_nudge(schedule, due)
    return last


@functools.lru_cache(maxsize=1024)
def merged_schedule(
    defaults: NudgeDefaults, own: StoredNudgeSettings | None, known_zone: str | None
) -> NudgeSchedule:
    """The worker's own settings over the organisation's defaults. Most workers share a
    few combinations, so each is worked out once (a tick merges thousands a minute)."""
    weekdays = (
        frozenset(int(day) for day in own.weekdays.split(","))
        if own is not None and own.weekdays
        else defaults.weekdays
    )
    at = time.fromisoformat(own.at) if own is not None and own.at else defaults.at
    zone = (own.timezone if own is not None else None) or known_zone or defaults.timezone
    working = (
        own.working_days_only
        if own is not None and own.working_days_only is not None
        else defaults.working_days_only
    )
    if working and all(day >= SATURDAY for day in weekdays):
        # The worker's weekend days and the organisation's "working days only" (or
        # the other way round) leave no day: their own choice of days wins.
        working = False
    return NudgeSchedule(
        weekdays=weekdays,
        at=at,
        timezone=zone if is_zone(zone) else defaults.timezone,
        working_days_only=working,
        paused_until=own.paused_until if own is not None else None,
        opted_out=own.opted_out if own is not None else False,
    )


@dataclass(frozen=True, slots=True)
class _Known:
    """What the checks of a batch need, read once for all its workers."""

    schedules: dict[int, NudgeSchedule]
    reachable: dict[int, UserRef]
    last_finished: dict[int, datetime]


def _weekly_row(user_id: int, schedule: NudgeSchedule, after: datetime) -> PlannedRow | None:
    """The worker's next weekly nudge after `after`, as a row; None if they opted out."""
    due = next_nudge(schedule, after)
    if due is None:
        return None
    return PlannedRow(user_id, WEEKLY, local_date(schedule.timezone, due).isoformat(), due)
