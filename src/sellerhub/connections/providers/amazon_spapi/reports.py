"""SP-API Reports 2021-06-30 as a connection (providers.md §1.6, ``reports_2021-06-30.json``):
``createReport``, ``getReport`` polled until the report is done, ``getReportDocument`` and the
document's rows streamed (``documents``).

Calls go through the provider client (``connections.client.call``: a fresh access token, the
circuit breaker, a 401 answered by one refresh, a 429 retried after ``Retry-After`` or an
exponential backoff). Each operation also waits on its own token bucket per connection, sized to
the model's usage plan at 90 % of the rate (as ``inventory`` does): createReport 0.0167/s burst
15, getReport 2/s burst 15, getReportDocument 0.0167/s burst 15, cancelReport 0.0222/s burst 10.
Responses of this version are not wrapped in ``payload``.

``wait_for_report`` polls ``getReport`` (every ``poll_seconds``, growing by half up to
``MAX_POLL_SECONDS``) until ``DONE`` (the Report, with its ``reportDocumentId``),
``CANCELLED`` (``ReportCancelled``: cancelled, or no data) or ``FATAL`` (``ReportFatal``, with the
text of the error document when Amazon gives one); ``ReportNotReady`` after ``max_wait`` seconds
(retryable: poll the same report id again later, do not create another — createReport allows one
a minute). ``iter_report_rows`` yields a DONE report's rows, keyed by ``report_columns``' names.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from sellerhub.connections import client
from sellerhub.connections.providers.amazon_spapi.documents import (
    DownloadStats,
    ReportDocument,
    iter_document_batches,
    iter_document_rows,
    read_error_document,
)
from sellerhub.connections.refresh import RefreshContext
from sellerhub.core.errors import DomainError, UpstreamUnavailable
from sellerhub.core.logging import get_logger

log = get_logger(__name__)

REPORTS_PATH = "reports/2021-06-30/reports"
DOCUMENTS_PATH = "reports/2021-06-30/documents"
PACE = 0.9
# operation -> (rate per second, burst): the usage plans of reports_2021-06-30.json
USAGE_PLANS: dict[str, tuple[float, float]] = {
    "createReport": (0.0167, 15.0),
    "getReport": (2.0, 15.0),
    "getReportDocument": (0.0167, 15.0),
    "cancelReport": (0.0222, 10.0),
}
DONE, CANCELLED, FATAL = "DONE", "CANCELLED", "FATAL"
TERMINAL = frozenset({DONE, CANCELLED, FATAL})
STATUSES = frozenset({"IN_QUEUE", "IN_PROGRESS", *TERMINAL})
MAX_POLL_SECONDS = 60.0

_buckets: dict[tuple[uuid.UUID, str], client.TokenBucket] = {}


def bucket_for(connection_id: uuid.UUID, operation: str) -> client.TokenBucket:
    rate, burst = USAGE_PLANS[operation]
    return _buckets.setdefault(
        (connection_id, operation), client.TokenBucket(rate=rate * PACE, burst=burst)
    )


class ReportRefused(DomainError):
    """Amazon refused a Reports call (a 4xx other than throttling)."""

    status = 502
    code = "report-refused"
    title = "Amazon refused the report request"


class ReportThrottled(UpstreamUnavailable):
    code = "report-throttled"
    title = "Amazon is still throttling the Reports API"


class ReportFailed(DomainError):
    status = 502
    code = "report-failed"
    title = "Amazon could not produce the report"

    def __init__(self, detail: str, *, report_id: str) -> None:
        super().__init__(detail)
        self.report_id = report_id


class ReportFatal(ReportFailed):
    """``FATAL``: ``details`` is the error document's text (empty when there was none)."""

    code = "report-fatal"
    title = "Amazon aborted the report"

    def __init__(self, report_id: str, details: str) -> None:
        super().__init__(
            f"Amazon aborted report {report_id}: {details or 'no error document'}"[:500],
            report_id=report_id,
        )
        self.details = details


class ReportCancelled(ReportFailed):
    """``CANCELLED``: cancelled before it started, or there was no data to report."""

    code = "report-cancelled"
    title = "The report was cancelled (or had no data)"

    def __init__(self, report_id: str) -> None:
        super().__init__(
            f"report {report_id} was cancelled: cancelled or no data for the period",
            report_id=report_id,
        )


class ReportNotReady(UpstreamUnavailable):
    code = "report-not-ready"
    title = "The report is still being processed"

    def __init__(self, report_id: str, status: str) -> None:
        super().__init__(f"report {report_id} is still {status}")
        self.report_id = report_id
        self.processing_status = status


