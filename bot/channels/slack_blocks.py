"""Block Kit for the Slack channel: neutral messages in, Slack message payloads out.

Pure functions, so the limits Slack enforces (3,000 characters a section, 75 a button
label, 50 blocks a message, 25 buttons an actions block) are checked in one place.
Every text a worker may have written goes out as `plain_text`, which Slack shows as it
is: nothing they wrote can turn into formatting, a link or a mention.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.channels import slack_words as words
from bot.messages import Choice, Outgoing, split_text
from bot.nudges import wording as nudge_words
from bot.peer import wording as peer_words
from bot.service import Overview

Block = dict[str, Any]

SECTION_CHARS = 3000
LABEL_CHARS = 75
BUTTONS_PER_BLOCK = 25
BLOCKS_PER_MESSAGE = 50
FALLBACK_CHARS = 300  # the notification's preview; the blocks carry the whole text
CHOICE_ACTION = "choice"  # action ids: choice-0, choice-1, ...
SHORTCUT_ACTION = "shortcut"
VALUE_SEPARATOR = "|"  # between a question's reply token and the choice value


@dataclass(frozen=True, slots=True)
class SlackMessage:
    text: str  # the fallback: notifications and screen readers
    blocks: list[Block]


def escape(text: str) -> str:
    """Slack's three control characters, for the `text` fallback (read as mrkdwn)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": False}


def section(text: str) -> Block:
    return {"type": "section", "text": plain(text)}


def context(text: str) -> Block:
    return {"type": "context", "elements": [plain(text)]}


def label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"


def button(text: str, action_id: str, value: str, *, primary: bool = False) -> Block:
    made: Block = {
        "type": "button",
        "text": plain(label(text)),
        "action_id": action_id,
        "value": value,
    }
    if primary:
        made["style"] = "primary"
    return made


def actions(buttons: list[Block], block_id: str) -> list[Block]:
    """Buttons in as many actions blocks as Slack needs (25 a block)."""
    return [
        {
            "type": "actions",
            "block_id": f"{block_id}-{start // BUTTONS_PER_BLOCK}",
            "elements": buttons[start : start + BUTTONS_PER_BLOCK],
        }
        for start in range(0, len(buttons), BUTTONS_PER_BLOCK)
    ]


def choice_value(token: str | None, choice: Choice) -> str:
    return f"{token or ''}{VALUE_SEPARATOR}{choice.value}"


def parse_choice_value(value: str) -> tuple[str | None, str]:
    token, _, choice = value.partition(VALUE_SEPARATOR)
    return token or None, choice


def render(message: Outgoing) -> list[SlackMessage]:
    """One neutral message as Slack messages: usually one; a very long text takes more.

    The buttons go on the last, under the end of the text they belong to.
    """
    pieces = split_text(message.text, SECTION_CHARS)
    sections = [section(piece) for piece in pieces if piece.strip()]
    tail: list[Block] = []
    if message.choices:
        choices = [
            button(choice.label, f"{CHOICE_ACTION}-{n}", choice_value(message.reply_token, choice))
            for n, choice in enumerate(message.choices)
        ]
        tail += actions(choices, CHOICE_ACTION)
    if message.shortcuts:
        shortcuts = [
            button(shortcut.label, f"{SHORTCUT_ACTION}-{n}", shortcut.value)
            for n, shortcut in enumerate(message.shortcuts)
        ]
        tail += actions(shortcuts, SHORTCUT_ACTION)
    if message.footer:
        tail.append(context(message.footer))
    room = BLOCKS_PER_MESSAGE - len(tail)
    groups = [sections[start : start + room] for start in range(0, len(sections), room)] or [[]]
    groups[-1] = groups[-1] + tail
    return [SlackMessage(fallback(group), group) for group in groups]


def file_share(message: Outgoing) -> tuple[str, list[SlackMessage]]:
    """A message with a file: the comment shared with the file, and the messages that
    follow it with the message's buttons or footer, if it has any (a file's comment can
    carry neither).

    The comment is the message's text, escaped: Slack reads a file's comment as mrkdwn,
    where "<" and "&" could make a mention or a link. The text is also what the messages
    after it say in a notification, as they show no text of their own.
    """
    if not (message.choices or message.shortcuts or message.footer):
        return escape(message.text), []
    notice = fallback([section(message.text or message.footer or "…")])
    after = [
        SlackMessage(notice, slack_message.blocks)
        for slack_message in render(replace(message, text="", attachment=None))
    ]
    return escape(message.text), after


