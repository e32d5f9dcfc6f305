"""The digest's tick: plan each organisation's digest when it falls due, claim it, post
it to the team's Slack channel or Telegram group, and record what happened.

Each digest is a row per organisation, period and place, so a restart or a second
process sends nothing twice; a place that fails is retried with backoff (1, 4, 9, 16
minutes), then given up, without holding up the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import LessonsConfig
from bot.lessons.digest import CHART_CAPTION, Schedule, compose
from bot.lessons.themes import Themes
from bot.messages import Attachment, Outgoing, Pushed
from bot.nudges.schedule import WEEKDAYS, local_date
from bot.store import StorageError, Store
from bot.store.lessons import MAX_ATTEMPTS, ClaimedDigest, DigestBook

log = logging.getLogger(__name__)
T = TypeVar("T")
LEASE = timedelta(minutes=10)
TICK_SECONDS = 60


class Poster(Protocol):
    """A channel that can post in a team's channel or group (Telegram, Slack)."""

    async def post(self, place: str, messages: Sequence[Outgoing]) -> Pushed: ...


@dataclass(frozen=True, slots=True)
class Ready:
    digest: ClaimedDigest
    messages: tuple[Outgoing, ...]  # empty: nothing to share this time


def schedule_from(config: LessonsConfig, default_zone: str) -> Schedule | None:
    if config.digest == "off":
        return None
    return Schedule(
        every=config.digest,
        weekday=WEEKDAYS.index(config.day),
        at=time.fromisoformat(config.time),
        zone=config.timezone or default_zone,
    )


class DigestSender:
    def __init__(
        self,
        store: Store,
        config: LessonsConfig,
        themes: Themes,
        posters: Mapping[str, Poster],
        clock: Callable[[], datetime],
        *,
        default_zone: str = "Europe/London",
        claimant: str | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.themes = themes
        self.posters = dict(posters)
        self.clock = clock
        self.schedule = schedule_from(config, default_zone)
        self.claimant = (claimant or f"{os.getpid()}@{socket.gethostname()}")[:64]
        self._database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digests")
        self._ticking = asyncio.Lock()
        self._scheduler: AsyncIOScheduler | None = None
        self._closed = False
        self._released = False

    def start(self, every_seconds: float = TICK_SECONDS) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=every_seconds,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        async with self._ticking:
            self._closed = True
        self.close()

    async def tick(self) -> int:
        """Plan, claim and post what is due; how many digests were posted."""
        async with self._ticking:
            if self._closed or self.schedule is None:
                return 0
            try:
                now = self.clock()
                await self._run(self.plan, now)
                ready = await self._run(self.claim, now)
                posted = 0
                for item in ready:
                    outcome = await self._post(item)
                    posted += outcome == "sent"
                    await self._run(self.settle, item.digest, outcome, self.clock())
                return posted
            except StorageError as error:
                log.error("digest tick stopped early: %s", error)
            except Exception:  # the next tick tries again; claims come back with the lease
                log.exception("digest tick failed; the next tick tries again")
            return 0

    def plan(self, now: datetime) -> int:
        """Each organisation's latest digest, in each of its places, unless planned."""
        if self.schedule is None:
            return 0
        period, due = self.schedule.latest_due(now)
        planned = 0
        with self.store.transaction() as tx:
            book = DigestBook(tx)
            for organisation_id, slug in book.organisations():
                for place in self.config.places_for(slug):
                    planned += book.plan(organisation_id, period, place, due, now)
        return planned

    def claim(self, now: datetime) -> list[Ready]:
        """Due digests claimed by this process, each with what it will say."""
        with self.store.transaction() as tx:
            book = DigestBook(tx)
            claimed = book.claim(now, self.claimant, LEASE)
            return [
                Ready(digest, self._messages(tx.connection, book, digest, now))
                for digest in claimed
            ]

    def settle(self, digest: ClaimedDigest, outcome: str, now: datetime) -> None:
        with self.store.transaction() as tx:
            DigestBook(tx).settle(digest, outcome, now, self.claimant)
        if outcome not in {"sent", "empty", "retry"}:
            log.error("the team digest %d could not be posted: %s", digest.id, outcome)
        elif outcome == "retry" and digest.attempts + 1 >= MAX_ATTEMPTS:
            log.error(
                "the team digest %d to %s was given up after %d attempts",
                digest.id,
                digest.destination,
                MAX_ATTEMPTS,
            )

    def preview(self, organisation_id: int, now: datetime) -> str | None:
        """What the next digest of an organisation would say (`critical-friend digest
        preview`)."""
        every = self.schedule.every if self.schedule is not None else "weekly"
        period = None
        if self.schedule is not None:  # headed as the next one will be, not the last
            due = self.schedule.next_due(now)
            period = local_date(self.schedule.zone, due).isoformat()
        with self.store.transaction() as tx:
            waiting = DigestBook(tx).waiting(organisation_id)
        return compose(waiting, self.themes, period or now.date().isoformat(), every)

    def _messages(
        self, connection: Any, book: DigestBook, digest: ClaimedDigest, now: datetime
    ) -> tuple[Outgoing, ...]:
        assert self.schedule is not None
        text = compose(book.lessons_in(digest), self.themes, digest.period, self.schedule.every)
        if text is None:
            return ()
        if not self.config.chart:
            return (Outgoing(text),)
        from bot import stats  # loaded only for a digest with a chart

        figures = stats.collect(
            connection, now, organisation_id=digest.organisation_id, zone=self.schedule.zone
        )
        chart = Attachment(
            filename=f"participation-{digest.period}.png",
            content=stats.chart_png(figures),
            media_type=stats.MEDIA_TYPE,
        )
        return (Outgoing(text), Outgoing(CHART_CAPTION, attachment=chart))

    async def _post(self, ready: Ready) -> str:
        if not ready.messages:
            return "empty"
        channel, _, place = ready.digest.destination.partition(":")
        poster = self.posters.get(channel)
        if poster is None:
            return "retry"  # that channel is not running in this process now
        try:
            pushed = await poster.post(place, ready.messages)
        except Exception:  # a channel's bug must not lose the digest: it is retried
            log.exception("posting digest %d failed", ready.digest.id)
            return "retry"
        if pushed is Pushed.SENT:
            return "sent"
        if pushed is Pushed.RETRY:
            return "retry"
        return "the place refused the post (is the bot in that channel or group?)"

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._database, work, *args)

    def close(self) -> None:
        """Release the database thread and its connection."""
        if self._released:
            return
        self._released = True
        self._database.submit(self.store.release_thread).result()
        self._database.shutdown(wait=True)
