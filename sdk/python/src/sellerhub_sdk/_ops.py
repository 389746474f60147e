"""The API's operations as ``Call`` descriptions, shared by the sync and async clients."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sellerhub_sdk._core import Call, Page, as_dict, new_idempotency_key, page_parser
from sellerhub_sdk.models import (
    Balance,
    Checkout,
    CreditCheck,
    Introspection,
    PurchaseStatus,
    Signup,
    Transfer,
    User,
    UserInfo,
)


def credit_check(required: int) -> Call[CreditCheck]:
    return Call(
        "POST", "/api/cross-app/credit-check", lambda b: CreditCheck.of(b),
        json={"required": required},
    )  # fmt: skip


def balance() -> Call[Balance]:
    return Call("GET", "/api/cross-app/credits", lambda b: Balance.of(b))


def consume(
    amount: int, service: str, idempotency_key: str | None, metadata: dict[str, Any] | None
) -> Call[Transfer]:
    key = idempotency_key or new_idempotency_key()
    body: dict[str, Any] = {"amount": amount, "service": service, "idempotency_key": key}
    if metadata is not None:
        body["metadata"] = metadata
    return Call(
        "POST", "/api/cross-app/credits/consume", lambda b: Transfer.of(b), json=body,
        idempotency_key=key,
    )  # fmt: skip


def purchase(
    package_id: str | None,
    amount: int | None,
    idempotency_key: str | None,
    success_url: str | None,
    cancel_url: str | None,
) -> Call[Checkout]:
    if (package_id is None) == (amount is None):
        raise ValueError("give exactly one of package_id and amount")
    body: dict[str, Any] = (
        {"package_id": package_id} if package_id is not None else {"amount": amount}
    )
    if success_url is not None:
        body["success_url"] = success_url
    if cancel_url is not None:
        body["cancel_url"] = cancel_url
    return Call(
        "POST", "/api/cross-app/credits/purchase", lambda b: Checkout.of(b), json=body,
        idempotency_key=idempotency_key or new_idempotency_key(),
    )  # fmt: skip


def purchase_status(checkout_session_id: str, fulfil: bool) -> Call[PurchaseStatus]:
    path = f"/api/v1/credits/purchases/{quote(checkout_session_id, safe='')}"
    params = {"fulfil": "true"} if fulfil else None
    return Call("GET", path, lambda b: PurchaseStatus.of(b), params=params)


def page(
    path: str, item: Any, limit: int | None, cursor: str | None, **filters: Any
) -> Call[Page[Any]]:
    params = {k: v for k, v in filters.items() if v is not None}
    if limit is not None:
        params["limit"] = limit
    if cursor is not None:
        params["cursor"] = cursor
    return Call("GET", path, page_parser(item), params=params)


TRANSFERS = ("/api/v1/credits/transfers", Transfer.of)
ORDERS = ("/api/v1/orders", as_dict)
CLAIMS = ("/api/v1/claims", as_dict)
COMMISSIONS = ("/api/v1/billing/commissions", as_dict)
PAYOUTS = ("/api/v1/billing/payouts", as_dict)
TRANSACTIONS = ("/api/v1/billing/transactions", as_dict)


def validate_token(token: str) -> Call[Introspection]:
    """Introspection by the app itself (its client credentials as HTTP Basic)."""
    return Call(
        "POST", "/api/cross-app/validate-token", lambda b: Introspection.of(b),
        json={"token": token}, authenticated=False, client_auth=True, form=True,
    )  # fmt: skip


def signup(email: str, name: str | None) -> Call[Signup]:
    """A credit-only account created by the app (``users:create``; its client credentials)."""
    body = {"email": email} | ({"name": name} if name is not None else {})
    return Call(
        "POST", "/api/cross-app/signup", lambda b: Signup.of(b), json=body,
        authenticated=False, client_auth=True,
    )  # fmt: skip


def user_info() -> Call[UserInfo]:
    return Call("GET", "/api/cross-app/user-info", lambda b: UserInfo.of(b))


def user() -> Call[User]:
    return Call("GET", "/api/cross-app/user", lambda b: User.of(b))
