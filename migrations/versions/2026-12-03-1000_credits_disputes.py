"""credits: a credit subscription's failed renewal (the failed invoice, its time, and the time
of the newest invoice paid, so events out of order never bring back a failure a later payment
cleared), and one row per dispute of a credit purchase (what it took back, what winning it gave
back: at most once); and the optional expiry of granted credits: a package's or plan's
``grant_expires_days``, one ``credit_lots`` row per expiring grant (what is left of it), the
draws of open holds on them, and ``credits_transfer_batch`` spending expiring grants first,
earliest expiry first, under the wallet's lock (so concurrent consumes stay exact)

Revision ID: 2026_12_03_credits_disputes
Revises: 2026_12_02_commission_refunds
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sellerhub.db.migrations import earlier_migration_text

revision: str = "2026_12_03_credits_disputes"
down_revision: str | None = "2026_12_02_commission_refunds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Spend ``p_amount`` of the account's expiring grants, earliest expiry first (a hold records
# what it drew, ``p_hold``). Called by credits_transfer_batch for every debit but expiries,
# while it holds the account's lock.
DRAW_LOTS = """
CREATE FUNCTION credits_draw_lots(p_account uuid, p_amount bigint, p_hold uuid)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_left bigint := p_amount;
    v_take bigint;
    l record;
BEGIN
    FOR l IN SELECT x.id, x.remaining FROM credit_lots x
             WHERE x.account_id = p_account AND x.remaining > 0
             ORDER BY x.expires_at, x.id FOR UPDATE
    LOOP
        v_take := least(l.remaining, v_left);
        UPDATE credit_lots x SET remaining = x.remaining - v_take WHERE x.id = l.id;
        IF p_hold IS NOT NULL THEN
            INSERT INTO credit_lot_draws (pending_id, lot_id, amount)
            VALUES (p_hold, l.id, v_take);
        END IF;
        v_left := v_left - v_take;
        EXIT WHEN v_left = 0;
    END LOOP;
END;
$fn$;
"""

# A hold resolved: of the ``p_released`` credits it gives back, the part it did not draw from
# expiring grants is released first (spent last, as never-expiring credits are), the rest goes
# back to the grants it drew from, latest expiry first. Its draws are then forgotten.
RETURN_LOTS = """
CREATE FUNCTION credits_return_lots(p_hold uuid, p_held bigint, p_released bigint)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_drawn bigint;
    v_left bigint;
    v_give bigint;
    d record;
BEGIN
    SELECT coalesce(sum(x.amount), 0) INTO v_drawn FROM credit_lot_draws x
    WHERE x.pending_id = p_hold;
    IF v_drawn = 0 THEN
        RETURN;
    END IF;
    v_left := p_released - (p_held - v_drawn);
    FOR d IN SELECT x.lot_id, x.amount FROM credit_lot_draws x
             JOIN credit_lots l ON l.id = x.lot_id
             WHERE x.pending_id = p_hold
             ORDER BY l.expires_at DESC, l.id DESC FOR UPDATE OF l
    LOOP
        EXIT WHEN v_left <= 0;
        v_give := least(d.amount, v_left);
        UPDATE credit_lots x SET remaining = x.remaining + v_give WHERE x.id = d.lot_id;
        v_left := v_left - v_give;
    END LOOP;
    DELETE FROM credit_lot_draws x WHERE x.pending_id = p_hold;
