"""`cpd ...` in chat: where the worker stands this CPD year, a record drafted from a
reflection and changed field by field before it is saved, and the year as a file.

    cpd                              the year so far, its records, and any unsaved drafts
    cpd new 3                        a draft from reflection 3, kept until saved or let go
    cpd change 3                     which field of that draft to change (buttons)
    cpd change 3 learnt              that field as it is now, and how to change it
    cpd edit draft learnt: text      change a field of the draft last shown
    cpd edit draft 3 learnt: text    ... of the draft from reflection 3
    cpd save 3                       save the draft, as edited, as a CPD record
    cpd later 3 / cpd discard 3      keep the draft for another time / let it go
    cpd show 2                       one record in full
    cpd edit 2 learnt: text          change one field of saved record 2
    cpd export pdf                   this year's records as a PDF (or md)

A draft is not a record: it is not counted in the year, not in a file, and not in the
organisation's figures until it is saved. Everything here is answered beside the
conversation (bot.service `_said_beside`): a worker mid-reflection stays where they were,
which is why a field is changed by one typed message, not by a "type it now" question.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from bot.cpd.draft import (
    DESCRIPTION_CHARS,
    FIELDS,
    IMPACT_CHARS,
    LABELS,
    LEARNT_CHARS,
    PEER_CHARS,
    TITLE_CHARS,
    CpdFields,
    draft,
    parse_date,
)
from bot.cpd.year import Policy as Policy  # where it was first defined; app.py imports it here
from bot.cpd.year import local_date, track, year_of
from bot.dialogues import Catalog
from bot.messages import Choice, Outgoing
from bot.store import Transaction
from bot.store.cpd import CpdBook, StoredDraft
from bot.store.ids import as_id

if TYPE_CHECKING:
    from bot.cpd.render import Format  # render loads fpdf2: only when a file is made

NOT_YOURS = "There is no reflection {id} in your journal."
NO_RECORD = "There is no CPD record {id} of yours."
DRAFTED = (
    "Here is a CPD record drafted from reflection {rid}. Nothing is saved until you say so, "
    "and you can change any part of it first."
)
KEPT = "Here is your unsaved draft from reflection {rid}, as you left it."
SAVE = "Save it"
CHANGE = "Change a field"
NOT_NOW = "Not now"
EDIT_FOOTER = "Or type cpd edit draft learnt: and the new text (any field: title, date, ...)."
WHICH_FIELD = "Which part would you like to change?"
FIELD_NOW = (
    "{label}, as it is now:\n{text}\n\n"
    "To change it, type cpd edit draft {word}: and then the new text, in one message."
)
DATE_EXAMPLE = " For example: cpd edit draft date: 23/11/2026"
PEER_EMPTY = " To leave it out, type cpd edit draft peer: with nothing after it."
DRAFT_CHANGED = "Changed, in the draft from reflection {rid}. {label} now reads:\n{text}"
DRAFT_NEXT = "Save it when it reads right, or change another field."
LATER = (
    "That's fine. The draft is kept, and not counted until you save it. Type cpd to come "
    "back to it, or cpd discard {rid} to let it go."
)
DISCARDED = "The draft from reflection {rid} is gone. The reflection is still in your journal."
NO_DRAFT = "There is no unsaved draft from reflection {rid}. To make one: cpd new {rid}."
NO_DRAFTS = (
    "You have no unsaved CPD draft. To make one from a reflection, type cpd new and its "
    "number (see journal)."
)
SAVED = "Saved as CPD record {id}. To change a field: cpd edit {id} learnt: and the new text."
ALREADY = "Reflection {rid} is CPD record {id} already. To see it: cpd show {id}."
CHANGED = "Changed."
HOW_TO_EDIT = "To change a field: cpd edit {id} FIELD: new text, where FIELD is one of {fields}."
HOW_TO_EDIT_DRAFT = (
    "To change a field of the draft: cpd edit draft FIELD: new text, where FIELD is one of "
    "{fields}."
)
NO_SUCH_FIELD = "There is no field called {name}. The fields are {fields}."
EMPTY = "{label} can't be left empty: put the new text after the colon."
TOO_LONG = (
    "That is {count:,} characters, and this field holds up to {limit:,}. Could you shorten it "
    "a little?"
)
NOT_A_DATE = "I couldn't read {text} as a date. Type it like 23/11/2026 or 2026-11-23."
UNSAVED = "You have an unsaved draft from reflection {rids}. It isn't counted until you save it."
UNSAVED_MANY = (
    "You have unsaved drafts from reflections {rids}. They aren't counted until you save them."
)
OPEN_DRAFT = "Draft from {rid}"
NONE_THIS_YEAR = "There are no CPD records in this CPD year to export yet."
HOW_TO = (
    "To make a CPD record from a reflection, type cpd new and its number (see journal). "
    "cpd export pdf gives you this year's records as a file."
)
DEFAULT_POLICY = Policy()

# The word a worker types for each field (the form's own names work too), and the label
# of its button: short enough for a phone.
WORDS: Final = {
    "type": "cpd_type",
    "title": "title",
    "date": "activity_date",
    "description": "description",
    "learnt": "learnt",
    "impact": "impact",
    "peer": "peer",
}
WORD_OF: Final = {name: word for word, name in WORDS.items()}
BUTTONS: Final = {
    "cpd_type": "Type of CPD",
    "title": "Title",
    "activity_date": "Date",
    "description": "Description",
    "learnt": "What I learnt",
    "impact": "Impact",
    "peer": "Peer reflection",
}
FIELD_NAMES = ", ".join(WORDS)
# The most each field holds when the worker writes it (the drafts are cut to the same),
# so a record still fits on one or two pages.
LIMITS: Final = {
    "cpd_type": TITLE_CHARS,
    "title": TITLE_CHARS,
    "description": DESCRIPTION_CHARS,
    "learnt": LEARNT_CHARS,
    "impact": IMPACT_CHARS,
    "peer": PEER_CHARS,
}
MOST_DRAFT_BUTTONS = 3


def _show(fields: CpdFields) -> str:
    return "\n\n".join(
        f"{heading}\n{fields.text_of(name) or '(nothing yet)'}" for name, heading in FIELDS
    )


def _field(word: str) -> str | None:
    """The field a worker's word names ("date", "learnt", "activity_date"), or None."""
    word = word.strip().lower()
    return WORDS.get(word) or (word if word in LABELS else None)


