"""SP-API Reports 2021-06-30, the report documents' pre-signed download and Finances v0
``listFinancialEvents`` (providers.md §1.6; ``reports_2021-06-30.json``; the Finances v0 model).

- ``POST /reports/2021-06-30/reports`` ``createReport`` → 202 ``{"reportId"}``; the report types
  of ``report_documents.REPORT_TYPES``; ``marketplaceIds`` 1-25 marketplaces the seller
  authorized; ``dataStartTime`` ≤ ``dataEndTime`` ≤ now (defaults: 30 days before now, now).
- ``GET /reports/2021-06-30/reports`` ``getReports``: the seller's reports by type (required
  unless ``nextToken``), status, marketplace, ``createdSince`` (default 90 days), ``pageSize``
  1-100 (default 10); ``nextToken`` answers the next page of the same filter.
- ``GET /reports/2021-06-30/reports/{reportId}`` ``getReport``: the Report, not wrapped in
  ``payload``; each call advances the report (``reports_state``). Another seller's id is 404.
- ``DELETE /reports/2021-06-30/reports/{reportId}`` ``cancelReport``: only ``IN_QUEUE``.
- ``GET /reports/2021-06-30/documents/{reportDocumentId}`` ``getReportDocument``:
  ``{"reportDocumentId", "url", "compressionAlgorithm": "GZIP"}`` (no algorithm for an error
  document).
- ``GET /report-documents/{reportDocumentId}?X-Amz-...`` the pre-signed download (S3's role).
- ``GET /finances/v0/financialEvents`` ``listFinancialEvents``: ``{"payload": {"NextToken",
  "FinancialEvents": {"RefundEventList": [...], ...}}}``, the seller's refunds posted in
  [``PostedAfter``, ``PostedBefore``) of every marketplace it authorized, oldest first,
  ``MaxResultsPerPage`` (1-100, default 100) events a page. ``PostedBefore`` must be at least
  two minutes before now (the model's rule); amounts are JSON numbers, as Amazon sends them.

Usage plans (the models' tables) are the default buckets: createReport 0.0167/15, getReport
2/15, getReports and cancelReport 0.0222/10, getReportDocument 0.0167/15, listFinancialEvents
0.5/30. A throttled call answers 429 ``QuotaExceeded`` without ``Retry-After``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon import spapi_errors as e
from sellerhub_emulators.amazon.marketplaces import MARKETPLACES
from sellerhub_emulators.amazon.report_documents import REPORT_TYPES
from sellerhub_emulators.amazon.reports_state import Document, Report, iso
from sellerhub_emulators.amazon.s3_errors import s3_error as _s3_error
from sellerhub_emulators.amazon.s3_errors import s3_fault as _s3_fault
from sellerhub_emulators.amazon.spapi import SellerGrant, authenticate
from sellerhub_emulators.amazon.state import AmazonEmulator

DEFAULT_WINDOW = timedelta(days=30)
CREATED_SINCE_DEFAULT = timedelta(days=90)
FINANCES_LAG = timedelta(minutes=2)
CHUNK = 64 * 1024
STATUSES = ("CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE")


class Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _headers(rate: float | None) -> dict[str, str]:
    headers = {"x-amzn-RequestId": e.request_id()}
    if rate is not None:
        headers["x-amzn-RateLimit-Limit"] = e.rate_limit_header(rate)
    return headers


def _time(raw: Any, name: str) -> datetime:
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(f"{name} must be an ISO 8601 date-time")
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"Invalid {name}: {raw[:60]} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _list(request: Request, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def parse_create(
    body: bytes, grant: SellerGrant, now: datetime
) -> tuple[str, tuple[str, ...], datetime, datetime]:
    try:
        spec = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise Invalid("The request body is not valid JSON") from None
    if not isinstance(spec, dict):
        raise Invalid("The request body must be a CreateReportSpecification object")
    unknown = set(spec) - {
        "reportType",
        "marketplaceIds",
        "dataStartTime",
        "dataEndTime",
        "reportOptions",
    }
    if unknown:
        raise Invalid(f"Unknown property: {sorted(unknown)[0]}")
    report_type = spec.get("reportType")
    if not isinstance(report_type, str) or not report_type:
        raise Invalid("Missing required property: reportType")
    if report_type not in REPORT_TYPES:
        raise Invalid(f"Invalid reportType: {report_type[:100]}")
    marketplaces = spec.get("marketplaceIds")
    if not isinstance(marketplaces, list) or not 1 <= len(marketplaces) <= 25:
        raise Invalid("marketplaceIds must be a list of 1 to 25 marketplace ids")
    for marketplace_id in marketplaces:
        if not isinstance(marketplace_id, str) or marketplace_id not in MARKETPLACES:
            raise Invalid(f"Invalid marketplaceIds: {str(marketplace_id)[:40]}")
        if marketplace_id not in grant.marketplace_ids:
            raise Invalid(
                f"The selling partner does not participate in marketplace {marketplace_id}"
            )
    options = spec.get("reportOptions")
    if options is not None and (
        not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values())
    ):
        raise Invalid("reportOptions must be an object of strings")
    end = _time(spec["dataEndTime"], "dataEndTime") if "dataEndTime" in spec else now
    start = (
        _time(spec["dataStartTime"], "dataStartTime")
        if "dataStartTime" in spec
        else end - DEFAULT_WINDOW
    )
    if end > now + timedelta(minutes=5) or start > now + timedelta(minutes=5):
        raise Invalid("dataStartTime and dataEndTime must not be in the future")
    if start > end:
        raise Invalid("dataStartTime must be before dataEndTime")
    return report_type, tuple(dict.fromkeys(marketplaces)), start, end


def _refund_event(refund: Any, currency: str, marketplace_name: str) -> dict[str, Any]:
    amount = float(-refund.principal)
    fee = float((refund.principal * Decimal("0.15")).quantize(Decimal("0.01")))
    return {
        "AmazonOrderId": refund.order_id,
        "MarketplaceName": marketplace_name,
        "PostedDate": refund.posted.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ShipmentItemAdjustmentList": [
            {
                "SellerSKU": refund.product.sku,
                "OrderAdjustmentItemId": refund.adjustment_item_id,
                "QuantityShipped": refund.quantity,
                "ItemChargeAdjustmentList": [
                    {
                        "ChargeType": "Principal",
                        "ChargeAmount": {"CurrencyCode": currency, "CurrencyAmount": amount},
                    },
                    {
                        "ChargeType": "Tax",
                        "ChargeAmount": {"CurrencyCode": currency, "CurrencyAmount": 0.0},
                    },
                ],
                "ItemFeeAdjustmentList": [
                    {
                        "FeeType": "Commission",
                        "FeeAmount": {"CurrencyCode": currency, "CurrencyAmount": fee},
                    }
                ],
            }
        ],
    }


def add_reports_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    reports = emulator.reports

    async def gate(endpoint: str, request: Request) -> SellerGrant | Response:
        blocked = await emulator.enter(endpoint)
        if blocked is not None:
            return blocked
        return authenticate(emulator, request)

    @router.post(c.REPORTS_PATH, status_code=202)
    async def create_report(request: Request) -> Response:
        """``createReport``."""
        grant = await gate(c.ENDPOINT_CREATE_REPORT, request)
        if isinstance(grant, Response):
            return grant
        rate = emulator.rate_limit_of(c.ENDPOINT_CREATE_REPORT)
        try:
            report_type, marketplaces, start, end = parse_create(
                await request.body(), grant, emulator.wall_now()
            )
        except Invalid as exc:
            return e.invalid_input(exc.message, rate_limit=rate)
        report = reports.create(grant.selling_partner_id, report_type, marketplaces, start, end)
        return JSONResponse({"reportId": report.report_id}, status_code=202, headers=_headers(rate))

    @router.get(c.REPORTS_PATH)
    async def get_reports(request: Request) -> Response:
        """``getReports``."""
        grant = await gate(c.ENDPOINT_GET_REPORTS, request)
        if isinstance(grant, Response):
            return grant
        rate = emulator.rate_limit_of(c.ENDPOINT_GET_REPORTS)
        params = request.query_params
        try:
            token = params.get("nextToken", "").strip()
            if token:
                key = (grant.client_id, grant.selling_partner_id, "reports", None, None)
                resolved = emulator.report_cursors.resolve(token, key)
                if isinstance(resolved, str):
                    raise Invalid(resolved)
                offset, query = resolved, emulator.report_queries.get(token)
                if query is None:
                    raise Invalid("The nextToken is invalid or has expired.")
            else:
                offset = 0
                types = _list(request, "reportTypes")
                if not types:
                    raise Invalid("Missing required parameter: reportTypes")
                statuses = _list(request, "processingStatuses")
                if any(s not in STATUSES for s in statuses):
                    raise Invalid("Invalid processingStatuses")
                raw_size = params.get("pageSize", "10")
                if not raw_size.isdigit() or not 1 <= int(raw_size) <= 100:
                    raise Invalid("pageSize must be an integer from 1 to 100")
                now = emulator.wall_now()
                since = (
                    _time(params["createdSince"], "createdSince")
                    if "createdSince" in params
                    else now - CREATED_SINCE_DEFAULT
                )
                until = (
                    _time(params["createdUntil"], "createdUntil")
                    if "createdUntil" in params
                    else now
                )
                query = {
                    "types": tuple(types),
                    "statuses": tuple(statuses),
                    "marketplaces": tuple(_list(request, "marketplaceIds")),
                    "since": since,
                    "until": until,
                    "size": int(raw_size),
                }
        except Invalid as exc:
            return e.invalid_input(exc.message, rate_limit=rate)
        found = [
            r
            for r in sorted(
                reports.reports_of(grant.selling_partner_id), key=lambda r: r.created, reverse=True
            )
            if r.report_type in query["types"]
            and (not query["statuses"] or r.status in query["statuses"])
            and (not query["marketplaces"] or set(r.marketplace_ids) & set(query["marketplaces"]))
            and query["since"] <= r.created <= query["until"]
        ]
        size = int(query["size"])
        body: dict[str, Any] = {"reports": [r.wire() for r in found[offset : offset + size]]}
        if offset + size < len(found):
            key = (grant.client_id, grant.selling_partner_id, "reports", None, None)
            token = emulator.report_cursors.issue(key, offset + size)
            emulator.report_queries[token] = query
            body["nextToken"] = token
        return JSONResponse(body, headers=_headers(rate))

    @router.get(c.REPORTS_PATH + "/{report_id}")
    async def get_report(report_id: str, request: Request) -> Response:
        """``getReport``: every call moves the report one step (``reports_state``)."""
        grant = await gate(c.ENDPOINT_GET_REPORT, request)
        if isinstance(grant, Response):
            return grant
        rate = emulator.rate_limit_of(c.ENDPOINT_GET_REPORT)
        report = reports.report(grant.selling_partner_id, report_id)
        if report is None:
            return e.spapi_error(
                404, "NotFound", f"Report {report_id[:40]} was not found.", rate_limit=rate
            )
        return JSONResponse(reports.poll(report).wire(), headers=_headers(rate))

    @router.delete(c.REPORTS_PATH + "/{report_id}")
    async def cancel_report(report_id: str, request: Request) -> Response:
        """``cancelReport``: only a report still ``IN_QUEUE``."""
        grant = await gate(c.ENDPOINT_CANCEL_REPORT, request)
        if isinstance(grant, Response):
            return grant
        rate = emulator.rate_limit_of(c.ENDPOINT_CANCEL_REPORT)
        report = reports.report(grant.selling_partner_id, report_id)
        if report is None:
            return e.spapi_error(
                404, "NotFound", f"Report {report_id[:40]} was not found.", rate_limit=rate
            )
        if not reports.cancel(report):
            return e.invalid_input(
                f"Report {report_id} is {report.status}; only IN_QUEUE reports can be cancelled",
                rate_limit=rate,
            )
        return Response(status_code=200, headers=_headers(rate))

    @router.get(c.REPORT_DOCUMENTS_PATH + "/{document_id}")
    async def get_report_document(document_id: str, request: Request) -> Response:
        """``getReportDocument``: a pre-signed URL valid ``url_ttl_seconds``."""
        grant = await gate(c.ENDPOINT_GET_REPORT_DOCUMENT, request)
        if isinstance(grant, Response):
            return grant
        rate = emulator.rate_limit_of(c.ENDPOINT_GET_REPORT_DOCUMENT)
        document = reports.document(grant.selling_partner_id, document_id)
        if document is None:
            return e.spapi_error(
                404, "NotFound", "The report document was not found.", rate_limit=rate
            )
        base = str(request.url).split(c.REPORT_DOCUMENTS_PATH + "/", 1)[0]
        stamp = emulator.wall_now().strftime("%Y%m%dT%H%M%SZ")
        expires = str(reports.url_ttl)
        signature = reports.sign(document.document_id, stamp, expires)
        url = (
            f"{base}{c.DOCUMENT_DOWNLOAD_PATH}/{document.document_id}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={stamp}"
            f"&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        )
        body: dict[str, Any] = {"reportDocumentId": document.document_id, "url": url}
        if document.compressed:
            body["compressionAlgorithm"] = "GZIP"
        return JSONResponse(body, headers=_headers(rate))

    @router.get(c.DOCUMENT_DOWNLOAD_PATH + "/{document_id}")
    async def download(document_id: str, request: Request) -> Response:
        """The pre-signed URL of a document (S3's part): signature and expiry, then the bytes."""
        blocked = await emulator.enter(c.ENDPOINT_REPORT_DOWNLOAD)
        if blocked is not None:
            return blocked
        params = request.query_params
        stamp, expires = params.get("X-Amz-Date", ""), params.get("X-Amz-Expires", "")
        signature = params.get("X-Amz-Signature", "")
        expected = reports.sign(document_id, stamp, expires)
        if not signature or not _same(signature, expected):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        issued = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        now = emulator.wall_now()
        deadline = issued + timedelta(seconds=int(expires))
        if now >= deadline:
            return _s3_error(
                403,
                "AccessDenied",
                "Request has expired",
                **{"X-Amz-Expires": expires, "Expires": iso(deadline), "ServerTime": iso(now)},
            )
        document = reports.document_by_id(document_id)
        if document is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        step = reports.take_download_step()
        if step is not None and step.status is not None:
            return _s3_fault(step.status)
        cut = step.cut_after_bytes if step is not None else None
        wanted = request.headers.get("range") if reports.honour_range else None
        return _serve(document, wanted, cut)

    @router.get(c.FINANCIAL_EVENTS_PATH)
    async def financial_events(request: Request) -> Response:
        """``listFinancialEvents``: the refund events of the seller's marketplaces."""
        grant = await gate(c.ENDPOINT_FINANCIAL_EVENTS, request)
        if isinstance(grant, Response):
            return grant
        rate = emulator.rate_limit_of(c.ENDPOINT_FINANCIAL_EVENTS)
        params = request.query_params
        now = emulator.wall_now()
        try:
            raw_size = params.get("MaxResultsPerPage", "100")
            if not raw_size.isdigit() or not 1 <= int(raw_size) <= 100:
                raise Invalid("MaxResultsPerPage must be an integer from 1 to 100")
            size = int(raw_size)
            before = (
                _time(params["PostedBefore"], "PostedBefore")
                if "PostedBefore" in params
                else now - FINANCES_LAG
            )
            if before > now - FINANCES_LAG:
                raise Invalid(
                    "PostedBefore must be at least two minutes before the time of the request"
                )
            after = (
                _time(params["PostedAfter"], "PostedAfter")
                if "PostedAfter" in params
                else before - timedelta(days=180)
            )
            if after >= before:
                raise Invalid("PostedAfter must be before PostedBefore")
            key = (
                grant.client_id,
                grant.selling_partner_id,
                "finances",
                f"{after.isoformat()}|{before.isoformat()}|{size}",
                None,
            )
            token = params.get("NextToken", "").strip()
            offset = 0
            if token:
                resolved = emulator.finance_cursors.resolve(token, key)
                if isinstance(resolved, str):
                    raise Invalid(resolved)
                offset = resolved
        except Invalid as exc:
            return e.invalid_input(exc.message, rate_limit=rate)
        events: list[dict[str, Any]] = []
        for marketplace_id in sorted(grant.marketplace_ids):
            if marketplace_id not in MARKETPLACES:
                continue
            market = MARKETPLACES[marketplace_id]
            history = reports.history(grant.selling_partner_id, marketplace_id)
            events.extend(
                _refund_event(r, history.currency, market.name)
                for r in history.refunds
                if after <= r.posted < before
            )
        events.sort(key=lambda ev: (ev["PostedDate"], ev["AmazonOrderId"]))
        page = events[offset : offset + size]
        payload: dict[str, Any] = {
            "FinancialEvents": {
                "ShipmentEventList": [],
                "RefundEventList": page,
                "GuaranteeClaimEventList": [],
                "ChargebackEventList": [],
                "AdjustmentEventList": [],
                "ServiceFeeEventList": [],
            }
        }
        if offset + size < len(events):
            payload["NextToken"] = emulator.finance_cursors.issue(key, offset + size)
        return JSONResponse({"payload": payload}, headers=_headers(rate))


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def _serve(document: Document, range_header: str | None, cut: int | None) -> Response:
    if document.path is None:
        content = document.content or b""
        return Response(content, media_type="application/json")
    size = document.size
    start = 0
    status = 200
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{document.document_id[-24:]}"'}
    if range_header:
        unit, _, spec = range_header.partition("=")
        first, _, last = spec.partition("-")
        if unit.strip() == "bytes" and first.strip().isdigit() and not last.strip():
            start = int(first)
            if start >= size:
                return _s3_error(416, "InvalidRange", "The requested range is not satisfiable")
            status = 206
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
    headers["Content-Length"] = str(size - start)
    path = document.path

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        async with await anyio.open_file(path, "rb") as handle:
            await handle.seek(start)
            while True:
                chunk = await handle.read(CHUNK)
                if not chunk:
                    return
                if cut is not None and sent + len(chunk) > cut:
                    yield chunk[: cut - sent]
                    raise ConnectionAbortedError("download cut by an _admin download_fail step")
                sent += len(chunk)
                yield chunk

    return StreamingResponse(
        body(), status_code=status, media_type="application/octet-stream", headers=headers
    )


def document_size(document: Document) -> int:
    return os.path.getsize(document.path) if document.path else len(document.content or b"")


__all__ = ["Report", "add_reports_routes"]
