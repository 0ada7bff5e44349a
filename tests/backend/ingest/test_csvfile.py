"""Reading CSV files as Chinese Excel and other tools write them; parsing cells of one row."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from backend.errors import GendanError
from backend.ingest.csvfile import read_table, suggest_mapping
from backend.ingest.rows import parse_row
from backend.ingest.schemas import ImportMapping

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEXT = "订单号,客户,金额,交货日期\nA-1,上海精工,\"1,200.50\",2026-12-31\n"


class TestReadTable:
    @pytest.mark.parametrize("encoding, raw", [
        ("utf-8-sig", b"\xef\xbb\xbf" + TEXT.encode("utf-8")),
        ("utf-8", TEXT.encode("utf-8")),
        ("gb18030", TEXT.encode("gbk")),
    ])
    def test_excel_encodings_read_the_same(self, encoding, raw):
        headers, rows, found, delimiter = read_table(raw)
        assert (headers, rows, found, delimiter) == (
            ["订单号", "客户", "金额", "交货日期"], [["A-1", "上海精工", "1,200.50", "2026-12-31"]], encoding, ",")

    def test_semicolons_and_blank_lines(self):
        headers, rows, _, delimiter = read_table(b"order_id;amount\n\nX1;12,5\n;\n")
        assert delimiter == ";" and headers == ["order_id", "amount"] and rows == [["X1", "12,5"]]

    @pytest.mark.parametrize("raw, code", [
        (b"", "import.empty_file"),
        (b"a,a\n1,2\n", "import.header_duplicate"),
        (b"a,,c\n1,2,3\n", "import.header_empty"),
        (b"\xff\xfe\x00\x81\x30", "import.encoding_unknown"),
    ])
    def test_unreadable_files_say_why(self, raw, code):
        with pytest.raises(GendanError) as err:
            read_table(raw)
        assert err.value.code == code


class TestSuggestMapping:
    def test_chinese_and_english_headers(self):
        assert suggest_mapping(["订单号", "客户", "金额", "交货日期", "备注"]) == {
            "external_id": "订单号", "customer": "客户", "amount": "金额", "planned_delivery": "交货日期"}
        assert suggest_mapping(["Order ID", "Customer Name", "Total", "Delivery Date", "order_status"]) == {
            "external_id": "Order ID", "customer": "Customer Name", "amount": "Total",
            "planned_delivery": "Delivery Date", "stage": "order_status"}


class TestParseRow:
    mapping = ImportMapping(columns={"external_id": "no", "customer": "c", "amount": "amt",
                                     "planned_delivery": "d", "created": "t", "stage": "s"},
                            stage_map={"已发货": "shipping"}, status_map={"已取消": "cancelled"})

    def test_good_row(self):
        row = parse_row(2, {"no": "A1", "c": "ACME", "amt": "¥1,234.50", "d": "2026年12月31日",
                            "t": "2026/11/24 10:30", "s": "已发货"}, self.mapping, SHANGHAI)
        assert row.errors == []
        assert row.values == {"external_id": "A1", "amount": Decimal("1234.50"), "planned_delivery": date(2026, 12, 31),
                              "stage": "shipping"}
        assert row.created_at.isoformat() == "2026-11-24T02:30:00+00:00"  # 10:30 in Shanghai

    def test_every_bad_cell_is_reported_with_its_column(self):
        row = parse_row(7, {"no": "A1", "c": "", "amt": "-5", "d": "2026-02-30", "t": "yesterday", "s": "搞定"},
                        self.mapping, SHANGHAI)
        assert {(e.column, e.code) for e in row.errors} == {
            ("amt", "import.amount_negative"), ("d", "import.date_invalid"), ("t", "import.date_invalid"),
            ("s", "import.stage_unknown"), ("c", "import.value_missing")}
        assert all(e.line == 7 for e in row.errors)

    def test_status_only_mapping_keeps_default_stage(self):
        row = parse_row(2, {"no": "A1", "c": "X", "amt": "1", "s": "已取消"}, self.mapping, SHANGHAI)
        assert row.errors == [] and row.status == "cancelled" and "stage" not in row.values


class TestXlsx:
    def _book(self, rows) -> bytes:
        from openpyxl import Workbook

        book = Workbook()
        for row in rows:
            book.active.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    def test_first_sheet_reads_like_the_csv_excel_would_export(self):
        from datetime import datetime

        raw = self._book([["订单号", "客户", "金额", "交货日期", "下单时间"],
                          ["X-1", "上海精工", 1200.0, datetime(2026, 12, 31), datetime(2026, 11, 24, 9, 30)],
                          [None, None, None, None, None],
                          ["X-2", "北京", 99.5, "2026/12/01", None]])
        headers, rows, encoding, delimiter = read_table(raw)
        assert (encoding, delimiter) == ("xlsx", ",")
        assert headers == ["订单号", "客户", "金额", "交货日期", "下单时间"]
        assert rows == [["X-1", "上海精工", "1200", "2026-12-31", "2026-11-24 09:30:00"],
                        ["X-2", "北京", "99.5", "2026/12/01", ""]]
        assert read_table(raw, encoding="xlsx") == (headers, rows, "xlsx", ",")

    def test_a_broken_workbook_says_so(self):
        with pytest.raises(GendanError) as err:
            read_table(b"PK\x03\x04 not really a zip")
        assert err.value.code == "import.xlsx_invalid"


class TestParseAmount:
    @pytest.mark.parametrize("text, value", [
        ("1200", "1200"), ("¥1,234.50", "1234.50"), ("1,200", "1200"), ("1,234,567", "1234567"),
        ("10,00", "10.00"), ("12,5", "12.5"), ("1.234,56", "1234.56"), ("3 000 元", "3000"), ("USD 9.90", "9.90"),
    ])
    def test_grouping_and_decimal_commas(self, text, value):
        from backend.ingest.rows import parse_amount

        assert parse_amount(text) == Decimal(value)

    @pytest.mark.parametrize("text, code", [
        ("abc", "import.amount_invalid"), ("1,2,3", "import.amount_invalid"), ("NaN", "import.amount_invalid"),
        ("-5", "import.amount_negative"),
    ])
    def test_bad_amounts(self, text, code):
        from backend.ingest.rows import CellError, parse_amount

        with pytest.raises(CellError) as err:
            parse_amount(text)
        assert err.value.code == code


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _replace_sheet(book_bytes: bytes, sheet_xml: bytes, shared: str | None = None) -> bytes:
    """The workbook with its first sheet's XML swapped for `sheet_xml` (a crafted file), and with
    one shared string `shared` when given (openpyxl itself writes inline strings, cut at 32,767)."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(book_bytes)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = sheet_xml if item.filename == "xl/worksheets/sheet1.xml" else src.read(item.filename)
            if shared is not None and item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml" /></Types>')
            if shared is not None and item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Type="http://schemas.openxmlformats.org/'
                                    b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml" '
                                    b'Id="rId9" /></Relationships>')
            dst.writestr(item.filename, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        if shared is not None:
            dst.writestr("xl/sharedStrings.xml", f'<sst xmlns="{MAIN_NS}" count="1" uniqueCount="1"><si><t>{shared}</t>'
                         "</si></sst>", compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()


def _sheet(rows: int, columns: int) -> bytes:
    row = "".join("<c t=\"n\"><v>1</v></c>" for _ in range(columns))
    body = "".join(f"<row r=\"{r}\">{row}</row>" for r in range(1, rows + 1))
    return ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            f"{body}</sheetData></worksheet>").encode()


class TestXlsxBombs:
    """Issue 18: a 12.7 KB file made a 320 MB preview; a 246 KB file held a request 412 s."""

    def _book(self, rows):
        return TestXlsx._book(None, rows)

    def test_one_huge_shared_string_in_many_cells_is_refused_by_its_size(self):
        rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>X-{r}</t></is></c><c r="B{r}" t="s"><v>0</v></c>'
                       "</row>" for r in range(2, 42))
        sheet = (f'<worksheet xmlns="{MAIN_NS}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>订单号</t></is></c>'
                 f'<c r="B1" t="inlineStr"><is><t>客户</t></is></c></row>{rows}</sheetData></worksheet>').encode()
        raw = _replace_sheet(self._book([["a"]]), sheet, shared="a" * 8_000_000)
        assert len(raw) < 100_000  # the bomb is small on the wire
        with pytest.raises(GendanError) as err:
            read_table(raw)
        assert (err.value.code, err.value.params) == ("import.cell_too_large", {"line": 2, "limit": 32_767})

    def test_a_sheet_that_unpacks_past_the_limit_is_refused_before_it_is_read(self):
        raw = _replace_sheet(self._book([["a"]]), _sheet(500, 16_384))
        assert len(raw) < 1_000_000
        with pytest.raises(GendanError) as err:
            read_table(raw)
        assert err.value.code == "import.xlsx_too_large"

    def test_a_header_row_wider_than_the_limit_is_refused_at_the_first_row(self):
        raw = _replace_sheet(self._book([["a"]]), _sheet(40, 16_384))
        with pytest.raises(GendanError) as err:
            read_table(raw)
        assert (err.value.code, err.value.params) == ("import.too_many_columns", {"limit": 200})

    def test_a_data_row_wider_than_the_limit_is_refused(self):
        raw = self._book([["订单号", "客户"], ["X-1", "A"], ["X-2", *(["v"] * 300)]])
        with pytest.raises(GendanError) as err:
            read_table(raw)
        assert err.value.code == "import.too_many_columns"

    def test_too_many_cells_in_all_are_refused(self, monkeypatch):
        from backend.ingest import csvfile

        monkeypatch.setattr(csvfile, "MAX_CELLS", 50)
        raw = self._book([["订单号", "客户"], *[[f"X-{i}", "A"] for i in range(30)]])
        with pytest.raises(GendanError) as err:
            read_table(raw)
        assert (err.value.code, err.value.params) == ("import.too_many_cells", {"limit": 50})

    def test_blank_rows_before_the_header_still_read(self):
        headers, rows, _, _ = read_table(self._book([[None, None], ["订单号", "客户"], ["X-1", "A"]]))
        assert (headers, rows) == (["订单号", "客户"], [["X-1", "A"]])


class TestCsvColumns:
    def test_a_csv_header_wider_than_the_limit_is_refused(self):
        raw = (",".join(f"c{i}" for i in range(16_384)) + "\n" + ",".join("1" * 16_384) + "\n").encode()
        with pytest.raises(GendanError) as err:
            read_table(raw)
        assert err.value.code == "import.too_many_columns"
