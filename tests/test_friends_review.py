"""Critical friends, reviewed: the holes found in the first version, each as what a
worker would have seen, through the real service and store (SQLite file and PostgreSQL).

Same stand-ins as test_friends.py: workers in the terminal, a clock moved by hand and
the delivery tick run directly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Table, func, select

from bot.messages import Outgoing, UserRef
from bot.nudges.dispatcher import Dispatcher
from bot.nudges.planner import Nudges
from bot.peer import wording
from bot.peer.people import PeopleError, import_people, read_people
from bot.service import ConversationService
from bot.store.friends import FriendBook, Invitation, Request
from bot.store.invites import InviteBook
from bot.store.models import (
    friend_invitations,
    friend_requests,
    friend_rounds,
    pairing_members,
    pairings,
    users,
)
from bot.store.repository import Store
from tests.conftest import Clock
from tests.friends import Colleague
from tests.worker import finish_a_reflection

LONG = "I visited the family with my colleague and we went through the plan together carefully."
MONDAY_MORNING = datetime(2026, 11, 30, 10, 5, tzinfo=UTC)  # a round is due in London


def tick_as(deliveries: Nudges, clock: Clock, *claimants: str) -> None:
    """One tick of each claimant's dispatcher, all at once (two processes)."""
    made = [Dispatcher(deliveries, {}, clock, claimant=name) for name in claimants]
    try:

        async def ticks() -> None:
            await asyncio.gather(*(dispatcher.tick() for dispatcher in made))

        asyncio.run(ticks())
    finally:
        for dispatcher in made:
            dispatcher.close()


def count(store: Store, table: Table) -> int:
    with store.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def pairings_of(store: Store, person: Colleague) -> int:
    with store.transaction() as tx:
        user_id = tx.find_user(person.worker.user)
        assert user_id is not None
        return int(
            tx.connection.scalar(
                select(func.count())
                .select_from(pairing_members)
                .where(pairing_members.c.user_id == user_id)
            )
            or 0
        )


def accept_all(person: Colleague, waiting: list[Outgoing] | None = None) -> list[str]:
    """Press every "yes" button waiting for them (or in `waiting`); what each answered."""
    if waiting is None:
        waiting = person.check_inbox()
    presses = [
        choice.value
        for message in waiting
        for choice in message.shortcuts
        if choice.label == wording.ACCEPT
    ]
    return [person.text(person.says(value)) for value in presses]


def trio(team: dict[str, Colleague], deliveries: Nudges, clock: Clock) -> None:
    """Sam, Kim and Jo (not Lee) paired as a trio by a round; everyone's inbox read."""
    team["Lee"].says("friend leave")
    for name in ("Sam", "Kim", "Jo"):
        team[name].says("friend join")
        team[name].says("friend rounds on")
    clock.now = MONDAY_MORNING
    tick_as(deliveries, clock, "one")
    for name in ("Sam", "Kim", "Jo"):
        assert "you and" in team[name].text(team[name].check_inbox())


def finish_the_run(person: Colleague) -> None:
    """Answer whatever the open reflection still asks, until it ends."""
    for _ in range(6):
        if not person.worker.says("Something to think about for the next visit, perhaps.").waiting:
            return
    raise AssertionError("the reflection did not end")


def share_newest(author: Colleague) -> None:
    confirm = author.says(author.button(author.says("friend share"), "·"))
    author.says(author.button(confirm, "Yes, share"))


# ---- how many colleagues at once ----------------------------------------------------


def test_a_colleague_at_their_limit_is_not_asked_again_while_an_invitation_is_open(
    team: dict[str, Colleague], store: Store
) -> None:
    sam, kim, jo = team["Sam"], team["Kim"], team["Jo"]
    team["Lee"].says("friend leave")
    jo.says("friend leave")
    sam.says("friend")  # Kim, a critical friend to one colleague at most, is asked
    assert jo.text(jo.says("friend")) == wording.NOBODY_FREE  # Kim's one place is offered
    answers = accept_all(kim)
    assert len(answers) == 1
    assert pairings_of(store, kim) == 1


