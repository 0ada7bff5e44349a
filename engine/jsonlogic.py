"""JSON-logic for Gendan: one evaluator, one validator, JavaScript semantics.

Why this exists: rule conditions and flow branch conditions are JSON-logic (jsonlogic.com). We
evaluate them with panzi-json-logic's operators (measured in docs/jsonlogic-choice.md) under our
own interpreter (engine/jsonlogic_apply.py: computed `reduce` seeds, `??`, `val`, `exists`), but
its operators follow Python where JavaScript differs (`null == 0` is true there, `1 === true` is
true, `"1_000"` is a number, `1 / 0` raises, `true` is "True" as text). The SQL compiler (engine/rules/compiler.py) must give the
same answer as this evaluator on every order, so the operators whose Python behaviour leaks are
replaced here by JavaScript-faithful ones. The conformance suite still passes 277/277.

Numbers are JavaScript doubles: an integer beyond 2^53 (JSON allows any) counts as its nearest
double, so `9007199254740993 == 9007199254740992` holds, as in JavaScript, and as in the SQL the
compiler emits (double precision on both databases). Integers up to 2^53 stay Python ints (exact,
and rendered `3`, not `3.0`).

Strings compare by Unicode code point (Python, and SQL with a binary collation); JavaScript
compares UTF-16 code units, which differs only between astral characters and U+E000..U+FFFF.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from json_logic.builtins import BUILTINS, to_bool

from engine.jsonlogic_apply import apply as _apply

__all__ = [
    "Issue",
    "OPERATORS",
    "evaluate",
    "is_truthy",
    "js_equals",
    "js_compare",
    "js_string",
    "to_number",
    "validate_logic",
    "var_names",
]

NAN = float("nan")
_EXACT = 2**53  # every integer up to this magnitude is a double of its own
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)")
# JavaScript's String.prototype.trim and Number() whitespace (ECMA-262 WhiteSpace + LineTerminator).
_JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


@dataclass(frozen=True)
class Issue:
    """One problem in a definition: where (`path`, e.g. `condition.and.1.>.0`), what, and details."""

    path: str
    code: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _double(value: int) -> float | int:
    """An integer as JavaScript holds it: itself up to 2^53, else its nearest double (or ±Infinity).

    Python's int-to-float conversion rounds to nearest, ties to even, like JavaScript's.
    """
    if -_EXACT <= value <= _EXACT:
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _js_number(value: float | int) -> float | int:
    """A result of Python arithmetic rounded as JavaScript rounds each operation."""
    return _double(value) if type(value) is int else value


def _number_text(number: float | int) -> str:
    """JavaScript's Number::toString: shortest round-trip digits, exponent only past 1e21 / 1e-7."""
    if isinstance(number, int):
        number = _double(number)
        if isinstance(number, int):
            return str(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(abs(number))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exponent  # the value is 0.<digits> x 10^point
    k = len(text)
    prefix = "-" if number < 0 else ""
    if k <= point <= 21:
        return prefix + text + "0" * (point - k)
    if 0 < point <= 21:
        return prefix + text[:point] + "." + text[point:]
    if -6 < point <= 0:
        return prefix + "0." + "0" * -point + text
    e = point - 1
    mantissa = text if k == 1 else text[0] + "." + text[1:]
    return f"{prefix}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


def js_string(value: Any) -> str:
    """JavaScript's String(value) for JSON values: true is "true" (Python would say "True"),
    1.0 is "1", null inside an array is empty ("1,,2")."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number_text(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    return "[object Object]"


def to_number(value: Any) -> float | int:
    """JavaScript's Number(value) for JSON values (NaN when not a number)."""
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        return _double(value)
    if isinstance(value, str):
        text = value.strip(_JS_SPACE)
        if text == "":
            return 0
        if _DECIMAL.fullmatch(text):
            return float(text)
        radix = _RADIX.fullmatch(text)
        if radix:
            base = {"x": 16, "o": 8, "b": 2}[radix.group(1).lower()]
            try:
                return _double(int(radix.group(2), base))
            except ValueError:
                return NAN
        if text in ("Infinity", "+Infinity"):
            return math.inf
        if text == "-Infinity":
            return -math.inf
        return NAN
    if isinstance(value, list):
        return to_number(js_string(value))
    return NAN  # dict


def is_truthy(value: Any) -> bool:
    """JavaScript truthiness (the JSON-logic definition): [] is false, "0" is true."""
    return to_bool(value)


def js_equals(a: Any, b: Any) -> bool:
    """JavaScript `==` restricted to JSON values (arrays and objects are distinct from each other)."""
    kind = type(a)
    if kind is type(b) and (kind is str or kind is float):
        return a == b
    if kind is int and type(b) is int:
        return _double(a) == _double(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool):
        return js_equals(1 if a else 0, b)
    if isinstance(b, bool):
        return js_equals(a, 1 if b else 0)
    if _is_number(a) and _is_number(b):
        return to_number(a) == to_number(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, (list, dict)) and isinstance(b, (list, dict)):
        return a is b
    if isinstance(a, (list, dict)):
        return js_equals(js_string(a), b)
    if isinstance(b, (list, dict)):
        return js_equals(a, js_string(b))
    # number vs string
    return to_number(a) == to_number(b)


def js_strict_equals(a: Any, b: Any) -> bool:
    """JavaScript `===`: same type and value; true and 1 are different."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return to_number(a) == to_number(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a is b
    return False


def _primitive(value: Any) -> Any:
    return js_string(value) if isinstance(value, (list, dict)) else value


def js_compare(op: str, a: Any, b: Any) -> bool:
    """JavaScript relational operators: strings compare as strings, anything else as numbers."""
    kind = type(a)
    if kind is type(b):  # the common cases, fast
        if kind is float or kind is str or kind is int and -_EXACT <= a <= _EXACT and -_EXACT <= b <= _EXACT:
            return _FAST[op](a, b)
        if kind is int:
            return _FAST[op](_double(a), _double(b))
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        x, y = a, b
    else:
        x, y = to_number(a), to_number(b)
        if (isinstance(x, float) and math.isnan(x)) or (isinstance(y, float) and math.isnan(y)):
            return False
    if op == "<":
        return x < y
    if op == "<=":
        return x <= y
    if op == ">":
        return x > y
    return x >= y


_FAST = {
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


def _relational(op: str):
    def run(data=None, *args) -> bool:
        a, b, c = (*args, None, None)[:3]
        if len(args) < 3:  # a null third argument is still a third argument (`b < null`, as in JavaScript)
            return js_compare(op, a, b)
        return js_compare(op, a, b) and js_compare(op, b, c)

    return run


def _divide(data=None, a=None, b=None, *_ignored) -> float:
    x, y = to_number(a), to_number(b)
    if math.isnan(x) or math.isnan(y):
        return NAN
    if y == 0:
        if x == 0:
            return NAN
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


def _remainder(data=None, a=None, b=None, *_ignored) -> float:
    x, y = to_number(a), to_number(b)
    if math.isnan(x) or math.isnan(y) or y == 0 or math.isinf(x):
        return NAN
    if math.isinf(y):
        return x
    return math.fmod(x, y)  # JavaScript `%` keeps the dividend's sign, as fmod does


def _in(data=None, needle=None, haystack=None, *_ignored) -> bool:
    if isinstance(haystack, list):
        return any(js_strict_equals(needle, item) for item in haystack)
    if isinstance(haystack, str):
        return js_string(needle) in haystack
    return False


def _numeric_fold(pick):
    def run(data=None, *args):
        if not args:
            return NAN
        values = [to_number(a) for a in args]
        if any(isinstance(v, float) and math.isnan(v) for v in values):
            return NAN
        return pick(values)

    return run


def _add(data=None, *args) -> float | int:
    total: float | int = 0
    for arg in args:
        total = _js_number(total + to_number(arg))
    return total


def _multiply(data=None, *args) -> float | int:
    product: float | int = 1
    for arg in args:
        product = _js_number(product * to_number(arg))
    return product


def _subtract(data=None, *args) -> float | int:
    """`{"-": [a]}` negates; `{"-": [a, null]}` is a - 0, as in JavaScript (`b === undefined` only
    when there is no second argument)."""
    a = args[0] if args else None
    if len(args) < 2:
        return -to_number(a)
    return _js_number(to_number(a) - to_number(args[1]))


#: The operator table every Gendan evaluation uses (panzi's builtins with JS-faithful overrides).
OPERATORS: dict[str, Any] = {
    **{k: v for k, v in BUILTINS.items() if k != "log"},
    "==": lambda data=None, a=None, b=None, *_: js_equals(a, b),
    "!=": lambda data=None, a=None, b=None, *_: not js_equals(a, b),
    "===": lambda data=None, a=None, b=None, *_: js_strict_equals(a, b),
    "!==": lambda data=None, a=None, b=None, *_: not js_strict_equals(a, b),
    "<": _relational("<"),
    "<=": _relational("<="),
    ">": _relational(">"),
    ">=": _relational(">="),
    "+": _add,
    "-": _subtract,
    "*": _multiply,
    "/": _divide,
    "%": _remainder,
    "in": _in,
    "cat": lambda data=None, *args: "".join(js_string(a) for a in args),
    "min": _numeric_fold(min),
    "max": _numeric_fold(max),
}

_CONTROL = {"if", "?:", "and", "or", "filter", "map", "reduce", "all", "some", "none"}

#: operator -> (min args, max args or None)
ARITY: dict[str, tuple[int, int | None]] = {
    "==": (2, 2), "!=": (2, 2), "===": (2, 2), "!==": (2, 2),
    "<": (2, 3), "<=": (2, 3), ">": (2, 2), ">=": (2, 2),
    "!": (1, 1), "!!": (1, 1),
    "and": (1, None), "or": (1, None), "if": (1, None), "?:": (1, None),
    "+": (1, None), "*": (1, None), "-": (1, 2), "/": (2, 2), "%": (2, 2),
    "min": (1, None), "max": (1, None), "cat": (0, None), "substr": (2, 3),
    "in": (2, 2), "merge": (0, None), "var": (0, 2), "missing": (1, None), "missing_some": (2, 2),
    "filter": (2, 2), "map": (2, 2), "reduce": (2, 3), "all": (2, 2), "some": (2, 2), "none": (2, 2),
    "??": (1, None), "val": (0, None), "exists": (1, None),
}
_SCOPED = {"filter", "map", "reduce", "all", "some", "none"}


def evaluate(rule: Any, facts: Any) -> Any:
    """Evaluate a JSON-logic rule over facts (JSON values), returning the JSON-logic result."""
    return _apply(rule, facts, OPERATORS)


def matches(rule: Any, facts: Any) -> bool:
    """True when the rule's result is truthy: what "the condition holds" means everywhere."""
    return is_truthy(evaluate(rule, facts))


def _var_name(args: Any) -> Any:
    if isinstance(args, list):
        return args[0] if args else None
    return args


def val_name(args: list[Any]) -> str | None:
    """The dotted fact name a constant `val` / `exists` path reads (`["data", "incoterm"]` is
    `data.incoterm`), or None when it is computed or a key holds a dot."""
    segments = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not segments or not all(isinstance(p, str) and p and "." not in p for p in segments):
        return None
    return ".".join(segments)


def var_names(rule: Any) -> set[str]:
    """Every constant field name the rule reads with `var` or `missing` (not inside filter/map/...)."""
    out: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict) or len(node) != 1:
            return
        op, args = next(iter(node.items()))
        if op == "var":
            name = _var_name(args)
            if isinstance(name, str) and name:
                out.add(name)
            return
        if op in ("val", "exists"):
            name = val_name(args if isinstance(args, list) else [args])
            if name is not None:
                out.add(name)
            return
        if op == "missing":
            keys = args if isinstance(args, list) else [args]
            if len(keys) == 1 and isinstance(keys[0], list):
                keys = keys[0]
            out.update(k for k in keys if isinstance(k, str))
        if op in _SCOPED:
            items = args if isinstance(args, list) else [args]
            if items:
                walk(items[0])
            return
        walk(args)

    walk(rule)
    return out


