"""Manual credentials (seed paths): WooCommerce REST keys or a self-authorized SP-API refresh
token, saved through ``connections/flows/manual.py``; nothing secret is ever returned."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from sellerhub.connections.endpoints.context import flow_context
from sellerhub.connections.flows import manual
from sellerhub.connections.models import Connection
from sellerhub.connections.schemas import AmazonCredentials, WooCommerceCredentials
from sellerhub.connections.service import describe
from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep

router = APIRouter(prefix="/integrations", tags=["manual credentials"])

_SAVE_ADD: dict[int | str, dict[str, Any]] = {
    409: {"description": "credentials for this account exist already; use PUT to replace"},
    422: {"description": "the address is not usable, or the provider refused the keys"},
    502: {"description": "the provider did not answer"},
}
_SAVE_REPLACE: dict[int | str, dict[str, Any]] = {
    404: {"description": "no connection of this account to replace"},
    422: {"description": "the address is not usable, or the provider refused the keys"},
    502: {"description": "the provider did not answer"},
}
_DELETE: dict[int | str, dict[str, Any]] = {
    404: {"description": "no manual credentials of this provider"}
}


def _saved(connection: Connection, created: bool) -> Response:
    return JSONResponse(
        describe(connection).model_dump(mode="json"), status_code=201 if created else 200
    )


@router.post("/woocommerce/credentials", status_code=status.HTTP_201_CREATED, responses=_SAVE_ADD)
async def add_woocommerce(
    body: WooCommerceCredentials,
    request: Request,
    session: TenantSessionDep,
    principal: AdminPrincipal,
) -> Response:
    """Store a WooCommerce store's REST keys after checking them against the store, and
    subscribe to the store's order webhooks."""
    return _saved(
        *await manual.save_woocommerce(
            session,
            flow_context(request),
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            body=body,
            replace=False,
        )
    )


@router.put("/woocommerce/credentials", responses=_SAVE_REPLACE)
async def replace_woocommerce(
    body: WooCommerceCredentials,
    request: Request,
    session: TenantSessionDep,
    principal: AdminPrincipal,
) -> Response:
    return _saved(
        *await manual.save_woocommerce(
            session,
            flow_context(request),
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            body=body,
            replace=True,
        )
    )


@router.post("/amazon/credentials", status_code=status.HTTP_201_CREATED, responses=_SAVE_ADD)
async def add_amazon(
    body: AmazonCredentials, request: Request, session: TenantSessionDep, principal: AdminPrincipal
) -> Response:
    """Store a self-authorized SP-API refresh token after a live check (token refresh and
    marketplaceParticipations)."""
    return _saved(
        *await manual.save_amazon(
            session,
            flow_context(request),
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            body=body,
            replace=False,
        )
    )


@router.put("/amazon/credentials", responses=_SAVE_REPLACE)
async def replace_amazon(
    body: AmazonCredentials, request: Request, session: TenantSessionDep, principal: AdminPrincipal
) -> Response:
    return _saved(
        *await manual.save_amazon(
            session,
            flow_context(request),
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            body=body,
            replace=True,
        )
    )


@router.delete(
    "/woocommerce/credentials", status_code=status.HTTP_204_NO_CONTENT, responses=_DELETE
)
async def delete_woocommerce(session: TenantSessionDep, principal: AdminPrincipal) -> None:
    await manual.delete(session, user_id=principal.user_id, provider="woocommerce")


@router.delete("/amazon/credentials", status_code=status.HTTP_204_NO_CONTENT, responses=_DELETE)
async def delete_amazon(session: TenantSessionDep, principal: AdminPrincipal) -> None:
    await manual.delete(session, user_id=principal.user_id, provider="amazon_spapi")


@router.get("/credentials/status")
async def credentials_status(
    session: TenantSessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Which manual credentials the organization has, and their state (never the secrets)."""
    return await manual.status(session)
