"""The conversation service: the one place where the engine meets the store.

For every incoming event it opens one transaction, records the event id (a repeat
is a no-op), loads the worker's state, asks the pure engine what to do, applies
the effects and saves the new state, then commits. Either all of a turn happens or
none of it does, so a crash at any point resumes exactly where the worker was.

Channels call `handle` and render the replies; they never see the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from bot import guides, journal, journal_search
from bot.care import export
from bot.care import wording as care_wording
from bot.care.retention import RETENTION, Retention
from bot.care.settings import Care
from bot.cpd import chat as cpd_chat
from bot.dialogues import Catalog
from bot.engine import (
    MAX_ANSWER_CHARS,
    MAX_DRAFTS_OFFERED,
    Context,
    Draft,
    Mode,
    RunState,
    SessionState,
    clean_text,
    current_question,
    step,
    wording,
)
from bot.engine.effects import (
    AnswerSaved,
    CheckInRequested,
    Effect,
    RunDiscarded,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
)
from bot.lessons import Lessons
from bot.lessons import chat as lessons_chat
from bot.messages import (
    Admission,
    Attachment,
    Choice,
    Command,
    Gate,
    Incoming,
    IncomingKind,
    Outgoing,
    Reply,
    UnknownCommand,
    UserRef,
    parse_command,
)
from bot.nudges import settings as nudge_settings
from bot.nudges import wording as nudge_wording
from bot.nudges.planner import FOLLOW_UP_DIALOGUE, Nudges
from bot.nudges.schedule import is_zone
from bot.peer import wording as peer_wording
from bot.peer.commands import Peer
from bot.peer.notices import PEER
from bot.peer.sharing import shareable
from bot.store import (
    Delivery,
    DeliveryBook,
    JournalEntry,
    KeyringError,
    ReflectionRecord,
    StorageError,
    Store,
    Transaction,
    audit,
    subject_access,
    utcnow,
)
from bot.store.friends import FriendBook
from bot.store.ids import as_id

log = logging.getLogger(__name__)

RETRIES = 3
TURN_THREADS = 4


def _aside(state: SessionState, said: list[Outgoing]) -> Reply:
    """An answer beside the conversation (journal, nudges, settings), with the open
    question shown again after it, so the worker is never left wondering where they were."""
    question = current_question(state)
    return Reply(
        messages=[*said, *([question] if question is not None else [])],
        waiting=state.mode is not Mode.IDLE,
    )


def is_reflection_id(text: str) -> bool:
    text = text.strip()
    return as_id(text) is not None


T = TypeVar("T")
RECENT_IN_OVERVIEW = 5


@dataclass(frozen=True, slots=True)
class Unfinished:
    dialogue_id: str
    title: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Finished:
    id: int
    dialogue_id: str
    title: str
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class Overview:
    """What a worker's home screen shows: nothing they wrote, only titles and dates."""

    unfinished: tuple[Unfinished, ...]  # begun and not finished, newest first
    recent: tuple[Finished, ...]  # finished, newest first


