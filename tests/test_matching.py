"""Pairing critical friends: the rules of `bot.peer.matching`, by example and by property.

The properties are checked on random pools (teams, manager links, capacities 0-2, a
history of past pairs) against a brute force written here from the rules, not from the
module: every matching of a pool of up to nine people is listed and the best found by
(pairs, fewest recent repeats, most outside-team pairs, most weeks apart).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.peer import matching
from bot.peer.matching import History, Person, Round, can_pair, pair_round, rank_candidates

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
REPEAT = timedelta(weeks=12)
PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ago(weeks: float) -> datetime:
    return NOW - timedelta(weeks=weeks)


def met(*pairs: tuple[int, int, float]) -> History:
    """History from (a, b, weeks ago)."""
    return {frozenset((a, b)): ago(weeks) for a, b, weeks in pairs}


# ---- the rules, written out again for the checks -----------------------------------


def feasible(a: Person, b: Person) -> bool:
    return (
        a.id != b.id
        and a.manager_id != b.id
        and b.manager_id != a.id
        and a.capacity > 0
        and b.capacity > 0
    )


def last(history: History, a: int, b: int) -> datetime | None:
    return history.get(frozenset((a, b)))


def is_repeat(history: History, a: int, b: int, window: timedelta = REPEAT) -> bool:
    when = last(history, a, b)
    return when is not None and NOW - when < window


def outside(by_id: dict[int, Person], a: int, b: int) -> bool:
    team = by_id[a].team
    return team is None or team != by_id[b].team


def weeks_apart(history: History, a: int, b: int) -> int:
    when = last(history, a, b)
    return 53 if when is None else min(52, max(0, (NOW - when) // timedelta(weeks=1)))


Pairs = Sequence[tuple[int, int]]


def key(
    pairs: Pairs, by_id: dict[int, Person], history: History, window: timedelta = REPEAT
) -> tuple[int, int, int, int]:
    """What a round's pairs are judged by, best highest."""
    return (
        len(pairs),
        -sum(is_repeat(history, a, b, window) for a, b in pairs),
        sum(outside(by_id, a, b) for a, b in pairs),
        sum(weeks_apart(history, a, b) for a, b in pairs),
    )


def matchings(people: Sequence[Person]) -> Iterator[list[tuple[int, int]]]:
    """Every matching of the feasible pairs, maximal or not."""
    if not people:
        yield []
        return
    first, rest = people[0], people[1:]
    yield from matchings(rest)
    for i, other in enumerate(rest):
        if feasible(first, other):
            for matching in matchings(rest[:i] + rest[i + 1 :]):
                yield [(first.id, other.id), *matching]


def free(people: Sequence[Person]) -> list[Person]:
    return [p for p in people if p.capacity > 0]


def largest(people: Sequence[Person]) -> int:
    return max(len(m) for m in matchings(free(people)))


def partnerships(result: Round) -> list[tuple[int, int]]:
    edges = list(result.pairs)
    for a, b, c in result.trios:
        edges += [(a, b), (a, c), (b, c)]
    return edges


def placed(result: Round) -> list[int]:
    return [i for group in (*result.pairs, *result.trios) for i in group]


def base_pair_choices(result: Round) -> Iterator[list[tuple[int, int]]]:
    """The round's pairs with one pair from inside each trio, every way of choosing it."""
    inside = [list(itertools.combinations(trio, 2)) for trio in result.trios]
    for choice in itertools.product(*inside):
        yield [*result.pairs, *choice]


# ---- random pools -------------------------------------------------------------------


