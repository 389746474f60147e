"""The Stripe-only control endpoints under ``_admin`` (the common ones — ``stats``,
``config``, ``reset`` — come from ``common/admin.py``):

- ``POST _admin/faults`` JSON ``FaultRule`` (``{"method": "POST", "path":
  "/v1/payment_intents", "mode": "error"|"after"|"drop"|"after_drop", "status": 500|429,
  "count": 1}``) adds a rule; ``DELETE _admin/faults`` clears them; ``GET`` lists them.
- ``GET _admin/deliveries[?event=evt_]``: every webhook attempt (event, type, url, attempt,
  status, error).
- ``POST _admin/events/{evt}/resend``: POST the event again now (a duplicate), answers the attempt.
- ``POST _admin/deliver`` ``{"events": ["evt_..."], "held": false, "order": "given"|"reversed"}``:
  POST those events (or every held event, ``delivery: hold``) now, one after the other in that
  order; answers the attempts.
- ``GET _admin/charges?metadata[k]=v&status=succeeded&account=acct_``: charges of every scope.
- ``GET _admin/summary?metadata_key=recovery_id``: succeeded PaymentIntents counted per value of
  that metadata key, with the values charged more than once (for benches: duplicates, missing).
- ``POST _admin/advance_clock`` ``{"seconds": 86400}``: move the emulator's time (idempotency
  pruning, link expiry, ``created``) forward.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from pydantic import ValidationError
from starlette.responses import JSONResponse

from sellerhub_emulators.stripe import events, forms
from sellerhub_emulators.stripe.state import FaultRule, StripeEmulator


def bad(message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


async def json_body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def build_stripe_admin_router(em: StripeEmulator) -> APIRouter:
    router = APIRouter(prefix="/_admin", tags=["stripe emulator control"])

    @router.get("/faults")
    async def list_faults() -> JSONResponse:
        return JSONResponse({"faults": [r.model_dump() for r in em.faults]})

    @router.post("/faults")
    async def add_fault(request: Request) -> JSONResponse:
        try:
            rule = FaultRule.model_validate_json((await request.body()).strip() or b"{}")
        except ValidationError as exc:
            errs = exc.errors(include_url=False, include_context=False)
            return JSONResponse({"detail": jsonable_encoder(errs)}, status_code=422)
        em.faults.append(rule)
        return JSONResponse({"faults": [r.model_dump() for r in em.faults]})

    @router.delete("/faults")
    async def clear_faults() -> JSONResponse:
        em.faults.clear()
        return JSONResponse({"faults": []})

    @router.get("/deliveries")
    async def deliveries(event: str | None = None) -> JSONResponse:
        rows = [d for d in em.deliveries if event is None or d["event"] == event]
        return JSONResponse({"deliveries": rows, "held": list(em.held)})

    @router.post("/events/{event_id}/resend")
    async def resend(event_id: str) -> JSONResponse:
        if em.objects.get(event_id, {}).get("object") != "event":
            return bad(f"no such event {event_id}", 404)
        return JSONResponse(await events.send(em, event_id, reason="resend"))

    @router.post("/deliver")
    async def deliver(request: Request) -> JSONResponse:
        data = await json_body(request)
        if data is None:
            return bad("the body must be a JSON object")
        ids = data.get("events")
        if data.get("held") is True:
            ids, em.held = list(em.held), []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return bad('give "events": ["evt_...", ...] or "held": true')
        unknown = [i for i in ids if em.objects.get(i, {}).get("object") != "event"]
        if unknown:
            return bad(f"no such events: {', '.join(unknown)}", 404)
        order = data.get("order", "given")
        if order not in ("given", "reversed"):
            return bad('order must be "given" or "reversed"')
        if order == "reversed":
            ids = list(reversed(ids))
        results = [await events.send(em, i, reason="admin") for i in ids]
        return JSONResponse({"deliveries": results})

    @router.get("/charges")
    async def charges(request: Request) -> JSONResponse:
        params = forms.decode(parse_qsl(request.url.query, keep_blank_values=True))
        wanted = forms.mapping(params, "metadata")
        status = params.get("status")
        account = params.get("account")
        rows = [
            o
            for i, o in em.objects.items()
            if o.get("object") == "charge"
            and (status is None or o["status"] == status)
            and (account is None or em.owner.get(i) == account)
            and all(o["metadata"].get(k) == v for k, v in wanted.items())
        ]
        return JSONResponse({"count": len(rows), "charges": rows})

    @router.get("/summary")
    async def summary(metadata_key: str = "recovery_id") -> JSONResponse:
        per: dict[str, int] = {}
        total = 0
        amount = 0
        for o in em.objects.values():
            if o.get("object") == "payment_intent" and o["status"] == "succeeded":
                total += 1
                amount += o["amount"]
                value = o["metadata"].get(metadata_key)
                if value is not None:
                    per[value] = per.get(value, 0) + 1
        return JSONResponse(
            {
                "metadata_key": metadata_key,
                "succeeded_payment_intents": total,
                "succeeded_amount": amount,
                "distinct_values": len(per),
                "duplicates": {k: n for k, n in sorted(per.items()) if n > 1},
                "counts": per,
            }
        )

    @router.post("/advance_clock")
    async def advance_clock(request: Request) -> JSONResponse:
        data = await json_body(request)
        seconds = (data or {}).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return bad('give {"seconds": <non-negative number>}')
        em.skew += float(seconds)
        return JSONResponse({"skew_seconds": em.skew, "now": em.now()})

    return router
