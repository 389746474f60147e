"""credits ledger: accounts and immutable transfers on TigerBeetle's model (double entry,
posted and pending totals, two-phase holds), open holds, credit packages; the trigger that
refuses UPDATE and DELETE of a transfer, and credits_transfer_batch, the one writer of balances

``credits_transfer_batch`` takes a batch of transfers (the consume route gathers the ones that
arrive while earlier ones are written, ``billing/credits/repository.LedgerWriter``, as the
reservation route does) and first locks every account the batch touches, in id order, in one
statement, so two batches never wait on each other crosswise. Then, transfer by transfer, in
the batch's order: a key already used answers the transfer it names; a single or pending
transfer moves its amount with two conditional UPDATEs (the debit side only while the debit
account's guard holds: ``debits_must_not_exceed_credits`` counts the pending debits too), and
is inserted with both accounts' available balances after it; a post or void resolves an open
hold (its ``credit_holds`` row is deleted: at most once), posting at most the amount held and
releasing the rest. A transfer that cannot be made writes nothing and says why. The CHECKs of
``credit_accounts`` stay the last guard: should a write pass the function's own tests and fail
them, the whole call fails and the caller makes each transfer again in a call of its own.

Revision ID: 2026_12_02_credits_ledger
Revises: 2026_12_02_billing_commissions
Create Date: 2026-12-02 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_12_02_credits_ledger"
down_revision: str | None = "2026_12_02_billing_commissions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE FUNCTION credit_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_transfers is immutable (% refused): correct with a new transfer',
        TG_OP USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER credit_transfers_immutable BEFORE UPDATE OR DELETE ON credit_transfers
    FOR EACH ROW EXECUTE FUNCTION credit_transfers_immutable();
"""

