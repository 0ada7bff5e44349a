"""Pure parts of the approval, CRM and MES templates (engine/connectors/approvals.py)."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from engine.connectors import approvals

SH = ZoneInfo("Asia/Shanghai")


def test_dingtalk_form_values_by_name():
    form = approvals.dingtalk_form([{"name": "合同编号", "value": "HT-1"}, {"name": "备注", "value": "null"},
                                    {"name": "合同编号", "value": "second"}, {"value": "no name"}, "junk"])
    assert form == {"合同编号": "HT-1", "备注": ""}
    assert approvals.dingtalk_form(None) == {}


def test_wecom_controls_as_text():
    contents = [
        {"control": "Text", "title": [{"text": "Contract", "lang": "en"}, {"text": "合同编号", "lang": "zh_CN"}],
         "value": {"text": "WX-1"}},
        {"control": "Money", "title": [{"text": "合同金额"}], "value": {"new_money": "12000.50"}},
        {"control": "Number", "title": [{"text": "数量"}], "value": {"new_number": "3"}},
        {"control": "Date", "title": [{"text": "交货日期"}], "value": {"date": {"type": "day", "s_timestamp": "1797091200"}}},
        {"control": "Date", "title": [{"text": "时间"}], "value": {"date": {"type": "hour", "s_timestamp": "x"}}},
        {"control": "Selector", "title": [{"text": "类型"}],
         "value": {"selector": {"options": [{"value": [{"text": "标准", "lang": "zh_CN"}]}]}}},
        {"control": "File", "title": [{"text": "附件"}], "value": {"files": [{"file_id": "1"}]}},
        {"control": "Text", "value": {"text": "untitled"}},
    ]
    assert approvals.wecom_form(contents, SH) == {"合同编号": "WX-1", "合同金额": "12000.50", "数量": "3",
                                                  "交货日期": "2026-12-13", "时间": "", "类型": "标准", "附件": ""}


def test_pick_and_pending():
    assert approvals.pick({"合同编号": "1"}, {"contract_no": "合同编号", "customer": "客户", "x": ""}) == \
        {"contract_no": "1", "customer": "", "x": ""}
    assert approvals.pending(["a", "b"], ["c", "a"], {"b"}) == ["a", "c"]
    many = approvals.pending([str(i) for i in range(approvals.MAX_PENDING)], ["new"], set())
    assert len(many) == approvals.MAX_PENDING and many[-1] == "new" and "0" not in many


def test_salesforce_condition():
    assert approvals.salesforce_after("2026-11-23T02:00:00.000+0000", "006D000000Opp0002") == \
        "(SystemModstamp > 2026-11-23T02:00:00Z OR (SystemModstamp = 2026-11-23T02:00:00Z AND Id > '006D000000Opp0002'))"
    assert approvals.salesforce_after("2000-01-01T00:00:00Z", "") == "SystemModstamp > 2000-01-01T00:00:00Z"
    for bad in ("2026-11-23' OR Name != '", "yesterday", ""):
        with pytest.raises(ValueError):
            approvals.salesforce_after(bad, "")
    assert "Id >" not in approvals.salesforce_after("2000-01-01T00:00:00Z", "x' OR '1'='1")


def test_progress():
    assert approvals.progress(100, 60) == Decimal("60.0")
    assert approvals.progress("3", "1") == Decimal("33.3")
    assert approvals.progress(50, 80) == Decimal("100.0")
    for planned, finished in ((0, 0), ("x", 1), (10, -1), ("NaN", 1), (None, 1)):
        assert approvals.progress(planned, finished) is None


def test_split_pending_shares_the_runs_requests():
    ids = [str(i) for i in range(250)]
    check, rest = approvals.split_pending(ids, 1000)
    assert len(check) == approvals.PENDING_PER_RUN and rest == ids[approvals.PENDING_PER_RUN:]
    assert approvals.split_pending(ids, 7)[0] == ids[:7]
    assert approvals.split_pending(ids, -3) == ([], ids)
    # still running ones go after the rest: the next run looks at others first
    assert approvals.pending(rest, check[:2], set())[:2] == rest[:2] and approvals.pending(rest, check[:2], set())[-2:] == check[:2]
