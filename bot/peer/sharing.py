"""Sharing a reflection with a critical friend, the friend's feedback, and the answer to it.

Consent is per item and per pairing: the author picks one reflection, sees who will read
it, and confirms; taking it back ends access at once. One rule decides who may open a
shared item (`viewable`): a member of its pairing, while the pairing lasts, in the
same organisation, and not after it was taken back. Every other case (a guessed
handle, a replayed button, an ended pairing, another organisation) gets the same
sentence, so a refusal never tells whether the item exists.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot import journal
from bot.dialogues import Catalog
from bot.messages import Choice, Outgoing
from bot.peer import notices as told
from bot.peer import wording
from bot.peer.friends import Said, book, name_of, names_in
from bot.peer.notices import Notice
from bot.store import Transaction, audit
from bot.store.friends import BEGUN, DRAFTING, Feedback, Pairing, Share

log = logging.getLogger(__name__)

FEEDBACK_DIALOGUE = "friend_feedback"
REPLY_DIALOGUE = "friend_reply"
FEEDBACK_STEPS = (
    ("well", wording.WELL),
    ("question", wording.QUESTION),
    ("suggestion", wording.SUGGESTION),
)
REPLY_STEP = "take_away"
CHOICES_SHOWN = 8


def shareable(dialogue_id: str) -> bool:
    """A worker's own reflections; not feedback they gave or answers to feedback."""
    return dialogue_id not in {FEEDBACK_DIALOGUE, REPLY_DIALOGUE}


