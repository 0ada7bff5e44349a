"""Rules that cannot break the others (issue 18), on SQLite and PostgreSQL: a rule past the size
limits is refused when saved, validated or published; values that would not be stored as given
are refused; a rule the database cannot run (stored before the limits, or failing on some rows
only) is paused with a message to its author while the other rules fire in the same scan."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.errors import GendanError
from backend.notify.models import Notification
from backend.rules import definitions, firing, tasks
from backend.rules.models import RuleDefinitionRow, RuleFiring
from engine.jsonlogic import matches
from engine.rules.limits import MAX_DEPTH, MAX_IN_LIST, MAX_NODES, MAX_OPERANDS, MAX_STRING
from tests.backend.rules.test_scan import flagging
from tests.backend.rules.test_service import approval_timeout, publish_and_enable, waiting_order
from tests.conftest import login
from tests.factories.people import make_user


def nested_not(depth: int, inner: dict | None = None) -> dict:
    node: dict = inner or {">": [{"var": "amount"}, 0]}
    for _ in range(depth):
        node = {"!": [node]}
    return node


def refused_codes(session, actor, definition, now) -> dict[str, str]:
    with pytest.raises(GendanError) as caught:
        definitions.save_draft(session, actor=actor, definition=definition, now=now)
    assert caught.value.status == 422
    return {path: code for path, (code, _params) in caught.value.fields.items()}


AMOUNT = {"var": "amount"}
TOO_LARGE = {
    "rule.limit_depth": nested_not(MAX_DEPTH + 4),
    "rule.limit_operands": {"or": [{"==": [AMOUNT, i]} for i in range(MAX_OPERANDS + 1)]},
    "rule.limit_list": {"in": [{"var": "number"}, [f"N{i}" for i in range(MAX_IN_LIST + 1)]]},
    "rule.limit_nodes": {"and": [{"in": [{"var": "number"}, [f"N{j}" for j in range(MAX_IN_LIST)]]}
                                 for _ in range(MAX_NODES // MAX_IN_LIST + 1)]},
    "rule.limit_string": {"==": [{"var": "number"}, "x" * (MAX_STRING + 1)]},
}


class TestLimitsAtSave:
    @pytest.mark.parametrize("code", sorted(TOO_LARGE))
    def test_a_condition_past_a_limit_is_refused_with_its_code(self, session, org, now, code):
        codes = refused_codes(session, org["admin"], flagging("big", TOO_LARGE[code]), now)
        assert code in codes.values()
        assert all(path.startswith("condition") for path in codes)
        assert session.exec(select(RuleDefinitionRow).where(RuleDefinitionRow.key == "big")).first() is None

    def test_the_operand_limit_names_the_operator_and_its_path(self, session, org, now):
        codes = refused_codes(session, org["admin"], flagging("big", {"and": [TOO_LARGE["rule.limit_operands"]]}), now)
        assert codes == {"condition.and.0.or": "rule.limit_operands"}

    def test_validate_answers_the_limit_without_walking_a_deep_condition(self, session, org):
        issues = definitions.validate_definition(session, actor=org["admin"],
                                             definition=flagging("deep", nested_not(50_000)))
        assert [i.code for i in issues] == ["rule.limit_depth"]

    def test_a_condition_at_every_limit_publishes_and_scans(self, session, connection, org, now):
        """The limits are under both databases' own: the largest allowed rule runs in the scan."""
        late = waiting_order(session, org, now, 30)
        # the deepest: `or` > 13 x `!` > `<=` > `var` (an odd number of `!` around a false test)
        deepest = nested_not(MAX_DEPTH - 3, {"<=": [AMOUNT, 0]})
        widest = {"or": [{"==": [AMOUNT, i]} for i in range(MAX_OPERANDS - 1)] + [deepest]}
        listed = {"in": [{"var": "number"}, [f"N{i}" for i in range(MAX_IN_LIST - 1)] + [late.number]]}
        publish_and_enable(session, org["admin"], flagging("widest", widest), now, confirm=True)
        publish_and_enable(session, org["admin"], flagging("listed", listed), now, confirm=True)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 2
        assert session.exec(select(RuleDefinitionRow.enabled).where(RuleDefinitionRow.status == "published")) \
            .scalars().all() == [True, True]


