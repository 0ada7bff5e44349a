"""SQL pull: read a view or table of another database over a read-only connection, in the order
of a cursor column (and a key column for ties), a batch at a time.

The connection is made read-only by the session (PostgreSQL: default_transaction_read_only and
SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; MySQL/MariaDB: SET SESSION TRANSACTION READ
ONLY; SQL Server: the login must not be able to write) and checked before anything is read; it
has connect and statement timeouts, and is refused when it reaches Gendan's own database.
That is decided by what the two servers say about themselves once connected (server_identity), not
by the host name, port or login in the settings: `localhost`, `127.0.0.1`, a host alias or another
login all reach the same database, and reading it would show every table (other customers' data
too) behind a "view" name. Names come from the settings (identifiers only), are checked by
reflection and quoted by SQLAlchemy: no SQL text is built from them; a name that resolves to the
server's own catalogs (pg_catalog, information_schema, mysql, sys, ...) is refused, since those
describe every database of the server, Gendan's included.

Incremental reading: rows after the last position (cursor value, key) in that order, i.e.
`cursor > :c OR (cursor = :c AND key > :k)`, so rows sharing a cursor value across a batch
boundary are not lost. Without a key column a batch is extended to the end of its last cursor
value (bounded by MAX_TIES). Each record carries its own position: the runner moves the stored
cursor with the record, in the record's transaction.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import MetaData, Table, and_, create_engine, event, or_, select, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from backend.connectors.sql_settings import SqlPullSettings
from backend.errors import GendanError

MAX_TIES = 10_000  # rows sharing one cursor value when there is no key column
MAX_TEXT = 10_000
DRIVERS = {"postgresql": ("postgresql+psycopg", "psycopg"), "mysql": ("mysql+pymysql", "pymysql"),
           "mssql": ("mssql+pymssql", "pymssql")}
# the server's own catalogs: they describe every database of the server (sessions, roles, settings)
SYSTEM_SCHEMAS = {"postgresql": {"pg_catalog", "information_schema"},
                  "mysql": {"information_schema", "mysql", "performance_schema", "sys"},
                  "mssql": {"sys", "information_schema"}}


@dataclass(frozen=True)
class ServerIdentity:
    """What a PostgreSQL server says about the database a connection reached, whatever host name,
    port or login it was reached by.

    `system` is the cluster's system identifier (pg_control_system(), made at initdb and shared by
    its physical replicas: a replica of Gendan's database is Gendan's data too); `started` (the
    postmaster's start time) stands in when a login may not read it. With the database's name
    and oid, two identities are equal only for the same database of the same cluster."""

    database: str
    database_oid: str
    system: str | None
    started: str

    def same_database(self, other: ServerIdentity) -> bool:
        if (self.database, self.database_oid) != (other.database, other.database_oid):
            return False
        if self.system and other.system:
            return self.system == other.system
        return self.started == other.started


def server_identity(conn: Connection) -> ServerIdentity | None:
    """The identity of the database `conn` is connected to; None where no network connector can
    reach it (SQLite: a file) or Gendan cannot run on it (MySQL/MariaDB, SQL Server). Plain reads
    that cannot fail for want of a privilege, so Gendan's own transaction is never spoiled."""
    if conn.dialect.name != "postgresql":
        return None
    database, oid, started, readable = conn.execute(text(
        "SELECT current_database(), (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
        "::text, pg_catalog.pg_postmaster_start_time()::text, "
        "pg_catalog.has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE')")).one()
    system = None
    if readable:
        system = conn.execute(text("SELECT system_identifier::text FROM pg_catalog.pg_control_system()")).scalar()
    return ServerIdentity(database=database, database_oid=oid, system=system, started=started)


# ---------------------------------------------------------------- values

def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    return str(value)[:MAX_TEXT]


def encode(value: Any) -> list[str] | None:
    """A cursor or key value as it is stored in the connector's cursor (JSON)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ["int", str(int(value))]
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", repr(value)]
    if isinstance(value, Decimal):
        return ["dec", str(value)]
    if isinstance(value, datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    return ["str", str(value)[:1000]]


def decode(stored: Any) -> Any:
    if not isinstance(stored, list) or len(stored) != 2:
        return None
    kind, text = stored
    try:
        return {"int": int, "float": float, "dec": Decimal, "dt": datetime.fromisoformat,
                "d": date.fromisoformat}.get(kind, str)(text)
    except (ValueError, ArithmeticError):
        return None


# ---------------------------------------------------------------- the connection

class SqlPull:
    def __init__(self, config: SqlPullSettings, secrets: dict[str, Any], *, own: ServerIdentity | None = None):
        """`own`: the identity of Gendan's own database (server_identity of its connection)."""
        self.config, self.secrets, self.own = config, secrets, own
        self.engine: Engine | None = None
        self.conn: Connection | None = None
        self.table: Table | None = None

    def __enter__(self) -> SqlPull:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except SQLAlchemyError:
                pass
        if self.engine is not None:
            self.engine.dispose()
        self.conn = self.engine = None

    def open(self) -> None:
        """Connect read-only, check it is read-only, and find the view and its columns."""
        c = self.config
        drivername, module = DRIVERS[c.dialect]
        if importlib.util.find_spec(module) is None:
            raise GendanError("connector.sql_driver_missing", {"driver": module})
        url = URL.create(drivername, username=c.user, password=str(self.secrets.get("password") or "") or None,
                         host=c.host.strip("[]"), port=c.port, database=c.database)
        try:
            self.engine = create_engine(url, poolclass=NullPool, connect_args=self._connect_args())
        except (SQLAlchemyError, ValueError) as exc:
            raise GendanError("connector.sql_cannot_connect", {"host": c.host, "error": _reason(exc)}) from None
        event.listen(self.engine, "connect", self._on_connect)
        try:
            self.conn = self.engine.connect()
        except Exception as exc:  # noqa: BLE001 - any driver or socket error: the admin reads why
            self.close()
            raise GendanError("connector.sql_cannot_connect", {"host": c.host, "error": _reason(exc)}) from None
        try:
            if not self._is_read_only():
                raise GendanError("connector.sql_not_read_only", {})
            self._refuse_own_database()
            self._refuse_system_catalog()
            self.table = self._reflect()
        except GendanError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - a driver's error while checking: said in words
            self.close()
            raise GendanError("connector.sql_query_failed", {"error": _reason(exc)}) from None

    def _connect_args(self) -> dict[str, Any]:
        c = self.config
        if c.dialect == "postgresql":
            return {"connect_timeout": c.connect_timeout_seconds,
                    "options": f"-c default_transaction_read_only=on "
                               f"-c statement_timeout={c.statement_timeout_seconds * 1000}"}
        if c.dialect == "mysql":
            return {"connect_timeout": c.connect_timeout_seconds, "read_timeout": c.statement_timeout_seconds + 5,
                    "write_timeout": c.statement_timeout_seconds + 5, "init_command": "SET SESSION TRANSACTION READ ONLY"}
        return {"login_timeout": c.connect_timeout_seconds, "timeout": c.statement_timeout_seconds}

    def _on_connect(self, dbapi_conn, _record) -> None:
        c = self.config
        cur = dbapi_conn.cursor()
        try:
            if c.dialect == "postgresql":
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            elif c.dialect == "mysql":
                for statement in (f"SET SESSION max_statement_time = {int(c.statement_timeout_seconds)}",  # MariaDB
                                  f"SET SESSION max_execution_time = {int(c.statement_timeout_seconds) * 1000}"):
                    try:
                        cur.execute(statement)
                        break
                    except Exception:  # noqa: BLE001 - the other server's variable name
                        continue
        finally:
            cur.close()
        if c.dialect == "postgresql":
            dbapi_conn.commit()

    def _is_read_only(self) -> bool:
        conn, dialect = self.conn, self.config.dialect
        try:
            if dialect == "postgresql":
                return str(conn.exec_driver_sql("SHOW transaction_read_only").scalar()).lower() == "on"
            if dialect == "mysql":
                for variable in ("@@session.transaction_read_only", "@@session.tx_read_only"):
                    try:
                        return int(conn.exec_driver_sql(f"SELECT {variable}").scalar() or 0) == 1
                    except SQLAlchemyError:
                        conn.rollback()
                return False
            # SQL Server has no read-only session: the login must not be able to write
            value = conn.exec_driver_sql("SELECT IS_ROLEMEMBER('db_datawriter') + IS_ROLEMEMBER('db_owner') "
                                         "+ IS_SRVROLEMEMBER('sysadmin')").scalar()
            return int(value or 0) == 0
        finally:
            conn.rollback()

    def _refuse_own_database(self) -> None:
        if self.own is None or self.config.dialect != "postgresql":
            return
        try:
            theirs = server_identity(self.conn)
        finally:
            self.conn.rollback()
        if theirs is not None and self.own.same_database(theirs):
            raise GendanError("connector.sql_own_database", {"database": self.config.database})

    def _refuse_system_catalog(self) -> None:
        """The schema the view's name resolves to, asked of the server (an unqualified PostgreSQL
        name is looked up in pg_catalog first, a SQL Server one in sys for the old catalog views)."""
        c, conn = self.config, self.conn
        system = SYSTEM_SCHEMAS[c.dialect]
        schema = c.schema_name
        if c.dialect == "mysql":  # a MySQL schema is a database; the connection's own when not given
            schema = schema or c.database
        try:
            if c.dialect == "postgresql":
                schema = conn.execute(text(
                    "SELECT n.nspname FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n "
                    "ON n.oid = k.relnamespace WHERE k.oid = pg_catalog.to_regclass(CASE WHEN :s = '' "
                    "THEN pg_catalog.quote_ident(:t) ELSE pg_catalog.quote_ident(:s) || '.' || "
                    "pg_catalog.quote_ident(:t) END)"), {"s": c.schema_name, "t": c.table}).scalar() or schema
            elif c.dialect == "mssql" and not schema:
                schema = conn.execute(text("SELECT OBJECT_SCHEMA_NAME(OBJECT_ID(QUOTENAME(:t)))"),
                                      {"t": c.table}).scalar() or ""
        finally:
            conn.rollback()
        if schema.lower() in system or (c.dialect == "postgresql" and schema.lower().startswith("pg_")):
            raise GendanError("connector.sql_system_catalog", {"name": _qualified(c), "schema": schema})

    def _reflect(self) -> Table:
        c = self.config
        try:
            table = Table(c.table, MetaData(), schema=c.schema_name or None, autoload_with=self.conn)
        except NoSuchTableError:
            raise GendanError("connector.sql_no_such_view", {"name": _qualified(c)}) from None
        finally:
            self.conn.rollback()
        if c.cursor_column not in table.c:
            raise GendanError("connector.sql_cursor_missing", {"column": c.cursor_column, "name": _qualified(c)})
        if c.key_column and c.key_column not in table.c:
            raise GendanError("connector.sql_key_missing", {"column": c.key_column, "name": _qualified(c)})
        return table

    # ------------------------------------------------------------ reading

    def _fetch(self, after: tuple[Any, Any] | None, limit: int | None, *, equal: Any = None) -> list[dict[str, Any]]:
        query = self.query(after, limit, equal=equal)
        try:
            rows = [dict(r) for r in self.conn.execute(query).mappings()]
        except SQLAlchemyError as exc:
            raise GendanError("connector.sql_query_failed", {"error": _reason(exc)}) from None
        finally:
            self.conn.rollback()
        return rows

    def query(self, after: tuple[Any, Any] | None, limit: int | None, *, equal: Any = None) -> Any:
        """The SELECT of one batch: rows after `after` (cursor value, key) in cursor order, at most
        `limit` (LIMIT on PostgreSQL / MySQL, TOP on SQL Server: the dialect compiles it)."""
        c, t = self.config, self.table
        cur = t.c[c.cursor_column]
        key = t.c[c.key_column] if c.key_column else None
        query = select(t).where(cur.is_not(None))
        if equal is not None:
            query = query.where(cur == equal)
        elif after is not None:
            value, key_value = after
            if key is not None and key_value is not None:
                query = query.where(or_(cur > value, and_(cur == value, key > key_value)))
            else:
                query = query.where(cur > value)
        query = query.order_by(cur, key) if key is not None else query.order_by(cur)
        if limit is not None:
            query = query.limit(limit)
        return query

    def records(self, cursor: dict[str, Any], *, max_records: int | None = None) -> Iterator[tuple[dict, dict]]:
        """(record, its position) in order, from after the stored position, batch by batch."""
        c = self.config
        limit = min(max_records or c.max_records_per_run, c.max_records_per_run)
        after = None
        if cursor.get("sql_value") is not None:
            after = (decode(cursor.get("sql_value")), decode(cursor.get("sql_key")))
            after = after if after[0] is not None else None
        read = 0
        while read < limit:
            size = min(c.batch_size, limit - read)
            rows = self._fetch(after, size)
            if not rows:
                return
            full = len(rows) == size
            if full and not c.key_column:  # a cursor value's rows all in one batch, or some would be lost
                last = rows[-1][c.cursor_column]
                ties = self._fetch(None, MAX_TIES + 1, equal=last)
                if len(ties) > MAX_TIES:
                    raise GendanError("connector.sql_ties_too_many", {"column": c.cursor_column, "limit": MAX_TIES})
                rows = [r for r in rows if r[c.cursor_column] != last] + ties
            for row in rows:
                position = {"sql_value": encode(row[c.cursor_column]),
                            "sql_key": encode(row[c.key_column]) if c.key_column else None}
                yield {k: _jsonable(v) for k, v in row.items()}, position
            read += len(rows)
            last_row = rows[-1]
            after = (last_row[c.cursor_column], last_row[c.key_column] if c.key_column else None)
            if not full:
                return

    def order_preview(self) -> str:
        c = self.config
        order = f"{c.cursor_column}, {c.key_column}" if c.key_column else c.cursor_column
        return f"{_qualified(c)} ORDER BY {order}"


def _qualified(c: SqlPullSettings) -> str:
    return f"{c.schema_name}.{c.table}" if c.schema_name else c.table


def _reason(exc: Exception) -> str:
    """The driver's first line, without the password or the statement."""
    original = getattr(exc, "orig", None) or exc
    args = getattr(original, "args", ())
    if len(args) == 1 and isinstance(args[0], tuple):  # pymssql wraps its pair in one argument
        args = args[0]
    if len(args) == 2 and isinstance(args[1], bytes):  # pymssql: (code, FreeTDS's message lines as bytes)
        lines = [x.strip() for x in args[1].decode("utf-8", "replace").splitlines()]
        said = list(dict.fromkeys(x for x in lines if x and not x.startswith("DB-Lib error message")))
        return " — ".join(said)[:200] or str(args[0])
    text = str(original).splitlines()[0] if str(original) else type(original).__name__
    return text[:200]
