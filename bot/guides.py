"""Short guides: two-minute reads shipped as data in `guides/`, each ending with an offer
to try it now.

A guide is a Markdown file whose front matter (between two `---` lines) gives its title,
a one-line summary, its place in the list and what it offers to start; the text under it
is what the worker reads. Chat apps show the text as written, so it is plain: paragraphs
split by blank lines, and lines starting with "- " kept as lines. The format is described
for authors in `guides/README.md`.

Every problem is reported as `file:line: what is wrong`, and one broken file never takes
the others down. `critical-friend guides check` runs the same checks, and also makes sure
each model a guide offers (`reflect kolb`) is one of the dialogues.

`answer` is what `/guide`, `/guide 2` and `/guide feedback` say in chat.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.dialogues import Catalog
from bot.messages import Choice, Command, Outgoing, parse_command
from bot.yamlsource import Problem, YamlError, load_text, validation_problems

log = logging.getLogger(__name__)

PROJECT_GUIDES = Path(__file__).resolve().parent.parent / "guides"
FENCE = "---"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
README = "readme.md"  # the authors' guide to the format, in the same folder: not a guide

# One guide is one chat message: Slack shows at most 3,000 characters in a section, and
# Telegram 4,096 in a message. Titles and labels go on buttons (Slack cuts them at 75).
MAX_CHARS = 3000
TITLE_CHARS = 60
SUMMARY_CHARS = 120
LABEL_CHARS = 40
MAX_OFFERS = 3
ARGUMENT_SHOWN = 40  # of what the worker typed, when quoting it back

# Markdown that a chat app would show as it is written, stars and all.
_MARKUP = (
    (re.compile(r"\*\*|__"), "'**' or '__' (bold)"),
    (re.compile(r"^#+\s"), "'#' headings"),
    (re.compile(r"\]\("), "[links](...)"),
    (re.compile(r"`"), "backticks"),
)
_LIST_ITEM = re.compile(r"^(?:[-*]|\d{1,2}[.)])\s")

# ---- what the bot says -------------------------------------------------------------

LIST_INTRO = "Short guides, each a two-minute read with something small to try:"
HOW_TO_OPEN = "Type guide and a number to read one (for example: guide 1)."
TRY_NOW = "To try it now, type:"
OTHER_GUIDES = "Type guide to see the other guides."
ALL_GUIDES = "All guides"
NONE_YET = "There are no guides here yet."


def not_found(argument: str) -> str:
    shown = argument if len(argument) <= ARGUMENT_SHOWN else argument[:ARGUMENT_SHOWN] + "…"
    return f"I can't find a guide called '{shown}'. Type guide to see the list."


def no_number(number: int, count: int) -> str:
    return f"There isn't a guide {number}. There are {count}: type guide to see the list."


# ---- the file format -----------------------------------------------------------------


class _Offer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1, max_length=LABEL_CHARS)
    command: str = Field(min_length=1, max_length=60)


class _FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=TITLE_CHARS)
    summary: str = Field(min_length=1, max_length=SUMMARY_CHARS)
    order: int = Field(default=100, ge=0, le=10_000)
    offers: list[_Offer] = Field(min_length=1, max_length=MAX_OFFERS)


@dataclass(frozen=True, slots=True)
class Offer:
    """Something to start from a guide: what the button says, and the command it types."""

    label: str
    command: str  # as a worker would type it: "reflect kolb", "friend"
    line: int  # where it is written, for `guides check`

    @property
    def model(self) -> str | None:
        """The reflective model this offer starts, if it starts one."""
        parsed = parse_command(self.command)
        if isinstance(parsed, Command) and parsed.name == "reflect" and parsed.argument:
            return parsed.argument
        return None


@dataclass(frozen=True, slots=True)
class Guide:
    name: str  # the file name without .md: "feedback"
    title: str
    summary: str
    order: int
    text: str  # the body, joined into paragraphs as a chat app shows it
    offers: tuple[Offer, ...]
    file: str


class GuideError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_guide(path: Path) -> Guide:
    """Load and check one guide; raise GuideError listing every problem found."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GuideError([Problem(str(path), 1, "not UTF-8 text")]) from None
    except OSError as error:
        raise GuideError([Problem(str(path), 1, f"cannot read: {error.strerror}")]) from None
    return parse_guide(text, str(path), path.stem)


