"""Encryption-key rotation while serving, end to end: two live API processes on one database and
one data dir, under concurrent load (connection tests, proxy calls with token refreshes, JWKS,
session verification and forced signing-key reloads), while ``sellerhub keys rotate`` runs as a
real process. No answer may be a 5xx and no valid session may fail to verify, at any step."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from sellerhub.core.crypto import KEY_FILE_NAME, generate_key_entry
from sellerhub.db.migrations import upgrade
from tests.browser import Browser
from tests.conftest import create_database, drop_database, free_port, remember_secret

FEDEX = {
    "client_id": "fedex-emulator-client",
    "client_secret": "fedex-emulator-secret",
    "account_number": "740561073",
}


def remember_ring(spec: str) -> None:
    """Key material the servers and the CLI hold must never reach a log."""
    for entry in spec.replace("\n", ",").split(","):
        if ":" in entry:
            remember_secret(entry.split(":", 1)[1].strip())


@dataclass
class Cluster:
    """Two API processes behind one public URL (as behind a load balancer: one issuer, the
    first process's emulators serve both), sharing a fresh database and a data dir."""

    database_url: str
    data_dir: Path
    env: dict[str, str]
    log: Path
    bases: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def key_file(self) -> Path:
        return self.data_dir / KEY_FILE_NAME

    def start(self, ports: list[int]) -> None:
        self.bases = [f"http://127.0.0.1:{port}" for port in ports]
        for port in ports:
            with self.log.open("ab") as out:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "sellerhub", "serve"],
                        env=self.env | {"SELLERHUB_PORT": str(port)},
                        start_new_session=True,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + 60
        for base, proc in zip(self.bases, self.processes, strict=True):
            while True:
                assert proc.poll() is None, "a live server exited"
                try:
                    if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "a live server did not become ready"
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def keys(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``sellerhub keys …`` as a real process, with the servers' settings (and ``env``)."""
        return subprocess.run(
            [sys.executable, "-m", "sellerhub", "keys", *args],
            env=self.env | env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []


def make_cluster(
    server_url: str, tmp_path: Path, suite_logs: Path, extra: dict[str, str]
) -> Iterator[Cluster]:
    url = create_database(server_url, "sellerhub_keys")
    upgrade(url)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    ports = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_ENV": "test",
        "SELLERHUB_DATABASE_URL": url,
        "SELLERHUB_EMULATORS": "true",
        "SELLERHUB_COOKIE_SECURE": "false",
        "SELLERHUB_SERVER": "uvicorn",
        "SELLERHUB_LOG_LEVEL": "INFO",
        "SELLERHUB_DATA_DIR": str(data_dir),
        "SELLERHUB_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",
    }
    cluster = Cluster(url, data_dir, env | extra, suite_logs / "key_rotation_live.log")
    try:
        yield cluster
    finally:
        cluster.stop()
        drop_database(server_url, url)


@dataclass
class Load:
    """Threads calling both processes until stopped; every answer's status is counted, and
    every 5xx and every refused valid session is kept with its body."""

    cluster: Cluster
    cookies: dict[str, str]
    connection_id: str
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def _record(self, what: str, response: httpx.Response, wanted: set[int]) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code >= 500 or response.status_code not in wanted:
                self.failures.append(f"{what}: {response.status_code} {response.text[:300]}")

    def _worker(self, index: int) -> None:
        csrf = {"X-CSRF-Token": self.cookies.get("sh_csrf", "")}
        with httpx.Client(cookies=self.cookies, timeout=30) as http:
            turn = index
            while not self.stop.is_set():
                base = self.cluster.bases[turn % 2]
                turn += 1
                cid = self.connection_id
                try:
                    self._record(
                        "connection test",
                        http.post(f"{base}/api/v1/connections/{cid}/test", headers=csrf),
                        {200},
                    )
                    self._record(
                        "proxy call",
                        http.post(
                            f"{base}/api/v1/connections/{cid}/proxy/track/v1/trackingnumbers",
                            json={
                                "includeDetailedScans": False,
                                "trackingInfo": [
                                    {"trackingNumberInfo": {"trackingNumber": "123456789012"}}
                                ],
                            },
                            headers=csrf,
                        ),
                        {200},
                    )
                    self._record("jwks", http.get(f"{base}/.well-known/jwks.json"), {200})
                    self._record("session verification", http.get(f"{base}/api/auth/me"), {200})
                    # A token naming an unknown key makes the process reload its signing keys,
                    # unsealing the private key with the key ring (at most every 5 s).
                    self._record(
                        "unknown-kid token",
                        httpx.get(
                            f"{base}/api/auth/me", headers={"Authorization": f"Bearer {_forged()}"}
                        ),
                        {401},
                    )
                    self._record("readyz", http.get(f"{base}/readyz"), {200})
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.failures.append(f"transport: {type(exc).__name__}")

    def _expirer(self) -> None:
        """Every second the stored access token expires, so the next call refreshes it
        (unsealing the refresh token and client secret, sealing the new token)."""
        while not self.stop.wait(1.0):
            self.cluster.sql(
                "UPDATE connections SET access_expires_at = now() - interval '1 second'"
            )

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self._worker, args=(i,)) for i in range(4)]
        self.threads.append(threading.Thread(target=self._expirer))
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def _forged() -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    header = part({"alg": "ES256", "kid": "unknown-" + os.urandom(4).hex()})
    return f"{header}.{part({'sub': 'nobody'})}.{'A' * 86}"


