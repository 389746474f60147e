"""The ``/v1`` surface: one dispatcher that authenticates, applies idempotency keys, fault
rules and the common gate, runs the resource handler and answers Stripe's JSON.

Order of checks for a request: route (404 ``Unrecognized request URL``) → API key (401) →
``Stripe-Account`` (403) → parameters decoded (400) → Idempotency-Key (replay, 400
``idempotency_error``, 409 in flight) → the common gate (``_admin/config`` ``latency_ms``,
``fail``, ``rate_limit``) → fault rules (``_admin/faults``) → handler.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sellerhub_emulators.common.httputil import basic_credentials, bearer_token
from sellerhub_emulators.stripe import checkout, connect, customers, errors, events, forms, intents
from sellerhub_emulators.stripe import constants as c
from sellerhub_emulators.stripe.context import Ctx
from sellerhub_emulators.stripe.errors import StripeError
from sellerhub_emulators.stripe.events import Origin
from sellerhub_emulators.stripe.objects import expand
from sellerhub_emulators.stripe.state import IdempotencyRecord, StripeEmulator

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    endpoint: str
    publishable: bool = False  # may be called with the publishable key (Stripe.js)


_ID = r"([A-Za-z0-9_]+)"


def _r(method: str, path: str, handler: Handler, endpoint: str, *, pk: bool = False) -> Route:
    return Route(method, re.compile("^" + path.replace("{id}", _ID) + "$"), handler, endpoint, pk)


ROUTES: tuple[Route, ...] = (
    _r("POST", "/v1/customers", customers.create_customer, "customers"),
    _r("GET", "/v1/customers", customers.list_customers, "customers"),
    _r("GET", "/v1/customers/{id}", customers.retrieve_customer, "customers"),
    _r("POST", "/v1/customers/{id}", customers.update_customer, "customers"),
    _r("DELETE", "/v1/customers/{id}", customers.delete_customer, "customers"),
    _r(
        "GET",
        "/v1/customers/{id}/payment_methods",
        customers.list_customer_payment_methods,
        "payment_methods",
    ),
    _r(
        "GET",
        "/v1/customers/{id}/payment_methods/{id}",
        customers.retrieve_customer_payment_method,
        "payment_methods",
    ),
    _r("POST", "/v1/payment_methods", customers.create_payment_method, "payment_methods", pk=True),
    _r("GET", "/v1/payment_methods", customers.list_payment_methods, "payment_methods"),
    _r("GET", "/v1/payment_methods/{id}", customers.retrieve_payment_method, "payment_methods"),
    _r("POST", "/v1/payment_methods/{id}", customers.update_payment_method, "payment_methods"),
    _r(
        "POST",
        "/v1/payment_methods/{id}/attach",
        customers.attach_payment_method,
        "payment_methods",
    ),
    _r(
        "POST",
        "/v1/payment_methods/{id}/detach",
        customers.detach_payment_method,
        "payment_methods",
    ),
    _r("POST", "/v1/setup_intents", intents.create_setup_intent, "setup_intents"),
    _r("GET", "/v1/setup_intents", intents.list_setup_intents, "setup_intents"),
    _r("GET", "/v1/setup_intents/{id}", intents.retrieve_setup_intent, "setup_intents", pk=True),
    _r("POST", "/v1/setup_intents/{id}", intents.update_setup_intent, "setup_intents"),
    _r(
        "POST",
        "/v1/setup_intents/{id}/confirm",
        intents.confirm_setup_intent,
        "setup_intents",
        pk=True,
    ),
    _r(
        "POST",
        "/v1/setup_intents/{id}/cancel",
        intents.cancel_setup_intent,
        "setup_intents",
        pk=True,
    ),
    _r("POST", "/v1/payment_intents", intents.create_payment_intent, "payment_intents"),
    _r("GET", "/v1/payment_intents", intents.list_payment_intents, "payment_intents"),
    _r("GET", "/v1/payment_intents/search", intents.search_payment_intents, "payment_intents"),
    _r(
        "GET",
        "/v1/payment_intents/{id}",
        intents.retrieve_payment_intent,
        "payment_intents",
        pk=True,
    ),
    _r("POST", "/v1/payment_intents/{id}", intents.update_payment_intent, "payment_intents"),
    _r(
        "POST",
        "/v1/payment_intents/{id}/confirm",
        intents.confirm_payment_intent,
        "payment_intents",
        pk=True,
    ),
    _r("POST", "/v1/payment_intents/{id}/cancel", intents.cancel_payment_intent, "payment_intents"),
    _r("GET", "/v1/charges", intents.list_charges, "charges"),
    _r("GET", "/v1/charges/{id}", intents.retrieve_charge, "charges"),
    _r("POST", "/v1/refunds", intents.create_refund, "refunds"),
    _r("GET", "/v1/refunds", intents.list_refunds, "refunds"),
    _r("GET", "/v1/refunds/{id}", intents.retrieve_refund, "refunds"),
    _r("GET", "/v1/balance", intents.retrieve_balance, "balance"),
    _r("GET", "/v1/balance_transactions/{id}", intents.retrieve_balance_transaction, "balance"),
    _r("GET", "/v1/events", intents.list_events, "events"),
    _r("GET", "/v1/events/{id}", intents.retrieve_event, "events"),
    *(_r(*row) for row in connect.ROUTES),
    *(_r(*row) for row in checkout.ROUTES),
)


def _match(method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
    for route in ROUTES:
        if route.method == method:
            m = route.pattern.match(path)
            if m is not None:
                return route, m.groups()
    return None


def _json(body: dict[str, Any], status: int, headers: dict[str, str]) -> Response:
    return Response(
        json.dumps(body, indent=2).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class _Dropped(Response):
    """Starts an answer, then breaks the connection before the body: to the client the request
    may or may not have happened (``drop``/``after_drop`` fault rules)."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
        raise ConnectionAbortedError("emulated connection drop (Stripe fault rule)")


