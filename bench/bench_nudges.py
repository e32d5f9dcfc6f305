"""Can the nudge dispatcher send a whole organisation's weekly nudge at Telegram's pace?

Run from the repository root:

    python bench/bench_nudges.py [--workers 1000,10000] [--rows 100000] [--rate 1000]
                                 [--batch 500] [--channel-messages 2000] [--postgres]
                                 [--quick] [--json] [--check]

What is measured, in one run on one machine:

1. Delivery. For each size N in `--workers` (default 1,000 and 10,000), on a fresh
   temporary SQLite file opened as the application opens it (`open_engine` + `upgrade`):
   N workers, each with a Telegram identity, inserted in bulk with SQLAlchemy Core (no
   display names, so nothing is encrypted), and their weekly nudges planned with
   `DeliveryBook.plan_many`, all due within the same minute (Friday 14:00:00-14:00:59
   UTC). Then, in a fresh child process on the event loop `critical-friend run` serves
   on (uvloop, bot/event_loop.py), the real `Dispatcher` with the real
   `TelegramChannel(messages_per_second=R)` (its limiter, bot/channels/telegram_pacing.py,
   paced under R a second) sends them to the fake Telegram (`tests/fakes/telegram.py`) started with
   `max_messages_per_second=R` (default R = 1,000): beyond R sendMessage calls in any
   sliding second it answers 429 with retry_after, as Telegram does. The dispatcher's
   clock is injected. A running bot ticks every 30 seconds, so one tick runs first at
   13:59:30, when nothing is due yet, and is not timed. Then the clock stands at
   14:01:00, just past the due minute, and ticks run until one finds nothing due (a
   row given back for a retry would be made due by moving the clock on past its
   backoff; nothing sleeps for it).
   - achieved rate: N / the wall time from the first tick's start to the end of the
     last tick that sent (or retried, failed or skipped) anything: planning, claiming,
     sending, settling and planning the next week's rows included; the tick after it,
     which finds nothing left, and the benchmark's own count of the rows are not. As a
     ratio of R; the target is >= 0.95 for the largest N. The rate between the first and the
     last message the fake accepted, and the busiest second it saw, are shown too.
   - duplicates: chats that got more than one message (from the fake's records);
     lost: workers whose chat got none, and nudge rows not 'sent' at the end. Both
     must be 0 for every N.
   - 429s the fake answered, and what the tick reports (sent, retried, failed).
   - where the time went: the seconds the dispatcher's database thread spent in
     `Nudges.claim` and `Nudges.settle` (timed by wrapping those two methods), so a
     missed rate target can be put down to the database or to the sending.
   - peak RSS (ru_maxrss) of the child process, which holds the dispatcher and the
     channel but not the fake and not the set-up: each N has its own process, so the
     peaks are separate. "Roughly flat" is taken to mean the largest N's peak is at
     most 1.25 times the smallest's: with 10 times the workers, memory that grew with
     the workers would add several times the baseline, while a dispatcher that holds
     one batch at a time adds only noise. The difference in MiB is shown too.
2. The dispatcher's own ceiling: the same set-up with the largest N and a courier that
   answers "sent" at once, no HTTP at all: the most nudges a second the claim and
   settle transactions allow on this machine, and that as a ratio of R. If it is
   below R, no channel can make the rate target.
3. The channel's own ceiling: `--channel-messages` (default 2,000) nudges pushed with
   `TelegramChannel.push` straight to the fake, as many at once as the dispatcher
   allows (its IN_FLIGHT), no database at all: the most a second python-telegram-bot
   and its HTTP client manage on this machine, as a ratio of R. With 2 and 3 the
   reason for a missed rate target can be read off: whichever ceiling is lower.
4. Enqueue and claim: `--rows` (default 100,000) workers, then the time to plan a due
   weekly row for each with one `DeliveryBook.plan_many` call in one transaction, and
   the time to claim them all with `DeliveryBook.claim` in batches of `--batch`,
   marking the batch sent in the same transaction with one `sent_many`, as the
   dispatcher records outcomes (no sending): rows/s each.
5. With `--postgres`, 1, 2 and 4 again on a throwaway PostgreSQL server
   (`tests/postgres_server.py`), or a line saying why it was skipped. Like the tests',
   that server runs with fsync and synchronous_commit off, so its commits do not wait
   for the disk as a production server's do (SQLite's here do); it shares the
   machine's CPUs with the dispatcher and the fake.

Caveats. The fake runs in its own process (Telegram is elsewhere too), but on the same
machine: with few cores it competes with the dispatcher for CPU, and every call is a
loopback round trip of well under a millisecond, far quicker than the real Telegram,
so a real deployment needs more messages in flight for the same rate. The fake's 429
rule (a sliding second) is a model: Telegram does not document its exact algorithm.
The channel's limiter (bot/channels/telegram_pacing.py) is
built so that no second can hold more than R calls however the process is held up, so
0 429s is expected; each 429 would halt all sending for retry_after + 0.1 s. The window
that guarantee leaves is 0.985 R at R = 1,000: the most the rate can reach. The fake's
garbage collector is off while it serves (it stalled every answer, see serve_fake).
Absolute rates depend on the
machine and its disk (SQLite commits with synchronous=FULL); ratios to R are what to
compare between runs.

A benchmark reports; it does not fail. The exit code is 0 unless `--check` is
given and a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from bot import event_loop  # noqa: E402
from bot.dialogues import Catalog, load_catalog  # noqa: E402
from bot.messages import Outgoing, Pushed, UserRef  # noqa: E402
from bot.nudges import wording  # noqa: E402
from bot.nudges.planner import WEEKLY, NudgeDefaults, Nudges  # noqa: E402
from bot.store.crypto import Cipher, generate_key  # noqa: E402
from bot.store.db import open_engine, upgrade  # noqa: E402
from bot.store.deliveries import DeliveryBook, PlannedRow  # noqa: E402
from bot.store.models import chat_sessions, deliveries, identities, users  # noqa: E402
from bot.store.repository import Store  # noqa: E402

DUE = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # a Friday, 14:00 in London in winter
PERIOD = "2026-11-27"
NOW = DUE + timedelta(minutes=1)  # just past the minute they all fall due in
DEFAULTS = NudgeDefaults(weekdays=frozenset({4}), at=clock_time(14, 0), timezone="Europe/London")
FIRST_CHAT = 700_000_000  # worker i is Telegram user (and private chat) FIRST_CHAT + i
SEED_CHUNK = 5_000
LEASE = timedelta(minutes=5)
CLOCK_MOVES = 4  # how often the clock may be moved on to make rows given back due again
CHILD_TIMEOUT_S = 900.0

TARGET_RATE_RATIO = 0.95
TARGET_FLAT_RSS = 1.25


class BenchError(Exception):
    """The benchmark could not measure something (not a missed target)."""


# ---- results ------------------------------------------------------------------------


@dataclass
class Delivered:
    """What one child process measured while the dispatcher delivered N nudges."""

    workers: int
    seconds: float
    ticks: int
    sent: int
    retried: int
    failed: int
    skipped: int
    clock_moves: int
    claim_seconds: float
    settle_seconds: float
    settles: int
    statuses: dict[str, int]  # this period's weekly rows, by status, at the end
    next_week_planned: int
    peak_rss_mib: float
    cpu_seconds: float = 0.0  # the process's CPU time (all threads) over `seconds`
    log_counts: dict[str, int] = field(default_factory=dict)
    log_samples: list[str] = field(default_factory=list)


@dataclass
class FakeSeen:
    """What the fake Telegram saw (sendMessage only)."""

    accepted: int
    statuses: dict[str, int]
    chats_with_messages: int
    duplicate_chats: int
    extra_messages: int
    missing_chats: int
    wrong_text: int
    span_s: float  # first to last accepted message
    busiest_second: int  # the most accepted messages that arrived in any sliding second
    cpu_seconds: float  # the fake process's CPU time from ready to report


@dataclass
class DeliveryRun:
    backend: str
    workers: int
    rate_limit: float
    delivered: Delivered
    seen: FakeSeen | None  # None for the courier that answers at once

    @property
    def per_second(self) -> float:
        return self.workers / self.delivered.seconds if self.delivered.seconds > 0 else 0.0

    @property
    def ratio(self) -> float:
        return self.per_second / self.rate_limit

    @property
    def duplicates(self) -> int:
        return self.seen.duplicate_chats if self.seen is not None else 0

    @property
    def lost(self) -> int:
        not_sent = sum(n for status, n in self.delivered.statuses.items() if status != "sent")
        missing = self.seen.missing_chats if self.seen is not None else 0
        return max(not_sent, missing)

    @property
    def rate_429s(self) -> int:
        return self.seen.statuses.get("429", 0) if self.seen is not None else 0


@dataclass
class Enqueued:
    backend: str
    rows: int
    batch: int
    seed_seconds: float
    plan_seconds: float
    claim_seconds: float
    claimed: int
    sent: int

    @property
    def plan_per_second(self) -> float:
        return self.rows / self.plan_seconds if self.plan_seconds > 0 else 0.0

    @property
    def claim_per_second(self) -> float:
        return self.claimed / self.claim_seconds if self.claim_seconds > 0 else 0.0


@dataclass
class Backend:
    name: str
    runs: list[DeliveryRun] = field(default_factory=list)
    ceiling: DeliveryRun | None = None
    enqueued: Enqueued | None = None
    skipped: str | None = None

    def rss_ratio(self) -> float | None:
        if len(self.runs) < 2:
            return None
        smallest, largest = self.runs[0], self.runs[-1]
        return largest.delivered.peak_rss_mib / smallest.delivered.peak_rss_mib


@dataclass
class Target:
    name: str
    wanted: str
    value: float
    unit: str
    met: bool


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


# ---- setting up workers and rows ----------------------------------------------------------


def open_store(url: str) -> Store:
    engine = open_engine(url)
    upgrade(engine)
    return Store(engine, Cipher([generate_key()]))


def seed_workers(store: Store, count: int) -> None:
    """Workers 1..count with a Telegram identity and an empty chat session, in bulk:
    what `_create_worker` makes for each, without encrypting a display name."""
    with store.transaction() as tx:
        organisation = tx.default_organisation(NOW)
    state = store.cipher.encrypt_json({})  # one token for everyone: nothing reads it here
    for start in range(1, count + 1, SEED_CHUNK):
        ids = range(start, min(count, start + SEED_CHUNK - 1) + 1)
        with store.transaction() as tx:
            tx.connection.execute(
                insert(users),
                [{"id": i, "organisation_id": organisation, "created_at": NOW} for i in ids],
            )
            tx.connection.execute(
                insert(identities),
                [
                    {
                        "user_id": i,
                        "channel": "telegram",
                        "external_id": str(FIRST_CHAT + i),
                        "created_at": NOW,
                    }
                    for i in ids
                ],
            )
            tx.connection.execute(
                insert(chat_sessions),
                [{"user_id": i, "state_enc": state, "updated_at": NOW} for i in ids],
            )


def due_rows(count: int) -> Iterator[PlannedRow]:
    """Everyone's weekly nudge, spread over the one minute 14:00:00-14:00:59."""
    for i in range(1, count + 1):
        yield PlannedRow(i, WEEKLY, PERIOD, DUE + timedelta(seconds=i % 60))


