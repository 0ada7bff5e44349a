"""Flow to-do titles per locale: stored once, read and found in the reader's language."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend import i18n
from backend.auth.service import load_actor
from backend.effects import apply_effects
from backend.inbox import service as inbox_service
from backend.inbox.models import InboxItem
from backend.inbox.schemas import InboxFilter
from engine import effects as fx
from tests.factories.orders import make_order
from tests.factories.people import make_user

NAMES = {"zh-CN": "财务审核", "en": "Finance check"}


@pytest.fixture
def clerk(session, now):
    user = make_user(session, roles=["finance"])
    order = make_order(session, owner=user, number="TTL-1")
    session.flush()
    apply_effects(session, [fx.CreateTodo(dedupe_key="flow:1:todo:check-1:1", kind="approval", title=NAMES,
                                          assignee_ids=(user.id,))], order=order, actor=None, now=now)
    session.commit()
    return load_actor(session, user.id)


def _listed(session, actor, now, **filters):
    return inbox_service.list_items(session, actor=actor, filters=InboxFilter(**filters), now=now)


class TestFlowTitles:
    def test_row_keeps_every_language_and_the_chinese_as_plain_title(self, session, clerk):
        item = session.exec(select(InboxItem).where(InboxItem.assignee_id == clerk.user_id)).scalars().one()
        assert (item.title, item.title_i18n) == ("财务审核", NAMES)

    @pytest.mark.parametrize(("locale", "shown"), [("en", "Finance check"), ("zh_CN", "财务审核")])
    def test_listed_in_the_readers_language(self, session, clerk, now, locale, shown):
        token = i18n.set_locale(locale)
        try:
            assert [i.title for i in _listed(session, clerk, now).items] == [shown]
        finally:
            i18n.reset_locale(token)

    @pytest.mark.parametrize("query", ["finance CHECK", "财务"])
    def test_found_by_the_name_in_either_language(self, session, clerk, now, query):
        assert _listed(session, clerk, now, q=query).total == 1
        assert _listed(session, clerk, now, q="invoice").total == 0
