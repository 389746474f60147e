"""Checkout Sessions (providers.md §8.4), Products, Prices, Subscriptions and Invoices.

A session's ``url`` is the emulator's hosted page (``pages/checkout/{cs}``), where a person pays
with a test card, saves one (setup mode) or subscribes, or cancels (→ ``cancel_url``). Paying
completes the session (``checkout.session.completed``, ``payment_status=paid``) and redirects
to ``success_url`` with ``{CHECKOUT_SESSION_ID}`` replaced. Checkout runs 3-D Secure inside its
page, so cards that ask for it succeed there; declining cards show the error and the session
stays open. The page's "bank debit" choices settle later: the session completes with
``payment_status=unpaid`` and ``_admin/checkout/{cs}/settle`` ends it with
``checkout.session.async_payment_succeeded`` or ``_failed``. Sessions expire after 24 h
(``expires_at``) or on ``POST /v1/checkout/sessions/{id}/expire``
(``checkout.session.expired``).

Subscription mode creates a Subscription (``customer.subscription.created``) and its first
Invoice, paid at once (``invoice.created``, ``invoice.finalized``, ``invoice.paid``,
``invoice.payment_succeeded``); ``_admin/subscriptions/{sub}/advance`` starts the next period
and charges the default card off session (``invoice.paid``, or ``invoice.payment_failed`` /
``invoice.payment_action_required`` and the subscription ``past_due``).
"""

from __future__ import annotations

import copy
from typing import Any

from sellerhub_emulators.stripe import constants as c
from sellerhub_emulators.stripe import forms, intents
from sellerhub_emulators.stripe.cards import ASYNC_METHODS, card_spec
from sellerhub_emulators.stripe.context import Ctx
from sellerhub_emulators.stripe.customers import attach_to, card_decline, create_customer
from sellerhub_emulators.stripe.errors import StripeError, invalid
from sellerhub_emulators.stripe.events import emit
from sellerhub_emulators.stripe.forms import Params
from sellerhub_emulators.stripe.objects import card_object, customer, page, payment_method

Obj = dict[str, Any]

_INTERVALS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


# -- products and prices ---------------------------------------------------------------------


