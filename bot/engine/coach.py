"""Coaching follow-ups: one question that fits what the worker wrote, chosen by rules.

A critical friend's value is the next question: turning self-blame toward learning,
asking why when only "what went wrong" was said, noticing the caseload or the missing
handover behind a mistake, drawing out feelings that were skipped, and wondering about
other explanations when someone's motives seem certain. The rules live in
`dialogues/coach.yaml`, where authors read and change them; this module reads that
file, decides which rule (if any) fits an answer, and keeps the exchange with the
answer. Rules and data only: nothing is sent anywhere, and a rule that fires can be
traced to the phrase that made it fire.

Decisions:
- At most one follow-up on a question, counting the question's own `follow_up`, and
  only of a first answer (not after `skip`, not of a new version after `back`). The
  engine (bot/engine/engine.py) enforces this; `choose` only says which rule fits.
- Rules are tried in order of priority (lower first; equal ones in file order), and the
  first that fits asks. A rule marked `defer_to_follow_up` stands aside where the
  question's own follow-up would be asked: its author wrote that one for the question.
- Negation: "not", "never", "wasn't"... up to three words before a `when` phrase, in
  the same part of the sentence, take it back ("it wasn't my fault"). A `not_after`
  phrase earlier in the sentence takes it back too ("she said it was all my fault").
  `unless` phrases stop a rule wherever they are ("maybe she was scared").
- The exchange is kept in the answer's own text, as a paragraph of its own between the
  first answer and the reply: `Critical Friend asked (rule): question`. One stored
  answer, so `revise`, a revision, the export and the journal all carry the whole
  exchange and nothing needs a new table; `parse` and `worker_words` read it back, and
  a revised answer simply has none.

Measured on tests/data/coach_labelled.tsv: see tests/test_coach.py and the README.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.care.cues import fold
from bot.yamlsource import Located, Problem, YamlError, load_file, validation_problems

ANYWHERE = "anywhere"
NEGATION_REACH = 3
RULE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
QUESTION_CHARS = 600


class CoachError(Exception):
    """A coach file cannot be used; each problem reads `file:line: what is wrong`."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = list(problems)


class StepLike(Protocol):
    """What the rules read of a question (bot.dialogues.Step)."""

    @property
    def id(self) -> str: ...
    @property
    def stage(self) -> str | None: ...
    @property
    def topics(self) -> tuple[str, ...]: ...
    @property
    def is_choice(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Coaching:
    """A follow-up to ask: the rule that fits, and its question."""

    rule: str
    question: str
    phrase: str  # what the worker wrote that fitted ("" for a rule without phrases)


# ---- the file ---------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _RuleSpec(_Spec):
    id: str
    priority: int = Field(default=100, ge=0, le=10_000)
    applies_at: str | list[str]
    when: list[str] = []
    whole_answer: list[str] = []
    unless: list[str] = []
    not_after: list[str] = []
    negatable: bool = True
    min_words: int | None = Field(default=None, ge=1, le=1000)
    max_words: int | None = Field(default=None, ge=1, le=1000)
    defer_to_follow_up: bool = False
    ask: str = Field(min_length=1, max_length=QUESTION_CHARS)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not RULE_ID.match(value):
            raise ValueError(
                "a rule id uses lower-case letters, digits and underscores, starting with a letter"
            )
        return value

    @field_validator("applies_at")
    @classmethod
    def _where(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str) and value != ANYWHERE:
            raise ValueError(f"write '{ANYWHERE}' or a list of stages, step ids or topics")
        if isinstance(value, list) and not value:
            raise ValueError("list at least one stage, step id or topic, or write 'anywhere'")
        return value


class _FileSpec(_Spec):
    pieces: dict[str, str] = {}
    negators: list[str] = []
    quiet_in: list[str] = []
    rules: list[_RuleSpec] = Field(min_length=1)


# ---- the compiled rules -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    priority: int
    places: frozenset[str] | None  # None: anywhere
    when: re.Pattern[str] | None
    whole_answer: frozenset[str]
    unless: re.Pattern[str] | None
    not_after: re.Pattern[str] | None
    negatable: bool
    min_words: int | None
    max_words: int | None
    defer_to_follow_up: bool
    ask: str

    def applies_at(self, step: StepLike) -> bool:
        if step.is_choice:
            return False
        if self.places is None:
            return True
        names = {step.id, *(step.topics or ())}
        if step.stage:
            names.add(step.stage)
        return bool(names & self.places)


@dataclass(frozen=True, slots=True)
class Coach:
    """The rules of one coach file, in the order they are tried."""

    source: str
    rules: tuple[Rule, ...]
    negators: frozenset[str]
    quiet_in: frozenset[str]

    def choose(
        self, dialogue_id: str, step: StepLike, text: str, *, own_follow_up: bool = False
    ) -> Coaching | None:
        """The follow-up for this answer to this question, or None.

        `own_follow_up`: the question's own follow-up would be asked of this answer.
        """
        if dialogue_id in self.quiet_in:
            return None
        reading = _Reading(text, self.negators)
        for rule in self.rules:
            if rule.defer_to_follow_up and own_follow_up:
                continue
            if not rule.applies_at(step):
                continue
            phrase = reading.fits(rule)
            if phrase is not None:
                question = rule.ask.replace("{phrase}", _quoted(phrase))
                return Coaching(rule.id, " ".join(question.split()), phrase)
        return None

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


def load_coach(path: Path) -> Coach:
    """Read and check a coach file; raise CoachError listing every problem found."""
    try:
        located = load_file(path)
    except YamlError as error:
        raise CoachError(error.problems) from None
    return compile_coach(located)


# ---- templates --------------------------------------------------------------------------

_PIECE = re.compile(r"\{([A-Za-z_]\w*)\}")
_CURLY = re.compile("[\u2019\u2018\u02bc`\u00b4]")
_ESCAPE_OR_UPPER = re.compile(r"\\.|[^\W\d_a-z]+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?;\n]+")
_CLAUSE_BREAK = re.compile(
    r"[,:()\[\]\"\u2013\u2014]|\s-\s|\b(?:but|although|though|however|whereas|yet|except|and)\b"
)


def _template(template: str, pieces: Mapping[str, str]) -> str:
    """A phrase as written in the file -> a regular expression on folded text."""
    straight = _CURLY.sub("'", template)
    expanded = _PIECE.sub(lambda m: "(?:" + pieces[m[1]] + ")", straight)
    lowered = _ESCAPE_OR_UPPER.sub(lambda m: m[0] if m[0][0] == "\\" else m[0].lower(), expanded)
    return lowered.replace(" ?", r"\s*").replace(" ", r"\s+").replace("'", "'?")


def _any_of(parts: Sequence[str]) -> re.Pattern[str] | None:
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in parts) + r")(?!\w)")


