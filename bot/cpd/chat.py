"""`cpd ...` in chat: where the worker stands this CPD year, a record drafted from a
reflection, saved, changed field by field, and the year as a file.

    cpd                       the year so far, and the records in it
    cpd new 3                 a draft from reflection 3, field by field, to save or not
    cpd save 3                save that draft as a CPD record
    cpd show 2                one record in full
    cpd edit 2 learnt: text   change one field of record 2 (any field: title, date, ...)
    cpd export pdf            this year's records as a PDF (or md)
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.cpd.draft import FIELDS, LABELS, CpdFields, draft
from bot.cpd.year import Policy as Policy  # where it was first defined; app.py imports it here
from bot.cpd.year import local_date, track, year_of
from bot.dialogues import Catalog
from bot.messages import Choice, Outgoing
from bot.store import Transaction
from bot.store.cpd import CpdBook

if TYPE_CHECKING:
    from bot.cpd.render import Format  # render loads fpdf2: only when a file is made

NOT_YOURS = "There is no reflection {id} in your journal."
NO_RECORD = "There is no CPD record {id} of yours."
DRAFTED = "Here is a CPD record drafted from that reflection. Nothing is saved until you say so."
SAVE = "Save it"
SAVED = "Saved as CPD record {id}. To change a field: cpd edit {id} learnt: and the new text."
ALREADY = "Reflection {rid} is CPD record {id} already. To see it: cpd show {id}."
CHANGED = "Changed."
HOW_TO_EDIT = "To change a field: cpd edit {id} FIELD: new text, where FIELD is one of {fields}."
NONE_THIS_YEAR = "There are no CPD records in this CPD year to export yet."
HOW_TO = (
    "To make a CPD record from a reflection, type cpd new and its number (see journal). "
    "cpd export pdf gives you this year's records as a file."
)
FIELD_NAMES = ", ".join(name for name, _ in FIELDS)
DEFAULT_POLICY = Policy()


def _show(fields: CpdFields) -> str:
    return "\n\n".join(
        f"{heading}\n{fields.text_of(name) or '(nothing yet)'}" for name, heading in FIELDS
    )


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
        record = tx.reflection(user_id, int(rest))
        if record is None:
            return [Outgoing(NOT_YOURS.format(id=rest))]
        existing = book.of_reflection(user_id, record.id)
        if existing:
            return [Outgoing(ALREADY.format(rid=record.id, id=existing[0].id))]
        fields = draft(record, catalog, timezone=zone)
        if verb == "new":
            return [
                Outgoing(DRAFTED),
                Outgoing(_show(fields), shortcuts=(Choice(f"cpd save {record.id}", SAVE),)),
            ]
        saved = book.create(user_id, record.id, fields, now)
        return [Outgoing(SAVED.format(id=saved))]
    if verb == "show" and rest.isdecimal():
        stored = book.get(user_id, int(rest))
        if stored is None:
            return [Outgoing(NO_RECORD.format(id=rest))]
        hint = HOW_TO_EDIT.format(id=stored.id, fields=FIELD_NAMES)
        return [Outgoing(f"{_show(stored.fields)}\n\n{hint}")]
    if verb == "edit":
        head, colon, text = rest.partition(":")
        number, _, name = head.strip().partition(" ")
        name = name.strip().lower()
        stored = book.get(user_id, int(number)) if number.isdecimal() else None
        if stored is None:
            return [Outgoing(NO_RECORD.format(id=number))]
        if not colon or name not in LABELS:
            return [Outgoing(HOW_TO_EDIT.format(id=stored.id, fields=FIELD_NAMES))]
        try:
            book.update_field(user_id, stored.id, name, text.strip(), now)
        except ValueError as problem:  # a sentence for the worker: an empty title, a bad date
            return [Outgoing(str(problem))]
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
    return [Outgoing("\n\n".join(part for part in (said, listing, HOW_TO) if part))]
