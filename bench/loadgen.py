"""The load generator and reporting shared by the end-to-end channel benchmarks.

`bench_telegram.py` and `bench_slack.py` each put the real channel behind its fake
platform and keep what is particular to that platform: the Rig that hooks into the fake
(when an update is posted, which calls the bot made, when the bot is done with it), the
Worker that chooses its next update from the bot's last message, measure() and the
docstring that says what is measured. This module holds the rest, which is the same for
both: the records (`Sent`, `FakeCall`, `Phase`, `Baseline`, `Target`), the bookkeeping
of updates in flight (`Tracker`, which a Rig builds on), the conversation service on a
temporary SQLite file, the two phases (a closed loop for the peak, then an open loop at
half of it), the target, the text and JSON reports, the arguments and `run`, the main.

Not a script: the benchmarks import it as `bench.loadgen`, with the repository root on
sys.path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.dialogues import load_catalog  # noqa: E402
from bot.service import ConversationService  # noqa: E402
from bot.store.crypto import Cipher, generate_key  # noqa: E402
from bot.store.db import open_engine, upgrade  # noqa: E402
from bot.store.repository import Store  # noqa: E402

TURN_TIMEOUT_S = 30.0
BASELINE_CALLS = 200
BASELINE_WARM_UP = 20
# About 150 characters, long enough that no follow-up question is asked.
ANSWER = (
    "The visit went ahead as planned and the family were at home. The mother was tired "
    "but willing to talk, and the young person showed me drawings. ({n})"
)
# "Feelings (2 of 6)\n...", at the start of the message or of a paragraph in it
QUESTION = re.compile(r"^[A-Z][\w ]+ \(\d+ of \d+\)\n", re.MULTILINE)

TARGET_ADDED_P95_MS = 20.0

# A Telegram number (update, chat) or a Slack id (envelope, user).
Id = int | str
Found = TypeVar("Found")  # what a bench's measure() found besides the phases


class BenchError(Exception):
    """The benchmark could not measure something (not a missed target)."""


# ---- records --------------------------------------------------------------------------


@dataclass
class Sent:
    """One update a worker sent, and what happened to it (times are time.monotonic())."""

    key: Id  # the delivery: Telegram's update_id, Slack's event_id or trigger_id
    peer: Id  # whose calls answer it: the Telegram chat, the Slack user
    kind: str  # "answer", "press" or "command"
    enqueued: float
    posted: float | None = None
    acked: float | None = None  # the bot's HTTP answer, where a bench notes it (Slack)
    done: float | None = None
    reply_at: float | None = None
    fake_s: float = 0.0

    @property
    def from_post_ms(self) -> float:
        assert self.posted is not None
        assert self.reply_at is not None
        return (self.reply_at - self.posted) * 1000

    @property
    def from_enqueue_ms(self) -> float:
        assert self.reply_at is not None
        return (self.reply_at - self.enqueued) * 1000

    @property
    def added_ms(self) -> float:
        return self.from_post_ms - self.fake_s * 1000

    @property
    def ack_ms(self) -> float | None:
        if self.posted is None or self.acked is None:
            return None
        return (self.acked - self.posted) * 1000


@dataclass
class FakeCall:
    method: str
    at: float  # the fake's handler started
    end: float  # the fake recorded it, its answer ready


def percentile(values: list[float], p: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


@dataclass
class Phase:
    name: str
    seconds: float
    updates: list[Sent]
    started: float = 0.0
    offered_per_s: float | None = None  # the open loop's schedule
    all_busy: int = 0  # open loop: ticks when every worker still had an update in flight
    bot_calls_per_s: float = 0.0  # the bot's calls to the fake (for a worker) per second
    retries: int = 0  # deliveries the fake sent again because no ack came in time (Slack)

    @property
    def per_second(self) -> float:
        return len(self.updates) / self.seconds if self.seconds > 0 else float("inf")

    def stats(self) -> dict[str, float]:
        measures = {
            "from_post": [u.from_post_ms for u in self.updates],
            "from_enqueue": [u.from_enqueue_ms for u in self.updates],
            "fake": [u.fake_s * 1000 for u in self.updates],
            "added": [u.added_ms for u in self.updates],
        }
        found: dict[str, float] = {}
        for name, values in measures.items():
            found[f"{name}_p50_ms"] = percentile(values, 50)
            found[f"{name}_p95_ms"] = percentile(values, 95)
        return found

    def added_by_kind(self) -> dict[str, tuple[int, float, float]]:
        """For each kind of update: how many, and p50/p95 of what the bot added (ms)."""
        return self._by_kind(lambda update: update.added_ms)

    def ack_by_kind(self) -> dict[str, tuple[int, float, float]]:
        """For each kind of update: how many acked, and p50/p95 from posted to the ack (ms)."""
        return self._by_kind(lambda update: update.ack_ms)

    def _by_kind(
        self, measure: Callable[[Sent], float | None]
    ) -> dict[str, tuple[int, float, float]]:
        grouped: dict[str, list[float]] = defaultdict(list)
        for update in self.updates:
            value = measure(update)
            if value is not None:
                grouped[update.kind].append(value)
        return {
            kind: (len(values), percentile(values, 50), percentile(values, 95))
            for kind, values in sorted(grouped.items())
        }

    def kinds(self) -> dict[str, int]:
        counted: dict[str, int] = defaultdict(int)
        for update in self.updates:
            counted[update.kind] += 1
        return dict(sorted(counted.items()))


@dataclass
class Baseline:
    round_trips_ms: list[float] = field(default_factory=list)
    fake_ms: list[float] = field(default_factory=list)


@dataclass
class Target:
    name: str
    wanted: str
    value: float
    unit: str
    met: bool


# ---- updates in flight ---------------------------------------------------------------------


class Tracker:
    """The updates the workers sent and the bot's calls to the fake, by peer.

    A bench's Rig builds on this: its hooks on the fake set `Sent.posted` and add to
    `fake_calls`, and it calls `finished` when the bot is done with an update.
    """

    reply_method = ""  # the bot's call to the fake that carries a reply

    def __init__(self) -> None:
        self.sent: dict[Id, Sent] = {}  # by key
        self.waiting: dict[Id, asyncio.Future[None]] = {}  # by key
        self.fake_calls: dict[Id, list[FakeCall]] = defaultdict(list)  # by peer

    async def wait(self, sent: Sent) -> Sent:
        """Track an update the fake is about to deliver; wait until the bot is done."""
        self.sent[sent.key] = sent
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[sent.key] = future
        try:
            await asyncio.wait_for(future, TURN_TIMEOUT_S)
        except TimeoutError:
            raise BenchError(
                f"update {sent.key} ({sent.kind}) was not handled within {TURN_TIMEOUT_S} s"
            ) from None
        if sent.reply_at is None:
            raise BenchError(f"update {sent.key} ({sent.kind}) got no {self.reply_method} reply")
        return sent

    def finished(self, sent: Sent) -> None:
        sent.done = time.monotonic()
        self._settle(sent)
        future = self.waiting.pop(sent.key, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _settle(self, sent: Sent) -> None:
        """Find the update's reply and the fake's own time among the peer's calls."""
        assert sent.done is not None
        if sent.posted is None:
            return
        calls = [c for c in self.fake_calls[sent.peer] if sent.posted <= c.at <= sent.done]
        replies = [c.at for c in calls if c.method == self.reply_method]
        if not replies:
            return
        sent.reply_at = max(replies)
        sent.fake_s = sum(c.end - c.at for c in calls if c.end <= sent.reply_at)

    def count_calls(self, phase: Phase) -> None:
        ended = phase.started + phase.seconds
        calls = sum(
            1 for peer in self.fake_calls.values() for c in peer if phase.started <= c.at < ended
        )
        phase.bot_calls_per_s = calls / phase.seconds