@st.composite
def pools(draw: st.DrawFn, max_size: int = 9) -> tuple[list[Person], History]:
    ids = draw(st.lists(st.integers(1, 60), unique=True, max_size=max_size))
    people = []
    for person_id in ids:
        team = draw(st.sampled_from(["north", "south", "east", None]))
        manager = draw(st.one_of(st.none(), st.sampled_from(ids), st.just(999)))
        people.append(Person(person_id, team, manager, draw(st.integers(0, 2))))
    pairs = list(itertools.combinations(ids, 2))
    if not pairs:
        return people, {}
    # Days ago: up to 120 makes many recent repeats (the window is 84 days), up to 500
    # spreads the rest over more than a year. A dense history (every pair has met) makes
    # the rules trade against each other: a repeat against many weeks apart elsewhere.
    days = st.one_of(st.integers(0, 120), st.integers(0, 500))
    if draw(st.booleans()):
        when = {pair: draw(days) for pair in pairs}
    else:
        when = dict(draw(st.lists(st.tuples(st.sampled_from(pairs), days), max_size=len(pairs))))
    return people, {frozenset(pair): NOW - timedelta(days=d, hours=1) for pair, d in when.items()}


def check_round_shape(people: Sequence[Person], history: History, result: Round) -> None:
    by_id = {p.id: p for p in people}
    everyone = placed(result) + list(result.deferred)
    assert len(everyone) == len(set(everyone)), "someone is in the round twice"
    assert set(everyone) == {p.id for p in free(people)}, "everyone with room, and no one else"
    for a, b in partnerships(result):
        assert feasible(by_id[a], by_id[b]), f"{a} and {b} break a hard rule"
    # Nobody left waiting could have been paired with another who is waiting, or join a
    # pair as a trio.
    for a, b in itertools.combinations(result.deferred, 2):
        assert not feasible(by_id[a], by_id[b]), f"{a} and {b} were both deferred"
    for d in result.deferred:
        for a, b in result.pairs:
            fits = feasible(by_id[d], by_id[a]) and feasible(by_id[d], by_id[b])
            assert not fits, f"{d} was deferred but could have joined {a} and {b}"


# ---- examples: rounds ----------------------------------------------------------------


def test_a_manager_is_never_paired_with_their_report() -> None:
    lead, report = Person(1, "north", None, 1), Person(2, "north", 1, 1)
    assert pair_round([lead, report], {}, NOW) == Round(pairs=(), trios=(), deferred=(1, 2))
    # Nor the other way round, whoever's record holds the link.
    other = Person(3, "south", 2, 1)
    result = pair_round([lead, report, other], {}, NOW)
    assert (2, 3) not in result.pairs
    assert result.pairs == ((1, 3),)
    assert result.deferred == (2,)


def test_two_people_in_the_same_team_are_paired_only_when_nobody_outside_the_team_is_free() -> None:
    north = [Person(1, "north", None, 1), Person(2, "north", None, 1)]
    south = [Person(3, "south", None, 1), Person(4, "south", None, 1)]
    assert pair_round(north + south, {}, NOW).pairs in (((1, 3), (2, 4)), ((1, 4), (2, 3)))
    assert pair_round(north, {}, NOW).pairs == ((1, 2),)


def test_an_odd_pool_of_five_makes_a_pair_and_a_trio() -> None:
    people = [Person(i, f"team {i}", None, 1) for i in range(1, 6)]
    result = pair_round(people, {}, NOW)
    assert len(result.pairs) == 1
    assert len(result.trios) == 1
    assert result.deferred == ()


def test_someone_whose_only_possible_partners_are_their_reports_is_deferred() -> None:
    lead = Person(1, "north", None, 1)
    reports = [Person(i, "north", 1, 1) for i in range(2, 6)]
    result = pair_round([lead, *reports], {}, NOW)
    assert result.deferred == (1,)
    assert len(result.pairs) == 2
    assert result.trios == ()


def test_a_recent_partner_is_avoided_when_anyone_else_is_free() -> None:
    people = [Person(i, None, None, 1) for i in range(1, 5)]
    result = pair_round(people, met((1, 2, 1), (3, 4, 2)), NOW)
    assert (1, 2) not in result.pairs
    assert (3, 4) not in result.pairs


