"""Chart images drawn on the server (backend/charts): render times of a 12-bar chart, a 500-category
chart (bounded to 30 drawn) and a dashboard of 8 tiles composed into one image.

    .venv/bin/python bench/reportimg_render.py [--repeat 20]

Pure drawing: no database. Prints the median and the slowest wall time of `repeat` runs, the median process CPU time (less
sensitive to a loaded machine) and the PNG sizes.
"""

from __future__ import annotations

import argparse
import statistics
import time

from backend.charts import fonts as chart_fonts
from backend.charts.draw import compose_png, render_png
from backend.charts.spec import from_table


def spec(n: int, view: str = "bar", title: str = "按负责人 Orders by owner"):
    rows = [[f"销售 {i}", (i * 37) % 101 + 1, (i * 13) % 17 * 1000.0] for i in range(n)]
    return from_table(view, title, ["负责人", "订单", "金额"], rows, dimensions=1, percent_measures=[False, False])


def timed(label: str, repeat: int, draw) -> None:
    times, cpu, size = [], [], 0
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        size = len(draw())
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    print(f"{label:<42} wall median {statistics.median(times):7.1f} ms  max {max(times):7.1f} ms   "
          f"cpu median {statistics.median(cpu):7.1f} ms   png {size / 1024:6.1f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()
    source = chart_fonts.default_source()
    print(f"font lookup {1000 * (time.perf_counter() - start):.1f} ms: {source}")
    fonts = chart_fonts.Fonts(source)
    timed("12-bar chart (960x540)", args.repeat, lambda: render_png(spec(12), fonts))
    timed("500-category bar chart, 30 drawn (960x540)", args.repeat, lambda: render_png(spec(500), fonts))
    views = ["bar", "stacked_bar", "line", "pie", "ring", "funnel", "kpi", "table"]
    tiles = [(spec(12, view, f"Tile {i} {view}"), (i % 2) * 6, (i // 2) * 4, 6, 4) for i, view in enumerate(views)]
    timed("dashboard of 8 tiles (1200x1504)", args.repeat, lambda: compose_png("Sales director", tiles, fonts))


if __name__ == "__main__":
    main()
