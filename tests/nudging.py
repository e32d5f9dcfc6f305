"""Stand-ins for the nudge tests: a courier in place of a chat channel, and a worker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.messages import Outgoing, Pushed, UserRef
from bot.service import ConversationService
from tests.worker import Worker

FRIDAY_2PM = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # 14:00 in London in winter
LONG = "We met at the family home and talked through the plan for the coming weeks together."


class Courier:
    """Stands in for a channel: records what it is given, answers as told."""

    def __init__(self) -> None:
        self.pushed: list[tuple[UserRef, list[str]]] = []
        self.answers: list[Pushed] = []

    async def push(self, user: UserRef, messages: Sequence[Outgoing]) -> Pushed:
        answer = self.answers.pop(0) if self.answers else Pushed.SENT
        if answer is Pushed.SENT:
            self.pushed.append((user, [m.text for m in messages]))
        return answer


def worker(chat: ConversationService, number: int = 1) -> Worker:
    """A worker on Telegram; their first message makes them a worker with an identity."""
    person = Worker(chat, UserRef("telegram", str(1000 + number), f"Worker {number}"))
    person.start()
    return person
