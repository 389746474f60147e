"""The claims workflow's own errors (``core.errors`` classes with stable codes)."""

from __future__ import annotations

from sellerhub.core.errors import Conflict, ValidationFailed


class TransitionRefused(Conflict):
    """The claim's status does not allow the step asked for; the detail says why in words."""

    code = "claim-transition-refused"
    title = "The claim cannot move to that status"


class BadCaseId(ValidationFailed):
    code = "claim-case-id"
    title = "Not an Amazon case id"


class BadReason(ValidationFailed):
    code = "claim-reason"
    title = "Say why the claim is rejected"


class BadCursor(ValidationFailed):
    code = "claim-cursor"
    title = "The cursor is not one this list gave"
