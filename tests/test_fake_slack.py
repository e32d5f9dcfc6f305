"""The fake Slack behaves like Slack, as the real slack-sdk and slack-bolt see it.

Every scenario drives `AsyncWebClient`, bolt's `AsyncApp` over Socket Mode
(`AsyncSocketModeHandler`) or bolt's aiohttp server over HTTP, all on loopback; raw aiohttp
requests are used only where the SDK cannot send the bad request itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack, sign
from tests.fakes.slack_spec import VENDORED, extract, load_methods

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "specs"
OFFICIAL_SPEC = SHARED / "slack-web-api-openapi-v2.json"
# Vendored (MIT, slackapi/slack-api-specs) so the check runs without the shared folder.
EVENT_WRAPPER_SCHEMA = Path(__file__).parent / "fakes" / "slack_event_wrapper_schema.json"
SHARED_EVENT_WRAPPER_SCHEMA = SHARED / "slack-event-wrapper-schema.json"
WORKER = "U0WORKER01"  # a social worker
PEER = "U0PEER0002"
GUEST = "U0GUEST003"  # from another organisation, over Slack Connect
TEAM_CHANNEL = "C0TEAM0001"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SCENARIO_LIMIT_S = 10


def scenario(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (pytest-asyncio is not a dependency)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), SCENARIO_LIMIT_S))

    return run


def web_client(fake: FakeSlack, **options: Any) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, **options)


async def post_raw(
    fake: FakeSlack, method: str, *, token: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    token = fake.bot_token if token is None else token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.api_url}{method}", headers=headers, **kwargs) as response,
    ):
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def slack_error(call: Coroutine[Any, Any, Any]) -> dict[str, Any]:
    """The body of the Slack error the call raised."""
    with pytest.raises(SlackApiError) as raised:
        await call
    body: dict[str, Any] = raised.value.response.data
    return body


def button(action_id: str, label: str = "Go", value: str = "v", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
        **extra,
    }


def actions(*elements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements), **extra}


def section(text: str, kind: str = "mrkdwn", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": kind, "text": text}, **extra}


def bolt_app(fake: FakeSlack) -> AsyncApp:
    return AsyncApp(client=web_client(fake), signing_secret=SIGNING_SECRET)


@contextlib.asynccontextmanager
async def socket_mode(app: AsyncApp, fake: FakeSlack) -> AsyncIterator[AsyncSocketModeHandler]:
    handler = AsyncSocketModeHandler(app, fake.app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        yield handler
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


@contextlib.asynccontextmanager
async def serve(app: web.Application, path: str = "/slack/events") -> AsyncIterator[str]:
    """An aiohttp app on 127.0.0.1, port 0; yields the URL of `path`."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}{path}"
    finally:
        await runner.cleanup()


# --- the vendored spec ------------------------------------------------------------------


def test_the_vendored_method_list_matches_the_official_spec() -> None:
    if not OFFICIAL_SPEC.exists():
        pytest.skip(f"the shared spec is not here to compare with: {OFFICIAL_SPEC}")
    assert load_methods(VENDORED) == extract(OFFICIAL_SPEC)


def test_methods_missing_from_the_2021_spec_are_added_by_hand() -> None:
    methods = load_methods()
    assert methods["apps.connections.open"]["params"] == [{"name": "token", "required": True}]
    post = {p["name"]: p["required"] for p in methods["chat.postMessage"]["params"]}
    assert post["channel"] is True
    assert post["text"] is False
    assert "metadata" in post


# --- tokens and methods -----------------------------------------------------------------


@scenario
async def test_auth_test_describes_the_bot_user() -> None:
    async with FakeSlack(team_id="T0TEAM", bot_user_id="U0BOT", bot_id="B0BOT") as fake:
        assert fake.api_url.endswith("/api/")
        answer = await web_client(fake).auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0TEAM", "U0BOT", "B0BOT")
    assert fake.calls[0][:3] == ("auth.test", {}, 200)


@scenario
async def test_a_missing_or_wrong_token_is_refused() -> None:
    async with FakeSlack() as fake:
        wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
        assert (await slack_error(wrong.auth_test()))["error"] == "invalid_auth"
        nobody = AsyncWebClient(base_url=fake.api_url)
        assert (await slack_error(nobody.auth_test()))["error"] == "not_authed"
        app_token = AsyncWebClient(token=fake.app_token, base_url=fake.api_url)
        refused = await slack_error(app_token.chat_postMessage(channel=WORKER, text="hi"))
        assert refused["error"] == "not_allowed_token_type"
        assert fake.calls_to("chat.postMessage")[0].error == "not_allowed_token_type"


