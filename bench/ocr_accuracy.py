"""Contract OCR accuracy, field by field, on contracts rendered here (tests/factories/contracts.py).

    .venv/bin/python -m bench.ocr_accuracy              # 10 Chinese + 10 English, clean and photographed
    .venv/bin/python -m bench.ocr_accuracy --n 20 -v    # 20 of each, printing every wrong field

Each contract goes through the real reader (backend/ocr/reader.py: preprocessing, Tesseract
subprocess) and the engine's extraction, with the renderer's customers as the known customers (as
the backend matches against the customer table). A field is right when it equals the truth exactly
(numbers as decimals, dates as dates, product names with spaces ignored); a line item's product,
quantity and unit price are three fields. A benchmark, not a test: figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict
from decimal import Decimal

from backend.ocr.reader import read_file
from engine.ocr import extract, group_lines
from tests.factories.contracts import EN_CUSTOMERS, ZH_CUSTOMERS, make_contract, photograph, render, to_bytes

FIELDS = ("contract_no", "customer", "amount", "currency", "signed_on", "delivery_date")


def score(draft: dict, truth: dict) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for key in FIELDS:
        got = (draft["fields"].get(key) or {}).get("value")
        want = truth[key]
        ok = got is not None and (Decimal(str(got)) == Decimal(want) if key == "amount" else str(got) == want)
        out[key] = (int(ok), 1)
    for col in ("product", "quantity", "unit_price"):
        right = 0
        for i, item in enumerate(truth["items"]):
            got = draft["items"][i][col]["value"] if i < len(draft["items"]) else None
            want = item[col]
            if col == "product":
                ok = got is not None and str(got).replace(" ", "").lower() == want.replace(" ", "").lower()
            else:
                ok = got is not None and Decimal(str(got)) == Decimal(str(want))
            right += int(ok)
        out[f"items.{col}"] = (right, len(truth["items"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("-v", action="store_true")
    args = parser.parse_args()
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    seconds: dict[str, float] = defaultdict(float)
    for lang in ("zh", "en"):
        for seed in range(args.n):
            contract = make_contract(seed, lang)
            clean = render(contract)
            for variant, data in (("clean", to_bytes(clean)), ("noisy", to_bytes(photograph(clean, seed), "JPEG"))):
                started = time.perf_counter()
                words = read_file(data, max_bytes=50_000_000)
                seconds[variant] += time.perf_counter() - started
                draft = extract(group_lines(words), customers=ZH_CUSTOMERS + EN_CUSTOMERS).as_dict()
                for key, (right, total) in score(draft, contract.truth()).items():
                    tally[(f"{lang}/{variant}", key)][0] += right
                    tally[(f"{lang}/{variant}", key)][1] += total
                    if args.v and right < total:
                        got = draft["items"] if key.startswith("items") else draft["fields"].get(key)
                        got = [{k: v["value"] for k, v in i.items()} for i in got] if key.startswith("items") else got
                        print(f"  {lang}/{variant} #{seed} {key}: got {got} want "
                              f"{contract.truth()['items'] if key.startswith('items') else contract.truth()[key]}")
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{args.n} contracts per language")
    groups = sorted({g for g, _ in tally})
    keys = list(FIELDS) + ["items.product", "items.quantity", "items.unit_price"]
    print(f"{'field':18}" + "".join(f"{g:>12}" for g in groups))
    for key in keys:
        print(f"{key:18}" + "".join(f"{100 * tally[(g, key)][0] / max(1, tally[(g, key)][1]):11.1f}%" for g in groups))
    for g in groups:
        right = sum(tally[(g, k)][0] for k in keys)
        total = sum(tally[(g, k)][1] for k in keys)
        print(f"all fields {g}: {right}/{total} = {100 * right / total:.1f}%")
    for variant, s in seconds.items():
        print(f"mean read time {variant}: {s / (2 * args.n):.1f} s per page")


if __name__ == "__main__":
    main()
