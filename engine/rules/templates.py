"""Message templates of rule actions: Jinja2 in a sandbox, strict about unknown names.

Templates see `order` (the order's facts: `order.number`, `order.data.incoterm`,
`order.hours_in_stage`) and `rule` (key and name). A name that is not in the catalogue fails
validation, so a typo never reaches a customer as an empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from engine.facts import Catalogue, FactType

__all__ = ["TemplateProblem", "render_template", "sample_facts", "check_template"]


class TemplateProblem(ValueError):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(f"{code} {params}")
        self.code = code
        self.params = params


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # autoescape off: bodies go to email, chat and in-app text; each channel escapes for itself.
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=512)
def _compiled(source: str):
    return _environment().from_string(source)


def render_template(source: str, context: Mapping[str, Any]) -> str:
    """Render a template; raises TemplateProblem (`rule.template_syntax` / `rule.template_unknown_name`)."""
    try:
        return _compiled(source).render(**context)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            "rule.template_syntax", message=exc.message or str(exc), line=exc.lineno
        ) from exc
    except UndefinedError as exc:
        raise TemplateProblem("rule.template_unknown_name", message=str(exc)) from exc
    except SecurityError as exc:
        raise TemplateProblem("rule.template_forbidden", message=str(exc)) from exc
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateProblem("rule.template_error", message=str(exc)) from exc


_SAMPLES = {
    FactType.NUMBER: 1,
    FactType.STRING: "x",
    FactType.DATE: "2026-01-01",
    FactType.DATETIME: "2026-01-01T00:00:00+00:00",
    FactType.BOOL: True,
    FactType.LIST: ["x"],
}


def sample_facts(catalogue: Catalogue) -> dict[str, Any]:
    """A fact dict with a value of the right type for every catalogue field (for template checks)."""
    facts: dict[str, Any] = {"data": {}}
    for name, spec in catalogue.fields.items():
        value = _SAMPLES[spec.type]
        if name.startswith("data."):
            facts["data"][name.removeprefix("data.")] = value
        else:
            facts[name] = value
    return facts


def check_template(source: str, catalogue: Catalogue) -> TemplateProblem | None:
    """The problem with a template (syntax, unknown field), or None when it renders on any order."""
    try:
        render_template(source, {"order": sample_facts(catalogue), "rule": {"key": "k", "name": "n"}})
    except TemplateProblem as problem:
        return problem
    return None
