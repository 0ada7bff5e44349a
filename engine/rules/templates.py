"""Message templates of rule actions: Jinja2 in a sandbox, strict about unknown names, bounded.

Templates see the context of engine/rules/template_context.py (`order`, `customer`, `owner`,
`rule`, `now`) with the filters of template_filters.py. Validation renders strictly: a name that
does not exist is refused with the closest known one, so a typo never reaches a customer as an
empty string. A firing renders leniently: a value missing on that order prints nothing and is
reported back (`missing`), so one empty designed field never stops an alert.

Why bounded: an enabled rule renders its templates in the worker at every firing, and a preview
renders them in a request; `{{ 'a' * 300000000 }}` took 100 s and 2 GB. Jinja's sandbox stops
attribute tricks, not work, so here: the source is at most MAX_SOURCE characters and may not
define macros (recursion) or nest loops deeper than MAX_LOOP_NESTING; repetition (`*`), `**`,
concatenation (`+`, `~`), filters and method calls refuse results or widths past MAX_OUTPUT;
`range` stops at MAX_RANGE; and the output stops at MAX_OUTPUT characters.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from engine.facts import Catalogue, FactType
from engine.rules.template_filters import FILTERS, format_number

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


def _bounded_result(func: Any) -> Any:
    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
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


class _Missing(UndefinedError):
    """A name the template reads that is not in the context (strict mode, at save time)."""

    def __init__(self, obj: Any, name: str | None) -> None:
        super().__init__(f"{name!r} is undefined")
        self.obj, self.name = obj, name


class _StrictUndefined(StrictUndefined):
    """Fails like StrictUndefined, but keeps where the name was looked up (for the suggestion)."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        raise _Missing(self._undefined_obj, self._undefined_name)

    __str__ = __iter__ = __len__ = __bool__ = __eq__ = __ne__ = __hash__ = _fail_with_undefined_error  # type: ignore[assignment]
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __lt__ = __le__ = __gt__ = __ge__ = (  # type: ignore[assignment]
        _fail_with_undefined_error)
    __int__ = __float__ = __contains__ = __getitem__ = _fail_with_undefined_error  # type: ignore[assignment]


# Names read but missing at a lenient rendering (the firing records them); one list per rendering.
_RECORD: ContextVar[tuple[list[str], dict[int, str]] | None] = ContextVar("template_missing", default=None)


class _LenientUndefined(ChainableUndefined):
    """At run time a missing value renders empty and is recorded, so a firing never fails on an
    order that lacks one designed value (validation already refused names that never exist)."""

    __slots__ = ()

    def __str__(self) -> str:
        record = _RECORD.get()
        if record is not None and self._undefined_name:
            missing, paths = record
            parent = paths.get(id(self._undefined_obj), "") if isinstance(self._undefined_obj, Mapping) else ""
            name = f"{parent}.{self._undefined_name}" if parent else str(self._undefined_name)
            if name not in missing and len(missing) < 20:
                missing.append(name)
        return ""


def _finalize(value: Any) -> Any:
    """What `{{ x }}` prints: nothing for None, whole numbers without a trailing `.0`."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format_number(value)
    return value


@lru_cache(maxsize=2)
def _environment(strict: bool = True) -> SandboxedEnvironment:
    # autoescape off: bodies go to email, chat and in-app text; each channel escapes for itself.
    environment = _BoundedEnvironment(undefined=_StrictUndefined if strict else _LenientUndefined,
                                      autoescape=False, keep_trailing_newline=False, finalize=_finalize)
    # their own work is bounded (one number or date in, a short text out): only the result is checked
    environment.filters.update({name: _bounded_result(f) for name, f in FILTERS.items()})
    return environment


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


@lru_cache(maxsize=1024)
def _compiled(source: str, strict: bool = True):
    if len(source) > MAX_SOURCE:
        raise TemplateProblem("rule.template_too_long", max=MAX_SOURCE)
    environment = _environment(strict)
    problem = _structure_problem(environment.parse(source))
    if problem is not None:
        raise problem
    return environment.from_string(source)


_INNERMOST = re.compile(r"The innermost block that needs to be closed is '(\w+)'")
_UNKNOWN_TAG = re.compile(r"^Encountered unknown tag '(\w+)'")
_UNEXPECTED = re.compile(r"^unexpected (?:char )?'(.{1,20}?)'")


def syntax_problem(exc: TemplateSyntaxError) -> TemplateProblem:
    """Jinja's English parser message as one of our codes, each with words in both languages:
    the designer reads "the {% if %} on line 2 is never closed", not Jinja's token names."""
    text, line = exc.message or str(exc), exc.lineno or 1
    innermost = _INNERMOST.search(text)
    unknown = _UNKNOWN_TAG.match(text)
    if innermost and (text.startswith("Unexpected end of template") or unknown):
        return TemplateProblem("rule.template_syntax_unclosed_block", tag=innermost.group(1), line=line,
                               message=text)
    if unknown:
        return TemplateProblem("rule.template_syntax_unknown_tag", tag=unknown.group(1), line=line, message=text)
    if text.startswith("unexpected end of template") or text == "unexpected '}'":
        return TemplateProblem("rule.template_syntax_unclosed_print", line=line, message=text)
    if text.startswith("Expected an expression") or "got 'end of print statement'" in text \
            or text == "unexpected 'end of print statement'":
        return TemplateProblem("rule.template_syntax_expression_missing", line=line, message=text)
    unexpected = _UNEXPECTED.match(text)
    if unexpected:
        return TemplateProblem("rule.template_syntax_unexpected", token=unexpected.group(1), line=line, message=text)
    return TemplateProblem("rule.template_syntax", message=text, line=line)


