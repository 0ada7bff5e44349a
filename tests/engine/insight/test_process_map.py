"""The directly-follows graph from hand-made logs: exact counts, medians, p90s, loops and skips."""

from datetime import UTC, datetime, timedelta

from engine.flows.definition import load_definition
from engine.insight.process_map import build_map, chain, drawn_from_flow, quantile

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DRAWN = chain(["draft", "approval", "production", "shipping"])


def trace(*steps: tuple[str, float]):
    """(stage, hours after T0) pairs."""
    return [(s, T0 + timedelta(hours=h)) for s, h in steps]


def edge(pm, a, b):
    return next(e for e in pm.edges if (e.source, e.target) == (a, b))


def test_quantile_is_linear_between_ranks():
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([0, 10], 0.9) == 9.0
    assert quantile([7], 0.9) == 7


def test_counts_medians_and_p90():
    logs = [trace(("draft", 0), ("approval", h), ("production", h + 10)) for h in (1, 2, 3, 4, 10)]
    pm = build_map(logs, DRAWN)
    assert pm.orders == 5
    assert [(n.stage, n.count) for n in pm.nodes] == [("draft", 5), ("approval", 5), ("production", 5)]
    e = edge(pm, "draft", "approval")
    assert (e.count, e.median_s, e.p90_s) == (5, 3 * 3600, 7.6 * 3600)  # 4 + 0.6 × (10 − 4) hours
    assert e.kind == "drawn"
    assert edge(pm, "approval", "production").median_s == 10 * 3600
    assert len(pm.edges) == 2


def test_rework_loop_and_skip_are_marked_not_drawn():
    logs = [
        trace(("draft", 0), ("approval", 1), ("draft", 2), ("approval", 3), ("production", 4)),
        trace(("draft", 0), ("production", 5), ("shipping", 6)),
    ]
    pm = build_map(logs, DRAWN)
    assert edge(pm, "approval", "draft").kind == "loop"
    assert edge(pm, "approval", "draft").count == 1
    assert edge(pm, "draft", "approval").count == 2
    assert edge(pm, "draft", "production").kind == "skip"
    assert edge(pm, "production", "shipping").kind == "drawn"
    assert {n.stage: n.count for n in pm.nodes}["draft"] == 3
    # a self-loop (re-entering the same stage) is rework too
    assert build_map([trace(("draft", 0), ("draft", 1))], DRAWN).edges[0].kind == "loop"


def test_unknown_stage_goes_after_the_drawn_ones():
    pm = build_map([trace(("draft", 0), ("rejected", 1))], DRAWN)
    assert [n.stage for n in pm.nodes] == ["draft", "rejected"]
    assert pm.nodes[1].drawn is False
    assert pm.edges[0].kind == "other"


def test_bottleneck_is_the_edge_far_slower_than_the_rest():
    logs = [trace(("draft", 0), ("approval", 1), ("production", 2), ("shipping", 50)) for _ in range(3)]
    pm = build_map(logs, DRAWN)
    assert [(e.source, e.target) for e in pm.edges if e.bottleneck] == [("production", "shipping")]
    even = build_map([trace(("draft", 0), ("approval", 1), ("production", 2))], DRAWN)
    assert not any(e.bottleneck for e in even.edges)


def test_empty_log():
    pm = build_map([], DRAWN)
    assert (pm.orders, pm.nodes, pm.edges) == (0, (), ())


def test_drawn_stages_from_a_flow_pass_through_gateways():
    defn = load_definition({
        "key": "f", "nodes": [
            {"type": "start", "key": "s"},
            {"type": "approval", "key": "a", "stage": "approval"},
            {"type": "exclusive", "key": "x"},
            {"type": "task", "key": "p", "stage": "production"},
            {"type": "end", "key": "e", "stage": "completed"},
        ],
        "edges": [{"key": "1", "source": "s", "target": "a"}, {"key": "2", "source": "a", "target": "x"},
                  {"key": "3", "source": "x", "target": "p"}, {"key": "4", "source": "x", "target": "e"},
                  {"key": "5", "source": "p", "target": "e"}],
    })
    drawn = drawn_from_flow(defn)
    assert drawn.order[0] == "approval"
    assert set(drawn.order) == {"approval", "production", "completed"}
    assert drawn.edges == {("approval", "production"), ("approval", "completed"), ("production", "completed")}
