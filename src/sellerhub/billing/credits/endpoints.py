"""The credit routes: the seed's cross-app credit API (app tokens with ``credits:read`` /
``credits:consume``, service tokens with the permission, or the organization's own users) and
the dashboard API under ``/api/v1/credits`` (wallet, history, holds, packages, grants)."""

from __future__ import annotations

import csv
import functools
import io
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.credits import purchases, service
from sellerhub.billing.credits.errors import PackageNotFound
from sellerhub.billing.credits.models import AccountKind
from sellerhub.billing.credits.repository import PackageRow, PageRow, TransferRow
from sellerhub.billing.credits.schemas import (
    ConsumeIn,
    CreditCheckIn,
    CreditCheckOut,
    CrossAppCredits,
    ExpiringOut,
    GrantIn,
    HoldIn,
    PackageIn,
    PackageOut,
    PackageUpdate,
    PostIn,
    PurchaseIn,
    PurchaseOut,
    PurchaseStatusOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionStartOut,
    TransferOut,
    TransferPage,
    UsageOut,
    WalletOut,
)
from sellerhub.billing.flows import organization_contact
from sellerhub.billing.stripe.client import client_of
from sellerhub.core.errors import Forbidden, NotFound, ValidationFailed
from sellerhub.core.inputs import request_body
from sellerhub.core.logging import bind_context
from sellerhub.core.openapi import inline_schema
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import (
    AdminPrincipal,
    PlatformAdmin,
    SessionDep,
    TenantSessionDep,
    authenticate,
    runtime_of,
)
from sellerhub.identity.apps import service as apps
from sellerhub.identity.apps import tokens
from sellerhub.identity.apps.cache import app_registry
from sellerhub.identity.apps.errors import AppPermissionMissing
from sellerhub.identity.apps.models import AppKind, Permission
from sellerhub.identity.apps.principals import (
    ORGANIZATION_HEADER,
    OrganizationNotGranted,
    ServicePrincipal,
)
from sellerhub.identity.jwt.service import unverified_claims
from sellerhub.identity.organizations.models import Role

cross_app_router = APIRouter(prefix="/api/cross-app", tags=["credits"])
router = APIRouter(prefix="/api/v1/credits", tags=["credits"])

CALLER_SECURITY: list[dict[str, list[str]]] = [
    {"appToken": []},
    {"bearerAuth": []},
    {"sessionCookie": [], "csrfCookie": [], "csrfToken": []},
]
CALLER_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no credentials, or they are not valid"},
    403: {
        "description": "the token lacks the permission, acts for another organization, or the "
        "caller is not a member"
    },
}


# --- who is calling ------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditCaller:
    """Whose wallet, and who spends it: ``app_id`` is the app of an app or service token (None
    for the organization's own users and API keys); ``actor_id`` the user or app row."""

    organization_id: uuid.UUID
    app_id: str | None
    actor_id: uuid.UUID
    via: str


# The organization and user ids of app tokens, parsed once: an app sends the same token on
# each request (bounded; a UUID is immutable, so sharing one is safe).
_uuid = functools.lru_cache(maxsize=8192)(uuid.UUID)


def _is_app_token(token: str) -> bool:
    if token.count(".") != 2:
        return False
    claims = app_registry.verified_claims(token)  # a token this process verified just now
    if claims is None:
        try:
            claims = unverified_claims(token)
        except Exception:
            return False
    azp = claims.get("azp")
    return isinstance(azp, str) and claims.get("aud") == azp and "org" in claims


