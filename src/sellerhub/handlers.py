"""Which function handles each stored webhook event, by (source, topic): the table the webhook
processor (``webhooks/service.py``) dispatches through. A composition module, like ``api.py``
and ``jobs/registry.py``: it imports the domains' handlers, and none of them registers itself.
A new topic is handled by adding its row here."""

from __future__ import annotations

from sellerhub.billing import flows as billing
from sellerhub.billing.commissions import events as commission_events
from sellerhub.billing.payouts import events as payout_events
from sellerhub.commerce.flows import order_from_shopify, order_from_woocommerce, orders_from_events
from sellerhub.webhooks import service as webhooks
from sellerhub.webhooks.service import BatchHandlers, Handlers

WEBHOOK_HANDLERS: Handlers = {
    # Shopify app lifecycle and privacy compliance (providers.md §4.2)
    ("shopify", "app/uninstalled"): webhooks.shopify_uninstalled,
    ("shopify", "customers/redact"): webhooks.shopify_customers_redact,
    ("shopify", "shop/redact"): webhooks.shopify_shop_redact,
    ("shopify", "customers/data_request"): webhooks.shopify_data_request,
    # Orders (commerce/orders), and the stock they reserve, ship or release (commerce/flows)
    ("shopify", "orders/create"): order_from_shopify,
    ("shopify", "orders/updated"): order_from_shopify,
    ("woocommerce", "order.created"): order_from_woocommerce,
    ("woocommerce", "order.updated"): order_from_woocommerce,
    # Billing: the commission's payment (billing/commissions/events.py), the money sent to
    # sellers (billing/payouts/events.py); Connect events carry ``account``
    ("stripe", "payment_intent.succeeded"): commission_events.payment_intent_event,
    ("stripe", "payment_intent.payment_failed"): commission_events.payment_intent_event,
    ("stripe", "payment_intent.requires_action"): commission_events.payment_intent_event,
    ("stripe", "payment_intent.processing"): commission_events.payment_intent_event,
    ("stripe", "charge.succeeded"): commission_events.charge_succeeded,
    # a refund, dispute or invoice of credits (billing/flows.py), else the commission's
    ("stripe", "charge.refunded"): billing.charge_refunded,
    ("stripe", "charge.dispute.created"): billing.dispute_created,
    ("stripe", "invoice.paid"): billing.invoice_paid,
    ("stripe", "charge.dispute.closed"): billing.dispute_closed,
    ("stripe", "invoice.payment_failed"): billing.invoice_payment_failed,
    ("stripe", "transfer.created"): payout_events.transfer_created,
    ("stripe", "transfer.reversed"): payout_events.transfer_reversed,
    ("stripe", "payout.paid"): payout_events.payout_event,
    ("stripe", "payout.failed"): payout_events.payout_event,
    # Billing (billing/flows.py): a card saved or refused in the browser
    ("stripe", "setup_intent.succeeded"): billing.setup_intent_succeeded,
    ("stripe", "setup_intent.setup_failed"): billing.setup_intent_failed,
    # the seller's Connect account (a Connect event, ``account`` set)
    ("stripe", "account.updated"): billing.account_updated,
    # credits sold through Checkout (billing/credits/purchases.py)
    ("stripe", "checkout.session.completed"): billing.checkout_completed,
    ("stripe", "checkout.session.async_payment_succeeded"): billing.checkout_async_succeeded,
    ("stripe", "checkout.session.async_payment_failed"): billing.checkout_async_failed,
    ("stripe", "checkout.session.expired"): billing.checkout_expired,
}

# Topics the drain may handle several events of one organization at once (set-based writes;
# a failing batch is handled again one event at a time with the table above).
WEBHOOK_BATCH_HANDLERS: BatchHandlers = {
    ("shopify", "orders/create"): orders_from_events,
    ("shopify", "orders/updated"): orders_from_events,
    ("woocommerce", "order.created"): orders_from_events,
    ("woocommerce", "order.updated"): orders_from_events,
}
