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
import secrets
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import Bot, Update  # noqa: E402
from telegram.constants import FloodLimit  # noqa: E402
from telegram.ext import ContextTypes, TypeHandler  # noqa: E402

from bench import loadgen  # noqa: E402
from bench.loadgen import ANSWER, QUESTION, Baseline, FakeCall, Phase, Sent, Target  # noqa: E402
from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.service import ConversationService  # noqa: E402
from bot.web import WebServer, build_app, start_server  # noqa: E402
from tests.fakes.telegram import Call, FakeTelegram  # noqa: E402

WEBHOOK_PATH = "/telegram"
FIRST_USER_ID = 900_001
BASELINE_CHAT = 899_999
RATE_LIMIT_PER_S = FloodLimit.MESSAGES_PER_SECOND  # Telegram's overall limit, the channel's default


# ---- the rig: fake, bot, instrumentation -------------------------------------------------


def chat_of(call: Call) -> int | None:
    try:
        return int(call.params.get("chat_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class Rig(loadgen.Tracker):
    """The fake Bot API and the bot in webhook mode, with the timing hooks."""

    reply_method = "sendMessage"

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__()
        self.fake = fake
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
            sent = self.sent.get(update.update_id)
            if sent is not None:
                self.finished(sent)

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
        return await self.wait(Sent(update["update_id"], chat, kind, enqueued))


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


# ---- measuring -----------------------------------------------------------------------------


async def baseline(fake: FakeTelegram, rig: Rig) -> Baseline:
    """A bare sendMessage through python-telegram-bot against the fake, one at a time."""
    fake.register_user(BASELINE_CHAT)
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        return await loadgen.time_calls(
            lambda n: bot.send_message(BASELINE_CHAT, f"Baseline message {n}."),
            rig,
            BASELINE_CHAT,
        )


async def measure(args: argparse.Namespace, folder: Path) -> tuple[Baseline, Phase, Phase]:
    user_ids = [FIRST_USER_ID + n for n in range(args.workers)]
    with loadgen.conversation_service(folder) as service:
        async with FakeTelegram() as fake:
            rig = Rig(fake)
            found = await baseline(fake, rig)
            await rig.start(service, user_ids)
            try:
                workers = [Worker(rig, user_id) for user_id in user_ids]
                # Warm-up, not measured: /start, then the press on Gibbs in the menu.
                peak, half = await loadgen.phases(workers, args.seconds)
                rig.count_calls(peak)
                rig.count_calls(half)
            finally:
                await rig.stop()
    return found, peak, half


# ---- output ----------------------------------------------------------------------------


def report(
    base: Baseline, peak: Phase, half: Phase, found: list[Target], args: argparse.Namespace
) -> str:
    if args.json:
        about = {
            "latency_from": "the fake starting its webhook POST of the update",
            "latency_to": "the bot's last sendMessage for the update arriving at the fake",
            "baseline_send_message": loadgen.baseline_json(base),
        }
        return loadgen.report_json(about, peak, half, found, args)
    return loadgen.report_text(
        "Telegram benchmark: webhook mode",
        [
            "latency of one update: from the fake starting its webhook POST of the update to the",
            "bot's last sendMessage for it arriving at the fake; 'fake' is the fake's own handling",
            "of the bot's calls in between; 'bot adds' = end-to-end - fake (all in ms)",
        ],
        peak,
        half,
        [
            f"(peak: the bot made {peak.bot_calls_per_s:.1f} calls/s to the fake; "
            f"Telegram allows {RATE_LIMIT_PER_S:g}/s in all; the channel's limiter paces calls "
            "to a chat under it)",
            f"(half peak: offered {half.offered_per_s or 0.0:.1f} updates/s; "
            f"ticks with every worker busy: {half.all_busy})",
            loadgen.added_by_kind_note(half),
            loadgen.from_enqueue_note(half, "enqueuing the update"),
            loadgen.baseline_note("a bare sendMessage via telegram.Bot against the fake", base),
        ],
        found,
        args,
    )


def main(argv: list[str] | None = None) -> int:
    return loadgen.run(
        argv, __doc__, "telegram", "the Telegram channel in webhook mode", measure, report
    )


if __name__ == "__main__":
    raise SystemExit(main())
