"""The input policy: one set of rules for every string and body that reaches sellerhub, applied at
the edge so that no route, model or query has to repeat them.

* **No NUL character** (U+0000) anywhere: PostgreSQL cannot store it in ``text`` or ``jsonb``.
* **No lone surrogate** (U+D800-U+DFFF not forming a pair, only possible through a JSON
  ``\\uXXXX`` escape): it cannot be encoded as UTF-8, so neither stored nor sent on.
* **No control character in a path** (C0 and DEL): no URL of ours or of a provider has one.
* **JSON nests at most** ``MAX_JSON_DEPTH`` levels (a document 20,000 levels deep exhausted the
  parser's recursion; none of the providers' documents comes near 64).
* **Bodies are bounded** in size (``max_body_bytes``, 413) and in time
  (``request_body_timeout_seconds``, 408).

``InputPolicy`` enforces the rules for HTTP requests (path, query string, JSON and form bodies)
and answers a refusal as ``application/problem+json`` naming the rule; ``json_problem`` is the
same check for a JSON document read elsewhere (the webhook ingress lane), ``text_problem`` for a
single string. A body is checked on its raw bytes: NUL and surrogates can only arrive as escapes
(a raw NUL byte is not JSON, raw surrogate bytes are not UTF-8), so the common clean body costs
one regular-expression scan and one bracket count, and is parsed only by the route itself.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sellerhub.core.errors import PROBLEM_CONTENT_TYPE, DomainError, PayloadTooLarge

MAX_JSON_DEPTH = 64

_CONTROL_IN_PATH = re.compile(r"[\x00-\x1f\x7f]")
# In a Python string every surrogate is unpaired: the JSON decoder joins the pairs.
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")
# A \u escape of NUL or of a surrogate (one after an escaped backslash is text, which the
# precise check after parsing tells apart). A literal prefix: scanned at memchr speed.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: no alternation per byte
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte that is not a bracket
_INNERMOST = re.compile(rb"\[\]|\{\}")


def text_problem(value: str) -> str | None:
    """Why ``value`` is refused, or None when it is acceptable."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which cannot be stored"
    if _UNPAIRED_SURROGATE.search(value):
        return "contains an unpaired UTF-16 surrogate, which is not valid Unicode text"
    return None


def json_depth(body: bytes, limit: int = 10_000) -> int:
    """How deeply the JSON text ``body`` nests (strings are skipped), counted up to ``limit``.
    Each pass removes the innermost pairs of the bracket skeleton (one C-speed substitution),
    so the cost is one pass per level."""
    # Without an escaped quote every quote opens or closes a string, so what lies outside the
    # strings is every other piece; with one, the strings' ends are found one by one.
    outside = _JSON_STRING.sub(b"", body) if b'\\"' in body else b"".join(body.split(b'"')[0::2])
    skeleton = outside.translate(None, _BRACKETS)
    depth = 0
    while skeleton and depth <= limit:
        inner = _INNERMOST.sub(b"", skeleton)
        if len(inner) == len(skeleton):
            break  # unbalanced: not JSON, which its reader reports
        skeleton, depth = inner, depth + 1
    return depth


def _walk_strings(document: Any) -> str | None:
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            problem = text_problem(node)
            if problem:
                return problem
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def json_problem(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why the JSON text ``body`` is refused by the policy, or None. Bodies that are not JSON at
    all pass: their reader reports that in its own words."""
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth(body, max_depth) > max_depth:
        return f"nests deeper than {max_depth} levels"
    if _SUSPECT_ESCAPE.search(body):
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return None
        problem = _walk_strings(document)
        if problem:
            return f"has a string that {problem}"
    return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _is_form(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


class InvalidInput(DomainError):
    status = 400
    code = "invalid-input"
    title = "The request holds text that is not accepted"


class RequestTimeout(DomainError):
    status = 408
    code = "request-timeout"
    title = "The request body arrived too slowly"


# Where the policy leaves the body it read and checked, for ``request_body``.
BODY_SCOPE_KEY = "sellerhub.body"


async def request_body(request: Request) -> bytes:
    """The request's body: the one the policy already read and checked (no second pass through
    the ASGI receive channel and Starlette's stream), or read now where the policy did not
    buffer it."""
    body = request.scope.get(BODY_SCOPE_KEY)
    if isinstance(body, bytes):
        return body
    return await request.body()


# The refusals of this module, answered here (before the app's exception handlers run).
REFUSALS = (InvalidInput, PayloadTooLarge, RequestTimeout)


def _invalid(detail: str) -> InvalidInput:
    return InvalidInput(detail)


def check_target(scope: Scope) -> None:
    """The path and the query string (decoded as the routes will see them)."""
    if _CONTROL_IN_PATH.search(scope["path"]):
        raise _invalid("the path contains a control character")
    raw_query: bytes = scope.get("query_string", b"")
    if raw_query and b"\x00" in unquote_to_bytes(raw_query):
        raise _invalid(
            "a query parameter contains a NUL character (U+0000), which cannot be stored"
        )


class InputPolicy:
    """ASGI middleware enforcing the module's rules on every HTTP request it wraps (the webhook
    ingress lane runs outside it, with its own size limit, and calls ``json_problem`` itself).

    ``streamed_paths``: POST routes that read their body in chunks as it arrives (bulk
    inventory imports, up to ``SELLERHUB_INVENTORY_IMPORT_MAX_BYTES``), so the body is not
    buffered here; the path and query rules still apply, and the route enforces its own size
    and time limits and the text rules on what it parses."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_timeout_seconds: float,
        streamed_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds
        self.streamed_paths = streamed_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_target(scope)
            if scope["method"] == "POST" and scope["path"] in self.streamed_paths:
                await self.app(scope, receive, send)
                return
            if not _may_have_body(scope):
                await self.app(scope, receive, send)
                return
            body = await self._read_body(scope, receive)
            content_type = _header(scope, b"content-type")
            if _is_json(content_type):
                problem = json_problem(body)
                if problem:
                    raise _invalid(f"the JSON body {problem}")
            elif _is_form(content_type) and b"\x00" in unquote_to_bytes(body.replace(b"+", b" ")):
                raise _invalid("a form field contains a NUL character (U+0000)")
        except REFUSALS as refused:
            await _refuse(refused, scope, receive, send)
            return
        scope[BODY_SCOPE_KEY] = body
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        break  # the client went away; the route sees an empty body
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise _too_large(self.max_body_bytes)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise RequestTimeout(
                f"the body was not complete after {self.body_timeout_seconds:g} seconds"
            ) from None
        return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request bodies are limited to {limit} bytes")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _may_have_body(scope: Scope) -> bool:
    return any(
        key in (b"content-length", b"transfer-encoding") for key, _ in scope["headers"]
    ) and (_header(scope, b"content-length") not in ("0",))


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as the server's would

    return replay


async def _refuse(refused: DomainError, scope: Scope, receive: Receive, send: Send) -> None:
    from fastapi.responses import JSONResponse

    headers = {"Connection": "close"} if refused.status in (408, 413) else None
    response = JSONResponse(
        refused.to_problem(scope["path"]),
        status_code=refused.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )
    await response(scope, receive, send)