END;
$fn$;
"""

# credits_transfer_batch of 2026_12_02_credits_ledger, drawing on expiring grants.
TRANSFER_BATCH = """
CREATE OR REPLACE FUNCTION credits_transfer_batch(
    p_id uuid[], p_org uuid[], p_scope text[], p_key text[], p_debit uuid[], p_credit uuid[],
    p_amount bigint[], p_code text[], p_phase text[], p_pending uuid[],
    p_timeout timestamptz[], p_app text[], p_service text[], p_meta text[]
) RETURNS TABLE (
    o_item int, o_status text, o_id uuid, o_amount bigint, o_code text, o_phase text,
    o_pending uuid, o_debit uuid, o_credit uuid, o_app text, o_service text,
    o_debit_after bigint, o_credit_after bigint, o_timeout timestamptz,
    o_created timestamptz, o_available bigint
) LANGUAGE plpgsql
-- Plans are cached for the connection's life; every lookup here has its index.
SET enable_seqscan = off
AS $fn$
DECLARE
    i int;
    j int;
    n int := coalesce(cardinality(p_id), 0);
    v_amount bigint;
    v_held bigint;
    v_ledger smallint;
    v_found boolean;
    t credit_transfers%ROWTYPE;
    -- the set-based path: the locked accounts' rows as arrays (in id order), and per transfer
    a_id uuid[]; a_org uuid[]; a_ledger smallint[]; a_dguard boolean[]; a_cguard boolean[];
    a_dpe bigint[]; a_dpo bigint[]; a_cpe bigint[]; a_cpo bigint[];
    x_existing uuid[]; x_first int[]; x_status text[]; x_dafter bigint[]; x_cafter bigint[];
    x_available bigint[]; x_ledger smallint[];
    d int; c int; made int;
