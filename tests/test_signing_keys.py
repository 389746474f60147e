"""Signing-key rotation that every process agrees on (issue 11): activation by a time stored
with the key, publication at once in every process, a verifier that honours the JWKS cache
never meets an unknown key, a stale view refuses to sign, scheduled rotation once however many
workers run it."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.identity.jwt import service as keys
from sellerhub.identity.jwt.models import SigningKey
from sellerhub.identity.jwt.service import KeyStore, KeyTimings, SigningKeysUnavailable
from sellerhub.identity.sessions import service as sessions
from sellerhub.identity.sessions.endpoints import session_policy
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.servers import free_port, server_env, serving

# Short enough for a test, the same rule as production: 2 s max-age + 2 x 1 s reloads + 5 s.
FAST = {"jwks_max_age_seconds": "2", "signing_key_reload_seconds": "1"}
LANES = 3  # concurrent sign-ins refreshed at each process during the rotation
FAST_TIMINGS = KeyTimings(jwks_max_age=timedelta(seconds=2), reload_interval=timedelta(seconds=1))


def test_activation_outlasts_every_cache() -> None:
    default = KeyTimings()
    assert default.activation_delay == timedelta(seconds=425)
    assert default.activation_delay > default.jwks_max_age + default.reload_interval
    assert FAST_TIMINGS.activation_delay == timedelta(seconds=9)
    settings = Settings(jwks_max_age_seconds=60, signing_key_reload_seconds=10)
    assert KeyTimings.of(settings).activation_delay == timedelta(seconds=85)


async def _published_kids(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return [k["kid"] for k in response.json()["keys"]]


async def test_jwks_publishes_a_new_key_at_once_and_cache_control_follows_the_setting(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """No reload needed: the process that serves the JWKS never saw the rotation happen; its
    JWKS is at most ``JWKS_FRESH_SECONDS`` old."""
    await _published_kids(client)  # the process's view is now loaded
    async with unit_of_work(runtime.sessionmaker) as session:
        key = await keys.rotate_signing_key(session, runtime.keyring, runtime.keystore.timings)
    await asyncio.sleep(keys.JWKS_FRESH_SECONDS)
    response = await client.get("/.well-known/jwks.json")
    assert key.kid in [k["kid"] for k in response.json()["keys"]]
    max_age = runtime.settings.jwks_max_age_seconds
    assert response.headers["cache-control"] == f"public, max-age={max_age}"
    assert key.activates_at - utcnow() > timedelta(seconds=max_age)


async def test_the_signing_key_is_chosen_by_the_clock(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Views loaded at different times choose by the stored times, not by when they loaded; a
    view older than the key refuses to sign rather than use the key being retired."""
    early = KeyStore(runtime.sessionmaker, runtime.keyring, "x", FAST_TIMINGS)
    await early.load()
    async with unit_of_work(runtime.sessionmaker) as session:
        key = await keys.rotate_signing_key(session, runtime.keyring, FAST_TIMINGS)
    late = KeyStore(runtime.sessionmaker, runtime.keyring, "x", FAST_TIMINGS)
    await late.load()
    before = early.signing_kid()
    assert before != key.kid and late.signing_kid() == before
    at_activation = key.activates_at + timedelta(seconds=1)
    monkeypatch.setattr(keys, "utcnow", lambda: at_activation)
    late._view_time = at_activation - timedelta(seconds=1)  # reloaded a second ago: same keys
    assert late.signing_kid() == key.kid  # switched by the clock, without loading
    with pytest.raises(SigningKeysUnavailable):  # never saw the new key: cannot know
        early.signing_kid()
    monkeypatch.undo()
    await early.load()
    assert early.signing_kid() == before  # the real clock: not activated yet


