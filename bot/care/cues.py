"""Distress and safeguarding cues in an answer: what the engine must not talk past.

Two kinds (the domain primer, "Wellbeing and safety"):
- WORKER_AT_RISK: the worker may not be coping or may be at risk: suicidal thoughts,
  self-harm, hopelessness, "can't go on", burnout named as such. The script pauses and
  the bot answers with care and the support the organisation configured.
- PERSON_AT_RISK: someone the worker supports may be at risk and nothing was done
  ("I didn't report it", "I left the children there even though..."). The bot calmly
  reminds the worker of their safeguarding procedure.

The phrases are data (`cues.yaml` beside this file, or a whole replacement file given
to `load_cues`); this module holds the reading around a match, which decides whether a
phrase is a cue here. Decisions, and why:

- Whose distress. Reflections describe the families' distress all the time ("the mother
  said she wanted to end it all", "the young person disclosed self-harm"). The nearest
  person word before a phrase, in its sentence, decides: "I", "my", "we" make it the
  worker's; "she", "the mother", "the young person" make it someone else's; "asked
  about", "talked about", or "training" after it make it a subject of work. With none
  (people in distress drop the "I": "Can't cope."), it is the worker's. Someone else's
  words in quotation marks are theirs, unless the words before the quote are the
  worker's ("I kept thinking 'I can't go on'"). "...and frankly so am I" after someone
  else's distress makes it the worker's too.
- Someone else's distress is not a worker cue, and on its own not a person cue either:
  the worker may well have acted, and most reflections say so. It becomes a
  PERSON_AT_RISK cue only through a phrase saying nothing was done by the worker or
  their team: a safeguarding step not taken ("didn't report", "haven't told my
  manager", "no referral was made", a promise to keep a disclosure secret), or an
  ordinary inaction ("I did nothing", "I left the children there") next to a risk word
  in the same sentence or the one before or after. "Until", "already", "I rang..."
  later in the sentence mean something was done after all.
- Negation: "not", "never", "no"... within four words before a phrase, in its clause,
  take it back ("I'm not suicidal", "no thoughts of hurting myself"); so do "if" and
  "unless" (a supposition). A negation does not reach past "knows", "stop", "thought
  I'd"...: "nobody knows I'm not coping" and "I can't stop thinking about killing
  myself" are cues. A new clause ("..., but I can't go on") starts afresh.
- Hard-day idioms are not cues: "I was exhausted", "shattered", "running on empty",
  "a killer of a day", "the deadline is killing me", "I could have died of
  embarrassment", "killing myself trying to get the assessments done", "drowning in
  paperwork". They are in almost every reflection after a hard visit, and a bot that
  pauses for them teaches workers to stop writing honestly. Burnout named as such
  ("burnt out", "burned out", "burnout") is a cue, as are "not coping", "can't cope",
  "at breaking point", "I'm struggling" on its own and "I'm not okay".
- The trade-off: recall on genuine risk matters more than precision, so a phrase that
  is risk in most reflections counts even where it is sometimes not ("can't go on",
  "burnt out", "I didn't escalate it"); a phrase that is ordinary language in most
  reflections ("exhausted", "I didn't ask") does not count alone. A false alarm costs
  one tap ("continue"); a miss costs a worker in crisis being asked the next question.

Pure text work, no I/O after the cues are loaded. Matching runs on a folded copy of
the text of the same length (lower case, straight quotes, a hyphen inside a word read
as a space), so a cue's phrase comes back exactly as written. A 20,000-character answer
takes about 13 ms of one quiet core, about 20 ms when every other sentence is a cue.

Measured on `tests/data/cues.tsv` (446 labelled reflective sentences; see
tests/test_cues.py):
- The whole set, which the phrases were widened against: worker_at_risk precision 0.99
  (145 of 146 flagged), recall 0.99 (145 of 147); person_at_risk precision 1.00 (79 of
  79), recall 0.98 (79 of 81).
- Wording not seen before: three batches written after the detector, each measured once
  before any phrase was changed for it (then added to the set). worker_at_risk recall
  12/25, 10/20 and 8/18 (about 0.47), precision 12/12, 10/11 and 8/10; person_at_risk
  recall 10/13, 6/10 and 4/8, precision 10/12, 6/8 and 4/5. So on new phrasing a phrase
  list finds about half of what a person would, with few false alarms: the engine
  should keep pause and support one tap away in every turn, not only after a hit.
- Known misses: distress that only context shows ("I've written a note.", "I have a
  plan for how I'd do it"), a child not seen ("I didn't push it"), a disclosure with no
  risk word in it. Known false alarm: "I couldn't cope with the smell in the flat".
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.yamlsource import Located, Problem, YamlError, load_file, load_text, validation_problems

DATA_FILE = "cues.yaml"

# How many words before a phrase a negation still reaches, and how far back the person
# words that decide whose a phrase is are read.
NEGATION_REACH = 4
PERSON_REACH = 12


class CueKind(StrEnum):
    WORKER_AT_RISK = "worker_at_risk"
    PERSON_AT_RISK = "person_at_risk"


@dataclass(frozen=True, slots=True)
class Cue:
    kind: CueKind
    phrase: str  # as written in the text


class CueError(Exception):
    """A cues file cannot be used; each problem reads `file:line: what is wrong`."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = list(problems)


