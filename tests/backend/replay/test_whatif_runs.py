"""What-if runs replayed by the worker (SQLite and PostgreSQL): a window over the inline limit is
queued (202), the worker job replays it with progress, the result is read back; a broken draft ends
in a clear error in the reader's language; cancel; the per-user limit; a killed worker's run taken
over; expiry; the draft-changed flag; example orders by row-level access; nothing real written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from backend.clock import utcnow
from backend.flows.models import FlowInstance, FlowTimer
from backend.inbox.models import InboxItem
from backend.notify.models import Notification, OutboxMessage
from backend.orders.models import Order, OrderEvent
from backend.replay import runs
from backend.replay.models import WhatIfRun
from backend.rules.models import RuleFiring, RuleOrderState
from tests.backend.flows.test_service import org  # noqa: F401 (the fixture)
from tests.backend.replay.test_flow_whatif import lowered, run_orders
from tests.backend.replay.test_whatif_api import big_order_rule, seed
from tests.conftest import login
from tests.factories.people import make_user

REAL = (Order, OrderEvent, RuleFiring, RuleOrderState, InboxItem, Notification, OutboxMessage, FlowInstance,
        FlowTimer)


@pytest.fixture(autouse=True)
def _small_inline_limit(monkeypatch):
    """Four orders count as a large window here (the real limit is a few hundred)."""
    monkeypatch.setattr(runs, "INLINE_MAX_ORDERS", 1)


def counts(session):
    return {m.__tablename__: session.execute(select(func.count()).select_from(m)).scalar_one() for m in REAL}


def queue(client, key="whatif_big", weeks=4, **body):
    answer = client.post(f"/api/v1/rules/{key}/whatif", json={"weeks": weeks, **body},
                         headers={"Accept-Language": "en"})
    assert answer.status_code == 202, answer.text
    return answer.json()["run"]["id"]


def read(client, run_id, lang="en"):
    answer = client.get(f"/api/v1/whatif/runs/{run_id}", headers={"Accept-Language": lang})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_large_window_is_queued_replayed_by_the_worker_and_read_back(client, session, connection):
    orders = seed(session, client, "wir_admin")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    before = counts(session)

    run_id = queue(client)
    queued = read(client, run_id)
    assert (queued["state"], queued["result"], queued["draft_changed"]) == ("queued", None, False)
    # asking again for the same replay of the same draft gives the same run
    assert queue(client) == run_id

    now = utcnow()
    run, token = runs.claim(connection, now)
    assert runs.execute(connection, run, token, now) == "done"
    done = read(client, run_id)
    assert done["state"] == "done", done
    # 4 orders, replayed through the published version and the draft
    assert (done["progress_done"], done["progress_total"], done["percent"]) == (8, 8, 100)
    rule = done["result"]["rule"]
    assert [o["number"] for o in rule["added"]] == [orders[7000].number]
    assert (rule["orders_before"], rule["orders_after"]) == (1, 2)
    assert runs.run_queued(connection, utcnow()) == 0  # nothing left to run
    assert counts(session) == before  # nothing real was written: the run row is the only row

    # the draft changes after the replay: the run says so
    assert client.post("/api/v1/rules", json=big_order_rule(6000)).status_code == 201
    assert read(client, run_id)["draft_changed"] is True

    # results expire
    session.expire_all()
    finished = session.get(WhatIfRun, run_id).finished_at
    assert runs.cleanup(connection, finished + runs.RESULT_TTL - timedelta(minutes=1)) == 0
    assert runs.cleanup(connection, finished + runs.RESULT_TTL + timedelta(minutes=1)) == 1
    gone = client.get(f"/api/v1/whatif/runs/{run_id}", headers={"Accept-Language": "en"})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "whatif.run_not_found"


def test_a_draft_broken_by_the_time_the_worker_runs_fails_in_the_readers_language(client, session, connection):
    seed(session, client, "wir_admin2")
    broken = client.post("/api/v1/rules/whatif_big/whatif", headers={"Accept-Language": "zh-CN"},
                         json={"weeks": 4, "definition": {**big_order_rule(5000), "condition": {"nope": [1]}}})
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "rule.definition_invalid"

    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    run_id = queue(client)
    # the snapshot no longer validates when the worker runs it (as after a field was removed)
    session.execute(update(WhatIfRun).where(WhatIfRun.id == run_id)
                    .values(draft={**big_order_rule(5000), "condition": {">": [{"var": "no_such_field"}, 1]}}))
    session.commit()
    assert runs.run_queued(connection, utcnow()) == 1
    failed = read(client, run_id, lang="zh-CN")
    assert failed["state"] == "failed" and failed["result"] is None
    assert failed["error"]["code"] == "rule.definition_invalid"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in failed["error"]["message"]), failed["error"]
    assert failed["error"]["problems"]
    assert read(client, run_id, lang="en")["error"]["message"].isascii()


def test_cancel_before_and_while_running(client, session, connection):
    seed(session, client, "wir_admin3")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    first = queue(client, weeks=4)
    cancelled = client.post(f"/api/v1/whatif/runs/{first}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert runs.run_queued(connection, utcnow()) == 0  # a cancelled run is not picked up

    second = queue(client, weeks=3)
    now = utcnow()
    run_id, token = runs.claim(connection, now)
    assert run_id == second and read(client, second)["state"] == "running"
    assert client.post(f"/api/v1/whatif/runs/{second}/cancel").json()["state"] == "cancelled"
    # the worker notices at its first progress write and stops without writing a result
    assert runs.execute(connection, run_id, token, now) == "lost"
    stopped = read(client, second)
    assert (stopped["state"], stopped["result"]) == ("cancelled", None)


def test_one_person_cannot_queue_without_bound(client, session):
    seed(session, client, "wir_admin4")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    ids = [queue(client, weeks=w) for w in range(1, runs.MAX_ACTIVE_PER_USER + 1)]
    assert len(set(ids)) == runs.MAX_ACTIVE_PER_USER
    more = client.post("/api/v1/rules/whatif_big/whatif", json={"weeks": 9}, headers={"Accept-Language": "zh-CN"})
    assert more.status_code == 429 and more.json()["error"]["code"] == "whatif.too_many_runs"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in more.json()["error"]["message"])
    # cancelling one makes room
    assert client.post(f"/api/v1/whatif/runs/{ids[0]}/cancel").status_code == 200
    assert queue(client, weeks=9) not in ids


def test_a_killed_workers_run_is_taken_over_after_its_lease(client, session, connection):
    seed(session, client, "wir_admin5")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    run_id = queue(client)
    now = utcnow()
    claimed, _token = runs.claim(connection, now)  # this worker dies here
    assert claimed == run_id
    assert runs.claim(connection, now + timedelta(minutes=1)) is None  # its lease still holds
    later = now + runs.LEASE + timedelta(seconds=1)
    again, token = runs.claim(connection, later)
    assert again == run_id
    assert runs.execute(connection, again, token, later) == "done"
    assert read(client, run_id)["result"]["rule"]["orders_after"] == 2


def test_only_who_asked_reads_the_run_and_examples_follow_row_level_access(client, session, connection):
    seed(session, client, "wir_admin6")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    make_user(session, username="wir_designer", roles=("designer",))
    make_user(session, username="wir_other", roles=("designer",))
    session.commit()
    login(client, "wir_designer")
    run_id = queue(client)
    assert runs.run_queued(connection, utcnow()) == 1
    mine = read(client, run_id)
    rule = mine["result"]["rule"]
    # a designer who sells nothing may not open the rep's orders: the counts stay, the examples go
    assert (rule["orders_after"], rule["added_count"]) == (2, 1)
    assert rule["added"] == [] and mine["result"]["hidden_examples"] >= 1
    login(client, "wir_other")
    assert client.get(f"/api/v1/whatif/runs/{run_id}").status_code == 404
    assert client.post(f"/api/v1/whatif/runs/{run_id}/cancel").status_code == 404
    login(client, "wir_admin6")  # an admin sees it, with every example
    assert [o["number"] for o in read(client, run_id)["result"]["rule"]["added"]]


def test_a_flow_replay_runs_in_the_worker(client, session, connection, org):  # noqa: F811 (the fixture)
    run_orders(session, org, utcnow())
    org["designer"].username = "wir_flow_designer"
    session.commit()
    login(client, "wir_flow_designer")
    before = counts(session)
    answer = client.post("/api/v1/flows/order/whatif", json={"weeks": 4, "definition": lowered()})
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["run"]["id"]
    assert runs.run_queued(connection, utcnow()) == 1
    done = read(client, run_id)
    assert done["state"] == "done" and done["progress_total"] == 6
    assert done["result"]["orders"] == 3 and done["result"]["changed_paths_count"] == 1
    assert counts(session) == before


def test_the_rule_set_runs_in_the_worker(client, session, connection):
    seed(session, client, "wir_admin7")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    answer = client.post("/api/v1/rules/whatif", json={"weeks": 4})
    assert answer.status_code == 202, answer.text
    assert runs.run_queued(connection, utcnow()) == 1
    done = read(client, answer.json()["run"]["id"])
    assert [r["key"] for r in done["result"]["rules"]] == ["whatif_big"]
    assert done["result"]["rules"][0]["added_count"] == 1


def test_every_run_of_the_flow_is_replayed(session, org, now):  # noqa: F811 (the fixture)
    from backend.flows import service_instance
    from backend.flows.schemas import TaskAction
    from backend.replay import flows
    from tests.backend.flows.test_service import actor_of, open_items, task_id

    orders = run_orders(session, org, now)
    # the 70,000 order runs the flow a second time (its first run finished); the manager approves
    again = now - timedelta(days=2)
    instance = service_instance.start_flow(session, order=orders[70_000], actor=actor_of(org["rep"]), now=again)
    [item] = open_items(session, org["manager"])
    service_instance.act_on_task(session, actor=actor_of(org["manager"]), instance_id=instance.id,
                                 task_id=task_id(item), body=TaskAction(action="approve"),
                                 now=again + timedelta(hours=1))
    session.commit()
    answer = flows.flow_what_if(session, actor=actor_of(org["designer"], "designer"), key="order", weeks=4,
                                now=now, definition=lowered())
    assert (answer["orders"], answer["runs"]) == (3, 4)
    # both runs of the 70,000 order now reach the director; the order is named once
    assert answer["changed_paths_count"] == 2
    assert [o["number"] for o in answer["changed_paths"]] == [orders[70_000].number]


def test_a_recorded_withdrawal_is_replayed(session, org, now):  # noqa: F811 (the fixture)
    from backend.flows import service_instance
    from backend.flows.schemas import InstanceAction
    from backend.replay import flows
    from tests.backend.flows.test_service import actor_of
    from tests.factories.orders import make_order

    run_orders(session, org, now)
    at = now - timedelta(days=3)
    order = make_order(session, owner=org["rep"], amount=90_000, at=at, number="FWI-withdrawn")
    instance = service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=at)
    service_instance.act_on_instance(session, actor=actor_of(org["rep"], "sales"), instance_id=instance.id,
                                     body=InstanceAction(action="withdraw"), now=at + timedelta(hours=3))
    session.commit()
    answer = flows.flow_what_if(session, actor=actor_of(org["designer"], "designer"), key="order", weeks=4,
                                now=now, definition=lowered())
    outcomes = {o["status"]: (o["before"], o["after"]) for o in answer["outcomes"]}
    # withdrawn before the manager decided, in both versions (not left waiting at the manager)
    assert outcomes["withdrawn"] == (1, 1)
    assert "running" not in outcomes
