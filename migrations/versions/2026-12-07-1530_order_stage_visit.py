"""stored stage visits: time in stage reads a narrow table, not a window over the event log (issue 16)

`order_stage_visit`: a row per event that entered a stage (`after.stage` a string), with the stage,
the time entered and the time left (the order's next such event in (at, id) order; NULL while it is
still there), plus the event's type, actor and stage left. Backfilled here from the event log in one
windowed pass. From then on the database writes it: an AFTER INSERT trigger on `order_event`, in
the inserting transaction — on PostgreSQL once per statement over its new rows (a transition table:
a bulk import's COPY of 600,000 events costs one set-based statement, not 600,000 calls), on SQLite
per row. And a partial index on the open orders' customer and amount (the day-one top customers).
Existing data is kept; going back drops the trigger, the table and the index.

Revision ID: insight1m_0001
Revises: score1m3_0001
Create Date: 2026-12-07 15:30:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "insight1m_0001"
down_revision = "score1m3_0001"
branch_labels = None
depends_on = None

# an event's stage as the reports read it (engine/facts/sql.py JsonValue, a string or nothing)
PG_STAGE = "CASE WHEN jsonb_typeof({0}.{1} -> 'stage') = 'string' THEN {0}.{1} ->> 'stage' END"
SQLITE_STAGE = "CASE WHEN json_type({0}.{1}, '$.stage') = 'text' THEN json_extract({0}.{1}, '$.stage') END"
COLUMNS = "event_id, order_id, type, actor_id, stage_from, stage, entered_at, left_at"

PG_FUNCTION = f"""
CREATE FUNCTION order_stage_visit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_stage_visit ({COLUMNS})
    SELECT e.id, e.order_id, e.type, e.actor_id, {PG_STAGE.format('e', 'before')}, {PG_STAGE.format('e', 'after')},
           e.at, NULL
    FROM new_events e WHERE jsonb_typeof(e.after -> 'stage') = 'string';
    IF FOUND THEN
        -- each touched order's visits in (entered_at, event_id) order: each is left when the next is
        -- entered (an event inserted out of time order, as a history import may, re-links its neighbours)
        UPDATE order_stage_visit v SET left_at = n.next_at
        FROM (SELECT event_id, lead(entered_at) OVER (PARTITION BY order_id ORDER BY entered_at, event_id) AS next_at
              FROM order_stage_visit
              WHERE order_id IN (SELECT order_id FROM new_events WHERE jsonb_typeof(after -> 'stage') = 'string')) n
        WHERE v.event_id = n.event_id AND v.left_at IS DISTINCT FROM n.next_at;
    END IF;
    RETURN NULL;
END $$
"""
PG_TRIGGER = ("CREATE TRIGGER order_stage_visit_insert AFTER INSERT ON order_event "
              "REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION order_stage_visit_insert()")

_LATER = "(v.entered_at > NEW.at OR (v.entered_at = NEW.at AND v.event_id > NEW.id))"
_EARLIER = "(v.entered_at < NEW.at OR (v.entered_at = NEW.at AND v.event_id < NEW.id))"
SQLITE_TRIGGER = f"""
CREATE TRIGGER order_stage_visit_insert AFTER INSERT ON order_event
WHEN json_type(NEW.after, '$.stage') = 'text'
BEGIN
    INSERT INTO order_stage_visit ({COLUMNS})
    VALUES (NEW.id, NEW.order_id, NEW.type, NEW.actor_id, {SQLITE_STAGE.format('NEW', 'before')},
            json_extract(NEW.after, '$.stage'), NEW.at,
            (SELECT v.entered_at FROM order_stage_visit v WHERE v.order_id = NEW.order_id AND {_LATER}
             ORDER BY v.entered_at, v.event_id LIMIT 1));
    UPDATE order_stage_visit SET left_at = NEW.at
    WHERE event_id = (SELECT v.event_id FROM order_stage_visit v WHERE v.order_id = NEW.order_id AND {_EARLIER}
                      ORDER BY v.entered_at DESC, v.event_id DESC LIMIT 1);
END
"""


OPEN = "status = 'open'"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # the day-one "top customers by open value" over all time: the open orders' customer and amount,
    # read by an index-only scan instead of every order row
    op.create_index("ix_sales_order_open_customer_amount", "sales_order", ["customer_id", "amount"],
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_table(
        "order_stage_visit",
        sa.Column("event_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("stage_from", sa.String(), nullable=True),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.Column("left_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["order_event.id"], name="fk_order_stage_visit_event_id_order_event",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", name="pk_order_stage_visit"),
    )
    stage = PG_STAGE if postgres else SQLITE_STAGE
    # one windowed pass over the stage events (the index comes after: one sorted build, not 8 M inserts)
    op.execute(f"INSERT INTO order_stage_visit ({COLUMNS}) "
               f"SELECT e.id, e.order_id, e.type, e.actor_id, {stage.format('e', 'before')}, "
               f"{stage.format('e', 'after')}, e.at, lead(e.at) OVER (PARTITION BY e.order_id ORDER BY e.at, e.id) "
               f"FROM order_event e WHERE {stage.format('e', 'after')} IS NOT NULL")
    op.create_index("ix_order_stage_visit_order", "order_stage_visit", ["order_id", "entered_at", "event_id"])
    # time in stage per stage over all time: an index-only scan in stage order, no sort of every visit
    op.create_index("ix_order_stage_visit_stage", "order_stage_visit", ["stage", "entered_at", "left_at"])
    if postgres:
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
        op.execute("ANALYZE order_stage_visit")
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.drop_index("ix_sales_order_open_customer_amount", table_name="sales_order")
    op.execute("DROP TRIGGER IF EXISTS order_stage_visit_insert" +
               (" ON order_event" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS order_stage_visit_insert()")
    op.drop_index("ix_order_stage_visit_stage", table_name="order_stage_visit")
    op.drop_index("ix_order_stage_visit_order", table_name="order_stage_visit")
    op.drop_table("order_stage_visit")
