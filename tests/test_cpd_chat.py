"""CPD records in chat: drafted from a reflection, changed field by field as a draft,
saved, changed again, counted, exported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Table, func, select, text

from bot.cpd import chat as words
from bot.dialogues import Catalog
from bot.messages import Outgoing, UserRef
from bot.service import ConversationService
from bot.store.models import cpd_drafts, cpd_records
from bot.store.repository import Store
from tests.conftest import Clock
from tests.worker import Worker, finish_a_reflection

SAM = UserRef("terminal", "sam", "Sam")
LONG = "I visited the family with a colleague and we agreed the next steps together calmly."


def said(worker: Worker, typed: str) -> str:
    return "\n".join(m.text for m in worker.says(typed).messages if m.reply_token is None)


def answered(worker: Worker, typed: str) -> list[Outgoing]:
    """What the bot said to `typed`, less the open question it asks again after it."""
    return [m for m in worker.says(typed).messages if m.reply_token is None]


def button(messages: list[Outgoing], label: str) -> str:
    return next(c.value for m in messages for c in m.shortcuts if c.label == label)


def sam_with_a_reflection(service: ConversationService, store: Store) -> tuple[Worker, int, int]:
    finish_a_reflection(service, SAM, LONG)
    sam = Worker(service, SAM)
    sam.start()
    with store.transaction() as tx:
        user_id = tx.find_user(SAM)
        assert user_id is not None
        return sam, user_id, tx.journal(user_id)[0].id


def count(store: Store, table: Table) -> int:
    with store.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def test_a_reflection_becomes_a_cpd_record_that_is_counted_edited_and_exported(
    service: ConversationService, store: Store
) -> None:
    import io

    from pypdf import PdfReader

    finish_a_reflection(service, SAM, LONG)
    sam = Worker(service, SAM)
    sam.start()
    with store.transaction() as tx:
        user_id = tx.find_user(SAM)
        assert user_id is not None
        number = tx.journal(user_id)[0].id
    assert "no CPD records in it yet" in said(sam, "cpd")
    drafted = sam.says(f"cpd new {number}").messages
    shown = "\n".join(m.text for m in drafted)
    assert "Nothing is saved until you say so" in shown
    assert "What I learnt" in shown
    assert "cpd" in said(sam, "cpd")  # still nothing saved
    save = next(c.value for m in drafted for c in m.shortcuts)
    saved = said(sam, save)
    assert "Saved as CPD record" in saved
    record = saved.split("CPD record ")[1].split(".")[0]
    assert "is CPD record" in said(sam, f"cpd new {number}")  # not drafted twice
    assert said(sam, f"cpd edit {record} learnt: To ask for help before the visit.") == "Changed."
    assert "To ask for help before the visit." in said(sam, f"cpd show {record}")
    counted = said(sam, "cpd")
    assert "1." not in counted or record in counted
    files = [m.attachment for m in sam.says("cpd export pdf").messages if m.attachment]
    assert files[0].filename.endswith(".pdf")
    pages = "".join(p.extract_text() for p in PdfReader(io.BytesIO(files[0].content)).pages)
    assert "To ask for help before the visit." in pages
    exported = [m.attachment for m in sam.says("export").messages if m.attachment]
    (kept,) = json.loads(exported[0].content)["cpd_records"]
    assert kept["learnt"] == "To ask for help before the visit."
    assert "There is no CPD record 999" in said(sam, "cpd show 999")
    assert "There is no reflection 999" in said(sam, "cpd new 999")


def test_another_regulators_year_and_requirements_come_from_the_policy(
    store: Store, catalog: Catalog, clock: Clock
) -> None:
    from bot.cpd.chat import Policy
    from bot.cpd.year import YearStart

    service = ConversationService(
        store, catalog, clock=clock, cpd=Policy(YearStart(4, 1), required=3, required_peer=0)
    )
    try:
        sam = Worker(service, SAM)
        sam.start()
        said_now = said(sam, "cpd")
        assert "1 April 2026 to 31 March 2027" in said_now
    finally:
        service.close()


def test_a_cpd_year_start_that_is_not_a_day_every_year_is_refused(tmp_path: Path) -> None:
    from tests.chat_process import run_cli

    file = tmp_path / "config.yaml"
    file.write_text('cpd:\n  year_starts: "02-29"\n')
    result = run_cli(tmp_path, "--config", str(file), "journal")
    assert result.returncode == 2
    assert "02-29 is not a day that comes every year" in result.stderr.decode()


# ---- a draft, changed field by field before it is saved ----------------------------------

NEW_LEARNT = "DRAFT-LEARNT: to ring the school before the visit, not after."


def test_a_draft_is_changed_field_by_field_with_buttons_then_saved_as_edited(
    service: ConversationService, store: Store
) -> None:
    sam, _, number = sam_with_a_reflection(service, store)
    drafted = answered(sam, f"cpd new {number}")
    labels = [c.label for m in drafted for c in m.shortcuts]
    assert labels == [words.SAVE, words.CHANGE, words.NOT_NOW]
    assert count(store, cpd_drafts) == 1
    assert count(store, cpd_records) == 0
    fields = answered(sam, button(drafted, words.CHANGE))
    assert fields[0].text == words.WHICH_FIELD
    assert [c.label for c in fields[0].shortcuts] == list(words.BUTTONS.values())
    learnt = answered(sam, button(fields, "What I learnt"))
    assert "What I learnt, as it is now:" in learnt[0].text
    assert "cpd edit draft learnt:" in learnt[0].text
    changed = answered(sam, f"cpd edit draft learnt: {NEW_LEARNT}")
    assert changed[0].text == (
        f"Changed, in the draft from reflection {number}. What I learnt now reads:\n{NEW_LEARNT}"
    )
    assert [c.label for c in changed[1].shortcuts] == [words.SAVE, words.CHANGE, words.NOT_NOW]
    assert said(sam, "cpd edit draft date: 2/10/2026").startswith(
        f"Changed, in the draft from reflection {number}. Date now reads:"
    )
    assert said(sam, f"cpd edit draft {number} title: A late visit").startswith("Changed")
    # Shown again, the draft is as edited, not drafted afresh.
    again = said(sam, f"cpd new {number}")
    assert words.KEPT.format(rid=number) in again
    assert NEW_LEARNT in again
    assert "2 October 2026" in again
    saved = said(sam, button(changed, words.SAVE))
    assert saved.startswith("Saved as CPD record")
    record = saved.split("CPD record ")[1].split(".")[0]
    shown = said(sam, f"cpd show {record}")
    assert NEW_LEARNT in shown
    assert "A late visit" in shown
    assert count(store, cpd_drafts) == 0
    assert words.ALREADY.format(rid=number, id=record) == said(sam, f"cpd new {number}")
    assert "unsaved" not in said(sam, "cpd")


def test_an_unsaved_draft_is_not_counted_nor_exported_but_offered_again_and_in_the_copy(
    service: ConversationService, store: Store
) -> None:
    sam, _, number = sam_with_a_reflection(service, store)
    said(sam, f"cpd new {number}")
    said(sam, f"cpd edit draft learnt: {NEW_LEARNT}")
    overview = answered(sam, "cpd")
    assert "You have no CPD records in it yet." in overview[0].text
    assert words.UNSAVED.format(rids=number) in overview[0].text
    assert button(overview, words.OPEN_DRAFT.format(rid=number)) == f"cpd new {number}"
    assert said(sam, "cpd export pdf") == words.NONE_THIS_YEAR
    exported = [m.attachment for m in sam.says("export").messages if m.attachment]
    data = json.loads(exported[0].content)
    assert data["cpd_records"] == []
    (kept,) = data["cpd_drafts"]
    assert (kept["reflection_id"], kept["learnt"]) == (number, NEW_LEARNT)
    # Not now keeps it; discard lets it go, and the reflection stays.
    assert said(sam, f"cpd later {number}") == words.LATER.format(rid=number)
    assert count(store, cpd_drafts) == 1
    assert said(sam, f"cpd discard {number}") == words.DISCARDED.format(rid=number)
    assert count(store, cpd_drafts) == 0
    assert "unsaved" not in said(sam, "cpd")
    assert said(sam, f"cpd change {number}") == words.NO_DRAFT.format(rid=number)
    assert said(sam, "cpd edit draft learnt: more") == words.NO_DRAFTS


def test_a_draft_is_kept_encrypted_and_goes_when_the_worker_is_erased(
    service: ConversationService, store: Store, clock: Clock
) -> None:
    from bot.store.subject_access import erase

    sam, user_id, number = sam_with_a_reflection(service, store)
    said(sam, f"cpd new {number}")
    said(sam, f"cpd edit draft learnt: {NEW_LEARNT}")
    with store.engine.connect() as connection:
        (sealed,) = connection.execute(text("SELECT fields_enc FROM cpd_drafts")).one()
    assert b"DRAFT-LEARNT" not in bytes(sealed)
    with store.transaction() as tx:
        erase(tx, user_id, clock.now)
    assert count(store, cpd_drafts) == 0


def test_a_draft_goes_with_its_reflection(service: ConversationService, store: Store) -> None:
    sam, _, number = sam_with_a_reflection(service, store)
    said(sam, f"cpd new {number}")
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM reflections WHERE id = :id"), {"id": number})
    assert count(store, cpd_drafts) == 0
    assert said(sam, "cpd edit draft learnt: more") == words.NO_DRAFTS


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("cpd edit draft learnt:   ", "What I learnt can't be left empty: put the new text after"),
        ("cpd edit draft title:", "Title can't be left empty"),
        ("cpd edit draft mood: fine", "There is no field called mood. The fields are type, title"),
        ("cpd edit draft date: 31/2/2026", "I couldn't read 31/2/2026 as a date. Type it like"),
        ("cpd edit draft date: next week", "I couldn't read next week as a date."),
        (
            "cpd edit draft title: " + "x" * 81,
            "That is 81 characters, and this field holds up to 80",
        ),
        ("cpd edit draft learnt: " + "y" * 5000, "That is 5,000 characters"),
        (
            "/cpd edit draft learnt",
            "To change a field of the draft: cpd edit draft FIELD: new text",
        ),
        ("cpd change 999", "There is no unsaved draft from reflection 999."),
        ("cpd save 999", "There is no reflection 999 in your journal."),
        ("cpd edit draft 999 learnt: text", "There is no unsaved draft from reflection 999."),
    ],
)
def test_what_cannot_be_a_field_is_one_clear_sentence_and_the_draft_is_unchanged(
    service: ConversationService, store: Store, typed: str, answer: str
) -> None:
    sam, _, number = sam_with_a_reflection(service, store)
    before = said(sam, f"cpd new {number}")
    reply = said(sam, typed)
    assert reply.startswith(answer)
    assert "Traceback" not in reply
    assert "!" not in reply
    assert words.KEPT.format(rid=number) in said(sam, f"cpd new {number}")
    assert said(sam, f"cpd new {number}").split("\n", 1)[1] == before.split("\n", 1)[1]


def test_an_empty_peer_field_means_no_peer_reflection_and_saved_records_keep_the_limits(
    service: ConversationService, store: Store
) -> None:
    sam, _, number = sam_with_a_reflection(service, store)
    said(sam, f"cpd new {number}")
    assert said(sam, "cpd edit draft peer: We talked it over.").startswith("Changed")
    assert said(sam, "cpd edit draft peer:").startswith("Changed")
    record = said(sam, f"cpd save {number}").split("CPD record ")[1].split(".")[0]
    with store.engine.connect() as connection:
        assert connection.scalar(select(cpd_records.c.peer)) is False
    assert said(sam, f"cpd edit {record} learnt: " + "z" * 801).startswith("That is 801")
    assert said(sam, f"cpd edit {record} date: soon").startswith("I couldn't read soon")
    assert said(sam, f"cpd edit {record} type: Peer reflection") == words.CHANGED


def test_the_latest_draft_shown_is_the_one_cpd_edit_draft_changes(
    service: ConversationService, store: Store, clock: Clock
) -> None:
    finish_a_reflection(service, SAM, LONG)
    sam, _, second = sam_with_a_reflection(service, store)
    with store.transaction() as tx:
        user_id = tx.find_user(SAM)
        assert user_id is not None
        first = tx.journal(user_id)[1].id
    said(sam, f"cpd new {first}")
    clock.advance(minutes=1)
    said(sam, f"cpd new {second}")
    clock.advance(minutes=1)
    listed = said(sam, "cpd")
    assert words.UNSAVED_MANY.format(rids=f"{min(first, second)} and {max(first, second)}") in (
        listed
    )
    said(sam, f"cpd change {first} learnt")  # shown last: the one changed next
    clock.advance(minutes=1)
    said(sam, f"cpd edit draft learnt: {NEW_LEARNT}")
    assert NEW_LEARNT in said(sam, f"cpd new {first}")
    assert NEW_LEARNT not in said(sam, f"cpd new {second}")


def test_a_draft_is_changed_mid_reflection_and_the_reflection_carries_on(
    service: ConversationService, store: Store
) -> None:
    sam, _, number = sam_with_a_reflection(service, store)
    question = sam.start("gibbs_quick").messages[-1]
    assert question.reply_token is not None
    for typed in (f"cpd new {number}", f"cpd change {number} learnt"):
        reply = sam.says(typed)
        assert reply.waiting
        assert reply.messages[-1].text == question.text  # asked again, where they were
    reply = sam.says(f"cpd edit draft learnt: {NEW_LEARNT}")
    assert reply.waiting
    assert reply.messages[0].text.startswith("Changed")
    assert reply.messages[-1].text == question.text
    after = sam.says(LONG)  # the answer to the question, as before: the next one comes
    assert after.waiting
    assert after.messages[-1].text != question.text
    assert NEW_LEARNT in said(sam, f"cpd new {number}")


def test_a_number_too_large_for_the_database_is_refused_like_an_unknown_one(
    service: ConversationService, store: Store
) -> None:
    huge = "9" * 30  # typed with a slash, a command takes any argument
    sam, _, _ = sam_with_a_reflection(service, store)
    for typed, answer in [
        (f"/cpd new {huge}", words.NOT_YOURS.format(id=huge)),
        (f"/cpd save {huge}", words.NOT_YOURS.format(id=huge)),
        (f"/cpd change {huge}", words.NO_DRAFT.format(rid=huge)),
        (f"/cpd later {huge}", words.NO_DRAFT.format(rid=huge)),
        (f"/cpd discard {huge}", words.NO_DRAFT.format(rid=huge)),
        (f"/cpd show {huge}", words.NO_RECORD.format(id=huge)),
        (f"/cpd edit {huge} title: x", words.NO_RECORD.format(id=huge)),
        (f"/cpd edit draft {huge} title: x", words.NO_DRAFT.format(rid=huge)),
    ]:
        assert said(sam, typed) == answer, typed
