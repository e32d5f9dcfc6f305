"""Keeping reflections no longer than the organisation says (`retention.reflections_months`).

Run by the delivery tick. A reflection finished more than that many months ago, less a
week, gets its worker a notice (a `retention` delivery: pushed, or shown when a terminal
worker next writes) that it will be deleted in a week, with a button for a copy of
everything. A week after that notice fell due, the reflection is deleted, with its
answers, and a line goes to the audit log. Nothing is deleted without its notice first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select

from bot import journal
from bot.dialogues import Catalog
from bot.messages import Choice, Outgoing
from bot.store import DeliveryBook, PlannedRow, Transaction, audit
from bot.store.deliveries import Delivery
from bot.store.models import conversations, deliveries, reflections

log = logging.getLogger(__name__)

RETENTION = "retention"  # the delivery kind
NOTICE = timedelta(days=7)
PER_TICK = 500
MONTH = timedelta(days=30)  # "months" counted as 30 days: never a day early

WILL_DELETE = (
    "Your organisation keeps reflections for {months} months, so your reflection "
    "{title} from {date} will be deleted in a week. If you'd like a copy of everything "
    "first, type export."
)
EXPORT = "Get a copy"


@dataclass(frozen=True, slots=True)
class Retention:
    months: int
    catalog: Catalog

    @property
    def kept(self) -> timedelta:
        return self.months * MONTH

    def chores(self, tx: Transaction, now: datetime) -> int:
        """Plan the notices that are due and delete what was announced a week ago; how
        many reflections were deleted."""
        book = DeliveryBook(tx.connection)
        announced = and_(
            deliveries.c.user_id == reflections.c.user_id,
            deliveries.c.kind == RETENTION,
            deliveries.c.reference == reflections.c.id.cast(deliveries.c.reference.type),
        )
        notices = tx.connection.execute(
            select(reflections.c.id, reflections.c.user_id)
            .outerjoin(deliveries, announced)
            .where(reflections.c.finished_at < now - self.kept + NOTICE, deliveries.c.id.is_(None))
            .order_by(reflections.c.finished_at)
            .limit(PER_TICK)
        ).all()
        book.plan_many(
            (
                PlannedRow(row.user_id, RETENTION, f"reflection:{row.id}", now, str(row.id))
                for row in notices
            ),
            now,
        )
        due = tx.connection.execute(
            select(reflections.c.id, conversations.c.key)
            .join(conversations, conversations.c.id == reflections.c.conversation_id)
            .join(deliveries, announced)
            .where(reflections.c.finished_at < now - self.kept, deliveries.c.due_at <= now - NOTICE)
            .limit(PER_TICK)
        ).all()
        for row in due:
            tx.discard_run(row.key)
            audit.record(
                tx.connection, now, "retention_delete", f"reflection:{row.id}", actor=audit.SYSTEM
            )
        if due:
            log.info("retention: %d reflections past %d months deleted", len(due), self.months)
        return len(due)

    def render(self, tx: Transaction, delivery: Delivery) -> tuple[Outgoing, ...] | None:
        """The notice, or None if the reflection has gone already."""
        found = tx.connection.execute(
            select(reflections.c.dialogue_id, reflections.c.finished_at).where(
                reflections.c.id == int(delivery.reference or 0),
                reflections.c.user_id == delivery.user_id,
            )
        ).first()
        if found is None:
            return None
        text = WILL_DELETE.format(
            months=self.months,
            title=journal.title(self.catalog, found.dialogue_id),
            date=f"{found.finished_at:%-d %B %Y}",
        )
        return (Outgoing(text, shortcuts=(Choice("export", EXPORT),)),)
