"""Chart images drawn without a browser: structure and pixels, not a picture to eyeball.

The bar of the largest value is the tallest, every series has its colour, the size is bounded
("+N more"), the same data gives the same bytes, and a machine without a CJK font says so
instead of drawing empty boxes."""

from __future__ import annotations

import io
import logging
import os

import pytest
from PIL import Image

from backend.charts import fonts as chart_fonts
from backend.charts.canvas import PALETTE, nice_ticks
from backend.charts.draw import MAX_CATEGORIES, MAX_SERIES, bound, compose_png, draw_image, render_png
from backend.charts.spec import ChartSpec, Series, from_table

CJK = chart_fonts.find()
NOTO = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def fonts(source=CJK) -> chart_fonts.Fonts:
    return chart_fonts.Fonts(source)


def rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


def image_of(content: bytes) -> Image.Image:
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(content)).convert("RGB")


def bars(image: Image.Image, color: str, below: int = 90) -> list[tuple[int, int]]:
    """(left x, top y) of each run of columns holding `color` under the title and legend, left to right."""
    target, px = rgb(color), image.load()
    runs, current = [], None
    for x in range(image.width):
        tops = [y for y in range(below, image.height) if px[x, y] == target]
        if tops and current is None:
            current = (x, min(tops))
        elif tops:
            current = (current[0], min(current[1], min(tops)))
        elif current is not None:
            runs.append(current)
            current = None
    if current is not None:
        runs.append(current)
    return runs


def by_owner(n: int, view: str = "bar", values=None) -> ChartSpec:
    values = values or [(i * 7) % 13 + 1 for i in range(n)]
    return from_table(view, "按负责人 Orders by owner", ["负责人", "订单"], [[f"销售{i}", v] for i, v in enumerate(values)],
                      dimensions=1, percent_measures=[False])


class TestBars:
    def test_the_largest_value_is_the_tallest_bar_and_the_size_is_fixed(self):
        values = [3, 9, 4, 12, 7, 1, 8, 5, 11, 2, 6, 10]
        image = image_of(render_png(by_owner(12, values=values), fonts()))
        assert image.size == (960, 540)
        found = bars(image, PALETTE[0])
        assert len(found) == 12
        tops = [top for _, top in found]
        assert tops.index(min(tops)) == values.index(max(values))  # smallest y = tallest
        assert tops.index(max(tops)) == values.index(min(values))
        # taller bar for every larger value
        assert [t for _, t in sorted(zip(values, tops, strict=True))] == sorted(tops, reverse=True)

    def test_each_series_has_its_colour_in_a_stacked_bar(self):
        rows = [[m, s, (len(m) * 3 + s) % 5 + 1] for m in ("1月", "2月", "3月") for s in range(4)]
        spec = from_table("stacked_bar", "Stacked", ["月", "阶段", "订单"], rows, dimensions=2, percent_measures=[False])
        assert [s.name for s in spec.series] == ["0", "1", "2", "3"]
        image = image_of(render_png(spec, fonts()))
        for color in PALETTE[:4]:
            assert len(bars(image, color)) == 3
        assert not bars(image, PALETTE[4])

    def test_500_categories_draw_the_first_30_and_say_how_many_more(self):
        spec = by_owner(500)
        cut, notes = bound(spec)
        assert len(cut.categories) == MAX_CATEGORIES and notes == ["+470 more"]
        image = image_of(render_png(spec, fonts()))
        assert len(bars(image, PALETTE[0])) == MAX_CATEGORIES

    def test_too_many_series_are_cut(self):
        series = tuple(Series(f"s{i}", (1.0, 2.0)) for i in range(12))
        cut, notes = bound(ChartSpec("bar", "t", categories=("a", "b"), series=series))
        assert len(cut.series) == MAX_SERIES and notes == ["+4 more series"]

    def test_same_data_same_bytes(self):
        assert render_png(by_owner(12), fonts()) == render_png(by_owner(12), fonts())
        assert render_png(by_owner(12), fonts()) != render_png(by_owner(12, "line"), fonts())

    def test_line_points_follow_the_values(self):
        values = [5, 1, 9, 3]
        image = image_of(render_png(by_owner(4, "line", values), fonts()))
        px = image.load()
        target = rgb(PALETTE[0])
        assert sum(1 for x in range(image.width) for y in range(image.height) if px[x, y] == target) > 100