# Transfer i of the batch is (p_id[i], p_org[i], p_scope[i], p_key[i], ...). For a post or a
# void, p_pending[i] names the hold and the accounts are the hold's (p_debit/p_credit ignored);
# a post's p_amount[i] is the amount posted (NULL: all of it). One row out per transfer, in the
# batch's order, with o_status:
# * created: inserted (the o_* columns describe it);
# * existing: the key names a transfer made before (the o_* columns describe that one);
# * insufficient: the debit account's guard refused it (o_available: its available balance);
# * refused: the credit account's guard refused it, or the accounts are of different ledgers;
# * missing: an account does not exist or belongs to another organization;
# * no_hold: no pending transfer of the organization has that id;
# * resolved: the hold was posted or voided before;
# * exceeds_hold: the post asks more than was held (o_available: the amount held);
# * expired: the post comes after the hold's timeout (the expiry job voids it).
TRANSFER_BATCH = """
CREATE FUNCTION credits_transfer_batch(
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
        -- with the same key.
        SELECT array_agg(q.existing ORDER BY q.k), array_agg(q.first ORDER BY q.k)
        INTO x_existing, x_first
        FROM (SELECT w.k, t2.id AS existing,
                     min(w.k) OVER (PARTITION BY w.org, w.scope, w.key)::int AS first
              FROM unnest(p_org, p_scope, p_key) WITH ORDINALITY AS w(org, scope, key, k)
              LEFT JOIN credit_transfers t2 ON t2.organization_id = w.org
                   AND t2.key_scope = w.scope AND t2.idempotency_key = w.key) q;
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

TRANSFER_BATCH_SIGNATURE = (
    "credits_transfer_batch(uuid[], uuid[], text[], text[], uuid[], uuid[], bigint[], text[],"
    " text[], uuid[], timestamptz[], text[], text[], text[])"
)


def upgrade() -> None:
    op.create_table(
        "credit_accounts",
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("app_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ledger", sa.SmallInteger(), nullable=False),
        sa.Column("debits_must_not_exceed_credits", sa.Boolean(), nullable=False),
        sa.Column("credits_must_not_exceed_debits", sa.Boolean(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('wallet', 'app_revenue', 'purchases', 'grants', 'expiry', 'platform',"
            " 'debt')",
            name=op.f("ck_credit_accounts_kind"),
        ),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0"
            " AND credits_posted >= 0",
            name=op.f("ck_credit_accounts_totals"),
        ),
        sa.CheckConstraint(
            "NOT debits_must_not_exceed_credits"
            " OR debits_posted + debits_pending <= credits_posted",
            name=op.f("ck_credit_accounts_debits_within_credits"),
        ),
        sa.CheckConstraint(
            "NOT credits_must_not_exceed_debits"
            " OR credits_posted + credits_pending <= debits_posted",
            name=op.f("ck_credit_accounts_credits_within_debits"),
        ),
        sa.CheckConstraint(
            "kind <> 'wallet' OR debits_must_not_exceed_credits",
            name=op.f("ck_credit_accounts_wallet_guarded"),
        ),
        sa.CheckConstraint(
            "(organization_id IS NOT NULL) = (kind IN ('wallet', 'app_revenue', 'debt'))",
            name=op.f("ck_credit_accounts_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_credit_accounts_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_accounts")),
        sa.UniqueConstraint(
            "kind", "organization_id", "app_id", "ledger",
            name=op.f("uq_credit_accounts_kind_organization_id_app_id_ledger"),
            postgresql_nulls_not_distinct=True,
        ),
    )  # fmt: skip
    op.create_table(
        "credit_packages",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("credits > 0", name=op.f("ck_credit_packages_credits")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_credit_packages_currency")),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_credit_packages_price")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_packages")),
    )  # fmt: skip
    op.create_table(
        "credit_transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("key_scope", sa.String(length=80), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("debit_account_id", sa.Uuid(), nullable=False),
        sa.Column("credit_account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("ledger", sa.SmallInteger(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("pending_id", sa.Uuid(), nullable=True),
        sa.Column("timeout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("app_id", sa.String(length=64), nullable=True),
        sa.Column("service", sa.String(length=64), nullable=True),
        sa.Column(
            "metadata", postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"), nullable=False,
        ),
        sa.Column("debit_balance_after", sa.BigInteger(), nullable=False),
        sa.Column("credit_balance_after", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_transfers_amount")),
        sa.CheckConstraint(
            "code IN ('grant', 'purchase', 'consume', 'hold', 'expire', 'refund', 'correction')",
            name=op.f("ck_credit_transfers_code"),
        ),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name=op.f("ck_credit_transfers_two_accounts")
        ),
        sa.CheckConstraint(
            "phase IN ('single', 'pending', 'post', 'void')", name=op.f("ck_credit_transfers_phase")
        ),
        sa.CheckConstraint(
            "(phase IN ('post', 'void')) = (pending_id IS NOT NULL)",
            name=op.f("ck_credit_transfers_resolves_pending"),
        ),
        sa.CheckConstraint(
            "timeout_at IS NULL OR phase = 'pending'",
            name=op.f("ck_credit_transfers_timeout_pending"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"], ["credit_accounts.id"],
            name=op.f("fk_credit_transfers_credit_account_id_credit_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"], ["credit_accounts.id"],
            name=op.f("fk_credit_transfers_debit_account_id_credit_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_credit_transfers_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["pending_id"], ["credit_transfers.id"],
            name=op.f("fk_credit_transfers_pending_id_credit_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_transfers")),
        sa.UniqueConstraint(
            "organization_id", "key_scope", "idempotency_key",
            name=op.f("uq_credit_transfers_organization_id_key_scope_idempotency_key"),
        ),
    )  # fmt: skip
    op.create_index(
        "ix_credit_transfers_page", "credit_transfers", ["organization_id", "id"], unique=False
    )
    op.create_index(
        "uq_credit_transfers_pending",
        "credit_transfers",
        ["pending_id"],
        unique=True,
        postgresql_where=sa.text("pending_id IS NOT NULL"),
    )
    op.create_table(
        "credit_holds",
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_credit_holds_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["credit_transfers.id"],
            name=op.f("fk_credit_holds_transfer_id_credit_transfers"),
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_credit_holds")),
    )  # fmt: skip
    op.create_index("ix_credit_holds_expiry", "credit_holds", ["expires_at"], unique=False)
    op.execute(APPEND_ONLY)
    op.execute(TRANSFER_BATCH)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {TRANSFER_BATCH_SIGNATURE}")
    op.execute("DROP TRIGGER IF EXISTS credit_transfers_immutable ON credit_transfers")
    op.execute("DROP FUNCTION IF EXISTS credit_transfers_immutable()")
    op.drop_index("ix_credit_holds_expiry", table_name="credit_holds")
    op.drop_table("credit_holds")
    op.drop_index(
        "uq_credit_transfers_pending",
        table_name="credit_transfers",
        postgresql_where=sa.text("pending_id IS NOT NULL"),
    )
    op.drop_index("ix_credit_transfers_page", table_name="credit_transfers")
    op.drop_table("credit_transfers")
    op.drop_table("credit_packages")
    op.drop_table("credit_accounts")
