"""CPD records in chat: drafted from a reflection, saved, changed, counted, exported."""

from __future__ import annotations

import json
from pathlib import Path

from bot.dialogues import Catalog
from bot.messages import UserRef
from bot.service import ConversationService
from bot.store.repository import Store
from tests.conftest import Clock
from tests.worker import Worker, finish_a_reflection

SAM = UserRef("terminal", "sam", "Sam")
LONG = "I visited the family with a colleague and we agreed the next steps together calmly."


def said(worker: Worker, text: str) -> str:
    return "\n".join(m.text for m in worker.says(text).messages if m.reply_token is None)


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
    text = "\n".join(m.text for m in drafted)
    assert "Nothing is saved until you say so" in text
    assert "What I learnt" in text
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
    pages = "".join(page.extract_text() for page in PdfReader(io.BytesIO(files[0].content)).pages)
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
