"""The credits page's one read (``web.session.view``): the wallet, the debt, the packages and
plans on sale, the latest purchases, the subscriptions and the usage per app and service, as
one JSON value of one scalar statement scoped to the viewer's organization."""

from __future__ import annotations

from typing import Any, LiteralString

from sellerhub.db.reads import Read

PAGE_SQL: LiteralString = """
SELECT json_build_object(
  'balance', coalesce((SELECT credits_posted - debits_posted FROM credit_accounts
      WHERE kind = 'wallet' AND organization_id = %(organization_id)s AND ledger = 1), 0),
  'held', coalesce((SELECT debits_pending FROM credit_accounts
      WHERE kind = 'wallet' AND organization_id = %(organization_id)s AND ledger = 1), 0),
  'debt', coalesce((SELECT debits_posted - credits_posted FROM credit_accounts
      WHERE kind = 'debt' AND organization_id = %(organization_id)s AND ledger = 1), 0),
  'packages', coalesce((SELECT json_agg(json_build_object('id', id, 'name', name,
      'credits', credits, 'price_minor', price_minor, 'currency', currency,
      'interval', interval) ORDER BY interval NULLS FIRST, credits, id)
      FROM credit_packages WHERE active), '[]'::json),
  'purchases', coalesce((SELECT json_agg(p ORDER BY p.created_at DESC) FROM (
      SELECT checkout_session_id, credits, amount_minor, currency, status, reversed_credits,
             created_at
      FROM credit_purchases WHERE organization_id = %(organization_id)s
        AND status <> 'open' ORDER BY created_at DESC LIMIT 10) p), '[]'::json),
  'subscriptions', coalesce((SELECT json_agg(json_build_object('id', s.id,
      'credits', s.credits, 'status', s.status, 'invoices_paid', s.invoices_paid,
      'name', k.name, 'interval', k.interval, 'price_minor', k.price_minor,
      'currency', k.currency, 'payment_failed_invoice', s.payment_failed_invoice,
      'payment_failed_at', s.payment_failed_at) ORDER BY s.created_at DESC)
      FROM credit_subscriptions s JOIN credit_packages k ON k.id = s.package_id
      WHERE s.organization_id = %(organization_id)s AND s.status <> 'open'), '[]'::json),
  'expiring', coalesce((SELECT json_agg(e ORDER BY e.expires_at) FROM (
      SELECT sum(remaining)::bigint AS credits, expires_at::date AS expires_on,
             min(expires_at) AS expires_at
      FROM credit_lots WHERE organization_id = %(organization_id)s AND remaining > 0
      GROUP BY expires_at::date ORDER BY min(expires_at) LIMIT 5) e), '[]'::json),
  'usage', coalesce((SELECT json_agg(u ORDER BY u.app_id NULLS FIRST, u.service) FROM (
      SELECT app_id, service, sum(amount)::bigint AS credits, count(*) AS transfers
      FROM credit_transfers WHERE organization_id = %(organization_id)s
        AND code IN ('consume', 'hold') AND phase IN ('single', 'post')
      GROUP BY app_id, service) u), '[]'::json)
)
"""

PURCHASE_SQL: LiteralString = (
    "SELECT json_build_object('status', status, 'credits', credits) FROM credit_purchases"
    " WHERE organization_id = %(organization_id)s AND checkout_session_id = %(cs)s"
)


def _decode(value: Any) -> dict[str, Any]:
    data: dict[str, Any] = dict(value or {})
    data["balance"] = int(data.get("balance") or 0)
    data["held"] = int(data.get("held") or 0)
    data["available"] = data["balance"] - data["held"]
    data["debt"] = max(0, int(data.get("debt") or 0))
    return data


def page_read() -> Read[dict[str, Any]]:
    return Read(PAGE_SQL, decode=_decode)


def purchase_read(checkout_session_id: str) -> Read[dict[str, Any] | None]:
    return Read(
        PURCHASE_SQL,
        params={"cs": checkout_session_id},
        decode=lambda v: None if v is None else dict(v),
    )


CARD_SQL: LiteralString = """
SELECT json_build_object(
  'balance', coalesce(credits_posted - debits_posted, 0), 'held', coalesce(debits_pending, 0))
FROM credit_accounts
WHERE kind = 'wallet' AND organization_id = %(organization_id)s AND ledger = 1
"""


def card_read() -> Read[dict[str, Any]]:
    """The dashboard's Credits card: balance and held (zero before the first credit)."""
    return Read(CARD_SQL, decode=_decode)
