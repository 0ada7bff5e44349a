"""The flow designer in a real browser: draw a flow by dragging, publish, run two orders.

start -> approval (sales manager) -> exclusive branch (amount >= 100,000 -> director approval)
-> task "ship" -> end; each approver signs in and acts; the highlighted node moves.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from backend.flows import service_instance
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user

FLOW_KEY = "browser_flow"


class FlowDesignerPage:
    """Page object: the palette, the canvas and the properties panel."""

    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url

    def open(self, key: str) -> None:
        self.page.set_viewport_size({"width": 1440, "height": 1100})
        self.page.goto(f"{self.base_url}/designer/flows/{key}")
        expect(self.page.get_by_role("application", name="Flow canvas")).to_be_visible()

    @property
    def canvas(self):
        return self.page.get_by_role("application", name="Flow canvas")

    def canvas_point(self, x: float, y: float) -> tuple[float, float]:
        box = self.canvas.bounding_box()
        return box["x"] + x, box["y"] + y

    def drag_from_palette(self, label: str, x: float, y: float) -> str:
        """Drag a node type onto the canvas at (x, y); returns the new node's key."""
        before = set(self.node_keys())
        item = self.page.get_by_role("complementary", name="Node types").get_by_role("button", name=label, exact=True)
        src = item.bounding_box()
        mouse = self.page.mouse
        mouse.move(src["x"] + src["width"] / 2, src["y"] + src["height"] / 2)
        mouse.down()
        tx, ty = self.canvas_point(x, y)
        mouse.move(tx - 30, ty - 10, steps=5)
        mouse.move(tx, ty, steps=5)
        mouse.up()
        self.page.wait_for_function(f"() => window.gendanFlowDesigner.lf.getGraphData().nodes.length > {len(before)}")
        (new,) = set(self.node_keys()) - before
        return new

    def node_keys(self) -> list[str]:
        return self.page.evaluate("window.gendanFlowDesigner.lf.getGraphData().nodes.map(n => n.id)")

    def node_centre(self, key: str) -> tuple[float, float]:
        x, y = self.page.evaluate(
            "k => { const m = window.gendanFlowDesigner.lf.getNodeModelById(k);"
            " const p = window.gendanFlowDesigner.lf.graphModel.transformModel.CanvasPointToHtmlPoint([m.x, m.y]);"
            " return p; }", key)
        return self.canvas_point(x, y)

    def connect(self, source: str, target: str) -> None:
        """Drag from the source node's right anchor onto the target node."""
        before = self.page.evaluate("window.gendanFlowDesigner.lf.getGraphData().edges.length")
        sx, sy = self.node_centre(source)
        width = self.page.evaluate("k => window.gendanFlowDesigner.lf.getNodeModelById(k).width", source)
        scale = self.page.evaluate("window.gendanFlowDesigner.lf.graphModel.transformModel.SCALE_X")
        ax = sx + width * scale / 2
        tx, ty = self.node_centre(target)
        mouse = self.page.mouse
        mouse.move(*self.canvas_point(5, 5))  # leave the last node, so entering the source shows its anchors
        mouse.move(sx, sy, steps=3)
        self.page.wait_for_timeout(250)  # anchors show while the node is hovered
        mouse.move(ax, sy, steps=3)
        self.page.wait_for_timeout(100)
        mouse.down()
        mouse.move(ax + 30, sy + 5, steps=8)
        mouse.move((ax + tx) / 2, (sy + ty) / 2, steps=8)
        mouse.move(tx, ty, steps=8)
        mouse.up()
        self.page.wait_for_function(f"() => window.gendanFlowDesigner.lf.getGraphData().edges.length > {before}")

    def select_node(self, key: str) -> None:
        x, y = self.node_centre(key)
        self.page.mouse.click(x, y)
        expect(self.props.get_by_role("heading", name=key)).to_be_visible()

    def select_edge(self, source: str, target: str) -> str:
        key = self.page.evaluate(
            "([s, t]) => window.gendanFlowDesigner.lf.getGraphData().edges"
            ".find(e => e.sourceNodeId === s && e.targetNodeId === t).id", [source, target])
        self.page.evaluate("k => { const lf = window.gendanFlowDesigner.lf;"
                           " lf.graphModel.eventCenter.emit('edge:click', {data: lf.getEdgeModelById(k).getData()}); }",
                           key)
        expect(self.props.get_by_role("heading", name=f"→ {key}")).to_be_visible()
        return key

    @property
    def props(self):
        return self.page.get_by_role("complementary", name="Properties")

    def set(self, label: str, value: str) -> None:
        field = self.props.get_by_label(label, exact=True)
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)

    def apply(self) -> None:
        self.props.get_by_role("button", name="Apply").click()

    def click(self, name: str) -> None:
        self.page.get_by_role("toolbar", name="Canvas tools").get_by_role("button", name=name, exact=True).click()


