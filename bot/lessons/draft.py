"""A lesson for the team drafted from a finished reflection: what the worker learnt and
what they will do, in a sentence or two of their own words, with anything that looks
like an identifier already taken out. Nothing here reads the clock or the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from bot.care.identifiers import Found, Patterns, default_patterns, find_identifiers, redact
from bot.cpd.draft import draft as draft_cpd
from bot.cpd.draft import trim
from bot.dialogues import Catalog
from bot.store.repository import ReflectionRecord

MAX_CHARS: Final = 400  # a lesson is read at a glance among a dozen others
LEARNT_CHARS: Final = 220
PLAN_CHARS: Final = 170


@dataclass(frozen=True, slots=True)
class Checked:
    """A lesson's text after the identifier guard: `text` is safe to show the team only
    once `removed` is empty (the draft comes back redacted; the worker's own words are
    not changed behind their back, they are asked to take the details out)."""

    text: str
    removed: tuple[str, ...] = ()  # the kinds found: "name", "phone", ...


def drafted(record: ReflectionRecord, catalog: Catalog, patterns: Patterns | None) -> Checked:
    """One or two sentences from the conclusion and the action plan; redacted."""
    fields = draft_cpd(record, catalog)
    parts = [
        trim(_first_paragraph(fields.learnt), LEARNT_CHARS),
        trim(_first_paragraph(fields.impact), PLAN_CHARS),
    ]
    text = " ".join(_as_sentence(part) for part in parts if part)
    found = _found(text, patterns)
    if not found:
        return Checked(text)
    return Checked(redact(text, found, patterns=patterns), _kinds(found, patterns))


def check(text: str, patterns: Patterns | None) -> Checked:
    """The worker's own words for a lesson, with what the guard found (if anything)."""
    cleaned = " ".join(text.split())
    found = _found(cleaned, patterns)
    return Checked(cleaned, _kinds(found, patterns)) if found else Checked(cleaned)


def _found(text: str, patterns: Patterns | None) -> list[Found]:
    # Off only when the organisation turned the identifier guard off for answers; the
    # names of colleagues and families must still never reach a team channel, so the
    # shipped patterns apply then.
    return find_identifiers(text, patterns)


def _kinds(found: Sequence[Found], patterns: Patterns | None) -> tuple[str, ...]:
    labelled = patterns if patterns is not None else default_patterns()
    labels: list[str] = []
    for item in found:
        label = labelled.label(item.kind).strip("[]")
        if label not in labels:
            labels.append(label)
    return tuple(labels)


def _first_paragraph(text: str) -> str:
    return text.strip().split("\n\n", 1)[0]


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."
