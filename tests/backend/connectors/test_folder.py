"""Issue 13: the watched folder connector kind with real files in a temporary folder, on SQLite and
PostgreSQL: CSV and xlsx files taken once and moved to done/ (or failed/ when unreadable), a file
still being written left alone, a bad row kept with its file name and row number while the others
make orders, path escapes refused in the user's language, two takers never taking the same file."""

from __future__ import annotations

import io
import os
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.connectors import folder, runner, service
from backend.connectors.models import ConnectorRecordError
from backend.connectors.schemas import ConnectorCreate, FolderSettings
from backend.errors import GendanError
from backend.orders.models import Order
from backend.people.models import User
from tests.conftest import login
from tests.factories.people import make_user

COLUMNS = {"external_id": "单号", "number": "单号", "customer_code": "客户编码", "customer": "客户",
           "amount": "金额", "stage": "状态", "created": "下单时间"}
HEADER = "单号,客户编码,客户,金额,状态,下单时间\n"


@pytest.fixture
def inbox(tmp_path, monkeypatch):
    root = tmp_path / "inbox"
    (root / "erp").mkdir(parents=True)
    monkeypatch.setenv(folder.ROOT_VARIABLE, str(root))
    return root


def payload(name="erp", sub="erp", **settings) -> ConnectorCreate:
    return ConnectorCreate.model_validate({
        "name": name, "kind": "folder",
        "settings": {"folder": sub, "pattern": "*.csv, *.xlsx", "settle_seconds": 30, **settings},
        "mapping": {"columns": COLUMNS, "stage_map": {"已签约": "approval"}, "create_customers": True,
                    "source": "erp", "timezone": "Asia/Shanghai"},
        "schedule_minutes": 5})


def drop(path, name, content: str | bytes, age: float = 120) -> None:
    """Write a file as an export would, then make it `age` seconds old (settled)."""
    file = path / name
    file.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    stamp = time.time() - age
    os.utime(file, (stamp, stamp))


def csv_rows(prefix: str, n: int, bad: int | None = None) -> str:
    lines = [HEADER]
    for i in range(1, n + 1):
        when = "not a date" if i == bad else f"2026-11-0{i} 09:30"
        lines.append(f"{prefix}{i},K{i % 2},客户{i % 2},{100 + i}.00,已签约,{when}\n")
    return "".join(lines)


