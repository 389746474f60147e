"""Identity figures.

* ``identity.validate_token.<mode>.rps`` / ``.p50`` / ``.p99`` — ``POST
  /api/cross-app/validate-token`` on the production server, an app validating a user's
  app-scoped token, against the trivial route (``/healthz``) of the same server in the same
  run (target: ≥ 50 % of its rate). ``cached`` is the default configuration (apps and tokens
  already validated are remembered for ``SELLERHUB_APP_CACHE_SECONDS``); ``uncached`` runs
  the server with that setting at 0, so every request authenticates the app against the
  database and verifies the signature.

Offline verification of our access tokens on one core:

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
import base64
import json
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt

from bench.harness import (
    BenchError,
    Figure,
    LoadSpec,
    emit,
    free_port,
    load,
    log,
    production_env,
    run_secrets,
    running_server,
)

TARGET_PER_SECOND = 10_000
VALIDATE_TARGET_RATIO = 0.5
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
        database_url=database_url,
        encryption_keys=run_secrets()["SELLERHUB_ENCRYPTION_KEYS"],
        public_url=issuer,
        _env_file=None,
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


async def _seed_admin(url: str) -> str:
    """A platform admin with an API key (registers the benchmark app)."""
    import sellerhub.db.models  # noqa: F401 - complete metadata before the first flush
    from sellerhub.db.engine import create_engine
    from sellerhub.db.session import make_sessionmaker, unit_of_work
    from sellerhub.identity import service as identity
    from sellerhub.identity.organizations.models import Role
    from sellerhub.identity.principal import Principal
    from sellerhub.identity.users.models import UserType

    engine = create_engine(url, pool_size=1)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            user = await identity.create_user(
                session, email="bench-admin@bench.invalid", name="Admin", user_type=UserType.ADMIN
            )
            org = await identity.create_organization(session, name="Bench Platform", owner=user)
            owner = Principal(user.id, org.id, Role.OWNER, UserType.ADMIN, via="bench")
            return (await identity.issue_api_key(session, owner, "bench")).secret
    finally:
        await engine.dispose()


def _post_json(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def _app_and_token(base_url: str, admin_key: str, app_id: str) -> tuple[str, str]:
    """Register an app and get a user token for it, through the HTTP API."""
    bearer = {"Authorization": f"Bearer {admin_key}"}
    registered = _post_json(
        base_url + "/api/cross-app/register",
        {
            "app_id": app_id,
            "name": "Bench app",
            "kind": "browser",
            "allowed_origins": ["https://bench-app.invalid"],
            "redirect_urls": ["https://bench-app.invalid/callback"],
            "permissions": ["profile:read"],
        },
        bearer,
    )
    issued = _post_json(base_url + "/api/cross-app/auth", {"app_id": app_id}, bearer)
    return str(registered["client_secret"]), str(issued["access_token"])


def _measure_validate(
    mode: str, *, database_url: str, work_dir: Path, spec: LoadSpec, admin_key: str
) -> None:
    port = free_port()
    env = production_env(
        database_url=database_url, server="uvicorn", port=port, workers=1, data_dir=work_dir
    )
    if mode == "uncached":
        env["SELLERHUB_APP_CACHE_SECONDS"] = "0"
    with running_server("uvicorn", env, port, work_dir) as server:
        secret, token = _app_and_token(server.base_url, admin_key, f"bench{mode}")
        basic = base64.b64encode(f"bench{mode}:{secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}
        body = json.dumps({"token": token})
        check = _post_json(
            server.base_url + "/api/cross-app/validate-token",
            {"token": token},
            {"Authorization": f"Basic {basic}"},
        )
        if check.get("active") is not True:
            raise BenchError(f"validate-token did not accept the bench token: {check}")
        trivial = load(server.base_url + "/healthz", spec)
        validate = load(
            server.base_url + "/api/cross-app/validate-token",
            spec,
            headers,
            post_body=body,
            script_dir=work_dir,
        )
    prefix = f"identity.validate_token.{mode}"
    emit(Figure(f"{prefix}.rps", validate.rps, "req/s", trivial.rps))
    emit(Figure(f"{prefix}.p50", validate.p50_ms, "ms", trivial.p50_ms))
    emit(Figure(f"{prefix}.p99", validate.p99_ms, "ms", trivial.p99_ms))
    ratio = validate.rps / trivial.rps
    mark = "meets" if ratio >= VALIDATE_TARGET_RATIO else "MISSES"
    log(f"{prefix}: {ratio:.2f} of the trivial route ({mark} target {VALIDATE_TARGET_RATIO})")


def run(*, database_url: str, work_dir: Path, spec: LoadSpec) -> None:
    admin_key = asyncio.run(_seed_admin(database_url))
    for mode in ("cached", "uncached"):
        _measure_validate(
            mode, database_url=database_url, work_dir=work_dir, spec=spec, admin_key=admin_key
        )
    verification(database_url=database_url, work_dir=work_dir)


def _algorithm_figures() -> None:
    """Why ES256: raw signature verifications per second of P-256 against Ed25519 on this
    machine (OpenSSL through ``cryptography``)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    message = b"x" * 300
    p256 = ec.generate_private_key(ec.SECP256R1())
    p256_signature = p256.sign(message, ec.ECDSA(hashes.SHA256()))
    edwards = ed25519.Ed25519PrivateKey.generate()
    edwards_signature = edwards.sign(message)
    es256 = _rate(
        lambda: p256.public_key().verify(p256_signature, message, ec.ECDSA(hashes.SHA256()))
    )
    eddsa = _rate(lambda: edwards.public_key().verify(edwards_signature, message))
    emit(Figure("identity.jwt.es256_vs_eddsa_raw_verify", es256, "verifications/s", eddsa))


def verification(*, database_url: str, work_dir: Path) -> None:
    issuer = "https://bench.invalid"  # the production server's SELLERHUB_PUBLIC_URL
    token, keystore = asyncio.run(_issue_token(database_url, issuer))
    claims = jwt.decode(token, options={"verify_signature": False})
    hs_secret = "b" * 32
    hs_token = jwt.encode(claims, hs_secret, algorithm="HS256")

    def hs256() -> None:
        jwt.decode(hs_token, hs_secret, algorithms=["HS256"], audience=AUDIENCE, issuer=issuer)

    def keystore_verify() -> None:
        keystore.verify(token, AUDIENCE)

    public_key = jwt.PyJWK(keystore.jwks()["keys"][0]).key

    def pyjwt_decode() -> None:  # the same checks through the library's decode
        jwt.decode(
            token,
            public_key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=issuer,
            leeway=30,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )

    baseline = _rate(hs256)
    own = _rate(keystore_verify)
    library = _rate(pyjwt_decode)
    emit(Figure("identity.jwt.keystore_vs_pyjwt_decode", own, "verifications/s", library))
    _algorithm_figures()
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
