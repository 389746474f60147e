"""Session factory and the two places where a transaction is committed: the request dependency
(``request_session``) and the job runner (``job_session``). Services and repositories never
commit. Post-commit hooks (outbox dispatch) run only after a successful commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: commit on success, roll back on any exception."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            session.info.pop(AFTER_COMMIT_KEY, None)
            raise
        await commit(session)