class OrderFlowPage:
    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url

    def open(self, order_id: int) -> None:
        self.page.goto(f"{self.base_url}/orders/{order_id}/flow")

    def active(self):
        return self.page.locator("g.flow-node[aria-current=step]")

    def expect_active(self, key: str) -> None:
        expect(self.active()).to_have_count(1)
        expect(self.active()).to_have_attribute("data-node-key", key)


def test_draw_publish_and_run_two_orders(page: Page, base_url, seed):
    make_user(seed, username="fd.designer", roles=["designer", "admin"], locale="en")
    manager = make_user(seed, username="fd.manager", roles=["sales"], locale="en", display_name="FD Manager")
    sales = make_department(seed, name="FD Sales", head=manager)
    rep = make_user(seed, username="fd.rep", roles=["sales"], department=sales, locale="en")
    make_user(seed, username="fd.director", roles=["approver"], locale="en", display_name="FD Director")
    shipper = make_user(seed, username="fd.shipper", roles=["warehouse"], locale="en")
    seed.commit()

    sign_in(page, base_url, "fd.designer")
    designer = FlowDesignerPage(page, base_url)
    designer.open(FLOW_KEY)
    start = designer.drag_from_palette("Start", 40, 220)
    manager_node = designer.drag_from_palette("Approval", 160, 220)
    branch = designer.drag_from_palette("Exclusive branch", 300, 220)
    director = designer.drag_from_palette("Approval", 430, 90)
    ship = designer.drag_from_palette("Task", 560, 220)
    end = designer.drag_from_palette("End", 690, 220)
    assert len(designer.node_keys()) == 6

    # an end with nothing leading to it, an unreachable director: the check names them
    designer.click("Check")
    expect(page.locator("#fd-issues li.issue").first).to_be_visible()
    assert page.locator(f"#fd-issues li.issue[data-nodes~='{end}']").count() >= 1

    for a, b in ((start, manager_node), (manager_node, branch), (branch, director), (branch, ship),
                 (director, ship), (ship, end)):
        designer.connect(a, b)

    designer.select_node(manager_node)
    designer.set("Name", "Sales manager approval")
    designer.set("Handled by", "manager_chain")
    designer.set("Handled by …", "1")
    designer.apply()

    designer.select_node(director)
    designer.set("Name", "Director approval")
    designer.set("Handled by", "role")
    designer.set("Handled by …", "approver")
    designer.apply()

    designer.select_node(ship)
    designer.set("Name", "Ship")
    designer.set("Handled by", "role")
    designer.set("Handled by …", "warehouse")
    designer.set("Fields required to complete", "data.tracking_no")
    designer.apply()

    designer.select_edge(branch, director)
    designer.set("Condition: field", "amount")
    designer.set("Operator", ">=")
    designer.set("Value", "100000")
    designer.apply()
    designer.select_edge(branch, ship)
    designer.props.get_by_label("Default path").check()
    designer.apply()

    designer.click("Check")
    expect(page.locator("#fd-issues li.ok")).to_be_visible()
    designer.click("Publish")
    expect(page.locator("#fd-status")).to_contain_text("Published version 1")

    # simulation: a big test order goes through the director, whose name is shown
    page.get_by_label("Test order fields (JSON)").fill(json.dumps({"amount": 150000, "owner_id": rep.id}))
    page.get_by_role("button", name="Run simulation").click()
    result = page.locator("#fd-sim-result")
    expect(result.locator(f"li[data-node='{director}']")).to_contain_text("FD Director")
    expect(result.locator(f"li[data-node='{manager_node}']")).to_contain_text("FD Manager")
    expect(result.locator(".sim-status")).to_have_attribute("data-status", "completed")

    # two orders start the published flow
    small = make_order(seed, owner=rep, customer=make_customer(seed), amount="50000", number="FD-SMALL")
    big = make_order(seed, owner=rep, customer=make_customer(seed), amount="150000", number="FD-BIG")
    now = datetime.now(UTC)
    for order in (small, big):
        assert service_instance.start_flow(seed, order=order, actor=None, now=now, key=FLOW_KEY) is not None
    seed.commit()

    flow = OrderFlowPage(page, base_url)
    sign_in(page, base_url, "fd.manager")
    for order in (small, big):
        flow.open(order.id)
        flow.expect_active(manager_node)
        page.get_by_role("form", name="Sales manager approval").get_by_role("button", name="Approve").click()
    flow.open(small.id)
    flow.expect_active(ship)
    flow.open(big.id)
    flow.expect_active(director)

    sign_in(page, base_url, "fd.director")
    flow.open(big.id)
    page.get_by_role("form", name="Director approval").get_by_role("button", name="Approve").click()
    flow.expect_active(ship)
    # the order page itself loads the same picture into its flow panel
    page.goto(f"{base_url}/orders/{big.id}")
    panel = page.locator("#orders-flow-panel")
    expect(panel.locator("g.flow-node[aria-current=step]")).to_have_attribute("data-node-key", ship)
    expect(panel.locator(".flow-history")).to_contain_text("FD Director")

    sign_in(page, base_url, shipper.username)
    for order, number in ((small, "SF-1"), (big, "SF-2")):
        flow.open(order.id)
        form = page.get_by_role("form", name="Ship")
        form.get_by_label("tracking_no").fill(number)
        form.get_by_role("button", name="Complete").click()
        expect(page.locator(".flow-status")).to_have_attribute("data-status", "completed")
        expect(flow.active()).to_have_count(0)
        expect(page.locator(f"g.flow-node[data-node-key='{end}']")).to_have_attribute("data-state", "done")
    expect(page.locator("g.flow-edge[data-edge-key] >> nth=0")).to_be_attached()
    taken = page.locator("g.flow-edge.flow-taken")
    expect(taken).to_have_count(5)  # the big order went through the director


