"""Customers created on the fly ("create unknown customers") leave one audit "create" row each, by
the acting user, as a customer made on its page does: CSV imports (set-based and row by row) and
POST /api/v1/orders/bulk (set-based and record by record), on SQLite and PostgreSQL. Customers
that existed, and customers of rows that failed, get none. (Connector runs: tests/backend/connectors/
test_batch.py; the import differential: test_bulk.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.auth.service import load_actor
from backend.customers.models import Customer
from backend.ingest import service
from backend.ingest.schemas import ImportMapping
from tests.conftest import bearer, login
from tests.factories.orders import make_customer
from tests.factories.people import make_user

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MAPPING = ImportMapping(columns={"external_id": "ref", "customer_code": "code", "customer": "customer",
                                 "amount": "amount"},
                        defaults={"currency": "CNY"}, create_customers=True, source="ca", timezone="Asia/Shanghai")
CSV = ("ref,code,customer,amount\n"
       "CA-1,CAOLD,Old Co,10\n"        # existing customer
       "CA-2,CANEW1,New One,20\n"      # new
       "CA-3,CANEW1,New One,30\n"      # the same new customer again
       "CA-4,,Named Only,40\n"         # new, by name
       "CA-5,CABAD,Bad Row,abc\n")     # bad amount: its customer is not created


def _customer_creates(session) -> dict[tuple[str | None, str], list[tuple[int | None, dict]]]:
    session.expire_all()
    names = {str(c.id): (c.code, c.name) for c in session.exec(select(Customer)).scalars()}
    out: dict = {}
    for event in session.exec(select(AuditEvent).where(AuditEvent.entity_type == "customer",
                                                       AuditEvent.action == "create")).scalars():
        out.setdefault(names[event.entity_key], []).append((event.actor_id, event.after))
    return out


@pytest.mark.parametrize("bulk_path", [True, False])
def test_a_csv_import_records_each_new_customer_once_by_the_importer(session, connection, bulk_path):
    admin = make_user(session, roles=("admin",), username="ca.admin")
    make_customer(session, name="Old Co", code="CAOLD")
    session.commit()
    actor = load_actor(session, admin.id)
    preview = service.upload_import(session, actor=actor, filename="ca.csv", content=CSV.encode(), now=NOW)
    service.start_import(session, actor=actor, job_id=preview.job.id, mapping=MAPPING, now=NOW)
    service.run_to_end(connection, preview.job.id, NOW, bulk=bulk_path)

    made = _customer_creates(session)
    assert set(made) == {(None, "Named Only"), ("CANEW1", "New One")}
    assert all(len(rows) == 1 and rows[0][0] == admin.id for rows in made.values())
    # what the page's create records: every field that got a value, and the channel it came by
    assert made[("CANEW1", "New One")][0][1] == {
        "code": "CANEW1", "name": "New One", "tier": "standard", "preferred_locale": "zh_CN",
        "preferred_channel": "none", "is_unsubscribed": False, "via": "import: ca.csv"}


@pytest.mark.parametrize("set_based", [True, False])
def test_the_bulk_api_records_each_new_customer_once_by_the_caller(client, session, set_based):
    make_user(session, username="ca.root", roles=["admin"])
    rep = make_user(session, username="ca.rep", roles=["sales"])
    make_customer(session, name="Old Co", code="CAOLD")
    session.commit()
    # a number in the automatic series sends the chunk record by record
    extra = {} if set_based else {"number": "SO20261207-9101"}
    body = [{"external_id": "ca-1", "source": "erp", "customer_code": "CAOLD", "amount": "1", **extra},
            {"external_id": "ca-2", "source": "erp", "customer_code": "CANEW1", "customer_name": "New One",
             "amount": "2", "number": "CA-N2"},
            {"external_id": "ca-3", "source": "erp", "customer_code": "CANEW1", "amount": "3", "number": "CA-N3"},
            {"external_id": "ca-4", "source": "erp", "customer_code": "CANEW2", "amount": "4", "number": "CA-N4"},
            {"external_id": "ca-5", "source": "erp", "customer_code": "CABAD", "amount": "x"}]
    resp = client.post("/api/v1/orders/bulk", json=body, headers=bearer(client, "ca.rep"),
                       params={"create_customers": "true"})
    assert resp.status_code == 200, resp.text
    assert [r["outcome"] for r in resp.json()["results"]] == ["created"] * 4 + ["failed"], resp.text

    made = _customer_creates(session)
    assert set(made) == {("CANEW1", "New One"), ("CANEW2", "CANEW2")}
    assert all(len(rows) == 1 and rows[0][0] == rep.id for rows in made.values())
    # the channel, as an import names its file and a connector itself (backend/ingest/via.py)
    assert all(rows[0][1]["via"] == "api: bulk" for rows in made.values())


@pytest.mark.parametrize("set_based", [True, False])
def test_the_bulk_api_names_the_api_key_on_the_customers_it_creates(client, session, set_based):
    """Several integrations each have their own key: the new customer's history says which one,
    on the audit page in the reader's language."""
    make_user(session, username="ca.keyroot", roles=["admin"])
    rep = make_user(session, username="ca.keyrep", roles=["sales"])
    session.commit()
    created = client.post("/api/v1/api-keys", json={"name": "ERP 夜间同步", "scope": "write", "user_id": rep.id},
                          headers=bearer(client, "ca.keyroot"))
    assert created.status_code == 201, created.text
    extra = {} if set_based else {"number": "SO20261207-9102"}  # the automatic series: record by record
    body = [{"external_id": "ck-1", "source": "erp", "customer_code": "CAKEY1", "customer_name": "Key One",
             "amount": "1", **extra}]
    resp = client.post("/api/v1/orders/bulk", json=body, headers={"X-API-Key": created.json()["key"]},
                       params={"create_customers": "true"})
    assert resp.status_code == 200 and resp.json()["results"][0]["outcome"] == "created", resp.text
    made = _customer_creates(session)
    assert made[("CAKEY1", "Key One")] == [(rep.id, made[("CAKEY1", "Key One")][0][1])]
    assert made[("CAKEY1", "Key One")][0][1]["via"] == "api key: ERP 夜间同步"
    for locale, words in (("en", "API key ERP 夜间同步"), ("zh-CN", "API 密钥 ERP 夜间同步")):
        reader = make_user(session, username=f"ca.reader.{locale}", roles=["admin"], locale=locale)
        session.commit()
        client.cookies.clear()
        client.headers.pop("X-CSRF-Token", None)
        login(client, reader.username)
        page = client.get("/admin/audit?entity_type=customer")
        assert page.status_code == 200 and words in page.text, page.text[-3000:]