async def time_calls(
    send: Callable[[int], Awaitable[object]], tracker: Tracker, peer: Id
) -> Baseline:
    """Time `send(number)`, a bare call to the fake for `peer`, one at a time."""
    found = Baseline()
    for number in range(BASELINE_CALLS + BASELINE_WARM_UP):
        started = time.monotonic()
        await send(number)
        elapsed = time.monotonic() - started
        call = tracker.fake_calls[peer][-1]
        if number >= BASELINE_WARM_UP:  # the first ones warm up the connections
            found.round_trips_ms.append(elapsed * 1000)
            found.fake_ms.append((call.end - call.at) * 1000)
    return found


@contextmanager
def conversation_service(folder: Path) -> Iterator[ConversationService]:
    """A real ConversationService on a new SQLite file in `folder`, opened as the app does."""
    catalog = load_catalog([ROOT / "dialogues"])
    if catalog.problems:
        raise BenchError(f"the dialogues do not load: {catalog.problems}")
    engine = open_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    store = Store(engine, Cipher([generate_key()]))
    service = ConversationService(store, catalog)
    try:
        yield service
    finally:
        service.close()
        store.dispose()


# ---- the phases ----------------------------------------------------------------------------


class Worker(Protocol):
    """A simulated social worker: a bench's own class, which chooses its next update."""

    busy: bool  # an update in flight

    async def turn(self) -> Sent:
        """Send the next update the conversation calls for; wait until the bot is done."""
        ...


