"""State of the emulated Reports API 2021-06-30 and its report documents (providers.md §1.6).

A report is created ``IN_QUEUE`` and its document starts being written at once, in a thread
(the report's rows streamed through gzip into a temporary file); each ``getReport`` of it by
its selling partner answers the next state: ``in_queue_polls`` polls ``IN_QUEUE`` (default 1),
then at least ``in_progress_polls`` polls ``IN_PROGRESS`` (default 1; longer while the document
is still being written), then ``DONE`` with a ``reportDocumentId``, or ``CANCELLED`` when
the report has no row (the documented automatic cancellation), or what an ``_admin`` outcome
rule asks: ``FATAL`` with an error document (``{"errorDetails": ...}``, not compressed) or
``CANCELLED``.

Documents are served at a pre-signed URL: ``X-Amz-Date``, ``X-Amz-Expires`` (``url_ttl_seconds``,
default 300: "This URL expires after 5 minutes") and an HMAC ``X-Amz-Signature`` of both; an
expired or altered URL answers 403 in S3's XML error shape. ``Range: bytes=n-`` is honoured
(206), as S3 does. ``download_fail`` steps, consumed one per download in order, cut the
connection after ``cut_after_bytes`` bytes of the body or answer ``status`` (S3 XML).

``_admin/config`` key ``reports`` (every sub-key optional): ``seed`` (int), ``anchor``
(``YYYY-MM-DD``, the day the history ends; default the emulator's start day), ``ledger_rows``
(background rows of the ledger, default 2,000, up to 5,000,000), ``in_queue_polls``,
``in_progress_polls``, ``url_ttl_seconds``, ``outcomes`` (``[{"report_type", "outcome":
"FATAL"|"CANCELLED", "count", "error_details", "selling_partner_id"}]``: the next reports of
that type end so; replaces the pending rules), ``download_fail`` (``[{"cut_after_bytes": n} |
{"status": 503}, ...]``, replaces the pending steps; ``[]`` clears them), ``honour_range``
(default true; false: a ``Range`` request gets the whole document with 200, as a server without
range support answers).

Reimbursements added through ``_admin/reports/reimbursements`` (``reimburse``: Amazon paying a
case after a claim) join the pair's history after its seeded ones. A report takes the pair's
added rows when it is created, so only reports requested after the addition hold it (and its
``approval-date`` must fall in the report's period, as every row's does).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import secrets
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sellerhub_emulators.amazon import report_documents as docs
from sellerhub_emulators.amazon.reports_data import (
    DEFAULT_LEDGER_ROWS,
    History,
    Product,
    Reimbursement,
    build_history,
)

MAX_LEDGER_ROWS = 5_000_000
DEFAULT_URL_TTL = 300
ReportStatus = Literal["IN_QUEUE", "IN_PROGRESS", "DONE", "CANCELLED", "FATAL"]


class OutcomeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    report_type: str = Field(min_length=1, max_length=100)
    outcome: Literal["FATAL", "CANCELLED"]
    count: int = Field(default=1, ge=1, le=1000)
    error_details: str = Field(
        default="The report could not be generated. Please request it again.", max_length=2000
    )
    selling_partner_id: str | None = Field(default=None, max_length=64)


class DownloadStep(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    cut_after_bytes: int | None = Field(default=None, ge=0)
    status: int | None = Field(default=None, ge=400, le=599)

    @model_validator(mode="after")
    def _one(self) -> DownloadStep:
        if (self.cut_after_bytes is None) == (self.status is None):
            raise ValueError("a download step is either cut_after_bytes or status")
        return self


class ReportsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    seed: int | None = Field(default=None, ge=0, le=2**63)
    anchor: date | None = None
    ledger_rows: int | None = Field(default=None, ge=0, le=MAX_LEDGER_ROWS)
    in_queue_polls: int | None = Field(default=None, ge=0, le=100)
    in_progress_polls: int | None = Field(default=None, ge=0, le=100)
    url_ttl_seconds: int | None = Field(default=None, ge=1, le=3600)
    outcomes: list[OutcomeSpec] | None = Field(default=None, max_length=50)
    download_fail: list[DownloadStep] | None = Field(default=None, max_length=50)
    honour_range: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _anchor_text(cls, data: Any) -> Any:
        # strict mode takes a date only as a date object: read the JSON string here
        if isinstance(data, dict) and isinstance(data.get("anchor"), str):
            try:
                data = {**data, "anchor": date.fromisoformat(data["anchor"])}
            except ValueError:
                raise ValueError("anchor must be a YYYY-MM-DD date") from None
        return data


@dataclass
class Document:
    document_id: str
    selling_partner_id: str
    path: str | None  # the gzip file of a report's rows
    content: bytes | None  # an error document, uncompressed
    size: int

    @property
    def compressed(self) -> bool:
        return self.path is not None


@dataclass
class Report:
    report_id: str
    selling_partner_id: str
    report_type: str
    marketplace_ids: tuple[str, ...]
    data_start: datetime
    data_end: datetime
    created: datetime
    status: ReportStatus = "IN_QUEUE"
    polls: int = 0
    started: datetime | None = None
    ended: datetime | None = None
    document_id: str | None = None
    outcome: OutcomeSpec | None = None
    rows: int | None = None
    # the reimbursements added to each marketplace's history before the report was created
    added: dict[str, tuple[Reimbursement, ...]] = field(default_factory=dict, repr=False)
    job: Future[tuple[str, int, int]] | None = field(default=None, repr=False)

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "reportId": self.report_id,
            "reportType": self.report_type,
            "marketplaceIds": list(self.marketplace_ids),
            "dataStartTime": iso(self.data_start),
            "dataEndTime": iso(self.data_end),
            "createdTime": iso(self.created),
            "processingStatus": self.status,
        }
        if self.started is not None:
            body["processingStartTime"] = iso(self.started)
        if self.ended is not None:
            body["processingEndTime"] = iso(self.ended)
        if self.document_id is not None:
            body["reportDocumentId"] = self.document_id
        return body


def _discard(job: Future[tuple[str, int, int]]) -> None:
    if job.exception() is None:
        path = job.result()[0]
        if os.path.exists(path):
            os.unlink(path)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class ReportsState:
    """Reports, documents, the seeded histories and the reports' control rules."""

    def __init__(self, wall_now: Callable[[], datetime]) -> None:
        self._now = wall_now
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)
        self._dir: str | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="emulated-reports")
        self._origin_day = wall_now().date()
        self._defaults()

    def _defaults(self) -> None:
        self.seed = 0
        self.anchor: date | None = None
        self.ledger_rows = DEFAULT_LEDGER_ROWS
        self.in_queue_polls = 1
        self.in_progress_polls = 1
        self.url_ttl = DEFAULT_URL_TTL
        self.honour_range = True
        self._outcomes: list[OutcomeSpec] = []
        self._download_steps: list[DownloadStep] = []
        self._reports: dict[str, Report] = {}
        self._documents: dict[str, Document] = {}
        self._histories: dict[tuple[int, str, str, date], History] = {}
        self._added: dict[tuple[str, str], list[Reimbursement]] = {}
        self._next_id = 50_000_000_000 + secrets.randbelow(10**9)

    # -- configuration -----------------------------------------------------------------------

    def apply(self, spec: ReportsConfig) -> None:
        given = spec.model_fields_set
        with self._lock:
            if spec.seed is not None:
                self.seed = spec.seed
            if "anchor" in given:
                self.anchor = spec.anchor
            if spec.ledger_rows is not None:
                self.ledger_rows = spec.ledger_rows
            if spec.in_queue_polls is not None:
                self.in_queue_polls = spec.in_queue_polls
            if spec.in_progress_polls is not None:
                self.in_progress_polls = spec.in_progress_polls
            if spec.url_ttl_seconds is not None:
                self.url_ttl = spec.url_ttl_seconds
            if spec.outcomes is not None:
                self._outcomes = list(spec.outcomes)
            if spec.download_fail is not None:
                self._download_steps = list(spec.download_fail)
            if spec.honour_range is not None:
                self.honour_range = spec.honour_range

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "anchor": self.anchor_day().isoformat(),
                "ledger_rows": self.ledger_rows,
                "in_queue_polls": self.in_queue_polls,
                "in_progress_polls": self.in_progress_polls,
                "url_ttl_seconds": self.url_ttl,
                "outcomes": [o.model_dump() for o in self._outcomes],
                "download_fail": [s.model_dump(exclude_none=True) for s in self._download_steps],
                "honour_range": self.honour_range,
            }

    def reset(self) -> None:
        with self._lock:
            directory, self._dir = self._dir, None
            self._defaults()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def anchor_day(self) -> date:
        return self.anchor or self._origin_day

    # -- histories ---------------------------------------------------------------------------

    def history(self, selling_partner_id: str, marketplace_id: str) -> History:
        with self._lock:
            key = (self.seed, selling_partner_id, marketplace_id, self.anchor_day())
            found = self._histories.get(key)
        if found is None:
            found = build_history(*key)
            with self._lock:
                self._histories.setdefault(key, found)
        return found

    def added_reimbursements(
        self, selling_partner_id: str, marketplace_id: str
    ) -> list[Reimbursement]:
        with self._lock:
            return list(self._added.get((selling_partner_id, marketplace_id), ()))

    def reimburse(
        self,
        selling_partner_id: str,
        marketplace_id: str,
        product: Product,
        *,
        approval: datetime,
        case_id: str,
        order_id: str,
        reason: str,
        quantity: int,
        amount_per_unit: Decimal,
    ) -> Reimbursement:
        """Amazon reimburses: a row added to the pair's history with a fresh reimbursement id,
        held by the reports created from now on."""
        seeded = {
            r.reimbursement_id
            for r in self.history(selling_partner_id, marketplace_id).reimbursements
        }
        with self._lock:
            added = self._added.setdefault((selling_partner_id, marketplace_id), [])
            taken = seeded | {r.reimbursement_id for r in added}
            while True:
                reimbursement_id = str(10**10 + secrets.randbelow(9 * 10**10))
                if reimbursement_id not in taken:
                    break
            row = Reimbursement(
                approval.astimezone(UTC),
                reimbursement_id,
                case_id,
                order_id,
                reason,
                product,
                amount_per_unit,
                quantity,
            )
            added.append(row)
        return row

    # -- reports -----------------------------------------------------------------------------

    def create(
        self,
        selling_partner_id: str,
        report_type: str,
        marketplace_ids: tuple[str, ...],
        start: datetime,
        end: datetime,
    ) -> Report:
        now = self._now()
        with self._lock:
            self._next_id += 1 + secrets.randbelow(97)
            report = Report(
                str(self._next_id),
                selling_partner_id,
                report_type,
                marketplace_ids,
                start,
                end,
                now,
            )
            report.added = {
                m: tuple(self._added.get((selling_partner_id, m), ())) for m in marketplace_ids
            }
            for index, rule in enumerate(self._outcomes):
                if rule.report_type == report_type and rule.selling_partner_id in (
                    None,
                    selling_partner_id,
                ):
                    report.outcome = rule
                    if rule.count <= 1:
                        del self._outcomes[index]
                    else:
                        self._outcomes[index] = rule.model_copy(update={"count": rule.count - 1})
                    break
            self._reports[report.report_id] = report
            if report.outcome is None:  # Amazon starts on it at once; polls reveal the states
                report.job = self._pool.submit(self._write, report)
        return report

    def report(self, selling_partner_id: str, report_id: str) -> Report | None:
        with self._lock:
            found = self._reports.get(report_id)
        return (
            found if found is not None and found.selling_partner_id == selling_partner_id else None
        )

    def reports_of(self, selling_partner_id: str) -> list[Report]:
        with self._lock:
            return [r for r in self._reports.values() if r.selling_partner_id == selling_partner_id]

    def all_reports(self) -> list[Report]:
        with self._lock:
            return list(self._reports.values())

    def cancel(self, report: Report) -> bool:
        with self._lock:
            if report.status != "IN_QUEUE":
                return False
            report.status = "CANCELLED"
            report.ended = self._now()
            if report.job is not None:  # its document will never be served
                report.job.add_done_callback(_discard)
            return True

    def poll(self, report: Report) -> Report:
        """Advance the report by one ``getReport`` and answer its state."""
        with self._lock:
            if report.status in ("DONE", "CANCELLED", "FATAL"):
                return report
            report.polls += 1
            if report.status == "IN_QUEUE":
                if report.polls <= self.in_queue_polls:
                    return report
                report.status = "IN_PROGRESS"
                report.started = self._now()
                report.polls = 1
                if self.in_progress_polls >= 1:
                    return report
            if report.polls <= self.in_progress_polls:
                return report
            if report.outcome is not None:
                self._finish_with_outcome(report, report.outcome)
                return report
            job = report.job
            if job is None or not job.done():
                return report  # still being written
            try:
                document_path, size, rows = job.result()
            except Exception:
                self._finish_with_outcome(
                    report,
                    OutcomeSpec(report_type=report.report_type, outcome="FATAL"),
                )
                return report
            report.rows = rows
            report.ended = self._now()
            if rows == 0:
                report.status = "CANCELLED"
                os.unlink(document_path)
                return report
            document = Document(
                self._document_id(), report.selling_partner_id, document_path, None, size
            )
            self._documents[document.document_id] = document
            report.document_id = document.document_id
            report.status = "DONE"
            return report

    def _finish_with_outcome(self, report: Report, outcome: OutcomeSpec) -> None:
        report.ended = self._now()
        report.status = outcome.outcome
        if outcome.outcome == "FATAL":
            content = json.dumps({"errorDetails": outcome.error_details}).encode()
            document = Document(
                self._document_id(), report.selling_partner_id, None, content, len(content)
            )
            self._documents[document.document_id] = document
            report.document_id = document.document_id

    def _document_id(self) -> str:
        return f"amzn1.spdoc.1.4.na.{uuid.uuid4()}.T{secrets.randbelow(10**13):013d}"

    def _directory(self) -> str:
        with self._lock:
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="sellerhub-emulated-reports-")
            return self._dir

    def _write(self, report: Report) -> tuple[str, int, int]:
        """Stream the report's rows through gzip into a file: (path, bytes, rows)."""
        directory = self._directory()
        path = os.path.join(directory, f"{report.report_id}.tsv.gz")
        lines = self.lines(report)
        rows = -1  # the header is not a row; each block holds whole lines
        with (
            open(path, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as out,
        ):
            batch: list[bytes] = []
            for block in lines:
                batch.append(block)
                rows += block.count(b"\n")
                if len(batch) >= 256:
                    out.write(b"".join(batch))
                    batch.clear()
            out.write(b"".join(batch))
        return path, os.path.getsize(path), max(rows, 0)

    def lines(self, report: Report) -> Iterator[bytes]:
        """The report's TSV text in blocks of whole lines, header first, for every marketplace
        of the report."""
        histories = []
        for m in report.marketplace_ids:
            history = self.history(report.selling_partner_id, m)
            added = report.added.get(m, ())
            if added:  # a copy with them (the seeded history stays as it was built)
                history = replace(
                    history,
                    reimbursements=sorted(
                        [*history.reimbursements, *added],
                        key=lambda r: (r.approval, r.reimbursement_id),
                    ),
                )
            histories.append(history)
        return docs.render(
            report.report_type, histories, report.data_start, report.data_end, self.ledger_rows
        )

    # -- documents ---------------------------------------------------------------------------

    def document(self, selling_partner_id: str, document_id: str) -> Document | None:
        with self._lock:
            found = self._documents.get(document_id)
        return (
            found if found is not None and found.selling_partner_id == selling_partner_id else None
        )

    def document_by_id(self, document_id: str) -> Document | None:
        with self._lock:
            return self._documents.get(document_id)

    def sign(self, document_id: str, stamp: str, expires: str) -> str:
        message = f"{document_id}\n{stamp}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def take_download_step(self) -> DownloadStep | None:
        with self._lock:
            return self._download_steps.pop(0) if self._download_steps else None
