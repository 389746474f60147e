"""The credit ledger below HTTP, on PostgreSQL: entries are immutable (UPDATE and DELETE
refused by the database), the wallet cannot go below zero even by direct SQL, grants are made
once per key, holds post partially and expire, reconciliation proves the totals and the zero
sum and raises its alarm on a ledger broken on purpose, and a random mix of operations keeps
every invariant."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from structlog.testing import capture_logs

from sellerhub.billing.credits import repository as repo
from sellerhub.billing.credits import service
from sellerhub.billing.credits.errors import (
    HoldExceeded,
    HoldNotFound,
    HoldResolved,
    IdempotencyKeyReused,
    InsufficientCredits,
)
from sellerhub.billing.credits.models import AccountKind, TransferCode
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant


@pytest.fixture
async def conn(runtime: Runtime) -> AsyncIterator[Any]:
    """An autocommit connection of the write pool (each call of the ledger its own commit)."""
    async with runtime.writes.connection() as c:
        yield c


async def _wallet(conn: Any, tenant: Tenant) -> repo.Wallet:
    return await service.wallet(conn, tenant.organization.id)


async def _proved(conn: Any) -> repo.Reconciliation:
    report = await repo.reconcile(conn)
    assert report.ok, service.describe(report)
    return report


async def test_a_grant_credits_the_wallet_once_per_key(
    conn: Any, tenant: Tenant, runtime: Runtime
) -> None:
    org = tenant.organization.id
    row, created = await service.grant(conn, org, amount=100, key="welcome")
    assert created and row.credit_balance_after == 100
    again, created = await service.grant(conn, org, amount=100, key="welcome")
    assert not created and again.id == row.id
    with pytest.raises(IdempotencyKeyReused):
        await service.grant(conn, org, amount=99, key="welcome")
    purchase, _ = await service.grant(
        conn, org, amount=50, key="checkout:cs_1", code=TransferCode.PURCHASE
    )
    assert purchase.credit_balance_after == 150
    assert (await _wallet(conn, tenant)).available == 150
    report = await _proved(conn)
    assert report.transfers == 2


async def test_a_grant_inside_a_session_is_the_callers_transaction(
    runtime: Runtime, tenant: Tenant, conn: Any
) -> None:
    org = tenant.organization.id

    async def failing_caller() -> None:
        async with unit_of_work(runtime.sessionmaker) as session:
            await service.grant(await service.raw_connection(session), org, amount=7, key="k")
            raise RuntimeError("the caller fails after the grant")

    with pytest.raises(RuntimeError):
        await failing_caller()
    assert (await _wallet(conn, tenant)).balance == 0
    async with unit_of_work(runtime.sessionmaker) as session:
        await service.grant(await service.raw_connection(session), org, amount=7, key="k")
    assert (await _wallet(conn, tenant)).balance == 7
    await _proved(conn)


async def test_entries_are_immutable_and_wallets_never_negative_even_by_sql(
    conn: Any, tenant: Tenant
) -> None:
    org = tenant.organization.id
    row, _ = await service.grant(conn, org, amount=10, key="g")
    for statement in (
        "UPDATE credit_transfers SET amount = 1000 WHERE id = %s",
        "DELETE FROM credit_transfers WHERE id = %s",
    ):
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation) as refused:
            await conn.execute(statement, (row.id,))
        assert "immutable" in str(refused.value)
    # The wallet's CHECK is the last guard: a debit past its credits is refused by PostgreSQL.
    with pytest.raises(psycopg.errors.CheckViolation):
        await conn.execute(
            "UPDATE credit_accounts SET debits_posted = credits_posted + 1"
            " WHERE kind = 'wallet' AND organization_id = %s",
            (org,),
        )
    with pytest.raises(psycopg.errors.CheckViolation):
        await conn.execute(
            "UPDATE credit_accounts SET debits_pending = 11"
            " WHERE kind = 'wallet' AND organization_id = %s",
            (org,),
        )
    await _proved(conn)


async def test_a_transfer_names_only_organizations_and_accounts_that_exist(
    conn: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    """The references of a transfer, checked by PostgreSQL once per statement (no foreign keys:
    migration 2026_12_04_credit_transfer_refs): a transfer inserted by direct SQL naming an
    account or an organization that does not exist is refused (23503), a whole statement with
    it; an organization or account that a transfer names can be neither deleted nor re-keyed."""
    org = tenant.organization.id
    row, _ = await service.grant(conn, org, amount=10, key="g")
    await service.grant(conn, other_tenant.organization.id, amount=1, key="g")  # untouched
    insert = (
        "INSERT INTO credit_transfers (id, organization_id, key_scope, idempotency_key,"
        " debit_account_id, credit_account_id, amount, ledger, code, phase,"
        " debit_balance_after, credit_balance_after)"
        " SELECT gen_random_uuid(), o, 'org', k, d, c, 1, 1, 'consume', 'single', 0, 0"
        " FROM unnest(%s::uuid[], %s::text[], %s::uuid[], %s::uuid[]) AS x(o, k, d, c)"
    )
    debit, credit = row.debit_account_id, row.credit_account_id
    nowhere = uuid.uuid4()
    for orgs, debits, credits in (
        ([org], [nowhere], [credit]),
        ([org], [debit], [nowhere]),
        ([nowhere], [debit], [credit]),
        ([org, org], [credit, debit], [nowhere, credit]),  # one bad row of two
    ):
        keys = [f"sql-{n}" for n in range(len(orgs))]
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as refused:
            await conn.execute(insert, (orgs, keys, debits, credits))
        assert "does not exist" in str(refused.value)
    cursor = await conn.execute("SELECT count(*) FROM credit_transfers WHERE code = 'consume'")
    assert await cursor.fetchone() == (0,)  # nothing of the refused statements was kept
    # An organization with nothing but a transfer (written by SQL, on existing accounts): its
    # other guards (audit events, accounts) cannot be what refuses its deletion here.
    bare = uuid.uuid4()
    await conn.execute(
        "INSERT INTO organizations (id, name, slug) VALUES (%s, 'Bare', %s)", (bare, bare.hex)
    )
    await conn.execute(insert, ([bare], ["bare"], [debit], [credit]))
    for statement, value in (
        ("DELETE FROM organizations WHERE id = %s", bare),
        ("UPDATE organizations SET id = gen_random_uuid() WHERE id = %s", bare),
        ("DELETE FROM credit_accounts WHERE id = %s", credit),
        ("UPDATE credit_accounts SET id = gen_random_uuid() WHERE id = %s", debit),
    ):
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as kept:
            await conn.execute(statement, (value,))
        assert "credit transfers" in str(kept.value) or "has transfers" in str(kept.value)


async def test_consume_is_refused_beyond_the_available_balance(
    runtime: Runtime, tenant: Tenant, conn: Any
) -> None:
    org = tenant.organization.id
    await service.grant(conn, org, amount=5, key="g")
    row, created = await service.consume(
        runtime.writes, org, amount=3, service="ocr", key="c1", app_id="adsight"
    )
    assert created and row.debit_balance_after == 2 and row.app_id == "adsight"
    with pytest.raises(InsufficientCredits) as short:
        await service.consume(runtime.writes, org, amount=3, service="ocr", key="c2", app_id=None)
    assert short.value.extra["balance"] == 2
    # The same key of the same app answers the same transfer; another app's key space is its own.
    again, created = await service.consume(
        runtime.writes, org, amount=3, service="ocr", key="c1", app_id="adsight"
    )
    assert not created and again.id == row.id
    with pytest.raises(IdempotencyKeyReused):
        await service.consume(
            runtime.writes, org, amount=2, service="ocr", key="c1", app_id="adsight"
        )
    other, created = await service.consume(
        runtime.writes, org, amount=2, service="ocr", key="c1", app_id="reimb"
    )
    assert created and other.debit_balance_after == 0
    used = await service.usage(conn, org)
    assert used == [("adsight", "ocr", 3, 1), ("reimb", "ocr", 2, 1)]
    await _proved(conn)


async def test_a_batch_decides_in_order_on_running_balances(
    conn: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    """One call of the function with repeated keys, a short transfer between two that fit, and
    another organization's wallet named as the debit account."""
    org = tenant.organization.id
    await service.grant(conn, org, amount=5, key="g")
    await service.grant(conn, other_tenant.organization.id, amount=5, key="g")

    def consume(key: str, amount: int) -> repo.TransferRequest:
        return service.consume_request(org, amount=amount, service="s", key=key, app_id="a")

    foreign = repo.TransferRequest(
        **{
            **consume("k4", 1).__dict__,
            "id": uuid.uuid4(),
            "debit": repo.account_key(AccountKind.WALLET, other_tenant.organization.id),
        }
    )
    batch = [consume("k1", 3), consume("k1", 3), consume("k2", 3), consume("k3", 2), foreign]
    out = await repo.transfer_batch(conn, batch)
    assert [o.status for o in out] == ["created", "existing", "insufficient", "created", "missing"]
    assert out[0].transfer and out[1].transfer and out[0].transfer.id == out[1].transfer.id
    assert out[2].available == 2
    assert out[3].transfer and out[3].transfer.debit_balance_after == 0
    again = await repo.transfer_batch(conn, [consume("k3", 2), consume("k1", 3)])
    assert [o.status for o in again] == ["existing", "existing"]
    assert again[1].transfer and again[1].transfer.debit_balance_after == 2
    assert (await service.wallet(conn, other_tenant.organization.id)).available == 5
    await _proved(conn)


