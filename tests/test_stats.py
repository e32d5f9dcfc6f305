"""Admin stats: each figure counted on a real database (SQLite file and PostgreSQL) seeded
through the service with the clock moved between weeks; the figures carry no words, so
nothing anyone wrote reaches the table, the JSON or the chart; the chart is a PNG."""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import zlib
from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from bot import stats
from bot.config import load_config
from bot.dialogues import Catalog
from bot.messages import UserRef
from bot.nudges.dispatcher import Dispatcher
from bot.peer import wording as peer_wording
from bot.service import ConversationService
from bot.stats import Stats, WeekCount, chart_png, collect, render_json, render_text
from bot.stats import chart as chart_module
from bot.stats_cli import add_commands, run
from bot.store.invites import InviteBook
from bot.store.models import cpd_records, organisations, users
from bot.store.repository import Store
from tests.conftest import Clock
from tests.friends import Colleague
from tests.nudging import FRIDAY_2PM, Courier, worker
from tests.worker import Worker, finish_a_reflection

SECRET = "Periwinkle-Foghorn-4417"  # written in every answer; must appear in no output
ANSWER = f"We talked it through at the family home; {SECRET} is what stayed with me."
AS_OF = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday in week 2026-W48


def person(name: str) -> UserRef:
    return UserRef("terminal", name.lower(), name)


def at(clock: Clock, when: datetime) -> Clock:
    clock.now = when
    return clock


def figures(
    store: Store,
    now: datetime = AS_OF,
    *,
    weeks: int = 12,
    organisation_id: int | None = None,
    zone: str = "UTC",
) -> Stats:
    with store.engine.connect() as connection:
        return collect(connection, now, weeks=weeks, organisation_id=organisation_id, zone=zone)


def begin_a_reflection(service: ConversationService, user: UserRef) -> None:
    """Start a reflection and write one answer, then stop: a draft, not finished."""
    writer = Worker(service, user)
    writer.start("gibbs_quick")
    while writer.last.choices:
        writer.presses(writer.last.choices[0].value)
    writer.says(ANSWER)


def week(found: Stats, monday: date) -> WeekCount:
    return next(w for w in found.weeks if w.week_start == monday)


# ---- the figures -----------------------------------------------------------------------


def test_a_reflection_counts_in_the_iso_week_it_was_finished_in_the_organisations_zone(
    service: ConversationService, store: Store, clock: Clock
) -> None:
    for when in (
        datetime(2026, 9, 6, 22, 59, tzinfo=UTC),  # Sun 23:59 in London: before the period
        datetime(2026, 9, 6, 23, 0, tzinfo=UTC),  # Mon 7 Sep 00:00 in London: first week
        datetime(2026, 10, 18, 23, 30, tzinfo=UTC),  # Mon 19 Oct 00:30 summer time
        datetime(2026, 11, 22, 23, 59, tzinfo=UTC),  # Sun 22 Nov 23:59 (GMT again)
        datetime(2026, 11, 23, 0, 0, tzinfo=UTC),  # Mon 23 Nov 00:00: this week
    ):
        at(clock, when)
        finish_a_reflection(service, person("Sam"), ANSWER)

    london = figures(store, zone="Europe/London")
    assert len(london.weeks) == 12
    assert (london.period_start, london.period_end) == (date(2026, 9, 7), date(2026, 11, 25))
    assert [w.week_start for w in london.weeks][:2] == [date(2026, 9, 7), date(2026, 9, 14)]
    assert all(w.week_start.isoweekday() == 1 for w in london.weeks)
    assert london.weeks[-1].iso_week == "2026-W48"
    counted = {w.week_start: w.reflections_finished for w in london.weeks if w.reflections_finished}
    assert counted == {
        date(2026, 9, 7): 1,
        date(2026, 10, 19): 1,
        date(2026, 11, 16): 1,
        date(2026, 11, 23): 1,
    }
    assert london.reflections_finished == 4

    in_utc = figures(store, zone="UTC")
    assert week(in_utc, date(2026, 10, 12)).reflections_finished == 1  # Sun 18 Oct 23:30 UTC
    assert in_utc.reflections_finished == 3  # 6 Sep 23:00 UTC is a Sunday, before the period


