"""One designer permission check (backend/definitions/lifecycle.py:require_designer): admins and
designers, through a credential that may write. Before, the rule preview and the designer pages
let a read-scoped API key through while the rule, form and flow services refused it."""

from __future__ import annotations

import dataclasses

import pytest

from backend.auth.actor import Actor
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.rules import matching
from tests.conftest import bearer
from tests.factories.orders import make_order
from tests.factories.people import make_user

RULE = {"key": "watch", "name": {"en": "Watch"}, "trigger": {"kind": "time"},
        "condition": {">": [{"var": "amount"}, 0]}, "actions": [{"type": "add_tag", "tag": "watch"}]}
DESIGNER = Actor(user_id=1, username="d", display_name="D", roles=frozenset({"designer"}))


class TestRequireDesigner:
    @pytest.mark.parametrize("actor", [
        DESIGNER, dataclasses.replace(DESIGNER, roles=frozenset({"admin"})),
        dataclasses.replace(DESIGNER, roles=frozenset({"designer", "viewer"})),
    ], ids=["designer", "admin", "designer-and-viewer"])
    def test_admins_and_designers_who_may_write_design(self, actor):
        require_designer(actor)

    @pytest.mark.parametrize("actor", [
        dataclasses.replace(DESIGNER, roles=frozenset({"sales"})),
        dataclasses.replace(DESIGNER, scope="read", via="api_key"),
        dataclasses.replace(DESIGNER, roles=frozenset({"admin"}), scope="read", via="api_key"),
    ], ids=["sales", "designer-read-key", "admin-read-key"])
    def test_everyone_else_is_refused(self, actor):
        with pytest.raises(GendanError) as refused:
            require_designer(actor)
        assert refused.value.code == "auth.forbidden"


class TestReadOnlyKey:
    def test_the_rule_preview_refuses_a_read_scoped_actor(self, session, now):
        make_order(session, owner=make_user(session, roles=("sales",)), stage="production")
        reader = dataclasses.replace(DESIGNER, scope="read", via="api_key")
        assert matching.preview_rule(session, actor=DESIGNER, definition=RULE, order=None, now=now).actions
        with pytest.raises(GendanError) as refused:
            matching.preview_rule(session, actor=reader, definition=RULE, order=None, now=now)
        assert refused.value.code == "auth.forbidden"

    @pytest.mark.parametrize("url", ["/designer/rules", "/designer/forms", "/designer/flows",
                                     "/api/v1/rules/watch/firings"])
    def test_a_read_only_key_opens_no_designer(self, client, session, url):
        make_user(session, username="root", roles=["admin", "designer"])
        session.commit()
        created = client.post("/api/v1/api-keys", json={"name": "erp", "scope": "read"}, headers=bearer(client, "root"))
        assert created.status_code == 201, created.text
        headers = {"X-API-Key": created.json()["key"], "Accept-Language": "en"}
        assert client.get("/api/v1/orders", headers=headers).status_code == 200  # the key does read
        resp = client.get(url, headers=headers)
        assert resp.status_code == 403, resp.text
