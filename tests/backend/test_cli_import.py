"""`gendan import-olist` and `gendan import` (history replay) against a temporary SQLite database."""

from __future__ import annotations

from pathlib import Path

from tests.backend.test_cli import gendan, query

OLIST = Path(__file__).resolve().parents[1] / "data" / "olist"


def test_import_olist_migrates_imports_with_history_and_is_repeatable(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert gendan(db_url, "import-olist", "--limit", "5").exit_code == 1  # migrated now, but nobody to import as
    made = gendan(db_url, "user", "create", "rp_cli", "--role", "admin", "--password", "password123")
    assert made.exit_code == 0, made.output
    first = gendan(db_url, "import-olist", "--limit", "840", "--batch-size", "300")
    assert first.exit_code == 0, first.output
    assert "840 rows" in first.output and "created 839" in first.output and "failed 1" in first.output
    assert "line 835: order_delivered_carrier_date: 2017-04-28 10:05:52 is earlier than" in first.output
    ((stage, entered),) = query(db_url, "select stage, stage_entered_at from sales_order where external_id = :x",
                                x="e481f51cbdc54678b7cc49136f2d6af7")
    assert (stage, str(entered)[:19]) == ("delivered", "2017-10-11 00:25:13")
    assert query(db_url, "select count(*) from order_event where type = 'history'")[0][0] > 2000
    assert query(db_url, "select count(*) from outbox_message")[0][0] == 0
    again = gendan(db_url, "import-olist", "--limit", "840", lang="zh_CN.UTF-8")
    assert again.exit_code == 0 and "unchanged 839" in again.output
    assert "早于 order_approved_at 中的 2017-04-28 11:41:28" in again.output


def test_import_names_a_missing_mapping_file_and_a_bad_one(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    missing = gendan(db_url, "import", str(OLIST / "olist_orders_dataset.csv"), "--mapping", str(tmp_path / "no.json"))
    assert missing.exit_code == 2 and "error: cli.file_missing" in missing.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"columns": {}, "history": [{"stage": "draft"}]}')
    refused = gendan(db_url, "import", str(OLIST / "olist_orders_dataset.csv"), "--mapping", str(bad))
    assert refused.exit_code == 2 and "error: cli.mapping_invalid" in refused.output