def test_active_workers_wrote_in_the_last_28_days_and_completion_counts_those_started(
    service: ConversationService, store: Store, clock: Clock
) -> None:
    at(clock, AS_OF - timedelta(days=29))
    finish_a_reflection(service, person("Bo"), ANSWER)  # finished, but too long ago
    at(clock, AS_OF - timedelta(days=27))
    finish_a_reflection(service, person("Ali"), ANSWER)
    at(clock, AS_OF - timedelta(days=1))
    begin_a_reflection(service, person("Cy"))  # wrote yesterday, has not finished

    found = figures(store)
    assert found.workers == 3
    assert found.active_workers == 2
    assert (found.reflections_started, found.started_then_finished) == (3, 2)
    assert found.completion_rate == pytest.approx(2 / 3)
    # Bo (Tuesday 27 Oct) and Ali (Thursday 29 Oct) wrote in one week; only Ali is active now.
    assert week(found, date(2026, 10, 26)) == WeekCount(date(2026, 10, 26), 2, 2)
    assert week(found, date(2026, 11, 23)) == WeekCount(date(2026, 11, 23), 0, 1)  # Cy


def test_a_weekly_nudge_is_acted_on_by_a_reflection_finished_within_three_days(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    prompt, late, exact = (worker(chat, n) for n in (1, 2, 3))
    asyncio.run(dispatcher.tick())
    sent_at = at(clock, FRIDAY_2PM + timedelta(seconds=20)).now
    asyncio.run(dispatcher.tick())
    assert len(courier.pushed) == 3

    at(clock, sent_at + timedelta(days=2))
    finish_a_reflection(chat, prompt.user, ANSWER)
    at(clock, sent_at + timedelta(days=3, minutes=1))
    finish_a_reflection(chat, late.user, ANSWER)
    at(clock, sent_at + timedelta(days=3))
    finish_a_reflection(chat, exact.user, ANSWER)

    found = figures(store, now=datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    assert (found.nudges_sent, found.nudges_acted_on) == (3, 2)
    assert found.nudge_rate == pytest.approx(2 / 3)
    before = figures(store, now=sent_at + timedelta(days=1))
    assert (before.nudges_sent, before.nudges_acted_on) == (3, 0)


def exchange(team: dict[str, Colleague], friendly: ConversationService) -> None:
    """Sam reflects, asks for a critical friend, Kim accepts; Sam shares, Kim gives
    feedback and Sam answers it. Everything written holds the secret phrase."""
    sam, kim = team["Sam"], team["Kim"]
    finish_a_reflection(friendly, sam.worker.user, ANSWER)
    sam.says("friend")
    kim.says(kim.button(kim.check_inbox(), peer_wording.ACCEPT))
    sam.check_inbox()
    sam.says(sam.button(sam.says(sam.button(sam.says("friend share"), "·")), "Yes, share"))
    notice = kim.check_inbox()
    kim.says(
        kim.button(kim.says(kim.button(notice, peer_wording.OPEN_IT)), peer_wording.GIVE_FEEDBACK)
    )
    for text in (
        f"You kept the family talking and named the risk calmly; {SECRET} was well put.",
        f"What might help you decide when to ring the duty team about {SECRET} next time?",
        f"You could try a short call with the duty team before leaving, as in {SECRET}.",
    ):
        kim.says(text)
    sam.says(sam.button(sam.check_inbox(), peer_wording.ANSWER_FEEDBACK))
    sam.says(f"I will ring the duty team from the car next time, as {SECRET} taught me.")


def test_pairings_and_feedback_are_counted_and_feedback_is_not_a_reflection(
    team: dict[str, Colleague], friendly: ConversationService, store: Store, clock: Clock
) -> None:
    exchange(team, friendly)
    found = figures(store, clock.now + timedelta(hours=1))
    assert (found.pairings_made, found.feedback_given) == (1, 1)
    # Kim's feedback and Sam's answer to it are conversations, not reflections.
    assert found.reflections_finished == 1
    assert (found.reflections_started, found.started_then_finished) == (1, 1)
    assert found.active_workers == 2  # Sam and Kim wrote; Lee and Jo only joined the pool
    assert found.workers == 4


def test_cpd_records_made_in_the_period_are_counted_and_those_with_a_peer(
    service: ConversationService, store: Store, clock: Clock
) -> None:
    finish_a_reflection(service, person("Sam"), ANSWER)
    with store.transaction() as tx:
        sam = tx.find_user(person("Sam"))
        for made, peer in (
            (clock.now, True),
            (clock.now - timedelta(days=20), False),
            (clock.now - timedelta(weeks=13), True),  # before the period
        ):
            tx.connection.execute(
                insert(cpd_records).values(
                    user_id=sam,
                    activity_date=made.date(),
                    peer=peer,
                    fields_enc=store.cipher.encrypt_json({"title": SECRET}),
                    created_at=made,
                    updated_at=made,
                )
            )
    found = figures(store, clock.now + timedelta(minutes=5))
    assert (found.cpd_records, found.cpd_records_with_peer) == (2, 1)


def test_with_an_organisation_only_its_workers_count(
    service: ConversationService, store: Store, clock: Clock
) -> None:
    finish_a_reflection(service, person("Sam"), ANSWER)
    finish_a_reflection(service, person("Ola"), ANSWER)
    with store.transaction() as tx:
        home = tx.default_organisation(clock.now)
        other = InviteBook(tx.connection).organisation("North Trust", "North Trust", clock.now)
        tx.connection.execute(
            update(users)
            .where(users.c.id == tx.find_user(person("Ola")))
            .values(organisation_id=other)
        )
    later = clock.now + timedelta(hours=1)
    everyone, ours, theirs = (
        figures(store, later, organisation_id=scope) for scope in (None, home, other)
    )
    assert [s.reflections_finished for s in (everyone, ours, theirs)] == [2, 1, 1]
    assert [s.active_workers for s in (everyone, ours, theirs)] == [2, 1, 1]
    assert [s.workers for s in (everyone, ours, theirs)] == [2, 1, 1]
    assert ours.organisation_id == home


def test_an_empty_database_gives_zeros_and_no_rates(store: Store) -> None:
    found = figures(store, weeks=1)
    assert [w.week_start for w in found.weeks] == [date(2026, 11, 23)]
    assert found.workers == found.active_workers == found.reflections_finished == 0
    assert found.completion_rate is None
    assert found.nudge_rate is None
    assert "-" in render_text(found)
    assert json.loads(render_json(found))["completion_rate"] is None
    assert chart_png(found).startswith(b"\x89PNG\r\n\x1a\n")


# ---- no words in the figures ---------------------------------------------------------------


def test_nothing_written_reaches_the_table_the_json_or_the_chart(
    team: dict[str, Colleague], friendly: ConversationService, store: Store, clock: Clock
) -> None:
    exchange(team, friendly)
    found = figures(store, clock.now + timedelta(hours=1))
    text, as_json, png = render_text(found), render_json(found), chart_png(found)
    for phrase in (SECRET, "Periwinkle", "family home", "duty team", "Sam", "Kim"):
        assert phrase not in text
        assert phrase not in as_json
        assert phrase.encode() not in png
        assert phrase.encode() not in _pixels(png)[2]
    # Every JSON value is a number, null, or one of the dates and the zone.
    flat = json.loads(as_json)
    assert {type(v) for k, v in flat.items() if k not in {"weeks"}} <= {int, float, str, type(None)}
    texts = {k: v for k, v in flat.items() if isinstance(v, str)}
    assert set(texts) == {"as_of", "zone", "period_start", "period_end"}
    assert texts["zone"] == "UTC"


def test_stats_has_no_field_that_could_carry_words() -> None:
    allowed = {"datetime", "date", "int", "int | None", "float | None", "tuple[WeekCount, ...]"}
    kinds = {f.name: f.type for f in fields(Stats)}
    assert {kind for name, kind in kinds.items() if name != "zone"} <= allowed
    assert {f.type for f in fields(WeekCount)} == {"date", "int"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("active_workers", "Sam wrote about the family"),
        ("workers", 2.5),
        ("feedback_given", -1),
        ("cpd_records", True),
        ("completion_rate", "most of them"),
        ("completion_rate", 1.5),
        ("zone", "Sam is having a hard time"),
        ("period_start", "last week"),
        ("weeks", ("a week",)),
        ("as_of", datetime(2026, 11, 25, 12, 0)),  # naive  # noqa: DTZ001
    ],
)
def test_stats_refuses_a_field_of_words(name: str, value: object) -> None:
    with pytest.raises(TypeError):
        replace(_sample(), **{name: value})


def test_a_week_is_a_monday_and_two_counts() -> None:
    with pytest.raises(TypeError):
        WeekCount(date(2026, 11, 24), 1, 1)  # a Tuesday
    with pytest.raises(TypeError):
        WeekCount(date(2026, 11, 23), "one", 1)  # type: ignore[arg-type]


# ---- the chart ---------------------------------------------------------------------------


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    found, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        found.append((kind, data))
        offset += 12 + length
    return found


def _pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and the palette index of every pixel, row by row."""
    chunks = dict(_chunks(png))
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (8, 3, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (width + 1)
    rows = [raw[y * (width + 1) : (y + 1) * (width + 1)] for y in range(height)]
    assert all(row[0] == 0 for row in rows)  # no filter: the bytes are the pixels
    return width, height, b"".join(row[1:] for row in rows)


def _sample(**changes: object) -> Stats:
    monday = date(2026, 9, 7)
    weeks = tuple(
        WeekCount(monday + timedelta(weeks=i), finished, wrote)
        for i, (finished, wrote) in enumerate(
            zip(
                [3, 5, 2, 0, 7, 9, 4, 6, 8, 12, 10, 3],
                [4, 6, 3, 2, 8, 9, 6, 7, 9, 11, 12, 5],
                strict=True,
            )
        )
    )
    made = Stats(
        as_of=AS_OF,
        zone="Europe/London",
        organisation_id=None,
        period_start=monday,
        period_end=AS_OF.date(),
        workers=40,
        active_workers=17,
        reflections_finished=69,
        reflections_started=80,
        started_then_finished=66,
        completion_rate=66 / 80,
        nudges_sent=400,
        nudges_acted_on=57,
        pairings_made=6,
        feedback_given=4,
        cpd_records=9,
        cpd_records_with_peer=2,
        weeks=weeks,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_the_chart_is_a_png_of_the_stated_size_with_pixels_and_nothing_else() -> None:
    png = chart_png(_sample())
    assert [kind for kind, _ in _chunks(png)] == [b"IHDR", b"PLTE", b"IDAT", b"IEND"]
    width, height, _ = _pixels(png)
    assert (width, height) == (stats.WIDTH, stats.HEIGHT) == (960, 480)
    assert len(png) < 20_000
    assert chart_png(_sample()) == png  # the same figures draw the same bytes


def _bar_pixels_per_week(found: Stats) -> list[int]:
    """Bar-coloured pixels in each week's slot, along the row just above the axis."""
    width, height, pixels = _pixels(chart_png(found))
    base = height - chart_module.BOTTOM
    slot = (width - chart_module.LEFT - chart_module.RIGHT) / len(found.weeks)
    heights = []
    for i in range(len(found.weeks)):
        x = round(chart_module.LEFT + slot * (i + 0.5))
        column = [pixels[y * width + x] for y in range(height)]
        heights.append(sum(1 for y in range(base) if column[y] == chart_module.BAR))
    return heights


def test_taller_bars_for_weeks_with_more_reflections_and_none_for_an_empty_week() -> None:
    found = _sample()
    heights = _bar_pixels_per_week(found)
    finished = [w.reflections_finished for w in found.weeks]
    assert heights[finished.index(0)] == 0
    order = sorted(range(len(finished)), key=lambda i: finished[i])
    assert [heights[i] for i in order] == sorted(heights)
    assert heights[finished.index(12)] > heights[finished.index(3)] > 0


def test_a_long_period_labels_fewer_weeks_and_still_draws() -> None:
    monday = date(2025, 11, 24)
    weeks = tuple(WeekCount(monday + timedelta(weeks=i), i % 7, i % 5) for i in range(104))
    png = chart_png(_sample(weeks=weeks, period_start=monday))
    assert _pixels(png)[:2] == (960, 480)


def test_the_chart_font_draws_digits_and_dashes_only() -> None:
    from bot.stats.raster import CHARACTERS, Canvas

    assert set("0123456789- ") == CHARACTERS
    with pytest.raises(ValueError, match="numbers and dates"):
        Canvas(10, 10, [(0, 0, 0)]).text(0, 0, "Sam", 0)


# ---- the command -------------------------------------------------------------------------


def stats_command(*argv: str) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="critical-friend")
    shared = argparse.ArgumentParser(add_help=False)
    add_commands(top.add_subparsers(dest="command"), shared)
    return top.parse_args(["stats", *argv])


