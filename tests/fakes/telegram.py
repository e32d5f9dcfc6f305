"""FakeTelegram: the Telegram Bot API on 127.0.0.1, for tests that drive a real client.

    async with FakeTelegram() as fake, Bot(fake.token, base_url=fake.base_url) as bot:
        fake.user_sends_text(42, "/start")
        updates = await bot.get_updates(timeout=1)
        await bot.send_message(42, "Hello")
        assert fake.sent_texts(42) == ["Hello"]

Every request is checked against the official method list (telegram_spec) and recorded in
`fake.calls`. Tests act as people with `user_sends_text`, `user_sends` and `user_presses`;
their updates wait for getUpdates, or are POSTed to the webhook once one is set (one at a
time, in order; a non-2xx answer is retried after `webhook_retry_delay`). Faults are
injected with `fail_next` (429 with retry_after, 5xx) and `slow_next` (a late answer), and a
duplicate delivery with `deliver_twice`. With `max_messages_per_second`, sendMessage and
sendDocument calls beyond that many in any sliding one-second window answer 429 with
retry_after, without effect, as Telegram answers a bot that floods it (recorded in `calls`
like any other). Documents the bot sent are read back, bytes and all, with `sent_documents`.

Where the fake differs from Telegram on purpose:
- it refuses unknown parameters and unknown inline keyboard button fields (Telegram ignores
  them), and a bare "&" or ">" in HTML text;
- a webhook may be any http(s) URL on any port (Telegram wants https on 443, 80, 88, 8443);
- methods in the spec that it does not implement answer 501 "Not Implemented", which
  python-telegram-bot raises as NetworkError;
- a call whose client hung up before the answer is recorded with status 499.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NamedTuple, Self

import aiohttp
from aiohttp import web

from tests.fakes.telegram_formatting import command_entities
from tests.fakes.telegram_params import BotApiError, read_params, validate_params
from tests.fakes.telegram_spec import load_methods
from tests.fakes.telegram_state import TelegramState, now

DEFAULT_TOKEN = "123456789:AAH-fake-token-for-tests_0123456789ab"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The methods an overall limit (max_messages_per_second) counts and refuses.
RATE_LIMITED_METHODS = frozenset({"sendMessage", "sendDocument"})
Json = dict[str, Any]


class Call(NamedTuple):
    """One request: method, parameters (coerced to spec types once valid), when it arrived
    (time.monotonic()) and the HTTP status of the answer."""

    method: str
    params: Json
    at: float
    status: int


class SentDocument(NamedTuple):
    """A document the bot sent, as the person can download it."""

    filename: str
    content: bytes
    media_type: str
    caption: str | None
    message: Json


class Delivery(NamedTuple):
    """One webhook POST: status None when the bot's server could not be reached."""

    update_id: int
    status: int | None
    at: float
    error: str | None


@dataclass
class _Pending:
    method: str
    params: Json = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    status: int = 499


@dataclass
class _Fault:
    error: BotApiError
    times: int


