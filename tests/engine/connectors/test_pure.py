"""Connector engine parts: JSON paths, paging plans, cron lines (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.connectors import cron, jsonpath, paging

DOC = {"data": {"items": [{"id": 1, "buyer": {"code": "K1"}, "lines": [{"sku": "A"}, {"sku": "B"}]},
                          {"id": 2, "buyer": {"code": "K2"}, "lines": []}]}}


class TestJsonPath:
    @pytest.mark.parametrize(("path", "expected"), [
        ("data.items[*].id", [1, 2]), ("data.items[0].buyer.code", ["K1"]), ("data.items[*].lines[*].sku", ["A", "B"]),
        ("$.data.items[1].id", [2]), ("data.missing", []), ("data.items[9].id", []), ("", [DOC])])
    def test_select(self, path, expected):
        assert jsonpath.select(DOC, path) == expected

    def test_records_at_a_list_without_star(self):
        assert [r["id"] for r in jsonpath.records(DOC, "data.items")] == [1, 2]

    @pytest.mark.parametrize("path", ["a..b", "a.", "[x]", "a[*", "a b.c" * 50])
    def test_bad_paths(self, path):
        with pytest.raises(jsonpath.PathError):
            jsonpath.parse(path)

    def test_depth_is_checked_without_recursion(self):
        deep: list = []
        node = deep
        for _ in range(100_000):
            node.append([])
            node = node[0]
        assert jsonpath.depth_exceeds(deep, 32) and not jsonpath.depth_exceeds(DOC, 32)


class TestPaging:
    def test_page_mode_stops_on_a_short_page(self):
        plan = paging.PagingPlan(mode="page", page_size=2)
        first = paging.first_request(plan, "http://s/o?p={page}&since={since}", since="2026-01-01 08:00", cursor="")
        assert first.url == "http://s/o?p=1&since=2026-01-01%2008%3A00"
        second = paging.next_request(plan, "http://s/o?p={page}", first, body={}, count=2, since="")
        assert second.url == "http://s/o?p=2"
        assert paging.next_request(plan, "http://s/o?p={page}", second, body={}, count=1, since="") is None

    def test_offset_mode_counts_records(self):
        plan = paging.PagingPlan(mode="offset")
        first = paging.first_request(plan, "http://s/o?o={offset}", since="", cursor="")
        nxt = paging.next_request(plan, "http://s/o?o={offset}", first, body={}, count=50, since="")
        assert nxt.url == "http://s/o?o=50"

    def test_cursor_mode_follows_the_token_and_stops_when_it_repeats(self):
        plan = paging.PagingPlan(mode="cursor", next_cursor_path="meta.next")
        first = paging.first_request(plan, "http://s/o?c={cursor}", since="", cursor="")
        nxt = paging.next_request(plan, "http://s/o?c={cursor}", first, body={"meta": {"next": "a/b"}}, count=1,
                                  since="")
        assert (nxt.url, nxt.cursor) == ("http://s/o?c=a%2Fb", "a/b")
        assert paging.next_request(plan, "http://s/o?c={cursor}", nxt, body={"meta": {"next": "a/b"}}, count=1,
                                   since="") is None

    def test_next_link_to_another_host_is_not_followed(self):
        plan = paging.PagingPlan(mode="next_link", next_link_path="next")
        first = paging.first_request(plan, "http://s/o", since="", cursor="")
        assert paging.next_request(plan, "http://s/o", first, body={"next": "/o?p=2"}, count=1,
                                   since="").url == "http://s/o?p=2"
        assert paging.next_request(plan, "http://s/o", first, body={"next": "http://evil/o"}, count=1,
                                   since="") is None
        assert paging.next_request(plan, "http://s/o", first, body={}, count=1, since="",
                                   link_header='<http://s/o?p=3>; rel="next"').url == "http://s/o?p=3"


class TestCron:
    SH = ZoneInfo("Asia/Shanghai")

    @pytest.mark.parametrize(("line", "after", "expected"), [
        ("*/5 * * * *", datetime(2026, 12, 7, 1, 2, tzinfo=UTC), datetime(2026, 12, 7, 1, 5, tzinfo=UTC)),
        ("0 8 * * 1-5", datetime(2026, 12, 5, 1, 2, tzinfo=UTC), datetime(2026, 12, 7, 0, 0, tzinfo=UTC)),  # Sat -> Mon
        ("30 9 1 * *", datetime(2026, 12, 7, 0, 0, tzinfo=UTC), datetime(2027, 1, 1, 1, 30, tzinfo=UTC)),
        ("0 0 13 * 5", datetime(2026, 12, 7, 0, 0, tzinfo=UTC), datetime(2026, 12, 10, 16, 0, tzinfo=UTC)),  # Fri 11th
    ])
    def test_next_after(self, line, after, expected):
        assert cron.next_after(line, after, self.SH) == expected

    @pytest.mark.parametrize("line", ["* * * *", "61 * * * *", "*/0 * * * *", "a * * * *", "0 0 31 2 *"])
    def test_bad_lines(self, line):
        with pytest.raises(cron.CronError):
            cron.next_after(line, datetime(2026, 1, 1, tzinfo=UTC), self.SH)
