"""Migrations: the models match the migrations, and any database goes to head and back."""

from __future__ import annotations

import re

import psycopg
import pytest
from alembic import command

from sellerhub.db.migrations import alembic_config, migrations_dir, upgrade
from tests.conftest import create_database, drop_database


def test_models_match_migrations(database_url: str) -> None:
    command.check(alembic_config(database_url))  # raises when autogenerate finds a difference


def test_upgrade_downgrade_upgrade(server_url: str) -> None:
    url = create_database(server_url, "sellerhub_migr")
    try:
        upgrade(url)
        command.downgrade(alembic_config(url), "base")
        with psycopg.connect(url) as conn:
            left = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        assert [t for (t,) in left] == ["alembic_version"]
        upgrade(url)
        upgrade(url)  # idempotent at head
    finally:
        drop_database(server_url, url)


def test_migration_files_are_named_by_date() -> None:
    files = sorted(p.name for p in (migrations_dir() / "versions").glob("*.py"))
    assert files
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{4}_[a-z0-9_]+\.py", f) for f in files), files


def test_constraint_naming_convention(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        names = [
            n
            for (n,) in conn.execute(
                "SELECT conname FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace "
                "WHERE s.nspname = 'public' AND c.contype IN ('p', 'f', 'u', 'c') "
                "AND conrelid::regclass::text NOT LIKE 'procrastinate%' "
                "AND conrelid::regclass::text <> 'alembic_version'"
            )
        ]
    assert names
    assert all(re.match(r"^(pk|fk|uq|ck|ix)_", n) for n in names), names


def test_audit_events_are_append_only(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        org = conn.execute(
            "INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), 'A', "
            "'append-only-' || md5(random()::text)) RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO audit_events (id, organization_id, action, actor_type, data) "
            "VALUES (gen_random_uuid(), %s, 'X', 'user', '{}')",
            (org,),
        )
        for statement in ("UPDATE audit_events SET action = 'Y'", "DELETE FROM audit_events"):
            with (
                pytest.raises(psycopg.errors.RestrictViolation, match="append-only"),
                conn.transaction(),
            ):
                conn.execute(statement)
        conn.rollback()
