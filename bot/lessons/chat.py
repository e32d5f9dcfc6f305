"""`lesson ...` in chat: a lesson for the team drafted from a reflection, changed, shown
back word for word and shared only when the worker approves that exact text.

    lessons                    the worker's lessons, and where each stands
    lesson new 3               a lesson drafted from reflection 3 (the button after it)
    lesson show 2              lesson 2 as the team would read it
    lesson words 2: text       new words for lesson 2 (checked for identifying details)
    lesson theme 2 [THEME]     the themes to choose from, or choose one
    lesson share 2 CHECK       approve: the button carries a check of the words shown,
                               so an old button never approves words changed since
    lesson delete 2            gone, and in no digest from now on
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from bot.care.identifiers import Patterns
from bot.cpd.year import uk_date
from bot.dialogues import Catalog
from bot.lessons.draft import MAX_CHARS, Checked, check, drafted
from bot.lessons.themes import Themes
from bot.messages import Choice, Outgoing
from bot.store import Transaction
from bot.store.ids import as_id
from bot.store.lessons import LessonBook, StoredLesson

OFFER: Final = "If something here could help colleagues, you could offer it as an anonymous lesson."
OFFER_MORE: Final = "Or, if something here could help colleagues, offer it as an anonymous lesson."
OFFER_BUTTON: Final = "Offer a lesson"

AS_THE_TEAM_READS: Final = (
    "This is how your team would read it in the digest, with no name:\n\n“{text}”\n\nTheme: {theme}"
)
NOTHING_SHARED_YET: Final = "Nothing is shared unless you choose “Share with the team”."
SHARE: Final = "Share with the team"
CHANGE_WORDS: Final = "Change the words"
CHANGE_THEME: Final = "Choose a theme"
DELETE: Final = "Not now"
TOOK_OUT: Final = "I took out what looked like identifying details ({kinds})."
NO_DRAFT: Final = (
    "There was not enough in the conclusion and plan to draft a lesson from. "
    "You can write one in your own words: lesson words {id}: and a sentence or two."
)
HOW_TO_WORD: Final = "To change the words, type: lesson words {id}: and the new words."
STILL_IDENTIFYING: Final = (
    "That looks like it has identifying details ({kinds}). Please take them out: only "
    "anonymous lessons go to the team. Nothing was changed."
)
TOO_LONG: Final = "Please keep a lesson under {limit} characters: it is read among many others."
EMPTY: Final = "A lesson needs a few words. Nothing was changed."
PICK_THEME: Final = "Which theme fits best? It decides where the lesson sits in the digest."
THEME_SET: Final = "Theme changed to {theme}."
UNKNOWN_THEME: Final = "That is not one of the themes. Choose one of these:"
SHARED: Final = (
    "Thank you. It will be in the next team digest, exactly as shown, with no name. "
    "You can take it back before then with: lesson delete {id}"
)
CHANGED_SINCE: Final = (
    "The words or theme changed after that button was sent, so nothing was shared. "
    "Here is the lesson as it is now."
)
ALREADY_SHARED: Final = "That lesson is shared already, as shown."
IN_A_DIGEST: Final = (
    "That lesson is in a team digest already, so it cannot be changed. You can delete "
    "it: lesson delete {id}"
)
DELETED: Final = "Deleted. It will not be in any digest."
DELETED_AFTER: Final = (
    "Deleted. It was in the digest of {day}, which has gone out and cannot be unsent; it "
    "will be in no other."
)
NOT_YOURS: Final = "There is no reflection {id} in your journal."
NO_LESSON: Final = "There is no lesson {id} of yours."
NONE_YET: Final = (
    "You have not offered any lessons yet. After a reflection you can offer one, or "
    "type: lesson new and the reflection's number (see journal)."
)
NOT_ON: Final = "Team lessons are not switched on here."
NO_DIGEST: Final = (
    "There is no team digest set up for your organisation yet, so lessons can't be "
    "shared for now. Nothing was shared."
)
NO_DIGEST_YET: Final = (
    "Lessons are sentences you choose to share, with no name, in a team digest. There "
    "is no team digest set up for your organisation yet, so there is nothing to do here "
    "for now."
)
HOW_TO: Final = (
    "Lessons: lessons lists yours. lesson new 3 drafts one from reflection 3. "
    "lesson show 2, lesson words 2: new words, lesson theme 2, lesson delete 2."
)


@dataclass(frozen=True, slots=True)
class Lessons:
    """The lessons part of the service: what it needs to draft and check lessons."""

    catalog: Catalog
    themes: Themes
    identifiers: Patterns | None
    offer_after_reflection: bool = True
    # Whether an organisation's digest goes anywhere (by its slug): a lesson is offered
    # and shared only where it will reach the team. None: everywhere.
    digest_to: Callable[[str], bool] | None = None

    def offer(self, tx: Transaction, user_id: int, reflection_id: int) -> Choice | None:
        """The button said after a finished reflection of the worker's own."""
        if not self.offer_after_reflection or not self._goes_out(tx, user_id):
            return None
        return Choice(f"lesson new {reflection_id}", OFFER_BUTTON)

    def _goes_out(self, tx: Transaction, user_id: int) -> bool:
        if self.digest_to is None:
            return True
        slug = LessonBook(tx).organisation_slug(user_id)
        return slug is not None and self.digest_to(slug)

    def answer(
        self, tx: Transaction, user_id: int, command: str, argument: str, now: datetime
    ) -> list[Outgoing]:
        book = LessonBook(tx)
        verb, _, rest = argument.strip().partition(" ")
        verb, rest = verb.lower(), rest.strip()
        if command == "lessons" or not verb:
            if not book.mine(user_id) and not self._goes_out(tx, user_id):
                return [Outgoing(NO_DIGEST_YET)]  # not "after a reflection you can offer one"
            return [self._list(book, user_id)]
        if verb in {"new", "share"} and not self._goes_out(tx, user_id):
            return [Outgoing(NO_DIGEST)]  # it would wait for a digest that never comes
        if verb == "new" and rest.isdecimal():
            reflection_id = as_id(rest)
            if reflection_id is None:
                return [Outgoing(NOT_YOURS.format(id=rest))]
            return self._new(tx, book, user_id, reflection_id, now)
        number, _, more = rest.partition(":" if verb == "words" else " ")
        number = number.strip()
        lesson_id = as_id(number)
        lesson = book.get(user_id, lesson_id) if lesson_id is not None else None
        if verb in {"show", "words", "theme", "share", "delete"} and lesson is None:
            return [Outgoing(NO_LESSON.format(id=number or "?"))]
        if lesson is None:
            return [Outgoing(HOW_TO)]
        match verb:
            case "show":
                return [self._shown(lesson)]
            case "words":
                return self._words(book, user_id, lesson, more, colon=":" in rest)
            case "theme":
                return self._theme(book, user_id, lesson, more.strip().lower())
            case "share":
                return self._share(book, user_id, lesson, more.strip(), now)
            case "delete":
                book.delete(user_id, lesson.id)
                if lesson.sent_at is not None and lesson.period is not None:
                    day = uk_date(date.fromisoformat(lesson.period))
                    return [Outgoing(DELETED_AFTER.format(day=day))]
                return [Outgoing(DELETED)]
        return [Outgoing(HOW_TO)]

    def _new(
        self, tx: Transaction, book: LessonBook, user_id: int, reflection_id: int, now: datetime
    ) -> list[Outgoing]:
        existing = book.of_reflection(user_id, reflection_id)
        if existing is not None:
            return [self._shown(existing)]
        record = tx.reflection(user_id, reflection_id)
        if record is None:
            return [Outgoing(NOT_YOURS.format(id=reflection_id))]
        lesson = drafted(record, self.catalog, self.identifiers)
        theme = self.themes.suggest(lesson.text)
        lesson_id = book.create(user_id, reflection_id, lesson.text, theme, now)
        stored = book.get(user_id, lesson_id) if lesson_id is not None else None
        if stored is None:
            return [Outgoing(NOT_YOURS.format(id=reflection_id))]
        said = []
        if lesson.removed:
            said.append(Outgoing(TOOK_OUT.format(kinds=", ".join(lesson.removed))))
        if not lesson.text:
            return [*said, Outgoing(NO_DRAFT.format(id=stored.id))]
        return [*said, self._shown(stored)]

    def _words(
        self, book: LessonBook, user_id: int, lesson: StoredLesson, text: str, *, colon: bool
    ) -> list[Outgoing]:
        if lesson.period is not None:
            return [Outgoing(IN_A_DIGEST.format(id=lesson.id))]
        if not colon:
            return [Outgoing(HOW_TO_WORD.format(id=lesson.id))]
        checked: Checked = check(text, self.identifiers)
        if not checked.text:
            return [Outgoing(EMPTY)]
        if len(checked.text) > MAX_CHARS:
            return [Outgoing(TOO_LONG.format(limit=MAX_CHARS))]
        if checked.removed:
            return [Outgoing(STILL_IDENTIFYING.format(kinds=", ".join(checked.removed)))]
        book.change(user_id, lesson.id, text=checked.text)
        changed = book.get(user_id, lesson.id)
        return [self._shown(changed if changed is not None else lesson)]

    def _theme(
        self, book: LessonBook, user_id: int, lesson: StoredLesson, key: str
    ) -> list[Outgoing]:
        if lesson.period is not None:
            return [Outgoing(IN_A_DIGEST.format(id=lesson.id))]
        choices = tuple(
            Choice(f"lesson theme {lesson.id} {theme}", self.themes.label(theme))
            for theme in self.themes.keys
        )
        if not key:
            return [Outgoing(PICK_THEME, shortcuts=choices)]
        if not self.themes.knows(key):
            return [Outgoing(UNKNOWN_THEME, shortcuts=choices)]
        book.change(user_id, lesson.id, theme=key)
        changed = book.get(user_id, lesson.id)
        return [
            Outgoing(THEME_SET.format(theme=self.themes.label(key))),
            self._shown(changed if changed is not None else lesson),
        ]

    def _share(
        self, book: LessonBook, user_id: int, lesson: StoredLesson, token: str, now: datetime
    ) -> list[Outgoing]:
        if lesson.approved:
            return [Outgoing(ALREADY_SHARED), self._shown(lesson)]
        if token != approval_check(lesson):
            return [Outgoing(CHANGED_SINCE), self._shown(lesson)]
        if not lesson.text or check(lesson.text, self.identifiers).removed:
            # Words the guard would not pass now (new patterns since): shown, not shared.
            return [Outgoing(CHANGED_SINCE), self._shown(lesson)]
        book.approve(user_id, lesson.id, now)
        return [Outgoing(SHARED.format(id=lesson.id))]

    def _shown(self, lesson: StoredLesson) -> Outgoing:
        text = AS_THE_TEAM_READS.format(text=lesson.text, theme=self.themes.label(lesson.theme))
        if lesson.period is not None or lesson.approved:
            state = (
                "It is shared: it goes out in the next digest."
                if lesson.period is None
                else "It is in a team digest."
            )
            return Outgoing(f"{text}\n\n{state}")
        return Outgoing(
            f"{text}\n\n{NOTHING_SHARED_YET}",
            shortcuts=(
                Choice(f"lesson share {lesson.id} {approval_check(lesson)}", SHARE),
                Choice(f"lesson words {lesson.id}", CHANGE_WORDS),
                Choice(f"lesson theme {lesson.id}", CHANGE_THEME),
                Choice(f"lesson delete {lesson.id}", DELETE),
            ),
        )

    def _list(self, book: LessonBook, user_id: int) -> Outgoing:
        mine = book.mine(user_id)
        if not mine:
            return Outgoing(NONE_YET)
        lines = []
        for lesson in mine:
            if lesson.sent_at is not None:
                state = "in a team digest"
            elif lesson.approved or lesson.period is not None:
                state = "shared, waiting for the next digest"
            else:
                state = "a draft, not shared"
            short = lesson.text if len(lesson.text) <= 80 else lesson.text[:79] + "…"
            lines.append(f"  {lesson.id}. {short or '(no words yet)'} ({state})")
        return Outgoing("\n".join(["Your lessons:", *lines, "", HOW_TO]))


def approval_check(lesson: StoredLesson) -> str:
    """A short check of the words and theme a button was sent with."""
    digest = hashlib.sha256(f"{lesson.theme}\n{lesson.text}".encode()).hexdigest()
    return digest[:12]
