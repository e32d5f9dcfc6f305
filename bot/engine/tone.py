"""Blame language in peer feedback: which phrases a critical friend used, as written.

A critical friend names strengths, asks a question and offers a suggestion; "you
should have..." and "your fault" are blame, not feedback (see the domain primer).
`blame_phrases` finds such phrases so the engine can invite a gentle rephrase. It is
deliberately narrow: a missed phrase costs nothing (the feedback is sent as written),
while a false alarm on praise or on a kind question would be patronising.

Pure text work: no I/O, no state. Matching runs on a folded copy of the text of the
same length (lower case, straight quotes), so a match's position is its position in
what the friend wrote, and the phrase comes back exactly as they typed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ---- the phrases ----------------------------------------------------------------------
#
# Templates: a space stands for any run of white space; {name} is one of the pieces
# below; the rest is a regular expression on folded text (lower case, straight quotes).

_PIECES = {
    # "u" and "ya" are how people type on a phone in a car park.
    "you": r"(?:you|u|ya)",
    # "you're fault" is a common misspelling of "your fault".
    "your": r"(?:your|ur|yr|yer|you're|youre)",
    # should have / should've / shouldve / should of (not "of course") / shoulda
    "have": r"(?:\s+have|\s+of(?!\s+course)|\s*'\s*ve|ve|a)",
    # shouldn't / shouldnt / should not
    "nt": r"(?:\s*n'?t|\s+not)?",
    # "you really should have", "you should really have"
    "adv": r"(?:\s+(?:really|definitely|probably|clearly|obviously|honestly|surely|just|also|at\s+least|still))?",
    # you've / you have / you had / you'd, before a past participle
    "perf": r"(?:\s*'ve|\s+have|\s+had|\s*'d)?",
    # Things a worker is expected to do: "you never checked" and "you didn't record" are
    # blame; "you never lost your temper" and "you didn't rush her" are praise.
    "duty": (
        r"(?:check(?:ed)?|follow(?:ed)?\s+up|call(?:ed)?|ring|rang|phone(?:d)?|record(?:ed)?|"
        r"write|wrote|ask(?:ed)?|listen(?:ed)?|read|tell|told|update(?:d)?|chase(?:d)?|"
        r"speak|spoke|visit(?:ed)?|consult(?:ed)?|escalate(?:d)?|refer(?:red)?|share(?:d)?|"
        r"repl(?:y|ied)|respond(?:ed)?|consider(?:ed)?|inform(?:ed)?|document(?:ed)?|"
        r"plan(?:ned)?|prepare(?:d)?)"
    ),
    # Habits that are complaints: "you always rush", not "you always make time".
    "habit": (
        r"(?:forget(?:ting)?|rush(?:ing)?|miss(?:ing)?|assum(?:e|ing)|interrupt(?:ing)?|"
        r"avoid(?:ing)?|put(?:ting)?\s+(?:it\s+|things\s+)?off|make\s+excuses|"
        r"blam(?:e|ing)\s+(?:others|everyone|other\s+people)|jump(?:ing)?\s+to|late|"
        r"leav(?:e|ing)(?=\s+(?:\S+\s+){0,4}?(?:until|till|to\s+the\s+last|late)\b)|"
        r"get\s+(?:it|this|that|things)\s+wrong|do\s+(?:this|that))"
    ),
    # "you should have been given the history" and "you should have had more support"
    # are on the worker's side; "you should have a chat with..." is a suggestion.
    "not_hindsight": (
        r"(?:\s+(?:a|an|some|another|more|a\s+word|a\s+look|a\s+chat|time)\b"
        r"|\s+been\s+(?:\w+\s+)?(?:given|told|offered|sent|shown|informed|warned|supported|"
        r"allocated|asked|consulted|invited|included|backed|paid|listened\s+to|kept)\b"
        r"|\s+had\s+(?:more\s+|better\s+|proper\s+|enough\s+|some\s+|a\s+lot\s+more\s+)?"
        r"(?:support|help|backup|back-up|time|supervision|training|cover)\b)"
    ),
    # "how could you have known?" is on the worker's side.
    "not_accusing": (
        r"(?:(?:\s+possibly)?(?:\s+have|\s*'ve)?\s+(?:known|know|predicted|predict|foreseen|"
        r"foresee|guessed|guess|tell|expected|expect)\b)"
    ),
}


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    templates: tuple[str, ...]
    # Plain negation just before the phrase takes it back ("it wasn't your fault",
    # "I don't think you were careless"). Not for hindsight: "I don't think you should
    # have gone alone" is still blame.
    negatable: bool
    # "I was careless" is self-talk, not feedback.
    self_talk_cancels: bool = False


FAMILIES = (
    # Hindsight aimed at the colleague: the commonest way feedback turns into blame, and
    # the first example the domain primer gives.
    _Family(
        "hindsight",
        (
            "{you}{adv} should{nt}{adv}{have}(?!{not_hindsight})",
            "{you}{adv} ought{nt} to{have}(?!{not_hindsight})",
            "{you}{adv} oughta{have}?",
            "should{nt} {you} have",  # "shouldn't you have checked?"
            "{you} (?:should|ought to) know better",
            "{you} must{have} (?:known|realised|realized)",
        ),
        negatable=False,
    ),
    # Fault and blame named outright.
    _Family(
        "fault",
        (
            "{your} (?:own )?(?:fault|mistake|error|failure|negligence|carelessness)",
            "(?:your|ur|yr) (?:own )?doing",  # not "you're doing"
            "{you}(?:'re| are| were| was)(?: all| partly| entirely| totally| completely| solely)? to blame",
            "(?:i|we) blame {you}",
            "blame (?:lies|rests|sits) (?:with|on) {you}",
            "(?:that|this|it)(?: one)?(?:'s| is| was)(?: all)? on {you}",
            "(?:that|this|it)(?: one)? was(?: all)? down to {you}",
        ),
        negatable=True,
    ),
    # Questions that accuse rather than invite thinking. "How did you decide...?" and
    # "why do you think...?" are not here on purpose.
    _Family(
        "accusing question",
        (
            # Not "why don't you...?", which is how people make a suggestion.
            "why (?:did|have|has|had|were|was|could|would|are|is)\\s*n'?t {you}",
            "why (?:did|have|had|were|could|would) {you} not",
            "why (?:on earth|the hell|in the world|ever)",
            "why would {you}(?! (?:be|feel|think|worry|blame yourself|beat yourself|doubt|want to talk))",
            "how could {you}(?!{not_accusing})",
            "what (?:were|was) {you} (?:even )?thinking",
        ),
        negatable=False,
    ),
    # Failure pinned on the colleague, and sweeping "never"/"always" about them.
    _Family(
        "failure",
        (
            "{you}{perf} (?:completely |totally |clearly |just )?(?:failed|neglected)(?: to)?",
            "{you} (?:didn't|didnt|did not) bother",
            "{you} (?:couldn't|couldnt|could not) be bothered",
            "{you} (?:didn't|didnt|did not|never) even",
            "{you} (?:never|didn't|didnt|did not|haven't|havent|have not|hadn't|had not) {duty}",
            "{you}(?:'re| are)? always {habit}",
            "{you}{perf} (?:forgot|forgotten) to",
            "{you}{perf} (?:completely |totally |clearly |just )?(?:ignored|overlooked|missed)"
            "(?= (?:the|a|an|some|his|her|their|obvious|key|clear|important|warning|red|all|every)\\b)",
            "{you}{perf} let (?:\\S+ ){1,3}?down",
            "{you}{perf} dropped the ball",
            "{you}{perf} (?:messed|screwed|mucked|cocked|stuffed|fouled) (?:it |this |that |things )?up",
            "{you}{perf} got (?:it|that|this|things|everything)(?: all| badly| completely| totally| so)? wrong",
            "{you} (?:were|was) wrong(?!-)",
            "{you}{perf} did (?:it |that |this |everything )?wrong",
            "(?:(?:that|this|it) was )?wrong of {you}",
            "{you}{perf} made (?:a |such a )?(?:real |big |huge |complete |total |serious )?"
            "(?:mess|hash|mistake|blunder|error)s?",
            "{you}{perf} made (?:a |the |such a )?(?:bad|poor|wrong|terrible|awful) "
            "(?:call|decision|choice|judgement|judgment)",
        ),
        negatable=True,
    ),
    # Words that judge the person or their practice rather than describe what happened.
    # "unacceptable" and "not good enough" are left out: they are as often said of a
    # caseload or a system as of a colleague.
    _Family(
        "judgement",
        (
            "careless(?:ly|ness)?",
            "negligen(?:t|tly|ce)",
            "unprofessional(?:ly)?",
            "incompeten(?:t|tly|ce)",
            "irresponsib(?:le|ly|ility)",
            "reckless(?:ly|ness)?",
            "sloppy|sloppily|sloppiness|shoddy",
            "lazy|laziness",
            "inexcusable",
            "(?:poor|bad) practice",
        ),
        negatable=True,
        self_talk_cancels=True,
    ),
)

# ---- what takes a phrase back -----------------------------------------------------------

# How far back, in words within the same clause, a negation or a "you felt" still counts.
NEGATION_REACH = 4
CONTEXT_REACH = 8

# Where a clause starts, for "It wasn't your fault, but you should have...".
_CLAUSE_BREAK = re.compile(
    r"[.;:!?,()\[\]\n]|\s[-\u2013\u2014]\s|\b(?:but|and|because|although|though|however|whereas|while)\b"
)
# "wasn't", "wasnt", "can't", "cannot" ...: the stems that take "n't".
_NOT_STEMS = (
    "do", "did", "does", "is", "was", "were", "are", "ca", "could", "would", "should",
    "has", "have", "had", "wo", "must", "ai", "need",
)  # fmt: skip
_NEGATORS = frozenset(
    {"not", "never", "no", "none", "hardly", "nothing", "nobody", "neither", "nor"}
    | {"cannot"}
    | {stem + ending for stem in _NOT_STEMS for ending in ("n't", "nt")}
)
# Denying the blame: "nobody is saying you should have known", "I'm not saying...".
_DENIAL = re.compile(
    r"(?:\bnot|n't|\bnever)\s+(?:saying|suggesting|implying|that|said|mean)\b"
    r"|\bnobody\b|\bno[\s-]?one\b|\bnot\s+to\s+say\b"
)
# The colleague's own words or feelings, reflected back: "you said you should have
# known", "you felt it was your fault", "you keep telling yourself...".
_REPORTED = re.compile(
    r"\b(?:you|u)(?:\s+\S+){0,2}?\s+(?:felt|feel|feeling|said|say|saying|thought|think|"
    r"worried|worry|worrying|fear|feared|believe|believed|wrote|write|mentioned|blame|"
    r"blamed|blaming)\b|\byourself\b"
)
_SELF = re.compile(
    r"\b(?:i|we)(?:'m|'re|'ve\s+been|\s+(?:am|are|was|were|felt|feel|have\s+been|had\s+been))"
    r"(?:\s+\w+)?\s*$"
)
# Someone else's words in quotation marks ("when he shouted 'it's your fault'").
_QUOTED = re.compile(r"\"[^\"\n]*\"|(?<![\w'])'(?:[^'\n]|'(?=\w))*'(?!\w)")

# Curly and look-alike apostrophes and quotation marks, as phones type them.
_FOLD = str.maketrans(
    {
        "\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
        "\u201c": '"', "\u201d": '"',
    }
)  # fmt: skip


def _compile(template: str) -> str:
    pattern = template.replace(" ", r"\s+")
    for name, piece in _PIECES.items():
        pattern = pattern.replace("{" + name + "}", piece)
    return pattern


_MATCHERS = tuple(
    (family, re.compile(r"\b(?:" + "|".join(_compile(t) for t in family.templates) + r")(?!\w)"))
    for family in FAMILIES
)


def fold(text: str) -> str:
    """Lower case with straight quotes, the same length as `text`, so positions agree."""
    straight = text.translate(_FOLD)
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in straight)


def blame_phrases(text: str) -> list[str]:
    """The blame phrases in `text`, as written, each once, in the order they appear."""
    folded = fold(text)
    quoted = [m.span() for m in _QUOTED.finditer(folded)]
    found: list[tuple[int, int]] = []
    for family, matcher in _MATCHERS:
        for match in matcher.finditer(folded):
            start, end = match.span()
            if any(q_start <= start and end <= q_end for q_start, q_end in quoted):
                continue
            if not _taken_back(family, folded[_clause_start(folded, start) : start]):
                found.append((start, end))
    phrases: list[str] = []
    seen: set[str] = set()
    last_end = -1
    for start, end in sorted(found, key=lambda span: (span[0], -span[1])):
        if start < last_end:
            continue  # inside a longer phrase already found
        last_end = end
        key = " ".join(folded[start:end].split())
        if key not in seen:
            seen.add(key)
            phrases.append(text[start:end])
    return phrases


def _clause_start(folded: str, position: int) -> int:
    start = 0
    for match in _CLAUSE_BREAK.finditer(folded, 0, position):
        start = match.end()
    return start


def _taken_back(family: _Family, before: str) -> bool:
    """Whether the words just before a phrase, in its clause, take the blame out of it."""
    words = before.split()
    near = " ".join(words[-CONTEXT_REACH:])
    if _DENIAL.search(near) or _REPORTED.search(near):
        return True
    if family.self_talk_cancels and _SELF.search(before):
        return True
    if family.negatable:
        return any(word.strip("\"'") in _NEGATORS for word in words[-NEGATION_REACH:])
    return False
