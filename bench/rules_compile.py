"""Benchmark: compile time of large conditions (issue 18: `+` over 1,000 / 10,000 operands took
3.7 s / 412 s, an `if` pairing 200 x 200 branches 11.5 s).

Compiles each condition with `engine.rules.compiler.compile_condition` and renders it for
PostgreSQL, best of 3; the conditions are past the publish limits (engine/rules/limits.py) on
purpose, to show that the compiler itself is linear. Numbers go to docs/benchmarks.md.

Usage: .venv/bin/python bench/rules_compile.py
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import JSON, Float, Numeric, String, column, table
from sqlalchemy.dialects import postgresql

from engine.facts import FactContext, default_catalogue
from engine.rules.compiler import NotCompilable, compile_condition

CATALOGUE = default_catalogue()
COLUMNS = table("sales_order", column("amount", Numeric(18, 2)), column("stage", String()),
                column("urge_count", Float()), column("data", JSON())).c
CTX = FactContext(now=datetime(2026, 1, 1, tzinfo=UTC))
AMOUNT = {"var": "urge_count"}


def chain(n: int) -> dict:
    return {"if": [p for i in range(n) for p in ({">": [AMOUNT, i]}, {">": [AMOUNT, i + 1]})] + [False]}


def paired(n: int) -> dict:
    side = {"if": [p for i in range(n) for p in ({">": [AMOUNT, i]}, i)] + [0]}
    return {"==": [side, side]}


def best(condition) -> str:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        try:
            sql = str(compile_condition(condition, CATALOGUE, COLUMNS, CTX).compile(dialect=postgresql.dialect()))
        except NotCompilable as exc:
            return f"refused ({exc.code}) in {time.perf_counter() - start:.3f} s"
        times.append(time.perf_counter() - start)
    return f"{min(times):.3f} s, {len(sql):,} characters of SQL"


def main() -> None:
    for n in (1_000, 10_000):
        print(f"+ over {n:,} operands: {best({'>': [{'+': [AMOUNT] * n}, 0]})}")
    for n in (1_000, 4_000):
        print(f"if with {n:,} truth branches: {best(chain(n))}")
    for n in (50, 200):
        print(f"if of {n} x if of {n} branches compared: {best(paired(n))}")


if __name__ == "__main__":
    main()
