from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Query, Request

from sellerhub.core.errors import NotFound
from sellerhub.deps import SessionDep, SettingsDep
from sellerhub.mail import service
from sellerhub.mail.schemas import OutboundMailOut, OutboundMailPage

router = APIRouter(prefix="/api/v1/dev", tags=["development"])
_MAILBOX = "/mail"
DEV_MAILBOX_PATH = router.prefix + _MAILBOX  # printed by ``sellerhub run``


@router.get(
    _MAILBOX,
    response_model=OutboundMailPage,
    responses={
        404: {"description": "there is no dev mailbox here (production, or not from loopback)"}
    },
)
async def list_mail(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    to: Annotated[str | None, Query(max_length=320, description="only this recipient")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OutboundMailPage:
    """Development and tests only, and only to a client on this machine (404 in production and
    to any other address): the newest messages of the mail outbox, bodies included, so that a
    developer or a test can read the codes that were sent. Anyone else who can reach a
    development server must not read every verification and reset code."""
    if settings.is_production or not _from_loopback(request):
        raise NotFound("not found")
    mails = await service.latest(session, limit=limit, to=to)
    return OutboundMailPage(items=[OutboundMailOut.model_validate(m) for m in mails])


def _from_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
