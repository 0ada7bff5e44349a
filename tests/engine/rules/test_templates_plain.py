"""The plain-template path of a firing's rendering (texts and dotted names, no Jinja context) prints
and records exactly what Jinja does for the same template and context (engine/rules/templates.py
`_plain_parts`, `_render_plain`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from engine.rules import templates
from engine.rules.templates import KnownNames, TemplateProblem, known_names, render_template

CONTEXT = {
    "order": {"number": "B000001", "amount": 1234.0, "ratio": 0.5, "count": 3, "none": None, "flag": True,
              "price": Decimal("9.90"), "day": date(2026, 1, 2), "at": datetime(2026, 1, 2, 3, 4),
              "tags": ["a", "b"], "data": {"region": "east", "empty": None, "deep": {"x": {"y": 1}}},
              "stage_label": "审批"},
    "customer": {"name": "客户 1", "code": None},
    "owner": {"name": "Owner"},
    "now": "2026-01-01T00:00:00",
    "_lang": "zh",
}
TEMPLATES = [
    "Order {{ order.number }} ({{ customer.name }}) waits",
    "{{ order.amount }} {{ order.ratio }} {{ order.count }} {{ order.flag }} {{ order.price }}",
    "{{ order.day }} / {{ order.at }} / {{ order.tags }} / {{ order.data }}",
    "{{ order.none }}|{{ customer.code }}|{{ order.data.empty }}|{{ order.data.region }}",
    "{{ order.nope }} and {{ order.data.nope }} and {{ order.nope.deeper }} and {{ order.nope }}",
    "{{ order.data.deep.x.y }} {{ order.data.deep.x.z }} {{ order.data.deep.q.r }}",
    "{{ nope }} {{ nope.x }} {{ now }} {{ _lang }}",
    "{{ order.number.upper }} {{ order.items }}",  # not plain: Jinja renders them
    "{{ range }} {{ dict }}",  # Jinja's globals, not in the context
    "line one\n{{ order.stage_label }}\n",
    "{{ order.number | upper }} {% if order.flag %}yes{% endif %} {{ 'x' }}",
    "{{ order.number }}" * 30,
]


def _jinja(source, context, names=None):
    """The same rendering with the plain path switched off."""
    missing: list[str] = []
    saved = templates._plain_parts
    templates._plain_parts = lambda source: None
    try:
        return render_template(source, context, missing=missing, names=names), missing
    finally:
        templates._plain_parts = saved


@pytest.mark.parametrize("source", TEMPLATES)
def test_plain_path_prints_and_records_what_jinja_does(source):
    missing: list[str] = []
    assert (render_template(source, CONTEXT, missing=missing), missing) == _jinja(source, CONTEXT)
    lazy: list[str] = []
    assert (render_template(source, CONTEXT, missing=lazy, names=KnownNames(CONTEXT)), lazy) == \
        _jinja(source, CONTEXT, names=known_names(CONTEXT))


def test_plain_templates_are_recognised():
    assert templates._plain_parts("Order {{ order.number }} waits") == ("Order ", ("order", "number"), " waits")
    assert templates._plain_parts("{{ order.number | upper }}") is None
    assert templates._plain_parts("{{ order.items }}") is None
    assert templates._plain_parts("{% if x %}{{ x }}{% endif %}") is None


def test_missing_names_stop_at_twenty():
    source = " ".join(f"{{{{ order.n{i} }}}}" for i in range(25))
    missing: list[str] = []
    out = render_template(source, CONTEXT, missing=missing)
    assert (out, missing) == _jinja(source, CONTEXT)
    assert len(missing) == 20


def test_plain_path_keeps_the_output_bound_and_syntax_problems():
    big = {"order": {"text": "x" * 15_000}}
    with pytest.raises(TemplateProblem) as caught:
        render_template("{{ order.text }}{{ order.text }}", big, missing=[])
    assert caught.value.code == "rule.template_output_too_large"
    with pytest.raises(TemplateProblem) as caught:
        render_template("{{ order.number ", CONTEXT, missing=[])
    assert caught.value.code.startswith("rule.template_syntax")


def test_known_names_are_not_walked_when_nothing_is_missing(monkeypatch):
    walked = []
    monkeypatch.setattr(templates, "known_names", lambda context, depth=3: walked.append(1) or {})
    render_template("Order {{ order.number }}", CONTEXT, missing=[], names=KnownNames(CONTEXT))
    assert walked == []
    render_template("Order {{ order.nope }}", CONTEXT, missing=[], names=KnownNames(CONTEXT))
    assert walked == [1]
