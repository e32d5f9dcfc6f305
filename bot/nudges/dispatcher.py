"""The tick: one APScheduler job that claims and delivers due nudges, and plans them.

There is one job for everyone, not one per worker: the rows in the database say who
is due, so a restart loses nothing and two processes share the work without sending
anything twice (each row is claimed by one of them). A tick claims in batches until
nothing due is left, hands each message to the channel the worker uses, and records
the outcome; a passing failure is retried later with backoff, then marked failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.messages import Outgoing, Pushed, UserRef
from bot.nudges.planner import Claimed, Nudges, Outbound
from bot.store import StorageError
from bot.store.deliveries import Delivery

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH = 500
LEASE = timedelta(minutes=5)  # a claim a crashed process held comes back after this
IN_FLIGHT = 100  # messages on their way at once (couriers); the channels' own limits pace them
FIRST_CLAIM = IN_FLIGHT  # a tick's first claim: enough to keep every courier busy meanwhile
# Outcomes that come in within this long of a settle are recorded together in the next.
# Fewer transactions leave the event loop more of the interpreter while a week's nudges
# go out; a crash can then resend at most what went out in that moment.
SETTLE_EVERY_S = 0.1


class Courier(Protocol):
    """A channel that can send what the bot starts (Telegram, Slack)."""

    async def push(self, user: UserRef, messages: Sequence[Outgoing]) -> Pushed: ...


@dataclass(slots=True)
class TickReport:
    planned: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0


class Dispatcher:
    def __init__(
        self,
        nudges: Nudges,
        couriers: Mapping[str, Courier],
        clock: Callable[[], datetime],
        *,
        claimant: str | None = None,
        batch: int = BATCH,
        lease: timedelta = LEASE,
    ) -> None:
        self.nudges = nudges
        self.couriers = dict(couriers)
        self.clock = clock
        # claimed_by holds 64 characters; a host's full name can be longer.
        self.claimant = (claimant or f"{os.getpid()}@{socket.gethostname()}")[:64]
        self.batch = batch
        self.lease = lease
        # Database work leaves the event loop; one thread keeps a tick's steps in order.
        self._database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nudges")
        self._ticking = asyncio.Lock()
        self._outcomes: list[tuple[Delivery, Pushed]] = []
        self._closed = False
        self._stopping = False  # set at once by stop(): no new batch is claimed
        self._scheduler: AsyncIOScheduler | None = None
        self._woken: asyncio.Task[None] | None = None
        self._wake_again = False

    def start(self, every_seconds: float) -> None:
        """Tick now and then every `every_seconds`, in the running event loop."""
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=every_seconds,
            next_run_time=datetime.now(UTC),
            max_instances=1,  # a slow tick is never overlapped by the next
            coalesce=True,
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler

    def wake(self) -> None:
        """Tick now, in the running loop: someone was just told something by a colleague
        (a critical-friend invitation, feedback), which should not wait for the next
        tick. A wake during a woken tick makes one more after it, so nothing planned
        meanwhile waits either."""
        if self._stopping:
            return
        self._wake_again = True
        if self._woken is None or self._woken.done():
            self._woken = asyncio.get_running_loop().create_task(self._tick_while_woken())

    async def _tick_while_woken(self) -> None:
        while self._wake_again and not self._stopping:
            self._wake_again = False
            await self.tick()

    async def stop(self) -> None:
        """No more ticks; a tick under way finishes its deliveries first."""
        self._stopping = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._woken is not None:
            await asyncio.gather(self._woken, return_exceptions=True)
        async with self._ticking:
            self._closed = True
        self._database.shutdown(wait=True)

    async def tick(self) -> TickReport:
        """Deliver everything due, batch by batch, and plan what is missing on the way."""
        async with self._ticking:
            if self._closed:
                return TickReport()
            return await self._tick()

    async def _tick(self) -> TickReport:
        report = TickReport()
        upcoming: asyncio.Future[Claimed] | None = None
        planning: asyncio.Future[int] | None = None
        sending = _Sending(
            self._deliver, self._record, self._settle, lambda: self._stopping, self.batch, report
        )
        try:
            # What is due already goes first, in a small claim, so the first messages
            # leave at once. Planning waits behind it on the database thread (one thread:
            # first come, first served), so every claim after the first sees what
            # planning wrote, its chores' notices too; a claim always follows the first.
            first = min(self.batch, FIRST_CLAIM)
            upcoming = self._claim_next(first)
            planning = asyncio.ensure_future(self._run(self.nudges.plan, self.clock()))
            limit, claimed_after_planning = first, False
            while upcoming is not None:
                claimed = await upcoming
                upcoming = None
                report.skipped += claimed.skipped
                full = len(claimed.outbound) + claimed.skipped >= limit
                if (full or not claimed_after_planning) and not self._stopping:
                    # The next batch is claimed while this one is sent, so the channel is
                    # never idle waiting for the database between batches.
                    limit, claimed_after_planning = self.batch, True
                    upcoming = self._claim_next(limit)
                await sending.hand_over(claimed.outbound)
                if self._stopping:
                    break  # what is left is given back below, untried
        except StorageError as error:
            # The next tick tries again; claimed rows come back when their lease ends.
            log.error("nudge tick stopped early: %s", error)
        except Exception:  # one bad row or schedule must not stop everyone's nudges for good
            log.exception("nudge tick failed; the next tick tries again")
        finally:
            # What was handed over is sent and recorded whatever stopped the tick.
            await sending.finish()
            await self._give_back(sending.not_handed_over)
            if upcoming is not None:
                await self._give_back_claim(upcoming)
            if planning is not None:
                report.planned = await self._planned(planning)
            await self._settle()  # outcomes a failed settle gave back, once more
        if report.sent or report.failed or report.retried or report.skipped:
            log.info(
                "nudges: %d sent, %d to retry, %d failed, %d skipped, %d planned",
                report.sent,
                report.retried,
                report.failed,
                report.skipped,
                report.planned,
            )
        return report

    def _claim_next(self, limit: int) -> asyncio.Future[Claimed]:
        return asyncio.ensure_future(
            self._run(self.nudges.claim, self.clock(), self.claimant, limit, self.lease)
        )

    @staticmethod
    async def _planned(planning: asyncio.Future[int]) -> int:
        """How many rows planning planned, once the tick's sending is done. Its failure is
        logged, and the nudges already due went out regardless; the next tick plans again."""
        try:
            return await planning
        except StorageError as error:
            log.error("planning nudges stopped early: %s", error)
        except Exception:
            log.exception("planning nudges failed; the next tick tries again")
        return 0

    async def _give_back_claim(self, upcoming: asyncio.Future[Claimed]) -> None:
        """A batch claimed ahead but not sent (stopping, or an error) is released at once
        rather than left until its lease ends."""
        try:
            claimed = await upcoming
        except Exception as error:  # nothing was claimed, or its lease brings it back
            log.error("claiming nudges failed: %s", error)
            return
        await self._give_back(claimed.outbound)

    async def _give_back(self, outbound: Sequence[Outbound]) -> None:
        if not outbound:
            return
        try:
            await self._run(self.nudges.release, outbound, self.claimant)
        except Exception as error:  # its lease still brings it back
            log.error("giving back claimed nudges failed: %s", error)

    async def _deliver(self, outbound: Outbound) -> Pushed:
        courier = self.couriers.get(outbound.user.channel)
        if courier is None:
            return Pushed.RETRY  # that channel is not running in this process now
        try:
            return await courier.push(outbound.user, outbound.messages)
        except Exception:  # a channel's bug must not lose the row: it is retried
            log.exception("pushing delivery %d failed", outbound.delivery.id)
            return Pushed.RETRY

    def _record(self, outbound: Outbound, pushed: Pushed) -> None:
        self._outcomes.append((outbound.delivery, pushed))

    async def _settle(self) -> None:
        """Record every outcome waiting, in one transaction. The outcomes that come in
        while one settle runs, or within SETTLE_EVERY_S after it, go together in the
        next: under load about ten transactions a second, and when quiet each send at
        once (a crash can only resend what was on its way, or had just arrived)."""
        # One settle at a time without a lock: a tick's settler runs them one after
        # another, and the tick's last one only once the settler has finished.
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        try:
            await self._run(self.nudges.settle, outcomes, self.clock(), self.claimant)
        except Exception as error:
            # Kept to be recorded by the next settle: a message that went out must be
            # marked sent, or its row would come back and be sent again.
            self._outcomes[:0] = outcomes
            log.error("recording %d nudge outcomes failed: %s", len(outcomes), error)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._database, work, *args)

    def close(self) -> None:
        """For callers without an event loop (tests): release the database thread."""
        self._database.shutdown(wait=True)


class _Sending:
    """One tick's deliveries: IN_FLIGHT couriers take claimed nudges from a queue, and one
    settler records their outcomes as they come.

    Long-lived couriers, not a task a nudge: starting hundreds of tasks at once when a
    batch arrives held the event loop long enough to stall every message on its way
    (measured with bench/bench_nudges.py). The queue holds at most one batch, so a tick
    keeps about two batches in memory however many are due.
    """

    def __init__(
        self,
        deliver: Callable[[Outbound], Awaitable[Pushed]],
        record: Callable[[Outbound, Pushed], None],
        settle: Callable[[], Awaitable[None]],
        stopping: Callable[[], bool],
        batch: int,
        report: TickReport,
    ) -> None:
        self._deliver = deliver
        self._record = record
        self._settle = settle
        self._stopping = stopping
        self.report = report
        self.not_handed_over: Sequence[Outbound] = ()
        self._queue: asyncio.Queue[Outbound | None] = asyncio.Queue(maxsize=batch)
        self._couriers: list[asyncio.Task[None]] = []
        self._settler: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._finishing = asyncio.Event()

    async def hand_over(self, outbound: Sequence[Outbound]) -> None:
        """Queue a claimed batch, waiting while the one before fills the queue; once the
        dispatcher is stopping, the rest is kept back to be given back."""
        if outbound and not self._couriers:
            self._couriers = [asyncio.create_task(self._carry()) for _ in range(IN_FLIGHT)]
            self._settler = asyncio.create_task(self._keep_settling())
        for index, item in enumerate(outbound):
            if self._stopping():
                self.not_handed_over = outbound[index:]
                return
            await self._queue.put(item)

    async def finish(self) -> None:
        """Let the couriers send what is queued, then record every outcome."""
        for _ in self._couriers:
            await self._queue.put(None)
        await asyncio.gather(*self._couriers, return_exceptions=True)
        self._finishing.set()
        self._arrived.set()
        if self._settler is not None:
            await asyncio.gather(self._settler, return_exceptions=True)

    async def _carry(self) -> None:
        while (item := await self._queue.get()) is not None:
            pushed = await self._deliver(item)
            if pushed is Pushed.SENT:
                self.report.sent += 1
            elif pushed is Pushed.RETRY:
                self.report.retried += 1
            else:
                self.report.failed += 1
            self._record(item, pushed)
            self._arrived.set()

    async def _keep_settling(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            finishing = self._finishing.is_set()  # read first: nothing arrives after it
            await self._settle()
            if finishing:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finishing.wait(), SETTLE_EVERY_S)
