"""The nudge schedule maths: local wall times across a year, daylight saving, pauses and
weekends, checked against hand-computed UTC instants and a brute-force oracle."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bot.nudges.schedule import (
    NudgeSchedule,
    due_between,
    follow_up_at,
    local_date,
    local_instant,
    next_nudge,
    nudge_period,
    remind_tomorrow,
)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
EVERY_DAY = frozenset(range(7))

# Zones with DST on both hemispheres, half-hour and 45-minute offsets (some with DST),
# Lord Howe's 30-minute DST, DST changes at midnight (Santiago, Havana, Beirut), Morocco's
# Ramadan change, the far ends of the offset range, and plain UTC.
ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "Pacific/Auckland",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "Africa/Casablanca",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "UTC",
]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def weekly(day: int, at: time, zone: str, **options: Any) -> NudgeSchedule:
    return NudgeSchedule(weekdays=frozenset({day}), at=at, timezone=zone, **options)


def nudge_after(schedule: NudgeSchedule, after: datetime) -> datetime:
    instant = next_nudge(schedule, after)
    assert instant is not None
    return instant


def wall(instant: datetime, zone: str) -> tuple[date, time]:
    local = instant.astimezone(ZoneInfo(zone))
    return local.date(), local.time()


# --- a whole year ------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
def test_a_friday_schedule_fires_every_friday_of_2026_at_1400_local(zone: str) -> None:
    schedule = weekly(FRI, time(14), zone)
    nudges = []
    instant = next_nudge(schedule, utc(2026, 1, 1))
    while instant is not None and local_date(zone, instant).year == 2026:
        nudges.append(instant)
        instant = next_nudge(schedule, instant)

    assert len(nudges) == 52  # 2026 has 52 Fridays, from 2 January to 25 December
    walls = [wall(n, zone) for n in nudges]
    assert walls[0] == (date(2026, 1, 2), time(14))
    assert all(day.weekday() == FRI and at == time(14) for day, at in walls)
    assert all(b[0] - a[0] == timedelta(days=7) for a, b in itertools.pairwise(walls))
    assert len({nudge_period(schedule, n) for n in nudges}) == 52
    assert all(n.tzinfo is UTC for n in nudges)


# --- the DST weeks of 2026, hand-computed ------------------------------------------------

# A weekly Sunday 09:00 nudge on the Sundays either side of each change, in UTC.
SUNDAY_NINE = [
    ("Europe/London", [utc(2026, 3, 22, 9), utc(2026, 3, 29, 8)]),  # GMT, then BST
    ("Europe/London", [utc(2026, 10, 18, 8), utc(2026, 10, 25, 9)]),  # BST, then GMT
    ("America/New_York", [utc(2026, 3, 1, 14), utc(2026, 3, 8, 13)]),  # EST, then EDT
    ("America/New_York", [utc(2026, 10, 25, 13), utc(2026, 11, 1, 14)]),  # EDT, then EST
    ("Australia/Sydney", [utc(2026, 3, 28, 22), utc(2026, 4, 4, 23)]),  # +11, then +10
    ("Australia/Sydney", [utc(2026, 9, 26, 23), utc(2026, 10, 3, 22)]),  # +10, then +11
    ("Australia/Lord_Howe", [utc(2026, 3, 28, 22), utc(2026, 4, 4, 22, 30)]),  # +11, +10:30
    ("Australia/Lord_Howe", [utc(2026, 9, 26, 22, 30), utc(2026, 10, 3, 22)]),  # +10:30, +11
    ("Australia/Adelaide", [utc(2026, 3, 28, 22, 30), utc(2026, 4, 4, 23, 30)]),  # +10:30, +9:30
    ("Asia/Kolkata", [utc(2026, 3, 29, 3, 30), utc(2026, 4, 5, 3, 30)]),  # +5:30 all year
    ("Asia/Kathmandu", [utc(2026, 3, 29, 3, 15), utc(2026, 4, 5, 3, 15)]),  # +5:45 all year
]


@pytest.mark.parametrize(("zone", "expected"), SUNDAY_NINE)
def test_a_weekly_nudge_keeps_its_local_time_across_the_change(
    zone: str, expected: list[datetime]
) -> None:
    schedule = weekly(SUN, time(9), zone)
    start = expected[0] - timedelta(days=3)
    assert due_between(schedule, start, expected[-1] + timedelta(days=3)) == expected
    assert next_nudge(schedule, start) == expected[0]
    assert next_nudge(schedule, expected[0]) == expected[1]


@pytest.mark.parametrize(
    ("zone", "monday"),
    [
        ("Europe/London", date(2026, 3, 23)),
        ("Europe/London", date(2026, 10, 19)),
        ("America/New_York", date(2026, 3, 2)),
        ("America/New_York", date(2026, 10, 26)),
        ("Australia/Sydney", date(2026, 3, 30)),
        ("Australia/Sydney", date(2026, 9, 28)),
        ("Australia/Lord_Howe", date(2026, 3, 30)),
        ("Australia/Lord_Howe", date(2026, 9, 28)),
        ("Asia/Kolkata", date(2026, 3, 23)),
    ],
)
def test_a_daily_nudge_fires_exactly_once_a_day_in_the_week_of_the_change(
    zone: str, monday: date
) -> None:
    schedule = NudgeSchedule(weekdays=EVERY_DAY, at=time(9), timezone=zone)
    start = local_instant(zone, monday, time(0))
    nudges = due_between(schedule, start, start + timedelta(days=7))
    assert [wall(n, zone) for n in nudges] == [
        (monday + timedelta(days=i), time(9)) for i in range(7)
    ]


# A wall time inside the spring-forward gap fires when the clocks jump; one that happens
# twice in the autumn fires at its first occurrence.
GAPS_AND_REPEATS = [
    # zone, local date, wall time, expected UTC, the local reading of it
    ("Europe/London", date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1), "02:00 BST"),
    ("Europe/London", date(2026, 10, 25), time(1, 30), utc(2026, 10, 25, 0, 30), "01:30 BST"),
    ("America/New_York", date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7), "03:00 EDT"),
    ("America/New_York", date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30), "01:30 EDT"),
    ("Australia/Sydney", date(2026, 4, 5), time(2, 30), utc(2026, 4, 4, 15, 30), "02:30 +11"),
    ("Australia/Sydney", date(2026, 10, 4), time(2, 30), utc(2026, 10, 3, 16), "03:00 +11"),
    ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 45), utc(2026, 4, 4, 14, 45), "01:45 +11"),
    ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 15), utc(2026, 10, 3, 15, 30), "02:30 +11"),
    ("Australia/Adelaide", date(2026, 4, 5), time(2, 30), utc(2026, 4, 4, 16), "02:30 +10:30"),
    (
        "Australia/Adelaide",
        date(2026, 10, 4),
        time(2, 30),
        utc(2026, 10, 3, 16, 30),
        "03:00 +10:30",
    ),
    ("Asia/Kolkata", date(2026, 3, 29), time(1, 30), utc(2026, 3, 28, 20), "01:30 +5:30"),
]


@pytest.mark.parametrize(("zone", "day", "at", "expected", "reading"), GAPS_AND_REPEATS)
def test_gap_and_repeated_times_fire_once_as_documented(
    zone: str, day: date, at: time, expected: datetime, reading: str
) -> None:
    assert local_instant(zone, day, at) == expected
    schedule = weekly(SUN, at, zone)
    week = timedelta(days=7)
    previous = local_instant(zone, day - week, at)
    following = local_instant(zone, day + week, at)
    assert due_between(schedule, previous, following) == [expected, following]
    assert next_nudge(schedule, expected - timedelta(seconds=1)) == expected
    # Not again at the second occurrence of a repeated time, an hour (or 30 minutes) on.
    assert local_date(zone, nudge_after(schedule, expected)) == day + week


def test_a_gap_that_takes_the_whole_day_fires_at_the_jump() -> None:
    # Samoa skipped Friday 30 December 2011: Thursday 23:59:59 at -10 was followed by
    # Saturday 00:00 at +14, at 10:00 UTC on the 30th.
    assert local_instant("Pacific/Apia", date(2011, 12, 30), time(9)) == utc(2011, 12, 30, 10)


# --- pauses, opt-outs, weekends, several days --------------------------------------------


def test_no_nudges_on_local_dates_before_paused_until() -> None:
    paused = weekly(MON, time(9), "Europe/London", paused_until=date(2026, 8, 17))
    assert next_nudge(paused, utc(2026, 8, 1)) == utc(2026, 8, 17, 8)
    paused = weekly(MON, time(9), "Europe/London", paused_until=date(2026, 8, 18))
    assert next_nudge(paused, utc(2026, 8, 1)) == utc(2026, 8, 24, 8)
    assert due_between(paused, utc(2026, 8, 1), utc(2026, 9, 1)) == [
        utc(2026, 8, 24, 8),
        utc(2026, 8, 31, 8),
    ]
    # A pause that is over changes nothing.
    over = weekly(MON, time(9), "Europe/London", paused_until=date(2026, 1, 1))
    assert next_nudge(over, utc(2026, 8, 1)) == utc(2026, 8, 3, 8)


def test_the_pause_is_on_the_worker_local_date() -> None:
    # Monday 09:00 in Auckland is Sunday 21:00 UTC: paused until that Monday, it still fires.
    schedule = weekly(MON, time(9), "Pacific/Auckland", paused_until=date(2026, 8, 17))
    assert next_nudge(schedule, utc(2026, 8, 10)) == utc(2026, 8, 16, 21)


def test_an_opted_out_worker_has_no_nudges() -> None:
    schedule = weekly(MON, time(9), "Europe/London", opted_out=True)
    assert next_nudge(schedule, utc(2026, 8, 1)) is None
    assert due_between(schedule, utc(2026, 1, 1), utc(2027, 1, 1)) == []


def test_several_weekdays() -> None:
    schedule = NudgeSchedule(
        weekdays=frozenset({MON, WED, FRI}), at=time(8, 15), timezone="America/New_York"
    )
    nudges = due_between(schedule, utc(2026, 6, 1), utc(2026, 6, 8))  # Monday to Monday
    assert [wall(n, "America/New_York") for n in nudges] == [
        (date(2026, 6, d), time(8, 15)) for d in (1, 3, 5)
    ]
    assert nudges[0] == utc(2026, 6, 1, 12, 15)
    # One period key for the week: a (worker, "weekly", period) key would let only Monday's go.
    assert {nudge_period(schedule, n) for n in nudges} == {"2026-W23"}


def test_working_days_only_leaves_out_the_weekend() -> None:
    schedule = NudgeSchedule(
        weekdays=frozenset({FRI, SAT, SUN}),
        at=time(9),
        timezone="Europe/London",
        working_days_only=True,
    )
    assert due_between(schedule, utc(2026, 6, 1), utc(2026, 6, 22)) == [
        utc(2026, 6, d, 8) for d in (5, 12, 19)
    ]
    with pytest.raises(ValueError, match="only has weekend days"):
        weekly(SAT, time(9), "Europe/London", working_days_only=True)


def test_remind_tomorrow_is_the_next_local_day_at_the_nudge_time() -> None:
    zone = "Europe/London"
    schedule = weekly(MON, time(9), zone)
    working = weekly(MON, time(9), zone, working_days_only=True)
    thursday = utc(2026, 6, 11, 15)
    assert remind_tomorrow(schedule, thursday) == utc(2026, 6, 12, 8)
    assert remind_tomorrow(working, thursday) == utc(2026, 6, 12, 8)
    friday = utc(2026, 6, 12, 15)
    assert remind_tomorrow(schedule, friday) == utc(2026, 6, 13, 8)  # Saturday
    assert remind_tomorrow(working, friday) == utc(2026, 6, 15, 8)  # Monday
    # 23:30 UTC on Friday is already Saturday in London: tomorrow is Sunday, so Monday.
    assert remind_tomorrow(working, utc(2026, 6, 12, 23, 30)) == utc(2026, 6, 15, 8)
    assert remind_tomorrow(working, utc(2026, 6, 13, 10)) == utc(2026, 6, 15, 8)
    # Paused or opted out, a reminder the worker asked for still comes.
    paused = weekly(MON, time(9), zone, paused_until=date(2026, 9, 1), opted_out=True)
    assert remind_tomorrow(paused, friday) == utc(2026, 6, 13, 8)


def test_remind_tomorrow_across_the_clock_change() -> None:
    schedule = weekly(MON, time(9), "Europe/London")
    assert remind_tomorrow(schedule, utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 8)
    assert remind_tomorrow(schedule, utc(2026, 10, 24, 12)) == utc(2026, 10, 25, 9)


def test_follow_ups_at_the_nudge_time_move_off_weekends_for_working_days_only() -> None:
    schedule = weekly(TUE, time(16, 30), "Asia/Kolkata")
    working = weekly(TUE, time(16, 30), "Asia/Kolkata", working_days_only=True)
    wednesday, saturday, sunday = date(2026, 7, 1), date(2026, 7, 4), date(2026, 7, 5)
    assert follow_up_at(schedule, wednesday) == utc(2026, 7, 1, 11)
    assert follow_up_at(working, wednesday) == utc(2026, 7, 1, 11)
    assert follow_up_at(schedule, saturday) == utc(2026, 7, 4, 11)
    assert follow_up_at(working, saturday) == utc(2026, 7, 6, 11)
    assert follow_up_at(working, sunday) == utc(2026, 7, 6, 11)


def test_due_between_across_a_clock_change_is_open_at_the_start_and_closed_at_the_end() -> None:
    schedule = NudgeSchedule(weekdays=EVERY_DAY, at=time(9), timezone="Europe/London")
    expected = [utc(2026, 3, 27, 9), utc(2026, 3, 28, 9)] + [
        utc(2026, 3, d, 8) for d in (29, 30, 31)
    ]
    assert due_between(schedule, utc(2026, 3, 27), utc(2026, 4, 1)) == expected
    assert due_between(schedule, expected[0], expected[-1]) == expected[1:]
    # Back-to-back windows, as a ticking job sees them, meet every nudge exactly once.
    ticks = [utc(2026, 3, 27) + timedelta(minutes=37 * i) for i in range(200)]
    caught = [n for a, b in itertools.pairwise(ticks) for n in due_between(schedule, a, b)]
    assert caught == expected
    assert due_between(schedule, utc(2026, 3, 27, 10), utc(2026, 3, 27, 10)) == []


# --- period keys ---------------------------------------------------------------------------


def test_the_period_is_the_iso_week_of_the_local_date() -> None:
    london = weekly(MON, time(9), "Europe/London")
    sydney = weekly(MON, time(9), "Australia/Sydney")
    sunday_night = utc(2026, 11, 29, 21)  # Sunday in London, Monday 08:00 in Sydney
    assert nudge_period(london, sunday_night) == "2026-W48"
    assert nudge_period(sydney, sunday_night) == "2026-W49"
    assert nudge_period(london, utc(2026, 12, 31, 9)) == "2026-W53"
    assert nudge_period(london, utc(2027, 1, 3, 9)) == "2026-W53"  # Sunday: ISO year 2026
    assert nudge_period(london, utc(2027, 1, 4, 9)) == "2027-W01"
    assert nudge_period(london, utc(2026, 1, 5, 9)) == "2026-W02"


def test_a_schedule_changed_mid_week_keeps_the_same_period() -> None:
    monday = weekly(MON, time(9), "Europe/London")
    thursday = weekly(THU, time(17), "Europe/London")
    first = nudge_after(monday, utc(2026, 5, 1))
    after_change = nudge_after(thursday, first)
    assert first == utc(2026, 5, 4, 8)
    assert after_change == utc(2026, 5, 7, 16)
    assert nudge_period(monday, first) == nudge_period(thursday, after_change) == "2026-W19"


def test_local_date() -> None:
    assert local_date("Asia/Kathmandu", utc(2026, 2, 1, 18, 14)) == date(2026, 2, 1)
    assert local_date("Asia/Kathmandu", utc(2026, 2, 1, 18, 15)) == date(2026, 2, 2)
    assert local_date("Pacific/Pago_Pago", utc(2026, 2, 1, 10, 59)) == date(2026, 1, 31)


# --- what is refused -----------------------------------------------------------------------


def test_unknown_zones_and_empty_or_bad_weekdays_are_refused_in_a_sentence() -> None:
    for name in ("Europe/Londres", "", "../etc/passwd", "zone.tab", "Europe"):
        with pytest.raises(ValueError, match="is not a time zone we know"):
            weekly(MON, time(9), name)
    with pytest.raises(ValueError, match="at least one weekday"):
        NudgeSchedule(weekdays=frozenset(), at=time(9), timezone="Europe/London")
    with pytest.raises(ValueError, match=r"from 0 \(Monday\) to 6 \(Sunday\)"):
        NudgeSchedule(weekdays=frozenset({7}), at=time(9), timezone="Europe/London")
    with pytest.raises(ValueError, match="local wall time"):
        weekly(MON, time(9, tzinfo=UTC), "Europe/London")
    with pytest.raises(ValueError, match="no timezone"):
        next_nudge(weekly(MON, time(9), "Europe/London"), datetime(2026, 1, 1))  # noqa: DTZ001


def test_weekdays_given_as_a_set_are_kept_as_a_frozenset() -> None:
    weekdays: Any = {MON, FRI}
    schedule = NudgeSchedule(weekdays=weekdays, at=time(9), timezone="UTC")
    assert schedule.weekdays == frozenset({MON, FRI})
    assert hash(schedule)


# --- the property ----------------------------------------------------------------------------


def _oracle_instant(zone: str, day: date, at: time) -> datetime:
    """Brute force: try each offset the zone has near `day`; in a gap, walk a minute at a time."""
    tz = ZoneInfo(zone)
    naive_utc = datetime.combine(day, at, tzinfo=UTC)
    offsets = {
        datetime.combine(day + timedelta(days=d), time(12), tzinfo=tz).utcoffset()
        for d in (-1, 0, 1)
    }
    real = [
        naive_utc - offset
        for offset in offsets
        if offset is not None and wall(naive_utc - offset, zone) == (day, at)
    ]
    if real:
        return min(real)
    instant = naive_utc - max(o for o in offsets if o is not None)
    while wall(instant, zone) < (day, at):
        instant += timedelta(minutes=1)
    return instant


def _changes(zone: str) -> list[datetime]:
    """The instants the zone's clocks change in 2026-2030, to the second."""
    tz = ZoneInfo(zone)
    changes = []
    noon = utc(2025, 12, 31, 12)
    while noon.year < 2031:
        low, noon = noon, noon + timedelta(days=1)
        offset = low.astimezone(tz).utcoffset()
        if noon.astimezone(tz).utcoffset() != offset:
            high = noon
            while high - low > timedelta(seconds=1):
                middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
                if middle.astimezone(tz).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            changes.append(high)
    return changes


