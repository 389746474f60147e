"""The ASGI application."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sellerhub import __version__
from sellerhub.api import ROUTERS
from sellerhub.billing.credits.endpoints import consume
from sellerhub.commerce.inventory.endpoints import serve_reservation
from sellerhub.commerce.inventory.imports.endpoints import STREAMED_PATHS
from sellerhub.config import Settings, get_settings
from sellerhub.core import openapi, problems
from sellerhub.core.cors import CorsMiddleware
from sellerhub.core.inputs import InputPolicy
from sellerhub.core.lanes import LaneHandler, RouteLane
from sellerhub.core.logging import configure_logging, get_logger
from sellerhub.core.middleware import RequestContextMiddleware
from sellerhub.identity.apps.cache import app_registry, registered_origins
from sellerhub.runtime import Runtime
from sellerhub.web import install as web
from sellerhub.webhooks.ingress import IngressLane

log = get_logger(__name__)

# The hottest routes skip FastAPI's routing, exception and request-handling layers: the lane runs
# each documented route's own work (the same function its route runs) and answers alike
# (core.lanes; tests/test_reservation_lane.py, tests/test_consume_lane.py).
LANES: dict[tuple[str, str], LaneHandler] = {
    ("POST", "/api/v1/inventory/reservations"): serve_reservation,
    ("POST", "/api/cross-app/credits/consume"): consume,
}


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. With ``runtime`` given (tests), the caller owns the resources."""
    settings = settings or (runtime.settings if runtime else get_settings())
    settings.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        rt = runtime or Runtime.create(settings)
        if owned:
            configure_logging(settings.log_level, settings.json_logs)
            await rt.open()
        app.state.runtime = rt  # read through deps.runtime_of, typed
        log.info("app.started", env=settings.env.value)
        if owned:
            # What startup built (models, routes, settings) lives as long as the process: keep
            # it out of the collector's generations, so full collections stay short and rare.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if owned:
                await rt.close()

    app = FastAPI(
        title="sellerhub",
        version=__version__,
        description="Identity, provider connections, webhooks, commerce data and billing "
        "for e-commerce seller tools.",
        lifespan=lifespan,
        # sellerhub's own metrics (/metrics) and logs are its telemetry; FastAPI's native
        # OpenTelemetry is off, so no request asks for the global providers (three lookups and
        # environment reads per request, whether or not one is configured).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    problems.install(app)
    openapi.install(app)  # the document declares every status and content type (core.openapi)
    web.install(app)  # the web UI's static files (its pages are routers in api.py)
    # The lanes (LANES) skip FastAPI's routing and request handling; innermost, so every
    # middleware below wraps them exactly as it wraps the documented routes.
    app.add_middleware(RouteLane, routes=LANES)
    # The input policy (sizes, NUL, surrogates, nesting) for every request but webhook deliveries;
    # bulk inventory uploads stream their bodies under their own limit (their route enforces it).
    app.add_middleware(
        InputPolicy,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_seconds=settings.request_body_timeout_seconds,
        streamed_paths=STREAMED_PATHS,
    )
    # CORS for registered apps' origins, inside the request context (ids, metrics, headers).
    app_registry.ttl_seconds = settings.app_cache_seconds
    app.add_middleware(CorsMiddleware, origins=registered_origins)
    app.add_middleware(IngressLane)  # webhook deliveries, inside the request context
    app.add_middleware(RequestContextMiddleware)
    for router in ROUTERS:
        # The routes themselves, not the router: an included router is matched through its
        # own layer (twice per request in this FastAPI), a flat list once.
        app.router.routes.extend(router.routes)
    if settings.emulators_enabled:
        # Imported only when enabled: the server's own code paths never depend on emulators.
        from sellerhub_emulators.app import create_emulators_app

        app.mount("/_emulators", create_emulators_app())
    return app


def production_app() -> FastAPI:
    """Entry point for the ASGI servers (``sellerhub.app:production_app``, factory mode)."""
    return create_app()
