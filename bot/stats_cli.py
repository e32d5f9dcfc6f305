"""`critical-friend stats`: participation in counts, as a table or JSON, and a PNG chart.

`bot/cli.py` adds the command with `add_commands` and runs it with `run`. Exit codes as
there: 0 done, 2 something must be fixed first; a failure prints one sentence.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.app import StartupError, open_database
from bot.config import Config
from bot.store.invites import slug_for
from bot.store.models import organisations, utcnow

# The command line is built on every start (chat, run): the figures and the chart are
# only loaded when `stats` itself runs.
MAX_WEEKS = 104

EXIT_OK, EXIT_FIX_FIRST = 0, 2


def add_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],  # argparse names it so
    shared_parent: argparse.ArgumentParser,
) -> None:
    command = subparsers.add_parser(
        "stats",
        parents=[shared_parent],
        help="how many workers reflect, finish, answer nudges, pair up: counts only",
        description=(
            "Counts and dates only, never what anyone wrote: active workers, reflections "
            "finished per week, completion rate, weekly nudges sent and acted on, "
            "critical-friend pairings, feedback and CPD records."
        ),
    )
    command.add_argument("--format", choices=["text", "json"], default="text")
    command.add_argument(
        "--chart",
        type=Path,
        metavar="FILE.png",
        help="also draw the weeks as a PNG chart into FILE.png",
    )
    command.add_argument(
        "--weeks",
        type=_weeks,
        default=12,
        metavar="N",
        help=f"how many weeks back, the current one included (default 12, at most {MAX_WEEKS})",
    )
    command.add_argument("--org", metavar="NAME", help="one organisation (default: all of them)")


def _weeks(text: str) -> int:
    if not text.isdecimal() or not 1 <= int(text) <= MAX_WEEKS:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of weeks from 1 to {MAX_WEEKS}")
    return int(text)


def run(config: Config, args: argparse.Namespace, *, now: datetime | None = None) -> int:
    """Print the figures (and write the chart); `now` is for tests, else the clock's."""
    from bot import stats

    now = now or utcnow()
    try:
        engine = open_database(config)
    except StartupError as error:
        return _fail(str(error))
    try:
        with engine.connect() as connection:
            organisation_id = None
            if args.org:
                organisation_id = connection.scalar(
                    select(organisations.c.id).where(organisations.c.slug == slug_for(args.org))
                )
                if organisation_id is None:
                    return _fail(f"there is no organisation called {args.org.strip()!r}.")
            found = stats.collect(
                connection,
                now,
                weeks=args.weeks,
                organisation_id=organisation_id,
                zone=config.settings.nudges.timezone,
            )
    except SQLAlchemyError as error:
        return _fail(f"database: the figures could not be read ({type(error).__name__}).")
    finally:
        engine.dispose()

    chart: Path | None = args.chart
    if chart is not None:
        try:
            chart.write_bytes(stats.chart_png(found))
        except OSError as error:
            return _fail(f"cannot write the chart to {chart}: {error.strerror or error}.")
    if args.format == "json":
        print(stats.render_json(found))
        return EXIT_OK
    print(stats.render_text(found))
    if chart is not None:
        print(f"\nChart: {chart}. {stats.CAPTION}")
    return EXIT_OK


def _fail(sentence: str) -> int:
    print(f"critical-friend: {sentence}", file=sys.stderr)
    return EXIT_FIX_FIRST