def _product(ctx: Ctx, name: str, params: Params) -> Obj:
    em = ctx.em
    now = em.now()
    product: Obj = {
        "id": em.new_id("prod", 14),
        "object": "product",
        "active": forms.boolean(params, "active", default=True),
        "created": now,
        "default_price": None,
        "description": forms.string(params, "description"),
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": forms.metadata(params),
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    em.put(product, ctx.account)
    emit(em, ctx.origin, "product.created", product, account=ctx.account)
    return product


def create_product(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("name", "description", "metadata", "active", "default_price_data", "id"))
    name = forms.string(params, "name", required=True, max_len=250)
    assert name is not None
    product = _product(ctx, name, params)
    price_data = forms.mapping(params, "default_price_data")
    if price_data:
        price = _price(ctx, {**price_data, "product": product["id"]}, "default_price_data")
        product["default_price"] = price["id"]
    return product


def retrieve_product(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "product")


def update_product(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ("name", "description", "metadata", "active", "default_price"))
    product = ctx.em.get(ident, ctx.account, "product")
    if "name" in params:
        product["name"] = forms.string(params, "name", required=True)
    if "description" in params:
        product["description"] = forms.string(params, "description")
    if "active" in params:
        product["active"] = forms.boolean(params, "active")
    if "default_price" in params:
        price = ctx.em.get(
            str(params["default_price"]), ctx.account, "price", param="default_price"
        )
        product["default_price"] = price["id"]
    product["metadata"] = forms.metadata(params, product["metadata"])
    product["updated"] = ctx.em.now()
    emit(ctx.em, ctx.origin, "product.updated", product, account=ctx.account)
    return product


def list_products(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("active", "limit", "starting_after", "ending_before"))
    active = params.get("active")
    rows = [
        p
        for p in ctx.em.all_of("product", ctx.account)
        if active is None or p["active"] == forms.boolean(params, "active")
    ]
    return page(ctx, rows, params, "/v1/products")


def _price(ctx: Ctx, data: Params, where: str) -> Obj:
    """A Price from ``data`` (``currency``, ``unit_amount``, ``product`` or ``product_data``,
    ``recurring``); ``where`` names the parameter in errors."""
    em = ctx.em
    cur = forms.currency(data, "currency")
    amount = forms.integer(data, "unit_amount", minimum=0)
    if amount is None:
        raise invalid(
            f"Missing required param: {where}[unit_amount].",
            param=f"{where}[unit_amount]",
            code="parameter_missing",
        )
    product_id = forms.string(data, "product")
    product_data = forms.mapping(data, "product_data")
    if product_id is not None:
        product = em.get(product_id, ctx.account, "product", param=f"{where}[product]")
    elif product_data:
        name = forms.string(product_data, "name", required=True)
        assert name is not None
        product = _product(ctx, name, product_data)
    else:
        raise invalid(
            f"Missing required param: {where}[product] or {where}[product_data].",
            param=f"{where}[product]",
            code="parameter_missing",
        )
    recurring = forms.mapping(data, "recurring")
    if recurring:
        interval = recurring.get("interval")
        if interval not in _INTERVALS:
            raise invalid(
                "Invalid recurring[interval]: must be one of day, week, month or year",
                param=f"{where}[recurring][interval]",
            )
        count = forms.integer(recurring, "interval_count", minimum=1) or 1
        recurring_obj: Obj | None = {
            "aggregate_usage": None,
            "interval": interval,
            "interval_count": count,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    else:
        recurring_obj = None
    price: Obj = {
        "id": em.new_id("price"),
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": em.now(),
        "currency": cur,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": forms.string(data, "lookup_key"),
        "metadata": forms.metadata(data),
        "nickname": forms.string(data, "nickname"),
        "product": product["id"],
        "recurring": recurring_obj,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring_obj else "one_time",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }
    em.put(price, ctx.account)
    emit(em, ctx.origin, "price.created", price, account=ctx.account)
    return price


def create_price(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params,
        (
            "currency",
            "unit_amount",
            "product",
            "product_data",
            "recurring",
            "metadata",
            "nickname",
            "lookup_key",
            "active",
        ),
    )
    return _price(ctx, params, "price")


def retrieve_price(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "price")


def list_prices(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params,
        (
            "product",
            "active",
            "type",
            "lookup_keys",
            "currency",
            "limit",
            "starting_after",
            "ending_before",
        ),
    )
    product = forms.string(params, "product")
    kind = forms.string(params, "type")
    keys = forms.strings(params, "lookup_keys")
    rows = [
        p
        for p in ctx.em.all_of("price", ctx.account)
        if (product is None or p["product"] == product)
        and (kind is None or p["type"] == kind)
        and (not keys or p["lookup_key"] in keys)
    ]
    return page(ctx, rows, params, "/v1/prices")


# -- checkout sessions ------------------------------------------------------------------------

_CS_PARAMS = (
    "mode",
    "line_items",
    "success_url",
    "cancel_url",
    "client_reference_id",
    "metadata",
    "customer",
    "customer_email",
    "customer_creation",
    "expires_at",
    "payment_method_types",
    "payment_intent_data",
    "setup_intent_data",
    "subscription_data",
    "currency",
    "locale",
    "submit_type",
    "allow_promotion_codes",
    "billing_address_collection",
    "ui_mode",
    "return_url",
    "automatic_tax",
)


def _line_items(ctx: Ctx, params: Params, mode: str) -> list[Obj]:
    raw = params.get("line_items")
    if raw in (None, ""):
        if mode == "setup":
            return []
        raise invalid(
            f"`line_items` is required in `{mode}` mode.",
            param="line_items",
            code="parameter_missing",
        )
    if mode == "setup":
        raise invalid("You cannot pass `line_items` in `setup` mode.", param="line_items")
    if not isinstance(raw, list) or not raw:
        raise invalid("Invalid array", param="line_items")
    items = []
    for i, row in enumerate(raw):
        if not isinstance(row, dict):
            raise invalid("Invalid object", param=f"line_items[{i}]")
        quantity = forms.integer(row, "quantity", minimum=1)
        if quantity is None:
            raise invalid(
                f"Missing required param: line_items[{i}][quantity].",
                param=f"line_items[{i}][quantity]",
                code="parameter_missing",
            )
        price_id = forms.string(row, "price")
        price_data = forms.mapping(row, "price_data")
        if price_id is not None:
            price = ctx.em.get(price_id, ctx.account, "price", param=f"line_items[{i}][price]")
        elif price_data:
            price = _price(ctx, price_data, f"line_items[{i}][price_data]")
        else:
            raise invalid(
                f"You must specify either `price` or `price_data` in line_items[{i}].",
                param=f"line_items[{i}]",
            )
        if mode == "payment" and price["type"] == "recurring":
            raise invalid(
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                param=f"line_items[{i}]",
            )
        product = ctx.em.objects.get(price["product"], {})
        total = price["unit_amount"] * quantity
        items.append(
            {
                "id": ctx.em.new_id("li"),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": total,
                "amount_tax": 0,
                "amount_total": total,
                "currency": price["currency"],
                "description": product.get("name"),
                "price": copy.deepcopy(price),
                "quantity": quantity,
            }
        )
    if len({item["currency"] for item in items}) > 1:
        raise invalid("All line items must use the same currency.", param="line_items")
    if mode == "subscription" and not any(it["price"]["type"] == "recurring" for it in items):
        raise invalid(
            "You must provide at least one recurring price in `subscription` mode when using "
            "prices.",
            param="line_items",
        )
    return items


def create_session(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, _CS_PARAMS)
    em = ctx.em
    mode = forms.choice(params, "mode", ("payment", "setup", "subscription"))
    if mode is None:
        raise invalid("Missing required param: mode.", param="mode", code="parameter_missing")
    success = forms.string(params, "success_url", required=True, max_len=5000)
    cancel = forms.string(params, "cancel_url", max_len=5000)
    for name, value in (("success_url", success), ("cancel_url", cancel)):
        if value is not None and not value.startswith(("http://", "https://")):
            raise invalid(f"Not a valid URL: {name}", param=name, code="url_invalid")
    cus = customer(ctx, forms.string(params, "customer"))
    email = forms.string(params, "customer_email")
    if cus is not None and email is not None:
        raise invalid(
            "You may only specify one of these parameters: customer, customer_email.",
            param="customer_email",
        )
    items = _line_items(ctx, params, mode)
    currency = items[0]["currency"] if items else forms.currency(params, required=False)
    now = em.now()
    expires_at = forms.integer(params, "expires_at")
    if expires_at is None:
        expires_at = now + c.CHECKOUT_TTL_SECONDS
    elif not now + 1800 <= expires_at <= now + c.CHECKOUT_TTL_SECONDS:
        raise invalid(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
            param="expires_at",
        )
    creation = forms.choice(params, "customer_creation", ("if_required", "always"))
    total = sum(it["amount_total"] for it in items)
    ident = "cs_test_" + em.new_id("x", 58)[3:]
    session: Obj = {
        "id": ident,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": total if mode != "setup" else None,
        "amount_total": total if mode != "setup" else None,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": forms.string(params, "billing_address_collection"),
        "cancel_url": cancel,
        "client_reference_id": forms.string(params, "client_reference_id", max_len=200),
        "client_secret": None,
        "created": now,
        "currency": currency,
        "customer": cus["id"] if cus else None,
        "customer_creation": None if cus else (creation or "if_required"),
        "customer_details": {"email": email} if email else None,
        "customer_email": email,
        "expires_at": expires_at,
        "invoice": None,
        "livemode": False,
        "locale": forms.string(params, "locale"),
        "metadata": forms.metadata(params),
        "mode": mode,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_types": forms.strings(params, "payment_method_types") or ["card"],
        "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
        "setup_intent": None,
        "status": "open",
        "submit_type": forms.string(params, "submit_type"),
        "subscription": None,
        "success_url": success,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": ctx.page(f"checkout/{ident}"),
    }
    em.put(
        session,
        ctx.account,
        extra={
            "line_items": items,
            "payment_intent_data": forms.mapping(params, "payment_intent_data"),
            "setup_intent_data": forms.mapping(params, "setup_intent_data"),
            "subscription_data": forms.mapping(params, "subscription_data"),
        },
    )
    return session


def check_expiry(ctx: Ctx, session: Obj) -> None:
    """Sessions past ``expires_at`` expire when next looked at."""
    if session["status"] == "open" and ctx.em.now() >= session["expires_at"]:
        _expire(ctx, session)


def _expire(ctx: Ctx, session: Obj) -> None:
    session["status"] = "expired"
    session["url"] = None
    emit(ctx.em, ctx.origin, "checkout.session.expired", session, account=ctx.account)


def retrieve_session(ctx: Ctx, params: Params, ident: str) -> Obj:
    session = ctx.em.get(ident, ctx.account, "checkout.session")
    check_expiry(ctx, session)
    return session


def list_sessions(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params,
        (
            "payment_intent",
            "customer",
            "status",
            "subscription",
            "limit",
            "starting_after",
            "ending_before",
            "created",
        ),
    )
    filters = {
        k: forms.string(params, k) for k in ("payment_intent", "customer", "status", "subscription")
    }
    rows = []
    for session in ctx.em.all_of("checkout.session", ctx.account):
        check_expiry(ctx, session)
        if all(v is None or session[k] == v for k, v in filters.items()):
            rows.append(session)
    return page(ctx, rows, params, "/v1/checkout/sessions")


def expire_session(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ())
    session = ctx.em.get(ident, ctx.account, "checkout.session")
    check_expiry(ctx, session)
    if session["status"] != "open":
        raise invalid(
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session["status"]}".',
            param="session",
        )
    _expire(ctx, session)
    return session


def session_line_items(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ("limit", "starting_after", "ending_before"))
    ctx.em.get(ident, ctx.account, "checkout.session")
    items = ctx.em.private[ident].extra["line_items"]
    return page(ctx, items, params, f"/v1/checkout/sessions/{ident}/line_items")


# -- the hosted page's actions ----------------------------------------------------------------


def _session_customer(ctx: Ctx, session: Obj, email: str | None) -> str | None:
    if session["customer"] is not None:
        return str(session["customer"])
    email = email or session["customer_email"]
    needed = session["mode"] != "payment" or session["customer_creation"] == "always"
    session["customer_details"] = {
        "address": None,
        "email": email,
        "name": None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    if not needed:
        return None
    cus = create_customer(ctx, {"email": email} if email else {})
    session["customer"] = cus["id"]
    return str(cus["id"])


def _bank_method(ctx: Ctx) -> Obj:
    em = ctx.em
    pm: Obj = {
        "id": em.new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": None, "name": "Test Holder", "phone": None},
        "created": em.now(),
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "us_bank_account",
        "us_bank_account": {
            "account_holder_type": "individual",
            "account_type": "checking",
            "bank_name": "STRIPE TEST BANK",
            "fingerprint": "emulatorbank0001",
            "last4": "6789",
            "routing_number": "110000000",
        },
    }
    return em.put(pm, ctx.account)


def complete_session(ctx: Ctx, session: Obj, choice: str, email: str | None) -> None:
    """What the hosted page does when the person submits. Raises ``StripeError`` (a decline)
    and leaves the session open when the payment fails."""
    em = ctx.em
    extra = em.private[session["id"]].extra
    previous = {"status": "open"}
    cus_id = _session_customer(ctx, session, email)
    if choice in ASYNC_METHODS:
        if session["mode"] != "payment":
            raise invalid("Bank debits are offered in payment mode only.")
        pm = _bank_method(ctx)
        pi = _session_payment_intent(ctx, session, cus_id, extra)
        pi["payment_method"] = pm["id"]
        pi["payment_method_types"] = ["card", "us_bank_account"]
        pi["status"] = "processing"
        em.touch(pi["id"])
        emit(em, ctx.origin, "payment_intent.processing", pi, account=ctx.account)
        extra["async"] = choice
        session["status"] = "complete"
        session["payment_status"] = "unpaid"
        emit(
            em,
            ctx.origin,
            "checkout.session.completed",
            session,
            previous=previous,
            account=ctx.account,
        )
        return
    spec = card_spec(choice)
    if spec is None:
        raise invalid("Pick one of the listed payment methods.")
    pm = card_object(ctx, spec)
    mode = session["mode"]
    if mode == "setup":
        data = extra["setup_intent_data"]
        si = intents.create_setup_intent(
            ctx,
            {
                "customer": cus_id or "",
                "usage": "off_session",
                "metadata": data.get("metadata", {}),
            },
        )
        session["setup_intent"] = si["id"]
        if spec.decline_setup and spec.decline is not None:
            code, decline = spec.decline
            intents.fail_setup(ctx, si, pm, code, decline)
            raise card_decline(ctx, pm, code, decline)
        intents.succeed_setup(ctx, si, pm)
    elif mode == "payment":
        pi = _session_payment_intent(ctx, session, cus_id, extra)
        pi["payment_method"] = pm["id"]
        intents.settle_payment(ctx, pi, pm)
        session["payment_status"] = "paid"
    else:
        _subscribe(ctx, session, cus_id, pm, spec.decline)
        session["payment_status"] = "paid"
    session["status"] = "complete"
    emit(
        em,
        ctx.origin,
        "checkout.session.completed",
        session,
        previous=previous,
        account=ctx.account,
    )


def _session_payment_intent(ctx: Ctx, session: Obj, cus_id: str | None, extra: Obj) -> Obj:
    if session["payment_intent"] is not None:
        return ctx.em.objects[session["payment_intent"]]
    data = extra["payment_intent_data"]
    params: Params = {
        "amount": str(session["amount_total"]),
        "currency": session["currency"],
        "metadata": data.get("metadata", {}),
    }
    if cus_id:
        params["customer"] = cus_id
    for key in ("description", "setup_future_usage", "transfer_group", "receipt_email"):
        if key in data:
            params[key] = data[key]
    pi = intents.create_payment_intent(ctx, params)
    session["payment_intent"] = pi["id"]
    return pi


def settle_async(ctx: Ctx, session: Obj, success: bool | None = None) -> Obj:
    """``_admin``: the bank debit of a session settles (by default as the page chose)."""
    em = ctx.em
    extra = em.private[session["id"]].extra
    choice = extra.get("async")
    if choice is None or session["payment_status"] != "unpaid" or session["status"] != "complete":
        raise invalid("This Checkout Session has no pending bank debit.")
    ok = ASYNC_METHODS[choice][1] if success is None else success
    pi = em.objects[session["payment_intent"]]
    pm = em.objects[pi["payment_method"]]
    extra.pop("async")
    previous = {"payment_status": "unpaid"}
    if ok:
        charge = intents.record_charge(ctx, pi, pm, failure=None)
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["latest_charge"] = charge["id"]
        em.touch(pi["id"])
        emit(em, ctx.origin, "charge.succeeded", charge, account=ctx.account)
        emit(em, ctx.origin, "payment_intent.succeeded", pi, account=ctx.account)
        session["payment_status"] = "paid"
        emit(
            em,
            ctx.origin,
            "checkout.session.async_payment_succeeded",
            session,
            previous=previous,
            account=ctx.account,
        )
    else:
        charge = intents.record_charge(
            ctx, pi, pm, failure=("payment_method_provider_decline", "insufficient_funds")
        )
        pi["status"] = "requires_payment_method"
        pi["latest_charge"] = charge["id"]
        pi["last_payment_error"] = {
            "charge": charge["id"],
            "code": "payment_method_provider_decline",
            "decline_code": "insufficient_funds",
            "message": "The bank declined the debit.",
            "payment_method": copy.deepcopy(pm),
            "type": "card_error",
        }
        em.touch(pi["id"])
        emit(em, ctx.origin, "charge.failed", charge, account=ctx.account)
        emit(em, ctx.origin, "payment_intent.payment_failed", pi, account=ctx.account)
        emit(em, ctx.origin, "checkout.session.async_payment_failed", session, account=ctx.account)
    return session


# -- subscriptions and invoices ---------------------------------------------------------------


def _subscribe(
    ctx: Ctx, session: Obj, cus_id: str | None, pm: Obj, decline: tuple[str, str] | None
) -> None:
    em = ctx.em
    assert cus_id is not None
    if decline is not None:
        raise card_decline(ctx, pm, *decline)
    attach_to(ctx, pm, cus_id)
    em.private[pm["id"]].set_up = True
    items = em.private[session["id"]].extra["line_items"]
    data = em.private[session["id"]].extra["subscription_data"]
    now = em.now()
    recurring = next(it["price"]["recurring"] for it in items if it["price"]["recurring"])
    length = _INTERVALS[recurring["interval"]] * recurring["interval_count"]
    ident = em.new_id("sub")
    sub: Obj = {
        "id": ident,
        "object": "subscription",
        "billing_cycle_anchor": now,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "collection_method": "charge_automatically",
        "created": now,
        "currency": session["currency"],
        "current_period_end": now + length,
        "current_period_start": now,
        "customer": cus_id,
        "default_payment_method": pm["id"],
        "ended_at": None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": em.new_id("si", 14),
                    "object": "subscription_item",
                    "current_period_end": now + length,
                    "current_period_start": now,
                    "price": copy.deepcopy(it["price"]),
                    "quantity": it["quantity"],
                    "subscription": ident,
                }
                for it in items
            ],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={ident}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": dict(data.get("metadata", {})),
        "start_date": now,
        "status": "incomplete",
        "trial_end": None,
        "trial_start": None,
    }
    em.put(
        sub,
        ctx.account,
        extra={"period": length, "amount": sum(it["amount_total"] for it in items)},
    )
    session["subscription"] = ident
    emit(em, ctx.origin, "customer.subscription.created", sub, account=ctx.account)
    invoice = bill(ctx, sub, "subscription_create")
    session["invoice"] = invoice["id"]