def xlsx_rows(prefix: str, n: int) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.strip().split(","))
    for i in range(1, n + 1):
        sheet.append([f"{prefix}{i}", f"K{i}", f"客户{i}", 200 + i, "已签约", f"2026-11-1{i} 08:00"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _orders(session) -> dict[str, Order]:
    session.expire_all()
    return {o.external_id: o for o in session.exec(select(Order).where(Order.source == "erp")).scalars()}


def _run(connection, connector_id, now):
    return runner.run_connector(connection, connector_id, now, trigger="manual")


def test_csv_and_xlsx_files_are_taken_once_and_moved_to_done(session, connection, admin, now, inbox):
    c = service.create_connector(session, actor=admin, payload=payload(), now=now)
    erp = inbox / "erp"
    drop(erp, "a.csv", csv_rows("FLDT-A", 3), age=300)
    drop(erp, "b.xlsx", xlsx_rows("FLDT-X", 2))
    drop(erp, "notes.txt", "not an export")
    run = _run(connection, c.id, now)
    assert (run.status, run.read_count, run.created_count, run.failed_count) == ("ok", 5, 5, 0)
    orders = _orders(session)
    assert sorted(orders) == ["FLDT-A1", "FLDT-A2", "FLDT-A3", "FLDT-X1", "FLDT-X2"]
    assert (str(orders["FLDT-A2"].amount), orders["FLDT-A2"].stage) == ("102.00", "approval")
    assert str(orders["FLDT-X1"].amount) == "201.00"
    assert sorted(p.name for p in (erp / "done").iterdir()) == ["a.csv", "b.xlsx"]
    assert sorted(p.name for p in erp.iterdir() if p.is_file()) == ["notes.txt"]
    assert list((erp / "processing").iterdir()) == []
    again = _run(connection, c.id, now + timedelta(minutes=5))
    assert (again.status, again.read_count) == ("ok", 0)
    # the same export again later (a new file of the same name): taken, orders unchanged, kept apart in done/
    drop(erp, "a.csv", csv_rows("FLDT-A", 3))
    third = _run(connection, c.id, now + timedelta(minutes=10))
    assert (third.read_count, third.unchanged_count, third.created_count) == (3, 3, 0)
    assert sorted(p.name for p in (erp / "done").iterdir()) == ["a.2.csv", "a.csv", "b.xlsx"]


def test_a_file_still_being_written_is_left_for_the_next_run(session, connection, admin, now, inbox):
    c = service.create_connector(session, actor=admin, payload=payload(), now=now)
    erp = inbox / "erp"
    drop(erp, "half.csv", csv_rows("FLDT-H", 2), age=0)
    run = _run(connection, c.id, now)
    assert (run.status, run.read_count) == ("ok", 0)
    assert (erp / "half.csv").exists() and _orders(session) == {}
    # its size changing between the first look and the claim: not taken either
    seen = folder.waiting(erp, FolderSettings(folder="erp", settle_seconds=0))
    with open(erp / "half.csv", "a", encoding="utf-8") as handle:
        handle.write("FLDT-H3,K1,客户1,1.00,已签约,2026-11-03 09:30\n")
    assert folder.claim(erp, seen[0], "c0-r0-") is None
    drop(erp, "half.csv", (erp / "half.csv").read_bytes())  # the writer is done: it settles
    run = _run(connection, c.id, now + timedelta(minutes=5))
    assert (run.read_count, run.created_count) == (3, 3)


def test_a_bad_row_is_kept_with_file_and_row_and_the_others_are_made(session, connection, admin, now, inbox,
                                                                      client):
    c = service.create_connector(session, actor=admin, payload=payload(), now=now)
    erp = inbox / "erp"
    drop(erp, "mixed.csv", csv_rows("FLDT-M", 4, bad=3))
    run = _run(connection, c.id, now)
    assert (run.status, run.created_count, run.failed_count) == ("ok", 3, 1)
    assert sorted(_orders(session)) == ["FLDT-M1", "FLDT-M2", "FLDT-M4"]
    assert (erp / "done" / "mixed.csv").exists()
    errors = service.list_record_errors(session, actor=admin, connector_id=c.id)
    assert [(e.position, e.record["file"], e.record["row"], e.external_id) for e in errors] == [
        (4, "mixed.csv", 4, "FLDT-M3")]
    assert "下单时间" in errors[0].messages[0]
    login(client, session.get(User, admin.user_id).username)
    page = client.get(f"/admin/connectors/{c.id}").text
    assert "mixed.csv" in page and "FLDT-M3" in page


def test_an_unreadable_file_goes_to_failed_and_the_others_still_run(session, connection, admin, now, inbox):
    c = service.create_connector(session, actor=admin, payload=payload(), now=now)
    erp = inbox / "erp"
    drop(erp, "broken.xlsx", b"PK\x03\x04 this is no workbook", age=300)
    drop(erp, "empty.csv", "")
    drop(erp, "good.csv", csv_rows("FLDT-G", 1))
    run = _run(connection, c.id, now)
    assert (run.status, run.created_count, run.failed_count) == ("ok", 1, 2)
    assert sorted(p.name for p in (erp / "failed").iterdir()) == ["broken.xlsx", "empty.csv"]
    assert [p.name for p in (erp / "done").iterdir()] == ["good.csv"]
    stored = session.exec(select(ConnectorRecordError).where(ConnectorRecordError.connector_id == c.id)
                          ).scalars().all()
    assert sorted(e.record["file"] for e in stored) == ["broken.xlsx", "empty.csv"]


def test_bounds_size_rows_and_files_per_run(session, connection, admin, now, inbox, monkeypatch):
    from backend.settings import get_settings

    c = service.create_connector(session, actor=admin, payload=payload(max_rows_per_file=2, max_files_per_run=2),
                                 now=now)
    erp = inbox / "erp"
    drop(erp, "1-long.csv", csv_rows("FLDT-L", 3), age=400)
    drop(erp, "2-ok.csv", csv_rows("FLDT-K", 1), age=300)
    drop(erp, "3-later.csv", csv_rows("FLDT-Z", 1), age=200)
    run = _run(connection, c.id, now)
    assert (run.created_count, run.failed_count) == (1, 1)
    assert (erp / "failed" / "1-long.csv").exists() and (erp / "3-later.csv").exists()
    monkeypatch.setenv("GENDAN_MAX_UPLOAD_BYTES", "50")  # the upload cap bounds a file too
    assert get_settings().max_upload_bytes == 50
    run = _run(connection, c.id, now + timedelta(minutes=5))
    assert (run.created_count, run.failed_count) == (0, 1)
    assert (erp / "failed" / "3-later.csv").exists()
    codes = {e.errors[0]["code"] for e in session.exec(select(ConnectorRecordError)).scalars()}
    assert codes == {"connector.file_too_many_rows", "connector.file_too_large"}


@pytest.mark.parametrize("path", ["../outside", "/etc", "erp/../../outside", "link"])
def test_paths_out_of_the_root_are_refused_in_the_users_language(session, client, inbox, path, tmp_path):
    (tmp_path / "outside").mkdir(exist_ok=True)
    (inbox / "link").symlink_to(tmp_path / "outside")
    user = make_user(session, roles=["admin"], locale="zh_CN")
    session.commit()
    login(client, user.username)
    body = payload(sub=path).model_dump(mode="json")
    resp = client.post("/api/v1/connectors", json=body)
    assert resp.status_code == 422, resp.text
    assert "不在允许的文件夹" in resp.text
    with pytest.raises(GendanError):
        folder.resolve(path)


def test_a_symlinked_file_is_not_read_and_a_running_folder_that_vanished_fails_the_run(session, connection, admin,
                                                                                      now, inbox, tmp_path):
    c = service.create_connector(session, actor=admin, payload=payload(), now=now)
    erp = inbox / "erp"
    secret = tmp_path / "secret.csv"
    secret.write_text(csv_rows("FLDT-S", 1), encoding="utf-8")
    (erp / "s.csv").symlink_to(secret)
    assert _run(connection, c.id, now).read_count == 0
    assert (erp / "s.csv").is_symlink() and _orders(session) == {}
    (erp / "s.csv").unlink()
    erp.rmdir()
    run = _run(connection, c.id, now + timedelta(minutes=5))
    assert (run.status, run.error["code"]) == ("failed", "connector.folder_missing")


def test_two_takers_never_take_the_same_file(inbox):
    erp = inbox / "erp"
    for i in range(20):
        drop(erp, f"f{i:02}.csv", csv_rows(f"FLDT-R{i}-", 1))
    settings = FolderSettings(folder="erp", settle_seconds=0)
    taken: dict[str, list[str]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def take(who: str) -> None:
        files = folder.waiting(erp, settings)
        start.wait()
        for file in files:
            got = folder.claim(erp, file, f"c{who}-r1-")
            if got is not None:
                taken[who].append(file.name)

    threads = [threading.Thread(target=take, args=(w,)) for w in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(taken["a"] + taken["b"]) == [f"f{i:02}.csv" for i in range(20)]
    assert not set(taken["a"]) & set(taken["b"])
    assert len(list((erp / "processing").iterdir())) == 20


def test_two_connectors_on_one_folder_make_each_order_once(session, connection, admin, now, inbox):
    one = service.create_connector(session, actor=admin, payload=payload(name="erp one"), now=now)
    two = service.create_connector(session, actor=admin, payload=payload(name="erp two"), now=now)
    drop(inbox / "erp", "x.csv", csv_rows("FLDT-W", 2))
    first, second = _run(connection, one.id, now), _run(connection, two.id, now)
    assert (first.read_count, second.read_count) == (2, 0)


def test_files_left_in_processing_by_a_crash_are_read_again(session, connection, admin, now, inbox):
    c = service.create_connector(session, actor=admin, payload=payload(), now=now)
    erp = inbox / "erp"
    (erp / "processing").mkdir()
    drop(erp / "processing", f"c{c.id}-r999-crashed.csv", csv_rows("FLDT-C", 2))
    drop(erp / "processing", "c999999-r1-other.csv", csv_rows("FLDT-O", 1))
    run = _run(connection, c.id, now)
    assert run.created_count == 2
    assert (erp / "done" / "crashed.csv").exists() and (erp / "processing" / "c999999-r1-other.csv").exists()


def test_sample_shows_the_oldest_waiting_file_and_its_orders(session, admin, now, inbox):
    erp = inbox / "erp"
    drop(erp, "new.csv", csv_rows("FLDT-N", 1), age=100)
    drop(erp, "old.csv", csv_rows("FLDT-P", 2, bad=2), age=500)
    p = payload()
    sample = service.fetch_sample(session, actor=admin, settings=p.settings, secrets=p.secrets, mapping=p.mapping)
    assert [r["file"] for r in sample.records] == ["old.csv", "old.csv"]
    assert [(v.position, v.external_id, bool(v.errors)) for v in sample.previews] == [
        (2, "FLDT-P1", False), (3, "FLDT-P2", True)]
    assert (erp / "old.csv").exists()


def _folder_form(**extra) -> dict[str, str]:
    form = {"kind": "folder", "name": "erp folder", "folder": "erp", "pattern": "*.csv", "settle_seconds": "5",
            "max_files_per_run": "20", "max_rows_per_file": "1000", "schedule_minutes": "5", "max_failures": "5",
            "source": "erp", "timezone": "Asia/Shanghai", "is_enabled": "on", "create_customers": "on",
            "stage_map": "已签约=approval"}
    for i, (header, target) in enumerate(COLUMNS.items()):
        form[f"map_path_{i}"], form[f"map_target_{i}"] = target, header
    return {**form, **extra}


def test_pages_form_sample_save_and_run_now(session, client, inbox):
    user = make_user(session, roles=["admin"], locale="en")
    session.commit()
    login(client, user.username)
    page = client.get("/admin/connectors/new?kind=folder").text
    assert 'name="folder"' in page and 'name="settle_seconds"' in page and 'name="url_template"' not in page
    assert 'name="url_template"' in client.get("/admin/connectors/new").text
    drop(inbox / "erp", "orders.csv", csv_rows("FLDT-PG", 2, bad=2))
    sample = client.post("/admin/connectors-sample", data=_folder_form(), headers={"HX-Request": "true"}).text
    assert "orders.csv" in sample and "FLDT-PG1" in sample and "FLDT-PG2" in sample
    assert (inbox / "erp" / "orders.csv").exists()
    saved = client.post("/admin/connectors", data=_folder_form(), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    cid = int(saved.headers["location"].rsplit("/", 1)[1])
    edit = client.get(f"/admin/connectors/{cid}/edit").text
    assert 'value="erp"' in edit and 'name="url_template"' not in edit
    run = client.post(f"/admin/connectors/{cid}/run", follow_redirects=True).text
    assert "2 read, 1 created" in run and "orders.csv, row 3" in run
    assert client.post(f"/admin/connectors/{cid}", data=_folder_form(settle_seconds="7"),
                       follow_redirects=False).status_code == 303


def test_page_refuses_a_folder_outside_the_root_next_to_the_field(session, client, inbox):
    user = make_user(session, roles=["admin"], locale="zh_CN")
    session.commit()
    login(client, user.username)
    resp = client.post("/admin/connectors", data=_folder_form(folder="../../etc"))
    assert resp.status_code == 422
    assert "不在允许的文件夹" in resp.text and 'aria-invalid="true"' in resp.text
    resp = client.post("/admin/connectors", data=_folder_form(settle_seconds="-3"))
    assert resp.status_code == 422 and 'name="settle_seconds"' in resp.text
    empty = client.post("/admin/connectors-sample", data=_folder_form(), headers={"HX-Request": "true"}).text
    assert "没有等待处理" in empty


def test_a_missing_folder_fails_runs_until_the_connector_pauses_and_tells_its_owner(session, connection, admin,
                                                                                      now, inbox):
    from backend.notify.models import Notification

    c = service.create_connector(session, actor=admin, payload=payload(sub="later").model_copy(update={"max_failures": 2}),
                                 now=now)
    for minutes in (0, 5):
        run = _run(connection, c.id, now + timedelta(minutes=minutes))
        assert (run.status, run.error["code"]) == ("failed", "connector.folder_missing")
    read = service.get_connector(session, actor=admin, connector_id=c.id)
    assert (read.is_enabled, read.paused_reason, read.failures_in_row) == (False, "failures", 2)
    assert "later" in read.last_error_message
    notes = session.exec(select(Notification).where(Notification.user_id == admin.user_id)).scalars().all()
    assert len(notes) == 1 and "erp" in notes[0].title


def test_a_symlinked_done_folder_is_refused_and_the_file_stays_claimed(session, connection, admin, now, inbox,
                                                                       tmp_path):
    c = service.create_connector(session, actor=admin, payload=payload(), now=now)
    erp = inbox / "erp"
    (tmp_path / "elsewhere").mkdir()
    (erp / "done").symlink_to(tmp_path / "elsewhere")
    drop(erp, "d.csv", csv_rows("FLDT-D", 1))
    run = _run(connection, c.id, now)
    assert (run.status, run.error["code"]) == ("failed", "connector.folder_outside")
    assert list((tmp_path / "elsewhere").iterdir()) == []
