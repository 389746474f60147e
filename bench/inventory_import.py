"""Bulk inventory import figures (issue 13): upload to done through the HTTP endpoint, against
the same file loaded by raw ``COPY`` + upsert in the same run.

Per round (``ROUNDS``), two organizations with the same catalogue (``PRODUCTS`` SKUs,
``LOCATIONS`` locations, no stock yet), seeded with ``COPY``; an API key of the first. Each file
is a CSV of (sku, location, quantity), every (SKU, location) once:

* ``inventory_import.rows_500.seconds`` — ``POST /api/v1/inventory/imports`` with 500 rows until
  the import is succeeded (answered at once: ≤ SELLERHUB_INVENTORY_IMPORT_SYNC_ROWS rows).
  Seed target: < 5 s.
* ``inventory_import.rows_1m.seconds`` — 1,000,000 rows: the upload (streamed, ``COPY`` into
  the staging table), 202, then the worker's validation, upsert and journal, polled with GET
  until succeeded. Target ≤ 10 s.
* ``inventory_import.rows_1m.rows_per_s`` — rows per second, with the baseline's as its
  baseline, so its ratio is the baseline's time over ours (the baseline: the
  same bytes with psycopg's ``COPY`` into a temporary table of the second organization, then
  one ``INSERT … SELECT … ON CONFLICT DO UPDATE`` into stock_levels joining products and
  locations by SKU and code, no validation report and no journal; after the 500-row file,
  loaded the same way untimed, as the import loads it first). Target ≥ 0.6.

The two sides run in ``ROUNDS`` rounds, each into organizations of its own, the side that goes
first alternating: a slow phase of the machine (one run here measured the same code at 0.48x,
another at 0.75x) reaches both sides alike instead of one. Each figure is the round with the
median ratio (its 1,000,000-row seconds and its baseline's); every round is logged. Before each
timed file, both sides settle the database (``_settle``): vacuumed, analysed, checkpointed.

The server is the production server with one worker process, and a job worker (``sellerhub
worker``) beside it; each import is checked: every level written, the journal as long.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    BenchError,
    Figure,
    emit,
    free_port,
    log,
    production_env,
    running_server,
)

PRODUCTS = 100_000
LOCATIONS = 10  # PRODUCTS x LOCATIONS = 1,000,000 levels
ROUNDS = 3
SIZES = {"rows_500": 500, "rows_1m": 1_000_000}
TARGETS = {"rows_500": 5.0, "rows_1m": 10.0}
TARGET_RATIO = 0.6
PATH = "/api/v1/inventory/imports"


@dataclass(frozen=True)
class Seed:
    api_key: str
    organization_id: uuid.UUID
    baseline_organization_id: uuid.UUID


def _csv(rows: int) -> bytes:
    lines = ["sku,location,quantity"]
    for n in range(rows):
        product, location = divmod(n, LOCATIONS)
        lines.append(f"SKU-{product:06d},LOC-{location:02d},{(n * 7) % 50}")
    return ("\n".join(lines) + "\n").encode()


async def _seed(database_url: str, rounds: int) -> list[Seed]:
    import psycopg

    import sellerhub.db.models  # noqa: F401 - complete metadata before the first flush
    from sellerhub.db.engine import create_engine
    from sellerhub.db.session import make_sessionmaker, unit_of_work
    from sellerhub.identity import service as identity
    from sellerhub.identity.organizations.models import Role
    from sellerhub.identity.principal import Principal
    from sellerhub.identity.users.models import UserType

    engine = create_engine(database_url, pool_size=2)
    seeds: list[Seed] = []
    try:
        for n in range(rounds):
            async with unit_of_work(make_sessionmaker(engine)) as session:
                user = await identity.create_user(
                    session, email=f"bench-inventory-{n}@bench.invalid"
                )
                org = await identity.create_organization(
                    session, name=f"Bench Stock {n}", owner=user
                )
                principal = Principal(
                    user.id, org.id, Role.OWNER, UserType(user.user_type), "bench"
                )
                issued = await identity.issue_api_key(session, principal, "bench")
            async with unit_of_work(make_sessionmaker(engine)) as session:
                other_user = await identity.create_user(
                    session, email=f"bench-inv-b-{n}@bench.invalid"
                )
                other = await identity.create_organization(
                    session, name=f"Bench Raw {n}", owner=other_user
                )
            seeds.append(Seed(issued.secret, org.id, other.id))
    finally:
        await engine.dispose()
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    async with await psycopg.AsyncConnection.connect(plain) as conn:
        for seed in seeds:
            for organization in (seed.organization_id, seed.baseline_organization_id):
                async with conn.cursor().copy(
                    "COPY products (id, organization_id, sku, title, created_at, updated_at)"
                    " FROM STDIN"
                ) as copy:
                    for n in range(PRODUCTS):
                        sku = f"SKU-{n:06d}"
                        await copy.write_row((uuid.uuid4(), organization, sku, sku, "now", "now"))
                for n in range(LOCATIONS):
                    await conn.execute(
                        "INSERT INTO locations (id, organization_id, code, name, kind, created_at,"
                        " updated_at) VALUES (%s, %s, %s, '', 'warehouse', now(), now())",
                        (uuid.uuid4(), organization, f"LOC-{n:02d}"),
                    )
        await conn.commit()
        await conn.execute("ANALYZE products")
        await conn.execute("ANALYZE locations")
    return seeds


def _settle(database_url: str) -> None:
    """Vacuum the levels and the journal and take a checkpoint, so that each side starts from
    the same quiet database: without it, one side paid for the other's leftovers on the same two
    cores (autovacuum of the baseline's 1,000,000 deleted levels or of the import's 1,000,000
    new movements, and the checkpoint of their WAL)."""
    import psycopg

    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) stock_levels, stock_movements")
        conn.execute("CHECKPOINT")


_UPSERT = (
    "INSERT INTO stock_levels (organization_id, product_id, location_id, on_hand,"
    " reserved, updated_at)"
    " SELECT %(org)s, p.id, l.id, r.quantity, 0, now() FROM raw_import r"
    " JOIN products p ON p.organization_id = %(org)s AND p.sku = r.sku"
    " JOIN locations l ON l.organization_id = %(org)s AND l.code = r.location"
    " ON CONFLICT (organization_id, product_id, location_id)"
    " DO UPDATE SET on_hand = excluded.on_hand, updated_at = excluded.updated_at"
)


def _load(conn: Any, organization_id: uuid.UUID, body: bytes) -> None:
    """One file by raw COPY into a temporary table and one upsert, committed."""
    conn.execute(
        "CREATE TEMP TABLE raw_import (sku text, location text, quantity int) ON COMMIT DROP"
    )
    with conn.cursor().copy("COPY raw_import FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
        for start in range(0, len(body), 65_536):
            copy.write(body[start : start + 65_536])
    conn.execute(_UPSERT, {"org": organization_id})
    conn.commit()


def _baseline(database_url: str, organization_id: uuid.UUID, files: dict[str, bytes]) -> float:
    """The files in the import's order, each by raw COPY + one upsert on a direct connection;
    the 1,000,000-row file timed from its first byte to its commit. The 500-row file goes first,
    untimed, as it does through HTTP: both sides then load the large file over the same 500
    levels (an index that already holds keys across the organization's range splits its pages
    in the middle, which costs more than appending; the baseline once loaded into an empty
    organization and had only the cheaper case)."""
    import psycopg

    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        _load(conn, organization_id, files["rows_500"])
        _settle(database_url)
        started = time.perf_counter()
        _load(conn, organization_id, files["rows_1m"])
        elapsed = time.perf_counter() - started
        # Levels without a journal are what the hourly inventory.verify_journal reports (and
        # spends the worker's time on, beside the import, when the bench starts within its
        # catch-up window): the baseline's are not kept.
        conn.execute("DELETE FROM stock_levels WHERE organization_id = %s", (organization_id,))
        conn.commit()
    _settle(database_url)
    return elapsed


def _import(base_url: str, api_key: str, body: bytes) -> tuple[float, dict[str, object]]:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "text/csv"}

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65_536):
            yield body[start : start + 65_536]

    with httpx.Client(base_url=base_url, timeout=600) as client:
        started = time.perf_counter()
        answer = client.post(PATH, content=chunks(), headers=headers)
        if answer.status_code not in (201, 202):
            raise BenchError(f"import answered {answer.status_code}: {answer.text[:300]}")
        state: dict[str, object] = answer.json()
        while state["status"] not in ("succeeded", "rejected", "failed"):
            time.sleep(0.05)
            state = client.get(f"{PATH}/{state['id']}", headers=headers).json()
        elapsed = time.perf_counter() - started
    if state["status"] != "succeeded":
        raise BenchError(f"the import ended {state['status']}: {state}")
    return elapsed, state


def _check(database_url: str, seed: Seed, rows: int) -> None:
    import psycopg

    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        levels, journal = conn.execute(
            "SELECT (SELECT count(*) FROM stock_levels WHERE organization_id = %(o)s),"
            " (SELECT count(*) FROM stock_movements WHERE organization_id = %(o)s)",
            {"o": seed.organization_id},
        ).fetchone() or (0, 0)
    if levels < rows or journal < rows:
        raise BenchError(f"after the import: {levels} levels and {journal} movements")


def _wait_for_worker(database_url: str, process: subprocess.Popen[bytes]) -> None:
    """Until the worker has registered with the queue: a running deployment's worker is up
    before an upload, so its start is not part of "upload to done"."""
    import psycopg

    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + 60
    with psycopg.connect(plain, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchError(f"the worker exited with code {process.returncode}")
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            if row and row[0]:
                return
            time.sleep(0.1)
    raise BenchError("the worker did not register within 60 s")


@contextlib.contextmanager
def _worker(env: dict[str, str], cwd: Path) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sellerhub", "worker"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr,
        stderr=sys.stderr,
        start_new_session=True,
    )
    try:
        _wait_for_worker(env["SELLERHUB_DATABASE_URL"], process)
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _import_files(
    database_url: str, base_url: str, seed: Seed, files: dict[str, bytes]
) -> dict[str, float]:
    """The files through HTTP in order (the 500-row one first, as the baseline loads it), each
    checked applied; the database settled before the 1,000,000-row file and after it."""
    seconds: dict[str, float] = {}
    for name, rows in SIZES.items():
        if name == "rows_1m":
            _settle(database_url)
        log(f"importing {rows:,} rows through {PATH}")
        elapsed, state = _import(base_url, seed.api_key, files[name])
        if state["rows_applied"] != rows:
            raise BenchError(f"{name}: {state['rows_applied']} rows applied of {rows}")
        seconds[name] = elapsed
    _check(database_url, seed, SIZES["rows_1m"])
    _settle(database_url)
    return seconds


@dataclass(frozen=True)
class Round:
    seconds: dict[str, float]  # the import's, per file
    baseline: float  # the baseline's 1,000,000-row file

    @property
    def ratio(self) -> float:
        return self.baseline / self.seconds["rows_1m"]


def run(*, database_url: str, work_dir: Path) -> None:
    log(
        f"seeding {2 * ROUNDS} organizations with {PRODUCTS:,} products and {LOCATIONS}"
        " locations each"
    )
    seeds = asyncio.run(_seed(database_url, ROUNDS))
    files = {name: _csv(rows) for name, rows in SIZES.items()}
    port = free_port()
    data_dir = work_dir / "inventory-import-data"
    data_dir.mkdir(exist_ok=True)
    env = production_env(
        database_url=database_url, server="uvicorn", port=port, workers=1, data_dir=data_dir
    )
    # The import's own log lines on stderr: inventory.import_received (seconds of COPY),
    # inventory.import_started (since the import row was created: the job's pickup) and
    # inventory.import_finished (seconds per phase).
    env["SELLERHUB_LOG_LEVEL"] = "INFO"
    rounds: list[Round] = []
    with running_server("uvicorn", env, port, cwd=work_dir) as server, _worker(env, work_dir):
        _settle(database_url)
        for n, seed in enumerate(seeds, start=1):
            baseline_first = n % 2 == 1
            if baseline_first:
                log(f"round {n}: baseline (raw COPY + upsert, the 500-row file untimed), then HTTP")
                baseline = _baseline(database_url, seed.baseline_organization_id, files)
                seconds = _import_files(database_url, server.base_url, seed, files)
            else:
                log(f"round {n}: HTTP, then the baseline")
                seconds = _import_files(database_url, server.base_url, seed, files)
                baseline = _baseline(database_url, seed.baseline_organization_id, files)
            found = Round(seconds, baseline)
            rounds.append(found)
            log(
                f"round {n}: 500 rows {seconds['rows_500']:.2f} s; 1,000,000 rows"
                f" {seconds['rows_1m']:.2f} s against {baseline:.2f} s, {found.ratio:.2f}x"
            )
    median = sorted(rounds, key=lambda r: r.ratio)[len(rounds) // 2]
    for name, elapsed in median.seconds.items():
        emit(Figure(f"inventory_import.{name}.seconds", elapsed, "s"))
        mark = "meets" if elapsed <= TARGETS[name] else "MISSES"
        log(f"inventory_import.{name}: {elapsed:.2f} s ({mark} target {TARGETS[name]:g} s)")
    emit(Figure("inventory_import.rows_1m.baseline_seconds", median.baseline, "s"))
    rows = SIZES["rows_1m"]
    emit(
        Figure(
            "inventory_import.rows_1m.rows_per_s",
            rows / median.seconds["rows_1m"],
            "rows/s",
            baseline=rows / median.baseline,
        )
    )
    mark = "meets" if median.ratio >= TARGET_RATIO else "MISSES"
    log(
        f"inventory_import.rows_1m: {median.ratio:.2f}x the raw COPY + upsert's speed, the median"
        f" of {len(rounds)} rounds ({mark} target {TARGET_RATIO}x)"
    )