class Sharing:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def _title(self, dialogue_id: str) -> str:
        return journal.title(self.catalog, dialogue_id)

    # ---- the rule -----------------------------------------------------------------

    @staticmethod
    def viewable(
        tx: Transaction, viewer_id: int, token: str, now: datetime
    ) -> tuple[Share, Pairing] | None:
        friends = book(tx)
        share = friends.share_by_token(token)
        if share is None or share.revoked_at is not None:
            return None
        pairing = friends.pairing(share.pairing_id)
        if pairing is None or not pairing.active(now) or viewer_id not in pairing.members:
            return None
        if friends.organisation_of(viewer_id) != pairing.organisation_id:
            return None
        return share, pairing

    # ---- the author: choosing, confirming, taking back --------------------------------

    def choose(self, tx: Transaction, user_id: int, now: datetime) -> list[Outgoing]:
        if not book(tx).active_pairings(user_id, now):
            return [Outgoing(wording.NO_PAIRING)]
        entries = [e for e in tx.journal(user_id) if shareable(e.dialogue_id)]
        if not entries:
            return [Outgoing(wording.NOTHING_TO_SHARE)]
        newest = entries[-CHOICES_SHOWN:][::-1]
        return [
            Outgoing(
                wording.CHOOSE_TO_SHARE,
                shortcuts=tuple(
                    Choice(
                        f"friend share {e.id}",
                        f"{e.finished_at:%d %b %Y} · {self._title(e.dialogue_id)}",
                    )
                    for e in newest
                ),
            )
        ]

    def confirm(
        self, tx: Transaction, user_id: int, reflection_id: int, now: datetime
    ) -> list[Outgoing]:
        record = tx.reflection(user_id, reflection_id)
        pairings = book(tx).active_pairings(user_id, now)
        if record is None or not shareable(record.dialogue_id):
            return [Outgoing(wording.NOT_AVAILABLE)]
        if not pairings:
            return [Outgoing(wording.NO_PAIRING)]
        everyone = wording.names([names_in(tx, p, user_id) for p in pairings])
        text = wording.CONFIRM_SHARE.format(
            title=self._title(record.dialogue_id),
            date=f"{record.finished_at:%-d %B}",
            names=everyone if len(pairings) == 1 else "one of your critical friends",
        )
        buttons = tuple(
            Choice(
                f"friend share {reflection_id} with {p.id}",
                wording.SHARE_WITH.format(names=names_in(tx, p, user_id)),
            )
            for p in pairings
        )
        return [Outgoing(text, shortcuts=(*buttons, Choice("friend", wording.NOT_NOW)))]

    def share(
        self,
        tx: Transaction,
        user_id: int,
        reflection_id: int,
        pairing_id: int,
        now: datetime,
    ) -> list[Outgoing]:
        friends = book(tx)
        record = tx.reflection(user_id, reflection_id)
        pairing = next(
            (p for p in friends.active_pairings(user_id, now) if p.id == pairing_id), None
        )
        if record is None or pairing is None or not shareable(record.dialogue_id):
            return [Outgoing(wording.NOT_AVAILABLE)]
        share = friends.share(pairing.id, reflection_id, user_id, now)
        audit.record(tx.connection, now, "share", f"share:{share.id}", actor_id=user_id)
        for friend in pairing.others(user_id):
            told.tell(tx, friend, Notice(told.SHARED, share.id), now)
        log.info("reflection shared with pairing %d (share %d)", pairing.id, share.id)
        return [
            Outgoing(
                wording.SHARED.format(names=names_in(tx, pairing, user_id)),
                shortcuts=(Choice(f"friend unshare {share.token}", wording.TAKE_BACK),),
            )
        ]

    def take_back(self, tx: Transaction, user_id: int, token: str, now: datetime) -> list[Outgoing]:
        share = book(tx).share_by_token(token)
        if share is None or share.author_id != user_id:
            return [Outgoing(wording.NOT_AVAILABLE)]
        if book(tx).revoke(share.id, now):
            audit.record(tx.connection, now, "revoke", f"share:{share.id}", actor_id=user_id)
            log.info("share %d taken back", share.id)
        return [Outgoing(wording.TAKEN_BACK)]

    # ---- the friend: reading and feedback ------------------------------------------------

    def open(self, tx: Transaction, user_id: int, token: str, now: datetime) -> list[Outgoing]:
        found = self.viewable(tx, user_id, token, now)
        if found is None:
            return [Outgoing(wording.NOT_AVAILABLE)]
        share, _ = found
        record = tx.reflection(share.author_id, share.reflection_id)
        if record is None:
            return [Outgoing(wording.NOT_AVAILABLE)]
        text = journal.render_shared(record, self.catalog)
        if user_id == share.author_id:
            return [Outgoing(text)]
        given = book(tx).start_feedback_if_any(share.id, user_id)
        if given is not None and given.status == "sent" and given.sent_at is not None:
            sent = wording.FEEDBACK_SENT_ALREADY.format(date=f"{given.sent_at:%-d %B}")
            return [Outgoing(text), Outgoing(sent)]
        return [
            Outgoing(
                text,
                shortcuts=(Choice(f"friend feedback {share.token}", wording.GIVE_FEEDBACK),),
            )
        ]

    def begin_feedback(self, tx: Transaction, user_id: int, token: str, now: datetime) -> Said:
        found = self.viewable(tx, user_id, token, now)
        if found is None or found[0].author_id == user_id:
            return Said([Outgoing(wording.NOT_AVAILABLE)])
        share, _ = found
        given = book(tx).start_feedback(share.id, user_id, now)
        if given.status == "sent" and given.sent_at is not None:
            return Said(
                [Outgoing(wording.FEEDBACK_SENT_ALREADY.format(date=f"{given.sent_at:%-d %B}"))]
            )
        # Linked to the run that starts next; a draft of it, carried on, is its already.
        book(tx).begin_feedback(user_id, given.id)
        return Said([], start=FEEDBACK_DIALOGUE)  # its intro says what a friend does

    def run_started(self, tx: Transaction, user_id: int, dialogue_id: str, key: str) -> None:
        """Link a feedback or reply run, just started or carried on, to what it answers."""
        friends = book(tx)
        if dialogue_id == FEEDBACK_DIALOGUE:
            own = friends.feedback_by_run(key)
            if own is not None:
                # A draft carried on stays with the share it was written about, whatever
                # was begun since: moved, its words could reach another colleague.
                if own.status == BEGUN:
                    friends.update_feedback(own.id, status=DRAFTING)
                return
            waiting = friends.feedback_waiting_for_run(user_id)
            if waiting is None:
                return
            if waiting.run_key is not None and tx.draft(waiting.run_key) is not None:
                # Begun afresh instead of carried on: linked to nothing, the old draft
                # could later be carried on as feedback on another share, so it goes.
                tx.discard_run(waiting.run_key)
            friends.update_feedback(waiting.id, run_key=key, status=DRAFTING)
        elif dialogue_id == REPLY_DIALOGUE:
            waiting = friends.reply_waiting_for_run(user_id)
            if waiting is not None:
                friends.unlink_run(key)
                friends.update_feedback(waiting.id, reply_key=key)

    def run_finished(
        self, tx: Transaction, user_id: int, key: str, now: datetime
    ) -> list[Outgoing]:
        """A finished feedback run goes to the author; a finished reply, to the friend."""
        friends = book(tx)
        given = friends.feedback_by_run(key)
        if given is not None and given.friend_id == user_id and given.status != "sent":
            return self._deliver_feedback(tx, given, now)
        answered = friends.feedback_by_reply(key)
        if answered is not None and answered.replied_at is None:
            share = friends.share_of(answered.share_id)
            if share is None or share.author_id != user_id:
                return []
            friends.update_feedback(answered.id, replied_at=now)
            told.tell(tx, answered.friend_id, Notice(told.REPLY, answered.id), now)
            return [Outgoing(wording.REPLY_KEPT.format(name=name_of(tx, answered.friend_id)))]
        return []

    def _deliver_feedback(self, tx: Transaction, given: Feedback, now: datetime) -> list[Outgoing]:
        friends = book(tx)
        share = friends.share_of(given.share_id)
        author = name_of(tx, share.author_id) if share is not None else wording.A_COLLEAGUE
        if share is None or self.viewable(tx, given.friend_id, share.token, now) is None:
            return [Outgoing(wording.FEEDBACK_NOT_DELIVERED.format(name=author))]
        friends.update_feedback(given.id, status="sent", sent_at=now)
        told.tell(tx, share.author_id, Notice(told.FEEDBACK, given.id), now)
        log.info("feedback %d sent on share %d", given.id, share.id)
        return [Outgoing(wording.FEEDBACK_DELIVERED.format(name=author))]

    # ---- the author: answering the feedback --------------------------------------------------

    def begin_reply(self, tx: Transaction, user_id: int, token: str, now: datetime) -> Said:
        friends = book(tx)
        given = friends.feedback_by_token(token)
        share = friends.share_of(given.share_id) if given is not None else None
        if given is None or share is None or share.author_id != user_id or given.status != "sent":
            return Said([Outgoing(wording.NOT_AVAILABLE)])
        if given.replied_at is not None:
            return Said([Outgoing(wording.REPLIED_ALREADY)])
        friends.begin_reply(user_id, given.id)
        told_whom = wording.REPLY_BEGINS.format(name=name_of(tx, given.friend_id))
        return Said([Outgoing(told_whom)], start=REPLY_DIALOGUE)
