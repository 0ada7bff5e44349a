"""The rule designer's pickers, scope, action editors and preview in a real browser (issue 6):
an admin builds a rule by clicking only (users and roles from pickers, a designed option field, a
date, the scope), previews the messages on an order, saves, reloads and finds everything kept."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.auth.actor import Actor
from backend.flows import service as flows_service
from backend.forms.models import FormDefinitionRow
from backend.rules.models import RuleDefinitionRow
from tests.browser.conftest import sign_in
from tests.factories.orders import make_order
from tests.factories.people import make_user

FORM = {"key": "rd_form", "name": {"en": "Export order", "zh-CN": "出口订单"}, "fields": [
    {"key": "rd_incoterm", "type": "single_select", "label": {"en": "RD incoterm", "zh-CN": "贸易条款"},
     "options": [{"value": "FOB"}, {"value": "CIF"}]},
]}


def _publish_form_and_flow(seed, admin, now):
    """The published form and flow the scope and the start-flow picker offer."""
    if seed.exec(select(FormDefinitionRow).where(FormDefinitionRow.key == "rd_form")).first() is None:
        seed.add(FormDefinitionRow(key="rd_form", version=1, status="published", definition=FORM,
                                   created_at=now, updated_at=now, published_at=now))
        actor = Actor(user_id=admin.id, username=admin.username, display_name=admin.display_name,
                      roles=frozenset({"admin", "designer"}), department_id=None)
        flows_service.install_template(seed, actor=actor, key="rd_flow", template="b2b_fulfilment", now=now)
        flows_service.publish_flow(seed, actor=actor, key="rd_flow", now=now)
    seed.commit()


def test_build_by_clicking_preview_save_and_reload(page: Page, base_url, seed, live_engine):
    now = datetime.now(UTC)
    admin = make_user(seed, username="rd.admin", roles=["admin", "designer"], locale="en")
    make_user(seed, username="rd.picker", roles=["approver"], display_name="Picker Wang", locale="en")
    rep = make_user(seed, username="rd.rep", roles=["sales"], display_name="Rep Sun", locale="en")
    make_order(seed, owner=rep, stage="production", number="PV-7001")
    _publish_form_and_flow(seed, admin, now)

    sign_in(page, base_url, "rd.admin")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("Rule key").fill("rd_clicked")
    page.get_by_label("Name (English)").fill("Built by clicking")

    # if: the owner is Rep Sun (a person, picked by name), incoterm is FOB, delivery before a date
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).nth(0).select_option(label="Owner")
    page.get_by_label("Operator", exact=True).nth(0).select_option(label="equals")
    page.get_by_label("Value", exact=True).nth(0).select_option(label="Rep Sun (rd.rep)")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).nth(1).select_option(label="RD incoterm")
    page.get_by_label("Value", exact=True).nth(1).select_option(label="FOB")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).nth(2).select_option(label="Planned delivery")
    page.get_by_label("Operator", exact=True).nth(2).select_option(label="before")
    expect(page.get_by_label("Value", exact=True).nth(2)).to_have_attribute("type", "date")
    expect(page.locator(".rd-type")).to_have_text(["number", "text", "date"])  # each field says its type
    page.get_by_label("Value", exact=True).nth(2).fill("2026-12-31")

    # scope: the export form, the flow, key accounts; open orders is the default
    scope = page.get_by_role("region", name="Which orders")
    expect(scope.get_by_label("In progress")).to_be_checked()
    scope.get_by_label("Export order (rd_form)").check()
    scope.get_by_label("B2B order fulfilment (rd_flow)").check()
    scope.get_by_label("Key accounts").check()

    # then: a to-do for a picked user, copied to finance and the owner
    page.get_by_role("button", name="Add a to-do").click()
    page.get_by_label("Assignee", exact=True).select_option(label="A user")
    page.get_by_label("Assignee: User").select_option(label="Picker Wang (rd.picker)")
    page.get_by_label("Copy to", exact=True).select_option(label="Everyone with a role")
    page.get_by_label("Copy to: Role").select_option(label="Finance")
    page.get_by_role("button", name="Copy one more person").click()
    expect(page.get_by_label("Copy to", exact=True)).to_have_count(2)
    page.get_by_label("Copy to", exact=True).nth(1).select_option(label="The order owner")
    page.get_by_label("Title", exact=True).fill("Check {{ order.number }}")

    # a message to the customer, by email
    page.get_by_role("button", name="Add a message to the customer").click()
    message = page.get_by_role("group", name="2. Message to the customer")
    message.get_by_label("Channel", exact=True).select_option(label="Email")
    message.get_by_label("Subject").fill("Order {{ order.number }} update")
    message.get_by_label("Message").fill("Your order {{ order.number }} is in {{ order.stage }}.")

    # a notification by email and chat robot, a field update, a flow start, a tag, a webhook
    page.get_by_role("button", name="Add a notification").click()
    notify = page.get_by_role("group", name="3. Notification")
    notify.get_by_label("Chat robot").check()
    notify.get_by_label("In the app").uncheck()
    notify.get_by_label("Title", exact=True).fill("{{ order.number }} needs a look")
    page.get_by_role("button", name="Add a field update").click()
    update = page.get_by_role("group", name="4. Field update")
    update.get_by_label("Field to set").select_option(label="Payment due")
    update.get_by_label("New value").fill("2026-12-20")
    page.get_by_role("button", name="Add a flow start").click()
    page.get_by_role("group", name="5. Flow start").get_by_label("Flow to start").select_option(
        label="B2B order fulfilment (rd_flow)")
    page.get_by_role("button", name="Add a tag").click()
    page.get_by_role("group", name="6. Tag").get_by_label("Tag").fill("watch")
    page.get_by_role("button", name="Add a webhook call").click()
    page.get_by_role("group", name="7. Webhook call").get_by_label("Webhook URL").fill("https://example.com/hook")
    page.get_by_role("button", name="Add an escalation").click()
    page.get_by_role("group", name="8. Escalation").get_by_label("Title", exact=True).fill("Late: {{ order.number }}")
    page.get_by_role("button", name="Add a risk flag").click()
    page.get_by_role("group", name="9. Risk flag").get_by_label("Flag").fill("late")
    page.get_by_role("button", name="Remove action").last.click()
    expect(page.locator(".rd-action")).to_have_count(8)

    # preview on the order: the rendered texts under each action
    page.get_by_label("Preview on order").fill("PV-7001")
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.locator("#rd-preview-order")).to_have_text("Previewed on order PV-7001.")
    expect(message.get_by_role("status", name="Preview")).to_contain_text("Subject: Order PV-7001 update")
    expect(message.get_by_role("status", name="Preview")).to_contain_text("Your order PV-7001 is in production.")
    todo = page.get_by_role("group", name="1. To-do")
    expect(todo.get_by_role("status", name="Preview")).to_contain_text("Title: Check PV-7001")
    expect(todo.get_by_role("status", name="Preview")).to_contain_text("Assignee: Picker Wang")
    expect(notify.get_by_role("status", name="Preview")).to_contain_text("Recipients: Rep Sun")
    expect(page.get_by_role("group", name="8. Escalation").get_by_role("status", name="Preview")).to_contain_text(
        "Nobody fits the assignee “The owner's manager” for this order; it went to “The order owner” instead.")

    page.get_by_role("button", name="Check").click()
    expect(page.locator("#rd-status")).to_have_text("No problems.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#rd-status")).to_have_text("Draft saved.")

    with live_engine.connect() as conn:
        stored = conn.execute(select(RuleDefinitionRow.definition).where(RuleDefinitionRow.key == "rd_clicked")).scalar_one()
    assert stored["scope"] == {"form_keys": ["rd_form"], "flow_keys": ["rd_flow"], "customer_tiers": ["key"],
                               "statuses": ["open"]}
    todo_def = stored["actions"][0]
    assert todo_def["assignee"]["kind"] == "user" and todo_def["assignee"]["user_id"] is not None
    assert [(c["kind"], c.get("role")) for c in todo_def["cc"]] == [("role", "finance"), ("owner", None)]
    assert stored["actions"][1]["channel"] == "email"
    assert stored["actions"][2]["channels"] == ["chat"]
    assert stored["actions"][3] == {"type": "set_field", "field": "payment_due", "value": "2026-12-20"}
    assert stored["condition"]["and"][0] == {"==": [{"var": "owner_id"}, rep.id]}
    assert stored["condition"]["and"][1] == {"==": [{"var": "data.rd_incoterm"}, "FOB"]}

    # reload: everything is kept
    page.goto(f"{base_url}/designer/rules/rd_clicked")
    scope = page.get_by_role("region", name="Which orders")
    expect(scope.get_by_label("Key accounts")).to_be_checked()
    expect(scope.get_by_label("Export order (rd_form)")).to_be_checked()
    expect(scope.get_by_label("Small customers")).not_to_be_checked()
    expect(page.get_by_label("Value", exact=True).nth(0)).to_have_value(
        page.get_by_label("Value", exact=True).nth(0).locator("option", has_text="Rep Sun (rd.rep)").get_attribute("value"))
    expect(page.get_by_label("Assignee: User").locator("option:checked")).to_have_text("Picker Wang (rd.picker)")
    expect(page.get_by_label("Copy to: Role").locator("option:checked")).to_have_text("Finance")
    expect(page.get_by_role("group", name="3. Notification").get_by_label("Chat robot")).to_be_checked()
    expect(page.get_by_role("group", name="4. Field update").get_by_label("New value")).to_have_value("2026-12-20")
    expect(page.get_by_role("group", name="2. Message to the customer").get_by_label("Subject")).to_have_value(
        "Order {{ order.number }} update")
    expect(page.get_by_label("Preview on order")).not_to_have_value("")


def test_event_details_are_picked_and_kept(page: Page, base_url, seed, live_engine):
    now = datetime.now(UTC)
    admin = make_user(seed, username="rd.events", roles=["admin", "designer"], locale="en")
    _publish_form_and_flow(seed, admin, now)
    sign_in(page, base_url, "rd.events")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("Rule key").fill("rd_events")
    page.get_by_label("Trigger").select_option(label="Events")
    events = page.get_by_role("group", name="Events")
    expect(events.get_by_role("group")).to_have_count(0)
    events.get_by_label("Stage entered").check()
    stages = page.get_by_role("group", name="Only these stages")
    stages.get_by_label("Production", exact=True).check()
    # flow steps are not stages (a step moves the order to its `stage`): only order stages are listed
    expect(stages.get_by_label("(manager_approval)")).to_have_count(0)
    events.get_by_label("Field changed").check()
    page.get_by_role("group", name="Only when one of these fields changes").get_by_label("Amount", exact=True).check()
    events.get_by_label("Customer message received").check()
    page.get_by_label("Fire").select_option(label="Every time an event happens")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).select_option(label="Amount")
    page.get_by_label("Operator", exact=True).select_option(label="more than")
    page.get_by_label("Value", exact=True).fill("100000")
    page.get_by_role("button", name="Add a tag").click()
    page.get_by_label("Tag", exact=True).fill("big")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#rd-status")).to_have_text("Draft saved.")

    with live_engine.connect() as conn:
        stored = conn.execute(select(RuleDefinitionRow.definition).where(RuleDefinitionRow.key == "rd_events")).scalar_one()
    assert stored["trigger"]["events"] == ["field_changed", "stage_entered", "inbound_message"]
    assert stored["firing"]["mode"] == "every_time"
    assert stored["trigger"]["stages"] == ["production"]
    assert stored["trigger"]["fields"] == ["amount"]

    page.goto(f"{base_url}/designer/rules/rd_events")
    expect(page.get_by_role("group", name="Only these stages").get_by_label("Production", exact=True)).to_be_checked()
    expect(page.get_by_role("group", name="Only when one of these fields changes").get_by_label("Amount", exact=True)).to_be_checked()
    expect(page.get_by_label("Fire")).to_have_value("every_time")
    # unticking the event hides its details and saves without them
    page.get_by_role("group", name="Events").get_by_label("Field changed").uncheck()
    expect(page.get_by_role("group", name="Only when one of these fields changes")).to_have_count(0)
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#rd-status")).to_have_text("Draft saved.")
    with live_engine.connect() as conn:
        stored = conn.execute(select(RuleDefinitionRow.definition).where(RuleDefinitionRow.key == "rd_events")).scalar_one()
    assert stored["trigger"]["events"] == ["stage_entered", "inbound_message"] and stored["trigger"]["fields"] == []
