"""FBA claims pipeline figures (issue 14): a 1,000,000-row inventory ledger (gzip TSV from the
Amazon emulator) downloaded, parsed, stored and run through detection, against a raw ``COPY``
of the same rows in the same run. ``python -m bench.claims [--rows N]`` runs it alone.

The emulators app runs as its own process (as ``bench.spapi_reports`` starts it), with
``--rows`` background ledger rows over the 540 days of the seeded history and its planted
cases. This process creates a ``GET_LEDGER_DETAIL_VIEW_DATA`` report and a
``GET_FBA_REIMBURSEMENTS_DATA`` report, polls both to DONE (``claims.generate_s``: the
emulator's time, Amazon's in real life, not ours), stores the reimbursements, then measures:

* ``claims.ledger_1m.baseline_copy_s`` — the document downloaded, gunzipped and ``COPY``'d as
  it is (psycopg, CSV with tab delimiters) into a table of the ledger's 15 columns as text,
  committed: the floor of storing those rows.
* ``claims.ledger_1m.store_s`` — the pipeline's own step (``claims.reports.service.store_report``,
  what the ``fba_claims_reports`` sync job runs per report): the document streamed through the
  client's gunzip + TSV reader in batches, each row normalised where detection reads it
  (Adjustments and Receipts), ``COPY`` to the staging table, ``INSERT ... SELECT ... ON
  CONFLICT DO NOTHING`` into ``claims_ledger_events``, committed.
* ``claims.ledger_1m.detect_s`` — ``claims.reports.service.detect``: the rows the rules read
  (filtered in SQL), ``rules.detect``, ``claims.service.record_detected`` and
  ``record_reimbursements``, committed.
* ``claims.ledger_1m.end_to_end_s`` — store + detect, with the raw COPY as its baseline.
  Target ≤ 20 s.

Checked before the figures are printed: the rows stored are the ledger's Adjustments and
Receipts, and detection stored claims (the planted ones).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.harness import BenchError, Figure, emit, free_port, log

US = "ATVPDKIKX0DER"
LEDGER = "GET_LEDGER_DETAIL_VIEW_DATA"
REIMBURSEMENTS = "GET_FBA_REIMBURSEMENTS_DATA"
TARGET_SECONDS = 20.0
LEDGER_COLUMNS = 15

SERVER = """
import sys, uvicorn
from sellerhub_emulators.app import create_emulators_app
from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.common.tokens import TokenKind
app = create_emulators_app()
amazon = app.state.emulators["amazon"]
record = amazon.tokens.issue(
    TokenKind.ACCESS, prefix=c.ACCESS_TOKEN_PREFIX, client_id=c.DEFAULT_CLIENT_ID,
    scopes=(c.SPAPI_AUTHORIZATION,),
    subject={"selling_partner_id": c.DEFAULT_SELLING_PARTNER_ID,
             "marketplace_ids": "ATVPDKIKX0DER"},
    ttl_seconds=3600,
)
print(record.value, flush=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


@contextlib.contextmanager
def _emulators() -> Iterator[tuple[str, str]]:
    """The emulators app in its own process: (base URL, an SP-API access token)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        token = server.stdout.readline().decode().strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/amazon/_admin/stats", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("the emulators did not start")
            time.sleep(0.2)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


async def _document(http: httpx.AsyncClient, token: str, report_type: str) -> Any:
    """createReport over the whole history, polled to DONE; its ReportDocument."""
    from sellerhub.connections.providers.amazon_spapi import documents

    headers = {"x-amz-access-token": token}
    start = datetime.now(UTC) - timedelta(days=541)
    created = await http.post(
        "/amazon/reports/2021-06-30/reports",
        headers=headers,
        json={
            "reportType": report_type,
            "marketplaceIds": [US],
            "dataStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    created.raise_for_status()
    report_id = created.json()["reportId"]
    report: dict[str, Any] = {}
    while report.get("processingStatus") not in ("DONE", "CANCELLED", "FATAL"):
        await asyncio.sleep(0.5)  # getReport's usage plan: 2 per second
        polled = await http.get(f"/amazon/reports/2021-06-30/reports/{report_id}", headers=headers)
        if polled.status_code == 429:
            continue
        polled.raise_for_status()
        report = polled.json()
    if report["processingStatus"] != "DONE":
        raise BenchError(f"the {report_type} report ended {report['processingStatus']}")
    doc = await http.get(
        f"/amazon/reports/2021-06-30/documents/{report['reportDocumentId']}", headers=headers
    )
    doc.raise_for_status()
    body = doc.json()
    return documents.ReportDocument(
        body["reportDocumentId"], body["url"], body.get("compressionAlgorithm")
    )


async def _baseline(database_url: str, http: httpx.AsyncClient, url: str) -> float:
    """Download, gunzip and COPY the document as it is into a table of the same shape."""
    import psycopg

    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    columns = ", ".join(f"c{n} text" for n in range(LEDGER_COLUMNS))
    async with await psycopg.AsyncConnection.connect(plain) as conn:
        await conn.execute("DROP TABLE IF EXISTS bench_claims_raw_ledger")
        await conn.execute(f"CREATE TABLE bench_claims_raw_ledger ({columns})")
        await conn.commit()
        began = time.perf_counter()
        inflate = zlib.decompressobj(wbits=31)
        async with (
            http.stream("GET", url) as raw,
            conn.cursor() as cursor,
            cursor.copy(
                "COPY bench_claims_raw_ledger FROM STDIN"
                " WITH (FORMAT csv, DELIMITER E'\\t', HEADER true)"
            ) as copy,
        ):
            async for chunk in raw.aiter_raw(1 << 16):
                await copy.write(inflate.decompress(chunk))
            await copy.write(inflate.flush())
        await conn.commit()
        seconds = time.perf_counter() - began
        copied = await (
            await conn.execute("SELECT count(*) FROM bench_claims_raw_ledger")
        ).fetchone()
        await conn.execute("DROP TABLE bench_claims_raw_ledger")
        await conn.commit()
    log(f"baseline: {copied[0] if copied else 0:,} rows copied raw in {seconds:.2f}s")
    return seconds


async def _seed(database_url: str) -> uuid.UUID:
    import sellerhub.db.models  # noqa: F401 - complete metadata before the first flush
    from sellerhub.db.engine import create_engine
    from sellerhub.db.session import make_sessionmaker, unit_of_work
    from sellerhub.identity import service as identity

    engine = create_engine(database_url, pool_size=1)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            user = await identity.create_user(
                session, email=f"claims-{uuid.uuid4().hex[:6]}@bench.invalid"
            )
            org = await identity.create_organization(session, name="Bench Claims", owner=user)
            return org.id
    finally:
        await engine.dispose()


async def _measure(database_url: str, base: str, token: str, rows: int) -> None:
    from sellerhub.commerce.claims.reports import service as pipeline
    from sellerhub.connections.providers.amazon_spapi import documents
    from sellerhub.db.engine import create_engine
    from sellerhub.db.session import make_sessionmaker, unit_of_work
    from sellerhub.db.tenancy import set_tenant

    organization_id = await _seed(database_url)
    connection_id = uuid.uuid4()
    today = datetime.now(UTC).date()
    engine = create_engine(database_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(60.0)) as http:
            config = {
                "reports": {
                    "ledger_rows": rows,
                    "anchor": today.isoformat(),
                    "in_queue_polls": 0,
                    "in_progress_polls": 0,
                    "url_ttl_seconds": 3600,
                }
            }
            (await http.post("/amazon/_admin/config", json=config)).raise_for_status()
            began = time.perf_counter()
            ledger = await _document(http, token, LEDGER)
            generated = time.perf_counter() - began
            paid = await _document(http, token, REIMBURSEMENTS)
            await pipeline.store_report(
                sessionmaker,
                organization_id,
                connection_id,
                pipeline.Step(REIMBURSEMENTS, US),
                documents.iter_document_batches(http, paid),
            )

            log(f"baseline: raw COPY of the {rows:,}-row ledger")
            baseline = await _baseline(database_url, http, ledger.url)

            log("the pipeline: download, parse, normalise, COPY, merge")
            began = time.perf_counter()
            stored = await pipeline.store_report(
                sessionmaker,
                organization_id,
                connection_id,
                pipeline.Step(LEDGER, US),
                documents.iter_document_batches(http, ledger),
            )
            store_seconds = time.perf_counter() - began
            began = time.perf_counter()
            async with unit_of_work(sessionmaker) as session:
                set_tenant(session, organization_id)
                detected = await pipeline.detect(
                    session, organization_id, connection_id, today=today
                )
            detect_seconds = time.perf_counter() - began
    finally:
        await engine.dispose()

    log(
        f"ledger: {stored.fetched:,} rows read, {stored.stored:,} stored (Adjustments and "
        f"Receipts), {stored.skipped} skipped; detection: {detected.claims} claims "
        f"({detected.new} new), {detected.recoveries} recoveries"
    )
    if stored.fetched < rows or stored.stored == 0 or stored.skipped:
        raise BenchError(f"the ledger was not stored whole: {stored}")
    if detected.claims == 0 or detected.new != detected.claims:
        raise BenchError(f"detection found no planted claim: {detected}")
    total = store_seconds + detect_seconds
    emit(Figure("claims.generate_s", generated, "s"))
    emit(Figure("claims.ledger_1m.baseline_copy_s", baseline, "s"))
    emit(Figure("claims.ledger_1m.store_s", store_seconds, "s", baseline=baseline))
    emit(Figure("claims.ledger_1m.detect_s", detect_seconds, "s"))
    emit(Figure("claims.ledger_1m.end_to_end_s", total, "s", baseline=baseline))
    mark = "meets" if total <= TARGET_SECONDS else "MISSES"
    log(
        f"claims.ledger_1m: {total:.1f}s end to end ({mark} the {TARGET_SECONDS:.0f}s target), "
        f"{total / baseline:.1f}x the raw COPY's {baseline:.1f}s"
    )


def run(*, database_url: str, work_dir: Path, rows: int = 1_000_000) -> None:
    """The claims figures against ``database_url`` (migrated)."""
    with _emulators() as (base, token):
        asyncio.run(_measure(database_url, base, token, rows))


def main(argv: list[str] | None = None) -> int:
    from bench import harness
    from bench.harness import bench_database, work_dir

    harness.BENCH_DATABASE = "sellerhub_bench_claims"  # alone: beside a full bench's database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    from sellerhub.core.logging import configure_logging

    configure_logging("WARNING")
    try:
        with work_dir() as tmp, bench_database(tmp) as url:
            run(database_url=url, work_dir=tmp, rows=args.rows)
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
