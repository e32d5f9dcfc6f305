"""`critical-friend run` as a real process: every configured channel in one process, one
web server for all of them (beside /healthz), a clean stop on SIGTERM, and start-up
failures as one sentence with exit code 2."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from bot.config import SlackSettings
from tests.chat_process import ROOT, cli_env
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

WORKER = 501
SLACK_WORKER = "U0WORKER01"
SIGNING_SECRET = "0123456789abcdef" * 2
TELEGRAM_SECRET = "a-webhook-secret-0123456789"
READY = "Critical Friend is running"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Run:
    """One `critical-friend run` process; stderr is read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.errors: list[str] = []

    async def ready(self, timeout: float = 30) -> None:  # noqa: ASYNC109
        """Wait for the line saying every channel has started."""
        async with asyncio.timeout(timeout):
            while not any(READY in line for line in self.errors):
                if not await self._read_line():
                    code = await self.process.wait()
                    raise AssertionError(f"run ended with {code}: {self.stderr}")

    async def _read_line(self) -> bool:
        assert self.process.stderr is not None
        line = await self.process.stderr.readline()
        if line:
            self.errors.append(line.decode())
        return bool(line)

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:  # noqa: ASYNC109
        self.process.send_signal(signum)
        return await self.finish(timeout)

    async def finish(self, timeout: float = 30) -> int:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while await self._read_line():
                pass
            return await self.process.wait()

    @property
    def stderr(self) -> str:
        return "".join(self.errors)


@contextlib.asynccontextmanager
async def running(home: Path, config: str) -> AsyncIterator[Run]:
    file = home / "config.yaml"
    file.write_text(config)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(file),
        env=cli_env(home),
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield Run(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def telegram_webhook(fake: FakeTelegram, port: int) -> str:
    return (
        f"telegram:\n  token: '{fake.token}'\n  base_url: {fake.base_url}\n"
        f"  allowed_user_ids: [{WORKER}]\n  mode: webhook\n"
        f"  webhook_url: http://127.0.0.1:{port}/telegram\n  secret_token: {TELEGRAM_SECRET}\n"
    )


def slack_http(fake: FakeSlack) -> str:
    return (
        f"slack:\n  bot_token: {fake.bot_token}\n  api_base_url: {fake.api_url}\n"
        f"  allowed_team_ids: [{fake.team_id}]\n  mode: http\n"
        f"  signing_secret: {SIGNING_SECRET}\n"
    )


def web_section(port: int) -> str:
    return f"web:\n  listen: 127.0.0.1\n  port: {port}\n"


async def health(port: int) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as answer,
    ):
        return answer.status, await answer.text()


def test_telegram_webhooks_and_healthz_share_the_port_and_sigterm_stops_cleanly(
    tmp_path: Path,
) -> None:
    port = free_port()

    async def scenario() -> None:
        async with (
            FakeTelegram() as fake,
            running(tmp_path, telegram_webhook(fake, port) + web_section(port)) as run,
        ):
            await run.ready()
            assert await health(port) == (200, "ok")
            fake.user_sends_text(WORKER, "/start")
            await fake.wait_for(
                lambda call: call.method == "sendMessage" and bool(fake.sent_texts(WORKER)),
                timeout=30,
            )
            assert fake.sent_texts(WORKER)[0].startswith("Hello")
            assert [c for c in fake.calls if c.method == "getUpdates"] == []
            assert all(d.status == 200 for d in fake.webhook_deliveries)
            assert await run.stop() == 0
            assert "Traceback" not in run.stderr
            assert f"web server on 127.0.0.1:{port}" in run.stderr
            with pytest.raises(aiohttp.ClientConnectionError):
                await health(port)  # the server is gone with the process

    asyncio.run(scenario())


def test_slack_http_and_telegram_webhooks_are_served_on_one_port(tmp_path: Path) -> None:
    port = free_port()

    async def scenario() -> None:
        async with FakeTelegram() as telegram, FakeSlack() as slack:
            config = telegram_webhook(telegram, port) + slack_http(slack) + web_section(port)
            async with running(tmp_path, config) as run:
                await run.ready()
                slack.deliver_to(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET)
                slack.user_sends_dm(SLACK_WORKER, "hello")
                await slack.wait_for("chat.postMessage", timeout=30)
                said = slack.texts_in(slack.dm_channel(SLACK_WORKER))
                assert said
                assert said[0].startswith("Hello")
                telegram.user_sends_text(WORKER, "/start")
                await telegram.wait_for("sendMessage", timeout=30)
                assert await health(port) == (200, "ok")
                # A request that Slack did not sign is refused, and nothing is processed.
                async with (
                    aiohttp.ClientSession() as session,
                    session.post(
                        f"http://127.0.0.1:{port}/slack/events",
                        json=slack.event_payload({"type": "app_mention"}),
                    ) as forged,
                ):
                    assert forged.status == 401
                assert await run.stop() == 0
                assert "Traceback" not in run.stderr
                assert "Telegram (webhook), Slack (HTTP mode)" in run.stderr
                assert {d.status for d in slack.deliveries} == {200}
                assert all(d.transport == "http" for d in slack.deliveries)

    asyncio.run(scenario())


