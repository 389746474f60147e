"""Stripe's form encoding: ``a[b][0][c]=v`` and ``a[]=v`` decoded into nested dicts and lists,
and typed readers that answer Stripe's ``invalid_request_error`` for a bad parameter."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sellerhub_emulators.stripe.errors import StripeError, invalid

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")

Params = dict[str, Any]


def _split(key: str) -> list[str] | None:
    head, sep, rest = key.partition("[")
    if not head:
        return None
    parts = [head]
    if sep:
        rest = "[" + rest
        pos = 0
        for match in _SEGMENT.finditer(rest):
            if match.start() != pos:
                return None
            parts.append(match.group(1))
            pos = match.end()
        if pos != len(rest):
            return None
    return parts


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        fixed = {k: _listify(v) for k, v in node.items()}
        if fixed and all(k.isdigit() for k in fixed):
            return [fixed[k] for k in sorted(fixed, key=int)]
        return fixed
    if isinstance(node, list):
        return [_listify(v) for v in node]
    return node


def decode(pairs: Iterable[tuple[str, str]]) -> Params:
    """Nested parameters from form pairs; ``k[]`` appends, ``k[0]`` indexes (becomes a list)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split(key)
        if parts is None:
            raise invalid(f"Invalid parameter name: {key}", param=key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                if not isinstance(node, list):
                    raise invalid(f"Invalid array: {key}", param=key)
                if last:
                    node.append(value)
                else:
                    node.append({})
                    node = node[-1]
                continue
            if not isinstance(node, dict):
                raise invalid(f"Invalid hash: {key}", param=key)
            if last:
                node[part] = value
            else:
                nxt = parts[i + 1]
                default: Any = [] if nxt == "" else {}
                existing = node.get(part)
                if existing is None or isinstance(existing, str):
                    node[part] = default
                node = node[part]
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def flatten(params: Any, prefix: str = "") -> list[tuple[str, str]]:
    """The inverse of ``decode`` (sorted), used to compare a request's parameters."""
    out: list[tuple[str, str]] = []
    if isinstance(params, dict):
        for key in sorted(params):
            out += flatten(params[key], f"{prefix}[{key}]" if prefix else key)
    elif isinstance(params, list):
        for i, value in enumerate(params):
            out += flatten(value, f"{prefix}[{i}]")
    else:
        out.append((prefix, str(params)))
    return out


# -- typed readers ---------------------------------------------------------------------------


def only(params: Params, allowed: Iterable[str]) -> None:
    known = set(allowed) | {"expand"}
    for key in params:
        if key not in known:
            raise invalid(f"Received unknown parameter: {key}", param=key, code="parameter_unknown")


def string(params: Params, name: str, *, required: bool = False, max_len: int = 5000) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {name}", param=name)
    if len(value) > max_len:
        raise invalid(f"Invalid string: {name} must be at most {max_len} characters", param=name)
    return value


def integer(
    params: Params, name: str, *, required: bool = False, minimum: int | None = None
) -> int | None:
    raw = string(params, name, required=required)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d{1,18}", raw):
        raise invalid(f"Invalid integer: {raw}", param=name, code="parameter_invalid_integer")
    value = int(raw)
    if minimum is not None and value < minimum:
        raise invalid(
            f"This value must be greater than or equal to {minimum}.",
            param=name,
            code="parameter_invalid_integer",
        )
    return value


def boolean(params: Params, name: str, *, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value in ("true", "True", "1"):
        return True
    if value in ("false", "False", "0"):
        return False
    raise invalid(f"Invalid boolean: {value}", param=name)


def choice(
    params: Params, name: str, options: Iterable[str], *, default: str | None = None
) -> str | None:
    value = string(params, name)
    if value is None:
        return default
    allowed = list(options)
    if value not in allowed:
        raise invalid(
            f"Invalid {name}: must be one of {', '.join(allowed)}",
            param=name,
            code="parameter_invalid_empty" if not value else None,
        )
    return value


def mapping(params: Params, name: str) -> dict[str, Any]:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {name}", param=name)
    return value


def strings(params: Params, name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"Invalid array: {name}", param=name)
    return list(value)


def currency(params: Params, name: str = "currency", *, required: bool = True) -> str | None:
    value = string(params, name, required=required)
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise invalid(f"Invalid currency: {value}.", param=name)
    return value.lower()


def metadata(params: Params, current: dict[str, str] | None = None) -> dict[str, str]:
    """Stripe's metadata rules: at most 50 keys of 40 characters, values of 500; an empty value
    unsets a key and ``metadata=`` unsets them all."""
    result = dict(current or {})
    if "metadata" not in params:
        return result
    raw = params["metadata"]
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise invalid("Invalid object", param="metadata")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise invalid(f"Invalid metadata value for {key}", param=f"metadata[{key}]")
        if len(key) > 40:
            raise invalid(
                "Metadata keys can have a maximum length of 40 characters.",
                param=f"metadata[{key}]",
            )
        if len(value) > 500:
            raise invalid(
                "Metadata values can have a maximum length of 500 characters.",
                param=f"metadata[{key}]",
            )
        if value == "":
            result.pop(key, None)
        else:
            result[key] = value
    if len(result) > 50:
        raise invalid("Metadata can have a maximum of 50 keys.", param="metadata")
    return result


__all__ = [
    "Params",
    "StripeError",
    "boolean",
    "choice",
    "currency",
    "decode",
    "flatten",
    "integer",
    "mapping",
    "metadata",
    "only",
    "string",
    "strings",
]
