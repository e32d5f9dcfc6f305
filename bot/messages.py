"""The neutral message types every channel speaks.

A channel turns what its platform delivers into an `Incoming`, hands it to the
conversation service, and renders the `Outgoing` replies in its own way (numbered
lines in a terminal, buttons elsewhere). Nothing in here knows any platform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum


class IncomingKind(StrEnum):
    TEXT = "text"  # something the worker typed (an answer or a command word)
    CHOICE = "choice"  # a button press: `text` holds the choice value
    START = "start"  # the worker opened a session; `text` may name a dialogue
    UNSUPPORTED = "unsupported"  # a photo, sticker, voice note ... we can only read text
    LEAVE = "leave"  # the worker went away (closed the terminal, Ctrl-D): pause quietly


class Admission(StrEnum):
    """Whether someone on an open platform may talk to the bot."""

    MEMBER = "member"  # known already
    JOINED = "joined"  # just joined, by invitation or allow-list
    REFUSED = "refused"  # not a member; nothing was stored
    UNAVAILABLE = "unavailable"  # the database did not answer; ask again later


class Pushed(StrEnum):
    """What became of a message the bot started (a nudge), rather than a reply."""

    SENT = "sent"  # the platform took it (or may have: a timeout is never sent twice)
    GONE = "gone"  # the worker cannot be reached there any more (blocked the bot, left)
    RETRY = "retry"  # a passing failure, and nothing was delivered: try again later


@dataclass(frozen=True, slots=True)
class UserRef:
    """Who sent a message, as their channel knows them."""

    channel: str  # "terminal", "telegram", "slack"
    external_id: str  # the channel's own id: OS user name, Telegram user id, "T0001:U0001"
    display_name: str | None = None

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.external_id}"

    @classmethod
    def parse(cls, spec: str, *, default_channel: str = "terminal") -> UserRef:
        """Read `NAME`, `telegram:12345` or `slack:T0001:U0001` as a user."""
        channel, sep, rest = spec.partition(":")
        if sep and channel in KNOWN_CHANNELS and rest:
            return cls(channel=channel, external_id=rest)
        return cls(channel=default_channel, external_id=spec, display_name=spec)


KNOWN_CHANNELS = frozenset({"terminal", "telegram", "slack"})


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a worker did. `event_id` makes it idempotent: the same id twice is a no-op."""

    event_id: str
    user: UserRef
    kind: IncomingKind
    text: str = ""
    # The `reply_token` of the question this answers, when the channel knows it
    # (a button, or a terminal window). A stale token changes nothing.
    in_reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file for the worker (their export): sent as a document where the platform can."""

    filename: str
    content: bytes
    media_type: str  # "application/json", "text/markdown"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for the worker. `reply_token` is set when it asks something."""

    text: str
    choices: tuple[Choice, ...] = ()
    reply_token: str | None = None
    # Words the channel may show small, under the message (stage, how to pause).
    footer: str | None = None
    # Commands offered as buttons, bound to no question: each value is what the worker
    # could type instead ("journal 3"). Channels without buttons leave them out; the
    # text says what to type.
    shortcuts: tuple[Choice, ...] = ()
    # A file sent with the message, its text as the caption.
    attachment: Attachment | None = None


PARAGRAPH = "\n\n"


