"""How many Slack events a second does the bot handle, and how much latency does it add?

Run from the repository root:

    python bench/bench_slack.py [--seconds S] [--workers N] [--json] [--check]

Everything runs in one asyncio program, on loopback: the fake Slack (`tests/fakes/slack.py`)
delivering signed Events API and interactivity requests over HTTP, the real `SlackChannel`
in HTTP mode with its `handle_http` mounted at /slack/events on an aiohttp server of its
own (127.0.0.1, a random port, a signing secret) and a real `ConversationService` on a
temporary SQLite file opened as the application opens it. N simulated workers (Slack
users of the fake's own workspace, which is in the channel's `allowed_team_ids`) each
write to the bot in their DM, press the "Gibbs' reflective cycle" button of the menu and
then answer its questions with ~150-character texts; a message with buttons (an `actions`
block, action ids `choice-N`) is answered by pressing its first button, and a finished
reflection is followed by the message "reflect". The first message and the first press
of every worker are warm-up and are not measured.

What is measured for each update (a DM event, a button press):

- posted: when the fake starts its signed HTTP POST of the delivery to the bot (the
  fake's `_deliver_http`, wrapped here). Unlike Telegram, Slack (and the fake) deliver
  concurrently, each event on its own request. The time from the worker's action
  (`user_sends_dm`, `user_presses`) is printed too; the difference is the fake building,
  signing and starting the request.
- reply: when the last `chat.postMessage` the bot made for that update reached the fake,
  i.e. the `at` of that call (`time.monotonic()` as the fake's handler starts).
- the end of the update: bolt answers Slack first and runs the listener in a task of its
  own, so the HTTP answer says nothing about the reply. The channel's `_send` (which posts
  the reply) is wrapped on this instance; on its first call for the worker's update it
  adds a done-callback to the task it runs in, the listener's task (the one the channel
  puts in `_in_flight`). When that task ends the listener has returned: every call it made
  has been answered, as with the group-1 handler of bench_telegram. Counting the expected
  `chat.postMessage`s would need to know each reply's length in advance, and polling
  `_in_flight` would add the poll interval to the measure; the done-callback is exact.
- the fake's own time: for every call the bot made to the fake for that worker while
  handling the update (chat.update of a pressed message, earlier chat.postMessages of a
  multi-message reply, users.info, conversations.open), the time from the fake's handler
  starting to the fake recording the call (its `_record`, wrapped here), which includes
  reading, validating and answering. The bot waits for those answers, so they are in the
  end-to-end time although they are not the bot's work.
- added by the bot = (reply - posted) - the fake's own time.

Two phases, each `--seconds` long:

1. Peak rate (closed loop): every worker sends its next update as soon as the bot has
   finished its previous one; updates completed per second is the peak.
2. Half the peak (open loop): updates are sent on a fixed schedule at half the peak
   rate, each to a worker with nothing in flight, and p50/p95 are taken there. The
   target is that the bot adds p95 <= 20 ms at this rate.

Caveats. The Slack channel has no rate limiter of its own: slack_sdk's retry handlers only
act on a 429 (or a refused connection, or a 5xx), which the fake does not send unless
asked. So the peak is what one Python process does: the fake, the bot's aiohttp server,
bolt, the slack_sdk client and the workers share one event loop, and the turns run on the
service's own threads (SQLite, encryption) under the same GIL, so about one core of
Python work in all, whatever the machine has; updates queue in the closed loop for that
reason alone. slack_sdk's
`AsyncWebClient` without a `session` (as the channel builds it) opens a new aiohttp
session, so a new TCP connection, for every call; the baseline shows what that costs.
Button presses cost more calls (chat.update, then the next message), so the added latency
is also shown by kind. Only the fake's handler time is subtracted, not aiohttp's work
around it. The delivery's POST is measured from the moment the fake starts it, so the
fake's own serialising and signing of the request are counted as the bot's (well under a
millisecond). The time from posted to the bot's HTTP answer (the acknowledgement Slack
waits 3 s for) is printed as well; it is not part of the target.

For context, a bare `chat.postMessage` through slack_sdk's `AsyncWebClient` against the
fake is timed first (round trip, and the fake's part of it), built as the channel builds
it and again with one shared aiohttp session.

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

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402

from bot.channels.slack import SlackChannel  # noqa: E402
from bot.dialogues import load_catalog  # noqa: E402
from bot.messages import Reply  # noqa: E402
from bot.service import ConversationService  # noqa: E402
from bot.store.crypto import Cipher, generate_key  # noqa: E402
from bot.store.db import open_engine, upgrade  # noqa: E402
from bot.store.repository import Store  # noqa: E402
from tests.fakes.slack import Call, FakeSlack  # noqa: E402

EVENTS_PATH = "/slack/events"
BASELINE_USER = "U0BASELINE"
BASELINE_CALLS = 200
TURN_TIMEOUT_S = 30.0
# About 150 characters, long enough that no follow-up question is asked.
ANSWER = (
    "The visit went ahead as planned and the family were at home. The mother was tired "
    "but willing to talk, and the young person showed me drawings. ({n})"
)
FIRST_TEXT = "hello"
AGAIN = "reflect"
MENU_CHOICE = "Gibbs' reflective cycle"
CHOICE_PREFIX = "choice-"
# "Feelings (2 of 6)\n...", at the start of the message or of a paragraph in it
QUESTION = re.compile(r"^[A-Z][\w ]+ \(\d+ of \d+\)\n", re.MULTILINE)

TARGET_ADDED_P95_MS = 20.0


class BenchError(Exception):
    """The benchmark could not measure something (not a missed target)."""


# ---- records --------------------------------------------------------------------------


@dataclass
class Sent:
    """One update a worker sent, and what happened to it (times are time.monotonic())."""

    key: str  # the event_id or trigger_id: the fake's envelope id for the delivery
    user: str
    kind: str  # "answer", "press" or "command"
    enqueued: float
    posted: float | None = None
    acked: float | None = None
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
    retries: int = 0  # deliveries the fake sent again because no ack came in time

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

    def ack_by_kind(self) -> dict[str, tuple[int, float, float]]:
        """For each kind of update: how many acked, and p50/p95 from posted to the ack (ms)."""
        grouped: dict[str, list[float]] = defaultdict(list)
        for update in self.updates:
            ack = update.ack_ms
            if ack is not None:
                grouped[update.kind].append(ack)
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
    shared_round_trips_ms: list[float] = field(default_factory=list)
    shared_fake_ms: list[float] = field(default_factory=list)


@dataclass
class Target:
    name: str
    wanted: str
    value: float
    unit: str
    met: bool


# ---- the rig: fake, bot, instrumentation -------------------------------------------------


def delivery_key(payload: dict[str, Any]) -> str:
    """The envelope id the fake gives an HTTP delivery of this payload."""
    return str(payload.get("event_id") or payload.get("trigger_id") or "")


def choice_buttons(message: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The answer buttons of a message, in order (not the shortcut buttons)."""
    if message is None:
        return []
    return [
        element
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("type") == "button"
        and str(element.get("action_id", "")).startswith(CHOICE_PREFIX)
    ]


