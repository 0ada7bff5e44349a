"""The order book that the stored-scores benches fill (bench/order_scores.py, bench/supplier_lookup.py):
a database of their own on PostgreSQL, filled by PostgreSQL itself (INSERT ... SELECT over
generate_series, seeded), so 200,000 orders take seconds and every run gets the same rows.

One owner, `customers` customers (tiers in turn), `orders` orders created over the 500 days before
2026-11-24: 40 % open, the rest completed (85 %) or cancelled, 80 % with a planned delivery, closed
orders closed within 70 days; a shipment on every third order. What each bench varies comes in as
SQL: the seed, the numbers' prefix, the order's `data` and risk flags (of `g`, the row's number),
the shipment's carrier (of `id`).

The database itself comes from bench/fresh_pg.py. No `backend` import: bench/supplier_lookup.py
runs as a file with a base tree's backend first on the path, and imports this module as its sibling
(`order_book`), not as `bench.order_book`.
"""

from __future__ import annotations

import sqlalchemy as sa


def fill(conn: sa.Connection, *, orders: int, customers: int, seed: float, prefix: str, data: str,
         carrier: str, risk_flags: str = "'[]'::jsonb") -> None:
    """The owner, customers, orders and shipments, in the caller's transaction (it adds its own
    rows, then analyses)."""
    conn.exec_driver_sql(f"select setseed({seed})")
    conn.exec_driver_sql("insert into app_user (username, display_name, password_hash, is_active, created_at) "
                         "values ('bench.owner', 'Owner', 'x', true, now())")
    conn.exec_driver_sql(
        f"insert into customer (name, tier, preferred_locale, preferred_channel, is_unsubscribed, created_at) "
        f"select 'Customer ' || g, (array['key','standard','small'])[1 + mod(g, 3)], 'zh_CN', 'email', false, "
        f"now() from generate_series(1, {customers}) g")
    conn.exec_driver_sql(f"""
        insert into sales_order (number, customer_id, owner_id, amount, currency, stage, status, stage_entered_at,
            planned_delivery, source, data, tags, risk_flags, urge_count, last_customer_contact_at, version,
            created_at, updated_at, closed_at, signed_at)
        select '{prefix}' || g, 1 + mod(g, {customers}), (select min(id) from app_user),
            round((random() * 200000)::numeric, 2), 'CNY', 'production', s.status, c.created,
            case when random() < 0.8 then (c.created + (random() * 60) * interval '1 day')::date end, 'bench',
            {data}, '[]'::jsonb, {risk_flags}, 0, c.created + (random() * 20) * interval '1 day', 1, c.created,
            c.created, case when s.status <> 'open' then c.created + (random() * 70) * interval '1 day' end, null
        from generate_series(1, {orders}) g,
             lateral (select '2026-11-24'::timestamptz - (random() * 500 + g * 0) * interval '1 day' as created) c,
             lateral (select case when random() + g * 0 < 0.4 then 'open' when random() < 0.85 then 'completed'
                      else 'cancelled' end as status) s
    """)
    conn.exec_driver_sql(f"""
        insert into shipment (order_id, carrier, tracking_no, state, is_active, failures, created_at, updated_at)
        select id, {carrier}, 'T' || id, 'pending', false, 0, created_at, created_at
        from sales_order where mod(id, 3) = 0""")
