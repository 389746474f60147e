"""``sellerhub apps`` as an operator runs it: list, show, update, disable, enable and rotate a
secret, against the same database as the API, audited as the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import httpx
from sqlalchemy import text

from sellerhub.identity.apps.cache import app_registry
from sellerhub.runtime import Runtime
from tests.test_cross_app import (  # noqa: F401 - fixtures
    World,
    _fresh_registry,
    basic,
    world,
)


async def _sellerhub(
    runtime: Runtime, database_url: str, *args: str
) -> tuple[int, list[dict[str, Any]], str]:
    assert runtime.settings.encryption_keys is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_ENV": "test",
        "SELLERHUB_DATABASE_URL": database_url,
        "SELLERHUB_ENCRYPTION_KEYS": runtime.settings.encryption_keys.get_secret_value(),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sellerhub",
        "apps",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert proc.returncode is not None
    return proc.returncode, lines, err.decode()


async def test_the_apps_commands(
    client: httpx.AsyncClient,
    runtime: Runtime,
    database_url: str,
    world: World,  # noqa: F811
) -> None:
    code, listed, _ = await _sellerhub(runtime, database_url, "list")
    assert code == 0 and [a["app_id"] for a in listed] == ["adsight", "amzreimb"]
    assert all("client_secret" not in a for a in listed)

    code, updated, _ = await _sellerhub(
        runtime,
        database_url,
        "update",
        "amzreimb",
        "--origin",
        "https://one.example.com",
        "--origin",
        "https://two.example.com/",
        "--no-redirects",
    )
    assert code == 0
    assert updated[0]["allowed_origins"] == ["https://one.example.com", "https://two.example.com"]
    assert updated[0]["redirect_urls"] == []

    code, rotated, _ = await _sellerhub(
        runtime, database_url, "rotate-secret", "amzreimb", "--grace-seconds", "0"
    )
    assert code == 0 and rotated[0]["client_secret"].startswith("sha_")
    app_registry.clear()  # the servers' caches: within SELLERHUB_APP_CACHE_SECONDS
    validate = "/api/cross-app/validate-token"
    new = basic("amzreimb", rotated[0]["client_secret"])
    assert (await client.post(validate, json={"token": "x"}, headers=new)).status_code == 200
    old = await client.post(validate, json={"token": "x"}, headers=world.reimb.basic)
    assert old.status_code == 401

    code, disabled, _ = await _sellerhub(runtime, database_url, "disable", "amzreimb")
    assert code == 0 and disabled[0]["disabled_at"] is not None
    app_registry.clear()
    refused = await client.post(validate, json={"token": "x"}, headers=new)
    assert refused.status_code == 403 and refused.json()["code"] == "app-disabled"
    code, enabled, _ = await _sellerhub(runtime, database_url, "enable", "amzreimb")
    assert code == 0 and enabled[0]["disabled_at"] is None
    code, shown, _ = await _sellerhub(runtime, database_url, "show", "amzreimb")
    assert code == 0 and shown[0]["secret_rotated_at"] is not None

    code, _, err = await _sellerhub(runtime, database_url, "show", "ghost")
    assert code == 1 and "no app has the id 'ghost'" in err
    code, _, err = await _sellerhub(
        runtime, database_url, "update", "amzreimb", "--origin", "http://evil.example.com"
    )
    assert code == 2 and "allowed_origins.0" in err

    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT action, actor_type, data->>'via' FROM platform_audit_events"
                " WHERE target_id = 'amzreimb' ORDER BY id"
            )
        )
    assert [tuple(r) for r in rows] == [
        ("APP_UPDATED", "system", "cli"),
        ("APP_SECRET_ROTATED", "system", "cli"),
        ("APP_DISABLED", "system", "cli"),
        ("APP_ENABLED", "system", "cli"),
    ]
