"""Input rules for accounts: the shape of an email address and the password policy. Failures
are a 422 problem naming each field, in the same shape as request validation errors."""

from __future__ import annotations

import re

from sellerhub.core.errors import ValidationFailed

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 1024

_FORBIDDEN_LOCAL = set(' "(),:;<>[\\]@')
_DOMAIN_LABEL = re.compile(r"^(?!-)[^\s@.\x00-\x1f\x7f_]{1,63}(?<!-)$")


def email_problem(email: str) -> str | None:
    """Why ``email`` is not a usable address, or None."""
    if len(email) > 254:
        return "must be at most 254 characters"
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return "must look like name@example.com"
    if len(local) > 64 or local.startswith(".") or local.endswith(".") or ".." in local:
        return "must look like name@example.com"
    if any(ch in _FORBIDDEN_LOCAL or ord(ch) < 32 or ord(ch) == 127 for ch in local):
        return "must look like name@example.com"
    labels = domain.split(".")
    if len(labels) < 2 or len(labels[-1]) < 2 or not all(_DOMAIN_LABEL.match(x) for x in labels):
        return "must look like name@example.com"
    return None


def _classes(password: str) -> int:
    lower = any(ch.islower() for ch in password)
    upper = any(ch.isupper() for ch in password)
    digit = any(ch.isdigit() for ch in password)
    other = any(not (ch.islower() or ch.isupper() or ch.isdigit()) for ch in password)
    return sum((lower, upper, digit, other))


def password_problem(password: str, email: str) -> str | None:
    """Why ``password`` is refused, or None: at least 10 characters, at most 1024, not all of
    one class (lower-case letters, upper-case letters, digits, other characters), and not the
    email address."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"must be at least {PASSWORD_MIN_LENGTH} characters"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"must be at most {PASSWORD_MAX_LENGTH} characters"
    if _classes(password) < 2:
        return "must mix at least two kinds of characters (letters, upper-case, digits, symbols)"
    if password.strip().lower() == email.strip().lower():
        return "must not be the email address"
    return None


def check(problems: dict[str, str | None]) -> None:
    """Raise one ``ValidationFailed`` naming every failing field."""
    errors = [{"field": f, "message": m} for f, m in problems.items() if m is not None]
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ValidationFailed(detail, errors=errors)
