"""What every command shares: settings (a configuration error is a message and exit 2, never a
traceback) and the schema upgrade."""

from __future__ import annotations

import typer

from sellerhub.config import ConfigurationError, Settings, get_settings
from sellerhub.core.logging import configure_logging


def settings_or_exit() -> Settings:
    try:
        settings = get_settings()
        settings.check()
    except ConfigurationError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # pydantic validation of a setting
        first = str(exc).splitlines()
        typer.echo(f"configuration error: {' '.join(first[:3])}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.json_logs)
    return settings


def migrate_database(url: str) -> None:
    from sellerhub.db.migrations import upgrade

    upgrade(url)
