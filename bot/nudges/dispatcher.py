"""The tick: one APScheduler job that plans, claims and delivers due nudges.

There is one job for everyone, not one per worker: the rows in the database say who
is due, so a restart loses nothing and two processes share the work without sending
anything twice (each row is claimed by one of them). A tick claims in batches until
nothing due is left, hands each message to the channel the worker uses, and records
the outcome; a passing failure is retried later with backoff, then marked failed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
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
IN_FLIGHT = 100  # messages on their way at once; the channels' own limits pace them


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
        self._in_flight = asyncio.Semaphore(IN_FLIGHT)
        self._ticking = asyncio.Lock()
        self._settling = asyncio.Lock()
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
        """Plan what is missing, then deliver everything due, batch by batch."""
        async with self._ticking:
            if self._closed:
                return TickReport()
            return await self._tick()

    async def _tick(self) -> TickReport:
        report = TickReport()
        upcoming: asyncio.Future[Claimed] | None = None
        try:
            report.planned = await self._run(self.nudges.plan, self.clock())
            upcoming = self._claim_next()
            while upcoming is not None:
                claimed = await upcoming
                upcoming = None
                report.skipped += claimed.skipped
                if len(claimed.outbound) + claimed.skipped >= self.batch and not self._stopping:
                    # The next batch is claimed while this one is sent, so the channel is
                    # never idle waiting for the database between batches.
                    upcoming = self._claim_next()
                outcomes = await asyncio.gather(*(self._deliver(o) for o in claimed.outbound))
                for outcome in outcomes:
                    if outcome is Pushed.SENT:
                        report.sent += 1
                    elif outcome is Pushed.RETRY:
                        report.retried += 1
                    else:
                        report.failed += 1
                if self._stopping and upcoming is not None:
                    break  # given back below, untried
        except StorageError as error:
            # The next tick tries again; claimed rows come back when their lease ends.
            log.error("nudge tick stopped early: %s", error)
        except Exception:  # one bad row or schedule must not stop everyone's nudges for good
            log.exception("nudge tick failed; the next tick tries again")
        finally:
            await self._give_back(upcoming)
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

    def _claim_next(self) -> asyncio.Future[Claimed]:
        return asyncio.ensure_future(
            self._run(self.nudges.claim, self.clock(), self.claimant, self.batch, self.lease)
        )

    async def _give_back(self, upcoming: asyncio.Future[Claimed] | None) -> None:
        """A batch claimed ahead but not sent (stopping, or an error) is released at once
        rather than left until its lease ends."""
        if upcoming is None:
            return
        try:
            claimed = await upcoming
            await self._run(self.nudges.release, claimed.outbound, self.claimant)
        except Exception as error:  # its lease still brings it back
            log.error("giving back claimed nudges failed: %s", error)

    async def _deliver(self, outbound: Outbound) -> Pushed:
        courier = self.couriers.get(outbound.user.channel)
        async with self._in_flight:
            if courier is None:
                pushed = Pushed.RETRY  # that channel is not running in this process now
            else:
                try:
                    pushed = await courier.push(outbound.user, outbound.messages)
                except Exception:  # a channel's bug must not lose the row: it is retried
                    log.exception("pushing delivery %d failed", outbound.delivery.id)
                    pushed = Pushed.RETRY
        self._outcomes.append((outbound.delivery, pushed))
        await self._settle()
        return pushed

    async def _settle(self) -> None:
        """Record every outcome waiting, in one transaction. While one settle runs, the
        outcomes that come in wait and go together in the next: under load a batch is
        recorded in a few transactions, and when quiet each send at once (a crash can
        only resend what was on its way, or had just arrived)."""
        async with self._settling:
            if not self._outcomes:
                return  # an earlier settle took them
            outcomes, self._outcomes = self._outcomes, []
            try:
                await self._run(self.nudges.settle, outcomes, self.clock(), self.claimant)
            except Exception as error:
                # Kept to be recorded by the next settle: a message that went out must
                # be marked sent, or its row would come back and be sent again.
                self._outcomes[:0] = outcomes
                log.error("recording %d nudge outcomes failed: %s", len(outcomes), error)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._database, work, *args)

    def close(self) -> None:
        """For callers without an event loop (tests): release the database thread."""
        self._database.shutdown(wait=True)
