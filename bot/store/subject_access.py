"""Everything the store holds about one worker, and erasing it: UK GDPR's rights of
access and erasure.

`collect` reads every table that refers to the worker into plain data (decrypted: it
is theirs). `erase` deletes every row about them; the foreign keys cascade from the
worker's row, and `tests/test_care.py` walks every table to prove nothing is left.
What others wrote stays theirs: feedback a friend gave on the worker's reflection is
deleted with the reflection; feedback the worker gave others is deleted with the
worker's own conversations (see `erase`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from bot.cpd.draft import FIELDS
from bot.store import audit
from bot.store.cpd import CpdBook
from bot.store.lessons import LessonBook
from bot.store.models import (
    deliveries,
    feedback,
    friend_profiles,
    friend_requests,
    identities,
    nudge_settings,
    organisations,
    pairing_members,
    pairings,
    shares,
    users,
)
from bot.store.repository import Transaction


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def collect(tx: Transaction, user_id: int) -> dict[str, Any]:
    """The worker's data as plain JSON-ready values: profile, schedule, reflections with
    answers and revisions, drafts, critical-friend pairings, shares and feedback, audit."""
    connection = tx.connection
    person = connection.execute(
        select(users, organisations.c.name.label("organisation"))
        .join(organisations, organisations.c.id == users.c.organisation_id)
        .where(users.c.id == user_id)
    ).one()
    manager = tx.display_name(person.manager_id) if person.manager_id else None
    ways = connection.execute(
        select(identities.c.channel, identities.c.external_id, identities.c.created_at)
        .where(identities.c.user_id == user_id)
        .order_by(identities.c.id)
    )
    settings = connection.execute(
        select(nudge_settings).where(nudge_settings.c.user_id == user_id)
    ).first()
    scheduled = connection.execute(
        select(deliveries.c.kind, deliveries.c.due_at, deliveries.c.status, deliveries.c.sent_at)
        .where(deliveries.c.user_id == user_id)
        .order_by(deliveries.c.due_at, deliveries.c.id)
    )
    reflections = []
    for entry in tx.journal(user_id):
        record = tx.reflection(user_id, entry.id)
        if record is None:
            continue
        reflections.append(
            {
                "id": record.id,
                "dialogue": record.dialogue_id,
                "started_at": _time(record.started_at),
                "finished_at": _time(record.finished_at),
                "answers": record.answers,
                "revisions": record.revisions,
                "summary": record.summary,
                "follow_ups": [
                    {"finished_at": _time(f.finished_at), "answers": f.answers}
                    for f in record.follow_ups
                ],
                "peer_reflection": [
                    {
                        "friend": p.friend,
                        "sent_at": _time(p.sent_at),
                        "feedback": p.feedback,
                        "answer": p.answer,
                    }
                    for p in record.peer
                ],
            }
        )
    drafts = [
        {
            "dialogue": run.dialogue_id,
            "updated_at": _time(run.updated_at),
            "answers": dict((run.state or {}).get("answers", {})),
            # Written but not yet saved: held for a check, or waiting for a follow-up.
            "unsaved": [
                text
                for key in ("pending_answer", "held_answer")
                if (text := (run.state or {}).get(key))
            ],
        }
        for run in tx.drafts(user_id, 1_000)
    ]
    return {
        "profile": {
            "display_name": tx.display_name(user_id),
            "organisation": person.organisation,
            "time_zone": person.timezone,
            "team": person.team,
            "line_manager": manager,
            "joined_at": _time(person.created_at),
            "chat_apps": [
                {"channel": w.channel, "id": w.external_id, "since": _time(w.created_at)}
                for w in ways
            ],
        },
        "nudge_settings": (
            {
                "days": settings.weekdays,
                "time": settings.at,
                "time_zone": settings.timezone,
                "working_days_only": settings.working_days_only,
                "paused_until": settings.paused_until.isoformat()
                if settings.paused_until
                else None,
                "stopped": settings.opted_out,
            }
            if settings is not None
            else None
        ),
        "messages_scheduled": [
            {
                "kind": row.kind,
                "due_at": _time(row.due_at),
                "status": row.status,
                "sent_at": _time(row.sent_at),
            }
            for row in scheduled
        ],
        "reflections": reflections,
        "drafts": drafts,
        "critical_friends": _friends(tx, user_id),
        "cpd_records": [
            {
                "id": record.id,
                "reflection_id": record.reflection_id,
                **{name: record.fields.text_of(name) for name, _ in FIELDS},
            }
            for record in CpdBook(tx).list_for(user_id, date.min, date.max)
        ],
        # Drafts not saved yet: not records, but the worker's words all the same.
        "cpd_drafts": [
            {
                "reflection_id": kept.reflection_id,
                **{name: kept.fields.text_of(name) for name, _ in FIELDS},
            }
            for kept in CpdBook(tx).drafts(user_id)
        ],
        "lessons_for_the_team": [
            {
                "id": lesson.id,
                "reflection_id": lesson.reflection_id,
                "text": lesson.text,
                "theme": lesson.theme,
                "shared": lesson.approved,
                "digest": lesson.period,
                "digest_sent_at": _time(lesson.sent_at),
            }
            for lesson in LessonBook(tx).mine(user_id)
        ],
        "audit": [
            {"at": _time(e.at), "actor": e.actor, "action": e.action, "subject": e.subject}
            for e in audit.about(connection, user_id)
        ],
    }


def _friends(tx: Transaction, user_id: int) -> dict[str, Any]:
    connection = tx.connection
    profile = connection.execute(
        select(friend_profiles).where(friend_profiles.c.user_id == user_id)
    ).first()
    requests = connection.execute(
        select(friend_requests.c.created_at, friend_requests.c.status)
        .where(friend_requests.c.user_id == user_id)
        .order_by(friend_requests.c.id)
    )
    mine = select(pairing_members.c.pairing_id).where(pairing_members.c.user_id == user_id)
    paired = connection.execute(
        select(pairings).where(pairings.c.id.in_(mine)).order_by(pairings.c.id)
    ).all()
    others: dict[int, list[str]] = {}
    for row in connection.execute(
        select(pairing_members.c.pairing_id, pairing_members.c.user_id).where(
            pairing_members.c.pairing_id.in_(mine), pairing_members.c.user_id != user_id
        )
    ):
        others.setdefault(row.pairing_id, []).append(tx.display_name(row.user_id) or "")
    shared = connection.execute(
        select(shares.c.reflection_id, shares.c.pairing_id, shares.c.shared_at, shares.c.revoked_at)
        .where(shares.c.user_id == user_id)
        .order_by(shares.c.id)
    )
    given = connection.execute(
        select(feedback.c.run_key, feedback.c.sent_at, shares.c.user_id.label("author_id"))
        .join(shares, shares.c.id == feedback.c.share_id)
        .where(feedback.c.user_id == user_id, feedback.c.status == "sent")
        .order_by(feedback.c.id)
    )
    return {
        "in_pool": bool(profile.in_pool) if profile is not None else False,
        "in_rounds": bool(profile.rounds) if profile is not None else False,
        "max_pairings": profile.max_pairings if profile is not None else None,
        "requests": [{"asked_at": _time(r.created_at), "status": r.status} for r in requests],
        "pairings": [
            {
                "with": others.get(p.id, []),
                "started_at": _time(p.started_at),
                "ends_at": _time(p.ends_at),
                "ended_at": _time(p.ended_at),
                "how": p.source,
            }
            for p in paired
        ],
        "shared": [
            {
                "reflection_id": s.reflection_id,
                "with": others.get(s.pairing_id, []),
                "shared_at": _time(s.shared_at),
                "taken_back_at": _time(s.revoked_at),
            }
            for s in shared
        ],
        "feedback_given": [
            {
                "to": tx.display_name(g.author_id),
                "sent_at": _time(g.sent_at),
                "answers": tx.answers_of(g.run_key) if g.run_key else {},
            }
            for g in given
        ],
    }


def erase(tx: Transaction, user_id: int, now: datetime) -> list[tuple[int, int]]:
    """Delete every row about the worker; (pairing, colleague) for each pairing that ends
    now because of it, so the colleague can be told.

    Their own rows go with their user row (every foreign key to it cascades): chat
    identities, session, conversations with answers and reflections, check-ins, nudge
    settings, deliveries, their place in the pool, requests, invitations to them,
    pairing memberships, shares of their reflections (and the feedback on them), and
    feedback they gave others. Reports keep their manager field, emptied; pairings they
    were in end at once. The audit log keeps a line that a worker was erased, by number.
    """
    connection = tx.connection
    mine = select(pairing_members.c.pairing_id).where(pairing_members.c.user_id == user_id)
    active = [
        row.id
        for row in connection.execute(
            select(pairings.c.id).where(
                pairings.c.id.in_(mine), pairings.c.ended_at.is_(None), pairings.c.ends_at > now
            )
        )
    ]
    colleagues = sorted(
        (int(row.pairing_id), int(row.user_id))
        for row in connection.execute(
            select(pairing_members.c.pairing_id, pairing_members.c.user_id).where(
                pairing_members.c.pairing_id.in_(active),
                pairing_members.c.user_id != user_id,
            )
        )
    )
    if active:
        connection.execute(update(pairings).where(pairings.c.id.in_(active)).values(ended_at=now))
    # Feedback the worker gave lives in their own conversations, which go below; the
    # rows pointing at them go first so nothing refers to a missing conversation.
    connection.execute(
        delete(feedback).where(
            or_(
                feedback.c.user_id == user_id,
                feedback.c.share_id.in_(select(shares.c.id).where(shares.c.user_id == user_id)),
            )
        )
    )
    connection.execute(delete(users).where(users.c.id == user_id))
    audit.record(connection, now, "erase", f"user:{user_id}", actor=audit.WORKER)
    return colleagues
