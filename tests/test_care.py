"""A worker's rights over their data: a copy of everything (`export`), and being forgotten
(`forget`), with every table walked to prove nothing of theirs is left; and the audit log,
which records who did what and never what anyone wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.care import wording
from bot.peer import wording as peer_wording
from bot.service import ConversationService
from bot.store.models import audit_log, metadata, users
from bot.store.repository import Store
from tests.chat_process import run_cli
from tests.conftest import Clock
from tests.friends import Colleague, colleague, commands_in
from tests.worker import finish_a_reflection

SECRET = "Quillfeather-Marmalade-7731"  # a phrase nobody else writes


def paired_and_shared(team: dict[str, Colleague], friendly: ConversationService) -> None:
    """Sam reflects (with the secret phrase), asks, Kim accepts, Sam shares, Kim gives
    feedback, Sam answers: rows about Sam in nearly every table."""
    sam, kim = team["Sam"], team["Kim"]
    finish_a_reflection(
        friendly, sam.worker.user, f"I noticed {SECRET} and thought about it carefully."
    )
    sam.says("friend")
    kim.says(kim.button(kim.check_inbox(), peer_wording.ACCEPT))
    sam.check_inbox()
    sam.says(sam.button(sam.says(sam.button(sam.says("friend share"), "·")), "Yes, share"))
    notice = kim.check_inbox()
    kim.says(
        kim.button(kim.says(kim.button(notice, peer_wording.OPEN_IT)), peer_wording.GIVE_FEEDBACK)
    )
    for text in (
        "You kept the family talking and named the risk calmly and clearly.",
        "What might help you decide when to ring the duty team next time?",
        "You could try a short call with the duty team before leaving next time.",
    ):
        kim.says(text)
    received = sam.check_inbox()
    sam.says(sam.button(received, peer_wording.ANSWER_FEEDBACK))
    sam.says("I will ring the duty team from the car before I leave a visit like that.")


def test_export_gives_everything_as_json_and_markdown_and_is_audited(
    team: dict[str, Colleague], friendly: ConversationService, store: Store
) -> None:
    sam = team["Sam"]
    paired_and_shared(team, friendly)
    said = sam.says("export")
    files = [m.attachment for m in said if m.attachment is not None]
    assert [f.media_type for f in files] == ["application/json", "text/markdown"]
    data: dict[str, Any] = json.loads(files[0].content)
    assert data["profile"]["display_name"] == "Sam"
    assert data["profile"]["team"] == "North"
    assert data["profile"]["line_manager"] == "Lee"
    (reflection,) = [r for r in data["reflections"] if r["dialogue"] == "gibbs_quick"]
    assert any(SECRET in text for text in reflection["answers"].values())
    (exchange,) = reflection["peer_reflection"]
    assert exchange["friend"] == "Kim"
    assert "from the car" in json.dumps(exchange["answer"])
    assert data["nudge_settings"] is None  # the organisation's defaults, unchanged
    friends = data["critical_friends"]
    assert [p["with"] for p in friends["pairings"]] == [["Kim"]]
    assert friends["shared"][0]["taken_back_at"] is None
    assert {e["action"] for e in data["audit"]} >= {"share"}
    markdown = files[1].content.decode()
    assert SECRET in markdown
    assert "Feedback from Kim" in markdown
    # Kim's copy has the feedback she gave, not Sam's reflection.
    kims = json.loads(
        next(m.attachment for m in team["Kim"].says("export") if m.attachment).content
    )
    assert "named the risk calmly" in json.dumps(kims["critical_friends"]["feedback_given"])
    assert SECRET not in json.dumps(kims)
    with store.engine.connect() as connection:
        actions = [row.action for row in connection.execute(select(audit_log))]
        subjects = " ".join(row.subject for row in connection.execute(select(audit_log)))
    assert actions.count("export") == 2
    assert SECRET not in subjects


def referring_rows(store: Store, user_id: int, external_id: str) -> dict[str, int]:
    """For every table: rows with a column that points at the worker, or holds their chat id."""
    found: dict[str, int] = {}
    with store.engine.connect() as connection:
        for table in metadata.sorted_tables:
            columns = [
                c
                for c in table.columns
                if any(fk.column.table.name == "users" for fk in c.foreign_keys)
                or (table.name == "users" and c.name == "id")
            ]
            for column in columns:
                count = len(connection.execute(select(column).where(column == user_id)).all())
                if count:
                    found[f"{table.name}.{column.name}"] = count
            for column in table.columns:
                if column.type.python_type is str:
                    count = len(
                        connection.execute(select(column).where(column == external_id)).all()
                    )
                    if count:
                        found[f"{table.name}.{column.name}={external_id}"] = count
    return found


def test_forget_asks_first_then_deletes_every_row_about_the_worker(
    team: dict[str, Colleague], friendly: ConversationService, store: Store, clock: Clock
) -> None:
    sam, kim = team["Sam"], team["Kim"]
    paired_and_shared(team, friendly)
    open_it = kim.button(kim.worker.seen, peer_wording.OPEN_IT)
    with store.transaction() as tx:
        sam_id = tx.find_user(sam.worker.user)
    assert sam_id is not None
    before = referring_rows(store, sam_id, "sam")
    assert {"identities.user_id", "conversations.user_id", "shares.user_id"} <= set(before)
    asked = sam.says("forget")
    assert wording.FORGET_ASK in sam.text(asked)
    assert sam.text(sam.says("forget no")) == wording.KEPT
    assert sam.text(sam.says("forget yes 2020-01-01")) == wording.FORGET_EXPIRED
    assert referring_rows(store, sam_id, "sam") == before
    done = sam.says(sam.button(asked, wording.FORGET_YES))
    assert sam.text(done) == wording.FORGOTTEN
    assert referring_rows(store, sam_id, "sam") == {}
    # Kim's button now opens nothing, and she hears the pairing has ended.
    assert "has been ended" in kim.text(kim.check_inbox())
    assert kim.text(kim.says(open_it)) == peer_wording.NOT_AVAILABLE
    # Lee managed Sam: kept, with nothing pointing at Sam.
    with store.engine.connect() as connection:
        managers = [row.manager_id for row in connection.execute(select(users.c.manager_id))]
        erased = [r for r in connection.execute(select(audit_log)) if r.action == "erase"]
    assert sam_id not in managers
    assert [r.subject for r in erased] == [f"user:{sam_id}"]
    # Writing again starts afresh.
    fresh = colleague(friendly, "Sam")
    assert "journal is empty" in fresh.text(fresh.says("journal")).lower()


def test_the_export_command_writes_json_and_markdown_readable_only_by_the_owner(
    tmp_path: Path,
) -> None:
    chat = run_cli(
        tmp_path, "chat", "--json", "--user", "alex", "--dialogue", "gibbs_quick", stdin="pause\n"
    )
    assert chat.returncode == 0, chat.stderr
    out = tmp_path / "alex.json"
    done = run_cli(tmp_path, "export", "--user", "alex", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_bytes())["profile"]["chat_apps"] == [
        {
            "channel": "terminal",
            "id": "alex",
            "since": json.loads(out.read_bytes())["profile"]["joined_at"],
        }
    ]
    assert (tmp_path / "alex.md").read_text().startswith("# Everything Critical Friend keeps")
    assert out.stat().st_mode & 0o777 == 0o600
    nobody = run_cli(tmp_path, "export", "--user", "nobody", "--out", str(tmp_path / "x.json"))
    assert nobody.returncode == 1
    assert b"Nobody called nobody" in nobody.stderr


def test_reflections_past_retention_are_announced_a_week_before_they_are_deleted(
    store: Store, catalog: Any, clock: Clock
) -> None:
    import asyncio
    from datetime import time as clock_time

    from bot.care.retention import Retention
    from bot.messages import UserRef
    from bot.nudges.dispatcher import Dispatcher
    from bot.nudges.planner import NudgeDefaults, Nudges
    from tests.nudging import Courier

    retention = Retention(1, catalog)
    defaults = NudgeDefaults(weekdays=frozenset({4}), at=clock_time(14, 0))
    ticking = Nudges(store, catalog, defaults, weekly=False, retention=retention)
    service = ConversationService(store, catalog, clock=clock, retention=retention)
    courier = Courier()
    dispatcher = Dispatcher(ticking, {"telegram": courier}, clock, claimant="test")
    try:
        finish_a_reflection(service, UserRef("terminal", "alex", "Alex"), f"I noticed {SECRET}.")
        finish_a_reflection(service, UserRef("telegram", "9", "Tam"), f"I noticed {SECRET}.")
        alex = colleague(service, "Alex")
        clock.advance(days=22)
        asyncio.run(dispatcher.tick())
        assert courier.pushed == []  # not yet: a month less a week is 23 days
        clock.advance(days=1, minutes=1)
        asyncio.run(dispatcher.tick())
        ((tam, said),) = courier.pushed
        assert tam.external_id == "9"
        assert "will be deleted in a week" in said[0]
        notice = alex.says("help")
        assert "will be deleted in a week" in alex.text(notice)
        assert "export" in list(commands_in(notice))
        clock.advance(days=6)
        asyncio.run(dispatcher.tick())
        assert "journal is empty" not in alex.text(alex.says("journal")).lower()
        clock.advance(days=1, minutes=1)
        asyncio.run(dispatcher.tick())
        assert "journal is empty" in alex.text(alex.says("journal")).lower()
        with store.engine.connect() as connection:
            deleted = [
                r.subject
                for r in connection.execute(select(audit_log))
                if r.action == "retention_delete"
            ]
        assert len(deleted) == 2
    finally:
        dispatcher.close()
        service.close()


def test_export_arrives_as_telegram_documents_and_slack_files(
    store: Store, catalog: Any, clock: Clock
) -> None:
    import asyncio
    import time

    from bot.channels.slack import SlackChannel
    from bot.channels.telegram import TelegramChannel
    from bot.messages import UserRef
    from tests.fakes.slack import FakeSlack
    from tests.fakes.telegram import FakeTelegram

    service = ConversationService(store, catalog, clock=clock)
    finish_a_reflection(service, UserRef("telegram", "4242", "Sam"), f"I noticed {SECRET}.")

    async def until(found: Any, within: float = 10) -> Any:
        deadline = time.monotonic() + within
        while not (result := found()):
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)
        return result

    async def scenario() -> None:
        async with FakeTelegram() as telegram_api, FakeSlack() as slack_api:
            telegram_api.register_user(4242, first_name="Sam")
            slack_api.register_user("U0KIMWORK1", real_name="Kim")
            telegram = TelegramChannel(
                service, token=telegram_api.token, base_url=telegram_api.base_url
            )
            slack = SlackChannel(
                service,
                bot_token=slack_api.bot_token,
                allowed_team_ids=[slack_api.team_id],
                api_base_url=slack_api.api_url,
            )
            await telegram.start(poll_timeout=1)
            await slack.start_socket_mode(slack_api.app_token)
            try:
                telegram_api.user_sends_text(4242, "/export")
                documents = await until(
                    lambda: (
                        len(telegram_api.sent_documents(4242)) >= 2
                        and telegram_api.sent_documents(4242)
                    )
                )
                assert [d.filename.rsplit(".", 1)[1] for d in documents] == ["json", "md"]
                answers = json.loads(documents[0].content)["reflections"][0]["answers"]
                assert any(SECRET in text for text in answers.values())
                assert SECRET in documents[1].content.decode()
                slack_api.user_sends_dm("U0KIMWORK1", "export")
                files = await until(
                    lambda: (
                        len(slack_api.files_in("U0KIMWORK1")) >= 2
                        and slack_api.files_in("U0KIMWORK1")
                    )
                )
                assert [f.filename.rsplit(".", 1)[1] for f in files] == ["json", "md"]
                assert json.loads(files[0].content)["profile"]["chat_apps"][0]["channel"] == "slack"
            finally:
                await slack.stop()
                await telegram.stop()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        service.close()


def test_the_running_bot_guards_identifiers_and_answers_distress_with_care(tmp_path: Path) -> None:
    """`critical-friend chat` as a real process, as build_app wires it: both checks on."""
    from tests.chat_process import ChatProcess, texts

    def labels(messages: list[dict[str, Any]]) -> list[str]:
        return [choice["label"] for m in messages for choice in m.get("choices", [])]

    with ChatProcess(tmp_path, "--dialogue", "gibbs_quick", "--user", "alex") as chat:
        assert "(1 of" in texts(chat.read_until_prompt())
        found = chat.send("I rang Mrs Patel on 07700 900123 to arrange the visit with her.")
        assert "07700 900123" in texts(found)
        assert labels(found)[:3] == ["Redact", "Keep as written", "Edit"]
        assert "(2 of" in texts(chat.send("Redact"))  # saved, redacted: on to the next
        cared = chat.send("Honestly I can't go on like this any more.")
        assert "116 123" in texts(cared)  # the support contacts
        assert "(3 of" not in texts(cared)  # and no next question in the same turn
        assert "Carry on" in labels(cared)
        assert "116 123" in texts(chat.send("support"))
        chat.send("pause")
        assert chat.close_stdin() == 0
    exported = tmp_path / "alex.json"
    done = run_cli(tmp_path, "export", "--user", "alex", "--out", str(exported))
    assert done.returncode == 0, done.stderr
    draft = json.loads(exported.read_bytes())["drafts"][0]
    assert any("[phone]" in text for text in draft["answers"].values())
    assert not any("07700" in text for text in draft["answers"].values())
    assert any("can't go on" in text for text in draft["unsaved"])  # held, not lost


def test_typing_edit_at_the_identifier_question_edits_it_and_is_not_a_command(
    store: Store, catalog: Any, clock: Clock
) -> None:
    """Words the guards offer ("edit", "keep") must reach the engine, not a command."""
    from bot.care.settings import care_from
    from bot.config import CareConfig
    from bot.engine import wording as engine_wording
    from bot.messages import UserRef
    from tests.worker import Worker

    service = ConversationService(store, catalog, clock=clock, care=care_from(CareConfig()))
    try:
        alex = Worker(service, UserRef("terminal", "alex", "Alex"))
        alex.start("gibbs_quick")
        alex.says("I rang Mrs Patel on 07700 900123 to arrange the visit.")
        edited = "\n".join(m.text for m in alex.says("edit").messages)
        assert engine_wording.EDIT_PROMPT in edited
        alex.says("I rang the family to arrange the visit.")
        assert "(2 of" in alex.question.text
    finally:
        service.close()
