"""The words of a notice, made when it goes out, from what is true then.

None means it no longer applies (the invitation closed, the pairing ended early, the
share was taken back), and the row is skipped instead of sent.
"""

from __future__ import annotations

from datetime import datetime

from bot import journal
from bot.dialogues import Catalog
from bot.messages import Choice, Outgoing
from bot.peer import notices as told
from bot.peer import wording
from bot.peer.friends import Friends, book, name_of, names_in
from bot.peer.notices import Notice
from bot.peer.sharing import FEEDBACK_STEPS, REPLY_STEP, Sharing
from bot.store import Transaction


class Inbox:
    def __init__(self, friends: Friends, sharing: Sharing, catalog: Catalog) -> None:
        self.friends = friends
        self.sharing = sharing
        self.catalog = catalog

    def render(
        self, tx: Transaction, user_id: int, notice: Notice, now: datetime
    ) -> tuple[Outgoing, ...] | None:
        what = notice.what
        if what == told.INVITED:
            return self._invited(tx, user_id, notice.subject, now)
        if what == told.LOOKING:
            return self._if_open_request(tx, user_id, self._looking(tx, notice.subject))
        if what == told.WAITING:
            return self._if_open_request(tx, user_id, wording.WAITING_FOR_SOMEONE)
        if what in {told.PAIRED, told.ROUND, told.TALK, told.ENDED}:
            return self._about_pairing(tx, user_id, notice, now)
        if what == told.DEFERRED:
            return (
                Outgoing(
                    wording.ROUND_DEFERRED,
                    shortcuts=(
                        Choice("friend", wording.ASK_A_FRIEND),
                        Choice("friend rounds off", wording.STOP_ROUNDS),
                    ),
                ),
            )
        if what == told.SHARED:
            return self._shared(tx, user_id, notice.subject, now)
        if what == told.FEEDBACK:
            return self._feedback(tx, user_id, notice.subject)
        if what == told.REPLY:
            return self._reply(tx, user_id, notice.subject)
        return None

    def _invited(
        self, tx: Transaction, user_id: int, invitation_id: int, now: datetime
    ) -> tuple[Outgoing, ...] | None:
        friends = book(tx)
        invitation = friends.invitation(invitation_id)
        if invitation is None or invitation.user_id != user_id:
            return None
        if invitation.status != "open" or invitation.expires_at <= now:
            return None
        if friends.organisation_of(user_id) != friends.organisation_of(invitation.requester_id):
            return None  # moved to another organisation since: not even who asked is told
        text = wording.INVITED.format(name=name_of(tx, invitation.requester_id))
        return (
            Outgoing(
                text,
                shortcuts=(
                    Choice(f"friend accept {invitation.token}", wording.ACCEPT),
                    Choice(f"friend decline {invitation.token}", wording.DECLINE),
                ),
            ),
        )

    @staticmethod
    def _looking(tx: Transaction, invitation_id: int) -> str:
        """Someone else asked after a no; or, nobody being free when they asked, the
        first colleague asked now: then nobody has said no."""
        invitation = book(tx).invitation(invitation_id)
        if invitation is not None and book(tx).invited(invitation.request_id) == {
            invitation.user_id
        }:
            return wording.SOMEONE_FREE_NOW
        return wording.LOOKING_AGAIN

    @staticmethod
    def _if_open_request(tx: Transaction, user_id: int, text: str) -> tuple[Outgoing, ...] | None:
        if book(tx).open_request(user_id) is None:
            return None  # paired or stopped meanwhile: old news
        return (Outgoing(text, shortcuts=(Choice("friend cancel", wording.STOP_LOOKING),)),)

    def _about_pairing(
        self, tx: Transaction, user_id: int, notice: Notice, now: datetime
    ) -> tuple[Outgoing, ...] | None:
        pairing = book(tx).pairing(notice.subject)
        if pairing is None or user_id not in pairing.members:
            return None
        others = names_in(tx, pairing, user_id)
        weeks = self.friends.config.pairing_weeks
        share = (Choice("friend share", wording.SHARE_A_REFLECTION),)
        if notice.what == told.ENDED:
            if pairing.ended_at is not None and pairing.ended_at < pairing.ends_at:
                other = pairing.others(user_id)
                if len(other) == 1:
                    return (Outgoing(wording.ENDED_BY_OTHER.format(name=name_of(tx, other[0]))),)
                # Who ended a trio's pairing is not kept, and naming one of the two
                # could name the wrong one.
                return (Outgoing(wording.ENDED_EARLY.format(names=others)),)
            return (Outgoing(wording.ENDED_IN_TIME.format(names=others)),)
        if not pairing.active(now):
            return None
        if notice.what == told.PAIRED:
            text = wording.PAIRED_REQUESTER.format(name=others, weeks=weeks)
            request_reflection = book(tx).reflection_asked_about(user_id, pairing.started_at)
            if request_reflection is not None:
                share = (Choice(f"friend share {request_reflection}", wording.SHARE_A_REFLECTION),)
            return (Outgoing(text, shortcuts=share),)
        if notice.what == told.ROUND:
            # Paired without being asked this time: a way out comes with the news.
            end = Choice(f"friend end {pairing.id}", wording.END_PAIRING)
            return (
                Outgoing(
                    wording.ROUND_PAIRED.format(names=others, weeks=weeks),
                    shortcuts=(*share, end),
                ),
            )
        return (
            Outgoing(
                wording.TALK_CHECK.format(names=others),
                shortcuts=(
                    Choice(f"friend talked yes {pairing.id}", wording.TALKED_YES),
                    Choice(f"friend talked no {pairing.id}", wording.TALKED_NO),
                ),
            ),
        )

    def _shared(
        self, tx: Transaction, user_id: int, share_id: int, now: datetime
    ) -> tuple[Outgoing, ...] | None:
        share = book(tx).share_of(share_id)
        if share is None or user_id == share.author_id:
            return None
        if self.sharing.viewable(tx, user_id, share.token, now) is None:
            return None  # taken back, or the pairing ended, before it went out
        record = tx.reflection(share.author_id, share.reflection_id)
        if record is None:
            return None
        text = wording.SHARED_WITH_YOU.format(
            name=name_of(tx, share.author_id),
            title=journal.title(self.catalog, record.dialogue_id),
            date=f"{record.finished_at:%-d %B}",
        )
        return (Outgoing(text, shortcuts=(Choice(f"friend open {share.token}", wording.OPEN_IT),)),)

    def _feedback(
        self, tx: Transaction, user_id: int, feedback_id: int
    ) -> tuple[Outgoing, ...] | None:
        given = book(tx).feedback_of(feedback_id)
        share = book(tx).share_of(given.share_id) if given is not None else None
        if given is None or share is None or share.author_id != user_id or given.run_key is None:
            return None
        record = tx.reflection(user_id, share.reflection_id)
        if record is None:
            return None
        answers = tx.answers_of(given.run_key)
        heading = wording.FEEDBACK_ON_YOURS.format(
            name=name_of(tx, given.friend_id),
            title=journal.title(self.catalog, record.dialogue_id),
            date=f"{record.finished_at:%-d %B}",
        )
        parts = [heading] + [
            f"{label}:\n{answers[step]}" for step, label in FEEDBACK_STEPS if answers.get(step)
        ]
        return (
            Outgoing(
                "\n\n".join(parts),
                shortcuts=(Choice(f"friend reply {given.token}", wording.ANSWER_FEEDBACK),),
            ),
        )

    def _reply(
        self, tx: Transaction, user_id: int, feedback_id: int
    ) -> tuple[Outgoing, ...] | None:
        given = book(tx).feedback_of(feedback_id)
        if given is None or given.friend_id != user_id or not given.reply_key:
            return None
        share = book(tx).share_of(given.share_id)
        text = tx.answers_of(given.reply_key).get(REPLY_STEP)
        if share is None or not text:
            return None
        return (
            Outgoing(wording.REPLY_ON_YOURS.format(name=name_of(tx, share.author_id), text=text)),
        )