def shown(message: dict[str, Any]) -> str:
    """What a person reads in a message: its sections and context lines."""
    parts = []
    for block in message.get("blocks", []):
        if block.get("type") == "section":
            parts.append(block["text"]["text"])
        elif block.get("type") == "context":
            parts.extend(element.get("text", "") for element in block["elements"])
    return "\n".join(parts) or str(message.get("text", ""))


class Rig:
    """The fake Slack and the bot in HTTP mode, with the timing hooks."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.secret = secrets.token_urlsafe(32)
        self.sent: dict[str, Sent] = {}  # by delivery key
        self.current: dict[str, Sent] = {}  # by user: the update in flight
        self.waiting: dict[str, asyncio.Future[None]] = {}  # by delivery key
        self.owners: dict[str, str] = {}  # a user id or their DM's id -> the user id
        self.fake_calls: dict[str, list[FakeCall]] = defaultdict(list)
        self.channel: SlackChannel | None = None
        self.runner: web.AppRunner | None = None
        self.deliveries_started = 0
        self._instrument()

    def _instrument(self) -> None:
        """Wrap two of the fake's methods on this instance (its file is not changed)."""
        fake = self.fake
        deliver_http = fake._deliver_http
        record = fake._record

        async def timed_deliver(
            kind: str, payload: dict[str, Any], attempt: int, reason: str
        ) -> tuple[bool, str]:
            sent = self.sent.get(delivery_key(payload))
            if sent is not None and sent.posted is None:
                sent.posted = time.monotonic()
            return await deliver_http(kind, payload, attempt, reason)

        def timed_record(call: Call) -> None:
            end = time.monotonic()
            owner = self.owner_of(call)
            if owner is not None:
                self.fake_calls[owner].append(FakeCall(call.method, call.at, end))
            record(call)

        fake._deliver_http = timed_deliver  # type: ignore[method-assign]
        fake._record = timed_record  # type: ignore[method-assign]

    def owner_of(self, call: Call) -> str | None:
        for name in ("channel", "user", "users"):
            owner = self.owners.get(str(call.params.get(name, "")))
            if owner is not None:
                return owner
        return None

    def register(self, user_id: str) -> None:
        """A person of the fake's own workspace, whose calls are told apart."""
        self.fake.register_user(user_id, real_name=f"Worker {user_id}")
        self.owners[user_id] = user_id
        self.owners[self.fake.dm_channel(user_id)] = user_id

    async def start(self, service: ConversationService) -> None:
        channel = SlackChannel(
            service,
            bot_token=self.fake.bot_token,
            allowed_team_ids=[self.fake.team_id],
            api_base_url=self.fake.api_url,
            signing_secret=self.secret,
        )
        send = channel._send

        async def timed_send(user_id: str, reply: Reply) -> None:
            # The first `_send` of the worker's update, in the listener's task: when that
            # task ends, the listener has returned and the update is done.
            sent = self.current.get(user_id)
            task = asyncio.current_task()
            if sent is not None and task is not None and not reply.duplicate:
                self.current.pop(user_id, None)
                task.add_done_callback(lambda _task: self._finished(sent))
            await send(user_id, reply)

        channel._send = timed_send  # type: ignore[method-assign]
        self.channel = channel
        await channel.start_http()
        app = web.Application()
        app.router.add_post(EVENTS_PATH, channel.handle_http)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        host, port = self.runner.addresses[0][:2]
        self.fake.deliver_to(f"http://{host}:{port}{EVENTS_PATH}", self.secret)

    async def stop(self) -> None:
        # The bot answers a press's POST after its reply may have gone: let every delivery
        # finish before the server closes, so none is cut off.
        try:
            await self.fake.wait_for_deliveries(self.deliveries_started, timeout=10.0)
        except TimeoutError:
            logging.warning("some deliveries to the bot did not finish")
        if self.runner is not None:
            await self.runner.cleanup()
        if self.channel is not None:
            await self.channel.stop()

    def _finished(self, sent: Sent) -> None:
        sent.done = time.monotonic()
        self._settle(sent)
        future = self.waiting.pop(sent.key, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _settle(self, sent: Sent) -> None:
        """Find the update's reply and the fake's own time among the worker's calls."""
        assert sent.done is not None
        if sent.posted is None:
            return
        calls = [c for c in self.fake_calls[sent.user] if sent.posted <= c.at <= sent.done]
        replies = [c.at for c in calls if c.method == "chat.postMessage"]
        if not replies:
            return
        sent.reply_at = max(replies)
        sent.fake_s = sum(c.end - c.at for c in calls if c.end <= sent.reply_at)

    def count_calls(self, phase: Phase) -> None:
        ended = phase.started + phase.seconds
        calls = sum(
            1 for user in self.fake_calls.values() for c in user if phase.started <= c.at < ended
        )
        phase.bot_calls_per_s = calls / phase.seconds

    def note_acks(self, phase: Phase) -> None:
        """The bot's HTTP answers (first attempts), and the fake's retries, for the phase."""
        keys = {update.key for update in phase.updates}
        for delivery in self.fake.deliveries:
            if delivery.envelope_id not in keys:
                continue
            if delivery.attempt > 0:
                phase.retries += 1
            elif delivery.status is not None and 200 <= delivery.status < 300:
                self.sent[delivery.envelope_id].acked = delivery.at

    def last_bot_message(self, user_id: str) -> dict[str, Any] | None:
        """The newest message the bot sent in a worker's DM, without copying every message."""
        messages = self.fake.messages.get(self.fake.dm_channel(user_id), {})
        for message in reversed(messages.values()):
            if message.get("bot_id") == self.fake.bot_id:
                return message
        return None

    async def send(self, user_id: str, kind: str, payload: dict[str, Any], enqueued: float) -> Sent:
        # The fake's delivery task has not run yet: it starts at the next await.
        sent = Sent(delivery_key(payload), user_id, kind, enqueued)
        self.deliveries_started += 1
        self.sent[sent.key] = sent
        self.current[user_id] = sent
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[sent.key] = future
        try:
            await asyncio.wait_for(future, TURN_TIMEOUT_S)
        except TimeoutError:
            raise BenchError(
                f"update {sent.key} ({kind}) was not handled within {TURN_TIMEOUT_S} s"
            ) from None
        if sent.reply_at is None:
            raise BenchError(f"update {sent.key} ({kind}) got no chat.postMessage reply")
        return sent


class Worker:
    """One simulated social worker in a DM with the bot."""

    def __init__(self, rig: Rig, user_id: str) -> None:
        self.rig = rig
        self.user_id = user_id
        self.dm = rig.fake.dm_channel(user_id)
        self.answers = 0
        self.busy = False

    async def turn(self) -> Sent:
        """Send the next update the conversation calls for; wait until the bot is done."""
        fake = self.rig.fake
        last = self.rig.last_bot_message(self.user_id)
        buttons = choice_buttons(last)
        self.busy = True
        try:
            enqueued = time.monotonic()
            if last is None:
                kind, payload = "command", fake.user_sends_dm(self.user_id, FIRST_TEXT)
            elif buttons:
                wanted = [b for b in buttons if MENU_CHOICE in b["text"]["text"]]
                action_id = (wanted or buttons)[0]["action_id"]
                kind = "press"
                payload = fake.user_presses(self.user_id, last, action_id, channel=self.dm)
            elif QUESTION.search(shown(last)):
                self.answers += 1
                text = ANSWER.format(n=self.answers)
                kind, payload = "answer", fake.user_sends_dm(self.user_id, text)
            else:
                kind, payload = "command", fake.user_sends_dm(self.user_id, AGAIN)
            return await self.rig.send(self.user_id, kind, payload, enqueued)
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


async def baseline(fake: FakeSlack, rig: Rig) -> Baseline:
    """A bare chat.postMessage through slack_sdk against the fake, one at a time: with the
    client as the channel builds it (no session: one per call), then with a shared one."""
    rig.register(BASELINE_USER)
    found = Baseline()

    async def run(client: AsyncWebClient, trips: list[float], fake_ms: list[float]) -> None:
        for number in range(BASELINE_CALLS + 20):
            started = time.monotonic()
            await client.chat_postMessage(channel=BASELINE_USER, text=f"Baseline {number}.")
            elapsed = time.monotonic() - started
            call = rig.fake_calls[BASELINE_USER][-1]
            if number >= 20:  # the first ones warm up
                trips.append(elapsed * 1000)
                fake_ms.append((call.end - call.at) * 1000)

    await run(
        AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
        found.round_trips_ms,
        found.fake_ms,
    )
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, session=session)
        await run(client, found.shared_round_trips_ms, found.shared_fake_ms)
    return found


