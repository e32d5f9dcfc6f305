"""How many Telegram updates a second does the bot handle, and how much latency does it add?

Run from the repository root:

    python bench/bench_telegram.py [--seconds S] [--workers N] [--json] [--check]

Everything runs in one asyncio program, on loopback: the fake Bot API
(`tests/fakes/telegram.py`), the real `TelegramChannel` in webhook mode behind the
bot's own web server (`bot.web`, 127.0.0.1, a random port, a secret token) and a real
`ConversationService` on a temporary SQLite file opened as the application opens it.
N simulated workers (Telegram users on the channel's `allowed_user_ids`, so no
invitations) each send /start, press the first button of the menu (Gibbs' reflective
cycle) and then answer its questions with ~150-character texts; a keyboard is answered
by pressing its first button, and a finished reflection is followed by /reflect. The
/start and the first press of every worker are warm-up and are not measured.

What is measured for each update:

- posted: when the fake starts its POST of the update to the webhook (the fake's
  `_post_update`, wrapped here). The fake POSTs one update at a time, in order, like
  Telegram. The time from the worker enqueuing the update (`user_sends_text`,
  `user_presses`) is printed too; the difference is the fake's delivery queue.
- reply: when the last `sendMessage` the bot made for that update reached the fake,
  i.e. the `at` of that call (`time.monotonic()` as the fake's handler starts). The
  end of the update is known exactly from a handler added in group 1 of the bot's
  `Application`, which python-telegram-bot runs after the channel's own handler.
- the fake's own time: for every call the bot made to the fake for that chat while
  handling the update (earlier sendMessages of a multi-message reply, answerCallbackQuery,
  editMessageText, sendChatAction when a reply is slow), the time from the fake's handler starting to
  the fake recording the call (its `_record`, wrapped here), which includes reading,
  validating and answering. The bot waits for those answers, so they are in the
  end-to-end time although they are not the bot's work.
- added by the bot = (reply - posted) - the fake's own time.

Two phases, each `--seconds` long:

1. Peak rate (closed loop): every worker sends its next update as soon as the bot has
   finished its previous one; updates completed per second is the peak.
2. Half the peak (open loop): updates are sent on a fixed schedule at half the peak
   rate, each to a worker with nothing in flight, and p50/p95 are taken there. The
   target is that the bot adds p95 <= 20 ms at this rate.

Caveats. The peak is not the bot's processing limit: python-telegram-bot's AIORateLimiter
(which the channel uses, as in production) lets through 30 requests a second in all,
Telegram's flood limit, and an answered question costs one sendMessage and a button
press three calls, so the closed loop settles near 27 updates/s with updates queueing for
seconds; the output shows the bot's calls per second to make this visible. At half that
rate the limiter does not hold anything back. Presses of a button cost more calls
(answerCallbackQuery, editMessageText, the next message), so the added latency is
also shown by kind. The fake, the bot and the workers share one event loop and one
process, so the fake's HTTP parsing and the workers' bookkeeping compete with the bot
for the CPU; only the fake's handler time is subtracted, not aiohttp's work around it.
The update's webhook POST is measured from the moment the fake starts it, so the fake's
own serialising of the update is counted as the bot's (well under a millisecond).

For context, a bare `sendMessage` through python-telegram-bot's `Bot` against the fake is
timed first (round trip, and the fake's part of it).

A benchmark reports; it does not fail. The exit code is 0 unless `--check` is given and
a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import Bot, Update  # noqa: E402
from telegram.constants import FloodLimit  # noqa: E402
from telegram.ext import ContextTypes, TypeHandler  # noqa: E402

from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.dialogues import load_catalog  # noqa: E402
from bot.service import ConversationService  # noqa: E402
from bot.store.crypto import Cipher, generate_key  # noqa: E402
from bot.store.db import open_engine, upgrade  # noqa: E402
from bot.store.repository import Store  # noqa: E402
from bot.web import WebServer, build_app, start_server  # noqa: E402
from tests.fakes.telegram import Call, FakeTelegram  # noqa: E402

WEBHOOK_PATH = "/telegram"
FIRST_USER_ID = 900_001
BASELINE_CHAT = 899_999
BASELINE_CALLS = 200
TURN_TIMEOUT_S = 30.0
# About 150 characters, long enough that no follow-up question is asked.
ANSWER = (
    "The visit went ahead as planned and the family were at home. The mother was tired "
    "but willing to talk, and the young person showed me drawings. ({n})"
)
# "Feelings (2 of 6)\n...", at the start of the message or of a paragraph in it
QUESTION = re.compile(r"^[A-Z][\w ]+ \(\d+ of \d+\)\n", re.MULTILINE)

TARGET_ADDED_P95_MS = 20.0
RATE_LIMIT_PER_S = FloodLimit.MESSAGES_PER_SECOND  # AIORateLimiter's default overall limit


class BenchError(Exception):
    """The benchmark could not measure something (not a missed target)."""


# ---- records --------------------------------------------------------------------------


@dataclass
class Sent:
    """One update a worker sent, and what happened to it (times are time.monotonic())."""

    update_id: int
    chat: int
    kind: str  # "answer", "press" or "command"
    enqueued: float
    posted: float | None = None
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
    bot_calls_per_s: float = 0.0  # the bot's calls to the fake (with a chat_id) per second

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
        grouped: dict[str, list[float]] = defaultdict(list)
        for update in self.updates:
            grouped[update.kind].append(update.added_ms)
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


# ---- the rig: fake, bot, instrumentation -------------------------------------------------


def chat_of(call: Call) -> int | None:
    try:
        return int(call.params.get("chat_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class Rig:
    """The fake Bot API and the bot in webhook mode, with the timing hooks."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.sent: dict[int, Sent] = {}
        self.waiting: dict[int, asyncio.Future[None]] = {}
        self.fake_calls: dict[int, list[FakeCall]] = defaultdict(list)
        self.channel: TelegramChannel | None = None
        self.server: WebServer | None = None
        self._instrument()

    def _instrument(self) -> None:
        """Wrap two of the fake's methods on this instance (its file is not changed)."""
        fake = self.fake
        post_update = fake._post_update
        record = fake._record

        async def timed_post(hook: dict[str, Any], update: dict[str, Any]) -> Any:
            sent = self.sent.get(update["update_id"])
            if sent is not None and sent.posted is None:
                sent.posted = time.monotonic()
            return await post_update(hook, update)

        def timed_record(call: Call) -> None:
            end = time.monotonic()
            chat = chat_of(call)
            if chat is not None:
                self.fake_calls[chat].append(FakeCall(call.method, call.at, end))
            record(call)

        fake._post_update = timed_post  # type: ignore[method-assign]
        fake._record = timed_record  # type: ignore[method-assign]

    async def start(self, service: ConversationService, user_ids: list[int]) -> None:
        channel = TelegramChannel(
            service,
            token=self.fake.token,
            base_url=self.fake.base_url,
            allowed_user_ids=user_ids,
        )

        async def finished(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
            self._finished(update.update_id)

        # Group 1 runs after the channel's handlers (group 0) have finished the update.
        channel.application.add_handler(TypeHandler(Update, finished), group=1)
        self.server = await start_server(
            build_app(telegram_path=WEBHOOK_PATH, telegram=channel.receive), "127.0.0.1", 0
        )
        self.channel = channel
        await channel.start_webhook(
            url=f"{self.server.url}{WEBHOOK_PATH}", secret_token=secrets.token_urlsafe(24)
        )

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.channel is not None:
            await self.channel.stop()

    def _finished(self, update_id: int) -> None:
        sent = self.sent.get(update_id)
        if sent is None:
            return
        sent.done = time.monotonic()
        self._settle(sent)
        future = self.waiting.pop(update_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _settle(self, sent: Sent) -> None:
        """Find the update's reply and the fake's own time among the chat's calls."""
        assert sent.done is not None
        if sent.posted is None:
            return
        calls = [c for c in self.fake_calls[sent.chat] if sent.posted <= c.at <= sent.done]
        replies = [c.at for c in calls if c.method == "sendMessage"]
        if not replies:
            return
        sent.reply_at = max(replies)
        sent.fake_s = sum(c.end - c.at for c in calls if c.end <= sent.reply_at)

    def count_calls(self, phase: Phase) -> None:
        ended = phase.started + phase.seconds
        calls = sum(
            1 for chat in self.fake_calls.values() for c in chat if phase.started <= c.at < ended
        )
        phase.bot_calls_per_s = calls / phase.seconds

    def last_bot_message(self, chat: int) -> dict[str, Any] | None:
        """The newest message the bot sent in a chat, without copying every message."""
        state = self.fake.state
        newest = state._last_message_id.get(chat, 0)
        for message_id in range(newest, 0, -1):
            message = state.messages.get((chat, message_id))
            if message is not None and message["from"]["id"] == state.bot["id"]:
                return message
        return None

    async def send(self, chat: int, kind: str, update: dict[str, Any], enqueued: float) -> Sent:
        sent = Sent(update["update_id"], chat, kind, enqueued)
        self.sent[sent.update_id] = sent
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[sent.update_id] = future
        try:
            await asyncio.wait_for(future, TURN_TIMEOUT_S)
        except TimeoutError:
            raise BenchError(
                f"update {sent.update_id} ({kind}) was not handled within {TURN_TIMEOUT_S} s"
            ) from None
        if sent.reply_at is None:
            raise BenchError(f"update {sent.update_id} ({kind}) got no sendMessage reply")
        return sent


class Worker:
    """One simulated social worker in a private chat with the bot."""

    def __init__(self, rig: Rig, user_id: int) -> None:
        self.rig = rig
        self.user_id = user_id
        self.answers = 0
        self.busy = False

    async def turn(self) -> Sent:
        """Send the next update the conversation calls for; wait until the bot is done."""
        fake = self.rig.fake
        last = self.rig.last_bot_message(self.user_id)
        rows = last.get("reply_markup", {}).get("inline_keyboard", []) if last else []
        buttons = [button for row in rows for button in row if "callback_data" in button]
        self.busy = True
        try:
            enqueued = time.monotonic()
            if last is None:
                kind, update = "command", fake.user_sends_text(self.user_id, "/start")
            elif buttons:
                data = buttons[0]["callback_data"]
                kind, update = "press", fake.user_presses(self.user_id, last, data)
            elif QUESTION.search(last.get("text", "")):
                self.answers += 1
                text = ANSWER.format(n=self.answers)
                kind, update = "answer", fake.user_sends_text(self.user_id, text)
            else:
                kind, update = "command", fake.user_sends_text(self.user_id, "/reflect")
            return await self.rig.send(self.user_id, kind, update, enqueued)
        finally:
            self.busy = False


# ---- the phases ----------------------------------------------------------------------------


async def closed_loop(workers: list[Worker], seconds: float) -> Phase:
    done: list[Sent] = []
    started = time.monotonic()
    deadline = started + seconds

    async def run(worker: Worker) -> None:
        while time.monotonic() < deadline:
            done.append(await worker.turn())

    await asyncio.gather(*(run(worker) for worker in workers))
    return Phase("peak (closed loop)", time.monotonic() - started, done, started=started)


async def open_loop(workers: list[Worker], seconds: float, rate: float) -> Phase:
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


async def baseline(fake: FakeTelegram, rig: Rig) -> Baseline:
    """A bare sendMessage through python-telegram-bot against the fake, one at a time."""
    fake.register_user(BASELINE_CHAT)
    found = Baseline()
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        for number in range(BASELINE_CALLS + 20):
            started = time.monotonic()
            await bot.send_message(BASELINE_CHAT, f"Baseline message {number}.")
            elapsed = time.monotonic() - started
            call = rig.fake_calls[BASELINE_CHAT][-1]
            if number >= 20:  # the first ones warm up the connection pool
                found.round_trips_ms.append(elapsed * 1000)
                found.fake_ms.append((call.end - call.at) * 1000)
    return found


async def measure(args: argparse.Namespace, folder: Path) -> tuple[Baseline, Phase, Phase]:
    catalog = load_catalog([ROOT / "dialogues"])
    if catalog.problems:
        raise BenchError(f"the dialogues do not load: {catalog.problems}")
    engine = open_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    store = Store(engine, Cipher([generate_key()]))
    service = ConversationService(store, catalog)
    user_ids = [FIRST_USER_ID + n for n in range(args.workers)]
    try:
        async with FakeTelegram() as fake:
            rig = Rig(fake)
            found = await baseline(fake, rig)
            await rig.start(service, user_ids)
            try:
                workers = [Worker(rig, user_id) for user_id in user_ids]
                # Warm-up, not measured: /start, then the press on Gibbs in the menu.
                for _ in range(2):
                    await asyncio.gather(*(worker.turn() for worker in workers))
                peak = await closed_loop(workers, args.seconds)
                half = await open_loop(workers, args.seconds, peak.per_second / 2)
                rig.count_calls(peak)
                rig.count_calls(half)
            finally:
                await rig.stop()
    finally:
        service.close()
        store.dispose()
    return found, peak, half


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


def phase_json(phase: Phase) -> dict[str, Any]:
    return {
        "updates": len(phase.updates),
        "seconds": round(phase.seconds, 3),
        "updates_per_s": round(phase.per_second, 1),
        "offered_per_s": round(phase.offered_per_s, 1) if phase.offered_per_s else None,
        "ticks_with_every_worker_busy": phase.all_busy,
        "bot_calls_to_fake_per_s": round(phase.bot_calls_per_s, 1),
        "kinds": phase.kinds(),
        "added_by_kind_ms": {
            kind: {"updates": n, "p50": round(p50, 3), "p95": round(p95, 3)}
            for kind, (n, p50, p95) in phase.added_by_kind().items()
        },
        **{name: round(value, 3) for name, value in phase.stats().items()},
    }


def report_json(
    base: Baseline, peak: Phase, half: Phase, found: list[Target], args: argparse.Namespace
) -> str:
    report = {
        "workers": args.workers,
        "seconds_per_phase": args.seconds,
        "python": sys.version.split()[0],
        "latency_from": "the fake starting its webhook POST of the update",
        "latency_to": "the bot's last sendMessage for the update arriving at the fake",
        "baseline_send_message": {
            "calls": len(base.round_trips_ms),
            "round_trip_p50_ms": round(percentile(base.round_trips_ms, 50), 3),
            "round_trip_p95_ms": round(percentile(base.round_trips_ms, 95), 3),
            "fake_p50_ms": round(percentile(base.fake_ms, 50), 3),
        },
        "peak": phase_json(peak),
        "half_peak": phase_json(half),
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


def report_text(
    base: Baseline, peak: Phase, half: Phase, found: list[Target], args: argparse.Namespace
) -> str:
    kinds = "; ".join(
        f"{kind} {n}: p50 {p50:.2f}, p95 {p95:.2f}"
        for kind, (n, p50, p95) in half.added_by_kind().items()
    )
    half_stats = half.stats()
    lines = [
        f"Critical Friend Telegram benchmark: webhook mode, {args.workers} workers, "
        f"{args.seconds:g} s per phase, SQLite, Python {sys.version.split()[0]}",
        "",
        "latency of one update: from the fake starting its webhook POST of the update to the",
        "bot's last sendMessage for it arriving at the fake; 'fake' is the fake's own handling",
        "of the bot's calls in between; 'bot adds' = end-to-end - fake (all in ms)",
        "",
        f"{'phase':<22} {'updates':>7} {'updates/s':>9} "
        f"{'e2e p50':>7} {'e2e p95':>7} {'fake50':>7} {'fake95':>7} "
        f"{'add p50':>7} {'add p95':>7}",
        phase_line(peak),
        phase_line(half),
        "",
        f"(peak: the bot made {peak.bot_calls_per_s:.1f} calls/s to the fake; "
        f"python-telegram-bot's AIORateLimiter allows {RATE_LIMIT_PER_S:g}/s in all)",
        f"(half peak: offered {half.offered_per_s or 0.0:.1f} updates/s; "
        f"ticks with every worker busy: {half.all_busy})",
        f"(half peak, bot adds by kind of update, ms: {kinds})",
        f"(half peak, from the worker enqueuing the update instead of the POST: "
        f"p50 {half_stats['from_enqueue_p50_ms']:.2f} ms, "
        f"p95 {half_stats['from_enqueue_p95_ms']:.2f} ms)",
        f"(a bare sendMessage via telegram.Bot against the fake: round trip "
        f"p50 {percentile(base.round_trips_ms, 50):.2f} ms, "
        f"p95 {percentile(base.round_trips_ms, 95):.2f} ms; "
        f"of which the fake p50 {percentile(base.fake_ms, 50):.2f} ms)",
        "",
        "targets",
    ]
    for target in found:
        verdict = "PASS" if target.met else "MISS"
        value = f"{target.value:.3f} {target.unit}"
        lines.append(f"  {verdict}  {target.name:<36} {value:>12}   (target {target.wanted})")
    return "\n".join(lines)


# ---- main -------------------------------------------------------------------------------


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.json:
        print("measuring the Telegram channel in webhook mode ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="cf-bench-telegram-") as temp:
        base, peak, half = asyncio.run(measure(args, Path(temp)))
    found = targets(half)
    render = report_json if args.json else report_text
    print(render(base, peak, half, found, args))
    return 1 if args.check and not all(t.met for t in found) else 0


if __name__ == "__main__":
    raise SystemExit(main())
