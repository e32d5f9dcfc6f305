"""The `critical-friend` command line.

Exit codes: 0 done, 1 a check found problems, 2 something must be fixed first
(configuration, database, keys, usage). Expected failures print one sentence,
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import gc
import getpass
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot import event_loop, journal, logs, stats_cli
from bot.app import App, StartupError, build_app, open_database
from bot.channels.terminal import TerminalChannel
from bot.config import (
    Config,
    ConfigError,
    SlackSettings,
    TelegramSettings,
    default_dialogues,
    load_config,
)
from bot.cpd import cli as cpd_cli
from bot.dialogues.loader import (
    DialogueError,
    coach_files,
    coach_problems,
    dialogue_files,
    load_catalog,
    load_dialogue,
)
from bot.engine.engine import WRITE_DIALOGUE
from bot.lessons import cli as lessons_cli
from bot.messages import UserRef
from bot.service import is_reflection_id
from bot.store import KeyringError, StorageError, audit
from bot.store.crypto import KEYS_ENV, generate_key
from bot.store.db import DatabaseError
from bot.store.invites import Invite, InviteBook
from bot.store.models import utcnow
from bot.store.rotation import rotate_keys

if TYPE_CHECKING:
    from bot.channels.slack import SlackChannel
    from bot.channels.telegram import TelegramChannel
    from bot.lessons.sender import DigestSender
    from bot.nudges.dispatcher import Courier, Dispatcher
    from bot.web import WebServer

log = logging.getLogger(__name__)
EXIT_OK, EXIT_PROBLEMS, EXIT_FIX_FIRST = 0, 1, 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="critical-friend",
        description="A critical friend for reflective practice in social work.",
    )
    _global_options(top, default=None)
    # The same options after the command too (`critical-friend chat --config x.yaml`);
    # SUPPRESS keeps a value given before the command from being reset.
    shared = argparse.ArgumentParser(add_help=False)
    _global_options(shared, default=argparse.SUPPRESS)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = functools.partial(commands.add_parser, parents=[shared])

    chat = add("chat", help="reflect in this terminal")
    chat.add_argument(
        "--dialogue", metavar="ID", help="start this reflective model directly (e.g. gibbs)"
    )
    _user_option(chat)
    chat.add_argument("--json", action="store_true", help="one JSON object per line, for programs")

    write = add("write", help="write freely in your journal in this terminal, with no questions")
    _user_option(write)
    write.add_argument("--json", action="store_true", help="one JSON object per line, for programs")

    run = add(
        "run",
        help="start every chat platform in the config (Telegram, Slack); without one, this terminal",
    )
    _user_option(run)

    journal_cmd = add("journal", help="list your reflections, or show one")
    journal_cmd.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    journal_cmd.add_argument("id", nargs="?", type=_reflection_id, help="the reflection to show")
    _user_option(journal_cmd)
    journal_cmd.add_argument("--format", choices=["text", "markdown", "json"], default="text")

    export_cmd = add(
        "export", help="a copy of everything kept about a worker: FILE (JSON) and FILE.md"
    )
    _user_option(export_cmd)
    export_cmd.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="where to write"
    )

    dialogues = add("dialogues", help="work with dialogue files")
    dialogue_actions = dialogues.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = dialogue_actions.add_parser(
        "check", parents=[shared], help="check dialogue files; prints file:line: problem"
    )
    check.add_argument("paths", nargs="*", type=Path, help="files or folders (default: dialogues/)")

    guides_cmd = add("guides", help="work with the short guides shown by /guide")
    guide_actions = guides_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    guides_check = guide_actions.add_parser(
        "check", parents=[shared], help="check guide files; prints file:line: problem"
    )
    guides_check.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: guides/)"
    )

    db = add("db", help="database maintenance")
    db_actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_actions.add_parser(
        "upgrade", parents=[shared], help="apply database migrations (also done at every start)"
    )

    invite = add("invite", help="invitations for workers to join an organisation")
    invite_actions = invite.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = invite_actions.add_parser("create", parents=[shared], help="make an invitation")
    create.add_argument("--org", metavar="NAME", help="organisation (default: the default one)")
    create.add_argument(
        "--expires", type=_positive, metavar="DAYS", help="valid for this many days"
    )
    create.add_argument("--uses", type=_positive, metavar="N", help="how many people may use it")
    listing = invite_actions.add_parser("list", parents=[shared], help="list invitations")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    revoke = invite_actions.add_parser("revoke", parents=[shared], help="withdraw an invitation")
    revoke.add_argument("id", type=_reflection_id, help="the invitation's number (see list)")

    people = add("people", help="teams and line managers, for choosing critical friends")
    people_actions = people.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = people_actions.add_parser(
        "import", parents=[shared], help="read person,name,team,manager from a CSV file"
    )
    load.add_argument("file", type=Path, help="the CSV file")
    load.add_argument("--org", metavar="NAME", help="organisation (default: the default one)")

    audit_cmd = add(
        "audit", help="who shared, took back, exported or erased what, and admin actions"
    )
    audit_cmd.add_argument("--format", choices=["text", "json"], default="text")

    stats_cli.add_commands(commands, shared)
    lessons_cli.add_commands(commands, shared)
    cpd_cli.add_commands(commands, shared)

    nudges = add(
        "nudges", help="the weekly nudges, follow-ups and reminders: how many in each state"
    )
    nudges.add_argument("--format", choices=["text", "json"], default="text")

    keys = add("keys", help="encryption keys")
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    key_actions.add_parser(
        "generate", parents=[shared], help="print a new key for CRITICAL_FRIEND_SECRET_KEYS"
    )
    key_actions.add_parser(
        "rotate", parents=[shared], help="re-encrypt everything with the newest key"
    )
    return top


def _global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=default,
        help="config file (default: $CRITICAL_FRIEND_CONFIG, or none)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        default=default,
        help="database URL (sqlite:///PATH or postgresql://...)",
    )


def _positive(text: str) -> int:
    if not text.isdecimal() or not 0 < int(text) <= 100_000:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number from 1 to 100000")
    return int(text)


def _reflection_id(text: str) -> int:
    if not is_reflection_id(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a reflection number")
    return int(text)


def _user_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--user",
        metavar="NAME",
        help="who is reflecting: a name (default: your login) or telegram:ID / slack:TEAM:USER",
    )


def user_from(spec: str | None) -> UserRef:
    if spec:
        return UserRef.parse(spec)
    # A login name is not what anyone is called, so the bot greets without a name.
    return UserRef(channel="terminal", external_id=_login_name())


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "me"


def main(argv: Sequence[str] | None = None) -> int:
    _utf8_output()
    args = parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_FIX_FIRST
    except StartupError as error:
        print(f"critical-friend: {error}", file=sys.stderr)
        return EXIT_FIX_FIRST
    except KeyringError as error:
        print(f"critical-friend: encryption keys: {error}", file=sys.stderr)
        return EXIT_FIX_FIRST
    except (StorageError, DatabaseError) as error:
        print(f"critical-friend: database: {error}", file=sys.stderr)
        return EXIT_FIX_FIRST
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (`| head`); nothing more to say, and nowhere to say it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "dialogues":
        return _check_dialogues(args.paths)
    if args.command == "guides":
        return _check_guides(args.paths)
    if args.command == "keys" and args.action == "generate":
        print(generate_key())
        print(
            f"Add it to the front of {KEYS_ENV} (comma-separated, newest first).", file=sys.stderr
        )
        return EXIT_OK
    config = load_config(args.config, database_url=args.db)
    _configure_logging(config.settings.log_level)
    if args.command == "db":
        open_database(config).dispose()
        print("The database is up to date.")
        return EXIT_OK
    if args.command == "invite":
        return _invite(config, args)
    if args.command == "nudges":
        return _nudge_status(config, args.format)
    if args.command == "people":
        return _import_people(config, args.file, args.org)
    if args.command == "audit":
        return _audit(config, args.format)
    if args.command == "stats":
        return stats_cli.run(config, args)
    app = build_app(config)
    try:
        if args.command == "digest":
            return lessons_cli.run(app, args)
        if args.command == "run" and (config.settings.telegram or config.settings.slack):
            return _run_channels(app, config)
        if args.command == "run" and not sys.stdin.isatty():
            # No chat platform, and nobody at this terminal (a Procfile worker, a service
            # manager): there is nothing to run.
            print(
                "critical-friend: no chat platform is configured yet, and there is no "
                "terminal to talk in. Run `critical-friend chat` in a terminal.",
                file=sys.stderr,
            )
            return EXIT_FIX_FIRST
        if args.command in {"chat", "run", "write"}:
            return _chat(app, args)
        if args.command == "journal":
            return _journal(app, args)
        if args.command == "export":
            return _export(app, args)
        if args.command == "cpd":
            return cpd_cli.run(app, args)
        if args.command == "keys":
            count = rotate_keys(app.store.engine, app.store.cipher)
            with app.store.transaction() as tx:
                audit.record(
                    tx.connection, utcnow(), "keys_rotate", f"values:{count}", actor=audit.ADMIN
                )
            print(f"Re-encrypted {count} stored values with the newest key.")
            return EXIT_OK
    finally:
        app.close()
    return EXIT_FIX_FIRST


class _Channel(Protocol):
    async def stop(self) -> None: ...


def _run_channels(app: App, config: Config) -> int:
    """Every chat platform in the config, in one event loop, until SIGINT or SIGTERM."""
    event_loop.serve(_serve(app, config))
    return EXIT_OK


async def _serve(app: App, config: Config) -> None:
    """Start every configured channel, wait for SIGINT or SIGTERM, then stop them cleanly.

    A failure while starting stops whatever had started and becomes a StartupError: one
    sentence on stderr, exit code 2.
    """
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    running = _Running(app, config)
    starting = asyncio.ensure_future(running.start())
    signalled = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            return  # a signal while starting (Slack slow to answer, say)
        error = starting.exception()
        if isinstance(error, Exception):  # every start-up failure is one sentence
            log.debug("start-up failed at %s: %s", running.step, type(error).__name__)
            raise StartupError(running.describe(error)) from None
        if error is not None:
            raise error
        print(running.summary(), file=sys.stderr, flush=True)
        await signalled
    finally:
        # From here a second signal ends the process at once (the default handlers).
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for task in (starting, signalled):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await running.stop()


class _Running:
    """What `critical-friend run` starts, in order, and how it stops it.

    Start: Slack's HTTP mode checks its token first (nothing listens yet); the web server
    binds its port, only when Telegram webhooks or Slack's HTTP mode need it; then
    Telegram (polling, or setting its webhook once the server listens) and Slack's
    Socket Mode connect. Stop: the web server first, so no new work arrives and the
    requests being answered finish; then every channel, each finishing its turns.
    """

    def __init__(self, app: App, config: Config) -> None:
        self.app = app
        self.config = config
        self.step = "starting"
        self.started: list[str] = []
        self.channels: list[_Channel] = []  # every channel whose start was begun
        self.server: WebServer | None = None
        self.dispatcher: Dispatcher | None = None
        self.digests: DigestSender | None = None
        self.secrets = [
            secret
            for section in (config.settings.telegram, config.settings.slack)
            if section is not None
            for secret in section.secrets()
        ]

    async def start(self) -> None:
        settings = self.config.settings
        tg, sl = settings.telegram, settings.slack
        self.step = "telegram"
        telegram = self._telegram(tg) if tg is not None else None
        self.step = "slack"
        slack = self._slack(sl) if sl is not None else None
        if sl is not None and slack is not None and sl.mode == "http":
            self.channels.append(slack)
            await slack.start_http()
        if settings.needs_web:
            await self._start_web(telegram, slack)
        if tg is not None and telegram is not None:
            self.step = "telegram"
            self.channels.append(telegram)
            if tg.mode == "webhook":
                if tg.webhook_url is None or tg.secret_token is None:  # the config forbids it
                    raise StartupError("webhook mode needs webhook_url and secret_token")
                await telegram.start_webhook(url=tg.webhook_url, secret_token=tg.secret_token)
            else:
                await telegram.start()
            self.started.append(f"Telegram ({tg.mode})")
        if sl is not None and slack is not None:
            self.step = "slack"
            if sl.mode == "socket":
                if sl.app_token is None:  # the config forbids it
                    raise StartupError("socket mode needs app_token")
                self.channels.append(slack)
                await slack.start_socket_mode(sl.app_token)
                self.started.append("Slack (Socket Mode)")
            else:
                self.started.append("Slack (HTTP mode)")
        self._start_nudges(telegram, slack)
        self._start_digests(telegram, slack)
        # What exists now (modules, dialogues, the SDKs' clients) lives as long as the
        # process. Frozen, it is left out of every later full garbage collection, which
        # otherwise walked it for up to 100 ms at a time, holding up every message on
        # its way while a week's nudges went out (measured with bench/bench_nudges.py).
        gc.freeze()

    def _start_nudges(self, telegram: TelegramChannel | None, slack: SlackChannel | None) -> None:
        """The weekly nudges' tick, once the channels that deliver them are up."""
        nudges = self.app.nudges
        couriers: dict[str, Courier] = {}
        if telegram is not None:
            couriers["telegram"] = telegram
        if slack is not None:
            couriers["slack"] = slack
        if nudges is None or not couriers:
            return
        from bot.nudges.dispatcher import Dispatcher

        self.step = "nudges"
        self.dispatcher = Dispatcher(nudges, couriers, utcnow)
        self.dispatcher.start(self.config.settings.nudges.tick_seconds)
        self.app.service.on_told = self.dispatcher.wake
        self.started.append("weekly nudges")

    def _start_digests(self, telegram: TelegramChannel | None, slack: SlackChannel | None) -> None:
        """The team digest's tick, if the config names a place to post it."""
        settings = self.config.settings
        lessons = settings.lessons
        places = {*lessons.post_to, *(p for o in lessons.organisations.values() for p in o.post_to)}
        if lessons.digest == "off" or not places:
            return
        from bot.lessons.sender import DigestSender, Poster
        from bot.lessons.settings import themes_from

        posters: dict[str, Poster] = {}
        if telegram is not None:
            posters["telegram"] = telegram
        if slack is not None:
            posters["slack"] = slack
        self.step = "digests"
        self.digests = DigestSender(
            self.app.store,
            lessons,
            themes_from(lessons),
            posters,
            utcnow,
            default_zone=settings.nudges.timezone,
        )
        self.digests.start()
        self.started.append("team digests")

    def _telegram(self, settings: TelegramSettings) -> TelegramChannel:
        # Imported here: a platform's library is loaded only when it is configured.
        from bot.channels.telegram import TelegramChannel

        return TelegramChannel(
            self.app.service,
            token=settings.token,
            base_url=settings.base_url,
            allowed_user_ids=settings.allowed_user_ids,
        )

    def _slack(self, settings: SlackSettings) -> SlackChannel:
        from bot.channels.slack import SlackChannel

        return SlackChannel(
            self.app.service,
            bot_token=settings.bot_token,
            allowed_team_ids=settings.allowed_team_ids,
            api_base_url=settings.api_base_url,
            signing_secret=settings.signing_secret,
        )

    async def _start_web(
        self, telegram: TelegramChannel | None, slack: SlackChannel | None
    ) -> None:
        from bot.web import build_app as build_web_app
        from bot.web import start_server

        settings = self.config.settings
        tg, sl = settings.telegram, settings.slack
        web_app = build_web_app(
            telegram_path=tg.path if tg is not None and tg.needs_web else None,
            telegram=telegram.receive if telegram is not None else None,
            slack_path=sl.path if sl is not None and sl.needs_web else None,
            slack=slack.handle_http if slack is not None else None,
        )
        self.step = "web"
        self.server = await start_server(web_app, settings.web.listen, self.config.web_port)

    async def stop(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()  # a tick under way finishes its deliveries
        if self.digests is not None:
            await self.digests.stop()
        if self.server is not None:
            await self.server.stop()
        results = await asyncio.gather(
            *(channel.stop() for channel in reversed(self.channels)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("a channel did not stop cleanly: %s", self._clean(str(result)))

    def summary(self) -> str:
        where = ""
        if self.server is not None:
            web = self.config.settings.web
            where = f"; web server on {web.listen}:{self.config.web_port} (/healthz)"
        return (
            f"Critical Friend is running: {', '.join(self.started)}{where}. "
            "Ctrl-C or SIGTERM stops it."
        )

    def describe(self, error: Exception) -> str:
        """One sentence for a person: where starting failed, and what to check."""
        if self.step == "web":
            web = self.config.settings.web
            where = f"{web.listen}:{self.config.web_port}"
            if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
                return (
                    f"web server: port {self.config.web_port} is already in use on {where}; "
                    "stop the other program or set web.port"
                )
            if isinstance(error, OSError) and error.errno is not None:
                return f"web server: cannot listen on {where}: {os.strerror(error.errno)}"
            return f"web server: cannot listen on {where}: {self._clean(str(error))}"
        code = _slack_error_code(error)
        if code is not None:
            method = _slack_method(error)
            token = "slack.app_token" if method == "apps.connections.open" else "slack.bot_token"
            hint = f"; check {token}" if code in _SLACK_TOKEN_ERRORS else ""
            return f"slack: Slack answered {method or 'a request'} with {code}{hint}"
        if type(error).__name__ == "InvalidToken":  # python-telegram-bot's; it quotes the token
            return "telegram: Telegram refused the bot token; check telegram.token"
        reason = self._clean(str(error)) or type(error).__name__
        return f"{self.step}: could not start: {reason}"

    def _clean(self, text: str) -> str:
        """The first line of a library's message, with any configured secret taken out."""
        line = text.strip().splitlines()[0] if text.strip() else ""
        for secret in self.secrets:
            line = line.replace(secret, "[secret]")
        return line


_SLACK_TOKEN_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
}


def _slack_error_code(error: BaseException) -> str | None:
    """The `error` of a Slack Web API answer ({"ok": false, ...}), read without importing
    slack_sdk, whose SlackApiError carries the answer as `response`."""
    response = getattr(error, "response", None)
    try:
        code = response.get("error") if response is not None else None
    except (AttributeError, TypeError):
        return None
    return code if isinstance(code, str) else None


def _slack_method(error: BaseException) -> str | None:
    url = getattr(getattr(error, "response", None), "api_url", None)
    return url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) and url else None


def _chat(app: App, args: argparse.Namespace) -> int:
    channel = TerminalChannel(
        app.service.handle, user_from(args.user), json_mode=getattr(args, "json", False)
    )
    with contextlib.suppress(KeyboardInterrupt):
        dialogue = WRITE_DIALOGUE if args.command == "write" else getattr(args, "dialogue", None)
        asyncio.run(channel.run(dialogue))
    return EXIT_OK


def _journal(app: App, args: argparse.Namespace) -> int:
    user = user_from(args.user)
    if args.action == "show" or args.id is not None:
        if args.id is None:
            print("Which reflection? For example: critical-friend journal show 3", file=sys.stderr)
            return EXIT_FIX_FIRST
        record = asyncio.run(app.service.reflection(user, args.id))
        if record is None:
            print(f"There is no reflection {args.id} in this journal.", file=sys.stderr)
            return EXIT_PROBLEMS
        print(journal.render_one(record, app.catalog, args.format))
        return EXIT_OK
    entries = asyncio.run(app.service.journal(user))
    print(journal.render_list(entries, app.catalog, args.format))
    return EXIT_OK


def _export(app: App, args: argparse.Namespace) -> int:
    """The worker's data as JSON at --out and Markdown beside it (an admin answering a
    subject access request, or a worker at their own terminal)."""
    from bot.care import export
    from bot.store import subject_access

    user = user_from(args.user)
    now = utcnow()
    with app.store.transaction() as tx:
        user_id = tx.find_user(user)
        if user_id is None:
            print(f"Nobody called {user.external_id} has used the bot here.", file=sys.stderr)
            return EXIT_PROBLEMS
        as_json, as_markdown = export.attachments(
            subject_access.collect(tx, user_id), app.catalog, now
        )
        audit.record(tx.connection, now, "export", f"user:{user_id}", actor=audit.ADMIN)
    out: Path = args.out
    markdown_path = out.with_suffix(".md") if out.suffix != ".md" else out.with_suffix(".md.md")
    try:
        for path, attachment in ((out, as_json), (markdown_path, as_markdown)):
            # Made readable by the owner alone from the start, not narrowed afterwards.
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(handle, "wb") as file:
                file.write(attachment.content)
    except OSError as error:
        print(f"critical-friend: cannot write {out}: {error.strerror}", file=sys.stderr)
        return EXIT_FIX_FIRST
    print(f"Wrote {out} and {markdown_path} (readable only by you: they hold what was written).")
    return EXIT_OK


def _nudge_status(config: Config, fmt: str) -> int:
    """Counts of the scheduled messages by kind and state: enough to see that nudges go
    out, fail or are skipped, and nothing about who or what."""
    from bot.store.deliveries import KINDS, DeliveryBook

    engine = open_database(config)
    try:
        with engine.connect() as connection:
            book = DeliveryBook(connection)
            counts = {kind: book.counts(kind) for kind in KINDS}
    finally:
        engine.dispose()
    if fmt == "json":
        print(json.dumps(counts, indent=2))
        return EXIT_OK
    statuses = list(next(iter(counts.values())))
    print(f"{'':16}" + "".join(f"{status:>10}" for status in statuses))
    for kind, counted in counts.items():
        print(f"{kind:16}" + "".join(f"{counted[status]:>10}" for status in statuses))
    return EXIT_OK


def _audit(config: Config, fmt: str) -> int:
    """The newest 200 lines of the audit log: when, who (worker, admin or system), what."""
    engine = open_database(config)
    try:
        with engine.connect() as connection:
            entries = audit.recent(connection)
    finally:
        engine.dispose()
    if fmt == "json":
        print(
            json.dumps(
                [
                    {
                        "at": e.at.isoformat(),
                        "actor": e.actor,
                        "action": e.action,
                        "subject": e.subject,
                    }
                    for e in entries
                ],
                indent=2,
            )
        )
        return EXIT_OK
    if not entries:
        print("The audit log is empty.")
    for entry in entries:
        print(
            f"{entry.at:%Y-%m-%d %H:%M:%S}  {entry.actor:<6}  {entry.action:<14}  {entry.subject}"
        )
    return EXIT_OK


def _import_people(config: Config, path: Path, organisation: str | None) -> int:
    from bot.peer.people import PeopleError, import_people, read_people

    try:
        rows = read_people(path)
    except PeopleError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return EXIT_FIX_FIRST
    app = build_app(config)
    now = utcnow()
    try:
        with app.store.transaction() as tx:
            if organisation:
                organisation_id = InviteBook(tx.connection).organisation(
                    organisation, config.settings.organisation_name, now
                )
            else:
                organisation_id = tx.default_organisation(now)
            done = import_people(tx, rows, organisation_id, now, path)
            audit.record(
                tx.connection,
                now,
                "people_import",
                f"organisation:{organisation_id}",
                actor=audit.ADMIN,
            )
    except PeopleError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return EXIT_FIX_FIRST
    finally:
        app.close()
    print(f"{done.added} people added and {done.updated} updated, from {path}.")
    return EXIT_OK


def _invite(config: Config, args: argparse.Namespace) -> int:
    engine = open_database(config)
    now = utcnow()
    try:
        with engine.begin() as connection:
            book = InviteBook(connection)
            if args.action == "create":
                invite_id, code = book.create(
                    args.org,
                    now,
                    default_name=config.settings.organisation_name,
                    expires_in_days=args.expires,
                    max_uses=args.uses,
                )
                audit.record(
                    connection, now, "invite_create", f"invite:{invite_id}", actor=audit.ADMIN
                )
                whom = (args.org or config.settings.organisation_name).strip()
                print(f"Invitation {invite_id} for {whom}. Its code (shown only now): {code}")
                print(
                    f"Telegram link: https://t.me/YOUR_BOT?start={code} (use your bot's username)"
                )
                return EXIT_OK
            if args.action == "revoke":
                if book.revoke(args.id, now):
                    audit.record(
                        connection, now, "invite_revoke", f"invite:{args.id}", actor=audit.ADMIN
                    )
                    print(f"Invitation {args.id} is withdrawn; nobody can join with it any more.")
                    return EXIT_OK
                print(f"There is no open invitation {args.id}.", file=sys.stderr)
                return EXIT_PROBLEMS
            _print_invites(book.all(), now, args.format)
            return EXIT_OK
    finally:
        engine.dispose()


def _print_invites(found: list[Invite], now: datetime, fmt: str) -> None:
    if fmt == "json":
        print(
            json.dumps(
                [
                    {
                        "id": i.id,
                        "organisation": i.organisation,
                        "created_at": i.created_at.isoformat(),
                        "expires_at": i.expires_at.isoformat() if i.expires_at else None,
                        "max_uses": i.max_uses,
                        "uses": i.uses,
                        "status": i.status(now),
                    }
                    for i in found
                ],
                indent=2,
            )
        )
        return
    if not found:
        print("No invitations yet. Make one with: critical-friend invite create --org NAME")
        return
    for i in found:
        limit = f"{i.uses} of {i.max_uses} used" if i.max_uses else f"{i.uses} used"
        until = f", until {i.expires_at:%Y-%m-%d}" if i.expires_at else ""
        print(f"{i.id:>4}  {i.organisation}  {i.status(now)}  ({limit}{until})")


def _check_dialogues(paths: list[Path]) -> int:
    folders = paths or [default_dialogues()]
    files = dialogue_files(folders)
    coaches = coach_files(folders)  # dialogues/coach.yaml: the coaching follow-ups
    if not files and not coaches:
        print(f"No dialogue files (*.yaml) found in {', '.join(map(str, folders))}.")
        return EXIT_PROBLEMS
    problems = 0
    for file in files:
        try:
            load_dialogue(file)
        except DialogueError as error:
            for problem in error.problems:
                print(problem)
                problems += 1
    coach_broken = [problem for file in coaches for problem in coach_problems(file)]
    for problem in coach_broken:
        print(problem)
    problems += len(coach_broken)
    checked = len(files) + len(coaches)
    if problems:
        print(f"{problems} problem(s) in {checked} file(s).", file=sys.stderr)
        # Broken coaching rules must be fixed first: the bot would run without them.
        return EXIT_FIX_FIRST if coach_broken else EXIT_PROBLEMS
    rules = " and the coaching rules" if coaches else ""
    print(f"{len(files)} dialogue file(s){rules} checked: all good.", file=sys.stderr)
    return EXIT_OK


def _check_guides(paths: list[Path]) -> int:
    """Guide files, and that each model they offer is one of the shipped dialogues: one
    `file:line: problem` a line, exit 2 when there is anything to fix."""
    from bot import guides

    folders = paths or [guides.default_folder()]
    count, problems = guides.check(folders, load_catalog([default_dialogues()]))
    if not count:
        print(f"No guide files (*.md) found in {', '.join(map(str, folders))}.")
        return EXIT_FIX_FIRST
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {count} guide file(s).", file=sys.stderr)
        return EXIT_FIX_FIRST
    print(f"{count} guide file(s) checked: all good.", file=sys.stderr)
    return EXIT_OK


def _configure_logging(level: str) -> None:
    # Platform libraries log payloads and tokens; bot.logs keeps those out at every level.
    logs.configure(level)


def _utf8_output() -> None:
    # Emoji and right-to-left text must print intact even under a C locale.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.encoding.lower() != "utf-8":
            stream.reconfigure(encoding="utf-8", errors="replace")
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
