"""Every router of the HTTP API, in one place."""

from fastapi import APIRouter

from sellerhub.audit.endpoints import router as audit_router
from sellerhub.identity.endpoints import router as identity_router
from sellerhub.ops.endpoints import router as ops_router

router = APIRouter()
router.include_router(ops_router)
router.include_router(identity_router)
router.include_router(audit_router)
