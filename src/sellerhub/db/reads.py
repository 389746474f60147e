"""Tenant-bound raw reads for hot endpoints.

The ORM path (session, entity loading, Pydantic serialization) costs about a millisecond of CPU
per list request; a read that lets PostgreSQL render the JSON and goes straight through psycopg
costs a fraction of that (see ``bench/``). ``TenantReader`` is that path, with the tenant rule
enforced here instead of by the ORM hook:

* it is built only from an authenticated principal, and binds ``%(organization_id)s`` itself;
* a statement that does not contain ``%(organization_id)s`` is refused, and callers cannot pass
  their own ``organization_id``;
* statements must be literal strings (no SQL built from input), and the pool's connections are
  ``default_transaction_read_only``, so nothing can be written through it.

Statements live in repositories, like every other query.
"""

from __future__ import annotations

import uuid
from typing import Any, LiteralString

from psycopg_pool import AsyncConnectionPool

from sellerhub.core.errors import TenantScopeViolation

TENANT_PARAM = "%(organization_id)s"
READ_ONLY_OPTIONS = "-c default_transaction_read_only=on -c TimeZone=UTC"


def read_pool(url: str, size: int) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs={"autocommit": True, "options": READ_ONLY_OPTIONS},
        open=False,
    )


class TenantReader:
    def __init__(self, pool: AsyncConnectionPool, organization_id: uuid.UUID) -> None:
        self._pool = pool
        self.organization_id = organization_id

    def _params(self, sql: LiteralString, params: dict[str, Any]) -> dict[str, Any]:
        if TENANT_PARAM not in sql:
            raise TenantScopeViolation("tenant read without %(organization_id)s in its SQL")
        if "organization_id" in params:
            raise TenantScopeViolation("the organization id of a tenant read is not a parameter")
        return {**params, "organization_id": self.organization_id}

    async def scalar(self, sql: LiteralString, **params: Any) -> Any:
        """The first column of the first row (``None`` when there is no row)."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, self._params(sql, params))
            row = await cursor.fetchone()
        return None if row is None else row[0]
