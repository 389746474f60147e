"""Typed answers of the API, as frozen dataclasses built from the JSON (unknown fields are
ignored, so a newer server does not break an older SDK; ``raw`` keeps the whole object)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class CreditCheck:
    sufficient: bool
    balance: int  # available credits (holds subtracted)

    @classmethod
    def of(cls, data: dict[str, Any]) -> CreditCheck:
        return cls(sufficient=bool(data["sufficient"]), balance=int(data["balance"]))


@dataclass(frozen=True)
class Package:
    id: str
    name: str
    credits: int
    price_minor: int  # minor units of ``currency``
    currency: str
    active: bool

    @classmethod
    def of(cls, data: dict[str, Any]) -> Package:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            credits=int(data["credits"]),
            price_minor=int(data["price_minor"]),
            currency=str(data["currency"]),
            active=bool(data.get("active", True)),
        )


@dataclass(frozen=True)
class Balance:
    balance: int  # available credits
    packages: list[Package]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Balance:
        return cls(
            balance=int(data["balance"]),
            packages=[Package.of(p) for p in data.get("packages") or []],
        )


@dataclass(frozen=True)
class Transfer:
    """One ledger transfer: ``code`` is grant, purchase, consume, hold…; ``balance_after`` the
    wallet's available credits right after it (when it touched the wallet)."""

    id: str
    idempotency_key: str
    code: str
    phase: str
    amount: int
    app_id: str | None
    service: str | None
    balance_after: int | None
    created_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Transfer:
        after = data.get("balance_after")
        return cls(
            id=str(data["id"]),
            idempotency_key=str(data.get("idempotency_key", "")),
            code=str(data["code"]),
            phase=str(data.get("phase", "single")),
            amount=int(data["amount"]),
            app_id=data.get("app_id"),
            service=data.get("service"),
            balance_after=None if after is None else int(after),
            created_at=_time(data.get("created_at")),
            raw=data,
        )


@dataclass(frozen=True)
class Checkout:
    """A credit purchase started: send the buyer to ``url`` (Stripe Checkout); the credits
    arrive when sellerhub is told the payment succeeded."""

    url: str
    purchase_id: str | None
    checkout_session_id: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Checkout:
        purchase, session = data.get("purchase_id"), data.get("checkout_session_id")
        return cls(
            url=str(data["url"]),
            purchase_id=None if purchase is None else str(purchase),
            checkout_session_id=None if session is None else str(session),
            raw=data,
        )


@dataclass(frozen=True)
class PurchaseStatus:
    """A purchase's state: ``status`` is open, processing, paid, failed or expired;
    ``reversed_credits`` what a refund or dispute took back."""

    checkout_session_id: str
    status: str
    credits: int
    amount_minor: int
    currency: str
    reversed_credits: int

    @classmethod
    def of(cls, data: dict[str, Any]) -> PurchaseStatus:
        return cls(
            checkout_session_id=str(data["checkout_session_id"]),
            status=str(data["status"]),
            credits=int(data["credits"]),
            amount_minor=int(data["amount_minor"]),
            currency=str(data["currency"]),
            reversed_credits=int(data.get("reversed_credits", 0)),
        )


@dataclass(frozen=True)
class Introspection:
    """``validate_token``: ``active`` and, when active, the token's claims."""

    active: bool
    claims: dict[str, Any]

    @property
    def subject(self) -> str | None:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) else None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Introspection:
        return cls(active=bool(data.get("active")), claims=data)


@dataclass(frozen=True)
class UserInfo:
    """``/api/cross-app/user-info``: flat claims of the user behind an app token."""

    sub: str
    email: str
    name: str | None
    email_verified: bool
    org: str
    roles: list[str]
    perms: list[str]

    @classmethod
    def of(cls, data: dict[str, Any]) -> UserInfo:
        return cls(
            sub=str(data["sub"]),
            email=str(data["email"]),
            name=data.get("name"),
            email_verified=bool(data.get("email_verified")),
            org=str(data["org"]),
            roles=list(data.get("roles") or []),
            perms=list(data.get("perms") or []),
        )


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    slug: str | None
    role: str


@dataclass(frozen=True)
class User:
    """``/api/cross-app/user``: the user, the organization the token acts in, the app's
    permissions."""

    id: str
    email: str
    name: str | None
    email_verified: bool
    user_type: str | None
    organization: Organization
    permissions: list[str]
    app_id: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> User:
        org = data["organization"]
        return cls(
            id=str(data["id"]),
            email=str(data["email"]),
            name=data.get("name"),
            email_verified=bool(data.get("email_verified")),
            user_type=data.get("user_type"),
            organization=Organization(
                id=str(org["id"]),
                name=str(org["name"]),
                slug=org.get("slug"),
                role=str(org["role"]),
            ),
            permissions=list(data.get("permissions") or []),
            app_id=str(data["app_id"]),
        )


@dataclass(frozen=True)
class Signup:
    """``identity.signup``: the account and its personal organization; ``created`` is False
    when this app had created it before (the same ids)."""

    user_id: str
    organization_id: str
    created: bool

    @classmethod
    def of(cls, data: dict[str, Any]) -> Signup:
        return cls(
            user_id=str(data["user_id"]),
            organization_id=str(data["organization_id"]),
            created=bool(data["created"]),
        )
