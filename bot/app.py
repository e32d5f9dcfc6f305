"""The composition root: turns a `Config` into a running service.

Every expected start-up failure becomes a `StartupError` with a sentence for a
person; the command line prints it and exits with code 2.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.care.retention import Retention
from bot.care.settings import care_from
from bot.config import Config
from bot.cpd.chat import Policy
from bot.cpd.year import YearStart
from bot.dialogues import Catalog, load_catalog
from bot.lessons.settings import lessons_from
from bot.nudges.planner import NudgeDefaults, Nudges
from bot.peer.commands import Peer
from bot.service import ConversationService
from bot.store.crypto import KEYS_ENV, Cipher, KeyringError, keys_from_env, load_or_create_key_file
from bot.store.db import DatabaseError, has_workers, open_engine, sqlite_path, upgrade
from bot.store.repository import Store

log = logging.getLogger(__name__)
KEY_FILE_NAME = "secret.key"


class StartupError(Exception):
    """Something a person must fix before the bot can start; the message says what."""


@dataclass(slots=True)
class App:
    config: Config
    store: Store
    catalog: Catalog
    service: ConversationService
    nudges: Nudges | None = None

    def close(self) -> None:
        self.service.close()
        self.store.dispose()


def key_file_for(database_url: str) -> Path | None:
    path = sqlite_path(database_url)
    return path.parent / KEY_FILE_NAME if path is not None else None


def load_cipher(
    config: Config,
    environ: Mapping[str, str],
    announce: Callable[[str], None],
    *,
    may_create_key: bool,
) -> Cipher:
    keys = keys_from_env(dict(environ))
    if not keys:
        key_file = key_file_for(config.database_url)
        if key_file is None:
            raise StartupError(
                f"{KEYS_ENV} is not set. A shared database needs its encryption keys from the "
                "environment: make one with `critical-friend keys generate`."
            )
        if not key_file.exists() and not may_create_key:
            # A new key would make every stored reflection unreadable; say so instead.
            raise StartupError(
                f"the encryption key file {key_file} is missing, but this database already "
                "holds reflections. Put the key file back (from your backup), or set "
                f"{KEYS_ENV} to the key. No new key was made."
            )
        try:
            keys, created = load_or_create_key_file(key_file)
        except OSError as error:
            raise StartupError(f"cannot create the key file {key_file}: {error.strerror}") from None
        except KeyringError as error:
            raise StartupError(str(error)) from None
        if created:
            announce(
                f"Created an encryption key for your reflections at {key_file} (readable only by you). "
                f"Keep it safe: without it your journal cannot be read. To use your own keys, set {KEYS_ENV}."
            )
    try:
        return Cipher(keys)
    except KeyringError as error:
        raise StartupError(f"{KEYS_ENV}: {error}") from None


def open_database(config: Config) -> Engine:
    try:
        engine = open_engine(config.database_url)
        upgrade(engine)
    except DatabaseError as error:
        raise StartupError(f"database {_safe_url(config.database_url)}: {error}") from None
    return engine


def build_app(
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    announce: Callable[[str], None] | None = None,
) -> App:
    env = os.environ if environ is None else environ
    say = announce or (lambda text: print(text, file=sys.stderr))
    engine = open_database(config)
    cipher = load_cipher(config, env, say, may_create_key=not has_workers(engine))
    catalog = load_catalog([config.dialogues_dir])
    for problem in catalog.problems:
        # A broken dialogue file must not stop the others; its author sees why.
        say(f"{problem} (this dialogue is left out until it is fixed)")
    store = Store(engine, cipher, organisation_name=config.settings.organisation_name)
    peer = peer_from(config, catalog)
    months = config.settings.retention.reflections_months
    retention = Retention(months, catalog) if months is not None else None
    deliveries = nudges_from(config, store, catalog, peer, retention)
    care = care_from(config.settings.care)
    service = ConversationService(
        store,
        catalog,
        max_answer_chars=config.settings.max_answer_chars,
        nudges=deliveries if deliveries is not None and deliveries.weekly else None,
        peer=peer,
        retention=retention,
        care=care,
        lessons=lessons_from(config.settings.lessons, catalog, care.identifiers),
        timezone=config.settings.nudges.timezone,
        admins=config.settings.admins,
        cpd=cpd_from(config),
    )
    return App(config=config, store=store, catalog=catalog, service=service, nudges=deliveries)


def cpd_from(config: Config) -> Policy:
    """What the regulator asks each CPD year (config `cpd:`), for `cpd` in chat and the
    weekly nudge late in the year."""
    return Policy(
        YearStart(*config.settings.cpd.start),
        config.settings.cpd.records_a_year,
        config.settings.cpd.with_peer,
    )


def peer_from(config: Config, catalog: Catalog) -> Peer | None:
    """Critical friends, unless config turns them off."""
    if not config.settings.friends.enabled:
        return None
    return Peer(config.settings.friends, catalog, config.settings.nudges.timezone)


def nudges_from(
    config: Config,
    store: Store,
    catalog: Catalog,
    peer: Peer | None = None,
    retention: Retention | None = None,
) -> Nudges | None:
    """What the delivery tick sends: the weekly nudges with the organisation's defaults,
    unless config turns them off, critical-friend notices and retention notices. None if
    none of them is on."""
    settings = config.settings.nudges
    if not settings.enabled and peer is None and retention is None:
        return None
    defaults = NudgeDefaults(
        weekdays=settings.weekday_numbers,
        at=time.fromisoformat(settings.time),
        timezone=settings.timezone,
        working_days_only=settings.working_days_only,
        grace=timedelta(hours=settings.grace_hours),
    )
    return Nudges(
        store,
        catalog,
        defaults,
        weekly=settings.enabled,
        peer=peer,
        retention=retention,
        cpd=cpd_from(config),
    )


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unreadable URL)"
