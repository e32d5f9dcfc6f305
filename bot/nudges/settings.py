"""`settings`: a worker sees and changes their weekly nudge, in any channel.

One typed command family, handled inside the service's turn transaction; the buttons
are shortcuts that type the same words, so a press and a typed command do the same.

    settings                         what is set, the next nudge, how to change it
    settings day friday              the day; several: settings day monday thursday
    settings time 9:30               also 09:30, 14:00, 2pm, 2:30pm
    settings zone Europe/London      an IANA time zone (a unique city name will do)
    settings workdays on|off         never at a weekend (also: settings weekdays on|off)
    settings pause 2                 pause for 1 to 8 weeks (bare: a week)
    settings resume                  end a pause now
    settings off | settings on       stop weekly nudges, start them again
    settings day | time | zone | workdays
                                     ask, with a few common answers as buttons

A change is saved with `NudgeSettingsBook.save`, then the worker's pending weekly row is
brought in line: moved when the next nudge falls on the same local date (the row's
period), cancelled otherwise, and the next one planned at once when the worker is
neither stopped nor paused (a paused worker's row is planned by the planner when the
pause is about to end, from the settings they have then).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.messages import Choice, Command, Outgoing, UnknownCommand
from bot.nudges import wording
from bot.nudges.planner import SNOOZED, WEEKLY, Nudges
from bot.nudges.schedule import WEEKDAYS, NudgeSchedule, is_zone, local_date, next_nudge
from bot.store import Transaction
from bot.store.deliveries import DeliveryBook, NudgeSettingsBook

WORD = "settings"
CHANGED = "settings changed"
MAX_PAUSE_WEEKS = 8
WORKING_DAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
COMMON_TIMES = ("09:00", "12:00", "14:00", "16:00")
NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4}
NUMBERS |= {"five": 5, "six": 6, "seven": 7, "eight": 8}
_TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?(am|pm|a\.m\.|p\.m\.)?$")
_ON = frozenset({"on", "yes", "true"})
_OFF = frozenset({"off", "no", "false"})
_FILLER = frozenset({"and", "&", "for", "on", "every"})

Topic = Literal["day", "time", "zone", "workdays"]


# ---- what was asked -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Show:
    """`settings`: the summary and how to change it."""


@dataclass(frozen=True, slots=True)
class Ask:
    """`settings day` (the "Change day" button) and the like: ask, with buttons."""

    topic: Topic


@dataclass(frozen=True, slots=True)
class SetDays:
    days: frozenset[int]  # 0 = Monday


@dataclass(frozen=True, slots=True)
class SetTime:
    at: time


@dataclass(frozen=True, slots=True)
class SetZone:
    name: str


@dataclass(frozen=True, slots=True)
class SetWorkdays:
    on: bool


@dataclass(frozen=True, slots=True)
class Pause:
    weeks: int


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class Switch:
    on: bool


@dataclass(frozen=True, slots=True)
class Unclear:
    """Words that are not a setting: a sentence saying what to type instead."""

    sentence: str


Change = SetDays | SetTime | SetZone | SetWorkdays | Pause | Resume | Switch
Request = Show | Ask | Change | Unclear


def parse(argument: str) -> Request:
    """The words after `settings`, read as one request (pure; any case, any spacing)."""
    words = argument.replace(",", " ").split()
    if not words:
        return Show()
    first, rest = words[0].lower(), words[1:]
    if first == "time" and rest and rest[0].lower() == "zone":
        first, rest = "zone", rest[1:]
    if first == "working" and rest and rest[0].lower() == "days":
        first, rest = "workdays", rest[1:]
    lowered = [word.lower() for word in rest]
    if first in {"day", "days"}:
        return _days(lowered) if lowered else Ask("day")
    if first in {"time", "at"}:
        return _time(lowered) if lowered else Ask("time")
    if first in {"zone", "timezone", "tz"}:
        return _zone("_".join(rest)) if rest else Ask("zone")
    if first in {"workdays", "weekdays", "working-days", "workingdays"}:
        if not lowered:
            return Ask("workdays")
        if len(lowered) == 1 and lowered[0] in _ON | _OFF:
            return SetWorkdays(lowered[0] in _ON)
        return Unclear(wording.ON_OR_OFF)
    if first in {"pause", "holiday"}:
        return _pause(lowered)
    if not lowered and first in {"resume", "unpause"}:
        return Resume()
    if not lowered and first in {"off", "stop"}:
        return Switch(on=False)
    if not lowered and first in {"on", "start"}:
        return Switch(on=True)
    return Unclear(wording.NOT_UNDERSTOOD.format(text=" ".join(words)))


def _days(words: list[str]) -> SetDays | Unclear:
    days: set[int] = set()
    for word in words:
        if word in _FILLER:
            continue
        if word in {"weekdays", "workdays"}:
            days |= WORKING_DAYS
            continue
        if word in {"daily", "everyday", "day", "days"}:  # "every day"
            days |= EVERY_DAY
            continue
        day = _day(word)
        if day is None:
            return Unclear(wording.NOT_A_DAY.format(word=word))
        days.add(day)
    return SetDays(frozenset(days)) if days else Unclear(wording.NOT_A_DAY.format(word="that"))


def _day(word: str) -> int | None:
    """Monday, monday, Mon, Mondays, tue, tues, thurs, weds ... as 0 to 6."""
    for candidate in (word, word.removesuffix("s")):
        for number, name in enumerate(WEEKDAYS):
            if len(candidate) >= 3 and name.startswith(candidate):
                return number
    return None


def _time(words: list[str]) -> SetTime | Unclear:
    """9:30, 09:30, 9.30, 14:00, 14, 2pm, 2:30 pm, 12am, noon."""
    text = "".join(words)
    if text in {"noon", "midday"}:
        return SetTime(time(12, 0))
    match = _TIME.match(text)
    if match is not None:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        half = (match.group(3) or "").replace(".", "")
        if half and 1 <= hour <= 12:
            hour = hour % 12 + (12 if half == "pm" else 0)
        elif half:
            hour = 99  # "14pm" is not a time
        if hour < 24 and minute < 60:
            return SetTime(time(hour, minute))
    return Unclear(wording.NOT_A_TIME.format(text=" ".join(words)))


@functools.cache
def _known_zones() -> dict[str, str]:
    """Every IANA name this machine knows, by its lower-case spelling."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