async def test_a_hold_posts_partially_and_releases_the_rest(
    conn: Any, tenant: Tenant, runtime: Runtime
) -> None:
    org = tenant.organization.id
    await service.grant(conn, org, amount=100, key="g")
    held, created = await service.hold(
        conn, org, amount=40, service="render", key="h1", app_id="adsight", timeout_seconds=600
    )
    assert created and held.phase == "pending" and held.debit_balance_after == 60
    wallet = await _wallet(conn, tenant)
    assert (wallet.balance, wallet.held, wallet.available) == (100, 40, 60)
    with pytest.raises(InsufficientCredits):
        await service.consume(runtime.writes, org, amount=61, service="x", key="c", app_id=None)
    with pytest.raises(HoldExceeded):
        await service.post_hold(conn, org, held.id, 41)
    posted, created = await service.post_hold(conn, org, held.id, 25)
    assert created and posted.amount == 25 and posted.pending_id == held.id
    assert posted.debit_balance_after == 75
    wallet = await _wallet(conn, tenant)
    assert (wallet.balance, wallet.held, wallet.available) == (75, 0, 75)
    # Posting again answers the same post; another amount, or a void, is refused.
    again, created = await service.post_hold(conn, org, held.id, 25)
    assert not created and again.id == posted.id
    with pytest.raises(IdempotencyKeyReused):
        await service.post_hold(conn, org, held.id, 20)
    with pytest.raises(HoldResolved):
        await service.void_hold(conn, org, held.id)
    with pytest.raises(HoldNotFound):
        await service.void_hold(conn, org, uuid.uuid4())
    assert await service.usage(conn, org) == [("adsight", "render", 25, 1)]
    await _proved(conn)


