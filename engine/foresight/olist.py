"""Delay-risk features of the Olist orders, known when the carrier takes the parcel (issue 14).

Pure (no I/O): the caller reads the CSV files and hands in their rows (dicts of strings). The
question: will the order reach the customer after `order_estimated_delivery_date`? It is asked at
carrier hand-over (`order_delivered_carrier_date`), so every feature is something known then:

- the order's own dates (slack = estimated − hand-over, approval and hand-over lags, the promise
  made at purchase, the seller's hand-over against the shipping limit), calendar (weekday, month);
- where it goes (customer state, seller state, same state, the distance between the states'
  capitals), what it is (category, items, sellers,
  price, freight, freight ratio, weight, instalments);
- history as of the hand-over: the seller's, the customer state's, the seller state's, the
  route's (seller state → customer state) and the category's on-time rate and mean transit days,
  from TRAINING-period orders only and only those already delivered before this order's
  hand-over (`RateTable`); and the carriers' recent mood: mean transit and late share of all
  orders delivered in the 14 days before the hand-over (known at that moment, `recent_*`).

Columnar throughout (numpy arrays, `OrderColumns`), so the same code builds 10,000 rows for the
evaluation and 1,000,000 for the scoring benchmark (bench/foresight_score.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

Row = Mapping[str, str]

NUMERIC_FEATURES = (
    "slack_days", "margin_days", "approval_lag_days", "handover_lag_days", "purchase_to_handover_days",
    "promised_days", "handover_vs_limit_days", "purchase_weekday", "purchase_month", "handover_weekday",
    "same_state", "n_items", "n_sellers", "price", "freight", "freight_ratio", "weight_kg",
    "installments", "seller_on_time", "seller_history_n", "customer_state_on_time",
    "seller_state_on_time", "route_on_time", "route_transit_days", "category_on_time",
    "recent_transit_days", "recent_late_share", "due_late_share", "handover_volume_ratio",
    "customer_zip", "seller_zip", "state_recent_transit_days", "state_recent_late_share",
    "state_due_late_share", "recent_margin_days", "distance_km",
)
CATEGORICAL_FEATURES = ("customer_state", "seller_state", "category")
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES

PRIOR_WEIGHT = 10.0  # pseudo-orders pulling a small seller's rate towards the overall rate
RECENT_WINDOW_DAYS = 14.0
DUE_WINDOW_DAYS = 7.0
STATE_WINDOW_DAYS = 21.0
_KEY_STRIDE = 1.0e6  # composite sort key: group code × stride + day (days since 1970 < 1e5)
#: latitude, longitude of each Brazilian state's capital: `distance_km` is seller state → customer state
#: as the crow flies between capitals (0 within a state; the geolocation table is not in the shared data)
STATE_CAPITALS: Mapping[str, tuple[float, float]] = {
    "AC": (-9.97, -67.81), "AL": (-9.67, -35.74), "AP": (0.03, -51.07), "AM": (-3.12, -60.02),
    "BA": (-12.97, -38.50), "CE": (-3.73, -38.52), "DF": (-15.79, -47.88), "ES": (-20.32, -40.34),
    "GO": (-16.68, -49.25), "MA": (-2.53, -44.30), "MT": (-15.60, -56.10), "MS": (-20.44, -54.65),
    "MG": (-19.92, -43.94), "PA": (-1.46, -48.50), "PB": (-7.12, -34.86), "PR": (-25.43, -49.27),
    "PE": (-8.05, -34.90), "PI": (-5.09, -42.80), "RJ": (-22.91, -43.17), "RN": (-5.79, -35.21),
    "RS": (-30.03, -51.23), "RO": (-8.76, -63.90), "RR": (2.82, -60.67), "SC": (-27.60, -48.55),
    "SP": (-23.55, -46.63), "SE": (-10.91, -37.07), "TO": (-10.18, -48.33),
}


def to_days(values: Iterable[str]) -> np.ndarray:
    """ISO timestamps ('2017-10-02 10:56:33', '' for none) → float days since 1970 (NaN for none)."""
    raw = np.array(list(values), dtype="datetime64[s]")  # numpy reads the space and '' (NaT)
    out = raw.astype("int64").astype("float64") / 86400.0
    out[np.isnat(raw)] = np.nan
    return out


def _float(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


@dataclass(frozen=True)
class OrderColumns:
    """One entry per order, aligned arrays. Times in days since 1970 (NaN when missing)."""

    order_id: np.ndarray
    purchase: np.ndarray
    approved: np.ndarray
    carrier: np.ndarray
    delivered: np.ndarray
    estimated: np.ndarray
    shipping_limit: np.ndarray  # the earliest item's limit for handing over to the carrier
    customer_state: np.ndarray  # str
    seller_state: np.ndarray  # str, of the main seller (the dearest item's)
    seller_id: np.ndarray  # str, the main seller
    category: np.ndarray  # str, of the dearest item
    n_items: np.ndarray
    n_sellers: np.ndarray
    price: np.ndarray
    freight: np.ndarray
    weight_kg: np.ndarray
    installments: np.ndarray
    customer_zip: np.ndarray  # the 5-digit CEP prefix as a number (Brazilian postcodes are geographic)
    seller_zip: np.ndarray

    def __len__(self) -> int:
        return len(self.order_id)

    def take(self, index: np.ndarray) -> OrderColumns:
        return OrderColumns(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def join_tables(orders: Sequence[Row], items: Iterable[Row], customers: Iterable[Row],
                products: Iterable[Row], sellers: Iterable[Row], payments: Iterable[Row]) -> OrderColumns:
    """The six Olist tables → one row per order (orders without items get empty strings / NaN)."""
    customers, sellers = list(customers), list(sellers)
    state_of_customer = {r["customer_id"]: r.get("customer_state", "") for r in customers}
    zip_of_customer = {r["customer_id"]: _float(r.get("customer_zip_code_prefix")) for r in customers}
    zip_of_seller = {r["seller_id"]: _float(r.get("seller_zip_code_prefix")) for r in sellers}
    category_of = {r["product_id"]: r.get("product_category_name", "") or "" for r in products}
    weight_of = {r["product_id"]: _float(r.get("product_weight_g")) for r in products}
    state_of_seller = {r["seller_id"]: r.get("seller_state", "") for r in sellers}
    # per order: (price, freight, seller, product, shipping limit) of each item, parsed once
    per_order: dict[str, list[tuple[float, float, str, str, str]]] = {}
    for r in items:
        entry = (_float(r.get("price")), _float(r.get("freight_value")), r.get("seller_id", ""),
                 r.get("product_id", ""), r.get("shipping_limit_date", "") or "")
        bucket = per_order.get(r["order_id"])
        if bucket is None:
            per_order[r["order_id"]] = [entry]
        else:
            bucket.append(entry)
    installments: dict[str, float] = {}
    for r in payments:
        installments[r["order_id"]] = max(installments.get(r["order_id"], 0.0), _float(r.get("payment_installments")))

    nan = float("nan")
    seller_id, seller_state, category, limit, n_items, n_sellers, price, freight, weight = \
        [], [], [], [], [], [], [], [], []
    for o in orders:
        its = per_order.get(o["order_id"])
        if not its:
            seller_id.append(""), seller_state.append(""), category.append(""), limit.append("")
            n_items.append(0.0), n_sellers.append(0.0), price.append(nan), freight.append(nan), weight.append(nan)
            continue
        if len(its) == 1:
            main = its[0]
            limits = [main[4]] if main[4] else []
            weights = weight_of.get(main[3], nan)
            n_items.append(1.0), n_sellers.append(1.0), price.append(main[0]), freight.append(main[1])
            weight.append(weights / 1000.0 if weights == weights else 0.0)
        else:
            main = max(its, key=lambda e: e[0] if e[0] == e[0] else -1.0)
            limits = [e[4] for e in its if e[4]]
            grams = [weight_of.get(e[3], nan) for e in its]
            n_items.append(float(len(its))), n_sellers.append(float(len({e[2] for e in its})))
            price.append(sum(e[0] for e in its)), freight.append(sum(e[1] for e in its))
            weight.append(sum(g for g in grams if g == g) / 1000.0)
        seller_id.append(main[2])
        seller_state.append(state_of_seller.get(main[2], ""))
        category.append(category_of.get(main[3], ""))
        limit.append(min(limits) if limits else "")
    return OrderColumns(
        order_id=np.array([o["order_id"] for o in orders], dtype=object),
        purchase=to_days(o.get("order_purchase_timestamp", "") for o in orders),
        approved=to_days(o.get("order_approved_at", "") for o in orders),
        carrier=to_days(o.get("order_delivered_carrier_date", "") for o in orders),
        delivered=to_days(o.get("order_delivered_customer_date", "") for o in orders),
        estimated=to_days(o.get("order_estimated_delivery_date", "") for o in orders),
        shipping_limit=to_days(limit),
        customer_state=np.array([state_of_customer.get(o.get("customer_id", ""), "") for o in orders], dtype=object),
        seller_state=np.array(seller_state, dtype=object), seller_id=np.array(seller_id, dtype=object),
        category=np.array(category, dtype=object), n_items=np.array(n_items), n_sellers=np.array(n_sellers),
        price=np.array(price), freight=np.array(freight), weight_kg=np.array(weight),
        installments=np.array([installments.get(o["order_id"], np.nan) for o in orders]),
        customer_zip=np.array([zip_of_customer.get(o.get("customer_id", ""), np.nan) for o in orders]),
        seller_zip=np.array([zip_of_seller.get(s, np.nan) for s in seller_id]),
    )


def state_distance_km(from_state: np.ndarray, to_state: np.ndarray) -> np.ndarray:
    """Great-circle km between the two states' capitals (NaN where a state is unknown)."""
    def coords(states: np.ndarray) -> np.ndarray:
        return np.array([STATE_CAPITALS.get(str(s), (np.nan, np.nan)) for s in states], dtype="float64").reshape(-1, 2)

    a, b = np.radians(coords(from_state)), np.radians(coords(to_state))
    h = np.sin((b[:, 0] - a[:, 0]) / 2) ** 2 + np.cos(a[:, 0]) * np.cos(b[:, 0]) * np.sin((b[:, 1] - a[:, 1]) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def late_from_transit(log_transit: np.ndarray, slack: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    """P(late) from a transit-time model: the order is late when transit > slack, i.e. when
    log(transit) = `log_transit` (the model's prediction) + a residual exceeds log(slack). The
    residuals' distribution is the empirical one of a held-out slice (no normality assumed),
    smoothed by half an order at each end; no slack left (≤ 0) is all but certainly late."""
    ordered = np.sort(np.asarray(residuals, dtype="float64"))
    if not len(ordered):
        raise ValueError("no residuals to estimate the transit spread from")
    with np.errstate(invalid="ignore", divide="ignore"):
        threshold = np.log(np.maximum(slack, 1e-3)) - log_transit
    above = len(ordered) - np.searchsorted(ordered, np.nan_to_num(threshold, nan=np.inf), side="right")
    p = (above + 0.5) / (len(ordered) + 1.0)
    p = np.where(np.asarray(slack) <= 0, 1.0 - 0.5 / (len(ordered) + 1.0), p)
    return np.where(np.isnan(slack) | np.isnan(log_transit), np.nan, p)


def labelled(cols: OrderColumns) -> np.ndarray:
    """Orders the question can be asked and answered for: handed to the carrier, delivered, with an estimate."""
    return ~np.isnan(cols.carrier) & ~np.isnan(cols.delivered) & ~np.isnan(cols.estimated)


def is_late(cols: OrderColumns) -> np.ndarray:
    """1 where delivered after the estimated delivery date (Olist stores it as that day's 00:00), else 0."""
    return (cols.delivered > cols.estimated).astype(np.int8)


def time_split(purchase: np.ndarray, train_fraction: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the oldest `train_fraction` (by purchase time, stable) and of the newest rest."""
    order = np.argsort(purchase, kind="stable")
    cut = int(round(len(order) * train_fraction))
    return order[:cut], order[cut:]


def _codes(values: np.ndarray, vocabulary: Mapping[str, int]) -> np.ndarray:
    """Strings → float codes of `vocabulary` (NaN for unseen or empty), vectorised through np.unique."""
    uniq, inverse = np.unique(values.astype(str), return_inverse=True)
    mapped = np.array([vocabulary.get(u, np.nan) if u else np.nan for u in uniq], dtype="float64")
    return mapped[inverse] if len(uniq) else np.zeros(0)


@dataclass(frozen=True)
class RateTable:
    """Per group key: delivered orders sorted by delivery time with running late counts and
    transit days, so "as of time t" questions are two binary searches (vectorised for any rows)."""

    vocabulary: Mapping[str, int]
    sort_key: np.ndarray  # code × stride + delivery day, ascending
    cum_late: np.ndarray  # cum_late[k] = late orders among the first k
    cum_transit: np.ndarray

    @classmethod
    def build(cls, keys: np.ndarray, delivered: np.ndarray, late: np.ndarray, transit: np.ndarray) -> RateTable:
        vocabulary = {k: i for i, k in enumerate(sorted({str(k) for k in keys if k}))}
        codes = _codes(keys, vocabulary)
        keep = ~np.isnan(codes) & ~np.isnan(delivered)
        sort_key = codes[keep] * _KEY_STRIDE + delivered[keep]
        order = np.argsort(sort_key, kind="stable")
        return cls(vocabulary=vocabulary, sort_key=sort_key[order],
                   cum_late=np.concatenate([[0.0], np.cumsum(late[keep][order].astype("float64"))]),
                   cum_transit=np.concatenate([[0.0], np.cumsum(np.nan_to_num(transit[keep][order]))]))

    def counts(self, keys: np.ndarray, at: np.ndarray, since: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(orders, late orders, transit days summed) of each row's key delivered in [since, at)."""
        codes = _codes(keys, self.vocabulary)
        known = ~np.isnan(codes) & ~np.isnan(at)
        base = np.where(known, codes, -1.0) * _KEY_STRIDE
        hi = np.searchsorted(self.sort_key, base + np.nan_to_num(at), side="left")
        lo = np.searchsorted(self.sort_key, base + (np.nan_to_num(since) if since is not None else 0.0), side="left")
        hi, lo = np.where(known, hi, 0), np.where(known, lo, 0)
        lo = np.minimum(lo, hi)
        return (hi - lo).astype("float64"), self.cum_late[hi] - self.cum_late[lo], self.cum_transit[hi] - self.cum_transit[lo]


@dataclass(frozen=True)
class History:
    """What the training period teaches: rate tables per group, overall rates, category codes."""

    late_rate: float
    transit_days: float
    tables: Mapping[str, RateTable]  # seller, customer_state, seller_state, route, category, all
    vocabularies: Mapping[str, Mapping[str, int]]  # categorical feature → code


def _route(cols: OrderColumns) -> np.ndarray:
    return np.char.add(np.char.add(cols.seller_state.astype(str), ">"), cols.customer_state.astype(str)).astype(object)


def _group_keys(cols: OrderColumns) -> dict[str, np.ndarray]:
    return {"seller": cols.seller_id, "customer_state": cols.customer_state, "seller_state": cols.seller_state,
            "route": _route(cols), "category": cols.category, "all": np.full(len(cols), "all", dtype=object)}


def learn_history(train: OrderColumns) -> History:
    """Rate tables from training-period orders (labelled ones only) and the category codes."""
    ok = labelled(train)
    t = train.take(np.flatnonzero(ok))
    late, transit = is_late(t), t.delivered - t.carrier
    tables = {name: RateTable.build(keys, t.delivered, late, transit) for name, keys in _group_keys(t).items()}
    vocabularies = {name: {k: i for i, k in enumerate(sorted({str(v) for v in getattr(t, name) if v}))}
                    for name in CATEGORICAL_FEATURES}
    return History(late_rate=float(late.mean()) if len(t) else 0.0,
                   transit_days=float(np.nanmean(transit)) if len(t) else 0.0,
                   tables=tables, vocabularies=vocabularies)


def _smoothed(n: np.ndarray, k: np.ndarray, prior: float) -> np.ndarray:
    return (n - k + PRIOR_WEIGHT * (1.0 - prior)) / (n + PRIOR_WEIGHT)


@dataclass(frozen=True)
class Recent:
    """The carriers' state of the moment, from every order (training or not) as of each hand-over:
    deliveries (by delivery time), due dates (by estimated time: late or not is known once the
    date has passed) and hand-overs (by carrier time)."""

    delivered: RateTable
    due: RateTable
    handed_over: RateTable
    state_delivered: RateTable  # by customer state
    state_due: RateTable


def recent_tables(cols: OrderColumns) -> Recent:
    """`Recent` from the labelled orders of `cols` (in production: every order known so far)."""
    t = cols.take(np.flatnonzero(labelled(cols)))
    everyone, late, transit = np.full(len(t), "all", dtype=object), is_late(t), t.delivered - t.carrier
    return Recent(delivered=RateTable.build(everyone, t.delivered, late, transit),
                  due=RateTable.build(everyone, t.estimated, late, transit),
                  handed_over=RateTable.build(everyone, t.carrier, late, transit),
                  state_delivered=RateTable.build(t.customer_state, t.delivered, late, transit),
                  state_due=RateTable.build(t.customer_state, t.estimated, late, transit))


def build_features(cols: OrderColumns, history: History, recent: Recent | None = None) -> np.ndarray:
    """The feature matrix (rows × len(FEATURES), float64, NaN for unknown) at each order's hand-over.

    `recent`: every order so far, training or not, for the `recent_*`, `due_late_share` and
    `handover_volume_ratio` features (only what is known at the hand-over is counted); None → those
    are NaN (the model copes; see docs/foresight-evaluation.md).
    """
    at = cols.carrier
    keys = _group_keys(cols)
    rate = {}
    for name in ("seller", "customer_state", "seller_state", "route", "category"):
        n, k, transit = history.tables[name].counts(keys[name], at)
        rate[name] = (n, _smoothed(n, k, history.late_rate),
                      (transit + PRIOR_WEIGHT * history.transit_days) / (n + PRIOR_WEIGHT))
    nothing = np.full(len(cols), np.nan)
    recent_transit = recent_late = due_late = volume_ratio = nothing
    state_transit = state_late = state_due_late = nothing
    if recent is not None:
        everyone = keys["all"]
        with np.errstate(invalid="ignore", divide="ignore"):
            n, k, transit = recent.delivered.counts(everyone, at, since=at - RECENT_WINDOW_DAYS)
            recent_transit, recent_late = np.where(n > 0, transit / n, np.nan), np.where(n > 0, k / n, np.nan)
            n, k, _ = recent.due.counts(everyone, at, since=at - DUE_WINDOW_DAYS)
            due_late = np.where(n > 0, k / n, np.nan)
            week, _, _ = recent.handed_over.counts(everyone, at, since=at - 7.0)
            before, _, _ = recent.handed_over.counts(everyone, at - 7.0, since=at - 35.0)
            volume_ratio = np.where(before > 0, week / (before / 4.0), np.nan)
            state = cols.customer_state
            n, k, transit = recent.state_delivered.counts(state, at, since=at - STATE_WINDOW_DAYS)
            state_transit = (transit + PRIOR_WEIGHT * rate["customer_state"][2]) / (n + PRIOR_WEIGHT)
            state_late = (k + PRIOR_WEIGHT * (1 - rate["customer_state"][1])) / (n + PRIOR_WEIGHT)
            n, k, _ = recent.state_due.counts(state, at, since=at - STATE_WINDOW_DAYS)
            state_due_late = (k + PRIOR_WEIGHT * (1 - rate["customer_state"][1])) / (n + PRIOR_WEIGHT)
    purchase_day = np.floor(np.nan_to_num(cols.purchase)).astype("int64")
    carrier_day = np.floor(np.nan_to_num(at)).astype("int64")
    month = (purchase_day.astype("datetime64[D]").astype("datetime64[M]").astype("int64") % 12 + 1).astype("float64")
    slack = cols.estimated - at
    with np.errstate(invalid="ignore", divide="ignore"):
        freight_ratio = np.where(cols.price > 0, cols.freight / cols.price, np.nan)
    numeric = {
        "slack_days": slack,
        "margin_days": slack - rate["route"][2],
        "approval_lag_days": cols.approved - cols.purchase,
        "handover_lag_days": at - np.where(np.isnan(cols.approved), cols.purchase, cols.approved),
        "purchase_to_handover_days": at - cols.purchase,
        "promised_days": cols.estimated - cols.purchase,
        "handover_vs_limit_days": at - cols.shipping_limit,
        "purchase_weekday": np.where(np.isnan(cols.purchase), np.nan, (purchase_day + 3) % 7),  # 0 = Monday
        "purchase_month": np.where(np.isnan(cols.purchase), np.nan, month),
        "handover_weekday": np.where(np.isnan(at), np.nan, (carrier_day + 3) % 7),
        "same_state": (cols.customer_state.astype(str) == cols.seller_state.astype(str)).astype("float64"),
        "n_items": cols.n_items, "n_sellers": cols.n_sellers, "price": cols.price, "freight": cols.freight,
        "freight_ratio": freight_ratio, "weight_kg": cols.weight_kg, "installments": cols.installments,
        "seller_on_time": rate["seller"][1], "seller_history_n": rate["seller"][0],
        "customer_state_on_time": rate["customer_state"][1], "seller_state_on_time": rate["seller_state"][1],
        "route_on_time": rate["route"][1], "route_transit_days": rate["route"][2],
        "category_on_time": rate["category"][1],
        "recent_transit_days": recent_transit, "recent_late_share": recent_late,
        "due_late_share": due_late, "handover_volume_ratio": volume_ratio,
        "customer_zip": cols.customer_zip, "seller_zip": cols.seller_zip,
        "state_recent_transit_days": state_transit, "state_recent_late_share": state_late,
        "state_due_late_share": state_due_late, "recent_margin_days": slack - state_transit,
        "distance_km": state_distance_km(cols.seller_state, cols.customer_state),
    }
    columns = [numeric[name] for name in NUMERIC_FEATURES]
    columns += [_codes(getattr(cols, name), history.vocabularies[name]) for name in CATEGORICAL_FEATURES]
    return np.column_stack([np.asarray(c, dtype="float64") for c in columns]) if len(cols) else \
        np.zeros((0, len(FEATURES)))


def slack_heuristic(features: np.ndarray) -> np.ndarray:
    """The baseline score: less slack at hand-over = riskier (a rank, not a probability)."""
    return -features[:, FEATURES.index("slack_days")]
