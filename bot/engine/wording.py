"""Everything the bot says outside the dialogue files, in one place to read and improve.

Read by a tired professional after a hard day: warm, brief, plain English, no
exclamation marks, and always a way to pause or stop.
"""

from __future__ import annotations

from collections.abc import Sequence

HOW_TO_PAUSE = (
    "You can type back, skip, pause or stop at any point. Type help to see what each does."
)

HELP = (
    "At any question you can type:\n"
    "  back  - go to the previous question and change your answer\n"
    "  skip  - move on without answering (on a question you answered before, keeps your answer)\n"
    "  pause - stop for now; everything is kept and you can carry on later\n"
    "  stop  - end this reflection; I'll ask whether to keep it as a draft\n"
    "  journal - see your finished reflections\n"
    "  write - write freely in your journal, with no questions; done - finish the entry\n"
    "  resume - carry on with your last paused reflection\n"
    "  guide - short guides: ways of reflecting, feedback, being a critical friend\n"
    "  friend - a colleague as your critical friend\n"
    "  cpd - your CPD records for this registration year\n"
    "  lessons - lessons you offered your team, anonymously\n"
    "  support - people to talk to, if today has been too much\n"
    "  help  - show this again"
)


def greeting(name: str | None) -> str:
    hello = f"Hello {name}." if name else "Hello."
    return (
        f"{hello} I'm Critical Friend: a quiet space to think back on your work, at your "
        "own pace, after a hard visit or when something went wrong. What you write is "
        "private and encrypted, and never shared without asking you first."
    )


CHOOSE_MODEL = "Which way of reflecting would you like to use?"


def model_label(title: str, minutes: int) -> str:
    return f"{title} (about {minutes} min)"


def resume_offer(title: str, where: str, when: str) -> str:
    return (
        f"You have a reflection you haven't finished: {title}, {when} (you stopped at {where}). "
        "Would you like to carry on with it?"
    )


def resume_choice(title: str) -> str:
    return f"Carry on with {title}"


NEW_REFLECTION = "Start a new reflection"
NOT_NOW = "Not now"
NOT_NOW_REPLY = "That's fine. Whenever you're ready, just message me again."


def resumed(title: str) -> str:
    return f"Welcome back. Let's carry on with {title} where you left off."


def unknown_model(name: str) -> str:
    return f"I don't know a reflective model called '{name}'."


NO_MODELS = (
    "I can't find any reflective models to offer right now, so I can't start a reflection. "
    "Please let whoever runs this bot know."
)

PICK_AN_OPTION = "Please pick one of the options: type its number or its name."
EMPTY_ANSWER = "I didn't catch anything there. Take your time; type your answer when you're ready, or skip to move on."
UNREADABLE = "I couldn't read that message. Could you type it again?"
ONLY_TEXT = (
    "I can only read text for now, so I couldn't take that in. Could you write it out instead?"
)
STALE = (
    "That question has moved on (perhaps in another window), so I haven't saved what you just sent."
)
DIALOGUE_MISSING = (
    "I can't find the questions for this reflection right now, so I've kept what you "
    "wrote as a draft. Please let whoever runs this bot know."
)
FIRST_QUESTION = "This is the first question, so there's nothing to go back to."


def too_long(length: int, limit: int) -> str:
    return (
        f"That message is {length:,} characters, and I can keep up to {limit:,} in one answer. "
        "I haven't saved it. Could you shorten it? Your earlier answers are safe."
    )


def unknown_command(name: str) -> str:
    return f"I don't know the command '/{name}'. {HOW_TO_PAUSE}"


def earlier_answer(text: str) -> str:
    return f"Earlier you wrote:\n{text}\n\nSend a new answer to change it, or type skip to keep it."


def paused(where: str) -> str:
    return (
        "Paused. Everything you've written is kept safe. Whenever you're ready, "
        f"come back and I'll pick up exactly where you left off ({where})."
    )


NOTHING_TO_PAUSE = "There's no reflection in progress, so there's nothing to pause."
NOTHING_TO_STOP = "There's no reflection in progress right now."
NOTHING_TO_RESUME = "There's no paused reflection to carry on with just now."

CONFIRM_STOP = (
    "Would you like to keep what you've written as a draft to finish later, or discard it? "
    "Discarding deletes it for good."
)
KEEP_DRAFT = "Keep it as a draft"
DISCARD = "Discard it"
CARRY_ON = "Carry on reflecting"
DISCARDED = "Done. That reflection has been deleted."


