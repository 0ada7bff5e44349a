"""Mapping transforms (engine/connectors/transforms.py): each one, chains, and hostile input."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from engine.connectors.transforms import Chain, TransformError, apply, validate_chain

SH = ZoneInfo("Asia/Shanghai")
CHAIN = TypeAdapter(Chain)


def run(value: str, *steps: dict, lookup=None) -> str:
    return apply(value, CHAIN.validate_python(list(steps)), zone=SH, lookup=lookup)


def fails(value: str, *steps: dict) -> TransformError:
    with pytest.raises(TransformError) as info:
        run(value, *steps)
    return info.value


class TestDate:
    @pytest.mark.parametrize(("value", "pattern", "out"), [
        ("31/12/2026", "%d/%m/%Y", "2026-12-31 00:00:00"),
        ("2026.12.01 08:30", "%Y.%m.%d %H:%M", "2026-12-01 08:30:00"),
        ("20261201", "%Y%m%d", "2026-12-01 00:00:00"),
        ("01-Dec-26", "%d-%b-%y", "2026-12-01 00:00:00"),
    ])
    def test_pattern(self, value, pattern, out):
        assert run(value, {"op": "date", "pattern": pattern}) == out

    def test_epoch_seconds_and_ms_are_read_in_the_zone(self):
        assert run("1796083200", {"op": "date", "format": "epoch_s"}) == "2026-12-01 08:00:00"
        assert run("1796083200000", {"op": "date", "format": "epoch_ms"}) == "2026-12-01 08:00:00"

    def test_excel_serial(self):
        assert run("46357", {"op": "date", "format": "excel"}) == "2026-12-01 00:00:00"
        assert run("46357.5", {"op": "date", "format": "excel"}) == "2026-12-01 12:00:00"

    def test_unreadable_names_step_and_pattern(self):
        err = fails("tomorrow", {"op": "trim"}, {"op": "date", "pattern": "%d/%m/%Y"})
        assert err.code == "transform.date_unreadable" and err.params == {
            "step": 2, "value": "tomorrow", "pattern": "%d/%m/%Y"}

    @pytest.mark.parametrize("value", ["1e400", "99999999999999999999", "-99999999999999", "nan", "inf"])
    def test_hostile_epochs(self, value):
        assert fails(value, {"op": "date", "format": "epoch_s"}).code == "transform.date_unreadable"
        assert fails(value, {"op": "date", "format": "excel"}).code == "transform.date_unreadable"

    @pytest.mark.parametrize("pattern", ["", "plain", "%Q", "%Y%", "%" * 61, "%c"])
    def test_bad_patterns_are_refused_up_front(self, pattern):
        try:
            chain = CHAIN.validate_python([{"op": "date", "pattern": pattern}])
        except ValidationError:
            return  # too long for the model
        issues = validate_chain(chain)
        assert issues and issues[0][1] == "transform.pattern_invalid"


class TestScale:
    @pytest.mark.parametrize(("value", "mode", "by", "out"), [
        ("12345", "divide", "100", "123.45"), ("1500", "divide", "1000", "1.5"), ("2.5", "multiply", "1000", "2500"),
        ("1,200", "divide", "100", "12"), ("0", "divide", "3", "0"), ("1", "divide", "3", "0.333333333333"), ("１２", "divide", "100", "0.12"),
    ])
    def test_numbers(self, value, mode, by, out):
        assert run(value, {"op": "scale", "mode": mode, "by": by}) == out

    @pytest.mark.parametrize("value", ["abc", "1e999999", "12..3", "NaN", "1 2"])
    def test_not_a_number(self, value):
        err = fails(value, {"op": "scale", "by": "100"})
        assert err.code == "transform.not_a_number" and err.params["step"] == 1

    @pytest.mark.parametrize("by", ["0", "x", "1e99"])
    def test_bad_factor(self, by):
        chain = CHAIN.validate_python([{"op": "scale", "by": by}])
        assert validate_chain(chain)[0][1] == "transform.factor_invalid"

    def test_blank_stays_blank(self):
        assert run("", {"op": "scale", "by": "100"}) == ""


class TestMapSplitJoinCase:
    def test_value_map(self):
        step = {"op": "map", "values": {"已签约": "approval", "已发货": "shipped"}}
        assert run(" 已签约 ", step) == "approval"
        assert run("其他", step) == "其他"
        assert run("其他", {**step, "default": "draft"}) == "draft"
        assert fails("其他", {**step, "strict": True}).code == "transform.value_unmapped"

    def test_value_map_size_is_bounded(self):
        with pytest.raises(ValidationError):
            CHAIN.validate_python([{"op": "map", "values": {str(i): "x" for i in range(501)}}])

    def test_split(self):
        assert run("SH-0042-A", {"op": "split", "separator": "-", "index": 1}) == "0042"
        assert run("SH-0042-A", {"op": "split", "separator": "-", "index": -1}) == "A"
        assert fails("SH", {"op": "split", "separator": "-", "index": 3}).code == "transform.split_missing"

    def test_join_reads_other_paths(self):
        values = {"buyer.city": "上海", "buyer.district": ""}
        out = run("张三", {"op": "join", "paths": ["buyer.city", "buyer.district"], "separator": " / "},
                  lookup=values.get)
        assert out == "张三 / 上海"

    def test_case_default_constant(self):
        assert run("  ab ", {"op": "trim"}, {"op": "upper"}) == "AB"
        assert run("AB", {"op": "lower"}) == "ab"
        assert run("", {"op": "default", "value": "CNY"}) == "CNY"
        assert run("USD", {"op": "default", "value": "CNY"}) == "USD"
        assert run("whatever", {"op": "constant", "value": "CNY"}) == "CNY"


class TestHostile:
    def test_chain_length_is_bounded(self):
        with pytest.raises(ValidationError):
            CHAIN.validate_python([{"op": "trim"}] * 51)
        assert len(CHAIN.validate_python([{"op": "trim"}] * 50)) == 50

    @pytest.mark.parametrize("step", [{"op": "eval", "code": "1"}, {"op": "scale", "by": "2", "extra": 1},
                                      {"op": "split", "index": 10_000}, {"op": "join", "paths": []},
                                      {"op": "map", "values": "nope"}, "trim", None])
    def test_unknown_or_malformed_steps(self, step):
        with pytest.raises(ValidationError):
            CHAIN.validate_python([step])

    def test_join_cannot_grow_without_bound(self):
        chain = [{"op": "join", "paths": ["a"] * 10, "separator": "x" * 10}] * 5
        with pytest.raises(TransformError) as info:
            run("y" * 900, *chain, lookup=lambda path: "z" * 900)
        assert info.value.code == "transform.too_long" and info.value.params["step"] == 2

    def test_a_long_value_in_a_date_pattern_is_an_error_not_work(self):
        assert fails("1" * 5000, {"op": "date", "pattern": "%Y%m%d"}).code == "transform.date_unreadable"
