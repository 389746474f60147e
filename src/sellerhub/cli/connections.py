"""``sellerhub connections``: support's view of the providers' verdict on a connection."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated

import typer

from sellerhub.cli.common import settings_or_exit

group = typer.Typer(
    help="Connections: live checks of channel and carrier tokens.", no_args_is_help=True
)


@group.command("check")
def connections_check(
    connection_id: Annotated[
        uuid.UUID | None, typer.Argument(help="the connection to check (any organization)")
    ] = None,
    organization: Annotated[
        str | None,
        typer.Option("--organization", help="check the connections of the organization (slug)"),
    ] = None,
    include_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="with --organization: also list the connections that need authorizing again "
            "(not sent to the provider: only connecting again brings them back)",
        ),
    ] = False,
) -> None:
    """Ask each provider, with the connection's token, whether it is accepted (the same check
    as POST /api/v1/connections/{id}/test). Prints one JSON line per connection; exits 1 when
    any check did not pass, 2 when nothing matches."""
    if connection_id is None and organization is None:
        typer.echo("error: name a connection id or --organization <slug>", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()
    from sellerhub.connections.flows import check
    from sellerhub.connections.refresh import RefreshContext
    from sellerhub.core.errors import NotFound
    from sellerhub.identity.organizations.repository import OrganizationRepository
    from sellerhub.runtime import Runtime

    async def go() -> bool:
        runtime = Runtime.create(settings)
        ctx = RefreshContext(runtime.sessionmaker, runtime.keyring, settings, runtime.http)
        try:
            async with runtime.sessionmaker() as session:
                organization_id = None
                if organization is not None:
                    found = await OrganizationRepository(session).by_slug(organization)
                    if found is None:
                        raise NotFound(f"no organization has the slug {organization!r}")
                    organization_id = found.id
                targets = await check.targets(
                    session,
                    connection_id=connection_id,
                    organization_id=organization_id,
                    include_needs_reauth=include_all,
                )
            passed = True
            for owner, target in targets:
                outcome = await check.check_connection(
                    ctx, owner, target, actor_user_id=None, actor_type="cli"
                )
                typer.echo(json.dumps(outcome.as_json()))
                passed = passed and outcome.ok
            return passed
        finally:
            await runtime.close()

    try:
        passed = asyncio.run(go())
    except NotFound as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from None
    if not passed:
        raise typer.Exit(1)