def kept_as_draft(where: str) -> str:
    return f"Kept as a draft. You can carry on with it whenever you like, from where you stopped ({where})."


FINISHED = "Thank you for taking the time. This reflection is saved in your journal."

# Under a coaching follow-up (dialogues/coach.yaml): it is always fine not to answer.
COACH_SKIP = "If you'd rather move on, type skip."

# ---- free writing (a `collect: until_done` step, as in dialogues/write.yaml) -----------

# Said after a message of free writing: fuller after the first, then only a quiet word.
NOTED_FIRST = (
    "Noted. Carry on whenever you like, in as many messages as you need; each one is kept "
    "as you go. Type done when you've finished, or pause to come back to it later."
)
NOTED = "Noted. Carry on, or type done when you've finished."
ENTRY_EMPTY = (
    "There's nothing in this entry yet, so there's nothing to save. Whenever you're ready, "
    "write whatever is on your mind. Or type stop if you'd rather leave it for today."
)
ENTRY_WAITING = (
    "Your last message isn't in your entry yet. Please choose one of the options first, "
    "then type done."
)
NO_BACK_IN_ENTRY = (
    "There's no earlier question here: everything you've written is kept. Once the entry "
    "is finished, you can change any of it with revise."
)
YOUR_WRITING = "the end of your entry"  # where paused free writing stopped
NOTHING_TO_FINISH = "There's no writing open just now. Type write to start a journal entry."


def entry_so_far(last: str, limit: int) -> str:
    """Back at free writing already begun: the end of what was written, to pick up from."""
    if len(last) > limit:
        tail = last[-limit:]
        last = "…" + (tail.split(" ", 1)[1] if " " in tail else tail)
    return (
        f"Your entry so far ends:\n{last}\n\nCarry on writing, or type done when you've finished."
    )


def entry_full(limit: int) -> str:
    return (
        f"That message would take this entry past the {limit:,} characters I can keep in "
        "one, so I haven't saved it. Everything before it is safe. Type done to finish this "
        "entry, then write to start another and send it there."
    )


# ---- blame language in feedback (a step with `guard: blame`) ---------------------------

# The button offered with the invitation to rephrase: keeps the answer exactly as written.
SEND_AS_WRITTEN = "Send it as written"
# How many of the phrases found are quoted back; more would read like a telling-off.
PHRASES_QUOTED = 3


def blame_invitation(phrases: Sequence[str]) -> str:
    """Asked instead of moving on when feedback uses blame language. Gentle: the friend
    is not told off, and may send it as it is."""
    if phrases:
        shown = [f'"{phrase}"' for phrase in phrases[:PHRASES_QUOTED]]
        if len(phrases) > PHRASES_QUOTED:
            shown.append("others")
        named = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
    else:
        named = "some of the wording"
    return (
        f"One thing before I pass this on: {named} can sound like blame, even when it isn't "
        'meant that way. Feedback tends to land better as a question ("What might help next '
        'time?") or a suggestion ("You could try...").\n\n'
        "You could type a new version, or send it as written. Or type pause to come back to "
        "it later."
    )


def held_for_you(text: str) -> str:
    """Shown on resuming a reflection paused while an answer was held back."""
    return f"This is what you wrote before you paused. It hasn't been sent:\n{text}"


# ---- distress and safeguarding cues ---------------------------------------------------
#
# Said instead of the next question when an answer suggests the worker is not coping, or
# that someone they support is at risk and nothing was done. Not a therapist and not a
# safeguarding channel: brief, warm, no exclamation marks, nothing quoted back, and the
# worker decides what happens next.

# Context.support when the configuration gives none: UK services, free to call.
DEFAULT_SUPPORT = (
    "Your supervisor or your employee assistance programme can help. To talk to someone "
    "now: Samaritans on 116 123 (free, any time), NHS 111 option 2 for urgent mental health "
    "help in England, or text SHOUT to 85258. If you are in danger right now, call 999."
)
# Context.safeguarding when the configuration gives none.
DEFAULT_SAFEGUARDING = (
    "Please follow your safeguarding procedure and speak to your manager or the "
    "safeguarding lead today. If a child or adult is in immediate danger, call 999."
)

CARE_CONTINUE = "Carry on"
CARE_PAUSE = "Pause for now"
CARE_STOP = "Stop"
CARE_CHOICE = (
    "I've kept what you wrote. Whenever you're ready, you can carry on with the "
    "reflection, pause it for now, or stop. There's no rush."
)


