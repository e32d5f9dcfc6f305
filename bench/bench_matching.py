"""How long does pairing a round of critical friends take, and what does the sparse graph cost?

Run from the repository root:

    python bench/bench_matching.py [--sizes 200,2000,10000] [--runs 3] [--quality-seeds 5]
                                   [--json] [--check]

What is measured, in one run on one machine (its CPU count and Python are printed):

1. Speed. For each pool size N (default 200, 2,000 and 10,000), a made-up organisation
   (`make_organisation`): teams of 8 to 15 workers, each with a team manager who reports
   to one of a few area managers; 3% with no team recorded, 5% with no manager recorded;
   capacity 1 for most, 2 for one in ten, 0 for one in ten (already at their limit). Its
   history is a year of weekly rounds (52 of them; in each, 70% of the pool is paired at
   random, a fifth of the pairs within a team), the latest date kept for each pair, as
   the store keeps it. `pair_round` is timed end to end (building the weights, the
   candidate graph and the matchings), `--runs` times with different seeds; the median
   is shown, with the round's pairs, trios, deferred, the partnerships in it that repeat
   one within 12 weeks, and the pool's own size and number of history entries. Whether
   the round is *certified optimal* is shown too: everyone with capacity placed and every
   partnership of the round outside the team, never paired before and not a manager
   link, which no round can beat. One `rank_candidates` call over the whole pool is timed
   as well. The target is <= 2 s for 2,000 workers; the ratio seconds / 2 s is printed.
2. Quality. Pools of 200 are small enough for the exact matching on the complete graph.
   For each of four kinds of pool, `--quality-seeds` organisations are paired both ways,
   exactly (`exact_up_to` above the pool) and on the sparse graph (`exact_up_to=0`,
   as pools above `EXACT_UP_TO` are), and the totals compared: people placed, deferred,
   repeats, partnerships within a team, and the summed weeks since each pair last met.
   - "a year": the organisation above.
   - "everyone met": teams of about 40, and every pair in the pool met at a random time
     in the last year (almost one in four within the repeat window): no unremarkable
     partner is left, so the sparse graph stands on each person's next best only.
   - "all met lately": the same, but every pair met within the last 13 weeks, so 12 in
     13 pairs are repeats: a stress test, far from any real organisation.
   - "one big team": half of the pool in a single team, the rest in small ones.

A benchmark reports; it does not fail. The exit code is 0 unless `--check` is given and
the 2,000-worker round takes more than 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.peer.matching import (  # noqa: E402
    EXACT_UP_TO,
    Person,
    Round,
    pair_round,
    rank_candidates,
    same_team,
)

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
REPEAT_WEEKS = 12
TARGET_SIZE = 2000
TARGET_S = 2.0


# ---- made-up organisations ----------------------------------------------------------


def make_people(size: int, rng: random.Random, team_size: Callable[[], int]) -> list[Person]:
    """Teams under managers under area managers; ids are positions."""
    people: list[Person] = []
    areas: list[int] = []
    team_number = 0
    while len(people) < size:
        if not areas or rng.random() < 0.2:  # an area manager for every five teams or so
            areas.append(len(people))
            people.append(Person(len(people), "area", None, capacity(rng)))
            continue
        team_number += 1
        team = f"team {team_number}"
        lead = len(people)
        people.append(Person(lead, team, rng.choice(areas), capacity(rng)))
        for _ in range(team_size() - 1):
            if len(people) >= size:
                break
            recorded_team = None if rng.random() < 0.03 else team
            manager = None if rng.random() < 0.05 else lead
            people.append(Person(len(people), recorded_team, manager, capacity(rng)))
    return people


def capacity(rng: random.Random) -> int:
    draw = rng.random()
    return 0 if draw < 0.1 else 2 if draw < 0.2 else 1


def make_history(
    people: list[Person], rng: random.Random, weeks: int, taking_part: float
) -> dict[frozenset[int], datetime]:
    """`weeks` weekly rounds, oldest first, so each pair keeps its latest date."""
    teams: dict[str | None, list[int]] = {}
    for p in people:
        teams.setdefault(p.team, []).append(p.id)
    history: dict[frozenset[int], datetime] = {}
    ids = [p.id for p in people]
    for week in range(weeks, 0, -1):
        when = NOW - timedelta(weeks=week, hours=rng.randrange(72))
        present = [i for i in ids if rng.random() < taking_part]
        rng.shuffle(present)
        free = set(present)
        for a in present:
            if a not in free:
                continue
            free.discard(a)
            team = teams[people[a].team] if people[a].team is not None else []
            inside = [b for b in team if b in free] if rng.random() < 0.2 else []
            b = rng.choice(inside) if inside else free.pop() if free else None
            if b is None:
                break
            free.discard(b)
            history[frozenset((a, b))] = when
    return history


@dataclass(frozen=True)
class Organisation:
    kind: str
    people: list[Person]
    history: dict[frozenset[int], datetime]


def organisation(kind: str, size: int, seed: int) -> Organisation:
    rng = random.Random(seed)
    if kind == "a year":
        people = make_people(size, rng, lambda: rng.randint(8, 15))
        return Organisation(kind, people, make_history(people, rng, 52, 0.7))
    if kind in ("everyone met", "all met lately"):
        days = 365 if kind == "everyone met" else 13 * 7
        people = make_people(size, rng, lambda: rng.randint(35, 45))
        history = {
            frozenset((a.id, b.id)): NOW - timedelta(days=rng.uniform(0, days))
            for i, a in enumerate(people)
            for b in people[i + 1 :]
        }
        return Organisation(kind, people, history)
    if kind == "one big team":
        people = make_people(size // 2, rng, lambda: size)  # one team of half the pool
        rest = make_people(size - len(people), rng, lambda: rng.randint(8, 15))
        offset = len(people)
        people += [
            Person(
                p.id + offset,
                None if p.team is None else f"small {p.team}",
                None if p.manager_id is None else p.manager_id + offset,
                p.capacity,
            )
            for p in rest
        ]
        return Organisation(kind, people, make_history(people, rng, 52, 0.7))
    raise ValueError(kind)


# ---- what a round is like -------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    pairs: int
    trios: int
    deferred: int
    placed: int
    repeats: int
    within_team: int
    weeks_apart: int  # summed over partnerships, a year or more and never counted as 53
    certified_optimal: bool


def partnerships(result: Round) -> list[tuple[int, int]]:
    edges = list(result.pairs)
    for a, b, c in result.trios:
        edges += [(a, b), (a, c), (b, c)]
    return edges


def summarise(org: Organisation, result: Round) -> Summary:
    by_id = {p.id: p for p in org.people}
    repeats = within_team = weeks_apart = 0
    all_unremarkable = True
    for a, b in partnerships(result):
        last = org.history.get(frozenset((a, b)))
        weeks = 53 if last is None else min(52, (NOW - last) // timedelta(weeks=1))
        repeats += last is not None and NOW - last < timedelta(weeks=REPEAT_WEEKS)
        inside = same_team(by_id[a], by_id[b])
        within_team += inside
        weeks_apart += weeks
        all_unremarkable &= last is None and not inside
    placed = 2 * len(result.pairs) + 3 * len(result.trios)
    return Summary(
        pairs=len(result.pairs),
        trios=len(result.trios),
        deferred=len(result.deferred),
        placed=placed,
        repeats=repeats,
        within_team=within_team,
        weeks_apart=weeks_apart,
        certified_optimal=all_unremarkable and not result.deferred,
    )


# ---- the two measurements ---------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    size: int
    with_capacity: int
    history_entries: int
    seconds: list[float]
    rank_seconds: float
    summary: Summary  # of the first run

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)


def time_size(size: int, runs: int) -> Timing:
    org = organisation("a year", size, seed=size)
    seconds: list[float] = []
    first: Round | None = None
    for seed in range(runs):
        started = time.perf_counter()
        result = pair_round(org.people, org.history, NOW, repeat_weeks=REPEAT_WEEKS, seed=seed)
        seconds.append(time.perf_counter() - started)
        first = first or result
    assert first is not None
    requester = next(p for p in org.people if p.capacity >= 1)
    started = time.perf_counter()
    rank_candidates(requester, org.people, org.history, NOW, repeat_weeks=REPEAT_WEEKS)
    rank_seconds = time.perf_counter() - started
    return Timing(
        size=size,
        with_capacity=sum(p.capacity >= 1 for p in org.people),
        history_entries=len(org.history),
        seconds=seconds,
        rank_seconds=rank_seconds,
        summary=summarise(org, first),
    )


@dataclass(frozen=True)
class Comparison:
    kind: str
    size: int
    exact: Summary  # totals over the seeds
    sparse: Summary
    exact_s: float
    sparse_s: float


def add(a: Summary, b: Summary) -> Summary:
    return Summary(
        pairs=a.pairs + b.pairs,
        trios=a.trios + b.trios,
        deferred=a.deferred + b.deferred,
        placed=a.placed + b.placed,
        repeats=a.repeats + b.repeats,
        within_team=a.within_team + b.within_team,
        weeks_apart=a.weeks_apart + b.weeks_apart,
        certified_optimal=a.certified_optimal and b.certified_optimal,
    )


def compare(kind: str, size: int, seeds: int) -> Comparison:
    totals: dict[str, Summary] = {}
    spent = {"exact": 0.0, "sparse": 0.0}
    for seed in range(seeds):
        org = organisation(kind, size, seed=1000 + seed)
        for way, exact_up_to in (("exact", size + 1), ("sparse", 0)):
            started = time.perf_counter()
            result = pair_round(
                org.people,
                org.history,
                NOW,
                repeat_weeks=REPEAT_WEEKS,
                seed=seed,
                exact_up_to=exact_up_to,
            )
            spent[way] += time.perf_counter() - started
            summary = summarise(org, result)
            totals[way] = add(totals[way], summary) if way in totals else summary
    return Comparison(
        kind, size, totals["exact"], totals["sparse"], spent["exact"], spent["sparse"]
    )


# ---- reports ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def target_timing(timings: list[Timing]) -> Timing | None:
    return next((t for t in timings if t.size == TARGET_SIZE), None)


def report_json(timings: list[Timing], comparisons: list[Comparison]) -> str:
    target = target_timing(timings)
    return json.dumps(
        {
            "machine": machine(),
            "exact_up_to": EXACT_UP_TO,
            "sizes": [
                {
                    "size": t.size,
                    "with_capacity": t.with_capacity,
                    "history_entries": t.history_entries,
                    "median_s": round(t.median_s, 3),
                    "runs_s": [round(s, 3) for s in t.seconds],
                    "rank_candidates_s": round(t.rank_seconds, 4),
                    **asdict(t.summary),
                }
                for t in timings
            ],
            "target": {
                "size": TARGET_SIZE,
                "seconds": TARGET_S,
                "ratio": None if target is None else round(target.median_s / TARGET_S, 3),
                "met": None if target is None else target.median_s <= TARGET_S,
            },
            "quality": [
                {
                    "kind": c.kind,
                    "size": c.size,
                    "exact": asdict(c.exact),
                    "sparse": asdict(c.sparse),
                    "exact_s": round(c.exact_s, 3),
                    "sparse_s": round(c.sparse_s, 3),
                }
                for c in comparisons
            ],
        },
        indent=2,
    )


def report_text(timings: list[Timing], comparisons: list[Comparison], args: Any) -> str:
    info = machine()
    lines = [
        f"Critical-friend matching benchmark: {info['cpus']} CPUs, Python {info['python']}, "
        f"{info['platform']}; exact matching up to {EXACT_UP_TO} people, sparse above",
        "",
        f"{'workers':>8} {'w/ cap':>7} {'history':>8} {'median s':>9} {'runs s':>20} "
        f"{'pairs':>6} {'trios':>6} {'deferred':>9} {'repeats':>8} {'in team':>8} "
        f"{'certified':>10} {'rank ms':>8}",
    ]
    for t in timings:
        s = t.summary
        runs = ",".join(f"{x:.2f}" for x in t.seconds)
        lines.append(
            f"{t.size:>8} {t.with_capacity:>7} {t.history_entries:>8} {t.median_s:>9.3f} "
            f"{runs:>20} {s.pairs:>6} {s.trios:>6} {s.deferred:>9} {s.repeats:>8} "
            f"{s.within_team:>8} {'yes' if s.certified_optimal else 'no':>10} "
            f"{t.rank_seconds * 1000:>8.1f}"
        )
    target = target_timing(timings)
    lines.append("")
    if target is None:
        lines.append(f"target: {TARGET_SIZE} workers was not among --sizes")
    else:
        ratio = target.median_s / TARGET_S
        verdict = "met" if ratio <= 1 else "MISSED"
        lines.append(
            f"target: {TARGET_SIZE} workers in <= {TARGET_S:g} s: {target.median_s:.3f} s, "
            f"ratio {ratio:.3f} of the target ({verdict})"
        )
    if comparisons:
        lines += [
            "",
            f"quality, sparse graph vs exact matching, totals over {args.quality_seeds} "
            "organisations each:",
            f"{'pool':<14} {'size':>5} {'way':<7} {'placed':>7} {'deferred':>9} "
            f"{'trios':>6} {'repeats':>8} {'in team':>8} {'weeks apart':>12} {'seconds':>8}",
        ]
        for c in comparisons:
            for way, s, spent in (("exact", c.exact, c.exact_s), ("sparse", c.sparse, c.sparse_s)):
                lines.append(
                    f"{c.kind:<14} {c.size:>5} {way:<7} {s.placed:>7} {s.deferred:>9} "
                    f"{s.trios:>6} {s.repeats:>8} {s.within_team:>8} {s.weeks_apart:>12} "
                    f"{spent:>8.2f}"
                )
    return "\n".join(lines)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default="200,2000,10000",
        help="pool sizes, comma-separated (default 200,2000,10000)",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed rounds per size (default 3)")
    parser.add_argument(
        "--quality-seeds",
        type=int,
        default=5,
        help="organisations of each kind for the exact-vs-sparse comparison (default 5, 0 skips)",
    )
    parser.add_argument(
        "--quality-size", type=int, default=200, help="pool size of that comparison (default 200)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)
    try:
        args.size_list = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        parser.error("--sizes must be whole numbers separated by commas")
    if not args.size_list or min(args.size_list) < 1 or args.runs < 1 or args.quality_seeds < 0:
        parser.error("--sizes must be >= 1, --runs >= 1 and --quality-seeds >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    progress = (lambda text: None) if args.json else (lambda text: print(text, file=sys.stderr))
    timings: list[Timing] = []
    for size in args.size_list:
        progress(f"timing a round of {size} workers ...")
        timings.append(time_size(size, args.runs))
    comparisons: list[Comparison] = []
    if args.quality_seeds:
        for kind in ("a year", "everyone met", "all met lately", "one big team"):
            progress(f"comparing sparse with exact on {kind!r} pools of {args.quality_size} ...")
            comparisons.append(compare(kind, args.quality_size, args.quality_seeds))
    print(
        report_json(timings, comparisons) if args.json else report_text(timings, comparisons, args)
    )
    target = target_timing(timings)
    missed = target is not None and target.median_s > TARGET_S
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