@scenario
async def test_the_token_may_be_a_form_parameter_but_not_part_of_a_json_body() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        form = await post_raw(
            fake,
            "chat.postMessage",
            token="",
            data={"token": fake.bot_token, "channel": WORKER, "text": "a"},
        )
        json_body = await post_raw(
            fake,
            "chat.postMessage",
            token="",
            json={"token": fake.bot_token, "channel": WORKER, "text": "b"},
        )
        assert fake.texts_in(WORKER) == ["a"]
    assert form["ok"] is True
    assert json_body == {"ok": False, "error": "not_authed"}


@scenario
async def test_an_unknown_method_is_unknown_method() -> None:
    async with FakeSlack() as fake:
        body = await slack_error(web_client(fake).api_call("chat.telepathy", json={"x": 1}))
        assert body == {"ok": False, "error": "unknown_method"}
        with pytest.raises(ValueError, match="not a Slack Web API method"):
            fake.fail_next("chat.telepathy")


@scenario
async def test_a_method_the_fake_does_not_implement_says_so() -> None:
    async with FakeSlack() as fake:
        with pytest.raises(SlackApiError) as raised:
            await web_client(fake).conversations_history(channel=TEAM_CHANNEL)
    assert raised.value.response.status_code == 501
    assert raised.value.response["error"] == "not_implemented_by_fake"


# --- parameters -------------------------------------------------------------------------


@scenario
async def test_an_unknown_parameter_is_refused_naming_it() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        client = web_client(fake)
        body = await slack_error(client.chat_postMessage(channel=WORKER, text="hi", colour="red"))
        assert body["error"] == "invalid_arguments"
        assert "colour" in body["response_metadata"]["messages"][0]
        assert fake.texts_in(WORKER) == []
        # slack-sdk's client-wide team_id (bolt sets it per request) is accepted everywhere.
        with_team = web_client(fake, team_id=fake.team_id)
        await with_team.chat_postMessage(channel=WORKER, text="hi")
        assert fake.texts_in(WORKER) == ["hi"]


@scenario
async def test_a_missing_required_parameter_is_invalid_arguments() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        body = await slack_error(web_client(fake).api_call("chat.update", json={"channel": WORKER}))
    assert body == {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": ["[ERROR] missing required field: ts"]},
    }


@scenario
async def test_a_message_needs_text_or_blocks() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        client = web_client(fake)
        # slack-sdk itself warns before it sends a message without text.
        with pytest.warns(UserWarning, match="text"):
            body = await slack_error(client.chat_postMessage(channel=WORKER))
        assert body["error"] == "no_text"
        with pytest.warns(UserWarning, match="text"):
            await client.chat_postMessage(channel=WORKER, blocks=[section("Only blocks")])
        assert fake.messages_in(WORKER)[0]["blocks"][0]["text"]["text"] == "Only blocks"


@scenario
async def test_text_over_40000_characters_is_too_long() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        client = web_client(fake)
        body = await slack_error(client.chat_postMessage(channel=WORKER, text="x" * 40_001))
        assert body["error"] == "msg_too_long"
        await client.chat_postMessage(channel=WORKER, text="x" * 40_000)
        assert len(fake.texts_in(WORKER)[0]) == 40_000


@scenario
async def test_a_channel_slack_does_not_know_or_the_bot_is_not_in_is_refused() -> None:
    async with FakeSlack() as fake:
        fake.register_channel(TEAM_CHANNEL, "team", members=[WORKER], bot_is_member=False)
        client = web_client(fake)
        lost = await slack_error(client.chat_postMessage(channel="C0NOWHERE", text="hi"))
        outside = await slack_error(client.chat_postMessage(channel=TEAM_CHANNEL, text="hi"))
    assert (lost["error"], outside["error"]) == ("channel_not_found", "not_in_channel")


@scenario
async def test_form_encoded_blocks_are_parsed_and_recorded_as_json() -> None:
    blocks = [section("*Hello*")]
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        answer = await post_raw(
            fake,
            "chat.postMessage",
            data={"channel": WORKER, "text": "Hello", "blocks": json.dumps(blocks)},
        )
        bad = await post_raw(
            fake, "chat.postMessage", data={"channel": WORKER, "text": "x", "blocks": "[{"}
        )
        recorded = fake.calls_to("chat.postMessage")[0].params
    assert answer["ok"] is True
    assert recorded == {"channel": WORKER, "text": "Hello", "blocks": blocks}
    assert bad["error"] == "invalid_blocks_format"


# --- Block Kit --------------------------------------------------------------------------

