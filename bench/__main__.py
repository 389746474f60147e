"""``python -m bench``: seed a fresh database, run the capability benches, print their figures
(one JSON line each) on stdout; progress goes to stderr. Every process started is stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from bench import (
    billing,
    claims,
    connections,
    core,
    credits,
    identity,
    inventory,
    inventory_import,
    sdk,
    web,
    webhooks,
)
from bench.harness import BenchError, LoadSpec, bench_database, log, require_wrk, work_dir

BENCHES = (
    "core",
    "identity",
    "connections",
    "webhooks",
    "web",
    "inventory_import",
    "inventory",
    "claims",
    "credits",
    "billing",
    "sdk",
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=_positive_int, default=8, help="seconds per route")
    parser.add_argument(
        "--warmup", type=_non_negative_int, default=2, help="warm-up seconds per route"
    )
    parser.add_argument("--connections", type=_positive_int, default=32, help="wrk -c")
    parser.add_argument("--threads", type=_positive_int, default=1, help="wrk -t")
    parser.add_argument(
        "--workers", type=_positive_int, default=1, help="SELLERHUB_WEB_WORKERS of the server"
    )
    parser.add_argument(
        "--events", type=_positive_int, default=200, help="audit events seeded per organization"
    )
    parser.add_argument(
        "--servers",
        default=",".join(core.SERVERS),
        help="comma-separated subset of: " + ", ".join(core.SERVERS),
    )
    parser.add_argument(
        "--benches",
        default=",".join(BENCHES),
        help="comma-separated subset of: " + ", ".join(BENCHES),
    )
    args = parser.parse_args(argv)
    args.benches = [b.strip() for b in args.benches.split(",") if b.strip()]
    if not set(args.benches) <= set(BENCHES) or not args.benches:
        parser.error(f"--benches must be a subset of {', '.join(BENCHES)}")
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = sorted(set(servers) - set(core.SERVERS))
    if unknown or not servers:
        parser.error(f"unknown server(s): {', '.join(unknown) or '(none given)'}")
    args.servers = servers
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    return args


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    log("terminated; stopping everything")
    raise SystemExit(143)  # unwinds through every cleanup


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from sellerhub.core.logging import configure_logging

    configure_logging("WARNING")  # in-process benches log to stderr only; stdout is figures
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    spec = LoadSpec(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
    )
    started = time.monotonic()
    try:
        require_wrk()
        with work_dir() as tmp, bench_database(tmp) as url:
            if "core" in args.benches:
                core.run(
                    database_url=url,
                    spec=spec,
                    workers=args.workers,
                    events=args.events,
                    work_dir=tmp,
                    servers=args.servers,
                )
            if "identity" in args.benches:
                identity.run(database_url=url, work_dir=tmp, spec=spec)
            if "connections" in args.benches:
                connections.run(database_url=url, work_dir=tmp)
            if "webhooks" in args.benches:
                webhooks.run(database_url=url, work_dir=tmp, spec=spec)
            if "inventory" in args.benches:
                inventory.run(database_url=url, work_dir=tmp, spec=spec)
            if "inventory_import" in args.benches:
                inventory_import.run(database_url=url, work_dir=tmp)
            if "claims" in args.benches:
                claims.run(database_url=url, work_dir=tmp)
            if "credits" in args.benches:
                credits.run(database_url=url, work_dir=tmp, spec=spec)
            if "billing" in args.benches:
                billing.run(database_url=url, work_dir=tmp)
            if "sdk" in args.benches:
                sdk.run(database_url=url, work_dir=tmp)
            if "web" in args.benches:
                web.run(
                    database_url=url,
                    spec=spec,
                    workers=args.workers,
                    work_dir=tmp,
                    servers=args.servers,
                )
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    log(f"done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