def bill(ctx: Ctx, sub: Obj, reason: str) -> Obj:
    """An invoice for the subscription's current period, charged off session on the default
    card: paid, or failed (``past_due``)."""
    em = ctx.em
    amount = em.private[sub["id"]].extra["amount"]
    count = len(em.all_of("invoice", ctx.account))
    ident = em.new_id("in")
    invoice: Obj = {
        "id": ident,
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": 0,
        "amount_remaining": amount,
        "attempt_count": 0,
        "attempted": False,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "created": em.now(),
        "currency": sub["currency"],
        "customer": sub["customer"],
        "hosted_invoice_url": ctx.page(f"receipts/{ident}"),
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": em.new_id("il"),
                    "object": "line_item",
                    "amount": item["price"]["unit_amount"] * item["quantity"],
                    "currency": sub["currency"],
                    "period": {
                        "end": sub["current_period_end"],
                        "start": sub["current_period_start"],
                    },
                    "pricing": {
                        "price_details": {
                            "price": item["price"]["id"],
                            "product": item["price"]["product"],
                        }
                    },
                    "quantity": item["quantity"],
                }
                for item in sub["items"]["data"]
            ],
            "has_more": False,
            "url": f"/v1/invoices/{ident}/lines",
        },
        "livemode": False,
        "metadata": {},
        "number": f"EMU-{em.private[sub['id']].seq:04d}-{count + 1:04d}",
        "parent": {
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            "type": "subscription_details",
        },
        "period_end": sub["current_period_end"],
        "period_start": sub["current_period_start"],
        "status": "draft",
        "subscription": sub["id"],
        "total": amount,
    }
    em.put(invoice, ctx.account)
    sub["latest_invoice"] = ident
    emit(em, ctx.origin, "invoice.created", invoice, account=ctx.account)
    invoice["status"] = "open"
    emit(em, ctx.origin, "invoice.finalized", invoice, account=ctx.account)
    return charge_invoice(ctx, sub, invoice, reason)


