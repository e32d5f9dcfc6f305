"""The Telegram channel: the real python-telegram-bot against the loopback fake Bot API."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.channels import telegram_words as words
from bot.channels.telegram import CHANNEL, TYPING_AFTER_S, TelegramChannel, split_message
from bot.messages import Admission, Gate, Incoming, Reply, UserRef
from bot.service import ConversationService
from bot.store.invites import InviteBook
from bot.store.models import answers, identities, users
from bot.store.repository import Store
from tests.chat_process import cli_env
from tests.fakes.telegram import FakeTelegram
from tests.worker import finish_a_reflection

WORKER = 501
LONG = "We met at the family home and talked through the plan for the coming weeks together."


def with_bot(
    service: ConversationService, scenario: Callable[[FakeTelegram], Awaitable[None]]
) -> None:
    async def run() -> None:
        async with FakeTelegram() as fake:
            channel = TelegramChannel(service, token=fake.token, base_url=fake.base_url)
            await channel.start(poll_timeout=1)
            try:
                await scenario(fake)
            finally:
                await channel.stop()

    asyncio.run(run())


GREETING = "never shared without asking you first"


async def texts_after(fake: FakeTelegram, chat: int, count: int, within: float = 10) -> list[str]:
    """Wait until the bot has sent at least `count` messages to the chat; return all texts."""
    await fake.wait_for(
        lambda call: call.method == "sendMessage" and len(fake.sent_texts(chat)) >= count,
        timeout=within,
    )
    return fake.sent_texts(chat)


def last_keyboard(fake: FakeTelegram, chat: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    message = next(m for m in reversed(fake.sent_messages(chat)) if m.get("reply_markup"))
    buttons = [button for row in message["reply_markup"]["inline_keyboard"] for button in row]
    return message, buttons


async def join_and_start_gibbs(
    fake: FakeTelegram, code: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Join with an invitation and press the first model (Gibbs); the menu and its buttons."""
    fake.user_sends_text(WORKER, f"/start {code}")
    await texts_after(fake, WORKER, 1)
    menu, buttons = last_keyboard(fake, WORKER)
    assert "Gibbs' reflective cycle" in buttons[0]["text"]
    fake.user_presses(WORKER, menu, buttons[0]["callback_data"])
    await texts_after(fake, WORKER, 2)
    return menu, buttons


def invite(store: Store, clock: Any) -> str:
    with store.engine.begin() as connection:
        return InviteBook(connection).create("Riverside", clock.now)[1]


def test_an_invited_worker_reflects_with_buttons_and_text(
    service: ConversationService, store: Store, clock: Any
) -> None:
    code = invite(store, clock)

    async def scenario(fake: FakeTelegram) -> None:
        await fake.wait_for("setMyCommands")
        fake.user_sends_text(WORKER, f"/start {code}")
        said = await texts_after(fake, WORKER, 1)
        assert said[0].startswith("Hello")
        assert GREETING in said[0]
        message, buttons = last_keyboard(fake, WORKER)
        gibbs = next(b for b in buttons if "Gibbs' reflective cycle" in b["text"])
        fake.user_presses(WORKER, message, gibbs["callback_data"])
        await fake.wait_for("answerCallbackQuery")
        said = await texts_after(fake, WORKER, 2)
        assert any("\nDescription (1 of 6)" in text for text in said)
        assert said[-1].endswith("Type help to see what each does.)")  # the footer
        await fake.wait_for("editMessageText")
        said = fake.sent_texts(WORKER)
        assert "→ Gibbs' reflective cycle" in "\n".join(said)  # the keyboard became the choice
        fake.user_sends_text(WORKER, LONG)
        said = await texts_after(fake, WORKER, 3)
        assert said[-1].startswith("Feelings (2 of 6)")

    with_bot(service, scenario)
    with store.engine.connect() as connection:
        assert len(connection.execute(select(answers)).all()) == 1


def test_a_stranger_is_told_politely_and_nothing_is_stored(
    service: ConversationService, store: Store
) -> None:
    async def scenario(fake: FakeTelegram) -> None:
        fake.user_sends_text(777, "/start")
        fake.user_sends_text(777, "hello, can I use this?")
        said = await texts_after(fake, 777, 2)
        assert said == [words.MEMBERS_ONLY, words.MEMBERS_ONLY]

    with_bot(service, scenario)
    with store.engine.connect() as connection:
        assert connection.execute(select(identities)).all() == []
        assert connection.execute(select(users)).all() == []


