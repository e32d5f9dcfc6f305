"""The conversation engine: `step(state, incoming, context) -> Turn`.

Pure on purpose: no I/O, no clock, no randomness. Time and fresh ids arrive in
the `Context`; what should happen to the world leaves as `effects`. That makes
every turn deterministic to test and safe to replay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum

from bot.care.cues import CueSet
from bot.care.identifiers import Patterns
from bot.dialogues import END, Catalog, Dialogue, Step
from bot.dialogues.model import fill_placeholders, joined, part_key
from bot.dialogues.model import parts as written
from bot.engine import coach, guards, wording
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
from bot.engine.state import Coached, Held, Mode, RunState, SessionState
from bot.engine.tone import blame_phrases
from bot.messages import (
    Choice,
    Command,
    Incoming,
    IncomingKind,
    Outgoing,
    UnknownCommand,
    parse_command,
)

# About 3,000 words: far more than any one answer needs, small enough to store and
# show comfortably. Longer messages are refused with a sentence, never cut silently.
MAX_ANSWER_CHARS = 20_000
MAX_DRAFTS_OFFERED = 3
# The value of the "Send it as written" choice, offered while a `guard: blame` answer is
# held back. It is carried on the question, so a press from an older message is stale.
SEND_AS_WRITTEN = "send_as_written"
# The end-of-reflection summary is short: each answer at most about this long there.
# The journal keeps every word.
SUMMARY_ANSWER_CHARS = 280
# The dialogue `write` (and `/write`) starts: free writing, kept in the journal.
WRITE_DIALOGUE = "write"

# Answers that say nothing yet; a step with a follow-up probes these once.
VAGUE_ANSWERS = frozenset(
    {
        "idk", "i dont know", "dont know", "no idea", "not sure", "unsure", "dunno",
        "fine", "ok", "okay", "alright", "good", "bad", "nothing", "none", "n/a", "na",
        "same", "yes", "no", "maybe", "not really", "nothing really", "it was fine",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Draft:
    """A paused reflection the worker may pick up again."""

    run: RunState
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Context:
    catalog: Catalog
    now: datetime
    new_run_key: str  # used only if this turn starts a reflection
    drafts: tuple[Draft, ...] = ()  # paused reflections, newest first
    display_name: str | None = None
    max_answer_chars: int = MAX_ANSWER_CHARS
    # The care checks on free-text answers (bot.engine.guards). Off unless given: the
    # service passes the compiled patterns and cues from its configuration.
    identifiers: Patterns | None = None
    cues: CueSet | None = None
    # Shown to a worker who may not be coping, and to one whose answer suggests someone
    # they support is at risk: from the configuration, or these UK defaults.
    support: str = wording.DEFAULT_SUPPORT
    safeguarding: str = wording.DEFAULT_SAFEGUARDING


@dataclass(slots=True)
class Turn:
    state: SessionState
    replies: list[Outgoing] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    # What came in answered a question that has moved on: nothing was saved.
    stale: bool = False


def step(state: SessionState, incoming: Incoming, context: Context) -> Turn:
    """Work out the next state, what to say and what to do, for one incoming message."""
    turn = _TurnBuilder(SessionState.from_json(state.to_json()), context)
    turn.handle(incoming)
    return Turn(state=turn.state, replies=turn.replies, effects=turn.effects, stale=turn.stale)


def current_question(state: SessionState) -> Outgoing | None:
    """The open question, to show again after something that was not an answer."""
    if state.mode is Mode.IDLE or not state.question:
        return None
    return Outgoing(
        text=state.question,
        choices=tuple(Choice(value=v, label=label) for v, label in state.pending),
        reply_token=state.reply_token,
    )


# Control characters (category Cc) except tab and line breaks, and U+FFFD, which stands
# for bytes that were not valid UTF-8. Right-to-left marks are format characters (Cf)
# and are kept, so Arabic or Hebrew text stays intact.
_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


def clean_text(text: str) -> str:
    """Drop control characters (keeping line breaks and tabs) and undecodable bytes."""
    unified = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNWANTED.sub("", unified).strip()


class _Check(IntEnum):
    """The checks a free-text answer passes before it is saved, in order (bot.engine.guards).
    The follow-up, between the cues and the identifiers, is asked only of a first answer."""

    CUES = 1
    IDENTIFIERS = 2
    BLAME = 3


def is_vague(text: str) -> bool:
    normal = "".join(ch for ch in text.casefold() if ch.isalnum() or ch in " /")
    return " ".join(normal.split()) in VAGUE_ANSWERS


class _TurnBuilder:
    def __init__(self, state: SessionState, context: Context) -> None:
        self.state = state
        self.context = context
        self.replies: list[Outgoing] = []
        self.effects: list[Effect] = []
        self.stale = False

    # ---- entry -------------------------------------------------------------

    def handle(self, incoming: Incoming) -> None:
        if incoming.kind is IncomingKind.UNSUPPORTED:
            self.say(wording.ONLY_TEXT)
            self.reask()
            return
        stale = incoming.in_reply_to is not None and incoming.in_reply_to != self.state.reply_token
        if incoming.kind is IncomingKind.LEAVE:
            if stale:
                return  # that window was behind; what the worker does elsewhere carries on
            if self.state.run is not None:
                self.pause()
            elif self.state.mode is Mode.CHOOSING:
                self.go_idle()
            return
        if incoming.kind is IncomingKind.START:
            self.start(clean_text(incoming.text) or None, greet=True)
            return
        raw = incoming.text
        text = clean_text(raw)
        if incoming.kind is IncomingKind.TEXT:
            command = parse_command(text)
            if isinstance(command, UnknownCommand):
                self.say(wording.unknown_command(command.name))
                self.reask()
                return
            if command is not None and stale and command.name in _ACTS_ON_THE_QUESTION:
                self.refuse_stale()
                return
            if command is not None:
                self.command(command)
                return
        if stale:
            self.refuse_stale()
            return
        if raw.strip() and not text:
            self.say(wording.UNREADABLE)
            self.reask()
            return
        is_choice = incoming.kind is IncomingKind.CHOICE
        mode = self.state.mode
        if mode is Mode.IDLE:
            self.start(None, greet=True)
        elif mode is Mode.CHOOSING:
            self.menu_choice(self.resolve(text, is_choice))
        elif mode is Mode.CONFIRM_STOP:
            self.stop_choice(self.resolve(text, is_choice))
        else:
            self.answer(text, is_choice)

    # ---- commands ----------------------------------------------------------

    def command(self, command: Command) -> None:
        name = command.name
        if name in {"reflect", "start", "menu"}:
            self.start(command.argument or None, greet=False)
        elif name == "write":
            self.start(WRITE_DIALOGUE, greet=False)
        elif name == "resume":
            self.resume_newest()
        elif name == "help" or name == "journal":
            # `journal` is answered by the service, which can read the store.
            self.say(wording.HELP)
            self.reask()
        elif self.state.mode is Mode.CONFIRM_STOP:
            if name == "pause":
                self.keep_draft()
            elif name == "stop":
                self.reask()
            else:
                self.carry_on()
        elif self.state.mode is not Mode.IN_RUN or self.state.run is None:
            self.outside_run(name)
        elif name == "back":
            self.back()
        elif name == "skip":
            self.skip()
        elif name == "pause":
            self.pause()
        elif name == "stop":
            self.ask(wording.CONFIRM_STOP, _STOP_CHOICES, mode=Mode.CONFIRM_STOP)
        elif name == "done":
            self.done()

    def outside_run(self, name: str) -> None:
        if name == "done":
            self.say(wording.NOTHING_TO_FINISH)
            self.reask()
        elif name in {"pause", "stop"}:
            if self.state.mode is Mode.CHOOSING:
                self.close_menu()
            else:
                self.say(wording.NOTHING_TO_PAUSE if name == "pause" else wording.NOTHING_TO_STOP)
        else:
            self.reask()

    # ---- starting, menus and drafts ----------------------------------------

    def start(self, requested: str | None, *, greet: bool) -> None:
        drafts = self.drafts_after_interruption()
        if greet:
            self.say(wording.greeting(self.context.display_name))
        wanted = self.context.catalog.get(requested) if requested else None
        if requested and wanted is None:
            self.say(wording.unknown_model(requested))
        if drafts:
            self.offer_drafts(drafts, wanted)
        elif wanted is not None:
            self.start_run(wanted)
        else:
            self.show_menu()

    def drafts_after_interruption(self) -> list[Draft]:
        """An interrupted reflection (closed terminal, killed process) becomes a draft first."""
        drafts = list(self.context.drafts)
        run = self.state.run
        if run is not None:
            self.effects.append(RunPaused(run.key, run))
            self.go_idle()
            drafts = [Draft(run, self.context.now), *(d for d in drafts if d.run.key != run.key)]
        return [d for d in drafts if self.context.catalog.get(d.run.dialogue_id)][
            :MAX_DRAFTS_OFFERED
        ]

    def offer_drafts(self, drafts: list[Draft], wanted: Dialogue | None) -> None:
        newest = drafts[0]
        newest_dialogue = self.context.catalog.dialogues[newest.run.dialogue_id]
        text = wording.resume_offer(
            newest_dialogue.title,
            self.where(newest_dialogue, newest.run),
            _when(newest.updated_at, self.context.now),
        )
        choices = []
        for draft in drafts:
            dialogue = self.context.catalog.dialogues[draft.run.dialogue_id]
            label = wording.resume_choice(dialogue.title)
            if len(drafts) > 1:
                label += f" ({_when(draft.updated_at, self.context.now)})"
            choices.append((f"resume:{draft.run.key}", label))
        if wanted is not None:
            choices.append((f"dialogue:{wanted.id}", f"Start {wanted.title}"))
        else:
            choices.append(("new", wording.NEW_REFLECTION))
        choices.append(("later", wording.NOT_NOW))
        self.ask(text, choices, mode=Mode.CHOOSING)

    def show_menu(self) -> None:
        listed = self.context.catalog.listed
        if not listed:
            self.say(wording.NO_MODELS)
            self.go_idle()
            return
        choices = [(f"dialogue:{d.id}", wording.model_label(d.title, d.minutes)) for d in listed]
        self.ask(wording.CHOOSE_MODEL, choices, mode=Mode.CHOOSING)

    def menu_choice(self, value: str | None) -> None:
        if value is None:
            self.say(wording.PICK_AN_OPTION)
            self.reask()
        elif value == "new":
            self.show_menu()
        elif value == "later":
            self.close_menu()
        elif value.startswith("dialogue:"):
            dialogue = self.context.catalog.get(value.removeprefix("dialogue:"))
            if dialogue is None:
                self.show_menu()
            else:
                self.start_run(dialogue)
        elif value.startswith("resume:"):
            self.resume(value.removeprefix("resume:"))

    def close_menu(self) -> None:
        self.go_idle()
        self.say(wording.NOT_NOW_REPLY)

    def start_run(self, dialogue: Dialogue) -> None:
        run = RunState(
            key=self.context.new_run_key,
            dialogue_id=dialogue.id,
            step_id=dialogue.first_step.id,
            started_at=self.context.now.isoformat(),
        )
        self.state.run = run
        self.effects.append(RunStarted(run.key, dialogue.id))
        if dialogue.intro:
            self.say(dialogue.intro)
        self.ask_step(footer=wording.HOW_TO_PAUSE)

    def resume_newest(self) -> None:
        """`resume`: carry on with the most recent paused reflection, without a menu."""
        if self.state.mode is Mode.IN_RUN:
            self.reask()  # already in one
            return
        if self.state.mode is Mode.CONFIRM_STOP:
            self.carry_on()
            return
        drafts = self.drafts_after_interruption()
        if drafts:
            self.resume(drafts[0].run.key)
        else:
            self.say(wording.NOTHING_TO_RESUME)
            self.show_menu()

    def resume(self, key: str) -> None:
        draft = next((d for d in self.context.drafts if d.run.key == key), None)
        if draft is None:
            self.say(wording.STALE)
            self.show_menu()
            return
        dialogue = self.context.catalog.get(draft.run.dialogue_id)
        if dialogue is None:
            # Its file went away after the offer was made (a restart): the draft stays kept.
            self.lost_dialogue()
            return
        self.state.run = RunState.from_json(draft.run.to_json())
        self.effects.append(RunResumed(key))
        self.say(wording.resumed(dialogue.title))
        held = self.state.run.held_answer
        if held is not None:
            held_for = self.state.run.held_for
            if held_for is Held.CARE:
                # Not quoted back: they know what they wrote, and it was hard to write.
                self.say(wording.CARE_KEPT_WHILE_PAUSED)
            elif held_for is Held.BLAME:
                self.say(wording.held_for_you(held))
            else:
                self.say(wording.held_unsaved(held))
        self.ask_step(footer=wording.HOW_TO_PAUSE)

    # ---- answering ---------------------------------------------------------

    def current(self) -> tuple[RunState, Dialogue, Step] | None:
        run = self.state.run
        if run is None:
            return None
        dialogue = self.context.catalog.get(run.dialogue_id)
        if dialogue is None or not dialogue.has_step(run.step_id):
            return None
        return run, dialogue, dialogue.step(run.step_id)

    def answer(self, text: str, is_choice: bool) -> None:
        current = self.current()
        if current is None:
            self.lost_dialogue()
            return
        run, dialogue, step = current
        if step.is_choice:
            value = self.resolve(text, is_choice)
            chosen = next((c for c in step.choices if c.value == value), None)
            if chosen is None:
                self.say(wording.PICK_AN_OPTION)
                self.reask()
                return
            self.save(run, step, chosen.label)
            if step.action == "check_in":
                days = 0 if chosen.value == "none" else int(chosen.value)
                self.effects.append(CheckInRequested(run.key, days))
                if days:
                    self.say(wording.check_in_booked(days))
            self.advance(run, dialogue, step, dialogue.next_step_id(step, chosen))
            return
        held = run.held_answer
        held_for = run.held_for if held is not None else None
        # One of the options offered while an answer is held (none on a plain question).
        picked = self.resolve(text, is_choice)
        if held is not None and held_for is Held.CARE:
            self.care_choice(run, dialogue, step, text, picked, is_choice)
            return
        if held is not None and held_for is Held.BLAME and picked == SEND_AS_WRITTEN:
            self.save(run, step, held)
            self.advance(run, dialogue, step, dialogue.next_step_id(step))
            return
        if held is not None and held_for in {Held.IDENTIFIERS, Held.EDITING} and picked:
            self.identifiers_choice(run, dialogue, step, held, picked)
            return
        if is_choice:
            # A button pressed on a free-text question belongs to an older message.
            self.refuse_stale()
            return
        if not text:
            self.say(wording.EMPTY_ANSWER)
            self.reask()
            return
        # A follow-up's answer is joined to the first one, so the limit covers both.
        combined = len(text) + len(run.pending_answer or "")
        if step.collect is not None and combined <= self.context.max_answer_chars:
            # Free writing: the limit is on the whole entry, as it is on one answer.
            entry = sum(len(part) for part in written(run.answers, step.id)) + combined
            if entry > self.context.max_answer_chars:
                self.say(wording.entry_full(self.context.max_answer_chars))
                self.reask()
                return
        if combined > self.context.max_answer_chars:
            self.say(wording.too_long(combined, self.context.max_answer_chars))
            self.reask()
            return
        if held is not None:
            # A new version of a held answer replaces it whole. It is checked again, but
            # never probed: the worker has just rewritten it with care.
            self.keep(run, dialogue, step, text)
            return
        if run.pending_answer is not None and run.coached is not None:
            # A coaching follow-up's exchange is kept whole: the first answer, then this.
            self.keep(run, dialogue, step, coach.join(run.pending_answer, text))
            return
        if run.pending_answer is not None:
            # A first answer that was only "ok" or "not sure" adds nothing to the record.
            first = "" if is_vague(run.pending_answer) else f"{run.pending_answer}\n\n"
            self.keep(run, dialogue, step, first + text)
            return
        self.keep(run, dialogue, step, text, probe=True)

    def keep(
        self,
        run: RunState,
        dialogue: Dialogue,
        step: Step,
        text: str,
        *,
        since: _Check = _Check.CUES,
        probe: bool = False,
    ) -> None:
        """Save a free-text answer and move on, unless a check holds it back.

        The checks (bot.engine.guards) run from `since` on, on exactly what would be
        saved: after a follow-up, the first answer and the second together. `probe` asks
        the follow-up of a first answer that needs it. A held answer is saved only by the
        worker's choice ("Carry on", "Redact", "Keep as written", "Send it as written");
        a new version replaces it and is checked again.
        """
        if since <= _Check.CUES:
            cues = guards.unseen_cues(self.context.cues, run, step.id, text)
            if cues:
                _hold(run, text, Held.CARE)
                guards.note_cues(run, step.id, cues)
                self.ask_step()
                return
        if probe and self.follow_up(run, dialogue, step, text):
            return
        if since <= _Check.IDENTIFIERS:
            spotted = guards.spot(self.context.identifiers, text)
            if spotted:
                _hold(run, text, Held.IDENTIFIERS)
                run.held_found = spotted
                self.ask_step()
                return
        if self.guarded(step, text):
            _hold(run, text, Held.BLAME)
            self.ask_step()
            return
        self.save(run, step, text)
        if step.collect is not None:
            self.noted()
            return
        self.advance(run, dialogue, step, dialogue.next_step_id(step))

    def would_hold(self, run: RunState, step: Step, text: str) -> bool:
        """Whether a check would hold `text` back rather than let it be saved."""
        return bool(
            guards.unseen_cues(self.context.cues, run, step.id, text)
            or guards.spot(self.context.identifiers, text)
            or self.guarded(step, text)
        )

    def care_choice(
        self,
        run: RunState,
        dialogue: Dialogue,
        step: Step,
        text: str,
        chosen: str | None,
        is_choice: bool,
    ) -> None:
        """At the care question: carry on (the other checks, then saved), pause or stop.

        What is typed here is said to the bot, not more of the answer ("thanks", "I'm
        ok"), so it is not added to the answer; a new cue in it is answered with care.
        """
        held = run.held_answer
        assert held is not None
        if chosen == guards.CARE_CONTINUE:
            self.keep(run, dialogue, step, held, since=_Check.IDENTIFIERS)
        elif chosen == guards.CARE_PAUSE:
            self.pause()
        elif chosen == guards.CARE_STOP:
            self.ask(wording.CONFIRM_STOP, _STOP_CHOICES, mode=Mode.CONFIRM_STOP)
        elif is_choice:
            self.refuse_stale()
        elif cues := guards.unseen_cues(self.context.cues, run, step.id, text):
            guards.note_cues(run, step.id, cues)
            self.ask_step()
        else:
            self.say(wording.CARE_NOT_AN_OPTION)
            self.reask()

    def identifiers_choice(
        self, run: RunState, dialogue: Dialogue, step: Step, held: str, chosen: str
    ) -> None:
        """At the identifier question: Redact or Keep as written (then the blame check and
        saved), or Edit (wait for a new version, which is checked again)."""
        if chosen == guards.REDACT:
            self.say(wording.REDACTED)
            self.keep(
                run, dialogue, step, guards.redacted(held, run.held_found), since=_Check.BLAME
            )
        elif chosen == guards.KEEP_AS_WRITTEN:
            self.keep(run, dialogue, step, held, since=_Check.BLAME)
        elif chosen == guards.EDIT:
            run.held_for = Held.EDITING
            self.ask_step()

    def follow_up(self, run: RunState, dialogue: Dialogue, step: Step, text: str) -> bool:
        """Ask one follow-up of a first answer, if one fits: a coaching rule's
        (dialogues/coach.yaml, bot.engine.coach) or else the step's own. Never two on a
        step, never of a new version after `back`, never in free writing."""
        if step.id in run.probed or step.id in run.answers or step.collect is not None:
            return False
        own = self.should_probe(run, step, text)
        rules = self.context.catalog.coach
        asked = rules.choose(dialogue.id, step, text, own_follow_up=own) if rules else None
        if asked is None and not own:
            return False
        run.pending_answer = text
        run.probed.append(step.id)
        if asked is not None:
            run.coached = Coached(asked.rule, asked.question, coach.paragraphs(text))
        self.ask_step()
        return True

    def should_probe(self, run: RunState, step: Step, text: str) -> bool:
        probe = step.follow_up
        if probe is None or step.id in run.probed or step.id in run.answers:
            return False
        return len(text.split()) < probe.min_words or (probe.when_vague and is_vague(text))

    @staticmethod
    def guarded(step: Step, text: str) -> bool:
        """Whether the step's guard holds `text` back rather than letting it be saved."""
        return step.guard == "blame" and bool(blame_phrases(text))

    def save(self, run: RunState, step: Step, text: str) -> None:
        if run.coached is not None:
            # The follow-up is kept in the answer, between the first answer and the reply.
            text = coach.encode(text, *run.coached)
            run.coached = None
        run.pending_answer = None
        _release(run)
        # Free writing adds each message under its own key; an answer replaces the last.
        key = step.id
        if step.collect is not None:
            key = part_key(step.id, len(written(run.answers, step.id)) + 1)
        run.answers[key] = text
        if step.id in run.skipped:
            run.skipped.remove(step.id)
        self.effects.append(AnswerSaved(run.key, key, text))

    # ---- free writing (a `collect: until_done` step) -------------------------

    def noted(self) -> None:
        """A message of free writing is kept: a quiet word, and more may follow. The fuller
        one comes after the first message, and after anything else was asked or said."""
        said_before = self.state.question in {wording.NOTED_FIRST, wording.NOTED}
        self.ask(wording.NOTED if said_before else wording.NOTED_FIRST, [], mode=Mode.IN_RUN)

    def done(self) -> None:
        """`done`: free writing is finished. At any other question it is just a word."""
        current = self.current()
        if current is None:
            self.lost_dialogue()
            return
        run, dialogue, step = current
        if step.collect is None:
            # An answer as it always was (or the choice of that name).
            self.answer("done", is_choice=False)
        elif run.held_answer is not None:
            self.say(wording.ENTRY_WAITING)
            self.reask()
        else:
            self.end_entry(run, dialogue, step)

    def end_entry(self, run: RunState, dialogue: Dialogue, step: Step) -> None:
        """Move on from free writing (`done`, or `skip`). With nothing written at all
        there is nothing to save: said kindly, and the worker can still write or stop."""
        next_id = dialogue.next_step_id(step)
        if not run.answers and next_id == END:
            self.ask(wording.ENTRY_EMPTY, [], mode=Mode.IN_RUN)
            return
        if step.id not in run.answers and step.id not in run.skipped:
            run.skipped.append(step.id)
        self.advance(run, dialogue, step, next_id)

    def advance(self, run: RunState, dialogue: Dialogue, step: Step, next_id: str) -> None:
        run.coached = None
        run.history.append(step.id)
        if next_id == END:
            self.finish(run, dialogue)
            return
        run.step_id = next_id
        self.ask_step()

    def skip(self) -> None:
        current = self.current()
        if current is None:
            self.lost_dialogue()
            return
        run, dialogue, step = current
        if step.collect is not None:
            # In free writing skip finishes the entry, as done does: a message still held
            # for a check waits for the worker's choice, rather than being dropped with
            # the entry closed behind it (back lets it go, and the entry stays open).
            self.done()
            return
        # A held answer was never saved; skipping means not saving it. An answer given
        # to this question before, on an earlier pass, is kept.
        _release(run)
        if run.pending_answer is not None:
            # Skipping a follow-up keeps the first answer, so the checks look at it too.
            self.keep(run, dialogue, step, run.pending_answer)
            return
        if step.id not in run.answers and step.id not in run.skipped:
            run.skipped.append(step.id)
        if step.action == "check_in" and step.id not in run.answers:
            # Skipping a check-in question means "no thanks"; record it as that.
            declined = next((c for c in step.choices if c.value == "none"), None)
            if declined is not None:
                self.save(run, step, declined.label)
            self.effects.append(CheckInRequested(run.key, 0))
        self.advance(run, dialogue, step, dialogue.next_step_id(step))

    def back(self) -> None:
        current = self.current()
        if current is None:
            self.lost_dialogue()
            return
        run, _dialogue, step = current
        run.coached = None  # back from a coaching follow-up: the first answer, as written
        if run.held_answer is not None:
            # Back from a held answer returns to its own question, unsaved.
            _release(run)
        elif run.pending_answer is not None:
            # Back from a follow-up returns to its own question, keeping the first answer,
            # unless a check would hold it: then it is dropped, as from a held answer.
            if self.would_hold(run, step, run.pending_answer):
                run.pending_answer = None
            else:
                self.save(run, step, run.pending_answer)
        elif not run.history:
            self.say(wording.NO_BACK_IN_ENTRY if step.collect else wording.FIRST_QUESTION)
            self.reask()
            return
        else:
            run.step_id = run.history.pop()
        self.ask_step()

    def pause(self) -> None:
        current = self.current()
        run = self.state.run
        if run is None:
            return
        where = self.where(current[1], run) if current else "this question"
        self.effects.append(RunPaused(run.key, run))
        # Pausing at the care message for a worker who may not be coping.
        worried = run.held_for is Held.CARE and guards.cue_kinds(run)[0]
        self.go_idle()
        self.say(wording.paused(where))
        if worried:
            self.say(wording.TAKE_CARE)

    def stop_choice(self, value: str | None) -> None:
        if value == "keep":
            self.keep_draft()
        elif value == "discard":
            run = self.state.run
            if run is not None:
                self.effects.append(RunDiscarded(run.key))
            self.go_idle()
            self.say(wording.DISCARDED)
        elif value == "continue":
            self.carry_on()
        else:
            self.say(wording.PICK_AN_OPTION)
            self.reask()

    def keep_draft(self) -> None:
        run = self.state.run
        current = self.current()
        if run is not None:
            where = self.where(current[1], run) if current else "this question"
            self.effects.append(RunPaused(run.key, run))
            self.say(wording.kept_as_draft(where))
        self.go_idle()

    def carry_on(self) -> None:
        if self.state.run is None:
            self.go_idle()
            self.start(None, greet=False)
            return
        self.ask_step()

    def finish(self, run: RunState, dialogue: Dialogue) -> None:
        summary = self.summary(run, dialogue)
        self.effects.append(RunFinished(run.key, summary))
        self.say(summary)
        self.say(
            fill_placeholders(dialogue.closing, coach.shown(joined(run.answers, dialogue)))
            if dialogue.closing
            else wording.FINISHED
        )
        self.go_idle()

    def summary(self, run: RunState, dialogue: Dialogue) -> str:
        answers = coach.shown(joined(run.answers, dialogue))
        if dialogue.summary:
            return fill_placeholders(dialogue.summary, answers, limit=SUMMARY_ANSWER_CHARS)
        lines = [f"Your reflection: {dialogue.title}"]
        for item in dialogue.steps:
            if item.id in answers:
                label = dialogue.stage_label(item) or item.prompt.splitlines()[0]
                short = fill_placeholders(
                    "{a}", {"a": answers[item.id]}, limit=SUMMARY_ANSWER_CHARS
                )
                lines.append(f"{label}: {short}")
        return "\n\n".join(lines)

    def lost_dialogue(self) -> None:
        """The file behind a reflection was removed or broke: keep the draft, say so."""
        run = self.state.run
        if run is not None:
            self.effects.append(RunPaused(run.key, run))
        self.go_idle()
        self.say(wording.DIALOGUE_MISSING)

    def go_idle(self) -> None:
        """Nothing is open any more. The token moves on too, so a reply typed for the
        closed question (in another window, say) is recognised as stale, not taken as
        the start of something new."""
        self.state.run = None
        self.state.mode = Mode.IDLE
        self.state.pending = []
        self.state.question = ""
        self.state.prompt_seq += 1

    # ---- asking ------------------------------------------------------------

    def ask_step(self, footer: str | None = None) -> None:
        current = self.current()
        if current is None:
            self.lost_dialogue()
            return
        run, dialogue, step = current
        heading = wording.stage_heading(
            dialogue.stage_label(step) or dialogue.title, dialogue.stage_position(step)
        )
        choices = [(c.value, c.label) for c in step.choices]
        answers = coach.shown(run.answers)  # as the worker wrote them, without follow-ups
        if run.held_answer is not None and not step.is_choice:
            text, choices = self.held_question(run, run.held_answer)
        elif run.pending_answer is not None and run.coached is not None:
            text = f"{run.coached.question}\n\n{wording.COACH_SKIP}"
        elif run.pending_answer is not None and step.follow_up is not None:
            text = fill_placeholders(step.follow_up.prompt, answers)
        elif step.collect is not None and step.id in run.answers:
            # Back to free writing (resumed, or after stop): where the entry had got to.
            text = wording.entry_so_far(written(run.answers, step.id)[-1], SUMMARY_ANSWER_CHARS)
        else:
            parts = [fill_placeholders(step.prompt, answers)]
            if step.hint:
                parts.append(fill_placeholders(step.hint, answers))
            if step.id in answers and not step.is_choice:
                parts.append(wording.earlier_answer(answers[step.id]))
            text = "\n\n".join(parts)
        self.ask(f"{heading}\n{text}", choices, mode=Mode.IN_RUN, footer=footer)

    def held_question(self, run: RunState, held: str) -> tuple[str, list[tuple[str, str]]]:
        """What is asked while an answer is held back, and its choices."""
        if run.held_for is Held.CARE:
            worker, person = guards.cue_kinds(run)
            text = wording.care_message(
                worker=worker or not person,
                person=person,
                support=self.context.support,
                safeguarding=self.context.safeguarding,
            )
            return text, list(_CARE_CHOICES)
        if run.held_for is Held.IDENTIFIERS:
            found = [(item.kind, item.text) for item in run.held_found]
            labels = [item.label for item in run.held_found]
            return wording.identifiers_found(found, labels), list(_IDENTIFIER_CHOICES)
        if run.held_for is Held.EDITING:
            return wording.edit_prompt(held), list(_IDENTIFIER_CHOICES[:2])
        text = wording.blame_invitation(blame_phrases(held))
        return text, [(SEND_AS_WRITTEN, wording.SEND_AS_WRITTEN)]

    def ask(
        self,
        text: str,
        choices: list[tuple[str, str]],
        *,
        mode: Mode,
        footer: str | None = None,
    ) -> None:
        self.state.mode = mode
        self.state.prompt_seq += 1
        self.state.pending = list(choices)
        self.state.question = text
        question = current_question(self.state)
        if question is not None:
            self.replies.append(replace(question, footer=footer))

    def reask(self) -> None:
        """Show the open question again, with the same reply token."""
        question = current_question(self.state)
        if question is not None:
            self.replies.append(question)

    def refuse_stale(self) -> None:
        self.stale = True
        self.say(wording.STALE)
        self.reask()

    def say(self, text: str) -> None:
        self.replies.append(Outgoing(text=text))

    def resolve(self, text: str, is_choice: bool) -> str | None:
        """The value of the option meant by a button, a number, a label or a value."""
        pending = self.state.pending
        if is_choice:
            return text if any(v == text for v, _ in pending) else None
        if text.isdecimal() and 1 <= int(text) <= len(pending):
            return pending[int(text) - 1][0]
        wanted = text.casefold()
        for value, label in pending:
            if wanted in {value.casefold(), label.casefold()}:
                return value
        return None

    def where(self, dialogue: Dialogue, run: RunState) -> str:
        if not dialogue.has_step(run.step_id):
            return "this question"
        step = dialogue.step(run.step_id)
        label = dialogue.stage_label(step)
        if label:
            return label
        if step.collect is not None:
            return wording.YOUR_WRITING
        return f"question {dialogue.position(step) + 1}"


# Commands that change the open question: from a window that is behind, they would act
# on a question the worker is not looking at.
_ACTS_ON_THE_QUESTION = frozenset({"back", "skip", "pause", "stop", "done"})

_STOP_CHOICES = [
    ("keep", wording.KEEP_DRAFT),
    ("discard", wording.DISCARD),
    ("continue", wording.CARRY_ON),
]
_CARE_CHOICES = (
    (guards.CARE_CONTINUE, wording.CARE_CONTINUE),
    (guards.CARE_PAUSE, wording.CARE_PAUSE),
    (guards.CARE_STOP, wording.CARE_STOP),
)
_IDENTIFIER_CHOICES = (
    (guards.REDACT, wording.REDACT),
    (guards.KEEP_AS_WRITTEN, wording.KEEP_AS_WRITTEN),
    (guards.EDIT, wording.EDIT),
)


def _hold(run: RunState, text: str, reason: Held) -> None:
    """`text` is held back for `reason`, in place of anything held or pending before."""
    _release(run)
    run.pending_answer = None
    run.held_answer = text
    run.held_for = reason


def _release(run: RunState) -> None:
    """Nothing is held any more (saved, or dropped by back or skip)."""
    run.held_answer = None
    run.held_for = None
    run.held_cues = []
    run.held_found = []


def _when(moment: datetime, now: datetime) -> str:
    days = (now.date() - moment.date()).days
    if days <= 0:
        return "from today"
    if days == 1:
        return "from yesterday"
    return f"from {moment.strftime('%A')} {moment.day} {moment.strftime('%B')}"