def validate_logic(rule: Any, fields: Mapping[str, str] | None = None, *, path: str = "") -> list[Issue]:
    """Every problem in a rule: unknown operator, wrong number of arguments, unknown field.

    `fields` maps known field names to their type (`number`, `string`, `date`, `datetime`, `bool`,
    `list`); None skips the field check. Paths join keys and indexes with dots, e.g.
    `and.1.>.0`; `path` prefixes them. A date field compared with a string that is not an ISO date
    is a `logic.type_mismatch`.
    """
    issues: list[Issue] = []

    def at(*parts: Any) -> str:
        return ".".join(str(p) for p in parts if p != "")

    def field_type(node: Any) -> str | None:
        if fields is None or not isinstance(node, dict) or len(node) != 1 or "var" not in node:
            return None
        name = _var_name(node["var"])
        return fields.get(name) if isinstance(name, str) else None

    def walk(node: Any, where: str, scoped: bool) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, at(where, index), scoped)
            return
        if not isinstance(node, dict):
            return
        if len(node) != 1:
            issues.append(Issue(where, "logic.object_not_operation", {"keys": sorted(map(str, node))}))
            return
        op, raw = next(iter(node.items()))
        here = at(where, op)
        if op not in ARITY:
            issues.append(Issue(here, "logic.unknown_operator", {"operator": op}))
            return
        args = raw if isinstance(raw, list) else [raw]
        low, high = ARITY[op]
        if len(args) < low or (high is not None and len(args) > high):
            issues.append(
                Issue(here, "logic.bad_arity", {"operator": op, "count": len(args), "min": low, "max": high})
            )
        if op == "var":
            name = _var_name(raw)
            if not isinstance(name, (str, int)) or isinstance(name, bool):
                if not (isinstance(name, dict)):
                    issues.append(Issue(here, "logic.bad_var", {"name": repr(name)}))
            elif fields is not None and not scoped and isinstance(name, str) and name not in fields:
                issues.append(Issue(here, "logic.unknown_field", {"field": name}))
            walk(args, here, scoped)
            return
        if op in ("val", "exists") and fields is not None and not scoped:
            name = val_name(args)
            if name is not None and name not in fields and name != "data":
                issues.append(Issue(here, "logic.unknown_field", {"field": name}))
        if op == "missing" and fields is not None and not scoped:
            keys = args[0] if len(args) == 1 and isinstance(args[0], list) else args
            for index, key in enumerate(keys):
                if isinstance(key, str) and key not in fields:
                    issues.append(Issue(at(here, index), "logic.unknown_field", {"field": key}))
        if op in {"==", "!=", "===", "!==", "<", "<=", ">", ">="} and fields is not None:
            _check_types(op, args, here, field_type, issues)
        if op in _SCOPED:
            if args:
                walk(args[0], at(here, 0), scoped)
            for index, item in enumerate(args[1:], start=1):
                walk(item, at(here, index), True)
            return
        walk(args, here, scoped)

    walk(rule, path, False)
    return issues


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_types(op, args, here, field_type, issues) -> None:
    types = [field_type(a) for a in args]
    for index, (arg, kind) in enumerate(zip(args, types, strict=False)):
        if kind not in ("date", "datetime"):
            continue
        for other_index, other in enumerate(args):
            if other_index == index:
                continue
            other_kind = types[other_index]
            bad = (
                (isinstance(other, str) and not _ISO_DATE.match(other))
                or (isinstance(other, (int, float)))
                or other_kind in ("number", "bool", "list")
                or (other_kind == "string")
            )
            if bad:
                issues.append(
                    Issue(
                        here,
                        "logic.type_mismatch",
                        {"operator": op, "field": _var_name(arg["var"]), "type": kind, "value": repr(other)},
                    )
                )
                return
