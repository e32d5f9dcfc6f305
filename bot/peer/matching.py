"""Who should be whose critical friend: a round of pairs, or the candidates for one request.

Pure: the caller passes the people who can be paired now (anyone on a holiday pause is
simply left out), when each pair last worked together, and the time. Nothing is read,
written or remembered here.

The rules, in order
-------------------
Hard, never broken (`can_pair`): nobody is paired with themselves, with their line manager
or with a direct report (either way round), or without spare capacity (a person's
`capacity` is their maximum of active pairings less those they have now).

Soft, each far more important than all the ones after it together:

1. pair as many people as possible (a maximum-cardinality matching);
2. no repeat of a pair that worked together within `repeat_weeks` (default 12): the
   round has the fewest such repeats of all the ways to pair that many people, so a
   repeat appears only when every way of pairing as many people needs it;
3. an outside view: partners in different teams (an unknown team is never "the same");
4. partners who last worked together longest ago (whole weeks, up to a year), never
   paired best of all.

The two uses
------------
`pair_round` pairs everyone in a round at once (Donut-style); an odd one out joins the
pair that suits them best as a trio, or is deferred. `rank_candidates` orders the pool
for one worker who asks for a critical friend; the bot invites the first and moves on
down the list after a decline or a silence.

The library: rustworkx
----------------------
Pairing people well is maximum-weight matching in a general (not two-sided) graph,
Edmonds' blossom algorithm. Measured on this project's machines (2 cores, Python 3.11),
on a sparse graph of 2,000 people with 6 partners each:

- networkx 3.6 `max_weight_matching`: pure Python, a 2 MB wheel with no dependencies,
  but 13 s, far over the 2 s target (and 0.9 s for a complete graph of only 200);
- rustworkx 0.18 `max_weight_matching`: the same algorithm ported to Rust, exact with
  integer weights, 0.23 s (0.01 s for a complete graph of 200); a 2.4 MB abi3 wheel for
  Linux, macOS and Windows (7 MB installed) that needs numpy (about 70 MB installed);
- scipy's `linear_sum_assignment` and `min_weight_full_bipartite_matching` solve only
  two-sided matching: splitting the pool into two sides would forbid half the good pairs.

rustworkx is the one that meets the target with room to spare, and it is well kept (the
Qiskit project's graph library). Its matching depends only on the graph it is given and
the order nodes and edges were added (checked: the same graph gives the same matching in
separate processes), so the seeded shuffle of the pool is what makes a round
reproducible and varies the pairs among equally good choices.

Scale: a sparse candidate graph
-------------------------------
A complete graph over n people has n(n-1)/2 edges: 2 million for 2,000 people, whose
weights alone take seconds to compute in Python. Pools of up to `EXACT_UP_TO` people get
the complete graph and the exact answer. Above that, each person brings a few edges:

- `PARTNERS_SAMPLED` partners drawn at random from their "unremarkable" ones: another
  team, never paired with them, not their manager or report. Every such pair has the top
  weight, so drawing them at random loses nothing: if the sparse graph can pair
  everyone with top-weight pairs only, no matching of the complete graph can do better
  (it cannot pair more people, nor give any pair more weight). A graph where everyone
  picks 2 or more random partners has a perfect matching with high probability
  (Frieze, 1986, on random 2-out graphs), which is why a handful of partners is enough.
- `FALLBACK_PARTNERS` more of their next best: teammates they have never paired with and
  people they paired with before, by weight. These carry the pool when the unremarkable
  partners run out (one very large team, a small organisation with a long history).

Pools above `BLOCK_SIZE` are split, in their seeded order, into equal blocks of at most
that many, each matched on its own sparse graph: the blossom algorithm's time grows much
faster than the pool (measured: 7 s for one sparse graph of 9,000 people, about 1 s for
five blocks of 1,800), while a block of 2,000 still offers everyone hundreds of
unremarkable partners.

Then one exact pass re-pairs, on all their feasible pairs, everyone left unpaired together
with everyone the sparse pass put in a repeat pair (when that is at most `RECHECK_UP_TO`
people, which it is by far in realistic pools; the pairs they had are among the choices,
so it never makes the round worse). After it, no two unpaired people could have been
paired, and no repeat pair could be broken up for an unpaired person who is a fresh
partner for one of them. The hard rules hold in every pass because only pairs that
`can_pair` accepts ever become edges.

`bench/bench_matching.py` compares the sparse graph with the exact matching on pools of
200, five organisations of each kind. A year of weekly rounds, every pair met within the
year, half the pool in one team: the same people placed, the same repeats (none) and
same-team pairs, the same weeks apart but for one trio chosen differently (3 weeks more,
of about 24,000). A stress test where every pair met within the last 13 weeks: the pairs
are exactly as good, but the odd one out's trio had a repeat in 3 rounds of the 5
against 1 for the exact pairs (the odd-one-out search below runs only in small pools).
The benchmark's pools of 2,000 and 10,000 come out certified optimal: everyone placed,
every partnership of the round of the top weight, which no round can beat.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta

import rustworkx

History = Mapping[frozenset[int], datetime]
"""A pair of ids -> when they were last paired (aware, UTC)."""

WEEK = timedelta(weeks=1)
STALE_CAP_WEEKS = 52  # a year ago and longer are all "long ago"
NEVER_PAIRED = STALE_CAP_WEEKS + 1  # never paired counts as longer ago than any date

EXACT_UP_TO = 300  # the complete graph of 300 is about 45,000 edges, built in ~0.1 s
PARTNERS_SAMPLED = 4
FALLBACK_PARTNERS = 3
RECHECK_UP_TO = 600
BLOCK_SIZE = 2000
ODD_ONE_SEARCH_UP_TO = 41


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    team: str | None  # None: unknown team (never counts as "same team")
    manager_id: int | None  # their line manager's id, if known
    capacity: int  # how many more pairings they can take now (max - active), may be 0


@dataclass(frozen=True, slots=True)
class Round:
    """One round's groups. Every person passed in with capacity left is in exactly one of
    `pairs`, `trios` or `deferred`; people with no capacity left are in none of them (they
    are at their own limit, not waiting). Ids are ascending within each group and the
    groups are in ascending order.

    Deferred, why: when the pool cannot be paired completely (an odd number, or people
    whose only possible partners are their manager or reports), those left over first try
    to join a pair as a trio, which needs them to be able to pair with both of its
    members; a pair takes at most one extra person. Whoever still has no group is
    deferred. Pairs are chosen before trios: choosing pairs and trios together is a
    triangle-packing problem, NP-hard in general, so a deferred person might, in a
    contrived pool, have fitted a different choice of pairs."""

    pairs: tuple[tuple[int, int], ...]
    trios: tuple[tuple[int, int, int], ...]
    deferred: tuple[int, ...]


def can_pair(a: Person, b: Person) -> bool:
    """The hard rules only: two different people, neither the other's line manager, both
    with room for one more pairing."""
    return (
        a.id != b.id
        and a.manager_id != b.id
        and b.manager_id != a.id
        and a.capacity >= 1
        and b.capacity >= 1
    )


def same_team(a: Person, b: Person) -> bool:
    return a.team is not None and a.team == b.team


# ---- weights ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Weights:
    """The weight of a pair: the soft rules as the digits of one integer.

    Cardinality needs no weight: the matching is asked for the maximum number of pairs
    first (`max_cardinality=True`) and only then for the most weight. Below that, each
    level is worth more than the largest possible sum of the levels under it over a
    whole round (at most `most_edges` partnerships: a pair is one, a trio three), so the
    matching compares totals level by level, like a lexicographic order:

    - `fresh`: the pair did not work together within the repeat window. Worth more than
      every other bonus of the round added up, so one repeat fewer always wins: a repeat
      is used only when no matching of the same size avoids it.
    - `outside_team`: different teams, or a team unknown. Worth more than the staleness
      of every pair together: one more outside view beats any spread of old partners.
    - staleness, 0 to `NEVER_PAIRED`: whole weeks since they last worked together, capped
      at a year; never is one more. It only chooses among otherwise equal rounds.

    Integers keep the matching exact (rustworkx uses 128-bit integer weights)."""

    now: datetime
    repeat_window: timedelta
    outside_team: int
    fresh: int

    @classmethod
    def for_round(cls, now: datetime, repeat_weeks: int, most_edges: int) -> _Weights:
        edges = max(1, most_edges)
        outside_team = NEVER_PAIRED * edges + 1
        fresh = (outside_team + NEVER_PAIRED) * edges + 1
        return cls(now, timedelta(weeks=repeat_weeks), outside_team, fresh)

    def is_recent(self, last: datetime | None) -> bool:
        return last is not None and self.now - last < self.repeat_window

    def staleness(self, last: datetime | None) -> int:
        if last is None:
            return NEVER_PAIRED
        return min(STALE_CAP_WEEKS, max(0, (self.now - last) // WEEK))

    def of(self, a: Person, b: Person, last: datetime | None) -> int:
        weight = self.staleness(last)
        if not same_team(a, b):
            weight += self.outside_team
        if not self.is_recent(last):
            weight += self.fresh
        return weight


# ---- the pool -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pool:
    """The people to pair, in seeded order, with what the sparse graph needs to find
    everyone's unremarkable partners without looking at every pair."""

    people: list[Person]
    ids: list[int]
    id_set: frozenset[int]
    by_id: dict[int, Person]
    teams: dict[str, tuple[list[int], frozenset[int]]]
    linked: dict[int, set[int]]  # their manager and direct reports, if in the pool
    met: dict[int, dict[int, datetime]]  # partner in the pool -> when they last paired

    @classmethod
    def of(cls, people: list[Person], history: History) -> _Pool:
        ids = {p.id for p in people}
        met: dict[int, dict[int, datetime]] = {}
        for pair, when in history.items():
            if len(pair) != 2:
                continue
            a, b = pair
            if a in ids and b in ids:
                met.setdefault(a, {})[b] = when
                met.setdefault(b, {})[a] = when
        return cls._with(people, met)

    def part(self, people: list[Person]) -> _Pool:
        """The same, for some of the people only."""
        ids = {p.id for p in people}
        met = {
            a: {b: when for b, when in self.met[a].items() if b in ids}
            for a in ids
            if a in self.met
        }
        return self._with(people, met)

    @classmethod
    def _with(cls, people: list[Person], met: dict[int, dict[int, datetime]]) -> _Pool:
        by_id = {p.id: p for p in people}
        members: dict[str, list[int]] = {}
        linked: dict[int, set[int]] = {p.id: set() for p in people}
        for p in people:
            if p.team is not None:
                members.setdefault(p.team, []).append(p.id)
            if p.manager_id is not None and p.manager_id != p.id and p.manager_id in by_id:
                linked[p.id].add(p.manager_id)
                linked[p.manager_id].add(p.id)
        return cls(
            people=people,
            ids=[p.id for p in people],
            id_set=frozenset(by_id),
            by_id=by_id,
            teams={team: (ids, frozenset(ids)) for team, ids in members.items()},
            linked=linked,
            met=met,
        )

    def last_met(self, a: int, b: int) -> datetime | None:
        return self.met.get(a, {}).get(b)

    def team_of(self, person: Person) -> tuple[list[int], frozenset[int]]:
        if person.team is None:
            return [], frozenset()
        return self.teams[person.team]


