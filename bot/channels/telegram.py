"""The Telegram channel: python-telegram-bot v22 (async), long polling.

Translation only. A Telegram update becomes one `Incoming` (its event id is the
update id, so a repeated delivery is a no-op in the service) and each `Outgoing`
becomes a message, its choices an inline keyboard whose buttons carry the reply
token of their question: a button from an older question changes nothing.
Telegram types never leave this module.

Messages are sent as plain text (no parse mode), so whatever a worker wrote and the
bot echoes back can never be read as formatting. A message with a file (an export) is
sent as a document, its text the caption when it fits.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.constants import ChatType, MessageLimit
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.channels import telegram_words as words
from bot.channels.telegram_http import DEFAULT_TIMEOUT_S, AiohttpRequest
from bot.channels.telegram_pacing import PacedLimiter
from bot.messages import (
    PARAGRAPH,
    Admission,
    Attachment,
    Gate,
    Incoming,
    IncomingKind,
    Outgoing,
    Pushed,
    Reply,
    UserRef,
    merged,
    split_text,
)

log = logging.getLogger(__name__)
CHANNEL = "telegram"
SEND_BACKOFF_S = (0.5, 1.0, 2.0)
# "typing…" only when a reply is slow to come: a quick reply needs no signal, and the
# extra call would only delay it.
TYPING_AFTER_S = 0.5
# python-telegram-bot's Application is generic in six types we do not narrow.
AnyApplication = Application[Any, Any, Any, Any, Any, Any]
BUTTON_SEPARATOR = "|"  # between a question's reply token and the choice value
SHORTCUT_PREFIX = "/"  # a shortcut button carries the command it stands for: "/journal 3"
# Messages go out through do_api_request, which skips reading Telegram's answer into a
# `Message` (see _send_message); the library suggests send_message instead, on purpose.
SEND_MESSAGE_HINT = r"Please use 'Bot\.sendMessage' instead of 'Bot\.do_api_request"
warnings.filterwarnings("ignore", message=SEND_MESSAGE_HINT, category=PTBUserWarning)


class ChatService(Protocol):
    """What this channel needs of the conversation service."""

    async def handle(self, incoming: Incoming, gate: Gate | None = None) -> Reply: ...

    async def admit(
        self, user: UserRef, invite_code: str | None, *, allowed: bool
    ) -> Admission: ...


COMMANDS = (
    ("reflect", "Start a reflection"),
    ("write", "Write freely in your journal, no questions"),
    ("journal", "Your finished reflections"),
    ("back", "Go back a question"),
    ("skip", "Skip this question"),
    ("pause", "Stop for now; everything is kept"),
    ("stop", "End this reflection"),
    ("help", "What you can do"),
    ("settings", "Weekly nudges: when, pause, stop"),
    ("friend", "A critical friend: ask, share, see your pairing"),
    ("guide", "Short guides: ways of reflecting, feedback, critical friends"),
)


def split_message(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Cut a long text into pieces Telegram accepts."""
    return split_text(text, limit)


def keyboard(message: Outgoing) -> dict[str, Any] | None:
    """One button a row: the question's choices, then any shortcuts (typed commands).

    Bot API JSON rather than `InlineKeyboardMarkup`: building those objects and turning
    them back into JSON for every message was a fifth of a message's CPU."""
    token = message.reply_token or ""
    answers = [
        _button(choice.label, f"{token}{BUTTON_SEPARATOR}{choice.value}")
        for choice in message.choices
    ]
    commands = [
        _button(shortcut.label, f"{SHORTCUT_PREFIX}{shortcut.value}")
        for shortcut in message.shortcuts
    ]
    buttons = answers + commands
    return {"inline_keyboard": [[button] for button in buttons]} if buttons else None


def _button(label: str, callback_data: str) -> dict[str, str]:
    return {"text": label, "callback_data": callback_data}


def user_of(update: Update) -> UserRef | None:
    person = update.effective_user
    if person is None or person.is_bot:
        return None
    return UserRef(channel=CHANNEL, external_id=str(person.id), display_name=person.first_name)