def charge_invoice(ctx: Ctx, sub: Obj, invoice: Obj, reason: str) -> Obj:
    """Charge an open invoice on the subscription's default card: ``invoice.paid`` (and the
    subscription active), or ``invoice.payment_failed`` / ``invoice.payment_action_required``
    (the subscription ``past_due``; ``incomplete`` for its first invoice)."""
    em = ctx.em
    amount = invoice["amount_due"]
    previous_status = sub["status"]
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    try:
        pi = intents.create_payment_intent(
            ctx,
            {
                "amount": str(amount),
                "currency": sub["currency"],
                "customer": sub["customer"],
                "description": "Subscription "
                + ("creation" if reason == "subscription_create" else "update"),
            },
        )
        pm = em.objects[sub["default_payment_method"]]
        if reason == "subscription_create":  # on the Checkout page: 3-D Secure done there
            pi["payment_method"] = pm["id"]
            intents.settle_payment(ctx, pi, pm)
        else:
            intents.confirm_payment_intent(
                ctx, {"payment_method": pm["id"], "off_session": "true"}, pi["id"]
            )
    except StripeError as exc:
        code = exc.body["error"].get("code")
        sub["status"] = "past_due" if reason != "subscription_create" else "incomplete"
        kind = (
            "invoice.payment_action_required"
            if code == "authentication_required"
            else "invoice.payment_failed"
        )
        emit(em, ctx.origin, kind, invoice, account=ctx.account)
    else:
        invoice["status"] = "paid"
        invoice["amount_paid"] = amount
        invoice["amount_remaining"] = 0
        invoice["payments"] = {
            "object": "list",
            "data": [{"payment": {"payment_intent": pi["id"], "type": "payment_intent"}}],
        }
        sub["status"] = "active"
        emit(em, ctx.origin, "invoice.paid", invoice, account=ctx.account)
        emit(em, ctx.origin, "invoice.payment_succeeded", invoice, account=ctx.account)
    if sub["status"] != previous_status:
        emit(
            em,
            ctx.origin,
            "customer.subscription.updated",
            sub,
            previous={"status": previous_status},
            account=ctx.account,
        )
    return invoice


