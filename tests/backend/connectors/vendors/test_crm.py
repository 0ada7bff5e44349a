"""CRM opportunity won → order (Salesforce REST) against a fake Salesforce (OAuth2 client credentials,
SOQL query with nextRecordsUrl batches, [{"errorCode"}] errors), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.backend.connectors.vendors.helpers import cursor, from_template, health, orders, run
from tests.factories.vendor_sources2 import FakeSalesforce

KEY = "crm_opportunity"


def opp(n: int, stamp: str, won: bool = True, account: str = "Acme") -> dict:
    return {"Id": f"006D000000Opp{n:04d}", "Name": f"Deal {n}", "Amount": 1000.0 * n, "CloseDate": "2026-11-20",
            "StageName": "Closed Won" if won else "Negotiation/Review", "IsWon": won,
            "SystemModstamp": stamp, "Account": {"attributes": {"type": "Account"}, "Name": f"{account} Ltd",
                                                 "AccountNumber": f"ACC-{account}"}}


@pytest.fixture
def sf():
    server = FakeSalesforce([opp(1, "2026-11-23T01:00:00.000+0000"), opp(2, "2026-11-23T02:00:00.000+0000"),
                             opp(3, "2026-11-23T02:00:00.000+0000", won=False),
                             opp(4, "2026-11-23T02:00:00.000+0000", account="Beta"),
                             opp(5, "2026-11-23T03:00:00.000+0000")], batch=2).start()
    yield server
    server.stop()


def make(session, admin, now, sf, **kw):
    kw.setdefault("secrets", {"client_secret": FakeSalesforce.CLIENT_SECRET})
    return from_template(session, admin, now, KEY, sf.url, options={"client_id": FakeSalesforce.CLIENT_ID}, **kw)


def test_won_opportunities_across_batches_become_orders(session, connection, admin, now, sf):
    c = make(session, admin, now, sf)
    result = run(connection, c.id, now)
    assert (result.status, result.created_count, result.failed_count) == ("ok", 4, 0), result.error
    got = orders(session, "salesforce")
    assert sorted(got) == ["006D000000Opp0001", "006D000000Opp0002", "006D000000Opp0004", "006D000000Opp0005"]
    assert str(got["006D000000Opp0004"].amount) == "4000.00" and got["006D000000Opp0004"].data["crm_opportunity"] \
        == "Deal 4"
    queries = [r for r in sf.requests if r["path"].startswith("/services/data/")]
    assert len(queries) == 2 and "nextRecordsUrl" not in queries[1]["query"]  # a second batch by its locator
    assert "IsWon = true AND SystemModstamp > 2000-01-01T00:00:00Z" in queries[0]["query"]["q"]
    assert cursor(session, c.id) == {"since": "2026-11-23T03:00:00.000+0000", "after_id": "006D000000Opp0005"}


def test_a_run_cut_mid_time_stamp_resumes_without_loss(session, connection, admin, now, sf):
    c = make(session, admin, now, sf, max_pages_per_run=1)  # one batch per run (+ the token)
    first = run(connection, c.id, now)
    assert first.created_count == 2 and cursor(session, c.id)["after_id"] == "006D000000Opp0002"
    second = run(connection, c.id, now + timedelta(minutes=15))
    assert second.created_count >= 1
    assert "006D000000Opp0004" in orders(session, "salesforce")  # shares Opp0002's time stamp: not lost
    q = [r for r in sf.requests if r["path"].endswith("/query")][-1]["query"]["q"]
    assert "SystemModstamp = 2026-11-23T02:00:00Z AND Id > '006D000000Opp0002'" in q


def test_a_second_run_reads_only_newer(session, connection, admin, now, sf):
    c = make(session, admin, now, sf)
    run(connection, c.id, now)
    sf.opportunities.append(opp(6, "2026-11-24T01:00:00.000+0000"))
    sf.requests.clear()
    result = run(connection, c.id, now + timedelta(hours=1))
    assert (result.created_count, result.unchanged_count, result.updated_count) == (1, 0, 0)


def test_wrong_client_secret_is_a_clear_error_on_health(session, connection, admin, now, sf):
    c = make(session, admin, now, sf, secrets={"client_secret": "wrong"})
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.login_failed" and "invalid client credentials" in h["error"]["params"]["message"]


def test_an_error_answer_fails_the_run_and_keeps_the_cursor(session, connection, admin, now, sf):
    c = make(session, admin, now, sf)
    sf.fail_next = [{"message": "unexpected token: 'FROM'", "errorCode": "MALFORMED_QUERY"}]
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert (h["error"]["code"], h["error"]["params"]["code"]) == ("vendor.api_error", "MALFORMED_QUERY")
    assert cursor(session, c.id) == {}
    assert run(connection, c.id, now).created_count == 4
