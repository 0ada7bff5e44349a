"""Enabling "from now on" versus "also the orders matching now", on SQLite and PostgreSQL, through the
worker's scan and the event path; the enable dialog's counts; the dry run and history in words."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.audit.models import AuditEvent
from backend.errors import GendanError
from backend.i18n import reset_locale, set_locale
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate
from backend.rules import definitions, history, matching, sentences, tasks
from backend.rules.models import RuleDefinitionRow, RuleFiring
from tests.backend.rules.test_service import actor_of, approval_timeout, todos, waiting_order
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def fired(session, key="approval_timeout"):
    return session.exec(select(func.count()).select_from(RuleFiring).where(RuleFiring.rule_key == key)).scalar_one()


def publish(session, admin, definition, now):
    definitions.save_draft(session, actor=admin, definition=definition, now=now)
    definitions.publish_rule(session, actor=admin, key=definition["key"], now=now)


@pytest.fixture
def english():
    token = set_locale("en")
    yield
    reset_locale(token)


class TestTimeRuleFromNowOn:
    def test_existing_matches_do_not_fire_and_a_new_match_does(self, session, connection, org, now):
        late = [waiting_order(session, org, now, 30 + i) for i in range(3)]
        soon = waiting_order(session, org, now, 20)  # crosses 24 h four hours after enabling
        publish(session, org["admin"], approval_timeout(), now)
        definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start="from_now", now=now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 0
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 0
        assert fired(session) == 0 and all(todos(session, o) == [] for o in late)
        assert tasks.scan_time_rules(connection, now + timedelta(hours=5)) == 1
        (firing,) = session.exec(select(RuleFiring)).scalars().all()
        assert firing.order_id == soon.id
        # an old match that ends and starts again is a new episode: it fires
        order = session.get(Order, late[0].id)
        order.stage = "production"
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(hours=5, minutes=1)) == 0
        order.stage, order.stage_entered_at = "approval", now - timedelta(hours=30)
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(hours=5, minutes=2)) == 1
        assert fired(session) == 2

    def test_also_the_orders_matching_now_fire(self, session, connection, org, now):
        for i in range(3):
            waiting_order(session, org, now, 30 + i)
        waiting_order(session, org, now, 2)
        publish(session, org["admin"], approval_timeout(), now)
        definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start="include_matching",
                                now=now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 3

    def test_republishing_from_now_on_does_not_fire_the_new_versions_matches(self, session, connection, org, now):
        waiting_order(session, org, now, 30)
        publish(session, org["admin"], approval_timeout(), now)
        definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start="from_now", confirm=True,
                                now=now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 0
        wider = approval_timeout(condition={"and": [{"==": [{"var": "stage"}, "approval"]},
                                                    {">": [{"var": "hours_in_stage"}, 10]}]})
        waiting_order(session, org, now, 12)
        waiting_order(session, org, now, 2)
        definitions.save_draft(session, actor=org["admin"], definition=wider, now=now)
        read = definitions.publish_rule(session, actor=org["admin"], key="approval_timeout", start="from_now", now=now)
        assert read.enabled
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 0
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=2)) == 0

    @pytest.mark.parametrize("start", ["include_matching", "from_now"])
    def test_an_every_n_hours_rule_enabled_again_waits_out_its_interval(self, session, connection, org, now, start):
        """Disabled and enabled again, an `every_n_hours` rule does not fire again for an order it
        already fired for in the same episode before the interval has passed."""
        order = waiting_order(session, org, now, 30)
        publish(session, org["admin"], approval_timeout(firing={"mode": "every_n_hours", "every_hours": 4}), now)
        definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start="include_matching",
                                confirm=True, now=now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        later = now + timedelta(hours=1)
        definitions.disable_rule(session, actor=org["admin"], key="approval_timeout", now=later)
        definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start=start, confirm=True,
                                now=later)
        session.commit()
        for minutes in (0, 1, 2, 60):
            assert tasks.scan_time_rules(connection, later + timedelta(minutes=minutes)) == 0, minutes
        assert fired(session) == 1
        assert tasks.scan_time_rules(connection, now + timedelta(hours=4, minutes=5)) == 1  # its interval passed
        assert {f.order_id for f in session.exec(select(RuleFiring)).scalars()} == {order.id}

    def test_the_choice_is_recorded(self, session, org, now):
        publish(session, org["admin"], approval_timeout(), now)
        definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start="from_now", now=now)
        row = session.exec(select(RuleDefinitionRow).where(RuleDefinitionRow.status == "published")).scalars().one()
        assert row.start_from_now
        event = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "rule", AuditEvent.action == "enable")
                             ).scalars().one()
        assert event.after["start"] == "from_now"

    def test_a_bad_choice_is_refused(self, session, org, now):
        publish(session, org["admin"], approval_timeout(), now)
        with pytest.raises(GendanError) as caught:
            definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start="yesterday", now=now)
        assert caught.value.code == "rule.start_invalid" and caught.value.status == 400


class TestEventRuleFromNowOn:
    RULE = {
        "key": "big_order", "name": {"en": "Big order"},
        "trigger": {"kind": "event", "events": ["field_changed"]},
        "condition": {">=": [{"var": "amount"}, 100000]},
        "actions": [{"type": "add_tag", "tag": "big"}],
    }

    @pytest.mark.parametrize("condition", [
        {">=": [{"var": "amount"}, 100000]},
        {">=": [{"%": [{"var": "amount"}, 1000000]}, 100000]},  # not compilable: baselined in Python
    ])
    def test_an_order_matching_at_enabling_does_not_fire_until_it_matches_anew(self, session, org, now, condition):
        rep = actor_of(org["rep"])
        big = make_order(session, owner=org["rep"], stage="production", amount=250000, at=now - timedelta(days=1))
        small = make_order(session, owner=org["rep"], stage="production", amount=10, at=now - timedelta(days=1))
        publish(session, org["admin"], {**self.RULE, "condition": condition}, now)
        definitions.enable_rule(session, actor=org["admin"], key="big_order", start="from_now", now=now)
        session.commit()
        big = orders_service.update_order(session, actor=rep, order_id=big.id,
                                          payload=OrderUpdate(version=big.version, currency="USD"), now=now)
        assert fired(session, "big_order") == 0
        orders_service.update_order(session, actor=rep, order_id=small.id,
                                    payload=OrderUpdate(version=small.version, amount="300000"), now=now)
        assert fired(session, "big_order") == 1  # a new match fires
        big = session.get(Order, big.id)
        big = orders_service.update_order(session, actor=rep, order_id=big.id,
                                          payload=OrderUpdate(version=big.version, amount="5"), now=now)
        big = session.get(Order, big.id)
        orders_service.update_order(session, actor=rep, order_id=big.id,
                                    payload=OrderUpdate(version=big.version, amount="200000"), now=now)
        assert fired(session, "big_order") == 2  # false in between: its next match is new

    @pytest.mark.parametrize("start", ["include_matching", "from_now"])
    def test_an_every_n_hours_rule_enabled_again_waits_out_its_interval(self, session, org, now, start):
        rep = actor_of(org["rep"])
        order = make_order(session, owner=org["rep"], stage="production", amount=10, at=now - timedelta(days=1))
        publish(session, org["admin"], {**self.RULE, "firing": {"mode": "every_n_hours", "every_hours": 4}}, now)
        definitions.enable_rule(session, actor=org["admin"], key="big_order", start="from_now", now=now)
        session.commit()

        def change(amount, at):
            current = session.get(Order, order.id)
            orders_service.update_order(session, actor=rep, order_id=order.id,
                                        payload=OrderUpdate(version=current.version, amount=amount), now=at)

        change("200000", now)
        assert fired(session, "big_order") == 1
        later = now + timedelta(hours=1)
        definitions.disable_rule(session, actor=org["admin"], key="big_order", now=later)
        definitions.enable_rule(session, actor=org["admin"], key="big_order", start=start, confirm=True, now=later)
        session.commit()
        change("210000", later + timedelta(minutes=1))  # still true, within the interval: the same episode
        assert fired(session, "big_order") == 1
        change("220000", now + timedelta(hours=4, minutes=5))
        assert fired(session, "big_order") == 2

    def test_enabling_again_with_the_orders_matching_now_drops_the_baseline(self, session, org, now):
        big = make_order(session, owner=org["rep"], stage="production", amount=250000, at=now - timedelta(days=1))
        make_order(session, owner=org["rep"], stage="production", amount=10, at=now - timedelta(days=1))
        publish(session, org["admin"], self.RULE, now)
        definitions.enable_rule(session, actor=org["admin"], key="big_order", start="from_now", now=now)
        definitions.disable_rule(session, actor=org["admin"], key="big_order", now=now)
        definitions.enable_rule(session, actor=org["admin"], key="big_order", start="include_matching", now=now)
        session.commit()
        orders_service.update_order(session, actor=actor_of(org["rep"]), order_id=big.id,
                                    payload=OrderUpdate(version=big.version, currency="USD"), now=now)
        assert fired(session, "big_order") == 1

    def test_also_the_orders_matching_now(self, session, org, now):
        big = make_order(session, owner=org["rep"], stage="production", amount=250000, at=now - timedelta(days=1))
        publish(session, org["admin"], self.RULE, now)
        definitions.enable_rule(session, actor=org["admin"], key="big_order", start="include_matching", confirm=True,
                                now=now)
        session.commit()
        orders_service.update_order(session, actor=actor_of(org["rep"]), order_id=big.id,
                                    payload=OrderUpdate(version=big.version, currency="USD"), now=now)
        assert fired(session, "big_order") == 1


class TestHeavyLoad:
    def test_one_person_getting_many_todos_needs_confirmation_naming_them(self, session, org, now, english):
        for i in range(22):
            waiting_order(session, org, now, 30 + i)
        waiting_order(session, org, now, 2)
        publish(session, org["admin"], approval_timeout(), now)
        preview = definitions.enable_preview(session, actor=org["admin"], key="approval_timeout", now=now)
        assert preview.matching == 22
        (heavy,) = [h for h in preview.summary.heavy if h.name == "Approver"]
        assert heavy.count == 22 and heavy.message == "Approver would get 22 to-dos at once."
        with pytest.raises(GendanError) as caught:
            definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start="include_matching",
                                    now=now)
        assert caught.value.code == "rule.confirm_required"
        assert "would get 22 to-dos at once" in caught.value.params["warnings"]
        # from now on creates none at once: no question
        assert definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start="from_now",
                                       now=now).enabled


class TestWords:
    def test_dry_run_counts_recipients_and_says_why_an_assignee_falls_back(self, session, org, now, english):
        waiting_order(session, org, now, 30)
        for i in range(2):  # past 24 h in approval, but no running approval
            make_order(session, owner=org["rep"], stage="approval", at=now - timedelta(hours=40 + i))
        session.flush()
        result = matching.dry_run(session, actor=org["admin"], definition=approval_timeout(), now=now)
        summary = result.summary
        assert summary.matching == 3 and not summary.sampled
        (action,) = summary.actions
        assert action.kind == "to-do" and action.orders == 3
        assert [(r.name, r.count) for r in action.recipients] == [("Approver", 1), ("Rep", 2)] or \
            [(r.name, r.count) for r in action.recipients] == [("Rep", 2), ("Approver", 1)]
        assert "2 of 3 orders have no running approval: it goes to the order owner instead." in action.notes
        assert any(n.startswith("2 of 3 orders have no running approval") and "nobody is copied" in n
                   for n in action.notes)
        words = {m.number: m.words for m in result.orders}
        approved = [w for ws in words.values() for w in ws if "Approver (the current approver)" in w]
        assert approved and approved[0].startswith("To-do “Approve ") and "copy to Boss" in approved[0]
        assert any("Rep (the order owner, as nobody is the current approver)" in w for ws in words.values() for w in ws)
        assert {m.stage_label for m in result.orders} == {"Approval"}

    def test_dry_run_in_chinese_and_a_customer_message(self, session, org, now):
        customer = make_customer(session, name="华东机械", preferred_locale="zh_CN")
        make_order(session, owner=org["rep"], customer=customer, stage="production", at=now - timedelta(days=1))
        rule = {"key": "tell", "name": {"en": "Tell"}, "trigger": {"kind": "time"},
                "condition": {"==": [{"var": "stage"}, "production"]},
                "actions": [{"type": "message_customer", "subject_template": "进度 {{ order.number }}",
                             "body_template": "生产中"}]}
        token = set_locale("zh_CN")
        try:
            result = matching.dry_run(session, actor=org["admin"], definition=rule, now=now)
        finally:
            reset_locale(token)
        (match,) = result.orders
        (said,) = match.words
        assert said == f"邮箱发给客户 华东机械 (zh-CN)：“进度 {match.number}”"
        assert match.stage_label == "生产"
        assert result.summary.actions[0].recipients[0].name == "华东机械 (zh-CN)"

    def test_firing_history_in_words(self, session, connection, org, now, english):
        order = waiting_order(session, org, now, 30)
        publish(session, org["admin"], approval_timeout(), now)
        definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", start="include_matching",
                                confirm=True, now=now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        (firing,) = history.list_firings(session, actor=org["admin"], key="approval_timeout")
        (said,) = firing.words
        assert said == f"To-do “Approve {order.number} (30 h)” for Approver (the current approver); copy to Boss"
        assert firing.state_words == ["to-do open"]

    def test_issue_places_name_the_action_by_position_and_kind(self, english):
        definition = {"actions": [{"type": "create_todo"}, {"type": "notify"}]}
        assert sentences.place("actions.0.title_template", definition) == "Action 1 (to-do), title"
        assert sentences.place("actions.1.recipients", definition) == "Action 2 (notification), recipients"
        assert sentences.place("actions.7", definition) == "Action 8"
        assert sentences.place("condition.==.0.var", definition) == "Condition"


class TestApi:
    def test_enable_takes_the_choice_and_refuses_bad_values(self, client, session, org, now):
        make_user(session, username="dry_api_admin", roles=("admin",))
        waiting_order(session, org, now, 30)
        make_order(session, owner=org["rep"], stage="production", at=now)
        session.commit()
        login(client, "dry_api_admin")
        assert client.post("/api/v1/rules", json=approval_timeout()).status_code == 201
        assert client.post("/api/v1/rules/approval_timeout/publish").status_code == 200
        bad = client.post("/api/v1/rules/approval_timeout/enable", json={"start": "yesterday"},
                          headers={"Accept-Language": "zh-CN"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation.failed"
        assert "start" in bad.json()["error"]["fields"]
        extra = client.post("/api/v1/rules/approval_timeout/enable", json={"begin": "now"})
        assert extra.status_code == 422
        preview = client.get("/api/v1/rules/approval_timeout/enable-preview")
        assert preview.status_code == 200 and preview.json()["matching"] == 1
        enabled = client.post("/api/v1/rules/approval_timeout/enable", json={})
        assert enabled.status_code == 200 and enabled.json()["enabled"]
        row = session.exec(select(RuleDefinitionRow.start_from_now).where(
            RuleDefinitionRow.key == "approval_timeout", RuleDefinitionRow.status == "published")).scalar_one()
        assert row is True  # the API's default is "from now on"
        checked = client.post("/api/v1/rules/validate", json=approval_timeout(actions=[
            {"type": "create_todo", "assignee": {"kind": "owner"}, "title_template": ""}]),
            headers={"Accept-Language": "en"})
        assert [i["place"] for i in checked.json()] == ["Action 1 (to-do), title"]
