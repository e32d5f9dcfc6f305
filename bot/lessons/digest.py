"""The team digest: when it is due, and what it says.

A digest lists the lessons approved since the last one, grouped by theme, in exactly
the words their authors approved, with no names and nothing else of theirs. Nothing
here reads the clock or the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final, Literal

from bot.cpd.year import uk_date
from bot.lessons.themes import OTHER, Themes
from bot.nudges.schedule import local_date, local_instant
from bot.store.lessons import TeamLesson

Every = Literal["weekly", "monthly"]

HEADING_WEEK: Final = "Lessons from the team: the week to {day}"
HEADING_MONTH: Final = "Lessons from the team: {month}"
INTRO: Final = (
    "Shared anonymously by colleagues after reflecting on their own practice, in their "
    "own words. Each one is something a colleague chose to pass on."
)
CHART_CAPTION: Final = "Reflections in the team over the last 12 weeks (counts only)."


@dataclass(frozen=True, slots=True)
class Schedule:
    every: Every
    weekday: int  # 0 Monday; weekly only
    at: time
    zone: str

    def latest_due(self, now: datetime) -> tuple[str, datetime]:
        """The most recent time a digest fell due, up to `now`, and its period's name
        (the local date it was due, "2026-11-30")."""
        day = self._due_on_or_before(local_date(self.zone, now))
        due = local_instant(self.zone, day, self.at)
        if due > now:
            day = self._due_on_or_before(day - timedelta(days=1))
            due = local_instant(self.zone, day, self.at)
        return day.isoformat(), due

    def next_due(self, now: datetime) -> datetime:
        """The next time a digest falls due after `now`."""
        day = local_date(self.zone, now)
        for _ in range(33):  # a month and a little: a monthly digest's 1st is in it
            due = local_instant(self.zone, day, self.at)
            if self._due_on_or_before(day) == day and due > now:
                return due
            day += timedelta(days=1)
        raise AssertionError("no digest day within a month")  # the rules above rule it out

    def _due_on_or_before(self, day: date) -> date:
        if self.every == "monthly":
            return day.replace(day=1)
        return day - timedelta(days=(day.weekday() - self.weekday) % 7)


def compose(lessons: Sequence[TeamLesson], themes: Themes, period: str, every: Every) -> str | None:
    """The digest's text; None when there is nothing to share (then nothing is sent)."""
    if not lessons:
        return None
    due = date.fromisoformat(period)
    if every == "monthly":
        # Due on the 1st: it looks back on the month before.
        month = (due - timedelta(days=1)).strftime("%B %Y")
        heading = HEADING_MONTH.format(month=month)
    else:
        heading = HEADING_WEEK.format(day=uk_date(due))
    parts = [heading, INTRO]
    for key in themes.keys:
        here = [lesson.text for lesson in lessons if _theme_of(lesson, themes) == key]
        if here:
            parts.append("\n".join([themes.label(key), *(f"• {text}" for text in here)]))
    return "\n\n".join(parts)


def _theme_of(lesson: TeamLesson, themes: Themes) -> str:
    # A theme the organisation has since removed from its list goes under "other".
    return lesson.theme if themes.knows(lesson.theme) else OTHER
