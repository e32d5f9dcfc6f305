"""`critical-friend cpd export`: a worker's CPD records for one registration year, as a file.

    critical-friend cpd export --user NAME [--year YYYY] [--format md|pdf] --out FILE

`bot.cli` adds the command with `add_commands` and runs it with `run`. Exit codes as
everywhere in the command line: 0 written, 1 nothing to write (no such worker, or no
records that year), 2 something must be fixed first (the file cannot be written, the
database or keys). Each failure is one sentence on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cpd.draft import CpdFields
from bot.cpd.year import CpdYear, YearStart, local_date, year_of, year_range
from bot.store import KeyringError, StorageError, audit
from bot.store.cpd import CpdBook, StoredCpd
from bot.store.models import utcnow

if TYPE_CHECKING:
    from bot.app import App
    from bot.cpd.render import Format  # render loads fpdf2: only when a file is made

EXIT_OK, EXIT_PROBLEMS, EXIT_FIX_FIRST = 0, 1, 2
FIRST_YEAR, LAST_YEAR = 2000, 2100


def add_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    shared_parent: argparse.ArgumentParser,
) -> None:
    """Add `cpd export` to the command line's subcommands."""
    cpd = subparsers.add_parser(
        "cpd", parents=[shared_parent], help="CPD records: export a worker's year as a file"
    )
    actions = cpd.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        parents=[shared_parent],
        help="write a registration year's CPD records as Markdown or PDF",
    )
    export.add_argument(
        "--user",
        metavar="NAME",
        help="whose records: a name (default: your login) or telegram:ID / slack:TEAM:USER",
    )
    export.add_argument(
        "--year",
        type=_year,
        metavar="YYYY",
        help="the registration year, by the year it ends in (2026 is 1 December 2025 to "
        "30 November 2026); default: the year it is now where the worker is",
    )
    export.add_argument(
        "--format",
        choices=["md", "pdf"],
        help="default: pdf if FILE ends in .pdf, else md",
    )
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write")


def _year(text: str) -> int:
    if not text.isdecimal() or not FIRST_YEAR <= int(text) <= LAST_YEAR:
        raise argparse.ArgumentTypeError(f"'{text}' is not a year such as 2026")
    return int(text)


def run(app: App, args: argparse.Namespace) -> int:
    """Carry out `cpd ACTION`; the exit code."""
    try:
        return _export(app, args)
    except KeyringError as error:
        print(f"critical-friend: encryption keys: {error}", file=sys.stderr)
    except StorageError as error:
        print(f"critical-friend: database: {error}", file=sys.stderr)
    return EXIT_FIX_FIRST


def _export(app: App, args: argparse.Namespace) -> int:
    from bot.cli import user_from  # bot.cli imports this module: import it only when run
    from bot.cpd import render

    user = user_from(args.user)
    with app.store.transaction() as tx:
        user_id = tx.find_user(user)
        if user_id is None:
            print(f"Nobody called {user.external_id} has used the bot here.", file=sys.stderr)
            return EXIT_PROBLEMS
        book = CpdBook(tx)
        start = YearStart(*app.config.settings.cpd.start)
        year = _chosen_year(
            args.year, book.timezone(user_id, app.config.settings.nudges.timezone), start
        )
        records = book.list_for(user_id, year.start, year.end)
        name = tx.display_name(user_id)
    if not records:
        print(f"{name or user.external_id} has no CPD records in the year {year}.", file=sys.stderr)
        return EXIT_PROBLEMS
    out: Path = args.out
    fmt: Format = "pdf" if (args.format or out.suffix.lower().lstrip(".")) == "pdf" else "md"
    heading = f"{name}: CPD records, {year}" if name else f"CPD records, {year}"
    attachment = render.attachment(_fields(records), fmt, stem=out.stem, heading=heading)
    try:
        _write_private(out, attachment.content)
    except OSError as error:
        print(f"critical-friend: cannot write {out}: {error.strerror}", file=sys.stderr)
        return EXIT_FIX_FIRST
    with app.store.transaction() as tx:
        audit.record(tx.connection, utcnow(), "cpd_export", f"user:{user_id}", actor=audit.ADMIN)
    count = "1 CPD record" if len(records) == 1 else f"{len(records)} CPD records"
    print(f"Wrote {count} for {year} to {out} (readable only by you: it holds what was written).")
    return EXIT_OK


def _chosen_year(label: int | None, zone: str, start: YearStart) -> CpdYear:
    if label is not None:
        return year_range(label, start)
    return year_of(local_date(utcnow(), zone), start)


def _fields(records: list[StoredCpd]) -> list[CpdFields]:
    return [record.fields for record in records]


def _write_private(path: Path, content: bytes) -> None:
    """Write a file only its owner can read, from the start (an older file of that name
    is narrowed too, before anything is written into it)."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "wb") as file:
        if hasattr(os, "fchmod"):
            os.fchmod(file.fileno(), 0o600)
        file.write(content)
