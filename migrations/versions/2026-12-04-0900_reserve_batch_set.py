"""reservations in batches, set-based when the batch is plainly good: inventory_reserve_batch
decides the whole batch first and, when every reservation in it would be made, writes them all
in one statement (one subtransaction for the batch) instead of one subtransaction and two
statements per reservation

The function of 2026_12_01_reserve_batch applied each reservation in its own ``BEGIN …
EXCEPTION`` block: two statements (the checks, then the write CTE) with their executor
start-up, their RI triggers and a subtransaction, per reservation. Measured on one connection,
one SKU a reservation: 0.75 ms of database time per reservation in batches of 8, 0.63 ms in
batches of 32. With the HTTP route and PostgreSQL on the same two cores, that was as much CPU
as the route's Python.

Now, after the levels are locked (unchanged), one query decides whether the batch is plainly
good:
* no key was used before, and none twice in the batch;
* every reservation has lines, and every line names an unarchived SKU and location of the
  reservation's organization that have a level, a quantity above zero, and no level twice in
  one reservation;
* what the batch asks of each level, summed, fits in what the level has available (on the
  locked rows, whose latest version the query sees).
Then one statement inserts every reservation, applies one conditional ``UPDATE … WHERE on_hand
- reserved >= asked`` per level (the sum of the batch's lines on it), journals one movement per
line with the quantities after it (the level's reserved before the batch plus the batch's lines
up to this one, in the batch's order, so the journal replays as if they had been made one by
one) and inserts the lines. Should any count differ from what was decided (a key taken by a
concurrent request meanwhile, a level changed), the statement is undone (its subtransaction)
and the batch goes through the per-reservation loop, as before; so does every batch that is
not plainly good (a key reused, a shortfall, an unknown SKU…), and every batch of one. The
answers are the same either way; the CHECKs on stock_levels stay the last guard.

Revision ID: 2026_12_04_reserve_batch_set
Revises: 2026_12_03_credit_transfers_page
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

from alembic import op

from sellerhub.db.migrations import earlier_migration_text

revision: str = "2026_12_04_reserve_batch_set"
down_revision: str | None = "2026_12_03_credit_transfers_page"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Declared beside the loop's variables.
DECLARE = """
    v_n int := coalesce(cardinality(p_id), 0);
    v_levels int;
    v_made int;
    v_moved int;
    v_journaled int;
    v_kept int;
    v_created timestamptz;
    v_updated timestamptz;
    v_spread int;
    v_done boolean := false;