CHANGES = {zone: _changes(zone) for zone in ZONES}
START, END = utc(2026, 1, 1), utc(2031, 1, 1)
# Small hours half the time: that is where the clocks change.
times = st.builds(
    time,
    st.one_of(st.integers(0, 3), st.integers(0, 23)),
    st.one_of(st.sampled_from([0, 15, 30, 45]), st.integers(0, 59)),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, frozenset[int], time, datetime]:
    """A zone, weekdays, a nudge time and an instant; half the time, close to a clock change."""
    zone = draw(st.sampled_from(ZONES))
    weekdays = draw(st.frozensets(st.integers(0, 6), min_size=1))
    near_a_change = draw(st.booleans())
    if CHANGES[zone] and near_a_change:
        change = draw(st.sampled_from(CHANGES[zone]))
        # The wall clock's reading as the clocks change, read off a UTC datetime's fields.
        offset = (change - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).utcoffset()
        assert offset is not None
        near = change + offset + timedelta(minutes=draw(st.integers(-90, 90)))
        day = frozenset({near.weekday()})
        weekdays = draw(st.sampled_from([day, weekdays | day, weekdays]))
        # A second before the change, and up to a day and a half earlier or two hours later.
        seconds = draw(st.integers(-2 * 3600, 36 * 3600))
        after = change - timedelta(seconds=1 + seconds)
        return zone, weekdays, near.time(), after
    seconds = draw(st.integers(int(START.timestamp()), int(END.timestamp())))
    return zone, weekdays, draw(times), datetime.fromtimestamp(seconds, UTC)


