"""Credit figures (issue 16): consumes over HTTP.

* ``credits.consume.hot_wallet.rps`` — ``POST /api/cross-app/credits/consume`` of one credit
  from ONE wallet (every request debits the same account row), a new idempotency key per
  request, against the raw PostgreSQL rate of a conditional ``UPDATE … SET debits = debits + 1
  WHERE credits - debits >= 1`` on one row of a scratch table with the same CHECK, by as many
  autocommit connections as wrk has (the baseline). Target ratio ≥ 0.8 (the lever: concurrent
  consumes share one call of ``credits_transfer_batch``, one lock of the wallet, one commit).
* ``credits.consume.spread.rps`` — the same route with one of 1,000 wallets per request, as
  an app calls it: each organization's user's app token (``/api/cross-app/auth``, the seed's
  cross-app path; an API key per organization would measure the key cache's misses instead),
  against the trivial route (``GET /healthz``), the two in interleaved rounds
  (``harness.interleaved``; per route the round with the median throughput). Target ≥ 0.4.
* ``.p50`` / ``.p99`` of both, against the trivial route's.
* ``credits.batch_params.per_s`` — batches of ``ENCODED_BATCH`` consumes turned into the
  ledger call's parameters per second, in the worker's Python: the JSON document the writer
  sends (``repository._params``, then psycopg's dump of it) against the fourteen array
  parameters it sent before, dumped element by element by psycopg (the baseline).

After the run, no double spend: the ledger reconciles (every account's totals equal the sums of
its transfers, all balances sum to zero), each wallet's balance equals its grant minus its
consume transfers, and there is one transfer per credit spent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.harness import (
    BenchError,
    Figure,
    LoadSpec,
    Route,
    emit,
    free_port,
    interleaved,
    load,
    log,
    production_env,
    raw_single_row_rate,
    running_server,
)

WALLETS = 1000
ENCODED_BATCH = 8
ENCODED_ROUNDS = 2000
FUNDS = 10**12  # per wallet: never short during a run (wrk refuses any non-2xx)
HOT_TARGET = 0.8
SPREAD_TARGET = 0.4
CONSUME = "/api/cross-app/credits/consume"
APP = "bench-app"


async def _seed(url: str) -> tuple[list[uuid.UUID], list[str]]:
    """``WALLETS`` + 1 organizations with an API key each (the first is the hot one), each
    wallet granted ``FUNDS`` credits in one call of the ledger function."""
    import sellerhub.db.models  # noqa: F401 - complete metadata before the first flush
    from sellerhub.billing.credits import repository as repo
    from sellerhub.billing.credits.models import AccountKind, TransferCode, TransferPhase
    from sellerhub.db.engine import create_engine
    from sellerhub.db.session import make_sessionmaker, unit_of_work
    from sellerhub.identity import service as identity
    from sellerhub.identity.organizations.models import Role
    from sellerhub.identity.principal import Principal
    from sellerhub.identity.users.models import UserType

    engine = create_engine(url, pool_size=1)
    organizations: list[uuid.UUID] = []
    keys: list[str] = []
    try:
        sessionmaker = make_sessionmaker(engine)
        for n in range(WALLETS + 1):  # one transaction each: a session has one tenant
            async with unit_of_work(sessionmaker) as session:
                user = await identity.create_user(session, email=f"bench-cr-{n}@bench.invalid")
                org = await identity.create_organization(session, name=f"Credits {n}", owner=user)
                owner = Principal(user.id, org.id, Role.OWNER, UserType(user.user_type), "bench")
                issued = await identity.issue_api_key(session, owner, "bench")
                organizations.append(org.id)
                keys.append(issued.secret)
    finally:
        await engine.dispose()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        grants = [
            repo.TransferRequest(
                organization_id=org,
                key_scope="platform",
                key="bench-funds",
                phase=TransferPhase.SINGLE,
                code=TransferCode.GRANT.value,
                amount=FUNDS,
                debit=repo.account_key(AccountKind.GRANTS, org),
                credit=repo.account_key(AccountKind.WALLET, org),
            )
            for org in organizations
        ]
        outcomes = await repo.transfer_batch(conn, grants)
        if {o.status for o in outcomes} != {"created"}:
            raise BenchError("the bench wallets could not be funded")
        await conn.execute(
            "INSERT INTO apps (id, app_id, name, kind, allowed_origins, redirect_urls,"
            " permissions, client_secret_hash) VALUES (%s, %s, 'Bench', 'browser', '[]', '[]',"
            ' \'["credits:consume", "credits:read"]\', %s)',
            (uuid.uuid4(), APP, "0" * 64),
        )
        for table in ("credit_accounts", "credit_transfers", "api_keys"):
            await conn.execute(f"ANALYZE {table}")
    return organizations, keys


def _script(path: Path, keys: list[str] | None) -> Path:
    """wrk: POST a consume of one credit, a fresh idempotency key per request; with ``keys``,
    each request as one of those organizations (its API key)."""
    table = (
        ""
        if keys is None
        else "local keys = " + json.dumps(keys).replace("[", "{").replace("]", "}") + "\n"
    )
    pick = (
        ""
        if keys is None
        else '  wrk.headers["Authorization"] = "Bearer " .. keys[math.random(1, #keys)]\n'
    )
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n' + table + "local counter = 0\n"
        "local prefix = ''\n"
        "init = function(args)\n"
        "  math.randomseed(os.time() * 1000003 + math.floor(os.clock() * 1000000))\n"
        "  prefix = tostring(math.random(1, 2147483646)) .. tostring(math.random(1, 2147483646))\n"
        "end\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        + pick
        + '  local body = \'{"amount":1,"service":"bench","idempotency_key":"\' .. prefix'
        " .. '-' .. counter .. '\"}'\n"
        "  return wrk.format(nil, nil, nil, body)\n"
        "end\n"
    )
    return path


async def _check_no_double_spend(url: str, organizations: list[uuid.UUID]) -> int:
    """The ledger reconciles; each wallet's balance is its funds minus one credit per consume
    transfer. Returns the number of consumes."""
    from sellerhub.billing.credits import repository as repo

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        report = await repo.reconcile(conn)
        if not report.ok:
            raise BenchError(f"the credit ledger does not reconcile: {report}")
        cursor = await conn.execute(
            "SELECT count(*) FROM credit_accounts a"
            " LEFT JOIN (SELECT debit_account_id, count(*) AS n, sum(amount) AS spent"
            "  FROM credit_transfers WHERE code = 'consume' GROUP BY debit_account_id) c"
            "  ON c.debit_account_id = a.id"
            " WHERE a.kind = 'wallet' AND a.organization_id = ANY(%(orgs)s)"
            " AND (a.credits_posted - a.debits_posted <> %(funds)s - coalesce(c.spent, 0)"
            "      OR coalesce(c.spent, 0) <> coalesce(c.n, 0))",
            {"orgs": organizations, "funds": FUNDS},
        )
        bad = await cursor.fetchone()
        cursor = await conn.execute("SELECT count(*) FROM credit_transfers WHERE code = 'consume'")
        consumed = await cursor.fetchone()
    if bad is None or bad[0] != 0:
        raise BenchError(f"double spend check: {bad[0] if bad else '?'} wallets disagree")
    return int(consumed[0]) if consumed else 0


def _app_tokens(base_url: str, api_keys: list[str]) -> list[str]:
    """Each organization's user's token for the bench app, through ``/api/cross-app/auth``."""
    import httpx

    tokens: list[str] = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for key in api_keys:
            response = client.post(
                "/api/cross-app/auth",
                json={"app_id": APP, "permissions": ["credits:consume"]},
                headers={"Authorization": f"Bearer {key}"},
            )
            if response.status_code != 200:
                raise BenchError(f"an app token was refused: {response.status_code}")
            tokens.append(response.json()["access_token"])
    return tokens


async def _batch_params_rates(url: str, organizations: list[uuid.UUID]) -> tuple[float, float]:
    """Batches per second: (the JSON document, the fourteen arrays), each dumped by psycopg as
    the call's parameters on a real connection; the same consumes, account ids from the cache."""
    import time

    from psycopg.adapt import PyFormat, Transformer

    from sellerhub.billing.credits import repository as repo
    from sellerhub.billing.credits import service

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        requests = [
            service.consume_request(org, amount=1, service="bench", key=f"enc-{n}", app_id=APP)
            for n, org in enumerate(organizations[:ENCODED_BATCH])
        ]
        keys = [k for r in requests if r.debit and r.credit for k in (r.debit, r.credit)]
        ids = await repo.accounts.ensure(conn, keys)  # cached from here on
        transformer = Transformer.from_context(conn)

        arrays: list[Any] = [
            [r.id for r in requests],
            [r.organization_id for r in requests],
            [r.key_scope for r in requests],
            [r.key for r in requests],
            ids[0::2],
            ids[1::2],
            [r.amount for r in requests],
            [r.code for r in requests],
            [r.phase.value for r in requests],
            [r.pending_id for r in requests],
            [r.timeout_at for r in requests],
            [r.app_id for r in requests],
            [r.service for r in requests],
            [json.dumps(r.metadata) if r.metadata else None for r in requests],
        ]
        started = time.perf_counter()
        for _ in range(ENCODED_ROUNDS):
            transformer.dump_sequence(arrays, [PyFormat.AUTO] * len(arrays))
        baseline = ENCODED_ROUNDS / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(ENCODED_ROUNDS):
            transformer.dump_sequence(await repo._params(conn, requests), [PyFormat.AUTO])
        ours = ENCODED_ROUNDS / (time.perf_counter() - started)
    return ours, baseline


