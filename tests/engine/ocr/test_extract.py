"""engine/ocr without Tesseract: OCR lines as Tesseract gives them (Chinese spaced out, separators
misread, labels garbled) → fields, checks and confidences; and the draft poured into a form."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine.forms import FormDefinition
from engine.ocr import OcrWord, extract, group_lines, match_customer
from engine.ocr.prefill import level, prefill
from engine.ocr.values import find_currency, parse_date, parse_number


def lines(*rows: str, conf: float = 0.9, start: int = 0):
    words = [OcrWord(text=t, conf=conf, line=start + i, left=j * 10, top=(start + i) * 10)
             for i, row in enumerate(rows) for j, t in enumerate(row.split())]
    return group_lines(words)


ZH = lines("购 销 合 同", "合 同 编 号 ： HT-2026-0042", "买 方 （ 甲 方 ） ： 上 海 华 东 贸 易 有 限 公 司",
           "卖 方 （ 乙 方 ） ： 宁 波 跟 单 制 造 有 限 公 司", "签 订 日 期 ： 2026 年 12 月 7 日",
           "交 货 日 期 ： 2027 年 1 月 15 日", "币 种 ： 人 民 币 （ CNY ）",
           "序 号 产 品 名 称 数 量 单 价 （ 元 ） 金 额 （ 元 ）",
           "1 不 锈 钢 螺 栓 M8 1200 3.50 4,200.00", "2 铝 合 金 型 材 50 13904 6,952.00",
           "合 计 ： ¥11,152.00", "付 款 方 式 ： 电 汇")


def test_chinese_contract_fields_and_checks():
    draft = extract(ZH, customers=["上海华东贸易有限公司", "宁波跟单制造有限公司"]).as_dict()
    f = {k: v["value"] for k, v in draft["fields"].items()}
    assert f == {"contract_no": "HT-2026-0042", "customer": "上海华东贸易有限公司", "signed_on": "2026-12-07",
                 "delivery_date": "2027-01-15", "currency": "CNY", "amount": "11152.00"}
    items = [(i["product"]["value"], i["quantity"]["value"], i["unit_price"]["value"]) for i in draft["items"]]
    assert items == [("不锈钢螺栓M8", "1200", "3.50"), ("铝合金型材", "50", "139.04")]  # the lost point restored
    assert draft["language"] == "zh"
    assert draft["fields"]["amount"]["confidence"] >= 0.8  # the lines add up to it
    assert draft["fields"]["customer"]["confidence"] >= 0.8  # a known customer


def test_a_total_that_does_not_add_up():
    """Lines that each add up outvote a poorly read total that does not (taken from them, not
    green); a well read total stays (a row may be missing), red, as it does when a line does not
    add up either."""
    head = lines("Contract No.: SC-1", "Product Quantity Unit price Amount", "1 Widget 10 2.00 20.00")
    draft = extract(head + lines("Total: USD 25.00", conf=0.3, start=5)).as_dict()
    assert draft["fields"]["amount"]["value"] == "20.00"
    assert 0.5 <= draft["fields"]["amount"]["confidence"] < 0.8
    draft = extract(head + lines("Total: USD 25.00", conf=0.95, start=5)).as_dict()
    assert draft["fields"]["amount"]["value"] == "25.00"
    assert draft["fields"]["amount"]["confidence"] < 0.8
    rows = lines("Product Quantity Unit price Amount", "1 Widget 10 2.00 21.00", "Total: USD 25.00")
    draft = extract(rows).as_dict()
    assert draft["fields"]["amount"]["value"] == "25.00"
    assert draft["fields"]["amount"]["confidence"] < 0.6
    assert draft["fields"]["currency"]["value"] == "USD"


def test_english_dates_us_order_and_garbled_labels_fall_back():
    rows = lines("SALES CONTRACT", "Contrct N0: PO-2026-7", "Buyer: Acme Trading Co., Ltd.",
                 "Dote: 12/07/2026", "Delivery date: 01/20/2027")
    draft = extract(rows, customers=["Acme Trading Co., Ltd."]).as_dict()
    f = draft["fields"]
    assert f["contract_no"]["value"] == "PO-2026-7" and f["contract_no"]["confidence"] < 0.6  # found unlabelled
    assert f["signed_on"]["value"] == "2026-12-07" and f["delivery_date"]["value"] == "2027-01-20"
    assert f["customer"]["value"] == "Acme Trading Co., Ltd."


@pytest.mark.parametrize(("text", "want"), [("2026年12月7日", date(2026, 12, 7)), ("2026 - 12 - 07", date(2026, 12, 7)),
                                            ("12/07/2026", date(2026, 12, 7)), ("25/12/2026", date(2026, 12, 25)),
                                            ("2026.1.5", date(2026, 1, 5)), ("2026-13-40", None), ("no date", None)])
def test_dates(text, want):
    assert parse_date(text) == want


@pytest.mark.parametrize(("token", "want"), [("1,234.50", "1234.50"), ("22.980.69", "22980.69"),
                                             ("1,.698.65", "1698.65"), ("¥24,679.34", "24679.34"), ("|505]", "505"),
                                             ("abc", None), ("", None)])
def test_numbers(token, want):
    assert parse_number(token) == (Decimal(want) if want else None)


def test_currency_codes_before_symbols():
    assert find_currency("US$ 100") == "USD"
    assert find_currency("人民币（CNY）") == "CNY"
    assert find_currency("EUR 1,000") == "EUR"
    assert find_currency("100") is None


def test_customer_matching_is_fuzzy_but_bounded():
    assert match_customer("Acme Tradng Co Ltd", ["Acme Trading Co., Ltd.", "Globex"])[0] == "Acme Trading Co., Ltd."
    assert match_customer("Someone Else", ["Acme Trading Co., Ltd."]) is None


def test_prefill_fills_the_designed_form():
    defn = FormDefinition.model_validate({"key": "order", "fields": [
        {"key": "customer_po", "type": "text", "label": {"en": "Customer PO"}},
        {"key": "planned_delivery", "type": "date", "label": {"en": "Planned delivery"}},
        {"key": "product", "type": "text"}, {"key": "quantity", "type": "number"},
        {"key": "unit_price", "type": "number"}, {"key": "scan", "type": "image"}]})
    draft = extract(ZH, customers=["上海华东贸易有限公司"]).as_dict()
    draft["fields"]["customer"]["customer_id"] = 7
    filled = prefill(defn, draft, {"id": "a" * 32, "name": "c.png", "size": 1, "content_type": "image/png"})
    assert filled.data["customer_po"] == "HT-2026-0042"
    assert filled.data["planned_delivery"] == "2027-01-15"
    assert (filled.data["product"], filled.data["quantity"], filled.data["unit_price"]) == ("不锈钢螺栓M8", 1200, 3.5)
    assert filled.data["scan"][0]["id"] == "a" * 32
    assert filled.customer_id == 7
    assert set(filled.confidence) == {"customer_po", "planned_delivery", "product", "quantity", "unit_price"}
    assert level(0.9) == "high" and level(0.6) == "medium" and level(0.1) == "low"
