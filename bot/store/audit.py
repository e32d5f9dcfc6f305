"""The audit log: who shared, took back, exported or erased what, and when; admin actions.

A line names an action and a record by kind and number, never what anyone wrote. It is
written in the same transaction as the action, so one is never without the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, or_, select

from bot.store.models import audit_log, users

WORKER, ADMIN, SYSTEM = "worker", "admin", "system"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    subject: str


def record(
    connection: Connection,
    at: datetime,
    action: str,
    subject: str,
    *,
    actor_id: int | None = None,
    actor: str = WORKER,
) -> None:
    organisation_id = (
        connection.scalar(select(users.c.organisation_id).where(users.c.id == actor_id))
        if actor_id is not None
        else None
    )
    connection.execute(
        insert(audit_log).values(
            at=at,
            organisation_id=organisation_id,
            actor_id=actor_id,
            actor=actor,
            action=action[:32],
            subject=subject[:64],
        )
    )


def about(connection: Connection, user_id: int) -> list[AuditEntry]:
    """What a worker did, and what was done to them by subject ("user:ID"), oldest first."""
    rows = connection.execute(
        select(audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.subject)
        .where(or_(audit_log.c.actor_id == user_id, audit_log.c.subject == f"user:{user_id}"))
        .order_by(audit_log.c.at, audit_log.c.id)
    )
    return [AuditEntry(row.at, row.actor, row.action, row.subject) for row in rows]


def recent(connection: Connection, limit: int = 200) -> list[AuditEntry]:
    rows = connection.execute(
        select(audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.subject)
        .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        .limit(limit)
    )
    return [AuditEntry(row.at, row.actor, row.action, row.subject) for row in rows]