def test_accepting_beyond_ones_own_limit_is_refused_and_the_request_moves_on(
    team: dict[str, Colleague], store: Store
) -> None:
    sam, kim, jo = team["Sam"], team["Kim"], team["Jo"]
    team["Lee"].says("friend leave")
    jo.says("friend leave")
    kim.says("friend max 2")
    sam.says("friend")
    jo.says("friend")
    invitations = kim.check_inbox()
    kim.says("friend max 1")  # then changes their mind about how many
    first, second = accept_all(kim, invitations)
    assert "critical friend for the next 6 weeks" in first
    assert second == wording.AT_YOUR_LIMIT
    assert pairings_of(store, kim) == 1
    assert wording.WAITING_FOR_SOMEONE in jo.text(jo.check_inbox())  # nobody else is free


# ---- another organisation ---------------------------------------------------------------


def test_an_invitation_waiting_for_someone_moved_to_another_organisation_is_not_shown(
    team: dict[str, Colleague], store: Store
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    sam.says("friend")  # Kim is asked, and has not written since
    with store.transaction() as tx:
        elsewhere = InviteBook(tx.connection).organisation("Elsewhere", "x", datetime.now(UTC))
        kim_id = tx.find_user(kim.worker.user)
        tx.connection.execute(
            users.update().where(users.c.id == kim_id).values(organisation_id=elsewhere)
        )
    assert "Sam" not in kim.text(kim.check_inbox())


# ---- races --------------------------------------------------------------------------


def test_an_accept_that_loses_the_race_with_expiry_pairs_nobody(
    team: dict[str, Colleague],
    deliveries: Nudges,
    clock: Clock,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sam, kim, jo = team["Sam"], team["Kim"], team["Jo"]
    sam.says("friend")
    invitation = kim.check_inbox()
    asked_at = clock.now
    clock.advance(hours=49)
    tick_as(deliveries, clock, "one")  # Kim's invitation expires; Jo is asked
    # Kim's "yes" was read by another process just before the expiry was written: it
    # saw the invitation open, in time.
    read = FriendBook.invitation_by_token

    def as_it_was(self: FriendBook, token: str) -> Invitation | None:
        found = read(self, token)
        return None if found is None else dataclasses.replace(found, status="open")

    monkeypatch.setattr(FriendBook, "invitation_by_token", as_it_was)
    clock.now = asked_at
    clock.advance(hours=47)
    assert kim.text(kim.says(kim.button(invitation, wording.ACCEPT))) == wording.INVITATION_CLOSED
    monkeypatch.undo()
    assert count(store, pairings) == 0
    clock.advance(hours=2)
    assert "Sam's critical friend" in " ".join(accept_all(jo))
    assert count(store, pairings) == 1


def test_stopping_the_search_as_a_colleague_says_yes_shows_the_pairing_not_a_stop(
    team: dict[str, Colleague], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    sam.says("friend")
    stop = sam.button(sam.says("friend"), wording.STOP_LOOKING)
    kim.says(kim.button(kim.check_inbox(), wording.ACCEPT))
    # Sam's "Stop looking" was read by another process just before Kim's yes was
    # written: it saw the request still open.

    def as_it_was(self: FriendBook, user_id: int) -> Request | None:
        found = self.connection.execute(
            select(friend_requests).where(friend_requests.c.user_id == user_id)
        ).first()
        return None if found is None else Request(found.id, user_id, None, "open")

    monkeypatch.setattr(FriendBook, "open_request", as_it_was)
    said = sam.text(sam.says(stop))
    monkeypatch.undo()
    assert wording.STOPPED_LOOKING not in said
    assert "Kim, until" in said
    assert count(store, pairings) == 1


def test_two_processes_asking_for_a_waiting_request_at_once_both_finish_their_tick(
    team: dict[str, Colleague],
    deliveries: Nudges,
    clock: Clock,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    for name in ("Lee", "Kim", "Jo"):
        team[name].says("friend leave")
    assert wording.NOBODY_FREE in sam.text(sam.says("friend"))
    kim.says("friend join")
    with caplog.at_level(logging.INFO, logger="bot.nudges.dispatcher"):
        tick_as(deliveries, clock, "one", "two")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert count(store, friend_invitations) == 1
    assert "Sam would like" in kim.text(kim.check_inbox())


# ---- feedback and answers reach the one they were written for -----------------------


def test_a_feedback_draft_carried_on_goes_only_to_the_colleague_it_was_written_for(
    team: dict[str, Colleague], friendly: ConversationService, clock: Clock
) -> None:
    sam, kim, jo = team["Sam"], team["Kim"], team["Jo"]
    team["Lee"].says("friend leave")
    jo.says("friend leave")
    kim.says("friend max 2")
    finish_a_reflection(friendly, sam.worker.user, LONG)
    finish_a_reflection(friendly, jo.worker.user, "A different visit, to a school, this time.")
    sam.says("friend")
    jo.says("friend")
    accept_all(kim)
    for author in (sam, jo):
        author.check_inbox()
        share_newest(author)
    notices = kim.check_inbox()
    opens = {
        message.text.split()[0]: choice.value
        for message in notices
        for choice in message.shortcuts
        if choice.label == wording.OPEN_IT
    }
    clock.advance(minutes=1)
    kim.says(kim.button(kim.says(opens["Sam"]), wording.GIVE_FEEDBACK))
    kim.says("You stayed calm at SAMS-VISIT when the father raised his voice.")
    kim.says("pause")
    clock.advance(minutes=1)
    # Kim turns to Jo's reflection, and carries on the draft offered.
    offer = kim.says(kim.button(kim.says(opens["Jo"]), wording.GIVE_FEEDBACK))
    draft = next(c.value for m in offer for c in m.choices if c.value.startswith("resume:"))
    kim.worker.presses(draft)
    kim.says("What might help you decide when to ring the duty team next time?")
    kim.says("You could try a short call with the duty team before leaving next time.")
    assert "SAMS-VISIT" not in jo.text(jo.check_inbox())
    assert "SAMS-VISIT" in sam.text(sam.check_inbox())
    # Jo's feedback can still be given, afresh.
    clock.advance(minutes=1)
    kim.says(kim.button(kim.says(opens["Jo"]), wording.GIVE_FEEDBACK))
    kim.says("You prepared for the school meeting with care and it showed.")
    kim.says("What would you want the school to know before next time?")
    kim.says("You could share a short note with the school before the meeting.")
    for_jo = jo.text(jo.check_inbox())
    assert "prepared for the school meeting" in for_jo
    assert "SAMS-VISIT" not in for_jo


def test_a_feedback_draft_set_aside_for_a_fresh_start_is_never_sent_elsewhere(
    team: dict[str, Colleague], friendly: ConversationService, clock: Clock
) -> None:
    sam, kim, jo = team["Sam"], team["Kim"], team["Jo"]
    team["Lee"].says("friend leave")
    jo.says("friend leave")
    kim.says("friend max 2")
    finish_a_reflection(friendly, sam.worker.user, LONG)
    finish_a_reflection(friendly, jo.worker.user, "A different visit, to a school, this time.")
    sam.says("friend")
    jo.says("friend")
    accept_all(kim)
    for author in (sam, jo):
        author.check_inbox()
        share_newest(author)
    notices = kim.check_inbox()
    opens = {
        message.text.split()[0]: choice.value
        for message in notices
        for choice in message.shortcuts
        if choice.label == wording.OPEN_IT
    }
    clock.advance(minutes=1)
    kim.says(kim.button(kim.says(opens["Sam"]), wording.GIVE_FEEDBACK))
    kim.says("You stayed calm at SAMS-VISIT when the father raised his voice.")
    kim.says("pause")
    clock.advance(minutes=1)
    # Kim begins Sam's feedback again, starting afresh rather than carrying on.
    kim.says(kim.button(kim.says(opens["Sam"]), wording.GIVE_FEEDBACK))
    kim.worker.presses("dialogue:friend_feedback")
    kim.says("pause")
    clock.advance(minutes=1)
    offer = kim.says(kim.button(kim.says(opens["Jo"]), wording.GIVE_FEEDBACK))
    drafts = [c.value for m in offer for c in m.choices if c.value.startswith("resume:")]
    kim.worker.presses(drafts[-1])  # the oldest draft offered: the words about Sam's visit
    finish_the_run(kim)
    assert "SAMS-VISIT" not in jo.text(jo.check_inbox())


def test_an_answer_to_feedback_goes_to_the_friend_whose_feedback_was_answered(
    team: dict[str, Colleague],
    friendly: ConversationService,
    deliveries: Nudges,
    clock: Clock,
) -> None:
    sam, kim, jo = team["Sam"], team["Kim"], team["Jo"]
    finish_a_reflection(friendly, sam.worker.user, LONG)
    trio(team, deliveries, clock)
    share_newest(sam)
    for friend in (kim, jo):
        notice = friend.check_inbox()
        friend.says(friend.button(friend.says(friend.button(notice, wording.OPEN_IT)), "Give"))
        friend.says(f"{friend.name} noticed you kept the family talking calmly.")
        friend.says(f"{friend.name} asks what helped you decide when to call?")
        friend.says(f"{friend.name} suggests a short call with the duty team first.")
    received = sam.check_inbox()
    answer = {
        message.text.split()[0]: choice.value
        for message in received
        for choice in message.shortcuts
        if choice.label == wording.ANSWER_FEEDBACK
    }
    # Sam has a reflection paused, so each answer begins with an offer to carry it on.
    sam.says("/reflect gibbs_quick")
    sam.says("Something about a visit I made this week to a family.")
    sam.says("pause")
    sam.says(answer["Jo"])
    sam.worker.presses("later")  # not now
    begun = sam.says(answer["Kim"])
    assert "goes back to Kim" in sam.text(begun)
    sam.worker.presses("dialogue:friend_reply")
    sam.says("FOR-KIM: I will ring the duty team from the car.")
    assert "FOR-KIM" in kim.text(kim.check_inbox())
    assert "FOR-KIM" not in jo.text(jo.check_inbox())


# ---- numbers typed or crafted ---------------------------------------------------------


def test_asking_with_someone_elses_reflection_is_refused_and_nothing_is_kept(
    team: dict[str, Colleague], friendly: ConversationService, store: Store
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    finish_a_reflection(friendly, kim.worker.user, LONG)
    with store.transaction() as tx:
        kim_id = tx.find_user(kim.worker.user)
        assert kim_id is not None
        kims = tx.journal(kim_id)[0].id
    for attempt in (f"friend ask {kims}", "friend ask 999999"):
        reply = sam.worker.says(attempt)
        assert not reply.failed
        assert sam.text(reply.messages) == wording.NOT_AVAILABLE
    assert count(store, friend_requests) == 0
    assert kim.check_inbox() == []


@pytest.mark.parametrize(
    "typed",
    [
        "/friend ask 99999999999999999999",
        "/friend share 99999999999999999999",
        "/friend share 1 with 99999999999999999999",
        "/friend talked yes 99999999999999999999",
        "/friend end 99999999999999999999",
    ],
)
def test_a_number_too_large_for_any_id_gets_the_one_refusal(
    team: dict[str, Colleague], typed: str
) -> None:
    sam = team["Sam"]
    reply = sam.worker.says(typed)
    assert not reply.failed
    assert sam.text(reply.messages) == wording.NOT_AVAILABLE


# ---- trios -----------------------------------------------------------------------------


def test_when_one_of_a_trio_ends_it_nobody_is_told_the_wrong_name(
    team: dict[str, Colleague], deliveries: Nudges, clock: Clock
) -> None:
    sam, kim, jo = team["Sam"], team["Kim"], team["Jo"]
    trio(team, deliveries, clock)
    assert "Sam and Kim" in jo.text(jo.says("friend end"))
    told = {"Sam": sam.text(sam.check_inbox()), "Kim": kim.text(kim.check_inbox())}
    assert "Kim has ended" not in told["Sam"]
    assert "Sam has ended" not in told["Kim"]
    for name, text in told.items():
        assert "has been ended" in text, name


# ---- rounds --------------------------------------------------------------------------


def test_rounds_every_two_weeks_are_held_every_two_weeks(
    team: dict[str, Colleague], deliveries: Nudges, clock: Clock, store: Store
) -> None:
    for name in ("Lee", "Kim", "Jo"):
        team[name].says("friend rounds on")
    clock.now = MONDAY_MORNING
    dispatcher = Dispatcher(deliveries, {}, clock, claimant="one")
    try:
        for _ in range(36):  # every morning for five weeks
            asyncio.run(dispatcher.tick())
            clock.advance(days=1)
    finally:
        dispatcher.close()
    with store.engine.connect() as connection:
        held = connection.scalars(select(friend_rounds.c.held_at).order_by(friend_rounds.c.id))
        days = [f"{moment:%a %d %b}" for moment in held]
    assert days == ["Mon 30 Nov", "Mon 14 Dec", "Mon 28 Dec"]


# ---- wording: true, and always a way to stop --------------------------------------------


def test_a_round_pairing_offers_a_way_to_end_it(
    team: dict[str, Colleague], deliveries: Nudges, clock: Clock
) -> None:
    kim, jo = team["Kim"], team["Jo"]
    for person in (kim, jo):
        person.says("friend rounds on")
    clock.now = MONDAY_MORNING
    tick_as(deliveries, clock, "one")
    told = kim.check_inbox()
    assert "This round's critical-friend pairing" in kim.text(told)
    ended = kim.says(kim.button(told, wording.END_PAIRING))
    assert "has ended" in kim.text(ended)


def test_someone_left_out_of_a_round_is_not_promised_a_place_and_can_stop(
    team: dict[str, Colleague], deliveries: Nudges, clock: Clock
) -> None:
    kim = team["Kim"]
    kim.says("friend rounds on")  # the only one in the rounds
    clock.now = MONDAY_MORNING
    tick_as(deliveries, clock, "one")
    told = kim.check_inbox()
    text = kim.text(told)
    assert "couldn't find" in text
    assert "first in line" not in text  # the matcher keeps no such order
    stopped = kim.says(kim.button(told, wording.STOP_ROUNDS))
    assert kim.text(stopped) == wording.ROUNDS_OFF


def test_a_request_nobody_was_free_for_is_not_told_someone_said_no(
    team: dict[str, Colleague], deliveries: Nudges, clock: Clock
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    for name in ("Lee", "Kim", "Jo"):
        team[name].says("friend leave")
    assert wording.NOBODY_FREE in sam.text(sam.says("friend"))
    kim.says("friend join")
    tick_as(deliveries, clock, "one")
    news = sam.text(sam.check_inbox())
    assert wording.SOMEONE_FREE_NOW in news
    assert "can't be your critical friend" not in news


# ---- people import -------------------------------------------------------------------


def test_a_manager_from_another_organisation_is_refused_with_its_line(
    store: Store, tmp_path: Path
) -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    with store.transaction() as tx:
        elsewhere = InviteBook(tx.connection).organisation("Elsewhere", "x", now)
        tx.join(UserRef("terminal", "boss", "Boss"), elsewhere, now)
    people = tmp_path / "people.csv"
    people.write_text("person,name,team,manager\nterminal:sam,Sam,North,terminal:boss\n")
    rows = read_people(people)
    with pytest.raises(PeopleError) as raised, store.transaction() as tx:
        import_people(tx, rows, tx.default_organisation(now), now, people)
    assert raised.value.problems == [f"{people}:2: the manager belongs to another organisation"]
    with store.transaction() as tx:
        assert tx.find_user(UserRef("terminal", "sam")) is None  # nothing imported
