"""Alembic, driven from code: ``sellerhub migrate`` and ``make run`` bring any database to head."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from sellerhub.db.engine import to_sqlalchemy_url


def migrations_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def earlier_migration_text(filename: str, name: str) -> str:
    """The string ``name`` of the earlier migration ``filename`` (in ``versions/``): the text of
    a database function that a later migration changes, and whose downgrade puts back."""
    path = migrations_dir() / "versions" / filename
    spec = importlib.util.spec_from_file_location(f"earlier_{path.stem.replace('-', '_')}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = getattr(module, name)
    if not isinstance(text, str):
        raise TypeError(f"{filename}: {name} is not a string")
    return text


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option(
        "file_template", "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s"
    )
    if url is not None:
        cfg.attributes["sqlalchemy_url"] = to_sqlalchemy_url(url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head