def render_template(source: str, context: Mapping[str, Any], *, missing: list[str] | None = None,
                    names: dict[int, str] | None = None) -> str:
    """Render a template; raises TemplateProblem (`rule.template_syntax`, `rule.template_unknown_name`,
    `rule.template_too_long`, `rule.template_too_costly`, `rule.template_output_too_large`, ...).

    Strict by default (validation: an unknown name is `rule.template_unknown_name_suggest` with the
    full name and the closest known one, or `rule.template_unknown_name` when nothing is close). With a `missing` list the rendering is lenient (firings): a
    missing value renders empty and its name is appended to the list. `names`: `known_names(context)`,
    when the caller renders several templates in one context (a firing renders up to a dozen)."""
    if "{" not in source and "\r" not in source and not source.endswith("\n") and len(source) <= MAX_SOURCE \
            and len(source) <= MAX_OUTPUT:
        return source  # plain text (a title without names, an empty body): what Jinja would print
    token = None
    try:
        if missing is not None:
            _compiled(source, False)  # its refusals (length, structure, syntax) first, as below
            parts = _plain_parts(source)
            plain = _render_plain(parts, context, missing, names) if parts is not None else None
            if plain is not None:
                return plain
        token = _RECORD.set((missing, names if names is not None else KnownNames(context))) \
            if missing is not None else None
        out: list[str] = []
        size = 0
        for chunk in _compiled(source, missing is None).generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateProblem("rule.template_output_too_large", max=MAX_OUTPUT)
            out.append(chunk)
        if missing is not None:
            for name in _printed_names(source):
                if name not in missing and len(missing) < 20 and _lookup(context, name) is None:
                    missing.append(name)
        return "".join(out)
    except TemplateProblem:
        raise
    except TemplateSyntaxError as exc:
        raise syntax_problem(exc) from exc
    except _Missing as exc:
        name, suggestion = _unknown(exc, context)
        if suggestion:  # its own code: the message then says "did you mean …"
            raise TemplateProblem("rule.template_unknown_name_suggest", message=name, name=name,
                                  suggestion=suggestion) from exc
        raise TemplateProblem("rule.template_unknown_name", message=name, name=name, suggestion="") from exc
    except UndefinedError as exc:
        name = _unknown_name(exc)
        raise TemplateProblem("rule.template_unknown_name", message=name, name=name, suggestion="") from exc
    except _TooCostly as exc:
        raise TemplateProblem("rule.template_too_costly", message=str(exc)) from exc
    except SecurityError as exc:
        raise TemplateProblem("rule.template_forbidden", message=str(exc)) from exc
    except (RecursionError, MemoryError) as exc:
        raise TemplateProblem("rule.template_too_costly", message=type(exc).__name__) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateProblem("rule.template_error", message=str(exc)) from exc
    finally:
        if token is not None:
            _RECORD.reset(token)


_DICT_ATTRIBUTES = frozenset(dir(dict))  # `{{ order.items }}` is dict.items to Jinja, not a key
_UNDEFINED = object()


@lru_cache(maxsize=1024)
def _plain_parts(source: str) -> tuple[str | tuple[str, ...], ...] | None:
    """The template as literal texts and dotted names (`Order {{ order.number }} waits`), parsed
    once per text; None when it uses anything else (filters, tests, loops, calls, literals), which
    Jinja renders. Most firing texts are these: rendered without a Jinja context (~60 µs each)."""
    parts: list[str | tuple[str, ...]] = []
    for node in _environment(False).parse(source).body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):  # printed as written (Jinja does not finalize it)
                parts.append(child.data)
                continue
            path: list[str] = []
            while isinstance(child, nodes.Getattr):
                if child.attr.startswith("_") or child.attr in _DICT_ATTRIBUTES:
                    return None
                path.append(child.attr)
                child = child.node
            if not isinstance(child, nodes.Name) or child.ctx != "load":
                return None
            parts.append((child.name, *reversed(path)))
    return tuple(parts)


