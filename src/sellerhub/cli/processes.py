"""The process commands: migrate, serve, worker, run (development) and emulators."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Annotated

import typer

from sellerhub.cli.common import migrate_database, settings_or_exit
from sellerhub.config import Settings, get_settings
from sellerhub.core.logging import get_logger

log = get_logger("sellerhub.cli")
group = typer.Typer()


@group.command()
def migrate() -> None:
    """Bring the database (external, or the embedded one in the data dir) to the latest schema."""
    from sellerhub.db.engine import Database

    settings = settings_or_exit()
    database = Database(settings)
    try:
        migrate_database(database.url())
        typer.echo("database is at the latest migration")
    finally:
        database.close()


def _serve(settings: Settings, url: str) -> None:
    os.environ["SELLERHUB_DATABASE_URL"] = url  # the server's workers inherit it
    get_settings.cache_clear()
    if settings.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces
        from granian.http import HTTP1Settings

        Granian(
            "sellerhub.app:production_app",
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            workers=settings.web_workers,
            factory=True,
            log_access=False,
            http1_settings=HTTP1Settings(
                header_read_timeout=int(settings.request_header_timeout_seconds * 1000)
            ),
        ).serve()
    else:
        import uvicorn

        from sellerhub.core.server import HeaderTimeoutProtocol

        uvicorn.run(
            "sellerhub.app:production_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.web_workers,
            access_log=False,
            log_config=None,
            http=HeaderTimeoutProtocol,  # slow headers are cut off (core.server)
        )


@group.command()
def serve() -> None:
    """Serve the HTTP API (granian or uvicorn per SELLERHUB_SERVER)."""
    from sellerhub.db.engine import Database

    settings = settings_or_exit()
    database = Database(settings)
    try:
        _serve(settings, database.url())
    finally:
        database.close()


async def _work(settings: Settings, wait: bool = True) -> None:
    """The worker, through database outages (``jobs.app.WorkerSupervisor``): it waits for the
    database at start and after losing it, and stops gracefully on the first SIGINT/SIGTERM (a
    second one interrupts at once)."""
    import sellerhub.jobs.registry  # noqa: F401 - registers every task
    from sellerhub.jobs.app import WorkerSupervisor, kick
    from sellerhub.runtime import Runtime
    from sellerhub.webhooks import service as webhooks

    runtime = Runtime.create(settings)

    async def resume() -> None:
        # Deliveries stored while no worker ran, or whose wake-up was lost with the database:
        # one drain takes every fresh one (the periodic re-drives catch up on the rest).
        kick(webhooks.DRAIN_TASK, lock="webhooks-drain")

    supervisor = WorkerSupervisor(
        check_database=runtime.check_database,
        reconnect=runtime.reconnect,
        resume=resume,
        options={
            "concurrency": settings.jobs_concurrency,
            "wait": wait,
            "shutdown_graceful_timeout": 20,
        },
    )
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        log.info("worker.stopping")
        supervisor.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    try:
        if not await supervisor.wait_for_database():
            return
        await runtime.open()
        log.info("worker.started", concurrency=settings.jobs_concurrency)
        await supervisor.run()
    finally:
        await runtime.close()


@group.command()
def worker() -> None:
    """Run the job worker (periodic tasks included) until SIGINT/SIGTERM; it outlives database
    restarts (reconnects with backoff)."""
    asyncio.run(_work(settings_or_exit()))


def _seed(settings: Settings) -> None:
    from sellerhub.db.session import unit_of_work
    from sellerhub.identity.seed import SeedResult, read_demo_key, seed_demo, write_demo_key
    from sellerhub.runtime import Runtime

    async def go() -> SeedResult:
        runtime = Runtime.create(settings)
        try:
            async with unit_of_work(runtime.sessionmaker) as session:
                result = await seed_demo(
                    session,
                    email=settings.seed_admin_email,
                    password=settings.seed_admin_password.get_secret_value(),
                )
        finally:
            await runtime.close()
        return result

    result = asyncio.run(go())
    if result.api_key:
        write_demo_key(settings.data_dir, result.api_key)
    api_key = result.api_key or read_demo_key(settings.data_dir)
    typer.echo(
        banner(
            settings,
            email=result.email,
            organization_slug=result.organization_slug,
            api_key=api_key,
        )
    )


def banner(settings: Settings, *, email: str, organization_slug: str, api_key: str | None) -> str:
    """What ``sellerhub run`` prints once the demo is seeded: where things are."""
    from sellerhub.mail.endpoints import DEV_MAILBOX_PATH

    password = settings.seed_admin_password.get_secret_value()
    if settings.is_production:
        password = "(SELLERHUB_SEED_ADMIN_PASSWORD)"  # noqa: S105 - a hint, not a password
    url = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        f"  sellerhub is starting on {url}",
        f"  API docs:       {url}/docs",
        f"  readiness:      {url}/readyz",
        f"  demo admin:     {email} / {password} (platform admin, owner)",
        f"  organization:   {organization_slug}",
        f"  web UI:         {url}/  (sign in with Login with Amazon"
        + (", the emulator's)" if settings.emulators_enabled else ")")
        + " or the demo admin's email and password)",
    ]
    if not settings.is_production:  # the dev mailbox is not served in production
        lines.append(
            f"  dev mailbox:    {url}{DEV_MAILBOX_PATH}  (mail sent, codes included; "
            "from this machine only)"
        )
    if api_key:
        lines.append(
            f"  try it:         curl -H 'Authorization: Bearer {api_key}' "
            f"{url}/api/v1/organizations/current"
        )
    return "\n".join([*lines, ""])


@dataclass
class Child:
    """A process of ``sellerhub run``."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_exits: int = 0  # in a row, each within ``Supervisor.stable_seconds`` of its start
    restart_at: float | None = None


