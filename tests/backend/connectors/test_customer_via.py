"""Customers created by a connector or an import say by which channel in their audit "create" row
("via": the connector's name, or the import file), on the set-based path and record by record.
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.connectors import runner, service
from backend.customers.models import Customer
from backend.customers.schemas import CustomerCreate
from backend.customers.service import create_customer
from backend.ingest import service as ingest_service
from backend.ingest.schemas import ImportMapping
from tests.backend.connectors.test_runner import _run, payload
from tests.conftest import login


def _created_via(session) -> dict[str, object]:
    session.expire_all()
    codes = dict(session.execute(select(Customer.id, Customer.code)).all())
    rows = session.execute(select(AuditEvent.entity_key, AuditEvent.after).where(
        AuditEvent.entity_type == "customer", AuditEvent.action == "create")).all()
    return {codes[int(key)]: (after or {}).get("via") for key, after in rows}


@pytest.mark.parametrize("batch_records", [1000, 1])  # set-based, record by record
def test_a_connector_run_names_itself_on_the_customers_it_creates(session, connection, client, admin, now, source,
                                                                  monkeypatch, batch_records):
    monkeypatch.setattr(runner, "BATCH_RECORDS", batch_records)
    c = service.create_connector(session, actor=admin, payload=payload(
        source.url + "/orders/link?page=1", name="Tmall shop 天猫"), now=now)
    run = _run(connection, c.id, now)
    assert (run.status, run.created_count) == ("ok", 5)
    made = _created_via(session)
    assert made and set(made.values()) == {"connector: Tmall shop 天猫"}
    login(client, admin.username)  # the audit page says it in words, in the reader's language
    page = client.get("/admin/audit?entity_type=customer", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "connector Tmall shop 天猫" in page.text


@pytest.mark.parametrize("bulk_path", [True, False])
def test_an_import_names_its_file_and_a_customer_made_on_its_page_names_nothing(session, connection, admin, now,
                                                                               bulk_path):
    content = "ref,code,customer,amount\nVIA-1,VIAC1,Via One,10\nVIA-2,VIAC2,Via Two,20\n"
    preview = ingest_service.upload_import(session, actor=admin, filename="orders-2026-12.csv",
                                           content=content.encode(), now=now)
    mapping = ImportMapping(columns={"external_id": "ref", "customer_code": "code", "customer": "customer",
                                     "amount": "amount"}, defaults={"currency": "CNY"}, create_customers=True)
    ingest_service.start_import(session, actor=admin, job_id=preview.job.id, mapping=mapping, now=now)
    ingest_service.run_to_end(connection, preview.job.id, now, batch_size=50, bulk=bulk_path)
    by_hand = CustomerCreate(name="By hand", code="VIAHAND", preferred_channel="none")
    create_customer(session, actor=admin, payload=by_hand, now=now)
    session.commit()
    made = _created_via(session)
    assert (made["VIAC1"], made["VIAC2"]) == ("import: orders-2026-12.csv",) * 2
    assert made["VIAHAND"] is None  # outside an import or a run no channel leaks in
