"""Walkthrough as an approver on a phone: bulk approval.

Found on the demo data: after "Approve selected" the message said "2 approvals approved" but both
cards stayed open, ticked, with their Approve buttons (the list's refresh waits while focus is in
one of its forms, and the bulk button is in one).
"""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from backend.auth.actor import Actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.orders.models import Order
from tests.browser.test_walkthrough_order_page import FLOW
from tests.browser.test_walkthrough_phone import phone_page
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user


def test_bulk_approve_closes_the_approved_cards(browser: Browser, base_url, seed):
    manager = make_user(seed, username="walk.bulk.mgr", roles=["sales", "approver"], display_name="Bulk Manager",
                        locale="zh_CN")
    dept = make_department(seed, name="Walk bulk sales", head=manager)
    rep = make_user(seed, username="walk.bulk.rep", roles=["sales"], department=dept)
    designer = make_user(seed, username="walk.bulk.designer", roles=["designer", "admin"])
    orders = [make_order(seed, owner=rep, number=f"BULK-{n}", customer=make_customer(seed, name=f"Bulk Co {n}"))
              for n in (1, 2)]
    seed.commit()
    now = datetime.now(UTC)
    designer_actor = Actor(user_id=designer.id, username=designer.username, display_name="D",
                           roles=frozenset({"designer", "admin"}))
    flows_service.save_draft(seed, actor=designer_actor, key="walk_bulk", definition={**FLOW, "key": "walk_bulk"},
                             now=now)
    flows_service.publish_flow(seed, actor=designer_actor, key="walk_bulk", now=now)
    rep_actor = Actor(user_id=rep.id, username=rep.username, display_name="Rep", roles=frozenset({"sales"}),
                      department_id=dept.id)
    for order in orders:
        service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=rep_actor, now=now, key="walk_bulk")
    seed.commit()

    with phone_page(browser, base_url, "walk.bulk.mgr") as page:
        page.goto(f"{base_url}/inbox")
        cards = [page.locator("article.inbox-item", has_text=o.number) for o in orders]
        for card in cards:
            card.get_by_role("checkbox").check()
        page.get_by_role("button", name="批量同意所选").click()
        expect(page.get_by_role("status").filter(has_text="已同意 2 个审批")).to_be_visible()
        for card in cards:
            expect(card).to_have_attribute("data-state", "done")
            expect(card.get_by_role("button", name="同意")).to_have_count(0)
            expect(card.get_by_role("checkbox")).to_have_count(0)
            expect(card).to_contain_text("Bulk Manager")