class Supervisor:
    """Keeps ``sellerhub run``'s children running: a child that exits is started again after a
    backoff (``first_delay``, doubling, at most ``max_delay``; from the start again once it ran
    ``stable_seconds``), and one that keeps exiting soon after it starts is reported as
    crash-looping, with what to do. Each child gets its own process group: a terminal's Ctrl-C
    reaches only ``run``, which then stops each child exactly once (a second SIGINT makes
    servers skip their graceful shutdown)."""

    def __init__(
        self,
        children: list[Child],
        env: dict[str, str],
        *,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        stable_seconds: float = 30.0,
        crash_loop_after: int = 3,
    ) -> None:
        self.children = children
        self.env = env
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stable_seconds = stable_seconds
        self.crash_loop_after = crash_loop_after

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603 - our own command
            child.command, env=self.env, start_new_session=True
        )
        child.started_at = time.monotonic()
        child.restart_at = None

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def poll(self) -> None:
        """Notice the children that exited, and start those whose backoff is over."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    log.info("run.child_restarting", child=child.name)
                    self._spawn(child)
                continue
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                continue
            ran = now - child.started_at
            child.quick_exits = child.quick_exits + 1 if ran < self.stable_seconds else 1
            delay = min(self.first_delay * 2 ** (child.quick_exits - 1), self.max_delay)
            child.restart_at = now + delay
            log.warning(
                "run.child_exited",
                child=child.name,
                exit_code=code,
                ran_s=round(ran, 1),
                restart_in_s=round(delay, 1),
            )
            if child.quick_exits >= self.crash_loop_after:
                log.error(
                    "run.child_crash_looping",
                    child=child.name,
                    exits=child.quick_exits,
                    exit_code=code,
                    hint=(
                        f"`sellerhub {child.name}` has exited {child.quick_exits} times in a row, "
                        f"each within {self.stable_seconds:.0f} s of starting; its output above "
                        "says why. It is started again every "
                        f"{self.max_delay:.0f} s at most; Ctrl-C stops everything."
                    ),
                )

    def stop(self, timeout: float = 25.0) -> None:
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@group.command()
def run() -> None:
    """Development: embedded PostgreSQL + migrations + demo seed + API + worker; a child that
    exits is started again; Ctrl-C stops everything, PostgreSQL included."""
    from sellerhub.db.engine import Database

    settings = settings_or_exit()
    if settings.is_production:
        typer.echo(
            "configuration error: `sellerhub run` is for development (it seeds demo data); "
            "in production run `sellerhub migrate`, `sellerhub serve` and `sellerhub worker`",
            err=True,
        )
        raise typer.Exit(2)
    database = Database(settings)
    supervisor: Supervisor | None = None
    try:
        url = database.url()
        os.environ["SELLERHUB_DATABASE_URL"] = url  # the seed and the children use this server
        get_settings.cache_clear()
        settings = get_settings()
        migrate_database(url)
        _seed(settings)
        exe = [sys.executable, "-m", "sellerhub"]
        supervisor = Supervisor(
            [Child(command, [*exe, command]) for command in ("worker", "serve")], dict(os.environ)
        )
        supervisor.start()
        stop = False

        def _stop(_signum: int, _frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not stop:
            supervisor.poll()
            time.sleep(0.2)
    finally:
        if supervisor is not None:
            supervisor.stop()
        database.close()
        typer.echo("sellerhub stopped (PostgreSQL too)", err=True)


@group.command()
def emulators(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8100,
) -> None:
    """Serve the provider emulators standalone (under /{provider}, e.g. /amazon/ap/oa)."""
    settings = settings_or_exit()
    if settings.is_production:
        typer.echo("configuration error: emulators are not served in production", err=True)
        raise typer.Exit(2)
    import uvicorn

    uvicorn.run(
        "sellerhub_emulators.app:create_emulators_app",
        factory=True,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
    )
