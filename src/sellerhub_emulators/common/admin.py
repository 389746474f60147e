"""The ``_admin`` router every emulator mounts under its prefix (api-contract.md §4):

- ``GET  _admin/stats``  → ``{"requests": {"<endpoint name>": count, ...}}``
- ``GET  _admin/config`` → the current configuration
- ``POST _admin/config`` → apply a JSON object (see ``config.ConfigUpdate``); 422 when invalid
- ``POST _admin/expire`` / ``revoke`` / ``reset``
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from sellerhub_emulators.common.state import EmulatorState


def build_admin_router(state: EmulatorState) -> APIRouter:
    router = APIRouter(prefix="/_admin", tags=[f"{state.name} emulator control"])

    @router.get("/stats")
    async def stats() -> JSONResponse:
        return JSONResponse({"requests": state.stats()})

    @router.get("/config")
    async def read_config() -> JSONResponse:
        return JSONResponse(state.config_snapshot())

    @router.post("/config")
    async def write_config(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            update = state.config_model.model_validate_json(
                raw.strip() or b"{}", context={"endpoints": state.endpoints}
            )
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False)
            return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)
        state.apply_config(update)
        return JSONResponse(state.config_snapshot())

    @router.post("/expire")
    async def expire() -> JSONResponse:
        return JSONResponse(state.expire())

    @router.post("/revoke")
    async def revoke() -> JSONResponse:
        return JSONResponse(state.revoke())

    @router.post("/reset")
    async def reset() -> JSONResponse:
        state.reset()
        return JSONResponse({"reset": True})

    return router