class MalformedReportAnswer(UpstreamUnavailable):
    status = 502
    code = "report-answer-malformed"
    title = "Amazon's Reports answer is not what the model documents"


@dataclass(frozen=True)
class Report:
    report_id: str
    report_type: str
    processing_status: str
    marketplace_ids: tuple[str, ...]
    created_time: str
    data_start_time: str | None = None
    data_end_time: str | None = None
    report_document_id: str | None = None

    @classmethod
    def parse(cls, body: Any) -> Report:
        if not isinstance(body, dict):
            raise MalformedReportAnswer("getReport did not answer a Report object")
        status = body.get("processingStatus")
        report_id, report_type = body.get("reportId"), body.get("reportType")
        if status not in STATUSES or not isinstance(report_id, str) or not report_id:
            raise MalformedReportAnswer("the Report has no reportId or a bad processingStatus")
        document = body.get("reportDocumentId")
        marketplaces = body.get("marketplaceIds") or []
        return cls(
            report_id=report_id,
            report_type=str(report_type or ""),
            processing_status=str(status),
            marketplace_ids=tuple(str(m) for m in marketplaces if isinstance(m, str)),
            created_time=str(body.get("createdTime") or ""),
            data_start_time=body.get("dataStartTime"),
            data_end_time=body.get("dataEndTime"),
            report_document_id=document if isinstance(document, str) and document else None,
        )


def error_text(response: httpx.Response) -> str:
    try:
        first = response.json()["errors"][0]
        return f"{first.get('code')}: {first.get('message')}"[:200]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return response.reason_phrase


def _judge(response: httpx.Response, operation: str) -> Any:
    """The JSON of a 2xx; raises the typed error of any other answer."""
    status = response.status_code
    if status == 429:
        raise ReportThrottled(f"Amazon is still throttling {operation}")
    if status >= 500:
        raise UpstreamUnavailable(
            f"Amazon answered {status} to {operation} ({error_text(response)})"
        )
    if status >= 400:
        raise ReportRefused(f"{operation} was refused ({status}): {error_text(response)}")
    if status == 204 or not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        raise MalformedReportAnswer(f"{operation} did not answer JSON") from None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def create_report(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    report_type: str,
    marketplace_ids: Sequence[str],
    *,
    data_start: datetime | None = None,
    data_end: datetime | None = None,
    options: dict[str, str] | None = None,
) -> str:
    """``createReport`` → the new report's id."""
    if not 1 <= len(marketplace_ids) <= 25:
        raise ValueError("createReport takes 1 to 25 marketplace ids")
    spec: dict[str, Any] = {"reportType": report_type, "marketplaceIds": list(marketplace_ids)}
    if data_start is not None:
        spec["dataStartTime"] = _iso(data_start)
    if data_end is not None:
        spec["dataEndTime"] = _iso(data_end)
    if options:
        spec["reportOptions"] = dict(options)
    response = await client.call(
        ctx,
        organization_id,
        connection_id,
        client.ProviderCall(
            "POST",
            REPORTS_PATH,
            headers={"content-type": "application/json"},
            content=json.dumps(spec).encode(),
        ),
        quota=bucket_for(connection_id, "createReport"),
    )
    body = _judge(response, "createReport")
    report_id = body.get("reportId") if isinstance(body, dict) else None
    if not isinstance(report_id, str) or not report_id:
        raise MalformedReportAnswer("createReport answered no reportId")
    log.info("spapi.report_created", report_type=report_type, report_id=report_id)
    return report_id


async def get_report(
    ctx: RefreshContext, organization_id: uuid.UUID, connection_id: uuid.UUID, report_id: str
) -> Report:
    response = await client.call(
        ctx,
        organization_id,
        connection_id,
        client.ProviderCall("GET", f"{REPORTS_PATH}/{_segment(report_id)}"),
        quota=bucket_for(connection_id, "getReport"),
    )
    return Report.parse(_judge(response, "getReport"))


async def cancel_report(
    ctx: RefreshContext, organization_id: uuid.UUID, connection_id: uuid.UUID, report_id: str
) -> None:
    """``cancelReport``: only a report still ``IN_QUEUE`` can be cancelled (else refused)."""
    response = await client.call(
        ctx,
        organization_id,
        connection_id,
        client.ProviderCall("DELETE", f"{REPORTS_PATH}/{_segment(report_id)}"),
        quota=bucket_for(connection_id, "cancelReport"),
    )
    _judge(response, "cancelReport")


