"""The lifecycle forms, flows and rules share (backend/definitions/lifecycle.py): versions, the
draft, publishing (the previous version retires, the audit log says who), discarding."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.flows.service import FLOWS
from backend.forms.service import FORMS
from backend.rules.definitions import RULES
from tests.factories.people import make_user

KINDS = {"form": FORMS, "flow": FLOWS, "rule": RULES}


@pytest.fixture(params=list(KINDS))
def kind(request):
    return KINDS[request.param]


@pytest.fixture
def actors(session):
    first, second = make_user(session, roles=("designer",)), make_user(session, roles=("designer",))
    session.flush()
    return [Actor(user_id=u.id, username=u.username, display_name=u.display_name, roles=frozenset({"designer"}))
            for u in (first, second)]


def draft(kind, session, actor, now, key="k", text="v"):
    return kind.store_draft(session, actor=actor, key=key, build=lambda version: {"text": text, "version": version},
                            now=now)


class TestDraft:
    def test_saving_again_rewrites_the_one_draft(self, kind, session, actors, now):
        first = draft(kind, session, actors[0], now, text="a")
        again = draft(kind, session, actors[1], now + timedelta(minutes=1), text="b")
        assert again.id == first.id and again.version == 1 and again.definition == {"text": "b", "version": 1}
        assert again.author_id == actors[1].user_id and again.updated_at == now + timedelta(minutes=1)
        assert [r.status for r in kind.versions(session, "k")] == ["draft"]

    def test_a_draft_after_publishing_is_the_next_version(self, kind, session, actors, now):
        kind.publish(session, draft(kind, session, actors[0], now), actor=actors[0], now=now)
        nxt = draft(kind, session, actors[0], now)
        assert nxt.version == 2 and nxt.definition["version"] == 2
        assert kind.working_copy(session, "k").id == nxt.id

    def test_a_build_that_raises_stores_nothing(self, kind, session, actors, now):
        def refuse(version):
            raise ValueError("bad")

        with pytest.raises(ValueError):
            kind.store_draft(session, actor=actors[0], key="k", build=refuse, now=now)
        assert kind.versions(session, "k") == []


class TestPublish:
    def test_the_previous_version_retires_and_the_log_says_which(self, kind, session, actors, now):
        v1 = draft(kind, session, actors[0], now)
        assert kind.publish(session, v1, actor=actors[0], now=now) is None
        v2 = draft(kind, session, actors[1], now)
        retired = kind.publish(session, v2, actor=actors[1], now=now + timedelta(hours=1), recorded={"why": "test"})
        assert retired.id == v1.id
        assert [(r.version, r.status) for r in kind.versions(session, "k")] == [(1, "retired"), (2, "published")]
        assert v2.published_at == now + timedelta(hours=1)
        log = session.exec(select(AuditEvent).where(AuditEvent.entity_type == kind.kind)
                           .order_by(AuditEvent.id)).scalars().all()
        assert [(e.actor_id, e.before, e.after) for e in log] == [
            (actors[0].user_id, {"version": None}, {"version": 1}),
            (actors[1].user_id, {"version": 1}, {"version": 2, "why": "test"})]

    def test_the_list_shows_the_newest_version_of_each_key(self, kind, session, actors, now):
        kind.publish(session, draft(kind, session, actors[0], now, key="a"), actor=actors[0], now=now)
        draft(kind, session, actors[0], now, key="a")
        draft(kind, session, actors[0], now, key="b")
        assert [(r.key, r.version, r.status) for r in kind.newest_per_key(session)] == [
            ("a", 2, "draft"), ("b", 1, "draft")]


def test_discarding_leaves_the_published_version(kind, session, actors, now):
    kind.publish(session, draft(kind, session, actors[0], now), actor=actors[0], now=now)
    draft(kind, session, actors[0], now)
    assert kind.discard_draft(session, "k") and not kind.discard_draft(session, "k")
    assert [(r.version, r.status) for r in kind.versions(session, "k")] == [(1, "published")]
    assert kind.working_copy(session, "k").version == 1


def test_export_gives_the_stored_version_and_a_missing_one_is_not_found(kind, session, actors, now):
    draft(kind, session, actors[0], now, text="exported")
    assert kind.export(session, "k", 1) == {"text": "exported", "version": 1}
    with pytest.raises(GendanError) as missing:
        kind.export(session, "k", 2)
    assert (missing.value.code, missing.value.status) == (f"{kind.kind}.not_found", 404)
