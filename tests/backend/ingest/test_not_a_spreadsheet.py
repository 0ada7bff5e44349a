"""Issue 13, bad input: "a file that is not a spreadsheet, a zip bomb xlsx: each gets a clear error
on the health page or in the row report, and no partial order remains" — through the import wizard
(Admin → Imports, the user's language) and through a watched folder (the file goes to failed/, its
error is the connector's record error). SQLite and PostgreSQL."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select

from backend import i18n
from backend.connectors import runner, service
from backend.connectors.models import ConnectorRecordError
from backend.ingest.csvfile import MAX_XLSX_UNPACKED
from backend.ingest.models import ImportJob
from backend.orders.models import Order
from tests.backend.connectors.test_folder import drop, inbox, payload, xlsx_rows  # noqa: F401 (fixture)
from tests.backend.ingest.test_csvfile import _replace_sheet, _sheet
from tests.conftest import login
from tests.factories.people import make_user

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256))
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde" + bytes(200)


def _bomb() -> bytes:
    """A small .xlsx whose sheet unpacks past the reader's bound (8 million cells)."""
    raw = _replace_sheet(xlsx_rows("BOMB-", 1), _sheet(500, 16_384))
    assert len(raw) < 1_000_000
    return raw


def _zip_not_xlsx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("readme.txt", "a zip, not a workbook")
    return out.getvalue()


CASES = [
    ("photo.png", PNG, "import.file_type", {"filename": "photo.png"}),
    ("orders.xlsx", PNG, "import.not_a_table", {}),
    ("scan.csv", PDF, "import.not_a_table", {}),
    ("orders.xlsx", _zip_not_xlsx(), "import.xlsx_invalid", {}),
    ("bomb.xlsx", None, "import.xlsx_too_large", {"limit": MAX_XLSX_UNPACKED}),
]


def _text(code, params, locale):
    token = i18n.set_locale(locale)
    try:
        return i18n.translate_error(code, params)
    finally:
        i18n.reset_locale(token)


@pytest.mark.parametrize(("name", "content", "code", "params"), CASES)
@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_the_import_wizard_refuses_it_in_the_users_language(client, session, name, content, code, params, locale):
    admin = make_user(session, roles=["admin"], locale=locale)
    session.commit()
    login(client, admin.username)
    jobs = session.exec(select(func.count()).select_from(ImportJob)).scalar_one()
    resp = client.post("/admin/imports", files={"file": (name, content or _bomb(), "application/octet-stream")},
                       follow_redirects=False)
    assert resp.status_code == 422
    message = _text(code, params, locale)
    assert message and message != code and message.replace("'", "&#39;") in resp.text
    assert session.exec(select(func.count()).select_from(ImportJob)).scalar_one() == jobs  # nothing kept


@pytest.mark.parametrize(("name", "content", "code", "params"), [
    ("orders.xlsx", PNG, "import.not_a_table", None),
    ("export.csv", PDF, "import.not_a_table", None),
    ("export.xlsx", _zip_not_xlsx(), "import.xlsx_invalid", None),
    ("bomb.xlsx", None, "import.xlsx_too_large", {"limit": MAX_XLSX_UNPACKED}),
])
def test_a_watched_folder_moves_it_to_failed_with_its_error(session, connection, now, inbox, name,  # noqa: F811
                                                            content, code, params):
    from backend.auth.service import load_actor

    user = make_user(session, roles=["admin"], locale="en")
    session.commit()
    admin = load_actor(session, user.id)
    c = service.create_connector(session, actor=admin, payload=payload(), now=now)
    erp = inbox / "erp"
    drop(erp, name, content or _bomb(), age=300)
    drop(erp, "good.csv", "单号,客户编码,客户,金额,状态,下单时间\nNSS-1,K1,客户1,101.00,已签约,2026-11-11 08:00\n")
    before = session.exec(select(func.count()).select_from(Order)).scalar_one()
    run = runner.run_connector(connection, c.id, now, trigger="manual")
    assert (run.status, run.created_count, run.failed_count) == ("ok", 1, 1)
    assert [p.name for p in (erp / "failed").iterdir()] == [name]
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Order)).scalar_one() == before + 1  # only good.csv's
    error = session.exec(select(ConnectorRecordError).where(ConnectorRecordError.connector_id == c.id)).scalar_one()
    assert error.record["file"] == name and error.errors[0]["code"] == code
    if params is not None:
        assert error.errors[0].get("params") == params
    token = i18n.set_locale("en")
    try:
        shown = service.list_record_errors(session, actor=admin, connector_id=c.id)[0].messages
    finally:
        i18n.reset_locale(token)
    assert shown and shown[0] != code and "import." not in shown[0]


def test_text_that_merely_starts_like_a_magic_number_is_still_read():
    from backend.ingest.csvfile import read_table

    headers, rows, _, _ = read_table("GIF8 单号,金额\nX-1,10\n".encode())
    assert (headers, rows) == (["GIF8 单号", "金额"], [["X-1", "10"]])
