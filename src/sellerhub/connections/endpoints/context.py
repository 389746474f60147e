from __future__ import annotations

from fastapi import Request

from sellerhub.connections.flows.base import FlowContext
from sellerhub.connections.refresh import RefreshContext


def refresh_context(request: Request) -> RefreshContext:
    runtime = request.app.state.runtime
    return RefreshContext(runtime.sessionmaker, runtime.keyring, runtime.settings, runtime.http)


def flow_context(request: Request) -> FlowContext:
    runtime = request.app.state.runtime
    return FlowContext(runtime.sessionmaker, runtime.keyring, runtime.settings, runtime.http)
