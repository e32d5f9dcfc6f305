"""A CPD record drafted from a finished reflection, field by field, in the worker's words.

The fields are those of Social Work England's CPD form: the type of CPD, a title, the
date, a short description and why it is relevant, what I learnt, the impact on my
practice and on the people I work with, and (for a record with peer reflection) what I
learnt from discussing it with a peer.

Each field is taken from the answers to named steps of the reflective model the worker
used (`RECIPES`). A model written later by an organisation falls back on step ids that
mean the same thing in any model (`what_happened`, `learnt`, `plan`...), and then on
position: the first answer describes what happened, the last ones are what was learnt
and what comes next. Answers to a known model's choices ("In a week") are never
drafted from. Long answers are cut at a sentence boundary, so a draft reads as the
worker wrote it; the worker edits any field before it is saved. Nothing here reads the
clock or the database.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from bot.cpd.year import local_date, uk_date
from bot.dialogues import Catalog, Dialogue
from bot.dialogues.model import PART
from bot.engine.coach import worker_words
from bot.store.repository import PeerExchange, ReflectionRecord

REFLECTION_ON_PRACTICE: Final = "Reflection on practice"
PEER_REFLECTION: Final = "Peer reflection"

# Form fields in the order the form asks for them, with the heading each is shown under.
FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("cpd_type", "Type of CPD"),
    ("title", "Title"),
    ("activity_date", "Date"),
    ("description", "Description, and why it is relevant to me"),
    ("learnt", "What I learnt"),
    ("impact", "The impact on my practice and on the people I work with"),
    ("peer", "What I learnt from discussing it with a peer"),
)
LABELS: Final[Mapping[str, str]] = dict(FIELDS)

# Long enough for a considered paragraph, short enough to read at a glance on a phone.
TITLE_CHARS: Final = 80
DESCRIPTION_CHARS: Final = 600
LEARNT_CHARS: Final = 800
IMPACT_CHARS: Final = 800
PEER_CHARS: Final = 900
PART_CHARS: Final = 400  # one answer within a field made of several
PEER_PART_CHARS: Final = 220  # one of the friend's answers
MAX_EXCHANGES: Final = 2

# Answers that say there is nothing to say: not worth a place in a CPD record.
_NOTHING = re.compile(
    r"^(?:n/?a|none|no|nothing|nothing (?:for now|yet|really)|not sure|not yet|-+|\.+)[.!]?$",
    re.IGNORECASE,
)
# A sentence ends at . ! ? or … (and any closing quote or bracket after it).
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*\s+")


@dataclass(frozen=True, slots=True)
class CpdFields:
    """One CPD record, as the worker will copy it into their regulator's form."""

    cpd_type: str
    title: str
    activity_date: date
    description: str
    learnt: str
    impact: str
    peer: str = ""  # empty: this record has no peer reflection

    @property
    def includes_peer(self) -> bool:
        return bool(self.peer.strip())

    def text_of(self, name: str) -> str:
        """A field as text ("23 November 2026" for the date)."""
        if name not in LABELS:
            raise ValueError(f"there is no CPD field called {name!r}")
        if name == "activity_date":
            return uk_date(self.activity_date)
        value: str = getattr(self, name)
        return value

    def with_text(self, name: str, text: str) -> CpdFields:
        """This record with one field replaced by what the worker wrote.

        The date is read as 2026-11-23 or 23/11/2026; ValueError names what is wrong.
        """
        if name not in LABELS:
            raise ValueError(f"there is no CPD field called {name!r}")
        cleaned = text.strip()
        if name == "activity_date":
            return dataclasses.replace(self, activity_date=parse_date(cleaned))
        if name in {"cpd_type", "title"} and not cleaned:
            raise ValueError(f"the {LABELS[name].lower()} cannot be empty")
        change: dict[str, Any] = {name: cleaned}  # a text field, by the check above
        return dataclasses.replace(self, **change)


@dataclass(frozen=True, slots=True)
class Recipe:
    """Which steps' answers make each field, in order."""

    description: tuple[str, ...]
    relevance: tuple[str, ...] = ()  # why it matters: the second part of the description
    learnt: tuple[str, ...] = ()
    impact: tuple[str, ...] = ()