def test_a_stale_button_changes_nothing_and_every_press_is_answered(
    service: ConversationService, store: Store, clock: Any
) -> None:
    code = invite(store, clock)

    async def scenario(fake: FakeTelegram) -> None:
        menu, buttons = await join_and_start_gibbs(fake, code)
        fake.user_presses(WORKER, menu, buttons[1]["callback_data"], require_button=False)
        said = await texts_after(fake, WORKER, 3)
        assert any("moved on" in text for text in said[2:])
        await fake.wait_for("answerCallbackQuery", count=2)
        # A dead keyboard is taken away, with no second label: nothing more was chosen.
        cleared = await fake.wait_for("editMessageReplyMarkup")
        assert cleared.params["message_id"] == menu["message_id"]
        assert fake.sent_texts(WORKER)[0].count("→") == 1

    with_bot(service, scenario)


def test_a_photo_gets_a_kind_reply_and_a_group_is_sent_to_a_private_chat(
    service: ConversationService, store: Store, clock: Any
) -> None:
    code = invite(store, clock)

    async def scenario(fake: FakeTelegram) -> None:
        fake.user_sends_text(WORKER, f"/start {code}")
        await texts_after(fake, WORKER, 1)
        photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 10, "height": 10}]
        fake.user_sends({"message": fake.new_message(WORKER, photo=photo)})
        said = await texts_after(fake, WORKER, 2)
        assert "only read text" in said[1]
        fake.register_chat(-100, "group", title="Team room")
        fake.user_sends_text(WORKER, "/reflect", chat_type="group", chat_id=-100)
        said = await texts_after(fake, -100, 1)
        assert said == [words.NOT_IN_GROUPS]

    with_bot(service, scenario)


def test_an_update_delivered_twice_is_handled_once(
    service: ConversationService, store: Store, clock: Any
) -> None:
    code = invite(store, clock)

    async def scenario(fake: FakeTelegram) -> None:
        await join_and_start_gibbs(fake, code)
        update = {"message": fake.new_message(WORKER, text=LONG)}
        fake.deliver_twice(update)
        await texts_after(fake, WORKER, 3)
        await asyncio.sleep(1.5)

    with_bot(service, scenario)
    with store.engine.connect() as connection:
        assert len(connection.execute(select(answers)).all()) == 1


def test_a_429_is_waited_out_and_the_message_arrives_once(
    service: ConversationService, store: Store, clock: Any
) -> None:
    code = invite(store, clock)

    async def scenario(fake: FakeTelegram) -> None:
        fake.fail_next("sendMessage", 429, retry_after=1)
        fake.user_sends_text(WORKER, f"/start {code}")
        said = await texts_after(fake, WORKER, 1, within=15)
        assert sum(GREETING in text for text in said) == 1
        refused = [c for c in fake.calls_to("sendMessage") if c.status == 429]
        accepted = [c for c in fake.calls_to("sendMessage") if c.status == 200]
        assert len(refused) == 1
        assert accepted[0].at - refused[0].at >= 1.0

    with_bot(service, scenario)


def test_long_messages_are_split_under_telegrams_limit() -> None:
    text = ("A paragraph of reflection. " * 40 + "\n\n") * 12
    pieces = split_message(text)
    assert len(pieces) > 1
    assert all(0 < len(piece) <= 4096 for piece in pieces)
    assert "".join(piece.replace("\n", "").replace(" ", "") for piece in pieces) == text.replace(
        "\n", ""
    ).replace(" ", "")


def test_critical_friend_run_serves_telegram_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str, list[str]]:
        async with FakeTelegram() as fake:
            config = tmp_path / "config.yaml"
            config.write_text(
                f"telegram:\n  token: '{fake.token}'\n  base_url: {fake.base_url}\n"
                f"  allowed_user_ids: [{WORKER}]\n"
            )
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(config),
                env=cli_env(tmp_path),
                stdin=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                await fake.wait_for("setMyCommands", timeout=30)
                fake.user_sends_text(WORKER, "/start")
                said = await texts_after(fake, WORKER, 1, within=30)
                process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(process.wait(), 30)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            assert process.stderr is not None
            errors = (await process.stderr.read()).decode()
            return code, errors, said

    code, errors, said = asyncio.run(scenario())
    assert code == 0
    assert "Traceback" not in errors
    assert said[0].startswith("Hello")
    assert GREETING in said[0]
    assert said[-1].endswith("Which way of reflecting would you like to use?")