class TestRoundAndOthers:
    def test_pie_slices_are_sized_by_value_and_the_rest_is_other(self):
        values = [50, 30, 20]
        image = image_of(render_png(by_owner(3, "pie", values), fonts()))
        counts = image.getcolors(960 * 540)
        area = {c: n for n, c in counts}
        assert area[rgb(PALETTE[0])] > area[rgb(PALETTE[1])] > area[rgb(PALETTE[2])]
        cut, _ = bound(by_owner(15, "pie"))
        assert len(cut.categories) == 10 and cut.categories[-1] == "Other (6)"
        assert sum(v for v in cut.series[0].values) == sum(v for v in by_owner(15, "pie").series[0].values)

    def test_ring_funnel_kpi_table_heatmap_all_draw(self):
        drawn = {view: render_png(by_owner(6, view), fonts()) for view in ("ring", "funnel", "kpi", "table", "pivot")}
        assert len(set(drawn.values())) == 4  # a one-dimension pivot is the table
        for content in drawn.values():
            assert image_of(content).size == (960, 540)
        rows = [[x, y, x * y] for x in range(1, 5) for y in range(1, 4)]
        heat = from_table("heatmap", "Heat", ["x", "y", "n"], rows, dimensions=2, percent_measures=[False])
        image = image_of(render_png(heat, fonts()))
        assert rgb("#bf444c") in {c for _, c in image.getcolors(960 * 540)}  # the largest cell is the darkest

    def test_rates_are_percentages_and_an_empty_report_says_no_data(self):
        spec = from_table("kpi", "Rate", ["Rate"], [[0.25]], dimensions=0, percent_measures=[True])
        assert spec.series[0].is_percent
        empty = from_table("bar", "Empty", ["Owner", "Orders"], [], dimensions=1, percent_measures=[False])
        assert image_of(render_png(empty, fonts())).size == (960, 540)

    def test_a_dashboard_of_tiles_is_one_image(self):
        tiles = [(by_owner(6, view), (i % 2) * 6, (i // 2) * 3, 6, 3)
                 for i, view in enumerate(["bar", "pie", "line", "kpi"])]
        image = image_of(compose_png("Sales director", tiles, fonts()))
        assert image.width == 1200 and image.height == 56 + 6 * 90 + 8

    def test_nice_ticks_include_zero_and_the_maximum(self):
        assert nice_ticks(0, 12) == [0, 2.5, 5, 7.5, 10, 12.5]
        assert nice_ticks(-3, 7)[0] <= -3 and 0 in nice_ticks(-3, 7)


class TestFonts:
    @pytest.mark.skipif(not os.path.exists(NOTO), reason="fonts-noto-cjk is not installed here")
    def test_debian_noto_cjk_is_found_with_its_simplified_chinese_face(self):
        source = chart_fonts.find()
        assert source.has_cjk and source.path == NOTO
        assert chart_fonts.Fonts(source).size(20).getname()[0].endswith("SC")

    def test_the_environment_font_comes_first(self):
        assert chart_fonts.candidates("/opt/my.ttf")[0] == "/opt/my.ttf"

    def test_without_a_cjk_font_chinese_is_a_question_mark_said_in_the_image_and_the_log(self, caplog):
        source = chart_fonts.find(paths=[])
        assert not source.has_cjk
        plain = chart_fonts.Fonts(source)
        image = draw_image(by_owner(3), plain)
        assert plain.replaced > 0 and plain.text("负责人 A") == "??? A"
        assert image.size == (960, 540)
        from backend.reports import images
        with caplog.at_level(logging.WARNING, logger="gendan.reports.images"):
            images._logged(plain, "t")
        assert "drawn as '?'" in caplog.text
        latin_only = chart_fonts.Fonts(chart_fonts.FontSource(None))
        assert image_of(render_png(by_owner(3), latin_only)).size == (960, 540)  # Pillow's own font, no crash
