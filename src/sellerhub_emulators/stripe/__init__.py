"""Stripe emulator (providers.md §8, reference-next.md §1): a stateful, in-memory stand-in for
the part of Stripe's v1 API sellerhub's billing uses. State lives on the app instance.

Base: ``{PUBLIC_URL}/_emulators/stripe`` under sellerhub (``/stripe`` standalone). The official
SDK works unchanged::

    stripe.StripeClient("sk_test_sellerhub_emulator",
        base_addresses={"api": f"{base}/_emulators/stripe"}, http_client=stripe.HTTPXClient())

Keys: secret ``sk_test_sellerhub_emulator``, publishable ``pk_test_sellerhub_emulator`` (another
key: 401 in Stripe's error JSON). ``Authorization: Bearer sk_…`` or Basic ``sk_…:``;
``Stripe-Account: acct_…`` acts as a connected account (objects are scoped to it; an unknown
account is 403 ``account_invalid``); ``Stripe-Version`` is accepted and echoed. Bodies are
form-encoded with brackets; unknown parameters are 400 ``parameter_unknown``; ``expand[]`` works
on id fields (``latest_charge``, ``latest_charge.balance_transaction``, ``customer``,
``payment_method``, ``data.x`` in lists). Errors: ``{"error": {"type", "code",
"decline_code"?, "message", "param"?, "payment_intent"?, "setup_intent"?, "charge"?,
"doc_url"?}}`` — 400, 401, 402 ``card_error``, 403, 404 ``resource_missing``, 409, 429
``rate_limit``, 500 ``api_error``. Lists: ``{"object": "list", "data", "has_more", "url"}`` with
``limit``/``starting_after``/``ending_before``, newest first.

Idempotency-Key (POST, Stripe v1): same key and same parameters → the first status and body
replayed with ``Idempotent-Replayed: true`` (also a 402 or 500); other parameters or path →
400 ``idempotency_error``; the key still in flight → 409 ``idempotency_key_in_use``; validation
failures (400/404) and 429s are not stored; keys are pruned 24 h (emulator clock) after first
use, then the same key makes a new request. Keys are scoped per API key and Stripe-Account.

Endpoints (``/v1``):
  customers: POST, GET list (``email``), GET/POST/DELETE ``{id}``,
    GET ``{id}/payment_methods[/{pm}]``; update takes ``invoice_settings[default_payment_method]``
    (must be attached), ``email``, ``name``, ``metadata``.
  payment_methods: POST (``type=card``, ``card[number]`` of a test card or ``card[token]=tok_visa``;
    publishable key allowed), GET ``?customer=``, GET/POST ``{id}``, POST ``{id}/attach``
    (``customer``), POST ``{id}/detach``.
  setup_intents: POST (``customer``, ``usage`` default off_session, ``payment_method_types[]``,
    ``automatic_payment_methods[enabled]``, ``payment_method``, ``confirm``, ``return_url``,
    ``metadata``), GET list/``{id}``, POST ``{id}``, ``{id}/confirm`` (``payment_method``,
    ``return_url``), ``{id}/cancel``. Confirm/retrieve/cancel also accept the publishable key
    with ``client_secret`` (as Stripe.js: body ``key=pk_…&client_secret=…``).
  payment_intents: POST (``amount``, ``currency``, ``customer``, ``payment_method``,
    ``off_session``, ``confirm``, ``metadata``, ``description``, ``transfer_group``,
    ``receipt_email``, ``setup_future_usage``, ``return_url``, ``transfer_data[destination]``),
    GET list (``customer``), GET ``search?query=metadata['k']:'v' AND status:'succeeded'``
    (clauses ``metadata['k']:'v'``, ``-metadata[…]``, ``status``, ``customer``, ``currency``,
    ``amount``/``created`` with ``: > < >= <=``, joined by ``AND``; ``limit``, ``page``),
    GET/POST ``{id}``, POST ``{id}/confirm``, ``{id}/cancel``.
  charges: GET list (``payment_intent``, ``customer``, ``transfer_group``), GET ``{id}``;
  refunds: POST (``payment_intent`` or ``charge``, ``amount``), GET list/``{id}``;
  balance: GET; balance_transactions: GET ``{id}``; events: GET list (``type``, ``types[]``,
  ``created[gte]``…), GET ``{id}`` (Connect events are listed with their ``Stripe-Account``).
  accounts: POST (``controller[fees][payer]``, ``controller[losses][payments]``,
    ``controller[stripe_dashboard][type]``, ``controller[requirement_collection]`` or legacy
    ``type``; ``country``, ``email``, ``business_profile[name]``, ``business_type``,
    ``capabilities[card_payments|transfers][requested]``, ``metadata``), GET list, GET/POST
    ``{id}``, GET ``/v1/account``. New: ``charges_enabled``/``payouts_enabled``/
    ``details_submitted`` false, ``requirements.currently_due`` non-empty.
  account_links: POST (``account``, ``type=account_onboarding|account_update``,
    ``refresh_url``, ``return_url``, ``collection_options[fields]``) → ``url`` of the hosted
    onboarding page: single use, expires after 300 s (then a redirect to ``refresh_url``);
    submitting it enables charges and payouts, activates the capabilities and emits
    ``account.updated`` (Connect event), then redirects to ``return_url``.
  transfers: POST (``amount``, ``currency``, ``destination``, ``transfer_group``,
    ``source_transaction``, ``metadata``; the destination's ``transfers`` capability must be
    active; without ``source_transaction`` the platform's balance must cover it: 400
    ``balance_insufficient``) → ``transfer.created``; GET list/``{id}``; POST
    ``{id}/reversals`` (``amount``) → ``transfer.reversed``. PaymentIntents with
    ``transfer_data[destination]`` transfer on success. payouts: GET list/``{id}`` with
    ``Stripe-Account`` (made by ``_admin/payouts``).
  checkout/sessions: POST (``mode=payment|setup|subscription``, ``line_items[i][price]`` or
    ``[price_data][currency|unit_amount|product_data][name]|recurring]``, ``[quantity]``,
    ``success_url`` with ``{CHECKOUT_SESSION_ID}``, ``cancel_url``, ``client_reference_id``,
    ``metadata``, ``customer``/``customer_email``, ``expires_at``, ``payment_intent_data``,
    ``setup_intent_data``, ``subscription_data``), GET list/``{id}``, POST ``{id}/expire``, GET
    ``{id}/line_items``; products, prices (``recurring[interval]``), subscriptions (GET,
    DELETE/``cancel``), invoices (GET; POST ``{id}/pay`` charges an open one again, on
    ``payment_method`` when given). Details in ``checkout.py``.

Test PaymentMethods (Stripe's ids; using one makes a new ``pm_…`` card each time, attached to
the customer on a successful setup or attach; fingerprints are stable per card):
  ``pm_card_visa``, ``pm_card_visa_debit``, ``pm_card_mastercard``, ``pm_card_amex`` succeed;
  ``pm_card_chargeDeclined`` 402 ``card_declined``/``generic_decline`` (also on setup/attach);
  ``pm_card_chargeDeclinedInsufficientFunds`` ``card_declined``/``insufficient_funds`` on
  charges only (it saves fine); ``pm_card_chargeDeclinedExpiredCard`` (alias
  ``pm_card_expiredCard``) ``expired_card`` (also on setup); ``pm_card_authenticationRequired``
  (4000002760003184) needs 3-D Secure on every payment: off session 402
  ``authentication_required`` (PI back to ``requires_payment_method``, a failed charge, events
  ``charge.failed`` + ``payment_intent.payment_failed``), on session ``requires_action``;
  ``pm_card_authenticationRequiredOnSetup`` (4000002500003155) authenticates once at setup, then
  off-session charges succeed; ``pm_card_authenticationRequiredChargeDeclinedInsufficientFunds``
  authenticates, then declines.

Hosted pages (plain HTML forms, no JavaScript):
  ``pages/setup/{seti}?client_secret=…&return_url=…`` — pick a test card, the SetupIntent is
    confirmed (card attached, ``setup_intent.succeeded`` or ``setup_intent.setup_failed``), then
    303 to ``return_url?setup_intent=…&setup_intent_client_secret=…&redirect_status=succeeded|
    failed`` (via the 3-D Secure page when the card asks for it).
  ``pages/authenticate/{pi|seti}?client_secret=…`` — ``next_action.redirect_to_url.url`` of an
    intent in ``requires_action``: Complete (→ ``succeeded``, events) or Fail (→
    ``requires_payment_method``, ``last_payment_error.code=payment_intent_authentication_failure``),
    then 303 to the ``return_url`` given at confirmation with ``payment_intent``,
    ``payment_intent_client_secret``, ``redirect_status``.

Events and webhooks: every change records an Event (``GET /v1/events``); after the API answer
they are POSTed in order to the webhook URL, signed ``Stripe-Signature: t=…,v1=…`` with
``whsec_sellerhub_development`` (``stripe.Webhook.construct_event`` verifies it). The URL: the
``_admin/config`` ``webhook_url``, or — when mounted at ``/_emulators`` of sellerhub — that
origin's ``/webhooks/stripe``. Non-2xx answers are retried after ``retry_delays`` (1, 5, 25 s).

Control (``_admin``, JSON): ``GET|POST config`` (``secret_key``, ``publishable_key``,
``webhook_url``, ``webhook_secret``, ``connect_webhook_url``, ``connect_webhook_secret``,
``delivery`` auto|hold|off, ``delivery_delay_seconds``, ``retry_delays``, ``search_lag_seconds``,
``faults``, plus the common ``latency_ms``, ``fail``, ``rate_limit`` by endpoint name:
customers, payment_methods, setup_intents, payment_intents, charges, refunds, balance, events,
accounts, account_links, transfers, payouts, checkout, products, prices, subscriptions,
invoices), ``POST reset``, ``GET stats``, ``GET|POST|DELETE faults`` (method + path prefix →
``error``: 500/429 without running, nothing stored under the key; ``after``: run, then 500,
stored like Stripe stores a 500; ``after_drop``: run, store the real answer, break the
connection; ``drop``: break it without running), ``GET deliveries``,
``POST events/{evt}/resend``, ``POST deliver`` (chosen events or the held ones, in given or
reversed order), ``GET charges?metadata[k]=v``, ``GET summary?metadata_key=recovery_id``
(succeeded PaymentIntents per value, duplicates), ``POST advance_clock``, ``POST balance``,
``POST payouts`` (paid|failed), ``POST refund``, ``POST dispute`` (open, or close as
won|lost), ``POST accounts/{acct}/requirements``, ``POST checkout/{cs}/settle``, ``POST
subscriptions/{sub}/advance`` (``payment_method``: bill on that card, e.g. a declining one).
See ``admin.py``.
"""

from sellerhub_emulators.stripe.constants import (
    API_VERSION,
    PREFIX,
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
)
from sellerhub_emulators.stripe.events import signature_header
from sellerhub_emulators.stripe.router import build_stripe_router
from sellerhub_emulators.stripe.state import StripeEmulator

__all__ = [
    "API_VERSION",
    "PREFIX",
    "PUBLISHABLE_KEY",
    "SECRET_KEY",
    "WEBHOOK_SECRET",
    "StripeEmulator",
    "build_stripe_router",
    "signature_header",
]