# ---- the file ---------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Words(_Spec):
    first_person: list[str] = Field(min_length=1)
    third_person: list[str] = Field(min_length=1)
    relative_verbs: list[str] = []
    topic_before: list[str] = []
    topic_after: list[str] = []
    negators: list[str] = Field(min_length=1)
    hypothetical: list[str] = []
    clause_breaks: list[str] = []


class _Context(_Spec):
    negation_stops: list[str] = []
    echoes: list[str] = []
    done: list[str] = []
    risk: list[str] = []


class _Group(_Spec):
    name: str = Field(min_length=1)
    kind: CueKind
    whose: Literal["anyone", "writer"] = "anyone"
    negatable: bool = True
    needs_context: bool = False
    phrases: list[str] = []
    patterns: list[str] = []


class _File(_Spec):
    pieces: dict[str, str] = {}
    words: _Words
    context: _Context = _Context()
    groups: list[_Group] = Field(min_length=1)


# ---- the compiled cues ------------------------------------------------------------------


class _Whose(StrEnum):
    WRITER = "writer"
    OTHER = "other"
    TOPIC = "topic"


@dataclass(frozen=True, slots=True)
class _Matcher:
    name: str
    kind: CueKind
    by_writer: bool  # the phrase names the writer ("kill myself")
    negatable: bool
    needs_context: bool
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class CueSet:
    """Compiled cues from one file; build one with `load_cues` or `default_cues`."""

    source: str
    matchers: tuple[_Matcher, ...]
    first_person: frozenset[str]
    third_person: frozenset[str]
    relative_verbs: frozenset[str]
    topic_before: frozenset[str]
    topic_after: frozenset[str]
    negators: frozenset[str]  # with the hypothetical words
    hypothetical: frozenset[str]
    clause_break: re.Pattern[str]
    negation_stop: re.Pattern[str] | None
    echo: re.Pattern[str] | None
    done: re.Pattern[str] | None
    risk: re.Pattern[str] | None

    def find(self, text: str) -> list[Cue]:
        return _Reading(self, text).cues()


def find_cues(text: str, cues: CueSet | None = None) -> list[Cue]:
    """The cues in `text`, in the order they appear, each phrase once per kind."""
    return (cues if cues is not None else default_cues()).find(text)


@cache
def default_cues() -> CueSet:
    """The cues shipped with the bot (`cues.yaml` beside this module)."""
    resource = resources.files(__package__ or "bot.care").joinpath(DATA_FILE)
    try:
        located = load_text(resource.read_text(encoding="utf-8"), f"bot/care/{DATA_FILE}")
    except YamlError as error:
        raise CueError(error.problems) from None
    return _compile(located)


def load_cues(path: Path) -> CueSet:
    """A whole replacement cues file; raise CueError listing every problem found."""
    try:
        located = load_file(path)
    except YamlError as error:
        raise CueError(error.problems) from None
    return _compile(located)


# ---- folding and templates --------------------------------------------------------------

