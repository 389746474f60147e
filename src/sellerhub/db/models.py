"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from sellerhub.audit.models import AuditEvent, PlatformAuditEvent
from sellerhub.billing.commissions.models import Commission, CommissionRate
from sellerhub.billing.connect.models import StripeAccount
from sellerhub.billing.credits.models import (
    CreditAccount,
    CreditDispute,
    CreditHold,
    CreditLot,
    CreditLotDraw,
    CreditPackage,
    CreditPurchase,
    CreditSubscription,
    CreditTransfer,
)
from sellerhub.billing.customers.models import StripeCustomer, StripePaymentMethod
from sellerhub.billing.payouts.models import SellerTransfer, TransferReversal
from sellerhub.billing.transactions.models import StripeTransaction, TransactionAudit
from sellerhub.commerce.catalog.models import Product, ProductListing
from sellerhub.commerce.claims.models import Claim, Recovery
from sellerhub.commerce.claims.reports.models import (
    ClaimsCustomerReturn,
    ClaimsInboundItem,
    ClaimsLedgerEvent,
    ClaimsRefund,
    ClaimsReimbursement,
)
from sellerhub.commerce.inventory.fba.models import FbaSnapshot, FbaSnapshotItem
from sellerhub.commerce.inventory.models import (
    InventoryImport,
    InventoryImportError,
    Location,
    Reservation,
    ReservationLine,
    StockLevel,
    StockMovement,
)
from sellerhub.commerce.orders.models import Order, OrderLine
from sellerhub.commerce.sync.models import SyncJob
from sellerhub.connections.models import Connection
from sellerhub.db.keyring_models import KeyRingHolder
from sellerhub.db.ratelimit_models import RateLimitCounter
from sellerhub.identity.accounts.models import EmailCode
from sellerhub.identity.amazon.models import AmazonLogin
from sellerhub.identity.apikeys.models import ApiKey
from sellerhub.identity.apps.models import App, AppAuthCode, AppRefreshToken, AppSignup
from sellerhub.identity.jwt.models import SigningKey
from sellerhub.identity.oauth_states.models import OAuthState
from sellerhub.identity.organizations.models import Membership, Organization
from sellerhub.identity.refresh_tokens.models import RevokedFamily
from sellerhub.identity.sessions.models import RefreshToken
from sellerhub.identity.users.models import User
from sellerhub.jobs.models import OutboxJob
from sellerhub.mail.models import OutboundMail
from sellerhub.webhooks.models import WebhookEvent

__all__ = [
    "AmazonLogin",
    "ApiKey",
    "App",
    "AppAuthCode",
    "AppRefreshToken",
    "AppSignup",
    "AuditEvent",
    "Claim",
    "ClaimsCustomerReturn",
    "ClaimsInboundItem",
    "ClaimsLedgerEvent",
    "ClaimsRefund",
    "ClaimsReimbursement",
    "Commission",
    "CommissionRate",
    "Connection",
    "CreditAccount",
    "CreditDispute",
    "CreditHold",
    "CreditLot",
    "CreditLotDraw",
    "CreditPackage",
    "CreditPurchase",
    "CreditSubscription",
    "CreditTransfer",
    "EmailCode",
    "FbaSnapshot",
    "FbaSnapshotItem",
    "InventoryImport",
    "InventoryImportError",
    "KeyRingHolder",
    "Location",
    "Membership",
    "OAuthState",
    "Order",
    "OrderLine",
    "Organization",
    "OutboundMail",
    "OutboxJob",
    "PlatformAuditEvent",
    "Product",
    "ProductListing",
    "RateLimitCounter",
    "Recovery",
    "RefreshToken",
    "Reservation",
    "ReservationLine",
    "RevokedFamily",
    "SellerTransfer",
    "SigningKey",
    "StockLevel",
    "StockMovement",
    "StripeAccount",
    "StripeCustomer",
    "StripePaymentMethod",
    "StripeTransaction",
    "SyncJob",
    "TransactionAudit",
    "TransferReversal",
    "User",
    "WebhookEvent",
]