async def test_a_hold_of_another_organization_is_not_found(
    conn: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    await service.grant(conn, tenant.organization.id, amount=10, key="g")
    held, _ = await service.hold(
        conn, tenant.organization.id, amount=5, service="s", key="h", app_id=None,
        timeout_seconds=60,
    )  # fmt: skip
    with pytest.raises(HoldNotFound):
        await service.post_hold(conn, other_tenant.organization.id, held.id, None)
    with pytest.raises(HoldNotFound):
        await service.void_hold(conn, other_tenant.organization.id, held.id)
    await _proved(conn)


async def test_holds_expire(conn: Any, tenant: Tenant, runtime: Runtime) -> None:
    org = tenant.organization.id
    await service.grant(conn, org, amount=10, key="g")
    short, _ = await service.hold(
        conn, org, amount=4, service="s", key="h1", app_id=None, timeout_seconds=1
    )
    long, _ = await service.hold(
        conn, org, amount=3, service="s", key="h2", app_id=None, timeout_seconds=3600
    )
    assert (await _wallet(conn, tenant)).available == 3
    assert await service.expire_holds(conn, now=utcnow() + timedelta(seconds=5)) == 1
    assert await service.expire_holds(conn, now=utcnow() + timedelta(seconds=5)) == 0
    wallet = await _wallet(conn, tenant)
    assert (wallet.balance, wallet.held, wallet.available) == (10, 3, 7)
    # The expired hold can no longer be posted; voiding it answers the expiry's void.
    with pytest.raises(HoldResolved):
        await service.post_hold(conn, org, short.id, None)
    void, created = await service.void_hold(conn, org, short.id)
    assert not created and void.phase == "void" and void.amount == 4
    # The job voids through the same path.
    async with unit_of_work(runtime.sessionmaker) as session:
        from sellerhub.billing.credits.tasks import expire_holds

        await expire_holds(session)
    assert (await _wallet(conn, tenant)).held == 3
    posted, _ = await service.post_hold(conn, org, long.id, None)
    assert posted.amount == 3
    await _proved(conn)


async def test_reconciliation_raises_the_alarm_on_a_broken_ledger(
    conn: Any, tenant: Tenant, runtime: Runtime
) -> None:
    org = tenant.organization.id
    await service.grant(conn, org, amount=10, key="g")
    await service.consume(runtime.writes, org, amount=4, service="s", key="c", app_id=None)
    async with unit_of_work(runtime.sessionmaker) as session:
        assert (await service.reconcile_and_record(session)).ok

    # Break it on purpose: an entry rewritten behind the trigger's back.
    await conn.execute("ALTER TABLE credit_transfers DISABLE TRIGGER credit_transfers_immutable")
    try:
        await conn.execute(
            "UPDATE credit_transfers SET amount = amount + 1 WHERE idempotency_key = 'c'"
        )
    finally:
        await conn.execute("ALTER TABLE credit_transfers ENABLE TRIGGER credit_transfers_immutable")
    before = service.LEDGER_MISMATCHES._value.get()
    with capture_logs() as logs:
        async with unit_of_work(runtime.sessionmaker) as session:
            report = await service.reconcile_and_record(session)
    assert not report.ok
    assert {m.kind for m in report.mismatches} == {"wallet", "app_revenue"}
    assert report.posted_sum == 0  # both sides summed the same wrong amount
    assert service.LEDGER_MISMATCHES._value.get() == before + 1
    alarm = [e for e in logs if e["event"] == "credits.ledger_mismatch"]
    assert alarm and alarm[0]["log_level"] == "error" and alarm[0]["mismatched"] == 2
    async with runtime.engine.connect() as db:
        recorded = (
            await db.execute(
                text(
                    "SELECT data FROM platform_audit_events"
                    " WHERE action = 'credits.ledger_mismatch'"
                )
            )
        ).all()
    assert len(recorded) == 1 and recorded[0][0]["ok"] is False

    # An account's total changed by hand breaks the zero sum as well.
    await conn.execute(
        "UPDATE credit_accounts SET credits_posted = credits_posted + 5"
        " WHERE kind = 'wallet' AND organization_id = %s",
        (org,),
    )
    report = await repo.reconcile(conn)
    assert report.posted_sum == 5 and not report.ok


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["grant", "consume", "hold", "post", "void", "expire"]),
        st.integers(min_value=0, max_value=2),  # which organization
        st.integers(min_value=1, max_value=40),  # amount
        st.integers(min_value=0, max_value=5),  # key (repeats are replays or conflicts)
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=OPERATIONS)
async def test_any_mix_of_operations_keeps_the_ledger_whole(
    runtime: Runtime, operations: list[tuple[str, int, int, int]]
) -> None:
    tenants = [await make_tenant(runtime) for _ in range(3)]
    holds: list[tuple[uuid.UUID, uuid.UUID]] = []
    async with runtime.writes.connection() as conn:
        for op, who, amount, key in operations:
            org = tenants[who].organization.id
            try:
                if op == "grant":
                    await service.grant(conn, org, amount=amount, key=f"g{key}")
                elif op == "consume":
                    await service.consume(
                        runtime.writes, org, amount=amount, service="s", key=f"c{key}",
                        app_id=None,
                    )  # fmt: skip
                elif op == "hold":
                    row, _ = await service.hold(
                        conn, org, amount=amount, service="s", key=f"h{key}", app_id="app",
                        timeout_seconds=1 + key,
                    )  # fmt: skip
                    holds.append((org, row.id))
                elif op in ("post", "void") and holds:
                    hold_org, hold_id = holds[key % len(holds)]
                    if op == "post":
                        await service.post_hold(conn, hold_org, hold_id, amount)
                    else:
                        await service.void_hold(conn, hold_org, hold_id)
                elif op == "expire":
                    await service.expire_holds(conn, now=utcnow() + timedelta(seconds=key))
            except (InsufficientCredits, IdempotencyKeyReused, HoldExceeded, HoldResolved):
                pass
            for tenant in tenants:
                wallet = await service.wallet(conn, tenant.organization.id)
                assert wallet.balance >= 0 and wallet.held >= 0 and wallet.available >= 0
        await _proved(conn)


