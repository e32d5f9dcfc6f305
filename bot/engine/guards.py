"""What holds a free-text answer back before it is saved: the checks, in their order.

Every free-text answer (never a choice, never a command) passes these before it is saved:

1. Distress and safeguarding cues (`Context.cues`; None turns this off). A cue not shown
   before for this question holds the answer and asks, instead of the next question,
   whether to carry on, pause or stop: with care and `Context.support` for a worker who
   may not be coping, with `Context.safeguarding` for someone they support who may be at
   risk. First, so that "Can't cope." is never answered with "Could you say a little
   more?", and so that nothing about identifiers or wording is asked of someone in
   distress before they have been answered with care.
2. The gentle follow-up, for a first answer that is short or vague, as before; its answer
   is joined to the first and the checks run on both together.
3. Identifiers (`Context.identifiers`; None turns this off): the answer is held, and the
   worker is shown what was found and offered Redact, Keep as written or Edit.
4. Blame, on a `guard: blame` step: held, with an invitation to rephrase or send it as
   written.

Carrying on past a check runs the ones after it, never the ones before. While an answer
is held for identifiers or blame, a new version typed replaces it whole and runs every
check again except the follow-up. At the care message what is typed is said to the bot
("thanks", "I'm ok"), not more of the answer: it is not kept, and only a new cue in it
changes anything (the message is shown again, answering that too).

A cue shown for an answer to a step is remembered by its words (`RunState.cues_shown`),
so the same words at the same step are not answered again: not after carrying on, not in
an edited version, not after going back and sending it again. Pause, back, skip and stop
while an answer is held work as they do for the blame guard: a pause (however it comes:
the button, the command, a closed window) keeps the held answer in the draft and shows
its question again on resuming; back and skip drop it unsaved; stop asks keep or discard.
Pure: the detectors are given their compiled patterns and cues by the Context.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from bot.care.cues import Cue, CueKind, CueSet, find_cues, fold
from bot.care.identifiers import Found, Patterns, find_identifiers, redact
from bot.engine.state import RunState, Spotted

# The values of the choices offered while an answer is held. Plain words, so that typing
# one works where there are no buttons ("continue", "keep"); every choice is carried on
# its question, so a press from an older message is stale. `pause` and `stop` typed are
# the commands of the same names, and do the same.
CARE_CONTINUE = "continue"
CARE_PAUSE = "pause"
CARE_STOP = "stop"
REDACT = "redact"
KEEP_AS_WRITTEN = "keep"
EDIT = "edit"


def cue_key(step_id: str, cue: Cue) -> str:
    """How a cue shown for an answer to a step is remembered: the same words, folded."""
    return f"{step_id}:{cue.kind.value}:{' '.join(fold(cue.phrase).split())}"


def unseen_cues(cues: CueSet | None, run: RunState, step_id: str, text: str) -> list[Cue]:
    """The cues in `text` not yet shown for an answer to this step."""
    if cues is None:
        return []
    return [cue for cue in find_cues(text, cues) if cue_key(step_id, cue) not in run.cues_shown]


def note_cues(run: RunState, step_id: str, found: Sequence[Cue]) -> None:
    """Remember that a care message answered these cues, and which kinds it spoke to."""
    for cue in found:
        key = cue_key(step_id, cue)
        if key not in run.cues_shown:
            run.cues_shown.append(key)
        if cue.kind.value not in run.held_cues:
            run.held_cues.append(cue.kind.value)


def cue_kinds(run: RunState) -> tuple[bool, bool]:
    """Whether the care message speaks to the worker, and to someone they support."""
    return (
        CueKind.WORKER_AT_RISK.value in run.held_cues,
        CueKind.PERSON_AT_RISK.value in run.held_cues,
    )


def spot(patterns: Patterns | None, text: str) -> list[Spotted]:
    """Likely identifiers in `text`, each with the label Redact puts in its place."""
    if patterns is None:
        return []
    return [
        Spotted(found.kind, found.start, found.end, found.text, patterns.label(found.kind))
        for found in find_identifiers(text, patterns)
    ]


def redacted(text: str, spotted: Sequence[Spotted]) -> str:
    """`text` with what was spotted replaced by its label, as it was when it was spotted.

    The labels travel with the held answer, so Redact writes what the question promised
    even if the patterns have changed (or the guard was turned off) since it was asked.
    """
    labels = MappingProxyType({item.kind: item.label for item in spotted})
    found = [Found(item.kind, item.start, item.end, item.text) for item in spotted]
    return redact(text, found, patterns=Patterns(labels=labels, rules=()))
