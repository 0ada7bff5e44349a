"""A flow's to-do reads in each reader's language: the step was named in Chinese and English by
the designer, the engine hands over both, and the inbox shows the one the reader chose."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect
from sqlalchemy import select

from backend.auth.actor import Actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.flows.schemas import TaskAction
from backend.inbox.models import InboxItem
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

FLOW = {
    "key": "bilingual_flow",
    "name": {"zh-CN": "双语流程", "en": "Bilingual flow"},
    "nodes": [
        {"type": "start", "key": "start", "stage": "draft"},
        {"type": "approval", "key": "check", "name": {"zh-CN": "财务审核", "en": "Finance check"},
         "stage": "approval", "mode": "all_of", "assignees": [{"kind": "role", "role": "finance"}]},
        {"type": "end", "key": "end", "stage": "completed"},
    ],
    "edges": [
        {"key": "e1", "source": "start", "target": "check"},
        {"key": "e2", "source": "check", "target": "end"},
    ],
}


def _start(seed, rep, number: str) -> int:
    """Publish the bilingual flow and start it on a new order of `rep`; returns the instance id."""
    designer = make_user(seed, username=f"lang.designer.{number}", roles=["designer", "admin"])
    order = make_order(seed, owner=rep, number=number, customer=make_customer(seed, name="Two Tongues"))
    seed.commit()
    now = datetime.now(UTC)
    designer_actor = Actor(user_id=designer.id, username=designer.username, display_name="D",
                           roles=frozenset({"designer", "admin"}))
    flows_service.save_draft(seed, actor=designer_actor, key=FLOW["key"], definition=FLOW, now=now)
    flows_service.publish_flow(seed, actor=designer_actor, key=FLOW["key"], now=now)
    rep_actor = Actor(user_id=rep.id, username=rep.username, display_name="Rep", roles=frozenset({"sales"}))
    read = service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=rep_actor, now=now,
                                       key=FLOW["key"])
    seed.commit()
    return read.id


class TestStepNamesInTheReadersLanguage:
    def test_english_reader_sees_english_and_chinese_reader_sees_chinese(self, browser: Browser, base_url, seed):
        make_user(seed, username="lang.en", roles=["finance"], display_name="Finance Ella", locale="en")
        make_user(seed, username="lang.zh", roles=["finance"], display_name="财务张", locale="zh_CN")
        _start(seed, make_user(seed, username="lang.rep", roles=["sales"], locale="en"), "BILANG-1")

        for username, shown, hidden in (("lang.en", "Finance check", "财务审核"),
                                        ("lang.zh", "财务审核", "Finance check")):
            ctx = browser.new_context()
            try:
                page = ctx.new_page()
                sign_in(page, base_url, username)
                page.goto(f"{base_url}/inbox")
                card = page.get_by_role("article", name=shown)
                expect(card).to_be_visible()
                expect(card).to_contain_text("BILANG-1")
                expect(page.get_by_role("heading", name=hidden)).to_have_count(0)
            finally:
                ctx.close()

    def test_the_initiator_reads_the_rejection_notice_in_their_language(self, browser: Browser, base_url, seed):
        checker = make_user(seed, username="lang.checker", roles=["finance"], locale="en")
        reps = {"en": make_user(seed, username="lang.rep.en", roles=["sales"], locale="en"),
                "zh_CN": make_user(seed, username="lang.rep.zh", roles=["sales"], locale="zh_CN")}
        checker_actor = Actor(user_id=checker.id, username=checker.username, display_name="C",
                              roles=frozenset({"finance"}))
        for locale, rep in reps.items():
            instance_id = _start(seed, rep, f"REJ-{locale}")
            item = seed.exec(select(InboxItem).where(InboxItem.assignee_id == checker.id,
                                                     InboxItem.flow_instance_id == instance_id)).scalars().one()
            service_instance.act_on_task(seed, actor=checker_actor, instance_id=instance_id,
                                         task_id=item.payload["task_id"], body=TaskAction(action="reject", note="no"),
                                         now=datetime.now(UTC))
            seed.commit()

        for username, title, body in (
                ("lang.rep.en", "Bilingual flow", "Your order was rejected. Change it and resubmit it, or withdraw it."),
                ("lang.rep.zh", "双语流程", "您的订单被驳回。请修改后重新提交，或撤回。")):
            ctx = browser.new_context()
            try:
                page = ctx.new_page()
                sign_in(page, base_url, username)
                page.goto(f"{base_url}/notifications")
                notice = page.locator("ul.notif-list li").filter(has_text=title)
                expect(notice).to_have_count(1)
                expect(notice).to_contain_text(body)
                expect(page.get_by_text("flow.rejected")).to_have_count(0)
            finally:
                ctx.close()
