"""Congestion at the moment of a hand-over: how busy the carriers are, known then (issue 14).

Pure (no I/O, `at` passed in). The inputs are the shipments known so far as columns
(`Shipments`: when each was handed to the carrier, when it was delivered — NaN while in transit —
and where it went / came from). For each query (a hand-over at time `at`) only shipments handed
over strictly before `at`, and deliveries strictly before `at`, are counted; a delivery after `at`
counts as "still in transit" — exactly what a live system sees at that moment. So the features of
a row never change when anything after its hand-over changes (tests/engine/foresight/
test_congestion.py checks that by perturbing the future).

Features (`CONGESTION_FEATURES`):

- `handover_ratio_1d/3d/7d`: hand-overs in the last 1/3/7 days ÷ what the trailing 8 weeks before
  that (days 7..63 back) would give in as many days, all shipments; `state_handover_ratio_7d` to the
  customer's state, `seller_state_handover_ratio_7d` from the seller's state (NaN when the 8 weeks
  hold fewer than `MIN_BASE` shipments, e.g. at the start of the data);
- `backlog_share`: of the shipments handed over 5–15 days ago, the share not yet delivered now;
  `fresh_backlog_share` the same for 3–10 days ago (a faster, noisier reading);
- `state_transit_p50_14d/30d`, `state_transit_p90_30d`: median / 90th percentile of the realised
  transit (delivered − handed over) of shipments to the customer's state delivered in the last
  14 / 30 days (falling back to all states when fewer than `MIN_STATE` were delivered);
- `slack_over_p50`, `slack_over_p90`: the order's slack (estimate − hand-over) ÷ the state's
  30-day p50 / p90 — how many typical transits of the moment fit into the time left.

Cost: one binary search per row and window plus a median over that row's window (a Python loop
over rows, ~0.3 s for 10,000 rows; a production batch would compute the per-state figures once
per hour, not per order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONGESTION_FEATURES = (
    "handover_ratio_1d", "handover_ratio_3d", "handover_ratio_7d", "state_handover_ratio_7d",
    "seller_state_handover_ratio_7d", "backlog_share", "fresh_backlog_share", "state_transit_p50_14d",
    "state_transit_p50_30d", "state_transit_p90_30d", "slack_over_p50", "slack_over_p90",
)
BASE_FROM_DAYS, BASE_TO_DAYS = 7.0, 63.0  # the trailing 8 weeks a recent count is compared with
MIN_BASE = 20  # shipments in those 8 weeks for a ratio (else NaN)
MIN_STATE = 5  # deliveries to a state in the window for its own transit figures (else all states)
BACKLOG_WINDOW = (5.0, 15.0)  # handed over this many days ago (from, to)
FRESH_BACKLOG_WINDOW = (3.0, 10.0)


@dataclass(frozen=True)
class Shipments:
    """Every shipment known so far, aligned arrays; times in days since 1970."""

    carrier: np.ndarray  # handed to the carrier (NaN: not yet — never counted)
    delivered: np.ndarray  # NaN while in transit
    customer_state: np.ndarray  # str
    seller_state: np.ndarray  # str


def _sorted_by(values: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.flatnonzero(keep)
    order = idx[np.argsort(values[idx], kind="stable")]
    return order, values[order]


def _count_between(sorted_times: np.ndarray, since: np.ndarray, until: np.ndarray) -> np.ndarray:
    """How many of `sorted_times` fall in [since, until) for each row."""
    return (np.searchsorted(sorted_times, until, side="left")
            - np.searchsorted(sorted_times, since, side="left")).astype("float64")


def _ratio(times: np.ndarray, at: np.ndarray, days: float) -> np.ndarray:
    recent = _count_between(times, at - days, at)
    base = _count_between(times, at - BASE_TO_DAYS, at - BASE_FROM_DAYS)
    per_day = base / (BASE_TO_DAYS - BASE_FROM_DAYS)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(base >= MIN_BASE, recent / (per_day * days), np.nan)


def _grouped_ratio(ship_keys: np.ndarray, carrier: np.ndarray, query_keys: np.ndarray, at: np.ndarray,
                   days: float) -> np.ndarray:
    out = np.full(len(at), np.nan)
    known = ~np.isnan(carrier)
    for key in np.unique(query_keys.astype(str)):
        rows = np.flatnonzero(query_keys.astype(str) == key)
        _, times = _sorted_by(carrier, known & (ship_keys.astype(str) == key))
        out[rows] = _ratio(times, at[rows], days)
    return out


def _backlog(carrier_order: np.ndarray, carrier_sorted: np.ndarray, delivered: np.ndarray, at: np.ndarray,
             window: tuple[float, float]) -> np.ndarray:
    """Share of the shipments handed over in [at − window[1], at − window[0]) not delivered by `at`."""
    lo = np.searchsorted(carrier_sorted, at - window[1], side="left")
    hi = np.searchsorted(carrier_sorted, at - window[0], side="left")
    out = np.full(len(at), np.nan)
    for i in range(len(at)):
        if hi[i] > lo[i]:
            d = delivered[carrier_order[lo[i]:hi[i]]]
            out[i] = float(np.mean(~(d < at[i])))  # NaN (in transit) or delivered at/after `at`: not yet
    return out


class _TransitWindows:
    """Realised transits by delivery time, per customer state and overall, for window quantiles."""

    def __init__(self, s: Shipments):
        done = ~np.isnan(s.carrier) & ~np.isnan(s.delivered)
        self.all_order, self.all_times = _sorted_by(s.delivered, done)
        self.transit = s.delivered - s.carrier
        self.by_state = {}
        states = s.customer_state.astype(str)
        for key in np.unique(states[done]):
            self.by_state[key] = _sorted_by(s.delivered, done & (states == key))

    def quantiles(self, state: str, at: float, days: float, qs: tuple[float, ...]) -> list[float]:
        order, times = self.by_state.get(state, (None, None))
        if order is not None:
            lo, hi = np.searchsorted(times, at - days, side="left"), np.searchsorted(times, at, side="left")
            if hi - lo >= MIN_STATE:
                return list(np.quantile(self.transit[order[lo:hi]], qs))
        lo, hi = np.searchsorted(self.all_times, at - days, side="left"), np.searchsorted(self.all_times, at, side="left")
        if hi > lo:
            return list(np.quantile(self.transit[self.all_order[lo:hi]], qs))
        return [np.nan] * len(qs)


def congestion_features(shipments: Shipments, at: np.ndarray, customer_state: np.ndarray,
                        seller_state: np.ndarray, slack: np.ndarray) -> np.ndarray:
    """rows × len(CONGESTION_FEATURES) (float64, NaN for unknown) for hand-overs at `at` (days since
    1970) of orders to `customer_state` from `seller_state` with `slack` days left to the estimate."""
    at = np.asarray(at, dtype="float64")
    n = len(at)
    known = ~np.isnan(shipments.carrier)
    carrier_order, carrier_sorted = _sorted_by(shipments.carrier, known)
    cols: dict[str, np.ndarray] = {}
    for days in (1.0, 3.0, 7.0):
        cols[f"handover_ratio_{int(days)}d"] = _ratio(carrier_sorted, at, days)
    cols["state_handover_ratio_7d"] = _grouped_ratio(shipments.customer_state, shipments.carrier, customer_state, at, 7.0)
    cols["seller_state_handover_ratio_7d"] = _grouped_ratio(shipments.seller_state, shipments.carrier, seller_state,
                                                            at, 7.0)
    cols["backlog_share"] = _backlog(carrier_order, carrier_sorted, shipments.delivered, at, BACKLOG_WINDOW)
    cols["fresh_backlog_share"] = _backlog(carrier_order, carrier_sorted, shipments.delivered, at, FRESH_BACKLOG_WINDOW)
    windows = _TransitWindows(shipments)
    p50_14, p50_30, p90_30 = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    states = np.asarray(customer_state).astype(str)
    for i in range(n):
        if np.isnan(at[i]):
            continue
        p50_14[i] = windows.quantiles(states[i], at[i], 14.0, (0.5,))[0]
        p50_30[i], p90_30[i] = windows.quantiles(states[i], at[i], 30.0, (0.5, 0.9))
    cols["state_transit_p50_14d"], cols["state_transit_p50_30d"], cols["state_transit_p90_30d"] = p50_14, p50_30, p90_30
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["slack_over_p50"] = np.where(p50_30 > 0, slack / p50_30, np.nan)
        cols["slack_over_p90"] = np.where(p90_30 > 0, slack / p90_30, np.nan)
    if not n:
        return np.zeros((0, len(CONGESTION_FEATURES)))
    return np.column_stack([np.asarray(cols[name], dtype="float64") for name in CONGESTION_FEATURES])
