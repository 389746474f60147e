"""credits: a transfer's organization and accounts are checked once per statement, not three
times per row

credit_transfers had three foreign keys (its organization, its debit and its credit account).
Each runs a lookup of the row it references, which it also locks FOR KEY SHARE, per inserted
transfer: EXPLAIN ANALYZE of a batch of 8 consumes put them at 1.65 ms of the function's 3.8 ms,
the largest cost of a consume in PostgreSQL, paid on the same cores as the route's Python.

They are replaced, with the same guarantees, by:
* ``credit_transfers_references``: after each INSERT statement, one query over the inserted
  transfers (a transition table) refuses the statement if any names an organization or account
  that does not exist (SQLSTATE 23503, as the foreign keys did). Transfers are never updated
  (``credit_transfers_immutable``), so what was checked stays true of them.
* The referenced side, as NO ACTION keys did: deleting an organization or an account that a
  transfer names, or changing its id, is refused (23503). Nothing in the application deletes
  either; the checks read credit_transfers only when one is deleted or re-keyed.
The foreign key of ``pending_id`` (a post or void names its pending transfer) stays: it is NULL
for every other transfer, where it costs nothing.

The statement check of that batch: 0.32 ms (EXPLAIN ANALYZE, the same batch); the route's
figures in ``docs/credits.md`` (Figures).

Revision ID: 2026_12_04_credit_transfer_refs
Revises: 2026_12_04_credits_batch_probes
Create Date: 2026-12-04 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_12_04_credit_transfer_refs"
down_revision: str | None = "2026_12_04_credits_batch_probes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (constraint, column, referenced table)
KEYS = (
    ("fk_credit_transfers_organization_id_organizations", "organization_id", "organizations"),
    ("fk_credit_transfers_debit_account_id_credit_accounts", "debit_account_id", "credit_accounts"),
    (
        "fk_credit_transfers_credit_account_id_credit_accounts",
        "credit_account_id",
        "credit_accounts",
    ),
)

CHECKS = """
CREATE FUNCTION credit_transfers_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One probe of each primary key per transfer (as lateral lookups: written as NOT EXISTS
    -- under OR, the planner hashed every organization and account to match a few).
    IF EXISTS (
        SELECT 1 FROM inserted t
        LEFT JOIN LATERAL (SELECT true AS found FROM organizations o
                           WHERE o.id = t.organization_id LIMIT 1) o ON true
        LEFT JOIN LATERAL (SELECT true AS found FROM credit_accounts a
                           WHERE a.id = t.debit_account_id LIMIT 1) d ON true
        LEFT JOIN LATERAL (SELECT true AS found FROM credit_accounts a
                           WHERE a.id = t.credit_account_id LIMIT 1) c ON true
        WHERE o.found IS NULL OR d.found IS NULL OR c.found IS NULL
    ) THEN
        RAISE EXCEPTION 'a credit transfer names an organization or an account that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER credit_transfers_references AFTER INSERT ON credit_transfers
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION credit_transfers_references();

-- The referenced side: an organization or account that a transfer names stays, under its id.
CREATE FUNCTION credit_transfers_referenced_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'organizations' THEN
        IF EXISTS (SELECT 1 FROM gone g
                   WHERE EXISTS (SELECT 1 FROM credit_transfers t
                                 WHERE t.organization_id = g.id)) THEN
            RAISE EXCEPTION 'the organization has credit transfers'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM gone g
                  WHERE EXISTS (SELECT 1 FROM credit_transfers t
                                WHERE t.debit_account_id = g.id
                                   OR t.credit_account_id = g.id)) THEN
        RAISE EXCEPTION 'the credit account has transfers'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER credit_transfers_organization_gone AFTER DELETE ON organizations
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION credit_transfers_referenced_gone();
CREATE TRIGGER credit_transfers_account_gone AFTER DELETE ON credit_accounts
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION credit_transfers_referenced_gone();

CREATE FUNCTION credit_transfers_referenced_rekeyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM credit_transfers t
               WHERE (TG_TABLE_NAME = 'organizations' AND t.organization_id = OLD.id)
                  OR (TG_TABLE_NAME = 'credit_accounts'
                      AND (t.debit_account_id = OLD.id OR t.credit_account_id = OLD.id))) THEN
        RAISE EXCEPTION 'the % row has credit transfers; its id cannot change', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER credit_transfers_organization_rekeyed BEFORE UPDATE OF id ON organizations
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION credit_transfers_referenced_rekeyed();
CREATE TRIGGER credit_transfers_account_rekeyed BEFORE UPDATE OF id ON credit_accounts
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION credit_transfers_referenced_rekeyed();
"""

DROP_CHECKS = """
DROP TRIGGER IF EXISTS credit_transfers_account_rekeyed ON credit_accounts;
DROP TRIGGER IF EXISTS credit_transfers_organization_rekeyed ON organizations;
DROP FUNCTION IF EXISTS credit_transfers_referenced_rekeyed();
DROP TRIGGER IF EXISTS credit_transfers_account_gone ON credit_accounts;
DROP TRIGGER IF EXISTS credit_transfers_organization_gone ON organizations;
DROP FUNCTION IF EXISTS credit_transfers_referenced_gone();
DROP TRIGGER IF EXISTS credit_transfers_references ON credit_transfers;
DROP FUNCTION IF EXISTS credit_transfers_references();
"""


def upgrade() -> None:
    for name, _, _ in KEYS:
        op.drop_constraint(name, "credit_transfers", type_="foreignkey")
    op.execute(CHECKS)


def downgrade() -> None:
    op.execute(DROP_CHECKS)
    for name, column, table in KEYS:
        op.create_foreign_key(name, "credit_transfers", table, [column], ["id"])
