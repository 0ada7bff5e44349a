"""SQL functions written once per dialect as templates, for the facts and the rule compiler.

SQLite and PostgreSQL spell date arithmetic, text comparison and casts differently. Each such
function here is a template over its arguments (`{0}`, `{1}`, ...), all of which both templates
use: rendering an argument that the SQL then leaves out would misnumber SQLite's positional
parameters. Functions whose SQL depends on more than their arguments keep their own
`@compiles` pair where they are used.
"""

from __future__ import annotations

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine


def dialect_function(name: str, type_: TypeEngine, *, default: str, postgresql: str,
                     doc: str = "") -> type[FunctionElement]:
    """A FunctionElement class rendered by `default` (SQLite) or `postgresql` over its arguments."""
    cls = type(name, (FunctionElement,), {"type": type_, "inherit_cache": True, "name": name, "__doc__": doc})

    def render(template: str):
        def _compile(element, compiler, **kw):
            return template.format(*(compiler.process(c, **kw) for c in element.clauses))

        return _compile

    compiles(cls)(render(default))
    compiles(cls, "postgresql")(render(postgresql))
    return cls
