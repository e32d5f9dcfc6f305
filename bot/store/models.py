"""The tables, as SQLAlchemy Core. Columns ending in `_enc` hold encrypted tokens.

Core rather than the ORM: a turn is a handful of known statements, and skipping the
ORM's unit of work makes each one cheaper and keeps `sqlalchemy.orm` out of start-up.
The repository encrypts and decrypts explicitly (see `crypto.py`); marking columns
with `info={"encrypted": True}` lets key rotation find every one of them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _encrypted(name: str, *, nullable: bool = False) -> Column[bytes]:
    return Column(name, LargeBinary, nullable=nullable, info={"encrypted": True})


def _user_fk(*, primary_key: bool = False) -> Column[int]:
    return Column(
        "user_id",
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


metadata = MetaData(naming_convention=NAMING)

# Workers who arrive without an invitation (the terminal) belong to this organisation.
DEFAULT_ORGANISATION = "default"

organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False, index=True),
    _encrypted("display_name_enc", nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # Who works with whom, for choosing critical friends (an outside view, never one's
    # line manager). Set by `critical-friend people import`; empty means unknown.
    Column("team", String(100), nullable=True),
    Column("manager_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
)

# One way a worker reaches us: (channel, that channel's id for them).
identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk(),
    Column("channel", String(32), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel", "external_id"),
    Index(None, "user_id"),
)

# The engine's state for one worker between messages: menus, the open question and
# the reflection in progress. Written once per turn.
chat_sessions = Table(
    "chat_sessions",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    _encrypted("state_enc"),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One reflection, from its first question until it is finished. While it is paused,
# `state_enc` holds where it stood, so it can be picked up again.
conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(36), nullable=False, unique=True),
    _user_fk(),
    Column("dialogue_id", String(100), nullable=False),
    Column("status", String(16), nullable=False),  # open | paused | finished
    _encrypted("state_enc", nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # A follow-up ("how did your plan go?") names the reflection it follows up.
    Column("follows_key", String(36), nullable=True),
    Index(None, "user_id", "status"),
)

# One version of the answer to one step. Changing an answer adds a revision.
answers = Table(
    "answers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("step_id", String(100), nullable=False),
    Column("revision", Integer, nullable=False),
    _encrypted("text_enc"),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("conversation_id", "step_id", "revision"),
)

# A finished reflection: an entry in the worker's journal.
reflections = Table(
    "reflections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    _user_fk(),
    Column("dialogue_id", String(100), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    _encrypted("summary_enc"),
    # The worker's own labels for it ("supervision", "court"), as an encrypted JSON list:
    # a tag can name something as private as an answer.
    _encrypted("tags_enc", nullable=True),
    Index(None, "user_id"),
)

# A follow-up the worker asked for at the end of a reflection; sent by the scheduler.
check_ins = Table(
    "check_ins",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    _user_fk(),
    Column("due_at", UTCDateTime, nullable=False, index=True),
    Column("status", String(16), nullable=False),  # pending | sent | cancelled
    Column("created_at", UTCDateTime, nullable=False),
)

# Every incoming event id we acted on, recorded in the same transaction as the turn.
# On SQLite it is a WITHOUT ROWID table: one b-tree instead of a table plus its key
# index, so recording an event writes half the pages on every turn.
processed_events = Table(
    "processed_events",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("processed_at", UTCDateTime, nullable=False),
    sqlite_with_rowid=False,
)


# An organisation's invitation to join, shared as a link (Telegram: t.me/<bot>?start=CODE).
# Only a hash of the code is kept: the code itself is a secret shown once, when made.
invites = Table(
    "invites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("max_uses", Integer, nullable=True),
    Column("uses", Integer, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)


# A worker's own nudge settings. Every column left empty (or no row at all) means the
# organisation's default; `timezone` empty means users.timezone, then the configured one.
nudge_settings = Table(
    "nudge_settings",
    metadata,
    _user_fk(primary_key=True),
    Column("weekdays", String(13), nullable=True),  # "4" or "0,2,4"; 0 is Monday
    Column("at", String(5), nullable=True),  # local wall time, "HH:MM"
    Column("timezone", String(64), nullable=True),
    Column("working_days_only", Boolean, nullable=True),
    Column("paused_until", Date, nullable=True),  # no weekly nudges on local dates before it
    Column("opted_out", Boolean, nullable=False, server_default=false()),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Every message the scheduler sends or means to send: one row per (worker, kind,
# period), so a nudge can never go out twice, whichever process claims it. `outcome`
# is a short machine reason ("telegram: Forbidden"), never the message's text.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk(),
    Column(
        "kind", String(16), nullable=False
    ),  # weekly | follow_up | draft_reminder | snoozed | peer
    Column("period", String(64), nullable=False),  # "2026-W48", "check-in:12", "draft:<key>"
    Column("reference", String(64), nullable=True),  # a check-in id, a conversation key
    Column("due_at", UTCDateTime, nullable=False),
    Column("not_before", UTCDateTime, nullable=True),  # a retry's backoff
    # pending | claimed | sent | failed | skipped | cancelled
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("claimed_by", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("outcome", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("user_id", "kind", "period"),
    Index(None, "status", "due_at"),  # the claim query
)


# ---- critical friends ---------------------------------------------------------------
# Handles shown in buttons and commands (`token`) are random, never the row id, so an
# id cannot be guessed, and every refusal reads the same whether the row exists or not.

# A worker's place in the critical-friend pool. No row: not in the pool.
friend_profiles = Table(
    "friend_profiles",
    metadata,
    _user_fk(primary_key=True),
    Column("in_pool", Boolean, nullable=False),
    Column("rounds", Boolean, nullable=False),  # also paired in the periodic rounds
    Column("max_pairings", Integer, nullable=False, server_default=text("1")),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One worker asking for a critical friend; candidates are invited one at a time.
friend_requests = Table(
    "friend_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk(),
    # The reflection they asked from, offered for sharing once someone accepts.
    Column("reflection_id", ForeignKey("reflections.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(12), nullable=False),  # open | paired | cancelled | exhausted
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "user_id", "status"),
)

friend_invitations = Table(
    "friend_invitations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(24), nullable=False, unique=True),
    Column("request_id", ForeignKey("friend_requests.id", ondelete="CASCADE"), nullable=False),
    _user_fk(),  # the candidate
    Column(
        "status", String(12), nullable=False
    ),  # open | accepted | declined | expired | withdrawn
    Column("sent_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime, nullable=True),
    UniqueConstraint("request_id", "user_id"),
    Index(None, "status", "expires_at"),
)

# Two (or, in a round with an odd number, three) workers who are each other's critical
# friends until `ends_at`, or until one of them ends it.
pairings = Table(
    "pairings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False),
    Column("source", String(8), nullable=False),  # request | round
    Column("started_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
)

pairing_members = Table(
    "pairing_members",
    metadata,
    Column("pairing_id", ForeignKey("pairings.id", ondelete="CASCADE"), primary_key=True),
    _user_fk(primary_key=True),
    Column("talked", Boolean, nullable=True),  # the answer to "did you get to talk?"
    Index(None, "user_id"),
)

# A periodic round held for an organisation: one row per round, so two processes
# never both hold it.
friend_rounds = Table(
    "friend_rounds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False),
    Column("period", String(16), nullable=False),  # "2026-W48"
    Column("held_at", UTCDateTime, nullable=False),
    UniqueConstraint("organisation_id", "period"),
)

# One reflection its author chose to show the friends of one pairing. Revoking sets
# `revoked_at`: from then on nobody but the author can open it.
shares = Table(
    "shares",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(24), nullable=False, unique=True),
    Column("pairing_id", ForeignKey("pairings.id", ondelete="CASCADE"), nullable=False),
    Column("reflection_id", ForeignKey("reflections.id", ondelete="CASCADE"), nullable=False),
    _user_fk(),  # the author
    Column("shared_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index(None, "pairing_id"),
)

# A friend's feedback on a shared reflection (their answers live in their own
# friend_feedback conversation), and the author's one answer to it.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(24), nullable=False, unique=True),
    Column("share_id", ForeignKey("shares.id", ondelete="CASCADE"), nullable=False),
    _user_fk(),  # the friend
    Column("run_key", String(36), nullable=True),
    Column("status", String(12), nullable=False),  # drafting | sent
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("reply_key", String(36), nullable=True),
    Column("replied_at", UTCDateTime, nullable=True),
    UniqueConstraint("share_id", "user_id"),
)


# Who did what, when, to which record: shares, revocations, exports, erasures, admin
# actions. Never content: `subject` is a kind and a number ("share:12", "user:5").
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=True),
    # The worker who acted; empty once they are erased, or for an admin or the system.
    Column("actor_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("actor", String(16), nullable=False),  # worker | admin | system
    Column("action", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Index(None, "at"),
)


# A CPD record, laid out like Social Work England's form, drafted from a reflection and
# edited by the worker. Every field is free text, so all of them are one encrypted JSON
# object; `activity_date` (the reflection's date, or the worker's) places it in a CPD year.
cpd_records = Table(
    "cpd_records",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk(),
    Column("reflection_id", ForeignKey("reflections.id", ondelete="SET NULL"), nullable=True),
    Column("activity_date", Date, nullable=False),
    Column("peer", Boolean, nullable=False),  # it includes reflection with a peer
    _encrypted("fields_enc"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "user_id", "activity_date"),
)

# A CPD record drafted from a reflection and not saved yet: the worker changes it field by
# field, then saves it as a record (the row moves to `cpd_records`) or lets it go. It is
# not a record: the year tracker, the files and the figures never see it. One a
# reflection; it goes with the reflection.
cpd_drafts = Table(
    "cpd_drafts",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk(),
    Column("reflection_id", ForeignKey("reflections.id", ondelete="CASCADE"), nullable=False),
    Column("activity_date", Date, nullable=False),
    _encrypted("fields_enc"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),  # last changed or shown
    UniqueConstraint("user_id", "reflection_id"),
)


# ---- lessons for the team ------------------------------------------------------------
# A lesson a worker offered to their organisation's digest. `text_enc` is the exact text
# they approved (or the draft they are still looking at); nothing else of theirs goes
# into a digest. Their row goes when they do (`forget`), even after it was published.
lessons = Table(
    "lessons",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk(),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False),
    Column("reflection_id", ForeignKey("reflections.id", ondelete="SET NULL"), nullable=True),
    _encrypted("text_enc"),
    Column("theme", String(40), nullable=False),
    Column("status", String(12), nullable=False),  # draft | approved
    Column("created_at", UTCDateTime, nullable=False),
    Column("approved_at", UTCDateTime, nullable=True),
    # The digest period it went out in (or is going out in); None: not yet in one.
    Column("period", String(32), nullable=True),
    Index(None, "organisation_id", "status", "period"),
)

# One organisation's digest for one period ("2026-11-30") in one place ("slack:C0123"):
# one row, so two processes send it once, and a Slack channel that fails does not make
# the Telegram group read it twice. Lessons are attached when it is claimed.
digests = Table(
    "digests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False),
    Column("period", String(32), nullable=False),
    Column("destination", String(80), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("not_before", UTCDateTime, nullable=True),  # a retry's backoff
    # pending | claimed | sent | empty | failed
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("claimed_by", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("outcome", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("organisation_id", "period", "destination"),
)


def utcnow() -> datetime:
    return datetime.now(UTC)