@functools.cache
def _zones_by_city() -> dict[str, tuple[str, ...]]:
    cities: dict[str, list[str]] = {}
    for name in sorted(_known_zones().values()):
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/")):
            cities.setdefault(name.rsplit("/", 1)[1].lower(), []).append(name)
    return {city: tuple(names) for city, names in cities.items()}


def _zone(typed: str) -> SetZone | Unclear:
    """An IANA name in any case ("europe/london"), or a city that names one zone ("London")."""
    if is_zone(typed):
        return SetZone(typed)
    known = _known_zones().get(typed.lower())
    if known is not None and is_zone(known):
        return SetZone(known)
    matches = _zones_by_city().get(typed.lower(), ())
    if len(matches) == 1:
        return SetZone(matches[0])
    if matches:
        options = " or ".join(matches[:3])
        return Unclear(wording.ZONE_IS_ONE_OF.format(name=typed, options=options))
    return Unclear(wording.NOT_A_ZONE.format(name=typed.replace("_", " ")))


def _pause(words: list[str]) -> Pause | Unclear:
    counted = [word for word in words if word not in {"for", "week", "weeks"}]
    if not counted:
        return Pause(1)
    if len(counted) == 1:
        word = counted[0]
        weeks = int(word) if word.isdecimal() and len(word) < 4 else NUMBERS.get(word)
        if weeks is not None and 1 <= weeks <= MAX_PAUSE_WEEKS:
            return Pause(weeks)
    return Unclear(wording.PAUSE_WEEKS)