@settings(max_examples=200, deadline=None)
@given(
    case=cases(),
    working_days_only=st.booleans(),
    pause=st.one_of(st.none(), st.integers(-3, 12)),
)
def test_next_nudge_is_the_first_allowed_local_nudge_after(
    case: tuple[str, frozenset[int], time, datetime], working_days_only: bool, pause: int | None
) -> None:
    zone, weekdays, at, after = case
    if working_days_only and not weekdays - {SAT, SUN}:
        working_days_only = False
    first = local_date(zone, after) - timedelta(days=1)
    paused_until = None if pause is None else first + timedelta(days=pause)
    schedule = NudgeSchedule(
        weekdays=weekdays,
        at=at,
        timezone=zone,
        working_days_only=working_days_only,
        paused_until=paused_until,
    )
    days = weekdays - {SAT, SUN} if working_days_only else weekdays

    def allowed(day: date) -> bool:
        return day.weekday() in days and (paused_until is None or day >= paused_until)

    result = next_nudge(schedule, after)
    assert result is not None
    assert result > after
    assert result.tzinfo is UTC

    day, clock = wall(result, zone)
    assert allowed(day)
    local = result.astimezone(ZoneInfo(zone))
    if clock == at:
        assert local.fold == 0  # the first occurrence of a repeated time
        if local.replace(fold=1).astimezone(UTC) != result:
            event("the nudge time happened twice that day")
    else:
        # The documented gap shift: the wall time did not exist, and the clocks jump here.
        event("the nudge time fell in a gap")
        assert clock > at
        before = (result - timedelta(seconds=1)).astimezone(ZoneInfo(zone))
        assert before.utcoffset() != local.utcoffset()
        assert (before.date(), before.time()) < (day, at)

    # No allowed nudge lies strictly between `after` and the result, by brute force.
    candidates = [
        _oracle_instant(zone, first + timedelta(days=i), at)
        for i in range(30)
        if allowed(first + timedelta(days=i))
    ]
    assert not [c for c in candidates if after < c < result]
    assert result == min(c for c in candidates if c > after)
