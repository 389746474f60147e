"""Shared object helpers: list answers, pagination, expansion, card PaymentMethods."""

from __future__ import annotations

import copy
from typing import Any

from sellerhub_emulators.stripe import constants as c
from sellerhub_emulators.stripe import forms
from sellerhub_emulators.stripe.cards import CARDS, CardSpec, card_spec
from sellerhub_emulators.stripe.context import Ctx
from sellerhub_emulators.stripe.errors import invalid, missing
from sellerhub_emulators.stripe.forms import Params


def page(ctx: Ctx, rows: list[dict[str, Any]], params: Params, url: str) -> dict[str, Any]:
    """Stripe's list answer over ``rows`` (newest first) with ``limit``, ``starting_after``
    and ``ending_before``."""
    limit = forms.integer(params, "limit", minimum=1)
    limit = c.LIST_LIMIT_DEFAULT if limit is None else limit
    if limit > c.LIST_LIMIT_MAX:
        raise invalid("This value must be less than or equal to 100.", param="limit")
    after = forms.string(params, "starting_after")
    before = forms.string(params, "ending_before")
    ids = [r["id"] for r in rows]
    if after is not None:
        if after not in ids:
            raise missing("object", after, param="starting_after")
        rows = rows[ids.index(after) + 1 :]
    elif before is not None:
        if before not in ids:
            raise missing("object", before, param="ending_before")
        rows = rows[: ids.index(before)][-limit:]
    return {
        "object": "list",
        "data": [copy.deepcopy(r) for r in rows[:limit]],
        "has_more": len(rows) > limit,
        "url": url,
    }


def expand(ctx: Ctx, obj: Any, paths: list[str]) -> Any:
    """Replace ids by objects along each ``a.b.c`` path (``data.`` walks a list's rows)."""
    for path in paths:
        obj = _expand(ctx, obj, path.split("."))
    return obj


def _expand(ctx: Ctx, node: Any, parts: list[str]) -> Any:
    if not parts or not isinstance(node, dict):
        return node
    head, rest = parts[0], parts[1:]
    if node.get("object") in ("list", "search_result") and head == "data":
        node["data"] = [_expand(ctx, row, rest) for row in node["data"]]
        return node
    if head not in node:
        raise invalid(f"This property cannot be expanded ({head}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        found = ctx.em.objects.get(value)
        if found is not None:
            value = copy.deepcopy(found)
    node[head] = _expand(ctx, value, rest)
    return node


def card_object(
    ctx: Ctx, spec: CardSpec, *, billing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A new card PaymentMethod in the request's scope, from a test card."""
    em = ctx.em
    billing = billing or {}
    address = billing.get("address") if isinstance(billing.get("address"), dict) else {}
    pm = {
        "id": em.new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {
                k: (address or {}).get(k)
                for k in ("city", "country", "line1", "line2", "postal_code", "state")
            },
            "email": billing.get("email"),
            "name": billing.get("name"),
            "phone": billing.get("phone"),
            "tax_id": None,
        },
        "card": {
            "brand": spec.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": spec.brand,
            "exp_month": 12,
            "exp_year": _exp_year(ctx),
            "fingerprint": spec.fingerprint,
            "funding": spec.funding,
            "generated_from": None,
            "last4": spec.last4,
            "networks": {"available": [spec.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": em.now(),
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }
    return em.put(pm, ctx.account, card=spec)


def _exp_year(ctx: Ctx) -> int:
    import datetime

    return datetime.datetime.fromtimestamp(ctx.em.now(), tz=datetime.UTC).year + 3


def payment_method(ctx: Ctx, ident: str, *, param: str | None = "payment_method") -> dict[str, Any]:
    """A PaymentMethod by id; a Stripe test id (``pm_card_visa``) makes a new one each time."""
    spec = card_spec(ident)
    if spec is not None:
        return card_object(ctx, spec)
    return ctx.em.get(ident, ctx.account, "payment_method", param=param)


def spec_of(ctx: Ctx, pm: dict[str, Any]) -> CardSpec:
    spec = ctx.em.private[pm["id"]].card
    return spec if spec is not None else CARDS["pm_card_visa"]


def customer(ctx: Ctx, ident: str | None, *, param: str = "customer") -> dict[str, Any] | None:
    if ident is None:
        return None
    return ctx.em.get(ident, ctx.account, "customer", param=param)