def requested(text: str, command: Command | UnknownCommand | None, *, in_run: bool) -> str | None:
    """The words after `settings` when this typed message is a settings command, else None.

    `/settings ...` and a bare `settings` are commands wherever the worker is. Without a
    slash, "settings" and more words is one too; but inside a reflection only when the
    words are a setting, so an answer that happens to start with "settings" stays an answer.
    """
    if isinstance(command, Command):
        return command.argument if command.name == WORD else None
    if command is not None:
        return None
    words = text.split(maxsplit=1)
    if not words or words[0].lower() != WORD:
        return None
    rest = words[1].strip() if len(words) > 1 else ""
    if in_run and isinstance(parse(rest), Unclear):
        return None
    return rest


# ---- answering ------------------------------------------------------------------------


def answer(
    nudges: Nudges, tx: Transaction, user_id: int, argument: str, now: datetime
) -> list[Outgoing]:
    """What the worker sees after `settings <argument>`, with any change saved and the
    pending weekly nudge brought in line with it."""
    request = parse(argument)
    schedule = nudges.schedule(tx, user_id)
    match request:
        case Show():
            return [panel(schedule, _next_planned(tx, user_id, schedule, now), now)]
        case Ask(topic=topic):
            return [_ask(topic, schedule)]
        case Unclear(sentence=sentence):
            next_due = _next_planned(tx, user_id, schedule, now)
            return [Outgoing(sentence), panel(schedule, next_due, now)]
    return _change(nudges, tx, user_id, request, schedule, now)


def summary(nudges: Nudges, tx: Transaction, user_id: int, now: datetime) -> Outgoing:
    """The short form for a home screen: one line and the buttons."""
    schedule = nudges.schedule(tx, user_id)
    next_due = _next_planned(tx, user_id, schedule, now)
    return Outgoing(_state(schedule, next_due, now), shortcuts=_buttons(schedule, now))


def panel(schedule: NudgeSchedule, next_due: datetime | None, now: datetime) -> Outgoing:
    """`settings`: what is set, when the next nudge is, and how to change each thing."""
    state = _state(schedule, next_due, now)
    if schedule.opted_out:
        how = wording.HOW_TO_START
    elif _paused(schedule, now):
        how = f"{wording.HOW_TO_SET}\n{wording.HOW_TO_RESUME}"
    else:
        how = wording.HOW_TO_SET
    return Outgoing(f"{state}\n\n{how}", shortcuts=_buttons(schedule, now))


def _change(
    nudges: Nudges,
    tx: Transaction,
    user_id: int,
    change: Change,
    schedule: NudgeSchedule,
    now: datetime,
) -> list[Outgoing]:
    if isinstance(change, Pause) and schedule.opted_out:
        return [Outgoing(wording.NOTHING_TO_PAUSE, shortcuts=_buttons(schedule, now))]
    if isinstance(change, Resume) and (schedule.opted_out or not _paused(schedule, now)):
        next_due = _next_planned(tx, user_id, schedule, now)
        return [Outgoing(wording.NOT_PAUSED), panel(schedule, next_due, now)]
    if isinstance(change, SetDays) and schedule.working_days_only and not change.days - {5, 6}:
        return [Outgoing(wording.ONLY_WEEKENDS, shortcuts=_day_buttons(schedule))]
    if isinstance(change, SetWorkdays) and change.on and not schedule.weekdays - {5, 6}:
        return [Outgoing(wording.NEEDS_A_WEEKDAY, shortcuts=_day_buttons(schedule))]
    saved, new = _saved_values(change, schedule, now)
    NudgeSettingsBook(tx.connection).save(user_id, now, **saved)
    resting = isinstance(change, Pause) or (isinstance(change, Switch) and not change.on)
    next_due = _replan(tx, user_id, new, now, snoozed_too=resting)
    if isinstance(change, Pause) and new.paused_until is not None:
        said = wording.PAUSED_DONE.format(date=_day_text(new.paused_until))
    elif isinstance(change, Switch) and not change.on:
        said = wording.OFF_DONE
    else:
        opening = wording.DONE
        if isinstance(change, Resume):
            opening = wording.RESUMED
        elif isinstance(change, Switch):
            opening = wording.ON_DONE
        said = f"{opening} {_state(new, next_due, now)}"
    if new.days != new.weekdays and isinstance(change, SetDays | SetWorkdays):
        said += f" {wording.WEEKENDS_LEFT_OUT}"
    return [Outgoing(said, shortcuts=_buttons(new, now), footer=wording.SEE_ALL)]


