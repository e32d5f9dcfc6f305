"""How fast is one turn of a reflection, and how fast does the bot start?

Run from the repository root:

    python bench/bench_turns.py [--turns N] [--json] [--check]

What is measured, in one run on one machine:

1. SQLite, service: turns per second through `ConversationService.handle_now`, on a
   real database file opened exactly as the application opens it (`open_engine` +
   `upgrade`: WAL, synchronous=FULL, busy timeout, foreign keys, BEGIN IMMEDIATE).
   The worker answers a generated dialogue of many free-text questions (no follow-up
   probes), so almost every turn is a full transaction that stores an encrypted
   answer; when the dialogue ends the next turn starts it again.
2. SQLite, raw: a plain `sqlite3` loop with the same pragmas that inserts one
   ~200-byte row per `BEGIN IMMEDIATE ... COMMIT`, on a separate file. This is the
   floor: what one durable write costs on this disk with this Python.
3. The ratio service turns/s / raw inserts/s. Absolute rates depend on the machine;
   measured in the same run, the machine's speed cancels out of the ratio, so it says
   how much the service adds on top of the database's own cost per transaction. The
   two loops alternate in rounds (default 20), so a slow patch of the disk or a busy
   moment of the machine lands on both loops instead of on one; the middle half of
   the per-round ratios is printed too, to show how much they vary.
4. The same on PostgreSQL (a throwaway server from `tests/postgres_server.py`,
   against a raw psycopg loop that inserts one row and commits per iteration on one
   connection). Skipped, with a line saying why, when no server can be started.
5. p50 and p95 latency of one service turn.
6. The peak resident memory of this process.
7. The time from starting `python -m bot chat --json` to its first prompt line,
   on a fresh home folder (cold: creates the database and the key) and again on the
   now-existing one (warm: the median of several runs).

A benchmark reports; it does not fail. The exit code is 0 unless `--check` is
given and a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import (  # noqa: E402
    CONFIG_ENV,
    DATABASE_ENV,
    HOME_ENV,
    FriendConfig,
)
from bot.dialogues import Catalog, load_catalog  # noqa: E402
from bot.messages import Incoming, IncomingKind, Reply, UserRef  # noqa: E402
from bot.peer.commands import Peer  # noqa: E402
from bot.service import ConversationService  # noqa: E402
from bot.store.crypto import KEYS_ENV, Cipher, generate_key  # noqa: E402
from bot.store.db import SQLITE_PRAGMAS, open_engine, upgrade  # noqa: E402
from bot.store.repository import Store  # noqa: E402
from tests.postgres_server import (  # noqa: E402
    PostgresServer,
    PostgresUnavailable,
    start_postgres,
)

DIALOGUE_ID = "bench_long"
# About 200 characters, like a considered answer typed on a phone.
ANSWER = (
    "The visit went ahead as planned and the family were at home. The mother was "
    "tired but willing to talk, and the young person showed me their drawings. "
    "I felt calmer than last time. (turn {n:06d})"
)
RAW_ROW = "x" * 200
START_TIMEOUT_S = 60.0

TARGET_RATIO = 0.25
TARGET_P95_MS = 20.0
TARGET_START_S = 1.0


class BenchError(Exception):
    """The benchmark could not measure something (not a missed target)."""


# ---- results ------------------------------------------------------------------


@dataclass
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class ServiceRun:
    rate: Rate
    latencies_ms: list[float]
    answers: int  # how many of the measured turns stored an answer

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]


@dataclass
class Backend:
    name: str
    service: ServiceRun | None = None
    raw: Rate | None = None
    round_ratios: list[float] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ratio(self) -> float | None:
        """Service turns/s over raw inserts/s, each rate taken over all the rounds. The
        rounds alternate the two loops, so a slow patch of the disk or a busy moment of
        the machine falls on both sides of the ratio."""
        if self.service is None or self.raw is None:
            return None
        return self.service.rate.per_second / self.raw.per_second

    def ratio_spread(self) -> tuple[float, float]:
        """The middle half of the per-round ratios (25th to 75th percentile)."""
        quartiles = statistics.quantiles(self.round_ratios, n=4, method="inclusive")
        return quartiles[0], quartiles[2]


@dataclass
class Startup:
    cold_s: float
    warm_s: list[float] = field(default_factory=list)

    @property
    def warm_median_s(self) -> float:
        return statistics.median(self.warm_s)


@dataclass
class Target:
    name: str
    wanted: str
    value: float
    unit: str
    met: bool


# ---- the dialogue and the simulated worker ---------------------------------------


def write_dialogue(folder: Path, steps: int) -> Catalog:
    """A dialogue of `steps` free-text questions with no follow-up, loaded as a catalog."""
    lines = [
        "title: Benchmark",
        "description: Many free-text questions, so that most turns store an answer.",
        "minutes: 30",
        "steps:",
    ]
    for number in range(1, steps + 1):
        lines += [f"  - id: q{number:03d}", f"    prompt: Question {number}, what happened next?"]
    (folder / f"{DIALOGUE_ID}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    catalog = load_catalog([folder])
    if catalog.problems or DIALOGUE_ID not in catalog.dialogues:
        raise BenchError(f"the generated dialogue does not load: {catalog.problems}")
    return catalog


class SimulatedWorker:
    """Starts the dialogue when idle, otherwise answers the open question."""

    def __init__(self, service: ConversationService) -> None:
        self.service = service
        self.user = UserRef("terminal", "bench", "Bench")
        self.reply_token: str | None = None
        self.sequence = 0

    def next_incoming(self) -> Incoming:
        self.sequence += 1
        event_id = f"bench-{self.sequence}"
        if self.reply_token is None:
            return Incoming(event_id, self.user, IncomingKind.START, DIALOGUE_ID)
        return Incoming(
            event_id,
            self.user,
            IncomingKind.TEXT,
            ANSWER.format(n=self.sequence),
            in_reply_to=self.reply_token,
        )

    def take(self, incoming: Incoming, reply: Reply) -> None:
        if reply.failed or reply.duplicate:
            text = " ".join(message.text for message in reply.messages)
            raise BenchError(f"turn {incoming.event_id} did not go through: {text}")
        tokens = [m.reply_token for m in reply.messages if m.reply_token is not None]
        # No new question means the reflection finished: the next turn starts another.
        self.reply_token = tokens[-1] if tokens else None

    def turn(self) -> tuple[float, bool]:
        """One timed turn: (seconds, whether it was an answer)."""
        incoming = self.next_incoming()
        started = time.perf_counter()
        reply = self.service.handle_now(incoming)
        elapsed = time.perf_counter() - started
        self.take(incoming, reply)
        return elapsed, incoming.kind is IncomingKind.TEXT


class ServiceLoop:
    """The conversation service on a real database, driven by a simulated worker."""

    def __init__(self, url: str, catalog: Catalog, warmup: int) -> None:
        engine = open_engine(url)
        upgrade(engine)
        self.store = Store(engine, Cipher([generate_key()]))
        # Critical friends on, as `build_app` has them by default: every turn also looks
        # for notices waiting for the worker.
        peer = Peer(FriendConfig(), catalog, "Europe/London")
        self.worker = SimulatedWorker(ConversationService(self.store, catalog, peer=peer))
        self.latencies_ms: list[float] = []
        self.answers = 0
        for _ in range(warmup):
            self.worker.turn()

    def run(self, turns: int) -> Rate:
        started = time.perf_counter()
        for _ in range(turns):
            seconds, answered = self.worker.turn()
            self.latencies_ms.append(seconds * 1000)
            self.answers += answered
        return Rate(turns, time.perf_counter() - started)

    def close(self) -> None:
        self.store.dispose()


def timed_loop(insert_one: Callable[[], None], rows: int) -> Rate:
    started = time.perf_counter()
    for _ in range(rows):
        insert_one()
    return Rate(rows, time.perf_counter() - started)


def now_text() -> str:
    return datetime.now(UTC).isoformat()


class RawSqliteLoop:
    """Plain sqlite3: one ~200-byte row per BEGIN IMMEDIATE ... COMMIT, same pragmas."""

    def __init__(self, path: Path, warmup: int) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        # Exactly the application's pragmas, so the two loops pay the same per commit.
        for pragma in SQLITE_PRAGMAS:
            self.connection.execute(pragma)
        self.connection.execute(
            "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, "
            "body TEXT NOT NULL)"
        )
        self.run(warmup)

    def insert_one(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.execute(
            "INSERT INTO bench_rows (created_at, body) VALUES (?, ?)", (now_text(), RAW_ROW)
        )
        self.connection.execute("COMMIT")

    def run(self, rows: int) -> Rate:
        return timed_loop(self.insert_one, rows)

    def close(self) -> None:
        self.connection.close()


class RawPostgresLoop:
    """Plain psycopg on one connection: insert one ~200-byte row, commit."""

    def __init__(self, conninfo: str, warmup: int) -> None:
        import psycopg

        self.connection = psycopg.connect(conninfo)
        self.connection.execute(
            "CREATE TABLE bench_rows (id BIGSERIAL PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL, "
            "body TEXT NOT NULL)"
        )
        self.connection.commit()
        self.run(warmup)

    def insert_one(self) -> None:
        self.connection.execute(
            "INSERT INTO bench_rows (created_at, body) VALUES (%s, %s)",
            (datetime.now(UTC), RAW_ROW),
        )
        self.connection.commit()

    def run(self, rows: int) -> Rate:
        return timed_loop(self.insert_one, rows)

    def close(self) -> None:
        self.connection.close()


def interleave(
    name: str, service: ServiceLoop, raw: RawSqliteLoop | RawPostgresLoop, turns: int, rounds: int
) -> Backend:
    """Alternate the two loops in `rounds` rounds of turns/rounds each; one ratio per round."""
    per_round = max(1, turns // rounds)
    service_rates: list[Rate] = []
    raw_rates: list[Rate] = []
    for _ in range(rounds):
        raw_rates.append(raw.run(per_round))
        service_rates.append(service.run(per_round))
    total_service = Rate(sum(r.count for r in service_rates), sum(r.seconds for r in service_rates))
    total_raw = Rate(sum(r.count for r in raw_rates), sum(r.seconds for r in raw_rates))
    return Backend(
        name,
        service=ServiceRun(total_service, service.latencies_ms, service.answers),
        raw=total_raw,
        round_ratios=[
            s.per_second / r.per_second for s, r in zip(service_rates, raw_rates, strict=True)
        ],
    )


# ---- the two backends -------------------------------------------------------------


def bench_sqlite(catalog: Catalog, folder: Path, args: argparse.Namespace) -> Backend:
    service = ServiceLoop(f"sqlite:///{folder / 'service.db'}", catalog, args.warmup)
    raw = RawSqliteLoop(folder / "raw.db", args.warmup)
    try:
        return interleave("SQLite", service, raw, args.turns, args.rounds)
    finally:
        service.close()
        raw.close()


def postgres_conninfo(server: PostgresServer, database: str) -> str:
    return f"host=127.0.0.1 port={server.port} user=postgres dbname={database}"


def create_database(server: PostgresServer, name: str) -> None:
    import psycopg

    with psycopg.connect(postgres_conninfo(server, "postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')


def bench_postgres(catalog: Catalog, args: argparse.Namespace) -> Backend:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return Backend("PostgreSQL", skipped="the psycopg driver is not installed")
    try:
        server = start_postgres()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as error:
        return Backend("PostgreSQL", skipped=f"PostgreSQL could not be started: {error}")
    try:
        create_database(server, "cf_bench_service")
        create_database(server, "cf_bench_raw")
        service = ServiceLoop(server.url("cf_bench_service"), catalog, args.warmup)
        raw = RawPostgresLoop(postgres_conninfo(server, "cf_bench_raw"), args.warmup)
        try:
            return interleave("PostgreSQL", service, raw, args.turns, args.rounds)
        finally:
            service.close()
            raw.close()
    finally:
        server.stop()


# ---- start-up time ------------------------------------------------------------------


def chat_environment(home: Path) -> dict[str, str]:
    """This environment without any setting that would move the bot off its default database."""
    env = {k: v for k, v in os.environ.items() if k not in {CONFIG_ENV, DATABASE_ENV, KEYS_ENV}}
    env[HOME_ENV] = str(home)
    return env


def is_prompt(line: str) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("type") == "prompt"


def time_to_first_prompt(home: Path) -> float:
    """Seconds from launching `chat --json` to its first prompt line; then end it by EOF."""
    command = [sys.executable, "-m", "bot", "chat", "--json", "--user", "bench"]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=chat_environment(home),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            encoding="utf-8",
        )
        assert process.stdin is not None
        assert process.stdout is not None
        watchdog = threading.Timer(START_TIMEOUT_S, process.kill)
        watchdog.start()
        elapsed: float | None = None
        try:
            for line in iter(process.stdout.readline, ""):
                if is_prompt(line):
                    elapsed = time.perf_counter() - started
                    break
            process.stdin.close()
            process.stdout.read()
            code = process.wait(timeout=START_TIMEOUT_S)
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if elapsed is None:
            errors.seek(0)
            tail = errors.read().strip()[-500:]
            raise BenchError(f"`chat --json` exited with {code} before its first prompt: {tail}")
        return elapsed


def measure_startup(folder: Path, warm_runs: int) -> Startup:
    home = folder / "home"
    startup = Startup(cold_s=time_to_first_prompt(home))
    startup.warm_s = [time_to_first_prompt(home) for _ in range(warm_runs)]
    return startup


# ---- targets and output -------------------------------------------------------------


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def targets(backends: list[Backend], startup: Startup) -> list[Target]:
    found: list[Target] = []
    for backend in backends:
        if backend.service is None or backend.ratio is None:
            continue
        ratio = backend.ratio
        p95 = backend.service.percentile(95)
        if backend.name == "SQLite":
            # The ratio target is SQLite's: on PostgreSQL every statement is a network
            # round trip the one-insert loop does not make, so its ratio is reported only.
            found.append(
                Target(
                    f"{backend.name} service/raw ratio",
                    f">= {TARGET_RATIO}",
                    ratio,
                    "",
                    ratio >= TARGET_RATIO,
                )
            )
        found.append(
            Target(
                f"{backend.name} turn latency p95",
                f"<= {TARGET_P95_MS:g} ms",
                p95,
                "ms",
                p95 <= TARGET_P95_MS,
            )
        )
    found.append(
        Target(
            "chat --json cold start",
            f"<= {TARGET_START_S:g} s",
            startup.cold_s,
            "s",
            startup.cold_s <= TARGET_START_S,
        )
    )
    warm = startup.warm_median_s
    found.append(
        Target(
            "chat --json warm start (median)",
            f"<= {TARGET_START_S:g} s",
            warm,
            "s",
            warm <= TARGET_START_S,
        )
    )
    return found


def backend_json(backend: Backend) -> dict[str, Any]:
    if backend.service is None or backend.raw is None:
        return {"skipped": backend.skipped}
    service = backend.service
    return {
        "service_turns": service.rate.count,
        "service_answer_turns": service.answers,
        "service_seconds": round(service.rate.seconds, 3),
        "service_turns_per_s": round(service.rate.per_second, 1),
        "raw_inserts": backend.raw.count,
        "raw_seconds": round(backend.raw.seconds, 3),
        "raw_inserts_per_s": round(backend.raw.per_second, 1),
        "ratio": round(backend.ratio or 0.0, 4),
        "round_ratio_middle_half": [round(x, 4) for x in backend.ratio_spread()],
        "p50_ms": round(service.percentile(50), 3),
        "p95_ms": round(service.percentile(95), 3),
    }


def report_json(
    backends: list[Backend], startup: Startup, found: list[Target], args: argparse.Namespace
) -> str:
    report = {
        "turns": args.turns,
        "warmup": args.warmup,
        "dialogue_steps": args.steps,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        **{backend.name.lower(): backend_json(backend) for backend in backends},
        "startup": {
            "cold_s": round(startup.cold_s, 3),
            "warm_median_s": round(startup.warm_median_s, 3),
            "warm_runs_s": [round(s, 3) for s in startup.warm_s],
        },
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "targets": [
            {
                "name": t.name,
                "target": t.wanted,
                "value": round(t.value, 4),
                "met": t.met,
            }
            for t in found
        ],
        "all_targets_met": all(t.met for t in found),
    }
    return json.dumps(report, indent=2)


def report_text(
    backends: list[Backend], startup: Startup, found: list[Target], args: argparse.Namespace
) -> str:
    lines = [
        f"Critical Friend turn benchmark: {args.turns} turns in {args.rounds} rounds "
        f"after {args.warmup} warm-up, "
        f"{args.steps}-question dialogue, Python {sys.version.split()[0]}, "
        f"SQLite {sqlite3.sqlite_version}",
        "",
        f"{'backend':<11} {'service turns/s':>15} {'raw inserts/s':>14} {'ratio':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8}",
    ]
    for backend in backends:
        if backend.service is None or backend.raw is None:
            lines.append(f"{backend.name:<11} skipped: {backend.skipped}")
            continue
        service = backend.service
        lines.append(
            f"{backend.name:<11} {service.rate.per_second:>15.1f} {backend.raw.per_second:>14.1f} "
            f"{backend.ratio or 0.0:>7.3f} {service.percentile(50):>8.2f} "
            f"{service.percentile(95):>8.2f}"
        )
    answered = [
        f"{b.name}: {b.service.answers} of {b.service.rate.count}"
        for b in backends
        if b.service is not None
    ]
    spreads = [
        f"{b.name} {low:.3f}-{high:.3f}"
        for b in backends
        if b.round_ratios
        for low, high in [b.ratio_spread()]
    ]
    lines += [
        f"(turns that stored an answer: {', '.join(answered)})",
        f"(middle half of the per-round ratios: {', '.join(spreads)})",
        "",
        f"chat --json to first prompt: cold {startup.cold_s:.3f} s, "
        f"warm median {startup.warm_median_s:.3f} s "
        f"(runs: {', '.join(f'{s:.3f}' for s in startup.warm_s)})",
        f"peak RSS of this process: {peak_rss_mib():.1f} MiB",
        "",
        "targets",
    ]
    for target in found:
        verdict = "PASS" if target.met else "MISS"
        value = f"{target.value:.3f}{(' ' + target.unit) if target.unit else ''}"
        lines.append(f"  {verdict}  {target.name:<34} {value:>12}   (target {target.wanted})")
    return "\n".join(lines)


# ---- main -------------------------------------------------------------------------------


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=4000, help="measured turns (default 4000)")
    parser.add_argument(
        "--rounds", type=int, default=20, help="alternating rounds of both loops (default 20)"
    )
    parser.add_argument("--warmup", type=int, default=100, help="warm-up turns (default 100)")
    parser.add_argument("--steps", type=int, default=40, help="questions in the dialogue")
    parser.add_argument("--warm-starts", type=int, default=5, help="warm start-up runs")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL part")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.turns < 2 * args.rounds:
        parser.error("--rounds must be >= 1 and --turns at least twice --rounds")
    if args.turns < 2 or args.warmup < 0 or args.steps < 1 or args.warm_starts < 1:
        parser.error("--turns must be >= 2, --steps and --warm-starts >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    progress = (lambda text: None) if args.json else (lambda text: print(text, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="cf-bench-") as temp:
        folder = Path(temp)
        (folder / "dialogues").mkdir()
        catalog = write_dialogue(folder / "dialogues", args.steps)
        progress("measuring SQLite ...")
        backends = [bench_sqlite(catalog, folder, args)]
        if args.no_postgres:
            backends.append(Backend("PostgreSQL", skipped="--no-postgres was given"))
        else:
            progress("measuring PostgreSQL ...")
            backends.append(bench_postgres(catalog, args))
        progress("measuring chat --json start-up ...")
        startup = measure_startup(folder, args.warm_starts)
    found = targets(backends, startup)
    render = report_json if args.json else report_text
    print(render(backends, startup, found, args))
    return 1 if args.check and not all(t.met for t in found) else 0


if __name__ == "__main__":
    raise SystemExit(main())
