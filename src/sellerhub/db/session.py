"""Session factory and the transaction boundary.

Who commits: only a boundary, through ``unit_of_work`` (or ``finish`` for a session it did not
open): the request dependency (``deps.request_session``), the job runner (``jobs.app.task``),
CLI commands, and the few short transactions a request opens for itself (credential resolution
on a cache miss, the ingress lane's own autocommit statements). Services and repositories only
flush. Post-commit hooks (outbox dispatch) run only after a successful commit.

An exception rolls the transaction back — unless it is a ``DomainError`` with ``keep_writes``
(the failure is a fact to record: a counted attempt, a burned state, a revoked token family);
then what was written is committed and the error still propagates, to be answered as usual."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from sellerhub.core.errors import DomainError

AFTER_COMMIT_KEY = "sellerhub.after_commit"
AfterCommit = Callable[[], Awaitable[None]]


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run ``hook`` once this session's transaction has committed (never if it rolls back)."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(hook)


async def commit(session: AsyncSession) -> None:
    """Commit, then run the after-commit hooks. Only the boundaries call this."""
    await session.commit()
    hooks: list[AfterCommit] = session.info.pop(AFTER_COMMIT_KEY, [])
    for hook in hooks:
        await hook()


def keeps_writes(exc: BaseException) -> bool:
    return isinstance(exc, DomainError) and exc.keep_writes


async def finish(session: AsyncSession, exc: BaseException | None) -> None:
    """End ``session``'s transaction as a boundary does: commit when ``exc`` is None or keeps
    its writes, roll back otherwise. The caller re-raises ``exc``."""
    if exc is None or keeps_writes(exc):
        try:
            await commit(session)
            return
        except Exception:
            if exc is None:
                raise  # a failed commit is the request's failure; with exc, exc wins
    await session.rollback()
    session.info.pop(AFTER_COMMIT_KEY, None)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: commit on success or on an error that keeps its writes, roll back on
    any other exception."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException as exc:
            await finish(session, exc)
            raise
        await finish(session, None)
