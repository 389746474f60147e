"""The commands as a person runs them: `sellerhub run` on an empty data dir, Ctrl-C, run again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from sellerhub.core.crypto import KeyRing
from sellerhub.runtime import Runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_keys_generate_prints_a_valid_entry() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sellerhub", "keys", "generate", "--kid", "prod2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert out.startswith("prod2:")
    assert KeyRing.parse(out).active_kid == "prod2"


def _wait_ready(url: str, proc: subprocess.Popen[str], timeout: float = 120) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "sellerhub run exited early"
        try:
            response = httpx.get(url + "/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("not ready in time")


def _postgres_running(data_dir: Path) -> bool:
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_DATA_DIR": str(data_dir),
        "SELLERHUB_PORT": str(port),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "sellerhub", "run"],
        env=env,
        cwd=data_dir.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _ctrl_c(proc: subprocess.Popen[str]) -> str:
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    out, _ = proc.communicate(timeout=60)
    return out


@pytest.mark.timeout_heavy
def test_run_serves_then_stops_everything_and_reuses_data(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port)
    try:
        ready = _wait_ready(url, proc)
        assert ready.json()["checks"] == {"database": "ok", "job_queue": "ok", "key_ring": "ok"}
        key = (data_dir / "demo-api-key").read_text().strip()
        org = httpx.get(
            url + "/api/v1/organizations/current", headers={"Authorization": f"Bearer {key}"}
        )
        assert org.status_code == 200 and org.json()["slug"] == "demo"
        assert (data_dir / "encryption.keys").stat().st_mode & 0o777 == 0o600
    finally:
        out = _ctrl_c(proc)
    assert proc.returncode == 0, out[-3000:]
    assert "demo admin" in out and "worker.started" in out
    assert "Traceback" not in out
    assert not _postgres_running(data_dir)

    again = _start(data_dir, port)
    try:
        _wait_ready(url, again)
        key = (data_dir / "demo-api-key").read_text().strip()
        events = httpx.get(
            url + "/api/v1/audit-events", headers={"Authorization": f"Bearer {key}"}
        ).json()["items"]
        assert [e["action"] for e in events] == ["ORGANIZATION_CREATED"]  # seeded once only
    finally:
        out = _ctrl_c(again)
    assert again.returncode == 0, out[-3000:]
    assert not _postgres_running(data_dir)


async def test_keys_rotate_signing(
    runtime: Runtime, client: httpx.AsyncClient, database_url: str
) -> None:
    assert runtime.settings.encryption_keys is not None and runtime.keystore is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_ENV": "test",
        "SELLERHUB_DATABASE_URL": database_url,
        "SELLERHUB_ENCRYPTION_KEYS": runtime.settings.encryption_keys.get_secret_value(),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sellerhub",
        "keys",
        "rotate-signing",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["signs_after_seconds"] == 425  # 300 s JWKS max-age + 2 x 60 s reloads + 5 s
    async with runtime.engine.connect() as conn:
        activates_at = (
            await conn.execute(
                text("SELECT activates_at FROM signing_keys WHERE kid = :kid"),
                {"kid": result["kid"]},
            )
        ).scalar_one()
        audited = (
            await conn.execute(
                text(
                    "SELECT actor_type, data->>'reason' FROM platform_audit_events"
                    " WHERE action = 'signing_key.rotated' AND target_id = :kid"
                ),
                {"kid": result["kid"]},
            )
        ).all()
    assert activates_at.isoformat() == result["activates_at"]
    assert audited == [("system", "cli")]
    await runtime.keystore.load()
    kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert result["kid"] in kids and len(kids) >= 2