def sign_in(cluster: Cluster) -> tuple[dict[str, str], str]:
    """Sign in with Amazon (emulator) on the first process and connect FedEx; the cookies and
    the connection id."""
    browser = Browser(cluster.bases[0])
    try:
        page = browser.get("/api/auth/amazon/start?next=/")
        callback = browser.submit(page, ("decision", "approve"), follow=False)
        assert browser.get(callback.headers["location"], follow=False).status_code == 302
        created = browser.client.post(
            cluster.bases[0] + "/api/v1/carriers/fedex/credentials",
            json=FEDEX,
            headers=browser.csrf(),
        )
        assert created.status_code == 201, created.text
        return dict(browser.client.cookies), str(created.json()["id"])
    finally:
        browser.close()


def kids_in_rows(cluster: Cluster) -> Counter[str]:
    kids: Counter[str] = Counter()
    for column in ("client_secret", "access_token", "refresh_token"):
        for (value,) in cluster.sql(f"SELECT {column} FROM connections WHERE {column} IS NOT NULL"):
            kids[str(value).split(".")[1]] += 1
    for (value,) in cluster.sql("SELECT private_key FROM signing_keys"):
        kids[str(value).split(".")[1]] += 1
    return kids


@pytest.fixture
def file_cluster(server_url: str, tmp_path: Path, suite_logs: Path) -> Iterator[Cluster]:
    """The development ring: the data dir's key file, read by both processes."""
    yield from make_cluster(server_url, tmp_path, suite_logs, {})