def test_slack_socket_mode_alone_needs_no_web_server(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeSlack() as slack:
            config = (
                f"slack:\n  bot_token: {slack.bot_token}\n  api_base_url: {slack.api_url}\n"
                f"  allowed_team_ids: [{slack.team_id}]\n  app_token: {slack.app_token}\n"
            )
            async with running(tmp_path, config) as run:
                await run.ready()
                assert "web server" not in run.stderr
                slack.user_sends_dm(SLACK_WORKER, "hello")
                await slack.wait_for("chat.postMessage", timeout=30)
                assert await run.stop(signal.SIGINT) == 0
                assert "Traceback" not in run.stderr
                assert slack.connected_sockets == 0

    asyncio.run(scenario())


def test_a_signal_while_slack_is_slow_to_answer_at_start_stops_cleanly(tmp_path: Path) -> None:
    async def scenario() -> None:
        asked = asyncio.Event()

        async def never_answers(_request: web.Request) -> web.Response:
            asked.set()
            await asyncio.sleep(3600)
            return web.Response()

        slow = web.Application()
        slow.router.add_post("/api/{method}", never_answers)
        runner = web.AppRunner(slow, handler_cancellation=True)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        config = (
            f"slack:\n  bot_token: xoxb-1-2-slow\n  api_base_url: http://{host}:{port}/api/\n"
            f"  allowed_team_ids: [T0SLOW]\n  mode: http\n  signing_secret: {SIGNING_SECRET}\n"
        )
        try:
            async with running(tmp_path, config) as run:
                await asyncio.wait_for(asked.wait(), 30)
                assert await run.stop(timeout=10) == 0
                assert "Traceback" not in run.stderr
                assert READY not in run.stderr
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_a_port_in_use_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    async def scenario() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            async with (
                FakeSlack() as slack,
                running(tmp_path, slack_http(slack) + web_section(port)) as run,
            ):
                assert await run.finish() == 2
                assert run.stderr.strip().splitlines()[-1] == (
                    f"critical-friend: web server: port {port} is already in use on "
                    f"127.0.0.1:{port}; stop the other program or set web.port"
                )

    asyncio.run(scenario())


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_a_token_slack_refuses_is_one_sentence_and_exit_2(tmp_path: Path, mode: str) -> None:
    wrong = "xoxb-1000000001-2000000002-notTheRightOne"

    async def scenario() -> None:
        async with FakeSlack() as slack:
            config = (
                f"slack:\n  bot_token: {wrong}\n  api_base_url: {slack.api_url}\n"
                f"  allowed_team_ids: [{slack.team_id}]\n  mode: {mode}\n"
                f"  app_token: {slack.app_token}\n  signing_secret: {SIGNING_SECRET}\n"
                + web_section(free_port())
            )
            async with running(tmp_path, config) as run:
                assert await run.finish() == 2
                assert run.stderr.strip().splitlines()[-1] == (
                    "critical-friend: slack: Slack answered auth.test with invalid_auth; "
                    "check slack.bot_token"
                )
                assert wrong not in run.stderr

    asyncio.run(scenario())


def test_an_app_token_slack_refuses_names_the_app_token(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeSlack() as slack:
            config = (
                f"slack:\n  bot_token: {slack.bot_token}\n  api_base_url: {slack.api_url}\n"
                f"  allowed_team_ids: [{slack.team_id}]\n  app_token: xapp-1-A0-wrong\n"
            )
            async with running(tmp_path, config) as run:
                assert await run.finish(timeout=15) == 2
                assert "Traceback" not in run.stderr
                assert run.stderr.strip().splitlines()[-1] == (
                    "critical-friend: slack: Slack answered apps.connections.open with "
                    "invalid_auth; check slack.app_token"
                )

    asyncio.run(scenario())


def test_a_telegram_token_telegram_refuses_is_one_sentence_without_the_token(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with FakeTelegram() as fake:
            wrong = "987654321:AAH-this-is-not-the-fake-token0000"
            config = f"telegram:\n  token: '{wrong}'\n  base_url: {fake.base_url}\n"
            async with running(tmp_path, config) as run:
                assert await run.finish() == 2
                assert run.stderr.strip().splitlines()[-1] == (
                    "critical-friend: telegram: Telegram refused the bot token; "
                    "check telegram.token"
                )

    asyncio.run(scenario())


def test_the_slack_manifest_asks_for_what_the_code_uses_and_no_more() -> None:
    from bot.channels.slack import COMMAND, FRIEND_COMMAND, TEXT_COMMANDS

    text = (ROOT / "slack-manifest.yaml").read_text()
    manifest = yaml.safe_load(text)
    assert manifest["_metadata"]["major_version"] == 1
    assert manifest["display_information"]["name"] == "Critical Friend"
    features = manifest["features"]
    assert features["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": True,
        "messages_tab_read_only_enabled": False,
    }
    assert features["bot_user"]["display_name"] == "Critical Friend"
    command, *typed_on = features["slash_commands"]
    assert command["command"] == COMMAND == "/reflect"
    assert command["usage_hint"] == "[model]"
    assert [c["command"] for c in typed_on] == list(TEXT_COMMANDS)
    assert TEXT_COMMANDS[0] == FRIEND_COMMAND == "/friend"
    assert all(len(c["description"]) <= 100 for c in (command, *typed_on))  # Slack's limit
    settings = manifest["settings"]
    assert sorted(settings["event_subscriptions"]["bot_events"]) == [
        "app_home_opened",
        "app_mention",
        "message.im",
    ]
    # Each event is listened for in the channel (message.im arrives as a "message" event).
    source = (ROOT / "bot" / "channels" / "slack.py").read_text()
    for event in ("message", "app_mention", "app_home_opened"):
        assert f'app.event("{event}")' in source
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "app_mentions:read",
        "chat:write",
        "commands",
        "files:write",
        "im:history",
        "im:write",
        "users:read",
    ]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    # HTTP mode: a request URL to uncomment for each slash command, events and presses,
    # all the bot's default Slack path.
    default_path = SlackSettings.model_fields["path"].default
    urls = re.findall(r"#\s*(?:url|request_url): (\S+)", text)
    assert urls == [f"https://YOUR-HOST{default_path}"] * 6
