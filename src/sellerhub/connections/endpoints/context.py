from __future__ import annotations

from fastapi import Request

from sellerhub.connections.flows.base import FlowContext
from sellerhub.connections.refresh import RefreshContext
from sellerhub.deps import runtime_of


def refresh_context(request: Request) -> RefreshContext:
    runtime = runtime_of(request)
    return RefreshContext(runtime.sessionmaker, runtime.keyring, runtime.settings, runtime.http)


def flow_context(request: Request) -> FlowContext:
    runtime = runtime_of(request)
    return FlowContext(runtime.sessionmaker, runtime.keyring, runtime.settings, runtime.http)