# Curly and look-alike apostrophes and quotation marks, as phones type them. (Two
# regular expressions: str.translate with a table is slower on a long answer.)
_CURLY_APOSTROPHE = re.compile("[\u2019\u2018\u02bc`\u00b4]")
_CURLY_QUOTE = re.compile("[\u201c\u201d]")
_INNER_HYPHEN = re.compile(r"(?<=\w)[-\u2010\u2011](?=\w)")
_PIECE = re.compile(r"\{([A-Za-z_]\w*)\}")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?;\n]+")
# Someone else's words in quotation marks ("when he said 'I want to die'").
_QUOTED = re.compile(r"\"[^\"\n]*\"|(?<![\w'])'(?:[^'\n]|'(?=\w))*'(?!\w)")
# The text is folded to lower case, so patterns are too (matching without re.IGNORECASE
# is about twice as fast); escapes such as \S and \W keep their case.
_ESCAPE_OR_UPPER = re.compile(r"\\.|[^\W\d_a-z]+")
# "I told her I..." is not a relative clause.
_OBJECT_PRONOUNS = frozenset({"her", "him", "them", "me", "us", "you"})
_CLAUSE_MARKS = r"[,:()\[\]\"\u2013\u2014]|\s-\s"


def fold(text: str) -> str:
    """Lower case, straight quotes, "self-harm" as "self harm"; the same length as `text`."""
    straight = _CURLY_QUOTE.sub('"', _CURLY_APOSTROPHE.sub("'", text))
    lowered = straight.lower()
    if len(lowered) != len(straight):  # "İ" lowers to two characters: keep such as written
        lowered = "".join(low if len(low := ch.lower()) == 1 else ch for ch in straight)
    return _INNER_HYPHEN.sub(" ", lowered)


def _template(template: str, pieces: dict[str, str]) -> str:
    """A pattern as written in the file -> a regular expression on folded text."""
    straight = _CURLY_QUOTE.sub('"', _CURLY_APOSTROPHE.sub("'", template))
    expanded = _PIECE.sub(lambda m: "(?:" + pieces[m[1]] + ")", straight)
    lowered = _ESCAPE_OR_UPPER.sub(lambda m: m[0] if m[0][0] == "\\" else m[0].lower(), expanded)
    return lowered.replace(" ?", r"\s*").replace(" ", r"\s+").replace("'", "'?")


def _phrase(phrase: str) -> str:
    words = fold(phrase).split()
    return r"\s+".join(re.escape(word).replace("'", "'?") for word in words)


def _any_of(parts: Sequence[str]) -> str:
    return r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)"


# ---- checking and compiling a file ------------------------------------------------------


