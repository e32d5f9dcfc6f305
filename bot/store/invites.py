"""Organisation invitations: made by an admin, redeemed by a worker joining from a chat app.

A code is a secret shown once, when it is made; only its SHA-256 is stored, so a copy
of the database cannot be used to join. Redeeming is one conditional UPDATE, so two
people using the last place on an invitation at the same moment cannot both get it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, or_, select, update

from bot.store.models import DEFAULT_ORGANISATION, invites, organisations

# Telegram's start parameter allows A-Z, a-z, 0-9, _ and - (up to 64 characters).
CODE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True, slots=True)
class Invite:
    id: int
    organisation: str
    created_at: datetime
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "used up"
        return "open"


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def slug_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")
    return slug[:64] or "organisation"


class InviteBook:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def organisation(self, name: str | None, default_name: str, now: datetime) -> int:
        """The organisation of this name (its slug), made if it is new."""
        slug = slug_for(name) if name else DEFAULT_ORGANISATION
        name = name or default_name
        found = self.connection.scalar(
            select(organisations.c.id).where(organisations.c.slug == slug)
        )
        if found is not None:
            return int(found)
        return int(
            self.connection.execute(
                insert(organisations)
                .values(slug=slug, name=name.strip(), created_at=now)
                .returning(organisations.c.id)
            ).scalar_one()
        )

    def create(
        self,
        organisation: str | None,
        now: datetime,
        *,
        default_name: str = "Default organisation",
        expires_in_days: int | None = None,
        max_uses: int | None = None,
    ) -> tuple[int, str]:
        """Make an invitation; returns its id and the code (shown only this once).

        With no organisation named, it is for the default one (`default_name` names it
        if it does not exist yet)."""
        code = secrets.token_urlsafe(12)  # 16 characters, 96 bits
        invite_id = self.connection.execute(
            insert(invites)
            .values(
                code_hash=_hash(code),
                organisation_id=self.organisation(organisation, default_name, now),
                created_at=now,
                expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
                max_uses=max_uses,
                uses=0,
            )
            .returning(invites.c.id)
        ).scalar_one()
        return int(invite_id), code

    def all(self) -> list[Invite]:
        rows = self.connection.execute(
            select(invites, organisations.c.name.label("organisation"))
            .join(organisations, organisations.c.id == invites.c.organisation_id)
            .order_by(invites.c.id)
        )
        return [
            Invite(
                id=row.id,
                organisation=row.organisation,
                created_at=row.created_at,
                expires_at=row.expires_at,
                max_uses=row.max_uses,
                uses=row.uses,
                revoked_at=row.revoked_at,
            )
            for row in rows
        ]

    def revoke(self, invite_id: int, now: datetime) -> bool:
        result = self.connection.execute(
            update(invites)
            .where(invites.c.id == invite_id, invites.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return bool(result.rowcount)

    def redeem(self, code: str, now: datetime) -> int | None:
        """Use one place on an open invitation; the organisation's id, or None if it is not open."""
        if not CODE_SHAPE.match(code):
            return None
        usable = (
            invites.c.code_hash == _hash(code),
            invites.c.revoked_at.is_(None),
            or_(invites.c.expires_at.is_(None), invites.c.expires_at > now),
            or_(invites.c.max_uses.is_(None), invites.c.uses < invites.c.max_uses),
        )
        organisation_id = self.connection.execute(
            update(invites)
            .where(*usable)
            .values(uses=invites.c.uses + 1)
            .returning(invites.c.organisation_id)
        ).scalar()
        return int(organisation_id) if organisation_id is not None else None
