"""Shared fixtures: real databases (a SQLite file and a real PostgreSQL server),
the shipped dialogues, and a service wired as the application wires it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.config import FriendConfig
from bot.dialogues import Catalog, load_catalog
from bot.nudges.dispatcher import Dispatcher
from bot.nudges.planner import NudgeDefaults, Nudges
from bot.peer import wording as peer_wording
from bot.peer.commands import Peer
from bot.service import ConversationService
from bot.store.crypto import Cipher, generate_key
from bot.store.db import open_engine, upgrade
from bot.store.repository import Store
from tests.friends import Colleague, colleague, place
from tests.nudging import Courier
from tests.postgres_server import PostgresServer, PostgresUnavailable, start_postgres

ROOT = Path(__file__).resolve().parent.parent
DIALOGUES = ROOT / "dialogues"
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as error:
        if os.environ.get("CI"):
            # In CI the PostgreSQL tests must run: a skip there would hide a broken setup.
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip(f"PostgreSQL not available here: {error}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the test server."""
    name = f"cf_test_{os.getpid()}_{next(_database_numbers)}"
    admin = create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return postgres_server.url(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'critical-friend.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on a SQLite file and on the real PostgreSQL server."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    loaded = load_catalog([DIALOGUES])
    assert not loaded.problems, loaded.problems
    return loaded


@pytest.fixture
def secret_key() -> str:
    return generate_key()


@pytest.fixture
def cipher(secret_key: str) -> Cipher:
    return Cipher([secret_key])


@pytest.fixture
def store(database_url: str, cipher: Cipher) -> Iterator[Store]:
    engine = open_engine(database_url)
    upgrade(engine)
    store = Store(engine, cipher)
    yield store
    store.dispose()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store: Store, catalog: Catalog, clock: Clock) -> Iterator[ConversationService]:
    service = ConversationService(store, catalog, clock=clock)
    yield service
    service.close()


# ---- the weekly nudges (tests/test_nudges.py, tests/test_nudge_settings.py) ----------


@pytest.fixture
def nudges(store: Store, catalog: Catalog) -> Nudges:
    """Friday 14:00 Europe/London for everyone, unless a worker changes it."""
    return Nudges(store, catalog, NudgeDefaults(weekdays=frozenset({4}), at=time(14, 0)))


@pytest.fixture
def chat(
    store: Store, catalog: Catalog, clock: Clock, nudges: Nudges
) -> Iterator[ConversationService]:
    """The conversation service with the nudges switched on."""
    service = ConversationService(store, catalog, clock=clock, nudges=nudges)
    yield service
    service.close()


@pytest.fixture
def courier() -> Courier:
    return Courier()


@pytest.fixture
def dispatcher(nudges: Nudges, courier: Courier, clock: Clock) -> Iterator[Dispatcher]:
    made = Dispatcher(nudges, {"telegram": courier, "slack": courier}, clock, claimant="test")
    yield made
    made.close()


# ---- critical friends (tests/test_friends.py, tests/test_care.py) ------------------------


@pytest.fixture
def peer(catalog: Catalog) -> Peer:
    return Peer(FriendConfig(rounds_every_weeks=2), catalog, "Europe/London")


@pytest.fixture
def deliveries(store: Store, catalog: Catalog, peer: Peer) -> Nudges:
    defaults = NudgeDefaults(weekdays=frozenset({4}), at=time(14, 0))
    return Nudges(store, catalog, defaults, weekly=False, peer=peer)


@pytest.fixture
def friendly(
    store: Store, catalog: Catalog, clock: Clock, peer: Peer, deliveries: Nudges
) -> Iterator[ConversationService]:
    service = ConversationService(store, catalog, clock=clock, peer=peer)
    yield service
    service.close()


@pytest.fixture
def tick(deliveries: Nudges, clock: Clock) -> Iterator[Dispatcher]:
    made = Dispatcher(deliveries, {"telegram": Courier()}, clock, claimant="test")
    yield made
    made.close()


@pytest.fixture
def team(friendly: ConversationService, store: Store) -> dict[str, Colleague]:
    """Sam (North) asks; Lee manages Sam; Kim (South) and Jo (North) are in the pool."""
    people = {name: colleague(friendly, name) for name in ("Sam", "Lee", "Kim", "Jo")}
    place(
        store,
        {
            "Sam": ("North", "Lee"),
            "Lee": ("South", None),
            "Kim": ("South", None),
            "Jo": ("North", None),
        },
    )
    for name in ("Lee", "Kim", "Jo"):
        assert peer_wording.JOINED in people[name].text(people[name].says("friend join"))
    return people


# ---- lessons for the team (tests/test_lessons.py, tests/test_lessons_e2e.py) ---------


@pytest.fixture
def team_service(store: Store, catalog: Catalog, clock: Clock) -> Iterator[ConversationService]:
    """The service with lessons for the team on, as `critical-friend run` has them."""
    from bot.care.identifiers import default_patterns
    from bot.lessons import Lessons, default_themes

    lessons = Lessons(catalog, default_themes(), default_patterns())
    service = ConversationService(store, catalog, clock=clock, lessons=lessons)
    yield service
    service.close()