class FakeTelegram:
    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "critical_friend_test_bot",
        bot_name: str = "Critical Friend",
        first_update_id: int = 100_000,
        webhook_retry_delay: float = 0.2,
        webhook_timeout: float = 5.0,
        max_messages_per_second: float | None = None,
    ) -> None:
        if max_messages_per_second is not None and max_messages_per_second <= 0:
            raise ValueError("max_messages_per_second is a positive number, or None for no limit")
        self.token = token
        bot_id = int(token.split(":")[0]) if re.fullmatch(r"[0-9]+:[\w-]+", token) else 123456789
        self.state = TelegramState(
            bot_id=bot_id,
            bot_username=bot_username,
            bot_name=bot_name,
            first_update_id=first_update_id,
        )
        self.spec = load_methods()
        self._canonical = {name.lower(): name for name in self.spec}
        self.calls: list[Call] = []
        self.webhook_deliveries: list[Delivery] = []
        self.errors: list[Exception] = []  # the fake's own failures; raised again on exit
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.url = ""
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, list[float]] = {}
        self.max_messages_per_second = max_messages_per_second
        self._accepted_at: collections.deque[float] = collections.deque()  # within the window
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._deliverer: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        await self.close()
        if self.errors and exc_type is None:
            raise AssertionError(f"the fake Telegram failed while answering: {self.errors!r}")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # handler_cancellation: a bot that hangs up on a long poll or a slow answer must not
        # leave a handler behind that later answers into the void.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)
        )
        self._deliverer = asyncio.create_task(self._deliver_webhooks())

    async def close(self) -> None:
        self._closing.set()
        self._notify()
        if self._deliverer is not None:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """For Bot(token, base_url=...): python-telegram-bot appends the token, then
        "/<method>"."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    # --- HTTP ---------------------------------------------------------------------------

    async def _not_found(self, _request: web.Request) -> web.Response:
        return web.json_response(BotApiError(404, "Not Found").body(), status=404)

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        call = _Pending(method=self._canonical.get(name.lower(), name))
        answered = False
        try:
            try:
                result = await self._process(request, call)
                call.status, body = 200, {"ok": True, "result": result}
            except BotApiError as error:
                call.status, body = error.status, error.body()
            except Exception as error:  # a bug in the fake must fail the test, not be retried
                self.errors.append(error)
                failure = BotApiError(500, f"Internal Server Error: the fake failed: {error!r}")
                call.status, body = 500, failure.body()
            delays = self._delays.get(call.method)
            if delays:
                # The call has taken effect; only the answer is late, as when Telegram is slow.
                await self._pause(delays.pop(0))
            answered = True
            return web.json_response(body, status=call.status)
        finally:
            status = call.status if answered else 499
            self._record(Call(call.method, call.params, call.at, status))

    async def _process(self, request: web.Request, call: _Pending) -> Any:
        parse_error: BotApiError | None = None
        try:
            call.params = await read_params(request)
        except BotApiError as error:
            parse_error = error
        if request.match_info["token"] != self.token:
            raise BotApiError(401, "Unauthorized")
        if call.method not in self.spec:
            raise BotApiError(404, "Not Found: method not found")
        fault = self._take_fault(call.method)
        if parse_error is not None:
            raise fault or parse_error
        try:
            call.params = validate_params(call.method, self.spec[call.method], call.params)
        except BotApiError as invalid:
            raise fault or invalid from None
        if fault is not None:
            # An injected fault wins and the call has no effect, as with a real 429 or 502.
            raise fault
        if call.method in RATE_LIMITED_METHODS:
            self._check_overall_limit(time.monotonic())
        if call.method == "getUpdates":
            return await self._get_updates(call.params)
        handler = self.state.methods.get(call.method)
        if handler is None:
            raise BotApiError(501, f"Not Implemented: the fake does not implement {call.method}")
        return handler(call.params)

    async def _get_updates(self, params: Json) -> list[Json]:
        if self.state.webhook:
            raise BotApiError(409, WEBHOOK_CONFLICT)
        self._poll_generation += 1
        mine = self._poll_generation
        self._notify()  # an older long poll still waiting is ended with a conflict
        self.state.set_allowed_updates(params.get("allowed_updates"))
        if "offset" in params:
            self.state.confirm(params["offset"])
        limit = min(max(params.get("limit", 100), 1), 100)
        deadline = time.monotonic() + max(params.get("timeout", 0), 0)
        while True:
            if mine != self._poll_generation:
                raise BotApiError(409, POLL_CONFLICT)
            if self.state.webhook:
                raise BotApiError(409, WEBHOOK_CONFLICT)
            remaining = deadline - time.monotonic()
            if self.state.updates or remaining <= 0 or self._closing.is_set():
                return copy.deepcopy(self.state.updates[:limit])
            await self._wait_change(remaining)

    # --- webhook ------------------------------------------------------------------------

    async def _deliver_webhooks(self) -> None:
        while not self._closing.is_set():
            hook = self.state.webhook
            if not hook or not self.state.updates:
                await self._wait_change(1.0)
                continue
            update = self.state.updates[0]
            status, error = await self._post_update(hook, update)
            self.webhook_deliveries.append(
                Delivery(update["update_id"], status, time.monotonic(), error)
            )
            if error is None:
                if self.state.updates and self.state.updates[0] is update:
                    self.state.updates.pop(0)
                self._notify()
            else:
                self.state.webhook_failed(error)
                self._notify()
                await self._pause(self.webhook_retry_delay)

    async def _post_update(self, hook: Json, update: Json) -> tuple[int | None, str | None]:
        assert self._session is not None
        headers = {SECRET_HEADER: hook["secret_token"]} if hook.get("secret_token") else {}
        try:
            async with self._session.post(hook["url"], json=update, headers=headers) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            return None, f"Connection failed: {type(error).__name__}"
        if 200 <= response.status < 300:
            return response.status, None
        return (
            response.status,
            f"Wrong response from the webhook: {response.status} {response.reason}",
        )

    # --- waiting ------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, seconds: float) -> None:
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), seconds)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but stop when the fake closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify()

    async def wait_for(
        self,
        match: str | Callable[[Call], bool],
        # A helper's own deadline fails with the calls it saw, not a bare cancellation.
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        count: int = 1,
    ) -> Call:
        """The count-th recorded call to a method (or matching a predicate), waiting up to
        `timeout` seconds for it; TimeoutError lists the calls seen instead."""
        if isinstance(match, str):
            self._check_method(match)
            method = match

            def matches(call: Call) -> bool:
                return call.method == method
        else:
            matches = match
        deadline = time.monotonic() + timeout
        while True:
            found = [call for call in self.calls if matches(call)]
            if len(found) >= count:
                return found[count - 1]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(call.method, call.status) for call in self.calls]
                raise TimeoutError(f"no call {count} matching {match!r} within {timeout}s: {seen}")
            await self._wait_change(remaining)

    async def wait_for_deliveries(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - as in wait_for
    ) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.webhook_deliveries) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self.webhook_deliveries)} of {count} webhook deliveries")
            await self._wait_change(remaining)
        return list(self.webhook_deliveries)

    # --- faults -------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int | None = None,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """The next `times` calls to `method` fail without effect. A 429 tells the bot to
        retry after `retry_after` seconds (1 unless given)."""
        self._check_method(method)
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == 429
                else HTTPStatus(status).phrase
            )
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        error = BotApiError(status, description, parameters)
        self._faults.setdefault(method, []).append(_Fault(error, times))

    def _check_overall_limit(self, at: float) -> None:
        """Refuse a message beyond `max_messages_per_second` in the second before `at`
        (time.monotonic(), taken once the call is valid, so the window stays in order).

        Every call let through counts, whatever its answer; one refused here uses none of
        the allowance. Telegram sends retry_after in whole seconds, so here it is always 1:
        the oldest message in the window leaves it within a second.
        """
        limit = self.max_messages_per_second
        if limit is None:
            return
        window = self._accepted_at
        while window and window[0] <= at - 1.0:
            window.popleft()
        if len(window) >= limit:
            raise BotApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        window.append(at)

    def _take_fault(self, method: str) -> BotApiError | None:
        faults = self._faults.get(method)
        if not faults:
            return None
        faults[0].times -= 1
        return (faults.pop(0) if faults[0].times <= 0 else faults[0]).error

    def slow_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls to `method` take effect at once but are answered late."""
        self._check_method(method)
        self._delays.setdefault(method, []).extend([seconds] * times)

    def _check_method(self, method: str) -> None:
        if method not in self.spec:
            raise ValueError(f"{method!r} is not a Bot API method")

    # --- people -------------------------------------------------------------------------

    def register_user(self, user_id: int, **details: Any) -> Json:
        """A person (first_name, last_name, username, language_code) and their private chat,
        so the bot can write to them before they write."""
        user = self.state.user(user_id, **details)
        self.state.chat(user_id, "private")
        return copy.deepcopy(user)

    def register_chat(self, chat_id: int, chat_type: str = "group", **details: Any) -> Json:
        return copy.deepcopy(self.state.chat(chat_id, chat_type, **details))

    def user_blocks_bot(self, user_id: int) -> None:
        """From now on, writing to this person answers 403 Forbidden."""
        self.state.blocked.add(user_id)

    def new_message(
        self,
        user_id: int,
        *,
        chat_type: str = "private",
        chat_id: int | None = None,
        **content: Any,
    ) -> Json:
        """A message from a person, with id, date, sender and chat filled in; `content` is
        the rest (text, photo, sticker, voice, document, location, ...)."""
        user = self.state.user(user_id)
        if chat_type == "private":
            if chat_id not in (None, user_id):
                raise ValueError("a private chat's id is the person's id")
            chat_id = user_id
        elif chat_id is None:
            raise ValueError(f"a {chat_type} message needs a chat_id")
        chat = self.state.chat(chat_id, chat_type)
        return {
            "message_id": self.state.next_message_id(chat_id),
            "from": copy.deepcopy(user),
            "chat": copy.deepcopy(chat),
            "date": now(),
            **content,
        }

    def user_sends_text(
        self, user_id: int, text: str, *, chat_type: str = "private", chat_id: int | None = None
    ) -> Json:
        """A text message, with the bot_command entities Telegram would add."""
        content: Json = {"text": text}
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        message = self.new_message(user_id, chat_type=chat_type, chat_id=chat_id, **content)
        return self.user_sends({"message": message})

    def user_sends(self, update: Json) -> Json:
        """Any update (message, edited_message, callback_query, my_chat_member, ...); the
        update_id is added when missing. Returns the update as queued."""
        queued = self.state.enqueue(update)
        self._notify()
        return queued

    def deliver_twice(self, update: Json) -> Json:
        """Queue an update and then the same update again, with the same update_id."""
        queued = self.user_sends(update)
        if queued in self.state.updates:
            self.state.requeue(queued)
            self._notify()
        return queued

    def user_presses(
        self, user_id: int, message: Any, callback_data: str, *, require_button: bool = True
    ) -> Json:
        """A press on an inline button of a message the bot sent. `message` is the sent
        message as a dict or a python-telegram-bot Message (anything with chat_id and
        message_id). Pressing a button the message does not have is a mistake in the test."""
        chat_id, message_id = _message_key(message)
        stored = self.state.messages.get((chat_id, message_id))
        if stored is None or stored["from"]["id"] != self.state.bot["id"]:
            raise ValueError(f"the bot sent no message {message_id} in chat {chat_id}")
        if stored["chat"]["type"] == "private" and chat_id != user_id:
            raise ValueError(f"person {user_id} cannot see private chat {chat_id}")
        rows = stored.get("reply_markup", {}).get("inline_keyboard", [])
        offered = [b.get("callback_data") for row in rows for b in row if "callback_data" in b]
        if require_button and callback_data not in offered:
            raise ValueError(f"no button {callback_data!r} on that message; it has {offered}")
        query = {
            "id": self.state.new_query_id(),
            "from": copy.deepcopy(self.state.user(user_id)),
            "message": copy.deepcopy(stored),
            "chat_instance": str(abs(chat_id) * 1_000_003 % 10**18),
            "data": callback_data,
        }
        return self.user_sends({"callback_query": query})

    # --- what the bot did ---------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        self._check_method(method)
        return [call for call in self.calls if call.method == method]

    def sent_messages(self, chat_id: int) -> list[Json]:
        """The bot's messages in a chat as they are now (after edits), oldest first."""
        return [
            copy.deepcopy(message)
            for (chat, _), message in sorted(self.state.messages.items())
            if chat == chat_id and message["from"]["id"] == self.state.bot["id"]
        ]

    def sent_documents(self, chat_id: int) -> list[SentDocument]:
        """The documents the bot sent in a chat, oldest first, with the uploaded bytes."""
        documents = []
        for message in self.sent_messages(chat_id):
            document = message.get("document")
            if document is None:
                continue
            upload = self.state.files[document["file_id"]]
            documents.append(
                SentDocument(
                    upload.filename,
                    upload.content,
                    upload.content_type,
                    message.get("caption"),
                    message,
                )
            )
        return documents

    def unanswered_callback_queries(self) -> list[str]:
        """Presses the bot never answered: the person still sees a spinner on the button."""
        return [query for query, answer in self.state.callback_queries.items() if answer is None]

    def sent_texts(self, chat_id: int) -> list[str]:
        """What the person reads: the text of the bot's messages, formatting parsed away."""
        return [m["text"] for m in self.sent_messages(chat_id) if "text" in m]


def _message_key(message: Any) -> tuple[int, int]:
    if isinstance(message, dict):
        return message["chat"]["id"], message["message_id"]
    return message.chat_id, message.message_id