def run(*, database_url: str, work_dir: Path, spec: LoadSpec) -> None:
    log(f"credits: seeding {WALLETS + 1} organizations with funded wallets")
    organizations, keys = asyncio.run(_seed(database_url))
    hot = _script(work_dir / "consume-hot.lua", None)
    port = free_port()
    env = production_env(
        database_url=database_url, server="granian", port=port, workers=1, data_dir=work_dir
    )
    with running_server("credits server", env, port, work_dir) as server:
        url = server.base_url
        log(f"credits: {WALLETS} app tokens through /api/cross-app/auth")
        spread = _script(work_dir / "consume-spread.lua", _app_tokens(url, keys[1:]))
        hot_result = load(url + CONSUME, spec, {"Authorization": f"Bearer {keys[0]}"}, script=hot)
        # The ratio's two sides in interleaved rounds (harness.interleaved): a slow phase of the
        # machine reaches both alike.
        paired = interleaved(
            {"trivial": Route(url + "/healthz"), "spread": Route(url + CONSUME, {}, spread)},
            spec,
            median_of=lambda r: r.rps,
        )
        trivial, spread_result = paired["trivial"], paired["spread"]
    raw = asyncio.run(
        raw_single_row_rate(
            database_url,
            spec.connections,
            spec.duration,
            setup=[
                "CREATE TABLE IF NOT EXISTS bench_wallet_row (id int PRIMARY KEY,"
                " credits bigint NOT NULL, debits bigint NOT NULL, CHECK (debits <= credits))",
                "TRUNCATE bench_wallet_row",
                "INSERT INTO bench_wallet_row VALUES (1, 1000000000000, 0)",  # FUNDS
            ],
            update="UPDATE bench_wallet_row SET debits = debits + 1"
            " WHERE id = 1 AND credits - debits >= 1",
        )
    )
    log(f"raw conditional UPDATE on one row: {raw:.0f}/s")
    consumed = asyncio.run(_check_no_double_spend(database_url, organizations))
    log(f"no double spend: {consumed} consumes, every wallet and the ledger agree")
    encoded, arrays_rate = asyncio.run(_batch_params_rates(database_url, organizations))
    figures = [
        Figure("credits.consume.hot_wallet.rps", hot_result.rps, "req/s", raw),
        Figure("credits.consume.hot_wallet.p50", hot_result.p50_ms, "ms", trivial.p50_ms),
        Figure("credits.consume.hot_wallet.p99", hot_result.p99_ms, "ms", trivial.p99_ms),
        Figure("credits.consume.spread.rps", spread_result.rps, "req/s", trivial.rps),
        Figure("credits.consume.spread.p50", spread_result.p50_ms, "ms", trivial.p50_ms),
        Figure("credits.consume.spread.p99", spread_result.p99_ms, "ms", trivial.p99_ms),
        Figure("credits.raw_update.one_row.per_s", raw, "updates/s"),
        Figure("credits.trivial.rps", trivial.rps, "req/s"),
        Figure("credits.batch_params.per_s", encoded, "batches/s", arrays_rate),
    ]
    for figure in figures:
        emit(figure)
    verdicts: list[Any] = [
        ("hot wallet vs raw UPDATE", figures[0].ratio, HOT_TARGET),
        ("1,000 wallets vs trivial", figures[3].ratio, SPREAD_TARGET),
    ]
    for label, ratio, target in verdicts:
        met = "meets" if ratio is not None and ratio >= target else "MISSES"
        log(f"credits: {label} {ratio:.2f}x {met} the {target}x target")
