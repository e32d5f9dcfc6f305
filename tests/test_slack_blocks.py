"""Block Kit rendering: every message the channel can make is one Slack accepts.

Checked with the fake Slack's own Block Kit rules (tests/fakes/slack_blocks.py), and with
hypothesis for texts, labels and numbers of choices nobody thought to write down.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels import slack_blocks as blocks
from bot.messages import Choice, Outgoing
from bot.service import Finished, Overview, Unfinished
from tests.fakes.slack_blocks import MESSAGE_BLOCKS, VIEW_BLOCKS, problems

WHEN = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)


def shown_text(messages: list[blocks.SlackMessage]) -> str:
    return "".join(
        block["text"]["text"]
        for message in messages
        for block in message.blocks
        if block["type"] == "section"
    )


def test_a_question_with_choices_and_a_footer() -> None:
    question = Outgoing(
        "Would you like me to check in?",
        (Choice("7", "In a week"), Choice("never", "No, thank you")),
        reply_token="q4",
        footer="Type pause to stop for now.",
    )
    (message,) = blocks.render(question)
    assert problems(message.blocks) == []
    assert [b["type"] for b in message.blocks] == ["section", "actions", "context"]
    values = [e["value"] for e in message.blocks[1]["elements"]]
    assert values == ["q4|7", "q4|never"]
    assert blocks.parse_choice_value(values[0]) == ("q4", "7")
    assert message.text == "Would you like me to check in?"


def test_worker_text_is_shown_as_it_is_and_escaped_in_the_fallback() -> None:
    (message,) = blocks.render(Outgoing("Mum said <@U123> & *nobody* listens > ever"))
    assert message.blocks[0]["text"] == {
        "type": "plain_text",
        "text": "Mum said <@U123> & *nobody* listens > ever",
        "emoji": False,
    }
    assert message.text == "Mum said &lt;@U123&gt; &amp; *nobody* listens &gt; ever"


def test_a_very_long_text_becomes_several_messages_with_the_buttons_on_the_last() -> None:
    text = ("A long paragraph of a reflection, written late at night. " * 60 + "\n\n") * 60
    question = Outgoing(text, (Choice("yes", "Yes"),), reply_token="q9")
    messages = blocks.render(question)
    assert len(messages) > 1
    for message in messages:
        assert problems(message.blocks) == []
        assert len(message.blocks) <= MESSAGE_BLOCKS
    assert [b["type"] for b in messages[-1].blocks][-1] == "actions"
    assert all(b["type"] == "section" for m in messages[:-1] for b in m.blocks)
    assert shown_text(messages).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(min_size=1, max_size=9000).filter(str.strip),
    labels=st.lists(st.text(min_size=1, max_size=120).filter(str.strip), max_size=40),
    footer=st.one_of(st.none(), st.text(min_size=1, max_size=200).filter(str.strip)),
)
def test_any_message_renders_to_blocks_slack_accepts(
    text: str, labels: list[str], footer: str | None
) -> None:
    choices = tuple(Choice(str(n), label) for n, label in enumerate(labels))
    messages = blocks.render(Outgoing(text, choices, reply_token="q1", footer=footer))
    for message in messages:
        assert problems(message.blocks) == [], message.blocks
        assert message.text.strip()
    pressed = [
        e for m in messages for b in m.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert len(pressed) == len(labels)


def test_a_pressed_message_keeps_its_text_and_shows_the_choice() -> None:
    (message,) = blocks.render(Outgoing("Which way?", (Choice("a", "Gibbs"),), reply_token="q1"))
    after = blocks.answered(message.blocks, "Gibbs")
    assert problems(after) == []
    assert [b["type"] for b in after] == ["section", "context"]
    assert after[-1]["elements"][0]["text"] == "→ Gibbs"
    assert [b["type"] for b in blocks.answered(message.blocks, None)] == ["section"]


def test_the_home_tab_shows_titles_and_dates_only() -> None:
    overview = Overview(
        unfinished=(Unfinished("gibbs", "Gibbs' reflective cycle", WHEN),),
        recent=tuple(Finished(n, "driscoll", "Driscoll's What?", WHEN) for n in range(1, 9)),
    )
    view = blocks.home_view(overview)
    assert problems(view["blocks"], limit=VIEW_BLOCKS) == []
    ids = [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids[:2] == ["home-start", "home-resume"]
    opens = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]][2:]
    assert len(opens) == blocks.HOME_RECENT_SHOWN
    assert opens[0]["text"]["text"] == "27 Nov 2026 · Driscoll's What?"
    assert opens[0]["value"] == "journal 1"
    empty = blocks.home_view(None)
    assert problems(empty["blocks"], limit=VIEW_BLOCKS) == []
    assert problems(blocks.outsiders_home_view()["blocks"], limit=VIEW_BLOCKS) == []
