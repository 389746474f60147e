"""Alembic environment: a synchronous psycopg engine on the URL given by sellerhub."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import sellerhub.db.models  # noqa: F401 - registers every model on the metadata
from sellerhub.db.base import Base

config = context.config


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """The job queue's tables belong to procrastinate, not to our models."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


OPTIONS = {"compare_type": True, "include_name": include_name}
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.attributes["sqlalchemy_url"],
        target_metadata=target_metadata,
        literal_binds=True,
        **OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.attributes["sqlalchemy_url"], poolclass=pool.NullPool)
    with engine.connect() as conn:
        # One migrator at a time, even when several processes start together.
        conn.exec_driver_sql("SELECT pg_advisory_lock(7245127380)")
        try:
            context.configure(connection=conn, target_metadata=target_metadata, **OPTIONS)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            conn.exec_driver_sql("SELECT pg_advisory_unlock(7245127380)")
            conn.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