# ---- candidate graphs ---------------------------------------------------------------

Edges = dict[tuple[int, int], int]  # (i, j), i < j, positions in a list of people -> weight
Pair = tuple[Person, Person]
Trio = tuple[Person, Person, Person]


def _all_edges(people: Sequence[Person], pool: _Pool, weights: _Weights) -> Edges:
    edges: Edges = {}
    for i, a in enumerate(people):
        met = pool.met.get(a.id, {})
        for j in range(i + 1, len(people)):
            b = people[j]
            if can_pair(a, b):
                edges[i, j] = weights.of(a, b, met.get(b.id))
    return edges


def _sparse_edges(pool: _Pool, weights: _Weights, rng: random.Random) -> Edges:
    """Each person's `PARTNERS_SAMPLED` random top-weight partners and their
    `FALLBACK_PARTNERS` next best (more of those when the top-weight ones run short)."""
    position = {person_id: i for i, person_id in enumerate(pool.ids)}
    edges: Edges = {}
    for a in pool.people:
        team_ids, team_set = pool.team_of(a)
        met = pool.met.get(a.id, {})
        # Everyone who is more than an unremarkable partner through history or a manager
        # link; small (a year of rounds, one manager, a team's reports).
        known = pool.linked[a.id] | met.keys()
        known_in_team = sum(1 for x in known if x in team_set)
        not_top = len(team_set) + len(known) - known_in_team + (a.id not in team_set)
        top = _sample(
            rng,
            pool.ids,
            pool.id_set,
            excluded=(team_set, known, {a.id}),
            eligible=len(pool.ids) - not_top,
            count=PARTNERS_SAMPLED,
        )
        chosen = [(weights.of(a, pool.by_id[b_id], None), b_id) for b_id in top]
        options: list[tuple[int, float, int]] = []
        for b_id in sorted(known):  # sorted: the order of the history must not matter
            b = pool.by_id[b_id]
            if can_pair(a, b):
                options.append((weights.of(a, b, met.get(b_id)), rng.random(), b_id))
        wanted = FALLBACK_PARTNERS + PARTNERS_SAMPLED - len(top)
        teammates = _sample(
            rng,
            team_ids,
            team_set,
            excluded=(known, {a.id}),
            eligible=len(team_set) - known_in_team - 1,
            count=wanted,
        )
        for b_id in teammates:
            options.append((weights.of(a, pool.by_id[b_id], None), rng.random(), b_id))
        chosen += [(weight, b_id) for weight, _, b_id in heapq.nlargest(wanted, options)]
        for weight, b_id in chosen:
            i, j = position[a.id], position[b_id]
            edges[min(i, j), max(i, j)] = weight
    return edges