class ConversationService:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        clock: Callable[[], datetime] = utcnow,
        new_key: Callable[[], str] = lambda: str(uuid.uuid4()),
        max_answer_chars: int = MAX_ANSWER_CHARS,
        nudges: Nudges | None = None,
        peer: Peer | None = None,
        retention: Retention | None = None,
        care: Care | None = None,
        timezone: str = "Europe/London",
        admins: Collection[str] = (),
        cpd: cpd_chat.Policy | None = None,
        lessons: Lessons | None = None,
    ) -> None:
        """`care`: the identifier guard and distress cues, and the support and
        safeguarding words; without it both checks are off (tests that are not about them)."""
        self.store = store
        self.nudges = nudges
        self.peer = peer
        self.retention = retention
        self.care = care
        self.timezone = timezone  # the organisation's, for workers whose own is not known
        self.admins = frozenset(admins)  # "channel:external id" of who may see `stats`
        self.cpd = cpd or cpd_chat.Policy()
        self.lessons = lessons  # None: no lessons for the team offered or taken
        self.support = (care.support if care else None) or wording.DEFAULT_SUPPORT
        self.safeguarding = (care.safeguarding if care else None) or wording.DEFAULT_SAFEGUARDING
        self.catalog = catalog
        self.clock = clock
        self.new_key = new_key
        self.max_answer_chars = max_answer_chars
        # Called (on the event loop) after a turn that told a colleague something, so it
        # goes out now: `critical-friend run` sets it to wake the dispatcher.
        self.on_told: Callable[[], None] | None = None
        # Turns run on a few threads of our own: each keeps one database connection,
        # so this bounds the connections a busy bot holds (see Store._connection).
        self._turns = ThreadPoolExecutor(max_workers=TURN_THREADS, thread_name_prefix="turn")

    # ---- the channel contract ---------------------------------------------

    async def handle(self, incoming: Incoming, gate: Gate | None = None) -> Reply:
        """Run one turn. Safe to call again with the same event id: the repeat does nothing.

        With a `gate` (open platforms), only members take part: someone new joins through
        it in the same transaction as their first turn, and anyone else gets a `refused`
        reply with nothing stored about them. Without one (the terminal) everyone may.
        """
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(self._turns, self.handle_now, incoming, gate)
        if reply.told_others and self.on_told is not None:
            self.on_told()
        return reply

    async def journal(self, user: UserRef) -> list[JournalEntry]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._turns, self._read, lambda tx, uid: tx.journal(uid), user, []
        )

    async def reflection(self, user: UserRef, reflection_id: int) -> ReflectionRecord | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._turns, self._read, lambda tx, uid: tx.reflection(uid, reflection_id), user, None
        )

    async def overview(self, user: UserRef) -> Overview | None:
        """Titles and dates for a worker's home screen; None for someone who is not a member."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._turns, self._read_or_skip, self._overview, user, None
        )

    async def nudge_summary(self, user: UserRef) -> Outgoing | None:
        """The worker's weekly nudge in one line, with its settings buttons, for a home
        screen; None when nudges are off for the organisation or for someone unknown."""
        nudges = self.nudges
        if nudges is None:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._turns,
            self._read_or_skip,
            lambda tx, uid: nudge_settings.summary(nudges, tx, uid, self.clock()),
            user,
            None,
        )

    async def friend_summary(self, user: UserRef) -> Outgoing | None:
        """Critical friends in one line, with buttons to ask, join or leave, for a home
        screen; None when they are off for the organisation or for someone unknown."""
        peer = self.peer
        if peer is None:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._turns,
            self._read_or_skip,
            lambda tx, uid: peer.home(tx, uid, self.clock()),
            user,
            None,
        )

    def _overview(self, tx: Transaction, user_id: int) -> Overview:
        unfinished = tuple(
            Unfinished(dialogue_id, dialogue.title, updated_at)
            for dialogue_id, updated_at in tx.unfinished(user_id, MAX_DRAFTS_OFFERED)
            if (dialogue := self.catalog.get(dialogue_id)) is not None
        )
        recent = tuple(
            Finished(
                entry.id,
                entry.dialogue_id,
                journal.title(self.catalog, entry.dialogue_id),
                entry.finished_at,
            )
            for entry in reversed(tx.journal(user_id)[-RECENT_IN_OVERVIEW:])
        )
        return Overview(unfinished=unfinished, recent=recent)

    async def note_timezone(self, user: UserRef, name: str) -> bool:
        """Keep a member's time zone (an IANA name) for the scheduler; False if not kept."""
        if not is_zone(name):
            return False
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._turns,
            self._read_or_skip,
            lambda tx, uid: self._set_timezone(tx, uid, name),
            user,
            False,
        )

    @staticmethod
    def _set_timezone(tx: Transaction, user_id: int, name: str) -> bool:
        if tx.timezone(user_id) != name:
            tx.set_timezone(user_id, name)
        return True

    async def admit(self, user: UserRef, invite_code: str | None, *, allowed: bool) -> Admission:
        """Whether a person on an open platform may talk to the bot, joining them if they may.

        A known worker is a member. Someone new joins with a valid invitation code (the
        invitation's organisation) or when the channel's config allows them (`allowed`,
        the default organisation). Anyone else is refused and nothing about them is kept.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._turns, self._admit, user, invite_code, allowed)

    def _admit(self, user: UserRef, invite_code: str | None, allowed: bool) -> Admission:
        try:
            with self.store.transaction() as tx:
                return self._let_in(tx, user, Gate(invite_code, allowed), self.clock())
        except StorageError as error:
            log.error("admission check failed: %s", error)
            return Admission.UNAVAILABLE

    @staticmethod
    def _let_in(tx: Transaction, user: UserRef, gate: Gate, now: datetime) -> Admission:
        if tx.find_user(user) is not None:
            return Admission.MEMBER
        organisation_id = tx.redeem_invite(gate.invite_code, now) if gate.invite_code else None
        if organisation_id is not None:
            tx.join(user, organisation_id, now)
            return Admission.JOINED
        if gate.allowed:
            tx.join(user, tx.default_organisation(now), now)
            return Admission.JOINED
        return Admission.REFUSED

    def close(self) -> None:
        self._turns.shutdown(wait=True)

    # ---- one turn ------------------------------------------------------------

    def handle_now(self, incoming: Incoming, gate: Gate | None = None) -> Reply:
        """The blocking body of `handle`, for callers that are already on a worker thread."""
        started = time.perf_counter()
        for attempt in range(1, RETRIES + 1):
            try:
                reply = self._turn(incoming, gate)
            except StorageError as error:
                if error.retry and attempt < RETRIES:
                    # Two first messages of a new worker at once (the loser then finds
                    # the worker the winner created), or a connection the server dropped.
                    log.info("turn %s will be retried: %s", incoming.event_id, error)
                    continue
                log.error("turn %s failed: %s", incoming.event_id, error)
                return Reply(messages=[Outgoing(text=wording.STORAGE_DOWN)], failed=True)
            except KeyringError as error:
                log.error("turn %s failed: %s", incoming.event_id, error)
                return Reply(messages=[Outgoing(text=wording.KEY_PROBLEM)], failed=True)
            log.debug(
                "turn %s done in %.1f ms (%d replies%s)",
                incoming.event_id,
                (time.perf_counter() - started) * 1000,
                len(reply.messages),
                ", duplicate" if reply.duplicate else "",
            )
            return reply
        return Reply(messages=[Outgoing(text=wording.STORAGE_DOWN)], failed=True)

    def _turn(self, incoming: Incoming, gate: Gate | None) -> Reply:
        now = self.clock()
        with self.store.transaction() as tx:
            if gate is not None and self._let_in(tx, incoming.user, gate, now) is Admission.REFUSED:
                log.info("event %s from someone who is not a member; refused", incoming.event_id)
                return Reply(refused=True)
            if not tx.record_event(incoming.user.channel, incoming.event_id, now):
                log.info("event %s already processed; ignoring the repeat", incoming.event_id)
                return Reply(duplicate=True)
            user_id, saved = tx.load_worker(incoming.user, now)
            state = SessionState.from_json(saved)
            reply = self._turn_for(tx, user_id, state, incoming, now)
            # What colleagues did meanwhile (an invitation, feedback): shown now, before
            # the reply, so the open question stays last.
            waiting = self._waiting(tx, user_id, now)
            if waiting:
                reply = replace(reply, messages=[*waiting, *reply.messages])
            if tx.told_others:
                reply = replace(reply, told_others=True)
            return reply

    def _waiting(self, tx: Transaction, user_id: int, now: datetime) -> list[Outgoing]:
        """Notices due for this worker (from colleagues, about retention), shown in the
        conversation they are having now, and so never pushed as well."""
        if (self.peer is None and self.retention is None) or not tx.notice_due(user_id, now):
            return []  # nearly every turn: one indexed query, no more
        renderers: list[tuple[str, Callable[[Delivery], tuple[Outgoing, ...] | None]]] = []
        peer, retention = self.peer, self.retention
        if peer is not None:
            renderers.append((PEER, lambda delivery: peer.render(tx, delivery, now)))
        if retention is not None:
            renderers.append((RETENTION, lambda delivery: retention.render(tx, delivery)))
        book = DeliveryBook(tx.connection)
        said: list[Outgoing] = []
        for kind, render in renderers:
            for delivery in book.take_due(user_id, kind, now):
                shown = render(delivery)
                if shown:
                    said.extend(shown)
                else:  # it no longer applies (a share taken back, a reflection gone)
                    book.not_shown(delivery.id, "no longer applies")
        return said

    def _turn_for(
        self,
        tx: Transaction,
        user_id: int,
        state: SessionState,
        incoming: Incoming,
        now: datetime,
    ) -> Reply:
        # Parsed as the engine will see it, so "\x00journal" means the same to both.
        text = clean_text(incoming.text)
        command = parse_command(text) if incoming.kind is IncomingKind.TEXT else None
        before: list[Outgoing] = []
        admin = f"{incoming.user.channel}:{incoming.user.external_id}"
        if isinstance(command, UnknownCommand) and command.name == "stats" and admin in self.admins:
            # Anyone else gets the engine's "I don't know that command": nothing says
            # the command exists.
            return _aside(state, [self._stats(tx, user_id, now)])
        if isinstance(command, Command) and command.name == "friend":
            if self.peer is None:
                return _aside(state, [Outgoing(peer_wording.NOT_ON)])
            answer = self.peer.command(tx, user_id, command.argument, now)
            if answer.start is None:
                return _aside(state, answer.messages)
            # Feedback, or an answer to feedback: its dialogue starts now, after
            # a word on what it is for.
            before = answer.messages
            command = Command("reflect", answer.start)
            incoming = replace(incoming, text=f"/reflect {answer.start}")
        if isinstance(command, Command) and command.name == "forget":
            return self._forget(tx, user_id, state, command.argument, now)
        if isinstance(command, Command):
            said = self._said_beside(tx, user_id, command, now)
            if said is not None:
                return _aside(state, said)
        if isinstance(command, Command) and command.name == "followup":
            # "Tell me how it went", from a follow-up message: the follow-up dialogue,
            # linked to the reflection whose plan it asks about once it starts.
            if not self._begin_follow_up(tx, user_id, command.argument):
                return _aside(state, [Outgoing(nudge_wording.NO_SUCH_FOLLOW_UP)])
            command = Command("reflect", FOLLOW_UP_DIALOGUE)
            incoming = replace(incoming, text=f"/reflect {FOLLOW_UP_DIALOGUE}")
        asked = (
            nudge_settings.requested(text, command, in_run=state.mode is Mode.IN_RUN)
            if incoming.kind is IncomingKind.TEXT
            else None
        )
        if asked is not None:
            said = (
                nudge_settings.answer(self.nudges, tx, user_id, asked, now)
                if self.nudges is not None
                else [Outgoing(nudge_wording.SETTINGS_NOT_ON)]
            )
            if self.peer is not None and not asked.strip():
                said = [*said, self.peer.settings(tx, user_id)]
            return _aside(state, list(said))
        # Menus and greetings need more than a turn inside a reflection does.
        in_reflection = (
            state.mode is Mode.IN_RUN
            and incoming.kind is not IncomingKind.START
            and command is None
        )
        context = Context(
            catalog=self.catalog,
            now=now,
            new_run_key=self.new_key(),
            drafts=() if in_reflection else self._drafts(tx, user_id),
            display_name=None if in_reflection else tx.display_name(user_id),
            max_answer_chars=self.max_answer_chars,
            identifiers=self.care.identifiers if self.care else None,
            cues=self.care.cues if self.care else None,
            support=self.support,
            safeguarding=self.safeguarding,
        )
        turn = step(state, incoming, context)
        after = self._apply(tx, user_id, turn.effects, now)
        tx.save_state(user_id, turn.state.to_json(), now)
        log.info(
            "turn %s user=%d mode=%s effects=%s",
            incoming.event_id,
            user_id,
            turn.state.mode.value,
            ",".join(type(e).__name__ for e in turn.effects) or "-",
        )
        replies = [*before, *turn.replies, *after]
        if incoming.kind is IncomingKind.START and self.nudges is not None:
            # After the greeting, before the menu.
            waiting = self.nudges.waiting_for(tx, user_id, now)
            replies = [*replies[:1], *waiting, *replies[1:]]
        return Reply(
            messages=replies,
            waiting=turn.state.mode is not Mode.IDLE,
            stale=turn.stale,
        )

    def _said_beside(
        self, tx: Transaction, user_id: int, command: Command, now: datetime
    ) -> list[Outgoing] | None:
        """A command answered beside the conversation, which stays where it was; None
        for one that is not (it goes on to the engine)."""
        argument = command.argument
        match command.name:
            case "support":
                # Always at hand: a list of phrases misses distress put in new words.
                return [Outgoing(self.support)]
            case "export":
                return self._export(tx, user_id, now)
            case "cpd":
                return cpd_chat.answer(
                    tx, user_id, argument, now, self.catalog, self.timezone, self.cpd
                )
            case "revise":
                return [self._revise(tx, user_id, argument, now)]
            case "tag" | "untag":
                if not argument.strip():
                    return [Outgoing(journal_search.HOW_TO_TAG)]
                return [self._tag(tx, user_id, argument, add=command.name == "tag")]
            case "journal":
                return [self._journal_in_chat(tx, user_id, argument)]
            case "lesson" | "lessons":
                if self.lessons is None:
                    return [Outgoing(lessons_chat.NOT_ON)]
                return self.lessons.answer(tx, user_id, command.name, argument, now)
            case "guide":
                # Read beside a reflection: the open question is shown again after it.
                return guides.answer(argument, self.catalog)
            case "nudge":
                if self.nudges is None:
                    return [Outgoing(nudge_wording.NOT_ON)]
                return list(self.nudges.command(tx, user_id, argument, now))
        return None

    def _stats(self, tx: Transaction, user_id: int, now: datetime) -> Outgoing:
        """An admin's `/stats`: their organisation's figures, counts only, and the chart."""
        from bot import stats  # loaded only when an admin asks

        organisation_id = FriendBook(tx.connection).organisation_of(user_id)
        found = stats.collect(
            tx.connection, now, organisation_id=organisation_id, zone=self.timezone
        )
        audit.record(
            tx.connection, now, "stats", f"organisation:{organisation_id}", actor_id=user_id
        )
        chart = Attachment(
            f"participation-{now:%Y-%m-%d}.png", stats.chart_png(found), stats.MEDIA_TYPE
        )
        return Outgoing(f"{stats.render_text(found)}\n\n{stats.CAPTION}", attachment=chart)

    def _export(self, tx: Transaction, user_id: int, now: datetime) -> list[Outgoing]:
        """`export`: a copy of everything kept about the worker, as two files."""
        as_json, as_markdown = export.attachments(
            subject_access.collect(tx, user_id), self.catalog, now
        )
        audit.record(tx.connection, now, "export", f"user:{user_id}", actor_id=user_id)
        log.info("worker %d exported their data", user_id)
        return [
            Outgoing(care_wording.EXPORT_JSON, attachment=as_json),
            Outgoing(care_wording.EXPORT_MARKDOWN, attachment=as_markdown),
        ]

    def _forget(
        self, tx: Transaction, user_id: int, state: SessionState, argument: str, now: datetime
    ) -> Reply:
        """`forget`: asks first; `forget yes DATE` (its button, valid that day) erases."""
        today = f"{now:%Y-%m-%d}"
        answer = argument.strip().lower()
        if answer == "no":
            return _aside(state, [Outgoing(care_wording.KEPT)])
        if not answer.startswith("yes"):
            confirm = Outgoing(
                care_wording.FORGET_ASK,
                shortcuts=(
                    Choice(f"forget yes {today}", care_wording.FORGET_YES),
                    Choice("forget no", care_wording.FORGET_NO),
                ),
            )
            return _aside(state, [confirm])
        if answer != f"yes {today}":
            return _aside(state, [Outgoing(care_wording.FORGET_EXPIRED)])
        ended = subject_access.erase(tx, user_id, now)
        if self.peer is not None:
            self.peer.member_erased(tx, ended, now)
        log.info("a worker was erased at their request")
        return Reply(messages=[Outgoing(care_wording.FORGOTTEN)])

    def _drafts(self, tx: Transaction, user_id: int) -> tuple[Draft, ...]:
        return tuple(
            Draft(run=RunState.from_json(stored.state), updated_at=stored.updated_at)
            # A few more than are offered: drafts of a model that is gone are left out later.
            for stored in tx.drafts(user_id, MAX_DRAFTS_OFFERED * 3)
            if stored.state
        )

    def _apply(
        self, tx: Transaction, user_id: int, effects: list[Effect], now: datetime
    ) -> list[Outgoing]:
        """Store what the turn did; what it means beyond the reflection (feedback sent
        on, a critical friend offered) comes back to be said after the engine's replies."""
        after: list[Outgoing] = []
        peer = self.peer
        for effect in effects:
            match effect:
                case RunStarted(key=key, dialogue_id=dialogue_id):
                    tx.start_run(user_id, key, dialogue_id, now)
                    if dialogue_id == FOLLOW_UP_DIALOGUE:
                        self._link_follow_up(tx, user_id, key)
                    if peer is not None:
                        peer.run_started(tx, user_id, dialogue_id, key)
                case AnswerSaved(key=key, step_id=step_id, text=text):
                    tx.save_answer(key, step_id, text, now)
                case RunPaused(key=key, run=run):
                    tx.pause_run(key, run.to_json(), now)
                case RunResumed(key=key):
                    tx.resume_run(key, now)
                    if peer is not None:
                        peer.run_started(tx, user_id, tx.dialogue_of(key) or "", key)
                case RunDiscarded(key=key):
                    tx.discard_run(key)
                case RunFinished(key=key, summary=summary):
                    dialogue_id = tx.dialogue_of(key) or ""
                    reflection_id = tx.finish_run(key, summary, now)
                    if peer is not None:
                        after += peer.run_finished(tx, user_id, dialogue_id, key, now)
                    after += self._offers(tx, user_id, dialogue_id, reflection_id, now)
                case CheckInRequested(key=key, days=days):
                    tx.set_check_in(key, user_id, days, now)
        return after

    def _offers(
        self, tx: Transaction, user_id: int, dialogue_id: str, reflection_id: int, now: datetime
    ) -> list[Outgoing]:
        """After a reflection of their own: a button to show it to a critical friend, and
        one to offer the team a lesson from it, in one message."""
        dialogue = self.catalog.get(dialogue_id)
        if dialogue is None or not dialogue.listed or not shareable(dialogue_id):
            return []
        lesson = (
            self.lessons.offer(tx, user_id, reflection_id) if self.lessons is not None else None
        )
        if self.peer is None:
            return [Outgoing(lessons_chat.OFFER, shortcuts=(lesson,))] if lesson else []
        friend = self.peer.offer(tx, user_id, reflection_id, now)
        if lesson is None:
            return [friend]
        return [
            replace(
                friend,
                text=f"{friend.text} {lessons_chat.OFFER_MORE}",
                shortcuts=(*friend.shortcuts, lesson),
            )
        ]

    @staticmethod
    def _begin_follow_up(tx: Transaction, user_id: int, argument: str) -> bool:
        check = tx.check_in(int(argument), user_id) if is_reflection_id(argument) else None
        if check is None:
            return False
        tx.set_check_in_status(check.id, "started")
        return True

    @staticmethod
    def _link_follow_up(tx: Transaction, user_id: int, key: str) -> None:
        """A follow-up run belongs to the reflection whose check-in the worker answered."""
        check = tx.started_check_in(user_id)
        if check is not None:
            tx.set_follows(key, check.key)
            tx.set_check_in_status(check.id, "answered")

    def _journal_search(self, tx: Transaction, user_id: int, text: str) -> Outgoing:
        query = journal_search.parse(text)
        if query.problems or not text.strip():
            return Outgoing("\n".join([*query.problems, journal_search.HOW_TO_SEARCH]))
        found = journal_search.search(tx, user_id, query)
        if not found:
            return Outgoing(journal_search.NOTHING_FOUND)
        heading = journal_search.FOUND.format(count=len(found), s="" if len(found) == 1 else "s")
        listing = journal.render_list(found, self.catalog, "text")
        return Outgoing(
            f"{heading}\n{listing}\n\n{wording.JOURNAL_HOW_TO_OPEN}",
            shortcuts=journal.shortcuts(found, self.catalog),
        )

    def _revise(self, tx: Transaction, user_id: int, argument: str, now: datetime) -> Outgoing:
        """`revise 3` lists reflection 3's answers by number; `revise 3 2: new text` replaces
        answer 2, keeping the earlier text as a revision (as `back` does mid-reflection)."""
        head, colon, new_text = argument.partition(":")
        number, _, step_text = head.strip().partition(" ")
        record = tx.reflection(user_id, int(number)) if is_reflection_id(number) else None
        if record is None:
            return Outgoing(journal_search.NOT_YOURS.format(id=number))
        steps = list(record.answers)
        if not step_text or not colon:
            listing = "\n".join(
                f"{n}. {journal.short(text)}" for n, text in enumerate(record.answers.values(), 1)
            )
            return Outgoing(journal_search.EDIT_WHICH.format(id=record.id, steps=listing))
        step_text = step_text.strip()
        # "/revise 3 abc: x" gets past the command's pattern with its slash.
        position = int(step_text) if step_text.isdecimal() and len(step_text) <= 3 else 0
        if not 1 <= position <= len(steps):
            shown = step_text[:20]
            return Outgoing(journal_search.EDIT_NO_STEP.format(id=record.id, step=shown))
        text = clean_text(new_text).strip()
        if not text:
            return Outgoing(journal_search.EDIT_EMPTY)
        key = tx.reflection_key(user_id, record.id)
        if key is None:
            return Outgoing(journal_search.NOT_YOURS.format(id=number))
        tx.save_answer(key, steps[position - 1], text[: self.max_answer_chars], now)
        return Outgoing(journal_search.EDITED.format(id=record.id))

    @staticmethod
    def _tag(tx: Transaction, user_id: int, argument: str, *, add: bool) -> Outgoing:
        """`tag 3 court supervision` adds tags to reflection 3; `untag 3 court` takes one off."""
        number, *words = argument.split()
        reflection_id = int(number) if is_reflection_id(number) else None
        kept = tx.tags_of(user_id, reflection_id) if reflection_id is not None else None
        if reflection_id is None or kept is None:
            return Outgoing(journal_search.NOT_YOURS.format(id=number))
        good, bad = journal_search.clean_tags(words)
        if bad:
            return Outgoing(journal_search.BAD_TAGS.format(bad=", ".join(bad)))
        tags = list(kept)
        for tag in good:
            if add and tag not in tags:
                tags.append(tag)
            elif not add and tag in tags:
                tags.remove(tag)
        if len(tags) > journal_search.MAX_TAGS:
            return Outgoing(journal_search.TOO_MANY_TAGS)
        tx.set_tags(user_id, reflection_id, tags)
        if not tags:
            return Outgoing(journal_search.NO_TAGS.format(id=reflection_id))
        return Outgoing(journal_search.TAGGED.format(id=reflection_id, tags=", ".join(tags)))

    def _journal_in_chat(self, tx: Transaction, user_id: int, argument: str) -> Outgoing:
        if argument.lower().startswith("search"):
            return self._journal_search(tx, user_id, argument[len("search") :])
        shortcuts: tuple[Choice, ...] = ()
        if is_reflection_id(argument):
            record = tx.reflection(user_id, int(argument))
            text = (
                journal.render_one(record, self.catalog, "text")
                if record
                else wording.no_such_reflection(argument)
            )
        else:
            entries = tx.journal(user_id)
            text = journal.render_list(entries, self.catalog, "text")
            if entries:
                text += "\n\n" + wording.JOURNAL_HOW_TO_OPEN
            shortcuts = journal.shortcuts(entries, self.catalog)
        return Outgoing(text=text, shortcuts=shortcuts)

    def _read(self, read: Callable[[Transaction, int], T], user: UserRef, missing: T) -> T:
        with self.store.transaction() as tx:
            user_id = tx.find_user(user)
            return missing if user_id is None else read(tx, user_id)

    def _read_or_skip(self, read: Callable[[Transaction, int], T], user: UserRef, missing: T) -> T:
        """`_read` for what can wait (a home screen, a time zone): a database that is
        down gives `missing`, logged, instead of an error."""
        try:
            return self._read(read, user, missing)
        except StorageError as error:
            log.warning("skipped a read for a home screen or time zone: %s", error)
            return missing
