"""Bulk inventory imports over HTTP. The upload routes read their body themselves, in chunks
as it arrives (``STREAMED_PATHS``: the input policy passes them through unbuffered), under
``SELLERHUB_INVENTORY_IMPORT_MAX_BYTES`` instead of the general body limit."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse

from sellerhub.commerce.inventory.imports import reader, service
from sellerhub.commerce.inventory.imports.schemas import ImportOut, ImportResult
from sellerhub.commerce.inventory.models import ImportStatus
from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep, runtime_of

router = APIRouter(tags=["inventory imports"])

SEED_PATH = "/inventory/bulk"
IMPORTS_PATH = "/api/v1/inventory/imports"
STREAMED_PATHS = frozenset({SEED_PATH, IMPORTS_PATH})

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "CSV with a header row naming sku, location, quantity and optionally "
        "mode (set or add; set when absent); comma- or semicolon-separated; UTF-8 with or "
        "without BOM. Or a JSON array of objects with the same keys.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "sku": {"type": "string"},
                            "location": {"type": "string"},
                            "quantity": {"type": "integer"},
                            "mode": {"type": "string", "enum": ["set", "add"]},
                        },
                    },
                }
            },
        },
    }
}
_UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "an earlier upload with the same Idempotency-Key, as it stands"},
    202: {"model": ImportOut, "description": "a large file: stored, continuing in a job"},
    408: {"description": "the upload paused too long"},
    409: {"description": "stock levels changed while the import was applied (retry)"},
    413: {"description": "the file is larger than SELLERHUB_INVENTORY_IMPORT_MAX_BYTES"},
    422: {"description": "the file cannot be read, or rows are invalid (the report)"},
}


async def _upload(
    request: Request,
    session: TenantSessionDep,
    principal: AdminPrincipal,
    partial: bool,
    idempotency_key: str | None,
) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings
    body = reader.limited(
        request.stream(),
        max_bytes=settings.inventory_import_max_bytes,
        declared=request.headers.get("content-length"),
        idle_seconds=settings.request_body_timeout_seconds,
    )
    uploaded = await service.upload(
        session,
        principal.organization_id,
        body,
        content_type=request.headers.get("content-type", ""),
        partial=partial,
        key=idempotency_key,
        inline_rows=settings.inventory_import_sync_rows,
    )
    item = uploaded.item
    headers = {"Location": f"{IMPORTS_PATH}/{item.id}"}
    if uploaded.replayed:
        headers["Idempotent-Replayed"] = "true"
    if item.status == ImportStatus.REJECTED:
        raise await service.rejected(session, item)
    if item.status not in service.FINISHED:
        payload = service.describe(item).model_dump(mode="json")
        return JSONResponse(payload, status_code=status.HTTP_202_ACCEPTED, headers=headers)
    answer = await service.result(session, item)
    code = status.HTTP_200_OK if uploaded.replayed else status.HTTP_201_CREATED
    return JSONResponse(answer.model_dump(mode="json"), status_code=code, headers=headers)


@router.post(
    IMPORTS_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResult,
    responses=_UPLOAD_RESPONSES,
    openapi_extra=_UPLOAD_BODY,
)
async def upload_import(
    request: Request,
    session: TenantSessionDep,
    principal: AdminPrincipal,
    partial: bool = Query(False, description="apply the good rows even when others are bad"),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Response:
    """Import stock quantities (the body is the file, streamed). Every row is validated and the
    answer is one report; nothing is applied when a row is bad unless ``partial=true``. Up to
    ``SELLERHUB_INVENTORY_IMPORT_SYNC_ROWS`` rows answer at once (201, or 422 with the report);
    larger files answer 202 and continue in the background (poll the import)."""
    return await _upload(request, session, principal, partial, idempotency_key)


@router.post(
    SEED_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResult,
    responses=_UPLOAD_RESPONSES,
    openapi_extra=_UPLOAD_BODY,
)
async def bulk_inventory(
    request: Request,
    session: TenantSessionDep,
    principal: AdminPrincipal,
    partial: bool = Query(False, description="apply the good rows even when others are bad"),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Response:
    """The seed's path for ``POST /api/v1/inventory/imports`` (the same handler)."""
    return await _upload(request, session, principal, partial, idempotency_key)


@router.get(f"{IMPORTS_PATH}/{{import_id}}", response_model=ImportOut)
async def get_import(
    import_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> ImportOut:
    """An import's progress: rows read, validated (rows_valid) and applied, and its status."""
    return service.describe(await service.get(session, principal.organization_id, import_id))


@router.get(
    f"{IMPORTS_PATH}/{{import_id}}/errors.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "row, column, value, message"}},
)
async def import_errors_csv(
    import_id: uuid.UUID, request: Request, session: TenantSessionDep, principal: CurrentPrincipal
) -> StreamingResponse:
    """The import's consolidated error report as CSV."""
    await service.get(session, principal.organization_id, import_id)  # 404 for another's
    lines = service.error_csv(
        runtime_of(request).sessionmaker, principal.organization_id, import_id
    )
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'},
    )