def _problem(name: str, text: str) -> str | None:
    """Why `text` cannot be the new value of field `name`, as a sentence; None if it can."""
    cleaned = text.strip()
    if name == "activity_date":
        try:
            parse_date(cleaned)
        except ValueError:
            return NOT_A_DATE.format(text=cleaned or "nothing")
        return None
    if not cleaned and name != "peer":  # an empty peer field: no peer reflection
        return EMPTY.format(label=BUTTONS[name])
    if len(cleaned) > LIMITS[name]:
        return TOO_LONG.format(count=len(cleaned), limit=LIMITS[name])
    return None


def _draft_buttons(reflection_id: int) -> tuple[Choice, ...]:
    return (
        Choice(f"cpd save {reflection_id}", SAVE),
        Choice(f"cpd change {reflection_id}", CHANGE),
        Choice(f"cpd later {reflection_id}", NOT_NOW),
    )


def _draft_shown(intro: str, kept: StoredDraft) -> list[Outgoing]:
    return [
        Outgoing(intro),
        Outgoing(
            _show(kept.fields),
            shortcuts=_draft_buttons(kept.reflection_id),
            footer=EDIT_FOOTER,
        ),
    ]


def answer(
    tx: Transaction,
    user_id: int,
    argument: str,
    now: datetime,
    catalog: Catalog,
    zone: str,
    policy: Policy = DEFAULT_POLICY,
) -> list[Outgoing]:
    book = CpdBook(tx)
    zone = book.timezone(user_id, zone)
    today = local_date(now, zone)
    verb, _, rest = argument.strip().partition(" ")
    verb, rest = verb.lower(), rest.strip()
    if verb in {"new", "save"} and rest.isdecimal():
        rid = as_id(rest)
        if rid is None:
            return [Outgoing(NOT_YOURS.format(id=rest))]
        return _new_or_save(book, user_id, rid, verb, now, catalog, zone)
    if verb == "change":
        number, _, word = rest.partition(" ")
        if number.isdecimal():
            rid = as_id(number)
            if rid is None:
                return [Outgoing(NO_DRAFT.format(rid=number))]
            return _change(book, user_id, rid, word, now)
    if verb in {"later", "discard"} and rest.isdecimal():
        rid = as_id(rest)
        if rid is None or book.draft(user_id, rid) is None:
            return [Outgoing(NO_DRAFT.format(rid=rest))]
        if verb == "later":
            return [Outgoing(LATER.format(rid=rid))]
        book.delete_draft(user_id, rid)
        return [Outgoing(DISCARDED.format(rid=rid))]
    if verb == "show" and rest.isdecimal():
        record_id = as_id(rest)
        stored = book.get(user_id, record_id) if record_id is not None else None
        if stored is None:
            return [Outgoing(NO_RECORD.format(id=rest))]
        hint = HOW_TO_EDIT.format(id=stored.id, fields=FIELD_NAMES)
        return [Outgoing(f"{_show(stored.fields)}\n\n{hint}")]
    if verb == "edit":
        head, colon, text = rest.partition(":")
        first, _, word = head.strip().partition(" ")
        if first.lower() == "draft":
            return _edit_draft(book, user_id, word, colon, text, now)
        record_id = as_id(first)
        stored = book.get(user_id, record_id) if record_id is not None else None
        if stored is None:
            return [Outgoing(NO_RECORD.format(id=first))]
        name = _field(word)
        if not colon or name is None:
            return [Outgoing(HOW_TO_EDIT.format(id=stored.id, fields=FIELD_NAMES))]
        problem = _problem(name, text)
        if problem is not None:
            return [Outgoing(problem)]
        try:
            book.update_field(user_id, stored.id, name, text.strip(), now)
        except ValueError as error:  # checked above; a sentence all the same
            return [Outgoing(_sentence(str(error)))]
        return [Outgoing(CHANGED)]
    year = year_of(today, policy.start)
    records = book.list_for(user_id, year.start, year.end)
    if verb == "export":
        from bot.cpd import render

        fmt: Format = "md" if rest.lower() in {"md", "markdown"} else "pdf"
        if not records:
            return [Outgoing(NONE_THIS_YEAR)]
        file = render.attachment(
            [r.fields for r in records],
            fmt,
            stem=f"cpd-{year.label}",
            heading=f"CPD records, {year}",
        )
        return [Outgoing(f"Your CPD records for {year}.", attachment=file)]
    listing = "\n".join(
        f"  {r.id}. {r.fields.title} ({r.fields.text_of('activity_date')})" for r in records
    )
    said = track(
        records,
        today,
        start=policy.start,
        required=policy.required,
        required_peer=policy.required_peer,
    ).describe()
    drafts = book.drafts(user_id)
    unsaved = _unsaved(drafts)
    return [
        Outgoing(
            "\n\n".join(part for part in (said, listing, unsaved, HOW_TO) if part),
            shortcuts=tuple(
                Choice(f"cpd new {d.reflection_id}", OPEN_DRAFT.format(rid=d.reflection_id))
                for d in drafts[:MOST_DRAFT_BUTTONS]
            ),
        )
    ]


