"""Central tenant scoping.

Every ORM statement that touches a ``TenantScoped`` table is checked here:

* the session has a tenant (``set_tenant``) → the statement gets ``organization_id = tenant``
  criteria on every tenant-owned entity, aliases included, so a crafted id from another
  organization simply finds nothing (the endpoint answers 404);
* the session is inside ``system_context(reason)`` → it runs unscoped, and entering the context is
  logged with its reason;
* neither → ``TenantScopeViolation`` is raised before any SQL is sent.

Flushes are checked the same way: a new or changed tenant-owned row must belong to the session's
tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import CompoundSelect, Select, Table, TextClause, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.util import find_tables

from sellerhub.core.errors import TenantScopeViolation
from sellerhub.core.logging import get_logger
from sellerhub.db.base import Base, TenantScoped

log = get_logger(__name__)

TENANT_KEY = "sellerhub.tenant"
SYSTEM_KEY = "sellerhub.system"


def _sync(session: Session | AsyncSession) -> Session:
    return session.sync_session if isinstance(session, AsyncSession) else session


def set_tenant(session: Session | AsyncSession, organization_id: uuid.UUID) -> None:
    current = _sync(session).info.get(TENANT_KEY)
    if current is not None and current != organization_id:
        raise TenantScopeViolation("a session's tenant cannot change once set")
    _sync(session).info[TENANT_KEY] = organization_id


def tenant_of(session: Session | AsyncSession) -> uuid.UUID | None:
    value = _sync(session).info.get(TENANT_KEY)
    return value if isinstance(value, uuid.UUID) else None


@contextmanager
def system_context(
    session: Session | AsyncSession, reason: str, *, per_request: bool = False
) -> Iterator[None]:
    """Run unscoped queries on tenant-owned tables, for cross-tenant system work only
    (background refreshers, re-drives, key rotation). Always logged; ``per_request`` contexts
    (credential resolution, which happens before the tenant is known) log at debug level."""
    info = _sync(session).info
    previous = info.get(SYSTEM_KEY)
    info[SYSTEM_KEY] = reason
    if per_request:
        log.debug("tenancy.system_context", reason=reason)
    else:
        log.info("tenancy.system_context", reason=reason)
    try:
        yield
    finally:
        if previous is None:
            info.pop(SYSTEM_KEY, None)
        else:
            info[SYSTEM_KEY] = previous


def _is_tenant_scoped(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, TenantScoped)


def _core_tables(statement: Any) -> set[str]:
    """Tables named by a Core (non-ORM) statement; ``{"<text>"}`` for raw SQL text."""
    if isinstance(statement, TextClause):
        return {"<text>"}
    if isinstance(statement, Select | CompoundSelect):
        found = find_tables(statement, include_joins=True, include_aliases=True)
        return {t.name for t in found if isinstance(t, Table)}
    table = getattr(statement, "table", None)
    return {table.name} if isinstance(table, Table) else set()


def _tenant_tables() -> frozenset[str]:
    return frozenset(
        m.local_table.name
        for m in Base.registry.mappers
        if _is_tenant_scoped(m.class_) and isinstance(m.local_table, Table)
    )


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statement(state: ORMExecuteState) -> None:
    info = state.session.info
    if isinstance(state.statement, CompoundSelect) and not info.get(SYSTEM_KEY):
        # The loader criteria below do not reach into the arms of a UNION / INTERSECT /
        # EXCEPT: such a statement on tenant tables would read every organization's rows.
        touched = _core_tables(state.statement) & _tenant_tables()
        if touched:
            raise TenantScopeViolation(
                f"UNION/INTERSECT/EXCEPT over tenant-owned {', '.join(sorted(touched))} cannot "
                "be tenant-scoped; run one query per table"
            )
    if not state.all_mappers:
        # Core statements get no automatic criteria, so they may not touch tenant tables (or be
        # raw text) outside a system context: use the ORM entities, or the TenantReader.
        if info.get(SYSTEM_KEY):
            return
        touched = _core_tables(state.statement) & (_tenant_tables() | {"<text>"})
        if touched:
            raise TenantScopeViolation(
                f"Core statement on {', '.join(sorted(touched))} cannot be tenant-scoped; "
                "query the ORM entity instead"
            )
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if not any(_is_tenant_scoped(m.class_) for m in state.all_mappers):
        return
    tenant = info.get(TENANT_KEY)
    if tenant is None:
        if info.get(SYSTEM_KEY):
            return
        names = sorted(m.class_.__name__ for m in state.all_mappers if _is_tenant_scoped(m.class_))
        raise TenantScopeViolation(
            f"query on tenant-owned {', '.join(names)} without an organization scope"
        )
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.organization_id == tenant,
            include_aliases=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _check_flush(session: Session, _context: Any, _instances: Any) -> None:
    tenant = session.info.get(TENANT_KEY)
    system = session.info.get(SYSTEM_KEY)
    for obj in (*session.new, *session.dirty):
        if not isinstance(obj, TenantScoped):
            continue
        if tenant is None:
            if system:
                continue
            raise TenantScopeViolation(
                f"write to tenant-owned {type(obj).__name__} without an organization scope"
            )
        if obj.organization_id != tenant:
            raise TenantScopeViolation(
                f"write to {type(obj).__name__} of another organization than the session's"
            )