class TestValuesStoredAsGiven:
    @pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 10**400])
    def test_non_finite_numbers_are_refused_not_saved_as_null(self, session, org, now, value):
        codes = refused_codes(session, org["admin"], flagging("inf", {">": [AMOUNT, value]}), now)
        assert codes == {"condition.>.1": "rule.number_not_finite"}

    @pytest.mark.parametrize("text", ["\ud800", "a\x00b"])
    def test_nul_and_lone_surrogates_are_refused(self, session, org, now, text):
        codes = refused_codes(session, org["admin"], flagging("bad", {"==": [{"var": "number"}, text]}), now)
        assert codes == {"condition.==.1": "rule.text_bad_character"}
        rule = flagging("bad_title", {">": [AMOUNT, 1]},
                        actions=[{"type": "add_risk_flag", "flag": "x", "reason_template": f"why {text}"}])
        assert refused_codes(session, org["admin"], rule, now) == {"actions.0.reason_template": "rule.text_bad_character"}

    @pytest.mark.parametrize("lang, words", [("en", "cannot be stored"), ("zh-CN", "无法保存")])
    def test_a_refused_value_answers_422_in_the_users_language(self, client, session, lang, words):
        make_user(session, username="rules_admin", roles=("admin", "designer"))
        session.commit()
        login(client, "rules_admin")
        raw = json.dumps(flagging("bad", {"==": [{"var": "number"}, "\ud800"]}))  # the JSON escape itself
        assert "\\ud800" in raw
        response = client.post("/api/v1/rules", content=raw, headers={"Content-Type": "application/json",
                                                                       "Accept-Language": lang})
        assert response.status_code == 422
        assert words in response.text
        assert client.get("/api/v1/rules").status_code == 200


class TestStoredBadRow:
    def test_a_row_saved_with_a_lone_surrogate_does_not_break_listing(self, client, session, connection, now):
        if connection.dialect.name == "postgresql":
            pytest.skip("PostgreSQL refuses to store a lone surrogate in JSONB: only SQLite kept such rows")
        admin = make_user(session, username="rules_admin", roles=("admin", "designer"))
        store_enabled(session, admin, flagging("bad", {"==": [{"var": "number"}, "x\ud800"]}), now)
        session.commit()
        login(client, "rules_admin")
        listed = client.get("/api/v1/rules")
        assert listed.status_code == 200
        assert listed.json()[0]["definition"]["condition"]["=="][1] == "x\ufffd"
        assert client.get("/api/v1/rules/bad").status_code == 200


def store_enabled(session, author, definition, now) -> RuleDefinitionRow:
    """A published, enabled rule written straight to the table (as one stored before the limits)."""
    row = RuleDefinitionRow(key=definition["key"], version=1, status="published", enabled=True,
                            is_time_rule=True, author_id=author.id, created_at=now, updated_at=now,
                            published_at=now, definition={**definition, "version": 1, "status": "published",
                                                          "enabled": True, "schema_version": 1})
    session.add(row)
    session.flush()
    return row


def fails_in_the_database(dialect: str) -> dict:
    if dialect == "sqlite":
        return nested_not(60)  # "parser stack overflow"
    return {">": [{"*": [AMOUNT, 1e308, 10]}, 0]}  # "value out of range: overflow" on a row