def fallback(blocks: list[Block]) -> str:
    first = next((b["text"]["text"] for b in blocks if b["type"] == "section"), "")
    short = first if len(first) <= FALLBACK_CHARS else first[: FALLBACK_CHARS - 1] + "…"
    return escape(short) or " "


def answered(blocks: list[Block], chosen: str | None) -> list[Block]:
    """A pressed message's blocks without its buttons, and the chosen label under it.

    With `chosen` None (a stale press) the buttons are simply taken away.
    """
    kept = [block for block in blocks if block.get("type") != "actions"]
    if chosen is not None:
        kept.append(context(f"→ {chosen}"))
    return kept[:BLOCKS_PER_MESSAGE]


# ---- App Home ------------------------------------------------------------------------

HOME_ACTION = "home"  # action ids: home-start, home-resume, home-open-0, ...
HOME_RECENT_SHOWN = 5


def home_view(
    overview: Overview | None, nudges: Outgoing | None = None, friends: Outgoing | None = None
) -> Block:
    """The Home tab: welcome, start or carry on, recent reflections (date and model) and,
    when nudges are on, the weekly nudge in one line with its settings buttons.

    Nothing a worker wrote is shown here, only titles and dates.
    """
    start = [button(words.HOME_START, f"{HOME_ACTION}-start", "start", primary=True)]
    if overview is not None and overview.unfinished:
        newest = overview.unfinished[0]
        start.append(
            button(words.HOME_RESUME.format(title=newest.title), f"{HOME_ACTION}-resume", "resume")
        )
    blocks: list[Block] = [
        {"type": "header", "text": plain("Critical Friend")},
        section(words.HOME_WELCOME),
        *actions(start, f"{HOME_ACTION}-begin"),
        {"type": "divider"},
        {"type": "header", "text": plain(words.HOME_RECENT)},
    ]
    recent = overview.recent[:HOME_RECENT_SHOWN] if overview is not None else ()
    if recent:
        blocks.append(context(words.HOME_OPEN_HINT))
        entries = [
            button(
                f"{entry.finished_at:%d %b %Y} · {entry.title}",
                f"{HOME_ACTION}-open-{n}",
                f"journal {entry.id}",
            )
            for n, entry in enumerate(recent)
        ]
        blocks += actions(entries, f"{HOME_ACTION}-recent")
    else:
        blocks.append(context(words.HOME_NONE_YET))
    if nudges is not None:
        blocks += nudge_settings_blocks(nudges)
    if friends is not None:
        blocks += friend_blocks(friends)
    return {"type": "home", "blocks": blocks}


def friend_blocks(friends: Outgoing) -> list[Block]:
    """The Home tab's critical friend: in the pool or not, and buttons that type
    `friend`, `friend join` or `friend leave` (action ids home-friend-0, -1, ...)."""
    buttons = [
        button(shortcut.label, f"{HOME_ACTION}-friend-{n}", shortcut.value)
        for n, shortcut in enumerate(friends.shortcuts)
    ]
    return [
        {"type": "divider"},
        {"type": "header", "text": plain(peer_words.HOME_TITLE)},
        section(split_text(friends.text, SECTION_CHARS)[0]),
        *actions(buttons, f"{HOME_ACTION}-friends"),
    ]


def nudge_settings_blocks(nudges: Outgoing) -> list[Block]:
    """The Home tab's weekly nudge: its summary, and buttons that type `settings ...`
    (action ids home-settings-pause1, home-settings-off, ...; the value is the command)."""
    buttons = [
        button(
            shortcut.label,
            f"{HOME_ACTION}-settings-{shortcut.value.removeprefix('settings').replace(' ', '')}",
            shortcut.value,
        )
        for shortcut in nudges.shortcuts
    ]
    return [
        {"type": "divider"},
        {"type": "header", "text": plain(nudge_words.SETTINGS_TITLE)},
        section(split_text(nudges.text, SECTION_CHARS)[0]),
        *actions(buttons, f"{HOME_ACTION}-nudges"),
    ]


def outsiders_home_view() -> Block:
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": plain("Critical Friend")},
            section(words.HOME_FOR_OUTSIDERS),
        ],
    }