async def closed_loop(workers: Sequence[Worker], seconds: float) -> Phase:
    done: list[Sent] = []
    started = time.monotonic()
    deadline = started + seconds

    async def run(worker: Worker) -> None:
        while time.monotonic() < deadline:
            done.append(await worker.turn())

    await asyncio.gather(*(run(worker) for worker in workers))
    return Phase("peak (closed loop)", time.monotonic() - started, done, started=started)


async def open_loop(workers: Sequence[Worker], seconds: float, rate: float) -> Phase:
    done: list[Sent] = []
    tasks: list[asyncio.Task[Sent]] = []
    all_busy = 0
    interval = 1.0 / rate
    started = time.monotonic()
    ticks = max(1, int(seconds * rate))
    turn = 0
    for tick in range(ticks):
        await asyncio.sleep(max(0.0, started + tick * interval - time.monotonic()))
        idle = [w for w in workers if not w.busy]
        if not idle:
            all_busy += 1
            continue
        worker = idle[turn % len(idle)]
        turn += 1
        worker.busy = True  # at once, before the task first runs
        tasks.append(asyncio.create_task(worker.turn()))
    for task in tasks:
        done.append(await task)
    elapsed = time.monotonic() - started
    return Phase(
        "half peak (open loop)",
        elapsed,
        done,
        started=started,
        offered_per_s=rate,
        all_busy=all_busy,
    )


async def phases(workers: Sequence[Worker], seconds: float) -> tuple[Phase, Phase]:
    """Two warm-up turns of every worker (not measured), the peak, then half the peak."""
    for _ in range(2):
        await asyncio.gather(*(worker.turn() for worker in workers))
    peak = await closed_loop(workers, seconds)
    half = await open_loop(workers, seconds, peak.per_second / 2)
    return peak, half


# ---- output ----------------------------------------------------------------------------


def targets(half: Phase) -> list[Target]:
    p95 = half.stats()["added_p95_ms"]
    return [
        Target(
            "bot adds, p95 at half the peak rate",
            f"<= {TARGET_ADDED_P95_MS:g} ms",
            p95,
            "ms",
            p95 <= TARGET_ADDED_P95_MS,
        )
    ]


def by_kind_json(found: dict[str, tuple[int, float, float]]) -> dict[str, Any]:
    return {
        kind: {"updates": n, "p50": round(p50, 3), "p95": round(p95, 3)}
        for kind, (n, p50, p95) in found.items()
    }


def phase_json(phase: Phase, acks: bool = False) -> dict[str, Any]:
    """The phase as JSON; with `acks`, also the fake's retried deliveries and the acks."""
    found: dict[str, Any] = {
        "updates": len(phase.updates),
        "seconds": round(phase.seconds, 3),
        "updates_per_s": round(phase.per_second, 1),
        "offered_per_s": round(phase.offered_per_s, 1) if phase.offered_per_s else None,
        "ticks_with_every_worker_busy": phase.all_busy,
        "bot_calls_to_fake_per_s": round(phase.bot_calls_per_s, 1),
    }
    if acks:
        found["delivery_retries"] = phase.retries
    found["kinds"] = phase.kinds()
    found["added_by_kind_ms"] = by_kind_json(phase.added_by_kind())
    if acks:
        found["ack_by_kind_ms"] = by_kind_json(phase.ack_by_kind())
    found.update({name: round(value, 3) for name, value in phase.stats().items()})
    return found


def baseline_json(base: Baseline) -> dict[str, Any]:
    return {
        "calls": len(base.round_trips_ms),
        "round_trip_p50_ms": round(percentile(base.round_trips_ms, 50), 3),
        "round_trip_p95_ms": round(percentile(base.round_trips_ms, 95), 3),
        "fake_p50_ms": round(percentile(base.fake_ms, 50), 3),
    }