def _api_root(request: Request, path: str) -> str:
    url = str(request.url).split("?", 1)[0]
    return url[: len(url) - len(path)]


def _auto_webhook(request: Request, root: str) -> str | None:
    marker = "/_emulators" + c.PREFIX
    if root.endswith(marker):
        return root[: -len(marker)] + "/webhooks/stripe"
    return None


def _key_of(request: Request, params_body: dict[str, Any]) -> str | None:
    auth = request.headers.get("authorization")
    token = bearer_token(auth)
    if token is None:
        basic = basic_credentials(auth)
        token = basic[0] if basic else None
    if token is None and isinstance(params_body.get("key"), str):
        token = params_body["key"]
    return token


async def dispatch(em: StripeEmulator, request: Request, path: str) -> Response:
    request_id = em.new_id("req", 14)
    base_headers = {
        "Request-Id": request_id,
        "Stripe-Version": request.headers.get("stripe-version", c.API_VERSION),
        "Cache-Control": "no-cache, no-store",
    }
    idem_key = request.headers.get("idempotency-key")
    if idem_key is not None:
        base_headers["Idempotency-Key"] = idem_key
    try:
        return await _dispatch(em, request, path, request_id, idem_key, base_headers)
    except StripeError as exc:
        return _json(exc.body, exc.status, base_headers | exc.headers)


