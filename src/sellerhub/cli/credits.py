"""``sellerhub credits``: reconcile the credit ledger, grant credits."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any

import typer

from sellerhub.cli.common import settings_or_exit

group = typer.Typer(help="Credits: the ledger's reconciliation, grants.", no_args_is_help=True)


@group.command("reconcile")
def credits_reconcile() -> None:
    """Prove the ledger: every account's totals equal the sums of its transfers, and all
    balances sum to zero. Prints the report as JSON; a difference is also logged as an error
    and recorded in the platform's audit trail. Exits 0 when the ledger holds, 1 otherwise."""
    settings = settings_or_exit()
    from sellerhub.billing.credits import service
    from sellerhub.db.session import unit_of_work
    from sellerhub.runtime import Runtime

    async def go() -> dict[str, Any]:
        runtime = Runtime.create(settings)
        try:
            async with unit_of_work(runtime.sessionmaker) as session:
                report = await service.reconcile_and_record(session)
            return service.describe(report)
        finally:
            await runtime.close()

    report = asyncio.run(go())
    typer.echo(json.dumps(report))
    if not report["ok"]:
        typer.echo("the credit ledger does not reconcile", err=True)
        raise typer.Exit(1)


@group.command("grant")
def credits_grant(
    organization: Annotated[str, typer.Argument(help="the organization's id")],
    amount: Annotated[int, typer.Argument(min=1, help="credits to give")],
    key: Annotated[str, typer.Option("--key", help="idempotency key: the same key grants once")],
    reason: Annotated[str, typer.Option("--reason", help="kept with the transfer")] = "",
    expires_in_days: Annotated[
        int | None,
        typer.Option(
            "--expires-in-days", min=1, max=3650, help="the credits granted expire after these days"
        ),
    ] = None,
) -> None:
    """Give an organization credits (from the platform's grants account), once per key; with
    ``--expires-in-days``, what is left of them leaves the wallet then. An organization that
    does not exist is refused (exit 1) and nothing is written."""
    settings = settings_or_exit()
    try:
        organization_id = uuid.UUID(organization)
    except ValueError:
        typer.echo(f"error: {organization!r} is not an organization id", err=True)
        raise typer.Exit(2) from None
    from sellerhub.billing.credits import service
    from sellerhub.core.errors import NotFound
    from sellerhub.db.session import unit_of_work
    from sellerhub.runtime import Runtime

    async def go() -> dict[str, Any]:
        runtime = Runtime.create(settings)
        try:
            async with unit_of_work(runtime.sessionmaker) as session:
                row, created = await service.admin_grant(
                    session, organization_id, amount=amount, key=key, reason=reason,
                    actor_user_id=None, expires_in_days=expires_in_days,
                )  # fmt: skip
            return {"id": str(row.id), "amount": row.amount, "created": created,
                    "balance_after": row.credit_balance_after}  # fmt: skip
        finally:
            await runtime.close()

    try:
        made = asyncio.run(go())
    except NotFound as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(made))