def _new_or_save(
    book: CpdBook,
    user_id: int,
    reflection_id: int,
    verb: str,
    now: datetime,
    catalog: Catalog,
    zone: str,
) -> list[Outgoing]:
    record = book.tx.reflection(user_id, reflection_id)
    if record is None:
        return [Outgoing(NOT_YOURS.format(id=reflection_id))]
    existing = book.of_reflection(user_id, record.id)
    if existing:
        book.delete_draft(user_id, record.id)  # saved already: a draft left over is stale
        return [Outgoing(ALREADY.format(rid=record.id, id=existing[0].id))]
    if verb == "save":
        saved = book.save_draft(user_id, record.id, now)
        if saved is None:  # saved without looking first: the draft as drafted
            saved = book.create(user_id, record.id, draft(record, catalog, timezone=zone), now)
        return [Outgoing(SAVED.format(id=saved))]
    kept = book.draft(user_id, record.id)
    if kept is not None:
        return _draft_shown(KEPT.format(rid=record.id), book.touch_draft(user_id, kept, now))
    fields = draft(record, catalog, timezone=zone)
    return _draft_shown(
        DRAFTED.format(rid=record.id), book.keep_draft(user_id, record.id, fields, now)
    )


def _change(
    book: CpdBook, user_id: int, reflection_id: int, word: str, now: datetime
) -> list[Outgoing]:
    kept = book.draft(user_id, reflection_id)
    if kept is None:
        return [Outgoing(NO_DRAFT.format(rid=reflection_id))]
    kept = book.touch_draft(user_id, kept, now)  # `cpd edit draft` now means this one
    if not word.strip():
        return [
            Outgoing(
                WHICH_FIELD,
                shortcuts=tuple(
                    Choice(f"cpd change {reflection_id} {WORD_OF[name]}", BUTTONS[name])
                    for name, _ in FIELDS
                ),
            )
        ]
    name = _field(word)
    if name is None:
        return [Outgoing(NO_SUCH_FIELD.format(name=word.strip(), fields=FIELD_NAMES))]
    text = FIELD_NOW.format(
        label=LABELS[name],
        text=kept.fields.text_of(name) or "(nothing yet)",
        word=WORD_OF[name],
    )
    if name == "activity_date":
        text += DATE_EXAMPLE
    elif name == "peer":
        text += PEER_EMPTY
    return [Outgoing(text, shortcuts=_draft_buttons(reflection_id)[::2])]