def _saved_values(
    change: Change, schedule: NudgeSchedule, now: datetime
) -> tuple[dict[str, str | bool | date | None], NudgeSchedule]:
    """The columns to save, and the schedule they make."""
    replace = dataclasses.replace
    match change:
        case SetDays(days=days):
            weekdays = ",".join(str(day) for day in sorted(days))
            return {"weekdays": weekdays}, replace(schedule, weekdays=days)
        case SetTime(at=at):
            return {"at": at.strftime("%H:%M")}, replace(schedule, at=at)
        case SetZone(name=name):
            return {"timezone": name}, replace(schedule, timezone=name)
        case SetWorkdays(on=on):
            return {"working_days_only": on}, replace(schedule, working_days_only=on)
        case Pause(weeks=weeks):
            until = _pause_ends(local_date(schedule.timezone, now), weeks)
            return {"paused_until": until}, replace(schedule, paused_until=until)
        case Resume():
            return {"paused_until": None}, replace(schedule, paused_until=None)
        case Switch(on=on):
            return {"opted_out": not on}, replace(schedule, opted_out=not on)


def _pause_ends(today: date, weeks: int) -> date:
    """A pause lasts at least `weeks` weeks and ends on a Monday, so a worker back from
    leave starts a fresh week (no nudge on the last Friday of a two-week holiday)."""
    end = today + timedelta(weeks=weeks)
    return end + timedelta(days=(7 - end.weekday()) % 7)


def _replan(
    tx: Transaction, user_id: int, schedule: NudgeSchedule, now: datetime, *, snoozed_too: bool
) -> datetime | None:
    """Bring the pending weekly row in line with a new schedule; the next nudge planned.

    A pending row on the local date of the next nudge is moved to its new time, or a row
    is planned for it; every other pending weekly row is cancelled. A date whose nudge
    went already keeps its row (one a day at most), so then the following nudge is the
    one planned. A stopped or paused worker gets no new row: the planner plans it as a
    pause ends, from the settings they have then.
    """
    book = DeliveryBook(tx.connection)
    pending = [row for row in book.pending_for(user_id) if row.status == "pending"]
    weekly = {row.period: row for row in pending if row.kind == WEEKLY}
    if snoozed_too:
        for row in pending:
            if row.kind == SNOOZED:
                book.cancel(user_id, SNOOZED, row.period, CHANGED)
    resting = schedule.opted_out or _paused(schedule, now)
    due = None if resting else next_nudge(schedule, now)
    kept: datetime | None = None
    for _ in range(3):
        if due is None:
            break
        period = _period(schedule, due)
        planned = weekly.pop(period) if period in weekly else None
        if planned is not None:
            if planned.due_at != due:
                book.move(user_id, WEEKLY, period, due)
            kept = due
            break
        if book.plan(user_id, WEEKLY, period, due, now) or book.reinstate(
            user_id, WEEKLY, period, due
        ):
            kept = due
            break
        due = next_nudge(schedule, due)  # that date had its nudge already
    for period in weekly:
        book.cancel(user_id, WEEKLY, period, CHANGED)
    return kept


