"""``{store}/wc-auth/v1/authorize``: WooCommerce's app authentication endpoint (providers.md §5.1,
class-wc-auth.php).

``GET`` validates the five parameters exactly like ``WC_Auth::make_validation`` (missing,
scope, URL shape, https callback) and shows the grant screen: a form with two buttons
``name="decision"`` ``approve``/``deny`` (api-contract.md §4; WooCommerce itself uses an
"Approve" link to ``/wc-auth/v1/access_granted`` with a nonce and a "Deny" link). The emulator
skips the WordPress login (``/wc-auth/v1/login``): the visitor is a store administrator.

``POST`` with ``decision=approve`` creates a key pair (``ck_``/``cs_`` + 40 hex), POSTs
``{"key_id","user_id","consumer_key","consumer_secret","key_permissions"}`` as
``application/json;charset=UTF-8`` to ``callback_url`` and, only if it answers exactly 200,
redirects (302) to ``return_url?success=1&user_id=...``; otherwise the key is deleted and the
``wp_die`` error page (401) is shown. ``decision=deny`` redirects to
``return_url?success=0&user_id=...``. Errors: ``Error: <message>.`` pages with HTTP 401.

Test-only relaxation (providers.md §9): a ``callback_url`` over plain ``http://`` is accepted
when its host is ``127.0.0.1``, ``localhost`` or ``::1`` (WooCommerce refuses every non-https
callback and, through ``wp_safe_remote_post``, loopback destinations).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from urllib.parse import unquote, urlsplit

import httpx
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from sellerhub_emulators.common.httputil import read_params, with_query
from sellerhub_emulators.common.pages import hidden_inputs, html_page
from sellerhub_emulators.woocommerce import constants as c
from sellerhub_emulators.woocommerce import errors as e
from sellerhub_emulators.woocommerce.state import WooCommerceEmulator
from sellerhub_emulators.woocommerce.stores import checked_store

# WC_Auth::make_validation checks them in this order.
REQUIRED = ("app_name", "user_id", "return_url", "callback_url", "scope")
BANNER = "Local WooCommerce emulator: not a real store."
_SCOPE_TEXT = {"read": "Read", "write": "Write", "read_write": "Read/Write"}


class AuthError(Exception):
    pass


def formatted_url(url: str) -> str:
    """``WC_Auth::get_formatted_url``: url-decoded, ``https://`` prepended without a scheme."""
    url = unquote(url)
    return url if "://" in url else "https://" + url


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.hostname) and " " not in url


def validate(params: Mapping[str, str]) -> dict[str, str]:
    """The checked parameters, URLs formatted; raises ``AuthError`` with WooCommerce's message."""
    for name in REQUIRED:
        if not params.get(name):
            raise AuthError(f"Missing parameter {name}")
    if params["scope"] not in c.SCOPES:
        raise AuthError(f"Invalid scope {params['scope']}")
    for name in ("return_url", "callback_url"):
        url = formatted_url(params[name])
        if not _valid_url(url):
            raise AuthError(f"The {url} is not a valid URL")
    callback = formatted_url(params["callback_url"])
    parts = urlsplit(callback)
    local_http = parts.scheme.lower() == "http" and parts.hostname in c.LOCAL_CALLBACK_HOSTS
    if not callback.lower().startswith("https://") and not local_http:
        raise AuthError("The callback_url needs to be over SSL")
    checked = {name: params[name] for name in REQUIRED}
    checked["return_url"] = formatted_url(params["return_url"])
    checked["callback_url"] = callback
    return checked


def grant_page(action: str, params: Mapping[str, str]) -> Response:
    scope = _SCOPE_TEXT[params["scope"]]
    body = f"""<h1>{escape(params["app_name"])} would like to connect to your store</h1>
<p>This will give "{escape(params["app_name"])}" <strong>{escape(scope)}</strong> access which
will allow it to: {"view" if "read" in params["scope"] else ""}
{"create, edit and delete" if "write" in params["scope"] else ""} orders, products, customers,
coupons, reports and settings.</p>
<p>Logged in as <strong>admin</strong> (emulator).</p>
<form method="post" action="{escape(action)}">
{hidden_inputs(dict(params))}
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>"""
    return html_page("Grant access", body, banner=BANNER)


async def post_consumer_data(url: str, data: Mapping[str, object]) -> None:
    """``WC_Auth::post_consumer_data``: the callback must answer exactly 200."""
    payload = json.dumps(dict(data), separators=(",", ":")).replace("/", "\\/")
    try:
        async with httpx.AsyncClient(
            timeout=c.OUTBOUND_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
        ) as client:
            response = await client.post(
                url,
                content=payload.encode(),
                headers={
                    "Content-Type": "application/json;charset=UTF-8",
                    "User-Agent": f"WordPress/{c.WP_VERSION}; {url}",
                },
            )
    except httpx.HTTPError as exc:
        raise AuthError(str(exc) or type(exc).__name__) from exc
    if response.status_code != 200:
        raise AuthError(e.AUTH_CALLBACK_FAILED)


def add_authorize_routes(router: APIRouter, emulator: WooCommerceEmulator) -> None:
    path = c.STORE_PATH + c.AUTHORIZE_PATH

    @router.get(path)
    async def authorize(store: str, request: Request) -> Response:
        """WooCommerce's grant screen for an app asking for REST API keys."""
        blocked = await emulator.enter(c.ENDPOINT_AUTHORIZE)
        if blocked is not None:
            return blocked
        if checked_store(store) is None:
            return e.wp_die("Page not found", status=404, title="Page not found")
        try:
            params = validate(request.query_params)
        except AuthError as exc:
            return e.wp_die(str(exc))
        emulator.store(store)
        return grant_page(request.url.path, params)

    @router.post(path)
    async def decide(store: str, request: Request) -> Response:
        """The administrator's decision: approve (keys to ``callback_url``) or deny."""
        blocked = await emulator.enter(c.ENDPOINT_AUTHORIZE)
        if blocked is not None:
            return blocked
        if checked_store(store) is None:
            return e.wp_die("Page not found", status=404, title="Page not found")
        form = await read_params(request)
        try:
            if form is None:
                raise AuthError("Missing parameter app_name")
            params = validate(form)
            decision = form.get("decision")
            if decision not in ("approve", "deny"):
                raise AuthError("You do not have permission to access this page")
        except AuthError as exc:
            return e.wp_die(str(exc))
        if decision == "deny":
            target = with_query(
                params["return_url"], {"success": "0", "user_id": params["user_id"]}
            )
            return RedirectResponse(target, status_code=302)
        emulator.store(store)
        key = emulator.issue_key(
            store,
            app_name=params["app_name"],
            user_id=params["user_id"],
            permissions=params["scope"],
        )
        consumer_data = {
            "key_id": key.key_id,
            "user_id": params["user_id"],
            "consumer_key": key.consumer_key,
            "consumer_secret": key.consumer_secret,
            "key_permissions": key.permissions,
        }
        try:
            await post_consumer_data(params["callback_url"], consumer_data)
        except AuthError as exc:
            emulator.delete_key(key.consumer_key)
            return e.wp_die(str(exc))
        target = with_query(params["return_url"], {"success": "1", "user_id": params["user_id"]})
        return RedirectResponse(target, status_code=302)
