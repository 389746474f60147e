"""The connections page (``/connections``): the organization's connections with their status in
words, and the ways to add one — Connect Channel (Amazon SP-API by region, Amazon Ads, Shopify
by shop, WooCommerce by store URL), Connect Carrier (FedEx, DHL credentials) and manual
credentials (WooCommerce REST keys, a self-authorized SP-API refresh token).

Everything calls the connection domain's flows and service, exactly as the JSON API does, with
the same roles: any member sees the page and may run the live check; connecting, reconnecting
and disconnecting need an owner or admin (the buttons say so). A consent leaves the site: the
route starts the flow (the state committed, the browser-binding cookie set) and answers htmx
with ``HX-Redirect`` to the provider, never a form-submission redirect (CSP form-action). The
callbacks come back here: ``?connected=<provider>`` or ``?failed=<code>`` (see
``connections/endpoints/failures.py``), each shown in fixed words — nothing from the URL is
echoed. Forms answer 200 with the form again and the reason in words when something is wrong;
secrets typed into a form are never sent back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from sellerhub.connections import service as connections
from sellerhub.connections.errors import CarrierUnavailable, CredentialsRejected, InvalidShop
from sellerhub.connections.flows import amazon_ads, amazon_sp, manual, shopify, woocommerce
from sellerhub.connections.flows import check as live_check
from sellerhub.connections.flows.base import FlowContext
from sellerhub.connections.refresh import RefreshContext
from sellerhub.connections.schemas import (
    AmazonCredentials,
    CarrierCredentials,
    ConnectionOut,
    WooCommerceCredentials,
)
from sellerhub.core.errors import Conflict, NotFound, ValidationFailed
from sellerhub.core.ssrf import UnsafeUrl, normalize_store_url
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.identity.oauth_states.responses import bind_browser
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import Viewer, check_form_csrf, require_viewer
from sellerhub.web.templating import PROVIDER_LABELS, render

router = APIRouter(include_in_schema=False, route_class=WebRoute)
M = TypeVar("M", bound=BaseModel)

PAGE = "/connections"
PROVIDERS = PROVIDER_LABELS
REGIONS = (("na", "North America"), ("eu", "Europe"), ("fe", "Far East"))
ADMIN_NEEDED = "Only an owner or admin of the organization can connect or disconnect accounts."

# ``?connected=<code>``: fixed words; an unknown code shows nothing.
CONNECTED = {
    "amazon_spapi": "Amazon Seller Central is connected.",
    "amazon_ads": "Amazon Ads is connected.",
    "shopify": "Your Shopify shop is connected.",
    "woocommerce": "Your WooCommerce store granted access. Its connection is listed below.",
    "fedex": "FedEx is connected.",
    "dhl": "DHL eCommerce is connected.",
    "manual_woocommerce": "The WooCommerce keys are saved.",
    "manual_amazon": "The Amazon refresh token is saved.",
}
# ``?failed=<code>`` (every code of ``connections/endpoints/failures.CODES``): fixed words.
FAILURES = {
    "state-expired": "Connection failed: the authorization took longer than 10 minutes. "
    "Please start again.",
    "state-replayed": "Connection failed: this authorization link was already used. "
    "Please start again.",
    "state-browser": "Connection failed: the authorization was finished in another browser "
    "than the one that started it. Please start again in this browser.",
    "amazon-denied": "Connection failed: you denied permission on Amazon, so Amazon Seller "
    "Central was not connected.",
    "amazon-md1000": "Connection failed (Amazon error MD1000): this sellerhub's Amazon app is "
    "still a draft and must be authorized in beta mode. Ask whoever runs sellerhub to turn on "
    "the draft setting, then try again.",
    "amazon-md5101": "Connection failed (Amazon error MD5101): this sellerhub's return address "
    "is not registered with its Amazon app. Ask whoever runs sellerhub to add it to the app on "
    "Amazon, then try again.",
    "amazon-md5110": "Connection failed (Amazon error MD5110): this sellerhub's return address "
    "is not valid for its Amazon app. Ask whoever runs sellerhub to correct it on Amazon, then "
    "try again.",
    "amazon-check-failed": "Connection failed: Amazon accepted the authorization but the "
    "Selling Partner API did not confirm access. Please try again in a few minutes.",
    "amazon-failed": "Connection failed: Amazon did not complete the authorization. "
    "Please try again.",
    "ads-denied": "Connection failed: you denied permission on Amazon, so Amazon Ads was not "
    "connected.",
    "ads-check-failed": "Connection failed: the Amazon Ads API did not confirm access. "
    "Please try again in a few minutes.",
    "ads-failed": "Connection failed: Amazon Ads was not connected (the authorization did not "
    "complete, or the account has no advertising profile). Please try again.",
    "shopify-denied": "Connection failed: the app installation was cancelled on Shopify, so the "
    "shop was not connected.",
    "shopify-invalid-shop": "Connection failed: that is not a Shopify shop address. Enter it "
    "like your-store.myshopify.com.",
    "shopify-rejected": "Connection failed: Shopify's answer could not be verified. "
    "Please start again from this page.",
    "shopify-failed": "Connection failed: Shopify did not complete the installation. "
    "Please try again.",
    "woocommerce-denied": "Connection failed: the store did not grant access, so WooCommerce "
    "was not connected.",
}

# What each form field must be, in words (pydantic's own messages name regular expressions).
FIELD_HINTS = {
    "client_id": "Enter the API key (client id).",
    "client_secret": "Enter the secret key.",
    "account_number": "Enter the account number (at most 64 characters).",
    "environment": "Choose production or sandbox.",
    "store_url": "Enter the store's address, like https://shop.example.com.",
    "consumer_key": "The consumer key is ck_ followed by 40 characters from 0-9 and a-f.",
    "consumer_secret": "The consumer secret is cs_ followed by 40 characters from 0-9 and a-f.",
    "selling_partner_id": "The selling partner id is 8 to 20 capital letters and digits.",
    "refresh_token": "The refresh token starts with Atzr| (copy it whole from Seller Central).",
    "region": "Choose a region.",
    "lwa_client_id": "At most 200 characters.",
    "lwa_client_secret": "At most 500 characters.",
}
SECRET_FIELDS = frozenset(
    {"client_id", "client_secret", "consumer_key", "consumer_secret", "refresh_token"}
    | {"lwa_client_secret"}
)


@dataclass(frozen=True)
class Reconnect:
    """How a connection that needs re-authorization is connected again: a button that starts
    its flow (``action`` with ``fields``), or a link to the form for new credentials."""

    action: str | None
    fields: dict[str, str]
    href: str | None
    label: str


@dataclass(frozen=True)
class Card:
    connection: ConnectionOut
    name: str
    reason: str
    reconnect: Reconnect | None
    check: live_check.CheckOutcome | None = None


def _flow_context(request: Request) -> FlowContext:
    runtime = runtime_of(request)
    return FlowContext(runtime.sessionmaker, runtime.keyring, runtime.settings, runtime.http)


def _refresh_context(request: Request) -> RefreshContext:
    runtime = runtime_of(request)
    return RefreshContext(runtime.sessionmaker, runtime.keyring, runtime.settings, runtime.http)


def _reason(c: ConnectionOut) -> str:
    if c.status == "connected":
        return c.status_reason or "Working: sellerhub keeps its access fresh."
    if c.status == "error":
        return (
            c.status_reason or "The last refresh failed"
        ) + ". sellerhub tries again on its own."
    if c.status == "needs_reauth":
        why = c.status_reason or "the provider no longer accepts sellerhub's access"
        return f"{why[:1].upper()}{why[1:]}. Reconnect to give sellerhub access again."
    return "Disconnected: sellerhub no longer uses it, and its secrets were deleted."


def _reconnect(c: ConnectionOut) -> Reconnect | None:
    """How to connect the account again: the same consent, or the form its credentials came
    from — for a connection that needs re-authorization or was disconnected."""
    if c.status not in ("needs_reauth", "disconnected"):
        return None
    details, source = c.details, str(c.details.get("source", ""))
    region = str(details.get("region") or "na")
    if c.provider == "amazon_spapi" and source != "manual":
        return Reconnect(f"{PAGE}/amazon-sp", {"region": region}, None, "Reconnect")
    if c.provider == "amazon_ads":
        return Reconnect(f"{PAGE}/amazon-ads", {"region": region}, None, "Reconnect")
    if c.provider == "shopify":
        shop = str(details.get("shop") or c.external_account_id)
        return Reconnect(f"{PAGE}/shopify", {"shop": shop}, None, "Reconnect")
    if c.provider == "woocommerce" and source == "key_grant":
        store = str(details.get("store_url") or c.external_account_id)
        return Reconnect(f"{PAGE}/woocommerce", {"store_url": store}, None, "Reconnect")
    if c.provider == "woocommerce":
        return Reconnect(None, {}, "#manual-woocommerce", "Enter new keys")
    if c.provider == "amazon_spapi":
        return Reconnect(None, {}, "#manual-amazon", "Enter a new refresh token")
    return Reconnect(None, {}, f"#connect-{c.provider}", "Enter new credentials")


def card(c: ConnectionOut, outcome: live_check.CheckOutcome | None = None) -> Card:
    name = PROVIDERS.get(c.provider, c.provider)
    return Card(c, name, _reason(c), _reconnect(c), outcome)


def _base(viewer: Viewer) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "can_change": viewer.is_admin,
        "admin_needed": ADMIN_NEEDED,
        "regions": REGIONS,
        "providers": PROVIDERS,
    }


@router.get(PAGE)
async def connections_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        rows = [
            connections.describe(c)
            for c in await connections.list_connections(session, include_disconnected=True)
        ]
    connected = request.query_params.get("connected", "")
    failed = request.query_params.get("failed", "")
    return render(
        request,
        "connections.html",
        _base(viewer)
        | {
            "nav": PAGE,
            "cards": [card(c) for c in rows if c.status != "disconnected"],
            "gone": [card(c) for c in rows if c.status == "disconnected"],
            "success": CONNECTED.get(connected, ""),
            "failure": FAILURES.get(failed, ""),
        },
    )


# --- starting a consent: htmx gets the provider's URL as HX-Redirect -----------------------


def _to_provider(url: str, started: Any, request: Request) -> Response:
    response = Response(status_code=204, headers={"HX-Redirect": url})
    return bind_browser(response, started, secure=runtime_of(request).settings.cookie_secure)


async def _admin(request: Request) -> Viewer:
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    return viewer


def _region(value: object) -> str:
    region = str(value or "na")
    if region not in dict(REGIONS):
        raise ValidationFailed("choose a region: North America, Europe or Far East")
    return region


async def _connect_amazon(request: Request, flow: ModuleType, provider: str) -> Response:
    """Start a Seller Central (``amazon_sp``) or Amazon Ads (``amazon_ads``) consent in the
    region the form names; the browser is sent on by ``HX-Redirect``."""
    viewer = await _admin(request)
    form = await request.form()
    runtime = runtime_of(request)
    async with unit_of_work(runtime.sessionmaker) as session:
        url, started = await flow.begin(
            session,
            runtime.keyring,
            runtime.settings,
            cookies=request.cookies,
            region=_region(form.get("region")),
            next_url=f"{PAGE}?connected={provider}",
            organization_id=viewer.principal.organization_id,
            user_id=viewer.principal.user_id,
        )
    return _to_provider(url, started, request)


@router.post(f"{PAGE}/amazon-sp")
async def connect_amazon_sp(request: Request) -> Response:
    return await _connect_amazon(request, amazon_sp, "amazon_spapi")


@router.post(f"{PAGE}/amazon-ads")
async def connect_amazon_ads(request: Request) -> Response:
    return await _connect_amazon(request, amazon_ads, "amazon_ads")


@router.post(f"{PAGE}/shopify")
async def connect_shopify(request: Request) -> Response:
    viewer = await _admin(request)
    shop = str((await request.form()).get("shop") or "").strip()[:200]
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            url, started = await shopify.begin(
                session,
                runtime.keyring,
                runtime.settings,
                cookies=request.cookies,
                shop=shop,
                next_url=f"{PAGE}?connected=shopify",
                organization_id=viewer.principal.organization_id,
                user_id=viewer.principal.user_id,
            )
    except InvalidShop:
        message = (
            "Enter your shop's address, like your-store.myshopify.com."
            if not shop
            else "That is not a Shopify shop address. Enter it like your-store.myshopify.com "
            "(the address Shopify gave your shop, not its own domain)."
        )
        return _form(request, viewer, "partials/connection_shopify.html", {"shop": shop}, message)
    return _to_provider(url, started, request)


@router.post(f"{PAGE}/woocommerce")
async def connect_woocommerce(request: Request) -> Response:
    viewer = await _admin(request)
    store_url = str((await request.form()).get("store_url") or "").strip()[:500]
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            url, started = await woocommerce.begin(
                session,
                runtime.keyring,
                runtime.settings,
                cookies=request.cookies,
                store_url=store_url,
                next_url=f"{PAGE}?connected=woocommerce",
                organization_id=viewer.principal.organization_id,
                user_id=viewer.principal.user_id,
            )
    except UnsafeUrl as exc:
        return _form(
            request,
            viewer,
            "partials/connection_woocommerce.html",
            {"store_url": store_url},
            _store_words(exc.detail),
        )
    return _to_provider(url, started, request)


def _store_words(detail: str) -> str:
    text = detail.replace("store_url", "the store address", 1)
    return f"{text[:1].upper()}{text[1:]}."


# --- forms with credentials: checked live, saved, never sent back ---------------------------


def _form(
    request: Request,
    viewer: Viewer,
    template: str,
    values: dict[str, Any],
    message: str = "",
    errors: dict[str, str] | None = None,
) -> Response:
    """The form again, with what was wrong in words; secrets are never among ``values``."""
    kept = {k: v for k, v in values.items() if k not in SECRET_FIELDS}
    return render(
        request,
        template,
        _base(viewer) | {"values": kept, "message": message, "errors": errors or {}},
    )


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for item in exc.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        errors.setdefault(field, FIELD_HINTS.get(field, "This value is not valid."))
    return errors


def _parse(model: type[M], values: dict[str, Any]) -> M:
    return model.model_validate({k: v for k, v in values.items() if v not in ("", None)})


async def _values(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    form = await request.form()
    return {f: str(form.get(f) or "").strip() for f in fields}


@router.post(f"{PAGE}/carriers/{{carrier}}")
async def connect_carrier(request: Request, carrier: str) -> Response:
    if carrier not in ("fedex", "dhl"):
        raise NotFound("no such carrier")
    viewer = await _admin(request)
    fields = ("client_id", "client_secret", "account_number", "environment")
    values = await _values(request, fields)
    template = f"partials/connection_{carrier}.html"
    name = PROVIDERS[carrier]
    try:
        body = _parse(CarrierCredentials, values)
        async with unit_of_work(runtime_of(request).sessionmaker) as session:
            set_tenant(session, viewer.principal.organization_id)
            await connections.connect_carrier(
                session, _refresh_context(request), viewer.principal, carrier, body
            )
    except ValidationError as exc:
        return _form(request, viewer, template, values, errors=_field_errors(exc))
    except CredentialsRejected:
        message = (
            f"{name} did not accept this API key and secret key, so nothing was saved. "
            f"Check both in your {name} developer account (production keys for production, "
            "test keys for sandbox) and enter them again."
        )
        return _form(request, viewer, template, values, message)
    except CarrierUnavailable:
        message = (
            f"{name} could not be reached to check the credentials, so nothing was saved. "
            "Please try again in a few minutes."
        )
        return _form(request, viewer, template, values, message)
    except ValidationFailed as exc:  # FedEx without the account number
        fields_named = [str(e.get("field")) for e in exc.extra.get("errors", [])]
        errors = {f: FIELD_HINTS[f] for f in fields_named if f in FIELD_HINTS}
        return _form(request, viewer, template, values, "" if errors else exc.detail, errors)
    return Response(status_code=204, headers={"HX-Redirect": f"{PAGE}?connected={carrier}"})


async def _active_accounts(request: Request, viewer: Viewer, provider: str) -> set[str]:
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        rows = await connections.list_connections(session)
    return {c.external_account_id for c in rows if c.provider == provider}


@router.post(f"{PAGE}/manual/woocommerce")
async def manual_woocommerce(request: Request) -> Response:
    viewer = await _admin(request)
    values = await _values(request, ("store_url", "consumer_key", "consumer_secret"))
    template = "partials/connection_manual_woocommerce.html"
    try:
        body = _parse(WooCommerceCredentials, values)
        store = normalize_store_url(body.store_url)
        replace = store in await _active_accounts(request, viewer, "woocommerce")
        async with unit_of_work(runtime_of(request).sessionmaker) as session:
            set_tenant(session, viewer.principal.organization_id)
            await manual.save_woocommerce(
                session,
                _flow_context(request),
                organization_id=viewer.principal.organization_id,
                user_id=viewer.principal.user_id,
                body=body,
                replace=replace,
            )
    except ValidationError as exc:
        return _form(request, viewer, template, values, errors=_field_errors(exc))
    except UnsafeUrl as exc:
        return _form(
            request, viewer, template, values, errors={"store_url": _store_words(exc.detail)}
        )
    except CredentialsRejected:
        message = (
            "The store refused these keys, so nothing was saved. Create Read/Write REST API "
            "keys under WooCommerce → Settings → Advanced → REST API and enter them again."
        )
        return _form(request, viewer, template, values, message)
    except CarrierUnavailable as exc:
        message = f"The store could not be checked ({exc.detail}), so nothing was saved."
        return _form(request, viewer, template, values, message)
    except Conflict:
        message = "These keys were saved a moment ago in another window. Reload the page."
        return _form(request, viewer, template, values, message)
    return Response(
        status_code=204, headers={"HX-Redirect": f"{PAGE}?connected=manual_woocommerce"}
    )


@router.post(f"{PAGE}/manual/amazon")
async def manual_amazon(request: Request) -> Response:
    viewer = await _admin(request)
    fields = ("selling_partner_id", "refresh_token", "region", "lwa_client_id", "lwa_client_secret")
    values = await _values(request, fields)
    template = "partials/connection_manual_amazon.html"
    try:
        body = _parse(AmazonCredentials, values)
        replace = body.selling_partner_id in await _active_accounts(request, viewer, "amazon_spapi")
        async with unit_of_work(runtime_of(request).sessionmaker) as session:
            set_tenant(session, viewer.principal.organization_id)
            await manual.save_amazon(
                session,
                _flow_context(request),
                organization_id=viewer.principal.organization_id,
                user_id=viewer.principal.user_id,
                body=body,
                replace=replace,
            )
    except ValidationError as exc:
        return _form(request, viewer, template, values, errors=_field_errors(exc))
    except CredentialsRejected:
        message = (
            "Amazon did not accept this refresh token for this selling partner, so nothing was "
            "saved. Authorize the app again in Seller Central and copy the new token."
        )
        return _form(request, viewer, template, values, message)
    except CarrierUnavailable:
        message = "Amazon could not be reached to check the token, so nothing was saved. Try again."
        return _form(request, viewer, template, values, message)
    except Conflict:
        message = "This token was saved a moment ago in another window. Reload the page."
        return _form(request, viewer, template, values, message)
    return Response(status_code=204, headers={"HX-Redirect": f"{PAGE}?connected=manual_amazon"})


# --- one connection: test, disconnect ------------------------------------------------------


@router.post(f"{PAGE}/{{connection_id}}/test")
async def test_connection(request: Request, connection_id: uuid.UUID) -> Response:
    """The live check (any member, as the API); the card comes back with the answer in words."""
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    organization_id = viewer.principal.organization_id
    outcome = await live_check.check_connection(
        _refresh_context(request),
        organization_id,
        connection_id,
        actor_user_id=viewer.principal.user_id,
    )
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, organization_id)
        connection = connections.describe(await connections.get_connection(session, connection_id))
    return render(
        request,
        "partials/connection_card.html",
        _base(viewer) | {"card": card(connection, outcome)},
    )


@router.delete(f"{PAGE}/{{connection_id}}")
async def disconnect(request: Request, connection_id: uuid.UUID) -> Response:
    viewer = await _admin(request)
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        before = connections.describe(await connections.get_connection(session, connection_id))
        await connections.disconnect(session, viewer.principal, connection_id)
    # The card stays in place, saying what happened (the list no longer holds it).
    gone = before.model_copy(update={"status": "disconnected", "access_expires_at": None})
    return render(request, "partials/connection_card.html", _base(viewer) | {"card": card(gone)})