TOO_LONG = "x" * 3001


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([section("a")] * 51, "/blocks]"),
        ([{"type": "carousel"}], "/blocks/0/type"),
        ([section(TOO_LONG)], "/blocks/0/text/text"),
        ([section("")], "/blocks/0/text/text"),
        ([section("a", kind="html")], "/blocks/0/text/type"),
        ([{"type": "section"}], "/blocks/0]"),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "/blocks/0/text/text",
        ),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}], "/blocks/0/text/type"),
        ([{"type": "context", "elements": []}], "/blocks/0/elements"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": TOO_LONG}]}], "/text"),
        ([actions(button("a", label="L" * 76))], "/blocks/0/elements/0/text/text"),
        ([actions(button("a" * 256))], "/blocks/0/elements/0/action_id"),
        ([actions(button("a"), button("a"))], "/blocks/0/elements/1/action_id"),
        ([actions(button("a")), actions(button("a"))], "/blocks/1/elements/0/action_id"),
        ([actions(button("a", value="v" * 2001))], "/blocks/0/elements/0/value"),
        ([actions(button("a", style="secondary"))], "/blocks/0/elements/0/style"),
        ([actions(*[button(f"b{n}") for n in range(26)])], "/blocks/0/elements]"),
        ([actions({"type": "static_select", "action_id": "s"})], "/blocks/0/elements/0/type"),
        ([section("a", block_id="b" * 256)], "/blocks/0/block_id"),
        ([section("a", block_id="same"), section("b", block_id="same")], "/blocks/1/block_id"),
        ([section("a", label="what")], "/blocks/0/label"),
    ],
)
@scenario
async def test_blocks_slack_would_refuse_are_invalid_blocks(
    blocks: list[dict[str, Any]], pointer: str
) -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        body = await slack_error(
            web_client(fake).chat_postMessage(channel=WORKER, text="fallback", blocks=blocks)
        )
        assert fake.messages_in(WORKER) == []
    assert body["error"] == "invalid_blocks"
    assert any(pointer in line for line in body["response_metadata"]["messages"]), body


@scenario
async def test_blocks_at_every_limit_are_accepted_and_get_ids() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        section("s" * 3000, block_id="b" * 255, accessory=button("more")),
        {"type": "context", "elements": [{"type": "plain_text", "text": "c" * 3000}]},
        actions(
            *[button(f"a{n}", label="L" * 75, value="v" * 2000) for n in range(24)],
            button("a" * 255, style="danger"),
        ),
        {"type": "divider"},
        {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": []}]},
    ]
    blocks += [{"type": "divider"}] * (50 - len(blocks))
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        sent = await web_client(fake).chat_postMessage(channel=WORKER, text="all", blocks=blocks)
    stored = sent["message"]["blocks"]
    assert len(stored) == 50
    assert stored[1]["block_id"] == "b" * 255
    assert all(block["block_id"] for block in stored), "Slack gives every block an id"


# --- messages ---------------------------------------------------------------------------


@scenario
async def test_posting_to_a_user_id_writes_in_their_dm_with_increasing_ts() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        client = web_client(fake)
        first = await client.chat_postMessage(channel=WORKER, text="one")
        second = await client.chat_postMessage(channel=fake.dm_channel(WORKER), text="two")
    assert first["channel"] == second["channel"] == fake.dm_channel(WORKER)
    assert first["channel"].startswith("D")
    assert float(first["ts"]) < float(second["ts"])
    assert first["message"]["bot_id"] == fake.bot_id
    assert fake.texts_in(WORKER) == ["one", "two"]


@scenario
async def test_update_and_delete_change_what_people_see() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        client = web_client(fake)
        sent = await client.chat_postMessage(
            channel=WORKER, text="Pick", blocks=[actions(button("a"))]
        )
        channel = sent["channel"]
        updated = await client.chat_update(channel=channel, ts=sent["ts"], text="Picked", blocks=[])
        assert updated["message"]["text"] == "Picked"
        assert fake.messages_in(WORKER)[0]["text"] == "Picked"
        assert "blocks" not in fake.messages_in(WORKER)[0], "an empty blocks list removes them"
        missing = await slack_error(client.chat_update(channel=channel, ts="1.000001", text="x"))
        assert missing["error"] == "message_not_found"
        fake.user_sends_dm(WORKER, "mine")
        theirs = fake.history(WORKER)[-1]["ts"]
        refused = await slack_error(client.chat_update(channel=channel, ts=theirs, text="x"))
        assert refused["error"] == "cant_update_message"
        await client.chat_delete(channel=channel, ts=sent["ts"])
        assert fake.messages_in(WORKER) == []
        again = await slack_error(client.chat_delete(channel=channel, ts=sent["ts"]))
        assert again["error"] == "message_not_found"


@scenario
async def test_an_ephemeral_message_is_seen_only_by_its_person() -> None:
    async with FakeSlack() as fake:
        fake.register_channel(TEAM_CHANNEL, "team", members=[WORKER])
        fake.register_user(PEER)
        client = web_client(fake)
        answer = await client.chat_postEphemeral(channel=TEAM_CHANNEL, user=WORKER, text="psst")
        outsider = await slack_error(
            client.chat_postEphemeral(channel=TEAM_CHANNEL, user=PEER, text="psst")
        )
    assert answer["message_ts"]
    assert [e["text"] for e in fake.ephemerals_for(WORKER)] == ["psst"]
    assert fake.ephemerals_for(PEER) == []
    assert fake.messages_in(TEAM_CHANNEL) == []
    assert outsider["error"] == "user_not_in_channel"