def report_json(
    about: dict[str, Any],
    peak: Phase,
    half: Phase,
    found: list[Target],
    args: argparse.Namespace,
    acks: bool = False,
) -> str:
    """One JSON object; `about` (what latency is measured from and to, the baseline)
    comes after the run's settings."""
    report = {
        "workers": args.workers,
        "seconds_per_phase": args.seconds,
        "python": sys.version.split()[0],
        **about,
        "peak": phase_json(peak, acks),
        "half_peak": phase_json(half, acks),
        "targets": [
            {"name": t.name, "target": t.wanted, "value": round(t.value, 4), "met": t.met}
            for t in found
        ],
        "all_targets_met": all(t.met for t in found),
    }
    return json.dumps(report, indent=2)


def phase_line(phase: Phase) -> str:
    s = phase.stats()
    return (
        f"{phase.name:<22} {len(phase.updates):>7} {phase.per_second:>9.1f} "
        f"{s['from_post_p50_ms']:>7.2f} {s['from_post_p95_ms']:>7.2f} "
        f"{s['fake_p50_ms']:>7.2f} {s['fake_p95_ms']:>7.2f} "
        f"{s['added_p50_ms']:>7.2f} {s['added_p95_ms']:>7.2f}"
    )


def by_kind_text(found: dict[str, tuple[int, float, float]]) -> str:
    return "; ".join(
        f"{kind} {n}: p50 {p50:.2f}, p95 {p95:.2f}" for kind, (n, p50, p95) in found.items()
    )


def added_by_kind_note(half: Phase) -> str:
    return f"(half peak, bot adds by kind of update, ms: {by_kind_text(half.added_by_kind())})"


def from_enqueue_note(half: Phase, acting: str) -> str:
    """`acting`: what the worker does, from when the latency is taken instead of the POST."""
    s = half.stats()
    return (
        f"(half peak, from the worker {acting} instead of the POST: "
        f"p50 {s['from_enqueue_p50_ms']:.2f} ms, p95 {s['from_enqueue_p95_ms']:.2f} ms)"
    )


def baseline_note(what: str, base: Baseline) -> str:
    return (
        f"({what}: round trip "
        f"p50 {percentile(base.round_trips_ms, 50):.2f} ms, "
        f"p95 {percentile(base.round_trips_ms, 95):.2f} ms; "
        f"of which the fake p50 {percentile(base.fake_ms, 50):.2f} ms)"
    )


def report_text(
    title: str,
    about: list[str],
    peak: Phase,
    half: Phase,
    notes: list[str],
    found: list[Target],
    args: argparse.Namespace,
) -> str:
    """The report: `title` names the bench, `about` explains the latency above the table,
    `notes` (each in parentheses) follow it."""
    lines = [
        f"Critical Friend {title}, {args.workers} workers, "
        f"{args.seconds:g} s per phase, SQLite, Python {sys.version.split()[0]}",
        "",
        *about,
        "",
        f"{'phase':<22} {'updates':>7} {'updates/s':>9} "
        f"{'e2e p50':>7} {'e2e p95':>7} {'fake50':>7} {'fake95':>7} "
        f"{'add p50':>7} {'add p95':>7}",
        phase_line(peak),
        phase_line(half),
        "",
        *notes,
        "",
        "targets",
    ]
    for target in found:
        verdict = "PASS" if target.met else "MISS"
        value = f"{target.value:.3f} {target.unit}"
        lines.append(f"  {verdict}  {target.name:<36} {value:>12}   (target {target.wanted})")
    return "\n".join(lines)


# ---- main -------------------------------------------------------------------------------


def arguments(argv: list[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="length of each phase (default 15)"
    )
    parser.add_argument("--workers", type=int, default=20, help="simulated workers (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.workers < 1:
        parser.error("--seconds must be > 0 and --workers >= 1")
    return args


def run(
    argv: list[str] | None,
    doc: str,
    name: str,
    what: str,
    measure: Callable[[argparse.Namespace, Path], Awaitable[tuple[Found, Phase, Phase]]],
    report: Callable[[Found, Phase, Phase, list[Target], argparse.Namespace], str],
) -> int:
    """A bench's main: `doc` is its docstring, `name` its platform ("telegram"), `what`
    what it measures; `report` renders as text, or as JSON with --json."""
    args = arguments(argv, doc.splitlines()[0])
    logging.basicConfig(level=logging.WARNING)
    if not args.json:
        print(f"measuring {what} ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix=f"cf-bench-{name}-") as temp:
        base, peak, half = asyncio.run(measure(args, Path(temp)))
    found = targets(half)
    print(report(base, peak, half, found, args))
    return 1 if args.check and not all(t.met for t in found) else 0