BEGIN
    IF NOT ('post' = ANY(p_phase) OR 'void' = ANY(p_phase)) THEN
        -- Single and pending transfers only (the consume route's batches): lock and read every
        -- account once, decide each transfer in order on the running totals in memory, then
        -- write the totals with one UPDATE and the transfers with one INSERT.
        SELECT array_agg(a.id ORDER BY a.id), array_agg(a.organization_id ORDER BY a.id),
               array_agg(a.ledger ORDER BY a.id),
               array_agg(a.debits_must_not_exceed_credits ORDER BY a.id),
               array_agg(a.credits_must_not_exceed_debits ORDER BY a.id),
               array_agg(a.debits_pending ORDER BY a.id), array_agg(a.debits_posted ORDER BY a.id),
               array_agg(a.credits_pending ORDER BY a.id), array_agg(a.credits_posted ORDER BY a.id)
        INTO a_id, a_org, a_ledger, a_dguard, a_cguard, a_dpe, a_dpo, a_cpe, a_cpo
        FROM (SELECT * FROM credit_accounts x
              WHERE x.id IN (SELECT unnest(p_debit) UNION SELECT unnest(p_credit))
              ORDER BY x.id
              FOR NO KEY UPDATE) a;
        -- Per transfer: the transfer its key names already, and the first transfer of the batch
        -- with the same key. The probe is a correlated subquery, one descent of the key's
        -- unique index per transfer: as a join it was planned as a merge over the whole index
        -- (or a filter of the organization's history) when the statistics were stale.
        SELECT array_agg(q.existing ORDER BY q.k), array_agg(q.first ORDER BY q.k)
        INTO x_existing, x_first
        FROM (SELECT w.k,
                     (SELECT t2.id FROM credit_transfers t2
                      WHERE t2.organization_id = w.org AND t2.key_scope = w.scope
                        AND t2.idempotency_key = w.key) AS existing,
                     min(w.k) OVER (PARTITION BY w.org, w.scope, w.key)::int AS first
              FROM unnest(p_org, p_scope, p_key) WITH ORDINALITY AS w(org, scope, key, k)) q;
        x_status := array_fill(NULL::text, ARRAY[n]);
        x_dafter := array_fill(NULL::bigint, ARRAY[n]);
        x_cafter := array_fill(NULL::bigint, ARRAY[n]);
        x_available := array_fill(NULL::bigint, ARRAY[n]);
        x_ledger := array_fill(NULL::smallint, ARRAY[n]);
        made := 0;
        FOR i IN 1 .. n LOOP
            IF x_existing[i] IS NOT NULL THEN
                x_status[i] := 'existing';
                CONTINUE;
            END IF;
            IF x_first[i] < i THEN  -- an earlier transfer of the batch made with the key?
                FOR j IN x_first[i] .. i - 1 LOOP
                    IF x_status[j] = 'created' AND p_org[j] = p_org[i]
                       AND p_scope[j] = p_scope[i] AND p_key[j] = p_key[i] THEN
                        x_status[i] := 'same:' || j;
                        EXIT;
                    END IF;
                END LOOP;
                IF x_status[i] IS NOT NULL THEN
                    CONTINUE;
                END IF;
            END IF;
            v_amount := p_amount[i];
            d := array_position(a_id, p_debit[i]);
            c := array_position(a_id, p_credit[i]);
            IF d IS NULL OR (a_org[d] IS NOT NULL AND a_org[d] <> p_org[i])
               OR c IS NULL OR (a_org[c] IS NOT NULL AND a_org[c] <> p_org[i]) THEN
                x_status[i] := 'missing';
            ELSIF a_dguard[d] AND a_dpo[d] + a_dpe[d] + v_amount > a_cpo[d] THEN
                x_status[i] := 'insufficient';
                x_available[i] := a_cpo[d] - a_dpo[d] - a_dpe[d];
            ELSIF a_ledger[c] <> a_ledger[d]
                  OR (a_cguard[c] AND a_cpo[c] + a_cpe[c] + v_amount > a_dpo[c]) THEN
                x_status[i] := 'refused';
            ELSE
                IF p_phase[i] = 'single' THEN
                    a_dpo[d] := a_dpo[d] + v_amount;
                    a_cpo[c] := a_cpo[c] + v_amount;
                ELSE
                    a_dpe[d] := a_dpe[d] + v_amount;
                    a_cpe[c] := a_cpe[c] + v_amount;
                END IF;
                x_status[i] := 'created';
                x_dafter[i] := a_cpo[d] - a_dpo[d] - a_dpe[d];
                x_cafter[i] := a_cpo[c] - a_dpo[c] - a_dpe[c];
                x_ledger[i] := a_ledger[d];
                made := made + 1;
            END IF;
        END LOOP;
        IF made > 0 THEN
            UPDATE credit_accounts a
            SET debits_pending = v.dpe, debits_posted = v.dpo, credits_pending = v.cpe,
                credits_posted = v.cpo
            FROM unnest(a_id, a_dpe, a_dpo, a_cpe, a_cpo) AS v(id, dpe, dpo, cpe, cpo)
            WHERE a.id = v.id
              AND (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
                  IS DISTINCT FROM (v.dpe, v.dpo, v.cpe, v.cpo);
            INSERT INTO credit_transfers
                (id, organization_id, key_scope, idempotency_key, debit_account_id,
                 credit_account_id, amount, ledger, code, phase, pending_id, timeout_at, app_id,
                 service, metadata, debit_balance_after, credit_balance_after)
            SELECT w.id, w.org, w.scope, w.key, w.debit, w.credit, w.amount, w.ledger, w.code,
                   w.phase, NULL, w.timeout, w.app, w.service, coalesce(w.meta, '{}')::jsonb,
                   w.dafter, w.cafter
            FROM unnest(p_id, p_org, p_scope, p_key, p_debit, p_credit, p_amount, x_ledger,
                        p_code, p_phase, p_timeout, p_app, p_service, p_meta, x_dafter,
                        x_cafter, x_status)
                 AS w(id, org, scope, key, debit, credit, amount, ledger, code, phase, timeout,
                      app, service, meta, dafter, cafter, status)
            WHERE w.status = 'created'
            ON CONFLICT (organization_id, key_scope, idempotency_key) DO NOTHING;
            GET DIAGNOSTICS j = ROW_COUNT;
            IF j <> made THEN  -- a concurrent call took a key meanwhile: the caller goes alone
                RAISE EXCEPTION 'an idempotency key was taken while the batch was decided'
                    USING ERRCODE = 'unique_violation';
            END IF;
            INSERT INTO credit_holds (transfer_id, organization_id, expires_at)
            SELECT w.id, w.org, w.timeout
            FROM unnest(p_id, p_org, p_timeout, p_phase, x_status)
                 AS w(id, org, timeout, phase, status)
            WHERE w.status = 'created' AND w.phase = 'pending';
            -- Expiring grants (credit_lots) are spent first, earliest expiry first; a hold
            -- records what it drew. One index probe when no debited account has a lot left.
            IF EXISTS (SELECT 1 FROM credit_lots l
                       WHERE l.account_id = ANY(a_id) AND l.remaining > 0) THEN
                FOR i IN 1 .. n LOOP
                    IF x_status[i] = 'created' AND p_code[i] <> 'expire' THEN
                        PERFORM credits_draw_lots(p_debit[i], p_amount[i],
                            CASE WHEN p_phase[i] = 'pending' THEN p_id[i] END);
                    END IF;
                END LOOP;
            END IF;
        END IF;
        FOR i IN 1 .. n LOOP
            o_item := i; o_status := x_status[i]; o_available := x_available[i];
            j := i;
            IF left(o_status, 5) = 'same:' THEN
                j := substr(o_status, 6)::int;
                o_status := 'existing';
            END IF;
            IF o_status = 'existing' AND j = i THEN
                SELECT * INTO t FROM credit_transfers x WHERE x.id = x_existing[i];
                o_id := t.id; o_amount := t.amount; o_code := t.code; o_phase := t.phase;
                o_pending := t.pending_id; o_debit := t.debit_account_id;
                o_credit := t.credit_account_id; o_app := t.app_id; o_service := t.service;
                o_debit_after := t.debit_balance_after;
                o_credit_after := t.credit_balance_after; o_timeout := t.timeout_at;
                o_created := t.created_at;
            ELSIF o_status IN ('created', 'existing') THEN
                o_id := p_id[j]; o_amount := p_amount[j]; o_code := p_code[j];
                o_phase := p_phase[j]; o_pending := NULL; o_debit := p_debit[j];
                o_credit := p_credit[j]; o_app := p_app[j]; o_service := p_service[j];
                o_debit_after := x_dafter[j]; o_credit_after := x_cafter[j];
                o_timeout := p_timeout[j]; o_created := now();
            ELSE
                o_id := NULL; o_amount := NULL; o_code := NULL; o_phase := NULL;
                o_pending := NULL; o_debit := NULL; o_credit := NULL; o_app := NULL;
                o_service := NULL; o_debit_after := NULL; o_credit_after := NULL;
                o_timeout := NULL; o_created := NULL;
            END IF;
            RETURN NEXT;
        END LOOP;
        RETURN;
    END IF;

    -- Batches with posts or voids: transfer by transfer.
    PERFORM 1 FROM credit_accounts a
    WHERE a.id IN (SELECT unnest(p_debit) UNION SELECT unnest(p_credit)
                   UNION SELECT x.debit_account_id FROM credit_transfers x
                         WHERE x.id = ANY(p_pending)
                   UNION SELECT x.credit_account_id FROM credit_transfers x
                         WHERE x.id = ANY(p_pending))
    ORDER BY a.id
    FOR NO KEY UPDATE;

    FOR i IN 1 .. n LOOP
        o_item := i; o_status := NULL; o_available := NULL; t := NULL;
        SELECT * INTO t FROM credit_transfers x
        WHERE x.organization_id = p_org[i] AND x.key_scope = p_scope[i]
          AND x.idempotency_key = p_key[i];
        IF FOUND THEN
            o_status := 'existing';
        ELSIF p_phase[i] IN ('single', 'pending') THEN
            v_amount := p_amount[i];
            UPDATE credit_accounts a
            SET debits_posted = a.debits_posted
                    + CASE WHEN p_phase[i] = 'single' THEN v_amount ELSE 0 END,
                debits_pending = a.debits_pending
                    + CASE WHEN p_phase[i] = 'pending' THEN v_amount ELSE 0 END
            WHERE a.id = p_debit[i]
              AND (a.organization_id IS NULL OR a.organization_id = p_org[i])
              AND (NOT a.debits_must_not_exceed_credits
                   OR a.debits_posted + a.debits_pending + v_amount <= a.credits_posted)
            RETURNING a.credits_posted - a.debits_posted - a.debits_pending, a.ledger
            INTO o_debit_after, v_ledger;
            IF NOT FOUND THEN
                SELECT a.credits_posted - a.debits_posted - a.debits_pending INTO o_available
                FROM credit_accounts a
                WHERE a.id = p_debit[i]
                  AND (a.organization_id IS NULL OR a.organization_id = p_org[i]);
                o_status := CASE WHEN FOUND THEN 'insufficient' ELSE 'missing' END;
            ELSE
                UPDATE credit_accounts a
                SET credits_posted = a.credits_posted
                        + CASE WHEN p_phase[i] = 'single' THEN v_amount ELSE 0 END,
                    credits_pending = a.credits_pending
                        + CASE WHEN p_phase[i] = 'pending' THEN v_amount ELSE 0 END
                WHERE a.id = p_credit[i] AND a.ledger = v_ledger
                  AND (a.organization_id IS NULL OR a.organization_id = p_org[i])
                  AND (NOT a.credits_must_not_exceed_debits
                       OR a.credits_posted + a.credits_pending + v_amount <= a.debits_posted)
                RETURNING a.credits_posted - a.debits_posted - a.debits_pending
                INTO o_credit_after;
                v_found := FOUND;
                IF v_found THEN
                    INSERT INTO credit_transfers AS x
                        (id, organization_id, key_scope, idempotency_key, debit_account_id,
                         credit_account_id, amount, ledger, code, phase, pending_id,
                         timeout_at, app_id, service, metadata, debit_balance_after,
                         credit_balance_after)
                    VALUES (p_id[i], p_org[i], p_scope[i], p_key[i], p_debit[i], p_credit[i],
                            v_amount, v_ledger, p_code[i], p_phase[i], NULL, p_timeout[i],
                            p_app[i], p_service[i], coalesce(p_meta[i], '{}')::jsonb,
                            o_debit_after, o_credit_after)
                    ON CONFLICT (organization_id, key_scope, idempotency_key) DO NOTHING
                    RETURNING x.created_at INTO o_created;
                    IF FOUND THEN
                        o_status := 'created';
                        IF p_phase[i] = 'pending' THEN
                            INSERT INTO credit_holds (transfer_id, organization_id, expires_at)
                            VALUES (p_id[i], p_org[i], p_timeout[i]);
                        END IF;
                        IF p_code[i] <> 'expire' THEN
                            PERFORM credits_draw_lots(p_debit[i], v_amount,
                                CASE WHEN p_phase[i] = 'pending' THEN p_id[i] END);
                        END IF;
                    ELSE  -- a concurrent call took the key meanwhile: answer its transfer
                        UPDATE credit_accounts a
                        SET credits_posted = a.credits_posted
                                - CASE WHEN p_phase[i] = 'single' THEN v_amount ELSE 0 END,
                            credits_pending = a.credits_pending
                                - CASE WHEN p_phase[i] = 'pending' THEN v_amount ELSE 0 END
                        WHERE a.id = p_credit[i];
                        SELECT * INTO t FROM credit_transfers x
                        WHERE x.organization_id = p_org[i] AND x.key_scope = p_scope[i]
                          AND x.idempotency_key = p_key[i];
                        o_status := 'existing';
                    END IF;
                ELSE
                    PERFORM 1 FROM credit_accounts a WHERE a.id = p_credit[i]
                      AND (a.organization_id IS NULL OR a.organization_id = p_org[i]);
                    o_status := CASE WHEN FOUND THEN 'refused' ELSE 'missing' END;
                END IF;
                IF o_status IS DISTINCT FROM 'created' THEN  -- undo the debit side
                    UPDATE credit_accounts a
                    SET debits_posted = a.debits_posted
                            - CASE WHEN p_phase[i] = 'single' THEN v_amount ELSE 0 END,
                        debits_pending = a.debits_pending
                            - CASE WHEN p_phase[i] = 'pending' THEN v_amount ELSE 0 END
                    WHERE a.id = p_debit[i];
                END IF;
            END IF;
        ELSE  -- post or void of a hold
            SELECT * INTO t FROM credit_transfers x
            WHERE x.id = p_pending[i] AND x.organization_id = p_org[i] AND x.phase = 'pending';
            IF NOT FOUND THEN
                o_status := 'no_hold';
            ELSE
                v_held := t.amount;
                v_amount := CASE WHEN p_phase[i] = 'post' THEN coalesce(p_amount[i], v_held)
                                 ELSE 0 END;
                IF p_phase[i] = 'post' AND t.timeout_at <= clock_timestamp() THEN
                    o_status := 'expired';  -- only a void (the expiry job's) resolves it now
                ELSIF v_amount > v_held THEN
                    o_status := 'exceeds_hold';
                    o_available := v_held;
                ELSE
                    DELETE FROM credit_holds h WHERE h.transfer_id = p_pending[i];
                    IF NOT FOUND THEN
                        o_status := 'resolved';
                    ELSE
                        UPDATE credit_accounts a
                        SET debits_pending = a.debits_pending - v_held,
                            debits_posted = a.debits_posted + v_amount
                        WHERE a.id = t.debit_account_id
                        RETURNING a.credits_posted - a.debits_posted - a.debits_pending
                        INTO o_debit_after;
                        UPDATE credit_accounts a
                        SET credits_pending = a.credits_pending - v_held,
                            credits_posted = a.credits_posted + v_amount
                        WHERE a.id = t.credit_account_id
                        RETURNING a.credits_posted - a.debits_posted - a.debits_pending
                        INTO o_credit_after;
                        -- What is released goes back to the expiring grants it drew from.
                        PERFORM credits_return_lots(t.id, v_held, v_held - v_amount);
                        -- The key is unique per hold and phase (the caller's choice); a clash
                        -- fails the call, and the caller makes each transfer alone.
                        INSERT INTO credit_transfers AS x
                            (id, organization_id, key_scope, idempotency_key, debit_account_id,
                             credit_account_id, amount, ledger, code, phase, pending_id,
                             timeout_at, app_id, service, metadata, debit_balance_after,
                             credit_balance_after)
                        VALUES (p_id[i], p_org[i], p_scope[i], p_key[i], t.debit_account_id,
                                t.credit_account_id,
                                CASE WHEN p_phase[i] = 'post' THEN v_amount ELSE v_held END,
                                t.ledger, t.code, p_phase[i], t.id, NULL, t.app_id, t.service,
                                coalesce(p_meta[i], '{}')::jsonb, o_debit_after,
                                o_credit_after)
                        RETURNING * INTO t;
                        o_status := 'created';
                    END IF;
                END IF;
            END IF;
            IF o_status <> 'created' THEN
                t := NULL;
            END IF;
        END IF;
        IF o_status = 'existing' OR (o_status = 'created' AND t.id IS NOT NULL) THEN
            o_id := t.id; o_amount := t.amount; o_code := t.code; o_phase := t.phase;
            o_pending := t.pending_id; o_debit := t.debit_account_id;
            o_credit := t.credit_account_id; o_app := t.app_id; o_service := t.service;
            o_debit_after := t.debit_balance_after; o_credit_after := t.credit_balance_after;
            o_timeout := t.timeout_at; o_created := t.created_at;
        ELSIF o_status = 'created' THEN
            o_id := p_id[i]; o_amount := v_amount; o_code := p_code[i]; o_phase := p_phase[i];
            o_pending := NULL; o_debit := p_debit[i]; o_credit := p_credit[i];
            o_app := p_app[i]; o_service := p_service[i]; o_timeout := p_timeout[i];
        ELSE
            o_id := NULL; o_amount := NULL; o_code := NULL; o_phase := NULL;
            o_pending := NULL; o_debit := NULL; o_credit := NULL; o_app := NULL;
            o_service := NULL; o_debit_after := NULL; o_credit_after := NULL;
            o_timeout := NULL; o_created := NULL;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$fn$;
"""


def _previous_batch() -> str:
    """The function as 2026_12_02_credits_ledger made it (the downgrade puts it back)."""
    text = earlier_migration_text("2026-12-02-1100_credits_ledger.py", "TRANSFER_BATCH")
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.add_column(
        "credit_subscriptions",
        sa.Column("payment_failed_invoice", sa.String(length=100), nullable=True),
    )
    op.add_column(
        "credit_subscriptions",
        sa.Column("payment_failed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "credit_subscriptions",
        sa.Column("last_paid_invoice_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "credit_disputes",
        sa.Column("dispute_id", sa.String(length=100), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("purchase_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("taken", sa.BigInteger(), nullable=False),
        sa.Column("regranted", sa.BigInteger(), nullable=False),
        sa.Column("opening_applied", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('open', 'won', 'lost')", name=op.f("ck_credit_disputes_status")
        ),
        sa.CheckConstraint(
            "taken >= 0 AND regranted >= 0 AND regranted <= taken",
            name=op.f("ck_credit_disputes_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_credit_disputes_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["credit_purchases.id"],
            name=op.f("fk_credit_disputes_purchase_id_credit_purchases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dispute_id", name=op.f("pk_credit_disputes")),
    )  # fmt: skip
    op.create_index("ix_credit_disputes_purchase", "credit_disputes", ["purchase_id"])
    op.add_column("credit_packages", sa.Column("grant_expires_days", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_credit_packages_grant_expires_days"),
        "credit_packages",
        "grant_expires_days IS NULL OR grant_expires_days BETWEEN 1 AND 3650",
    )
    op.create_table(
        "credit_lots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("expired", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "amount > 0 AND remaining >= 0 AND expired >= 0 AND remaining + expired <= amount",
            name=op.f("ck_credit_lots_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["credit_accounts.id"],
            name=op.f("fk_credit_lots_account_id_credit_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["id"], ["credit_transfers.id"], name=op.f("fk_credit_lots_id_credit_transfers"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_credit_lots_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_lots")),
    )  # fmt: skip
    op.create_index(
        "ix_credit_lots_spend",
        "credit_lots",
        ["account_id", "expires_at", "id"],
        postgresql_where=sa.text("remaining > 0"),
    )
    op.create_index(
        "ix_credit_lots_due",
        "credit_lots",
        ["expires_at"],
        postgresql_where=sa.text("remaining > 0"),
    )
    op.create_table(
        "credit_lot_draws",
        sa.Column("pending_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_lot_draws_amount")),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["credit_lots.id"], name=op.f("fk_credit_lot_draws_lot_id_credit_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["pending_id"], ["credit_transfers.id"],
            name=op.f("fk_credit_lot_draws_pending_id_credit_transfers"),
        ),
        sa.PrimaryKeyConstraint("pending_id", "lot_id", name=op.f("pk_credit_lot_draws")),
    )  # fmt: skip
    op.execute(DRAW_LOTS)
    op.execute(RETURN_LOTS)
    op.execute(TRANSFER_BATCH)


def downgrade() -> None:
    op.execute(_previous_batch())
    op.execute("DROP FUNCTION credits_return_lots(uuid, bigint, bigint)")
    op.execute("DROP FUNCTION credits_draw_lots(uuid, bigint, uuid)")
    op.drop_table("credit_lot_draws")
    op.drop_index("ix_credit_lots_due", table_name="credit_lots")
    op.drop_index("ix_credit_lots_spend", table_name="credit_lots")
    op.drop_table("credit_lots")
    op.drop_constraint(
        op.f("ck_credit_packages_grant_expires_days"), "credit_packages", type_="check"
    )
    op.drop_column("credit_packages", "grant_expires_days")
    op.drop_index("ix_credit_disputes_purchase", table_name="credit_disputes")
    op.drop_table("credit_disputes")
    op.drop_column("credit_subscriptions", "last_paid_invoice_at")
    op.drop_column("credit_subscriptions", "payment_failed_at")
    op.drop_column("credit_subscriptions", "payment_failed_invoice")
