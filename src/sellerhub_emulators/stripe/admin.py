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
- ``POST _admin/balance`` ``{"account": null|"acct_", "currency": "usd", "amount": 100000}``:
  add to an available balance (the platform's by default) so transfers can be made.
- ``POST _admin/payouts`` ``{"account": "acct_", "amount"?, "currency"?, "outcome":
  "paid"|"failed"}``: pay out a connected account's balance (``payout.created`` then
  ``payout.paid`` or ``payout.failed``, Connect events).
- ``POST _admin/refund`` ``{"charge": "ch_", "amount"?}``: refund (``charge.refunded``).
- ``POST _admin/dispute`` ``{"charge": "ch_", "reason"?: "fraudulent"}`` →
  ``charge.dispute.created``; ``{"dispute": "dp_", "status": "won"|"lost"}`` closes it
  (``charge.dispute.closed``).
- ``POST _admin/accounts/{acct}/requirements`` ``{"currently_due": [...], "disable": false}``:
  requirements due again, payouts (and with ``disable`` charges) off, ``account.updated``.
- ``POST _admin/checkout/{cs}/settle`` ``{"success"?: bool}``: the bank debit chosen on the
  Checkout page settles (``checkout.session.async_payment_succeeded``/``_failed``).
- ``POST _admin/subscriptions/{sub}/advance`` ``{"payment_method"?: "pm_card_..."}``: the next
  period starts and is billed (on that card when named: it becomes the default one)
  (``invoice.paid``, or ``invoice.payment_failed``/``invoice.payment_action_required``); an
  open invoice is charged again with ``POST /v1/invoices/{id}/pay``.
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

from sellerhub_emulators.stripe import checkout, connect, events, forms, intents
from sellerhub_emulators.stripe.context import Ctx
from sellerhub_emulators.stripe.errors import StripeError
from sellerhub_emulators.stripe.events import AUTOMATIC
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

    def ctx_for(request: Request, account: str | None) -> Ctx:
        root = str(request.url).split("/_admin/", 1)[0]
        return Ctx(em, account, AUTOMATIC, root)

    async def act(request: Request, action: Any) -> JSONResponse:
        data = await json_body(request)
        if data is None:
            return bad("the body must be a JSON object")
        em.pending = []
        try:
            result = action(data)
        except StripeError as exc:
            events.flush(em)
            return JSONResponse(exc.body, status_code=exc.status)
        except (KeyError, TypeError, ValueError) as exc:
            return bad(f"bad request: {exc}")
        events.flush(em)
        return JSONResponse(result)

    def _int(data: dict[str, Any], name: str) -> int | None:
        value = data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer")
        return value

    def _account(data: dict[str, Any]) -> dict[str, Any]:
        acct = em.find(str(data.get("account")), None, "account")
        if acct is None:
            raise ValueError(f"no such account {data.get('account')}")
        return acct

    def _charge(data: dict[str, Any]) -> dict[str, Any]:
        charge = em.objects.get(str(data.get("charge")))
        if charge is None or charge.get("object") != "charge":
            raise ValueError(f"no such charge {data.get('charge')}")
        return charge

    @router.post("/balance")
    async def balance(request: Request) -> JSONResponse:
        def run(data: dict[str, Any]) -> dict[str, Any]:
            account = data.get("account")
            if account is not None:
                _account(data)
            amount = _int(data, "amount")
            currency = str(data.get("currency", "usd")).lower()
            if amount is None:
                raise ValueError("amount is required")
            em.credit(account, currency, amount)
            return {
                "account": account,
                "currency": currency,
                "available": em.balances[(account, currency)],
            }

        return await act(request, run)

    @router.post("/payouts")
    async def payouts(request: Request) -> JSONResponse:
        def run(data: dict[str, Any]) -> dict[str, Any]:
            acct = _account(data)
            outcome = data.get("outcome", "paid")
            if outcome not in ("paid", "failed"):
                raise ValueError('outcome must be "paid" or "failed"')
            cur = data.get("currency")
            return connect.make_payout(
                ctx_for(request, acct["id"]),
                acct,
                _int(data, "amount"),
                None if cur is None else str(cur).lower(),
                outcome,
            )

        return await act(request, run)

    @router.post("/refund")
    async def refund(request: Request) -> JSONResponse:
        def run(data: dict[str, Any]) -> dict[str, Any]:
            charge = _charge(data)
            ctx = ctx_for(request, em.owner.get(charge["id"]))
            return intents.refund(ctx, charge, _int(data, "amount"), data.get("reason"), {})

        return await act(request, run)

    @router.post("/dispute")
    async def dispute(request: Request) -> JSONResponse:
        def run(data: dict[str, Any]) -> dict[str, Any]:
            if "dispute" in data:
                found = em.objects.get(str(data["dispute"]))
                if found is None or found.get("object") != "dispute":
                    raise ValueError(f"no such dispute {data['dispute']}")
                status = data.get("status", "lost")
                if status not in ("won", "lost", "warning_closed"):
                    raise ValueError("status must be won, lost or warning_closed")
                return connect.close_dispute(ctx_for(request, None), found, status)
            charge = _charge(data)
            reason = str(data.get("reason", "fraudulent"))
            return connect.dispute(ctx_for(request, None), charge, reason)

        return await act(request, run)

    @router.post("/accounts/{account_id}/requirements")
    async def requirements(request: Request, account_id: str) -> JSONResponse:
        def run(data: dict[str, Any]) -> dict[str, Any]:
            acct = _account({"account": account_id})
            due = data.get("currently_due", ["individual.verification.document"])
            if not isinstance(due, list) or not all(isinstance(d, str) for d in due) or not due:
                raise ValueError("currently_due must be a non-empty list of strings")
            connect.require_again(
                ctx_for(request, None), acct, due, disable=data.get("disable") is True
            )
            return acct

        return await act(request, run)

    @router.post("/checkout/{session_id}/settle")
    async def settle(request: Request, session_id: str) -> JSONResponse:
        def run(data: dict[str, Any]) -> dict[str, Any]:
            session = em.objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                raise ValueError(f"no such Checkout Session {session_id}")
            success = data.get("success")
            if success is not None and not isinstance(success, bool):
                raise ValueError("success must be a boolean")
            ctx = ctx_for(request, em.owner.get(session_id))
            return checkout.settle_async(ctx, session, success)

        return await act(request, run)

    @router.post("/subscriptions/{sub_id}/advance")
    async def advance(request: Request, sub_id: str) -> JSONResponse:
        def run(data: dict[str, Any]) -> dict[str, Any]:
            sub = em.objects.get(sub_id)
            if sub is None or sub.get("object") != "subscription":
                raise ValueError(f"no such subscription {sub_id}")
            method = data.get("payment_method")
            if method is not None and not isinstance(method, str):
                raise ValueError("payment_method must be a string")
            return checkout.advance(ctx_for(request, em.owner.get(sub_id)), sub, method)

        return await act(request, run)

    @router.post("/advance_clock")
    async def advance_clock(request: Request) -> JSONResponse:
        data = await json_body(request)
        seconds = (data or {}).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return bad('give {"seconds": <non-negative number>}')
        em.skew += float(seconds)
        return JSONResponse({"skew_seconds": em.skew, "now": em.now()})

    return router
