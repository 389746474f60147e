"""Billing figures (issue 15): recoveries charged through the Stripe emulator by the job worker,
which is SIGKILLed mid-run and started again. ``python -m bench.billing [--recoveries N]
[--concurrency C]`` runs it alone.

The emulators app runs as its own process (webhook delivery off: the worker alone records the
charges). One organization with a saved card (a customer and ``pm_card_visa`` at the emulator,
stored as the default), one reimbursed claim and ``--recoveries`` recoveries of it (10,000 by
default); one ``billing.commission_requested`` job each, as the claims workflow requests them.
``sellerhub worker`` (``SELLERHUB_JOBS_CONCURRENCY=--concurrency``, outcome re-checks after 5 s)
charges them; once 40 % have succeeded it is SIGKILLed (its process group: whatever it was
sending or recording is cut), and started again after 35 s (the queue hands a dead worker's
jobs to the next one once its heartbeat is 30 s old). The run ends when every commission has
succeeded.

* ``billing.charges.rps`` — commissions charged per second from the first job to the last
  success, the kill and the restart included; baseline: the emulator's own rate of the same
  off-session PaymentIntents created one at a time by a plain SDK loop (no database).
* ``billing.charges.worker_rps`` — the same, with the 35 s the worker was down left out.
* ``billing.charges.duplicates`` / ``.missing`` — counted at the emulator
  (``_admin/summary`` by ``metadata[recovery_id]``): recoveries charged more than once, and
  recoveries with no succeeded PaymentIntent. Both must be 0; the bench fails otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.harness import BenchError, Figure, emit, free_port, log, run_secrets

KILL_AT = 0.4
RESTART_AFTER = 35.0
BASELINE_CHARGES = 300
SERVER = """
import sys, uvicorn
from sellerhub_emulators.app import create_emulators_app
uvicorn.run(create_emulators_app(), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", access_log=False)
"""


@contextlib.contextmanager
def _emulators() -> Iterator[str]:
    """The emulators app in its own process; the Stripe emulator's base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], env=env, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}/stripe"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/_admin/stats", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError("the emulators did not start")
            time.sleep(0.2)
        answer = httpx.post(f"{base}/_admin/config", json={"delivery": "off"}, timeout=5)
        answer.raise_for_status()
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _sdk(base: str) -> Any:
    from sellerhub.billing.stripe.client import StripeConfig, build
    from sellerhub_emulators.stripe import SECRET_KEY

    return build(
        StripeConfig(
            api_base=base, secret_key=SECRET_KEY, timeout_seconds=20, max_network_retries=0
        )
    )


async def _seed(url: str, base: str, count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """One organization with a default card, one claim, ``count`` recoveries of it."""
    import sellerhub.db.models  # noqa: F401 - complete metadata before the first flush
    from sellerhub.billing.customers.models import StripeCustomer, StripePaymentMethod
    from sellerhub.commerce.claims.models import Claim, Recovery
    from sellerhub.core.clock import utcnow
    from sellerhub.db.engine import create_engine
    from sellerhub.db.session import make_sessionmaker, unit_of_work
    from sellerhub.db.tenancy import set_tenant
    from sellerhub.identity import service as identity

    sdk = _sdk(base)
    customer = await sdk.v1.customers.create_async({"email": "bench@example.com"})
    card = await sdk.v1.payment_methods.attach_async("pm_card_visa", {"customer": customer.id})
    engine = create_engine(url)
    sessionmaker = make_sessionmaker(engine)
    today = utcnow().date()
    try:
        async with unit_of_work(sessionmaker) as session:
            owner = await identity.create_user(session, email="bench-billing@example.com")
            org = await identity.create_organization(session, name="Bench Billing", owner=owner)
            set_tenant(session, org.id)
            session.add(StripeCustomer(organization_id=org.id, stripe_customer_id=customer.id))
            session.add(
                StripePaymentMethod(
                    organization_id=org.id,
                    stripe_payment_method_id=card.id,
                    stripe_customer_id=customer.id,
                    set_up_at=utcnow(),
                    brand="visa",
                    last4="4242",
                    exp_month=12,
                    exp_year=2030,
                    is_default=True,
                )
            )
            claim = Claim(
                organization_id=org.id,
                connection_id=uuid.uuid4(),
                key=uuid.uuid4().hex,
                kind="warehouse_lost",
                quantity=count,
                event_date=today,
                eligible_from=today,
                deadline=today,
                status="reimbursed",
                last_detected_on=today,
            )
            claim.ensure_id()
            session.add(claim)
        ids: list[uuid.UUID] = []
        for start in range(0, count, 1000):
            async with unit_of_work(sessionmaker) as session:
                set_tenant(session, org.id)
                for n in range(start, min(start + 1000, count)):
                    row = Recovery(
                        organization_id=org.id,
                        claim_id=claim.id,
                        reimbursement_id=f"B{n:08d}",
                        kind="reimbursement",
                        amount_minor=1000 + n % 5000,
                        currency="USD",
                        quantity=1,
                        approved_on=today,
                        matched_by="case_id",
                    )
                    row.ensure_id()
                    ids.append(row.id)
                    session.add(row)
        return org.id, ids
    finally:
        await engine.dispose()


async def _request(url: str, organization_id: uuid.UUID, recoveries: list[uuid.UUID]) -> None:
    """One ``billing.commission_requested`` job per recovery, deferred in batches."""
    from procrastinate.types import JSONDict
    from psycopg_pool import AsyncConnectionPool

    import sellerhub.jobs.registry  # noqa: F401 - registers every task
    from sellerhub.billing.commissions.service import REQUEST_TASK
    from sellerhub.db.engine import to_libpq_url
    from sellerhub.jobs.app import queue_app

    pool = AsyncConnectionPool(to_libpq_url(url), min_size=1, max_size=2, open=False)
    await pool.open(wait=True)
    try:
        async with queue_app.open_async(pool):
            deferrer = queue_app.configure_task(REQUEST_TASK, allow_unknown=False)
            org = str(organization_id)
            for start in range(0, len(recoveries), 1000):
                batch = recoveries[start : start + 1000]
                payloads: list[JSONDict] = [
                    {"organization_id": org, "recovery_id": str(r)} for r in batch
                ]
                await deferrer.batch_defer_async(*payloads)
    finally:
        await pool.close()


def _succeeded(url: str) -> int:
    import psycopg

    from sellerhub.db.engine import to_libpq_url

    with psycopg.connect(to_libpq_url(url)) as conn:
        row = conn.execute("SELECT count(*) FROM commissions WHERE state = 'succeeded'").fetchone()
        return int(row[0]) if row else 0


class Worker:
    """``sellerhub worker`` in its own process group."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log("starting the worker")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sellerhub", "worker"],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr,
            stderr=sys.stderr,
            start_new_session=True,
        )

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=25)
        self.kill()


async def _baseline(base: str, count: int) -> float:
    """Off-session PaymentIntents per second from a plain SDK loop (no database)."""
    sdk = _sdk(base)
    customer = await sdk.v1.customers.create_async({"email": "baseline@example.com"})
    card = await sdk.v1.payment_methods.attach_async("pm_card_visa", {"customer": customer.id})
    started = time.monotonic()
    for n in range(count):
        await sdk.v1.payment_intents.create_async(
            {
                "amount": 1000,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": card.id,
                "payment_method_types": ["card"],
                "off_session": True,
                "confirm": True,
                "metadata": {"baseline": str(n)},
            },
            {"idempotency_key": f"baseline:{n}"},
        )
    return count / (time.monotonic() - started)


def run(
    *, database_url: str, work_dir: Path, recoveries: int = 10_000, concurrency: int = 8
) -> None:
    with _emulators() as base:
        baseline = asyncio.run(_baseline(base, BASELINE_CHARGES))
        log(f"baseline: {baseline:.0f} PaymentIntents/s from a plain SDK loop")
        organization_id, ids = asyncio.run(_seed(database_url, base, recoveries))
        log(f"seeded {len(ids)} recoveries")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")}
        env.update(run_secrets())
        env.update(
            {
                "SELLERHUB_ENV": "test",
                "SELLERHUB_DATABASE_URL": database_url,
                "SELLERHUB_DATA_DIR": str(work_dir / "billing-worker"),
                "SELLERHUB_STRIPE_API_BASE": base,
                "SELLERHUB_STRIPE_SECRET_KEY": "sk_test_sellerhub_emulator",
                "SELLERHUB_STRIPE_PUBLISHABLE_KEY": "pk_test_sellerhub_emulator",
                "SELLERHUB_JOBS_CONCURRENCY": str(concurrency),
                "SELLERHUB_BILLING_COMMISSION_RECHECK_SECONDS": "5",
                "SELLERHUB_LOG_LEVEL": "WARNING",
                "SELLERHUB_MAIL_BACKEND": "outbox",
            }
        )
        worker = Worker(env, work_dir)
        try:
            started = time.monotonic()
            asyncio.run(_request(database_url, organization_id, ids))
            worker.start()
            killed = False
            down = 0.0
            deadline = started + 1800
            while True:
                done = _succeeded(database_url)
                if done >= recoveries:
                    break
                if not killed and done >= recoveries * KILL_AT:
                    log(f"{done} charged: SIGKILL the worker")
                    worker.kill()
                    killed = True
                    time.sleep(RESTART_AFTER)
                    down = RESTART_AFTER
                    worker.start()
                if time.monotonic() > deadline:
                    raise BenchError(f"only {done} of {recoveries} commissions succeeded")
                time.sleep(0.5)
            elapsed = time.monotonic() - started
        finally:
            worker.stop()
        summary = httpx.get(
            f"{base}/_admin/summary", params={"metadata_key": "recovery_id"}, timeout=30
        ).json()
    counts: dict[str, int] = summary["counts"]
    duplicates = sum(1 for n in counts.values() if n > 1)
    missing = sum(1 for r in ids if str(r) not in counts)
    emit(Figure("billing.charges.rps", recoveries / elapsed, "charges/s", baseline))
    emit(Figure("billing.charges.worker_rps", recoveries / (elapsed - down), "charges/s", baseline))
    emit(Figure("billing.charges.duplicates", duplicates, "recoveries"))
    emit(Figure("billing.charges.missing", missing, "recoveries"))
    log(
        f"{recoveries} recoveries in {elapsed:.1f}s ({down:.0f}s without a worker): "
        f"{duplicates} charged twice, {missing} never charged"
    )
    if duplicates or missing or not killed:
        raise BenchError("a recovery was charged twice or not at all (or the worker never died)")


def main(argv: list[str] | None = None) -> int:
    from bench.harness import bench_database, work_dir
    from sellerhub.core.logging import configure_logging

    parser = argparse.ArgumentParser(prog="python -m bench.billing", description=__doc__)
    parser.add_argument("--recoveries", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    try:
        with work_dir() as tmp, bench_database(tmp) as url:
            run(
                database_url=url,
                work_dir=tmp,
                recoveries=args.recoveries,
                concurrency=args.concurrency,
            )
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