async def test_a_hold_past_its_timeout_is_not_posted_and_an_app_resolves_its_own(
    conn: Any, tenant: Tenant
) -> None:
    org = tenant.organization.id
    await service.grant(conn, org, amount=10, key="g")
    brief, _ = await service.hold(
        conn, org, amount=4, service="s", key="h1", app_id="a", timeout_seconds=1
    )
    await asyncio.sleep(1.1)
    with pytest.raises(HoldResolved):  # expired: the job has not voided it yet
        await service.post_hold(conn, org, brief.id, None, app_id="a")
    assert (await _wallet(conn, tenant)).held == 4
    voided, created = await service.void_hold(conn, org, brief.id, app_id="a")
    assert created and voided.amount == 4
    assert await service.expire_holds(conn) == 0
    theirs, _ = await service.hold(
        conn, org, amount=4, service="s", key="h2", app_id="b", timeout_seconds=60
    )
    with pytest.raises(HoldNotFound):
        await service.post_hold(conn, org, theirs.id, None, app_id="a")
    with pytest.raises(HoldNotFound):
        await service.void_hold(conn, org, theirs.id, app_id="a")
    posted, _ = await service.post_hold(conn, org, theirs.id, 1)  # the organization's user
    assert posted.amount == 1
    assert (await _wallet(conn, tenant)).available == 9
    await _proved(conn)