@scenario
async def test_reactions_are_added_once() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        client = web_client(fake)
        sent = await client.chat_postMessage(channel=WORKER, text="Noted")
        await client.reactions_add(channel=sent["channel"], name="eyes", timestamp=sent["ts"])
        twice = await slack_error(
            client.reactions_add(channel=sent["channel"], name="eyes", timestamp=sent["ts"])
        )
    assert twice["error"] == "already_reacted"
    assert fake.messages_in(WORKER)[0]["reactions"] == [
        {"name": "eyes", "users": [fake.bot_user_id], "count": 1}
    ]


# --- people -----------------------------------------------------------------------------


@scenario
async def test_conversations_open_gives_each_person_one_dm() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        fake.register_user(PEER)
        client = web_client(fake)
        first = await client.conversations_open(users=WORKER)
        again = await client.conversations_open(users=WORKER, return_im=True)
        other = await client.conversations_open(users=PEER)
        nobody = await slack_error(client.conversations_open(users="U0NOBODY"))
    assert first["channel"]["id"] == again["channel"]["id"] == fake.dm_channel(WORKER)
    assert again["already_open"] is True
    assert again["channel"]["user"] == WORKER
    assert other["channel"]["id"] != first["channel"]["id"]
    assert nobody["error"] == "user_not_found"


@scenario
async def test_users_info_tells_the_time_zone_and_the_workspace() -> None:
    async with FakeSlack(team_id="T0HOME") as fake:
        fake.register_user(WORKER, tz="Asia/Kolkata", real_name="Asha Rao")
        fake.register_user(GUEST, team_id="T0ELSEWHERE", tz="UTC")
        client = web_client(fake)
        worker = (await client.users_info(user=WORKER))["user"]
        guest = (await client.users_info(user=GUEST))["user"]
        bot = (await client.users_info(user=fake.bot_user_id))["user"]
        nobody = await slack_error(client.users_info(user="U0NOBODY"))
    assert (worker["tz"], worker["tz_offset"], worker["team_id"]) == (
        "Asia/Kolkata",
        19800,
        "T0HOME",
    )
    assert (worker["real_name"], worker["is_bot"]) == ("Asha Rao", False)
    assert (guest["team_id"], guest["tz_offset"]) == ("T0ELSEWHERE", 0)
    assert bot["is_bot"] is True
    assert nobody["error"] == "user_not_found"


@scenario
async def test_views_publish_keeps_the_latest_home_view() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        client = web_client(fake)
        first = await client.views_publish(
            user_id=WORKER, view={"type": "home", "blocks": [section("v1")]}
        )
        await client.views_publish(
            user_id=WORKER,
            view={"type": "home", "blocks": [section("v2")]},
            hash=first["view"]["hash"],
        )
        stale = await slack_error(
            client.views_publish(
                user_id=WORKER, view={"type": "home", "blocks": []}, hash=first["view"]["hash"]
            )
        )
        modal = await slack_error(
            client.views_publish(user_id=WORKER, view={"type": "modal", "blocks": []})
        )
        big = await slack_error(
            client.views_publish(
                user_id=WORKER, view={"type": "home", "blocks": [{"type": "divider"}] * 101}
            )
        )
        await client.views_publish(
            user_id=WORKER, view={"type": "home", "blocks": [{"type": "divider"}] * 100}
        )
        view = fake.home_view(WORKER)
    assert stale["error"] == "hash_conflict"
    assert modal["error"] == big["error"] == "invalid_arguments"
    assert "/view/blocks" in big["response_metadata"]["messages"][0]
    assert view is not None
    assert (view["type"], len(view["blocks"]), view["id"]) == ("home", 100, first["view"]["id"])
    assert fake.home_view(PEER) is None


# --- faults -----------------------------------------------------------------------------


@scenario
async def test_a_429_says_when_to_retry_and_has_no_effect() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        fake.fail_next("chat.postMessage", 429, retry_after=7)
        with pytest.raises(SlackApiError) as raised:
            await web_client(fake).chat_postMessage(channel=WORKER, text="Hello")
        assert fake.texts_in(WORKER) == []
    response = raised.value.response
    assert (response.status_code, response["error"]) == (429, "ratelimited")
    assert response.headers["Retry-After"] == "7"


