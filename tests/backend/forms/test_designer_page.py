"""The form designer page (server side; the drag-and-drop itself is in tests/browser)."""

from __future__ import annotations

import json
import re

from tests.backend.forms.test_router import publish
from tests.conftest import bearer, login
from tests.factories.people import make_user


class TestDesignerPage:
    def test_designer_page_carries_the_working_copy(self, client, session):
        make_user(session, username="des", roles=["designer"])
        session.commit()
        publish(client, bearer(client, "des"))
        login(client, "des")
        page = client.get("/designer/forms")
        assert page.status_code == 200
        definition = json.loads(re.search(r'<script type="application/json" id="forms-definition">(.*?)</script>',
                                          page.text, re.S).group(1))
        assert definition["fields"][0]["key"] == "planned_delivery"

    def test_sales_cannot_open_the_designer(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        login(client, "rep")
        assert client.get("/designer/forms").status_code == 403


class TestPreview:
    def test_preview_renders_the_draft_and_evaluates_live(self, client, session):
        from tests.backend.forms.formdefs import order_form

        make_user(session, username="des", roles=["designer"])
        session.commit()
        auth = bearer(client, "des")
        draft = order_form()
        draft["fields"].append({"key": "rush", "type": "checkbox", "label": {"zh-CN": "加急", "en": "Rush"}})
        draft["fields"].append({"key": "rush_fee", "type": "money", "label": {"zh-CN": "加急费", "en": "Rush fee"},
                                "visible_if": {"var": "rush"}})
        client.put("/api/v1/forms/order/draft", json={"definition": draft}, headers=auth)
        login(client, "des")
        page = client.get("/designer/forms/order/preview")
        assert 'name="items.0.qty"' in page.text
        assert '[data-field="rush_fee"]{display:none}' in page.text  # hidden until rush is ticked
        live = client.post("/designer/forms/order/preview/evaluate", headers={"HX-Request": "true"},
                           data={"rush": "on", "items.0.qty": "2", "items.0.price": "3"})
        assert '[data-field="rush_fee"]{display:none}' not in live.text
        assert re.search(r'id="form-value-total" hx-swap-oob="innerHTML">¥6\.00<', live.text)

    def test_preview_of_a_draft_with_problems_says_so(self, client, session):
        make_user(session, username="des", roles=["designer"])
        session.commit()
        auth = bearer(client, "des")
        client.put("/api/v1/forms/order/draft", headers=auth, json={"definition": {"fields": [
            {"key": "s", "type": "single_select", "label": {"en": "S"}}]}})
        login(client, "des")
        assert "请修正表单上标出的问题。" in client.get("/designer/forms/order/preview").text