def parse_guide(text: str, file: str, name: str) -> Guide:
    lines = text.splitlines()
    problems: list[Problem] = []
    if not NAME.match(name):
        problems.append(
            Problem(
                file,
                1,
                "the file name is the guide's name, so it must use lower-case letters, digits "
                f"and underscores (for example my_guide.md), not '{name}'",
            )
        )
    if not lines or lines[0].strip() != FENCE:
        problems.append(
            Problem(
                file,
                1,
                "a guide starts with a line '---', then its title, summary and offers, "
                "then another '---' line",
            )
        )
        raise GuideError(problems)
    closing = next((i for i in range(1, len(lines)) if lines[i].strip() == FENCE), None)
    if closing is None:
        problems.append(Problem(file, 1, "the '---' that starts the front matter is never closed"))
        raise GuideError(problems)
    # A blank first line keeps the YAML's line numbers the same as the file's.
    try:
        located = load_text("\n" + "\n".join(lines[1:closing]), file)
    except YamlError as error:
        raise GuideError([*problems, *error.problems]) from None
    problems.extend(located.duplicates)
    if not isinstance(located.data, dict):
        problems.append(Problem(file, 2, "the front matter must be keys: title, summary, offers"))
        raise GuideError(problems)
    try:
        front = _FrontMatter.model_validate(located.data)
    except ValidationError as error:
        problems.extend(validation_problems(error, located))
        raise GuideError(problems) from None

    offers = []
    for index, offer in enumerate(front.offers):
        line = located.line_of(("offers", index, "command"))
        parsed = parse_command(offer.command)
        if not isinstance(parsed, Command):
            problems.append(
                Problem(
                    file,
                    line,
                    f"offers.{index}.command: '{offer.command}' is not a command the bot "
                    "knows, written as a worker would type it (for example: reflect kolb)",
                )
            )
        offers.append(Offer(offer.label.strip(), offer.command.strip(), line))

    first_body_line = closing + 2  # 1-based, the line after the closing '---'
    body = lines[closing + 1 :]
    for number, line_text in enumerate(body, start=first_body_line):
        for pattern, what in _MARKUP:
            if pattern.search(line_text.strip()):
                problems.append(
                    Problem(
                        file,
                        number,
                        f"chat apps show {what} as written; please write plain text",
                    )
                )
    joined = reflow(body)
    if not joined:
        problems.append(Problem(file, closing + 1, "there is no text after the front matter"))
    guide = Guide(
        name=name,
        title=front.title.strip(),
        summary=front.summary.strip(),
        order=front.order,
        text=joined,
        offers=tuple(offers),
        file=file,
    )
    length = len(render(guide).text)
    if length > MAX_CHARS:
        problems.append(
            Problem(
                file,
                first_body_line,
                f"the guide is {length:,} characters long as sent; at most {MAX_CHARS:,} "
                "fit in one chat message, so please shorten it",
            )
        )
    if problems:
        raise GuideError(problems)
    return guide


def reflow(lines: Sequence[str]) -> str:
    """The body as a chat app should show it: a paragraph's lines joined into one, a blank
    line between paragraphs, and list items ("- ...") each on a line of their own."""
    paragraphs: list[list[str]] = [[]]
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        lines_of = paragraphs[-1]
        if lines_of and not _LIST_ITEM.match(line):
            lines_of[-1] = f"{lines_of[-1]} {line}"
        else:
            lines_of.append(line)
    return "\n\n".join("\n".join(p) for p in paragraphs if p)


# ---- the guides in a folder ----------------------------------------------------------------


