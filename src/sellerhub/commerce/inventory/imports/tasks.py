"""The job that finishes a large import: its rows are in the staging table (committed with the
upload); validation and the apply run here, in one transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.inventory.imports import service
from sellerhub.jobs.app import resources, task


@task(service.RUN_TASK, queue="default")
async def run_import(session: AsyncSession, organization_id: str, import_id: str) -> None:
    await service.run(
        session, resources().sessionmaker, uuid.UUID(organization_id), uuid.UUID(import_id)
    )
