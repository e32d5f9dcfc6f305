"""Stand-ins for the critical-friend tests: a team of workers on one service, and the
commands they type (the buttons they press type the same)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bot.messages import Outgoing, UserRef
from bot.service import ConversationService
from bot.store.repository import Store
from tests.worker import Worker


@dataclass
class Colleague:
    """A worker in the terminal: what colleagues do reaches them the next time they write."""

    worker: Worker

    @property
    def name(self) -> str:
        return self.worker.user.display_name or ""

    def says(self, text: str) -> list[Outgoing]:
        return self.worker.says(text).messages

    def text(self, said: list[Outgoing]) -> str:
        """What was said, without the open question shown again after it."""
        return "\n".join(message.text for message in said if message.reply_token is None)

    def button(self, said: list[Outgoing], label_part: str) -> str:
        """The command behind the button whose label contains `label_part`."""
        for message in said:
            for choice in (*message.shortcuts, *message.choices):
                if label_part.lower() in choice.label.lower():
                    return choice.value
        raise AssertionError(f"no button like {label_part!r} in {[m.text for m in said]}")

    def check_inbox(self) -> list[Outgoing]:
        """Anything waiting for them, as they see it when they next write ("friend help"
        changes nothing)."""
        said = self.worker.says("friend help").messages
        return [
            m
            for m in said
            if m.reply_token is None and not m.text.startswith("A critical friend is")
        ]


def colleague(service: ConversationService, name: str) -> Colleague:
    person = Worker(service, UserRef("terminal", name.lower(), name))
    person.start()
    return Colleague(person)


def place(store: Store, people: dict[str, tuple[str | None, str | None]]) -> None:
    """Teams and managers, as `people import` would set them: name -> (team, manager name)."""
    from bot.store.friends import FriendBook

    with store.transaction() as tx:
        ids = {name: tx.find_user(UserRef("terminal", name.lower())) for name in people}
        for name, (team, manager) in people.items():
            user_id = ids[name]
            assert user_id is not None
            FriendBook(tx.connection).set_place(
                user_id, team, ids.get(manager) if manager else None
            )


def commands_in(said: list[Outgoing]) -> Iterator[str]:
    for message in said:
        for choice in (*message.shortcuts, *message.choices):
            yield choice.value
