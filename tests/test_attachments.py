"""A message that carries a file (a worker's export) in every channel.

Telegram sends it as a document and Slack uploads it into the worker's DM, each through
the real client library against its loopback fake; the terminal saves it next to where
it runs. The messages are handed straight to each channel's delivery, as the service
would hand them over.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from telegram import InputFile
from telegram.error import BadRequest

from bot.channels.slack import SlackChannel
from bot.channels.telegram import CHANNEL, TelegramChannel
from bot.channels.terminal import TerminalChannel
from bot.messages import Attachment, Choice, Incoming, Outgoing, Pushed, Reply, UserRef
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

WORKER_ON_TELEGRAM = 501
WORKER_ON_SLACK = "U0WORKER01"
EXPORT_JSON = Attachment(
    "critical-friend-export.json",
    json.dumps(
        {"reflections": [{"id": 1, "answers": {"what_happened": "Père & fils <ok>"}}]},
        ensure_ascii=False,
    ).encode(),
    "application/json",
)
EXPORT_MD = Attachment(
    "critical-friend-export.md",
    "# Your reflections\n\n## 1. Gibbs\n\nWe met at the family home. Café ☕\n".encode(),
    "text/markdown",
)
EXPORT = [
    Outgoing("Everything we keep about you, as JSON.", attachment=EXPORT_JSON),
    Outgoing("The same, to read.", attachment=EXPORT_MD),
]


class NoService:
    """The channels below only deliver; nobody writes to them."""

    async def handle(self, *_args: object, **_kwargs: object) -> Reply:
        raise AssertionError("no turn was expected")


# ---- Telegram ---------------------------------------------------------------------------


def with_telegram(scenario: Callable[[FakeTelegram, TelegramChannel], Awaitable[None]]) -> None:
    async def run() -> None:
        async with FakeTelegram() as fake:
            fake.register_user(WORKER_ON_TELEGRAM)
            channel = TelegramChannel(NoService(), token=fake.token, base_url=fake.base_url)  # type: ignore[arg-type]
            await channel.application.initialize()
            try:
                await scenario(fake, channel)
            finally:
                await channel.stop()

    asyncio.run(asyncio.wait_for(run(), 60))


def on_telegram() -> UserRef:
    return UserRef(CHANNEL, str(WORKER_ON_TELEGRAM))


def test_telegram_sends_an_export_as_documents_with_the_exact_bytes_and_names() -> None:
    async def scenario(fake: FakeTelegram, channel: TelegramChannel) -> None:
        assert await channel.push(on_telegram(), EXPORT) is Pushed.SENT
        sent = fake.sent_documents(WORKER_ON_TELEGRAM)
        assert [(d.filename, d.content, d.caption) for d in sent] == [
            (EXPORT_JSON.filename, EXPORT_JSON.content, "Everything we keep about you, as JSON."),
            (EXPORT_MD.filename, EXPORT_MD.content, "The same, to read."),
        ]
        assert [d.media_type for d in sent] == ["application/json", "text/markdown"]
        assert fake.sent_texts(WORKER_ON_TELEGRAM) == []  # the words are the captions
        assert [c.status for c in fake.calls_to("sendDocument")] == [200, 200]

    with_telegram(scenario)


def test_telegram_sends_a_text_too_long_for_a_caption_first_and_the_buttons_with_the_file() -> None:
    long_text = "Here is everything. " * 80  # 1,600 characters: more than a caption's 1,024
    messages = [
        Outgoing("Your export is ready."),
        Outgoing(long_text.strip(), attachment=EXPORT_JSON),
        Outgoing(
            "The same, to read.",
            attachment=EXPORT_MD,
            shortcuts=(Choice("journal", "Your journal"),),
        ),
    ]

    async def scenario(fake: FakeTelegram, channel: TelegramChannel) -> None:
        assert await channel.push(on_telegram(), messages) is Pushed.SENT
        shown = fake.sent_messages(WORKER_ON_TELEGRAM)
        assert [("document" in m, m.get("text") or m.get("caption")) for m in shown] == [
            (False, "Your export is ready."),  # not merged into a file's caption
            (False, long_text.strip()),
            (True, None),
            (True, "The same, to read."),
        ]
        keyboard = shown[-1]["reply_markup"]["inline_keyboard"]
        assert keyboard == [[{"text": "Your journal", "callback_data": "/journal"}]]

    with_telegram(scenario)


def test_telegram_waits_out_a_429_on_send_document_and_the_file_arrives_once() -> None:
    async def scenario(fake: FakeTelegram, channel: TelegramChannel) -> None:
        fake.fail_next("sendDocument", 429, retry_after=1)
        assert await channel.push(on_telegram(), EXPORT[:1]) is Pushed.SENT
        assert [c.status for c in fake.calls_to("sendDocument")] == [429, 200]
        (document,) = fake.sent_documents(WORKER_ON_TELEGRAM)
        assert document.content == EXPORT_JSON.content

    with_telegram(scenario)


def test_telegram_reports_a_worker_who_blocked_the_bot_and_retries_an_outage() -> None:
    async def scenario(fake: FakeTelegram, channel: TelegramChannel) -> None:
        fake.fail_next("sendDocument", 502, times=4)  # more than the backoff covers
        assert await channel.push(on_telegram(), EXPORT) is Pushed.RETRY
        fake.user_blocks_bot(WORKER_ON_TELEGRAM)
        assert await channel.push(on_telegram(), EXPORT) is Pushed.GONE
        assert fake.sent_documents(WORKER_ON_TELEGRAM) == []

    with_telegram(scenario)


# ---- Slack --------------------------------------------------------------------------------


def with_slack(scenario: Callable[[FakeSlack, SlackChannel], Awaitable[None]]) -> None:
    async def run() -> None:
        async with FakeSlack() as fake:
            fake.register_user(WORKER_ON_SLACK)
            channel = SlackChannel(
                NoService(),  # type: ignore[arg-type]
                bot_token=fake.bot_token,
                allowed_team_ids=[fake.team_id],
                api_base_url=fake.api_url,
            )
            await channel.start_http()
            try:
                await scenario(fake, channel)
            finally:
                await channel.stop()

    asyncio.run(asyncio.wait_for(run(), 60))


def on_slack(fake: FakeSlack) -> UserRef:
    return UserRef("slack", f"{fake.team_id}:{WORKER_ON_SLACK}")


def test_slack_uploads_an_export_into_the_workers_dm_with_the_exact_bytes() -> None:
    async def scenario(fake: FakeSlack, channel: SlackChannel) -> None:
        assert await channel.push(on_slack(fake), EXPORT) is Pushed.SENT
        files = fake.files_in(WORKER_ON_SLACK)
        assert [(f.filename, f.content, f.initial_comment) for f in files] == [
            (EXPORT_JSON.filename, EXPORT_JSON.content, "Everything we keep about you, as JSON."),
            (EXPORT_MD.filename, EXPORT_MD.content, "The same, to read."),
        ]
        dm = fake.dm_channel(WORKER_ON_SLACK)
        shares = fake.calls_to("files.completeUploadExternal")
        assert [call.params["channel_id"] for call in shares] == [dm, dm]
        assert [upload.status for upload in fake.uploads] == [200, 200]
        assert fake.texts_in(WORKER_ON_SLACK) == [f.initial_comment for f in files]

    with_slack(scenario)


def test_slack_keeps_a_files_comment_from_becoming_a_mention_and_posts_its_buttons_after() -> None:
    message = Outgoing(
        "Your export <@U0BOSS0001> & notes",
        attachment=EXPORT_MD,
        shortcuts=(Choice("journal", "Your journal"),),
    )

    async def scenario(fake: FakeSlack, channel: SlackChannel) -> None:
        assert await channel.push(on_slack(fake), [message]) is Pushed.SENT
        shared, buttons = fake.messages_in(WORKER_ON_SLACK)
        assert shared["text"] == "Your export &lt;@U0BOSS0001&gt; &amp; notes"
        assert [f["name"] for f in shared["files"]] == [EXPORT_MD.filename]
        (actions,) = [b for b in buttons["blocks"] if b["type"] == "actions"]
        assert [e["value"] for e in actions["elements"]] == ["journal"]

    with_slack(scenario)


def test_slack_waits_out_a_429_on_completing_an_upload_and_the_file_arrives_once() -> None:
    async def scenario(fake: FakeSlack, channel: SlackChannel) -> None:
        fake.fail_next("files.completeUploadExternal", 429, retry_after=1)
        assert await channel.push(on_slack(fake), EXPORT[:1]) is Pushed.SENT
        statuses = [call.status for call in fake.calls_to("files.completeUploadExternal")]
        assert statuses == [429, 200]
        (shared,) = fake.files_in(WORKER_ON_SLACK)
        assert shared.content == EXPORT_JSON.content
        assert len(fake.messages_in(WORKER_ON_SLACK)) == 1

    with_slack(scenario)


def test_slack_reports_an_upload_that_keeps_failing_for_a_retry_and_shares_nothing() -> None:
    async def scenario(fake: FakeSlack, channel: SlackChannel) -> None:
        fake.fail_next_upload(500, times=3)  # more than slack-sdk's retry handler covers
        assert await channel.push(on_slack(fake), EXPORT[:1]) is Pushed.RETRY
        assert fake.calls_to("files.completeUploadExternal") == []
        assert fake.files_in(WORKER_ON_SLACK) == []
        assert await channel.push(on_slack(fake), EXPORT[:1]) is Pushed.SENT
        (shared,) = fake.files_in(WORKER_ON_SLACK)
        assert shared.content == EXPORT_JSON.content

    with_slack(scenario)


# ---- terminal -----------------------------------------------------------------------------


def run_terminal(reply: Reply, *, json_mode: bool = False, save_dir: Path | None = None) -> str:
    """Start a terminal session whose first reply is `reply`; what it printed."""

    async def handle(incoming: Incoming) -> Reply:
        return reply if incoming.text == "export" else Reply()

    out = io.StringIO()
    channel = TerminalChannel(
        handle,
        UserRef("terminal", "alex"),
        json_mode=json_mode,
        stdin=io.StringIO(""),
        stdout=out,
        save_dir=save_dir,
    )
    asyncio.run(channel.run("export"))
    return out.getvalue()


def test_the_terminal_saves_an_export_in_the_working_directory_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shown = run_terminal(Reply(EXPORT))
    assert (tmp_path / EXPORT_JSON.filename).read_bytes() == EXPORT_JSON.content
    assert (tmp_path / EXPORT_MD.filename).read_bytes() == EXPORT_MD.content
    assert "Everything we keep about you, as JSON." in shown
    assert f"Saved to {tmp_path / EXPORT_JSON.filename}\n" in shown
    assert f"Saved to {tmp_path / EXPORT_MD.filename}\n" in shown


def test_the_terminal_never_overwrites_a_file_it_adds_a_number_instead(tmp_path: Path) -> None:
    mine = tmp_path / EXPORT_JSON.filename
    mine.write_text("a file of the worker's own")
    for _ in range(2):
        run_terminal(Reply(EXPORT[:1]), save_dir=tmp_path)
    assert mine.read_text() == "a file of the worker's own"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "critical-friend-export (2).json",
        "critical-friend-export (3).json",
        "critical-friend-export.json",
    ]
    assert (tmp_path / "critical-friend-export (3).json").read_bytes() == EXPORT_JSON.content


def test_the_terminal_in_json_mode_prints_a_file_record_with_the_saved_path(
    tmp_path: Path,
) -> None:
    shown = run_terminal(Reply(EXPORT), json_mode=True, save_dir=tmp_path)
    records = [json.loads(line) for line in shown.splitlines() if '"prompt"' not in line]
    files = [record for record in records if record["type"] == "file"]
    assert files == [
        {
            "type": "file",
            "name": EXPORT_JSON.filename,
            "path": str(tmp_path / EXPORT_JSON.filename),
            "text": "Everything we keep about you, as JSON.",
        },
        {
            "type": "file",
            "name": EXPORT_MD.filename,
            "path": str(tmp_path / EXPORT_MD.filename),
            "text": "The same, to read.",
        },
    ]


def test_the_terminal_keeps_a_file_name_inside_the_folder_and_says_when_it_cannot_save(
    tmp_path: Path,
) -> None:
    sneaky = Attachment("../../outside.json", b"{}", "application/json")
    run_terminal(Reply([Outgoing("Here.", attachment=sneaky)]), save_dir=tmp_path)
    assert (tmp_path / "outside.json").read_bytes() == b"{}"
    assert not (tmp_path.parent.parent / "outside.json").exists()
    missing = tmp_path / "no-such-folder"
    shown = run_terminal(Reply(EXPORT[:1]), json_mode=True, save_dir=missing)
    (record,) = [json.loads(line) for line in shown.splitlines() if '"file"' in line]
    assert record["path"] is None
    assert record["error"].startswith(f"Could not save {EXPORT_JSON.filename}")
    assert "Traceback" not in shown


# ---- what the fakes check -----------------------------------------------------------------


def test_fake_telegram_refuses_an_empty_or_unknown_document_and_a_caption_too_long() -> None:
    async def scenario(fake: FakeTelegram, channel: TelegramChannel) -> None:
        bot = channel.application.bot
        chat = WORKER_ON_TELEGRAM
        refusals = {
            "empty": lambda: bot.send_document(chat, InputFile(b"", filename="empty.json")),
            "unknown": lambda: bot.send_document(chat, "BQACAgQAAxkDAAInot-a-file-id"),
            "caption": lambda: bot.send_document(
                chat, InputFile(b"{}", filename="a.json"), caption="x" * 1025
            ),
        }
        said = {}
        for name, call in refusals.items():
            with pytest.raises(BadRequest) as refused:
                await call()
            said[name] = refused.value.message
        assert said == {
            "empty": "File must be non-empty",
            "unknown": "Wrong file identifier/http url specified",
            "caption": "Message caption is too long",
        }
        first = await bot.send_document(chat, InputFile(b"[1]", filename="a.json"))
        assert first.document is not None
        again = await bot.send_document(chat, first.document.file_id, caption="Once more")
        assert again.document is not None
        assert again.document.file_name == "a.json"
        assert [(d.content, d.caption) for d in fake.sent_documents(chat)] == [
            (b"[1]", None),
            (b"[1]", "Once more"),
        ]

    with_telegram(scenario)


def test_fake_slack_completes_only_an_uploaded_file_once_and_checks_the_upload() -> None:
    async def scenario(fake: FakeSlack, channel: SlackChannel) -> None:
        client = channel.client
        dm = fake.dm_channel(WORKER_ON_SLACK)
        reserved = await client.files_getUploadURLExternal(filename="a.json", length=4)
        file_id, url = reserved["file_id"], reserved["upload_url"]
        assert url.startswith(fake.url)
        with pytest.raises(SlackApiError) as early:
            await client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=dm)
        assert early.value.response["error"] == "file_not_found"  # nothing uploaded yet
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=b"too long") as wrong:
                assert wrong.status == 400  # not the length announced
            async with session.post(url, data=b"[42]") as right:
                assert (right.status, await right.text()) == (200, "OK - 4")
            async with session.post(url, data=b"[43]") as again:
                assert again.status == 400  # an upload URL takes one upload
        done = await client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=dm)
        assert done["files"] == [{"id": file_id, "title": "a.json"}]
        with pytest.raises(SlackApiError) as twice:
            await client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=dm)
        assert twice.value.response["error"] == "file_not_found"
        with pytest.raises(SlackApiError) as nothing:
            await client.files_getUploadURLExternal(filename="b.json", length=0)
        assert nothing.value.response["error"] == "missing_argument"
        with pytest.raises(SlackApiError) as unknown:
            await client.api_call(
                "files.getUploadURLExternal",
                params={"filename": "c.json", "length": 3, "mimetype": "text/plain"},
            )
        assert unknown.value.response["error"] == "invalid_arguments"
        (shared,) = fake.files_in(WORKER_ON_SLACK)
        assert (shared.filename, shared.content, shared.initial_comment) == ("a.json", b"[42]", "")
        assert [upload.status for upload in fake.uploads] == [400, 200, 400]

    with_slack(scenario)