"""

# Between the lock of the levels and the per-reservation loop.
FAST_PATH = """
    -- The whole batch at once when every reservation in it would be made (migration
    -- 2026_12_04_reserve_batch_set); anything else goes through the loop below.
    IF v_n > 1
       AND cardinality(p_org) = v_n AND cardinality(p_key) = v_n
       AND cardinality(p_hash) = v_n AND cardinality(p_source) = v_n
       AND cardinality(p_expires) = v_n
       AND NOT EXISTS (  -- a key used before
           SELECT 1 FROM unnest(p_org, p_key) AS k(org, key)
           CROSS JOIN LATERAL (
               SELECT 1 FROM reservations r
               WHERE r.organization_id = k.org AND r.idempotency_key = k.key LIMIT 1) AS r)
       AND NOT EXISTS (  -- a key twice in the batch
           SELECT 1 FROM unnest(p_org, p_key) AS k(org, key)
           GROUP BY k.org, k.key HAVING count(*) > 1)
       AND NOT EXISTS (  -- a reservation without lines
           SELECT 1 FROM generate_series(1, v_n) AS g(item)
           WHERE NOT (g.item = ANY (l_item)))
       AND NOT EXISTS (
           SELECT 1
           FROM unnest(l_item, l_sku, l_code, l_qty, l_id) AS x(item, sku, code, qty, line_id)
           LEFT JOIN LATERAL (
               SELECT p.id, p.archived_at FROM products p
               WHERE p.organization_id = p_org[x.item] AND p.sku = x.sku LIMIT 1) AS p ON true
           LEFT JOIN LATERAL (
               SELECT l.id, l.archived_at FROM locations l
               WHERE l.organization_id = p_org[x.item] AND l.code = x.code LIMIT 1) AS l ON true
           LEFT JOIN LATERAL (
               SELECT s.on_hand - s.reserved AS available FROM stock_levels s
               WHERE s.organization_id = p_org[x.item] AND s.product_id = p.id
                 AND s.location_id = l.id LIMIT 1) AS s ON true
           GROUP BY p_org[x.item], p.id, l.id
           HAVING bool_or(  -- a line that is not plainly good
                      x.item IS NULL OR x.item NOT BETWEEN 1 AND v_n OR x.qty IS NULL
                      OR x.qty <= 0 OR x.line_id IS NULL OR p.id IS NULL OR l.id IS NULL
                      OR p.archived_at IS NOT NULL OR l.archived_at IS NOT NULL
                      OR s.available IS NULL)
               -- a level asked for more than it has, or twice by one reservation
               OR sum(x.qty) > min(s.available) OR count(*) <> count(DISTINCT x.item))
    THEN
        BEGIN
            WITH made AS (
                INSERT INTO reservations (id, organization_id, idempotency_key, request_hash,
                                          status, source, expires_at)
                SELECT r.id, r.org, r.key, r.hash, 'active', r.source, r.expires
                FROM unnest(p_id, p_org, p_key, p_hash, p_source, p_expires)
                     AS r(id, org, key, hash, source, expires)
                ON CONFLICT (organization_id, idempotency_key) DO NOTHING
                RETURNING created_at, updated_at
            ), lines AS (
                SELECT x.item, p_org[x.item] AS org, p.id AS product_id,
                       l.id AS location_id, x.qty, x.line_id
                FROM unnest(l_item, l_sku, l_code, l_qty, l_id)
                     AS x(item, sku, code, qty, line_id)
                CROSS JOIN LATERAL (
                    SELECT p.id FROM products p
                    WHERE p.organization_id = p_org[x.item] AND p.sku = x.sku LIMIT 1) AS p
                CROSS JOIN LATERAL (
                    SELECT l.id FROM locations l
                    WHERE l.organization_id = p_org[x.item] AND l.code = x.code LIMIT 1) AS l
            ), asked AS (
                SELECT org, product_id, location_id, sum(qty)::int AS qty
                FROM lines GROUP BY org, product_id, location_id
            ), moved AS (
                UPDATE stock_levels s
                SET reserved = s.reserved + a.qty, updated_at = now()
                FROM asked a
                WHERE s.organization_id = a.org AND s.product_id = a.product_id
                  AND s.location_id = a.location_id AND s.on_hand - s.reserved >= a.qty
                RETURNING s.organization_id, s.product_id, s.location_id, s.on_hand,
                          s.reserved, a.qty AS asked
            ), journal AS (
                INSERT INTO stock_movements
                    (organization_id, product_id, location_id, delta_on_hand, delta_reserved,
                     on_hand_after, reserved_after, reason, source, idempotency_key)
                SELECT x.org, x.product_id, x.location_id, 0, x.qty, m.on_hand,
                       m.reserved - m.asked + sum(x.qty) OVER (
                           PARTITION BY x.org, x.product_id, x.location_id ORDER BY x.item),
                       'reserve', 'reservation:' || p_id[x.item], p_key[x.item]
                FROM lines x
                JOIN moved m ON m.organization_id = x.org AND m.product_id = x.product_id
                 AND m.location_id = x.location_id
                ORDER BY x.item, x.product_id, x.location_id
                RETURNING 1
            ), lined AS (
                INSERT INTO reservation_lines
                    (id, organization_id, reservation_id, product_id, location_id, quantity)
                SELECT x.line_id, x.org, p_id[x.item], x.product_id, x.location_id, x.qty
                FROM lines x
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM asked), (SELECT count(*) FROM made),
                   (SELECT count(*) FROM moved), (SELECT count(*) FROM journal),
                   (SELECT count(*) FROM lined), (SELECT min(created_at) FROM made),
                   (SELECT min(updated_at) FROM made),
                   (SELECT count(DISTINCT (created_at, updated_at)) FROM made)
            INTO v_levels, v_made, v_moved, v_journaled, v_kept, v_created, v_updated,
                 v_spread;
            IF v_made <> v_n OR v_moved <> v_levels OR v_journaled <> cardinality(l_item)
               OR v_kept <> cardinality(l_item) OR v_spread <> 1 THEN
                RAISE EXCEPTION 'the batch did not apply as it was decided';
            END IF;
            v_done := true;
        EXCEPTION WHEN OTHERS THEN
            v_done := false;  -- undone: the loop below decides each reservation alone
        END;
        IF v_done THEN
            RETURN QUERY
            SELECT g.item, v_created, v_updated, NULL::text, NULL::text, NULL::text,
                   NULL::boolean, NULL::boolean, NULL::boolean, NULL::boolean, NULL::text,
                   NULL::text, NULL::int, NULL::text
            FROM generate_series(1, v_n) AS g(item);
            RETURN;
        END IF;
    END IF;
"""

LOCKED = "    FOR UPDATE OF s;\n"
DECLARED = "    kept int;\n"
# The batch's statements join a few rows of arrays to large tables: by index, row by row. A
# hash join instead read every product (or every reservation) of the organization to match a
# few (EXPLAIN ANALYZE: 1,001 products for 8 lines), a cost that grows with the catalogue.
PLANNER = "SET enable_seqscan = off\n"
NESTED = PLANNER + "SET enable_hashjoin = off\nSET enable_mergejoin = off\n"


def _loop_only() -> str:
    """The function as 2026_12_01_reserve_batch made it (each reservation alone)."""
    text = earlier_migration_text("2026-12-01-1600_reserve_batch.py", "RESERVE_BATCH")
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def with_fast_path() -> str:
    """That function with the set-based path between the lock and the loop."""
    text = _loop_only()
    if any(text.count(anchor) != 1 for anchor in (LOCKED, DECLARED, PLANNER)):
        raise RuntimeError("inventory_reserve_batch is not the function this migration extends")
    return (
        text.replace(DECLARED, DECLARED + DECLARE, 1)
        .replace(LOCKED, LOCKED + FAST_PATH, 1)
        .replace(PLANNER, NESTED, 1)
    )


def upgrade() -> None:
    op.execute(with_fast_path())


def downgrade() -> None:
    op.execute(_loop_only())
