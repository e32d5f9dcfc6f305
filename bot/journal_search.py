"""Finding reflections in a worker's own journal: words, dates, model and tags.

`journal search supervision court from:2026-09-01 to:2026-11-30 model:gibbs tag:court`.
Words match anywhere in the answers (every word, case and accents aside); the search
runs over the worker's own reflections only, decrypted in memory, since nothing they
wrote is readable in the database to search there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.engine.coach import worker_words
from bot.store import JournalEntry, Transaction

TAG = re.compile(r"[\w-]{1,30}")
MAX_TAGS = 10

NOTHING_FOUND = (
    "Nothing in your journal matches that. Try fewer words, or type journal to see it all."
)
FOUND = "{count} reflection{s} match:"
HOW_TO_SEARCH = (
    "To search your journal, type for example: journal search supervision, or "
    "journal search from:2026-09-01 to:2026-11-30 model:gibbs tag:court"
)
HOW_TO_TAG = (
    "To tag a reflection, type its number and one or more words, for example: "
    "tag 3 court supervision. To take a tag off: untag 3 court."
)
EDIT_WHICH = (
    "Which answer would you like to change? Send, for example: revise {id} 2: and then "
    "the new version. The earlier one is kept as a revision.\n\n{steps}"
)
EDIT_NO_STEP = "Reflection {id} has no answer {step}. Type revise {id} to see its answers."
EDITED = "Changed. The earlier version is kept, and journal show {id} has the new one."
EDIT_EMPTY = "The new version is empty, so nothing was changed."
TAGGED = "Tags on reflection {id}: {tags}."
NO_TAGS = "Reflection {id} has no tags now."
NOT_YOURS = "There is no reflection {id} in your journal."
BAD_TAGS = "Tags are single words (letters, digits, - or _), up to 30 characters: {bad}"
TOO_MANY_TAGS = "Up to 10 tags a reflection, please."


@dataclass(frozen=True, slots=True)
class Query:
    words: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    model: str | None = None
    tags: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)


def fold(text: str) -> str:
    """Lower case without accents, for matching as a person would."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parse(text: str) -> Query:
    words: list[str] = []
    tags: list[str] = []
    since = until = None
    model = None
    problems: list[str] = []
    for part in text.split():
        key, colon, value = part.partition(":")
        if colon and key.lower() in {"from", "to"}:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                problems.append(f"{part}: dates are written like 2026-11-30")
                continue
            if key.lower() == "from":
                since = day
            else:
                until = day
        elif colon and key.lower() == "model" and value:
            model = value.lower()
        elif colon and key.lower() == "tag" and value:
            tags.append(fold(value))
        else:
            words.append(fold(part))
    return Query(tuple(words), since, until, model, tuple(tags), problems)


def search(tx: Transaction, user_id: int, query: Query) -> list[JournalEntry]:
    """The worker's finished reflections that match every part of the query, oldest first."""
    found = []
    for entry in tx.journal(user_id):
        day = entry.finished_at.date()
        if (query.since and day < query.since) or (query.until and day > query.until):
            continue
        if query.model and entry.dialogue_id.lower() != query.model:
            continue
        if any(tag not in {fold(t) for t in entry.tags} for tag in query.tags):
            continue
        if query.words:
            record = tx.reflection(user_id, entry.id)
            if record is None:
                continue
            # The worker's words, not a coaching follow-up kept with an answer.
            words = [worker_words(text) for text in record.answers.values()]
            haystack = fold(" ".join([*words, *entry.tags]))
            if not all(word in haystack for word in query.words):
                continue
        found.append(entry)
    return found


def clean_tags(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """Tags as typed (letters, digits, - and _; up to 30 characters), and those refused."""
    good = [w for w in words if TAG.fullmatch(w)]
    bad = [w for w in words if not TAG.fullmatch(w)]
    return good, bad