def _sample(
    rng: random.Random,
    population: Sequence[int],
    population_set: frozenset[int],
    *,
    excluded: tuple[AbstractSet[int], ...],
    eligible: int,
    count: int,
) -> list[int]:
    """Up to `count` different ids drawn at random from `population` and in none of the
    `excluded` sets, of which there are `eligible`."""
    count = min(count, eligible)
    if count <= 0:
        return []

    def allowed(x: int) -> bool:
        return not any(x in s for s in excluded)

    if eligible >= 2 * count and 4 * eligible >= len(population):
        # Plenty to draw from: a few draws find them without listing the population.
        drawn: dict[int, None] = {}  # a dict keeps the order drawn, so the seed decides
        for _ in range(20 * count + 20):
            x = population[rng.randrange(len(population))]
            if x not in drawn and allowed(x):
                drawn[x] = None
                if len(drawn) == count:
                    return list(drawn)
    # Few to draw from (or unlucky draws): list them, sorted so the seed alone decides.
    listed: list[int] = sorted(population_set.difference(*excluded))
    return rng.sample(listed, min(count, len(listed)))


# ---- matching -----------------------------------------------------------------------


def _max_matching(nodes: int, edges: Edges) -> list[tuple[int, int]]:
    """The maximum-cardinality matching of the most weight, as (i, j) with i < j."""
    graph: rustworkx.PyGraph[None, int] = rustworkx.PyGraph(
        multigraph=False, node_count_hint=nodes + 1, edge_count_hint=len(edges) + nodes
    )
    graph.add_nodes_from([None] * nodes)
    graph.add_edges_from([(i, j, weight) for (i, j), weight in edges.items()])
    if nodes % 2 == 1:
        # With an odd number, the blossom algorithm spends most of its time proving that
        # the last person cannot be paired (measured on 1,793 people: 0.5-0.6 s, against
        # 0.1-0.3 s with what follows). A stand-in partner for everyone, at one weight
        # for all, does not change the answer: every matching of an odd number leaves
        # someone out, so the stand-in always adds exactly one pair and the same weight,
        # and the rest is still the best of the largest matchings of the real people.
        # At the top weight rather than 0 it is taken early instead of last.
        stand_in = graph.add_node(None)
        top = max(edges.values(), default=0)
        graph.add_edges_from([(i, stand_in, top) for i in range(nodes)])
    mates = rustworkx.max_weight_matching(graph, max_cardinality=True, weight_fn=_weight)
    # The library reports each pair once, in either direction.
    return sorted((min(i, j), max(i, j)) for i, j in mates if max(i, j) < nodes)