def use_card(ctx: Ctx, sub: Obj, method: str) -> None:
    """The subscription's default card becomes ``method`` (a test id such as
    ``pm_card_chargeDeclinedInsufficientFunds``: a new pm_ attached to its customer)."""
    pm = payment_method(ctx, method)
    if pm["customer"] is None:
        attach_to(ctx, pm, sub["customer"])
    elif pm["customer"] != sub["customer"]:
        raise invalid("The PaymentMethod belongs to another customer.", param="payment_method")
    sub["default_payment_method"] = pm["id"]


def pay_invoice(ctx: Ctx, params: Params, ident: str) -> Obj:
    """``POST /v1/invoices/{id}/pay``: charge an open subscription invoice again (optionally
    on ``payment_method``, which becomes the subscription's default card)."""
    forms.only(params, ("payment_method", "off_session"))
    invoice = ctx.em.get(ident, ctx.account, "invoice")
    if invoice["status"] == "paid":
        raise invalid("Invoice is already paid.")
    if invoice["status"] != "open":
        raise invalid(f"This invoice is {invoice['status']} and cannot be paid.")
    sub = ctx.em.get(invoice["subscription"], ctx.account, "subscription")
    method = forms.string(params, "payment_method")
    if method is not None:
        use_card(ctx, sub, method)
    return charge_invoice(ctx, sub, invoice, "subscription_cycle")


