"""Issue 17: the flow designer overflowed a 360 px phone by 141 px; the order page shrank a long
flow picture to the page width, so its labels were unreadably small. Now the designer fits (its
palette folds away) and the picture keeps its size and scrolls sideways inside its own box."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from backend.auth.actor import Actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user

STEPS = ["Sales manager approval", "Director approval", "Technical confirmation", "Production order",
         "Production progress", "Shipping", "Customer sign-off", "Invoicing", "Payment confirmed"]


def long_flow(key: str) -> dict:
    nodes = [{"type": "start", "key": "start"},
             {"type": "approval", "key": "s0", "name": {"en": STEPS[0], "zh-CN": "销售经理审批"},
              "assignees": [{"kind": "manager_chain", "levels": 1}]}]
    nodes += [{"type": "task", "key": f"s{i}", "name": {"en": name, "zh-CN": f"步骤{i}"},
               "assignees": [{"kind": "role", "role": "warehouse"}]} for i, name in enumerate(STEPS) if i]
    nodes.append({"type": "end", "key": "end"})
    for i, n in enumerate(nodes):  # where the designer's canvas left them: one row
        n.update(x=100 + 170 * i, y=100)
    keys = [n["key"] for n in nodes]
    edges = [{"key": f"e{i}", "source": a, "target": b} for i, (a, b) in enumerate(zip(keys, keys[1:], strict=False))]
    return {"key": key, "name": {"en": "FRM long flow", "zh-CN": "FRM 长流程"}, "nodes": nodes, "edges": edges}


def designer_actor(seed, username: str):
    user = make_user(seed, username=username, roles=["designer", "admin"], locale="en")
    seed.commit()
    return user, Actor(user_id=user.id, username=user.username, display_name="D", roles=frozenset({"designer", "admin"}))


def test_the_flow_designer_fits_a_phone(page: Page, base_url, seed):
    user, actor = designer_actor(seed, "frm.flowphone")
    flows_service.install_template(seed, actor=actor, key="frm_phone", template="b2b_fulfilment",
                                   now=datetime.now(UTC))
    sign_in(page, base_url, user.username)
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{base_url}/designer/flows/frm_phone")
    expect(page.locator("#fd-canvas svg").first).to_be_attached()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    palette = page.locator("#fd-palette-box")
    expect(palette.get_by_role("button", name="Approval")).to_be_hidden()  # folded on a phone
    palette.locator("summary").click()
    expect(palette.get_by_role("button", name="Approval")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_the_order_flow_picture_keeps_readable_labels_and_scrolls(page: Page, base_url, seed):
    manager = make_user(seed, username="frm.pic.mgr", roles=["sales", "approver"], locale="en")
    rep = make_user(seed, username="frm.pic.rep", roles=["sales"], locale="en",
                    department=make_department(seed, name="FRM pic sales", head=manager))
    order = make_order(seed, owner=rep, number="FRM-PIC-1", customer=make_customer(seed, name="FRM Pic Co"))
    _, actor = designer_actor(seed, "frm.pic.designer")
    now = datetime.now(UTC)
    flows_service.save_draft(seed, actor=actor, key="frm_long", definition=long_flow("frm_long"), now=now)
    flows_service.publish_flow(seed, actor=actor, key="frm_long", now=now)
    rep_actor = Actor(user_id=rep.id, username=rep.username, display_name="R", roles=frozenset({"sales"}),
                      department_id=rep.department_id)
    service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=rep_actor, now=now, key="frm_long")
    seed.commit()
    sign_in(page, base_url, rep.username)
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{base_url}/orders/{order.id}")
        box = page.locator(".flow-picture-box")
        expect(box.locator('[aria-current="step"]')).to_be_attached()
        label = box.locator(".flow-node text").nth(1)
        assert label.bounding_box()["height"] >= 12  # drawn at 13 px, not scaled down
        assert box.evaluate("b => b.scrollWidth > b.clientWidth")  # the long flow scrolls in its box
        assert page.evaluate("document.documentElement.scrollWidth") <= width
