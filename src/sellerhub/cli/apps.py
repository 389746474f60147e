"""``sellerhub apps``: the platform's registered apps — list, show, change origins and redirect
URLs, disable and enable, rotate the client secret. The same rules and audit trail as the API
(``/api/cross-app/apps``); running servers see a change within ``SELLERHUB_APP_CACHE_SECONDS``.
Every command prints JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.cli.common import settings_or_exit
from sellerhub.config import Settings

group = typer.Typer(
    help="Registered apps: list, change, disable, rotate secrets.", no_args_is_help=True
)

T = TypeVar("T")
AppId = Annotated[str, typer.Argument(help="the app id")]


def _run(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction; a refusal is a message and exit 1 (unknown
    app) or 2 (invalid input), never a traceback."""
    settings = settings_or_exit()
    from sellerhub.core.errors import DomainError
    from sellerhub.db.session import unit_of_work
    from sellerhub.runtime import Runtime

    async def go() -> T:
        runtime = Runtime.create(settings)
        try:
            async with unit_of_work(runtime.sessionmaker) as session:
                return await work(session, settings)
        finally:
            await runtime.close()

    try:
        return asyncio.run(go())
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1 if exc.status == 404 else 2) from None


def _echo(app: Any, **extra: Any) -> None:
    from sellerhub.identity.apps.schemas import AppOut

    typer.echo(json.dumps({**AppOut.model_validate(app).model_dump(mode="json"), **extra}))


@group.command("list")
def apps_list() -> None:
    """Every registered app, one JSON object per line (secrets are never shown)."""
    from sellerhub.identity.apps import service

    for app in _run(lambda session, _: service.list_apps(session)):
        _echo(app)


@group.command("show")
def apps_show(app_id: AppId) -> None:
    """One app."""
    from sellerhub.identity.apps import service

    _echo(_run(lambda session, _: service.get_app(session, app_id)))


@group.command("update")
def apps_update(
    app_id: AppId,
    origin: Annotated[
        list[str] | None,
        typer.Option("--origin", help="an allowed origin; repeat; replaces the app's list"),
    ] = None,
    redirect: Annotated[
        list[str] | None,
        typer.Option("--redirect", help="a redirect URL; repeat; replaces the app's list"),
    ] = None,
    no_origins: Annotated[bool, typer.Option("--no-origins", help="remove every origin")] = False,
    no_redirects: Annotated[
        bool, typer.Option("--no-redirects", help="remove every redirect URL")
    ] = False,
    name: Annotated[str | None, typer.Option(help="a new display name")] = None,
) -> None:
    """Change an app's allowed origins, redirect URLs or name (lists not given are kept)."""
    from sellerhub.identity.apps import service
    from sellerhub.identity.apps.schemas import AppUpdate

    if (origin and no_origins) or (redirect and no_redirects):
        typer.echo(
            "error: --origin with --no-origins (or --redirect with --no-redirects)", err=True
        )
        raise typer.Exit(2)
    changes = AppUpdate(
        name=name,
        allowed_origins=[] if no_origins else (origin or None),
        redirect_urls=[] if no_redirects else (redirect or None),
    )
    _echo(
        _run(
            lambda session, settings: service.update_app(
                session,
                service.CLI,
                app_id,
                changes,
                service.AppTokenPolicy.from_settings(settings),
            )
        )
    )


@group.command("disable")
def apps_disable(app_id: AppId) -> None:
    """Disable an app: its credentials, tokens, introspection and sign-ins are refused."""
    from sellerhub.identity.apps import service

    _echo(_run(lambda session, _: service.set_enabled(session, service.CLI, app_id, False)))


@group.command("enable")
def apps_enable(app_id: AppId) -> None:
    """Enable a disabled app again."""
    from sellerhub.identity.apps import service

    _echo(_run(lambda session, _: service.set_enabled(session, service.CLI, app_id, True)))


@group.command("rotate-secret")
def apps_rotate_secret(
    app_id: AppId,
    grace_seconds: Annotated[
        int,
        typer.Option(
            min=0, max=30 * 86_400, help="how long the old secret stays valid (0: not at all)"
        ),
    ] = 86_400,
) -> None:
    """A new client secret, printed once (``client_secret``); the old one stays valid for
    --grace-seconds."""
    from sellerhub.identity.apps import service

    rotated = _run(
        lambda session, _: service.rotate_secret(
            session, service.CLI, app_id, timedelta(seconds=grace_seconds)
        )
    )
    _echo(rotated.app, client_id=rotated.app.app_id, client_secret=rotated.secret)