async def credit_caller(request: Request, permission: Permission) -> CreditCaller:
    """An app token (a user's, ``/api/cross-app/auth``) carrying ``permission`` for the
    organization it names; a service token with ``permission`` acting in an organization its
    app may act in (named by ``X-Sellerhub-Organization``); or the organization's user or API
    key (member or higher). An app token or a user's naming another organization in that
    header is refused."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and _is_app_token(token):
        runtime = runtime_of(request)
        app, claims = await tokens.verify_app_token(runtime.sessionmaker, runtime.keystore, token)
        apps.check_origin(app, request.headers.get("origin"))
        tokens.require_permission(claims, permission)
        if permission.value not in app.permissions:
            raise AppPermissionMissing(f"the app {app.app_id} lacks {permission.value}")
        organization_id = _uuid(str(claims["org"]))
        _same_organization(request, organization_id)
        bind_context(organization_id=str(organization_id), app_id=app.app_id)
        return CreditCaller(organization_id, app.app_id, _uuid(str(claims["sub"])), "app")
    principal = await authenticate(request, permission.value)
    if isinstance(principal, ServicePrincipal):
        return CreditCaller(
            principal.organization_id, principal.app_id, principal.user_id, "service"
        )
    if not principal.has_role(Role.MEMBER):
        raise Forbidden("this needs the member role or higher")
    _same_organization(request, principal.organization_id)
    return CreditCaller(principal.organization_id, None, principal.user_id, principal.via)


def _same_organization(request: Request, organization_id: uuid.UUID) -> None:
    """A token bound to one organization (an app token, a user's) refuses a request that names
    another one in ``X-Sellerhub-Organization``, instead of silently acting in its own."""
    named = request.headers.get(ORGANIZATION_HEADER)
    if named is not None and named.strip().lower() != str(organization_id):
        raise OrganizationNotGranted("this token acts only in the organization it was issued for")


def caller_with(
    permission: Permission,
) -> Callable[[Request], Coroutine[Any, Any, CreditCaller]]:
    async def caller(request: Request) -> CreditCaller:
        return await credit_caller(request, permission)

    return caller


Reader = Annotated[CreditCaller, Depends(caller_with(Permission.CREDITS_READ))]
Consumer = Annotated[CreditCaller, Depends(caller_with(Permission.CREDITS_CONSUME))]


# --- rendering -----------------------------------------------------------------------------


def _transfer(row: TransferRow, key: str, balance_after: int | None) -> TransferOut:
    # Built without validation: every value is the ledger function's, already of the field's
    # type (uuid.UUID, int, str, datetime, as psycopg loads them; the amounts through int()).
    return TransferOut.model_construct(
        id=row.id,
        idempotency_key=key,
        code=row.code,
        phase=row.phase,
        amount=row.amount,
        debit_account_id=row.debit_account_id,
        credit_account_id=row.credit_account_id,
        pending_id=row.pending_id,
        app_id=row.app_id,
        service=row.service,
        balance_after=balance_after,
        timeout_at=row.timeout_at,
        created_at=row.created_at,
    )


def _listed(row: PageRow) -> TransferOut:
    wallet = AccountKind.WALLET.value
    after = None
    if row.debit_kind == wallet:
        after = row.transfer.debit_balance_after
    elif row.credit_kind == wallet:
        after = row.transfer.credit_balance_after
    return _transfer(row.transfer, row.idempotency_key, after)


def _package(row: PackageRow) -> PackageOut:
    return PackageOut(
        id=row.id,
        name=row.name,
        credits=row.credits,
        price_minor=row.price_minor,
        currency=row.currency,
        active=row.active,
        interval=row.interval,
        grant_expires_days=row.grant_expires_days,
    )


def _json(model: Any, code: int) -> Response:
    return Response(model.model_dump_json(), status_code=code, media_type="application/json")


# --- the cross-app API (seed) --------------------------------------------------------------


@cross_app_router.post(
    "/credit-check",
    response_model=CreditCheckOut,
    openapi_extra={"security": CALLER_SECURITY},
    responses=CALLER_RESPONSES,
)
async def credit_check(request: Request, body: CreditCheckIn, caller: Reader) -> CreditCheckOut:
    """Whether the wallet has ``required`` credits available (needs ``credits:read``)."""
    async with runtime_of(request).reads.connection() as conn:
        wallet = await service.wallet(conn, caller.organization_id)
    return CreditCheckOut(sufficient=wallet.available >= body.required, balance=wallet.available)


@cross_app_router.get(
    "/credits",
    response_model=CrossAppCredits,
    openapi_extra={"security": CALLER_SECURITY},
    responses=CALLER_RESPONSES,
)
async def credits(request: Request, caller: Reader) -> CrossAppCredits:
    """The wallet's available credits and the packages on sale (needs ``credits:read``)."""
    async with runtime_of(request).reads.connection() as conn:
        wallet = await service.wallet(conn, caller.organization_id)
        offered = await service.packages(conn, active_only=True)
    return CrossAppCredits(balance=wallet.available, packages=[_package(p) for p in offered])


# The hottest credit route: no dependencies (the caller is authenticated in the endpoint, from
# the per-process caches of API keys, apps and verified tokens), the body validated by its
# model, the transfer handed to the group-committing writer, the answer rendered once. The lane
# (core.lanes.RouteLane, app.LANES) runs this same function without FastAPI's routing.
@cross_app_router.post(
    "/credits/consume",
    response_model=TransferOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(ConsumeIn)}},
        },
        "security": CALLER_SECURITY,
    },
    responses={
        **CALLER_RESPONSES,
        200: {"model": TransferOut, "description": "the transfer made earlier with this key"},
        402: {"description": "too few credits available (``balance`` says how many)"},
        409: {"description": "the idempotency key was used with another amount or service"},
        422: {"description": "the body is not a valid consume"},
        503: {"description": "the database is unavailable"},
    },
)
async def consume(request: Request) -> Response:
    """Spend ``amount`` credits on ``service`` (body: ``ConsumeIn``; needs ``credits:consume``):
    201 with the transfer, 200 with the same transfer for a repeated key, 402
    ``insufficient-credits`` with the available ``balance``, 409 when the key was used for
    another request. Recorded per app and service."""
    caller = await credit_caller(request, Permission.CREDITS_CONSUME)
    try:
        body = ConsumeIn.model_validate_json(await request_body(request))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    row, created = await service.consume(
        runtime_of(request).writes,
        caller.organization_id,
        amount=body.amount,
        service=body.service,
        key=body.idempotency_key,
        app_id=caller.app_id,
        metadata=body.metadata,
    )
    out = _transfer(row, body.idempotency_key, row.debit_balance_after)
    return _json(out, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# --- the dashboard API ---------------------------------------------------------------------


@router.get(
    "", response_model=WalletOut, openapi_extra={"security": CALLER_SECURITY},
    responses=CALLER_RESPONSES,
)  # fmt: skip
async def wallet(request: Request, caller: Reader) -> WalletOut:
    """The wallet: posted balance, credits held, available, the credits used per app and
    service, and the packages on sale."""
    async with runtime_of(request).reads.connection() as conn:
        found = await service.wallet(conn, caller.organization_id)
        used = await service.usage(conn, caller.organization_id)
        offered = await service.packages(conn, active_only=True)
        lots = await service.expiring(conn, caller.organization_id)
    return WalletOut(
        balance=found.balance,
        held=found.held,
        available=found.available,
        usage=[UsageOut(app_id=a, service=s, credits=c, transfers=n) for a, s, c, n in used],
        packages=[_package(p) for p in offered],
        expiring=[ExpiringOut(credits=c, expires_at=at) for c, at in lots],
    )


CSV_COLUMNS = (
    "id", "created_at", "code", "phase", "amount", "balance_after", "app_id", "service",
    "pending_id", "idempotency_key",
)  # fmt: skip


@router.get(
    "/transfers",
    response_model=TransferPage,
    openapi_extra={"security": CALLER_SECURITY},
    responses={
        **CALLER_RESPONSES,
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "the page (JSON), or as CSV with ``format=csv`` (the next cursor in "
            "``X-Next-Cursor``)",
        },
    },
)
async def transfers(
    request: Request,
    caller: Reader,
    limit: int = Query(50, ge=1, le=1000),
    cursor: uuid.UUID | None = Query(None, description="next_cursor of the previous page"),
    format: Literal["json", "csv"] = Query("json"),
) -> Response:
    """The ledger of the organization, newest first: every transfer that touched its accounts."""
    async with runtime_of(request).reads.connection() as conn:
        rows, next_cursor = await service.page(
            conn, caller.organization_id, before=cursor, limit=limit
        )
    items = [_listed(row) for row in rows]
    if format == "json":
        return _json(TransferPage(items=items, next_cursor=next_cursor), 200)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(
            [
                item.id, item.created_at.isoformat(), item.code, item.phase, item.amount,
                "" if item.balance_after is None else item.balance_after, item.app_id or "",
                _cell(item.service), item.pending_id or "", _cell(item.idempotency_key),
            ]
        )  # fmt: skip
    headers = {"Content-Disposition": 'attachment; filename="credit-transfers.csv"'}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = str(next_cursor)
    return Response(buffer.getvalue(), media_type="text/csv", headers=headers)