async def measure(args: argparse.Namespace, folder: Path) -> tuple[Baseline, Phase, Phase]:
    catalog = load_catalog([ROOT / "dialogues"])
    if catalog.problems:
        raise BenchError(f"the dialogues do not load: {catalog.problems}")
    engine = open_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    store = Store(engine, Cipher([generate_key()]))
    service = ConversationService(store, catalog)
    user_ids = [f"U0W{n:07d}" for n in range(1, args.workers + 1)]
    try:
        async with FakeSlack() as fake:
            rig = Rig(fake)
            found = await baseline(fake, rig)
            for user_id in user_ids:
                rig.register(user_id)
            await rig.start(service)
            try:
                workers = [Worker(rig, user_id) for user_id in user_ids]
                # Warm-up, not measured: the first DM, then the press on Gibbs in the menu.
                for _ in range(2):
                    await asyncio.gather(*(worker.turn() for worker in workers))
                peak = await closed_loop(workers, args.seconds)
                half = await open_loop(workers, args.seconds, peak.per_second / 2)
            finally:
                await rig.stop()
            for phase in (peak, half):
                rig.count_calls(phase)
                rig.note_acks(phase)
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


def by_kind_json(found: dict[str, tuple[int, float, float]]) -> dict[str, Any]:
    return {
        kind: {"updates": n, "p50": round(p50, 3), "p95": round(p95, 3)}
        for kind, (n, p50, p95) in found.items()
    }


