"""Request parameters the database could not hold: refused with a clear 422, never a 500.

An `int` path or query parameter accepts any size, and a string any character; the database
does not (issue 18: `/api/v1/orders/2147483648` answered 500 on PostgreSQL, past 2^63 on SQLite,
and NUL bytes in strings on both). `guard_params`, a dependency of every route (the app
factory adds it), bounds the route's integer path and query parameters to the INTEGER column
range and refuses NUL in every path and query value, before the route runs. Values that reach
the database another way (a JSON body's number past the range) are caught by the handlers
`install_data_error_handlers` adds, as the same kind of 422.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import DataError, OperationalError, StatementError
from starlette.requests import HTTPConnection

from backend.errors import GendanError
from backend.ids import ID_MAX

INT_MIN, INT_MAX = -ID_MAX - 1, ID_MAX  # PostgreSQL INTEGER, the type of every id column (backend/ids.py)
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")

ERROR_MESSAGES: dict[str, str] = {  # English msgids (read by backend/i18n.py); Chinese in errors.po
    "field.nul_character": "Text cannot contain the NUL character.",
    "request.value_out_of_range": "A value is too large or not allowed here (%(detail)s).",
    "request.database_busy": "The database is busy with other changes. Nothing was saved; try again in a moment.",
}


def _scalar(annotation: Any) -> type | None:
    """int or str for `int`, `int | None`, `list[int]`, `Annotated[...]`; else None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _scalar(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple, set, frozenset):
        kinds = {_scalar(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation is bool:
        return None
    if annotation in (int, str):
        return annotation
    return None


def _int_params(route: APIRoute) -> tuple[tuple[str, str], ...]:
    """(location, name) of the route's integer path and query parameters (kept on the route)."""
    cached = route.__dict__.get("_gendan_int_params")
    if cached is not None:
        return cached
    found: list[tuple[str, str]] = []
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        found += [("path", f.alias) for f in dependant.path_params if _scalar(f.field_info.annotation) is int]
        for field in dependant.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):  # a query model: its fields
                found += [("query", info.alias or name) for name, info in model.model_fields.items()
                          if _scalar(info.annotation) is int]
            elif _scalar(field.field_info.annotation) is int:
                found.append(("query", field.alias))
        pending.extend(dependant.dependencies)
    route.__dict__["_gendan_int_params"] = cached = tuple(dict.fromkeys(found))
    return cached


def guard_params(request: HTTPConnection) -> None:
    """Refuse NUL in path and query values and integers past the column range (422, per field).
    An HTTPConnection, not a Request: app-wide dependencies run for websocket routes too."""
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if isinstance(value, str) and "\x00" in value or "\x00" in name:
            key = name.replace("\x00", "")
            fields[key or "_"] = ("field.nul_character", {"field": key})
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        for location, name in _int_params(route):
            values = [request.path_params.get(name)] if location == "path" else request.query_params.getlist(name)
            for value in values:
                if isinstance(value, str) and _INTEGER.fullmatch(value):
                    number = int(value)
                    if number > INT_MAX:
                        fields[name] = ("field.less_than_equal", {"field": name, "le": INT_MAX})
                    elif number < INT_MIN:
                        fields[name] = ("field.greater_than_equal", {"field": name, "ge": INT_MIN})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)


def install_data_error_handlers(app: FastAPI) -> None:
    """A value the database refuses (out of range, NUL) answers 422 like any invalid input."""

    async def _refused(request: Request, exc: Exception):
        detail = type(getattr(exc, "orig", None) or exc).__name__
        error = GendanError("request.value_out_of_range", {"detail": detail}, status=422)
        return await app.exception_handlers[GendanError](request, error)

    app.add_exception_handler(DataError, _refused)
    app.add_exception_handler(OverflowError, _refused)

    async def _statement(request: Request, exc: StatementError):
        if isinstance(exc.orig, OverflowError) or (isinstance(exc.orig, ValueError) and "NUL" in str(exc.orig)):
            return await _refused(request, exc)
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            # SQLite's write lock not granted within the busy timeout: the transaction rolled back,
            # so this is "try again", not a bug (issue 17 saw it as a 500 on saving a flow draft)
            error = GendanError("request.database_busy", {}, status=503)
            return await app.exception_handlers[GendanError](request, error)
        raise exc

    app.add_exception_handler(StatementError, _statement)
