"""The themes a team digest groups lessons under, and the one suggested for a lesson.

A small taxonomy as data (`themes.yaml` beside this module, or an organisation's own
file named by `lessons.themes_file`). A theme is suggested by counting the words of
the lesson that start with one of its words; the author can always choose another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from bot.yamlsource import Located, Problem, YamlError, load_file, load_text, validation_problems

DATA_FILE = "themes.yaml"
OTHER = "other"
OTHER_LABEL = "Other lessons"
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class ThemeError(Exception):
    """A themes file that cannot be used; each problem names `file:line`."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class Theme:
    key: str
    label: str
    pattern: re.Pattern[str]  # the start of any of its words, at the start of a word

    def hits(self, text: str) -> int:
        return len(self.pattern.findall(text))


@dataclass(frozen=True, slots=True)
class Themes:
    themes: tuple[Theme, ...]

    def suggest(self, text: str) -> str:
        """The theme whose words the text uses most; the first listed wins a tie, and
        a lesson using none of them is "other"."""
        best, most = OTHER, 0
        for theme in self.themes:
            found = theme.hits(text)
            if found > most:
                best, most = theme.key, found
        return best

    def label(self, key: str) -> str:
        for theme in self.themes:
            if theme.key == key:
                return theme.label
        return OTHER_LABEL

    def knows(self, key: str) -> bool:
        return key == OTHER or any(theme.key == key for theme in self.themes)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every theme an author can choose, "other" last."""
        return (*(theme.key for theme in self.themes), OTHER)


class _ThemeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    label: str = Field(min_length=1, max_length=60)
    words: tuple[str, ...] = Field(min_length=1, max_length=200)


class _ThemesFile(RootModel[dict[str, _ThemeEntry]]):
    pass


@cache
def default_themes() -> Themes:
    """The themes shipped with the bot."""
    resource = resources.files(__package__ or "bot.lessons").joinpath(DATA_FILE)
    try:
        located = load_text(resource.read_text(encoding="utf-8"), f"bot/lessons/{DATA_FILE}")
    except YamlError as error:
        raise ThemeError(error.problems) from None
    return _compile(located)


def load_themes(path: Path) -> Themes:
    """An organisation's own themes file, replacing the shipped one."""
    try:
        located = load_file(path)
    except YamlError as error:
        raise ThemeError(error.problems) from None
    return _compile(located)


def _compile(located: Located) -> Themes:
    problems = list(located.duplicates)
    if not isinstance(located.data, dict) or not located.data:
        problems.append(
            Problem(located.file, located.line_of(()), "write each theme as key: {label, words}")
        )
        raise ThemeError(problems)
    try:
        parsed = _ThemesFile.model_validate(located.data).root
    except ValidationError as error:
        raise ThemeError([*problems, *validation_problems(error, located)]) from None
    themes = []
    for key, entry in parsed.items():
        if not KEY.match(str(key)) or key == OTHER:
            problems.append(
                Problem(
                    located.file,
                    located.line_of((str(key),)),
                    f"'{key}': a theme's key is lower-case letters, digits and _ "
                    f"(and not '{OTHER}', which is kept for lessons of no theme)",
                )
            )
            continue
        words = [word.strip().lower() for word in entry.words if str(word).strip()]
        alternatives = "|".join(re.escape(word).replace(r"\ ", r"\s+") for word in words)
        themes.append(
            Theme(key, entry.label, re.compile(rf"(?<!\w)(?:{alternatives})", re.IGNORECASE))
        )
    if problems:
        raise ThemeError(problems)
    return Themes(tuple(themes))
