"""Searching one's own journal by words, dates, model and tags, and tagging reflections."""

from __future__ import annotations

from bot.messages import UserRef
from bot.service import ConversationService
from bot.store.repository import Store
from tests.conftest import Clock
from tests.worker import Worker, finish_a_reflection

SAM = UserRef("terminal", "sam", "Sam")


def said(worker: Worker, text: str) -> str:
    return "\n".join(m.text for m in worker.says(text).messages if m.reply_token is None)


def test_search_finds_words_in_the_answers_of_ones_own_reflections_only(
    service: ConversationService, clock: Clock
) -> None:
    finish_a_reflection(service, SAM, "The Court hearing was moved and I felt unprepared for it.")
    clock.advance(days=40)
    finish_a_reflection(service, SAM, "Supervision helped me plan the café visit with the family.")
    finish_a_reflection(service, UserRef("terminal", "kim"), "The court hearing went well for me.")
    sam = Worker(service, SAM)
    sam.start()
    found = said(sam, "journal search court")
    assert "1 reflection match" in found
    assert "Court hearing" in found  # its first line, case kept
    assert "went well" not in found  # Kim's is never searched
    assert "1 reflection match" in said(sam, "journal search CAFE")  # accents and case aside
    assert "Nothing in your journal matches" in said(sam, "journal search court supervision")
    assert "2 reflections match" in said(sam, "journal search model:gibbs_quick")
    assert "1 reflection match" in said(sam, "journal search from:2026-12-01")
    assert "dates are written like" in said(sam, "journal search from:yesterday")


def test_tags_are_added_searched_taken_off_and_kept_encrypted(
    service: ConversationService, store: Store
) -> None:
    finish_a_reflection(service, SAM, "The hearing was moved and I felt unprepared for it.")
    sam = Worker(service, SAM)
    sam.start()
    with store.transaction() as tx:
        user_id = tx.find_user(SAM)
        assert user_id is not None
        number = tx.journal(user_id)[0].id
    assert "court, Zanzibar-7" in said(sam, f"tag {number} court Zanzibar-7")
    assert "1 reflection match" in said(sam, "journal search tag:zanzibar-7")
    assert "[court, Zanzibar-7]" in said(sam, "journal")
    assert "There is no reflection 999" in said(sam, "tag 999 court")
    assert "Tags on reflection" in said(sam, f"untag {number} court")
    assert "Nothing in your journal matches" in said(sam, "journal search tag:court")
    with store.engine.connect() as connection:
        from sqlalchemy import select

        from bot.store.models import reflections

        (token,) = connection.execute(select(reflections.c.tags_enc)).one()
    assert b"Zanzibar" not in bytes(token)


def test_an_answer_of_a_finished_reflection_is_revised_and_the_earlier_one_kept(
    service: ConversationService, store: Store
) -> None:
    finish_a_reflection(service, SAM, "The hearing was moved and I felt unprepared for it.")
    sam = Worker(service, SAM)
    sam.start()
    with store.transaction() as tx:
        user_id = tx.find_user(SAM)
        assert user_id is not None
        number = tx.journal(user_id)[0].id
    listed = said(sam, f"revise {number}")
    assert "1. The hearing was moved" in listed
    assert "Changed." in said(sam, f"revise {number} 1: The hearing was moved; I asked for help.")
    assert "has no answer 99" in said(sam, f"revise {number} 99: anything")
    assert "There is no reflection 999" in said(sam, "revise 999 1: anything")
    with store.transaction() as tx:
        record = tx.reflection(user_id, number)
    assert record is not None
    first_step = next(iter(record.answers))
    assert record.answers[first_step] == "The hearing was moved; I asked for help."
    assert record.revisions[first_step] == ["The hearing was moved and I felt unprepared for it."]


def test_revise_with_a_word_where_the_answer_number_goes_gets_a_sentence(
    service: ConversationService, store: Store
) -> None:
    finish_a_reflection(service, SAM, "The hearing was moved and I felt unprepared for it.")
    sam = Worker(service, SAM)
    sam.start()
    with store.transaction() as tx:
        user_id = tx.find_user(SAM)
        assert user_id is not None
        number = tx.journal(user_id)[0].id
    # With its slash the command takes any words after the number.
    assert "has no answer abc" in said(sam, f"/revise {number} abc: anything")
    assert "has no answer 99999" in said(sam, f"/revise {number} 99999: anything")
