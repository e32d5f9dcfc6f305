"""Logs at debug level, with real platform libraries at work, hold no worker text or token."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot import logs
from bot.channels.slack import SlackChannel
from bot.service import ConversationService
from tests.fakes.slack import FakeSlack
from tests.test_slack import WORKER, bot_messages, with_slack

PHRASE = "Kestrel-Yellow-Ninety the child's aunt said"


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    """The bot's own logging at debug level, written to a string."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    written = io.StringIO()
    logs.configure("debug", written)
    yield written
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    for name in logs.PLATFORM_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_a_slack_conversation_at_debug_level_logs_no_words_and_no_token(
    service: ConversationService, debug_logs: io.StringIO
) -> None:
    tokens: list[str] = []

    async def scenario(fake: FakeSlack, _channel: SlackChannel) -> None:
        tokens.append(fake.bot_token)
        fake.user_runs_command(WORKER, "/reflect", "gibbs")
        await bot_messages(fake, 1)
        fake.user_sends_dm(WORKER, PHRASE)
        await bot_messages(fake, 2)
        # Something bolt does not expect: its warning would quote the payload.
        fake.send_event({"type": "pin_added", "user": WORKER, "channel_id": "D1", "note": PHRASE})
        await fake.wait_for_acks(3)

    with_slack(service, scenario)
    err = debug_logs.getvalue()
    assert "turn slack-" in err  # debug lines of the bot itself were written
    assert PHRASE not in err
    assert "Kestrel" not in err
    assert tokens[0] not in err


def test_a_platform_warning_is_kept_without_its_details() -> None:
    record = logging.LogRecord(
        "slack_bolt.App", logging.WARNING, __file__, 1, "Unhandled request (%s)", (PHRASE,), None
    )
    assert logs.WithholdPlatformDetails().filter(record)
    assert PHRASE not in record.getMessage()
    quiet = logging.LogRecord("httpx", logging.INFO, __file__, 1, "POST %s", ("/bot123:abc",), None)
    assert not logs.WithholdPlatformDetails().filter(quiet)
    ours = logging.LogRecord("bot.service", logging.INFO, __file__, 1, "turn %s", ("x",), None)
    assert logs.WithholdPlatformDetails().filter(ours)
    assert ours.getMessage() == "turn x"