def _weight(weight: int) -> int:
    return weight


def _pairs(people: Sequence[Person], edges: Edges) -> list[Pair]:
    return [(people[i], people[j]) for i, j in _max_matching(len(people), edges)]


def _recheck(pool: _Pool, weights: _Weights, pairs: list[Pair]) -> list[Pair]:
    """Re-pair, exactly, everyone unpaired together with everyone in a repeat pair. Their
    old pairs are among the choices, so the result is never worse than the sparse one."""
    paired = {p.id for pair in pairs for p in pair}
    unpaired = [p.id for p in pool.people if p.id not in paired]
    repeats = [(a, b) for a, b in pairs if weights.is_recent(pool.last_met(a.id, b.id))]
    if not repeats and len(unpaired) < 2:
        return pairs  # nobody to pair up and no repeat to undo
    again = set(unpaired) | {p.id for pair in repeats for p in pair}
    if len(again) > RECHECK_UP_TO:
        return pairs
    people = [p for p in pool.people if p.id in again]  # still in seeded order
    kept = [pair for pair in pairs if pair not in repeats]
    return kept + _pairs(people, _all_edges(people, pool, weights))


@dataclass(frozen=True, slots=True)
class _Draft:
    """A possible round, people rather than ids."""

    pairs: list[Pair]
    trios: list[Trio]
    deferred: list[Person]

    def score(self, pool: _Pool, weights: _Weights) -> tuple[int, int, int, int]:
        """Better rounds score higher: more groups (a trio is a pair and one more), then
        more people placed, then fewer repeats (all three partnerships of a trio count),
        then more weight."""
        edges = [(a, b) for a, b in self.pairs]
        edges += [edge for a, b, c in self.trios for edge in ((a, b), (a, c), (b, c))]
        last = [pool.last_met(a.id, b.id) for a, b in edges]
        repeats = sum(weights.is_recent(when) for when in last)
        weight = sum(weights.of(a, b, when) for (a, b), when in zip(edges, last, strict=True))
        placed = 2 * len(self.pairs) + 3 * len(self.trios)
        return len(self.pairs) + len(self.trios), placed, -repeats, weight

    def round(self) -> Round:
        return Round(
            pairs=tuple(sorted((a, b) for a, b in map(_ids, self.pairs))),
            trios=tuple(sorted((a, b, c) for a, b, c in map(_ids, self.trios))),
            deferred=tuple(sorted(p.id for p in self.deferred)),
        )


