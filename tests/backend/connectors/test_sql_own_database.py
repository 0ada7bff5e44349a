"""A SQL connector never reads Gendan's own database, however it is spelled: the check compares
what the servers say about themselves (cluster system identifier, database oid), so `localhost`,
`127.0.0.1`, a host alias, the port written or left out and another login are all refused, in
words on the form, the API and the health page (en and zh-CN). A connector pointed at another
database cannot reach the server's catalogs (pg_catalog, information_schema, mysql, ...) by a
view name either. Gendan's own database on PostgreSQL (on SQLite no network connector reaches
it); the sources on PostgreSQL and MariaDB."""

from __future__ import annotations

import os
import socket

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import make_url

from backend.connectors import runner, service
from backend.connectors.models import Connector, ConnectorRun
from backend.connectors.schemas import ConnectorCreate, ConnectorSecrets
from backend.connectors.sql_pull import ServerIdentity, SqlPull, server_identity
from backend.connectors.sql_settings import SqlPullSettings
from backend.errors import GendanError
from tests.backend.connectors.sql_sources import PG_ADMIN
from tests.conftest import login
from tests.factories.people import make_user

OTHER_LOGIN = f"mendsb_reader_{os.getpid()}"


@pytest.fixture
def own_pg(db_url):
    """Gendan's own database when it is PostgreSQL (the SQLite half has no server to reach)."""
    url = make_url(db_url)
    if not url.drivername.startswith("postgresql"):
        pytest.skip("Gendan's own database is a SQLite file here: no SQL connector can reach it")
    return url


@pytest.fixture
def other_login():
    """A second login role on the same server (trust authentication like postgres)."""
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{OTHER_LOGIN}"')
        conn.exec_driver_sql(f'CREATE ROLE "{OTHER_LOGIN}" LOGIN')
    try:
        yield OTHER_LOGIN
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{OTHER_LOGIN}"')
        admin.dispose()


def _host_alias() -> str:
    """This machine's own name when it resolves to the loopback address the server listens on."""
    name = socket.gethostname()
    try:
        return name if socket.gethostbyname(name).startswith("127.") else "127.0.0.1"
    except OSError:
        return "127.0.0.1"


def _settings(own, **spelling) -> SqlPullSettings:
    base = {"dialect": "postgresql", "host": own.host or "127.0.0.1", "port": own.port, "database": own.database,
            "user": own.username or "postgres", "schema_name": "public", "table": "sales_order",
            "cursor_column": "updated_at", "connect_timeout_seconds": 5}
    return SqlPullSettings.model_validate({**base, **spelling})