def advance(ctx: Ctx, sub: Obj, payment_method: str | None = None) -> Obj:
    """``_admin``: the subscription enters its next period and is billed (on
    ``payment_method`` when given: it becomes the default card, e.g. a declining one)."""
    if sub["status"] == "canceled":
        raise invalid("This subscription is canceled.")
    if payment_method is not None:
        use_card(ctx, sub, payment_method)
    length = ctx.em.private[sub["id"]].extra["period"]
    previous = {
        "current_period_start": sub["current_period_start"],
        "current_period_end": sub["current_period_end"],
    }
    sub["current_period_start"] = sub["current_period_end"]
    sub["current_period_end"] += length
    for item in sub["items"]["data"]:
        item["current_period_start"] = sub["current_period_start"]
        item["current_period_end"] = sub["current_period_end"]
    emit(
        ctx.em,
        ctx.origin,
        "customer.subscription.updated",
        sub,
        previous=previous,
        account=ctx.account,
    )
    return bill(ctx, sub, "subscription_cycle")


def retrieve_subscription(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "subscription")


def list_subscriptions(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("customer", "status", "price", "limit", "starting_after", "ending_before"))
    cus_id = forms.string(params, "customer")
    status = forms.string(params, "status")
    rows = [
        s
        for s in ctx.em.all_of("subscription", ctx.account)
        if (cus_id is None or s["customer"] == cus_id)
        and (status in (None, "all") or s["status"] == status)
        and (status is not None or s["status"] != "canceled")
    ]
    return page(ctx, rows, params, "/v1/subscriptions")