def test_webhook_mode_checks_the_secret_and_serves_a_reflection(
    service: ConversationService, store: Store, clock: Any
) -> None:
    import aiohttp

    from bot.web import TELEGRAM_HEADER, build_app, start_server

    code = invite(store, clock)
    secret = "a-webhook-secret-0123456789"

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            channel = TelegramChannel(service, token=fake.token, base_url=fake.base_url)
            server = await start_server(
                build_app(telegram_path="/telegram", telegram=channel.receive), "127.0.0.1", 0
            )
            try:
                await channel.start_webhook(url=f"{server.url}/telegram", secret_token=secret)
                async with aiohttp.ClientSession() as session:
                    health = await session.get(f"{server.url}/healthz")
                    assert health.status == 200
                    forged = {"update_id": 1, "message": fake.new_message(WORKER, text="/start")}
                    for headers in ({}, {TELEGRAM_HEADER: "wrong"}):
                        answer = await session.post(
                            f"{server.url}/telegram", json=forged, headers=headers
                        )
                        assert answer.status == 403
                await asyncio.sleep(0.3)
                assert fake.calls_to("sendMessage") == []  # nothing was processed
                fake.user_sends_text(WORKER, f"/start {code}")
                said = await texts_after(fake, WORKER, 1)
                assert said[0].startswith("Hello")
                assert GREETING in said[0]
                menu, buttons = last_keyboard(fake, WORKER)
                fake.user_presses(WORKER, menu, buttons[0]["callback_data"])
                said = await texts_after(fake, WORKER, 2)
                assert any("\nDescription (1 of 6)" in text for text in said)
                assert all(d.status == 200 for d in fake.webhook_deliveries)
                assert [c for c in fake.calls if c.method == "getUpdates"] == []
            finally:
                await server.stop()
                await channel.stop()

    asyncio.run(scenario())
    with store.engine.connect() as connection:
        assert (
            len(connection.execute(select(identities)).all()) == 1
        )  # the forged /start left nothing


def test_after_a_restart_the_worker_is_offered_their_reflection_back(
    service: ConversationService, store: Store, clock: Any
) -> None:
    code = invite(store, clock)

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            first = TelegramChannel(service, token=fake.token, base_url=fake.base_url)
            await first.start(poll_timeout=1)
            try:
                await join_and_start_gibbs(fake, code)
                fake.user_sends_text(WORKER, LONG)
                said = await texts_after(fake, WORKER, 3)
                where = said[-1]
                assert where.startswith("Feelings (2 of 6)")
            finally:
                await first.stop()
            again = TelegramChannel(service, token=fake.token, base_url=fake.base_url)
            await again.start(poll_timeout=1)
            try:
                fake.user_sends_text(WORKER, "/reflect")
                said = await texts_after(fake, WORKER, 4)
                assert "haven't finished" in said[-1]
                offer, buttons = last_keyboard(fake, WORKER)
                fake.user_presses(WORKER, offer, buttons[0]["callback_data"])
                said = await texts_after(fake, WORKER, 5)
                assert where in said[-1]
            finally:
                await again.stop()

    asyncio.run(scenario())


def test_a_bad_gateway_is_retried_and_the_message_arrives_once(
    service: ConversationService, store: Store, clock: Any
) -> None:
    code = invite(store, clock)

    async def scenario(fake: FakeTelegram) -> None:
        fake.fail_next("sendMessage", 502, times=2)
        fake.user_sends_text(WORKER, f"/start {code}")
        said = await texts_after(fake, WORKER, 1, within=15)
        assert sum(GREETING in text for text in said) == 1
        statuses = [c.status for c in fake.calls_to("sendMessage")]
        assert statuses[:3] == [502, 502, 200]

    with_bot(service, scenario)


def test_a_webhook_secret_that_is_not_ascii_is_refused_not_a_crash(
    service: ConversationService,
) -> None:
    async def scenario() -> None:
        async with FakeTelegram() as fake:
            channel = TelegramChannel(service, token=fake.token, base_url=fake.base_url)
            await channel.start_webhook(url="http://127.0.0.1:9/telegram", secret_token="s" * 20)
            try:
                assert await channel.receive("sëcrét", b"{}") == 403
                assert await channel.receive(None, b"{}") == 403
                assert await channel.receive("s" * 20, b"not json") == 400
            finally:
                await channel.stop()

    asyncio.run(scenario())