def _ids(group: tuple[Person, ...]) -> list[int]:
    return sorted(p.id for p in group)


def _add_trios(pool: _Pool, weights: _Weights, pairs: list[Pair]) -> _Draft:
    """Let each person left over join the pair that suits them best as a trio, one per
    pair, as many as possible: a second matching, between those left and the pairs."""
    paired = {p.id for pair in pairs for p in pair}
    single = [p for p in pool.people if p.id not in paired]
    edges: Edges = {}
    for i, c in enumerate(single):
        for k, (a, b) in enumerate(pairs):
            if can_pair(c, a) and can_pair(c, b):
                edges[i, len(single) + k] = weights.of(c, a, pool.last_met(c.id, a.id)) + (
                    weights.of(c, b, pool.last_met(c.id, b.id))
                )
    if not edges:
        return _Draft(pairs, [], single)
    joined = dict(_max_matching(len(single) + len(pairs), edges))
    trios = [(*pairs[k - len(single)], single[i]) for i, k in joined.items()]
    in_trio = {k - len(single) for k in joined.values()}
    still_pairs = [pair for k, pair in enumerate(pairs) if k not in in_trio]
    deferred = [c for i, c in enumerate(single) if i not in joined]
    return _Draft(still_pairs, trios, deferred)


def _choose_odd_one_out(pool: _Pool, weights: _Weights, first: _Draft) -> _Draft:
    """In a small odd pool, try leaving out each person in turn and keep the best round.

    Pairing first and adding trios after can leave out someone who then needs a repeat
    to join a trio (or cannot join one) while leaving out someone else would not: with
    Ann, Ben (Ann's report), Cat and Dan (Cat's report) and Eve, where Ann and Cat were
    paired last week, pairs Ann-Eve and Ben-Dan leave Cat, who can join only Ann-Eve,
    with a repeat; pairs Ann-Dan and Cat-Eve let Ben join Cat-Eve with none. Only rounds
    where that happened are searched, and only up to `ODD_ONE_SEARCH_UP_TO` people (n
    more matchings of n - 1 people): in a large pool the one left over has hundreds of
    pairs to choose from."""
    drafts = [first]
    for left_out in pool.people:
        others = [p for p in pool.people if p is not left_out]
        drafts.append(_add_trios(pool, weights, _pairs(others, _all_edges(others, pool, weights))))
    # max keeps the first of equals, so the plain round wins unless another is better.
    return max(drafts, key=lambda draft: draft.score(pool, weights))


def _could_be_better(draft: _Draft, pool: _Pool, weights: _Weights) -> bool:
    if draft.deferred:
        return True
    return any(
        weights.is_recent(pool.last_met(x.id, y.id))
        for a, b, c in draft.trios
        for x, y in ((a, c), (b, c))
    )


# ---- the two uses -------------------------------------------------------------------