async def test_two_writers_racing_one_key_make_one_transfer(
    runtime: Runtime, tenant: Tenant, conn: Any
) -> None:
    """Two processes' writers (two calls at once) given the same key: one makes it, the other
    answers it (its call waits on the wallet's lock, then finds the key), and the other
    transfers of both calls are made."""
    org = tenant.organization.id
    await service.grant(conn, org, amount=1000, key="g")
    first, second = repo.LedgerWriter(runtime.writes), repo.LedgerWriter(runtime.writes)
    for n in range(20):
        batch = [
            service.consume_request(org, amount=1, service="s", key=f"k{n}-{m}", app_id=None)
            for m in range(5)
        ]
        same = service.consume_request(org, amount=2, service="s", key=f"race-{n}", app_id=None)
        twin = repo.TransferRequest(**{**same.__dict__, "id": uuid.uuid4()})
        outcomes = await asyncio.gather(
            *(first.submit(r) for r in [*batch, same]), *(second.submit(r) for r in [twin])
        )
        raced = outcomes[-2:]
        assert sorted(o.status for o in raced) == ["created", "existing"]
        assert raced[0].transfer and raced[1].transfer
        assert raced[0].transfer.id == raced[1].transfer.id
        assert {o.status for o in outcomes[:-2]} == {"created"}
    wallet = await service.wallet(conn, org)
    assert wallet.balance == 1000 - 20 * (5 + 2)
    await _proved(conn)


