"""Message templates of rule actions: Jinja2 in a sandbox, strict about unknown names, bounded.

Templates see `order` (the order's facts: `order.number`, `order.data.incoterm`,
`order.hours_in_stage`) and `rule` (key and name). A name that is not in the catalogue fails
validation, so a typo never reaches a customer as an empty string.

Why bounded: an enabled rule renders its templates in the worker at every firing, and a preview
renders them in a request; `{{ 'a' * 300000000 }}` took 100 s and 2 GB. Jinja's sandbox stops
attribute tricks, not work, so here: the source is at most MAX_SOURCE characters and may not
define macros (recursion) or nest loops deeper than MAX_LOOP_NESTING; repetition (`*`), `**`,
concatenation (`+`, `~`), filters and method calls refuse results or widths past MAX_OUTPUT;
`range` stops at MAX_RANGE; and the output stops at MAX_OUTPUT characters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from engine.facts import Catalogue, FactType

__all__ = ["MAX_OUTPUT", "MAX_SOURCE", "TemplateProblem", "render_template", "sample_facts", "check_template"]

MAX_SOURCE = 10_000  # characters of one template
MAX_OUTPUT = 20_000  # characters one rendering (or any value inside it) may reach
MAX_RANGE = 1_000  # items of `range()`
MAX_LOOP_NESTING = 2  # `for` inside `for`
MAX_POWER = 64  # largest exponent of `**`
# a width or precision of 100,000+ in a format string: '%300000000s', '{:>300000000}'
_WIDE = re.compile(r"%[-+ #0]*\d*\.?\d{6,}|\{[^{}]*:[^{}]*\d{6,}")
_FORBIDDEN = (nodes.Macro, nodes.CallBlock, nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


class TemplateProblem(ValueError):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(f"{code} {params}")
        self.code = code
        self.params = params


class _TooCostly(SecurityError):
    """Raised inside a rendering that would do (or make) too much."""


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, bytes)) else 0


def _bounded(value: Any) -> Any:
    if _size(value) > MAX_OUTPUT:
        raise _TooCostly(f"a value of {_size(value):,} items")
    return value


def _check_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, (int, float)) and not isinstance(arg, bool) and abs(arg) > MAX_OUTPUT:
            raise _TooCostly(f"the argument {arg!r}")
        if isinstance(arg, str) and _WIDE.search(arg):
            raise _TooCostly("a format width")


def _bounded_filter(func: Any) -> Any:
    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context / pass_environment)
    def run(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        return _bounded(func(*args, **kwargs))

    return run


class _Generator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        """`a ~ b`: checked like `+` (the sandbox intercepts operators, not `~`)."""
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")


class _BoundedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _Generator

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals = {"range": self.range, "dict": dict}  # no lipsum, cycler, joiner, namespace
        self.filters = {name: _bounded_filter(f) for name, f in self.filters.items()}

    @staticmethod
    def bounded(value: Any) -> Any:
        return _bounded(value)

    @staticmethod
    def range(*args: int) -> range:
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise _TooCostly(f"range of {len(numbers):,} items")
        return numbers

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            count, item = (left, right) if isinstance(left, int) else (right, left)
            if isinstance(count, int) and _size(item) * max(count, 0) > MAX_OUTPUT:
                raise _TooCostly(f"{_size(item):,} × {count:,}")
        elif op == "**" and isinstance(right, (int, float)) and abs(right) > MAX_POWER:
            raise _TooCostly(f"the power {right!r}")
        elif op == "+" and _size(left) + _size(right) > MAX_OUTPUT:
            raise _TooCostly(f"{_size(left) + _size(right):,} items")
        elif op == "%" and isinstance(left, str) and _WIDE.search(left):
            raise _TooCostly("a format width")
        return _bounded(self.binop_table[op](left, right))

    def wrap_str_format(self, value: Any) -> Any:
        if isinstance(getattr(value, "__self__", None), str) and _WIDE.search(value.__self__):
            raise _TooCostly("a format width")
        return super().wrap_str_format(value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_arguments(args, kwargs)
        return _bounded(super().call(__context, __obj, *args, **kwargs))


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # autoescape off: bodies go to email, chat and in-app text; each channel escapes for itself.
    return _BoundedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def _structure_problem(tree: nodes.Template) -> TemplateProblem | None:
    for node in tree.find_all(_FORBIDDEN):
        return TemplateProblem("rule.template_too_costly", message=f"{type(node).__name__.lower()}")
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, loops = stack.pop()
        if isinstance(node, nodes.For):
            loops += 1
            if loops > MAX_LOOP_NESTING:
                return TemplateProblem("rule.template_too_costly", message=f"{loops} nested loops")
        stack.extend((child, loops) for child in node.iter_child_nodes())
    return None


@lru_cache(maxsize=512)
def _compiled(source: str):
    if len(source) > MAX_SOURCE:
        raise TemplateProblem("rule.template_too_long", max=MAX_SOURCE)
    environment = _environment()
    problem = _structure_problem(environment.parse(source))
    if problem is not None:
        raise problem
    return environment.from_string(source)


def render_template(source: str, context: Mapping[str, Any]) -> str:
    """Render a template; raises TemplateProblem (`rule.template_syntax`, `rule.template_unknown_name`,
    `rule.template_too_long`, `rule.template_too_costly`, `rule.template_output_too_large`, ...)."""
    try:
        out: list[str] = []
        size = 0
        for chunk in _compiled(source).generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateProblem("rule.template_output_too_large", max=MAX_OUTPUT)
            out.append(chunk)
        return "".join(out)
    except TemplateProblem:
        raise
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            "rule.template_syntax", message=exc.message or str(exc), line=exc.lineno
        ) from exc
    except UndefinedError as exc:
        raise TemplateProblem("rule.template_unknown_name", message=_unknown_name(exc)) from exc
    except _TooCostly as exc:
        raise TemplateProblem("rule.template_too_costly", message=str(exc)) from exc
    except SecurityError as exc:
        raise TemplateProblem("rule.template_forbidden", message=str(exc)) from exc
    except (RecursionError, MemoryError) as exc:
        raise TemplateProblem("rule.template_too_costly", message=type(exc).__name__) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateProblem("rule.template_error", message=str(exc)) from exc


_UNKNOWN = re.compile(r"has no attribute '([^']+)'|^'([^']+)' is undefined")


def _unknown_name(exc: UndefinedError) -> str:
    """The name Jinja could not find (`nope` of "'dict object' has no attribute 'nope'")."""
    found = _UNKNOWN.search(str(exc))
    return next((g for g in found.groups() if g), str(exc)) if found else str(exc)


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
