"""Every router of the HTTP API, in one place. They are included into the app directly (not
through a parent router): each nesting level costs route-matching time on every request."""

from fastapi import APIRouter

from sellerhub.audit.endpoints import router as audit_router
from sellerhub.billing.commissions.endpoints import charge_router as commission_charge_router
from sellerhub.billing.commissions.endpoints import router as commissions_router
from sellerhub.billing.connect.endpoints import router as billing_connect_router
from sellerhub.billing.credits.endpoints import cross_app_router as credits_cross_app_router
from sellerhub.billing.credits.endpoints import router as credits_router
from sellerhub.billing.customers.endpoints import router as billing_cards_router
from sellerhub.billing.payouts.endpoints import router as payouts_router
from sellerhub.billing.transactions.endpoints import router as transactions_router
from sellerhub.callbacks import router as amazon_callback_router
from sellerhub.commerce.catalog.endpoints import router as products_router
from sellerhub.commerce.claims.endpoints import router as claims_router
from sellerhub.commerce.inventory.endpoints import (
    locations_router,
    product_levels_router,
    reservations_router,
)
from sellerhub.commerce.inventory.endpoints import router as inventory_router
from sellerhub.commerce.inventory.fba.endpoints import router as fba_snapshots_router
from sellerhub.commerce.inventory.imports.endpoints import router as inventory_imports_router
from sellerhub.commerce.orders.endpoints import router as orders_router
from sellerhub.commerce.sync.endpoints import router as sync_jobs_router
from sellerhub.connections.endpoints.amazon import router as amazon_consent_router
from sellerhub.connections.endpoints.connections import router as connections_router
from sellerhub.connections.endpoints.manual import router as manual_credentials_router
from sellerhub.connections.endpoints.shopify import router as shopify_oauth_router
from sellerhub.connections.endpoints.woocommerce import router as woocommerce_grant_router
from sellerhub.identity.accounts.endpoints import router as accounts_router
from sellerhub.identity.amazon.endpoints import router as amazon_login_router
from sellerhub.identity.apps.endpoints import oauth_router
from sellerhub.identity.apps.endpoints import router as cross_app_router
from sellerhub.identity.endpoints import router as identity_router
from sellerhub.identity.jwt.endpoints import router as discovery_router
from sellerhub.identity.sessions.endpoints import router as sessions_router
from sellerhub.mail.endpoints import router as mail_router
from sellerhub.ops.endpoints import router as ops_router
from sellerhub.web.pages import ROUTERS as WEB_PAGES
from sellerhub.webhooks.endpoints import events_router as webhook_events_router
from sellerhub.webhooks.endpoints import router as webhooks_router

ROUTERS: list[APIRouter] = [
    ops_router,
    audit_router,
    cross_app_router,  # early: its validate-token is a hot, benchmarked route
    reservations_router,  # early: POST /api/v1/inventory/reservations, hot and benchmarked
    credits_cross_app_router,  # early: POST /api/cross-app/credits/consume, hot and benchmarked
    identity_router,
    sessions_router,
    amazon_login_router,
    amazon_callback_router,  # the one Amazon redirect URI: login, SP-API and Ads consent
    discovery_router,
    accounts_router,
    mail_router,
    oauth_router,
    connections_router,
    amazon_consent_router,
    manual_credentials_router,
    shopify_oauth_router,
    woocommerce_grant_router,
    orders_router,
    sync_jobs_router,
    claims_router,
    fba_snapshots_router,  # /api/v1/inventory/fba/…, before the inventory router
    inventory_imports_router,  # bulk imports; their uploads stream (app.py: InputPolicy)
    products_router,
    product_levels_router,
    locations_router,
    inventory_router,
    webhook_events_router,
    credits_router,
    billing_cards_router,
    billing_connect_router,
    commission_charge_router,
    commissions_router,
    transactions_router,
    payouts_router,
    *WEB_PAGES,  # the web UI's pages (sellerhub.web), HTML for people
    webhooks_router,  # last: deliveries are served before routing (webhooks.ingress.IngressLane)
]
