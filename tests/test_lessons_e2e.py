"""The team digest through the real python-telegram-bot and slack-bolt, to the fake
Telegram and Slack on loopback: one post to the team's Slack channel (after a 429) and
one to its Telegram group, and a second process's tick that posts nothing again."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.channels.slack import SlackChannel
from bot.channels.telegram import TelegramChannel
from bot.config import LessonsConfig
from bot.lessons import chat as words
from bot.lessons import default_themes
from bot.lessons.sender import DigestSender
from bot.messages import UserRef
from bot.service import ConversationService
from bot.store.models import digests
from bot.store.repository import Store
from tests.conftest import Clock
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.test_lessons import ANSWERS, DRAFTED, button, offered, reflect, said

SAM = UserRef("telegram", "101", "Sam")
GROUP = -1001234567890
CHANNEL = "C0TEAM0001"


def test_the_digest_reaches_a_slack_channel_and_a_telegram_group_once(
    team_service: ConversationService, store: Store, clock: Clock
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    clock.now = datetime(2026, 11, 30, 9, 5, tzinfo=UTC)
    config = LessonsConfig.model_validate(
        {"post_to": [f"slack:{CHANNEL}", f"telegram:{GROUP}"], "chart": True}
    )

    async def scenario() -> None:
        async with FakeTelegram() as telegram_api, FakeSlack() as slack_api:
            telegram_api.register_chat(GROUP, "supergroup", title="Team")
            slack_api.register_channel(CHANNEL, "team-learning")
            slack_api.fail_next("chat.postMessage", 429, retry_after=1)
            telegram = TelegramChannel(
                team_service, token=telegram_api.token, base_url=telegram_api.base_url
            )
            slack = SlackChannel(
                team_service,
                bot_token=slack_api.bot_token,
                allowed_team_ids=[slack_api.team_id],
                api_base_url=slack_api.api_url,
            )
            await telegram.start(poll_timeout=1)
            await slack.start_http()
            try:
                senders = [
                    DigestSender(
                        store,
                        config,
                        default_themes(),
                        {"telegram": telegram, "slack": slack},
                        clock,
                        claimant=name,
                    )
                    for name in ("one", "two")
                ]
                posted = await asyncio.gather(*(s.tick() for s in senders))
                assert sum(posted) == 2  # one post per place, whoever claimed it
                assert await senders[0].tick() == 0
                for sender in senders:
                    await sender.stop()
            finally:
                await slack.stop()
                await telegram.stop()
            (group_text,) = telegram_api.sent_texts(GROUP)
            assert f"• {DRAFTED}" in group_text
            assert "Sam" not in group_text
            assert len(telegram_api.sent_documents(GROUP)) == 1  # the chart
            posts = [m for m in slack_api.messages_in(CHANNEL) if DRAFTED in str(m)]
            assert len(posts) == 1
            assert len(slack_api.calls_to("chat.postMessage")) >= 2  # the 429, then the post

    asyncio.run(scenario())


def test_a_slack_channel_the_bot_is_not_in_is_given_up_at_once_and_said_in_the_log(
    team_service: ConversationService,
    store: Store,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Slack answers `not_in_channel`: retrying cannot help until someone invites the
    bot, so the log says what to do instead of the digest failing silently later."""
    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    clock.now = datetime(2026, 11, 30, 9, 5, tzinfo=UTC)
    config = LessonsConfig.model_validate({"post_to": [f"slack:{CHANNEL}"]})

    async def scenario() -> None:
        async with FakeSlack() as slack_api:
            slack_api.register_channel(CHANNEL, "team-learning", bot_is_member=False)
            slack = SlackChannel(
                team_service,
                bot_token=slack_api.bot_token,
                allowed_team_ids=[slack_api.team_id],
                api_base_url=slack_api.api_url,
            )
            await slack.start_http()
            try:
                sender = DigestSender(store, config, default_themes(), {"slack": slack}, clock)
                assert await sender.tick() == 0
                await sender.stop()
            finally:
                await slack.stop()

    with caplog.at_level(logging.ERROR, logger="bot.lessons.sender"):
        asyncio.run(scenario())
    with store.engine.connect() as connection:
        status, outcome = connection.execute(select(digests.c.status, digests.c.outcome)).one()
    assert status == "failed"
    assert "is the bot in that channel" in outcome
    assert "is the bot in that channel" in caplog.text
