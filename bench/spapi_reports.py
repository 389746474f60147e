"""A 1,000,000-row inventory ledger through the SP-API Reports emulator and the client's
document reader (issue 14): ``python -m bench.spapi_reports [--rows N]``.

The emulators app runs as its own process (uvicorn, 127.0.0.1, a free port); this process
creates a ``GET_LEDGER_DETAIL_VIEW_DATA`` report over the 540 days of the seeded history with
``--rows`` background rows, polls it to DONE (the emulator streams the rows through gzip into
a file meanwhile), then reads the document twice from its pre-signed URL:

- ``baseline``: the compressed bytes only (``aiter_raw``, nothing decoded), the floor of any
  reader;
- ``parse``: ``documents.iter_document_batches``, the client's streamed gunzip + TSV reader,
  counting rows (what a sync does before it stores them), and ``iter_document_rows``, the same
  one row at a time.

Prints one JSON line per figure (``spapi_reports.generate_s``, ``.download_raw_s``,
``.download_parse_s`` and ``.download_parse_rows_s`` with ``baseline`` and ``ratio``,
``.rows_per_s``). Storing the rows and
running detection on them are the claims domain's (its own bench adds them to these)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sellerhub.connections.providers.amazon_spapi import documents

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


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _figure(name: str, value: float, unit: str, baseline: float | None = None) -> None:
    ratio = round(value / baseline, 4) if baseline else None
    print(
        json.dumps(
            {
                "name": f"spapi_reports.{name}",
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": ratio,
            }
        ),
        flush=True,
    )


async def _measure(base: str, token: str, rows: int) -> None:
    headers = {"x-amz-access-token": token}
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(60.0)) as http:
        config = {"reports": {"ledger_rows": rows, "in_queue_polls": 0, "in_progress_polls": 0}}
        answer = await http.post("/amazon/_admin/config", json=config)
        answer.raise_for_status()
        start = datetime.now(UTC) - timedelta(days=541)
        began = time.perf_counter()
        created = await http.post(
            "/amazon/reports/2021-06-30/reports",
            headers=headers,
            json={
                "reportType": "GET_LEDGER_DETAIL_VIEW_DATA",
                "marketplaceIds": ["ATVPDKIKX0DER"],
                "dataStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
        created.raise_for_status()
        report_id = created.json()["reportId"]
        report: dict[str, Any] = {}
        while report.get("processingStatus") not in ("DONE", "CANCELLED", "FATAL"):
            await asyncio.sleep(0.5)  # getReport's usage plan: 2 per second
            path = f"/amazon/reports/2021-06-30/reports/{report_id}"
            polled = await http.get(path, headers=headers)
            if polled.status_code == 429:
                continue
            polled.raise_for_status()
            report = polled.json()
        generated = time.perf_counter() - began
        if report["processingStatus"] != "DONE":
            raise SystemExit(f"the report ended {report['processingStatus']}")
        doc = await http.get(
            f"/amazon/reports/2021-06-30/documents/{report['reportDocumentId']}", headers=headers
        )
        doc.raise_for_status()
        body = doc.json()
        document = documents.ReportDocument(
            body["reportDocumentId"], body["url"], body.get("compressionAlgorithm")
        )

        began = time.perf_counter()
        size = 0
        async with http.stream("GET", document.url) as raw:
            async for chunk in raw.aiter_raw(documents.CHUNK_BYTES):
                size += len(chunk)
        raw_seconds = time.perf_counter() - began

        stats = documents.DownloadStats()
        began = time.perf_counter()
        count = 0
        async for batch in documents.iter_document_batches(http, document, stats=stats):
            count += len(batch)
        parse_seconds = time.perf_counter() - began

        began = time.perf_counter()
        one_by_one = 0
        async for _ in documents.iter_document_rows(http, document):
            one_by_one += 1
        rows_seconds = time.perf_counter() - began
        assert one_by_one == count

    print(
        f"report {report_id}: {count:,} rows, {size / 1e6:.1f} MB gzip, "
        f"{stats.chunks} chunks of at most {stats.largest_chunk:,} bytes",
        file=sys.stderr,
    )
    _figure("generate_s", generated, "s")
    _figure("download_raw_s", raw_seconds, "s")
    _figure("download_parse_s", parse_seconds, "s", baseline=raw_seconds)
    _figure("download_parse_rows_s", rows_seconds, "s", baseline=raw_seconds)
    _figure("rows_per_s", count / parse_seconds, "rows/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    port = _port()
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
                raise SystemExit("the emulators did not start")
            time.sleep(0.2)
        asyncio.run(_measure(base, token, args.rows))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