def test_move_running_orders_to_a_new_version(page: Page, base_url, seed):
    from backend.auth.actor import Actor
    from backend.flows import service
    from backend.flows.models import FlowInstance

    admin = make_user(seed, username="mig.admin", roles=["designer", "admin"], locale="en")
    approver = make_user(seed, username="mig.approver", roles=["approver"], locale="en")
    rep = make_user(seed, username="mig.rep", roles=["sales"], locale="en")
    seed.commit()
    actor = Actor(user_id=admin.id, username=admin.username, display_name=admin.display_name,
                  roles=frozenset({"admin", "designer"}))

    def flow(step_key):
        return {"nodes": [{"type": "start", "key": "start"},
                          {"type": "approval", "key": step_key, "assignees": [{"kind": "users", "user_ids": [approver.id]}]},
                          {"type": "end", "key": "end"}],
                "edges": [{"key": "e1", "source": "start", "target": step_key},
                          {"key": "e2", "source": step_key, "target": "end"}]}

    now = datetime.now(UTC)
    service.save_draft(seed, actor=actor, key="mig_flow", definition=flow("check"), now=now)
    service.publish_flow(seed, actor=actor, key="mig_flow", now=now)
    order = make_order(seed, owner=rep, customer=make_customer(seed), number="MIG-1")
    instance = service_instance.start_flow(seed, order=order, actor=None, now=now, key="mig_flow")
    service.save_draft(seed, actor=actor, key="mig_flow", definition=flow("review"), now=now)
    service.publish_flow(seed, actor=actor, key="mig_flow", now=now)
    seed.commit()

    sign_in(page, base_url, "mig.admin")
    page.goto(f"{base_url}/designer/flows/mig_flow")
    section = page.get_by_role("region", name="Move running orders")
    section.get_by_label("Target version").fill("2")
    section.get_by_role("button", name="Preview").click()
    expect(section.locator("#fd-mig-result")).to_contain_text("0 can move, 1 cannot.")
    section.get_by_label("Step mapping (JSON: old step → new step)").fill('{"check": "review"}')
    section.get_by_role("button", name="Preview").click()
    expect(section.locator("#fd-mig-result")).to_contain_text("check → review")
    page.once("dialog", lambda dialog: dialog.accept())
    section.get_by_role("button", name="Move the orders that can move").click()
    expect(section.locator("#fd-mig-result")).to_contain_text("Moved: 1.")
    sign_in(page, base_url, "mig.approver")
    OrderFlowPage(page, base_url).open(order.id)
    OrderFlowPage(page, base_url).expect_active("review")
    expect(page.locator(".flow-history")).to_contain_text("Moved to a new flow version")
    page.goto("about:blank")  # nothing of the app's left open while the test reads the database
    seed.expire_all()
    assert seed.get(FlowInstance, instance.id).flow_version == 2
    seed.rollback()  # end the read: SQLite transactions take the write lock (BEGIN IMMEDIATE)


