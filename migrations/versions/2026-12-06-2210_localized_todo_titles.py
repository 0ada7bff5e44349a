"""inbox/notify: flow titles per locale (title_i18n), filled in for rows written in Chinese only

Flow to-dos and notifications used to store the step's Chinese name as their title, so English
readers saw Chinese. The engine now hands over every language of the name and the row keeps them
in `title_i18n`. Existing rows keep their title; where it is the name of a step (or of the flow)
of the instance that wrote it, `title_i18n` gets that name's languages, so old to-dos read in the
reader's language too.

Revision ID: titles_0001
Revises: worker_0001
Create Date: 2026-12-06 22:10:00
"""

import json
import re

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "titles_0001"
down_revision = "worker_0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
FLOW_KEY = re.compile(r"^flow:(\d+):")  # the dedupe key of every effect a flow instance made


def upgrade() -> None:
    op.add_column("inbox_item", sa.Column("title_i18n", JSON, nullable=True))
    op.add_column("notification", sa.Column("title_i18n", JSON, nullable=True))
    conn = op.get_bind()
    names = _names_by_instance(conn)
    for table in ("inbox_item", "notification"):
        _fill(conn, table, names)


def downgrade() -> None:
    # the plain titles were kept, so going back loses only the other languages
    op.drop_column("notification", "title_i18n")
    op.drop_column("inbox_item", "title_i18n")


def _names_by_instance(conn) -> dict[int, dict[str, dict[str, str]]]:
    """instance id -> {a title as stored (the Chinese, else English name): that name per locale}."""
    rows = conn.execute(sa.text(
        "SELECT i.id, d.definition FROM flow_instance i JOIN flow_definition d ON d.id = i.definition_id"))
    out: dict[int, dict[str, dict[str, str]]] = {}
    for instance_id, definition in rows:
        defn = json.loads(definition) if isinstance(definition, str) else (definition or {})
        named = [n.get("name") for n in defn.get("nodes", [])] + [defn.get("name")]
        by_title: dict[str, dict[str, str]] = {}
        for name in named:
            if not isinstance(name, dict):
                continue
            name = {k: v for k, v in name.items() if isinstance(v, str) and v}
            stored = name.get("zh-CN") or name.get("en")
            if stored and len(name) > 1:
                by_title.setdefault(stored[:300], name)
        out[instance_id] = by_title
    return out


def _fill(conn, table: str, names: dict[int, dict[str, dict[str, str]]]) -> None:
    rows = conn.execute(sa.text(f"SELECT id, dedupe_key, title FROM {table} WHERE dedupe_key LIKE 'flow:%'"))
    target = sa.table(table, sa.column("id", sa.Integer), sa.column("title_i18n", JSON))
    for row_id, dedupe_key, title in rows.fetchall():
        match = FLOW_KEY.match(dedupe_key)
        name = names.get(int(match.group(1)), {}).get(title) if match else None
        if name is not None:
            conn.execute(target.update().where(target.c.id == row_id).values(title_i18n=name))
