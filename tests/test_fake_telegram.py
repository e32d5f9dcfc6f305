"""The fake Telegram Bot API behaves like Telegram, as the real python-telegram-bot sees it.

Every scenario drives `telegram.Bot` (or an `Application`) over HTTP on loopback; raw aiohttp
requests are used only where python-telegram-bot cannot send the bad request itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import functools
import html
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import telegram
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.helpers import escape_markdown
from telegram.request import HTTPXRequest

from tests.fakes.telegram import SECRET_HEADER, FakeTelegram
from tests.fakes.telegram_spec import VENDORED, extract, load_methods

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL_SPEC = ROOT.parent / "shared" / "specs" / "telegram-bot-api.json"
WORKER = 4201  # a social worker's Telegram user id; their private chat has the same id
PEER = 4202
TEAM_CHAT = -1001234567890
SCENARIO_LIMIT_S = 10


# python-telegram-bot strips "Bad Request: " from a description and str.capitalize()s the rest,
# so "Bad Request: BUTTON_DATA_INVALID" arrives as "Button_data_invalid": such messages are
# matched without regard to case.


def scenario(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (pytest-asyncio is not a dependency)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), SCENARIO_LIMIT_S))

    return run


@contextlib.asynccontextmanager
async def telegram_and_bot(**options: Any) -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    async with FakeTelegram(**options) as fake, Bot(fake.token, base_url=fake.base_url) as bot:
        yield fake, bot


async def post_raw(fake: FakeTelegram, method: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    token = kwargs.pop("token", fake.token)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}/bot{token}/{method}", **kwargs) as response,
    ):
        return response.status, await response.json()


def inline_keyboard(*choices: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(c.title(), callback_data=c)] for c in choices]
    )


# --- the vendored spec ------------------------------------------------------------------


def test_the_vendored_method_list_matches_the_official_spec() -> None:
    if not OFFICIAL_SPEC.exists():
        pytest.skip(f"the shared spec is not here to compare with: {OFFICIAL_SPEC}")
    assert load_methods(VENDORED) == extract(OFFICIAL_SPEC)


# --- the bot and its token --------------------------------------------------------------


@scenario
async def test_get_me_describes_the_bot_whose_token_was_used() -> None:
    async with telegram_and_bot(token="7654321:AAtest_token", bot_username="cf_bot") as (fake, bot):
        me = await bot.get_me()
        assert (me.id, me.username, me.is_bot) == (7654321, "cf_bot", True)
        assert [call.status for call in fake.calls_to("getMe")] == [200, 200]


@scenario
async def test_a_wrong_token_is_unauthorized() -> None:
    async with FakeTelegram() as fake:
        with pytest.raises(telegram.error.InvalidToken):
            async with Bot("1:wrong", base_url=fake.base_url):
                pass
        status, body = await post_raw(fake, "getMe", token="1:wrong")
    assert status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}


@scenario
async def test_an_unknown_method_is_not_found() -> None:
    async with FakeTelegram() as fake:
        status, body = await post_raw(fake, "sendTelepathy", json={"chat_id": WORKER})
        assert fake.calls[-1][::3] == ("sendTelepathy", 404)
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}


@scenario
async def test_method_names_are_case_insensitive_as_on_telegram() -> None:
    async with FakeTelegram() as fake:
        fake.register_user(WORKER)
        status, _ = await post_raw(fake, "SENDMESSAGE", json={"chat_id": WORKER, "text": "hi"})
        assert status == 200
        assert fake.calls[-1].method == "sendMessage"


@scenario
async def test_get_requests_take_parameters_from_the_query_string() -> None:
    async with FakeTelegram() as fake:
        fake.register_user(WORKER)
        async with aiohttp.ClientSession() as session:
            base = f"{fake.url}/bot{fake.token}"
            async with session.get(f"{base}/getMe") as response:
                me = await response.json()
            params = {"chat_id": str(WORKER), "text": "via GET"}
            async with session.get(f"{base}/sendMessage", params=params) as response:
                sent = await response.json()
    assert me["result"]["is_bot"] is True
    assert (sent["ok"], sent["result"]["text"]) == (True, "via GET")
    assert fake.sent_texts(WORKER) == ["via GET"]


# --- checking parameters against the spec -----------------------------------------------


@scenario
async def test_an_unknown_parameter_is_a_bad_request() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        status, body = await post_raw(
            fake, "sendMessage", json={"chat_id": WORKER, "text": "hi", "colour": "red"}
        )
        assert (status, body["description"]) == (400, "Bad Request: unknown parameter colour")
        with pytest.raises(telegram.error.BadRequest, match="Unknown parameter colour"):
            await bot.send_message(WORKER, "hi", api_kwargs={"colour": "red"})
        assert fake.sent_texts(WORKER) == []


@scenario
async def test_a_missing_required_parameter_is_a_bad_request() -> None:
    async with FakeTelegram() as fake:
        fake.register_user(WORKER)
        no_text = await post_raw(fake, "sendMessage", json={"chat_id": WORKER})
        no_chat = await post_raw(fake, "sendMessage", data={"text": "hi"})
        no_query = await post_raw(fake, "answerCallbackQuery", data={"callback_query_id": ""})
    assert no_text == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"},
    )
    assert no_chat[1]["description"] == "Bad Request: chat_id is empty"
    assert no_query[1]["description"] == "Bad Request: callback_query_id is empty"


@scenario
async def test_a_parameter_of_the_wrong_type_is_a_bad_request() -> None:
    async with FakeTelegram() as fake:
        fake.register_user(WORKER)
        flag = await post_raw(
            fake,
            "sendMessage",
            data={"chat_id": str(WORKER), "text": "hi", "disable_notification": "maybe"},
        )
        chat = await post_raw(fake, "sendMessage", json={"chat_id": {"id": WORKER}, "text": "hi"})
        markup = await post_raw(
            fake, "sendMessage", data={"chat_id": WORKER, "text": "hi", "reply_markup": "[1, 2]"}
        )
    assert flag[0] == chat[0] == markup[0] == 400
    assert "disable_notification" in flag[1]["description"]
    assert "chat_id" in chat[1]["description"]
    assert "reply_markup" in markup[1]["description"]


@scenario
async def test_json_form_and_multipart_bodies_are_read_alike() -> None:
    keyboard = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    async with FakeTelegram() as fake:
        fake.register_user(WORKER)
        await post_raw(
            fake, "sendMessage", json={"chat_id": WORKER, "text": "a", "reply_markup": keyboard}
        )
        form = {"chat_id": str(WORKER), "text": "a", "reply_markup": json.dumps(keyboard)}
        await post_raw(fake, "sendMessage", data=form)
        multipart = aiohttp.FormData(form)
        multipart.add_field("thumbnail_unused", b"bytes", filename="x.bin")
        multipart_status, body = await post_raw(fake, "sendMessage", data=multipart)
        assert multipart_status == 400, "a file part that nothing attaches is an unknown parameter"
        assert body["description"] == "Bad Request: unknown parameter thumbnail_unused"
        await post_raw(
            fake, "sendMessage", data=aiohttp.FormData({**form, "protect_content": "true"})
        )
        sent = [call.params for call in fake.calls_to("sendMessage") if call.status == 200]
    expected = {"chat_id": WORKER, "text": "a", "reply_markup": keyboard}
    assert sent == [expected, expected, {**expected, "protect_content": True}]


@scenario
async def test_calls_are_recorded_in_order_with_spec_typed_params_and_status() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        await bot.send_message(WORKER, "hello", disable_notification=True)
        with contextlib.suppress(telegram.error.BadRequest):
            await bot.send_message(PEER, "hello")
    methods = [(call.method, call.status) for call in fake.calls]
    assert methods == [("getMe", 200), ("sendMessage", 200), ("sendMessage", 400)]
    # python-telegram-bot sends "4201" and "true" as form fields; the record has spec types.
    assert fake.calls[1].params == {
        "chat_id": WORKER,
        "text": "hello",
        "disable_notification": True,
    }
    assert fake.calls[0].at <= fake.calls[1].at <= fake.calls[2].at <= time.monotonic()


# --- sending messages -------------------------------------------------------------------


@scenario
async def test_sending_to_a_chat_telegram_has_not_seen_raises_chat_not_found() -> None:
    async with telegram_and_bot() as (fake, bot):
        with pytest.raises(telegram.error.BadRequest, match="Chat not found"):
            await bot.send_message(WORKER, "Hello")
        fake.user_sends_text(WORKER, "/start")
        sent = await bot.send_message(WORKER, "Hello")
        assert (sent.chat.id, sent.text, sent.from_user.id) == (WORKER, "Hello", bot.id)


@scenario
async def test_message_ids_count_up_per_chat_across_both_sides() -> None:
    async with telegram_and_bot() as (fake, bot):
        first = fake.user_sends_text(WORKER, "hi")["message"]["message_id"]
        fake.register_user(PEER)
        replies = [await bot.send_message(chat, "x") for chat in (WORKER, WORKER, PEER)]
        assert [m.message_id for m in replies] == [first + 1, first + 2, 1]
        assert all(isinstance(m.date, dtm.datetime) for m in replies)


@scenario
async def test_text_over_4096_characters_is_too_long() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        with pytest.raises(telegram.error.BadRequest, match="Message is too long"):
            await bot.send_message(WORKER, "x" * 4097)
        await bot.send_message(WORKER, "x" * 4096)
        # The limit counts the text after entity parsing, not the markup.
        await bot.send_message(WORKER, f"<b>{'y' * 4096}</b>", parse_mode=ParseMode.HTML)
        assert [len(text) for text in fake.sent_texts(WORKER)] == [4096, 4096]


@scenario
async def test_text_that_is_empty_after_parsing_is_refused() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        for text, mode in ((" \n ", None), ("<b></b>", ParseMode.HTML)):
            with pytest.raises(telegram.error.BadRequest, match="Message text is empty"):
                await bot.send_message(WORKER, text, parse_mode=mode)


@pytest.mark.parametrize(
    "text",
    [
        "<b>never closed",
        "<b><i>crossed</b></i>",
        "</b>",
        "<div>not a Telegram tag</div>",
        '<span class="red">not a spoiler</span>',
        "fish & chips",
        "2 < 3",
        "3 > 2",
    ],
)
@scenario
async def test_malformed_html_cannot_be_parsed(text: str) -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        with pytest.raises(telegram.error.BadRequest, match="Can't parse entities"):
            await bot.send_message(WORKER, text, parse_mode=ParseMode.HTML)
        assert fake.sent_texts(WORKER) == []


@scenario
async def test_well_formed_html_becomes_plain_text_with_entities() -> None:
    said = "Mum said <no> & left"
    text = (
        f'<b>Note</b>: <i>{html.escape(said)}</i> <a href="https://example.org/?a=1&amp;b=2">'
        'guide</a> <tg-spoiler>s</tg-spoiler> <pre><code class="language-python">x</code></pre>'
    )
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        sent = await bot.send_message(WORKER, text, parse_mode=ParseMode.HTML)
    assert sent.text == f"Note: {said} guide s x"
    kinds = [(e.type, sent.parse_entity(e)) for e in sent.entities]
    assert kinds == [
        ("bold", "Note"),
        ("italic", said),
        ("text_link", "guide"),
        ("spoiler", "s"),
        ("pre", "x"),
    ]
    assert sent.entities[2].url == "https://example.org/?a=1&b=2"
    assert sent.entities[4].language == "python"


@scenario
async def test_markdown_v2_reserved_characters_must_be_escaped() -> None:
    said = "1+1=2 (maybe!) - see #3. [ok] {x} ~y~ `z` _a_ *b* |c| >d"
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        with pytest.raises(telegram.error.BadRequest, match=r"(?i)character '\.' is reserved"):
            await bot.send_message(WORKER, "Well done.", parse_mode=ParseMode.MARKDOWN_V2)
        with pytest.raises(telegram.error.BadRequest, match=r"(?i)can't find end of bold entity"):
            await bot.send_message(WORKER, "*bold", parse_mode=ParseMode.MARKDOWN_V2)
        escaped = f"*{escape_markdown('Note:', version=2)}* {escape_markdown(said, version=2)}"
        sent = await bot.send_message(WORKER, escaped, parse_mode=ParseMode.MARKDOWN_V2)
    assert sent.text == f"Note: {said}"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 5)]


@scenario
async def test_python_telegram_bot_renderings_parse_back_to_the_same_entities() -> None:
    source = (
        "<b>Plan</b> for <i>Mrs. O'Neil (2+1)</i>: <u>call</u> <s>GP</s> "
        '<a href="https://example.org/a_(b)">the guide</a> <code>x*y</code> '
        '<tg-spoiler>secret</tg-spoiler>\n<pre><code class="language-python">print("&lt;hi&gt;")</code></pre>'
        "\n<blockquote>What went well?</blockquote>"
    )
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        original = await bot.send_message(WORKER, source, parse_mode=ParseMode.HTML)
        as_v2 = await bot.send_message(
            WORKER, original.text_markdown_v2, parse_mode=ParseMode.MARKDOWN_V2
        )
        as_html = await bot.send_message(WORKER, original.text_html, parse_mode=ParseMode.HTML)

    def described(message: telegram.Message) -> list[dict[str, Any]]:
        return [entity.to_dict() for entity in message.entities]

    assert original.entities[7].language == "python"
    assert (as_v2.text, described(as_v2)) == (original.text, described(original))
    # PTB's text_html writes <code class="python">, not Telegram's documented
    # class="language-python", so the pre block's language is lost on the way back.
    assert as_html.text == original.text
    assert as_html.entities[7].language is None
    assert described(as_html) == [
        {key: value for key, value in entity.items() if key != "language"}
        for entity in described(original)
    ]


@scenario
async def test_an_unknown_parse_mode_is_refused() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        with pytest.raises(telegram.error.BadRequest, match="Unsupported parse_mode"):
            await bot.send_message(WORKER, "hi", parse_mode="RTF")


@scenario
async def test_a_person_who_blocked_the_bot_cannot_be_written_to() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.user_sends_text(WORKER, "/stop")
        fake.user_blocks_bot(WORKER)
        with pytest.raises(telegram.error.Forbidden, match="bot was blocked by the user"):
            await bot.send_message(WORKER, "Are you still there?")


@scenario
async def test_send_chat_action_needs_a_known_chat_and_action() -> None:
    async with telegram_and_bot() as (fake, bot):
        with pytest.raises(telegram.error.BadRequest, match="Chat not found"):
            await bot.send_chat_action(WORKER, "typing")
        fake.register_user(WORKER)
        assert await bot.send_chat_action(WORKER, "typing") is True
        with pytest.raises(telegram.error.BadRequest, match="Wrong parameter action"):
            await bot.send_chat_action(WORKER, "dancing")


# --- inline keyboards and callback queries ----------------------------------------------


@scenario
async def test_an_inline_keyboard_round_trips() -> None:
    keyboard = inline_keyboard("gibbs", "kolb")
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        sent = await bot.send_message(WORKER, "Which model?", reply_markup=keyboard)
        assert sent.reply_markup == keyboard
        stored = fake.sent_messages(WORKER)[0]["reply_markup"]
        assert stored == keyboard.to_dict()
        assert fake.calls_to("sendMessage")[0].params["reply_markup"] == keyboard.to_dict()


@scenario
async def test_callback_data_over_64_bytes_is_refused() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        for data in ("x" * 65, "é" * 33):  # 66 bytes in UTF-8, though only 33 characters
            with pytest.raises(telegram.error.BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
                await bot.send_message(WORKER, "Pick", reply_markup=inline_keyboard(data))
        await bot.send_message(WORKER, "Pick", reply_markup=inline_keyboard("x" * 64))


@scenario
async def test_a_button_without_an_action_is_refused() -> None:
    async with FakeTelegram() as fake:
        fake.register_user(WORKER)
        markup = {"inline_keyboard": [[{"text": "Just text"}]]}
        status, body = await post_raw(
            fake, "sendMessage", json={"chat_id": WORKER, "text": "Pick", "reply_markup": markup}
        )
    assert status == 400
    assert "Text buttons are unallowed in the inline keyboard" in body["description"]


@scenario
async def test_a_press_arrives_as_a_callback_query_bound_to_the_message() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER, first_name="Sam")
        sent = await bot.send_message(WORKER, "Which model?", reply_markup=inline_keyboard("gibbs"))
        update = fake.user_presses(WORKER, sent, "gibbs")
        assert fake.unanswered_callback_queries() == [update["callback_query"]["id"]]
        (received,) = await bot.get_updates(timeout=1)
    query = received.callback_query
    assert received.update_id == update["update_id"]
    assert (query.data, query.from_user.id, query.from_user.first_name) == ("gibbs", WORKER, "Sam")
    assert (query.message.chat.id, query.message.message_id) == (WORKER, sent.message_id)
    assert query.message.text == "Which model?"
    assert query.message.reply_markup == sent.reply_markup


@scenario
async def test_pressing_a_button_the_message_does_not_have_is_a_test_mistake() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        sent = await bot.send_message(WORKER, "Which model?", reply_markup=inline_keyboard("gibbs"))
        with pytest.raises(ValueError, match="no button 'kolb'"):
            fake.user_presses(WORKER, sent, "kolb")
        with pytest.raises(ValueError, match="cannot see private chat"):
            fake.user_presses(PEER, sent, "gibbs")


@scenario
async def test_a_callback_query_can_be_answered_only_once() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        sent = await bot.send_message(WORKER, "Ready?", reply_markup=inline_keyboard("yes"))
        query_id = fake.user_presses(WORKER, sent, "yes")["callback_query"]["id"]
        assert await bot.answer_callback_query(query_id, text="Saved") is True
        with pytest.raises(telegram.error.BadRequest, match="Query is too old"):
            await bot.answer_callback_query(query_id)
        with pytest.raises(telegram.error.BadRequest, match="Query is too old"):
            await bot.answer_callback_query("12345")
        assert fake.unanswered_callback_queries() == []
        assert fake.state.callback_queries[query_id] == {
            "callback_query_id": query_id,
            "text": "Saved",
        }


# --- editing ----------------------------------------------------------------------------


@scenario
async def test_editing_the_text_changes_what_the_person_sees_and_drops_the_keyboard() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        sent = await bot.send_message(WORKER, "Which model?", reply_markup=inline_keyboard("gibbs"))
        edited = await bot.edit_message_text(
            "You chose <b>Gibbs</b>", WORKER, sent.message_id, parse_mode="HTML"
        )
        assert edited.text == "You chose Gibbs"
        assert edited.edit_date is not None
        assert edited.reply_markup is None  # an edit that does not repeat the keyboard drops it
        assert fake.sent_texts(WORKER) == ["You chose Gibbs"]
        with pytest.raises(ValueError, match="no button"):
            fake.user_presses(WORKER, sent, "gibbs")


@scenario
async def test_an_edit_to_the_same_content_is_not_modified() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        keyboard = inline_keyboard("yes")
        sent = await bot.send_message(WORKER, "Ready?", reply_markup=keyboard)
        with pytest.raises(telegram.error.BadRequest, match="Message is not modified"):
            await bot.edit_message_text("Ready?", WORKER, sent.message_id, reply_markup=keyboard)
        with pytest.raises(telegram.error.BadRequest, match="Message is not modified"):
            await bot.edit_message_reply_markup(WORKER, sent.message_id, reply_markup=keyboard)


@scenario
async def test_editing_a_message_that_is_not_there_fails() -> None:
    async with telegram_and_bot() as (fake, bot):
        said = fake.user_sends_text(WORKER, "hello")["message"]["message_id"]
        with pytest.raises(telegram.error.BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", WORKER, 999)
        with pytest.raises(telegram.error.BadRequest, match="Message can't be edited"):
            await bot.edit_message_text("x", WORKER, said)
        with pytest.raises(telegram.error.BadRequest, match="Chat not found"):
            await bot.edit_message_reply_markup(PEER, 1)


@scenario
async def test_edit_reply_markup_replaces_or_removes_the_keyboard() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        sent = await bot.send_message(WORKER, "Ready?", reply_markup=inline_keyboard("yes"))
        swapped = await bot.edit_message_reply_markup(
            WORKER, sent.message_id, reply_markup=inline_keyboard("no")
        )
        assert swapped.reply_markup == inline_keyboard("no")
        removed = await bot.edit_message_reply_markup(WORKER, sent.message_id)
        assert removed.reply_markup is None
        assert "reply_markup" not in fake.sent_messages(WORKER)[0]


# --- commands ---------------------------------------------------------------------------


@scenario
async def test_the_command_menu_is_set_read_and_deleted() -> None:
    commands = [("start", "Begin a reflection"), ("journal", "Your past reflections")]
    async with telegram_and_bot() as (_fake, bot):
        assert await bot.set_my_commands(commands) is True
        assert [(c.command, c.description) for c in await bot.get_my_commands()] == commands
        assert await bot.get_my_commands(language_code="de") == ()
        assert await bot.delete_my_commands() is True
        assert await bot.get_my_commands() == ()


@pytest.mark.parametrize(
    "command",
    [
        ("Start", "Capital letters"),
        ("", "Empty"),
        ("x" * 33, "Too long"),
        ("start", ""),
        ("start", "d" * 257),
    ],
)
@scenario
async def test_an_invalid_command_is_refused(command: tuple[str, str]) -> None:
    async with telegram_and_bot() as (_fake, bot):
        with pytest.raises(telegram.error.BadRequest):
            await bot.set_my_commands([command])


# --- faults -----------------------------------------------------------------------------


@scenario
async def test_a_429_raises_retry_after_and_has_no_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reading RetryAfter.retry_after as an int is deprecated in PTB 22 and warns, which
    # filterwarnings=error turns into a failure; PTB_TIMEDELTA opts in to timedelta.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        fake.fail_next("sendMessage", 429, retry_after=7)
        with pytest.raises(telegram.error.RetryAfter) as raised:
            await bot.send_message(WORKER, "Hello")
        assert raised.value.retry_after == dtm.timedelta(seconds=7)
        assert fake.sent_texts(WORKER) == []
        await bot.send_message(WORKER, "Hello")
        assert fake.sent_texts(WORKER) == ["Hello"]
        assert [call.status for call in fake.calls_to("sendMessage")] == [429, 200]
        fake.fail_next("sendMessage", retry_after=2)
        status, body = await post_raw(fake, "sendMessage", json={"chat_id": WORKER, "text": "x"})
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2},
    }


@scenario
async def test_an_overall_limit_refuses_messages_beyond_it_in_any_one_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # as in the 429 test above
    async with telegram_and_bot(max_messages_per_second=5) as (fake, bot):
        fake.register_user(WORKER)
        started = time.monotonic()
        for number in range(5):
            await bot.send_message(WORKER, f"Message {number}")
        with pytest.raises(telegram.error.RetryAfter) as raised:
            await bot.send_message(WORKER, "One too many")
        assert raised.value.retry_after == dtm.timedelta(seconds=1)
        assert time.monotonic() - started < 1.0  # the test is only valid inside the window
        await bot.get_me()  # other methods are not counted
        assert fake.sent_texts(WORKER) == [f"Message {number}" for number in range(5)]
        statuses = [call.status for call in fake.calls_to("sendMessage")]
        assert statuses == [200] * 5 + [429]
        await asyncio.sleep(max(0.0, started + 1.05 - time.monotonic()))
        await bot.send_message(WORKER, "A second later")  # the window has moved on
        assert fake.sent_texts(WORKER)[-1] == "A second later"
    with pytest.raises(ValueError, match="positive"):
        FakeTelegram(max_messages_per_second=0)


@scenario
async def test_a_bad_gateway_raises_network_error_as_many_times_as_asked() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        fake.fail_next("sendMessage", 502, times=2)
        for _ in range(2):
            with pytest.raises(telegram.error.NetworkError, match=r"(?i)Bad Gateway"):
                await bot.send_message(WORKER, "Hello")
        await bot.send_message(WORKER, "Hello")
        assert [call.status for call in fake.calls_to("sendMessage")] == [502, 502, 200]
        with pytest.raises(ValueError, match="not a Bot API method"):
            fake.fail_next("sendMesage", 502)


@scenario
async def test_a_slow_answer_times_out_the_client_though_the_message_was_sent() -> None:
    async with FakeTelegram() as fake:
        fake.register_user(WORKER)
        impatient = HTTPXRequest(read_timeout=0.2)
        async with Bot(fake.token, base_url=fake.base_url, request=impatient) as bot:
            fake.slow_next("sendMessage", 2.0)
            started = time.monotonic()
            with pytest.raises(telegram.error.TimedOut):
                await bot.send_message(WORKER, "Hello")
            assert time.monotonic() - started < 1.5
            hung_up = await fake.wait_for(lambda call: call.status == 499, 1.5)
        assert hung_up.method == "sendMessage"
        assert fake.sent_texts(WORKER) == ["Hello"]  # a retry now would send it twice


@scenario
async def test_wait_for_fails_with_the_calls_it_saw() -> None:
    async with telegram_and_bot() as (fake, _bot):
        with pytest.raises(TimeoutError, match=r"\('getMe', 200\)"):
            await fake.wait_for("sendMessage", 0.1)


@scenario
async def test_an_unimplemented_method_says_so() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.register_user(WORKER)
        with pytest.raises(
            telegram.error.NetworkError, match=r"(?i)does not implement deleteMessage"
        ):
            await bot.delete_message(WORKER, 1)


# --- getUpdates -------------------------------------------------------------------------


@scenario
async def test_get_updates_confirms_everything_before_the_offset() -> None:
    async with telegram_and_bot() as (fake, bot):
        ids = [fake.user_sends_text(WORKER, text)["update_id"] for text in ("one", "two", "three")]
        assert [u.update_id for u in await bot.get_updates()] == ids
        assert [u.update_id for u in await bot.get_updates()] == ids, "nothing confirmed yet"
        later = await bot.get_updates(offset=ids[1])
        assert [u.message.text for u in later] == ["two", "three"]
        assert [u.update_id for u in await bot.get_updates()] == ids[1:], "one was forgotten"
        assert await bot.get_updates(offset=ids[2] + 1) == ()


@scenario
async def test_an_update_id_given_by_the_test_is_kept_and_later_ids_follow_it() -> None:
    async with telegram_and_bot(first_update_id=10) as (fake, bot):
        first = fake.user_sends_text(WORKER, "one")["update_id"]
        given = fake.user_sends({"update_id": 500, "message": fake.new_message(WORKER, text="two")})
        after = fake.user_sends_text(WORKER, "three")["update_id"]
        assert (first, given["update_id"], after) == (10, 500, 501)
        assert [u.update_id for u in await bot.get_updates()] == [10, 500, 501]


@scenario
async def test_get_updates_limit_and_negative_offset() -> None:
    async with telegram_and_bot() as (fake, bot):
        ids = [fake.user_sends_text(WORKER, str(n))["update_id"] for n in range(5)]
        assert [u.update_id for u in await bot.get_updates(limit=2)] == ids[:2]
        assert [u.update_id for u in await bot.get_updates(offset=-2)] == ids[3:]
        assert [u.update_id for u in await bot.get_updates()] == ids[3:], "the rest is forgotten"


@scenario
async def test_a_long_poll_returns_as_soon_as_an_update_arrives() -> None:
    async with telegram_and_bot() as (fake, bot):
        started = time.monotonic()
        assert await bot.get_updates(timeout=1) == ()
        assert 0.9 <= time.monotonic() - started < 2.5

        poll = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        fake.user_sends_text(WORKER, "I'm back")
        (update,) = await poll
        assert update.message.text == "I'm back"
        assert time.monotonic() - started < 1


@scenario
async def test_a_second_bot_instance_polling_ends_the_first_with_a_conflict() -> None:
    # One Bot cannot poll twice at once: its getUpdates connection pool has one connection.
    async with telegram_and_bot() as (fake, bot), Bot(fake.token, base_url=fake.base_url) as twin:
        first = asyncio.create_task(bot.get_updates(timeout=3))
        await asyncio.sleep(0.2)
        second = asyncio.create_task(twin.get_updates(timeout=0))
        with pytest.raises(telegram.error.Conflict, match=r"(?i)terminated by other getUpdates"):
            await first
        assert await second == ()


@scenario
async def test_allowed_updates_applies_to_updates_made_after_it() -> None:
    async with telegram_and_bot() as (fake, bot):
        fake.user_sends_text(WORKER, "before")
        await bot.get_updates(allowed_updates=["callback_query"])
        dropped = fake.user_sends_text(WORKER, "after")
        assert [u.message.text for u in await bot.get_updates()] == ["before"]
        assert fake.state.dropped_updates == [dropped]


@scenario
async def test_a_duplicate_delivery_repeats_the_update_id() -> None:
    async with telegram_and_bot() as (fake, bot):
        update = fake.deliver_twice({"message": fake.new_message(WORKER, text="Only once, please")})
        received = await bot.get_updates(timeout=1)
        assert [u.update_id for u in received] == [update["update_id"]] * 2
        assert received[0] == received[1]
        assert await bot.get_updates(offset=update["update_id"] + 1) == ()


@scenario
async def test_media_group_and_edited_updates_are_what_python_telegram_bot_expects() -> None:
    file = {"file_id": "AgAD", "file_unique_id": "u1"}
    async with telegram_and_bot() as (fake, bot):
        said = fake.new_message(WORKER, text="first draft")
        fake.user_sends({"message": said})
        fake.user_sends(
            {"edited_message": {**said, "text": "second draft", "edit_date": said["date"] + 5}}
        )
        fake.user_sends(
            {"message": fake.new_message(WORKER, photo=[{**file, "width": 90, "height": 60}])}
        )
        sticker = {
            **file,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        fake.user_sends({"message": fake.new_message(WORKER, sticker=sticker)})
        fake.user_sends({"message": fake.new_message(WORKER, voice={**file, "duration": 3})})
        fake.user_sends(
            {"message": fake.new_message(WORKER, document={**file, "file_name": "notes.pdf"})}
        )
        fake.user_sends(
            {"message": fake.new_message(WORKER, location={"latitude": 51.5, "longitude": -0.1})}
        )
        fake.register_chat(TEAM_CHAT, "supergroup", title="Duty team")
        fake.user_sends_text(
            PEER, "/start@critical_friend_test_bot", chat_type="supergroup", chat_id=TEAM_CHAT
        )
        updates = await bot.get_updates()
    edited = updates[1].edited_message
    assert (edited.text, edited.message_id) == ("second draft", said["message_id"])
    media = [updates[i].message for i in range(2, 7)]
    assert media[0].photo[0].width == 90
    assert media[1].sticker.type == "regular"
    assert media[2].voice.file_id == "AgAD"
    assert media[3].document.file_name == "notes.pdf"
    assert media[4].location.latitude == 51.5
    team = updates[7].message
    assert (team.chat.type, team.chat.title, team.from_user.id) == ("supergroup", "Duty team", PEER)
    assert team.entities[0].type == "bot_command"


@scenario
async def test_a_polling_application_answers_a_command() -> None:
    async def start(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Welcome back")

    async with FakeTelegram() as fake:
        application = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
        application.add_handler(CommandHandler("start", start))
        async with application:
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=1)
            await application.start()
            fake.user_sends_text(WORKER, "/start")
            await fake.wait_for("sendMessage")
            await application.updater.stop()
            await application.stop()
        assert fake.sent_texts(WORKER) == ["Welcome back"]
        assert fake.state.updates == [], "the update was confirmed when polling stopped"
        assert fake.calls_to("deleteWebhook"), "polling first removes any webhook"


# --- webhooks ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def webhook_receiver(
    answers: list[int],
) -> AsyncIterator[tuple[str, list[tuple[dict[str, Any], str | None]]]]:
    """A tiny bot-side webhook server: records each POST and answers with the next status."""
    received: list[tuple[dict[str, Any], str | None]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((await request.json(), request.headers.get(SECRET_HEADER)))
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/hook", received
    finally:
        await runner.cleanup()


@scenario
async def test_a_webhook_receives_updates_with_the_secret_header() -> None:
    async with telegram_and_bot() as (fake, bot), webhook_receiver([]) as (url, received):
        assert await bot.set_webhook(url, secret_token="s3cret-token") is True
        sent = fake.user_sends_text(WORKER, "Hello from the field")
        await fake.wait_for_deliveries(1)
        info = await bot.get_webhook_info()
    body, secret = received[0]
    assert (body, secret) == (sent, "s3cret-token")
    assert Update.de_json(body, bot).message.text == "Hello from the field"
    assert [(d.update_id, d.status) for d in fake.webhook_deliveries] == [(sent["update_id"], 200)]
    assert (info.url, info.pending_update_count) == (url, 0)


@scenario
async def test_a_failing_webhook_is_retried_and_reported() -> None:
    async with (
        telegram_and_bot(webhook_retry_delay=0.05) as (fake, bot),
        webhook_receiver([500]) as (url, received),
    ):
        await bot.set_webhook(url)
        update = fake.deliver_twice({"message": fake.new_message(WORKER, text="twice")})
        deliveries = await fake.wait_for_deliveries(3)
        info = await bot.get_webhook_info()
    assert [(d.update_id, d.status) for d in deliveries] == [(update["update_id"], 500)] + [
        (update["update_id"], 200)
    ] * 2
    assert [body["update_id"] for body, secret in received] == [update["update_id"]] * 3
    assert all(secret is None for _, secret in received)
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"


@scenario
async def test_get_updates_conflicts_while_a_webhook_is_set() -> None:
    async with telegram_and_bot() as (fake, bot):
        await bot.set_webhook("http://127.0.0.1:9/unreachable")
        with pytest.raises(telegram.error.Conflict, match="webhook is active"):
            await bot.get_updates()
        fake.user_sends_text(WORKER, "kept while undeliverable")
        assert await bot.delete_webhook() is True
        (update,) = await bot.get_updates()
        assert update.message.text == "kept while undeliverable"
        assert (await bot.get_webhook_info()).url == ""


@scenario
async def test_a_secret_token_with_unallowed_characters_is_refused() -> None:
    async with telegram_and_bot() as (_fake, bot):
        with pytest.raises(telegram.error.BadRequest, match="unallowed characters"):
            await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="not secret!")