def _compile(located: Located) -> CueSet:
    problems = list(located.duplicates)
    if not isinstance(located.data, dict):
        problems.append(Problem(located.file, 1, "a cues file must be a mapping of keys"))
        raise CueError(problems)
    try:
        spec = _File.model_validate(located.data)
    except ValidationError as error:
        raise CueError(problems + validation_problems(error, located)) from None

    def report(path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(located.file, located.line_of(path), message))

    def regex(path: tuple[str | int, ...], template: str) -> str | None:
        unknown = sorted({m[1] for m in _PIECE.finditer(template)} - set(spec.pieces))
        if unknown:
            report(path, f"unknown piece {{{unknown[0]}}} (pieces: {', '.join(spec.pieces)})")
            return None
        source = _template(template, spec.pieces)
        try:
            compiled = re.compile(source, re.MULTILINE)
        except re.error as error:
            report(path, f"not a valid pattern: {error.msg} in {template!r}")
            return None
        if compiled.fullmatch(""):
            report(path, f"this pattern matches empty text: {template!r}")
            return None
        return source

    for name, piece in spec.pieces.items():
        try:
            re.compile(_template(piece, {}))
        except re.error as error:
            report(("pieces", name), f"piece '{name}' is not a valid pattern: {error.msg}")

    words: dict[str, frozenset[str]] = {}
    for field, entries in spec.words:
        for index, entry in enumerate(entries):
            if not _WORD.fullmatch(fold(entry)):
                report(("words", field, index), f"'{entry}' in words.{field} is not one word")
        words[field] = frozenset(fold(entry) for entry in entries)

    context: dict[str, re.Pattern[str] | None] = {}
    for field, templates in spec.context:
        sources = [regex(("context", field, i), t) for i, t in enumerate(templates)]
        valid = [source for source in sources if source is not None]
        context[field] = re.compile(_any_of(valid)) if valid else None

    matchers = []
    for index, group in enumerate(spec.groups):
        where: tuple[str | int, ...] = ("groups", index)
        if group.kind is CueKind.PERSON_AT_RISK and group.whose == "writer":
            report((*where, "whose"), "'whose' is for worker_at_risk groups only")
        if group.kind is CueKind.WORKER_AT_RISK and group.needs_context:
            report((*where, "needs_context"), "'needs_context' is for person_at_risk groups only")
        if not group.phrases and not group.patterns:
            report(where, f"group '{group.name}' has no phrases and no patterns")
            continue
        sources = [
            regex((*where, "patterns", i), template) for i, template in enumerate(group.patterns)
        ]
        for i, phrase in enumerate(group.phrases):
            if not phrase.split():
                report((*where, "phrases", i), "an empty phrase")
            else:
                sources.append(_phrase(phrase))
        valid = [source for source in sources if source is not None]
        if valid:
            matchers.append(
                _Matcher(
                    name=group.name,
                    kind=group.kind,
                    by_writer=group.whose == "writer",
                    negatable=group.negatable,
                    needs_context=group.needs_context,
                    regex=re.compile(_any_of(valid), re.MULTILINE),
                )
            )
    if problems:
        raise CueError(problems)
    breaks = [re.escape(word) for word in sorted(words["clause_breaks"])]
    return CueSet(
        source=located.file,
        matchers=tuple(matchers),
        first_person=words["first_person"],
        third_person=words["third_person"],
        relative_verbs=words["relative_verbs"],
        topic_before=words["topic_before"],
        topic_after=words["topic_after"],
        negators=words["negators"] | words["hypothetical"],
        hypothetical=words["hypothetical"],
        clause_break=re.compile(
            _CLAUSE_MARKS + (r"|\b(?:" + "|".join(breaks) + r")\b" if breaks else "")
        ),
        negation_stop=context["negation_stops"],
        echo=context["echoes"],
        done=context["done"],
        risk=context["risk"],
    )


# ---- reading one text -------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return [m[0] for m in _WORD.finditer(text)]


