"""``sellerhub keys``: the encryption key ring and the JWT signing keys."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, NoReturn

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


ENV_STEPS = """\
A ring from SELLERHUB_ENCRYPTION_KEYS cannot be read again by a running process. Rotate in
this order:
  1. `sellerhub keys generate`; put the entry FIRST in SELLERHUB_ENCRYPTION_KEYS (keep the old
     entries after it) of every API and worker process, and restart them all;
  2. run `sellerhub keys rotate` with that same ring until it prints "remaining": 0;
  3. only then remove the old entry from every process's ring and restart them.
Or give every process SELLERHUB_ENCRYPTION_KEYS_FILE: a running process reads that file again
when it changes, and `sellerhub keys rotate --new-key` rotates without restarts."""

FILE_STEPS = """\
Processes read their key-ring file again every few seconds. Make every API and worker process
read a file whose first entry is {kid} (on every host: copy the new file to each; a process
whose ring is SELLERHUB_ENCRYPTION_KEYS must be restarted with the new ring), then run
`sellerhub keys rotate` (without --new-key) until it prints "remaining": 0. Remove an old entry
only after that."""


def _refuse(message: str, steps: str) -> NoReturn:
    typer.echo(f"refused: {message}\n{steps}", err=True)
    raise typer.Exit(2)


@group.command("rotate")
def keys_rotate(
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key",
            help="add a new active key to the key-ring file (the data dir's in development, or "
            "SELLERHUB_ENCRYPTION_KEYS_FILE) before re-encrypting",
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
    wait_seconds: Annotated[
        float,
        typer.Option(
            min=0, max=600, help="how long to wait for every live process to hold the active key"
        ),
    ] = 30.0,
) -> None:
    """Re-encrypt every encrypted column under the active (first) key, in committed batches.
    Resumable, and safe while the service runs: it starts only once every live API and worker
    process holds the active key as its own (processes with a key-ring file pick a new key up
    on their own), and refuses, printing the steps, otherwise."""
    settings = settings_or_exit()
    keys = settings.encryption_keys.get_secret_value() if settings.encryption_keys else None
    try:
        source = crypto.key_source(
            keys, settings.encryption_keys_file, settings.data_dir, settings.is_production
        )
    except crypto.KeyRingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if new_key:
        if not isinstance(source, crypto.FileKeySource):
            _refuse(
                "--new-key writes a key-ring file; this ring is SELLERHUB_ENCRYPTION_KEYS",
                ENV_STEPS,
            )
        try:
            kid = crypto.prepend_key(source.path)
        except (crypto.KeyRingError, OSError) as exc:
            typer.echo(f"error: the key-ring file cannot be rewritten: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"new active key {kid} added to {source.describe()}")
    import sellerhub.db.models  # noqa: F401 - every model registers its encrypted columns
    from sellerhub.db.encrypted import rotate_all
    from sellerhub.db.keyring import HEARTBEAT_SECONDS, holders_behind, unknown_kids
    from sellerhub.runtime import Runtime

    async def go() -> None:
        runtime = Runtime.create(settings)
        ring = runtime.keyring
        try:
            unknown = await unknown_kids(runtime.engine, ring)
            if unknown:
                _refuse(
                    f"stored secrets are sealed under key(s) {', '.join(unknown)} that this "
                    "key ring does not hold",
                    "Put those keys back in the ring (after the active one) and run again; "
                    'remove a key only once `sellerhub keys rotate` printed "remaining": 0.',
                )
            deadline = time.monotonic() + wait_seconds
            while behind := await holders_behind(runtime.engine, ring.active_kid):
                if time.monotonic() >= deadline:
                    listed = "\n".join(f"  {h.describe()}" for h in behind)
                    _refuse(
                        f"{len(behind)} live process(es) do not hold key {ring.active_kid} as "
                        f"their active key:\n{listed}",
                        FILE_STEPS.format(kid=ring.active_kid) if ring.reloadable else ENV_STEPS,
                    )
                await asyncio.sleep(min(0.5, HEARTBEAT_SECONDS))
            report = await rotate_all(runtime.sessionmaker, ring, batch_size=batch_size)
        finally:
            await runtime.close()
        typer.echo(
            json.dumps(
                {
                    "active_kid": ring.active_kid,
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
