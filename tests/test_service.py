"""The conversation service on real databases: turns, idempotency, drafts, the journal."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.service import ConversationService
from bot.store.models import answers, check_ins, conversations, reflections
from bot.store.repository import Store
from tests.worker import Worker, only_reflection, text_of

LONG_ENOUGH = (
    "The visit went ahead as planned and the family were home and willing to talk with me."
)


def finish_gibbs(worker: Worker) -> None:
    worker.start("gibbs")
    while worker.question.choices == ():
        worker.says(LONG_ENOUGH)
    worker.says("1")  # the check-in question: in a week


def test_a_worker_completes_gibbs_and_it_lands_in_the_journal(
    service: ConversationService, store: Store
) -> None:
    worker = Worker(service)
    finish_gibbs(worker)
    assert "Gibbs" in text_of(worker.says("journal"))  # /journal in chat lists it too
    record = only_reflection(store, worker.user)
    assert record.dialogue_id == "gibbs"
    assert record.answers["what_happened"] == LONG_ENOUGH
    assert record.answers["check_in"] == "In a week"


def test_a_repeated_event_id_changes_nothing(service: ConversationService, store: Store) -> None:
    worker = Worker(service)
    worker.start("gibbs")
    first = worker.says(LONG_ENOUGH, event_id="delivery-1")
    again = worker.says(LONG_ENOUGH, event_id="delivery-1")
    assert first.messages
    assert again.duplicate
    assert again.messages == []
    with store.transaction() as tx:
        assert tx.connection.scalar(select(func.count()).select_from(answers)) == 1


def test_a_finished_check_in_is_booked_for_the_scheduler(
    service: ConversationService, store: Store, clock
) -> None:
    worker = Worker(service)
    finish_gibbs(worker)
    with store.transaction() as tx:
        check_in = tx.connection.execute(select(check_ins)).one()
        assert check_in.status == "pending"
        assert (check_in.due_at - clock.now).days == 7
        assert tx.connection.scalar(select(func.count()).select_from(reflections)) == 1


def test_back_keeps_the_old_answer_as_a_revision(
    service: ConversationService, store: Store
) -> None:
    worker = Worker(service)
    worker.start("gibbs")
    worker.says("First version of what happened at the visit, in enough words.")
    worker.says("back")
    assert "Earlier you wrote" in worker.question.text
    worker.says("Second version of what happened at the visit, in enough words.")
    with store.transaction() as tx:
        rows = tx.connection.execute(
            select(answers.c.step_id, answers.c.revision).order_by(answers.c.id)
        ).all()
    assert rows == [("what_happened", 1), ("what_happened", 2)]


def test_stop_then_discard_deletes_the_draft(service: ConversationService, store: Store) -> None:
    worker = Worker(service)
    worker.start("gibbs")
    worker.says(LONG_ENOUGH)
    worker.says("stop")
    worker.presses("discard")
    with store.transaction() as tx:
        assert tx.connection.scalar(select(func.count()).select_from(conversations)) == 0
        assert tx.connection.scalar(select(func.count()).select_from(answers)) == 0


def test_a_paused_reflection_is_offered_again_at_the_same_question(
    service: ConversationService, clock
) -> None:
    worker = Worker(service)
    worker.start("gibbs")
    worker.says(LONG_ENOUGH)
    question_before = worker.question.text
    worker.says("pause")
    clock.advance(days=1)
    offer = worker.start()
    assert "haven't finished" in text_of(offer)
    worker.says("1")  # carry on
    assert worker.question.text == question_before


def test_the_overview_lists_titles_and_dates_newest_first_and_nothing_written(
    service: ConversationService,
) -> None:
    import asyncio

    from bot.messages import UserRef

    worker = Worker(service)
    assert asyncio.run(service.overview(UserRef("terminal", "nobody"))) is None
    finish_gibbs(worker)
    worker.start("driscoll")
    worker.says(LONG_ENOUGH)
    worker.says("pause")
    overview = asyncio.run(service.overview(worker.user))
    assert overview is not None
    assert [u.dialogue_id for u in overview.unfinished] == ["driscoll"]
    assert overview.unfinished[0].title == service.catalog.dialogues["driscoll"].title
    assert [entry.dialogue_id for entry in overview.recent] == ["gibbs"]
    assert LONG_ENOUGH not in repr(overview.unfinished)


def test_a_members_time_zone_is_kept_and_a_nonsense_one_is_not(
    service: ConversationService, store: Store
) -> None:
    import asyncio

    from bot.messages import UserRef
    from bot.store.models import users

    worker = Worker(service)
    worker.start()
    assert asyncio.run(service.note_timezone(worker.user, "Europe/London"))
    assert not asyncio.run(service.note_timezone(worker.user, "Mars/Olympus_Mons"))
    assert not asyncio.run(service.note_timezone(worker.user, "../../etc/passwd"))
    assert not asyncio.run(service.note_timezone(UserRef("slack", "T1:U9"), "Europe/Paris"))
    with store.engine.connect() as connection:
        assert connection.execute(select(users.c.timezone)).scalars().all() == ["Europe/London"]
