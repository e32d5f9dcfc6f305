"""The same worker in two terminals at once: no answer lost without saying so, none doubled."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select

from bot.engine import coach
from bot.service import ConversationService
from bot.store.models import answers
from bot.store.repository import Store
from tests.chat_process import ChatProcess, texts
from tests.worker import Worker

LONG = "and we talked it through calmly, agreeing what would happen next for the family."


def test_two_terminal_processes_take_turns_without_losing_or_doubling(tmp_path: Path) -> None:
    with ChatProcess(tmp_path, "--dialogue", "gibbs", "--user", "sam") as first:
        first.read_until_prompt()
        with ChatProcess(tmp_path, "--user", "sam") as second:
            offer = second.read_until_prompt()
            assert "haven't finished" in texts(offer)
            second.send("1")  # carries on with the reflection the first window began

            refused = first.send(f"From the first window, {LONG}")
            assert "moved on" in texts(refused)
            accepted = first.send(f"First window again, {LONG}")
            assert "Feelings" in texts(accepted)

            refused_too = second.send(f"From the second window, {LONG}")
            assert "moved on" in texts(refused_too)
            second.send(f"Second window again, {LONG}")
            second.send("pause")

    with ChatProcess(tmp_path, "--user", "sam") as third:
        third.read_until_prompt()
        third.send("1")
        earlier = texts(third.send("back"))
        assert "Second window again" in earlier
        assert "From the second window" not in earlier


def test_concurrent_turns_for_one_worker_store_each_accepted_answer_once(
    service: ConversationService, store: Store
) -> None:
    opener = Worker(service)
    opener.start("gibbs")  # nine free-text questions before its check-in
    token = opener.reply_token
    windows = [Worker(service, user=opener.user, reply_token=token) for _ in range(3)]
    accepted: list[str] = []
    lock = threading.Lock()

    def type_in(window: Worker, number: int) -> None:
        for attempt in range(2):  # 6 tries in all: fewer than the questions
            text = f"window {number} attempt {attempt} {LONG}"
            reply = window.says(text)
            assert not reply.failed, reply.messages
            if not any("moved on" in m.text for m in reply.messages):
                with lock:
                    accepted.append(text)

    threads = [threading.Thread(target=type_in, args=(w, n)) for n, w in enumerate(windows)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # An answer given a coaching follow-up waits, kept in the conversation, for the
    # reply; `skip` saves it as it was.
    Worker(service, user=opener.user).says("skip")

    with store.transaction() as tx:
        kept = [tx.cipher.decrypt(t) for t in tx.connection.scalars(select(answers.c.text_enc))]
    stored: list[str] = []
    for text in kept:  # an answer and the reply to its coaching follow-up are two messages
        exchange = coach.parse(text)
        stored += (
            [part for part in (exchange.answer, exchange.reply) if part] if exchange else [text]
        )
    assert sorted(stored) == sorted(accepted)  # every accepted answer stored, exactly once
    assert len(stored) == len(set(stored))
    assert 1 <= len(stored) <= 6