def test_a_recent_partner_is_paired_again_when_there_is_no_other_way() -> None:
    # 1 manages 3 and 4, so 1 can only be paired with 2, whom 1 met last week.
    people = [
        Person(1, "north", None, 1),
        Person(2, "south", None, 1),
        Person(3, "north", 1, 1),
        Person(4, "north", 1, 1),
    ]
    result = pair_round(people, met((1, 2, 1)), NOW)
    assert result.pairs == ((1, 2), (3, 4))
    # Past the window it is not a repeat any more, just someone met long ago.
    assert pair_round(people, met((1, 2, 13)), NOW, repeat_weeks=12).pairs == ((1, 2), (3, 4))


def test_the_partner_met_longest_ago_is_preferred() -> None:
    people = [Person(i, None, None, 1) for i in range(1, 5)]
    history = met((1, 2, 40), (3, 4, 40), (1, 3, 20), (2, 4, 20), (1, 4, 30), (2, 3, 30))
    assert pair_round(people, history, NOW).pairs == ((1, 2), (3, 4))


def test_one_repeat_fewer_beats_any_amount_of_time_apart() -> None:
    # 1 manages 4 and 2 manages 3, so the round is either 1-2 and 3-4 or 1-3 and 2-4.
    # 1-2 met 11 weeks ago (a repeat) and 3-4 never: far more weeks apart in total than
    # 1-3 and 2-4, who both met 12 weeks ago, just out of the window. No repeat wins.
    people = [
        Person(1, None, None, 1),
        Person(2, None, None, 1),
        Person(3, None, 2, 1),
        Person(4, None, 1, 1),
    ]
    history = met((1, 2, 11), (1, 3, 12), (2, 4, 12))
    assert pair_round(people, history, NOW).pairs == ((1, 3), (2, 4))


def test_an_outside_view_beats_partners_who_have_not_met_for_longer() -> None:
    # 1 and 2 share a team and never met; every outside pairing met 13 weeks ago (just
    # past the window). Two outside pairs beat one team pair and one outside pair, though
    # the latter have twice the weeks apart.
    people = [
        Person(1, "north", None, 1),
        Person(2, "north", None, 1),
        Person(3, "south", None, 1),
        Person(4, None, None, 1),
    ]
    history = met((1, 3, 13), (2, 4, 13), (1, 4, 13), (2, 3, 13))
    assert pair_round(people, history, NOW).pairs in (((1, 3), (2, 4)), ((1, 4), (2, 3)))


def test_the_odd_one_out_is_chosen_so_that_the_trio_needs_no_repeat() -> None:
    # The example in `_choose_odd_one_out`: Ann (1), Ben (2, Ann's report), Cat (3), Dan
    # (4, Cat's report), Eve (5); Ann and Cat met last week.
    people = [
        Person(1, "a", None, 1),
        Person(2, "a", 1, 1),
        Person(3, "b", None, 1),
        Person(4, "b", 3, 1),
        Person(5, "c", None, 1),
    ]
    result = pair_round(people, met((1, 3, 1)), NOW)
    assert not any(is_repeat(met((1, 3, 1)), a, b) for a, b in partnerships(result))
    assert result.deferred == ()


def test_people_at_their_limit_are_in_no_group_and_not_deferred() -> None:
    people = [Person(1, None, None, 0), Person(2, None, None, 1), Person(3, None, None, 2)]
    assert pair_round(people, {}, NOW) == Round(pairs=((2, 3),), trios=(), deferred=())


def test_nobody_to_pair_is_an_empty_round() -> None:
    assert pair_round([], {}, NOW) == Round((), (), ())
    assert pair_round([Person(1, None, None, 1)], {}, NOW) == Round((), (), (1,))


def test_a_time_without_a_zone_or_an_id_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        pair_round([], {}, datetime(2025, 3, 3))  # noqa: DTZ001 - the mistake under test
    twice = [Person(1, None, None, 1), Person(1, None, None, 1)]
    with pytest.raises(ValueError, match="twice"):
        pair_round(twice, {}, NOW)


