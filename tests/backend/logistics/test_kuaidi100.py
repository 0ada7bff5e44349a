"""The Kuaidi100 shape without a server: signing, carrier codes, status mapping, hostile answers."""

from __future__ import annotations

import json

import pytest

from backend.errors import GendanError
from backend.logistics import kuaidi100


def test_query_is_signed_as_the_aggregator_checks_it():
    form = kuaidi100.query_form(carrier="顺丰", tracking_no="SF1", customer="C1", key="K")
    assert json.loads(form["param"])["com"] == "shunfeng"
    assert form["sign"] == kuaidi100.md5_upper(form["param"] + "K" + "C1") and form["sign"].isupper()
    assert json.loads(kuaidi100.query_form(carrier="kuayue", tracking_no="1", customer="c", key="k")["param"])[
        "com"] == "kuayue"  # a code nobody listed is sent as typed


def test_push_signature_needs_the_salt():
    assert kuaidi100.push_sign_ok("{}", kuaidi100.md5_upper("{}salt"), "salt")
    assert not kuaidi100.push_sign_ok("{}", kuaidi100.md5_upper("{}salt"), "other")
    assert not kuaidi100.push_sign_ok("{}", kuaidi100.md5_upper("{}"), "")  # no salt saved: no push accepted


def test_statuses_and_times():
    feed = kuaidi100.parse_result({"state": "3", "nu": "N1", "data": [
        {"ftime": "2026-11-25 11:05:00", "context": "已签收", "status": "签收"},
        {"ftime": "2026-11-25 08:30:00", "context": "派送中", "status": "派件"},
        {"ftime": "2026-11-24 20:10:00", "context": "拒收退回", "status": "退回"},
        {"ftime": "bad", "context": "no time"}, "not an object", {"ftime": "2026-11-24 20:10:00", "context": ""}]})
    assert [e.status for e in feed.events] == ["signed", "out_for_delivery", "exception"]
    assert feed.state == "signed" and feed.signed_at.isoformat() == "2026-11-25T03:05:00+00:00"


@pytest.mark.parametrize("body, code", [
    ({"result": False, "returnCode": "503", "message": "验证签名失败"}, "logistics.bad_credentials"),
    ({"result": False, "returnCode": "500", "message": "查询无结果"}, "logistics.unknown_number"),
    ({"result": False, "returnCode": "999"}, "logistics.request_refused"),
    ({"state": "0"}, "logistics.answer_invalid"),
    (["a list"], "logistics.answer_invalid"),
])
def test_the_sources_own_errors_become_ours(body, code):
    with pytest.raises(GendanError) as caught:
        kuaidi100.parse_result(body)
    assert caught.value.code == code


def test_hostile_pushes():
    for param in ("[" * 100_000, "null", '{"lastResult": 3}', "\x00"):
        with pytest.raises(GendanError) as caught:
            kuaidi100.parse_push(param)
        assert caught.value.code == "logistics.push_invalid"