@scenario
async def test_the_rate_limit_retry_handler_waits_and_posts_once() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        fake.fail_next("chat.postMessage", 429, retry_after=1)
        client = web_client(
            fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)]
        )
        started = time.monotonic()
        await client.chat_postMessage(channel=WORKER, text="Hello")
        waited = time.monotonic() - started
        calls = fake.calls_to("chat.postMessage")
    assert [call.status for call in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 1.0
    assert 1.0 <= waited < 3.0
    assert fake.texts_in(WORKER) == ["Hello"]


@scenario
async def test_server_errors_fail_as_often_as_asked_and_the_server_error_handler_retries() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        fake.fail_next("chat.postMessage", 503, times=2)
        plain = web_client(fake)
        body = await slack_error(plain.chat_postMessage(channel=WORKER, text="a"))
        assert body == {"ok": False, "error": "service_unavailable"}
        patient = web_client(fake, retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)])
        await patient.chat_postMessage(channel=WORKER, text="b")
        assert [call.status for call in fake.calls_to("chat.postMessage")] == [503, 503, 200]
        fake.fail_next("users.info", 200, error="account_inactive")
        assert (await slack_error(plain.users_info(user=WORKER)))["error"] == "account_inactive"
    assert fake.texts_in(WORKER) == ["b"]


@scenario
async def test_a_slow_answer_times_out_the_client_though_the_message_was_posted() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        fake.slow_next("chat.postMessage", 2.0)
        impatient = web_client(fake, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await impatient.chat_postMessage(channel=WORKER, text="Hello")
        assert time.monotonic() - started < 1.5
        hung_up = await fake.wait_for(lambda call: call.status == 499, timeout=1.5)
        assert hung_up.method == "chat.postMessage"
        assert fake.texts_in(WORKER) == ["Hello"]  # a retry now would post it twice


@scenario
async def test_wait_for_fails_with_the_calls_it_saw() -> None:
    async with FakeSlack() as fake:
        await web_client(fake).auth_test()
        with pytest.raises(TimeoutError, match=r"\('auth.test', 200, None\)"):
            await fake.wait_for("chat.postMessage", timeout=0.1)
        found = await fake.wait_for("auth.test", lambda call: call.status == 200, timeout=0.1)
        assert found.method == "auth.test"


# --- Socket Mode ------------------------------------------------------------------------


@scenario
async def test_socket_mode_needs_an_app_level_token() -> None:
    async with FakeSlack() as fake:
        bot = await slack_error(web_client(fake).apps_connections_open(app_token=fake.bot_token))
        answer = await web_client(fake).apps_connections_open(app_token=fake.app_token)
    assert bot["error"] == "not_allowed_token_type"
    assert answer["url"].startswith(fake.url.replace("http://", "ws://") + "/socket?")


@scenario
async def test_the_socket_says_hello_and_each_url_is_good_once() -> None:
    async with FakeSlack() as fake, aiohttp.ClientSession() as session:
        url = (await web_client(fake).apps_connections_open(app_token=fake.app_token))["url"]
        async with session.ws_connect(url) as ws:
            hello = await ws.receive_json(timeout=2)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url)
            payload = fake.user_sends_dm(WORKER, "hi")
            envelope = await ws.receive_json(timeout=2)
            await ws.send_json({"envelope_id": envelope["envelope_id"]})
            (ack,) = await fake.wait_for_acks(1)
    assert (hello["type"], hello["num_connections"]) == ("hello", 1)
    assert hello["connection_info"] == {"app_id": fake.app_id}
    assert refused.value.status == 401
    assert envelope == {
        "envelope_id": ack.envelope_id,
        "payload": payload,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
    }


@scenario
async def test_a_bolt_app_in_socket_mode_answers_a_dm() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        app = bolt_app(fake)
        seen: list[dict[str, Any]] = []

        @app.event("message")
        async def on_message(event: dict[str, Any], say: Any) -> None:
            seen.append(event)
            await say(f"You said: {event['text']}")

        async with socket_mode(app, fake):
            payload = fake.user_sends_dm(WORKER, "I had a hard visit today")
            reply = await fake.wait_for("chat.postMessage")
            (ack,) = await fake.wait_for_acks(1)
    assert reply.params["text"] == "You said: I had a hard visit today"
    assert reply.params["channel"] == fake.dm_channel(WORKER)
    assert (ack.kind, ack.payload, ack.transport) == ("events_api", None, "socket")
    assert seen[0]["channel_type"] == "im"
    assert payload["event"] == seen[0]
    assert [m["text"] for m in fake.history(WORKER)] == [
        "I had a hard visit today",
        "You said: I had a hard visit today",
    ]


def test_the_vendored_wrapper_schema_is_the_official_one() -> None:
    if not SHARED_EVENT_WRAPPER_SCHEMA.exists():
        pytest.skip(f"the shared schema is not here: {SHARED_EVENT_WRAPPER_SCHEMA}")
    assert json.loads(EVENT_WRAPPER_SCHEMA.read_text(encoding="utf-8")) == json.loads(
        SHARED_EVENT_WRAPPER_SCHEMA.read_text(encoding="utf-8")
    )


