"""The ``sellerhub`` command, composed here from one module per group (nothing registers itself
on import): run | serve | worker | migrate | emulators | keys …"""

from __future__ import annotations

import typer

from sellerhub.cli import apps, connections, credits, inventory, keys, processes

cli = typer.Typer(help="sellerhub: backend for e-commerce seller tools.", no_args_is_help=True)
cli.add_typer(processes.group)  # top-level commands
cli.add_typer(keys.group, name="keys")
cli.add_typer(apps.group, name="apps")
cli.add_typer(connections.group, name="connections")
cli.add_typer(inventory.group, name="inventory")
cli.add_typer(credits.group, name="credits")


def main() -> None:
    cli()
