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
import logging
import secrets
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402

from bench import loadgen  # noqa: E402
from bench.loadgen import ANSWER, QUESTION, Baseline, FakeCall, Phase, Sent, Target  # noqa: E402
from bot.channels.slack import SlackChannel  # noqa: E402
from bot.messages import Reply  # noqa: E402
from bot.service import ConversationService  # noqa: E402
from tests.fakes.slack import Call, FakeSlack  # noqa: E402

EVENTS_PATH = "/slack/events"
BASELINE_USER = "U0BASELINE"
FIRST_TEXT = "hello"
AGAIN = "reflect"
MENU_CHOICE = "Gibbs' reflective cycle"
CHOICE_PREFIX = "choice-"


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


class Rig(loadgen.Tracker):
    """The fake Slack and the bot in HTTP mode, with the timing hooks."""

    reply_method = "chat.postMessage"

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__()
        self.fake = fake
        self.secret = secrets.token_urlsafe(32)
        self.current: dict[str, Sent] = {}  # by user: the update in flight
        self.owners: dict[str, str] = {}  # a user id or their DM's id -> the user id
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
                task.add_done_callback(lambda _task: self.finished(sent))
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
        self.current[user_id] = sent
        return await self.wait(sent)


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


# ---- measuring -----------------------------------------------------------------------------


async def baseline(fake: FakeSlack, rig: Rig) -> tuple[Baseline, Baseline]:
    """A bare chat.postMessage through slack_sdk against the fake, one at a time: with the
    client as the channel builds it (no session: one per call), then with a shared one."""
    rig.register(BASELINE_USER)

    async def run(client: AsyncWebClient) -> Baseline:
        return await loadgen.time_calls(
            lambda n: client.chat_postMessage(channel=BASELINE_USER, text=f"Baseline {n}."),
            rig,
            BASELINE_USER,
        )

    per_call = await run(AsyncWebClient(token=fake.bot_token, base_url=fake.api_url))
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, session=session)
        shared = await run(client)
    return per_call, shared


async def measure(
    args: argparse.Namespace, folder: Path
) -> tuple[tuple[Baseline, Baseline], Phase, Phase]:
    user_ids = [f"U0W{n:07d}" for n in range(1, args.workers + 1)]
    with loadgen.conversation_service(folder) as service:
        async with FakeSlack() as fake:
            rig = Rig(fake)
            found = await baseline(fake, rig)
            for user_id in user_ids:
                rig.register(user_id)
            await rig.start(service)
            try:
                workers = [Worker(rig, user_id) for user_id in user_ids]
                # Warm-up, not measured: the first DM, then the press on Gibbs in the menu.
                peak, half = await loadgen.phases(workers, args.seconds)
            finally:
                await rig.stop()
            for phase in (peak, half):
                rig.count_calls(phase)
                rig.note_acks(phase)
    return found, peak, half


# ---- output ----------------------------------------------------------------------------


def report(
    bases: tuple[Baseline, Baseline],
    peak: Phase,
    half: Phase,
    found: list[Target],
    args: argparse.Namespace,
) -> str:
    base, shared = bases
    if args.json:
        about = {
            "latency_from": "the fake starting its signed HTTP POST of the delivery",
            "latency_to": "the bot's last chat.postMessage for the update arriving at the fake",
            "baseline_chat_post_message": {
                **loadgen.baseline_json(base),
                **{
                    f"shared_session_{name}": value
                    for name, value in loadgen.baseline_json(shared).items()
                    if name != "calls"
                },
            },
        }
        return loadgen.report_json(about, peak, half, found, args, acks=True)
    return loadgen.report_text(
        "Slack benchmark: HTTP mode",
        [
            "latency of one update: from the fake starting its signed POST of the event or press",
            "to the bot's last chat.postMessage for it arriving at the fake; 'fake' is the fake's",
            "own handling of the bot's calls in between; 'bot adds' = end-to-end - fake (all in ms)",
        ],
        peak,
        half,
        [
            f"(peak: the bot made {peak.bot_calls_per_s:.1f} calls/s to the fake; the Slack "
            f"channel has no rate limiter: the limit is this process's CPU, one GIL; "
            f"retried deliveries: {peak.retries})",
            f"(half peak: offered {half.offered_per_s or 0.0:.1f} updates/s; "
            f"ticks with every worker busy: {half.all_busy}; retried deliveries: {half.retries})",
            loadgen.added_by_kind_note(half),
            f"(half peak, from the POST to the bot's HTTP answer (the ack), ms: "
            f"{loadgen.by_kind_text(half.ack_by_kind())})",
            loadgen.from_enqueue_note(half, "acting"),
            loadgen.baseline_note(
                "a bare chat.postMessage via AsyncWebClient against the fake", base
            ),
            loadgen.baseline_note("the same with one shared aiohttp session", shared),
        ],
        found,
        args,
    )


def main(argv: list[str] | None = None) -> int:
    return loadgen.run(argv, __doc__, "slack", "the Slack channel in HTTP mode", measure, report)


if __name__ == "__main__":
    raise SystemExit(main())
