"""Copy the pinned browser libraries from frontend/node_modules into frontend/static/vendor.

Which files are served is listed here, so the app serves exactly these and nothing else from npm.
Run after `npm ci --prefix frontend` (the Makefile does both).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "frontend" / "node_modules"
VENDOR = ROOT / "frontend" / "static" / "vendor"

# package -> files inside the package to serve (a folder is copied whole)
FILES: dict[str, list[str]] = {
    "htmx.org": ["dist/htmx.min.js"],
    "htmx-ext-ws": ["dist/ws.min.js", "ws.js"],
    "sortablejs": ["Sortable.min.js"],
    # charts: model page (docs/foresight.md), reports and dashboards (docs/reports.md)
    "echarts": ["dist/echarts.min.js", "LICENSE", "NOTICE"],
    "@logicflow/core": ["dist/index.min.js", "dist/index.css", "lib/style/index.css", "dist"],
    "@logicflow/extension": ["dist/index.min.js", "dist/index.css", "lib/style/index.css", "dist"],
    # /docs (frontend/pages/api_docs.py); the bundle's .map files are left out
    "swagger-ui-dist": ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "NOTICE"],
}


def main() -> int:
    declared = json.loads((ROOT / "frontend" / "package.json").read_text())["dependencies"]
    missing = []
    for package in declared:
        src_pkg = MODULES / package
        if not src_pkg.exists():
            missing.append(package)
            continue
        copied = False
        for rel in FILES.get(package, []):
            src = src_pkg / rel
            dest = VENDOR / package / rel
            if src.is_dir():
                shutil.copytree(src, dest, dirs_exist_ok=True)
                copied = True
            elif src.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
                copied = True
        if not copied:
            missing.append(f"{package} (no listed file found)")
    if missing:
        print("vendor: missing " + ", ".join(missing) + " — run `npm ci --prefix frontend`", file=sys.stderr)
        return 1
    print(f"vendor: {len(declared)} packages copied to {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
