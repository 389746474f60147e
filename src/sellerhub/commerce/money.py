"""Money as integer minor units (ISO 4217 exponents); decimal strings in, never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from sellerhub.core.errors import ValidationFailed

_EXPONENTS = {
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}


# The largest amount accepted, in minor units: 10^15 (ten trillion dollars; ample for any order
# in any currency, far inside BIGINT). Larger values are malformed input, not money.
MAX_MINOR = 10**15


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_minor(amount: str | int | float | Decimal | None, currency: str) -> int:
    """``"19.99"`` USD → 1999. Rounds half-even at the currency's precision."""
    if amount is None or amount == "":
        return 0
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValidationFailed(f"{amount!r} is not an amount") from None
    if not value.is_finite():
        raise ValidationFailed(f"{amount!r} is not an amount")
    if abs(value) * (Decimal(10) ** exponent(currency)) > MAX_MINOR:
        raise ValidationFailed(f"{str(amount)[:40]!r} is out of range for an amount")
    scaled = (value * (Decimal(10) ** exponent(currency))).quantize(
        Decimal(1), rounding=ROUND_HALF_EVEN
    )
    return int(scaled)