def test_the_command_prints_a_table_and_writes_the_chart(
    service: ConversationService,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    finish_a_reflection(service, person("Sam"), ANSWER)
    config = load_config(None, environ={}, database_url=database_url)
    chart = tmp_path / "participation.png"
    assert run(config, stats_command("--chart", str(chart), "--weeks", "4"), now=AS_OF) == 0
    out = capsys.readouterr().out
    assert "Reflections finished" in out
    assert "2026-W48" in out
    assert SECRET not in out
    assert "Europe/London" in out  # the weeks are the organisation's (the nudges' zone)
    assert str(chart) in out
    assert _pixels(chart.read_bytes())[:2] == (960, 480)


def test_the_command_prints_json(
    service: ConversationService, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    finish_a_reflection(service, person("Sam"), ANSWER)
    config = load_config(None, environ={}, database_url=database_url)
    assert run(config, stats_command("--format", "json"), now=AS_OF) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["reflections_finished"] == 1
    assert len(found["weeks"]) == 12
    assert found["weeks"][-1] == {
        "week_start": "2026-11-23",
        "iso_week": "2026-W48",
        "reflections_finished": 1,
        "workers_writing": 1,
    }


def test_the_command_counts_one_organisation_by_name(
    service: ConversationService,
    store: Store,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    finish_a_reflection(service, person("Sam"), ANSWER)
    with store.transaction() as tx:
        InviteBook(tx.connection).organisation("North Trust", "North Trust", AS_OF)
    config = load_config(None, environ={}, database_url=database_url)
    assert run(config, stats_command("--format", "json", "--org", "North Trust"), now=AS_OF) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["reflections_finished"] == 0
    with store.engine.connect() as connection:
        north = connection.scalar(
            select(organisations.c.id).where(organisations.c.slug == "north-trust")
        )
    assert found["organisation_id"] == north


def test_an_unknown_organisation_or_an_unwritable_chart_is_one_sentence_and_exit_2(
    store: Store, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(None, environ={}, database_url=database_url)
    assert run(config, stats_command("--org", "Nowhere"), now=AS_OF) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == "critical-friend: there is no organisation called 'Nowhere'.\n"

    missing = tmp_path / "no-such-folder" / "chart.png"
    assert run(config, stats_command("--chart", str(missing)), now=AS_OF) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.count("\n") == 1
    assert "cannot write the chart" in said.err
    assert "Traceback" not in said.err


@pytest.mark.parametrize("weeks", ["0", "105", "twelve", "-3"])
def test_weeks_must_be_a_number_from_1_to_104(
    weeks: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        stats_command("--weeks", weeks)
    assert stopped.value.code == 2
    assert "from 1 to 104" in capsys.readouterr().err


def test_the_command_line_knows_the_same_longest_period_as_the_figures() -> None:
    from bot import stats, stats_cli

    assert stats_cli.MAX_WEEKS == stats.MAX_WEEKS


def test_an_admin_gets_the_figures_and_chart_in_chat_and_nobody_else_learns_of_it(
    store: Store, catalog: Catalog, clock: Clock
) -> None:
    from bot.messages import UserRef
    from bot.service import ConversationService
    from tests.worker import Worker, finish_a_reflection

    service = ConversationService(store, catalog, clock=clock, admins=["terminal:boss"])
    try:
        finish_a_reflection(service, UserRef("terminal", "sam", "Sam"), "Quillwort-8812 was hard.")
        boss = Worker(service, UserRef("terminal", "boss", "Boss"))
        boss.start()
        (figures,) = [m for m in boss.says("/stats").messages if m.attachment is not None]
        assert "Reflections finished" in figures.text
        assert figures.attachment is not None
        assert figures.attachment.content.startswith(b"\x89PNG")
        assert "Quillwort" not in figures.text
        sam = Worker(service, UserRef("terminal", "sam", "Sam"))
        sam.start()
        refused = "\n".join(m.text for m in sam.says("/stats").messages)
        unknown = "\n".join(m.text for m in sam.says("/nosuchcommand").messages)
        assert refused.replace("stats", "X") == unknown.replace("nosuchcommand", "X")
        assert not any(m.attachment for m in sam.says("/stats").messages)
    finally:
        service.close()
