"""The neutral message types: how replies are joined for platforms where each is a notification."""

from __future__ import annotations

from bot.messages import Choice, Outgoing, merged

YES = (Choice("yes", "Yes"),)


def test_plain_messages_join_onto_the_question_after_them() -> None:
    messages = [
        Outgoing("Thank you."),
        Outgoing("Here is a note."),
        Outgoing("Shall we go on?", YES, "q3", footer="Type pause to stop"),
    ]
    assert merged(messages, 4096) == [
        Outgoing(
            "Thank you.\n\nHere is a note.\n\nShall we go on?", YES, "q3", "Type pause to stop"
        )
    ]


def test_a_question_or_a_footer_ends_a_group() -> None:
    messages = [
        Outgoing("First?", YES, "q1"),
        Outgoing("Said with a footer.", footer="small print"),
        Outgoing("Last."),
    ]
    assert merged(messages, 4096) == messages


def test_messages_that_would_not_fit_stay_apart() -> None:
    long = Outgoing("x" * 3000)
    assert merged([long, long], 4096) == [long, long]
    assert merged([long, Outgoing("y" * 1094)], 4096) == [
        Outgoing("x" * 3000 + "\n\n" + "y" * 1094)
    ]
    assert merged([], 4096) == []
