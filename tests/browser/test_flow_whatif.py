"""What-if before publishing a changed flow (issue 14): a manager lowers the amount from which the
director must approve, clicks "What if?", and reads which past orders would now reach the director,
the to-dos per assignee and what is estimated, beside the published version; nothing is published,
started or created. The page reads on a 390 px phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from backend.flows import service, service_instance
from backend.flows.models import FlowDefinitionRow, FlowInstance
from backend.flows.schemas import TaskAction
from backend.inbox.models import InboxItem
from backend.orders.models import OrderEvent
from tests.backend.flows.test_service import actor_of
from tests.browser.conftest import sign_in
from tests.browser.test_flow_designer import FlowDesignerPage
from tests.factories.orders import make_order
from tests.factories.people import make_user

KEY = "flowwhatif_director"


def definition(manager, director, warehouse):
    return {
        "key": KEY, "name": {"en": "What-if flow"},
        "nodes": [
            {"type": "start", "key": "start", "x": 80, "y": 200},
            {"type": "approval", "key": "manager", "name": {"en": "Manager check"}, "x": 240, "y": 200,
             "assignees": [{"kind": "users", "user_ids": [manager.id]}]},
            {"type": "exclusive", "key": "big", "x": 400, "y": 200},
            {"type": "approval", "key": "director", "name": {"en": "Director approval"}, "x": 560, "y": 80,
             "assignees": [{"kind": "users", "user_ids": [director.id]}]},
            {"type": "task", "key": "ship", "name": {"en": "Ship"}, "x": 720, "y": 200,
             "assignees": [{"kind": "users", "user_ids": [warehouse.id]}]},
            {"type": "end", "key": "end", "x": 880, "y": 200},
        ],
        "edges": [
            {"key": "e1", "source": "start", "target": "manager"},
            {"key": "e2", "source": "manager", "target": "big"},
            {"key": "e_big", "source": "big", "target": "director", "condition": {">=": [{"var": "amount"}, 100000]}},
            {"key": "e_small", "source": "big", "target": "ship", "is_default": True},
            {"key": "e4", "source": "director", "target": "ship"},
            {"key": "e5", "source": "ship", "target": "end"},
        ],
    }


def inbox(seed, user):
    return seed.exec(select(InboxItem).where(InboxItem.assignee_id == user.id, InboxItem.state == "open")
                     .order_by(InboxItem.id)).scalars().all()


def seed_history(seed):
    now = datetime.now(UTC)
    boss = make_user(seed, username="fwi.manager", roles=["admin", "designer"], locale="en")
    director = make_user(seed, username="fwi.director", roles=["approver"], locale="en")
    warehouse = make_user(seed, username="fwi.warehouse", roles=["warehouse"], locale="en")
    rep = make_user(seed, username="fwi.rep", roles=["sales"], locale="en")
    designer = actor_of(boss, "admin", "designer")
    service.save_draft(seed, actor=designer, key=KEY, definition=definition(boss, director, warehouse),
                       now=now - timedelta(days=20))
    service.publish_flow(seed, actor=designer, key=KEY, now=now - timedelta(days=20))
    orders = {}
    for amount, days in ((150_000, 9), (70_000, 7), (20_000, 5)):
        at = now - timedelta(days=days)
        order = make_order(seed, owner=rep, amount=amount, at=at, number=f"FWI-{amount}", stage="approval")
        instance = service_instance.start_flow(seed, order=order, actor=actor_of(rep), now=at, key=KEY)
        steps = [(boss, 2, "approve")]
        if amount >= 100_000:
            steps.append((director, 26, "approve"))
        steps.append((warehouse, 40, "complete"))
        for user, hours, action in steps:
            item = next(i for i in inbox(seed, user) if i.flow_instance_id == instance.id)
            service_instance.act_on_task(seed, actor=actor_of(user, *user_roles(user)), instance_id=instance.id,
                                         task_id=item.payload["task_id"], body=TaskAction(action=action),
                                         now=at + timedelta(hours=hours))
        orders[amount] = order
    seed.commit()
    return orders


def user_roles(user):
    return {"fwi.director": ("approver",), "fwi.warehouse": ("warehouse",)}.get(user.username, ("admin", "designer"))


def written(conn, orders):
    ids = [o.id for o in orders.values()]
    return (
        conn.execute(select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id.in_(ids))).scalar_one(),
        conn.execute(select(func.count()).select_from(InboxItem).where(InboxItem.order_id.in_(ids))).scalar_one(),
        conn.execute(select(func.count()).select_from(FlowInstance).where(FlowInstance.flow_key == KEY)).scalar_one(),
    )


def test_a_manager_sees_what_a_changed_flow_would_have_done(page: Page, base_url, seed, live_engine):
    orders = seed_history(seed)
    with live_engine.connect() as conn:
        before = written(conn, orders)

    sign_in(page, base_url, "fwi.manager")
    designer = FlowDesignerPage(page, base_url)
    designer.open(KEY)
    # directors now approve from 50,000 on: the branch's condition is edited on the canvas
    designer.select_edge("big", "director")
    designer.set("Value", "50000")
    designer.apply()
    page.get_by_label("Weeks to replay").select_option("4")
    page.get_by_role("button", name="What if? (replay last N weeks)").click()

    expect(page).to_have_url(f"{base_url}/designer/flows/{KEY}/whatif?weeks=4", timeout=60_000)
    paths = page.locator("#fwi-paths")
    expect(paths).to_contain_text("Orders whose path changes (1)")
    expect(paths).to_contain_text("Director approval: now reached by 1 orders")
    expect(paths.get_by_role("link", name="FWI-70000")).to_be_visible()
    todos = page.locator("#fwi-todos")
    expect(todos.get_by_role("row", name="named people").get_by_role("cell")).to_have_text(["7", "8"])
    durations = page.locator("#fwi-durations").get_by_role("row", name="Director approval")
    expect(durations).to_contain_text("24.0 / 24.0")
    expect(durations).to_contain_text("1 estimated")
    expect(page.locator("#fwi-estimates")).to_contain_text(
        "Director approval: no recorded decision for 1 orders; waiting estimated as 24.0 h")
    expect(page.locator("#fwi-stuck")).to_contain_text("(0)")

    # the link goes to the order
    paths.get_by_role("link", name="FWI-70000").click()
    expect(page).to_have_url(f"{base_url}/orders/{orders[70_000].id}")
    page.go_back()

    # nothing was published, started or created
    with live_engine.connect() as conn:
        versions = conn.execute(select(FlowDefinitionRow.version, FlowDefinitionRow.status)
                                .where(FlowDefinitionRow.key == KEY).order_by(FlowDefinitionRow.version)).all()
        assert [tuple(v) for v in versions] == [(1, "published"), (2, "draft")]
        assert written(conn, orders) == before

    # on a phone
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{base_url}/designer/flows/{KEY}/whatif?weeks=4")
    link = page.locator("#fwi-paths").get_by_role("link", name="FWI-70000")
    link.scroll_into_view_if_needed()
    expect(link).to_be_in_viewport()
    todos_row = page.locator("#fwi-todos").get_by_role("row", name="named people")
    todos_row.scroll_into_view_if_needed()
    expect(todos_row).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
