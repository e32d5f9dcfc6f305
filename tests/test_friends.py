"""Critical friends through the real service and store (SQLite file and PostgreSQL):
the pool, asking, invitations, pairings, rounds, and sharing with consent.

Workers here use the terminal, so what colleagues do reaches them the next time they
write; pushing through Telegram and Slack is tested in test_friends_e2e.py. The clock
is moved by hand and the delivery tick run directly, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.messages import Outgoing
from bot.nudges.dispatcher import Dispatcher
from bot.nudges.planner import Nudges
from bot.peer import wording
from bot.peer.commands import Peer
from bot.service import ConversationService
from bot.store.models import friend_rounds, pairings, shares
from bot.store.repository import Store
from tests.conftest import Clock
from tests.friends import Colleague, colleague, commands_in
from tests.nudging import Courier
from tests.worker import finish_a_reflection

LONG = "I visited the family with my colleague and we went through the plan together carefully."


def run_tick(dispatcher: Dispatcher) -> None:
    asyncio.run(dispatcher.tick())


def pair(team: dict[str, Colleague]) -> None:
    """Sam asks for a critical friend and Kim, the first one asked, says yes."""
    sam, kim = team["Sam"], team["Kim"]
    sam.says("friend")
    kim.says(kim.button(kim.check_inbox(), wording.ACCEPT))
    sam.check_inbox()


def share_with_kim(team: dict[str, Colleague], friendly: ConversationService) -> list[Outgoing]:
    """Sam finishes a reflection, asks, Kim accepts, Sam shares it: what Kim is told."""
    sam, kim = team["Sam"], team["Kim"]
    finish_a_reflection(friendly, sam.worker.user, LONG)
    pair(team)
    confirm = sam.says(sam.button(sam.says("friend share"), "·"))
    sam.says(sam.button(confirm, "Yes, share"))
    return kim.check_inbox()


def test_joining_and_leaving_the_pool(team: dict[str, Colleague]) -> None:
    kim = team["Kim"]
    assert kim.text(kim.says("friend join")) == wording.JOINED_ALREADY
    assert kim.text(kim.says("friend max 7")) == wording.MAX_RANGE
    assert "up to 2 colleagues" in kim.text(kim.says("friend max 2"))
    assert kim.text(kim.says("friend leave")) == wording.LEFT
    assert kim.text(kim.says("friend max 2")) == wording.NOT_IN_POOL


def test_the_first_one_asked_is_outside_the_team_and_never_the_manager(
    team: dict[str, Colleague],
) -> None:
    sam, kim, lee, jo = team["Sam"], team["Kim"], team["Lee"], team["Jo"]
    said = sam.says("friend")
    assert wording.ASKED in sam.text(said)
    invitation = kim.check_inbox()
    assert "Sam would like a critical friend" in kim.text(invitation)
    assert lee.check_inbox() == []
    assert jo.check_inbox() == []
    # Kim says no: Jo (same team, but not Sam's manager) is asked; Sam is not told who.
    assert kim.text(kim.says(kim.button(invitation, wording.DECLINE))) == wording.DECLINED
    assert "Sam would like" in jo.text(jo.check_inbox())
    news = sam.text(sam.check_inbox())
    assert wording.LOOKING_AGAIN in news
    assert "Kim" not in news
    assert lee.check_inbox() == []


def test_nobody_left_to_ask_keeps_the_request_until_someone_is_free(
    team: dict[str, Colleague], friendly: ConversationService, tick: Dispatcher
) -> None:
    sam, kim, jo = team["Sam"], team["Kim"], team["Jo"]
    sam.says("friend")
    kim.says(kim.button(kim.check_inbox(), wording.DECLINE))
    jo.says(jo.button(jo.check_inbox(), wording.DECLINE))
    assert wording.WAITING_FOR_SOMEONE in sam.text(sam.check_inbox())
    assert sam.text(sam.says("friend")) == wording.STILL_LOOKING
    newcomer = colleague(friendly, "Ash")
    newcomer.says("friend join")
    run_tick(tick)  # the tick tries waiting requests again
    assert "Sam would like" in newcomer.text(newcomer.check_inbox())


def test_an_unanswered_invitation_moves_on_after_48_hours(
    team: dict[str, Colleague], clock: Clock, tick: Dispatcher
) -> None:
    sam, kim, jo = team["Sam"], team["Kim"], team["Jo"]
    sam.says("friend")
    invitation = kim.check_inbox()
    clock.advance(hours=47)
    run_tick(tick)
    assert jo.check_inbox() == []
    clock.advance(hours=2)
    run_tick(tick)
    assert "Sam would like" in jo.text(jo.check_inbox())
    # Kim's button now answers that the invitation has closed.
    assert kim.text(kim.says(kim.button(invitation, wording.ACCEPT))) == wording.INVITATION_CLOSED


def test_accepting_pairs_them_and_both_know(team: dict[str, Colleague], store: Store) -> None:
    sam, kim = team["Sam"], team["Kim"]
    sam.says("friend")
    accepted = kim.says(kim.button(kim.check_inbox(), wording.ACCEPT))
    assert "You're Sam's critical friend for the next 6 weeks" in kim.text(accepted)
    assert "Kim has said yes" in sam.text(sam.check_inbox())
    assert "Kim, until" in sam.text(sam.says("friend"))
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(pairings)) == 1


def test_a_reflection_is_shared_only_after_the_author_confirms_it(
    team: dict[str, Colleague], friendly: ConversationService
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    finish_a_reflection(friendly, sam.worker.user, LONG)
    pair(team)
    listed = sam.says("friend share")
    confirm = sam.says(sam.button(listed, "·"))
    assert "with Kim?" in sam.text(confirm)
    assert kim.check_inbox() == []  # nothing is shared before the author says yes
    shared = sam.says(sam.button(confirm, "Yes, share"))
    assert "Shared with Kim" in sam.text(shared)
    notice = kim.check_inbox()
    assert "Sam has shared a reflection with you" in kim.text(notice)
    opened = kim.says(kim.button(notice, wording.OPEN_IT))
    assert LONG in kim.text(opened)
    assert any(value.startswith("friend feedback ") for value in commands_in(opened))


def test_taking_a_share_back_stops_access_at_once(
    team: dict[str, Colleague], friendly: ConversationService
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    finish_a_reflection(friendly, sam.worker.user, LONG)
    pair(team)
    confirm = sam.says(sam.button(sam.says("friend share"), "·"))
    shared = sam.says(sam.button(confirm, "Yes, share"))
    notice = kim.check_inbox()
    assert sam.text(sam.says(sam.button(shared, wording.TAKE_BACK))) == wording.TAKEN_BACK
    # The buttons Kim still has are refused in the same words as anything unknown.
    assert kim.text(kim.says(kim.button(notice, wording.OPEN_IT))) == wording.NOT_AVAILABLE


def test_refusals_never_tell_whether_an_item_exists(
    team: dict[str, Colleague], friendly: ConversationService, clock: Clock
) -> None:
    kim, jo = team["Kim"], team["Jo"]
    open_it = kim.button(share_with_kim(team, friendly), wording.OPEN_IT)
    token = open_it.split()[-1]
    guessed = "AAAAAAAAAAAAAAAA"
    for attempt in (
        f"friend open {guessed}",
        f"friend feedback {guessed}",
        f"friend unshare {token}",
    ):
        assert jo.text(jo.says(attempt)) == wording.NOT_AVAILABLE
    assert jo.text(jo.says(open_it)) == wording.NOT_AVAILABLE  # not in the pairing
    assert jo.text(jo.says("friend share 1 with 1")) == wording.NOT_AVAILABLE
    # After the pairing ends, the friend can no longer open it either.
    clock.advance(weeks=6, minutes=1)
    assert "has come to an end" in kim.text(kim.check_inbox())
    assert kim.text(kim.says(open_it)) == wording.NOT_AVAILABLE


def test_a_worker_of_another_organisation_cannot_open_a_share(
    team: dict[str, Colleague], friendly: ConversationService, store: Store
) -> None:
    from bot.store.friends import FriendBook
    from bot.store.invites import InviteBook

    kim = team["Kim"]
    open_it = kim.button(share_with_kim(team, friendly), wording.OPEN_IT)
    # Kim moves to another organisation (an admin's change): the share is out of reach.
    with store.transaction() as tx:
        other = InviteBook(tx.connection).organisation("Elsewhere", "x", datetime.now(UTC))
        kim_id = tx.find_user(kim.worker.user)
        assert kim_id is not None
        from bot.store.models import users

        tx.connection.execute(
            users.update().where(users.c.id == kim_id).values(organisation_id=other)
        )
        assert FriendBook(tx.connection).organisation_of(kim_id) == other
    assert kim.text(kim.says(open_it)) == wording.NOT_AVAILABLE


def test_ending_a_pairing_tells_the_other_and_stops_sharing(
    team: dict[str, Colleague], friendly: ConversationService, store: Store
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    pair(team)
    assert "has ended" in sam.text(sam.says("friend end"))
    assert "Sam has ended your critical-friend pairing" in kim.text(kim.check_inbox())
    assert sam.text(sam.says("friend share")) == wording.NO_PAIRING


def test_a_week_in_both_are_asked_whether_they_talked_then_the_pairing_ends(
    team: dict[str, Colleague], clock: Clock, tick: Dispatcher
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    pair(team)
    clock.advance(days=7, minutes=1)
    question = sam.check_inbox()
    assert "Did you get to talk?" in sam.text(question)
    assert sam.text(sam.says(sam.button(question, wording.TALKED_NO))).startswith("That's fine")
    assert "Did you get to talk?" in kim.text(kim.check_inbox())
    clock.advance(weeks=5)
    assert "has come to an end" in kim.text(kim.check_inbox())
    assert kim.text(kim.says("friend")) != wording.STILL_LOOKING


def test_a_round_pairs_everyone_who_opted_in_once_even_with_two_processes(
    team: dict[str, Colleague],
    friendly: ConversationService,
    deliveries: Nudges,
    clock: Clock,
    store: Store,
) -> None:
    for name in ("Lee", "Kim", "Jo"):
        team[name].says("friend rounds on")
    sam = team["Sam"]
    sam.says("friend join")
    sam.says("friend rounds on")
    clock.now = datetime(2026, 11, 30, 10, 5, tzinfo=UTC)  # a Monday morning in London
    first = Dispatcher(deliveries, {}, clock, claimant="one")
    second = Dispatcher(deliveries, {}, clock, claimant="two")
    try:

        async def both() -> None:
            await asyncio.gather(first.tick(), second.tick())

        asyncio.run(both())
    finally:
        first.close()
        second.close()
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(friend_rounds)) == 1
        assert connection.scalar(select(func.count()).select_from(pairings)) == 2
    told = {name: team[name].text(team[name].check_inbox()) for name in team}
    assert all("This round's critical-friend pairing" in text for text in told.values())
    # Sam is never paired with Lee, Sam's manager.
    assert "Lee" not in told["Sam"]


def test_shares_are_only_made_of_the_workers_own_finished_reflections(
    team: dict[str, Colleague], friendly: ConversationService, store: Store
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    finish_a_reflection(friendly, kim.worker.user, LONG)
    pair(team)
    assert sam.text(sam.says("friend share")) == wording.NOTHING_TO_SHARE
    with store.transaction() as tx:
        kim_id = tx.find_user(kim.worker.user)
        assert kim_id is not None
        kims = tx.journal(kim_id)[0].id
    assert sam.text(sam.says(f"friend share {kims}")) == wording.NOT_AVAILABLE
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(shares)) == 0


def test_feedback_is_guided_blame_is_questioned_and_the_author_answers_once(
    team: dict[str, Colleague], friendly: ConversationService, store: Store
) -> None:
    from bot.engine import wording as engine_wording

    sam, kim = team["Sam"], team["Kim"]
    notice = share_with_kim(team, friendly)
    opened = kim.says(kim.button(notice, wording.OPEN_IT))
    begun = kim.says(kim.button(opened, wording.GIVE_FEEDBACK))
    assert "What went well" in kim.worker.question.text
    assert any("critical friend" in m.text for m in begun)
    kim.says("You kept the family talking and named the risk calmly and clearly.")
    held = kim.says("Why didn't you ring the duty team before you left the house?")
    assert "why didn't you" in kim.text(held).lower() + kim.worker.question.text.lower()
    assert kim.worker.question.choices[0].label == engine_wording.SEND_AS_WRITTEN
    kim.says("What might help you decide when to ring the duty team next time?")
    kim.says("You could try a short call with the duty team before leaving next time.")
    done = kim.text(kim.worker.seen[-3:])
    assert "I've sent your feedback to Sam" in done
    received = sam.check_inbox()
    text = sam.text(received)
    assert "Kim has read your reflection" in text
    assert "named the risk calmly" in text
    assert "What might help you decide" in text
    assert "Why didn't you" not in text  # the rephrased question went, not the first
    sam.says(sam.button(received, wording.ANSWER_FEEDBACK))
    sam.says("I will ring the duty team from the car before I leave a visit like that.")
    assert "ring the duty team from the car" in kim.text(kim.check_inbox())
    assert (
        sam.text(sam.says(sam.button(received, wording.ANSWER_FEEDBACK))) == wording.REPLIED_ALREADY
    )
    # The exchange is kept with Sam's reflection, as its peer reflection.
    with store.transaction() as tx:
        sam_id = tx.find_user(sam.worker.user)
        assert sam_id is not None
        first = tx.journal(sam_id)[0].id
        record = tx.reflection(sam_id, first)
    assert record is not None
    (exchange,) = record.peer
    assert exchange.friend == "Kim"
    assert exchange.feedback["question"].startswith("What might help you decide")
    assert "from the car" in exchange.answer["take_away"]


def test_feedback_on_a_share_taken_back_meanwhile_is_not_sent(
    team: dict[str, Colleague], friendly: ConversationService
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    notice = share_with_kim(team, friendly)
    kim.says(kim.button(kim.says(kim.button(notice, wording.OPEN_IT)), wording.GIVE_FEEDBACK))
    kim.says("You kept the family talking and named the risk calmly and clearly.")
    kim.says("What might help you decide when to ring the duty team next time?")
    sam.says(sam.button(sam.worker.seen, wording.TAKE_BACK))
    kim.says("You could try a short call with the duty team before leaving next time.")
    assert "was not sent" in kim.text(kim.worker.seen[-3:])
    assert sam.check_inbox() == []


def test_a_turn_that_tells_a_colleague_wakes_the_dispatcher_and_others_do_not(
    team: dict[str, Colleague], friendly: ConversationService, deliveries: Nudges, clock: Clock
) -> None:
    from bot.messages import Incoming, IncomingKind, UserRef

    courier = Courier()
    woken: list[int] = []

    async def scenario() -> None:
        dispatcher = Dispatcher(deliveries, {"telegram": courier}, clock, claimant="woken")

        def wake() -> None:
            woken.append(1)
            dispatcher.wake()

        friendly.on_told = wake
        try:
            sam = UserRef("terminal", "sam", "Sam")
            await friendly.handle(Incoming("w-1", sam, IncomingKind.TEXT, "friend help"))
            assert woken == []
            kim_on_telegram = UserRef("telegram", "77", "Kim")
            await friendly.handle(Incoming("w-2", kim_on_telegram, IncomingKind.START, ""))
            await friendly.handle(
                Incoming("w-3", kim_on_telegram, IncomingKind.TEXT, "friend join")
            )
            for name in ("Lee", "Jo"):
                team[name].says("friend leave")
            await friendly.handle(Incoming("w-4", sam, IncomingKind.TEXT, "friend"))
            assert woken == [1]
            for _ in range(100):  # the woken tick runs on the loop: no clock, no sleep needed
                if courier.pushed:
                    break
                await asyncio.sleep(0.01)
        finally:
            await dispatcher.stop()

    team["Kim"].says("friend leave")
    asyncio.run(scenario())
    ((user, texts),) = courier.pushed
    assert user.external_id == "77"
    assert "Sam would like a critical friend" in texts[0]


def test_chores_that_fail_do_not_stop_the_tick_delivering(
    team: dict[str, Colleague],
    friendly: ConversationService,
    deliveries: Nudges,
    peer: Peer,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.messages import UserRef
    from tests.worker import Worker

    for name in ("Lee", "Kim", "Jo"):
        team[name].says("friend leave")
    ash = Colleague(Worker(friendly, UserRef("telegram", "77", "Ash")))
    ash.worker.start()
    ash.says("friend join")
    team["Sam"].says("friend")

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in the chores")

    monkeypatch.setattr(peer.friends, "chores", broken)
    courier = Courier()
    dispatcher = Dispatcher(deliveries, {"telegram": courier}, clock, claimant="test")
    try:
        report = asyncio.run(dispatcher.tick())
    finally:
        dispatcher.close()
    assert report.sent == 1
    ((user, texts),) = courier.pushed
    assert user.external_id == "77"
    assert "Sam would like a critical friend" in texts[0]
