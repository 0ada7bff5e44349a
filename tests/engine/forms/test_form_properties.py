"""Properties of validate_data over arbitrary input (hypothesis): it never raises, and what it
stores is a fixed point (validating stored data again changes nothing and finds no error)."""

from __future__ import annotations

from formkit import load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.forms import validate_data

EVERY_TYPE = load("every_type")
CONDITIONAL = load("conditional")

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["2026-12-01", "2026-11-26T10:00:00+08:00", "online",
                                                           "vip", "on", "3", "19.99", "PO-1234", "a@b.cn"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=8)
rows = st.lists(st.dictionaries(st.sampled_from(["product", "qty", "price", "amount"]), scalars, max_size=4),
                max_size=4)


def data_for(defn):
    keys = [f.key for f in defn.data_fields()]
    return st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys)).flatmap(
        lambda d: st.just(d) if "items" not in keys else rows.map(lambda r: {**d, "items": r}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=data_for(EVERY_TYPE))
def test_every_type_never_raises_and_stored_data_is_a_fixed_point(data):
    result = validate_data(EVERY_TYPE, data)
    if any(e.code != "form.required" for e in result.errors):
        return  # refused input is never stored
    again = validate_data(EVERY_TYPE, result.data)
    assert again.data == result.data
    assert not [e for e in again.errors if e.code != "form.required"]  # a missing required value stays missing


@settings(max_examples=200, deadline=None)
@given(data=data_for(CONDITIONAL))
def test_conditional_form_fixed_point(data):
    result = validate_data(CONDITIONAL, data)
    if any(e.code != "form.required" for e in result.errors):
        return
    again = validate_data(CONDITIONAL, result.data)
    assert again.data == result.data
    assert again.visible == result.visible
