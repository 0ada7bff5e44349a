"""Orders list: every filter, sorting, keyset paging stable under inserts, cursor errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import bearer
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}
T = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(session):
    """Six orders owned by one admin-visible set, differing in every filtered column."""
    admin = make_user(session, username="boss", roles=["admin"])
    rep = make_user(session, username="rep", roles=["sales"])
    acme = make_customer(session, name="Acme 精工 Ltd")
    bolt = make_customer(session, name="Bolt_Works")
    orders = {
        "a": make_order(session, owner=rep, customer=acme, stage="draft", amount="100.00", at=T,
                        number="LA-0001", planned_delivery=date(2026, 12, 1)),
        "b": make_order(session, owner=rep, customer=bolt, stage="production", amount="2500.00",
                        at=T + timedelta(days=1), number="LA-0002", planned_delivery=date(2026, 12, 15)),
        "c": make_order(session, owner=admin, customer=acme, stage="production", amount="999.99",
                        at=T + timedelta(days=2), number="LA-0003", status="completed"),
        "d": make_order(session, owner=admin, customer=bolt, stage="payment", amount="50000.00",
                        at=T + timedelta(days=3, hours=14), number="LA-0004", planned_delivery=date(2027, 1, 10),
                        status="cancelled"),
        "e": make_order(session, owner=rep, customer=acme, stage="shipping", amount="2500.00",
                        at=T + timedelta(days=4), number="LB_0005", external_id="SHOP-77", source="shop"),
        "f": make_order(session, owner=rep, customer=bolt, stage="draft", amount="0.00",
                        at=T + timedelta(days=5), number="LB%0006"),
    }
    session.commit()
    return {"admin": admin, "rep": rep, "acme": acme, "bolt": bolt, **orders}


def _numbers(client, auth, **params) -> list[str]:
    resp = client.get("/api/v1/orders", params={"limit": 200, **params}, headers=auth)
    assert resp.status_code == 200, resp.text
    return [o["number"] for o in resp.json()["items"] if o["number"].startswith("L")]


class TestFilters:
    def test_each_filter_narrows_to_the_matching_orders(self, client, world):
        auth = bearer(client, "boss")
        w = world
        cases = [
            ({"stage": ["production", "payment"]}, ["LA-0004", "LA-0003", "LA-0002"]),
            ({"status": ["completed", "cancelled"]}, ["LA-0004", "LA-0003"]),
            ({"owner_id": w["admin"].id}, ["LA-0004", "LA-0003"]),
            ({"customer_id": w["acme"].id}, ["LB_0005", "LA-0003", "LA-0001"]),
            # days are the installation's (Shanghai): LA-0004, 23:00 UTC on the 4th, was made on the 5th
            ({"created_from": "2026-10-02", "created_to": "2026-10-04"}, ["LA-0003", "LA-0002"]),
            ({"created_from": "2026-10-05", "created_to": "2026-10-05"}, ["LB_0005", "LA-0004"]),
            ({"delivery_from": "2026-12-10", "delivery_to": "2027-01-10"}, ["LA-0004", "LA-0002"]),
            ({"amount_min": "999.99", "amount_max": "2500"}, ["LB_0005", "LA-0003", "LA-0002"]),
            ({"amount_max": "0"}, ["LB%0006"]),
            ({"q": "精工"}, ["LB_0005", "LA-0003", "LA-0001"]),  # customer name
            ({"q": "la-000"}, ["LA-0004", "LA-0003", "LA-0002", "LA-0001"]),  # number, any case
            ({"q": "LB_"}, ["LB_0005"]),  # '_' is literal, not a wildcard
            ({"q": "%"}, ["LB%0006"]),  # '%' too
            ({"q": "shop-77"}, ["LB_0005"]),  # external id
            ({"stage": ["draft"], "owner_id": w["rep"].id, "amount_min": "1"}, ["LA-0001"]),
        ]
        for params, expected in cases:
            assert _numbers(client, auth, **params) == expected, params

    def test_search_reads_product_customer_po_and_overdue_risk_tag_filters(self, client, session, world):
        w = world
        session.get(type(w["b"]), w["b"].id).data = {"product": "Hydraulic pump HP-9", "customer_po": "PO-4471"}
        late = session.get(type(w["a"]), w["a"].id)  # planned 2026-12-01, still draft: overdue today
        late.risk_flags, late.tags = ["delay_risk"], ["vip"]
        session.commit()
        auth = bearer(client, "boss")
        assert _numbers(client, auth, q="hydraulic") == ["LA-0002"]  # a designed text field
        assert _numbers(client, auth, q="po-4471") == ["LA-0002"]  # the customer's PO
        assert _numbers(client, auth, q="customer_po") == []  # keys are not searched, values are
        assert _numbers(client, auth, overdue="true") == ["LA-0001"]  # LA-0002 is due 2026-12-15
        assert _numbers(client, auth, risk="true") == ["LA-0001"]
        assert _numbers(client, auth, tag="vip") == ["LA-0001"]

    def test_total_counts_all_matches_not_just_the_page(self, client, world):
        resp = client.get("/api/v1/orders", params={"q": "L", "limit": 2, "with_total": True},
                          headers=bearer(client, "boss"))
        assert resp.json()["total"] == 6 and len(resp.json()["items"]) == 2

    def test_inverted_ranges_and_bad_values_are_field_errors(self, client, world):
        auth = {**bearer(client, "boss"), **EN}
        resp = client.get("/api/v1/orders", params={"created_from": "2026-10-05", "created_to": "2026-10-01",
                                                    "amount_min": "10", "amount_max": "5"}, headers=auth)
        assert resp.status_code == 422
        fields = resp.json()["error"]["fields"]
        assert {k: v["code"] for k, v in fields.items()} == {"created_to": "field.range_inverted",
                                                             "amount_max": "field.range_inverted"}
        resp = client.get("/api/v1/orders", params={"amount_min": "-1", "limit": "many", "status": "lost",
                                                    "created_from": "2026-02-30", "colour": "red"}, headers=auth)
        assert resp.status_code == 422
        codes = {k: v["code"] for k, v in resp.json()["error"]["fields"].items()}
        assert codes["amount_min"] == "field.greater_than_equal"
        assert codes["limit"] == "field.int_parsing"
        assert codes["created_from"].startswith("field.date")
        assert codes["colour"] == "field.extra_forbidden"
        assert any(k.startswith("status") for k in codes)


class TestSort:
    @pytest.mark.parametrize(("sort", "direction", "expected"), [
        ("amount", "desc", ["LA-0004", "LB_0005", "LA-0002", "LA-0003", "LA-0001", "LB%0006"]),
        ("amount", "asc", ["LB%0006", "LA-0001", "LA-0003", "LA-0002", "LB_0005", "LA-0004"]),
        ("number", "asc", ["LA-0001", "LA-0002", "LA-0003", "LA-0004", "LB%0006", "LB_0005"]),
        ("created_at", "asc", ["LA-0001", "LA-0002", "LA-0003", "LA-0004", "LB_0005", "LB%0006"]),
        # no planned date sorts last
        ("planned_delivery", "asc", ["LA-0001", "LA-0002", "LA-0004", "LA-0003", "LB_0005", "LB%0006"]),
    ])
    def test_sorts_with_id_as_tie_breaker(self, client, world, sort, direction, expected):
        numbers = _numbers(client, bearer(client, "boss"), sort=sort, direction=direction)
        assert numbers == expected

    def test_each_sort_pages_through_every_row_once(self, client, world):
        auth = bearer(client, "boss")
        for sort in ("created_at", "updated_at", "amount", "number", "stage_entered_at", "planned_delivery"):
            for direction in ("asc", "desc"):
                params = {"q": "L", "sort": sort, "direction": direction, "limit": 2}
                full = _numbers(client, auth, **{**params, "limit": 200})
                seen, cursor = [], None
                while True:
                    page = client.get("/api/v1/orders", params={**params, **({"cursor": cursor} if cursor else {})},
                                      headers=auth).json()
                    seen += [o["number"] for o in page["items"]]
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
                assert seen == full, (sort, direction)


class TestKeysetPaging:
    def test_inserts_between_pages_skip_and_repeat_nothing(self, client, session):
        rep = make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session)
        base = [make_order(session, owner=rep, customer=customer, at=T + timedelta(hours=i), number=f"KS-{i:03d}")
                for i in range(25)]
        session.commit()
        auth = bearer(client, "rep")
        params = {"q": "KS-", "limit": 10, "sort": "created_at", "direction": "desc"}
        first = client.get("/api/v1/orders", params=params, headers=auth).json()
        seen = [o["number"] for o in first["items"]]
        assert seen == [f"KS-{i:03d}" for i in range(24, 14, -1)]
        # newer than everything (lands on page 1, already read), between the pages' rows, and a tie
        make_order(session, owner=rep, customer=customer, at=T + timedelta(days=5), number="KS-new")
        make_order(session, owner=rep, customer=customer, at=T + timedelta(hours=7, minutes=30), number="KS-mid")
        make_order(session, owner=rep, customer=customer, at=T + timedelta(hours=3), number="KS-tie")
        session.commit()
        cursor = first["next_cursor"]
        while cursor:
            page = client.get("/api/v1/orders", params={**params, "cursor": cursor}, headers=auth).json()
            seen += [o["number"] for o in page["items"]]
            cursor = page["next_cursor"]
        assert len(seen) == len(set(seen))
        assert {o.number for o in base} <= set(seen)
        assert "KS-new" not in seen  # it sorts before the first page's cursor
        assert seen.index("KS-mid") == seen.index("KS-008") + 1
        # equal created_at: the higher id (inserted later) comes first when descending
        assert seen.index("KS-tie") == seen.index("KS-003") - 1

    def test_malformed_cursors_are_clear_errors(self, client, world):
        auth = {**bearer(client, "boss"), **EN}
        for cursor in ("garbage!!", "W1siZHQiLCJub3QgYSBkYXRlIl0sMV0", "e30", "x" * 401):
            resp = client.get("/api/v1/orders", params={"cursor": cursor}, headers=auth)
            assert resp.status_code == 422, cursor
            field = next(iter(resp.json()["error"]["fields"].items()))
            assert field[0] == "cursor"

    def test_cursor_of_another_sort_is_refused(self, client, world):
        auth = {**bearer(client, "boss"), **EN}
        page = client.get("/api/v1/orders", params={"sort": "amount", "limit": 2}, headers=auth).json()
        resp = client.get("/api/v1/orders", params={"sort": "created_at", "limit": 2,
                                                    "cursor": page["next_cursor"]}, headers=auth)
        assert resp.status_code == 422
        field = resp.json()["error"]["fields"]["cursor"]
        assert field["code"] == "field.cursor_invalid"
        assert field["message"] == "This page link is no longer valid. Start again from the first page."


class TestTotal:
    def test_total_is_exact_below_the_cap_and_capped_above(self, session, world, monkeypatch):
        from backend.auth.service import load_actor
        from backend.orders import service
        from backend.orders.schemas import OrderFilter

        admin = load_actor(session, world["admin"].id)
        page = service.list_orders(session, actor=admin, filters=OrderFilter(with_total=True, limit=2))
        assert (page.total, page.total_capped) == (6, False)
        monkeypatch.setattr(service, "TOTAL_CAP", 4)
        page = service.list_orders(session, actor=admin, filters=OrderFilter(with_total=True, limit=2))
        assert (page.total, page.total_capped) == (4, True)
