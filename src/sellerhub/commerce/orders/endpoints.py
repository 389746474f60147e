from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Query, Response

from sellerhub.commerce.orders.repository import OrderRepository
from sellerhub.commerce.orders.schemas import OrderPage
from sellerhub.deps import TenantReaderDep

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


# The JSON is rendered by PostgreSQL and returned as it is (no model validation on the hot
# path); ``response_model`` only describes it in the OpenAPI document.
@router.get("", response_model=OrderPage)
async def list_orders(
    reader: TenantReaderDep,
    limit: int = Query(50, ge=1, le=200),
    cursor: uuid.UUID | None = Query(None, description="next_cursor of the previous page"),
    channel: Literal["shopify", "woocommerce", "amazon"] | None = Query(None),
    status: str | None = Query(None, max_length=50),
) -> Response:
    """The organization's orders, newest first, cursor-paged, with their lines (money in minor
    units of the order's currency)."""
    body = await OrderRepository.page_json(
        reader, limit=limit, before=cursor, channel=channel, status=status
    )
    return Response(body, media_type="application/json")