def _render_plain(parts: tuple[str | tuple[str, ...], ...], context: Mapping[str, Any], missing: list[str],
                  names: Any) -> str | None:
    """A lenient rendering of `_plain_parts`, what Jinja prints and records for it: a value through
    plain dicts, `_finalize`d and `str`ed; a missing key prints nothing and is recorded as the
    lenient undefined records it (the dotted name of the mapping it was missing from), then each
    printed dotted name whose value is empty, as `render_template` does after Jinja. None when a
    value is not reached through plain dicts (an object, a name from Jinja's globals): Jinja renders it."""
    out: list[str] = []
    values: list[tuple[tuple[str, ...], Any]] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        if part[0] not in context:
            return None
        value = context[part[0]]
        for attr in part[1:]:
            if type(value) is not dict:
                return None
            if attr not in value:
                if len(missing) < 20:
                    parent = (names if names is not None else KnownNames(context)).get(id(value), "")
                    name = f"{parent}.{attr}" if parent else attr
                    if name not in missing:
                        missing.append(name)
                value = _UNDEFINED
                break
            value = value[attr]
        values.append((part, value))
        out.append("" if value is _UNDEFINED else str(_finalize(value)))
    text = "".join(out)
    if len(text) > MAX_OUTPUT:
        raise TemplateProblem("rule.template_output_too_large", max=MAX_OUTPUT)
    for part, value in values:
        if len(part) > 1 and (value is None or value is _UNDEFINED):
            name = ".".join(part)
            if name not in missing and len(missing) < 20:
                missing.append(name)
    return text


@lru_cache(maxsize=1024)
def _printed_names(source: str) -> tuple[str, ...]:
    """Dotted names printed unconditionally (`{{ order.tracking_link }}`, `{{ order.payment_due | date }}`
    at the top level, not inside an `if` or a loop): a firing records those that are empty."""
    names: list[str] = []
    for output in _environment(False).parse(source).body:
        if not isinstance(output, nodes.Output):
            continue
        for node in output.nodes:
            while isinstance(node, nodes.Filter) and node.node is not None:
                node = node.node
            parts: list[str] = []
            while isinstance(node, nodes.Getattr):
                parts.append(node.attr)
                node = node.node
            if isinstance(node, nodes.Name) and parts:
                names.append(".".join([node.name, *reversed(parts)]))
    return tuple(dict.fromkeys(names))


def _lookup(context: Mapping[str, Any], name: str) -> Any:
    value: Any = context
    for part in name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


_UNKNOWN = re.compile(r"has no attribute '([^']+)'|^'([^']+)' is undefined")


def _unknown_name(exc: UndefinedError) -> str:
    """The name Jinja could not find (`nope` of "'dict object' has no attribute 'nope'")."""
    found = _UNKNOWN.search(str(exc))
    return next((g for g in found.groups() if g), str(exc)) if found else str(exc)


class KnownNames:
    """`known_names(context)`, worked out at the first look-up: only a rendering that meets a
    missing value looks (a firing used to walk its contexts every time, ~0.4 ms)."""

    __slots__ = ("_context", "_paths")

    def __init__(self, context: Mapping[str, Any]) -> None:
        self._context, self._paths = context, None

    def get(self, key: int, default: str = "") -> str:
        if self._paths is None:
            self._paths = known_names(self._context)
        return self._paths.get(key, default)


def known_names(context: Mapping[str, Any], depth: int = 3) -> dict[int, str]:
    """{id(mapping): dotted path} of the mappings in a context (`order.data` for the designed values)."""
    paths: dict[int, str] = {}
    stack: list[tuple[Mapping[str, Any], str, int]] = [(context, "", 0)]
    while stack:
        mapping, path, level = stack.pop()
        paths[id(mapping)] = path
        if level < depth:
            stack.extend((v, f"{path}.{k}" if path else str(k), level + 1)
                         for k, v in mapping.items() if isinstance(v, Mapping))
    return paths


def _leaves(context: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    stack: list[tuple[Mapping[str, Any], str]] = [(context, "")]
    while stack:
        mapping, path = stack.pop()
        for key, value in mapping.items():
            if str(key).startswith("_"):
                continue
            name = f"{path}.{key}" if path else str(key)
            if isinstance(value, Mapping) and name.count(".") < 3:
                stack.append((value, name))
            out.append(name)
    return out


def _unknown(exc: _Missing, context: Mapping[str, Any]) -> tuple[str, str | None]:
    """(the full name the template asked for, the closest known name or None)."""
    parent = known_names(context).get(id(exc.obj), "") if isinstance(exc.obj, Mapping) else ""
    name = f"{parent}.{exc.name}" if parent else str(exc.name)
    candidates = [c for c in _leaves(context) if not name.startswith(c + ".")]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.7)
    if not close:  # `{{ customer_name }}` for `order.customer_name`: the same last part elsewhere
        last = str(exc.name)
        close = [c for c in candidates if c.rsplit(".", 1)[-1] == last] or [
            c for c in candidates
            if c.rsplit(".", 1)[-1] in difflib.get_close_matches(last, [x.rsplit(".", 1)[-1] for x in candidates],
                                                                 n=1, cutoff=0.75)]
    return name, (close[0] if close else None)


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


def check_template(source: str, catalogue: Catalogue, lang: str = "zh") -> TemplateProblem | None:
    """The problem with a template (syntax, unknown name), or None when it renders on any order."""
    from engine.rules.template_context import sample_context

    try:
        render_template(source, sample_context(catalogue, lang))
    except TemplateProblem as problem:
        return problem
    return None