def test_rotation_with_a_new_key_under_load_on_two_processes(file_cluster: Cluster) -> None:
    cluster = file_cluster
    cluster.data_dir.joinpath(KEY_FILE_NAME).write_text(generate_key_entry("first") + "\n")
    cluster.key_file.chmod(0o600)
    remember_ring(cluster.key_file.read_text())
    cluster.start([int(cluster.env["SELLERHUB_PUBLIC_URL"].rsplit(":", 1)[1]), free_port()])
    cookies, connection_id = sign_in(cluster)
    assert set(kids_in_rows(cluster)) == {"first"}

    with Load(cluster, cookies, connection_id) as load:
        time.sleep(3)  # the baseline: both processes serve under load
        before = sum(load.statuses.values())
        rotated = cluster.keys("rotate", "--new-key", "--batch-size", "1")
        remember_ring(cluster.key_file.read_text())
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        report = json.loads(rotated.stdout.strip().splitlines()[-1])
        assert report["remaining"] == 0 and report["rotated"] >= 4
        time.sleep(8)  # past every per-process cache (fresh tokens: 5 s)
        assert sum(load.statuses.values()) > before + 50  # the load kept running
    assert not load.failures, load.failures[:10]
    new_kid = report["active_kid"]
    assert set(kids_in_rows(cluster)) == {new_kid}
    for base in cluster.bases:
        ready = httpx.get(base + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"]["key_ring"] == "ok"

    # The ring's file becomes unreadable: both processes keep serving with the keys they hold,
    # and /readyz says so (naming no key).
    good = cluster.key_file.read_text()
    cluster.key_file.write_text("first:not base64!\n")
    for base in cluster.bases:
        ready = httpx.get(base + "/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["down"] == ["key_ring"], ready.text
        assert "not valid base64" in ready.json()["checks"]["key_ring"]
        assert httpx.get(base + "/.well-known/jwks.json", timeout=5).status_code == 200
    # A ring without the key the stored secrets are sealed under.
    cluster.key_file.write_text(generate_key_entry("stranger") + "\n")
    remember_ring(cluster.key_file.read_text())
    for base in cluster.bases:
        ready = httpx.get(base + "/readyz", timeout=5)
        assert ready.status_code == 503, ready.text
        assert (
            f"key(s) {new_kid} that the key ring does not hold"
            in (ready.json()["checks"]["key_ring"])
        )
    refused = cluster.keys("rotate", "--wait-seconds", "0")
    assert refused.returncode == 2 and f"sealed under key(s) {new_kid}" in refused.stderr
    cluster.key_file.write_text(good)
    for base in cluster.bases:
        assert httpx.get(base + "/readyz", timeout=5).status_code == 200


@pytest.fixture
def env_cluster(server_url: str, tmp_path: Path, suite_logs: Path) -> Iterator[Cluster]:
    """Production's usual ring: SELLERHUB_ENCRYPTION_KEYS, which a running process cannot read
    again."""
    old = generate_key_entry("old")
    remember_ring(old)
    yield from make_cluster(server_url, tmp_path, suite_logs, {"SELLERHUB_ENCRYPTION_KEYS": old})


def test_rotation_refuses_while_a_live_process_lacks_the_key_and_prints_the_steps(
    env_cluster: Cluster,
) -> None:
    cluster = env_cluster
    old = cluster.env["SELLERHUB_ENCRYPTION_KEYS"]
    new = generate_key_entry("new")
    remember_ring(new)
    cluster.start([int(cluster.env["SELLERHUB_PUBLIC_URL"].rsplit(":", 1)[1]), free_port()])
    cookies, connection_id = sign_in(cluster)
    before = kids_in_rows(cluster)
    assert set(before) == {"old"}

    with Load(cluster, cookies, connection_id) as load:
        time.sleep(2)
        # --new-key cannot change an environment ring.
        new_key = cluster.keys("rotate", "--new-key")
        assert new_key.returncode == 2, new_key.stdout + new_key.stderr
        assert "refused: --new-key writes a key-ring file" in new_key.stderr
        assert "put the entry FIRST in SELLERHUB_ENCRYPTION_KEYS" in new_key.stderr
        # The new ring given to the command only: the two live processes do not hold it.
        early = cluster.keys(
            "rotate", "--wait-seconds", "3", SELLERHUB_ENCRYPTION_KEYS=f"{new},{old}"
        )
        assert early.returncode == 2, early.stdout + early.stderr
        assert "2 live process(es) do not hold key new as their active key" in early.stderr
        assert "environment ring: old" in early.stderr
        assert "remaining" in early.stderr and "only then remove the old entry" in early.stderr
        assert new not in early.stderr + early.stdout and old not in early.stderr
        # Removing the old key while secrets are sealed under it is refused as well.
        removed = cluster.keys("rotate", SELLERHUB_ENCRYPTION_KEYS=new)
        assert removed.returncode == 2 and "sealed under key(s) old" in removed.stderr
        time.sleep(2)
    assert not load.failures, load.failures[:10]
    assert kids_in_rows(cluster) == before  # nothing was re-encrypted