async def _dispatch(
    em: StripeEmulator,
    request: Request,
    path: str,
    request_id: str,
    idem_key: str | None,
    headers: dict[str, str],
) -> Response:
    method = request.method
    full = "/v1/" + path
    found = _match(method, full)
    if found is None:
        raise StripeError(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({method}: {full}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )
    route, ids = found
    raw = await request.body()
    try:
        text = raw.decode("utf-8") if method == "POST" else request.url.query
    except UnicodeDecodeError:
        raise errors.invalid("The request body is not valid UTF-8.") from None
    params = forms.decode(parse_qsl(text, keep_blank_values=True))
    key = _key_of(request, params)
    if key is None:
        raise errors.no_key()
    publishable = False
    if key == em.settings.publishable_key and route.publishable:
        publishable = True
    elif key != em.settings.secret_key:
        if key == em.settings.publishable_key:
            raise StripeError(
                401,
                "invalid_request_error",
                "This API call cannot be made with a publishable API key. Please use a secret "
                "API key.",
            )
        raise errors.bad_key(key)
    params.pop("key", None)
    account = request.headers.get("stripe-account") or None
    if account is not None and em.find(account, None, "account") is None:
        raise StripeError(
            403,
            "invalid_request_error",
            f"The provided key '{key[:8]}...' does not have access to account '{account}' (or "
            "that account does not exist). Application access may have been revoked.",
            code="account_invalid",
        )
    root = _api_root(request, "/" + full.lstrip("/"))
    auto = _auto_webhook(request, root)
    if auto is not None:
        em.auto_webhook_url = auto
    ctx = Ctx(
        em, account, Origin(request_id, idem_key if method == "POST" else None), root, publishable
    )
    expands = forms.strings(params, "expand") or []
    params.pop("expand", None)

    record: IdempotencyRecord | None = None
    scope = (f"{key}|{account or ''}", idem_key or "")
    if method == "POST" and idem_key is not None:
        if len(idem_key) > c.IDEMPOTENCY_KEY_MAX:
            raise errors.invalid(
                f"Idempotency keys must be at most {c.IDEMPOTENCY_KEY_MAX} characters long.",
                param="Idempotency-Key",
            )
        em.prune_idempotency()
        flat = forms.flatten(params) + [("expand", e) for e in expands]
        existing = em.idempotency.get(scope)
        if existing is not None:
            if existing.in_flight:
                raise StripeError(
                    409,
                    "idempotency_error",
                    "There is currently another in-progress request using this Stripe API key "
                    "and idempotency key. Please try again later.",
                    code="idempotency_key_in_use",
                )
            if (existing.method, existing.path, existing.params) != (method, full, flat):
                raise StripeError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with. Try using a key other than "
                    f"'{idem_key}' if you meant to execute a different request.",
                )
            return Response(
                existing.body,
                status_code=existing.status,
                media_type="application/json",
                headers=headers
                | {"Idempotent-Replayed": "true", "Original-Request": existing.request_id},
            )
        record = IdempotencyRecord(method, full, flat, em.elapsed(), request_id)
        em.idempotency[scope] = record

    def release(status: int, body: bytes, keep: bool) -> None:
        if record is None:
            return
        if keep:
            record.in_flight = False
            record.status = status
            record.body = body
        elif em.idempotency.get(scope) is record:
            del em.idempotency[scope]

    try:
        gate = await em.enter(route.endpoint)
        if gate is not None:
            release(gate.status_code, bytes(gate.body), gate.status_code >= 500)
            for name, value in headers.items():
                gate.headers[name] = value
            return gate
        rule = em.take_fault(method, full)
        if rule is not None and rule.mode in ("error", "drop"):
            if rule.mode == "drop":
                release(0, b"", False)
                return _Dropped()
            # Refused before the endpoint ran: nothing is stored under the idempotency key, so
            # a retry with the same key runs (the SDK's own retries recover).
            exc = errors.rate_limited() if rule.status == 429 else errors.api_error()
            if rule.status not in (429, 500):
                exc = StripeError(rule.status, "api_error", "Injected failure.")
            exc.stored = False
            raise exc
        em.pending = []
        try:
            result = route.handler(ctx, params, *ids)
            result = expand(ctx, json.loads(json.dumps(result)), expands)
            status, body = 200, result
            stored = True
        except StripeError as exc:
            status, body, stored = exc.status, exc.body, exc.stored
        encoded = json.dumps(body, indent=2).encode()
        if rule is not None and rule.mode == "after_drop":
            release(status, encoded, stored)
            events.flush(em)
            return _Dropped()
        if rule is not None and rule.mode == "after":
            failure = errors.api_error()
            encoded = json.dumps(failure.body, indent=2).encode()
            status, stored = 500, True
        release(status, encoded, stored)
        events.flush(em)
        return Response(encoded, status_code=status, media_type="application/json", headers=headers)
    except StripeError as exc:
        release(exc.status, json.dumps(exc.body, indent=2).encode(), exc.stored)
        raise
    except asyncio.CancelledError:
        release(0, b"", False)
        raise
    except BaseException:
        release(0, b"", False)
        raise


def add_api_routes(router: APIRouter, em: StripeEmulator) -> None:
    @router.api_route("/v1/{path:path}", methods=["GET", "POST", "DELETE"], include_in_schema=False)
    async def v1(request: Request, path: str) -> Response:
        return await dispatch(em, request, path)
