"""A test double for a person: talks to the real service the way a channel does."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.messages import Incoming, IncomingKind, Outgoing, Reply, UserRef
from bot.service import ConversationService
from bot.store.repository import ReflectionRecord, Store

_event_ids = itertools.count(1)


@dataclass
class Worker:
    service: ConversationService
    user: UserRef = field(default_factory=lambda: UserRef("terminal", "sam", "Sam"))
    reply_token: str | None = None
    seen: list[Outgoing] = field(default_factory=list)

    def _send(self, kind: IncomingKind, text: str, *, bound: bool, event_id: str | None) -> Reply:
        incoming = Incoming(
            event_id=event_id or f"test-{next(_event_ids)}",
            user=self.user,
            kind=kind,
            text=text,
            in_reply_to=self.reply_token if bound else None,
        )
        reply = self.service.handle_now(incoming)
        for message in reply.messages:
            self.seen.append(message)
            if message.reply_token is not None:
                self.reply_token = message.reply_token
        return reply

    def start(self, dialogue: str = "", *, event_id: str | None = None) -> Reply:
        return self._send(IncomingKind.START, dialogue, bound=False, event_id=event_id)

    def says(self, text: str, *, event_id: str | None = None) -> Reply:
        return self._send(IncomingKind.TEXT, text, bound=True, event_id=event_id)

    def presses(self, value: str, *, event_id: str | None = None) -> Reply:
        return self._send(IncomingKind.CHOICE, value, bound=True, event_id=event_id)

    def leaves(self) -> Reply:
        return self._send(IncomingKind.LEAVE, "", bound=True, event_id=None)

    @property
    def last(self) -> Outgoing:
        return self.seen[-1]

    @property
    def question(self) -> Outgoing:
        """The most recent message that asked something."""
        return next(m for m in reversed(self.seen) if m.reply_token is not None)


def text_of(reply: Reply) -> str:
    return "\n".join(message.text for message in reply.messages)


def only_reflection(store: Store, user: UserRef) -> ReflectionRecord:
    """The one finished reflection in this worker's journal (fails if there is not exactly one)."""
    with store.transaction() as tx:
        user_id = tx.find_user(user)
        assert user_id is not None
        entries = tx.journal(user_id)
        assert len(entries) == 1
        record = tx.reflection(user_id, entries[0].id)
    assert record is not None
    return record


def finish_a_reflection(
    service: ConversationService, user: UserRef, answer: str, dialogue: str = "gibbs_quick"
) -> None:
    """A whole reflection through the service, as an earlier session would have left it:
    every question answered with `answer`, every choice with its first option."""
    worker = Worker(service, user)
    reply = worker.start(dialogue)
    while reply.waiting:
        last = worker.last
        reply = worker.presses(last.choices[0].value) if last.choices else worker.says(answer)