def test_event_payloads_match_the_official_wrapper_schema() -> None:
    import jsonschema

    schema = json.loads(EVENT_WRAPPER_SCHEMA.read_text(encoding="utf-8"))

    async def payloads() -> list[dict[str, Any]]:
        async with FakeSlack(ack_timeout=0.05) as fake:
            fake.register_channel(TEAM_CHANNEL, "team", members=[WORKER])
            made = [
                fake.user_sends_dm(WORKER, "hi"),
                fake.user_mentions(WORKER, TEAM_CHANNEL, "hello"),
                fake.user_opens_home(WORKER),
                fake.send_event(
                    {
                        "type": "message",
                        "subtype": "channel_join",
                        "user": PEER,
                        "channel": TEAM_CHANNEL,
                        "text": f"<@{PEER}> has joined",
                    }
                ),
            ]
            return made

    for payload in asyncio.run(payloads()):
        jsonschema.validate(payload, schema)
        assert payload["type"] == "event_callback"
        assert payload["event_id"].startswith("Ev")
        assert payload["authorizations"][0]["user_id"] == "U0FAKEBOT1"


@scenario
async def test_a_button_press_reaches_app_action_and_respond_lands_in_the_fake() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        app = bolt_app(fake)
        pressed: list[dict[str, Any]] = []

        @app.action("gibbs")
        async def on_gibbs(ack: Any, body: dict[str, Any], respond: Any) -> None:
            await ack()
            pressed.append(body)
            await respond(text="Gibbs it is", replace_original=True)

        sent = await web_client(fake).chat_postMessage(
            channel=WORKER, text="Which model?", blocks=[actions(button("gibbs", "Gibbs", "g"))]
        )
        with pytest.raises(ValueError, match="no button"):
            fake.user_presses(WORKER, sent["ts"], "kolb")
        async with socket_mode(app, fake):
            payload = fake.user_presses(WORKER, sent["ts"], "gibbs")
            (response,) = await fake.wait_for_responses(1)
            (ack,) = await fake.wait_for_acks(1)
    body = pressed[0]
    assert body == payload
    assert body["container"] == {
        "type": "message",
        "message_ts": sent["ts"],
        "channel_id": sent["channel"],
        "is_ephemeral": False,
    }
    assert body["actions"][0]["value"] == "g"
    assert body["response_url"].startswith(fake.url)
    assert response.body["text"] == "Gibbs it is"
    assert ack.kind == "interactive"
    assert fake.texts_in(WORKER) == ["Gibbs it is"]


@scenario
async def test_a_slash_command_is_acked_with_the_reply_the_person_sees() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        app = bolt_app(fake)

        @app.command("/reflect")
        async def on_reflect(ack: Any, command: dict[str, Any]) -> None:
            await ack(f"Reflecting on: {command['text']}")

        async with socket_mode(app, fake):
            fake.user_runs_command(WORKER, "/reflect", "the visit")
            (ack,) = await fake.wait_for_acks(1)
    assert (ack.kind, ack.payload) == ("slash_commands", {"text": "Reflecting on: the visit"})
    assert [e["text"] for e in fake.ephemerals_for(WORKER)] == ["Reflecting on: the visit"]
    assert fake.messages_in(WORKER) == []


@scenario
async def test_a_press_on_an_ephemeral_message_has_no_message_and_can_replace_it() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        app = bolt_app(fake)

        @app.action("private")
        async def on_private(ack: Any, respond: Any) -> None:
            await ack()
            await respond(text="Done", replace_original=True)

        await web_client(fake).chat_postEphemeral(
            channel=fake.dm_channel(WORKER),
            user=WORKER,
            text="Only you",
            blocks=[actions(button("private"))],
        )
        (ephemeral,) = fake.ephemerals_for(WORKER)
        with pytest.raises(ValueError, match="cannot see"):
            fake.user_presses(PEER, ephemeral, "private")
        async with socket_mode(app, fake):
            payload = fake.user_presses(WORKER, ephemeral, "private")
            await fake.wait_for_responses(1)
    assert "message" not in payload
    assert payload["container"]["is_ephemeral"] is True
    assert [e["text"] for e in fake.ephemerals_for(WORKER)] == ["Done"]


@scenario
async def test_a_slash_command_reply_with_bad_blocks_is_refused() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        app = bolt_app(fake)

        @app.command("/reflect")
        async def on_reflect(ack: Any) -> None:
            await ack(blocks=[{"type": "carousel"}])

        async with socket_mode(app, fake):
            fake.user_runs_command(WORKER, "/reflect")
            await fake.wait_for_acks(1)
    ((_ack, error, messages),) = fake.ack_errors
    assert error == "invalid_blocks"
    assert "/blocks/0/type" in messages[0]
    assert fake.ephemerals_for(WORKER) == []


