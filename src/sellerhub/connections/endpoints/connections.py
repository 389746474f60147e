from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from sellerhub.connections import client, service
from sellerhub.connections.endpoints.context import refresh_context
from sellerhub.connections.flows import check
from sellerhub.connections.schemas import CarrierCredentials, ConnectionOut, ConnectionTest
from sellerhub.core.errors import PayloadTooLarge
from sellerhub.core.inputs import request_body
from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep

router = APIRouter(prefix="/api/v1", tags=["connections"])


@router.get("/connections", response_model=list[ConnectionOut])
async def list_connections(
    session: TenantSessionDep, principal: CurrentPrincipal
) -> list[ConnectionOut]:
    """The organization's connections with their status; secrets never, client ids masked."""
    return [service.describe(c) for c in await service.list_connections(session)]


@router.get("/connections/{connection_id}", response_model=ConnectionOut)
async def get_connection(
    connection_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> ConnectionOut:
    return service.describe(await service.get_connection(session, connection_id))


@router.delete("/connections/{connection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def disconnect(
    connection_id: uuid.UUID, session: TenantSessionDep, principal: AdminPrincipal
) -> None:
    """Disconnect: the connection stops being used and its secrets are wiped."""
    await service.disconnect(session, principal, connection_id)


@router.post("/connections/{connection_id}/test", response_model=ConnectionTest)
async def test_connection(
    connection_id: uuid.UUID, request: Request, principal: CurrentPrincipal
) -> ConnectionTest:
    """Live check: one cheap authenticated read at the provider with the connection's token
    (refreshed first when due). Refused → the connection moves to ``needs_reauth`` with the
    reason; provider down or throttling → ``ok`` false, nothing changed. Always 200 for a
    connection of the organization (404 otherwise)."""
    outcome = await check.check_connection(
        refresh_context(request),
        principal.organization_id,
        connection_id,
        actor_user_id=principal.user_id,
    )
    return ConnectionTest(
        ok=outcome.ok,
        status=outcome.status,
        result=outcome.result.value,
        detail=outcome.detail,
        provider_status=outcome.provider_status,
        checked_at=outcome.checked_at,
    )


@router.post(
    "/carriers/{carrier}/credentials",
    response_model=ConnectionOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "credentials of an existing connection replaced"},
        422: {"description": "the carrier refused the credentials (or they are not valid)"},
        502: {"description": "the carrier did not answer"},
    },
)
async def carrier_credentials(
    carrier: Literal["fedex", "dhl"],
    body: CarrierCredentials,
    request: Request,
    session: TenantSessionDep,
    principal: AdminPrincipal,
) -> Response:
    """Store the organization's carrier API credentials after checking them by fetching a
    token. The secret is stored encrypted and never returned."""
    connection, created = await service.connect_carrier(
        session, refresh_context(request), principal, carrier, body
    )
    out = service.describe(connection).model_dump(mode="json")
    return JSONResponse(out, status_code=201 if created else 200)


PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MAX_PROXY_BODY = 1024 * 1024
_REQUEST_HEADERS = (
    "content-type",
    "accept",
    "accept-language",
    "x-customer-transaction-id",
    "amazon-advertising-api-scope",  # which Ads profile to act on
)
_RESPONSE_HEADERS = (
    "content-type",
    "retry-after",
    "link",
    "x-amzn-ratelimit-limit",
    "x-amzn-requestid",
    "x-shopify-shop-api-call-limit",
    "x-wp-total",
    "x-wp-totalpages",
)


async def proxy(
    connection_id: uuid.UUID, path: str, request: Request, principal: CurrentPrincipal
) -> Response:
    """Call the provider's API as this connection: auth injected, token refreshed when due and
    on a 401, throttled to the provider's limits, 429s waited out, a failing provider paused by
    the circuit breaker. The answer is the provider's, status and body unchanged."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_PROXY_BODY:
        raise PayloadTooLarge(f"proxied bodies are limited to {MAX_PROXY_BODY} bytes")
    body = await request_body(request)
    if len(body) > MAX_PROXY_BODY:
        raise PayloadTooLarge(f"proxied bodies are limited to {MAX_PROXY_BODY} bytes")
    outgoing = client.ProviderCall(
        method=request.method,
        path=path,
        params=list(request.query_params.multi_items()),
        headers={k: v for k, v in request.headers.items() if k.lower() in _REQUEST_HEADERS},
        content=body or None,
    )
    answer = await client.call(
        refresh_context(request), principal.organization_id, connection_id, outgoing
    )
    headers = {k: v for k, v in answer.headers.items() if k.lower() in _RESPONSE_HEADERS}
    return Response(answer.content, status_code=answer.status_code, headers=headers)


for _method in PROXY_METHODS:
    router.add_api_route(
        "/connections/{connection_id}/proxy/{path:path}",
        proxy,
        methods=[_method],
        operation_id=f"proxy_{_method.lower()}",
        response_class=Response,
        responses={
            200: {
                "description": "the provider's answer, status and body as they came",
                "content": {"*/*": {}},
            },
            "default": {
                "description": "the provider's answer, whatever its status and media type",
                "content": {"*/*": {}},
            },
            409: {"description": "the connection needs to be authorized again"},
            413: {"description": "the body is larger than proxied bodies may be"},
            502: {"description": "the provider is unavailable"},
            503: {"description": "the provider is paused (circuit open), or the database"},
            504: {"description": "the provider did not answer in time"},
        },
    )
