"""Issue 17: "database is locked" (500) on saving a flow draft under load on SQLite. Designers
saving drafts at the same moment from several threads, committing for real on a database of
their own: every save lands or is refused in words (409 / 503), never an unhandled error."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from backend.db import make_engine, new_session
from backend.errors import GendanError
from backend.flows import service
from backend.flows.models import FlowDefinitionRow
from backend.pipeline_assembly import assemble
from tests.backend.flows.test_service import actor_of
from tests.conftest import make_test_database
from tests.factories.people import make_user

THREADS = 6
SAVES = 4


def flow(key: str, n: int) -> dict:
    return {"key": key, "name": {"en": f"FRM flow {n}"}, "nodes": [
        {"type": "start", "key": "start"}, {"type": "end", "key": "end"}],
        "edges": [{"key": "e1", "source": "start", "target": "end"}]}


@pytest.fixture
def race_engine(db_url, tmp_path):
    kind = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    engine = assemble(make_engine(make_test_database(kind, tmp_path, label="frm_drafts")))
    yield engine
    engine.dispose()


def test_drafts_saved_at_once_all_land_or_are_refused_in_words(race_engine, now):
    with new_session(race_engine) as session:
        designers = [make_user(session, roles=("designer",)) for _ in range(THREADS)]
        session.commit()
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []

    def save(i: int) -> None:
        actor = actor_of(designers[i], "designer")
        barrier.wait()
        for n in range(SAVES):
            key = "frm_shared" if n % 2 == 0 else f"frm_own_{i}"  # one key everyone edits, one each
            with new_session(race_engine) as s:
                try:
                    service.save_draft(s, actor=actor, key=key, definition=flow(key, n), now=now)
                    outcomes.append("ok")
                except GendanError as exc:
                    outcomes.append(f"{exc.status}:{exc.code}")
                except Exception as exc:  # noqa: BLE001 - what the test is about: nothing else escapes
                    outcomes.append(f"error:{type(exc).__name__}:{exc}"[:200])

    threads = [threading.Thread(target=save, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(outcomes) == THREADS * SAVES
    assert all(o == "ok" or o.split(":")[0] in ("409", "503") for o in outcomes), outcomes
    with new_session(race_engine, writes=False) as s:
        drafts = s.execute(select(FlowDefinitionRow.key, func.count()).where(FlowDefinitionRow.status == "draft")
                           .group_by(FlowDefinitionRow.key)).all()
    assert dict(drafts) == {"frm_shared": 1, **{f"frm_own_{i}": 1 for i in range(THREADS)}}


def test_a_write_lock_not_granted_in_time_is_a_503_in_words(client, session, monkeypatch):
    """SQLite gives up after its busy timeout with "database is locked": the save is rolled back,
    and the designer reads that the database is busy, in their language (was a 500)."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from tests.conftest import bearer

    make_user(session, username="frm.locked", roles=["designer"])
    session.commit()

    def locked(*args, **kwargs):
        raise OperationalError("UPDATE flow_definition ...", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(service, "save_draft", locked)
    auth = {**bearer(client, "frm.locked"), "Accept-Language": "zh-CN"}
    resp = client.put("/api/v1/flows/frm_locked/draft", json=flow("frm_locked", 0), headers=auth)
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "request.database_busy"
    assert resp.json()["error"]["message"] == "数据库正忙于处理其他修改，本次未保存，请稍后重试。"