def plan_due(store: Store, count: int) -> int:
    with store.transaction() as tx:
        return DeliveryBook(tx.connection).plan_many(due_rows(count), NOW)


# ---- the databases ------------------------------------------------------------------------


class Databases:
    """Fresh, empty databases on one backend: SQLite files, or PostgreSQL databases."""

    def __init__(self, name: str, folder: Path, server: Any = None) -> None:
        self.name = name
        self.folder = folder
        self.server = server
        self.made = 0

    def fresh(self) -> str:
        self.made += 1
        if self.server is None:
            return f"sqlite:///{self.folder / f'nudges-{self.made}.db'}"
        from sqlalchemy import create_engine, text

        database = f"cf_bench_nudges_{self.made}"
        admin = create_engine(self.server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        admin.dispose()
        return str(self.server.url(database))


# ---- the child process: the dispatcher ------------------------------------------------------


class TimedNudges(Nudges):
    """The real planner, with the time spent in claim and settle added up (these run on
    the dispatcher's database thread, one at a time)."""

    def __init__(self, store: Store, catalog: Catalog, defaults: NudgeDefaults) -> None:
        super().__init__(store, catalog, defaults)
        self.claim_seconds = 0.0
        self.settle_seconds = 0.0
        self.settles = 0

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().claim(*args, **kwargs)
        finally:
            self.claim_seconds += time.perf_counter() - started

    def settle(self, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            super().settle(*args, **kwargs)
        finally:
            self.settle_seconds += time.perf_counter() - started
            self.settles += 1


class AtOnce:
    """A courier that answers "sent" at once: the dispatcher with no channel in the way."""

    async def push(self, user: UserRef, messages: Sequence[Outgoing]) -> Pushed:
        await asyncio.sleep(0)
        return Pushed.SENT


class CountingHandler(logging.Handler):
    """Counts log records by level and keeps the first few warnings, instead of printing
    thousands of lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: Counter[str] = Counter()
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] += 1
        if record.levelno >= logging.WARNING and len(self.samples) < 5:
            self.samples.append(f"{record.name}: {record.getMessage()}"[:200])


def weekly_statuses(store: Store) -> tuple[dict[str, int], int]:
    """This period's weekly rows by status, and how many of next week's were planned."""
    with store.transaction() as tx:
        rows = tx.connection.execute(
            select(deliveries.c.period, deliveries.c.status).where(deliveries.c.kind == WEEKLY)
        ).all()
    statuses = Counter(status for period, status in rows if period == PERIOD)
    return dict(statuses), sum(1 for period, _ in rows if period != PERIOD)


async def push_only(args: argparse.Namespace) -> Delivered:
    """The channel alone: every worker's nudge pushed through TelegramChannel.push, as
    many at once as the dispatcher would have on their way; no database."""
    from bot.channels.telegram import TelegramChannel
    from bot.nudges.dispatcher import IN_FLIGHT
    from bot.nudges.planner import nudge_buttons

    channel = TelegramChannel(
        _NoService(), token=args.token, base_url=args.base_url, messages_per_second=args.rate
    )
    await channel.application.initialize()
    gc.freeze()  # as `critical-friend run` does once everything has started
    message = (Outgoing(wording.WEEKLY, shortcuts=nudge_buttons(), footer=wording.HOW_TO_CHANGE),)
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def push(i: int) -> Pushed:
        async with in_flight:
            return await channel.push(UserRef("telegram", str(FIRST_CHAT + i)), message)

    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        pushed = Counter(await asyncio.gather(*(push(i) for i in range(1, args.workers + 1))))
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    finally:
        await channel.application.shutdown()
    return Delivered(
        workers=args.workers,
        seconds=seconds,
        ticks=0,
        sent=pushed[Pushed.SENT],
        retried=pushed[Pushed.RETRY],
        failed=pushed[Pushed.GONE],
        skipped=0,
        clock_moves=0,
        claim_seconds=0.0,
        settle_seconds=0.0,
        settles=0,
        statuses={"sent": pushed[Pushed.SENT]} if pushed[Pushed.SENT] == args.workers else {},
        next_week_planned=0,
        peak_rss_mib=peak_rss_mib(),
        cpu_seconds=cpu_seconds,
    )


class _NoService:
    """Pushing never asks the conversation service anything."""

    async def handle(self, incoming: Any, gate: Any = None) -> Any:
        raise AssertionError("a push does not handle messages")

    async def admit(self, user: Any, invite_code: Any, *, allowed: bool) -> Any:
        raise AssertionError("a push does not admit anyone")


async def deliver(args: argparse.Namespace) -> Delivered:
    from bot.channels.telegram import TelegramChannel
    from bot.nudges.dispatcher import Dispatcher
    from bot.service import ConversationService

    counting = CountingHandler()
    logging.getLogger().addHandler(counting)
    logging.getLogger().setLevel(logging.INFO)
    catalog = load_catalog([ROOT / "dialogues"])
    engine = open_engine(args.url)
    store = Store(engine, Cipher([generate_key()]))
    nudges = TimedNudges(store, catalog, DEFAULTS)
    now = [NOW]
    service = ConversationService(store, catalog, clock=lambda: now[0], nudges=nudges)
    channel: TelegramChannel | None = None
    courier: Any
    if args.base_url:
        channel = TelegramChannel(
            service, token=args.token, base_url=args.base_url, messages_per_second=args.rate
        )
        await channel.application.initialize()
        courier = channel
    else:
        courier = AtOnce()
    dispatcher = Dispatcher(
        nudges, {"telegram": courier}, lambda: now[0], claimant="bench", batch=args.batch
    )
    totals = Counter[str]()
    ticks = moves = 0
    gc.freeze()  # as `critical-friend run` does once everything has started
    try:
        now[0] = DUE - timedelta(seconds=30)  # the tick before: nothing is due yet
        before = await dispatcher.tick()
        if before.sent or before.retried or before.failed or before.skipped:
            raise BenchError("a nudge was claimed before its minute")
        nudges.claim_seconds = nudges.settle_seconds = 0.0  # what the timed ticks take
        nudges.settles = 0
        now[0] = NOW
        started, cpu_started = time.perf_counter(), time.process_time()
        finished, cpu_finished = started, cpu_started
        while True:
            report = await dispatcher.tick()
            ticks += 1
            totals.update(asdict(report))
            if report.sent or report.retried or report.failed or report.skipped:
                finished, cpu_finished = time.perf_counter(), time.process_time()
                continue
            statuses, _ = await asyncio.to_thread(weekly_statuses, store)
            if statuses.get("pending", 0) + statuses.get("claimed", 0) == 0:
                break
            if moves == CLOCK_MOVES:
                break
            moves += 1
            now[0] += timedelta(minutes=21)  # past the longest backoff and any lease
        seconds = finished - started
        cpu_seconds = cpu_finished - cpu_started
    finally:
        await dispatcher.stop()
        if channel is not None:
            await channel.application.shutdown()
    statuses, next_week = await asyncio.to_thread(weekly_statuses, store)
    service.close()
    store.dispose()
    return Delivered(
        workers=args.workers,
        seconds=seconds,
        ticks=ticks,
        sent=totals["sent"],
        retried=totals["retried"],
        failed=totals["failed"],
        skipped=totals["skipped"],
        clock_moves=moves,
        claim_seconds=nudges.claim_seconds,
        settle_seconds=nudges.settle_seconds,
        settles=nudges.settles,
        statuses=statuses,
        next_week_planned=next_week,
        peak_rss_mib=peak_rss_mib(),
        cpu_seconds=cpu_seconds,
        log_counts=dict(counting.counts),
        log_samples=counting.samples,
    )


# ---- the child process: the fake Telegram ----------------------------------------------------


def share(cpu_seconds: float, seconds: float) -> float:
    """CPU time as a share of one core over a run (0 for a run that timed nothing)."""
    return cpu_seconds / seconds if seconds > 0 else 0.0


def busiest_second(times: list[float]) -> int:
    """The most of these (sorted) instants that fall within any one second."""
    most = start = 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def serve_fake(args: argparse.Namespace) -> None:
    """The fake Telegram with everyone registered; prints where it is, then waits for a
    line on stdin and prints what it saw."""
    from tests.fakes.telegram import FakeTelegram

    async with FakeTelegram(max_messages_per_second=args.rate) as fake:
        for i in range(1, args.workers + 1):
            fake.register_user(FIRST_CHAT + i)
        # Telegram does not pause for us. The fake keeps a record of every call, and its
        # full garbage collections, walking that record, held up every answer for 80 to
        # 190 ms at a time (seen with gc.callbacks): a stall that is the fake's, not the
        # bot's. What it holds for one run is small, so collection waits for the end.
        gc.disable()
        print(json.dumps({"base_url": fake.base_url, "token": fake.token}), flush=True)
        cpu_started = time.process_time()
        await asyncio.to_thread(sys.stdin.readline)
        cpu_seconds = time.process_time() - cpu_started
        sends = fake.calls_to("sendMessage")
        accepted = [call for call in sends if call.status == 200]
        per_chat = Counter(int(call.params["chat_id"]) for call in accepted)
        expected = {FIRST_CHAT + i for i in range(1, args.workers + 1)}
        times = sorted(call.at for call in accepted)
        seen = FakeSeen(
            accepted=len(accepted),
            statuses={str(status): n for status, n in Counter(c.status for c in sends).items()},
            chats_with_messages=len(per_chat),
            duplicate_chats=sum(1 for n in per_chat.values() if n > 1),
            extra_messages=sum(n - 1 for n in per_chat.values() if n > 1),
            missing_chats=len(expected - per_chat.keys()),
            wrong_text=sum(
                1 for call in accepted if not str(call.params["text"]).startswith(wording.WEEKLY)
            ),
            span_s=times[-1] - times[0] if len(times) > 1 else 0.0,
            busiest_second=busiest_second(times),
            cpu_seconds=cpu_seconds,
        )
        print(json.dumps(asdict(seen)), flush=True)


# ---- the parent: running the children -----------------------------------------------------------


def child_command(*options: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *options]


def child_environment() -> dict[str, str]:
    # Reading RetryAfter.retry_after as an int is deprecated in PTB 22; opt in to timedelta.
    return {**os.environ, "PTB_TIMEDELTA": "true", "PYTHONPATH": str(ROOT)}


def run_dispatch_child(
    url: str | None, args: argparse.Namespace, workers: int, fake: Any
) -> Delivered:
    options = [
        "--child-deliver",
        "--url",
        url or "",
        "--workers",
        str(workers),
        "--rate",
        str(args.rate),
        "--batch",
        str(args.batch),
    ]
    if fake is not None:
        options += ["--base-url", fake["base_url"], "--token", fake["token"]]
    done = subprocess.run(
        child_command(*options),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        env=child_environment(),
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise BenchError(f"the dispatcher process failed: {done.stderr.strip()[-1500:]}")
    return Delivered(**json.loads(done.stdout.strip().splitlines()[-1]))


def delivery_run(
    databases: Databases | None, args: argparse.Namespace, workers: int, *, fake_telegram: bool
) -> DeliveryRun:
    """N nudges delivered in a child process; with no databases, by the channel alone."""
    url = None
    if databases is not None:
        url = databases.fresh()
        store = open_store(url)
        try:
            seed_workers(store, workers)
            if plan_due(store, workers) != workers:
                raise BenchError("not every worker's nudge was planned")
        finally:
            store.dispose()
    name = databases.name if databases is not None else "none"
    if not fake_telegram:
        delivered = run_dispatch_child(url, args, workers, None)
        return DeliveryRun(name, workers, args.rate, delivered, None)
    fake = subprocess.Popen(
        child_command("--child-fake", "--workers", str(workers), "--rate", str(args.rate)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_environment(),
        cwd=ROOT,
    )
    assert fake.stdin is not None
    assert fake.stdout is not None
    try:
        where = json.loads(fake.stdout.readline())
        delivered = run_dispatch_child(url, args, workers, where)
        fake.stdin.write("report\n")
        fake.stdin.flush()
        seen = FakeSeen(**json.loads(fake.stdout.readline()))
        fake.wait(timeout=60)
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.wait()
    return DeliveryRun(name, workers, args.rate, delivered, seen)


def enqueue_and_claim(databases: Databases, args: argparse.Namespace) -> Enqueued:
    store = open_store(databases.fresh())
    try:
        started = time.perf_counter()
        seed_workers(store, args.rows)
        seeded = time.perf_counter()
        if plan_due(store, args.rows) != args.rows:
            raise BenchError("plan_many did not plan every row")
        planned = time.perf_counter()
        claimed = sent = 0
        while True:
            with store.transaction() as tx:
                book = DeliveryBook(tx.connection)
                batch = book.claim(NOW, "bench", args.batch, LEASE)
                claimed += len(batch)
                sent += book.sent_many([row.id for row in batch], NOW, claimant="bench")
            if len(batch) < args.batch:
                break
        finished = time.perf_counter()
    finally:
        store.dispose()
    return Enqueued(
        backend=databases.name,
        rows=args.rows,
        batch=args.batch,
        seed_seconds=seeded - started,
        plan_seconds=planned - seeded,
        claim_seconds=finished - planned,
        claimed=claimed,
        sent=sent,
    )


def bench_backend(databases: Databases, args: argparse.Namespace, progress: Any) -> Backend:
    backend = Backend(databases.name)
    for workers in args.sizes:
        progress(f"{databases.name}: delivering {workers:,} nudges through the fake Telegram ...")
        backend.runs.append(delivery_run(databases, args, workers, fake_telegram=True))
    progress(f"{databases.name}: {args.sizes[-1]:,} nudges to a courier that answers at once ...")
    backend.ceiling = delivery_run(databases, args, args.sizes[-1], fake_telegram=False)
    progress(f"{databases.name}: planning and claiming {args.rows:,} rows ...")
    backend.enqueued = enqueue_and_claim(databases, args)
    return backend


def bench_postgres(folder: Path, args: argparse.Namespace, progress: Any) -> Backend:
    from tests.postgres_server import PostgresUnavailable, start_postgres

    try:
        import psycopg  # noqa: F401
    except ImportError:
        return Backend("PostgreSQL", skipped="the psycopg driver is not installed")
    try:
        server = start_postgres()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as error:
        return Backend("PostgreSQL", skipped=f"PostgreSQL could not be started: {error}")
    try:
        return bench_backend(Databases("PostgreSQL", folder, server), args, progress)
    finally:
        server.stop()


# ---- targets and output ----------------------------------------------------------------------


def targets(backends: list[Backend]) -> list[Target]:
    found: list[Target] = []
    for backend in backends:
        if not backend.runs:
            continue
        name = backend.name
        largest = backend.runs[-1]
        found.append(
            Target(
                f"{name} rate/limit, {largest.workers:,} workers",
                f">= {TARGET_RATE_RATIO}",
                largest.ratio,
                "",
                largest.ratio >= TARGET_RATE_RATIO,
            )
        )
        duplicates = sum(run.duplicates for run in backend.runs)
        found.append(Target(f"{name} duplicates, all sizes", "= 0", duplicates, "", not duplicates))
        lost = sum(run.lost for run in backend.runs)
        found.append(Target(f"{name} lost, all sizes", "= 0", lost, "", not lost))
        ratio = backend.rss_ratio()
        if ratio is not None:
            found.append(
                Target(
                    f"{name} peak RSS {backend.runs[-1].workers:,}/{backend.runs[0].workers:,}",
                    f"<= {TARGET_FLAT_RSS}",
                    ratio,
                    "",
                    ratio <= TARGET_FLAT_RSS,
                )
            )
    return found


def run_json(run: DeliveryRun) -> dict[str, Any]:
    found: dict[str, Any] = {
        "workers": run.workers,
        "seconds": round(run.delivered.seconds, 3),
        "per_second": round(run.per_second, 1),
        "ratio_to_limit": round(run.ratio, 4),
        "duplicates": run.duplicates,
        "lost": run.lost,
        "responses_429": run.rate_429s,
        "delivered": asdict(run.delivered),
    }
    if run.seen is not None:
        found["fake"] = asdict(run.seen)
    return found


def backend_json(backend: Backend) -> dict[str, Any]:
    if backend.skipped is not None:
        return {"skipped": backend.skipped}
    ratio = backend.rss_ratio()
    enqueued = backend.enqueued
    return {
        "delivery": [run_json(run) for run in backend.runs],
        "peak_rss_ratio": round(ratio, 3) if ratio is not None else None,
        "dispatcher_ceiling": run_json(backend.ceiling) if backend.ceiling else None,
        "enqueue_and_claim": (
            {
                **asdict(enqueued),
                "plan_rows_per_s": round(enqueued.plan_per_second, 1),
                "claim_rows_per_s": round(enqueued.claim_per_second, 1),
            }
            if enqueued is not None
            else None
        ),
    }


def report_json(
    backends: list[Backend], channel: DeliveryRun, found: list[Target], args: argparse.Namespace
) -> str:
    report = {
        "rate_limit_per_s": args.rate,
        "channel_alone": run_json(channel),
        "batch": args.batch,
        "workers": args.sizes,
        "rows": args.rows,
        "python": sys.version.split()[0],
        "sqlite_version": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "load_average_before_after": [round(args.load_before, 2), round(os.getloadavg()[0], 2)],
        **{backend.name.lower(): backend_json(backend) for backend in backends},
        "targets": [
            {"name": t.name, "target": t.wanted, "value": round(t.value, 4), "met": t.met}
            for t in found
        ],
        "all_targets_met": all(t.met for t in found),
    }
    return json.dumps(report, indent=2)


def run_line(label: str, run: DeliveryRun) -> str:
    d = run.delivered
    sent_429 = f"{run.rate_429s:>6}" if run.seen is not None else f"{'-':>6}"
    return (
        f"{label:<22} {run.workers:>7,} {d.seconds:>8.2f} {run.per_second:>8.1f} "
        f"{run.ratio:>6.3f} {run.duplicates:>5} {run.lost:>5} {sent_429} "
        f"{d.claim_seconds:>7.2f} {d.settle_seconds:>7.2f} {d.peak_rss_mib:>8.1f}"
    )


def report_text(
    backends: list[Backend], channel: DeliveryRun, found: list[Target], args: argparse.Namespace
) -> str:
    lines = [
        f"Critical Friend nudge benchmark: limit {args.rate:g} messages/s, dispatcher batch "
        f"{args.batch}, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, load average {args.load_before:.2f} before and "
        f"{os.getloadavg()[0]:.2f} after (other processes compete for the same CPUs)",
        "",
        f"{'':<22} {'workers':>7} {'wall s':>8} {'msg/s':>8} {'/limit':>6} {'dups':>5} "
        f"{'lost':>5} {'429s':>6} {'claim s':>7} {'settle s':>7} {'RSS MiB':>8}",
        run_line("channel alone, no DB", channel),
    ]
    if channel.seen is not None and channel.delivered.seconds > 0:
        d = channel.delivered
        lines.append(
            f"  CPU: sending process {d.cpu_seconds:.2f} s ({share(d.cpu_seconds, d.seconds):.2f} of "
            f"one core), fake Telegram {channel.seen.cpu_seconds:.2f} s "
            f"({share(channel.seen.cpu_seconds, d.seconds):.2f})"
        )
    for backend in backends:
        lines.append("")
        if backend.skipped is not None:
            lines.append(f"{backend.name}: skipped: {backend.skipped}")
            continue
        lines += [
            f"{backend.name}",
            f"{'':<22} {'workers':>7} {'wall s':>8} {'msg/s':>8} {'/limit':>6} {'dups':>5} "
            f"{'lost':>5} {'429s':>6} {'claim s':>7} {'settle s':>7} {'RSS MiB':>8}",
        ]
        for run in backend.runs:
            lines.append(run_line("fake Telegram", run))
        if backend.ceiling is not None:
            lines.append(run_line("courier answering now", backend.ceiling))
        for run in backend.runs:
            d, seen = run.delivered, run.seen
            if seen is None:
                continue
            sending = seen.accepted / seen.span_s if seen.span_s > 0 else 0.0
            lines.append(
                f"  {run.workers:,}: ticks {d.ticks}, sent {d.sent}, retried {d.retried}, "
                f"failed {d.failed}, skipped {d.skipped}; fake: accepted {seen.accepted} "
                f"({sending:.1f}/s first to last), busiest second {seen.busiest_second}, "
                f"statuses {seen.statuses}; next week planned {d.next_week_planned}"
            )
            lines.append(
                f"    CPU over the run: dispatcher process {d.cpu_seconds:.2f} s "
                f"({share(d.cpu_seconds, d.seconds):.2f} of one core), fake Telegram "
                f"{seen.cpu_seconds:.2f} s ({share(seen.cpu_seconds, d.seconds):.2f})"
            )
            if d.log_samples:
                lines.append(f"    first warnings: {d.log_samples[:2]}")
        ratio = backend.rss_ratio()
        if ratio is not None:
            small, large = backend.runs[0].delivered, backend.runs[-1].delivered
            lines.append(
                f"  peak RSS {large.peak_rss_mib:.1f} MiB for {large.workers:,} workers vs "
                f"{small.peak_rss_mib:.1f} MiB for {small.workers:,}: ratio {ratio:.3f}, "
                f"{large.peak_rss_mib - small.peak_rss_mib:+.1f} MiB"
            )
        if backend.ceiling is not None:
            c = backend.ceiling.delivered
            lines.append(
                f"  database thread per nudge (courier answering now): claim "
                f"{1000 * c.claim_seconds / c.workers:.3f} ms + settle "
                f"{1000 * c.settle_seconds / c.workers:.3f} ms "
                f"(outcomes are recorded together: {c.settles} settle transactions)"
            )
        enqueued = backend.enqueued
        if enqueued is not None:
            lines.append(
                f"  {enqueued.rows:,} due rows: plan_many {enqueued.plan_seconds:.2f} s "
                f"({enqueued.plan_per_second:,.0f} rows/s); claim + mark sent in batches of "
                f"{enqueued.batch} {enqueued.claim_seconds:.2f} s "
                f"({enqueued.claim_per_second:,.0f} rows/s, {enqueued.sent:,} sent); "
                f"set-up of the workers {enqueued.seed_seconds:.2f} s"
            )
    lines += ["", "targets"]
    for target in found:
        verdict = "PASS" if target.met else "MISS"
        value = f"{target.value:.3f}" if isinstance(target.value, float) else f"{target.value}"
        lines.append(f"  {verdict}  {target.name:<40} {value:>10}   (target {target.wanted})")
    return "\n".join(lines)


# ---- main -------------------------------------------------------------------------------------


def sizes(text: str) -> list[int]:
    found = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    if not found or found[0] < 1:
        raise argparse.ArgumentTypeError("worker counts are positive numbers, like 1000,10000")
    return found


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers",
        type=sizes,
        default=None,
        help="worker counts to deliver to, comma-separated (default 1000,10000)",
    )
    parser.add_argument(
        "--rows", type=int, default=None, help="rows to plan and claim (default 100000)"
    )
    parser.add_argument(
        "--channel-messages",
        type=int,
        default=None,
        help="nudges pushed by the channel alone (default 2000)",
    )
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="messages/s, fake and channel (default 1000)"
    )
    parser.add_argument(
        "--batch", type=int, default=500, help="rows claimed at a time (default 500, as shipped)"
    )
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    # The child processes: not for people.
    parser.add_argument("--child-deliver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_deliver or args.child_fake:
        args.workers = args.workers[0] if args.workers else 0
        return args
    args.sizes = args.workers or ([100, 1000] if args.quick else [1000, 10000])
    if args.rows is None:
        args.rows = 10_000 if args.quick else 100_000
    if args.channel_messages is None:
        args.channel_messages = 300 if args.quick else 2_000
    if args.channel_messages < 1 or args.rows < 1 or args.rate <= 0 or args.batch < 1:
        parser.error("--rows, --channel-messages and --batch must be >= 1, --rate above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.child_fake:
        asyncio.run(serve_fake(args))
        return 0
    if args.child_deliver:
        work = deliver if args.url else push_only
        # On the loop `critical-friend run` serves on.
        print(json.dumps(asdict(event_loop.serve(work(args)))))
        return 0
    args.load_before = os.getloadavg()[0]
    progress: Callable[[str], None] = (
        (lambda text: None) if args.json else (lambda text: print(text, file=sys.stderr))
    )
    with tempfile.TemporaryDirectory(prefix="cf-bench-nudges-") as temp:
        folder = Path(temp)
        progress(f"the channel alone: pushing {args.channel_messages:,} nudges ...")
        channel = delivery_run(None, args, args.channel_messages, fake_telegram=True)
        backends = [bench_backend(Databases("SQLite", folder), args, progress)]
        if args.postgres:
            backends.append(bench_postgres(folder, args, progress))
    found = targets(backends)
    render = report_json if args.json else report_text
    print(render(backends, channel, found, args))
    return 1 if args.check and not all(t.met for t in found) else 0


if __name__ == "__main__":
    raise SystemExit(main())
