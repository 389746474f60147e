"""``_admin/reports``: what the emulated Reports and Finances APIs hold, for tests.

- ``GET _admin/reports/planted?selling_partner_id=...&marketplace_id=...`` → ``{"seed",
  "anchor", "cases": [PlantedCase, ...]}``: every planted case of the pair's history (kind,
  expected answer, SKU/FNSKU/ASIN, quantity, reference, event date, fulfillment center, unit
  value in minor units and currency, and how an already reimbursed one matches).
- ``GET _admin/reports/history?selling_partner_id=...&marketplace_id=...`` → ``{"products",
  "inbound_shipments", "counts"}``: the pair's products with their sale price, its inbound
  shipments with quantities shipped and received (the Fulfillment Inbound API's part, which the
  emulator does not serve), and how many rows each report type holds before background rows.
- ``GET _admin/reports/list`` → ``{"reports": [...]}``: every report of every seller with its
  ``selling_partner_id``, state and row count.
- ``POST _admin/reports/reimbursements`` ``{"selling_partner_id", "marketplace_id", "case_id",
  "amazon_order_id", "sku" | "fnsku" | "asin", "reason", "quantity", "amount_per_unit",
  "currency", "approval_date"}`` → 201 with the row as the report will hold it (its columns):
  Amazon reimburses, as Seller Central does once a case is approved. The row joins the pair's
  history with a fresh ``reimbursement-id``; only reports created after it hold it (when its
  ``approval-date`` is in their period). ``case_id`` (digits) and ``amazon_order_id`` are
  optional (Amazon also pays on its own); the product is named by any of ``sku``, ``fnsku``,
  ``asin`` (one of the pair's products; all given must name the same one); ``reason`` one of
  ``REIMBURSEMENT_REASONS``; ``quantity`` the units paid in cash (1-10,000);
  ``amount_per_unit`` in minor units (> 0), in the marketplace's ``currency``;
  ``approval_date`` ``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 time with its offset, not
  after the emulator's now (default: now). Bad input → 422 ``{"detail": [{"loc", "msg",
  "type"}, ...]}``, the emulator's admin error shape. A reimbursed case is seen by pulling the
  reimbursements report again.

Report outcomes (``FATAL``, ``CANCELLED``), poll counts, the seed, the anchor day, the ledger
size and download failures are the ``reports`` key of ``_admin/config`` (``reports_state``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sellerhub_emulators.amazon.marketplaces import MARKETPLACES
from sellerhub_emulators.amazon.report_documents import REIMBURSEMENTS_COLUMNS, reimbursement_cells
from sellerhub_emulators.amazon.reports_data import ZERO_EXPONENT
from sellerhub_emulators.amazon.state import SELLING_PARTNER_ID, AmazonEmulator

# The reasons of the reimbursements the claims a seller files are paid with (the seeded history
# uses the same spelling; a reversal is Amazon's own doing, not added here).
REIMBURSEMENT_REASONS = (
    "Lost_Warehouse",
    "Damaged_Warehouse",
    "Lost_Inbound",
    "Damaged_Inbound",
    "CustomerReturn",
    "CustomerServiceIssue",
)
_CASE_ID = re.compile(r"[0-9]{1,20}")
_ORDER_ID = re.compile(r"[0-9]{3}-[0-9]{7}-[0-9]{7}")


class ReimbursementSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    selling_partner_id: str
    marketplace_id: str
    case_id: str = Field(default="", max_length=20)
    amazon_order_id: str = Field(default="", max_length=19)
    sku: str | None = Field(default=None, min_length=1, max_length=40)
    fnsku: str | None = Field(default=None, min_length=1, max_length=10)
    asin: str | None = Field(default=None, min_length=1, max_length=10)
    reason: Literal[REIMBURSEMENT_REASONS]  # type: ignore[valid-type]
    quantity: int = Field(ge=1, le=10_000)
    amount_per_unit: int = Field(ge=1, le=10**9)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    approval_date: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _approval_text(cls, data: Any) -> Any:
        # strict mode takes a datetime only as an object: read the JSON string here
        if isinstance(data, dict) and isinstance(data.get("approval_date"), str):
            text = data["approval_date"]
            try:
                if len(text) == 10:
                    moment = datetime.combine(date.fromisoformat(text), time(), UTC)
                else:
                    moment = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    "approval_date must be a YYYY-MM-DD date or an ISO 8601 time"
                ) from None
            if moment.tzinfo is None:
                raise ValueError("approval_date must state its UTC offset")
            data = {**data, "approval_date": moment}
        return data

    @field_validator("selling_partner_id")
    @classmethod
    def _seller(cls, value: str) -> str:
        if not SELLING_PARTNER_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a selling partner id (1-64 letters/digits)")
        return value

    @field_validator("marketplace_id")
    @classmethod
    def _marketplace(cls, value: str) -> str:
        if value not in MARKETPLACES:
            raise ValueError(f"unknown marketplace id {value!r}")
        return value

    @field_validator("case_id")
    @classmethod
    def _case(cls, value: str) -> str:
        if value and not _CASE_ID.fullmatch(value):
            raise ValueError("a case id is 1-20 digits")
        return value

    @field_validator("amazon_order_id")
    @classmethod
    def _order(cls, value: str) -> str:
        if value and not _ORDER_ID.fullmatch(value):
            raise ValueError("an Amazon order id is 3-7-7 digits (111-1234567-1234567)")
        return value

    @model_validator(mode="after")
    def _named(self) -> ReimbursementSpec:
        if self.sku is None and self.fnsku is None and self.asin is None:
            raise ValueError("name the product: sku, fnsku or asin")
        return self


def _invalid(field: str, message: str, given: Any) -> JSONResponse:
    error = {"type": "value_error", "loc": [field], "msg": message, "input": given}
    return JSONResponse({"detail": jsonable_encoder([error])}, status_code=422)


def _bad_pair(selling_partner_id: str, marketplace_id: str) -> JSONResponse | None:
    if not SELLING_PARTNER_ID.fullmatch(selling_partner_id):
        return JSONResponse({"detail": "not a selling partner id"}, status_code=422)
    if marketplace_id not in MARKETPLACES:
        return JSONResponse({"detail": "unknown marketplace id"}, status_code=422)
    return None


def add_reports_admin_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    tags: list[str | Enum] = ["amazon emulator control"]
    reports = emulator.reports

    @router.get("/_admin/reports/planted", tags=tags)
    async def planted(
        selling_partner_id: str = Query(...), marketplace_id: str = Query(...)
    ) -> JSONResponse:
        bad = _bad_pair(selling_partner_id, marketplace_id)
        if bad is not None:
            return bad
        history = reports.history(selling_partner_id, marketplace_id)
        return JSONResponse(
            {
                "seed": history.seed,
                "anchor": history.anchor.isoformat(),
                "cases": [case.wire() for case in history.planted],
            }
        )

    @router.get("/_admin/reports/history", tags=tags)
    async def history(
        selling_partner_id: str = Query(...), marketplace_id: str = Query(...)
    ) -> JSONResponse:
        bad = _bad_pair(selling_partner_id, marketplace_id)
        if bad is not None:
            return bad
        found = reports.history(selling_partner_id, marketplace_id)
        return JSONResponse(
            {
                "seed": found.seed,
                "anchor": found.anchor.isoformat(),
                "products": [p.wire(found.currency) for p in found.products],
                "inbound_shipments": [s.wire() for s in found.inbound],
                "counts": {
                    "ledger_events": len(found.ledger),
                    "ledger_background_rows": reports.ledger_rows,
                    "reimbursements": len(found.reimbursements)
                    + len(reports.added_reimbursements(selling_partner_id, marketplace_id)),
                    "customer_returns": len(found.returns),
                    "refunds": len(found.refunds),
                },
            }
        )

    @router.post("/_admin/reports/reimbursements", tags=tags)
    async def reimburse(request: Request) -> JSONResponse:
        try:
            spec = ReimbursementSpec.model_validate_json((await request.body()) or b"{}")
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False)
            return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)
        found = reports.history(spec.selling_partner_id, spec.marketplace_id)
        if spec.currency != found.currency:
            return _invalid(
                "currency", f"the marketplace's currency is {found.currency}", spec.currency
            )
        named = [
            p
            for p in found.products
            if spec.sku in (None, p.sku)
            and spec.fnsku in (None, p.fnsku)
            and spec.asin in (None, p.asin)
        ]
        if not named:
            given = {"sku": spec.sku, "fnsku": spec.fnsku, "asin": spec.asin}
            return _invalid(
                "sku",
                "no product of this seller in this marketplace has that sku/fnsku/asin",
                {k: v for k, v in given.items() if v is not None},
            )
        now = emulator.wall_now()
        approval = spec.approval_date or now
        if approval > now:
            return _invalid(
                "approval_date", "Amazon approves no reimbursement in the future", approval
            )
        if approval < found.start:
            return _invalid(
                "approval_date",
                "before the seller's history (540 days before its anchor)",
                approval,
            )
        per_unit = Decimal(spec.amount_per_unit)
        if spec.currency not in ZERO_EXPONENT:
            per_unit = per_unit / 100
        row = reports.reimburse(
            spec.selling_partner_id,
            spec.marketplace_id,
            named[0],
            approval=approval,
            case_id=spec.case_id,
            order_id=spec.amazon_order_id,
            reason=spec.reason,
            quantity=spec.quantity,
            amount_per_unit=per_unit,
        )
        cells = reimbursement_cells(row, found.currency)
        return JSONResponse(dict(zip(REIMBURSEMENTS_COLUMNS, cells, strict=True)), status_code=201)

    @router.get("/_admin/reports/list", tags=tags)
    async def listing() -> JSONResponse:
        return JSONResponse(
            {
                "reports": [
                    {**r.wire(), "selling_partner_id": r.selling_partner_id, "rows": r.rows}
                    for r in reports.all_reports()
                ]
            }
        )