@scenario
async def test_an_event_not_acked_in_time_is_retried_three_times() -> None:
    async with FakeSlack(ack_timeout=0.2) as fake:
        received: list[SocketModeRequest] = []

        async def never_ack(_client: Any, request: SocketModeRequest) -> None:
            received.append(request)

        client = SocketModeClient(app_token=fake.app_token, web_client=web_client(fake))
        client.socket_mode_request_listeners.append(never_ack)
        await client.connect()  # type: ignore[no-untyped-call]
        try:
            payload = fake.user_sends_dm(WORKER, "anyone there?")
            deliveries = await fake.wait_for_deliveries(4, timeout=3)
            fake.user_runs_command(WORKER, "/reflect")
            await fake.wait_for_deliveries(5, timeout=3)
            await asyncio.sleep(0.3)
        finally:
            await client.close()  # type: ignore[no-untyped-call]
    assert [(r.retry_attempt, r.retry_reason) for r in received[:4]] == [
        (0, ""),
        (1, "timeout"),
        (2, "timeout"),
        (3, "timeout"),
    ]
    assert {r.payload["event_id"] for r in received[:4]} == {payload["event_id"]}
    assert len({r.envelope_id for r in received[:4]}) == 4
    assert [d.status for d in deliveries] == [None] * 4
    assert fake.acks == []
    assert len(received) == 5, "a slash command that was not acked is not sent again"
    assert received[4].type == "slash_commands"


@scenario
async def test_a_duplicate_delivery_carries_the_retry_headers_to_bolt() -> None:
    async with FakeSlack() as fake:
        app = bolt_app(fake)
        retry_nums: list[str | None] = []
        event_ids: list[str] = []

        @app.middleware
        async def note_retries(req: Any, resp: Any, next: Any) -> Any:
            retry_nums.append((req.headers.get("x-slack-retry-num") or [None])[0])
            return await next()

        @app.event("app_mention")
        async def on_mention(body: dict[str, Any]) -> None:
            event_ids.append(body["event_id"])

        fake.register_channel(TEAM_CHANNEL, "team", members=[WORKER])
        async with socket_mode(app, fake):
            payload = fake.event_payload(
                {
                    "type": "app_mention",
                    "user": WORKER,
                    "text": "<@U0FAKEBOT1> hi",
                    "channel": TEAM_CHANNEL,
                    "ts": "1.000001",
                    "event_ts": "1.000001",
                }
            )
            fake.deliver_twice(payload)
            await fake.wait_for_acks(2)
    assert sorted(str(num) for num in retry_nums) == ["0", "1"]
    assert event_ids == [payload["event_id"]] * 2


@scenario
async def test_bolt_reconnects_when_slack_asks_it_to() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        app = bolt_app(fake)

        @app.event("message")
        async def on_message(say: Any) -> None:
            await say("still here")

        async with socket_mode(app, fake):
            await fake.disconnect_sockets()
            await fake.wait_for("apps.connections.open", count=2)
            await fake.wait_for_socket()
            fake.user_sends_dm(WORKER, "hello?")
            await fake.wait_for("chat.postMessage")
    assert fake.texts_in(WORKER) == ["still here"]


@scenario
async def test_mentions_home_tab_and_other_events_reach_bolt() -> None:
    async with FakeSlack() as fake:
        fake.register_channel(TEAM_CHANNEL, "team", members=[WORKER])
        fake.register_user(GUEST, team_id="T0ELSEWHERE")
        app = bolt_app(fake)
        events: list[dict[str, Any]] = []

        @app.event("app_mention")
        async def on_mention(event: dict[str, Any], body: dict[str, Any]) -> None:
            events.append({**event, "ext": body["is_ext_shared_channel"]})

        @app.event("app_home_opened")
        async def on_home(event: dict[str, Any], client: AsyncWebClient) -> None:
            events.append(event)
            await client.views_publish(
                user_id=event["user"], view={"type": "home", "blocks": [section("Welcome")]}
            )

        @app.event({"type": "message", "subtype": "message_changed"})
        async def on_edit(event: dict[str, Any]) -> None:
            events.append(event)

        async with socket_mode(app, fake):
            fake.user_mentions(WORKER, TEAM_CHANNEL, "can you help?")
            fake.user_opens_home(WORKER)
            await fake.wait_for("views.publish")
            fake.send_event(
                {
                    "type": "message",
                    "subtype": "message_changed",
                    "hidden": True,
                    "channel": fake.dm_channel(WORKER),
                    "message": {"type": "message", "user": WORKER, "text": "edited"},
                    "previous_message": {"type": "message", "user": WORKER, "text": "typo"},
                }
            )
            await fake.wait_for_acks(3)
    mention, home, edit = events
    assert mention["text"] == f"<@{fake.bot_user_id}> can you help?"
    assert mention["ext"] is False
    assert (home["tab"], home["user"]) == ("home", WORKER)
    assert edit["channel_type"] == "im"
    view = fake.home_view(WORKER)
    assert view is not None
    assert view["blocks"][0]["text"]["text"] == "Welcome"


