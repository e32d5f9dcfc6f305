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
from bot.store.models import cpd_records, reflections
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
        document = self.tx.cipher.decrypt_json(row.fields_enc)
        texts: Mapping[str, Any] = document if isinstance(document, dict) else {}

        def text(name: str) -> str:
            value = texts.get(name)
            return value if isinstance(value, str) else ""

        fields = CpdFields(
            cpd_type=text("cpd_type"),
            title=text("title"),
            activity_date=row.activity_date,
            description=text("description"),
            learnt=text("learnt"),
            impact=text("impact"),
            peer=text("peer"),
        )
        return StoredCpd(
            id=int(row.id),
            reflection_id=row.reflection_id,
            fields=fields,
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
