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

Report outcomes (``FATAL``, ``CANCELLED``), poll counts, the seed, the anchor day, the ledger
size and download failures are the ``reports`` key of ``_admin/config`` (``reports_state``).
"""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from sellerhub_emulators.amazon.marketplaces import MARKETPLACES
from sellerhub_emulators.amazon.state import SELLING_PARTNER_ID, AmazonEmulator


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
                    "reimbursements": len(found.reimbursements),
                    "customer_returns": len(found.returns),
                    "refunds": len(found.refunds),
                },
            }
        )

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