@scenario
async def test_a_person_from_another_workspace_is_marked_as_such() -> None:
    async with FakeSlack() as fake:
        fake.register_user(GUEST, team_id="T0ELSEWHERE")
        payload = fake.user_sends_dm(GUEST, "hello from outside")
    assert payload["is_ext_shared_channel"] is True
    assert payload["team_id"] == fake.team_id
    assert payload["event"]["team"] == payload["event"]["user_team"] == "T0ELSEWHERE"


# --- HTTP request URL -------------------------------------------------------------------


@scenario
async def test_a_bolt_app_over_http_answers_signed_requests() -> None:
    async with FakeSlack() as fake:
        fake.register_user(WORKER)
        app = bolt_app(fake)

        @app.event("message")
        async def on_message(event: dict[str, Any], say: Any) -> None:
            await say(f"Heard: {event['text']}")

        @app.command("/reflect")
        async def on_reflect(ack: Any) -> None:
            await ack({"response_type": "in_channel", "text": "Starting a reflection"})

        @app.action("yes")
        async def on_yes(ack: Any, respond: Any) -> None:
            await ack()
            await respond("Thanks")

        async with serve(app.web_app()) as url:
            fake.deliver_to(url, SIGNING_SECRET)
            status, challenge = await fake.verify_url("c-123")
            fake.user_sends_dm(WORKER, "over http")
            await fake.wait_for("chat.postMessage")
            fake.user_runs_command(WORKER, "/reflect")
            await fake.wait_for_acks(2)
            sent = await web_client(fake).chat_postMessage(
                channel=WORKER, text="OK?", blocks=[actions(button("yes"))]
            )
            fake.user_presses(WORKER, sent["message"] | {"channel": sent["channel"]}, "yes")
            await fake.wait_for_responses(1)
    assert (status, json.loads(challenge)) == (200, {"challenge": "c-123"})
    assert [d.status for d in fake.deliveries] == [200, 200, 200]
    assert [a.kind for a in fake.acks] == ["events_api", "slash_commands", "interactive"]
    assert fake.acks[1].payload == {"response_type": "in_channel", "text": "Starting a reflection"}
    assert fake.texts_in(WORKER) == ["Heard: over http", "Starting a reflection", "OK?"]
    assert [e["text"] for e in fake.ephemerals_for(WORKER)] == ["Thanks"]


@scenario
async def test_a_wrong_signing_secret_is_refused_by_bolt_and_retried() -> None:
    async with FakeSlack(ack_timeout=1.0) as fake:
        app = bolt_app(fake)

        @app.event("message")
        async def on_message() -> None:
            pass

        async with serve(app.web_app()) as url:
            fake.deliver_to(url, "not-the-secret")
            fake.user_sends_dm(WORKER, "hello")
            deliveries = await fake.wait_for_deliveries(4)
    assert [(d.attempt, d.status, d.error) for d in deliveries] == [
        (n, 401, "http_error") for n in range(4)
    ]
    assert fake.acks == []


@scenario
async def test_http_retries_carry_the_retry_number_and_reason() -> None:
    seen: list[tuple[str | None, str | None, bool]] = []
    answers: list[int | None] = [500, None, 200]  # None: answer after the ack timeout

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        signed = request.headers["X-Slack-Signature"] == sign(
            SIGNING_SECRET, request.headers["X-Slack-Request-Timestamp"], body
        )
        seen.append(
            (
                request.headers.get("X-Slack-Retry-Num"),
                request.headers.get("X-Slack-Retry-Reason"),
                signed,
            )
        )
        answer = answers.pop(0) if answers else 200
        if answer is None:
            await asyncio.sleep(1.0)
            answer = 200
        return web.Response(status=answer)

    receiver = web.Application()
    receiver.router.add_post("/slack/events", receive)
    async with FakeSlack(ack_timeout=0.3) as fake, serve(receiver) as url:
        fake.deliver_to(url, SIGNING_SECRET)
        fake.user_sends_dm(WORKER, "hello")
        await fake.wait_for_acks(1)
    assert seen == [
        (None, None, True),
        ("1", "http_error", True),
        ("2", "http_timeout", True),
    ]
    assert [(d.attempt, d.status) for d in fake.deliveries] == [(0, 500), (1, None), (2, 200)]