async def test_one_writer_sends_the_next_batch_while_a_call_is_in_the_database(
    runtime: Runtime, tenant: Tenant, conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two calls in flight per writer: while the first call is held in the database, the
    consumes that arrive meanwhile go in a second call at once, and every caller gets its own
    transfer."""
    org = tenant.organization.id
    await service.grant(conn, org, amount=100, key="g")
    release, entered = asyncio.Event(), asyncio.Event()
    started: list[int] = []
    real = repo.transfer_batch

    async def held(connection: Any, requests: list[repo.TransferRequest]) -> Any:
        started.append(len(requests))
        entered.set()
        if len(started) == 1:
            await release.wait()  # the first call stays in the database until released
        return await real(connection, requests)

    monkeypatch.setattr(repo, "transfer_batch", held)
    writer = repo.LedgerWriter(runtime.writes)

    def consume(key: str) -> Any:
        return writer.submit(
            service.consume_request(org, amount=1, service="s", key=key, app_id=None)
        )

    first = asyncio.ensure_future(consume("first"))
    await asyncio.wait_for(entered.wait(), 5)
    meanwhile = await asyncio.wait_for(asyncio.gather(*(consume(f"m{n}") for n in range(3))), 5)
    assert not first.done()  # answered without waiting for the held call
    assert started[0] == 1 and sum(started[1:]) == 3
    release.set()
    outcomes = [await first, *meanwhile]
    assert [o.status for o in outcomes] == ["created"] * 4
    assert len({o.transfer.id for o in outcomes if o.transfer}) == 4
    assert (await service.wallet(conn, org)).balance == 96
    await _proved(conn)


async def _index_reads(conn: Any) -> dict[str, int]:
    cursor = await conn.execute(
        "SELECT c.relname, pg_stat_get_xact_tuples_returned(c.oid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'credit_transfers'::regclass"
    )
    return {name: int(read) for name, read in await cursor.fetchall()}


async def test_the_key_probe_takes_the_keys_index_whatever_the_statistics_say(
    conn: Any, runtime: Runtime, tenant: Tenant
) -> None:
    """Statistics taken when every organization had one transfer (``n_distinct = -1``) made the
    page index look as good as the key's unique index for the function's "does this key
    exist?" probe; a wallet with 2,000 transfers then had all of them read for each transfer of
    a batch. The page index is partial on a condition only the history states, so the probe
    reads the key's index (counted in this transaction's index statistics), and the history
    still reads the page index."""
    org = tenant.organization.id
    quiet = [await make_tenant(runtime, f"Quiet {n}") for n in range(20)]
    for organization in [org, *(t.organization.id for t in quiet)]:
        await service.grant(conn, organization, amount=10**6, key="funds")
    await conn.execute("ANALYZE credit_transfers")

    def consume(key: str) -> repo.TransferRequest:
        return service.consume_request(org, amount=1, service="s", key=key, app_id="a")

    for start in range(0, 2000, 250):
        made = await repo.transfer_batch(
            conn, [consume(f"k{n}") for n in range(start, start + 250)]
        )
        assert {o.status for o in made} == {"created"}
    async with conn.transaction():
        before = await _index_reads(conn)
        batch = await repo.transfer_batch(conn, [consume(f"late{n}") for n in range(64)])
        assert {o.status for o in batch} == {"created"}
        read = {k: v - before.get(k, 0) for k, v in (await _index_reads(conn)).items()}
    assert read.get("ix_credit_transfers_page", 0) == 0, read
    assert sum(read.values()) < 64 * 10, read  # a few index entries per transfer, not 2,000

    await conn.execute("SET enable_seqscan = off")
    try:
        cursor = await conn.execute(
            "EXPLAIN (FORMAT JSON) " + repo._PAGE, {"org": org, "before": None, "limit": 20}
        )
        (plan,) = await cursor.fetchone()
    finally:
        await conn.execute("RESET enable_seqscan")
    assert "ix_credit_transfers_page" in str(plan), plan