def cancel_subscription(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ("invoice_now", "prorate", "cancellation_details"))
    sub = ctx.em.get(ident, ctx.account, "subscription")
    if sub["status"] == "canceled":
        raise invalid("This subscription is already canceled.", code="resource_missing")
    previous = {"status": sub["status"]}
    sub["status"] = "canceled"
    sub["canceled_at"] = sub["ended_at"] = ctx.em.now()
    emit(
        ctx.em,
        ctx.origin,
        "customer.subscription.deleted",
        sub,
        previous=previous,
        account=ctx.account,
    )
    return sub


def retrieve_invoice(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "invoice")


def list_invoices(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params, ("customer", "subscription", "status", "limit", "starting_after", "ending_before")
    )
    cus_id = forms.string(params, "customer")
    sub_id = forms.string(params, "subscription")
    status = forms.string(params, "status")
    rows = [
        i
        for i in ctx.em.all_of("invoice", ctx.account)
        if (cus_id is None or i["customer"] == cus_id)
        and (sub_id is None or i["subscription"] == sub_id)
        and (status is None or i["status"] == status)
    ]
    return page(ctx, rows, params, "/v1/invoices")


ROUTES: tuple[tuple[str, str, Any, str], ...] = (
    ("POST", "/v1/products", create_product, "products"),
    ("GET", "/v1/products", list_products, "products"),
    ("GET", "/v1/products/{id}", retrieve_product, "products"),
    ("POST", "/v1/products/{id}", update_product, "products"),
    ("POST", "/v1/prices", create_price, "prices"),
    ("GET", "/v1/prices", list_prices, "prices"),
    ("GET", "/v1/prices/{id}", retrieve_price, "prices"),
    ("POST", "/v1/checkout/sessions", create_session, "checkout"),
    ("GET", "/v1/checkout/sessions", list_sessions, "checkout"),
    ("GET", "/v1/checkout/sessions/{id}", retrieve_session, "checkout"),
    ("POST", "/v1/checkout/sessions/{id}/expire", expire_session, "checkout"),
    ("GET", "/v1/checkout/sessions/{id}/line_items", session_line_items, "checkout"),
    ("GET", "/v1/subscriptions", list_subscriptions, "subscriptions"),
    ("GET", "/v1/subscriptions/{id}", retrieve_subscription, "subscriptions"),
    ("DELETE", "/v1/subscriptions/{id}", cancel_subscription, "subscriptions"),
    ("POST", "/v1/subscriptions/{id}/cancel", cancel_subscription, "subscriptions"),
    ("GET", "/v1/invoices", list_invoices, "invoices"),
    ("GET", "/v1/invoices/{id}", retrieve_invoice, "invoices"),
    ("POST", "/v1/invoices/{id}/pay", pay_invoice, "invoices"),
)