def care_message(*, worker: bool, person: bool, support: str, safeguarding: str) -> str:
    """Asked instead of the next question: what the worker wrote is held, not saved yet."""
    parts = []
    if worker:
        parts.append(
            "Thank you for telling me. It sounds like things are really hard just now, and "
            "that matters more than this reflection. You don't have to carry it on your own."
        )
        parts.append(support)
    if person:
        parts.append(
            ("One more thing" if worker else "Thank you for writing this down. Before we go on")
            + ": from what you've written, someone you support may be at risk, and it may "
            "not have been passed on yet."
        )
        parts.append(safeguarding)
    parts.append(CARE_CHOICE)
    return "\n\n".join(parts)


# Something typed at the care question that is none of its options: not added to the answer.
CARE_NOT_AN_OPTION = "Your answer is kept as it was."
CARE_KEPT_WHILE_PAUSED = (
    "Before you paused, you'd written an answer to this question. I've kept it; it isn't "
    "saved to your reflection until you carry on."
)
TAKE_CARE = "Take care of yourself."

# ---- identifiers of the people a worker supports -----------------------------------------

REDACT = "Redact"
KEEP_AS_WRITTEN = "Keep as written"
EDIT = "Edit"
# How many of the things found are listed; the rest are counted.
IDENTIFIERS_LISTED = 5
_KINDS = {
    "phone": "a phone number",
    "email": "an email address",
    "postcode": "a postcode",
    "nhs_number": "an NHS number",
    "ni_number": "a National Insurance number",
    "date_of_birth": "a date of birth",
    "address": "an address",
    "name": "a name",
}


def identifier_kind(kind: str) -> str:
    """A kind in words ("a phone number"); an organisation's own reads from its name."""
    if kind in _KINDS:
        return _KINDS[kind]
    words = kind.replace("_", " ")
    return f"{'an' if words[:1] in tuple('aeiou') else 'a'} {words}"


def identifiers_found(found: Sequence[tuple[str, str]], labels: Sequence[str]) -> str:
    """Asked instead of saving: `found` is (kind, text as written), `labels` what Redact writes."""
    items = [f"{identifier_kind(kind)} ({text})" for kind, text in found[:IDENTIFIERS_LISTED]]
    if len(found) > IDENTIFIERS_LISTED:
        items.append(f"{len(found) - IDENTIFIERS_LISTED} more")
    them = "it" if len(found) == 1 else "them"
    return (
        f"Before I save this: it looks like it includes {_and(items)}. To protect the people "
        f"you support, I can replace {them} with {_and(list(dict.fromkeys(labels)))}.\n\n"
        "Would you like to redact, keep it as written, or edit it? To edit, just type the new "
        "version. Or type pause to come back to it later."
    )


EDIT_PROMPT = (
    "Type the whole new version and send it, and I'll check it again before saving. Or, if you'd "
    "rather, redact or keep it as written. You can type pause to come back to it later."
)


def edit_prompt(held: str) -> str:
    """Asked for a new version: what is being replaced is shown, since it may be more
    than the last message (a first answer and the reply to a follow-up, kept together)."""
    return f"This is what you wrote, to change as you like:\n{held}\n\n{EDIT_PROMPT}"


REDACTED = "I've replaced those details."


def held_unsaved(text: str) -> str:
    """Shown on resuming a reflection paused while an answer waited to be redacted or kept."""
    return f"This is what you wrote before you paused. It hasn't been saved yet:\n{text}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def check_in_booked(days: int) -> str:
    when = "in a week" if days == 7 else "in two weeks" if days == 14 else f"in {days} days"
    return f"I'll check in with you {when} to see how your plan is going."


def stage_heading(label: str, position: tuple[int, int] | None) -> str:
    if position is None:
        return label
    return f"{label} ({position[0]} of {position[1]})"


STORAGE_DOWN = (
    "I can't save anything just now because my database isn't answering, so that message "
    "wasn't saved. What you wrote before is safe. Please try again in a few minutes."
)
KEY_PROBLEM = (
    "I can't read your saved reflections with the key I've been given, so I've stopped "
    "rather than risk mixing anything up. Nothing has been lost. Please let whoever runs "
    "this bot know."
)
JOURNAL_HOW_TO_OPEN = "Type journal and a number (for example: journal 1) to read one."


def no_such_reflection(argument: str) -> str:
    return f"I can't find reflection {argument} in your journal."
