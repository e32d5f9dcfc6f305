"""The Slack channel end to end: the real slack-bolt and slack-sdk against the fake Slack.

Each scenario starts the real `SlackChannel` on a real service and database, connected
to `tests/fakes/slack.py` over Socket Mode or, in HTTP mode, served on loopback with
signed requests from the fake.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot import guides
from bot.channels import slack_words as words
from bot.channels.slack import SlackChannel
from bot.messages import Gate, Incoming, Reply, UserRef
from bot.service import ConversationService, Overview
from bot.store.models import answers, identities, processed_events, users
from bot.store.repository import Store
from tests.fakes.slack import FakeSlack
from tests.worker import finish_a_reflection, only_reflection

WORKER = "U0WORKER01"
STRANGER = "U0STRANGE1"
OTHER_TEAM = "T0OTHERORG"
TEAM_CHANNEL = "C0TEAMROOM"
SECRET = "a-signing-secret-for-tests-0123456789"
LONG = (
    "I visited the family with a colleague; the mother was tired but talked openly, "
    "and we agreed the next steps together before we left."
)
Scenario = Callable[[FakeSlack, SlackChannel], Awaitable[None]]
MODES = ["socket", "http"]


def with_slack(
    service: Any, scenario: Scenario, *, mode: str = "socket", ack_timeout: float = 3.0
) -> None:
    async def run() -> None:
        async with FakeSlack(ack_timeout=ack_timeout) as fake:
            fake.register_user(WORKER, tz="Europe/London", real_name="Sam Worker")
            fake.register_user(STRANGER, team_id=OTHER_TEAM, real_name="Someone Else")
            fake.register_channel(TEAM_CHANNEL, "team-room", members=[WORKER, STRANGER])
            channel = SlackChannel(
                service,
                bot_token=fake.bot_token,
                allowed_team_ids=[fake.team_id],
                api_base_url=fake.api_url,
                signing_secret=SECRET if mode == "http" else None,
            )
            runner: web.AppRunner | None = None
            try:
                if mode == "socket":
                    await channel.start_socket_mode(fake.app_token)
                else:
                    await channel.start_http()
                    runner, url = await serve(channel)
                    fake.deliver_to(url, SECRET)
                await scenario(fake, channel)
            finally:
                if runner is not None:
                    await runner.cleanup()
                await channel.stop()

    asyncio.run(asyncio.wait_for(run(), 60))


async def serve(channel: SlackChannel) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/slack/events", channel.handle_http)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/slack/events"


def shown(message: dict[str, Any]) -> str:
    """What a person reads in a message: its sections and context lines."""
    parts = []
    for block in message.get("blocks", []):
        if block["type"] == "section":
            parts.append(block["text"]["text"])
        elif block["type"] == "context":
            parts.extend(element["text"] for element in block["elements"])
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def bot_messages(fake: FakeSlack, count: int, within: float = 10) -> list[dict[str, Any]]:
    """Wait until the bot has posted at least `count` messages in the worker's DM."""
    deadline = time.monotonic() + within
    while len(fake.messages_in(WORKER)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(fake.messages_in(WORKER))} of {count} messages: {fake.calls}")
        await asyncio.sleep(0.02)
    return fake.messages_in(WORKER)


def press(fake: FakeSlack, message: dict[str, Any], label_part: str) -> dict[str, Any]:
    button = next(b for b in buttons(message) if label_part in b["text"]["text"])
    return fake.user_presses(WORKER, message, button["action_id"])


def worker_ref(fake: FakeSlack) -> UserRef:
    return UserRef("slack", f"{fake.team_id}:{WORKER}")


