"""The Slack channel: slack-bolt (async), over Socket Mode or HTTP.

Translation only. A direct message, a button press, the /reflect command or a press on
the Home tab becomes one `Incoming`, handed to the conversation service; its replies
go to the worker's direct messages as Block Kit (`slack_blocks`). Slack's payloads
never leave this module.

- Event ids make repeats harmless: Slack's retries and Socket Mode redeliveries carry
  the same `event_id`, and every interaction its own `trigger_id`; the service ignores
  an id it has seen.
- Slack is answered first: bolt acknowledges events before the listener runs, and the
  listeners for presses and commands call `ack()` before the turn, so a slow database
  never makes Slack retry.
- A reflection is private: a mention or /reflect in a channel gets a reply only the
  worker sees, and the reflection goes on in the direct messages.
- A message with a file (an export) is uploaded into the DM (files_upload_v2: an
  upload URL, the bytes, then the share), its text the file's comment.
- Only workspaces in `allowed_team_ids` are served. Anyone else (another workspace,
  Slack Connect) gets a sentence, and the service is never asked, so nothing about
  them is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels import slack_blocks as blocks
from bot.channels import slack_words as words
from bot.messages import Gate, Incoming, IncomingKind, Outgoing, Pushed, Reply, UserRef, merged
from bot.service import Overview

log = logging.getLogger(__name__)
CHANNEL = "slack"
COMMAND = "/reflect"
FRIEND_COMMAND = "/friend"  # typed on as the text command it stands for: "/friend share"
# Each also typed on as the text command it stands for: "/guide 2", "/write".
TEXT_COMMANDS = (FRIEND_COMMAND, "/write", "/guide")
PROFILE_WAIT_S = 1.5  # Slack wants a slash command answered within 3 s
MAX_MESSAGE_CHARS = 12_000  # replies are joined up to this; Slack's own limit is 40,000
Payload = dict[str, Any]


Listener = Callable[..., Coroutine[Any, Any, None]]


def _listener(method: Listener) -> Listener:
    """A listener whose run `stop` waits for. bolt reads the wrapped method's parameter
    names (through `functools.wraps`) to know what to pass."""

    @functools.wraps(method)
    async def run(self: SlackChannel, *args: Any, **kwargs: Any) -> None:
        with self._working():
            await method(self, *args, **kwargs)

    return run


@dataclass(frozen=True, slots=True)
class Profile:
    team_id: str  # the person's own workspace
    tz: str  # their time zone, an IANA name ("Europe/London"); may be empty


class ChatService(Protocol):
    """What this channel needs of the conversation service."""

    async def handle(self, incoming: Incoming, gate: Gate | None = None) -> Reply: ...

    async def overview(self, user: UserRef) -> Overview | None: ...

    async def nudge_summary(self, user: UserRef) -> Outgoing | None: ...

    async def friend_summary(self, user: UserRef) -> Outgoing | None: ...

    async def note_timezone(self, user: UserRef, name: str) -> bool: ...


class SlackChannel:
    def __init__(
        self,
        service: ChatService,
        *,
        bot_token: str,
        allowed_team_ids: Sequence[str],
        api_base_url: str | None = None,
        signing_secret: str | None = None,
    ) -> None:
        self._service = service
        self._allowed = frozenset(allowed_team_ids)
        self.client = AsyncWebClient(
            token=bot_token,
            base_url=api_base_url or AsyncWebClient.BASE_URL,
            retry_handlers=[
                AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                # Only when no connection was made: after a reset mid-request the message
                # may have been posted, and must not be posted twice.
                AsyncConnectionErrorRetryHandler(
                    max_retry_count=2, error_types=[aiohttp.ClientConnectorError]
                ),
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret,
            # Socket Mode has no signatures; in HTTP mode bolt checks every request.
            request_verification_enabled=signing_secret is not None,
        )
        self._socket: AsyncSocketModeHandler | None = None
        self._dm_channels: dict[str, str] = {}  # Slack user id -> their DM with the bot
        self._timezones_noted: set[str] = set()
        self._profiles: dict[str, Profile] = {}
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._add_listeners()

    # ---- running --------------------------------------------------------------

    async def start_socket_mode(self, app_token: str) -> None:
        """Connect over Socket Mode (no public URL needed); returns once connected."""
        await self._connect()
        self._socket = AsyncSocketModeHandler(self.app, app_token, web_client=self.client)
        # Asked once up front so a refused app token is an error now: slack_sdk's own
        # connect loop would retry it for ever.
        await self.client.apps_connections_open(app_token=app_token)
        await self._socket.connect_async()  # type: ignore[no-untyped-call]  # bolt leaves it untyped

    async def start_http(self) -> None:
        """Check the token; from then on `handle_http` serves Slack's requests."""
        await self._connect()

    async def _connect(self) -> None:
        # One session for every call: without it slack_sdk opens (and, in production,
        # TLS-handshakes) a new connection for each message.
        if self.client.session is None:
            # slack_sdk applies its own timeout only to sessions it makes itself.
            timeout = aiohttp.ClientTimeout(total=self.client.timeout)
            self.client.session = aiohttp.ClientSession(timeout=timeout)
        await self.client.auth_test()

    async def handle_http(self, request: web.Request) -> web.Response:
        """One POST from Slack: an event, a press or a slash command (bolt checks the
        signature and the timestamp, and answers 401 when either is wrong)."""
        response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def stop(self) -> None:
        """Stop taking work, then let the turns in flight finish."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)
        await self._close_session()

    async def _close_session(self) -> None:
        session = self.client.session
        if session is not None and not session.closed:
            await session.close()

    # ---- wiring ---------------------------------------------------------------

    def _add_listeners(self) -> None:
        app = self.app
        app.event("message")(self._on_message)
        app.event("app_mention")(self._on_mention)
        app.event("app_home_opened")(self._on_home_opened)
        app.action(re.compile(f"^{blocks.CHOICE_ACTION}-"))(self._on_choice)
        app.action(re.compile(f"^{blocks.SHORTCUT_ACTION}-"))(self._on_shortcut)
        app.action(re.compile(f"^{blocks.HOME_ACTION}-"))(self._on_home_press)
        app.command(COMMAND)(self._on_command)
        for command in TEXT_COMMANDS:
            app.command(command)(self._on_command)
        # Everything else Slack sends is acknowledged and ignored, so it is not retried
        # (and bolt does not warn about it, quoting the payload).
        everything = re.compile(".*")
        app.event(everything)(self._ignore)
        app.action(everything)(self._ignore)
        app.command(everything)(self._ignore)

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        """Mark the running listener as work `stop` waits for, so no turn is cut off."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._in_flight.discard(task)

    @staticmethod
    async def _ignore(ack: AsyncAck) -> None:
        await ack()

    # ---- events ---------------------------------------------------------------

    @_listener
    async def _on_message(self, body: Payload, event: Payload) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id"):
            return
        subtype = event.get("subtype")
        if subtype not in (None, "file_share", "thread_broadcast"):
            return  # edits, deletions, joins: nothing a worker said to us
        user_id = str(event.get("user") or "")
        channel = str(event.get("channel") or "")
        if not user_id or not channel:
            return
        self._dm_channels[user_id] = channel
        person = self._person(body, user_id, event.get("user_team"))
        if person is None:
            await self._post_text(channel, words.OUTSIDERS)
            return
        text = str(event.get("text") or "")
        # A file with words is answered by its words; a file alone cannot be read.
        only_a_file = subtype == "file_share" and not text.strip()
        kind = IncomingKind.UNSUPPORTED if only_a_file else IncomingKind.TEXT
        incoming = Incoming(f"slack-{body.get('event_id')}", person, kind, text)
        await self._turn(incoming, user_id)

    @_listener
    async def _on_mention(self, body: Payload, event: Payload) -> None:
        user_id = str(event.get("user") or "")
        channel = str(event.get("channel") or "")
        if not user_id or not channel:
            return
        person = self._person(body, user_id, event.get("user_team"))
        if person is None:
            await self._ephemeral(channel, user_id, words.OUTSIDERS)
            return
        await self._ephemeral(channel, user_id, words.MOVED_TO_DM)
        incoming = Incoming(f"slack-{body.get('event_id')}", person, IncomingKind.START)
        await self._turn(incoming, user_id)

    @_listener
    async def _on_home_opened(self, body: Payload, event: Payload) -> None:
        user_id = str(event.get("user") or "")
        if not user_id or event.get("tab") != "home":
            return
        await self._publish_home(body, user_id)

    async def _publish_home(self, body: Payload, user_id: str) -> None:
        person = self._person(body, user_id, None)
        view = (
            blocks.home_view(
                await self._service.overview(person),
                await self._service.nudge_summary(person),
                await self._service.friend_summary(person),
            )
            if person is not None
            else blocks.outsiders_home_view()
        )
        await self._call(self.client.views_publish(user_id=user_id, view=view))

    # ---- presses and the slash command -----------------------------------------

    @_listener
    async def _on_choice(self, ack: AsyncAck, body: Payload, action: Payload) -> None:
        await ack()
        user_id, person = self._presser(body)
        if person is None:
            return
        token, value = blocks.parse_choice_value(str(action.get("value") or ""))
        incoming = Incoming(
            f"slack-action-{body.get('trigger_id')}",
            person,
            IncomingKind.CHOICE,
            value,
            in_reply_to=token,
        )
        channel = str((body.get("channel") or {}).get("id") or "")
        if channel:
            self._dm_channels.setdefault(user_id, channel)
        reply = await self._service.handle(incoming, Gate(allowed=True))
        if reply.duplicate or reply.refused:
            await self._send(user_id, reply)
            return
        # The old buttons go while the next question is on its way.
        label = str((action.get("text") or {}).get("text") or value)
        await asyncio.gather(
            self._show_choice(body, None if reply.stale else label), self._send(user_id, reply)
        )

    @_listener
    async def _on_shortcut(self, ack: AsyncAck, body: Payload, action: Payload) -> None:
        await ack()
        await self._typed_press(body, str(action.get("value") or ""))

    @_listener
    async def _on_home_press(self, ack: AsyncAck, body: Payload, action: Payload) -> None:
        await ack()
        value = str(action.get("value") or "")
        if value == "start":
            await self._typed_press(body, "", kind=IncomingKind.START)
        else:
            await self._typed_press(body, value)  # "resume", "journal 12", "settings pause 1"
        if value.startswith(("settings", "friend join", "friend leave")):
            user_id, _ = self._presser(body)
            await self._publish_home(body, user_id)  # the Home tab shows the change too

    async def _typed_press(
        self, body: Payload, text: str, *, kind: IncomingKind = IncomingKind.TEXT
    ) -> None:
        """A button that stands for something the worker could type; answered in the DM."""
        user_id, person = self._presser(body)
        if person is None:
            return
        incoming = Incoming(f"slack-action-{body.get('trigger_id')}", person, kind, text)
        await self._turn(incoming, user_id)

    @_listener
    async def _on_command(self, ack: AsyncAck, body: Payload) -> None:
        user_id = str(body.get("user_id") or "")
        # A slash command does not say which workspace the person is from (Slack Connect
        # brings in others): Slack's profile of them does.
        profile = await self._profile(user_id) if user_id else None
        if user_id and profile is None:
            await ack(text=words.TRY_AGAIN, response_type="ephemeral")
            return
        person = self._person(body, user_id, profile.team_id) if profile else None
        if person is None:
            await ack(text=words.OUTSIDERS, response_type="ephemeral")
            return
        in_dm = str(body.get("channel_name")) == "directmessage"
        if in_dm:
            await ack()
            self._dm_channels.setdefault(user_id, str(body.get("channel_id") or ""))
        else:
            await ack(text=words.MOVED_TO_DM, response_type="ephemeral")
        text = str(body.get("text") or "").strip()
        kind = IncomingKind.START
        command = str(body.get("command") or "")
        if command in TEXT_COMMANDS:
            kind, text = IncomingKind.TEXT, f"{command} {text}".strip()
        incoming = Incoming(f"slack-command-{body.get('trigger_id')}", person, kind, text)
        await self._turn(incoming, user_id)

    # ---- turns and replies --------------------------------------------------------

    async def _turn(self, incoming: Incoming, user_id: str) -> None:
        reply = await self._service.handle(incoming, Gate(allowed=True))
        await self._send(user_id, reply)
        if not reply.failed and user_id not in self._timezones_noted:
            self._note_timezone_later(incoming.user, user_id)

    async def _send(self, user_id: str, reply: Reply) -> None:
        if not reply.duplicate:
            await self._deliver(user_id, reply.messages)

    async def push(self, user: UserRef, messages: Sequence[Outgoing]) -> Pushed:
        """Send what the bot has to say unprompted (a nudge) to a worker's DM."""
        team, _, user_id = user.external_id.partition(":")
        if user.channel != CHANNEL or team not in self._allowed or not user_id:
            return Pushed.GONE
        return await self._deliver(user_id, messages)

    async def post(self, channel: str, messages: Sequence[Outgoing]) -> Pushed:
        """Post to a channel the bot is in (the team digest), by the channel's id."""
        return await self._post_all(channel, messages)

    async def _deliver(self, user_id: str, messages: Sequence[Outgoing]) -> Pushed:
        """Messages in order to the worker's DM."""
        channel, outcome = await self._dm_channel(user_id)
        if channel is None:
            return outcome
        return await self._post_all(channel, messages)

    async def _post_all(self, channel: str, messages: Sequence[Outgoing]) -> Pushed:
        """Messages in order to one conversation. Once one has gone, the rest is never
        reported for a resend."""
        sent_any = False
        for message in merged(list(messages), MAX_MESSAGE_CHARS):
            for send in self._calls_for(channel, message):
                outcome = await self._call(send())
                if outcome is not Pushed.SENT:
                    return Pushed.SENT if sent_any else outcome
                sent_any = True
        return Pushed.SENT

    def _calls_for(self, channel: str, message: Outgoing) -> list[Callable[[], Awaitable[object]]]:
        """The calls that post one message: its Block Kit messages; or, with a file, the
        file shared in the DM with the text as its comment, then any buttons or footer.

        Made when called, so a call never made (an earlier one failed) leaves no coroutine
        behind unawaited."""
        attachment = message.attachment
        comment, rendered = (
            blocks.file_share(message) if attachment is not None else ("", blocks.render(message))
        )
        posts: list[Callable[[], Awaitable[object]]] = [
            functools.partial(
                self.client.chat_postMessage,
                channel=channel,
                text=slack_message.text,
                blocks=slack_message.blocks,
            )
            for slack_message in rendered
        ]
        if attachment is None:
            return posts
        upload = functools.partial(
            self.client.files_upload_v2,
            channel=channel,
            filename=attachment.filename,
            content=attachment.content,
            title=attachment.filename,
            initial_comment=comment or None,
        )
        return [upload, *posts]

    async def _show_choice(self, body: Payload, chosen: str | None) -> None:
        """The pressed message loses its buttons and shows the chosen label (if any)."""
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        ts = str(message.get("ts") or "")
        if not channel or not ts:
            return
        shown = blocks.answered(list(message.get("blocks") or []), chosen)
        text = str(message.get("text") or " ")
        await self._call(self.client.chat_update(channel=channel, ts=ts, text=text, blocks=shown))

    async def _dm_channel(self, user_id: str) -> tuple[str | None, Pushed]:
        """The worker's DM with the bot: remembered, so it is opened once, not per message."""
        known = self._dm_channels.get(user_id)
        if known:
            return known, Pushed.SENT
        try:
            answer = await self.client.conversations_open(users=user_id)
        except (SlackClientError, TimeoutError, OSError, aiohttp.ClientError) as error:
            log.warning("could not open a DM: %s", _reason(error))
            return None, _outcome(error)
        channel = str((answer.get("channel") or {}).get("id") or "")
        if channel:
            self._dm_channels[user_id] = channel
        return channel or None, Pushed.SENT if channel else Pushed.RETRY

    async def _post_text(self, channel: str, text: str) -> None:
        await self._call(self.client.chat_postMessage(channel=channel, text=text))

    async def _ephemeral(self, channel: str, user_id: str, text: str) -> None:
        await self._call(self.client.chat_postEphemeral(channel=channel, user=user_id, text=text))

    async def _profile(self, user_id: str) -> Profile | None:
        """Slack's profile of a person (users.info), asked once per person per run."""
        known = self._profiles.get(user_id)
        if known is not None:
            return known
        try:
            # Bounded: a slash command waits for it before answering Slack (3 s at most).
            answer = await asyncio.wait_for(self.client.users_info(user=user_id), PROFILE_WAIT_S)
        except (SlackClientError, TimeoutError, OSError, aiohttp.ClientError) as error:
            log.warning("could not read a Slack profile: %s", _reason(error))
            return None
        user = answer.get("user") or {}
        profile = Profile(team_id=str(user.get("team_id") or ""), tz=str(user.get("tz") or ""))
        self._profiles[user_id] = profile
        return profile

    def _note_timezone_later(self, person: UserRef, user_id: str) -> None:
        """Keep the worker's Slack time zone for the scheduler, after the reply has gone."""
        self._timezones_noted.add(user_id)

        async def note() -> None:
            profile = await self._profile(user_id)
            if profile is None or not profile.tz:
                self._timezones_noted.discard(user_id)
                return
            if not await self._service.note_timezone(person, profile.tz):
                self._timezones_noted.discard(user_id)

        task = asyncio.ensure_future(note())
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    # ---- who is this ------------------------------------------------------------

    def _person(self, body: Payload, user_id: str, user_team: object) -> UserRef | None:
        """The worker, if their workspace (and the one the request came from) is allowed."""
        workspace = str(body.get("team_id") or (body.get("team") or {}).get("id") or "")
        home = str(user_team or workspace)
        if workspace not in self._allowed or home not in self._allowed:
            log.info("a request from a workspace that is not allowed was refused")
            return None
        return UserRef(channel=CHANNEL, external_id=f"{home}:{user_id}")

    def _presser(self, body: Payload) -> tuple[str, UserRef | None]:
        user = body.get("user") or {}
        user_id = str(user.get("id") or "")
        if not user_id:
            return "", None
        return user_id, self._person(body, user_id, user.get("team_id"))

    @staticmethod
    async def _call(call: Awaitable[object]) -> Pushed:
        """Slack refusing one call must not end the turn; it is logged, without text.

        429s, refused connections and 500/503 are retried by slack_sdk's retry handlers
        first; what fails after that is reported as final or passing (`_outcome`).
        """
        try:
            await call
        except SlackApiError as error:
            log.warning("Slack refused a call: %s", _reason(error))
            return _outcome(error)
        except aiohttp.ClientConnectorError as error:
            log.warning("Slack could not be reached: %s", type(error).__name__)
            return Pushed.RETRY  # no connection: nothing was sent
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            # The request may have reached Slack: never sent twice, so it counts as sent.
            log.warning("Slack did not answer in full: %s; not resending", type(error).__name__)
            return Pushed.SENT
        except SlackClientError as error:  # refused before it was sent
            log.warning("Slack call not made: %s", type(error).__name__)
            return Pushed.RETRY
        return Pushed.SENT


# Slack's answers that mean the worker (or the team's channel, for the digest) cannot be
# reached in this workspace any more; retrying does not help.
UNREACHABLE = frozenset(
    {
        "account_inactive",
        "cannot_dm_bot",
        "channel_not_found",
        "is_archived",
        "not_in_channel",  # a channel the bot was never invited to, or was removed from
        "user_disabled",
        "user_not_found",
        "user_not_visible",
    }
)


def _outcome(error: Exception) -> Pushed:
    if isinstance(error, SlackApiError):
        return Pushed.GONE if error.response.get("error") in UNREACHABLE else Pushed.RETRY
    return Pushed.RETRY


def _reason(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or type(error).__name__)
    return type(error).__name__
