"""S3's XML error shape, for the pre-signed report document downloads (an expired URL is 403
``AccessDenied`` "Request has expired", an altered one 403 ``SignatureDoesNotMatch``, a missing
object 404 ``NoSuchKey``, throttling 503 ``SlowDown``)."""

from __future__ import annotations

from starlette.responses import Response

from sellerhub_emulators.amazon.spapi_errors import request_id


def s3_error(status: int, code: str, message: str, **extra: str) -> Response:
    parts = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{parts}"
        f"<RequestId>{request_id().replace('-', '')[:16].upper()}</RequestId></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def s3_fault(status: int) -> Response:
    if status == 503:
        return s3_error(503, "SlowDown", "Please reduce your request rate.")
    if status == 500:
        return s3_error(500, "InternalError", "We encountered an internal error. Please try again.")
    if status == 403:
        return s3_error(403, "AccessDenied", "Access Denied")
    return s3_error(status, "InvalidRequest", "The request is invalid.")
