"""Identity figures: offline verification of our access tokens on one core.

* ``identity.jwt.keystore_verify.per_s`` — the server's own path (``KeyStore.verify``: cached
  public keys, ES256 signature, issuer, audience, lifetime).
* ``identity.jwt.pyjwkclient_cached.per_s`` — a consumer's path: PyJWT's ``PyJWKClient``
  pointed only at the production server's JWKS URL (fetched once, then cached) plus
  ``jwt.decode``.

Both use as baseline PyJWT's HS256 verification of the same claims, the cheapest standard JWT
check, measured in the same run. Target: ≥ 10,000 verifications per second per core.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt

from bench.harness import (
    Figure,
    emit,
    free_port,
    log,
    production_env,
    run_secrets,
    running_server,
)

TARGET_PER_SECOND = 10_000
AUDIENCE = "sellerhub"


def _rate(check: Callable[[], Any], seconds: float = 2.0) -> float:
    """Calls per second of ``check`` on this thread (one core), after a short warm-up."""
    for _ in range(200):
        check()
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            check()
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


async def _issue_token(database_url: str, issuer: str) -> tuple[str, Any]:
    """A token signed with the database's active key, through the project's own KeyStore."""
    from sellerhub.config import Environment, Settings
    from sellerhub.runtime import Runtime

    settings = Settings(
        env=Environment.TEST,
        database_url=database_url,  # type: ignore[arg-type]
        encryption_keys=run_secrets()["SELLERHUB_ENCRYPTION_KEYS"],  # type: ignore[arg-type]
        public_url=issuer,
        _env_file=None,  # type: ignore[call-arg]
    )
    runtime = Runtime.create(settings)
    try:
        await runtime.open()
        assert runtime.keystore is not None
        token, _ = runtime.keystore.issue(
            subject="01a20000-0000-7000-8000-000000000001",
            audience=AUDIENCE,
            ttl=timedelta(minutes=10),
            claims={
                "org": "01a20000-0000-7000-8000-000000000002",
                "roles": ["owner"],
                "ut": "customer",
            },
        )
        return token, runtime.keystore
    finally:
        await runtime.close()


def run(*, database_url: str, work_dir: Path) -> None:
    issuer = "https://bench.invalid"  # the production server's SELLERHUB_PUBLIC_URL
    token, keystore = asyncio.run(_issue_token(database_url, issuer))
    claims = jwt.decode(token, options={"verify_signature": False})
    hs_secret = "b" * 32
    hs_token = jwt.encode(claims, hs_secret, algorithm="HS256")

    def hs256() -> None:
        jwt.decode(hs_token, hs_secret, algorithms=["HS256"], audience=AUDIENCE, issuer=issuer)

    def keystore_verify() -> None:
        keystore.verify(token, AUDIENCE)

    baseline = _rate(hs256)
    own = _rate(keystore_verify)
    port = free_port()
    env = production_env(
        database_url=database_url, server="uvicorn", port=port, workers=1, data_dir=work_dir
    )
    with running_server("uvicorn", env, port, work_dir) as server:
        client = jwt.PyJWKClient(f"{server.base_url}/.well-known/jwks.json", cache_keys=True)

        def consumer() -> None:
            key = client.get_signing_key_from_jwt(token)
            jwt.decode(token, key.key, algorithms=["ES256"], audience=AUDIENCE, issuer=issuer)

        consumer()  # the one JWKS fetch
        jwks_client = _rate(consumer)
    for name, value in (("keystore_verify", own), ("pyjwkclient_cached", jwks_client)):
        emit(Figure(f"identity.jwt.{name}.per_s", value, "verifications/s", baseline))
        mark = "meets" if value >= TARGET_PER_SECOND else "MISSES"
        log(f"identity.jwt.{name}: {value:,.0f}/s per core ({mark} target {TARGET_PER_SECOND:,})")