RECIPES: Final[Mapping[str, Recipe]] = {
    "gibbs": Recipe(
        description=("what_happened",),
        relevance=("why",),
        learnt=("learnt", "other_options"),
        impact=("plan",),
    ),
    "gibbs_quick": Recipe(
        description=("what_happened",),
        relevance=("well_and_why",),
        learnt=("learnt",),
        impact=("plan",),
    ),
    "driscoll": Recipe(
        description=("what_happened",),
        relevance=("what_it_meant",),
        learnt=("learnt",),
        impact=("plan",),
    ),
    "kolb": Recipe(
        description=("what_happened",),
        relevance=("why",),
        learnt=("learnt", "ideas"),
        impact=("plan", "how_know"),
    ),
    "rolfe": Recipe(
        description=("what_happened",),
        relevance=("what_it_meant",),
        learnt=("learnt", "your_thinking"),
        impact=("plan", "making_it_work"),
    ),
    "mistake": Recipe(
        description=("what_happened",),
        relevance=("why",),
        learnt=("prevent",),
        impact=("plan", "who_should_know"),
    ),
    "weekly": Recipe(
        description=("what_happened",),
        learnt=("take_forward",),
        impact=("plan",),
    ),
    "follow_up": Recipe(
        description=("how_it_went",),
        learnt=("what_helped",),
        impact=("next",),
    ),
}

# For any other model: step ids that mean the same thing whatever the model.
GENERIC: Final = Recipe(
    description=("what_happened", "description", "what", "situation", "experience"),
    relevance=("what_it_meant", "so_what", "why_it_matters", "why"),
    learnt=("learnt", "learned", "learning", "lessons", "conclusion", "take_forward"),
    impact=("plan", "action_plan", "now_what", "next_steps", "next", "action"),
)


def draft(
    record: ReflectionRecord, catalog: Catalog, *, timezone: str = "Europe/London"
) -> CpdFields:
    """The CPD form drafted from a reflection, its follow-ups and its peer reflection.

    `timezone` is the worker's: the reflection finished on that local date.
    """
    answers = _paragraphs(_free_text(record, catalog), catalog.get(record.dialogue_id))
    recipe = RECIPES.get(record.dialogue_id, GENERIC)
    used: set[str] = set()

    def take(steps: Sequence[str], limit: int = PART_CHARS) -> list[str]:
        found = [trim(answers[s], limit) for s in steps if s in answers and s not in used]
        used.update(s for s in steps if s in answers)
        return found

    happened = take(recipe.description)
    relevance = take(recipe.relevance, 250)
    learnt = take(recipe.learnt)
    impact = take(recipe.impact)
    # What is left, for a model whose steps say nothing we know: first and last answers.
    rest = [step for step in answers if step not in used]
    if not happened and rest:
        happened = take(rest[:1])
        rest = rest[1:]
    if not impact and rest:
        impact = take(rest[-1:])
        rest = rest[:-1]
    if not learnt and rest:
        learnt = take(rest[-1:])
    for follow_up in record.follow_ups[-1:]:
        went = _meaningful(follow_up.answers.get("how_it_went", ""))
        if went:
            impact.append(f"How it went: {trim(went, PART_CHARS)}")
    peer = _peer(record.peer)
    dialogue = catalog.get(record.dialogue_id)
    day = local_date(record.finished_at, timezone)
    return CpdFields(
        cpd_type=PEER_REFLECTION if peer else REFLECTION_ON_PRACTICE,
        title=_title(happened, dialogue.title if dialogue else "Reflection", day),
        activity_date=day,
        description=trim("\n\n".join(happened + relevance), DESCRIPTION_CHARS),
        learnt=trim("\n\n".join(learnt), LEARNT_CHARS),
        impact=trim("\n\n".join(impact), IMPACT_CHARS),
        peer=peer,
    )


def _free_text(record: ReflectionRecord, catalog: Catalog) -> dict[str, str]:
    """The answers worth drafting from: written, not chosen, and not "nothing"."""
    dialogue = catalog.get(record.dialogue_id)
    found = {}
    for step_id, text in record.answers.items():
        if dialogue is not None and dialogue.has_step(step_id) and dialogue.step(step_id).is_choice:
            continue
        meaningful = _meaningful(worker_words(text))  # without a coaching follow-up's question
        if meaningful:
            found[step_id] = meaningful
    return found