SPELLINGS = [
    pytest.param({}, id="as-configured"),
    pytest.param({"host": "localhost"}, id="localhost"),
    pytest.param({"host": "127.0.0.1", "port": None}, id="port-left-out"),
    pytest.param({"host": "127.1", "port": 5432}, id="short-ip"),
    pytest.param({"host": "alias"}, id="host-alias"),
    pytest.param({"user": "other"}, id="other-login"),
    pytest.param({"host": "alias", "user": "other", "schema_name": "", "port": None}, id="alias-login-no-schema"),
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_gendans_own_database_is_refused(session, admin, own_pg, other_login, spelling):
    spelling = {k: (_host_alias() if v == "alias" else other_login if v == "other" else v)
                for k, v in spelling.items()}
    with pytest.raises(GendanError) as info:
        service.test_connection(session, actor=admin, settings=_settings(own_pg, **spelling),
                                secrets=ConnectorSecrets())
    assert info.value.code == "connector.sql_own_database", info.value.code


def test_another_database_of_the_same_server_is_read(session, admin, own_pg, pg_source, other_login):
    """Same cluster, same host alias and login: a different database is not Gendan's own."""
    pg_source.put(("OWN-1", "K1", "1.00", "已签约", "2026-11-20 10:00:00"))
    with pg_source.engine.begin() as conn:
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA src TO "{other_login}"')
        conn.exec_driver_sql(f'GRANT SELECT ON src.v_orders TO "{other_login}"')
    settings = SqlPullSettings.model_validate({**pg_source.settings, "host": _host_alias(), "user": other_login,
                                               "table": "v_orders", "cursor_column": "updated"})
    assert service.test_connection(session, actor=admin, settings=settings,
                                   secrets=ConnectorSecrets()) == "src.v_orders ORDER BY updated"
    with pg_source.engine.begin() as conn:
        conn.exec_driver_sql(f'REVOKE ALL ON src.v_orders FROM "{other_login}"')
        conn.exec_driver_sql(f'REVOKE ALL ON SCHEMA src FROM "{other_login}"')


def test_the_identity_is_the_servers_not_the_spelling(own_pg, pg_source, other_login):
    def identity(url) -> ServerIdentity:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            found = server_identity(conn)
        engine.dispose()
        return found

    base = own_pg.set(drivername="postgresql+psycopg")
    mine = identity(base)
    assert mine.system and mine.database == own_pg.database
    for spelled in (base.set(host="localhost"), base.set(host=_host_alias(), port=None),
                    base.set(username=other_login)):
        assert identity(spelled) == mine
    theirs = identity(base.set(database=pg_source.name))
    assert not mine.same_database(theirs) and theirs.system == mine.system
    # a login that may not read the system identifier: the server's start time stands in
    assert mine.same_database(ServerIdentity(mine.database, mine.database_oid, None, mine.started))
    assert not mine.same_database(ServerIdentity(mine.database, mine.database_oid, None, "1999-01-01"))
    # a physical replica shares the system identifier, not the start time: still Gendan's data
    assert mine.same_database(ServerIdentity(mine.database, mine.database_oid, mine.system, "1999-01-01"))


def _payload(settings: dict) -> ConnectorCreate:
    return ConnectorCreate.model_validate({
        "name": "own db run", "kind": "sql", "settings": settings,
        "secrets": {}, "mapping": {"columns": {"external_id": "id", "customer_code": "username", "amount": "id"},
                                   "create_customers": True, "source": "owndb"}, "schedule_minutes": 5})


def test_the_refusal_is_said_on_the_form_the_api_and_the_health_page(session, client, connection, admin, now,
                                                                     own_pg, pg_source):
    user = make_user(session, roles=["admin"], locale="zh-CN")
    session.commit()
    login(client, user.username)
    settings = _settings(own_pg, host="localhost", port=None).model_dump()
    api = client.post("/api/v1/connectors/test-connection", json={"settings": settings})
    assert api.status_code == 422 and "跟单自己的数据库" in api.text, api.text
    form = {"kind": "sql", "name": "own db", "dialect": "postgresql", "host": "localhost", "port": "",
            "database": own_pg.database, "user": "postgres", "schema_name": "public", "password": "",
            "table": "app_user", "cursor_column": "id", "key_column": "", "batch_size": "10",
            "max_records_per_run": "100", "connect_timeout_seconds": "5", "statement_timeout_seconds": "10",
            "schedule_minutes": "5", "max_failures": "5", "source": "owndb", "timezone": "Asia/Shanghai",
            "map_path_0": "id", "map_target_0": "external_id"}
    tested = client.post("/admin/connectors-test", data=form, headers={"HX-Request": "true"})
    assert "跟单自己的数据库" in tested.text and "password_hash" not in tested.text, tested.text
    sample = client.post("/admin/connectors-sample", data=form, headers={"HX-Request": "true"})
    assert "跟单自己的数据库" in sample.text and "password_hash" not in sample.text, sample.text
    with pytest.raises(GendanError) as saving:  # saving tests the connection: refused too
        service.create_connector(session, actor=admin, now=now, payload=_payload(
            {**settings, "table": "app_user", "cursor_column": "id"}))
    assert saving.value.code == "connector.sql_own_database"
    # a connector saved before this check (pointed elsewhere, then its settings changed in the
    # database): its run fails before reading a row, with the words on its health page
    pg_source.put(("OWN-1", "K1", "1.00", "已签约", "2026-11-20 10:00:00"))
    c = service.create_connector(session, actor=admin, now=now, payload=_payload(
        {**pg_source.settings, "table": "v_orders", "cursor_column": "updated"}))
    saved = session.get(Connector, c.id)
    saved.settings = {**settings, "table": "app_user", "cursor_column": "id"}
    session.commit()
    run = runner.run_connector(connection, c.id, now, trigger="manual")
    assert (run.status, run.read_count, run.error["code"]) == ("failed", 0, "connector.sql_own_database")
    page = client.get(f"/admin/connectors/{c.id}")
    assert page.status_code == 200 and "跟单自己的数据库" in page.text
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    english = make_user(session, roles=["admin"], locale="en")
    session.commit()
    login(client, english.username)
    assert "reaches Gendan&#39;s own database" in client.get(f"/admin/connectors/{c.id}").text
    assert session.exec(select(ConnectorRun).where(ConnectorRun.connector_id == c.id)).scalars().one().read_count == 0


PG_CATALOGS = [
    pytest.param({"schema_name": "", "table": "pg_stat_activity"}, id="unqualified-pg_stat_activity"),
    pytest.param({"schema_name": "", "table": "pg_roles"}, id="unqualified-pg_roles"),
    pytest.param({"schema_name": "pg_catalog", "table": "pg_database"}, id="pg_catalog"),
    pytest.param({"schema_name": "information_schema", "table": "tables"}, id="information_schema"),
]


@pytest.mark.parametrize("names", PG_CATALOGS)
def test_a_view_name_cannot_reach_the_servers_catalogs(session, admin, pg_source, names):
    settings = SqlPullSettings.model_validate({**pg_source.settings, "cursor_column": "oid", **names})
    with pytest.raises(GendanError) as info:
        service.test_connection(session, actor=admin, settings=settings, secrets=ConnectorSecrets())
    assert info.value.code == "connector.sql_system_catalog", info.value.code


@pytest.mark.parametrize("names", [{"schema_name": "mysql", "table": "user"},
                                   {"schema_name": "information_schema", "table": "PROCESSLIST"},
                                   {"schema_name": "performance_schema", "table": "threads"}])
def test_a_view_name_cannot_reach_mariadbs_catalogs(session, admin, sql_source, names):
    if sql_source.kind != "mariadb":
        pytest.skip("the MariaDB half")
    settings = SqlPullSettings.model_validate({**sql_source.settings, "cursor_column": "id", **names})
    with pytest.raises(GendanError) as info:
        service.test_connection(session, actor=admin, settings=settings, secrets=ConnectorSecrets())
    assert info.value.code == "connector.sql_system_catalog", info.value.code


def test_gendans_table_names_are_only_the_sources_tables_elsewhere(session, admin, pg_source):
    """Pointed at another database, `public.app_user` is that database's (here: none), never ours."""
    for names in ({"schema_name": "public", "table": "app_user"}, {"schema_name": "", "table": "sales_order"}):
        settings = SqlPullSettings.model_validate({**pg_source.settings, "cursor_column": "id", **names})
        with pytest.raises(GendanError) as info:
            service.test_connection(session, actor=admin, settings=settings, secrets=ConnectorSecrets())
        assert info.value.code == "connector.sql_no_such_view"
    with SqlPull(SqlPullSettings.model_validate({**pg_source.settings, "table": "v_orders",
                                                 "cursor_column": "updated"}), {}) as pull:
        assert pull.order_preview() == "src.v_orders ORDER BY updated"
    assert Connector  # the model the health page reads
