"""A conversion funnel's steps in the order of the process, not of the counts.

Why this exists: a funnel with `"conversion": true` labels each stage with its share of the stage
before. "The stage before" is the stage before it in the flow (the published flows' stage order as
the process map draws it, else the built-in draft → … → completed), so a stage that an order reaches
after rework, or one that more orders reach than the stage before it, still reads in process order.
Stages the flow does not know (e.g. `rejected`) follow the known ones, largest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["STAGE_FIELDS", "in_process_order", "is_conversion_funnel"]

#: the fields whose values are stages (orders data set and the other data sets' `order.stage`)
STAGE_FIELDS = ("stage", "stage_to", "stage_from", "order.stage")


def is_conversion_funnel(view: dict[str, Any], dimensions: Sequence[str]) -> bool:
    """Whether a report is a conversion funnel over stages: view funnel with `conversion`, first
    dimension a stage field."""
    return view.get("type") == "funnel" and bool(view.get("conversion")) and bool(dimensions) \
        and dimensions[0] in STAGE_FIELDS


def in_process_order(rows: Sequence[Sequence[Any]], order: Sequence[str], measure: int) -> list[list[Any]]:
    """The rows (first column a stage, column `measure` the count) in the flow's stage order;
    stages outside `order` after them, largest first, then by name."""
    position = {stage: i for i, stage in enumerate(order)}
    known = len(position)

    def rank(row: Sequence[Any]) -> tuple[int, float, str]:
        stage, value = row[0], row[measure]
        if stage in position:
            return position[stage], 0.0, ""
        return known, -float(value or 0), str(stage)

    return [list(r) for r in sorted(rows, key=rank)]
