"""Shared benchmark machinery: figures on stdout, a PostgreSQL to run against, the server process
in production mode, and `wrk` runs with their output parsed.

Every capability bench uses these; stdout carries only the JSON figure lines, everything else
goes to stderr.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

BENCH_DATABASE = "sellerhub_bench"
HOST = "127.0.0.1"


class BenchError(Exception):
    """The benchmark cannot produce trustworthy figures; the message says why."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_json(self) -> str:
        ratio = self.ratio
        return json.dumps(
            {
                "name": self.name,
                "value": round(self.value, 3),
                "unit": self.unit,
                "baseline": None if self.baseline is None else round(self.baseline, 3),
                "ratio": None if ratio is None else round(ratio, 4),
            }
        )


def emit(figure: Figure) -> None:
    """One JSON line on stdout per figure."""
    print(figure.as_json(), flush=True)


# --- database --------------------------------------------------------------------------------


def _recreate_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        _drop_database(conn, name)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(conn: Any, name: str) -> None:
    from psycopg import sql

    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _drop_quietly(admin_url: str, name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            _drop_database(conn, name)
    except psycopg.Error as exc:
        log(f"could not drop database {name}: {exc}")


@contextlib.contextmanager
def _external_database(server_url: str) -> Iterator[str]:
    from sellerhub.db.engine import to_libpq_url, with_database

    admin_url = to_libpq_url(server_url)
    log(f"creating a fresh database {BENCH_DATABASE!r} on the SELLERHUB_DATABASE_URL server")
    _recreate_database(admin_url, BENCH_DATABASE)
    try:
        yield with_database(admin_url, BENCH_DATABASE)
    finally:
        _drop_quietly(admin_url, BENCH_DATABASE)


@contextlib.contextmanager
def _embedded_database(data_dir: Path) -> Iterator[str]:
    from sellerhub.db.engine import EmbeddedPostgres

    embedded = EmbeddedPostgres(data_dir)
    log(f"starting the embedded PostgreSQL in {embedded.pgdata}")
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        log("embedded PostgreSQL stopped")


@contextlib.contextmanager
def bench_database(work_dir: Path) -> Iterator[str]:
    """A fresh, migrated database URL: a new ``sellerhub_bench`` database on the server named by
    ``SELLERHUB_DATABASE_URL``, or else the embedded PostgreSQL in ``work_dir``."""
    from sellerhub.db.migrations import upgrade

    external = os.environ.get("SELLERHUB_DATABASE_URL", "").strip()
    source = _external_database(external) if external else _embedded_database(work_dir)
    with source as url:
        log("applying migrations")
        upgrade(url)
        yield url


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@functools.cache
def run_secrets() -> dict[str, str]:
    """Random secrets for this bench run, shared by every server it starts (they share the
    database, whose encrypted signing keys need the same key ring)."""
    from sellerhub.core.crypto import generate_key_entry

    return {
        "SELLERHUB_SECRET_KEY": secrets.token_urlsafe(48),
        "SELLERHUB_ENCRYPTION_KEYS": generate_key_entry(),
        "SELLERHUB_SEED_ADMIN_PASSWORD": secrets.token_urlsafe(24),
        "SELLERHUB_LWA_CLIENT_SECRET": secrets.token_urlsafe(24),
        "SELLERHUB_SPAPI_CLIENT_SECRET": secrets.token_urlsafe(24),
        "SELLERHUB_ADS_CLIENT_SECRET": secrets.token_urlsafe(24),
        "SELLERHUB_SHOPIFY_CLIENT_SECRET": secrets.token_urlsafe(24),
        "SELLERHUB_STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_urlsafe(24),
        # Production refuses the Stripe emulator's keys; the benched routes never call Stripe.
        "SELLERHUB_STRIPE_SECRET_KEY": "sk_test_" + secrets.token_urlsafe(24),
        "SELLERHUB_STRIPE_PUBLISHABLE_KEY": "pk_test_" + secrets.token_urlsafe(24),
    }


def production_env(
    *, database_url: str, server: str, port: int, workers: int, data_dir: Path
) -> dict[str, str]:
    """The environment of the production server command (provider URLs point nowhere: the
    benchmarked routes never call a provider)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")}
    env.update(
        {
            "SELLERHUB_ENV": "production",
            **run_secrets(),
            "SELLERHUB_EMULATORS": "false",
            "SELLERHUB_PUBLIC_URL": "https://bench.invalid",
            "SELLERHUB_LWA_AUTHORIZE_URL": "https://bench.invalid/ap/oa",
            "SELLERHUB_LWA_TOKEN_URL": "https://bench.invalid/auth/o2/token",
            "SELLERHUB_LWA_PROFILE_URL": "https://bench.invalid/user/profile",
            "SELLERHUB_SPAPI_CONSENT_URL": "https://bench.invalid/apps/authorize/consent",
            "SELLERHUB_SPAPI_ENDPOINT_NA": "https://bench.invalid/na",
            "SELLERHUB_SPAPI_ENDPOINT_EU": "https://bench.invalid/eu",
            "SELLERHUB_SPAPI_ENDPOINT_FE": "https://bench.invalid/fe",
            "SELLERHUB_ADS_AUTHORIZE_URLS": json.dumps(
                {r: "https://bench.invalid/ap/oa" for r in ("na", "eu", "fe")}
            ),
            "SELLERHUB_ADS_TOKEN_URLS": json.dumps(
                {r: "https://bench.invalid/auth/o2/token" for r in ("na", "eu", "fe")}
            ),
            "SELLERHUB_ADS_API_URLS": json.dumps(
                {r: "https://bench.invalid/ads" for r in ("na", "eu", "fe")}
            ),
            "SELLERHUB_SHOPIFY_SHOP_URL_TEMPLATE": "https://{shop}",
            "SELLERHUB_FEDEX_API_URL": "https://bench.invalid/fedex",
            "SELLERHUB_FEDEX_SANDBOX_API_URL": "https://bench.invalid/fedex",
            "SELLERHUB_DHL_API_URL": "https://bench.invalid/dhl",
            "SELLERHUB_DHL_SANDBOX_API_URL": "https://bench.invalid/dhl",
            "SELLERHUB_LOG_LEVEL": "WARNING",
            "SELLERHUB_DATABASE_URL": database_url,
            "SELLERHUB_DATA_DIR": str(data_dir),
            "SELLERHUB_SERVER": server,
            "SELLERHUB_HOST": HOST,
            "SELLERHUB_PORT": str(port),
            "SELLERHUB_WEB_WORKERS": str(workers),
        }
    )
    return env


def http_get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Server:
    """``sellerhub serve`` as a child process in its own process group."""

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        port: int,
        cwd: Path,
        command: tuple[str, ...] = ("serve",),
    ) -> None:
        self.name = name
        self.command = command
        self.health_path = "/healthz" if command == ("serve",) else "/amazon/_admin/stats"
        self.base_url = f"http://{HOST}:{port}"
        self._env = dict(env)
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 60.0) -> None:
        log(f"starting {self.name} on {self.base_url}")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sellerhub", *self.command],
            env=self._env,
            cwd=self._cwd,  # away from the repo's .env: the environment alone configures it
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr,
            stderr=sys.stderr,
            start_new_session=True,
        )
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BenchError(f"{self.name} exited with code {self._process.returncode}")
            with contextlib.suppress(OSError):
                if http_get(self.base_url + self.health_path)[0] == 200:
                    log(f"{self.name} is up")
                    return
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer /healthz within {timeout:.0f}s")

    def stop(self, grace: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGINT for {grace:.0f}s; killing it")
        # Whatever is left of its process group (a worker that outlived its parent) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        log(f"{self.name} stopped")


@contextlib.contextmanager
def running_server(
    name: str,
    env: Mapping[str, str],
    port: int,
    cwd: Path,
    command: tuple[str, ...] = ("serve",),
) -> Iterator[Server]:
    server = Server(name, env, port, cwd, command)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def work_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sellerhub-bench-") as path:
        yield Path(path)


# --- wrk -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    duration: int  # seconds
    warmup: int  # seconds, 0 for none
    connections: int
    threads: int


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_RPS_RE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_PERCENTILE_RE = r"^\s+{}%\s+([\d.]+)(us|ms|s|m|h)\s*$"
_REQUESTS_RE = re.compile(r"^\s+(\d+) requests in ", re.MULTILINE)
_NON_2XX_RE = re.compile(r"^\s+Non-2xx or 3xx responses:\s+(\d+)", re.MULTILINE)
_SOCKET_ERRORS_RE = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)


def _percentile_ms(output: str, percent: int) -> float:
    match = re.search(_PERCENTILE_RE.format(percent), output, re.MULTILINE)
    if match is None:
        raise BenchError(f"wrk output has no {percent}% latency line (was --latency given?)")
    return float(match.group(1)) * _TIME_UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """The figures of ``wrk --latency`` text output."""
    rps = _RPS_RE.search(output)
    requests = _REQUESTS_RE.search(output)
    if rps is None or requests is None:
        raise BenchError(f"unexpected wrk output:\n{output}")
    non_2xx = _NON_2XX_RE.search(output)
    errors = _SOCKET_ERRORS_RE.search(output)
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_percentile_ms(output, 50),
        p99_ms=_percentile_ms(output, 99),
        requests=int(requests.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed (make bench installs it: apt-get install wrk)")
    return path


def _post_script(body: str, directory: Path) -> Path:
    """A wrk Lua script that sends every request as a POST with ``body``."""
    script = directory / f"post-{abs(hash(body))}.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n')
    return script


def _wrk(
    url: str,
    seconds: int,
    spec: LoadSpec,
    headers: Mapping[str, str],
    script: Path | None = None,
) -> WrkResult:
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"refusing to load anything but {HOST}: {url}")
    command = [
        require_wrk(),
        f"-t{spec.threads}",
        f"-c{spec.connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    completed = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if completed.returncode != 0:
        raise BenchError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    return parse_wrk(completed.stdout)


def load(
    url: str,
    spec: LoadSpec,
    headers: Mapping[str, str] | None = None,
    *,
    post_body: str | None = None,
    script_dir: Path | None = None,
    script: Path | None = None,
) -> WrkResult:
    """Warm up, then measure ``url`` (GET, or POST of ``post_body``); refuses a run where any
    response failed."""
    headers = headers or {}
    if post_body is not None and script is None:
        script = _post_script(post_body, script_dir or Path(tempfile.gettempdir()))
    if spec.warmup > 0:
        _wrk(url, spec.warmup, spec, headers, script)
    result = _wrk(url, spec.duration, spec, headers, script)
    if result.non_2xx or result.socket_errors:
        raise BenchError(
            f"{url}: {result.non_2xx} non-2xx responses and {result.socket_errors} socket "
            f"errors in {result.requests} requests; the figures would be meaningless"
        )
    log(
        f"{url}: {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms ({result.requests} requests)"
    )
    return result


# Interleaved rounds (``interleaved``): as many rounds of ROUND_SECONDS as make three times
# --duration per route, at least MIN_ROUNDS. One stretch of --duration per route was too coarse
# on a shared machine: a slow phase of a few seconds moved one route's median by 40 % (the web
# bench's page measured 1.25x, then 1.69x, with the same build), and a ratio of two routes
# measured one after the other took that phase on one side only.
ROUND_SECONDS = 3
MIN_ROUNDS = 3


@dataclass(frozen=True)
class Route:
    """What ``wrk`` requests: a URL with its headers, and optionally a Lua script."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    script: Path | None = None


def interleaved(
    routes: Mapping[str, Route], spec: LoadSpec, *, median_of: Callable[[WrkResult], float]
) -> dict[str, WrkResult]:
    """``spec`` load on every route in short rounds, each round every route in turn, so a drift
    of the machine (another process, autovacuum, a frequency change) reaches every route alike
    instead of skewing one side of a ratio. The first round warms each route up (``spec``'s
    warmup); per route, the round with the median ``median_of`` (p50 for one request at a time,
    throughput under load)."""
    count = max(MIN_ROUNDS, 3 * spec.duration // ROUND_SECONDS)
    first = replace(spec, duration=ROUND_SECONDS)
    rest = replace(first, warmup=0)
    rounds: dict[str, list[WrkResult]] = {name: [] for name in routes}
    for n in range(count):
        for name, route in routes.items():
            found = load(route.url, first if n == 0 else rest, route.headers, script=route.script)
            rounds[name].append(found)
    return {name: sorted(found, key=median_of)[len(found) // 2] for name, found in rounds.items()}


async def raw_single_row_rate(
    url: str, connections: int, seconds: float, *, setup: Sequence[str], update: str
) -> float:
    """The baseline of the hot-row benches: conditional UPDATEs per second on ONE row,
    autocommit, ``connections`` at once. ``setup`` creates and fills the scratch table;
    ``update`` must change exactly one row each time (else the bench fails: the row ran out)."""
    import asyncio

    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in setup:
            conn.execute(statement)
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            while time.monotonic() < stop:
                cursor = await conn.execute(update)
                if cursor.rowcount != 1:
                    raise BenchError("the raw conditional UPDATE found nothing left to take")
                done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return done / (time.monotonic() - started)
