"""A bounded Schemathesis run over every operation of the OpenAPI document.

``python -m tests.fuzz`` (CI: ``.ci/run``) starts everything it needs in a temporary folder and
removes it afterwards:

1. an embedded PostgreSQL with a fresh, migrated database — no demo or developer data;
2. its own fixtures: an organization whose owner is a platform administrator, an API key
   acting as that owner and a spare one, a browser session (access cookie and CSRF token), a
   registered app (client credentials), an app token of the owner, a Shopify connection and a
   sync job of it. Destructive operations (revoking keys, disconnecting, cancelling) can only
   touch these; their ids are offered to the parameters of those names half of the time;
3. the production app under uvicorn on a free port of 127.0.0.1 (``tests.fuzz.server``: no
   traffic leaves the machine), emulators mounted as in development (the provider calls the
   flows make stay local) but not fuzzed — they are not in the document;
4. ``st run`` with a fixed seed and a bounded number of examples per operation, twice: signed
   in by API key (every operation) and by session cookie and CSRF token (the operations that
   accept a session). Phases: the schema's examples, coverage (boundary and invalid values,
   unexpected media types), fuzzing (valid and invalid data) and stateful sequences along the
   inferred links (at most 20 steps). The checks of ``tests/fuzz/schemathesis.toml``: no
   server error (a deliberate, documented 502/503/504 problem is not one) and every status
   code, content type, header and body as documented. About 3 minutes on 2 cores.

The exit status is Schemathesis's: non-zero on any failure. ``SELLERHUB_FUZZ_EXAMPLES`` and
``SELLERHUB_FUZZ_SEED`` override the bounds, ``SELLERHUB_FUZZ_PATHS`` (a regular expression,
e.g. ``^/api/v1/orders``) limits the run to those paths; extra arguments go to both ``st run``
(for example ``--phases fuzzing``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sellerhub.config import Environment, Settings
from sellerhub.connections.models import Connection
from sellerhub.core.crypto import generate_key_entry
from sellerhub.db.engine import EmbeddedPostgres
from sellerhub.db.migrations import upgrade
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity import service as identity
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.principal import Principal
from sellerhub.identity.sessions import service as sessions
from sellerhub.identity.sessions.endpoints import session_policy
from sellerhub.identity.users.models import UserType
from sellerhub.runtime import Runtime

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SEED = int(os.environ.get("SELLERHUB_FUZZ_SEED", "91207"))
MAX_EXAMPLES = int(os.environ.get("SELLERHUB_FUZZ_EXAMPLES", "100"))
PATHS = os.environ.get("SELLERHUB_FUZZ_PATHS", "")  # a regular expression: only these paths
# The second pass (signed in by session cookie and CSRF token, the operations that take one).
SESSION_EXAMPLES = max(1, MAX_EXAMPLES // 4)
AUTH = {
    # Credentials by the security schemes the document declares; the first satisfiable
    # requirement of an operation is used, so each pass configures one kind of user sign-in.
    "api key": {"bearerAuth": {"bearer": "${FUZZ_API_KEY}"}},
    "session": {
        "sessionCookie": {"api_key": "${FUZZ_ACCESS_TOKEN}"},
        "csrfCookie": {"api_key": "${FUZZ_CSRF_TOKEN}"},
        "csrfToken": {"api_key": "${FUZZ_CSRF_TOKEN}"},
    },
}
APP_AUTH = {
    "appToken": {"bearer": "${FUZZ_APP_TOKEN}"},
    "appClient": {"username": "${FUZZ_APP_ID}", "password": "${FUZZ_APP_SECRET}"},
}
APP_ID = "fuzz-app"
APP_ORIGIN = "https://fuzz.example.com"
SHOP = "fuzz-shop.myshopify.com"


@dataclass
class Fixtures:
    api_key: str
    access_token: str
    csrf_token: str
    connection_id: str
    app_secret: str = ""
    app_token: str = ""
    sync_job_id: str = ""
    api_key_id: str = ""


def log(message: str) -> None:
    print(f"fuzz: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed_database(settings: Settings) -> Fixtures:
    """The organization, its owner (a platform administrator), an API key and a session."""
    runtime = Runtime.create(settings)
    await runtime.open()
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            owner = await identity.create_user(
                session,
                email="owner@fuzz.example.com",
                name="Fuzz Owner",
                user_type=UserType.ADMIN,
            )
            org = await identity.create_organization(session, name="Fuzz Org", owner=owner)
            principal = Principal(owner.id, org.id, Role.OWNER, UserType.ADMIN, via="api_key")
            issued = await identity.issue_api_key(session, principal, "fuzz")
            set_tenant(session, org.id)
            shop = Connection(
                organization_id=org.id,
                provider="shopify",
                external_account_id=SHOP,
                display_name=SHOP,
                scopes=[],
                details={"shop": SHOP},
            )
            shop.ensure_id()
            session.add(shop)
        assert runtime.keystore is not None
        async with unit_of_work(runtime.sessionmaker) as session:
            signed_in = await sessions.start_session(
                session,
                runtime.keystore,
                session_policy(settings),
                user_id=owner.id,
                organization_id=org.id,
                method="fuzz",
            )
        return Fixtures(issued.secret, signed_in.access_token, signed_in.csrf_token, str(shop.id))
    finally:
        await runtime.close()


def seed_api(base: str, fixtures: Fixtures) -> None:
    """Through the API, as a client would: a registered app and an app token of the owner, a
    second API key (something to revoke) and a sync job of the shop."""
    bearer = {"Authorization": f"Bearer {fixtures.api_key}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        registered = client.post(
            "/api/cross-app/register",
            headers=bearer,
            json={
                "app_id": APP_ID,
                "name": "Fuzz App",
                "allowed_origins": [APP_ORIGIN],
                "permissions": [
                    "credits:consume",
                    "credits:purchase",
                    "credits:read",
                    "profile:read",
                    "users:create",
                ],
            },
        )
        registered.raise_for_status()
        fixtures.app_secret = registered.json()["client_secret"]
        token = client.post("/api/cross-app/auth", headers=bearer, json={"app_id": APP_ID})
        token.raise_for_status()
        fixtures.app_token = token.json()["access_token"]
        key = client.post("/api/v1/api-keys", headers=bearer, json={"name": "spare"})
        key.raise_for_status()
        fixtures.api_key_id = key.json()["id"]
        job = client.post(
            "/api/v1/sync-jobs", headers=bearer, json={"connection_id": fixtures.connection_id}
        )
        job.raise_for_status()
        fixtures.sync_job_id = job.json()["id"]


def write_config(workdir: Path, fixtures: Fixtures, sign_in: str) -> Path:
    """tests/fuzz/schemathesis.toml, plus the credentials of the pass and the ids of the
    fixtures: a path, query or body parameter of that name takes a real id half of the time (a
    random one otherwise)."""
    ids = {
        "connection_id": fixtures.connection_id,
        "job_id": fixtures.sync_job_id,
        "key_id": fixtures.api_key_id,
    }
    lines = [(HERE / "schemathesis.toml").read_text()]
    for scheme, fields in (AUTH[sign_in] | APP_AUTH).items():
        lines += ["", f"[auth.openapi.{scheme}]"]
        lines += [f'{key} = "{value}"' for key, value in fields.items()]
    lines += ["", "[dictionaries]"]
    lines += [f'{name} = {{ values = ["{value}"] }}' for name, value in ids.items()]
    lines += ["", "[parameters]"]
    for name in ids:
        for location in ("path", "query", "body"):
            lines.append(f'"{location}.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    config = workdir / f"schemathesis-{sign_in.replace(' ', '-')}.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def start_server(env: dict[str, str], port: int, logfile: Path) -> subprocess.Popen[bytes]:
    with logfile.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.server", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            sys.stderr.write(logfile.read_text(errors="replace"))
            raise SystemExit("fuzz: the server exited during startup")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("fuzz: the server did not become ready")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def accepts_session(item: dict[str, Any]) -> bool:
    return any(
        "sessionCookie" in requirement
        for operation in item.values()
        for requirement in operation.get("security", [])
    )


def paths_regex(base: str, session_only: bool) -> str | None:
    """A regular expression of the paths to fuzz: those matching ``SELLERHUB_FUZZ_PATHS``, and
    with ``session_only`` of those the ones whose operations accept a session."""
    document = httpx.get(base + "/openapi.json", timeout=30).json()
    paths = [
        path
        for path, item in document["paths"].items()
        if re.search(PATHS, path) and (accepts_session(item) or not session_only)
    ]
    if not paths:
        return None
    return "^(" + "|".join(re.escape(p) for p in sorted(paths)) + ")$"


def run_schemathesis(
    base: str,
    fixtures: Fixtures,
    workdir: Path,
    sign_in: str,
    examples: int,
    extra: list[str],
) -> int:
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    env = {
        **os.environ,
        "FUZZ_API_KEY": fixtures.api_key,
        "FUZZ_ACCESS_TOKEN": fixtures.access_token,
        "FUZZ_CSRF_TOKEN": fixtures.csrf_token,
        "FUZZ_APP_ID": APP_ID,
        "FUZZ_APP_SECRET": fixtures.app_secret,
        "FUZZ_APP_TOKEN": fixtures.app_token,
    }
    config = write_config(workdir, fixtures, sign_in)
    report = workdir / f"report-{sign_in.replace(' ', '-')}.json"
    command = [
        st,
        "--config-file",
        str(config),
        "run",
        f"{base}/openapi.json",
        "--seed",
        str(SEED),
        "--max-examples",
        str(examples),
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *extra,
    ]
    paths = paths_regex(base, session_only=sign_in == "session")
    if paths is None:
        log(f"no operation to fuzz signed in by {sign_in}")
        return 0
    command += ["--include-path-regex", paths]
    log(f"st run, signed in by {sign_in} (seed {SEED}, at most {examples} examples an operation)")
    code = subprocess.call(command, cwd=workdir, env=env)
    summarize(report)
    return code


def summarize(report: Path) -> None:
    """One line of counts from Schemathesis's JSON report."""
    if not report.exists():
        log("no report was written")
        return
    data = json.loads(report.read_text())
    failures = data.get("failures", [])
    server = sum(f["count"] for f in failures if f.get("code") == "ST101")
    other = sum(f["count"] for f in failures if f.get("code") != "ST101")
    cases = data.get("test_cases", {})
    operations = data.get("operations", {})
    log(
        f"{operations.get('tested', 0)} operations, {cases.get('generated', 0)} test cases in "
        f"{data.get('running_time', 0):.0f} s: {server} server errors, {other} conformance "
        f"violations (status, content type, headers, schema), {len(data.get('errors', []))} "
        "errors"
    )
    for failure in failures:
        log(f"  {failure['code']} {failure['title']}: {', '.join(failure['operations'])}")


