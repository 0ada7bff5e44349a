"""Pure parts of the vendor templates: modified-time windows, the TOP/JD signature, Kingdee rows."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.connectors import kingdee, signing, windows

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai


class TestWindows:
    def test_first_window_starts_a_day_back_and_ends_a_minute_before_now(self):
        w = windows.open_window({}, now=NOW, zone=SH, initial_since="", span=timedelta(days=1))
        assert (w.text(w.start), w.text(w.end), w.at) == ("2026-11-23 10:30:00", "2026-11-24 10:29:00", 0)

    def test_a_long_gap_is_cut_into_spans(self):
        w = windows.open_window({"since": "2026-11-20 00:00:00"}, now=NOW, zone=SH, initial_since="",
                                span=timedelta(days=1))
        assert w.text(w.end) == "2026-11-21 00:00:00"
        assert windows.cursor_done(w) == {"since": "2026-11-21 00:00:00", "until": "", "at": 0}

    def test_an_unfinished_window_is_resumed_where_it_stopped(self):
        cursor = {"since": "2026-11-20 00:00:00", "until": "2026-11-20 06:00:00", "at": 3}
        w = windows.open_window(cursor, now=NOW, zone=SH, initial_since="", span=timedelta(days=1))
        assert (w.text(w.start), w.text(w.end), w.at) == ("2026-11-20 00:00:00", "2026-11-20 06:00:00", 3)
        assert windows.cursor_at(w, 4) == {**cursor, "at": 4}

    def test_nothing_to_read_when_caught_up(self):
        assert windows.open_window({"since": "2026-11-24 10:29:30"}, now=NOW, zone=SH, initial_since="",
                                   span=timedelta(days=1)) is None

    def test_a_reread_date_and_a_bad_cursor(self):
        w = windows.open_window({"since": "2026-11-22"}, now=NOW, zone=SH, initial_since="", span=timedelta(hours=1))
        assert w.text(w.start) == "2026-11-22 00:00:00"
        w = windows.open_window({"since": "garbage"}, now=NOW, zone=SH, initial_since="", span=timedelta(days=1))
        assert w.text(w.start) == "2026-11-23 10:30:00"

    @pytest.mark.parametrize("text,expected", [
        ("/Date(1763949600000+0800)/", "2025-11-24 10:00:00"), ("2026-11-23T09:00:00.123", "2026-11-23 09:00:00"),
        ("2026-11-23T01:00:00Z", "2026-11-23 09:00:00"), ("2026/11/23 09:00:00", "2026-11-23 09:00:00")])
    def test_vendor_times(self, text, expected):
        assert windows.parse_local(text, SH).strftime(windows.FORMAT) == expected

    def test_bad_time(self):
        with pytest.raises(windows.TimeError):
            windows.parse_local("tomorrow", SH)


class TestSigning:
    def test_md5_upper_of_secret_sorted_pairs_secret(self):
        params = {"v": "2.0", "app_key": "k", "method": "m", "sign": "x", "empty": ""}
        raw = "S" + "app_keykmethodmv2.0" + "S"
        assert signing.md5_sign(params, "S") == hashlib.md5(raw.encode()).hexdigest().upper()

    def test_sign_matches_refuses_a_changed_parameter(self):
        params = {"a": "1", "b": "中文"}
        params["sign"] = signing.md5_sign(params, "S")
        assert signing.sign_matches(params, "S")
        assert not signing.sign_matches({**params, "a": "2"}, "S")
        assert not signing.sign_matches(params, "other")


class TestKingdeeRows:
    KEYS = ["FBillNo", "FModifyDate", "FMaterialId.FNumber", "FQty"]
    LINES = ["FMaterialId.FNumber", "FQty"]

    def rows(self, *bills):
        return [[no, "2026-11-23", f"M{i}", i] for no, n in bills for i in range(n)]

    def test_bills_grouped_with_their_lines(self):
        split = kingdee.split_page(self.KEYS, self.LINES, self.rows(("A", 2), ("B", 1)), start_row=0, limit=10)
        assert [b["FBillNo"] for b in split.bills] == ["A", "B"] and not split.more
        assert split.bills[0]["lines"] == [{"FMaterialId_FNumber": "M0", "FQty": 0},
                                           {"FMaterialId_FNumber": "M1", "FQty": 1}]

    def test_a_full_page_keeps_its_last_bill_for_the_next_page(self):
        split = kingdee.split_page(self.KEYS, self.LINES, self.rows(("A", 2), ("B", 2)), start_row=10, limit=4)
        assert [b["FBillNo"] for b in split.bills] == ["A"] and split.more and split.next_row == 12

    def test_a_bill_larger_than_a_page_is_taken_as_it_is(self):
        split = kingdee.split_page(self.KEYS, self.LINES, self.rows(("A", 4)), start_row=0, limit=4)
        assert [b["FBillNo"] for b in split.bills] == ["A"] and split.next_row == 4

    def test_rows_not_matching_the_keys(self):
        with pytest.raises(ValueError):
            kingdee.split_page(self.KEYS, self.LINES, [["A", "x"]], start_row=0, limit=4)
