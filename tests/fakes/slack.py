"""FakeSlack: the Slack Web API, Socket Mode and the Events API on 127.0.0.1, for tests that
drive the real slack-sdk and slack-bolt.

    async with FakeSlack() as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        app = AsyncApp(client=client, signing_secret="s")
        handler = AsyncSocketModeHandler(app, fake.app_token)
        await handler.connect_async()
        fake.user_sends_dm("U123", "Hello")
        await fake.wait_for("chat.postMessage")
        assert fake.texts_in("U123") == ["Hi there"]
        await handler.close_async()

Web API: `POST /api/<method>` (GET too), form-encoded, JSON or query parameters, the token
in "Authorization: Bearer ..." or a "token" parameter. Every request is checked against the
official method list (slack_spec) and recorded in `fake.calls`; errors are answered as Slack
answers them, HTTP 200 with {"ok": false, "error": ...}. Messages, DMs, ephemeral messages,
users and home views are kept as state the tests can read.

People act through `user_sends_dm`, `user_mentions`, `user_presses`, `user_runs_command`,
`user_opens_home` and `send_event`. What they do reaches the bot over Socket Mode (the
default: the WebSocket URL `apps.connections.open` hands out) or, after `deliver_to(url,
signing_secret)`, as signed HTTP requests to the bot's request URL. A delivery that is not
acknowledged within `ack_timeout` seconds is sent again as a retry, up to 3 times, for
Events API events; `redeliver` sends a duplicate on demand. Answers to `response_url` land
in `fake.responses`. Faults: `fail_next` (429 with Retry-After, 5xx, or any Slack error)
and `slow_next` (a late answer).

Files travel as slack-sdk's files_upload_v2 sends them (see slack_files):
files.getUploadURLExternal hands out an upload URL on this server, the bytes POSTed there
are recorded in `fake.uploads` (`fail_next_upload` refuses the next ones), and
files.completeUploadExternal shares the file as a message of the bot's with `files`, so it
shows in `messages_in`; `files_in` reads back names, bytes and comments.

Where the fake differs from Slack on purpose:
- a parameter the method does not have is refused with `invalid_arguments` and a
  `response_metadata.messages` line naming it (Slack ignores it), and a missing required
  parameter is always `invalid_arguments` (Slack sometimes names a specific error);
- blocks are checked only for the block types and elements the bot uses (slack_blocks);
  others are refused as unsupported by the fake;
- methods in the spec that the fake does not implement answer HTTP 501 with
  {"ok": false, "error": "not_implemented_by_fake"};
- a call whose client hung up before the answer is recorded with status 499;
- retries of unacknowledged events follow each other at once (Slack waits about a minute,
  then five), and response_url may be used any number of times (Slack allows 5 in 30 min);
- the bot's own messages are not echoed back to it as message events;
- 5xx faults answer {"ok": false, "error": "<status phrase in snake_case>"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any, NamedTuple, Self
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from tests.fakes.slack_blocks import MESSAGE_BLOCKS, VIEW_BLOCKS, problems
from tests.fakes.slack_files import FileError, FileStore, SharedFile, Upload, file_object
from tests.fakes.slack_spec import load_methods

Json = dict[str, Any]

DEFAULT_BOT_TOKEN = "xoxb-1000000001-2000000002-fakeBotTokenForTests01"
DEFAULT_APP_TOKEN = "xapp-1-A0FAKEAPP1-3000000003-fakeapptokenfortests0123456789"
VERIFICATION_TOKEN = "fakeVerificationToken0123"  # the deprecated "token" field of payloads
MAX_TEXT = 40_000
MAX_RETRIES = 3
JSON_PARAMS = ("blocks", "attachments", "view", "metadata", "files")
# slack-sdk sends a client's `team_id` with every call (bolt builds its per-request client
# with the team_id of the event), and Slack accepts it on every method for org-wide apps.
EVERY_METHOD_PARAMS = {"team_id"}
SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"


class SlackError(Exception):
    """An error answer: HTTP status (200 for Slack's ordinary {"ok": false}), the error
    code, and optionally response_metadata messages and extra headers."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        messages: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages or []
        self.headers = headers or {}

    def body(self) -> Json:
        body: Json = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


class Call(NamedTuple):
    """One Web API request: method, parameters (JSON strings such as blocks parsed), the
    HTTP status of the answer (499: the client hung up), when it arrived (time.monotonic())
    and the Slack error code when the answer was {"ok": false}."""

    method: str
    params: Json
    status: int
    at: float
    error: str | None = None


class Delivery(NamedTuple):
    """One attempt to deliver an envelope to the bot. status: 200 when a Socket Mode ack
    came, the HTTP status of the bot's answer, or None when nothing came in time."""

    envelope_id: str
    kind: str  # events_api | interactive | slash_commands
    attempt: int
    transport: str  # socket | http
    status: int | None
    at: float
    error: str | None


class Ack(NamedTuple):
    """An acknowledgement from the bot, with its payload (a slash command's answer)."""

    envelope_id: str
    kind: str
    payload: Json | None
    at: float
    transport: str


class Response(NamedTuple):
    """A POST to a response_url the fake handed out."""

    url: str
    body: Json
    at: float


@dataclass
class _Pending:
    method: str
    params: Json = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    status: int = 499
    error: str | None = None


@dataclass
class _Fault:
    error: SlackError
    times: int


@dataclass
class _Channel:
    id: str
    kind: str  # im | mpim | channel | group
    name: str
    members: set[str]
    user: str | None = None  # the person in a DM
    opened: bool = False


@dataclass
class _Origin:
    """Where a response_url answers to."""

    channel: str
    user: str
    message_ts: str | None = None
    is_ephemeral: bool = False


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """The v0 signature Slack puts in X-Slack-Signature."""
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def _snake(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "_")


class FakeSlack:
    def __init__(
        self,
        *,
        bot_token: str = DEFAULT_BOT_TOKEN,
        app_token: str = DEFAULT_APP_TOKEN,
        team_id: str = "T0FAKETEAM",
        team_domain: str = "critical-friend-test",
        team_name: str = "Critical Friend Test",
        app_id: str = "A0FAKEAPP1",
        bot_user_id: str = "U0FAKEBOT1",
        bot_id: str = "B0FAKEBOT1",
        bot_name: str = "critical_friend",
        ack_timeout: float = 3.0,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.ack_timeout = ack_timeout
        self.spec = load_methods()
        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.acks: list[Ack] = []
        self.responses: list[Response] = []
        self.ack_errors: list[tuple[Ack, str, list[str]]] = []  # slash replies Slack refused
        self.socket_messages: list[Json] = []  # everything the bot sent over WebSockets
        self.errors: list[Exception] = []  # the fake's own failures; raised again on exit
        self.url = ""
        self.users: dict[str, Json] = {}
        self.channels: dict[str, _Channel] = {}
        self.messages: dict[str, dict[str, Json]] = {}  # channel -> ts -> message
        self.ephemerals: list[Json] = []
        self.home_views: dict[str, Json] = {}
        self.files = FileStore()
        self.uploads: list[Upload] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._upload_faults: list[_Fault] = []
        self._delays: dict[str, list[float]] = {}
        self._last_ts = 0
        self._ids = itertools.count(1)
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._awaiting: dict[str, asyncio.Future[Json | None]] = {}
        self._origins: dict[str, _Origin] = {}
        self._transport = "socket"
        self._request_url = ""
        self._signing_secret = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.register_user(bot_user_id, real_name="Critical Friend", name=bot_name, is_bot=True)

    # --- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        await self.close()
        if self.errors and exc_type is None:
            raise AssertionError(f"the fake Slack failed while answering: {self.errors!r}")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/respond/{key}", self._respond)
        app.router.add_post("/upload/v1/{key}", self._upload)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # handler_cancellation: a client that hangs up on a slow answer must not leave a
        # handler behind that later answers into the void; the call is recorded as 499.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        self._closing.set()
        self._notify()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for ws in list(self._sockets):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server closing")
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        """For AsyncWebClient(base_url=...): the SDK appends the method name."""
        return f"{self.url}/api/"

    # --- Web API ------------------------------------------------------------------------

    async def _not_found(self, _request: web.Request) -> web.Response:
        return web.Response(status=404, text="Not Found")

    async def _handle(self, request: web.Request) -> web.Response:
        call = _Pending(method=request.match_info["method"])
        answered = False
        try:
            headers: dict[str, str] = {}
            try:
                body = await self._process(request, call)
                call.status = 200
            except SlackError as error:
                call.status, call.error, headers = error.status, error.error, error.headers
                body = error.body()
            except Exception as error:  # a bug in the fake must fail the test, not be retried
                self.errors.append(error)
                call.status, call.error = 500, "fake_failed"
                body = {"ok": False, "error": "fake_failed", "detail": repr(error)}
            delays = self._delays.get(call.method)
            if delays:
                # The call has taken effect; only the answer is late, as when Slack is slow.
                await self._pause(delays.pop(0))
            answered = True
            return web.json_response(body, status=call.status, headers=headers)
        finally:
            status = call.status if answered else 499
            self._record(Call(call.method, call.params, status, call.at, call.error))

    async def _process(self, request: web.Request, call: _Pending) -> Json:
        header_token = _bearer(request.headers.get("Authorization", ""))
        params, body_token = await _read_params(request)
        call.params = params
        spec = self.spec.get(call.method)
        if spec is None:
            raise SlackError("unknown_method")
        names = {param["name"] for param in spec["params"]}
        if "token" in names:
            self._authorize(call.method, header_token or body_token)
        fault = self._take_fault(call.method)
        if fault is not None:
            # An injected fault wins and the call has no effect, as with a real 429 or 503.
            raise fault
        unknown = [name for name in params if name not in names | EVERY_METHOD_PARAMS]
        if unknown:
            raise SlackError(
                "invalid_arguments",
                messages=[
                    f"[ERROR] unknown parameter: {name} (Slack would ignore it; the fake "
                    "refuses it)"
                    for name in unknown
                ],
            )
        missing = [
            param["name"]
            for param in spec["params"]
            if param["required"]
            and param["name"] != "token"
            and params.get(param["name"]) in (None, "")
        ]
        if missing:
            raise SlackError(
                "invalid_arguments",
                messages=[f"[ERROR] missing required field: {name}" for name in missing],
            )
        handler = self._methods().get(call.method)
        if handler is None:
            raise SlackError("not_implemented_by_fake", status=501)
        return {"ok": True, **handler(params)}

    def _authorize(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise SlackError("invalid_auth")
        wants_app_token = method == "apps.connections.open"
        if (token == self.app_token) != wants_app_token:
            raise SlackError("not_allowed_token_type")

    def _methods(self) -> dict[str, Callable[[Json], Json]]:
        return {
            "api.test": lambda params: {"args": params} if params else {},
            "apps.connections.open": self._apps_connections_open,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "views.publish": self._views_publish,
            "reactions.add": self._reactions_add,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }

    def _auth_test(self, _params: Json) -> Json:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, _params: Json) -> Json:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        ws_url = self.url.replace("http://", "ws://", 1)
        return {"url": f"{ws_url}/socket?ticket={ticket}&app_id={self.app_id}"}

    def _chat_post_message(self, params: Json) -> Json:
        channel = self._channel_to_write(params["channel"])
        content = self._message_content(params)
        message = self._bot_message(content)
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        self.messages.setdefault(channel.id, {})[message["ts"]] = message
        return {"channel": channel.id, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, params: Json) -> Json:
        channel = self._channel_to_write(params["channel"], allow_user=False)
        message = self.messages.get(channel.id, {}).get(params["ts"])
        if message is None:
            raise SlackError("message_not_found")
        if message.get("bot_id") != self.bot_id:
            raise SlackError("cant_update_message")
        content = self._message_content(params)
        message.update(content)
        if content.get("blocks") == []:
            del message["blocks"]
        message["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": copy.deepcopy(message),
        }

    def _chat_post_ephemeral(self, params: Json) -> Json:
        channel = self._channel_to_write(params["channel"], allow_user=False)
        user = params["user"]
        if user not in self.users:
            raise SlackError("user_not_found")
        if user not in channel.members:
            raise SlackError("user_not_in_channel")
        content = self._message_content(params)
        ts = self._new_ts()
        self.ephemerals.append({"channel": channel.id, "user": user, "message_ts": ts, **content})
        return {"message_ts": ts}

    def _chat_delete(self, params: Json) -> Json:
        channel = self._channel_to_write(params.get("channel") or "", allow_user=False)
        ts = params.get("ts") or ""
        message = self.messages.get(channel.id, {}).get(ts)
        if message is None:
            raise SlackError("message_not_found")
        if message.get("bot_id") != self.bot_id:
            raise SlackError("cant_delete_message")
        del self.messages[channel.id][ts]
        return {"channel": channel.id, "ts": ts}

    def _conversations_open(self, params: Json) -> Json:
        if params.get("channel"):
            found = self.channels.get(params["channel"])
            if found is None:
                raise SlackError("channel_not_found")
            return {"channel": {"id": found.id}}
        if not params.get("users"):
            raise SlackError("users_list_not_supplied")
        people = [user.strip() for user in str(params["users"]).split(",") if user.strip()]
        for person in people:
            if person not in self.users or person == self.bot_user_id:
                raise SlackError("user_not_found")
        if len(people) == 1:
            channel = self._dm(people[0])
        else:
            key = "mpdm-" + "--".join(sorted([self.bot_name, *people])) + "-1"
            existing = [c for c in self.channels.values() if c.name == key]
            channel = existing[0] if existing else self._new_channel("G", "mpim", key, people)
        already = channel.opened
        channel.opened = True
        answer: Json = {"channel": {"id": channel.id}}
        if str(params.get("return_im", "")).lower() in ("1", "true"):
            answer["channel"] = self._channel_info(channel)
        if already:
            answer.update(no_op=True, already_open=True)
        return answer

    def _users_info(self, params: Json) -> Json:
        user = self.users.get(params.get("user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": self._user_info(user)}

    def _views_publish(self, params: Json) -> Json:
        user_id = params["user_id"]
        if user_id not in self.users:
            raise SlackError("user_not_found")
        view = params["view"]
        if not isinstance(view, dict):
            raise SlackError(
                "invalid_arguments",
                messages=["[ERROR] must provide an object [json-pointer:/view]"],
            )
        issues: list[str] = []
        if view.get("type") != "home":
            issues.append("[ERROR] must be home [json-pointer:/view/type]")
        allowed = {"type", "blocks", "private_metadata", "callback_id", "external_id"}
        issues += [
            f"[ERROR] invalid additional property: {name} [json-pointer:/view/{name}]"
            for name in view
            if name not in allowed
        ]
        issues += problems(view.get("blocks"), limit=VIEW_BLOCKS, pointer="/view/blocks")
        if len(str(view.get("private_metadata", ""))) > 3000:
            issues.append(
                "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
            )
        if issues:
            raise SlackError("invalid_arguments", messages=issues)
        current = self.home_views.get(user_id)
        if params.get("hash") and (current is None or params["hash"] != current["hash"]):
            raise SlackError("hash_conflict")
        stored = {
            "id": current["id"] if current else f"V{next(self._ids):010d}",
            "team_id": self.team_id,
            "type": "home",
            "blocks": copy.deepcopy(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        self.home_views[user_id] = stored
        return {"view": copy.deepcopy(stored)}

    def _reactions_add(self, params: Json) -> Json:
        channel = self._channel_to_write(params["channel"], allow_user=False)
        message = self.messages.get(channel.id, {}).get(params["timestamp"])
        if message is None:
            raise SlackError("message_not_found")
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == params["name"]:
                if self.bot_user_id in reaction["users"]:
                    raise SlackError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                return {}
        reactions.append({"name": params["name"], "users": [self.bot_user_id], "count": 1})
        return {}

    # --- files --------------------------------------------------------------------------

    def _files_get_upload_url_external(self, params: Json) -> Json:
        try:
            stored = self.files.reserve(params["filename"], params["length"])
        except FileError as error:
            raise SlackError(error.error, messages=error.messages) from None
        return {"upload_url": f"{self.url}/upload/v1/{stored.upload_key}", "file_id": stored.id}

    def _files_complete_upload_external(self, params: Json) -> Json:
        """Complete the files and share them: in `channel_id`, or in each of `channels`
        (channel or user IDs), as one message of the bot's with the initial comment."""
        targets = []
        if params.get("channel_id"):
            targets.append(self._channel_to_write(params["channel_id"], allow_user=False))
        named = [name.strip() for name in str(params.get("channels") or "").split(",")]
        targets += [self._channel_to_write(name) for name in named if name]
        content: Json = {"text": str(params.get("initial_comment") or "")}
        if len(content["text"]) > MAX_TEXT:
            raise SlackError("msg_too_long")
        if not content["text"] and params.get("blocks"):
            # Slack ignores blocks when there is an initial comment.
            issues = problems(params["blocks"], limit=MESSAGE_BLOCKS)
            if issues:
                raise SlackError("invalid_blocks", messages=issues)
            content["blocks"] = _with_ids(params["blocks"])
        try:
            completed = self.files.complete(params["files"])
        except FileError as error:
            raise SlackError(error.error, messages=error.messages) from None
        shown = [
            file_object(
                stored, team_id=self.team_id, team_domain=self.team_domain, user_id=self.bot_user_id
            )
            for stored in completed
        ]
        for channel in targets:
            message = self._bot_message({**content, "files": shown, "upload": True})
            if params.get("thread_ts"):
                message["thread_ts"] = params["thread_ts"]
            self.messages.setdefault(channel.id, {})[message["ts"]] = message
        return {"files": [{"id": f["id"], "title": f["title"]} for f in shown]}

    async def _upload(self, request: web.Request) -> web.Response:
        """An upload URL from files.getUploadURLExternal: the raw bytes, or a multipart
        form with a `file` part. Slack answers 200 "OK - <size>" as text."""
        content = b""
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = form.get("file")
            if isinstance(part, web.FileField):
                content = part.file.read()
        else:
            content = await request.read()
        fault = self._upload_faults[0] if self._upload_faults else None
        if fault is not None:
            fault.times -= 1
            if fault.times <= 0:
                self._upload_faults.pop(0)
            stored = self.files.find(request.match_info["key"])
            status, body, headers = fault.error.status, fault.error.error, fault.error.headers
        else:
            stored, status, body = self.files.receive(request.match_info["key"], content)
            headers = {}
        self.uploads.append(
            Upload(stored.id if stored else None, content, status, time.monotonic())
        )
        self._notify()
        return web.Response(status=status, text=body, headers=headers)

    def fail_next_upload(self, status: int = 500, *, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` POSTs to an upload URL fail without effect (a 429 with
        Retry-After, or any other status)."""
        headers = {"Retry-After": str(retry_after)} if status == 429 else {}
        fault = SlackError(_snake(status), status=status, headers=headers)
        self._upload_faults.append(_Fault(fault, times))

    def files_in(self, channel: str) -> list[SharedFile]:
        """The files the bot shared in a channel (or a person's DM, by user ID), oldest
        first, with their bytes and the comment they came with."""
        shared = []
        for message in self.messages_in(channel):
            for shown in message.get("files", []):
                stored = self.files.by_id[shown["id"]]
                shared.append(
                    SharedFile(
                        stored.filename,
                        stored.content or b"",
                        message.get("text", ""),
                        stored.title,
                        stored.id,
                        message["ts"],
                    )
                )
        return shared

    # --- state --------------------------------------------------------------------------

    def _new_ts(self) -> str:
        """Slack's message timestamps: unique, increasing, seconds with six decimals."""
        micros = max(time.time_ns() // 1000, self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _message_content(self, params: Json) -> Json:
        text = params.get("text")
        blocks = params.get("blocks")
        if not text and not blocks and not params.get("attachments"):
            raise SlackError("no_text")
        if text is not None and len(str(text)) > MAX_TEXT:
            raise SlackError("msg_too_long")
        content: Json = {}
        if text is not None:
            content["text"] = str(text)
        if blocks is not None:
            issues = problems(blocks, limit=MESSAGE_BLOCKS)
            if issues:
                raise SlackError("invalid_blocks", messages=issues)
            content["blocks"] = _with_ids(blocks)
        if params.get("attachments"):
            content["attachments"] = copy.deepcopy(params["attachments"])
        return content

    def _bot_message(self, content: Json) -> Json:
        return {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": "",
            **content,
            "ts": self._new_ts(),
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "team_id": self.team_id,
                "deleted": False,
            },
        }

    def _channel_to_write(self, name: str, *, allow_user: bool = True) -> _Channel:
        """The conversation a message goes to: a channel ID, a #name, or (for
        chat.postMessage) a user ID, which Slack takes as the DM with the app."""
        name = str(name)
        if allow_user and name in self.users and name != self.bot_user_id:
            return self._dm(name)
        channel = self.channels.get(name)
        if channel is None:
            by_name = [c for c in self.channels.values() if c.kind != "im" and "#" + c.name == name]
            channel = by_name[0] if by_name else None
        if channel is None:
            raise SlackError("channel_not_found")
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def _new_channel(self, prefix: str, kind: str, name: str, members: list[str]) -> _Channel:
        channel_id = f"{prefix}0{next(self._ids):08d}"
        channel = _Channel(channel_id, kind, name, {self.bot_user_id, *members})
        self.channels[channel_id] = channel
        return channel

    def _dm(self, user_id: str) -> _Channel:
        """The DM between a person and the bot: one per person, with a stable ID."""
        channel_id = "D" + user_id[1:]
        if channel_id not in self.channels:
            self.channels[channel_id] = _Channel(
                channel_id, "im", user_id, {self.bot_user_id, user_id}, user=user_id
            )
        return self.channels[channel_id]

    def _channel_info(self, channel: _Channel) -> Json:
        info: Json = {"id": channel.id, "created": int(time.time()), "priority": 0}
        if channel.kind == "im":
            info.update(is_im=True, is_org_shared=False, user=channel.user, is_user_deleted=False)
        else:
            info.update(name=channel.name, is_channel=channel.kind == "channel", is_im=False)
        return info

    def _user_info(self, user: Json) -> Json:
        zone = ZoneInfo(user["tz"])
        now = datetime.now(zone)
        offset = now.utcoffset()
        return {
            "id": user["id"],
            "team_id": user["team_id"],
            "name": user["name"],
            "deleted": user["deleted"],
            "color": "9f69e7",
            "real_name": user["real_name"],
            "tz": user["tz"],
            "tz_label": now.tzname() or user["tz"],
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": {
                "real_name": user["real_name"],
                "real_name_normalized": user["real_name"],
                "display_name": user["name"],
                "display_name_normalized": user["name"],
                "team": user["team_id"],
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user["is_bot"],
            "is_app_user": False,
            "updated": int(time.time()),
        }

    # --- people -------------------------------------------------------------------------

    def register_user(
        self,
        user_id: str,
        *,
        team_id: str | None = None,
        tz: str = "Europe/London",
        real_name: str | None = None,
        name: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> Json:
        """A person Slack knows. A team_id other than the fake's own models a person from
        another workspace (Slack Connect). Registering again changes the details."""
        ZoneInfo(tz)  # an unknown zone is a mistake in the test
        user = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "tz": tz,
            "real_name": real_name or f"Person {user_id}",
            "name": name or user_id.lower(),
            "is_bot": is_bot,
            "deleted": deleted,
        }
        self.users[user_id] = user
        return copy.deepcopy(user)

    def register_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: Iterable[str] = (),
        bot_is_member: bool = True,
    ) -> None:
        """A public channel with these people (and the bot unless bot_is_member=False)."""
        for member in members:
            self._user(member)
        people = set(members) | ({self.bot_user_id} if bot_is_member else set())
        kind = "group" if channel_id.startswith("G") else "channel"
        self.channels[channel_id] = _Channel(channel_id, kind, name, people)

    def dm_channel(self, user_id: str) -> str:
        """The ID of the DM between this person and the bot."""
        self._user(user_id)
        return self._dm(user_id).id

    def _user(self, user_id: str) -> Json:
        if user_id not in self.users:
            self.register_user(user_id)
        return self.users[user_id]

    def _conversation(self, channel: str) -> _Channel:
        """A channel by ID, or a person's DM by their user ID."""
        if channel in self.users:
            return self._dm(channel)
        if channel not in self.channels:
            raise ValueError(f"no channel {channel!r}; register_channel it first")
        return self.channels[channel]

    def _people_message(self, user_id: str, channel: _Channel, text: str, **extra: Any) -> Json:
        user = self._user(user_id)
        if user_id not in channel.members:
            raise ValueError(f"{user_id} is not in {channel.id}")
        ts = self._new_ts()
        message: Json = {
            "type": "message",
            "client_msg_id": str(uuid.uuid4()),
            "text": text,
            "user": user_id,
            "ts": ts,
            "blocks": [_rich_text(text)],
            "team": user["team_id"],
            **extra,
        }
        if user["team_id"] != self.team_id:
            message.update(user_team=user["team_id"], source_team=user["team_id"])
        self.messages.setdefault(channel.id, {})[ts] = message
        return message

    def user_sends_dm(self, user_id: str, text: str) -> Json:
        """A person writes to the bot in their DM (the app's Messages tab): a `message`
        event with channel_type "im". Returns the event_callback payload."""
        channel = self._dm(self._user(user_id)["id"])
        message = self._people_message(user_id, channel, text)
        event = {**message, "channel": channel.id, "event_ts": message["ts"], "channel_type": "im"}
        return self._deliver_event(event, user_id)

    def user_mentions(self, user_id: str, channel: str, text: str) -> Json:
        """A person mentions the bot in a channel: an `app_mention` event. "<@BOT> " is put
        in front of the text unless it mentions the bot already."""
        mention = f"<@{self.bot_user_id}>"
        if mention not in text:
            text = f"{mention} {text}"
        conversation = self._conversation(channel)
        message = self._people_message(user_id, conversation, text)
        event = {**message, "type": "app_mention", "channel": conversation.id}
        event.pop("channel_type", None)
        event["event_ts"] = message["ts"]
        return self._deliver_event(event, user_id)

    def user_opens_home(self, user_id: str, tab: str = "home") -> Json:
        """A person opens the app's Home tab (or Messages tab): `app_home_opened`, with the
        view published for them, if any."""
        channel = self._dm(self._user(user_id)["id"])
        event: Json = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": channel.id,
            "tab": tab,
            "event_ts": self._new_ts(),
        }
        if tab == "home" and user_id in self.home_views:
            event["view"] = copy.deepcopy(self.home_views[user_id])
        return self._deliver_event(event, user_id)

    def send_event(self, event: Json, *, user_id: str | None = None) -> Json:
        """Any event (message subtypes such as message_changed, message_deleted,
        bot_message, channel_join, file_share; reaction_added; ...). event_ts (and ts for a
        message) are filled in when missing, and channel_type for a message in a known
        channel. Returns the event_callback payload."""
        event = copy.deepcopy(event)
        ts = self._new_ts()
        event.setdefault("event_ts", ts)
        if event.get("type") == "message":
            event.setdefault("ts", event["event_ts"])
            channel = self.channels.get(str(event.get("channel", "")))
            if channel is not None and "channel_type" not in event:
                event["channel_type"] = channel.kind
        return self._deliver_event(event, user_id or event.get("user"))

    def event_payload(self, event: Json, user_id: str | None = None) -> Json:
        """The event_callback envelope Slack wraps an event in, without delivering it."""
        team = self.users[user_id]["team_id"] if user_id in self.users else self.team_id
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids):08d}{secrets.token_hex(2).upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "authed_users": [self.bot_user_id],
            "is_ext_shared_channel": team != self.team_id,
            "event_context": "4-" + secrets.token_urlsafe(24),
        }

    def _deliver_event(self, event: Json, user_id: str | None) -> Json:
        payload = self.event_payload(event, user_id)
        self.deliver(payload)
        return payload

    def user_presses(
        self,
        user_id: str,
        message: str | Json,
        action_id: str,
        value: str | None = None,
        *,
        channel: str | None = None,
    ) -> Json:
        """A press on a button of a message the bot sent: `message` is its ts, the message
        (as chat.postMessage returned it, or from messages_in) or an ephemeral message
        (from ephemerals_for). A `value` other than the button's is a mistake in the test.
        Returns the block_actions payload."""
        user = self._user(user_id)
        stored, channel_id, ephemeral = self._pressed_message(user_id, message, channel)
        button, block_id = _find_button(stored.get("blocks", []), action_id)
        if button is None:
            raise ValueError(f"no button {action_id!r} on that message")
        if value is not None and value != button.get("value"):
            raise ValueError(
                f"button {action_id!r} has value {button.get('value')!r}, not {value!r}"
            )
        ts = stored.get("ts") or stored["message_ts"]
        action: Json = {
            "action_id": action_id,
            "block_id": block_id,
            "text": copy.deepcopy(button["text"]),
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        for key in ("value", "style"):
            if key in button:
                action[key] = button[key]
        conversation = self.channels[channel_id]
        payload: Json = {
            "type": "block_actions",
            "user": {
                "id": user_id,
                "username": user["name"],
                "name": user["name"],
                "team_id": user["team_id"],
            },
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {
                "id": channel_id,
                "name": "directmessage" if conversation.kind == "im" else conversation.name,
            },
            "state": {"values": {}},
            "response_url": self._response_url(
                _Origin(channel_id, user_id, ts, is_ephemeral=ephemeral), "actions"
            ),
            "actions": [action],
        }
        if not ephemeral:
            payload["message"] = copy.deepcopy(stored)
        self.deliver(payload)
        return payload

    def user_presses_in_home(self, user_id: str, action_id: str) -> Json:
        """A press on a button of the Home tab published for this person: a block_actions
        payload with a view container and no channel, as Slack sends it."""
        user = self._user(user_id)
        view = self.home_views.get(user_id)
        if view is None:
            raise ValueError(f"no Home tab was published for {user_id}")
        button, block_id = _find_button(view.get("blocks", []), action_id)
        if button is None:
            raise ValueError(f"no button {action_id!r} on the Home tab")
        action: Json = {
            "action_id": action_id,
            "block_id": block_id,
            "text": copy.deepcopy(button["text"]),
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        for key in ("value", "style"):
            if key in button:
                action[key] = button[key]
        payload: Json = {
            "type": "block_actions",
            "user": {
                "id": user_id,
                "username": user["name"],
                "name": user["name"],
                "team_id": user["team_id"],
            },
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": copy.deepcopy(view),
            "actions": [action],
        }
        self.deliver(payload)
        return payload

    def _pressed_message(
        self, user_id: str, message: str | Json, channel: str | None
    ) -> tuple[Json, str, bool]:
        if isinstance(message, dict) and "message_ts" in message and "user" in message:
            if message not in self.ephemerals:
                raise ValueError("no such ephemeral message")
            if message["user"] != user_id:
                raise ValueError(f"{user_id} cannot see an ephemeral message for {message['user']}")
            return message, message["channel"], True
        if isinstance(message, dict):
            channel = channel or message.get("channel")
            message = message.get("ts") or message["message"]["ts"]
        for channel_id, messages in self.messages.items():
            if channel not in (None, channel_id) or message not in messages:
                continue
            stored = messages[message]
            if stored.get("bot_id") != self.bot_id:
                raise ValueError(f"message {message} is not the bot's")
            if user_id not in self.channels[channel_id].members:
                raise ValueError(f"{user_id} cannot see channel {channel_id}")
            return stored, channel_id, False
        raise ValueError(f"the bot has no message {message} (deleted?)")

    def user_runs_command(
        self, user_id: str, command: str, text: str = "", channel: str | None = None
    ) -> Json:
        """A person runs a slash command, by default in their DM with the bot. Returns the
        fields Slack sends (all strings, as in the form Slack POSTs)."""
        if not command.startswith("/"):
            raise ValueError("a slash command starts with /")
        user = self._user(user_id)
        conversation = self._conversation(channel) if channel else self._dm(user_id)
        payload = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": conversation.id,
            "channel_name": "directmessage" if conversation.kind == "im" else conversation.name,
            "user_id": user_id,
            "user_name": user["name"],
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(_Origin(conversation.id, user_id), "commands"),
            "trigger_id": self._trigger_id(),
        }
        self.deliver(payload)
        return payload

    def _trigger_id(self) -> str:
        return f"{next(self._ids)}.{int(time.time())}.{secrets.token_hex(16)}"

    def _response_url(self, origin: _Origin, kind: str) -> str:
        key = f"{kind}-{secrets.token_hex(12)}"
        self._origins[key] = origin
        return f"{self.url}/respond/{key}"

    # --- delivering to the bot ----------------------------------------------------------

    def deliver_to(self, url: str, signing_secret: str) -> None:
        """From now on, deliver as HTTP requests to the bot's request URL, signed with the
        app's signing secret, instead of over Socket Mode."""
        self._transport = "http"
        self._request_url = url
        self._signing_secret = signing_secret

    def use_socket_mode(self) -> None:
        self._transport = "socket"

    def deliver(self, payload: Json) -> None:
        """Send a payload (event_callback, interactive, or slash command fields) to the bot."""
        self._start(self._deliver(payload, 0, ""))

    def redeliver(self, payload: Json, attempt: int = 1, reason: str | None = None) -> None:
        """Send a payload again as Slack's retry: the same event_id, retry_attempt (Socket
        Mode) or X-Slack-Retry-Num (HTTP) set, as when Slack missed the first ack."""
        if reason is None:
            reason = "timeout" if self._transport == "socket" else "http_timeout"
        self._start(self._deliver(payload, attempt, reason))

    def deliver_twice(self, payload: Json) -> None:
        """A payload delivered, then delivered again as a retry (a duplicate delivery)."""
        self.deliver(payload)
        self.redeliver(payload)

    def _start(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, payload: Json, attempt: int, reason: str) -> None:
        kind = _kind(payload)
        try:
            while True:
                if self._transport == "socket":
                    acked, reason = await self._deliver_socket(kind, payload, attempt, reason)
                else:
                    acked, reason = await self._deliver_http(kind, payload, attempt, reason)
                # Only the Events API retries; a press or a command that was not acked shows
                # the person an error instead.
                if acked or kind != "events_api" or attempt >= MAX_RETRIES:
                    return
                if self._closing.is_set():
                    return
                attempt += 1
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.errors.append(error)

    async def _deliver_socket(
        self, kind: str, payload: Json, attempt: int, reason: str
    ) -> tuple[bool, str]:
        envelope_id = str(uuid.uuid4())
        envelope: Json = {"envelope_id": envelope_id, "payload": payload, "type": kind}
        if kind == "events_api":
            envelope.update(
                accepts_response_payload=False, retry_attempt=attempt, retry_reason=reason
            )
        else:
            accepts = kind == "slash_commands" or payload.get("type") in (
                "view_submission",
                "block_suggestion",
            )
            envelope["accepts_response_payload"] = accepts
        deadline = time.monotonic() + self.ack_timeout
        waiter: asyncio.Future[Json | None] = asyncio.get_running_loop().create_future()
        self._awaiting[envelope_id] = waiter
        try:
            ws = await self._connected_socket(deadline)
            if ws is None:
                self._delivered(envelope_id, kind, attempt, "socket", None, "no connection")
                return False, "timeout"
            try:
                await ws.send_json(envelope)
            except (ConnectionError, aiohttp.ClientError):
                self._delivered(envelope_id, kind, attempt, "socket", None, "connection lost")
                return False, "timeout"
            try:
                ack = await asyncio.wait_for(waiter, max(deadline - time.monotonic(), 0))
            except TimeoutError:
                self._delivered(envelope_id, kind, attempt, "socket", None, "timeout")
                return False, "timeout"
        finally:
            self._awaiting.pop(envelope_id, None)
        self._delivered(envelope_id, kind, attempt, "socket", 200, None)
        self._acked(Ack(envelope_id, kind, ack, time.monotonic(), "socket"), payload)
        self._notify()
        return True, ""

    async def _connected_socket(self, deadline: float) -> web.WebSocketResponse | None:
        while True:
            open_sockets = [ws for ws in self._sockets if not ws.closed]
            if open_sockets:
                return open_sockets[-1]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing.is_set():
                return None
            await self._wait_change(remaining)

    async def _deliver_http(
        self, kind: str, payload: Json, attempt: int, reason: str
    ) -> tuple[bool, str]:
        assert self._session is not None
        envelope_id = str(payload.get("event_id") or payload.get("trigger_id") or uuid.uuid4())
        if kind == "events_api":
            body = json.dumps(payload).encode()
            content_type = "application/json"
        elif kind == "interactive":
            body = urlencode({"payload": json.dumps(payload)}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = urlencode(payload).encode()
            content_type = "application/x-www-form-urlencoded"
        headers = self._signed_headers(body, content_type)
        if attempt:
            headers.update({"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": reason})
        try:
            async with self._session.post(
                self._request_url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.ack_timeout),
            ) as response:
                answer = await response.read()
                answer_type = response.content_type
        except TimeoutError:
            self._delivered(envelope_id, kind, attempt, "http", None, "http_timeout")
            return False, "http_timeout"
        except aiohttp.ClientError as error:
            self._delivered(envelope_id, kind, attempt, "http", None, type(error).__name__)
            return False, "connection_failed"
        if not 200 <= response.status < 300:
            self._delivered(envelope_id, kind, attempt, "http", response.status, "http_error")
            return False, "http_error"
        self._delivered(envelope_id, kind, attempt, "http", response.status, None)
        ack: Json | None = None
        if answer and answer_type == "application/json":
            ack = json.loads(answer)
        elif answer:
            ack = {"text": answer.decode()}
        self._acked(Ack(envelope_id, kind, ack, time.monotonic(), "http"), payload)
        self._notify()
        return True, ""

    def _acked(self, ack: Ack, payload: Json) -> None:
        """Record an ack. A slash command's ack payload is the reply the person sees: an
        ephemeral message, or with response_type "in_channel" a message in the channel."""
        self.acks.append(ack)
        if ack.kind == "slash_commands" and ack.payload:
            origin = self._origins[str(payload["response_url"]).rsplit("/", 1)[-1]]
            try:
                self._apply_response(origin, ack.payload)
            except SlackError as error:
                # Slack shows the person "failed with the error ..." instead.
                self.ack_errors.append((ack, error.error, error.messages))

    def _signed_headers(self, body: bytes, content_type: str) -> dict[str, str]:
        timestamp = str(int(time.time()))
        return {
            "Content-Type": content_type,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._signing_secret, timestamp, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    async def verify_url(self, challenge: str | None = None) -> tuple[int, str]:
        """Slack's url_verification request to the request URL (deliver_to first); the
        bot must answer the challenge. Returns the HTTP status and the body."""
        assert self._session is not None
        body = json.dumps(
            {
                "token": VERIFICATION_TOKEN,
                "challenge": challenge or secrets.token_urlsafe(32),
                "type": "url_verification",
            }
        ).encode()
        headers = self._signed_headers(body, "application/json")
        async with self._session.post(self._request_url, data=body, headers=headers) as response:
            return response.status, await response.text()

    def _delivered(
        self,
        envelope_id: str,
        kind: str,
        attempt: int,
        transport: str,
        status: int | None,
        error: str | None,
    ) -> None:
        self.deliveries.append(
            Delivery(envelope_id, kind, attempt, transport, status, time.monotonic(), error)
        )
        self._notify()

    # --- Socket Mode server -------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)  # a URL from apps.connections.open is good once
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": self.connected_sockets + 1,
                    "debug_info": {
                        "host": "applink-fake-1",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self.app_id},
                }
            )
            # Envelopes go only to a connection that has had its hello.
            self._sockets.append(ws)
            self._notify()
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    self._socket_message(frame.data)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self._notify()
        return ws

    def _socket_message(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            message = {"unparsed": data}
        self.socket_messages.append(message)
        waiter = self._awaiting.get(str(message.get("envelope_id")))
        if waiter is not None and not waiter.done():
            waiter.set_result(message.get("payload"))

    async def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does every few hours."""
        for ws in list(self._sockets):
            await ws.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}}
            )

    @property
    def connected_sockets(self) -> int:
        return sum(1 for ws in self._sockets if not ws.closed)

    # --- response_url -------------------------------------------------------------------

    async def _respond(self, request: web.Request) -> web.Response:
        origin = self._origins.get(request.match_info["key"])
        if origin is None:
            return web.Response(status=404, text="Not Found")
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        self.responses.append(Response(str(request.url), body, time.monotonic()))
        self._notify()
        try:
            self._apply_response(origin, body)
        except SlackError as error:
            return web.json_response(error.body(), status=400)
        return web.json_response({"ok": True})

    def _apply_response(self, origin: _Origin, body: Json) -> None:
        channel = self.channels[origin.channel]
        if body.get("delete_original"):
            if origin.message_ts and not origin.is_ephemeral:
                self.messages.get(channel.id, {}).pop(origin.message_ts, None)
            return
        content = self._message_content(body)
        if body.get("replace_original") and origin.message_ts:
            if origin.is_ephemeral:
                for ephemeral in self.ephemerals:
                    if ephemeral["message_ts"] == origin.message_ts:
                        ephemeral.update(content)
            elif origin.message_ts in self.messages.get(channel.id, {}):
                self.messages[channel.id][origin.message_ts].update(content)
            return
        if body.get("response_type") == "in_channel":
            message = self._bot_message(content)
            self.messages.setdefault(channel.id, {})[message["ts"]] = message
        else:
            self.ephemerals.append(
                {
                    "channel": channel.id,
                    "user": origin.user,
                    "message_ts": self._new_ts(),
                    **content,
                }
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

    async def _wait_until(
        self, ready: Callable[[], Any], seconds: float, what: Callable[[], str]
    ) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            found = ready()
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(what())
            await self._wait_change(remaining)

    async def wait_for(
        self,
        match: str | Callable[[Call], bool],
        predicate: Callable[[Call], bool] | None = None,
        # A helper's own deadline fails with the calls it saw, not a bare cancellation.
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        count: int = 1,
    ) -> Call:
        """The count-th recorded call to a method (and matching the predicate), or matching
        a predicate alone, waiting up to `timeout` seconds; TimeoutError lists the calls."""
        if isinstance(match, str):
            self._check_method(match)
        method = match if isinstance(match, str) else None
        test = match if not isinstance(match, str) else predicate

        def matches(call: Call) -> bool:
            return (method is None or call.method == method) and (test is None or test(call))

        def found() -> Call | None:
            hits = [call for call in self.calls if matches(call)]
            return hits[count - 1] if len(hits) >= count else None

        def seen() -> str:
            calls = [(call.method, call.status, call.error) for call in self.calls]
            return f"no call {count} matching {match!r} within {timeout}s: {calls}"

        result: Call = await self._wait_until(found, timeout, seen)
        return result

    async def wait_for_acks(self, count: int = 1, timeout: float = 5.0) -> list[Ack]:  # noqa: ASYNC109
        await self._wait_until(
            lambda: len(self.acks) >= count,
            timeout,
            lambda: f"{len(self.acks)} of {count} acks; deliveries: {self.deliveries}",
        )
        return list(self.acks)

    async def wait_for_deliveries(self, count: int = 1, timeout: float = 5.0) -> list[Delivery]:  # noqa: ASYNC109
        await self._wait_until(
            lambda: len(self.deliveries) >= count,
            timeout,
            lambda: f"{len(self.deliveries)} of {count} deliveries: {self.deliveries}",
        )
        return list(self.deliveries)

    async def wait_for_responses(self, count: int = 1, timeout: float = 5.0) -> list[Response]:  # noqa: ASYNC109
        await self._wait_until(
            lambda: len(self.responses) >= count,
            timeout,
            lambda: f"{len(self.responses)} of {count} response_url posts",
        )
        return list(self.responses)

    async def wait_for_socket(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self._wait_until(
            lambda: self.connected_sockets > 0, timeout, lambda: "no Socket Mode connection"
        )

    # --- faults -------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """The next `times` calls to `method` fail without effect: 429 "ratelimited" with a
        Retry-After header, a 5xx, or (status 200) {"ok": false, "error": error}."""
        self._check_method(method)
        headers: dict[str, str] = {}
        if status == 429:
            headers["Retry-After"] = str(retry_after)
            error = error or "ratelimited"
        elif status == 200:
            error = error or "fatal_error"
        else:
            error = error or _snake(status)
        fault = SlackError(error, status=status, headers=headers)
        self._faults.setdefault(method, []).append(_Fault(fault, times))

    def _take_fault(self, method: str) -> SlackError | None:
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
            raise ValueError(f"{method!r} is not a Slack Web API method")

    # --- what the bot did ---------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        self._check_method(method)
        return [call for call in self.calls if call.method == method]

    def history(self, channel: str) -> list[Json]:
        """Every message in a channel (or a person's DM, by user ID) as it is now, oldest
        first: the bot's and the people's."""
        conversation = self._conversation(channel)
        stored = self.messages.get(conversation.id, {})
        return [copy.deepcopy(stored[ts]) for ts in sorted(stored, key=_ts_key)]

    def messages_in(self, channel: str) -> list[Json]:
        """The bot's messages in a channel (or a person's DM, by user ID) as they are now,
        after updates and deletes, oldest first."""
        return [m for m in self.history(channel) if m.get("bot_id") == self.bot_id]

    def texts_in(self, channel: str) -> list[str]:
        return [message.get("text", "") for message in self.messages_in(channel)]

    def home_view(self, user_id: str) -> Json | None:
        view = self.home_views.get(user_id)
        return copy.deepcopy(view) if view is not None else None

    def ephemerals_for(self, user_id: str, channel: str | None = None) -> list[Json]:
        """Ephemeral messages only this person saw, oldest first."""
        wanted = self._conversation(channel).id if channel else None
        return [
            copy.deepcopy(e)
            for e in self.ephemerals
            if e["user"] == user_id and wanted in (None, e["channel"])
        ]


# --- helpers ------------------------------------------------------------------------------


def _bearer(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _read_params(request: web.Request) -> tuple[Json, str | None]:
    """Parameters from the query string and a form or JSON body, with JSON-valued ones
    (blocks, attachments, view, metadata) parsed; and the token given as a parameter.
    Slack does not read a token from a JSON body: it must come in the header then."""
    params: Json = dict(request.query)
    body_token = params.pop("token", None)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = json.loads(await request.text())
            except ValueError as error:
                raise SlackError("invalid_json") from error
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            body.pop("token", None)
            params.update(body)
        else:
            form = await request.post()
            for name, field_value in form.items():
                params[name] = (
                    field_value.file.read()
                    if isinstance(field_value, web.FileField)
                    else field_value
                )
            form_token = params.pop("token", None)
            body_token = form_token if isinstance(form_token, str) else body_token
    for name in JSON_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and value:
            try:
                params[name] = json.loads(value)
            except ValueError as error:
                raise SlackError(
                    "invalid_blocks_format" if name == "blocks" else "invalid_arguments",
                    messages=[f"[ERROR] {name} must be JSON"],
                ) from error
    return params, body_token


def _kind(payload: Json) -> str:
    if payload.get("type") == "event_callback":
        return "events_api"
    if "command" in payload:
        return "slash_commands"
    return "interactive"


def _rich_text(text: str) -> Json:
    return {
        "type": "rich_text",
        "block_id": secrets.token_urlsafe(3),
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
    }


def _find_button(blocks: list[Json], action_id: str) -> tuple[Json | None, str]:
    for block in blocks:
        candidates = list(block.get("elements", [])) if block.get("type") == "actions" else []
        if "accessory" in block:
            candidates.append(block["accessory"])
        for element in candidates:
            if element.get("type") == "button" and element.get("action_id") == action_id:
                return element, block["block_id"]
    return None, ""


def _with_ids(blocks: list[Json]) -> list[Json]:
    """A copy of the blocks as Slack stores them: a block without block_id and a button
    without action_id get random ones."""
    blocks = copy.deepcopy(blocks)
    for block in blocks:
        block.setdefault("block_id", secrets.token_urlsafe(4))
        elements = list(block.get("elements", [])) if block["type"] == "actions" else []
        if "accessory" in block:
            elements.append(block["accessory"])
        for element in elements:
            if element.get("type") == "button":
                element.setdefault("action_id", secrets.token_urlsafe(4))
    return blocks


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)
