"""stored stage durations: time in stage over all time from the index alone (issue 16)

`order_stage_visit.seconds`: the whole seconds a left visit lasted, floor(left_at) - floor(entered_at)
exactly as the reports count them (engine/facts/sql.py EpochSeconds); NULL while the order is still
in the stage (its duration grows with now). The index on (stage, entered_at, left_at) becomes
(stage, seconds, entered_at): the all-time time-in-stage tile reads every visit's duration from the
index alone (coalesce(seconds, now - floor(entered_at)): no epoch extraction of two timestamps per
visit).

The trigger of insight1m_0001 writes `seconds` with `left_at` (PostgreSQL: the statement's UPDATE of
the touched orders' visits; SQLite: the new visit's own and its predecessor's). Backfill: SQLite
adds the column and updates the left visits; PostgreSQL adds it and fills it in one rewrite of the
table (ALTER COLUMN ... TYPE ... USING: each row written once, the indexes built once, no dead row
per visit as an UPDATE of 8,000,000 rows would leave), then VACUUMs it (outside the transaction) so
the index-only scans the reports rely on have a visibility map. On PostgreSQL the per-order index
(order_id, entered_at, event_id) also INCLUDEs stage and seconds: a team head's tile reads each
visible order's visits from the index alone. Existing data is kept; going back drops the column and
restores the indexes and the trigger.

Revision ID: stagetime_0001
Revises: dayone1m_0001
Create Date: 2026-12-07 19:00:00
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = "stagetime_0001"
down_revision = "dayone1m_0001"
branch_labels = None
depends_on = None


def _insight1m():
    """insight1m_0001's module (its trigger texts, restored on the way back)."""
    path = Path(__file__).with_name("2026-12-07-1530_order_stage_visit.py")
    spec = importlib.util.spec_from_file_location("insight1m_0001_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD = _insight1m()
PG_STAGE, SQLITE_STAGE, COLUMNS = OLD.PG_STAGE, OLD.SQLITE_STAGE, OLD.COLUMNS
# whole seconds since 1970 (floor), as EpochSeconds renders them
PG_EPOCH = "CAST(floor(EXTRACT(EPOCH FROM {0})) AS BIGINT)"
SQLITE_EPOCH = "CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER)"

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION order_stage_visit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_stage_visit ({COLUMNS})
    SELECT e.id, e.order_id, e.type, e.actor_id, {PG_STAGE.format('e', 'before')}, {PG_STAGE.format('e', 'after')},
           e.at, NULL
    FROM new_events e WHERE jsonb_typeof(e.after -> 'stage') = 'string';
    IF FOUND THEN
        -- each touched order's visits in (entered_at, event_id) order: each is left when the next is
        -- entered (an event inserted out of time order, as a history import may, re-links its neighbours)
        UPDATE order_stage_visit v
        SET left_at = n.next_at, seconds = {PG_EPOCH.format('n.next_at')} - {PG_EPOCH.format('v.entered_at')}
        FROM (SELECT event_id, lead(entered_at) OVER (PARTITION BY order_id ORDER BY entered_at, event_id) AS next_at
              FROM order_stage_visit
              WHERE order_id IN (SELECT order_id FROM new_events WHERE jsonb_typeof(after -> 'stage') = 'string')) n
        WHERE v.event_id = n.event_id AND v.left_at IS DISTINCT FROM n.next_at;
    END IF;
    RETURN NULL;
END $$
"""

_LATER = "(v.entered_at > NEW.at OR (v.entered_at = NEW.at AND v.event_id > NEW.id))"
_EARLIER = "(v.entered_at < NEW.at OR (v.entered_at = NEW.at AND v.event_id < NEW.id))"
SQLITE_TRIGGER = f"""
CREATE TRIGGER order_stage_visit_insert AFTER INSERT ON order_event
WHEN json_type(NEW.after, '$.stage') = 'text'
BEGIN
    INSERT INTO order_stage_visit ({COLUMNS}, seconds)
    SELECT NEW.id, NEW.order_id, NEW.type, NEW.actor_id, {SQLITE_STAGE.format('NEW', 'before')},
           json_extract(NEW.after, '$.stage'), NEW.at, later.at,
           {SQLITE_EPOCH.format('later.at')} - {SQLITE_EPOCH.format('NEW.at')}
    FROM (SELECT (SELECT v.entered_at FROM order_stage_visit v WHERE v.order_id = NEW.order_id AND {_LATER}
                  ORDER BY v.entered_at, v.event_id LIMIT 1) AS at) later;
    UPDATE order_stage_visit SET left_at = NEW.at, seconds = {SQLITE_EPOCH.format('NEW.at')} - {SQLITE_EPOCH.format('entered_at')}
    WHERE event_id = (SELECT v.event_id FROM order_stage_visit v WHERE v.order_id = NEW.order_id AND {_EARLIER}
                      ORDER BY v.entered_at DESC, v.event_id DESC LIMIT 1);
END
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_order_stage_visit_stage", table_name="order_stage_visit")
    if postgres:  # rebuilt below with the stage and seconds included (not twice: once after the rewrite)
        op.drop_index("ix_order_stage_visit_order", table_name="order_stage_visit")
    op.execute("ALTER TABLE order_stage_visit ADD COLUMN seconds BIGINT")
    if postgres:
        # one rewrite of the table that fills the column (ALTER TYPE with USING may read the row's other columns)
        op.execute("ALTER TABLE order_stage_visit ALTER COLUMN seconds TYPE BIGINT USING "
                   f"{PG_EPOCH.format('left_at')} - {PG_EPOCH.format('entered_at')}")
        op.execute(PG_FUNCTION)
    else:
        op.execute(f"UPDATE order_stage_visit SET seconds = {SQLITE_EPOCH.format('left_at')} - "
                   f"{SQLITE_EPOCH.format('entered_at')} WHERE left_at IS NOT NULL")
        op.execute("DROP TRIGGER IF EXISTS order_stage_visit_insert")
        op.execute(SQLITE_TRIGGER)
    op.create_index("ix_order_stage_visit_stage_seconds", "order_stage_visit", ["stage", "seconds", "entered_at"])
    if postgres:
        # a team head's time in stage reads each visible order's visits by this index: with the stage and
        # the seconds in it, from the index alone (no heap fetch per visit)
        op.create_index("ix_order_stage_visit_order", "order_stage_visit", ["order_id", "entered_at", "event_id"],
                        postgresql_include=["stage", "seconds"])
        # a rewritten table has no visibility map: without it every index-only scan reads the heap too
        with op.get_context().autocommit_block():
            op.execute("VACUUM (ANALYZE) order_stage_visit")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_order_stage_visit_stage_seconds", table_name="order_stage_visit")
    if postgres:
        op.drop_index("ix_order_stage_visit_order", table_name="order_stage_visit")
    op.execute("ALTER TABLE order_stage_visit DROP COLUMN seconds")
    if postgres:
        op.create_index("ix_order_stage_visit_order", "order_stage_visit", ["order_id", "entered_at", "event_id"])
    if postgres:
        op.execute(OLD.PG_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    else:
        op.execute("DROP TRIGGER IF EXISTS order_stage_visit_insert")
        op.execute(OLD.SQLITE_TRIGGER)
    op.create_index("ix_order_stage_visit_stage", "order_stage_visit", ["stage", "entered_at", "left_at"])