def split_text(text: str, limit: int) -> list[str]:
    """Cut a long text into pieces of at most `limit` characters, at paragraph, line or
    word breaks where one is in the second half of the piece."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut <= limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def merged(messages: list[Outgoing], limit: int) -> list[Outgoing]:
    """Join each message that asks nothing onto the one after it, while they fit in `limit`.

    On a phone every message is a notification; "Thank you" and the next question read
    better, and arrive sooner, as one. A message with buttons or a footer ends a group;
    one with a file stands alone (its text is the file's caption).
    """
    result: list[Outgoing] = []
    for message in messages:
        previous = result[-1] if result else None
        if (
            previous is not None
            and not previous.choices
            and not previous.shortcuts
            and previous.footer is None
            and previous.attachment is None
            and message.attachment is None
            and len(previous.text) + len(PARAGRAPH) + len(message.text) <= limit
        ):
            result[-1] = replace(message, text=f"{previous.text}{PARAGRAPH}{message.text}")
        else:
            result.append(message)
    return result


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    argument: str = ""


# Words a worker can type at any question, with or without a leading slash.
COMMAND_WORDS = frozenset(
    {
        "back",
        "skip",
        "pause",
        "stop",
        "help",
        "journal",
        "reflect",
        "start",
        "menu",
        "resume",
        "write",
        # Finishes free writing; at any other question it stays an answer (the engine).
        "done",
        "nudge",
        "followup",
        "settings",
        "friend",
        "export",
        "forget",
        "support",
        "tag",
        "untag",
        "revise",
        "cpd",
        "lesson",
        "lessons",
        "guide",
    }
)
# "journal 3" and "reflect gibbs" read naturally without a slash too; without one, the
# word after the command must be one it takes, so an answer such as "journal entries
# helped" or "followup needed" stays an answer. (`settings` reads its own words:
# bot.nudges.settings.requested.)
BARE_ARGUMENTS = {
    "journal": re.compile(r"\d+|search .+", re.IGNORECASE | re.DOTALL),
    "cpd": re.compile(
        r"new \d{1,18}|save \d{1,18}|show \d{1,18}|export(?: (?:pdf|md))?|edit \d{1,18} \w+:.*"
        r"|edit draft(?: \d{1,18})? \w+:.*|change \d{1,18}(?: \w+)?|(?:later|discard) \d{1,18}",
        re.IGNORECASE | re.DOTALL,
    ),
    # Not "edit": that word answers the identifier guard's question.
    "revise": re.compile(r"\d{1,18}(?: \d{1,3}(?::.*)?)?", re.DOTALL),
    "tag": re.compile(r"\d{1,18}(?: [\w-]{1,30}){1,10}"),
    "untag": re.compile(r"\d{1,18}(?: [\w-]{1,30}){1,10}"),
    "reflect": re.compile(r"[\w-]+"),
    "lesson": re.compile(
        r"(?:new|show|delete) \d{1,18}|words \d{1,18}(?::.*)?|theme \d{1,18}(?: \w{1,40})?"
        r"|share \d{1,18} [0-9a-f]{12}",
        re.IGNORECASE | re.DOTALL,
    ),
    # `guide 2` (its buttons type that); a guide by name needs the slash: `/guide feedback`.
    "guide": re.compile(r"\d{1,3}"),
    "nudge": re.compile(r"tomorrow|skip", re.IGNORECASE),
    "followup": re.compile(r"\d+"),
    # `friend ...` typed without a slash: only its exact forms, so an answer that happens
    # to begin with "friend" stays an answer. Handles are the random tokens in buttons.
    "forget": re.compile(r"yes \d{4}-\d{2}-\d{2}|no", re.IGNORECASE),
    "friend": re.compile(
        r"join|leave|cancel|help|share|end|rounds (?:on|off)|max \d{1,2}|end \d{1,18}"
        r"|share \d{1,18}(?: with \d{1,18})?|ask \d{1,18}|talked (?:yes|no) \d{1,18}"
        r"|(?:accept|decline|unshare|open|feedback|reply) [A-Za-z0-9_-]{8,32}",
        re.IGNORECASE,
    ),
}
_COMMAND = re.compile(r"^/?([A-Za-z_]+)(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    name: str


def parse_command(text: str) -> Command | UnknownCommand | None:
    """A command word (`pause`, `/pause`, `/reflect gibbs`), or None for an ordinary answer.

    A bare word only counts when it is the whole message, so an answer that merely
    starts with "back" stays an answer. Anything starting with "/" is a command,
    known or not, because nobody starts a reflective answer with a slash.
    """
    stripped = text.strip()
    match = _COMMAND.match(stripped)
    if match is None:
        return None
    name = match.group(1).lower()
    argument = (match.group(2) or "").strip()
    slashed = stripped.startswith("/")
    if name in COMMAND_WORDS and (slashed or not argument):
        return Command(name=name, argument=argument)
    bare = BARE_ARGUMENTS.get(name)
    if bare is not None and bare.fullmatch(argument):
        return Command(name=name, argument=argument)
    if slashed:
        return UnknownCommand(name=name)
    return None


@dataclass(frozen=True, slots=True)
class Gate:
    """How someone new on an open platform may join: an invitation, or the channel's allow-list."""

    invite_code: str | None = None
    allowed: bool = False  # the channel's config lets this person in (default organisation)


@dataclass(slots=True)
class Reply:
    """What the service hands back for one incoming event."""

    messages: list[Outgoing] = field(default_factory=list)
    duplicate: bool = False  # the event was delivered before; nothing was done
    failed: bool = False  # nothing was saved (storage unavailable); the text says so
    waiting: bool = False  # a question is open: the worker is expected to answer
    refused: bool = False  # not a member and could not join; nothing was stored
    stale: bool = False  # it answered a question that has moved on; nothing was saved
    told_others: bool = False  # a colleague has a message to be sent (for the service)