def _next_planned(
    tx: Transaction, user_id: int, schedule: NudgeSchedule, now: datetime
) -> datetime | None:
    """The next weekly nudge: its row when one is planned, else what the schedule says."""
    if schedule.opted_out:
        return None
    for row in DeliveryBook(tx.connection).pending_for(user_id):
        if row.kind == WEEKLY:
            return row.due_at
    return next_nudge(schedule, now)


def _period(schedule: NudgeSchedule, due: datetime) -> str:
    return local_date(schedule.timezone, due).isoformat()  # as the planner names weekly rows


def _paused(schedule: NudgeSchedule, now: datetime) -> bool:
    until = schedule.paused_until
    return until is not None and until > local_date(schedule.timezone, now)


# ---- words and buttons ------------------------------------------------------------------


def _state(schedule: NudgeSchedule, next_due: datetime | None, now: datetime) -> str:
    """One line: when the nudges come (or that they are paused or off), and the next one."""
    if schedule.opted_out:
        return wording.ALL_OFF
    when = {
        "days": _days_text(schedule.days),
        "time": schedule.at.strftime("%H:%M"),
        "zone": schedule.timezone,
    }
    if _paused(schedule, now) and schedule.paused_until is not None:
        text = wording.PAUSED_UNTIL.format(date=_day_text(schedule.paused_until), **when)
    else:
        text = wording.ASKS.format(**when)
    if next_due is not None:
        text += " " + wording.NEXT_ONE.format(when=_when_text(schedule.timezone, next_due, now))
    return text


def _days_text(days: frozenset[int]) -> str:
    if days == EVERY_DAY:
        return "every day"
    if days == WORKING_DAYS:
        return "every working day"
    names = [WEEKDAYS[day].capitalize() + "s" for day in sorted(days)]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"on {listed}"


def _day_text(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def _when_text(zone: str, due: datetime, now: datetime) -> str:
    local = due.astimezone(ZoneInfo(zone))
    today = local_date(zone, now)
    if local.date() == today:
        day = "today"
    elif local.date() == today + timedelta(days=1):
        day = "tomorrow"
    else:
        day = f"on {_day_text(local.date())}"
    return f"{day} at {local:%H:%M}"


def _buttons(schedule: NudgeSchedule, now: datetime) -> tuple[Choice, ...]:
    if schedule.opted_out:
        return (
            Choice("settings on", wording.START),
            Choice("settings day", wording.CHANGE_DAY),
            Choice("settings time", wording.CHANGE_TIME),
        )
    pausing = (
        (Choice("settings resume", wording.RESUME),)
        if _paused(schedule, now)
        else (
            Choice("settings pause 1", wording.PAUSE_A_WEEK),
            Choice("settings pause 2", wording.PAUSE_TWO_WEEKS),
        )
    )
    return (
        *pausing,
        Choice("settings day", wording.CHANGE_DAY),
        Choice("settings time", wording.CHANGE_TIME),
        Choice("settings off", wording.STOP),
    )


def _day_buttons(schedule: NudgeSchedule) -> tuple[Choice, ...]:
    days: Iterable[int] = sorted(WORKING_DAYS if schedule.working_days_only else EVERY_DAY)
    return tuple(Choice(f"settings day {WEEKDAYS[d]}", WEEKDAYS[d].capitalize()) for d in days)


def _ask(topic: Topic, schedule: NudgeSchedule) -> Outgoing:
    if topic == "day":
        return Outgoing(wording.ASK_DAY, shortcuts=_day_buttons(schedule))
    if topic == "time":
        times = tuple(Choice(f"settings time {at}", at) for at in COMMON_TIMES)
        return Outgoing(wording.ASK_TIME, shortcuts=times)
    if topic == "zone":
        return Outgoing(wording.ASK_ZONE.format(zone=schedule.timezone))
    on = schedule.working_days_only
    switch = (
        Choice("settings workdays off", wording.WORKDAYS_OFF)
        if on
        else Choice("settings workdays on", wording.WORKDAYS_ON)
    )
    return Outgoing(wording.ASK_WORKDAYS.format(state="on" if on else "off"), shortcuts=(switch,))
