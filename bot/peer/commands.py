"""`friend ...`: every critical-friend command, and what the service asks of this package.

The service hands over the argument of a `friend` command and the turn's transaction;
it gets back what to say, and sometimes a dialogue to start (feedback, or an answer to
feedback). It also asks for notices that are due for the worker in front of it, so
someone who only uses the terminal sees them there.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.config import FriendConfig
from bot.dialogues import Catalog
from bot.messages import Choice, Outgoing
from bot.peer import notices as told
from bot.peer import wording
from bot.peer.friends import Friends, Said, book
from bot.peer.inbox import Inbox
from bot.peer.notices import Notice
from bot.peer.sharing import FEEDBACK_DIALOGUE, REPLY_DIALOGUE, Sharing
from bot.store import Transaction
from bot.store.deliveries import Delivery
from bot.store.ids import as_id

HANDLE = r"[A-Za-z0-9_-]{8,32}"
PEER_DIALOGUES = frozenset({FEEDBACK_DIALOGUE, REPLY_DIALOGUE})


class Peer:
    def __init__(self, config: FriendConfig, catalog: Catalog, timezone: str) -> None:
        self.friends = Friends(config, timezone)
        self.sharing = Sharing(catalog)
        self.inbox = Inbox(self.friends, self.sharing, catalog)

    def command(self, tx: Transaction, user_id: int, argument: str, now: datetime) -> Said:
        words = argument.split()
        verb = words[0].lower() if words else ""
        rest = words[1:]
        friends, sharing = self.friends, self.sharing
        token = rest[0] if len(rest) == 1 and re.fullmatch(HANDLE, rest[0]) else None
        if verb == "":
            return Said(friends.ask(tx, user_id, now))
        if verb == "ask" and len(rest) == 1 and rest[0].isdecimal():
            reflection_id = as_id(rest[0])
            if reflection_id is None:
                return Said([Outgoing(wording.NOT_AVAILABLE)])
            return Said(friends.ask(tx, user_id, now, reflection_id=reflection_id))
        if verb == "help":
            return Said([Outgoing(wording.HELP)])
        if verb == "join" and not rest:
            return Said(friends.join(tx, user_id, now))
        if verb == "leave" and not rest:
            return Said(friends.leave(tx, user_id, now))
        if verb == "cancel" and not rest:
            return Said(friends.cancel(tx, user_id, now))
        if verb == "rounds" and len(rest) == 1 and rest[0].lower() in {"on", "off"}:
            return Said(friends.set_rounds(tx, user_id, rest[0].lower() == "on", now))
        if verb == "max" and len(rest) == 1 and rest[0].isdecimal():
            return Said(friends.set_max(tx, user_id, int(rest[0]), now))
        if verb == "end" and len(rest) <= 1:
            return Said(friends.end(tx, user_id, rest[0] if rest else "", now))
        if verb == "talked" and len(rest) == 2:
            return Said(friends.talked(tx, user_id, " ".join(rest).lower(), now))
        if verb == "share":
            return Said(self._share(tx, user_id, rest, now))
        if verb in {"accept", "decline", "unshare", "open"} and token is not None:
            act = {
                "accept": friends.accept,
                "decline": friends.decline,
                "unshare": sharing.take_back,
                "open": sharing.open,
            }[verb]
            return Said(act(tx, user_id, token, now))
        if verb == "feedback" and token is not None:
            return sharing.begin_feedback(tx, user_id, token, now)
        if verb == "reply" and token is not None:
            return sharing.begin_reply(tx, user_id, token, now)
        if verb in {"accept", "decline", "unshare", "open", "feedback", "reply"}:
            return Said([Outgoing(wording.NOT_AVAILABLE)])
        return Said([Outgoing(wording.UNKNOWN)])

    def _share(
        self, tx: Transaction, user_id: int, rest: list[str], now: datetime
    ) -> list[Outgoing]:
        if not rest:
            return self.sharing.choose(tx, user_id, now)
        reflection_id = as_id(rest[0])
        if len(rest) == 1 and reflection_id is not None:
            return self.sharing.confirm(tx, user_id, reflection_id, now)
        pairing_id = as_id(rest[2]) if len(rest) == 3 and rest[1] == "with" else None
        if reflection_id is not None and pairing_id is not None:
            return self.sharing.share(tx, user_id, reflection_id, pairing_id, now)
        return [Outgoing(wording.NOT_AVAILABLE)]

    # ---- hooks for the service and the dispatcher --------------------------------------

    def settings(self, tx: Transaction, user_id: int) -> Outgoing:
        """The critical-friend line of `settings`: in the pool or not, and the way to change it."""
        profile = book(tx).profile(user_id)
        if profile is None or not profile.in_pool:
            return Outgoing(
                wording.SETTINGS_OUT, shortcuts=(Choice("friend join", wording.JOIN_POOL),)
            )
        count = profile.max_pairings
        text = wording.SETTINGS_IN.format(
            count=count,
            s="" if count == 1 else "s",
            rounds=wording.IN_ROUNDS if profile.rounds else wording.NOT_IN_ROUNDS,
        )
        return Outgoing(text, shortcuts=(Choice("friend leave", wording.LEAVE_POOL),))

    def home(self, tx: Transaction, user_id: int, now: datetime) -> Outgoing:
        """For a home screen: the pool line of `settings`, and a way to ask or see the pairing."""
        line = self.settings(tx, user_id)
        ask = Choice(
            "friend",
            wording.YOUR_FRIEND
            if self.friends.has_pairing(tx, user_id, now)
            else wording.ASK_A_FRIEND,
        )
        return Outgoing(line.text, shortcuts=(ask, *line.shortcuts))

    def offer(self, tx: Transaction, user_id: int, reflection_id: int, now: datetime) -> Outgoing:
        """Said after a reflection: show it to your critical friend, or ask for one."""
        if book(tx).active_pairings(user_id, now):
            return Outgoing(
                wording.OFFER_SHARE,
                shortcuts=(Choice(f"friend share {reflection_id}", wording.SHARE_THIS),),
            )
        return Outgoing(
            wording.OFFER_FRIEND,
            shortcuts=(Choice(f"friend ask {reflection_id}", wording.ASK_A_FRIEND),),
        )

    def run_started(self, tx: Transaction, user_id: int, dialogue_id: str, key: str) -> None:
        if dialogue_id in PEER_DIALOGUES:
            self.sharing.run_started(tx, user_id, dialogue_id, key)

    def run_finished(
        self, tx: Transaction, user_id: int, dialogue_id: str, key: str, now: datetime
    ) -> list[Outgoing]:
        if dialogue_id not in PEER_DIALOGUES:
            return []
        return self.sharing.run_finished(tx, user_id, key, now)

    def render(
        self, tx: Transaction, delivery: Delivery, now: datetime
    ) -> tuple[Outgoing, ...] | None:
        notice = Notice.of(delivery)
        if notice is None:
            return None
        return self.inbox.render(tx, delivery.user_id, notice, now)

    @staticmethod
    def member_erased(tx: Transaction, ended: list[tuple[int, int]], now: datetime) -> None:
        """A worker asked to be forgotten: each colleague of theirs hears now that the
        pairing has ended (the notice planned for its end, brought forward)."""
        for pairing_id, colleague in ended:
            told.bring_forward(tx, colleague, Notice(told.ENDED, pairing_id), now)
            told.call_off(tx, colleague, Notice(told.TALK, pairing_id))

    def chores(self, tx: Transaction, now: datetime) -> None:
        self.friends.chores(tx, now, book(tx).organisation_slugs())
