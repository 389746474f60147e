"""The FBA sync's snapshots. Syncs themselves are started and followed through the sync-job
endpoints (``POST /api/v1/sync-jobs`` with ``resource: fba_inventory``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from sellerhub.commerce.inventory.fba import service
from sellerhub.commerce.inventory.fba.schemas import SnapshotItemPage, SnapshotOut, SnapshotPage
from sellerhub.deps import CurrentPrincipal, TenantSessionDep

router = APIRouter(prefix="/api/v1/inventory/fba", tags=["inventory"])


@router.get("/snapshots", response_model=SnapshotPage)
async def list_fba_snapshots(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: uuid.UUID | None = Query(None, description="next_cursor of the previous page"),
) -> SnapshotPage:
    """The organization's FBA inventory snapshots (one per sync run), newest first."""
    return await service.list_snapshots(
        session, principal.organization_id, limit=limit, before=cursor
    )


@router.get(
    "/snapshots/{snapshot_id}",
    response_model=SnapshotOut,
    responses={404: {"description": "no such snapshot in the organization"}},
)
async def get_fba_snapshot(
    snapshot_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> SnapshotOut:
    found = await service.get_snapshot(session, principal.organization_id, snapshot_id)
    return service.describe(found)


@router.get(
    "/snapshots/{snapshot_id}/items",
    response_model=SnapshotItemPage,
    responses={404: {"description": "no such snapshot in the organization"}},
)
async def list_fba_snapshot_items(
    snapshot_id: uuid.UUID,
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(200, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=400, description="next_cursor of the last page"),
    marketplace_id: str | None = Query(None, max_length=20),
    sku: str | None = Query(None, max_length=200),
) -> SnapshotItemPage:
    """A snapshot's SKUs by marketplace and SKU, with every quantity Amazon reported."""
    return await service.list_items(
        session,
        principal.organization_id,
        snapshot_id,
        limit=limit,
        cursor=cursor,
        marketplace_id=marketplace_id,
        sku=sku,
    )
