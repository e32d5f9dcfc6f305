"""Organisation invitations: made once, redeemed within their limits, never stored in clear."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.store.invites import InviteBook
from bot.store.models import DEFAULT_ORGANISATION, invites, organisations
from bot.store.repository import Store
from tests.chat_process import run_cli


def test_an_invitation_joins_its_organisation_and_only_its_hash_is_kept(
    store: Store, clock
) -> None:
    with store.engine.begin() as connection:
        invite_id, code = InviteBook(connection).create("Riverside Council", clock.now)
    with store.engine.begin() as connection:
        organisation_id = InviteBook(connection).redeem(code, clock.now)
        slug = connection.scalar(
            select(organisations.c.slug).where(organisations.c.id == organisation_id)
        )
        stored = connection.execute(select(invites.c.code_hash)).scalar_one()
    assert slug == "riverside-council"
    assert code not in stored
    assert invite_id == 1


def test_without_a_name_it_is_for_the_default_organisation(store: Store, clock) -> None:
    with store.engine.begin() as connection:
        book = InviteBook(connection)
        _, code = book.create(None, clock.now, default_name="Hillside Trust")
        organisation_id = book.redeem(code, clock.now)
        row = connection.execute(
            select(organisations.c.slug, organisations.c.name).where(
                organisations.c.id == organisation_id
            )
        ).one()
    assert tuple(row) == (DEFAULT_ORGANISATION, "Hillside Trust")


def test_limits_expiry_and_revoking_close_an_invitation(store: Store, clock) -> None:
    with store.engine.begin() as connection:
        book = InviteBook(connection)
        _, twice = book.create("A", clock.now, max_uses=2)
        _, week = book.create("B", clock.now, expires_in_days=7)
        revoked_id, revoked = book.create("C", clock.now)
        assert book.redeem(twice, clock.now) is not None
        assert book.redeem(twice, clock.now) is not None
        assert book.redeem(twice, clock.now) is None  # used up
        assert book.redeem(week, clock.now + timedelta(days=6)) is not None
        assert book.redeem(week, clock.now + timedelta(days=7, seconds=1)) is None  # expired
        assert book.revoke(revoked_id, clock.now)
        assert book.redeem(revoked, clock.now) is None
        assert not book.revoke(revoked_id, clock.now)  # already withdrawn
        assert book.redeem("not a code!", clock.now) is None
        statuses = [i.status(clock.now + timedelta(days=8)) for i in book.all()]
    assert statuses == ["used up", "expired", "revoked"]


def test_the_last_place_cannot_be_taken_twice_at_once(store: Store, clock) -> None:
    with store.engine.begin() as connection:
        _, code = InviteBook(connection).create("A", clock.now, max_uses=1)
    results: list[int | None] = []

    def join() -> None:
        with store.engine.begin() as connection:
            results.append(InviteBook(connection).redeem(code, clock.now))

    threads = [threading.Thread(target=join) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 4
    assert sum(result is not None for result in results) == 1


def test_the_invite_commands_make_list_and_withdraw(tmp_path: Path) -> None:
    made = run_cli(
        tmp_path, "invite", "create", "--org", "Riverside", "--expires", "14", "--uses", "5"
    )
    assert made.returncode == 0, made.stderr
    assert b"Telegram link: https://t.me/" in made.stdout
    listed = json.loads(run_cli(tmp_path, "invite", "list", "--format", "json").stdout)
    assert [(i["organisation"], i["status"], i["max_uses"]) for i in listed] == [
        ("Riverside", "open", 5)
    ]
    assert run_cli(tmp_path, "invite", "revoke", "1").returncode == 0
    again = run_cli(tmp_path, "invite", "revoke", "1")
    assert again.returncode == 1
    assert b"no open invitation 1" in again.stderr
    text = run_cli(tmp_path, "invite", "list").stdout.decode()
    assert "revoked" in text
    bad = run_cli(tmp_path, "invite", "create", "--uses", "0")
    assert bad.returncode == 2
    assert b"Traceback" not in bad.stderr


def test_a_stranger_is_refused_and_nothing_about_them_is_stored(service, store: Store) -> None:
    from bot.messages import Admission, UserRef
    from bot.store.models import identities, users

    stranger = UserRef("telegram", "555", "Stranger Danger")
    assert asyncio.run(service.admit(stranger, None, allowed=False)) is Admission.REFUSED
    assert (
        asyncio.run(service.admit(stranger, "wrong-code-123", allowed=False)) is Admission.REFUSED
    )
    with store.engine.connect() as connection:
        assert connection.execute(select(identities)).all() == []
        assert connection.execute(select(users)).all() == []


def test_an_invitation_or_the_allow_list_admits_a_new_worker(service, store: Store, clock) -> None:
    from bot.messages import Admission, UserRef

    with store.engine.begin() as connection:
        _, code = InviteBook(connection).create("Riverside", clock.now, max_uses=1)
    joiner = UserRef("telegram", "101", "Jo")
    assert asyncio.run(service.admit(joiner, code, allowed=False)) is Admission.JOINED
    assert asyncio.run(service.admit(joiner, None, allowed=False)) is Admission.MEMBER
    late = UserRef("telegram", "102", "Lee")
    assert asyncio.run(service.admit(late, code, allowed=False)) is Admission.REFUSED  # used up
    listed = UserRef("telegram", "103", "Al")
    assert asyncio.run(service.admit(listed, None, allowed=True)) is Admission.JOINED


def test_a_gated_turn_joins_by_invitation_in_the_same_transaction(
    service, store: Store, clock
) -> None:
    from bot.messages import Gate, Incoming, IncomingKind, UserRef
    from bot.store.models import identities, processed_events, users

    with store.engine.begin() as connection:
        _, code = InviteBook(connection).create("Riverside", clock.now, max_uses=1)
    stranger = UserRef("telegram", "555", "Sam")
    refused = service.handle_now(
        Incoming("update-1", stranger, IncomingKind.START), Gate("not-the-code", allowed=False)
    )
    assert refused.refused
    assert refused.messages == []
    with store.engine.connect() as connection:
        for table in (identities, users, processed_events):
            assert connection.execute(select(table)).all() == []  # not even the event id

    joined = service.handle_now(
        Incoming("update-2", stranger, IncomingKind.START), Gate(code, allowed=False)
    )
    assert not joined.refused
    assert any("Which way of reflecting" in message.text for message in joined.messages)
    # A member needs no code any more; the used-up invitation does not matter.
    again = service.handle_now(Incoming("update-3", stranger, IncomingKind.TEXT, "help"), Gate())
    assert not again.refused
    with store.engine.connect() as connection:
        organisation = connection.scalar(
            select(organisations.c.name).join(users, users.c.organisation_id == organisations.c.id)
        )
        assert organisation == "Riverside"
        assert len(connection.execute(select(processed_events)).all()) == 2
