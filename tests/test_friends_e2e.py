"""Critical friends across two chat apps, end to end: a Telegram worker asks, a Slack
worker accepts, reads what was shared, gives feedback with a blame phrase that is
questioned and rephrased, and the author answers.

The real python-telegram-bot and slack-bolt talk to the fakes on loopback; the real
dispatcher pushes what one worker's action means for the other. Faults are injected on
the way: a 429 from Slack, and an update Telegram delivers twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import time as clock_time
from typing import Any

import pytest

from bot.channels.slack import SlackChannel
from bot.channels.telegram import TelegramChannel
from bot.config import FriendConfig
from bot.dialogues import Catalog
from bot.engine import wording as engine_wording
from bot.messages import UserRef
from bot.nudges.dispatcher import Dispatcher
from bot.nudges.planner import NudgeDefaults, Nudges
from bot.peer import wording
from bot.peer.commands import Peer
from bot.service import ConversationService
from bot.store.repository import Store
from tests.conftest import Clock
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.worker import finish_a_reflection

SAM = 4242  # on Telegram
KIM = "U0KIMWORK1"  # on Slack
LONG = "I visited the family with my colleague and we went through the plan together carefully."


@pytest.fixture
def peer(catalog: Catalog) -> Peer:
    return Peer(FriendConfig(), catalog, "Europe/London")


@pytest.fixture
def deliveries(store: Store, catalog: Catalog, peer: Peer) -> Nudges:
    defaults = NudgeDefaults(weekdays=frozenset({4}), at=clock_time(14, 0))
    return Nudges(store, catalog, defaults, weekly=False, peer=peer)


@pytest.fixture
def friendly(
    store: Store, catalog: Catalog, clock: Clock, peer: Peer
) -> Iterator[ConversationService]:
    service = ConversationService(store, catalog, clock=clock, peer=peer)
    yield service
    service.close()


async def until(found: Callable[[], Any], what: str, within: float = 10) -> Any:
    deadline = time.monotonic() + within
    while not (result := found()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {within}s for {what}")
        await asyncio.sleep(0.02)
    return result


def slack_text(message: dict[str, Any]) -> str:
    parts = []
    for block in message.get("blocks", []):
        if block["type"] == "section":
            parts.append(block["text"]["text"])
        elif block["type"] == "context":
            parts.extend(element["text"] for element in block["elements"])
    return "\n".join(parts) or str(message.get("text", ""))


def slack_button(message: dict[str, Any], label: str) -> dict[str, Any] | None:
    for block in message.get("blocks", []):
        if block["type"] == "actions":
            for element in block["elements"]:
                if label.lower() in element["text"]["text"].lower():
                    return dict(element)
    return None


def telegram_button(message: dict[str, Any], label: str) -> str | None:
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        for button in row:
            if label.lower() in button["text"].lower():
                return str(button["callback_data"])
    return None


def test_ask_accept_share_feedback_rephrase_and_answer_across_telegram_and_slack(
    friendly: ConversationService, deliveries: Nudges, clock: Clock, store: Store
) -> None:
    finish_a_reflection(friendly, UserRef("telegram", str(SAM), "Sam"), LONG)

    async def scenario() -> None:
        async with FakeTelegram() as telegram_api, FakeSlack() as slack_api:
            telegram_api.register_user(SAM, first_name="Sam")
            slack_api.register_user(KIM, real_name="Kim Lee")
            telegram = TelegramChannel(
                friendly, token=telegram_api.token, base_url=telegram_api.base_url
            )
            slack = SlackChannel(
                friendly,
                bot_token=slack_api.bot_token,
                allowed_team_ids=[slack_api.team_id],
                api_base_url=slack_api.api_url,
            )
            await telegram.start(poll_timeout=1)
            await slack.start_socket_mode(slack_api.app_token)
            dispatcher = Dispatcher(deliveries, {"telegram": telegram, "slack": slack}, clock)
            # As `critical-friend run` does: what a worker does for a colleague goes out
            # at once, not at the next tick (none runs in this test).
            friendly.on_told = dispatcher.wake

            def sams_last(label: str) -> tuple[dict[str, Any], str] | None:
                for message in reversed(telegram_api.sent_messages(SAM)):
                    data = telegram_button(message, label)
                    if data is not None:
                        return message, data
                return None

            def kims_last(label: str) -> dict[str, Any] | None:
                for message in reversed(slack_api.messages_in(KIM)):
                    if slack_button(message, label) is not None:
                        return message
                return None

            def kim_was_told(part: str) -> bool:
                return any(part in slack_text(m) for m in slack_api.messages_in(KIM))

            def sam_was_told(part: str) -> bool:
                return any(part in text for text in telegram_api.sent_texts(SAM))

            async def kim_presses(label: str) -> None:
                message = await until(lambda: kims_last(label), f"Kim's button {label!r}")
                button = slack_button(message, label)
                assert button is not None
                slack_api.user_presses(KIM, message, button["action_id"])

            async def sam_presses(label: str) -> None:
                message, data = await until(lambda: sams_last(label), f"Sam's button {label!r}")
                telegram_api.user_presses(SAM, message, data)

            try:
                # Kim offers to be a critical friend, with Slack's /friend command.
                slack_api.user_runs_command(KIM, "/friend", "join")
                await until(lambda: kim_was_told("you're in the critical-friend pool"), "joined")
                # Sam asks, on Telegram; Telegram delivers the update twice. The invitation
                # reaches Kim in Slack at once, despite one 429 on the way.
                slack_api.fail_next("chat.postMessage", 429, retry_after=1)
                message = telegram_api.new_message(
                    SAM,
                    text="/friend",
                    entities=[{"type": "bot_command", "offset": 0, "length": 7}],
                )
                telegram_api.deliver_twice({"message": message})
                await until(lambda: sam_was_told("I've asked a colleague"), "asked")
                await until(lambda: kim_was_told("Sam would like a critical friend"), "invited")
                await kim_presses(wording.ACCEPT)
                await until(lambda: kim_was_told("You're Sam's critical friend"), "accepted")
                # Sam hears Kim said yes, and shares the reflection, confirming it.
                await until(lambda: sam_was_told("has said yes"), "paired")
                await sam_presses(wording.SHARE_A_REFLECTION)
                await sam_presses("·")
                await sam_presses("Yes, share with")
                await until(lambda: sam_was_told("Shared with"), "shared")
                # Kim reads it and gives feedback, with a blame phrase that is questioned.
                await kim_presses(wording.OPEN_IT)
                await until(lambda: kim_was_told(LONG), "the reflection")
                await kim_presses(wording.GIVE_FEEDBACK)
                await until(
                    lambda: kim_was_told("What went well in what your colleague did"),
                    "first question",
                )
                slack_api.user_sends_dm(KIM, "You stayed calm and kept the family talking openly.")
                await until(lambda: kim_was_told("one question you would like"), "2nd question")
                slack_api.user_sends_dm(KIM, "You should have called the duty team before leaving.")
                await until(lambda: kims_last(engine_wording.SEND_AS_WRITTEN), "the invitation")
                slack_api.user_sends_dm(
                    KIM, "What would help you decide when to call the duty team?"
                )
                await until(lambda: kim_was_told("one suggestion"), "3rd question")
                slack_api.user_sends_dm(KIM, "You could try a quick call from the car next time.")
                await until(lambda: kim_was_told("I've sent your feedback to Sam"), "sent")
                # Sam receives it on Telegram and answers, once.
                await until(lambda: sam_was_told("has read your reflection"), "feedback")
                assert sam_was_told("What would help you decide")
                assert not sam_was_told("You should have called")
                await sam_presses(wording.ANSWER_FEEDBACK)
                await until(lambda: sam_was_told("What do you take from this?"), "the answer")
                telegram_api.user_sends_text(SAM, "I will call the duty team before I leave.")
                await until(lambda: sam_was_told("Your answer is with your reflection"), "kept")
                await until(lambda: kim_was_told("I will call the duty team"), "Kim hears back")
            finally:
                await dispatcher.stop()
                await telegram.stop()
                await slack.stop()
            # One request, however often Telegram delivered it; the 429 was waited out.
            asks = [t for t in telegram_api.sent_texts(SAM) if "I've asked a colleague" in t]
            assert len(asks) == 1
            statuses = [c.status for c in slack_api.calls_to("chat.postMessage")]
            assert 429 in statuses
            invitations = [
                m for m in slack_api.messages_in(KIM) if "would like a critical" in slack_text(m)
            ]
            assert len(invitations) == 1

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_the_slack_home_tab_joins_and_leaves_the_pool(friendly: ConversationService) -> None:
    async def scenario() -> None:
        async with FakeSlack() as slack_api:
            slack_api.register_user(KIM, real_name="Kim Lee")
            slack = SlackChannel(
                friendly,
                bot_token=slack_api.bot_token,
                allowed_team_ids=[slack_api.team_id],
                api_base_url=slack_api.api_url,
            )
            await slack.start_socket_mode(slack_api.app_token)
            try:

                async def home_after(publishes: int) -> dict[str, Any]:
                    await slack_api.wait_for("views.publish", count=publishes)
                    view = slack_api.home_view(KIM)
                    assert view is not None
                    return view

                def friend_buttons(view: dict[str, Any]) -> dict[str, str]:
                    return {
                        element["text"]["text"]: element["action_id"]
                        for block in view["blocks"]
                        if block["type"] == "actions"
                        for element in block["elements"]
                        if element["action_id"].startswith("home-friend-")
                    }

                slack_api.user_sends_dm(KIM, "hello")  # joins: someone new sees only a welcome
                await until(lambda: slack_api.messages_in(KIM), "the greeting")
                slack_api.user_opens_home(KIM)
                view = await home_after(1)
                assert wording.HOME_TITLE in str(view)
                offered = friend_buttons(view)
                assert set(offered) == {wording.ASK_A_FRIEND, wording.JOIN_POOL}
                slack_api.user_presses_in_home(KIM, offered[wording.JOIN_POOL])
                view = await home_after(2)
                assert wording.LEAVE_POOL in friend_buttons(view)
                assert "you're in the pool" in str(view)
            finally:
                await slack.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
