"""`critical-friend digest preview`: the next team digest as it would be posted, with
when and where it goes. Exit codes as in bot/cli.py: 0 done, 2 something to fix first."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.store.invites import slug_for
from bot.store.lessons import DigestBook
from bot.store.models import utcnow

if TYPE_CHECKING:  # the sender loads APScheduler: only when the command runs
    from bot.app import App
    from bot.lessons.sender import DigestSender

EXIT_OK, EXIT_FIX_FIRST = 0, 2


def add_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],  # argparse names it so
    shared_parent: argparse.ArgumentParser,
) -> None:
    command = subparsers.add_parser(
        "digest",
        parents=[shared_parent],
        help="the team digest of lessons: preview the next one",
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    preview = actions.add_parser(
        "preview",
        parents=[shared_parent],
        help="show the next digest as it would be posted, and when and where it goes",
    )
    preview.add_argument("--org", metavar="NAME", help="one organisation (default: all)")


def run(app: App, args: argparse.Namespace, *, now: datetime | None = None) -> int:
    from bot.lessons.sender import DigestSender
    from bot.lessons.settings import themes_from

    now = now or utcnow()
    settings = app.config.settings
    sender = DigestSender(
        app.store,
        settings.lessons,
        themes_from(settings.lessons),
        {},
        lambda: now,
        default_zone=settings.nudges.timezone,
    )
    try:
        with app.store.transaction() as tx:
            found = DigestBook(tx).organisations()
        if args.org:
            found = [(i, slug) for i, slug in found if slug == slug_for(args.org)]
            if not found:
                print(
                    f"critical-friend: there is no organisation called {args.org!r}.",
                    file=sys.stderr,
                )
                return EXIT_FIX_FIRST
        for organisation_id, slug in found:
            print(_heading(sender, slug, now))
            text = sender.preview(organisation_id, now)
            print(text if text is not None else "No lessons are waiting: nothing would be posted.")
            print()
    finally:
        sender.close()
    return EXIT_OK


def _heading(sender: DigestSender, slug: str, now: datetime) -> str:
    schedule = sender.schedule
    places = sender.config.places_for(slug)
    if schedule is None:
        when = "digests are off (lessons.digest: off)"
    else:
        due = schedule.next_due(now).astimezone(ZoneInfo(schedule.zone))
        when = f"next due {due:%A} {due.day} {due:%B %Y at %H:%M} ({schedule.zone})"
    where = ", ".join(places) if places else "nowhere yet: set lessons.post_to in the config"
    return f"== {slug}: {when}; posted to {where}"