def report_server_log(logfile: Path) -> None:
    """The server's errors (a 500 is logged with its traceback); warnings only counted."""
    lines = logfile.read_text(errors="replace").splitlines()
    errors = [i for i, line in enumerate(lines) if "[error" in line or "Traceback" in line]
    log(f"server log: {len(lines)} lines, {len(errors)} errors")
    if errors:
        print("\n".join(lines[errors[0] : errors[0] + 400]), flush=True)


def main(extra: list[str]) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sellerhub-fuzz-") as tmp:
        workdir = Path(tmp)
        postgres = EmbeddedPostgres(workdir / "pg")
        url = postgres.start()
        proc: subprocess.Popen[bytes] | None = None
        try:
            upgrade(url)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            keys = generate_key_entry(f"fuzz{uuid.uuid4().hex[:6]}")
            data_dir = workdir / "data"
            data_dir.mkdir()
            settings = Settings(
                env=Environment.TEST,
                database_url=url,
                encryption_keys=keys,
                data_dir=data_dir,
                public_url=base,
                emulators=True,
                log_level="WARNING",
                _env_file=None,
            )
            fixtures = asyncio.run(seed_database(settings))
            env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
                "SELLERHUB_ENV": "test",
                "SELLERHUB_DATABASE_URL": url,
                "SELLERHUB_ENCRYPTION_KEYS": keys,
                "SELLERHUB_PUBLIC_URL": base,
                "SELLERHUB_EMULATORS": "true",
                "SELLERHUB_LOG_LEVEL": "WARNING",
                "SELLERHUB_DATA_DIR": str(data_dir),
            }
            logfile = workdir / "server.log"
            proc = start_server(env, port, logfile)
            seed_api(base, fixtures)
            log(f"server ready at {base} after {time.monotonic() - started:.0f} s")
            code = run_schemathesis(base, fixtures, workdir, "api key", MAX_EXAMPLES, extra)
            code = max(
                code,
                run_schemathesis(base, fixtures, workdir, "session", SESSION_EXAMPLES, extra),
            )
            report_server_log(logfile)
        finally:
            if proc is not None:
                stop_server(proc)
            postgres.stop()
    log(f"done in {time.monotonic() - started:.0f} s, exit status {code}")
    return code