async def test_a_view_too_old_to_be_right_refuses_to_sign(runtime: Runtime) -> None:
    store = KeyStore(runtime.sessionmaker, runtime.keyring, "x", FAST_TIMINGS)
    await store.load()
    store.issue(subject="u", audience="a", ttl=timedelta(minutes=1))
    assert store._view_time is not None
    store._view_time -= FAST_TIMINGS.view_lifetime  # every reload since has failed
    with pytest.raises(SigningKeysUnavailable):
        store.issue(subject="u", audience="a", ttl=timedelta(minutes=1))


async def test_scheduled_rotation_happens_once_and_is_audited(runtime: Runtime) -> None:
    async with runtime.engine.connect() as conn:
        before = (await conn.execute(text("SELECT count(*) FROM signing_keys"))).scalar_one()

    async with runtime.engine.begin() as conn:  # the newest key is two days old
        await conn.execute(
            text("UPDATE signing_keys SET created_at = created_at - interval '2 days'")
        )

    async def due() -> SigningKey | None:
        async with unit_of_work(runtime.sessionmaker) as session:
            return await keys.rotate_if_due(
                session, runtime.keyring, FAST_TIMINGS, every=timedelta(days=1)
            )

    # Two workers at once rotate once: the second, after the lock, sees the first's key.
    results = await asyncio.gather(due(), due())
    rotated = [r for r in results if r is not None]
    assert len(rotated) == 1
    async with unit_of_work(runtime.sessionmaker) as session:
        assert (
            await keys.rotate_if_due(session, runtime.keyring, FAST_TIMINGS, timedelta(days=1))
            is None
        )
    async with runtime.engine.connect() as conn:
        after = (await conn.execute(text("SELECT count(*) FROM signing_keys"))).scalar_one()
        audited = (
            await conn.execute(
                text(
                    "SELECT data->>'reason' FROM platform_audit_events"
                    " WHERE action = 'signing_key.rotated' AND target_id = :kid"
                ),
                {"kid": rotated[0].kid},
            )
        ).all()
    assert after == before + 1
    assert audited == [("scheduled",)]


class StrictJwksVerifier:
    """A third-party verifier that honours ``Cache-Control: max-age`` to the letter: it fetches
    the JWKS (from any replica) only when its copy has expired, never because a token names a
    key it does not know (a token like that fails)."""

    def __init__(self, jwks_urls: list[str], issuer: str) -> None:
        self.urls = jwks_urls
        self.issuer = issuer
        self.keys: dict[str, Any] = {}
        self.expires = 0.0
        self.fetches = 0

    async def verify(self, http: httpx.AsyncClient, token: str) -> dict[str, Any]:
        if time.monotonic() >= self.expires:
            response = await http.get(self.urls[self.fetches % len(self.urls)])
            self.fetches += 1
            assert response.status_code == 200
            match = re.search(r"max-age=(\d+)", response.headers["cache-control"])
            assert match
            self.expires = time.monotonic() + int(match.group(1))
            self.keys = {str(k.key_id): k for k in jwt.PyJWKSet.from_dict(response.json()).keys}
        kid = jwt.get_unverified_header(token)["kid"]
        if kid not in self.keys:
            raise LookupError(f"unknown key {kid}")
        claims: dict[str, Any] = jwt.decode(
            token,
            self.keys[kid].key,
            algorithms=["ES256"],
            audience="sellerhub",
            issuer=self.issuer,
        )
        return claims


