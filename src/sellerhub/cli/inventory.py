"""``sellerhub inventory``: operators' checks of the stock journal."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from sellerhub.cli.common import settings_or_exit

group = typer.Typer(
    help="Inventory: checks of stock levels and their journal.", no_args_is_help=True
)


@group.command("verify")
def inventory_verify(
    organization: Annotated[
        str | None,
        typer.Option("--organization", help="check one organization (slug); all by default"),
    ] = None,
) -> None:
    """Replay the stock movements journal and compare it with the levels. Prints one JSON
    line per level that differs (what the level says, what the journal says, the problem);
    exits 0 when the journal explains every level, 1 when something differs, 2 when the
    organization is unknown."""
    settings = settings_or_exit()
    from sellerhub.commerce.inventory import service
    from sellerhub.identity.organizations.repository import OrganizationRepository
    from sellerhub.runtime import Runtime

    async def go() -> int | None:
        runtime = Runtime.create(settings)
        try:
            async with runtime.sessionmaker() as session:
                organization_id = None
                if organization is not None:
                    found = await OrganizationRepository(session).by_slug(organization)
                    if found is None:
                        return None
                    organization_id = found.id
                mismatches = await service.verify(session, organization_id)
                await session.rollback()
            for mismatch in mismatches:
                typer.echo(mismatch.model_dump_json())
            return len(mismatches)
        finally:
            await runtime.close()

    differing = asyncio.run(go())
    if differing is None:
        typer.echo(f"error: no organization has the slug {organization!r}", err=True)
        raise typer.Exit(2)
    if differing:
        typer.echo(f"{differing} level(s) differ from the journal", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps({"verified": True, "organization": organization}), err=True)