def test_a_large_pool_is_paired_completely_without_repeats() -> None:
    """Above `EXACT_UP_TO` the sparse graph is used; in a plain organisation of 600 with
    a season of history it still pairs everyone, with no repeat and no same-team pair."""
    rng = random.Random(7)  # noqa: S311 - a made-up history, reproducible
    people = [
        Person(i, f"team {i // 12}", (i // 12) * 12 if i % 12 else None, 1) for i in range(600)
    ]
    history: dict[frozenset[int], datetime] = {}
    for week in range(1, 13):
        order = list(range(600))
        rng.shuffle(order)
        for a, b in zip(order[::2], order[1::2], strict=True):
            history[frozenset((a, b))] = ago(week)
    result = pair_round(people, history, NOW, seed=3)
    check_round_shape(people, history, result)
    assert len(result.pairs) == 300
    by_id = {p.id: p for p in people}
    assert not any(is_repeat(history, a, b) for a, b in result.pairs)
    assert all(outside(by_id, a, b) for a, b in result.pairs)


def test_the_exact_second_pass_pairs_whoever_the_sparse_graph_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sparse graph with no partners at all leaves everyone unpaired; the exact pass
    over those left (and anyone in a repeat pair) still pairs them all."""
    monkeypatch.setattr(matching, "PARTNERS_SAMPLED", 0)
    monkeypatch.setattr(matching, "FALLBACK_PARTNERS", 0)
    people = [Person(i, f"team {i % 5}", None, 1) for i in range(40)]
    result = pair_round(people, {}, NOW, exact_up_to=0)
    check_round_shape(people, {}, result)
    assert len(result.pairs) == 20


# ---- properties: rounds ----------------------------------------------------------------


@PROPERTIES
@given(pools())
def test_every_round_keeps_the_hard_rules_and_places_each_person_at_most_once(
    pool: tuple[list[Person], History],
) -> None:
    people, history = pool
    check_round_shape(people, history, pair_round(people, history, NOW))


@PROPERTIES
@given(pools(max_size=16), st.integers(0, 3))
def test_the_sparse_graph_keeps_the_hard_rules_too(
    pool: tuple[list[Person], History], seed: int
) -> None:
    people, history = pool
    result = pair_round(people, history, NOW, seed=seed, exact_up_to=0)
    check_round_shape(people, history, result)
    if len(free(people)) % 2 == 0:
        # No repeat pair could be broken up for someone waiting who is a fresh partner.
        by_id = {p.id: p for p in people}
        for a, b in result.pairs:
            if is_repeat(history, a, b):
                for d in result.deferred:
                    for x in (a, b):
                        assert not (feasible(by_id[d], by_id[x]) and not is_repeat(history, d, x))


@PROPERTIES
@given(pools())
def test_a_round_has_as_many_groups_as_the_largest_matching(
    pool: tuple[list[Person], History],
) -> None:
    people, history = pool
    result = pair_round(people, history, NOW)
    assert len(result.pairs) + len(result.trios) == largest(people)


@PROPERTIES
@given(pools().filter(lambda pool: len(free(pool[0])) % 2 == 0), st.sampled_from([0, 2, 12]))
def test_repeats_happen_only_when_unavoidable_and_pairs_are_the_best_of_the_largest(
    pool: tuple[list[Person], History], repeat_weeks: int
) -> None:
    """In an even pool the pairs (with one pair from inside each trio) are the best of all
    the largest matchings: the fewest recent repeats of any of them, so a repeat is used
    only when every way to pair as many people needs it; then the most outside-team
    pairs; then the most weeks apart."""
    people, history = pool
    by_id = {p.id: p for p in people}
    window = timedelta(weeks=repeat_weeks)
    result = pair_round(people, history, NOW, repeat_weeks=repeat_weeks)
    best = max(key(m, by_id, history, window) for m in matchings(free(people)))
    found = max(key(pairs, by_id, history, window) for pairs in base_pair_choices(result))
    assert found == best


@PROPERTIES
@given(pools(), st.randoms(use_true_random=False), st.integers(0, 5))
def test_a_round_does_not_depend_on_the_order_of_the_pool(
    pool: tuple[list[Person], History], shuffler: random.Random, seed: int
) -> None:
    people, history = pool
    shuffled = list(people)
    shuffler.shuffle(shuffled)
    first = pair_round(people, history, NOW, seed=seed)
    assert pair_round(shuffled, history, NOW, seed=seed) == first
    assert pair_round(people, history, NOW, seed=seed) == first


# ---- examples: ranked candidates ---------------------------------------------------------


def test_candidates_from_another_team_come_before_teammates() -> None:
    asking = Person(1, "north", None, 1)
    mate, stranger = Person(2, "north", None, 1), Person(3, "south", None, 1)
    assert rank_candidates(asking, [mate, stranger], {}, NOW) == [3, 2]


def test_a_recent_partner_comes_last_even_from_another_team() -> None:
    asking = Person(1, "north", None, 1)
    mate, recent = Person(2, "north", None, 1), Person(3, "south", None, 1)
    assert rank_candidates(asking, [mate, recent], met((1, 3, 2)), NOW) == [2, 3]


def test_never_paired_comes_before_paired_long_ago_and_long_ago_before_lately() -> None:
    asking = Person(1, None, None, 1)
    others = [Person(i, None, None, 1) for i in (2, 3, 4)]
    history = met((1, 2, 20), (1, 3, 50))
    assert rank_candidates(asking, others, history, NOW) == [4, 3, 2]


def test_more_spare_capacity_breaks_a_tie() -> None:
    asking = Person(1, None, None, 1)
    others = [Person(2, None, None, 1), Person(3, None, None, 2)]
    assert rank_candidates(asking, others, {}, NOW) == [3, 2]


def test_the_hard_rules_and_the_excluded_are_left_out() -> None:
    asking = Person(1, "north", 5, 1)
    others = [
        Person(1, "north", 5, 1),  # the asker
        Person(2, "north", 1, 1),  # a report
        Person(3, "south", None, 0),  # at their limit
        Person(4, "south", None, 1),  # declined already
        Person(5, "north", None, 1),  # the asker's manager
        Person(6, "east", None, 1),
    ]
    assert rank_candidates(asking, others, {}, NOW, exclude={4}) == [6]
    at_limit = Person(1, "north", 5, 0)
    assert rank_candidates(at_limit, others, {}, NOW) == []


# ---- properties: ranked candidates --------------------------------------------------------


def preference(
    asking: Person, other: Person, history: History
) -> tuple[bool, bool, bool, datetime, int]:
    when = last(history, asking.id, other.id)
    return (
        is_repeat(history, asking.id, other.id),
        not outside({asking.id: asking, other.id: other}, asking.id, other.id),
        when is not None,
        when if when is not None else NOW,
        -other.capacity,
    )


@PROPERTIES
@given(pools(max_size=12), st.data())
def test_ranked_candidates_are_the_allowed_ones_in_order_of_preference(
    pool: tuple[list[Person], History], data: st.DataObject
) -> None:
    people, history = pool
    if not people:
        return
    asking = data.draw(st.sampled_from(people))
    exclude = data.draw(st.sets(st.sampled_from([p.id for p in people])))
    ranked = rank_candidates(asking, people, history, NOW, exclude=exclude)
    allowed = {p.id for p in people if feasible(asking, p) and p.id not in exclude}
    assert len(ranked) == len(set(ranked))
    assert set(ranked) == allowed
    by_id = {p.id: p for p in people}
    keys = [preference(asking, by_id[i], history) for i in ranked]
    assert keys == sorted(keys)
    assert rank_candidates(asking, people[::-1], history, NOW, exclude=exclude) == ranked


def test_can_pair_is_symmetric_and_the_rules_only() -> None:
    a, b = Person(1, "x", 2, 1), Person(2, "x", None, 1)
    assert not can_pair(a, b)
    assert not can_pair(b, a)
    c = Person(3, "x", None, 1)
    assert can_pair(a, c)  # same team is a preference, not a rule
    assert can_pair(c, a)
    assert not can_pair(c, c)
