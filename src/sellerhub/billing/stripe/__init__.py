"""Billing's Stripe client: the SDK configured once per runtime (``client.client_of``) and
Stripe's failures as domain errors (``errors``, ``client.calling``)."""