@dataclass(slots=True)
class GuideBook:
    """The guides that loaded, in the order they are listed, and the problems of the rest."""

    guides: tuple[Guide, ...] = ()
    problems: list[Problem] = field(default_factory=list)

    def find(self, argument: str) -> Guide | int | None:
        """The guide a worker asked for, by number or by name (or the start of one); a
        number with no guide comes back as that number."""
        wanted = argument.strip().lower().replace("-", "_").replace(" ", "_")
        if wanted.isdecimal():
            number = int(wanted)
            return self.guides[number - 1] if 0 < number <= len(self.guides) else number
        for guide in self.guides:
            if guide.name == wanted:
                return guide
        starting = [g for g in self.guides if wanted and g.name.startswith(wanted)]
        return starting[0] if len(starting) == 1 else None


def guide_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.iterdir() if p.suffix == ".md" and p.name.lower() != README)
            )
        else:
            files.append(path)
    return files


def load_guides(paths: Iterable[Path]) -> GuideBook:
    loaded: list[Guide] = []
    problems: list[Problem] = []
    for path in guide_files(paths):
        try:
            loaded.append(load_guide(path))
        except GuideError as error:
            problems.extend(error.problems)
    loaded.sort(key=lambda g: (g.order, g.title.lower()))
    return GuideBook(tuple(loaded), problems)


def check(paths: Iterable[Path], catalog: Catalog) -> tuple[int, list[Problem]]:
    """How many guide files there are, and every problem in them: the loader's, and any
    offer of a reflective model that is not in `catalog`."""
    files = guide_files(paths)
    book = load_guides(files)
    problems = list(book.problems)
    for guide in book.guides:
        for index, offer in enumerate(guide.offers):
            model = offer.model
            if model is not None and catalog.get(model) is None:
                problems.append(
                    Problem(
                        guide.file,
                        offer.line,
                        f"offers.{index}.command: there is no reflective model called "
                        f"'{model}' in the dialogues",
                    )
                )
    return len(files), problems


def default_folder() -> Path:
    """The guides shipped beside the code, or `./guides` for an installed copy."""
    return PROJECT_GUIDES if PROJECT_GUIDES.is_dir() else Path.cwd() / "guides"


@functools.cache
def shipped() -> GuideBook:
    """The shipped guides, read once. A broken file is left out and logged (file:line)."""
    book = load_guides([default_folder()])
    for problem in book.problems:
        log.warning("guide left out: %s", problem)
    return book


# ---- in chat -------------------------------------------------------------------------------


def answer(argument: str, catalog: Catalog, book: GuideBook | None = None) -> list[Outgoing]:
    """What `guide` says: the list, one guide with its offers, or a clear sentence."""
    book = shipped() if book is None else book
    if not book.guides:
        return [Outgoing(NONE_YET)]
    if not argument.strip():
        return [listing(book)]
    found = book.find(argument)
    if isinstance(found, Guide):
        return [render(found, catalog)]
    back = (Choice("guide", ALL_GUIDES),)
    if isinstance(found, int):
        return [Outgoing(no_number(found, len(book.guides)), shortcuts=back)]
    return [Outgoing(not_found(" ".join(argument.split())), shortcuts=back)]


def listing(book: GuideBook) -> Outgoing:
    lines = [f"{n}. {g.title}: {g.summary}" for n, g in enumerate(book.guides, start=1)]
    return Outgoing(
        f"{LIST_INTRO}\n\n" + "\n".join(lines) + f"\n\n{HOW_TO_OPEN}",
        shortcuts=tuple(
            Choice(f"guide {n}", f"{n}. {g.title}") for n, g in enumerate(book.guides, start=1)
        ),
    )


def render(guide: Guide, catalog: Catalog | None = None) -> Outgoing:
    """One guide as a message: its text, then what to type (or press) to try it now.

    With a catalog, an offer of a model that is not there (an organisation took it out)
    is left out rather than offered and refused."""
    offers = [
        offer
        for offer in guide.offers
        if catalog is None or offer.model is None or catalog.get(offer.model) is not None
    ]
    parts = [guide.title, guide.text]
    if offers:
        parts.append("\n".join([TRY_NOW, *(f"  {o.command} - {o.label}" for o in offers)]))
    parts.append(OTHER_GUIDES)
    return Outgoing(
        "\n\n".join(parts),
        shortcuts=(*(Choice(o.command, o.label) for o in offers), Choice("guide", ALL_GUIDES)),
    )
