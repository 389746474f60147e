from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep
from sellerhub.identity import service
from sellerhub.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    MemberOut,
    OrganizationOut,
)

router = APIRouter(prefix="/api/v1", tags=["organizations"])


@router.get(
    "/organizations/current",
    response_model=OrganizationOut,
    responses={404: {"description": "the organization no longer exists"}},
)
async def get_current_organization(
    session: TenantSessionDep, principal: CurrentPrincipal
) -> OrganizationOut:
    org = await service.current_organization(session, principal)
    return OrganizationOut.model_validate(org)


@router.get("/organizations/current/members", response_model=list[MemberOut])
async def list_members(session: TenantSessionDep, principal: CurrentPrincipal) -> list[MemberOut]:
    return [MemberOut.model_validate(m) for m in await service.members(session)]


@router.get("/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(session: TenantSessionDep, principal: CurrentPrincipal) -> list[ApiKeyOut]:
    """The organization's keys (name, prefix, last use; never the secret). Every member sees
    them; creating and revoking need an owner or admin."""
    return [ApiKeyOut.model_validate(k) for k in await service.list_api_keys(session, principal)]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_api_key(
    body: ApiKeyCreate, session: TenantSessionDep, principal: AdminPrincipal
) -> ApiKeyCreated:
    issued = await service.issue_api_key(session, principal, body.name)
    out = ApiKeyOut.model_validate(issued.key)
    return ApiKeyCreated(**out.model_dump(), key=issued.secret)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(
    key_id: uuid.UUID, session: TenantSessionDep, principal: AdminPrincipal
) -> None:
    await service.revoke_api_key(session, principal, key_id)