class TelegramChannel:
    def __init__(
        self,
        service: ChatService,
        *,
        token: str,
        base_url: str | None = None,
        allowed_user_ids: Sequence[int] = (),
        request_timeout: float | None = None,
        messages_per_second: float = 30,
    ) -> None:
        """`messages_per_second` paces all messages together (Telegram's broadcast limit
        is about 30 a second; a bot with paid broadcasts may be allowed more)."""
        self._service = service
        self._allowed = frozenset(allowed_user_ids)
        self._secret: str | None = None
        limiter = PacedLimiter(messages_per_second)
        builder = ApplicationBuilder().token(token).rate_limiter(limiter)
        if base_url:
            builder = builder.base_url(base_url)
        # Calls travel over aiohttp (see telegram_http); long polling keeps the default.
        self._request = AiohttpRequest(timeout=request_timeout or DEFAULT_TIMEOUT_S)
        builder = builder.request(self._request)
        self.application: AnyApplication = builder.post_init(self._set_commands).build()
        self._add_handlers()

    # ---- wiring ---------------------------------------------------------------

    def _add_handlers(self) -> None:
        app = self.application
        private = filters.ChatType.PRIVATE
        # Group -1 runs first for every update: keep reflections out of groups.
        app.add_handler(TypeHandler(Update, self._outside_private_chats), group=-1)
        app.add_handler(CommandHandler("start", self._start, filters=private))
        app.add_handler(CallbackQueryHandler(self._button))
        app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & private, self._edited))
        app.add_handler(MessageHandler(filters.TEXT & private, self._text))
        app.add_handler(MessageHandler(private & ~filters.TEXT, self._not_text))

    async def _set_commands(self, application: AnyApplication) -> None:
        await application.bot.set_my_commands(
            [BotCommand(name, description) for name, description in COMMANDS]
        )

    def run(self) -> None:
        """Poll Telegram until SIGINT or SIGTERM; in-flight turns finish first."""
        self.application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)

    async def start(self, *, poll_timeout: float = 10) -> None:
        """Start polling inside a running event loop (what `run` does, for embedding and tests)."""
        await self.application.initialize()
        await self._set_commands(self.application)
        await self.application.start()
        if self.application.updater is not None:
            await self.application.updater.start_polling(
                poll_interval=0.0, timeout=int(poll_timeout), allowed_updates=Update.ALL_TYPES
            )

    async def stop(self) -> None:
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        # Also when starting failed half way (a refused token), which python-telegram-bot
        # does not shut down: the HTTP session must not be left open.
        await self._request.shutdown()

    # ---- webhook mode ---------------------------------------------------------

    async def start_webhook(self, *, url: str, secret_token: str) -> None:
        """Take updates from Telegram's POSTs (see `receive`) instead of polling."""
        await self.application.initialize()
        await self._set_commands(self.application)
        await self.application.start()
        await self.application.bot.set_webhook(
            url, secret_token=secret_token, allowed_updates=Update.ALL_TYPES
        )
        self._secret = secret_token

    async def receive(self, secret: str | None, body: bytes) -> int:
        """One webhook POST from Telegram; the HTTP status to answer.

        A wrong or missing secret token is refused (403) and nothing is processed. The
        update is queued and acknowledged at once: Telegram retries slow answers, and a
        retried update would be a duplicate (which the service ignores anyway).
        """
        expected = (self._secret or "").encode()
        given = (secret or "").encode("utf-8", "replace")
        if not expected or not hmac.compare_digest(given, expected):
            return 403
        try:
            data = json.loads(body)
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError):
            return 400
        if update is None:
            return 400
        await self.application.update_queue.put(update)
        return 200

    # ---- handlers -----------------------------------------------------------

    async def _outside_private_chats(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        chat = update.effective_chat
        if chat is None or chat.type == ChatType.PRIVATE:
            return
        message = update.effective_message
        if message is not None and (message.text or "").startswith("/") and update.message:
            link = f"https://t.me/{context.bot.username}" if context.bot.username else None
            markup = (
                InlineKeyboardMarkup([[InlineKeyboardButton(words.OPEN_PRIVATE_CHAT, url=link)]])
                if link
                else None
            )
            await self._safely(lambda: message.reply_text(words.NOT_IN_GROUPS, reply_markup=markup))
        raise ApplicationHandlerStop  # nothing else runs for a group update; nothing is stored

    async def _start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = user_of(update)
        if user is None:
            return
        code = context.args[0] if context.args else None
        await self._turn(update, Incoming(self._event(update), user, IncomingKind.START), code)

    async def _text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = user_of(update)
        message = update.message
        if user is None or message is None or message.text is None:
            return
        await self._turn(
            update, Incoming(self._event(update), user, IncomingKind.TEXT, message.text)
        )

    async def _not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = user_of(update)
        if user is None or update.message is None:
            return
        await self._turn(update, Incoming(self._event(update), user, IncomingKind.UNSUPPORTED))

    async def _edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Policy: an edit never changes what was saved (it may belong to any earlier
        # question); the worker is told how to change an answer instead.
        message = update.edited_message
        user = user_of(update)
        if message is None or user is None:
            return
        admission = await self._service.admit(user, None, allowed=self._gate(update, None).allowed)
        answer = {
            Admission.MEMBER: words.EDITS_NOT_APPLIED,
            Admission.UNAVAILABLE: words.TRY_LATER,
        }.get(admission, words.MEMBERS_ONLY)
        await self._safely(lambda: message.reply_text(answer))

    async def _button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        user = user_of(update)
        if query is None or user is None:
            return
        # Answered at once, whatever happens next, so the button never keeps spinning;
        # the answer travels while the turn runs.
        answered = asyncio.create_task(self._safely(query.answer))
        try:
            data = query.data or ""
            if data.startswith(SHORTCUT_PREFIX):
                # As if typed; the keyboard stays, so another entry can be opened from it.
                incoming = Incoming(self._event(update), user, IncomingKind.TEXT, data)
                value = None
            else:
                token, _, value = data.partition(BUTTON_SEPARATOR)
                incoming = Incoming(
                    self._event(update), user, IncomingKind.CHOICE, value, in_reply_to=token or None
                )
            reply = await self._service.handle(incoming, self._gate(update, None))
            # The old keyboard becomes the chosen label while the next question goes out.
            shown = (
                asyncio.create_task(self._show_choice(update, value, reply.stale))
                if value is not None and not (reply.duplicate or reply.refused)
                else None
            )
            await self._send(update, reply)
            if shown is not None:
                await shown
        finally:
            await answered

    # ---- helpers ------------------------------------------------------------

    def _gate(self, update: Update, invite_code: str | None) -> Gate:
        person = update.effective_user
        return Gate(invite_code, allowed=person is not None and person.id in self._allowed)

    async def _turn(
        self, update: Update, incoming: Incoming, invite_code: str | None = None
    ) -> None:
        chat = update.effective_chat
        typing: list[asyncio.Task[Pushed]] = []
        timer = (
            asyncio.get_running_loop().call_later(
                TYPING_AFTER_S,
                lambda: typing.append(
                    asyncio.create_task(self._safely(lambda: chat.send_action("typing")))
                ),
            )
            if chat is not None
            else None
        )
        try:
            reply = await self._service.handle(incoming, self._gate(update, invite_code))
        finally:
            if timer is not None:
                timer.cancel()
        await asyncio.gather(*typing)
        await self._send(update, reply)

    async def _send(self, update: Update, reply: Reply) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        messages = [Outgoing(words.MEMBERS_ONLY)] if reply.refused else reply.messages
        await self._deliver(chat.id, messages)

    async def push(self, user: UserRef, messages: Sequence[Outgoing]) -> Pushed:
        """Send what the bot has to say unprompted (a nudge) to a worker's private chat,
        whose id on Telegram is the worker's user id."""
        if user.channel != CHANNEL or not user.external_id.isdecimal():
            return Pushed.GONE
        return await self._deliver(int(user.external_id), messages)

    async def post(self, chat: str, messages: Sequence[Outgoing]) -> Pushed:
        """Post to a group the bot is in (the team digest), by the group's chat id."""
        try:
            chat_id = int(chat)
        except ValueError:
            return Pushed.GONE
        return await self._deliver(chat_id, messages)

    async def _deliver(self, chat_id: int, messages: Sequence[Outgoing]) -> Pushed:
        """Messages in order, each cut under Telegram's limit, the buttons on the last
        piece. Once one piece has gone, the rest is never reported for a resend."""
        sent_any = False
        for message in merged(list(messages), MessageLimit.MAX_TEXT_LENGTH):
            for send in self._calls_for(chat_id, message):
                outcome = await self._safely(send, retry=True)
                if outcome is not Pushed.SENT:
                    return Pushed.SENT if sent_any else outcome
                sent_any = True
        return Pushed.SENT

    def _calls_for(self, chat_id: int, message: Outgoing) -> list[Callable[[], Awaitable[None]]]:
        """The calls that send one message: its text in pieces with the buttons on the
        last; or, with a file, a document whose caption is the text when it fits in a
        caption (a longer text goes first, as messages of its own)."""
        text = f"{message.text}{PARAGRAPH}({message.footer})" if message.footer else message.text
        markup = keyboard(message)
        attachment = message.attachment
        if attachment is None:
            pieces = split_message(text)
            return [
                functools.partial(
                    self._send_message, chat_id, piece, markup if number == len(pieces) else None
                )
                for number, piece in enumerate(pieces, start=1)
            ]
        fits = len(text) <= MessageLimit.CAPTION_LENGTH
        before = [] if fits else split_message(text)
        return [
            *(functools.partial(self._send_message, chat_id, piece, None) for piece in before),
            functools.partial(
                self._send_document, chat_id, attachment, text if fits else "", markup
            ),
        ]

    async def _send_message(self, chat_id: int, text: str, markup: dict[str, Any] | None) -> None:
        """sendMessage without reading Telegram's answer into a `Message`: nothing here
        uses it, and building one took a third of the CPU a message cost (measured with
        bench/bench_nudges.py: 1,180-1,780 messages a second against 870-1,310)."""
        params: dict[str, object] = {"chat_id": chat_id, "text": text}
        if markup is not None:
            params["reply_markup"] = markup
        await self.application.bot.do_api_request("sendMessage", api_kwargs=params)

    async def _send_document(
        self, chat_id: int, attachment: Attachment, caption: str, markup: dict[str, Any] | None
    ) -> None:
        """sendDocument with the file's bytes, name and media type (not guessed from the
        name: ".md" has no type everywhere). The keyboard travels as Bot API JSON, as in
        _send_message."""
        document = InputFile(attachment.content, filename=attachment.filename)
        document.mimetype = attachment.media_type
        await self.application.bot.send_document(
            chat_id,
            document,
            caption=caption or None,
            api_kwargs={"reply_markup": markup} if markup is not None else None,
        )

    async def _show_choice(self, update: Update, value: str, stale: bool) -> None:
        """Replace the pressed keyboard by the label that was chosen; a stale keyboard,
        whose question has moved on, is simply taken away."""
        query = update.callback_query
        message = query.message if query else None
        if not isinstance(message, Message) or message.text is None:
            return  # too old for Telegram to let us edit it
        if stale:
            await self._safely(lambda: message.edit_reply_markup(reply_markup=None))
            return
        buttons = message.reply_markup.inline_keyboard if message.reply_markup else ()
        label = next(
            (
                button.text
                for row in buttons
                for button in row
                if str(button.callback_data or "").endswith(f"{BUTTON_SEPARATOR}{value}")
            ),
            None,
        )
        if label is not None:
            text = f"{message.text}\n\n→ {label}"
            await self._safely(lambda: message.edit_text(text, reply_markup=None))

    @staticmethod
    def _event(update: Update) -> str:
        return f"update-{update.update_id}"

    @staticmethod
    async def _safely(call: Callable[[], Awaitable[object]], *, retry: bool = False) -> Pushed:
        """Telegram refusing one message must not end the turn; it is logged, without text.

        With `retry`, a failure that surely did not deliver (a 5xx, a refused connection)
        is tried again with backoff. A timeout is not: the message may have arrived, and
        a worker must never get the same message twice, so it counts as sent. (429s are
        waited out by the rate limiter.) A refusal (blocked, chat not found, a bad
        request) is final.
        """
        for attempt, pause in enumerate((*SEND_BACKOFF_S, None), start=1):
            try:
                await call()
                return Pushed.SENT
            except TimedOut:
                log.warning("Telegram timed out; not resending, it may have arrived")
                return Pushed.SENT
            except BadRequest as error:  # a NetworkError in the library, but final
                log.warning("Telegram refused a call: %s", type(error).__name__)
                return Pushed.GONE
            except NetworkError as error:
                if not retry or pause is None:
                    log.warning("Telegram failed %d time(s): %s", attempt, type(error).__name__)
                    return Pushed.RETRY
                await asyncio.sleep(pause)
            except RetryAfter:
                # Still over the flood limit after the rate limiter's own retries: nothing
                # was delivered, so it can be tried again later.
                log.warning("Telegram asked to slow down beyond the rate limiter's retries")
                return Pushed.RETRY
            except TelegramError as error:
                log.warning("Telegram refused a call: %s", type(error).__name__)
                return Pushed.GONE
        return Pushed.RETRY
