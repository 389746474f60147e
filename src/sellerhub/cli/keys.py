"""``sellerhub keys``: the encryption key ring and the JWT signing keys."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from sellerhub.cli.common import settings_or_exit
from sellerhub.core import crypto

group = typer.Typer(help="Encryption key ring and JWT signing keys.", no_args_is_help=True)


@group.command("generate")
def keys_generate(
    kid: Annotated[str | None, typer.Option(help="key id; random when omitted")] = None,
) -> None:
    """Print a new `kid:base64key` entry for SELLERHUB_ENCRYPTION_KEYS (put it first)."""
    try:
        typer.echo(crypto.generate_key_entry(kid))
    except crypto.KeyRingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@group.command("rotate")
def keys_rotate(
    new_key: Annotated[
        bool, typer.Option("--new-key", help="development: add a new active key to the data dir")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
) -> None:
    """Re-encrypt every encrypted column under the active (first) key, in committed batches.
    Resumable and safe while the service runs; run it after every process has the new ring."""
    settings = settings_or_exit()
    if new_key:
        if settings.encryption_keys is not None:
            typer.echo("error: --new-key manages the data dir key file only", err=True)
            raise typer.Exit(2)
        kid = crypto.prepend_dev_key(settings.data_dir)
        typer.echo(f"new active key {kid} added to the development key ring")
    import sellerhub.db.models  # noqa: F401 - every model registers its encrypted columns
    from sellerhub.db.encrypted import rotate_all
    from sellerhub.runtime import Runtime

    async def go() -> None:
        runtime = Runtime.create(settings)
        try:
            report = await rotate_all(runtime.sessionmaker, runtime.keyring, batch_size=batch_size)
        finally:
            await runtime.close()
        typer.echo(
            json.dumps(
                {
                    "active_kid": runtime.keyring.active_kid,
                    "rotated": report.rotated,
                    "remaining": report.remaining,
                }
            )
        )
        if report.remaining:
            raise typer.Exit(1)

    asyncio.run(go())


@group.command("rotate-signing")
def keys_rotate_signing() -> None:
    """Add a new JWT signing key. Every process publishes it at once; it signs from its stored
    activation time (the JWKS cache lifetime plus two reloads later) and the key it replaces
    stays in the JWKS until its tokens have expired. Audited."""
    settings = settings_or_exit()
    from sellerhub.db.session import unit_of_work
    from sellerhub.identity.jwt.service import KeyTimings, rotate_signing_key
    from sellerhub.runtime import Runtime

    timings = KeyTimings.of(settings)

    async def go() -> tuple[str, str]:
        runtime = Runtime.create(settings)
        try:
            async with unit_of_work(runtime.sessionmaker) as session:
                key = await rotate_signing_key(session, runtime.keyring, timings, reason="cli")
            return key.kid, key.activates_at.isoformat()
        finally:
            await runtime.close()

    kid, activates_at = asyncio.run(go())
    typer.echo(
        json.dumps(
            {
                "kid": kid,
                "activates_at": activates_at,
                "signs_after_seconds": int(timings.activation_delay.total_seconds()),
            }
        )
    )