def _plain(text: str) -> str:
    """An answer as compared with `whole_answer`: folded, no punctuation, single spaces."""
    folded = fold(text).replace("'", "")
    return " ".join("".join(ch if ch.isalnum() or ch in " /" else " " for ch in folded).split())


def _quoted(phrase: str) -> str:
    return " ".join(phrase.split()).strip(" \"'")


def compile_coach(located: Located) -> Coach:
    problems = list(located.duplicates)
    if not isinstance(located.data, dict):
        problems.append(Problem(located.file, 1, "a coach file must be a mapping of keys"))
        raise CoachError(problems)
    try:
        spec = _FileSpec.model_validate(located.data)
    except ValidationError as error:
        raise CoachError(problems + validation_problems(error, located)) from None

    def report(path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(located.file, located.line_of(path), message))

    def patterns(path: tuple[str | int, ...], templates: Sequence[str]) -> re.Pattern[str] | None:
        sources = []
        for index, template in enumerate(templates):
            where = (*path, index)
            unknown = sorted({m[1] for m in _PIECE.finditer(template)} - set(spec.pieces))
            if unknown:
                report(where, f"unknown piece {{{unknown[0]}}} (pieces: {', '.join(spec.pieces)})")
                continue
            if not template.strip():
                report(where, "an empty phrase")
                continue
            source = _template(template, spec.pieces)
            try:
                compiled = re.compile(source)
            except re.error as error:
                report(where, f"not a valid phrase: {error.msg} in {template!r}")
                continue
            if compiled.fullmatch(""):
                report(where, f"this phrase matches empty text: {template!r}")
                continue
            sources.append(source)
        return _any_of(sources)

    for name, piece in spec.pieces.items():
        try:
            re.compile(_template(piece, {}))
        except re.error as error:
            report(("pieces", name), f"piece '{name}' is not a valid phrase: {error.msg}")
    negators = set()
    for index, word in enumerate(spec.negators):
        if not _WORD.fullmatch(fold(word)):
            report(("negators", index), f"'{word}' in negators is not one word")
        negators.add(fold(word))

    rules = []
    seen: set[str] = set()
    for index, item in enumerate(spec.rules):
        where: tuple[str | int, ...] = ("rules", index)
        if item.id in seen:
            report((*where, "id"), f"rule id '{item.id}' is used twice")
        seen.add(item.id)
        if item.not_after and not item.when:
            report((*where, "not_after"), "'not_after' only reads around 'when' phrases")
        if item.min_words and item.max_words and item.min_words > item.max_words:
            report((*where, "min_words"), "'min_words' is more than 'max_words'")
        names = [] if isinstance(item.applies_at, str) else item.applies_at
        for n_index, name in enumerate(names):
            if not RULE_ID.match(name):
                report(
                    (*where, "applies_at", n_index),
                    f"'{name}' is not a stage, step id or topic name (lower-case letters, "
                    "digits and underscores)",
                )
        unknown = sorted(set(_PIECE.findall(item.ask)) - {"phrase"})
        if unknown:
            report((*where, "ask"), f"'{{{unknown[0]}}}' is not known here; only {{phrase}} is")
        rules.append(
            Rule(
                id=item.id,
                priority=item.priority,
                places=None if isinstance(item.applies_at, str) else frozenset(names),
                when=patterns((*where, "when"), item.when),
                whole_answer=frozenset(_plain(entry) for entry in item.whole_answer),
                unless=patterns((*where, "unless"), item.unless),
                not_after=patterns((*where, "not_after"), item.not_after),
                negatable=item.negatable,
                min_words=item.min_words,
                max_words=item.max_words,
                defer_to_follow_up=item.defer_to_follow_up,
                ask=item.ask,
            )
        )
    if problems:
        raise CoachError(problems)
    ordered = sorted(enumerate(rules), key=lambda pair: (pair[1].priority, pair[0]))
    return Coach(
        source=located.file,
        rules=tuple(rule for _, rule in ordered),
        negators=frozenset(negators),
        quiet_in=frozenset(spec.quiet_in),
    )


