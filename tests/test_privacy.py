"""Private by default: what a worker writes never appears in the database file or the logs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.chat_process import ChatProcess

SECRET = "Zebrafinch-7731 told me about the kitchen"


def test_a_typed_phrase_is_nowhere_in_the_sqlite_files_or_the_logs(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("log_level: debug\n")
    with ChatProcess(
        tmp_path, "--config", str(config), "--dialogue", "gibbs", "--user", "Kim Doe"
    ) as chat:
        chat.read_until_prompt()
        chat.send(f"{SECRET} and we made a plan together for the next visit.")
        chat.send("back")
        chat.send(f"Revised: {SECRET}, and we agreed the next steps.")
        chat.send("pause")
        assert chat.close_stdin() == 0
        logs = chat.stderr()
    assert "turn terminal-" in logs  # the debug logs were really captured
    files = [p for p in tmp_path.iterdir() if p.name.startswith("critical-friend.db")]
    assert files, "the database file was not where expected"
    # (The --user name is the identity we look workers up by, so it is stored as is.)
    for needle in [SECRET, "Zebrafinch"]:
        assert needle not in logs
        for file in files:
            assert needle.encode() not in file.read_bytes(), file.name


def test_the_generated_key_file_is_readable_only_by_its_owner(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        chat.read_until_prompt()
        chat.close_stdin()
        assert "Created an encryption key" in chat.stderr()
    mode = stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode)
    assert mode == 0o600
    with ChatProcess(tmp_path, "--dialogue", "gibbs") as chat:
        chat.read_until_prompt()
        chat.close_stdin()
        assert "Created an encryption key" not in chat.stderr()  # said once only


def test_a_phrase_written_on_telegram_slack_and_in_peer_feedback_is_in_no_log_and_not_in_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whole reflections on Telegram and on Slack, then feedback between the two workers,
    every answer carrying one unique phrase; the bot's logs at debug level (as
    `critical-friend run` writes them) and every record our own code made, and the
    SQLite files, must not hold it."""
    import asyncio
    import io
    import logging

    from bot import logs
    from bot.channels.slack import SlackChannel
    from bot.channels.telegram import TelegramChannel
    from bot.config import FriendConfig
    from bot.dialogues import load_catalog
    from bot.messages import UserRef
    from bot.peer import wording as peer_wording
    from bot.peer.commands import Peer
    from bot.service import ConversationService
    from bot.store.crypto import Cipher, generate_key
    from bot.store.db import open_engine, upgrade
    from bot.store.repository import Store
    from tests.fakes.slack import FakeSlack
    from tests.fakes.telegram import FakeTelegram
    from tests.friends import Colleague
    from tests.worker import Worker

    phrase = "Periwinkle-Ostrich-5519"
    written = f"{phrase} was what I noticed most on the visit, and it stayed with me."
    database = tmp_path / "critical-friend.db"
    engine = open_engine(f"sqlite:///{database}")
    upgrade(engine)
    store = Store(engine, Cipher([generate_key()]))
    catalog = load_catalog([Path(__file__).resolve().parent.parent / "dialogues"])
    peer = Peer(FriendConfig(), catalog, "Europe/London")
    service = ConversationService(store, catalog, peer=peer)
    stream = io.StringIO()
    logs.configure("debug", stream)
    logging.getLogger().addHandler(caplog.handler)  # configure replaced the root's handlers

    def journal_size(user: UserRef) -> int:
        with store.transaction() as tx:
            user_id = tx.find_user(user)
            return len(tx.journal(user_id)) if user_id is not None else 0

    async def reflect_everywhere() -> None:
        async with FakeTelegram() as telegram_api, FakeSlack() as slack_api:
            telegram_api.register_user(4242, first_name="Sam")
            slack_api.register_user("U0KIMWORK1", real_name="Kim")
            telegram = TelegramChannel(
                service,
                token=telegram_api.token,
                base_url=telegram_api.base_url,
                allowed_user_ids=[4242],
            )
            slack = SlackChannel(
                service,
                bot_token=slack_api.bot_token,
                allowed_team_ids=[slack_api.team_id],
                api_base_url=slack_api.api_url,
            )
            await telegram.start(poll_timeout=1)
            await slack.start_socket_mode(slack_api.app_token)
            sam = UserRef("telegram", "4242")
            kim = UserRef("slack", f"{slack_api.team_id}:U0KIMWORK1")
            try:
                telegram_api.user_sends_text(4242, "/reflect gibbs_quick")
                slack_api.user_sends_dm("U0KIMWORK1", "/reflect gibbs_quick")
                for _ in range(40):
                    await asyncio.sleep(0.3)
                    if journal_size(sam) and journal_size(kim):
                        break
                    # Answer whatever each was last asked: a button if it has one, else the phrase.
                    last = telegram_api.sent_messages(4242)[-1]
                    rows = last.get("reply_markup", {}).get("inline_keyboard", [])
                    answers = [
                        b["callback_data"]
                        for r in rows
                        for b in r
                        if "|" in b.get("callback_data", "")
                    ]
                    if answers:
                        telegram_api.user_presses(4242, last, answers[0])
                    elif not journal_size(sam):
                        telegram_api.user_sends_text(4242, written)
                    posted = slack_api.messages_in("U0KIMWORK1")[-1]
                    choice = [
                        e
                        for b in posted.get("blocks", [])
                        if b["type"] == "actions"
                        for e in b["elements"]
                        if e["action_id"].startswith("choice-")
                    ]
                    if choice:
                        slack_api.user_presses("U0KIMWORK1", posted, choice[0]["action_id"])
                    elif not journal_size(kim):
                        slack_api.user_sends_dm("U0KIMWORK1", written)
            finally:
                await slack.stop()
                await telegram.stop()
        assert journal_size(sam) == 1
        assert journal_size(kim) == 1

    with caplog.at_level(logging.DEBUG):
        asyncio.run(asyncio.wait_for(reflect_everywhere(), 90))
        # Then the two give each other a critical friend's feedback, with the phrase in it.
        sam = Colleague(Worker(service, UserRef("telegram", "4242", "Sam")))
        kim = Colleague(Worker(service, UserRef("slack", f"{'T0FAKETEAM'}:U0KIMWORK1", "Kim")))
        kim.says("friend join")
        sam.says("friend")
        kim.says(kim.button(kim.check_inbox(), peer_wording.ACCEPT))
        sam.check_inbox()
        sam.says(sam.button(sam.says(sam.button(sam.says("friend share"), "·")), "Yes, share"))
        notice = kim.check_inbox()
        kim.says(
            kim.button(
                kim.says(kim.button(notice, peer_wording.OPEN_IT)), peer_wording.GIVE_FEEDBACK
            )
        )
        for _ in range(3):
            kim.says(written)
        sam.says(sam.button(sam.check_inbox(), peer_wording.ANSWER_FEEDBACK))
        sam.says(written)
        # It was all kept (encrypted): the worker's own export has it.
        exported = [m.attachment for m in sam.says("export") if m.attachment is not None]
        assert phrase in exported[0].content.decode()
    service.close()
    store.dispose()
    logging.getLogger().handlers.clear()
    text = stream.getvalue()
    assert "turn " in text  # the debug log was really written
    assert phrase not in text
    ours = [r for r in caplog.records if not logs.is_platform(r.name)]
    assert ours, "no records from the bot's own code were captured"
    assert not [r.name for r in ours if phrase in r.getMessage()]
    files = [p for p in tmp_path.iterdir() if p.name.startswith("critical-friend.db")]
    assert files
    for file in files:
        assert phrase.encode() not in file.read_bytes(), file.name
