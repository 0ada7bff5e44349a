"""Issue 13: a source record's list of lines fills the order form's line-items table, column by column
(each converted by the column's type, read at a path inside the item), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from sqlalchemy import select

from backend.connectors import runner, service
from backend.forms import service as forms_service
from backend.ingest.rows import DataField, parse_line_items, parse_row
from backend.ingest.schemas import ImportMapping
from backend.orders.models import Order
from tests.backend.connectors.test_runner import payload
from tests.factories.connector_source import Source

SHANGHAI = ZoneInfo("Asia/Shanghai")
LINES = DataField(type="line_items", columns=(
    ("sku", DataField(type="text")), ("qty", DataField(type="number")),
    ("price", DataField(type="money")), ("ship_on", DataField(type="date"))))
FORM = {"key": "order", "fields": [
    {"key": "items", "type": "line_items", "label": {"zh-CN": "明细", "en": "Items"}, "columns": [
        {"key": "sku", "type": "text", "label": {"zh-CN": "物料", "en": "SKU"}},
        {"key": "qty", "type": "number", "label": {"zh-CN": "数量", "en": "Quantity"}},
        {"key": "price", "type": "money", "label": {"zh-CN": "单价", "en": "Unit price"}}]}]}


class TestParse:
    def test_columns_are_read_at_their_paths_and_converted_by_type(self):
        text = json.dumps([{"material": {"code": "M-1"}, "qty": "3", "price": "¥1,200.50", "ship_on": "2026年12月9日"},
                           {"material": {"code": "M-2"}, "qty": 2, "price": 10}])
        rows, problems = parse_line_items(text, LINES, {"sku": "material.code"}, SHANGHAI)
        assert problems == []
        assert rows == [{"sku": "M-1", "qty": 3, "price": 1200.5, "ship_on": "2026-12-09"},
                        {"sku": "M-2", "qty": 2, "price": 10, "ship_on": None}]

    def test_every_bad_cell_is_named_by_row_and_column(self):
        text = json.dumps([{"sku": "A", "qty": "three"}, {"sku": "B", "qty": 1, "ship_on": "2026-02-30"}])
        rows, problems = parse_line_items(text, LINES, {}, SHANGHAI)
        assert [(where, code) for where, code, _ in problems] == [
            ("[1].qty", "import.number_invalid"), ("[2].ship_on", "import.date_invalid")]
        assert problems[1][2]["line_no"] == 2

    def test_not_a_list_of_objects_and_too_many_rows_are_refused_whole(self):
        for text in ("not json", "[1, 2]", '"x"', json.dumps([{"sku": "A"}] * 501)):
            rows, problems = parse_line_items(text, LINES, {}, SHANGHAI)
            assert rows == [] and len(problems) == 1, text
        assert problems[0][1] == "import.line_items_too_many"
        one, problems = parse_line_items('{"sku": "A", "qty": 1}', LINES, {}, SHANGHAI)
        assert problems == [] and one[0]["sku"] == "A"  # a single line sent as an object

    def test_a_bad_line_fails_the_row_with_the_line_named(self):
        mapping = ImportMapping(columns={"external_id": "id", "customer": "c", "amount": "a", "data.items": "lines"},
                                line_columns={"items": {"sku": "code"}})
        row = parse_row(2, {"id": "X1", "c": "ACME", "a": "10", "lines": '[{"code": "A", "qty": "x"}]'},
                        mapping, SHANGHAI, {"items": LINES})
        assert [(e.field, e.code) for e in row.errors] == [("data.items[1].qty", "import.number_invalid")]
        assert "items" not in row.values.get("data", {})


def test_a_connector_fills_the_line_items_table(session, connection, admin, now):
    forms_service.save_draft(session, actor=admin, key="order", now=now, definition=FORM)
    forms_service.publish_form(session, actor=admin, key="order", now=now)
    session.commit()
    records = [{"id": "LI-1", "no": "LI-1", "buyer": {"code": "K1", "name": "买家1"}, "total": "30", "status": "已签约",
                "updated": "2026-11-21 10:00", "lines": [{"material": "M-1", "qty": "2", "price": "10"},
                                                         {"material": "M-2", "qty": 1, "price": "10.00"}]},
               {"id": "LI-2", "no": "LI-2", "buyer": {"code": "K1", "name": "买家1"}, "total": "5", "status": "已签约",
                "updated": "2026-11-21 10:00", "lines": [{"material": "M-3", "qty": "lots", "price": "5"}]}]
    server = Source(records).start()
    try:
        body = payload(server.url + "/orders/link?page=1", name="lines").model_dump()
        body["mapping"]["columns"]["data.items"] = "lines"
        body["mapping"]["line_columns"] = {"items": {"sku": "material"}}
        body["mapping"]["source"] = "lines"
        from backend.connectors.schemas import ConnectorCreate
        c = service.create_connector(session, actor=admin, payload=ConnectorCreate.model_validate(body), now=now)
        run = runner.run_connector(connection, c.id, now, trigger="manual", sleep=lambda s: None)
    finally:
        server.stop()
    assert (run.created_count, run.failed_count) == (1, 1)
    session.expire_all()
    order = session.exec(select(Order).where(Order.external_id == "LI-1")).scalar_one()
    assert order.data["items"] == [{"sku": "M-1", "qty": 2, "price": 10}, {"sku": "M-2", "qty": 1, "price": 10}]
    assert session.exec(select(Order).where(Order.external_id == "LI-2")).first() is None
