"""CPD records in the store: each worker's own, every free-text field encrypted.

The form's text fields are one encrypted JSON object (`fields_enc`); only what places a
record in a registration year and counts it is plain: the activity date and whether it
includes peer reflection. Every statement names the worker (`user_id`), so a record
number from someone else reads as no record at all, and cannot be changed or deleted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from bot.cpd.draft import CpdFields
from bot.nudges.schedule import is_zone
from bot.store.deliveries import NudgeSettingsBook
from bot.store.models import cpd_drafts, cpd_records, reflections
from bot.store.repository import Transaction

FORMAT_VERSION = 1
# The JSON keys: every field of `CpdFields` but the date, which is a plain column.
TEXT_FIELDS = ("cpd_type", "title", "description", "learnt", "impact", "peer")


@dataclass(frozen=True, slots=True)
class StoredCpd:
    id: int
    reflection_id: int | None  # None once the reflection it came from is deleted
    fields: CpdFields
    created_at: datetime
    updated_at: datetime

    @property
    def activity_date(self) -> date:
        return self.fields.activity_date

    @property
    def includes_peer(self) -> bool:
        return self.fields.includes_peer


@dataclass(frozen=True, slots=True)
class StoredDraft:
    """A record drafted from a reflection and not saved yet: never counted or exported."""

    reflection_id: int
    fields: CpdFields
    created_at: datetime
    updated_at: datetime  # last changed or shown


@dataclass(frozen=True, slots=True)
class Counted:
    """What the year tracker needs of a record, read without decrypting anything."""

    activity_date: date
    includes_peer: bool


class CpdBook:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.connection = tx.connection

    def create(
        self, user_id: int, reflection_id: int | None, fields: CpdFields, now: datetime
    ) -> int:
        """Save a record; its number. A reflection that is not the worker's is not linked."""
        if reflection_id is not None and not self._owns_reflection(user_id, reflection_id):
            reflection_id = None
        return int(
            self.connection.execute(
                insert(cpd_records)
                .values(
                    user_id=user_id,
                    reflection_id=reflection_id,
                    activity_date=fields.activity_date,
                    peer=fields.includes_peer,
                    fields_enc=self._seal(fields),
                    created_at=now,
                    updated_at=now,
                )
                .returning(cpd_records.c.id)
            ).scalar_one()
        )

    def get(self, user_id: int, record_id: int) -> StoredCpd | None:
        row = self.connection.execute(
            select(cpd_records).where(
                cpd_records.c.id == record_id, cpd_records.c.user_id == user_id
            )
        ).first()
        return self._stored(row) if row is not None else None

    def list_for(self, user_id: int, start: date, end: date) -> list[StoredCpd]:
        """The worker's records dated from `start` to `end` (both included), oldest first."""
        rows = self.connection.execute(
            select(cpd_records)
            .where(
                cpd_records.c.user_id == user_id,
                cpd_records.c.activity_date >= start,
                cpd_records.c.activity_date <= end,
            )
            .order_by(cpd_records.c.activity_date, cpd_records.c.id)
        )
        return [self._stored(row) for row in rows]

    def counted_many(
        self, user_ids: Collection[int], start: date, end: date
    ) -> dict[int, list[Counted]]:
        """The dates and peer flags of these workers' records dated from `start` to `end`,
        in one statement for a whole batch (the weekly nudge's); nothing is decrypted.
        Workers with none are left out."""
        found: dict[int, list[Counted]] = {}
        if not user_ids:
            return found
        rows = self.connection.execute(
            select(cpd_records.c.user_id, cpd_records.c.activity_date, cpd_records.c.peer).where(
                cpd_records.c.user_id.in_(sorted(user_ids)),
                cpd_records.c.activity_date >= start,
                cpd_records.c.activity_date <= end,
            )
        )
        for user_id, day, peer in rows:
            found.setdefault(int(user_id), []).append(Counted(day, bool(peer)))
        return found

    def of_reflection(self, user_id: int, reflection_id: int) -> list[StoredCpd]:
        """Records the worker already made from this reflection (to offer them, not a copy)."""
        rows = self.connection.execute(
            select(cpd_records)
            .where(cpd_records.c.user_id == user_id, cpd_records.c.reflection_id == reflection_id)
            .order_by(cpd_records.c.id)
        )
        return [self._stored(row) for row in rows]

    def update_field(
        self, user_id: int, record_id: int, field_name: str, text: str, now: datetime
    ) -> StoredCpd | None:
        """Change one field (by its name in `CpdFields`); the record as it now is, or None
        if the worker has no such record. ValueError (a sentence) for an unknown field, an
        empty title or type, or a date that cannot be read."""
        stored = self.get(user_id, record_id)
        if stored is None:
            return None
        fields = stored.fields.with_text(field_name, text)
        self.connection.execute(
            update(cpd_records)
            .where(cpd_records.c.id == record_id, cpd_records.c.user_id == user_id)
            .values(
                activity_date=fields.activity_date,
                peer=fields.includes_peer,
                fields_enc=self._seal(fields),
                updated_at=now,
            )
        )
        return StoredCpd(stored.id, stored.reflection_id, fields, stored.created_at, now)

    def delete(self, user_id: int, record_id: int) -> bool:
        """Delete one of the worker's records for good; False if they have no such record."""
        result = self.connection.execute(
            delete(cpd_records).where(
                cpd_records.c.id == record_id, cpd_records.c.user_id == user_id
            )
        )
        return bool(result.rowcount)

    # ---- drafts: one a reflection, changed field by field, then saved or let go ----------

    def keep_draft(
        self, user_id: int, reflection_id: int, fields: CpdFields, now: datetime
    ) -> StoredDraft:
        """Keep `fields` as the worker's draft from this reflection; a draft they already
        have from it is kept as they left it (and counts as shown now) instead."""
        kept = self.draft(user_id, reflection_id)
        if kept is not None:
            return self.touch_draft(user_id, kept, now)
        self.connection.execute(
            insert(cpd_drafts).values(
                user_id=user_id,
                reflection_id=reflection_id,
                activity_date=fields.activity_date,
                fields_enc=self._seal(fields),
                created_at=now,
                updated_at=now,
            )
        )
        return StoredDraft(reflection_id, fields, now, now)

    def draft(self, user_id: int, reflection_id: int) -> StoredDraft | None:
        row = self.connection.execute(
            select(cpd_drafts).where(
                cpd_drafts.c.user_id == user_id, cpd_drafts.c.reflection_id == reflection_id
            )
        ).first()
        return self._draft(row) if row is not None else None

    def drafts(self, user_id: int) -> list[StoredDraft]:
        """The worker's unsaved drafts, the one last changed or shown first."""
        rows = self.connection.execute(
            select(cpd_drafts)
            .where(cpd_drafts.c.user_id == user_id)
            .order_by(cpd_drafts.c.updated_at.desc(), cpd_drafts.c.id.desc())
        )
        return [self._draft(row) for row in rows]

    def touch_draft(self, user_id: int, kept: StoredDraft, now: datetime) -> StoredDraft:
        """Mark a draft as the one the worker is looking at (`cpd edit draft` changes it)."""
        self.connection.execute(
            update(cpd_drafts)
            .where(
                cpd_drafts.c.user_id == user_id, cpd_drafts.c.reflection_id == kept.reflection_id
            )
            .values(updated_at=now)
        )
        return StoredDraft(kept.reflection_id, kept.fields, kept.created_at, now)

    def update_draft_field(
        self, user_id: int, reflection_id: int, field_name: str, text: str, now: datetime
    ) -> StoredDraft | None:
        """Change one field of a draft, as `update_field` does a record's; None if the
        worker has no draft from that reflection."""
        kept = self.draft(user_id, reflection_id)
        if kept is None:
            return None
        fields = kept.fields.with_text(field_name, text)
        self.connection.execute(
            update(cpd_drafts)
            .where(cpd_drafts.c.user_id == user_id, cpd_drafts.c.reflection_id == reflection_id)
            .values(
                activity_date=fields.activity_date, fields_enc=self._seal(fields), updated_at=now
            )
        )
        return StoredDraft(reflection_id, fields, kept.created_at, now)

    def save_draft(self, user_id: int, reflection_id: int, now: datetime) -> int | None:
        """The draft from this reflection saved as a record, as it was edited; the record's
        number, or None if there is no such draft. The draft is gone afterwards."""
        kept = self.draft(user_id, reflection_id)
        if kept is None:
            return None
        record_id = self.create(user_id, reflection_id, kept.fields, now)
        self.delete_draft(user_id, reflection_id)
        return record_id

    def delete_draft(self, user_id: int, reflection_id: int) -> bool:
        result = self.connection.execute(
            delete(cpd_drafts).where(
                cpd_drafts.c.user_id == user_id, cpd_drafts.c.reflection_id == reflection_id
            )
        )
        return bool(result.rowcount)

    def timezone(self, user_id: int, default: str) -> str:
        """The worker's time zone, as their nudges use it: their own setting, the one their
        chat app reported, else the organisation's."""
        own = NudgeSettingsBook(self.connection).get(user_id)
        for zone in (own.timezone if own is not None else None, self.tx.timezone(user_id)):
            if zone and is_zone(zone):  # a zone this machine no longer knows is passed over
                return zone
        return default

    # ---- encryption ------------------------------------------------------------------

    def _seal(self, fields: CpdFields) -> bytes:
        document: dict[str, Any] = {"v": FORMAT_VERSION}
        document.update({name: getattr(fields, name) for name in TEXT_FIELDS})
        return self.tx.cipher.encrypt_json(document)

    def _stored(self, row: Any) -> StoredCpd:
        return StoredCpd(
            id=int(row.id),
            reflection_id=row.reflection_id,
            fields=self._fields(row),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _fields(self, row: Any) -> CpdFields:
        document = self.tx.cipher.decrypt_json(row.fields_enc)
        texts: Mapping[str, Any] = document if isinstance(document, dict) else {}

        def text(name: str) -> str:
            value = texts.get(name)
            return value if isinstance(value, str) else ""

        return CpdFields(
            cpd_type=text("cpd_type"),
            title=text("title"),
            activity_date=row.activity_date,
            description=text("description"),
            learnt=text("learnt"),
            impact=text("impact"),
            peer=text("peer"),
        )

    def _draft(self, row: Any) -> StoredDraft:
        return StoredDraft(
            reflection_id=int(row.reflection_id),
            fields=self._fields(row),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _owns_reflection(self, user_id: int, reflection_id: int) -> bool:
        found = self.connection.scalar(
            select(reflections.c.id).where(
                reflections.c.id == reflection_id, reflections.c.user_id == user_id
            )
        )
        return found is not None
