from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sellerhub.core.errors import NotFound
from sellerhub.deps import SessionDep, SettingsDep
from sellerhub.mail import service
from sellerhub.mail.schemas import OutboundMailOut, OutboundMailPage

router = APIRouter(prefix="/api/v1/dev", tags=["development"])


@router.get(
    "/mail",
    response_model=OutboundMailPage,
    responses={404: {"description": "there is no dev mailbox here (production)"}},
)
async def list_mail(
    session: SessionDep,
    settings: SettingsDep,
    to: Annotated[str | None, Query(max_length=320, description="only this recipient")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OutboundMailPage:
    """Development and tests only (404 in production): the newest messages of the mail outbox,
    bodies included, so that a developer or a test can read the codes that were sent."""
    if settings.is_production:
        raise NotFound("not found")
    mails = await service.latest(session, limit=limit, to=to)
    return OutboundMailPage(items=[OutboundMailOut.model_validate(m) for m in mails])
