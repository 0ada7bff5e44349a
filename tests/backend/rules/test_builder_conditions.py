"""Conditions the visual builder now writes (issue 17), through the API on both databases: a field
against a field, relative dates on designed and core dates, and what hostile JSON gets back (a 422
naming the problem in the user's language, never a 500)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.clock import utcnow
from backend.forms.models import FormDefinitionRow
from engine.facts import FactContext
from engine.rules.relative import relative_value
from tests.backend.rules.test_service import approval_timeout
from tests.conftest import login
from tests.factories.orders import make_order
from tests.factories.people import make_user

FORM = {"key": "bld_api_form", "name": {"en": "BLD"}, "fields": [
    {"key": "bld_expected", "type": "date", "label": {"en": "Expected", "zh-CN": "预计完成"}},
    {"key": "bld_done", "type": "date", "label": {"en": "Done on", "zh-CN": "完成日期"}},
    {"key": "bld_weight", "type": "number", "label": {"en": "Weight", "zh-CN": "重量"}},
]}


def _setup(client, session):
    now = utcnow()
    session.add(FormDefinitionRow(key="bld_api_form", version=1, status="published", definition=FORM,
                                  created_at=now, updated_at=now, published_at=now))
    make_user(session, username="bld_api_admin", roles=("admin", "designer"))
    rep = make_user(session, username="bld_api_rep", roles=("sales",))
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    day = lambda k: (today + timedelta(days=k)).isoformat()  # noqa: E731
    orders = {
        "late": make_order(session, owner=rep, stage="production", planned_delivery=today + timedelta(days=1),
                           data={"bld_expected": day(4), "bld_done": day(-5)}),
        "fine": make_order(session, owner=rep, stage="production", planned_delivery=today + timedelta(days=8),
                           data={"bld_expected": day(4), "bld_done": day(-2)}),
        "bare": make_order(session, owner=rep, stage="approval"),
    }
    session.commit()
    login(client, "bld_api_admin")
    return orders


def _dry(client, condition, lang="en"):
    return client.post("/api/v1/rules/dry-run", json=approval_timeout(condition=condition),
                       headers={"Accept-Language": lang})


def today_minus(days: int) -> str:
    return (utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=days)).isoformat()


def test_field_against_field_and_relative_dates_match_the_right_orders(client, session):
    orders = _setup(client, session)
    cases = [
        ({"<": [{"var": "planned_delivery"}, {"var": "data.bld_expected"}]}, {"late"}),
        ({"<": [{"var": "data.bld_done"}, {"today": [-3, "days"]}]}, {"late"}),
        ({"<=": [{"today": [-3]}, {"var": "data.bld_done"}, {"today": [0]}]}, {"fine"}),
        # a working day back from a Monday is Friday: whether "fine" (done 2 days ago) matches depends on today
        ({"<=": [{"var": "data.bld_done"}, {"today": [-1, "working_days"]}]},
         {"late"} | ({"fine"} if today_minus(2) <= relative_value("today", [-1, "working_days"], FactContext(now=utcnow()))
                     else set())),
        ({"<": [{"var": "created_at"}, {"now": [1, "hours"]}]}, {"late", "fine", "bare"}),
    ]
    for condition, expected in cases:
        dry = _dry(client, condition)
        assert dry.status_code == 200, dry.text
        body = dry.json()
        assert body["compiled_to_sql"] is True
        assert {o["order_id"] for o in body["orders"]} == {orders[k].id for k in expected}, condition


@pytest.mark.parametrize("condition, path, code, words", [
    ({"<": [{"var": "planned_delivery"}, {"var": "data.bld_weight"}]}, "condition.<",
     "rule.compare_types_incompatible", "不能与 data.bld_weight（number）比较"),
    ({"<": [{"var": "amount"}, {"today": [-3]}]}, "condition.<", "rule.compare_types_incompatible", "不能与 today"),
    ({"<": [{"var": "data.nope"}, {"var": "planned_delivery"}]}, "condition.<.0.var", "logic.unknown_field",
     "data.nope"),
    ({"<": [{"var": "data.bld_done"}, {"today": [-10**9]}]}, "condition.<.1.today",
     "rule.relative_date_out_of_range", "最多相差 3650"),
    ({"<": [{"var": "data.bld_done"}, {"today": ["3", "fortnights"]}]}, "condition.<.1.today",
     "rule.relative_date_invalid", "相对日期"),
])
def test_hostile_conditions_answer_422_in_the_users_language(client, session, condition, path, code, words):
    _setup(client, session)
    for call in ("dry-run", "rules"):
        url = "/api/v1/rules/dry-run" if call == "dry-run" else "/api/v1/rules/validate"
        response = client.post(url, json=approval_timeout(condition=condition), headers={"Accept-Language": "zh-CN"})
        if call == "dry-run":
            assert response.status_code == 422, response.text
            fields = response.json()["error"]["fields"]
            assert fields[path]["code"] == code
            assert words in fields[path]["message"]
        else:
            assert response.status_code == 200
            assert (path, code) in [(i["path"], i["code"]) for i in response.json()]
    saved = client.post("/api/v1/rules", json=approval_timeout(condition=condition))
    assert saved.status_code == 201 and code in [i["code"] for i in saved.json()["issues"]]
    published = client.post("/api/v1/rules/approval_timeout/publish", headers={"Accept-Language": "zh-CN"})
    assert published.status_code == 422


class TestRelativeDatesMoveWithTime:
    def test_the_scan_resolves_today_at_each_pass(self, session, connection, org, now):
        """"Planned delivery more than 3 days ago": the scan's constant is today's, so an order
        starts matching when its date falls 3 days behind, with no change to the order."""
        from sqlalchemy import select

        from backend.rules import tasks
        from backend.rules.models import RuleFiring
        from tests.backend.rules.test_scan import flagging, publish_and_enable

        today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
        old = make_order(session, owner=org["rep"], stage="production", planned_delivery=today - timedelta(days=5))
        recent = make_order(session, owner=org["rep"], stage="production", planned_delivery=today - timedelta(days=1))
        publish_and_enable(session, org["admin"],
                           flagging("bld_scan", {"<": [{"var": "planned_delivery"}, {"today": [-3]}]}), now)
        session.commit()

        def fired():
            return set(session.exec(select(RuleFiring.order_id).where(RuleFiring.rule_key == "bld_scan")).scalars())

        tasks.scan_time_rules(connection, now)
        assert fired() == {old.id}
        session.rollback()
        tasks.scan_time_rules(connection, now + timedelta(days=3))
        assert fired() == {old.id, recent.id}

    def test_event_rules_resolve_it_too(self, session, org, now):
        from sqlalchemy import select

        from backend.rules.firing import evaluate_event_rules
        from backend.rules.models import RuleFiring
        from tests.backend.rules.test_service import publish_and_enable

        today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
        rule = {"key": "bld_event", "name": {"en": "bld_event"},
                "trigger": {"kind": "event", "events": ["field_changed"]},
                "condition": {"<=": [{"var": "planned_delivery"}, {"today": [-2, "working_days"]}]},
                "actions": [{"type": "add_tag", "tag": "bld"}], "firing": {"mode": "once_per_episode"}}
        publish_and_enable(session, org["admin"], rule, now, confirm=True)
        old = make_order(session, owner=org["rep"], planned_delivery=today - timedelta(days=10))
        new = make_order(session, owner=org["rep"], planned_delivery=today)
        for order in (old, new):
            evaluate_event_rules(session, order, changes={"amount": (1, 2)}, actor=None, is_new=False, now=now)
        fired = set(session.exec(select(RuleFiring.order_id).where(RuleFiring.rule_key == "bld_event")).scalars())
        assert fired == {old.id}
