"""Operations: liveness, readiness (database, migrations, job queue, key ring) and Prometheus
metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from sellerhub.core.metrics import render
from sellerhub.db.keyring import ring_problem
from sellerhub.db.migrations import head_revision
from sellerhub.deps import runtime_of
from sellerhub.jobs.app import queue_app

router = APIRouter(tags=["operations"])
_CHECK_TIMEOUT = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (no dependencies checked)."""
    return {"status": "ok"}


async def _check_database(request: Request) -> str | None:
    async with runtime_of(request).engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        current = (
            await conn.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one_or_none()
    if current != head_revision():
        return f"migrations not at head (database {current}, code {head_revision()})"
    return None


async def _check_key_ring(request: Request) -> str | None:
    runtime = runtime_of(request)
    return await ring_problem(runtime.engine, runtime.keyring)


async def _check_queue() -> str | None:
    if not await queue_app.check_connection_async():
        return "job queue schema missing"
    return None


@router.get(
    "/readyz",
    responses={
        503: {
            "description": "a dependency is down",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status", "checks", "down"],
                        "properties": {
                            "status": {"const": "unavailable"},
                            "checks": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "down": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                }
            },
        }
    },
)
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: database reachable, migrations at head, job queue reachable, and the
    encryption key ring readable and holding every key the stored secrets are sealed under."""
    checks: dict[str, str] = {}
    for name, check in (
        ("database", _check_database(request)),
        ("job_queue", _check_queue()),
        ("key_ring", _check_key_ring(request)),
    ):
        try:
            failure = await asyncio.wait_for(check, _CHECK_TIMEOUT)
        except Exception as exc:
            failure = f"unreachable ({type(exc).__name__})"
        checks[name] = failure or "ok"
    failed = {k: v for k, v in checks.items() if v != "ok"}
    if failed:
        return JSONResponse(
            {"status": "unavailable", "checks": checks, "down": sorted(failed)}, status_code=503
        )
    return JSONResponse({"status": "ok", "checks": checks})


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)