class _Reading:
    """One text, folded, with its sentences and quotations, read against one CueSet."""

    def __init__(self, cues: CueSet, text: str) -> None:
        self.set = cues
        self.text = text
        self.folded = fold(text)
        # Sentence i runs from starts[i] to ends[i].
        breaks = [m.span() for m in _SENTENCE_END.finditer(self.folded)]
        self.starts = [0] + [end for _, end in breaks]
        self.ends = [start for start, _ in breaks] + [len(text)]
        self.quotes = [m.span() for m in _QUOTED.finditer(self.folded)]
        self.quote_starts = [start for start, _ in self.quotes]

    def cues(self) -> list[Cue]:
        found: list[tuple[int, int, CueKind]] = []
        for matcher in self.set.matchers:
            for match in matcher.regex.finditer(self.folded):
                start, end = match.span()
                if end > start and self._counts(matcher, start, end):
                    found.append((start, end, matcher.kind))
        # A person_at_risk phrase in a sentence with a worker_at_risk cue is the worker's
        # own secret ("I haven't told anyone, but I've been cutting again"), not a family's.
        worker_sentences = {
            self._sentence(start) for start, _, kind in found if kind is CueKind.WORKER_AT_RISK
        }
        found = [
            hit
            for hit in found
            if hit[2] is CueKind.WORKER_AT_RISK or self._sentence(hit[0]) not in worker_sentences
        ]
        cues: list[Cue] = []
        seen: set[tuple[CueKind, str]] = set()
        last_end: dict[CueKind, int] = {}
        for start, end, kind in sorted(found, key=lambda hit: (hit[0], -hit[1])):
            if start < last_end.get(kind, -1):
                continue  # inside a longer phrase of the same kind already found
            last_end[kind] = end
            key = (kind, " ".join(self.folded[start:end].split()))
            if key not in seen:
                seen.add(key)
                cues.append(Cue(kind, self.text[start:end]))
        return cues

    # -- where things are

    def _sentence(self, position: int) -> tuple[int, int]:
        index = bisect.bisect_right(self.starts, position) - 1
        return self.starts[index], self.ends[index]

    def _quote(self, start: int, end: int) -> tuple[int, int] | None:
        index = bisect.bisect_right(self.quote_starts, start) - 1
        if index >= 0 and end <= self.quotes[index][1]:
            return self.quotes[index]
        return None

    def _clause_start(self, position: int, floor: int) -> int:
        start = max(self._sentence(position)[0], floor)
        for match in self.set.clause_break.finditer(self.folded, start, position):
            start = match.end()
        return start

    # -- the decisions

    def _counts(self, matcher: _Matcher, start: int, end: int) -> bool:
        quote = self._quote(start, end)
        before = self.folded[self._clause_start(start, quote[0] + 1 if quote else 0) : start]
        if matcher.kind is CueKind.PERSON_AT_RISK:
            return quote is None and self._not_done(matcher, before, start, end)
        if self._negated(before, self.set.negators if matcher.negatable else self.set.hypothetical):
            return False
        return self._whose(matcher, start, end, quote) is _Whose.WRITER

    def _negated(self, before: str, negators: frozenset[str]) -> bool:
        if self.set.negation_stop is not None:
            for match in self.set.negation_stop.finditer(before):
                before = before[match.end() :]
        return any(word.strip("'") in negators for word in _words(before)[-NEGATION_REACH:])

    def _whose(
        self, matcher: _Matcher, start: int, end: int, quote: tuple[int, int] | None
    ) -> _Whose:
        if matcher.by_writer and quote is None:
            return _Whose.WRITER
        after = _words(self.folded[end : end + 40])
        if not matcher.by_writer and after and after[0] in self.set.topic_after:
            return _Whose.TOPIC
        # Someone else's words in quotation marks are theirs unless the words before the
        # quote say the worker said or thought them.
        read_to = quote[0] if quote else start
        whose = _Whose.OTHER if quote else _Whose.WRITER
        sentence_start = self._sentence(read_to)[0]
        words = [w.strip("'") for w in _words(self.folded[sentence_start:read_to])[-PERSON_REACH:]]
        words.reverse()  # nearest first
        for index, word in enumerate(words):
            if word in self.set.first_person:
                whose = _Whose.OTHER if self._relative(words, index) else _Whose.WRITER
                break
            if self._third_person(word):
                whose = _Whose.OTHER
                break
            if not matcher.by_writer and word in self.set.topic_before:
                return _Whose.TOPIC
        if whose is _Whose.OTHER and self.set.echo is not None:
            sentence_end = self._sentence(end)[1]
            if self.set.echo.search(self.folded, end, max(end, sentence_end)):
                return _Whose.WRITER
        return whose

    def _third_person(self, word: str) -> bool:
        return word in self.set.third_person or word.removesuffix("'s") in self.set.third_person

    def _relative(self, nearest_first: list[str], index: int) -> bool:
        """Whether the "I" at `index` is in a relative clause ("the mum I visited ...")."""
        if nearest_first[index] not in {"i", "we"} or index == 0 or index + 1 >= len(nearest_first):
            return False
        verb, noun = nearest_first[index - 1], nearest_first[index + 1]
        return (
            verb in self.set.relative_verbs
            and noun not in _OBJECT_PRONOUNS
            and self._third_person(noun)
        )

    def _not_done(self, matcher: _Matcher, before: str, start: int, end: int) -> bool:
        """Whether a person_at_risk phrase stands: nothing was done, and there is risk."""
        if self._negated(
            before, self.set.hypothetical if not matcher.negatable else self.set.negators
        ):
            return False
        sentence_end = self._sentence(start)[1]
        if self.set.done is not None and self.set.done.search(
            self.folded, end, max(end, sentence_end)
        ):
            return False
        if not matcher.needs_context:
            return True
        if self.set.risk is None:
            return False
        index = bisect.bisect_right(self.starts, start) - 1
        window_start = self.starts[max(0, index - 1)]
        window_end = self.ends[min(len(self.ends) - 1, index + 1)]
        return self.set.risk.search(self.folded, window_start, window_end) is not None
