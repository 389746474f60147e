"""Settings: the organization's members and their roles, its API keys (created and shown once,
listed by their prefix, revoked after a confirmation), its audit log (cursor paging, filtered by
action) and, for platform admins, the status of the JWT signing keys.

The same services as the JSON API (``identity.service``, ``audit.service``,
``identity.jwt.service``), scoped to the viewer's organization. Creating and revoking a key
needs an owner or admin, here as in the API: a member sees the keys with the buttons disabled
and the reason beside them, and a request forged past them is refused by the service (403 in
words, in the page's flash region)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from sellerhub.audit import service as audit
from sellerhub.audit.schemas import AuditEventPage
from sellerhub.core.errors import Forbidden, NotFound, ValidationFailed
from sellerhub.db.reads import TenantReader
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.identity import service as identity
from sellerhub.identity.jwt import service as signing_keys
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import Viewer, check_form_csrf, require_viewer
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

AUDIT_PAGE_SIZE = 25
KEY_NAME_MAX = 100  # ApiKeyCreate.name
ACTION_MAX = 64  # audit_events.action
API_KEY_GONE = "That API key does not exist or was already revoked."
BAD_CURSOR = "That page of the audit log does not exist; start again from the newest events."
ADMIN_ONLY = "Only an owner or admin of the organization can create or revoke API keys."

# The audit actions a seller may want to find, in words; others are shown by their code.
AUDIT_ACTIONS = {
    "API_KEY_CREATED": "API key created",
    "API_KEY_REVOKED": "API key revoked",
    "CHANNEL_CONNECTED": "Channel connected",
    "CHANNEL_CONNECT_FAILED": "Channel connection failed",
    "CHANNEL_DISCONNECTED": "Channel disconnected",
    "CONNECTION_CHECKED": "Connection tested",
    "TOKEN_REFRESHED": "Token refreshed",
    "TOKEN_REFRESH_FAILED": "Token refresh failed",
    "WEBHOOK_EVENT_RETRIED": "Webhook event retried",
    "ORGANIZATION_CREATED": "Organization created",
    "SIGNED_UP": "Signed up",
    "EMAIL_VERIFIED": "Email verified",
    "LOGIN_SUCCEEDED": "Signed in",
    "LOGIN_FAILED": "Sign-in failed",
    "SESSION_STARTED": "Session started",
    "SESSION_ENDED": "Session ended",
    "PASSWORD_RESET": "Password reset",
    "AMAZON_LINKED": "Amazon account linked",
    "REFRESH_TOKEN_REUSED": "Refresh token reused (session revoked)",
    "APP_REGISTERED": "App registered",
    "APP_TOKEN_ISSUED": "App token issued",
    "APP_REFRESH_TOKEN_REUSED": "App refresh token reused",
    "APP_AUTH_CODE_ISSUED": "App sign-in approved",
    "APP_AUTH_CODE_EXCHANGED": "App sign-in code exchanged",
    "APP_AUTH_CODE_REPLAYED": "App sign-in code replayed (sign-in revoked)",
    "APP_SIGNED_OUT": "Signed out of an app",
    "CROSS_APP_SIGNUP": "Signed up through an app",
    "CUSTOMER_DATA_REQUESTED": "Customer data requested",
}
KEY_STATES = {"signing": "Signing now", "next": "Next", "retired": "Retired"}


def _uuid(value: str, missing: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(missing) from None


def _tabs(viewer: Viewer) -> list[tuple[str, str]]:
    tabs = [
        ("/settings", "Members"),
        ("/settings/api-keys", "API keys"),
        ("/settings/audit", "Audit log"),
    ]
    if viewer.is_platform_admin:
        tabs.append(("/settings/signing-keys", "Signing keys"))
    return tabs


def _page(request: Request, viewer: Viewer, template: str, tab: str, **context: Any) -> Response:
    return render(
        request,
        template,
        {"viewer": viewer, "nav": "/settings", "tabs": _tabs(viewer), "tab": tab, **context},
    )


async def _people(request: Request, viewer: Viewer) -> list[dict[str, Any]]:
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        rows = await identity.members_with_users(session)
    return [
        {
            "user_id": membership.user_id,
            "email": user.email if user else "",
            "name": user.name if user else "",
            "active": bool(user and user.is_active),
            "role": membership.role,
            "since": membership.created_at,
            "is_you": membership.user_id == viewer.principal.user_id,
        }
        for membership, user in rows
    ]


@router.get("/settings")
async def members_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    members = await _people(request, viewer)
    return _page(request, viewer, "settings_members.html", "/settings", members=members)


# --- API keys -------------------------------------------------------------------------------


async def _key_panel(
    request: Request, viewer: Viewer, created: identity.IssuedApiKey | None = None
) -> dict[str, Any]:
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        keys = await identity.list_api_keys(session, viewer.principal)
    return {
        "keys": keys,
        "created": created,
        "can_manage": viewer.is_admin,
        "admin_only": ADMIN_ONLY,
        "notice": "",
    }


@router.get("/settings/api-keys")
async def api_keys_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    panel = await _key_panel(request, viewer)
    return _page(request, viewer, "settings_api_keys.html", "/settings/api-keys", **panel)


@router.post("/settings/api-keys")
async def create_api_key(request: Request, name: str = Form("")) -> Response:
    """Create a key; the answer (the key panel) shows its secret this once and never again."""
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    name = name.strip()
    if not 1 <= len(name) <= KEY_NAME_MAX:
        raise ValidationFailed(f"Give the key a name of 1 to {KEY_NAME_MAX} characters.")
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        issued = await identity.issue_api_key(session, viewer.principal, name)
    panel = await _key_panel(request, viewer, created=issued)
    return render(request, "partials/apikey_panel.html", {"viewer": viewer, **panel})


@router.delete("/settings/api-keys/{key_id}")
async def revoke_api_key(request: Request, key_id: str) -> Response:
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        await identity.revoke_api_key(session, viewer.principal, _uuid(key_id, API_KEY_GONE))
    panel = await _key_panel(request, viewer)
    return render(
        request,
        "partials/apikey_panel.html",
        {"viewer": viewer, **panel, "notice": "The API key was revoked. It no longer works."},
    )


# --- audit log ------------------------------------------------------------------------------


@router.get("/settings/audit")
async def audit_page(
    request: Request,
    action: str | None = Query(None),
    cursor: str | None = Query(None),
) -> Response:
    """The organization's audit log, newest first, ``AUDIT_PAGE_SIZE`` a page; ``cursor`` is
    the last event of the page before (older events follow), ``action`` one action code."""
    viewer = await require_viewer(request)
    action = (action or "").strip() or None
    if action is not None and len(action) > ACTION_MAX:
        raise ValidationFailed(f"An action filter has at most {ACTION_MAX} characters.")
    before = _uuid(cursor, BAD_CURSOR) if cursor else None
    reader = TenantReader(runtime_of(request).reads, viewer.principal.organization_id)
    page = AuditEventPage.model_validate_json(
        await audit.page_json(reader, limit=AUDIT_PAGE_SIZE, before=before, action=action)
    )
    people = {m["user_id"]: m["email"] or m["name"] for m in await _people(request, viewer)}
    actions = dict(AUDIT_ACTIONS)
    if action and action not in actions:
        actions[action] = action
    return _page(
        request,
        viewer,
        "settings_audit.html",
        "/settings/audit",
        events=page.items,
        next_cursor=page.next_cursor,
        paged=before is not None,
        action=action or "",
        actions=actions,
        people=people,
    )


# --- signing keys (platform admins) ---------------------------------------------------------


@router.get("/settings/signing-keys")
async def signing_keys_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    if not viewer.is_platform_admin:
        raise Forbidden("Only platform administrators can see the signing keys.")
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        keys = await signing_keys.key_status(session)
    return _page(
        request,
        viewer,
        "settings_signing_keys.html",
        "/settings/signing-keys",
        keys=keys,
        key_states=KEY_STATES,
    )