async def get_report_document(
    ctx: RefreshContext, organization_id: uuid.UUID, connection_id: uuid.UUID, document_id: str
) -> ReportDocument:
    response = await client.call(
        ctx,
        organization_id,
        connection_id,
        client.ProviderCall("GET", f"{DOCUMENTS_PATH}/{_segment(document_id)}"),
        quota=bucket_for(connection_id, "getReportDocument"),
    )
    body = _judge(response, "getReportDocument")
    if not isinstance(body, dict):
        raise MalformedReportAnswer("getReportDocument did not answer a ReportDocument")
    url, found_id = body.get("url"), body.get("reportDocumentId")
    compression = body.get("compressionAlgorithm")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise MalformedReportAnswer("the ReportDocument has no http(s) url")
    if not isinstance(found_id, str) or compression not in (None, "GZIP"):
        raise MalformedReportAnswer("the ReportDocument has no id or an unknown compression")
    return ReportDocument(found_id, url, compression)


async def wait_for_report(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    report_id: str,
    *,
    poll_seconds: float = 5.0,
    max_wait: float = 900.0,
) -> Report:
    """Poll until the report is DONE (returned), CANCELLED or FATAL (raised)."""
    deadline = time.monotonic() + max_wait
    delay = poll_seconds
    while True:
        try:
            report = await get_report(ctx, organization_id, connection_id, report_id)
        except ReportThrottled:
            # still throttled after the client's retries: wait a polling interval, not fail
            if time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_SECONDS)
            continue
        status = report.processing_status
        if status == DONE:
            if report.report_document_id is None:
                raise MalformedReportAnswer(f"report {report_id} is DONE without a document")
            return report
        if status == CANCELLED:
            raise ReportCancelled(report_id)
        if status == FATAL:
            details = ""
            if report.report_document_id is not None:
                try:
                    document = await get_report_document(
                        ctx, organization_id, connection_id, report.report_document_id
                    )
                    details = (await read_error_document(ctx.http, document)).strip()
                except (DomainError, httpx.HTTPError) as exc:
                    # the report is FATAL either way: say so, with why the reason is missing
                    details = f"(its error document could not be read: {type(exc).__name__})"
            log.info("spapi.report_fatal", report_id=report_id, details=details[:200])
            raise ReportFatal(report_id, details)
        if time.monotonic() + delay > deadline:
            raise ReportNotReady(report_id, status)
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, MAX_POLL_SECONDS)


async def iter_report_rows(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    document_id: str,
    *,
    stats: DownloadStats | None = None,
) -> AsyncIterator[dict[str, str]]:
    """The rows of a report document, streamed; an expired URL is renewed with another
    ``getReportDocument``."""
    document = await get_report_document(ctx, organization_id, connection_id, document_id)

    async def renew() -> ReportDocument:
        return await get_report_document(ctx, organization_id, connection_id, document_id)

    async for row in iter_document_rows(ctx.http, document, renew=renew, stats=stats):
        yield row


async def iter_report_batches(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    document_id: str,
    *,
    stats: DownloadStats | None = None,
) -> AsyncIterator[list[dict[str, str]]]:
    """``iter_report_rows`` a list per chunk of the body (for batch writers)."""
    document = await get_report_document(ctx, organization_id, connection_id, document_id)

    async def renew() -> ReportDocument:
        return await get_report_document(ctx, organization_id, connection_id, document_id)

    async for batch in iter_document_batches(ctx.http, document, renew=renew, stats=stats):
        yield batch


async def fetch_report_rows(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    report_type: str,
    marketplace_ids: Sequence[str],
    *,
    data_start: datetime | None = None,
    data_end: datetime | None = None,
    poll_seconds: float = 5.0,
    max_wait: float = 900.0,
    stats: DownloadStats | None = None,
) -> AsyncIterator[dict[str, str]]:
    """createReport, wait until DONE, then every row of its document."""
    report_id = await create_report(
        ctx,
        organization_id,
        connection_id,
        report_type,
        marketplace_ids,
        data_start=data_start,
        data_end=data_end,
    )
    report = await wait_for_report(
        ctx, organization_id, connection_id, report_id, poll_seconds=poll_seconds, max_wait=max_wait
    )
    assert report.report_document_id is not None
    async for row in iter_report_rows(
        ctx, organization_id, connection_id, report.report_document_id, stats=stats
    ):
        yield row


def _segment(value: str) -> str:
    """An id as one path segment (ids are letters, digits, dots and dashes)."""
    if not value or any(not (ch.isalnum() or ch in ".-_") for ch in value) or len(value) > 200:
        raise ReportRefused("not a report or document id")
    return value