@pytest.mark.parametrize("mode", MODES)
def test_a_whole_gibbs_reflection_in_a_dm_by_text_and_buttons(
    mode: str, service: ConversationService, store: Store
) -> None:
    team: list[str] = []

    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        team.append(fake.team_id)
        fake.user_sends_dm(WORKER, "hello")
        menu = (await bot_messages(fake, 1))[-1]
        assert "never shared without asking you first" in shown(menu)
        press(fake, menu, "Gibbs' reflective cycle")
        seen = await bot_messages(fake, 2)
        assert "Description (1 of 6)" in shown(seen[-1])
        # The pressed menu lost its buttons and shows the choice.
        await fake.wait_for("chat.update")
        assert buttons(fake.messages_in(WORKER)[0]) == []
        assert "→ Gibbs' reflective cycle" in shown(fake.messages_in(WORKER)[0])
        count = 2
        while not buttons(seen[-1]):
            fake.user_sends_dm(WORKER, LONG)
            count += 1
            seen = await bot_messages(fake, count)
        press(fake, seen[-1], "In a week")
        seen = await bot_messages(fake, count + 1)
        assert "journal" in shown(seen[-1]).lower()
        await fake.wait_for("users.info")

    with_slack(service, scenario, mode=mode)
    record = only_reflection(store, UserRef("slack", f"{team[0]}:{WORKER}"))
    assert record.dialogue_id == "gibbs"
    assert record.answers["what_happened"] == LONG
    assert record.answers["check_in"] == "In a week"
    with store.engine.connect() as connection:
        assert connection.execute(select(users.c.timezone)).scalars().all() == ["Europe/London"]