def test_an_update_redelivered_by_webhook_is_handled_once(
    service: ConversationService, store: Store, clock: Any
) -> None:
    from bot.web import build_app, start_server

    code = invite(store, clock)

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            channel = TelegramChannel(service, token=fake.token, base_url=fake.base_url)
            server = await start_server(
                build_app(telegram_path="/telegram", telegram=channel.receive), "127.0.0.1", 0
            )
            try:
                await channel.start_webhook(
                    url=f"{server.url}/telegram", secret_token="a-webhook-secret-0123456789"
                )
                await join_and_start_gibbs(fake, code)
                fake.deliver_twice({"message": fake.new_message(WORKER, text=LONG)})
                await fake.wait_for_deliveries(count=4)
                await texts_after(fake, WORKER, 3)
                await asyncio.sleep(1.0)
            finally:
                await server.stop()
                await channel.stop()

    asyncio.run(scenario())
    with store.engine.connect() as connection:
        assert len(connection.execute(select(answers)).all()) == 1


class SlowService:
    """The real service, made slow for one word, as a busy database would make it."""

    def __init__(self, inner: ConversationService, slow_text: str, delay: float) -> None:
        self.inner = inner
        self.slow_text = slow_text
        self.delay = delay

    async def handle(self, incoming: Incoming, gate: Gate | None = None) -> Reply:
        if incoming.text == self.slow_text:
            await asyncio.sleep(self.delay)
        return await self.inner.handle(incoming, gate)

    async def admit(self, user: UserRef, invite_code: str | None, *, allowed: bool) -> Admission:
        return await self.inner.admit(user, invite_code, allowed=allowed)


def test_typing_shows_only_while_a_slow_reply_is_awaited(service: ConversationService) -> None:
    async def scenario() -> None:
        async with FakeTelegram() as fake:
            slow = SlowService(service, "help", TYPING_AFTER_S + 0.5)
            channel = TelegramChannel(
                slow, token=fake.token, base_url=fake.base_url, allowed_user_ids=[WORKER]
            )
            await channel.start(poll_timeout=1)
            try:
                fake.user_sends_text(WORKER, "/start")
                await texts_after(fake, WORKER, 1)
                assert fake.calls_to("sendChatAction") == []  # a quick reply needs no signal
                fake.user_sends_text(WORKER, "help")
                await texts_after(fake, WORKER, 2)
                typing = fake.calls_to("sendChatAction")
                assert len(typing) == 1
                assert typing[0].params["action"] == "typing"
                assert typing[0].at < fake.calls_to("sendMessage")[-1].at
            finally:
                await channel.stop()

    asyncio.run(scenario())


def test_the_journal_opens_an_entry_with_a_button(
    service: ConversationService, store: Store
) -> None:
    finish_a_reflection(service, UserRef(CHANNEL, str(WORKER), "Sam"), LONG)

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            channel = TelegramChannel(
                service, token=fake.token, base_url=fake.base_url, allowed_user_ids=[WORKER]
            )
            await channel.start(poll_timeout=1)
            try:
                fake.user_sends_text(WORKER, "/journal")
                said = await texts_after(fake, WORKER, 1)
                assert "journal 1" in said[0]  # how to open one by typing, too
                listing, buttons = last_keyboard(fake, WORKER)
                assert [b["callback_data"] for b in buttons] == ["/journal 1"]
                assert "Gibbs" in buttons[0]["text"]
                for times in (1, 2):  # the list stays, so an entry can be opened again
                    fake.user_presses(WORKER, listing, buttons[0]["callback_data"])
                    said = await texts_after(fake, WORKER, 1 + times)
                    assert said[-1].startswith("Quick Gibbs, ")
                    assert LONG[:40] in said[-1]
                await fake.wait_for("answerCallbackQuery", count=2)
                assert fake.calls_to("editMessageText") == []
            finally:
                await channel.stop()

    asyncio.run(scenario())


def test_a_reply_that_times_out_is_not_sent_again(service: ConversationService) -> None:
    async def scenario() -> None:
        async with FakeTelegram() as fake:
            channel = TelegramChannel(
                service,
                token=fake.token,
                base_url=fake.base_url,
                allowed_user_ids=[WORKER],
                request_timeout=0.5,
            )
            await channel.start(poll_timeout=1)
            try:
                # Telegram takes the message but answers too late: it may well have arrived,
                # so sending it again could show the worker the same words twice.
                fake.slow_next("sendMessage", 1.5)
                fake.user_sends_text(WORKER, "/start")
                await fake.wait_for(lambda call: call.method == "sendMessage", timeout=5)
                await asyncio.sleep(2.0)
                assert [c.status for c in fake.calls_to("sendMessage")] == [499]
                assert len(fake.sent_texts(WORKER)) == 1
                fake.user_sends_text(WORKER, "help")  # the chat carries on as normal
                said = await texts_after(fake, WORKER, 2)
                assert "pause" in said[-1]
            finally:
                await channel.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("mode", ["polling", "webhook"])
