"""credits: credits_transfer_batch reaches the accounts a batch names by their index, one probe
each, instead of reading every account

The function locked a batch's accounts with ``x.id IN (SELECT unnest(p_debit) UNION SELECT
unnest(p_credit) …)`` and wrote their totals back with ``UPDATE … FROM unnest(…) v WHERE a.id =
v.id``. The planner answered both with a pass over the whole primary key (a merge join, a hash
join): EXPLAIN ANALYZE of a batch of 8 consumes over 200 wallets read 395 accounts to lock 14,
and 402 to update them, on every call, a cost that grows with every organization that has a
wallet. Both now name the accounts as ``id = ANY(array)``, which PostgreSQL answers with one
descent of the primary key per account (the update joins the arrays to the rows so found).

Revision ID: 2026_12_04_credits_batch_probes
Revises: 2026_12_04_reserve_batch_set
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

from alembic import op

from sellerhub.db.migrations import earlier_migration_text

revision: str = "2026_12_04_credits_batch_probes"
down_revision: str | None = "2026_12_04_reserve_batch_set"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (as 2026_12_03_credits_disputes wrote it, as it is now)
CHANGES = (
    (
        "WHERE x.id IN (SELECT unnest(p_debit) UNION SELECT unnest(p_credit))",
        "WHERE x.id = ANY (p_debit || p_credit)",
    ),
    (
        "            WHERE a.id = v.id\n",
        "            WHERE a.id = ANY (a_id) AND a.id = v.id\n",
    ),
    (
        """    WHERE a.id IN (SELECT unnest(p_debit) UNION SELECT unnest(p_credit)
                   UNION SELECT x.debit_account_id FROM credit_transfers x
                         WHERE x.id = ANY(p_pending)
                   UNION SELECT x.credit_account_id FROM credit_transfers x
                         WHERE x.id = ANY(p_pending))""",
        """    WHERE a.id = ANY (p_debit || p_credit
                      || ARRAY(SELECT x.debit_account_id FROM credit_transfers x
                               WHERE x.id = ANY(p_pending))
                      || ARRAY(SELECT x.credit_account_id FROM credit_transfers x
                               WHERE x.id = ANY(p_pending)))""",
    ),
)


def _previous() -> str:
    """The function as 2026_12_03_credits_disputes made it (the downgrade puts it back)."""
    return earlier_migration_text("2026-12-03-1000_credits_disputes.py", "TRANSFER_BATCH")


def probing() -> str:
    text = _previous()
    for before, after in CHANGES:
        if text.count(before) != 1:
            raise RuntimeError("credits_transfer_batch is not the function this migration changes")
        text = text.replace(before, after, 1)
    return text


def upgrade() -> None:
    op.execute(probing())


def downgrade() -> None:
    op.execute(_previous())
