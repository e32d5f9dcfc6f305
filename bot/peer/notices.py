"""Telling someone else: messages for the other side of a pairing.

A turn answers the worker who wrote; what it means for a colleague (an invitation, a
share, feedback) is planned as a delivery row of kind `peer` in the same transaction,
so it is sent exactly once or not at all. The dispatcher pushes it through the
colleague's own chat app; a colleague who only uses the terminal sees it there the next
time they write (see `ConversationService`). The row says only what happened and to
which record (`period` = "what:id"); the words are made when it goes out, from what is
true then, so an invitation that has closed or a share taken back is never announced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.messages import Outgoing
from bot.store import DeliveryBook, Transaction
from bot.store.deliveries import Delivery

PEER = "peer"

# What a notice is about: the part of `period` before the colon.
INVITED = "invited"  # you are asked to be someone's critical friend: invitation id
LOOKING = "looking"  # the one asked said no or did not answer; someone else asked: invitation id
WAITING = "waiting"  # ... and nobody else is free yet: request id
PAIRED = "paired"  # your request was accepted: pairing id
ROUND = "round"  # you were paired in a round: pairing id
DEFERRED = "deferred"  # nobody fitted you this round: round id
TALK = "talk"  # "did you get to talk?": pairing id
ENDED = "ended"  # the pairing came to its end (or the other ended it): pairing id
SHARED = "shared"  # a reflection was shared with you: share id
FEEDBACK = "feedback"  # your friend sent feedback: feedback id
REPLY = "reply"  # the author answered your feedback: feedback id


@dataclass(frozen=True, slots=True)
class Notice:
    what: str
    subject: int

    @property
    def period(self) -> str:
        return f"{self.what}:{self.subject}"

    @classmethod
    def of(cls, delivery: Delivery) -> Notice | None:
        what, _, subject = delivery.period.partition(":")
        return cls(what, int(subject)) if subject.isdecimal() else None


def tell(
    tx: Transaction,
    user_id: int,
    notice: Notice,
    now: datetime,
    *,
    due_at: datetime | None = None,
) -> bool:
    """Plan a notice for a colleague; telling them the same thing twice is a no-op."""
    planned = DeliveryBook(tx.connection).plan(
        user_id, PEER, notice.period, due_at or now, now, reference=notice.what
    )
    if planned and (due_at is None or due_at <= now):
        tx.told_others = True
    return planned


def bring_forward(tx: Transaction, user_id: int, notice: Notice, now: datetime) -> bool:
    """Make a notice planned for later due now (a pairing ended early)."""
    moved = DeliveryBook(tx.connection).move(user_id, PEER, notice.period, now)
    tx.told_others = tx.told_others or moved
    return moved


def call_off(tx: Transaction, user_id: int, notice: Notice) -> bool:
    return DeliveryBook(tx.connection).cancel(user_id, PEER, notice.period, "no longer needed")


# Renders a due notice for its recipient, or None when it no longer applies.
Renderer = Callable[[Transaction, int, Notice, datetime], "tuple[Outgoing, ...] | None"]