def test_import_bpmn_and_export_json(page: Page, base_url, seed, tmp_path):
    from engine.flows.bpmn import to_bpmn
    from engine.flows.definition import load_template

    make_user(seed, username="io.designer", roles=["designer", "admin"], locale="en")
    seed.commit()
    bpmn = tmp_path / "b2b.bpmn"
    bpmn.write_text(to_bpmn(load_template("b2b_fulfilment")), encoding="utf-8")
    sign_in(page, base_url, "io.designer")
    designer = FlowDesignerPage(page, base_url)
    designer.open("io_flow")
    page.get_by_label("Import JSON / BPMN").set_input_files(str(bpmn))
    expect(page.locator("#fd-issues li.ok")).to_be_visible()
    assert len(designer.node_keys()) == 12
    with page.expect_download() as download:
        designer.click("Export JSON")
    exported = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert exported["key"] == "io_flow"
    assert [n["key"] for n in exported["nodes"]] == [n.key for n in load_template("b2b_fulfilment").nodes]
    assert all("width" not in n and "r" not in n for n in exported["nodes"])  # canvas-only sizes stripped


class AnyLanguageDesignerPage(FlowDesignerPage):
    """The same page object, finding the canvas and the panel by id (their names are translated)."""

    @property
    def canvas(self):
        return self.page.locator("#fd-canvas")

    @property
    def props(self):
        return self.page.locator("#fd-props")


class TestRefusedSave:
    """A save the server refuses says why in the designer's language and loses nothing."""

    CASES = [
        ("zh_CN", "流程有 1 个问题，已在画布上标出。"),
        ("en", "The flow has 1 problem(s); they are marked on the canvas."),
    ]

    def _refused_save(self, page: Page, base_url, seed, locale: str, message: str) -> None:
        make_user(seed, username=f"refused.{locale}", roles=["designer"], locale=locale)
        seed.commit()
        sign_in(page, base_url, f"refused.{locale}")
        designer = AnyLanguageDesignerPage(page, base_url)
        page.set_viewport_size({"width": 1440, "height": 1100})
        page.goto(f"{base_url}/designer/flows/refused_{locale}")
        page.locator("[data-cmd=template]").click()
        page.wait_for_function("() => window.gendanFlowDesigner.lf.getGraphData().nodes.length > 5")
        designer.select_node("manager_approval")
        # a time limit of more than a year: the engine's definition refuses it, the server says so
        page.locator("#fd-props input[name=time_limit_hours]").fill("99999")
        page.locator("#fd-props button[type=submit]").click()
        page.locator("[data-cmd=save]").click()

        toast = page.locator("#toast .toast-msg")
        expect(toast).to_have_text(message + "×")
        expect(toast.get_by_role("button")).to_be_visible()
        # nothing lost: the canvas still holds the typed value, and the node is marked
        hours = page.evaluate("window.gendanFlowDesigner.toDefinition().nodes"
                              ".find(n => n.key === 'manager_approval').time_limit.hours")
        assert hours == 99999
        expect(page.locator("#fd-issues li.issue")).to_have_count(1)
        designer.select_node("manager_approval")
        expect(page.locator("#fd-props input[name=time_limit_hours]")).to_have_value("99999")
        toast.get_by_role("button").click()
        expect(toast).to_have_count(0)

    def test_chinese_designer_reads_the_refusal_in_chinese(self, page: Page, base_url, seed):
        self._refused_save(page, base_url, seed, *self.CASES[0])

    def test_english_designer_reads_the_refusal_in_english(self, page: Page, base_url, seed):
        self._refused_save(page, base_url, seed, *self.CASES[1])


def test_a_node_is_set_to_climb_the_chain_on_time_out(page: Page, base_url, seed):
    make_user(seed, username="ladder.designer", roles=["designer"], locale="en")
    seed.commit()
    sign_in(page, base_url, "ladder.designer")
    designer = FlowDesignerPage(page, base_url)
    designer.open("ladder_flow")
    designer.click("Start from B2B template")
    page.wait_for_function("() => window.gendanFlowDesigner.lf.getGraphData().nodes.length > 5")
    designer.select_node("manager_approval")
    designer.set("Time limit (hours)", "4")
    designer.set("On time-out", "climb")
    designer.set("Managers up (escalate or climb)", "2")
    designer.apply()
    designer.click("Save draft")
    expect(page.locator("#fd-status")).to_contain_text("Draft saved.")
    page.reload()
    expect(designer.canvas).to_be_visible()
    designer.select_node("manager_approval")
    expect(designer.props.get_by_label("On time-out", exact=True)).to_have_value("climb")
    expect(designer.props.get_by_label("Managers up (escalate or climb)", exact=True)).to_have_value("2")