def phase_json(phase: Phase) -> dict[str, Any]:
    return {
        "updates": len(phase.updates),
        "seconds": round(phase.seconds, 3),
        "updates_per_s": round(phase.per_second, 1),
        "offered_per_s": round(phase.offered_per_s, 1) if phase.offered_per_s else None,
        "ticks_with_every_worker_busy": phase.all_busy,
        "bot_calls_to_fake_per_s": round(phase.bot_calls_per_s, 1),
        "delivery_retries": phase.retries,
        "kinds": phase.kinds(),
        "added_by_kind_ms": by_kind_json(phase.added_by_kind()),
        "ack_by_kind_ms": by_kind_json(phase.ack_by_kind()),
        **{name: round(value, 3) for name, value in phase.stats().items()},
    }


def report_json(
    base: Baseline, peak: Phase, half: Phase, found: list[Target], args: argparse.Namespace
) -> str:
    report = {
        "workers": args.workers,
        "seconds_per_phase": args.seconds,
        "python": sys.version.split()[0],
        "latency_from": "the fake starting its signed HTTP POST of the delivery",
        "latency_to": "the bot's last chat.postMessage for the update arriving at the fake",
        "baseline_chat_post_message": {
            "calls": len(base.round_trips_ms),
            "round_trip_p50_ms": round(percentile(base.round_trips_ms, 50), 3),
            "round_trip_p95_ms": round(percentile(base.round_trips_ms, 95), 3),
            "fake_p50_ms": round(percentile(base.fake_ms, 50), 3),
            "shared_session_round_trip_p50_ms": round(
                percentile(base.shared_round_trips_ms, 50), 3
            ),
            "shared_session_round_trip_p95_ms": round(
                percentile(base.shared_round_trips_ms, 95), 3
            ),
            "shared_session_fake_p50_ms": round(percentile(base.shared_fake_ms, 50), 3),
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


def by_kind_text(found: dict[str, tuple[int, float, float]]) -> str:
    return "; ".join(
        f"{kind} {n}: p50 {p50:.2f}, p95 {p95:.2f}" for kind, (n, p50, p95) in found.items()
    )


def report_text(
    base: Baseline, peak: Phase, half: Phase, found: list[Target], args: argparse.Namespace
) -> str:
    half_stats = half.stats()
    lines = [
        f"Critical Friend Slack benchmark: HTTP mode, {args.workers} workers, "
        f"{args.seconds:g} s per phase, SQLite, Python {sys.version.split()[0]}",
        "",
        "latency of one update: from the fake starting its signed POST of the event or press",
        "to the bot's last chat.postMessage for it arriving at the fake; 'fake' is the fake's",
        "own handling of the bot's calls in between; 'bot adds' = end-to-end - fake (all in ms)",
        "",
        f"{'phase':<22} {'updates':>7} {'updates/s':>9} "
        f"{'e2e p50':>7} {'e2e p95':>7} {'fake50':>7} {'fake95':>7} "
        f"{'add p50':>7} {'add p95':>7}",
        phase_line(peak),
        phase_line(half),
        "",
        f"(peak: the bot made {peak.bot_calls_per_s:.1f} calls/s to the fake; the Slack "
        f"channel has no rate limiter: the limit is this process's CPU, one GIL; "
        f"retried deliveries: {peak.retries})",
        f"(half peak: offered {half.offered_per_s or 0.0:.1f} updates/s; "
        f"ticks with every worker busy: {half.all_busy}; retried deliveries: {half.retries})",
        f"(half peak, bot adds by kind of update, ms: {by_kind_text(half.added_by_kind())})",
        f"(half peak, from the POST to the bot's HTTP answer (the ack), ms: "
        f"{by_kind_text(half.ack_by_kind())})",
        f"(half peak, from the worker acting instead of the POST: "
        f"p50 {half_stats['from_enqueue_p50_ms']:.2f} ms, "
        f"p95 {half_stats['from_enqueue_p95_ms']:.2f} ms)",
        f"(a bare chat.postMessage via AsyncWebClient against the fake: round trip "
        f"p50 {percentile(base.round_trips_ms, 50):.2f} ms, "
        f"p95 {percentile(base.round_trips_ms, 95):.2f} ms; "
        f"of which the fake p50 {percentile(base.fake_ms, 50):.2f} ms)",
        f"(the same with one shared aiohttp session: round trip "
        f"p50 {percentile(base.shared_round_trips_ms, 50):.2f} ms, "
        f"p95 {percentile(base.shared_round_trips_ms, 95):.2f} ms; "
        f"of which the fake p50 {percentile(base.shared_fake_ms, 50):.2f} ms)",
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
        print("measuring the Slack channel in HTTP mode ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="cf-bench-slack-") as temp:
        base, peak, half = asyncio.run(measure(args, Path(temp)))
    found = targets(half)
    render = report_json if args.json else report_text
    print(render(base, peak, half, found, args))
    return 1 if args.check and not all(t.met for t in found) else 0


if __name__ == "__main__":
    raise SystemExit(main())