class TestIsolation:
    def test_a_rule_the_database_refuses_is_paused_and_the_others_fire(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        publish_and_enable(session, org["admin"], approval_timeout(), now, confirm=True)
        bad = store_enabled(session, org["rep"], flagging("broken", fails_in_the_database(connection.dialect.name)),
                            now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        assert session.exec(select(RuleFiring.rule_key).where(RuleFiring.order_id == late.id)).scalars().all() \
            == ["approval_timeout"]
        session.refresh(bad)
        assert bad.enabled is False and bad.scan_slot is None
        note = session.exec(select(Notification).where(Notification.user_id == org["rep"].id)).scalars().one()
        assert "broken" in note.title and "broken" in note.body
        pause = session.exec(select(AuditEvent).where(AuditEvent.action == "pause")).scalars().one()
        assert pause.entity_key == "broken" and pause.after["error"]
        # the next scan runs normally, the paused rule is out of it
        other = waiting_order(session, org, now, 30)
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 1
        assert session.exec(select(RuleFiring.rule_key).where(RuleFiring.order_id == other.id)).scalars().all() \
            == ["approval_timeout"]

    def test_a_rule_that_cannot_even_compile_is_paused(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        publish_and_enable(session, org["admin"], approval_timeout(), now, confirm=True)
        too_deep: dict = {">": [AMOUNT, 0]}
        for _ in range(400):  # JSON can store it (400 levels), the compiler recursed too deep before the limits
            too_deep = {"!": too_deep}
        bad = store_enabled(session, org["rep"], flagging("too_deep", too_deep), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        assert [f.rule_key for f in session.exec(select(RuleFiring).where(RuleFiring.order_id == late.id)).scalars()] \
            == ["approval_timeout"]
        session.refresh(bad)
        assert bad.enabled is False


class TestEventPathIsolation:
    def test_an_event_rule_the_evaluator_cannot_run_is_paused_and_the_others_fire(self, session, org, now):
        order = waiting_order(session, org, now, 30)
        events = {"kind": "event", "events": ["inbound_message"]}
        good = flagging("good", {">": [AMOUNT, 0]}, trigger=events, firing={"mode": "every_time"})
        publish_and_enable(session, org["admin"], good, now, confirm=True)
        too_deep: dict = {">": [AMOUNT, 0]}
        for _ in range(480):  # stored before the limits; the evaluator recurses too deep on it
            too_deep = {"!": too_deep}
        with pytest.raises(RecursionError):
            matches(too_deep, {"amount": 1})
        bad = store_enabled(session, org["rep"], flagging("deep", too_deep, trigger=events), now)
        bad.is_time_rule = False
        session.commit()
        firing.evaluate_event_rules(session, order, changes={}, actor=None, now=now, is_new=False,
                                     events=[("inbound_message", None)])
        session.commit()
        assert session.exec(select(RuleFiring.rule_key)).scalars().all() == ["good"]
        session.refresh(bad)
        assert bad.enabled is False
        note = session.exec(select(Notification).where(Notification.user_id == org["rep"].id)).scalars().one()
        assert "deep" in note.title


class TestRepublish:
    def test_republishing_an_enabled_rule_runs_the_enable_check(self, session, org, now):
        waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 2)
        publish_and_enable(session, org["admin"], approval_timeout(), now)  # matches one of two: no question
        every = approval_timeout(condition={">": [AMOUNT, 0]})
        definitions.save_draft(session, actor=org["admin"], definition=every, now=now)
        with pytest.raises(GendanError) as caught:
            definitions.publish_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        assert caught.value.code == "rule.confirm_required" and caught.value.status == 409
        session.rollback()
        published = session.exec(select(RuleDefinitionRow).where(RuleDefinitionRow.status == "published")).scalars()
        assert [(r.version, r.enabled) for r in published] == [(1, True)]  # nothing changed
        read = definitions.publish_rule(session, actor=org["admin"], key="approval_timeout", now=now, confirm=True)
        assert (read.version, read.enabled) == (2, True)

    def test_republishing_a_disabled_rule_asks_nothing(self, session, org, now):
        waiting_order(session, org, now, 30)
        definitions.save_draft(session, actor=org["admin"], definition=approval_timeout(), now=now)
        definitions.publish_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        definitions.save_draft(session, actor=org["admin"], definition=approval_timeout(condition={">": [AMOUNT, 0]}),
                           now=now)
        read = definitions.publish_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        assert (read.version, read.enabled) == (2, False)


class TestHostileRequests:
    @pytest.mark.parametrize("depth", [300, 50_000])
    def test_a_deep_condition_answers_4xx_never_500(self, client, session, depth):
        make_user(session, username="rules_admin", roles=("admin", "designer"))
        session.commit()
        login(client, "rules_admin")
        raw = json.dumps(flagging("deep", {">": [AMOUNT, 0]})).replace(
            '{">": [{"var": "amount"}, 0]}', '{"!": ' * depth + '{">": [{"var": "amount"}, 0]}' + "}" * depth)
        headers = {"Content-Type": "application/json", "Accept-Language": "en"}
        checked = client.post("/api/v1/rules/validate", content=raw, headers=headers)
        assert checked.status_code in (200, 400, 413, 422), checked.text  # 400: JSON too deep to parse
        if checked.status_code == 200:
            assert [i["code"] for i in checked.json()] == ["rule.limit_depth"]
        for url in ("/api/v1/rules", "/api/v1/rules/dry-run"):
            answer = client.post(url, content=raw, headers=headers)
            assert answer.status_code in (400, 413, 422), (url, answer.text)

    def test_a_rule_body_over_the_rule_limit_answers_413(self, client, session):
        make_user(session, username="rules_admin", roles=("admin", "designer"))
        session.commit()
        login(client, "rules_admin")
        body = json.dumps(flagging("big", {"==": [{"var": "number"}, "x"]}, description="y" * 300_000))
        for url in ("/api/v1/rules", "/api/v1/rules/validate", "/api/v1/rules/dry-run"):
            answer = client.post(url, content=body, headers={"Content-Type": "application/json",
                                                             "Accept-Language": "zh-CN"})
            assert answer.status_code == 413, (url, answer.text)
            assert answer.json()["error"]["code"] == "request.too_large"