def test_a_whole_gibbs_reflection_by_text_and_buttons(
    mode: str, service: ConversationService, store: Store, clock: Any
) -> None:
    from bot.web import build_app, start_server
    from tests.worker import only_reflection

    code = invite(store, clock)

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            channel = TelegramChannel(service, token=fake.token, base_url=fake.base_url)
            server = None
            if mode == "polling":
                await channel.start(poll_timeout=1)
            else:
                app = build_app(telegram_path="/telegram", telegram=channel.receive)
                server = await start_server(app, "127.0.0.1", 0)
                await channel.start_webhook(
                    url=f"{server.url}/telegram", secret_token="a-webhook-secret-0123456789"
                )
            try:
                await join_and_start_gibbs(fake, code)
                count = 2
                while True:
                    last = fake.sent_messages(WORKER)[-1]
                    if last.get("reply_markup"):
                        break
                    fake.user_sends_text(WORKER, LONG)
                    count += 1
                    await texts_after(fake, WORKER, count)
                message, buttons = last_keyboard(fake, WORKER)
                assert buttons[0]["text"] == "In a week"
                fake.user_presses(WORKER, message, buttons[0]["callback_data"])
                said = await texts_after(fake, WORKER, count + 1)
                assert "journal" in said[-1].lower()
                if mode == "webhook":
                    assert [c for c in fake.calls if c.method == "getUpdates"] == []
            finally:
                if server is not None:
                    await server.stop()
                await channel.stop()

    asyncio.run(scenario())
    record = only_reflection(store, UserRef(CHANNEL, str(WORKER)))
    assert record.dialogue_id == "gibbs"
    assert record.answers["what_happened"] == LONG
    assert record.answers["check_in"] == "In a week"


def test_a_pushed_nudge_arrives_and_a_blocked_bot_or_an_outage_is_reported(
    service: ConversationService,
) -> None:
    from bot.messages import Choice, Outgoing, Pushed

    nudge = [Outgoing("Time to look back?", shortcuts=(Choice("reflect weekly", "Reflect now"),))]

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            channel = TelegramChannel(service, token=fake.token, base_url=fake.base_url)
            await channel.application.initialize()
            try:
                fake.register_user(WORKER)
                assert await channel.push(UserRef(CHANNEL, str(WORKER)), nudge) is Pushed.SENT
                (sent,) = fake.sent_messages(WORKER)
                assert sent["text"] == "Time to look back?"
                button = sent["reply_markup"]["inline_keyboard"][0][0]
                assert button["callback_data"] == "/reflect weekly"
                fake.fail_next("sendMessage", 502, times=4)  # more than the backoff covers
                assert await channel.push(UserRef(CHANNEL, str(WORKER)), nudge) is Pushed.RETRY
                # Over the flood limit for longer than the rate limiter retries: not "gone".
                fake.fail_next("sendMessage", 429, retry_after=1, times=5)
                assert await channel.push(UserRef(CHANNEL, str(WORKER)), nudge) is Pushed.RETRY
                fake.user_blocks_bot(WORKER)
                assert await channel.push(UserRef(CHANNEL, str(WORKER)), nudge) is Pushed.GONE
                assert await channel.push(UserRef("slack", "T1:U1"), nudge) is Pushed.GONE
                assert len(fake.sent_messages(WORKER)) == 1
            finally:
                await channel.application.shutdown()

    asyncio.run(scenario())


def test_pushes_are_paced_under_the_flood_limit_without_429s(
    service: ConversationService,
) -> None:
    from bot.messages import Outgoing

    async def scenario() -> None:
        async with FakeTelegram(max_messages_per_second=50) as fake:
            channel = TelegramChannel(
                service, token=fake.token, base_url=fake.base_url, messages_per_second=50
            )
            await channel.application.initialize()
            try:
                for chat in range(1, 121):
                    fake.register_user(chat)
                pushes = [
                    channel.push(UserRef(CHANNEL, str(chat)), [Outgoing("Time to look back?")])
                    for chat in range(1, 121)
                ]
                started = time.monotonic()
                await asyncio.gather(*pushes)
                took = time.monotonic() - started
            finally:
                await channel.application.shutdown()
            statuses = [call.status for call in fake.calls_to("sendMessage")]
            assert statuses == [200] * 120  # never over the limit, so never a 429
            assert took >= 120 / 50 - 1.0  # and paced, not all at once

    asyncio.run(scenario())