def _edit_draft(
    book: CpdBook, user_id: int, head: str, colon: str, text: str, now: datetime
) -> list[Outgoing]:
    """`cpd edit draft [3] learnt: text`: without a number, the draft last shown."""
    number, _, word = head.strip().partition(" ")
    if not number.isdecimal():
        number, word = "", head
    if number:
        rid = as_id(number)
        kept = book.draft(user_id, rid) if rid is not None else None
        if kept is None:
            return [Outgoing(NO_DRAFT.format(rid=number))]
    else:
        drafts = book.drafts(user_id)
        if not drafts:
            return [Outgoing(NO_DRAFTS)]
        kept = drafts[0]
    name = _field(word)
    if not colon or name is None:
        hint = HOW_TO_EDIT_DRAFT.format(fields=FIELD_NAMES)
        if word.strip() and name is None:
            hint = NO_SUCH_FIELD.format(name=word.strip(), fields=FIELD_NAMES)
        return [Outgoing(hint)]
    problem = _problem(name, text)
    if problem is not None:
        return [Outgoing(problem)]
    try:
        changed = book.update_draft_field(user_id, kept.reflection_id, name, text.strip(), now)
    except ValueError as error:  # checked above; a sentence all the same
        return [Outgoing(_sentence(str(error)))]
    if changed is None:  # read in this same transaction just above
        return [Outgoing(NO_DRAFTS)]
    return [
        Outgoing(
            DRAFT_CHANGED.format(
                rid=kept.reflection_id,
                label=LABELS[name],
                text=changed.fields.text_of(name) or "(nothing)",
            )
        ),
        Outgoing(DRAFT_NEXT, shortcuts=_draft_buttons(kept.reflection_id)),
    ]


def _unsaved(drafts: Sequence[StoredDraft]) -> str:
    if not drafts:
        return ""
    numbers = sorted(d.reflection_id for d in drafts)
    if len(numbers) == 1:
        return UNSAVED.format(rids=numbers[0])
    listed = ", ".join(str(n) for n in numbers[:-1]) + f" and {numbers[-1]}"
    return UNSAVED_MANY.format(rids=listed)


def _sentence(text: str) -> str:
    text = text.strip()
    return f"{text[:1].upper()}{text[1:]}{'' if text.endswith('.') else '.'}"