async def test_rotation_across_two_api_processes(
    runtime: Runtime,
    tenant: Tenant,
    database_url: str,
    tmp_path: Path,
    suite_logs: Path,
) -> None:
    """Two API processes (never asked for their JWKS by the verifier's timing, only by its
    cache) and the CLI rotating: every token either process issues during the whole rotation
    verifies through the JWKS as a third-party client sees it, and at the other process; each
    process switches to the new key at its stored activation time, not at its next reload."""
    assert runtime.settings.encryption_keys is not None
    encryption_keys = runtime.settings.encryption_keys.get_secret_value()
    public_url = "http://sellerhub.test"  # the replicas' shared public name (the issuer)
    envs = [
        server_env(
            database_url=database_url,
            encryption_keys=encryption_keys,
            port=free_port(),
            data_dir=tmp_path / name,
            public_url=public_url,
            **FAST,
        )
        for name in ("a", "b")
    ]
    with ExitStack() as stack:
        bases = [
            stack.enter_context(serving(env, suite_logs / f"rotation_{i}.log"))
            for i, env in enumerate(envs)
        ]
        families = []  # LANES sign-ins per process, each refreshed there again and again
        for _ in range(LANES * len(bases)):
            async with unit_of_work(runtime.sessionmaker) as session:
                issued = await sessions.start_session(
                    session,
                    runtime.keystore,
                    session_policy(runtime.settings),
                    user_id=tenant.user.id,
                    organization_id=tenant.organization.id,
                    method="test",
                )
            families.append(issued.refresh_token)
        verifier = StrictJwksVerifier([f"{b}/.well-known/jwks.json" for b in bases], public_url)
        issued_tokens: list[tuple[int, str, int]] = []  # (process, kid, iat)
        failures: list[str] = []
        async with httpx.AsyncClient(timeout=10) as http:
            # The verifier caches the JWKS from before the rotation.
            old_kid = jwt.get_unverified_header(
                (await _refresh(http, bases[0], families, 0))["access_token"]
            )["kid"]
            rotation = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sellerhub",
                "keys",
                "rotate-signing",
                env=envs[0],
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await asyncio.wait_for(rotation.communicate(), 60)
            assert rotation.returncode == 0
            result = json.loads(out.decode().strip().splitlines()[-1])
            new_kid, activates_at = result["kid"], datetime.fromisoformat(result["activates_at"])
            assert result["signs_after_seconds"] == 9
            end = activates_at + FAST_TIMINGS.view_lifetime + timedelta(seconds=2)

            async def lane(index: int) -> None:
                process = index % len(bases)
                base, other = bases[process], bases[1 - process]
                while utcnow() < end:
                    try:
                        token = (await _refresh(http, base, families, index))["access_token"]
                        claims = await verifier.verify(http, token)
                    except (AssertionError, LookupError, jwt.PyJWTError) as exc:
                        failures.append(f"process {process}: {exc}")
                        continue
                    me = await http.get(
                        f"{other}/api/auth/me", headers={"Authorization": f"Bearer {token}"}
                    )
                    if me.status_code != 200:
                        failures.append(f"process {1 - process} refused process {process}'s token")
                    kid = jwt.get_unverified_header(token)["kid"]
                    issued_tokens.append((process, kid, int(claims["iat"])))

            await asyncio.gather(*(lane(i) for i in range(len(families))))
    assert failures == []  # no refresh answered other than 200, no token failed anywhere
    assert len(issued_tokens) > 100
    assert verifier.fetches >= 2  # the cache expired during the rotation and was read again
    # Each token was signed by the key whose stored times cover the instant it was issued
    # (iat is whole seconds: the instant lies in [iat, iat + 1)), in both processes alike.
    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT kid, activates_at, retired_at FROM signing_keys"))
        ).all()
    for process, kid, iat in issued_tokens:
        start, stop = datetime.fromtimestamp(iat, UTC), datetime.fromtimestamp(iat + 1, UTC)
        possible = {
            r.kid
            for r in rows
            if r.activates_at < stop and (r.retired_at is None or r.retired_at > start)
        }
        assert kid in possible, (process, iat, kid, possible)
    for process in (0, 1):
        kids = [kid for p, kid, _ in issued_tokens if p == process]
        assert kids[-1] == new_kid and kids[0] != new_kid, process
    assert old_kid != new_kid


async def _refresh(
    http: httpx.AsyncClient, base: str, families: list[str], index: int
) -> dict[str, Any]:
    response = await http.post(f"{base}/api/auth/refresh", json={"refresh_token": families[index]})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    families[index] = body["refresh_token"]
    return body
