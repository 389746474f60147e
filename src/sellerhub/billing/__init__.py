"""Billing with Stripe (docs/billing.md): the Stripe client (``stripe``), the organization's
customer and saved cards (``customers``), the seller's Connect account (``connect``), the
commission on recoveries (``commissions``), the money ledger (``transactions``) and payouts to
sellers (``payouts``). ``flows.py`` holds what crosses into other domains (the organization's
contact, the onboarding after Amazon connects) and the Stripe webhook handlers."""