def _cell(value: str | None) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.post(
    "/holds",
    response_model=TransferOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={"security": CALLER_SECURITY},
    responses={
        **CALLER_RESPONSES,
        200: {"model": TransferOut, "description": "the hold made earlier with this key"},
        402: {"description": "too few credits available"},
        409: {"description": "the idempotency key was used for another request"},
    },
)
async def create_hold(request: Request, body: HoldIn, caller: Consumer) -> Response:
    """Reserve credits for a long job (needs ``credits:consume``): they count against the
    available balance until posted, voided, or voided by expiry after ``timeout_seconds``."""
    async with runtime_of(request).writes.connection() as conn:
        row, created = await service.hold(
            conn,
            caller.organization_id,
            amount=body.amount,
            service=body.service,
            key=body.idempotency_key,
            app_id=caller.app_id,
            timeout_seconds=body.timeout_seconds,
        )
    out = _transfer(row, body.idempotency_key, row.debit_balance_after)
    return _json(out, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.post(
    "/holds/{hold_id}/post",
    response_model=TransferOut,
    openapi_extra={"security": CALLER_SECURITY},
    responses={
        **CALLER_RESPONSES,
        404: {"description": "no such hold (of this organization, or of the calling app)"},
        409: {"description": "the hold was resolved or expired, or holds less than asked"},
    },
)
async def post_hold(
    request: Request, hold_id: uuid.UUID, body: PostIn, caller: Consumer
) -> TransferOut:
    """Post ``amount`` of the hold (all of it when absent); the rest is released. Posting again
    answers the same transfer."""
    async with runtime_of(request).writes.connection() as conn:
        row, _ = await service.post_hold(
            conn, caller.organization_id, hold_id, body.amount, app_id=caller.app_id
        )
    return _transfer(row, f"post:{hold_id}", row.debit_balance_after)


@router.post(
    "/holds/{hold_id}/void",
    response_model=TransferOut,
    openapi_extra={"security": CALLER_SECURITY},
    responses={
        **CALLER_RESPONSES,
        404: {"description": "no such hold (of this organization, or of the calling app)"},
        409: {"description": "the hold was posted"},
    },
)
async def void_hold(request: Request, hold_id: uuid.UUID, caller: Consumer) -> TransferOut:
    """Release the hold; voiding again (or after it expired) answers the same void."""
    async with runtime_of(request).writes.connection() as conn:
        row, _ = await service.void_hold(
            conn, caller.organization_id, hold_id, app_id=caller.app_id
        )
    return _transfer(row, f"void:{hold_id}", row.debit_balance_after)


@router.post(
    "/grants",
    response_model=TransferOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": TransferOut, "description": "the grant made earlier with this key"},
        404: {"description": "no organization has that id"},
        409: {"description": "the idempotency key was used for another grant"},
    },
)
async def create_grant(body: GrantIn, session: SessionDep, principal: PlatformAdmin) -> Response:
    """Give an organization credits (platform administrators), once per idempotency key."""
    row, created = await service.admin_grant(
        session,
        body.organization_id,
        amount=body.amount,
        key=body.idempotency_key,
        reason=body.reason,
        actor_user_id=principal.user_id,
        expires_in_days=body.expires_in_days,
    )
    out = _transfer(row, body.idempotency_key, row.credit_balance_after)
    return _json(out, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get("/packages", response_model=list[PackageOut])
async def list_packages(
    request: Request,
    principal: PlatformAdmin,
    include_inactive: bool = Query(True),
) -> list[PackageOut]:
    """Every package, inactive ones too (platform administrators)."""
    async with runtime_of(request).reads.connection() as conn:
        rows = await service.packages(conn, active_only=not include_inactive)
    return [_package(p) for p in rows]


@router.post("/packages", response_model=PackageOut, status_code=status.HTTP_201_CREATED)
async def create_package(
    body: PackageIn, session: SessionDep, principal: PlatformAdmin
) -> JSONResponse:
    """A package of credits at a price (platform administrators)."""
    row = await service.create_package(
        await service.raw_connection(session),
        name=body.name,
        credits=body.credits,
        price_minor=body.price_minor,
        currency=body.currency.upper(),
        active=body.active,
        interval=body.interval,
        grant_expires_days=body.grant_expires_days,
    )
    return JSONResponse(_package(row).model_dump(mode="json"), status_code=201)


@router.patch(
    "/packages",
    response_model=PackageOut,
    responses={404: {"description": "no such package"}},
)
async def update_package(
    body: PackageUpdate, session: SessionDep, principal: PlatformAdmin
) -> PackageOut:
    """Change the package ``id`` names, or take it off sale (``active: false``); the fields
    left out keep their values. (Packages are the platform's, not an organization's.)"""
    changes = body.model_dump(exclude_unset=True, exclude={"id"})
    if changes.get("currency"):
        changes["currency"] = changes["currency"].upper()
    row = await service.update_package(await service.raw_connection(session), body.id, changes)
    if row is None:
        raise PackageNotFound("no package has that id")
    return _package(row)


# --- buying credits (Stripe Checkout; billing/credits/purchases.py) ---------------------------

Purchaser = Annotated[CreditCaller, Depends(caller_with(Permission.CREDITS_PURCHASE))]


async def _contact(session: AsyncSession, organization_id: uuid.UUID) -> tuple[str, str | None]:
    set_tenant(session, organization_id)
    return await organization_contact(session, organization_id)


@cross_app_router.post(
    "/credits/purchase",
    response_model=PurchaseOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={"security": CALLER_SECURITY},
    responses={
        **CALLER_RESPONSES,
        404: {"description": "no active one-time package has that id"},
        422: {"description": "a URL the app did not register, or neither package nor amount"},
        502: {"description": "Stripe refused the request"},
        503: {"description": "Stripe is unavailable; retry later"},
    },
)
async def purchase(
    request: Request, body: PurchaseIn, session: SessionDep, caller: Purchaser
) -> JSONResponse:
    """A Stripe Checkout Session selling a package (or ``amount`` credits) to the caller's
    organization (needs ``credits:purchase``); answers the hosted page's URL. The success and
    cancel URLs must be the app's registered redirect URLs (the first one when left out); the
    organization's own users are sent back to sellerhub's ``/credits``. The credits are granted
    once Stripe says the payment is made."""
    runtime = runtime_of(request)
    if (body.package_id is None) == (body.amount is None):
        raise ValidationFailed("give exactly one of package_id and amount")
    if caller.app_id is not None:
        returns_to = caller.app_id
        if caller.via == "service":
            if not body.return_app_id:
                raise purchases.RedirectNotAllowed(
                    "a service app registers no redirect URLs: name return_app_id, the browser "
                    "app the buyer returns to"
                )
            returns_to = body.return_app_id
        elif body.return_app_id not in (None, caller.app_id):
            raise purchases.RedirectNotAllowed("an app's token returns only to its own URLs")
        try:
            app = await apps.get_app(session, returns_to)
        except NotFound:
            raise purchases.RedirectNotAllowed(f"no app {returns_to!r} is registered") from None
        if app.kind != AppKind.BROWSER.value or app.disabled_at is not None:
            raise purchases.RedirectNotAllowed(f"{returns_to!r} is not an enabled browser app")
        success, cancel = purchases.app_urls(
            list(app.redirect_urls), body.success_url, body.cancel_url
        )
    else:
        success, cancel = _own_urls(runtime.settings.public_url, body)
    name, email = await _contact(session, caller.organization_id)
    row_id, cs_id, url = await purchases.start_purchase(
        session, client_of(runtime), caller.organization_id, app_id=caller.app_id,
        package_id=body.package_id, amount=body.amount, success_url=success,
        cancel_url=cancel, name=name, email=email,
    )  # fmt: skip
    out = PurchaseOut(purchase_id=row_id, checkout_session_id=cs_id, url=url)
    return JSONResponse(out.model_dump(mode="json"), status_code=201)


def _own_urls(public_url: str, body: PurchaseIn) -> tuple[str, str]:
    page = f"{public_url}/credits"
    registered = [page]
    return (
        purchases.app_urls(registered, body.success_url, body.cancel_url)
        if (body.success_url or body.cancel_url)
        else (f"{page}?session_id={{CHECKOUT_SESSION_ID}}", f"{page}?purchase=cancelled")
    )


@router.post(
    "/purchase",
    response_model=PurchaseOut,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such package"}, 502: {}, 503: {}},
)
async def dashboard_purchase(
    request: Request, body: PurchaseIn, session: TenantSessionDep, principal: AdminPrincipal
) -> JSONResponse:
    """The credits page's Buy (admins and owners): back to ``/credits`` once paid."""
    runtime = runtime_of(request)
    if (body.package_id is None) == (body.amount is None):
        raise ValidationFailed("give exactly one of package_id and amount")
    success, cancel = _own_urls(runtime.settings.public_url, body)
    name, email = await organization_contact(session, principal.organization_id)
    row_id, cs_id, url = await purchases.start_purchase(
        session, client_of(runtime), principal.organization_id, app_id=None,
        package_id=body.package_id, amount=body.amount, success_url=success,
        cancel_url=cancel, name=name, email=email,
    )  # fmt: skip
    out = PurchaseOut(purchase_id=row_id, checkout_session_id=cs_id, url=url)
    return JSONResponse(out.model_dump(mode="json"), status_code=201)


@router.get(
    "/purchases/{checkout_session_id}",
    response_model=PurchaseStatusOut,
    openapi_extra={"security": CALLER_SECURITY},
    responses={
        **CALLER_RESPONSES,
        404: {"description": "no purchase of this organization has that session"},
    },
)
async def purchase_status(
    request: Request, checkout_session_id: str, session: SessionDep, caller: Reader,
    fulfil: bool = Query(False, description="re-read the session from Stripe and fulfil it"),
) -> PurchaseStatusOut:  # fmt: skip
    """A purchase's state; with ``fulfil=true`` (the success page) the session is re-read from
    Stripe and fulfilled when paid (once, whoever comes first: this or the webhook)."""
    set_tenant(session, caller.organization_id)
    if fulfil:
        found: purchases.Purchase | None = await purchases.fulfil_from_stripe(
            session, client_of(runtime_of(request)), caller.organization_id, checkout_session_id
        )
    else:
        conn = await service.raw_connection(session)
        found = await purchases.purchase_of(conn, caller.organization_id, checkout_session_id)
    if found is None:
        raise NotFound("no purchase of this organization has that Checkout Session")
    return PurchaseStatusOut(
        checkout_session_id=found.checkout_session_id, status=found.status,
        credits=found.credits, amount_minor=found.amount_minor, currency=found.currency,
        reversed_credits=found.reversed_credits,
    )  # fmt: skip


def _subscription_out(row: purchases.Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=row.id, package_id=row.package_id, credits=row.credits, status=row.status,
        stripe_subscription_id=row.stripe_subscription_id, invoices_paid=row.invoices_paid,
        created_at=row.created_at, canceled_at=row.canceled_at,
        payment_failed_invoice=row.payment_failed_invoice,
        payment_failed_at=row.payment_failed_at,
    )  # fmt: skip


@router.post(
    "/subscriptions",
    response_model=SubscriptionStartOut,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no active subscription plan has that id"}},
)
async def start_subscription(
    request: Request, body: SubscriptionIn, session: TenantSessionDep, principal: AdminPrincipal
) -> JSONResponse:
    """Subscribe to a plan through Checkout (mode subscription); each paid invoice grants the
    plan's credits once."""
    runtime = runtime_of(request)
    page = f"{runtime.settings.public_url}/credits"
    name, email = await organization_contact(session, principal.organization_id)
    row_id, url = await purchases.start_subscription(
        session, client_of(runtime), principal.organization_id, package_id=body.package_id,
        success_url=f"{page}?subscription=started", cancel_url=f"{page}?subscription=cancelled",
        name=name, email=email,
    )  # fmt: skip
    out = SubscriptionStartOut(subscription_id=row_id, url=url)
    return JSONResponse(out.model_dump(mode="json"), status_code=201)


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionOut],
    openapi_extra={"security": CALLER_SECURITY},
    responses=CALLER_RESPONSES,
)
async def list_subscriptions(session: SessionDep, caller: Reader) -> list[SubscriptionOut]:
    """The organization's credit subscriptions (started ones), newest first."""
    conn = await service.raw_connection(session)
    rows = await purchases.subscriptions(conn, caller.organization_id)
    return [_subscription_out(r) for r in rows]


@router.delete(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses={404: {"description": "no such subscription"}, 409: {}},
)
async def cancel_subscription(
    request: Request, subscription_id: uuid.UUID, session: TenantSessionDep,
    principal: AdminPrincipal,
) -> SubscriptionOut:  # fmt: skip
    """Cancel now at Stripe; the credits already granted stay."""
    row = await purchases.cancel_subscription(
        session, client_of(runtime_of(request)), principal.organization_id, subscription_id
    )
    return _subscription_out(row)
