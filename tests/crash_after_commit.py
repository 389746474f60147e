"""Run as a separate process by test_jobs: commit a business write together with its job
request, then die by SIGKILL before anything after the commit can run."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid

from sellerhub.audit import service as audit
from sellerhub.config import Settings
from sellerhub.db.session import after_commit, commit
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs.app import enqueue
from sellerhub.runtime import Runtime


async def main(organization_id: uuid.UUID) -> None:
    runtime = Runtime.create(Settings())
    async with runtime.sessionmaker() as session:
        set_tenant(session, organization_id)

        async def die() -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        after_commit(session, die)  # runs first, before the outbox dispatch hook
        await audit.record(session, organization_id=organization_id, action="BUSINESS_WRITE")
        await enqueue(session, "tests.record_marker", {"organization_id": str(organization_id)})
        await commit(session)
    raise SystemExit("unreachable: the process should be dead")


if __name__ == "__main__":
    asyncio.run(main(uuid.UUID(sys.argv[1])))