def pair_round(
    people: Sequence[Person],
    history: History,
    now: datetime,
    *,
    repeat_weeks: int = 12,
    seed: int = 0,
    exact_up_to: int = EXACT_UP_TO,
) -> Round:
    """Pair everyone in `people` who has capacity left, by the rules in this module's
    docstring, and return the round.

    1. Pairs: a maximum-cardinality matching; of all the ways to pair that many people,
       the one with the fewest repeats within `repeat_weeks` (so a pair that worked
       together recently is paired again only when every way of pairing as many people
       needs at least that many such repeats), then the most outside-team pairs, then
       the longest since each pair last worked together.
    2. Trios: those left over join distinct pairs, each the pair that suits them best
       by the same weights, as many as possible; anyone who fits no pair is deferred.
    3. In an odd pool of at most `ODD_ONE_SEARCH_UP_TO` people where step 2 needed a
       repeat inside a trio or deferred someone, leaving out each person in turn is
       tried too (see `_choose_odd_one_out`); the best round by groups, then people
       placed, then repeats, then weight is kept, so it never has fewer groups, never
       places fewer people, and when it places as many it never has more repeats.

    The same arguments always give the same round, whatever the order of `people`; a
    different `seed` may choose differently among equally good rounds. Pools larger than
    `exact_up_to` are matched on a sparse candidate graph (see the module docstring);
    the tests and the benchmark change it to compare the two."""
    _check(people, now, repeat_weeks)
    free = sorted((p for p in people if p.capacity >= 1), key=lambda p: p.id)
    rng = random.Random(seed)  # noqa: S311 - reproducible tie-breaking, not a secret
    rng.shuffle(free)  # the order decides among equally good rounds
    pool = _Pool.of(free, history)
    # A round has at most len(free) partnerships to weigh: a pair is one, a trio three
    # for three people.
    weights = _Weights.for_round(now, repeat_weeks, most_edges=len(free))
    if len(free) <= exact_up_to:
        pairs = _pairs(free, _all_edges(free, pool, weights))
    else:
        pairs = []
        blocks = -(-len(free) // BLOCK_SIZE)
        for block in (free[start::blocks] for start in range(blocks)):
            part = pool.part(block) if blocks > 1 else pool
            pairs += _pairs(block, _sparse_edges(part, weights, rng))
        pairs = _recheck(pool, weights, pairs)
    draft = _add_trios(pool, weights, pairs)
    if (
        len(free) % 2 == 1
        and len(free) <= ODD_ONE_SEARCH_UP_TO
        and _could_be_better(draft, pool, weights)
    ):
        draft = _choose_odd_one_out(pool, weights, draft)
    return draft.round()


def rank_candidates(
    requester: Person,
    candidates: Sequence[Person],
    history: History,
    now: datetime,
    *,
    repeat_weeks: int = 12,
    exclude: Collection[int] = (),
) -> list[int]:
    """The ids of the candidates the requester may be paired with, best first.

    Left out: anyone the hard rules forbid (`can_pair`: so nobody at all if the requester
    has no capacity left) and anyone in `exclude` (say, those who declined this request).
    The order is that of a round: not paired with the requester within `repeat_weeks`
    first (as in a round, avoiding a repeat outweighs an outside view); then another
    team; then never paired, then paired longest ago (to the exact
    time, where a round counts whole weeks); then the most spare capacity. Equal
    candidates are ordered by a hash of the two ids: the same requester sees the same
    order every time (so moving down the list after a decline is stable), while different
    requesters' first choices are spread instead of all landing on the lowest id."""
    _check((), now, repeat_weeks)
    window = timedelta(weeks=repeat_weeks)
    skip = set(exclude)
    ranked: dict[int, tuple[bool, bool, bool, datetime, int, int]] = {}
    for c in candidates:
        if c.id in skip or c.id in ranked or not can_pair(requester, c):
            continue
        last = history.get(frozenset((requester.id, c.id)))
        recent = last is not None and now - last < window
        ranked[c.id] = (
            recent,
            same_team(requester, c),
            last is not None,
            last if last is not None else now,
            -c.capacity,
            _tie_break(requester.id, c.id),
        )
    return sorted(ranked, key=lambda c_id: (ranked[c_id], c_id))


def _tie_break(requester_id: int, candidate_id: int) -> int:
    digest = hashlib.blake2b(f"{requester_id}:{candidate_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def _check(people: Sequence[Person], now: datetime, repeat_weeks: int) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime (UTC), like the history's times")
    if repeat_weeks < 0:
        raise ValueError(f"repeat_weeks cannot be negative, got {repeat_weeks}")
    if len({p.id for p in people}) != len(people):
        raise ValueError("each person can be in the pool only once; an id appears twice")