def test_the_slash_command_in_a_channel_answers_privately_and_goes_on_in_the_dm(
    service: ConversationService,
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.user_runs_command(WORKER, "/reflect", "gibbs", channel=TEAM_CHANNEL)
        (ack,) = await fake.wait_for_acks(1)
        assert ack.payload is not None
        assert ack.payload["text"] == words.MOVED_TO_DM
        assert ack.payload["response_type"] == "ephemeral"
        seen = await bot_messages(fake, 1)
        assert "Description (1 of 6)" in shown(seen[-1])
        assert fake.messages_in(TEAM_CHANNEL) == []  # nothing was posted in the channel
        fake.user_runs_command(WORKER, "/reflect", "", channel=TEAM_CHANNEL)
        await bot_messages(fake, 2)
        # The DM was opened once and remembered, not once a message.
        assert len(fake.calls_to("conversations.open")) == 1

    with_slack(service, scenario)


def test_guide_and_write_slash_commands_are_the_text_commands_they_stand_for(
    service: ConversationService,
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.user_runs_command(WORKER, "/guide", "")
        seen = await bot_messages(fake, 1)
        assert guides.LIST_INTRO in shown(seen[-1])
        fake.user_runs_command(WORKER, "/write", "")
        seen = await bot_messages(fake, 2)
        assert "done" in shown(seen[-1])
        fake.user_runs_command(WORKER, "/guide", "2")
        seen = await bot_messages(fake, 3)
        # One guide, read beside the entry, whose question is asked again after it.
        assert any(guides.OTHER_GUIDES in shown(message) for message in seen[-2:])
        assert "Type done" in shown(seen[-1])

    with_slack(service, scenario)


def test_a_mention_in_a_channel_gets_a_private_note_and_the_menu_in_the_dm(
    service: ConversationService,
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.user_mentions(WORKER, TEAM_CHANNEL, "can we reflect?")
        seen = await bot_messages(fake, 1)
        assert "Which way of reflecting" in shown(seen[-1])
        await fake.wait_for("chat.postEphemeral")
        (note,) = fake.ephemerals_for(WORKER, TEAM_CHANNEL)
        assert note["text"] == words.MOVED_TO_DM
        assert fake.messages_in(TEAM_CHANNEL) == []

    with_slack(service, scenario)


def test_the_home_tab_starts_resumes_and_opens_reflections(
    service: ConversationService,
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.user_opens_home(WORKER)
        await fake.wait_for("views.publish")
        home = fake.home_view(WORKER)
        assert home is not None
        assert [b["action_id"] for b in buttons(home)] == ["home-start"]
        fake.user_presses_in_home(WORKER, "home-start")
        menu = (await bot_messages(fake, 1))[-1]
        press(fake, menu, "Quick Gibbs")
        await bot_messages(fake, 2)
        fake.user_sends_dm(WORKER, "pause")
        await bot_messages(fake, 3)
        fake.user_opens_home(WORKER)
        await fake.wait_for("views.publish", count=2)
        home = fake.home_view(WORKER)
        assert home is not None
        resume = next(b for b in buttons(home) if b["action_id"] == "home-resume")
        assert "Quick Gibbs" in resume["text"]["text"]
        fake.user_presses_in_home(WORKER, "home-resume")
        seen = await bot_messages(fake, 4)
        assert "Description (1 of" in shown(seen[-1])

    with_slack(service, scenario)


def test_a_stale_button_changes_nothing_and_says_so(
    service: ConversationService, store: Store
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.user_sends_dm(WORKER, "hello")
        menu = (await bot_messages(fake, 1))[-1]
        fake.user_sends_dm(WORKER, "1")  # chosen by typing: the menu keeps its buttons
        await bot_messages(fake, 2)
        press(fake, menu, "Quick Gibbs")  # the old menu, pressed later
        seen = await bot_messages(fake, 3)
        assert "moved on" in shown(seen[-1])
        assert "Description (1 of 6)" in shown(seen[-1])
        # The dead buttons are taken away, and no choice is shown for them.
        await fake.wait_for("chat.update")
        old_menu = fake.messages_in(WORKER)[0]
        assert buttons(old_menu) == []
        assert "→" not in shown(old_menu)

    with_slack(service, scenario)
    with store.engine.connect() as connection:
        from bot.store.models import conversations

        assert connection.execute(select(conversations.c.dialogue_id)).scalars().all() == ["gibbs"]


@pytest.mark.parametrize("mode", MODES)
def test_three_retries_of_an_event_give_one_answer(
    mode: str, service: ConversationService, store: Store
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.user_runs_command(WORKER, "/reflect", "gibbs")
        await bot_messages(fake, 1)
        payload = fake.user_sends_dm(WORKER, LONG)
        await bot_messages(fake, 2)
        for attempt in (1, 2, 3):
            fake.redeliver(payload, attempt=attempt)
        await fake.wait_for_deliveries(5)
        await asyncio.sleep(0.5)
        assert len(fake.messages_in(WORKER)) == 2

    with_slack(service, scenario, mode=mode)
    with store.engine.connect() as connection:
        assert len(connection.execute(select(answers)).all()) == 1


def signed(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Signature": signature,
        "X-Slack-Request-Timestamp": str(timestamp),
        "Content-Type": "application/json",
    }


def test_a_bad_signature_or_an_old_timestamp_is_refused_and_nothing_stored(
    service: ConversationService, store: Store
) -> None:
    async def scenario(fake: FakeSlack, channel: SlackChannel) -> None:
        runner, url = await serve(channel)
        try:
            payload = fake.event_payload(
                {
                    "type": "message",
                    "user": WORKER,
                    "text": "hello",
                    "channel": "D1",
                    "channel_type": "im",
                    "ts": "1.000001",
                    "event_ts": "1.000001",
                },
                WORKER,
            )
            body = json.dumps(payload).encode()
            now = int(time.time())
            async with aiohttp.ClientSession() as session:
                for headers in (
                    signed(body, now, secret="not-the-secret"),
                    signed(body, now - 6 * 60),  # a replay from six minutes ago
                    {"Content-Type": "application/json"},
                ):
                    answer = await session.post(url, data=body, headers=headers)
                    assert answer.status == 401
                good = await session.post(url, data=body, headers=signed(body, now))
                assert good.status == 200  # the same request, signed, is taken
        finally:
            await runner.cleanup()

    with_slack(service, scenario, mode="http")
    with store.engine.connect() as connection:
        assert len(connection.execute(select(processed_events)).all()) == 1


def test_someone_from_another_workspace_is_refused_and_nothing_is_stored(
    service: ConversationService, store: Store
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.user_sends_dm(STRANGER, "hello, can I use this?")
        fake.user_runs_command(STRANGER, "/reflect", "", channel=TEAM_CHANNEL)
        await fake.wait_for("chat.postMessage")
        acks = await fake.wait_for_acks(2)
        assert fake.texts_in(STRANGER) == [words.OUTSIDERS]
        assert any(a.payload and a.payload.get("text") == words.OUTSIDERS for a in acks)

    with_slack(service, scenario)
    with store.engine.connect() as connection:
        assert connection.execute(select(identities)).all() == []
        assert connection.execute(select(users)).all() == []


def test_a_429_is_waited_out_and_each_message_is_posted_once(
    service: ConversationService,
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.fail_next("chat.postMessage", 429, retry_after=1)
        fake.user_sends_dm(WORKER, "hello")
        await bot_messages(fake, 1, within=15)
        calls = fake.calls_to("chat.postMessage")
        refused = [c for c in calls if c.status == 429]
        posted = [c for c in calls if c.status == 200]
        assert len(refused) == 1
        assert len(posted) == 1
        assert posted[0].at - refused[0].at >= 1.0
        assert len(fake.messages_in(WORKER)) == 1

    with_slack(service, scenario)


class SlowService:
    """The real service, slow for every turn, as a struggling database would make it."""

    def __init__(self, inner: ConversationService, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def handle(self, incoming: Incoming, gate: Gate | None = None) -> Reply:
        await asyncio.sleep(self.delay)
        return await self.inner.handle(incoming, gate)

    async def overview(self, user: UserRef) -> Overview | None:
        return await self.inner.overview(user)

    async def note_timezone(self, user: UserRef, name: str) -> bool:
        return await self.inner.note_timezone(user, name)


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_turn_is_still_acknowledged_at_once(mode: str, service: ConversationService) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.user_sends_dm(WORKER, "hello")
        fake.user_runs_command(WORKER, "/reflect")
        acks = await fake.wait_for_acks(2, timeout=2)
        deliveries = {d.envelope_id: d for d in fake.deliveries}
        for ack in acks:
            assert ack.at - deliveries[ack.envelope_id].at < 1.0
        await bot_messages(fake, 2, within=10)
        assert all(d.attempt == 0 for d in fake.deliveries)  # nothing was retried

    with_slack(SlowService(service, 2.0), scenario, mode=mode)


def test_edits_deletes_joins_and_the_bots_own_messages_are_ignored(
    service: ConversationService, store: Store
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        dm = fake.dm_channel(WORKER)
        for event in (
            {
                "type": "message",
                "subtype": "message_changed",
                "channel": dm,
                "channel_type": "im",
                "message": {"type": "message", "user": WORKER, "text": "edited"},
            },
            {
                "type": "message",
                "subtype": "message_deleted",
                "channel": dm,
                "channel_type": "im",
                "deleted_ts": "1.000001",
            },
            {
                "type": "message",
                "subtype": "channel_join",
                "user": WORKER,
                "channel": TEAM_CHANNEL,
                "text": "joined",
            },
            {
                "type": "message",
                "bot_id": fake.bot_id,
                "user": fake.bot_user_id,
                "channel": dm,
                "channel_type": "im",
                "text": "an echo of myself",
            },
            {
                "type": "reaction_added",
                "user": WORKER,
                "reaction": "thumbsup",
                "item": {"type": "message", "channel": dm, "ts": "1.000001"},
            },
        ):
            fake.send_event(event)
        await fake.wait_for_acks(5)
        await asyncio.sleep(0.3)
        assert fake.calls_to("chat.postMessage") == []
        assert all(d.attempt == 0 for d in fake.deliveries)

    with_slack(service, scenario)
    with store.engine.connect() as connection:
        assert connection.execute(select(users)).all() == []


def test_a_file_on_its_own_gets_a_kind_reply(service: ConversationService) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        dm = fake.dm_channel(WORKER)
        fake.send_event(
            {
                "type": "message",
                "subtype": "file_share",
                "user": WORKER,
                "channel": dm,
                "channel_type": "im",
                "text": "",
                "files": [{"id": "F1", "name": "notes.pdf"}],
            }
        )
        seen = await bot_messages(fake, 1)
        assert "only read text" in shown(seen[-1])

    with_slack(service, scenario)


def test_finished_reflections_open_from_the_journal_and_the_home_tab(
    service: ConversationService,
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        finish_a_reflection(service, worker_ref(fake), LONG)
        fake.user_sends_dm(WORKER, "journal")
        listing = (await bot_messages(fake, 1))[-1]
        (entry,) = buttons(listing)
        assert entry["value"] == "journal 1"
        assert "Quick Gibbs" in entry["text"]["text"]
        fake.user_presses(WORKER, listing, entry["action_id"])
        opened = (await bot_messages(fake, 2))[-1]
        assert shown(opened).startswith("Quick Gibbs, ")
        assert LONG in shown(opened)
        assert buttons(fake.messages_in(WORKER)[0]) == [entry]  # the list stays usable
        fake.user_opens_home(WORKER)
        await fake.wait_for("views.publish")
        fake.user_presses_in_home(WORKER, "home-open-0")
        again = (await bot_messages(fake, 3))[-1]
        assert shown(again) == shown(opened)

    with_slack(service, scenario)


def test_stopping_lets_a_turn_in_flight_finish(service: ConversationService, store: Store) -> None:
    async def scenario(fake: FakeSlack, channel: SlackChannel) -> None:
        fake.user_runs_command(WORKER, "/reflect", "gibbs")
        await bot_messages(fake, 1)
        channel._service = SlowService(service, 1.0)  # the next turn is slow
        fake.user_sends_dm(WORKER, LONG)
        await fake.wait_for_acks(2)
        await channel.stop()  # while the turn is still running
        assert len(fake.messages_in(WORKER)) == 2  # its reply went out before stop returned

    with_slack(service, scenario)
    with store.engine.connect() as connection:
        assert len(connection.execute(select(answers)).all()) == 1


def test_socket_mode_reconnects_when_slack_asks_and_nothing_is_lost(
    service: ConversationService,
) -> None:
    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        fake.user_sends_dm(WORKER, "hello")
        await bot_messages(fake, 1)
        await fake.disconnect_sockets()  # Slack refreshes its connections now and then
        await fake.wait_for("apps.connections.open", count=2, timeout=10)
        await fake.wait_for_socket()
        fake.user_sends_dm(WORKER, "2")
        seen = await bot_messages(fake, 2)
        assert "(1 of" in shown(seen[-1])

    with_slack(service, scenario)


def test_a_pushed_nudge_arrives_and_an_unreachable_worker_is_reported(
    service: ConversationService,
) -> None:
    from bot.messages import Choice, Outgoing, Pushed

    nudge = [Outgoing("Time to look back?", shortcuts=(Choice("reflect weekly", "Reflect now"),))]

    async def scenario(fake: FakeSlack, channel: SlackChannel) -> None:
        worker = worker_ref(fake)
        assert await channel.push(worker, nudge) is Pushed.SENT
        (sent,) = fake.messages_in(WORKER)
        assert shown(sent) == "Time to look back?"
        assert [b["value"] for b in buttons(sent)] == ["reflect weekly"]
        fake.fail_next("chat.postMessage", 500, times=3)  # more than the retry handler covers
        assert await channel.push(worker, nudge) is Pushed.RETRY
        gone = UserRef("slack", f"{fake.team_id}:U0NOBODY01")
        assert await channel.push(gone, nudge) is Pushed.GONE
        assert (
            await channel.push(UserRef("slack", f"{OTHER_TEAM}:{STRANGER}"), nudge) is Pushed.GONE
        )
        assert len(fake.messages_in(WORKER)) == 1

    with_slack(service, scenario)