# ---- reading one answer -----------------------------------------------------------------


class _Reading:
    def __init__(self, text: str, negators: frozenset[str]) -> None:
        self.text = text
        self.folded = fold(text)
        self.plain = _plain(text)
        self.words = len(self.plain.split())
        self.negators = negators
        breaks = [m.span() for m in _SENTENCE_END.finditer(self.folded)]
        self.starts = [0] + [end for _, end in breaks]

    def fits(self, rule: Rule) -> str | None:
        """The phrase that makes `rule` fit this answer ("" if it needs none), or None."""
        if rule.min_words is not None and self.words < rule.min_words:
            return None
        if rule.max_words is not None and self.words > rule.max_words:
            return None
        phrase: str | None = None
        if rule.whole_answer and self.plain in rule.whole_answer:
            phrase = self.text.strip()
        elif rule.when is not None:
            phrase = self._when(rule)
        elif not rule.whole_answer:
            phrase = ""
        if phrase is None:
            return None
        if rule.unless is not None and rule.unless.search(self.folded):
            return None
        return phrase

    def _when(self, rule: Rule) -> str | None:
        assert rule.when is not None
        for match in rule.when.finditer(self.folded):
            start, end = match.span()
            if end <= start:
                continue
            sentence = self.starts[bisect.bisect_right(self.starts, start) - 1]
            before = self.folded[sentence:start]
            if rule.not_after is not None and rule.not_after.search(before):
                continue
            if rule.negatable and self._negated(before):
                continue
            return self.text[start:end]
        return None

    def _negated(self, before: str) -> bool:
        clause = before
        for match in _CLAUSE_BREAK.finditer(before):
            clause = before[match.end() :]
        words = [m[0].strip("'") for m in _WORD.finditer(clause)][-NEGATION_REACH:]
        return any(word in self.negators for word in words)


# ---- the exchange, kept with the answer -------------------------------------------------

_ASKED = re.compile(r"Critical Friend asked \(([a-z][a-z0-9_]*)\): (\S.*)")
PARAGRAPH = "\n\n"


@dataclass(frozen=True, slots=True)
class Exchange:
    """An answer with the coaching follow-up it was asked, and the reply (maybe "")."""

    answer: str
    rule: str
    question: str
    reply: str

    @property
    def worker_words(self) -> str:
        return PARAGRAPH.join(part for part in (self.answer, self.reply) if part)


def asked_line(rule: str, question: str) -> str:
    return f"Critical Friend asked ({rule}): {' '.join(question.split())}"


def join(first: str, reply: str) -> str:
    """The first answer and the reply to the follow-up, as they are checked and saved."""
    return PARAGRAPH.join(part for part in (first, reply) if part)


def encode(text: str, rule: str, question: str, first_paragraphs: int) -> str:
    """`text` (the first answer's `first_paragraphs` paragraphs, then the reply) with the
    follow-up between them. If the text was rewritten (Edit) so that it has no more
    paragraphs than the first answer had, the question goes after it."""
    parts = text.split(PARAGRAPH)
    cut = first_paragraphs if len(parts) > first_paragraphs else len(parts)
    answer, reply = PARAGRAPH.join(parts[:cut]), PARAGRAPH.join(parts[cut:])
    return PARAGRAPH.join(part for part in (answer, asked_line(rule, question), reply) if part)


def parse(text: str) -> Exchange | None:
    """The exchange kept in a stored answer, or None for a plain answer."""
    if "Critical Friend asked (" not in text:
        return None
    parts = text.split(PARAGRAPH)
    for index, part in enumerate(parts):
        found = _ASKED.fullmatch(part)
        if found:
            return Exchange(
                answer=PARAGRAPH.join(parts[:index]),
                rule=found[1],
                question=found[2],
                reply=PARAGRAPH.join(parts[index + 1 :]),
            )
    return None


def worker_words(text: str) -> str:
    """A stored answer without the bot's question: what the worker wrote."""
    exchange = parse(text)
    return text if exchange is None else exchange.worker_words


def shown(answers: Mapping[str, str]) -> dict[str, str]:
    """Answers as the worker wrote them, for summaries and placeholders."""
    return {step: worker_words(text) for step, text in answers.items()}


def paragraphs(text: str) -> int:
    return len(text.split(PARAGRAPH))
