"""Hosted pages (HTML forms, no JavaScript), the emulator's stand-ins for Stripe.js and
Stripe's hosted flows:

- ``GET/POST pages/setup/{seti}?client_secret=&return_url=``: pick a test card and save it
  (confirms the SetupIntent); redirects to ``return_url`` with ``setup_intent``,
  ``setup_intent_client_secret`` and ``redirect_status`` (``succeeded`` or ``failed``), or to
  the 3-D Secure page first when the card asks for authentication.
- ``GET/POST pages/authenticate/{pi|seti}?client_secret=&return_url=``: the 3-D Secure
  challenge of an intent in ``requires_action``: Complete or Fail; then redirects to
  ``return_url`` with ``payment_intent``/``setup_intent``, the client secret and
  ``redirect_status``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sellerhub_emulators.common.httputil import is_absolute_http_url, read_params, with_query
from sellerhub_emulators.common.pages import hidden_inputs, html_page
from sellerhub_emulators.stripe import constants as c
from sellerhub_emulators.stripe import events, intents
from sellerhub_emulators.stripe.cards import CARDS
from sellerhub_emulators.stripe.context import Ctx
from sellerhub_emulators.stripe.errors import StripeError
from sellerhub_emulators.stripe.events import Origin
from sellerhub_emulators.stripe.state import StripeEmulator

Obj = dict[str, Any]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return html_page(title, body, banner=c.BANNER, status_code=status)


def _error(message: str, status: int = 400) -> HTMLResponse:
    return _page("Stripe emulator", f"<h1>Cannot continue</h1><p>{escape(message)}</p>", status)


def page_root(request: Request) -> str:
    url = str(request.url).split("?", 1)[0]
    return url[: url.index("/pages/")]


def page_ctx(em: StripeEmulator, request: Request, account: str | None) -> Ctx:
    return Ctx(em, account, Origin(em.new_id("req", 14), None), page_root(request))


def _finish(url: str | None, params: dict[str, str | None], outcome: str) -> Response:
    if url and is_absolute_http_url(url):
        return RedirectResponse(with_query(url, params), status_code=303)
    rows = "".join(
        f"<li><code>{escape(k)}</code> = <code>{escape(v or '')}</code></li>"
        for k, v in params.items()
    )
    return _page("Done", f"<h1>{escape(outcome)}</h1><ul>{rows}</ul>")


def _intent(em: StripeEmulator, ident: str, secret: str | None) -> Obj | None:
    obj = em.objects.get(ident)
    if obj is None or obj.get("object") not in ("payment_intent", "setup_intent"):
        return None
    if secret != obj.get("client_secret"):
        return None
    return obj


def _card_choices(selected: str = "pm_card_visa") -> str:
    rows = []
    for pm_id, spec in CARDS.items():
        checked = " checked" if pm_id == selected else ""
        rows.append(
            f'<label><input type="radio" name="payment_method" value="{escape(pm_id)}"{checked}> '
            f"{escape(spec.brand.title())} •••• {escape(spec.last4)} — {escape(spec.label)}</label>"
        )
    return "\n".join(rows)


def add_page_routes(router: APIRouter, em: StripeEmulator) -> None:
    @router.get("/pages/setup/{ident}", include_in_schema=False)
    async def setup_form(request: Request, ident: str) -> Response:
        q = request.query_params
        si = _intent(em, ident, q.get("client_secret"))
        if si is None or si["object"] != "setup_intent":
            return _error("Unknown SetupIntent or wrong client secret.", 404)
        if si["status"] not in ("requires_payment_method", "requires_confirmation"):
            return _error(f"This SetupIntent has status {si['status']}.", 409)
        fields = hidden_inputs(
            {"client_secret": q.get("client_secret"), "return_url": q.get("return_url")}
        )
        for_customer = (
            f" for customer <code>{escape(si['customer'])}</code>" if si["customer"] else ""
        )
        body = (
            "<h1>Save a card</h1>"
            f"<p>SetupIntent <code>{escape(ident)}</code>"
            f"{for_customer}."
            " Pick one of Stripe's test cards.</p>"
            f'<form method="post">{fields}{_card_choices()}'
            '<button type="submit" name="action" value="save">Save card</button></form>'
        )
        return _page("Save a card", body)

    @router.post("/pages/setup/{ident}", include_in_schema=False)
    async def setup_submit(request: Request, ident: str) -> Response:
        form = await read_params(request) or {}
        secret = form.get("client_secret")
        si = _intent(em, ident, secret)
        if si is None or si["object"] != "setup_intent":
            return _error("Unknown SetupIntent or wrong client secret.", 404)
        return_url = form.get("return_url") or None
        pm_id = form.get("payment_method", "")
        if pm_id not in CARDS:
            return _error("Pick one of the listed cards.")
        ctx = page_ctx(em, request, em.owner.get(ident))
        em.pending = []
        status = "succeeded"
        try:
            intents.confirm_setup_intent(
                ctx, {"payment_method": pm_id, "return_url": return_url or ""}, ident
            )
        except StripeError:
            status = "failed"
        events.flush(em)
        if si["status"] == "requires_action":
            return RedirectResponse(si["next_action"]["redirect_to_url"]["url"], status_code=303)
        return _finish(
            return_url,
            {
                "setup_intent": ident,
                "setup_intent_client_secret": secret,
                "redirect_status": status,
            },
            f"Setup {status}",
        )

    @router.get("/pages/authenticate/{ident}", include_in_schema=False)
    async def auth_form(request: Request, ident: str) -> Response:
        q = request.query_params
        obj = _intent(em, ident, q.get("client_secret"))
        if obj is None:
            return _error("Unknown intent or wrong client secret.", 404)
        if obj["status"] != "requires_action":
            return _error(f"Nothing to authenticate: the intent has status {obj['status']}.", 409)
        what = (
            f"a payment of {obj['amount']} {escape(obj['currency'].upper())} (minor units)"
            if obj["object"] == "payment_intent"
            else "saving your card for later payments"
        )
        fields = hidden_inputs(
            {"client_secret": q.get("client_secret"), "return_url": q.get("return_url")}
        )
        body = (
            "<h1>3-D Secure 2 test page</h1>"
            f"<p>Your bank asks you to confirm {what} (<code>{escape(ident)}</code>).</p>"
            f'<form method="post">{fields}'
            '<button type="submit" name="action" value="complete">Complete authentication</button>'
            '<button type="submit" name="action" value="fail">Fail authentication</button>'
            "</form>"
        )
        return _page("3-D Secure", body)

    @router.post("/pages/authenticate/{ident}", include_in_schema=False)
    async def auth_submit(request: Request, ident: str) -> Response:
        form = await read_params(request) or {}
        secret = form.get("client_secret")
        obj = _intent(em, ident, secret)
        if obj is None:
            return _error("Unknown intent or wrong client secret.", 404)
        if obj["status"] != "requires_action":
            return _error(f"Nothing to authenticate: the intent has status {obj['status']}.", 409)
        return_url = form.get("return_url") or em.private[ident].extra.get("return_url")
        success = form.get("action") == "complete"
        ctx = page_ctx(em, request, em.owner.get(ident))
        em.pending = []
        kind = obj["object"]
        status = "succeeded"
        try:
            pm = em.objects[obj["payment_method"]]
            if kind == "setup_intent":
                if success:
                    intents.succeed_setup(ctx, obj, pm)
                else:
                    intents.fail_setup(ctx, obj, pm, "setup_intent_authentication_failure", None)
                    status = "failed"
            elif success:
                intents.settle_payment(ctx, obj, pm)
            else:
                intents.fail_authentication(ctx, obj)
                status = "failed"
        except StripeError:
            status = "failed"
        events.flush(em)
        return _finish(
            return_url,
            {kind: ident, f"{kind}_client_secret": secret, "redirect_status": status},
            f"Authentication {status}",
        )


def add_onboarding_routes(router: APIRouter, em: StripeEmulator) -> None:
    """``pages/onboarding/{token}``: an Account Link's hosted onboarding. The first visit uses
    the link (single use); a used or expired link redirects to ``refresh_url``. Submitting
    completes the requirements and redirects to ``return_url``."""

    def _usable(token: str) -> tuple[dict[str, Any] | None, Response | None]:
        link = em.account_links.get(token)
        if link is None:
            return None, _error("Unknown account link.", 404)
        return link, None

    @router.get("/pages/onboarding/{token}", include_in_schema=False)
    async def onboarding_form(request: Request, token: str) -> Response:
        link, problem = _usable(token)
        if link is None:
            return problem or _error("Unknown account link.", 404)
        if link["state"] != "new" or em.elapsed() >= link["expires_at"]:
            link["state"] = "spent"
            return RedirectResponse(link["refresh_url"], status_code=303)
        link["state"] = "visited"
        acct = em.objects[link["account"]]
        due = ", ".join(acct["requirements"]["currently_due"]) or "nothing"
        fields = hidden_inputs({"session": token})
        name = acct["business_profile"].get("name") or ""
        body = (
            f"<h1>{'Verify' if link['type'] == 'account_update' else 'Set up'} your payouts</h1>"
            f"<p>Connected account <code>{escape(acct['id'])}</code> "
            f"({escape(acct['country'])}, {escape(acct['email'] or 'no email')}). "
            f"Still due: {escape(due)}.</p>"
            f'<form method="post">{fields}'
            '<label for="f-name">Business name</label>'
            f'<input type="text" id="f-name" name="business_name" value="{escape(name)}">'
            '<button type="submit" name="action" value="submit">Submit</button>'
            '<button type="submit" name="action" value="leave">Leave for now</button>'
            "</form>"
        )
        return _page("Stripe Connect onboarding", body)

    @router.post("/pages/onboarding/{token}", include_in_schema=False)
    async def onboarding_submit(request: Request, token: str) -> Response:
        link, problem = _usable(token)
        if link is None:
            return problem or _error("Unknown account link.", 404)
        form = await read_params(request) or {}
        if link["state"] != "visited" or form.get("session") != token:
            return RedirectResponse(link["refresh_url"], status_code=303)
        link["state"] = "spent"
        if form.get("action") != "submit":
            return RedirectResponse(link["return_url"], status_code=303)
        from sellerhub_emulators.stripe.connect import complete_onboarding

        acct = em.objects[link["account"]]
        ctx = page_ctx(em, request, None)
        em.pending = []
        complete_onboarding(ctx, acct, name=(form.get("business_name") or "").strip() or None)
        events.flush(em)
        return RedirectResponse(link["return_url"], status_code=303)


def add_checkout_routes(router: APIRouter, em: StripeEmulator) -> None:
    """``pages/checkout/{cs}``: the hosted Checkout page (see ``checkout.py``) and
    ``pages/receipts/{id}``: a receipt for a charge or an invoice."""
    from sellerhub_emulators.stripe import checkout
    from sellerhub_emulators.stripe.cards import ASYNC_METHODS

    def _render(session: Obj, error: str | None = None, status: int = 200) -> HTMLResponse:
        items = em.private[session["id"]].extra["line_items"]
        rows = "".join(
            f"<li>{escape(str(it['description']))} x {it['quantity']}: "
            f"{it['amount_total']} {escape(it['currency'].upper())}</li>"
            for it in items
        )
        currency = escape(str(session["currency"]).upper())
        total = (
            f"<p>Total: <strong>{session['amount_total']} {currency}</strong> (minor units)</p>"
            if session["mode"] != "setup"
            else "<p>Save a card for later payments.</p>"
        )
        choices = _card_choices()
        if session["mode"] == "payment":
            choices += "".join(
                f'<label><input type="radio" name="payment_method" value="{escape(k)}"> '
                f"{escape(label)}</label>"
                for k, (label, _) in ASYNC_METHODS.items()
            )
        email = ""
        if session["customer"] is None:
            email = (
                '<label for="f-email">Email</label><input type="email" id="f-email" name="email" '
                f'value="{escape(session["customer_email"] or "")}">'
            )
        verb = {"payment": "Pay", "setup": "Save card", "subscription": "Subscribe"}[
            session["mode"]
        ]
        problem = f'<p role="alert"><strong>{escape(error)}</strong></p>' if error else ""
        body = (
            f"<h1>Checkout ({escape(session['mode'])})</h1>{problem}<ul>{rows}</ul>{total}"
            f'<form method="post">{email}{choices}'
            f'<button type="submit" name="action" value="pay">{verb}</button>'
            '<button type="submit" name="action" value="cancel">Cancel</button></form>'
        )
        return _page("Checkout", body, status)

    def _session(request: Request, ident: str) -> tuple[Obj | None, Ctx]:
        found = em.objects.get(ident)
        ctx = page_ctx(em, request, em.owner.get(ident))
        if found is None or found.get("object") != "checkout.session":
            return None, ctx
        return found, ctx

    @router.get("/pages/checkout/{ident}", include_in_schema=False)
    async def checkout_form(request: Request, ident: str) -> Response:
        session, ctx = _session(request, ident)
        if session is None:
            return _error("Unknown Checkout Session.", 404)
        em.pending = []
        checkout.check_expiry(ctx, session)
        events.flush(em)
        if session["status"] != "open":
            return _error(f"This Checkout Session is {session['status']}.", 409)
        return _render(session)

    @router.post("/pages/checkout/{ident}", include_in_schema=False)
    async def checkout_submit(request: Request, ident: str) -> Response:
        session, ctx = _session(request, ident)
        if session is None:
            return _error("Unknown Checkout Session.", 404)
        form = await read_params(request) or {}
        em.pending = []
        checkout.check_expiry(ctx, session)
        if session["status"] != "open":
            events.flush(em)
            return _error(f"This Checkout Session is {session['status']}.", 409)
        if form.get("action") == "cancel":
            cancel = session["cancel_url"]
            if cancel:
                return RedirectResponse(cancel, status_code=303)
            return _page("Canceled", "<h1>Checkout canceled</h1>")
        try:
            checkout.complete_session(
                ctx, session, form.get("payment_method", ""), form.get("email") or None
            )
        except StripeError as exc:
            events.flush(em)
            return _render(session, str(exc.body["error"]["message"]), 402)
        events.flush(em)
        target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", ident)
        return RedirectResponse(target, status_code=303)

    @router.get("/pages/receipts/{ident}", include_in_schema=False)
    async def receipt(ident: str) -> Response:
        obj = em.objects.get(ident)
        if obj is None or obj.get("object") not in ("charge", "invoice"):
            return _error("Unknown receipt.", 404)
        amount = obj.get("amount", obj.get("amount_due"))
        body = (
            f"<h1>Receipt</h1><p><code>{escape(ident)}</code>: {amount} "
            f"{escape(str(obj['currency']).upper())} (minor units), status "
            f"<code>{escape(str(obj['status']))}</code>.</p>"
        )
        return _page("Receipt", body)