def _paragraphs(answers: dict[str, str], dialogue: Dialogue | None) -> dict[str, str]:
    """Free writing (a `collect` step) has no questions to draft from: each of its
    paragraphs counts as an answer, so the first says what happened and the last ones
    what was learnt and what comes next, as for any model whose steps we do not know."""
    if dialogue is None:
        return answers
    free = [step.id for step in dialogue.steps if step.collect is not None]
    split: dict[str, str] = {}
    for key, text in answers.items():
        if not any(key == step_id or key.startswith(step_id + PART) for step_id in free):
            split[key] = text
            continue
        pieces = [piece.strip() for piece in re.split(r"\n\s*\n", text) if piece.strip()]
        for number, piece in enumerate(pieces, 1):
            split[f"{key}#{number}"] = piece
    return split


def _meaningful(text: str) -> str:
    cleaned = text.strip()
    return "" if _NOTHING.match(cleaned) else cleaned


def _peer(exchanges: Sequence[PeerExchange]) -> str:
    """What the worker learnt from their critical friends: the friends' feedback in
    brief, and what the worker said they take from it. Exchanges the worker answered
    come first; friends are not named (the record is about the learning)."""
    given = [p for p in exchanges if any(_meaningful(t) for t in p.feedback.values())]
    given.sort(key=lambda p: (not p.answer, p.sent_at))
    paragraphs = []
    for number, exchange in enumerate(given[:MAX_EXCHANGES]):
        who = "a colleague acting as my critical friend" if number == 0 else "another colleague"
        lines = [f"I shared this reflection with {who} and discussed their feedback."]
        for step, lead in (
            ("well", "They noticed what went well"),
            ("question", "They asked"),
            ("suggestion", "They suggested"),
        ):
            text = _meaningful(exchange.feedback.get(step, ""))
            if text:
                lines.append(f"{lead}: {trim(text, PEER_PART_CHARS)}")
        if not any(step in exchange.feedback for step in ("well", "question", "suggestion")):
            # Feedback from a model of the organisation's own: its answers as given.
            lines += [trim(t, PEER_PART_CHARS) for t in exchange.feedback.values() if t.strip()]
        taken = " ".join(_meaningful(t) for t in exchange.answer.values() if _meaningful(t))
        if taken:
            lines.append(f"What I take from it: {trim(taken, PART_CHARS)}")
        paragraphs.append("\n".join(lines))
    return trim("\n\n".join(paragraphs), PEER_CHARS)


def _title(happened: Sequence[str], model: str, day: date) -> str:
    """The first sentence of what happened, short; else the model and the date."""
    if happened:
        first = _sentences(happened[0].splitlines()[0])[0].rstrip(" .,;:")
        if first:
            return trim(first, TITLE_CHARS)
    return f"{model}, {uk_date(day)}"


# ---- text --------------------------------------------------------------------------


def trim(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at the end of a sentence (or a line).

    A first sentence longer than the limit is cut at a word, with an ellipsis (and so is
    the next one, when what fits before it is very short). Whitespace within a line is
    tidied; line breaks are kept.
    """
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines).strip())
    if len(tidy) <= limit:
        return tidy
    kept = ""
    for line in tidy.split("\n"):
        for index, sentence in enumerate(_sentences(line)):
            joiner = "" if not kept else ("\n" if index == 0 else " ")
            if len(kept) + len(joiner) + len(sentence) <= limit:
                kept += joiner + sentence
                continue
            kept = kept.rstrip()
            if not kept:
                return _cut(sentence, limit)
            room = limit - len(kept) - len(joiner)
            if len(kept) >= limit // 3 or room < 20:
                return kept
            return kept + joiner + _cut(sentence, room)
    return kept.rstrip()


def _sentences(line: str) -> list[str]:
    """The sentences of one line, each with its closing quote or bracket ([""] if empty)."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(line):
        pieces.append(line[start : match.start()] + match.group().rstrip())
        start = match.end()
    pieces.append(line[start:])
    return [piece.strip() for piece in pieces if piece.strip()] or [line]


def _cut(text: str, limit: int) -> str:
    head = text[: max(limit - 1, 1)]
    if " " in head.strip():
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:-\u2013\u2014") + "…"


# ---- dates -------------------------------------------------------------------------


_UK_NUMERIC = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def parse_date(text: str) -> date:
    """A date as a worker types it: 2026-11-23 or 23/11/2026 (day first, as in the UK)."""
    cleaned = text.strip()
    try:
        match = _UK_NUMERIC.match(cleaned)
        if match:
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
        return date.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"{cleaned!r} is not a date: write it like 23/11/2026 or 2026-11-23"
        ) from None
