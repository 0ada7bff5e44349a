"""Rule message templates in the reader's language (issue 17): the customer's language for customer
mail (through a real SMTP server), each staff member's for to-dos; money formatted per locale; an
unknown variable refused when saving, named in the user's language with the closest known name; a
value missing on one order rendered empty and recorded; the manager's manager as an assignee."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend import i18n
from backend.errors import GendanError
from backend.inbox.models import InboxItem
from backend.localized import read_title
from backend.notify import delivery
from backend.rules import definitions, tasks
from backend.rules.models import RuleFiring
from backend.settings import Settings
from tests.backend.notify.servers import SmtpServer, free_port
from tests.backend.rules.test_service import publish_and_enable, waiting_order
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user


def time_rule(key: str, actions: list[dict], condition: dict | None = None) -> dict:
    return {
        "key": key, "name": {"zh": "模板测试", "en": "Template test"}, "trigger": {"kind": "time"},
        "condition": condition or {"and": [{"==": [{"var": "stage"}, "approval"]},
                                           {">": [{"var": "hours_in_stage"}, 24]}]},
        "actions": actions, "firing": {"mode": "once_per_episode"},
    }


PAYMENT_MAIL = {
    "type": "message_customer", "channel": "email",
    "subject_template": {"zh": "订单 {{ order.number }} 付款提醒", "en": "Payment reminder {{ order.number }}"},
    "body_template": {"zh": "尊敬的{{ order.customer_name }}：应付 {{ order.amount | money }}",
                      "en": "Dear {{ order.customer_name }}, {{ order.amount | money }} is due"},
}


@pytest.fixture
def smtp():
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


class TestCustomerMail:
    def test_an_english_customer_gets_the_english_mail_and_a_chinese_one_the_chinese(
            self, session, connection, org, now, smtp):
        english = make_customer(session, name="TPL-Acme Ltd", email="tpl-en@example.com", preferred_locale="en")
        chinese = make_customer(session, name="TPL-华东贸易", email="tpl-zh@example.com", preferred_locale="zh_CN")
        en_order = make_order(session, owner=org["rep"], customer=english, stage="approval", amount="6000",
                              at=now - timedelta(hours=30))
        zh_order = make_order(session, owner=org["rep"], customer=chinese, stage="approval", amount="6000",
                              at=now - timedelta(hours=30))
        publish_and_enable(session, org["admin"], time_rule("tpl_mail", [PAYMENT_MAIL]), now, confirm=True)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 2

        settings = Settings(DATABASE_URL="sqlite://", smtp_host="127.0.0.1", smtp_port=smtp.port,
                            smtp_from="gendan@example.com")
        assert delivery.deliver_outbox(connection, now, settings=settings) == 2
        mails = {rcpt[0]: mail for rcpt, mail in smtp.messages}
        en_mail, zh_mail = mails["tpl-en@example.com"], mails["tpl-zh@example.com"]
        assert en_mail["Subject"] == f"Payment reminder {en_order.number}"
        assert "Dear TPL-Acme Ltd, 6,000.00 CNY is due" in en_mail.get_body(("plain",)).get_content()
        assert zh_mail["Subject"] == f"订单 {zh_order.number} 付款提醒"
        assert "尊敬的TPL-华东贸易：应付 ¥6,000.00" in zh_mail.get_body(("plain",)).get_content()

    def test_a_customer_whose_language_has_no_text_gets_the_other(self, session, connection, org, now):
        english = make_customer(session, email="tpl-only@example.com", preferred_locale="en")
        make_order(session, owner=org["rep"], customer=english, stage="approval", at=now - timedelta(hours=30))
        only_chinese = {**PAYMENT_MAIL, "subject_template": {"zh": "仅中文 {{ order.stage_label }}", "en": ""}}
        publish_and_enable(session, org["admin"], time_rule("tpl_fallback", [only_chinese]), now, confirm=True)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        from backend.notify.models import OutboxMessage

        row = session.exec(select(OutboxMessage).where(OutboxMessage.recipient == "tpl-only@example.com")).scalar_one()
        assert row.subject == "仅中文 审批"  # written in Chinese: rendered in Chinese, stage label too


class TestStaffTexts:
    def test_each_reader_gets_the_to_do_in_their_language(self, session, connection, org, now):
        org["approver"].locale, org["boss"].locale = "zh_CN", "en"
        order = waiting_order(session, org, now, 30)
        todo = {
            "type": "create_todo", "assignee": {"kind": "current_approver"}, "cc": [{"kind": "current_approver_manager"}],
            "title_template": {"zh": "请审批 {{ order.number }}（{{ order.stage_label }}）",
                               "en": "Approve {{ order.number }} ({{ order.stage_label }})"},
            "body_template": {"zh": "金额 {{ order.amount | money }}，负责人 {{ order.owner_name }}",
                              "en": "Amount {{ order.amount | money }}, owner {{ order.owner_name }}"},
        }
        publish_and_enable(session, org["admin"], time_rule("tpl_todo", [todo]), now, confirm=True)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        items = {i.assignee_id: i for i in session.exec(select(InboxItem).where(
            InboxItem.order_id == order.id, InboxItem.source == "rule")).scalars()}
        mine, boss = items[org["approver"].id], items[org["boss"].id]
        assert read_title(mine.title, mine.title_i18n, "zh_CN") == f"请审批 {order.number}（审批）"
        assert mine.body == "金额 ¥1,000.00，负责人 Rep"
        assert read_title(boss.title, boss.title_i18n, "en") == f"Approve {order.number} (Approval)"
        assert boss.body == "Amount 1,000.00 CNY, owner Rep"

    def test_a_value_missing_on_the_order_renders_empty_and_is_recorded(self, session, connection, org, now):
        order = waiting_order(session, org, now, 30)
        todo = {"type": "create_todo", "assignee": {"kind": "current_approver"},
                "title_template": {"en": "Link: [{{ order.tracking_link }}] {{ order.number }}"}}
        publish_and_enable(session, org["admin"], time_rule("tpl_missing", [todo]), now, confirm=True)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        item = session.exec(select(InboxItem).where(InboxItem.order_id == order.id,
                                                    InboxItem.source == "rule")).scalar_one()
        assert item.title == f"Link: [] {order.number}"  # no active tracking link: empty, not "None"
        firing = session.exec(select(RuleFiring).where(RuleFiring.rule_key == "tpl_missing")).scalar_one()
        assert firing.problems == [{"code": "rule.template_missing_value",
                                    "params": {"action": 0, "names": "order.tracking_link"}}]


class TestSavingRefusesUnknownVariables:
    @pytest.mark.parametrize("locale, expected", [
        ("en", "The template uses “order.customer_nme”, which is not a known variable. "
               "Did you mean “order.customer_name”?"),
        ("zh_CN", "模板使用了“order.customer_nme”，这不是可用的变量。您是想用“order.customer_name”吗？"),
    ])
    def test_the_message_names_the_variable_and_the_closest_one(self, session, org, now, locale, expected):
        todo = {"type": "create_todo", "assignee": {"kind": "owner"},
                "title_template": {"zh": "好", "en": "Hello {{ order.customer_nme }}"}}
        token = i18n.set_locale(locale)
        try:
            with pytest.raises(GendanError) as caught:
                definitions.save_draft(session, actor=org["admin"], definition=time_rule("tpl_bad", [todo]), now=now)
            error = caught.value
            assert error.code == "rule.template_invalid" and error.status == 422
            assert list(error.fields) == ["actions.0.title_template.en"]
            assert i18n.translate_error(*error.fields["actions.0.title_template.en"]) == expected
            assert expected in i18n.translate_error(error.code, error.params)
        finally:
            i18n.reset_locale(token)

    def test_over_http_in_the_users_language_never_a_jinja_message(self, client, session):
        make_user(session, username="tpl_admin", roles=("admin", "designer"), locale="zh_CN")
        session.commit()
        login(client, "tpl_admin")
        todo = {"type": "create_todo", "assignee": {"kind": "owner"}, "title_template": "{{ customer_name }}"}
        response = client.post("/api/v1/rules", json=time_rule("tpl_http", [todo]))
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "rule.template_invalid"
        assert "“customer_name”" in error["message"] and "“customer.name”" in error["message"]
        assert "dict object" not in response.text and "undefined" not in response.text
        # a legacy single text (no Chinese in it) is the English version: the path says so
        assert list(error["fields"]) == ["actions.0.title_template.en"]


class TestManagersManager:
    def test_the_head_above_the_owners_manager_gets_it(self, session, connection, now):
        director = make_user(session, display_name="Director")
        top = make_department(session, name="TPL-Sales", head=director)
        manager = make_user(session, display_name="Manager", department=top)
        team = make_department(session, name="TPL-Team East", parent=top, head=manager)
        rep = make_user(session, display_name="TPL-Rep", department=team)
        admin = make_user(session, roles=("admin", "designer"))
        from tests.backend.rules.test_service import actor_of

        order = make_order(session, owner=rep, stage="approval", at=now - timedelta(hours=30))
        todo = {"type": "create_todo", "assignee": {"kind": "owner_manager_manager"}, "title_template": "Look"}
        publish_and_enable(session, actor_of(admin, "admin", "designer"), time_rule("tpl_mm", [todo]), now, confirm=True)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        item = session.exec(select(InboxItem).where(InboxItem.order_id == order.id,
                                                    InboxItem.source == "rule")).scalar_one()
        assert item.assignee_id == director.id

    def test_without_one_it_falls_back_to_the_manager_and_says_so(self, session, connection, now):
        manager = make_user(session, display_name="Manager")
        team = make_department(session, name="TPL-Lonely", head=manager)
        rep = make_user(session, department=team)
        admin = make_user(session, roles=("admin", "designer"))
        from tests.backend.rules.test_service import actor_of

        order = make_order(session, owner=rep, stage="approval", at=now - timedelta(hours=30))
        todo = {"type": "create_todo", "assignee": {"kind": "owner_manager_manager"}, "title_template": "Look"}
        publish_and_enable(session, actor_of(admin, "admin", "designer"), time_rule("tpl_mm_fb", [todo]), now, confirm=True)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        item = session.exec(select(InboxItem).where(InboxItem.order_id == order.id,
                                                    InboxItem.source == "rule")).scalar_one()
        assert item.assignee_id == manager.id
        firing = session.exec(select(RuleFiring).where(RuleFiring.rule_key == "tpl_mm_fb")).scalar_one()
        assert firing.problems == [{"code": "rule.assignee_fallback",
                                    "params": {"action": 0, "assignee": "owner_manager_manager", "to": "owner_manager"}}]

    def test_a_copy_to_that_names_nobody_is_a_note_on_the_firing_in_the_readers_language(self, session, connection,
                                                                                          now):
        from backend.auth.service import load_actor
        from backend.rules import history

        rep = make_user(session)  # in no department: the owner has no manager to copy
        admin = make_user(session, roles=("admin", "designer"))
        from tests.backend.rules.test_service import actor_of

        order = make_order(session, owner=rep, stage="approval", at=now - timedelta(hours=30))
        todo = {"type": "create_todo", "assignee": {"kind": "user", "user_id": admin.id}, "title_template": "Look",
                "cc": [{"kind": "owner_manager"}]}
        publish_and_enable(session, actor_of(admin, "admin", "designer"), time_rule("tpl_cc_none", [todo]), now,
                           confirm=True)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1  # it fires: the to-do still goes to its assignee
        item = session.exec(select(InboxItem).where(InboxItem.order_id == order.id,
                                                    InboxItem.source == "rule")).scalar_one()
        assert item.assignee_id == admin.id
        firing = session.exec(select(RuleFiring).where(RuleFiring.rule_key == "tpl_cc_none")).scalar_one()
        assert firing.problems == [{"code": "rule.cc_unresolved", "params": {"action": 0, "assignee": "owner_manager"}}]
        for locale, words in (("zh_CN", "抄送人：没有人可通知"), ("en", "for this order: nobody to tell.")):
            token = i18n.set_locale(locale)
            try:
                shown = history.list_firings(session, actor=load_actor(session, admin.id), key="tpl_cc_none")
            finally:
                i18n.reset_locale(token)
            assert len(shown[0].problem_words) == 1 and words in shown[0].problem_words[0]
            assert "owner_manager" not in shown[0].problem_words[0]  # the kind as the designer names it

    def test_a_department_loop_ends_the_walk(self, session, connection, now):
        a_head = make_user(session)
        a = make_department(session, name="TPL-A", head=a_head)
        b = make_department(session, name="TPL-B", parent=a, head=None)
        a.parent_id = b.id  # a loop the database does not forbid
        rep = make_user(session, department=b)
        admin = make_user(session, roles=("admin", "designer"))
        from tests.backend.rules.test_service import actor_of

        order = make_order(session, owner=rep, stage="approval", at=now - timedelta(hours=30))
        todo = {"type": "create_todo", "assignee": {"kind": "owner_manager_manager"}, "title_template": "Look"}
        publish_and_enable(session, actor_of(admin, "admin", "designer"), time_rule("tpl_mm_loop", [todo]), now, confirm=True)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        item = session.exec(select(InboxItem).where(InboxItem.order_id == order.id,
                                                    InboxItem.source == "rule")).scalar_one()
        assert item.assignee_id == a_head.id  # the manager; above them the walk comes back round
