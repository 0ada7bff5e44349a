"""Reading uploaded CSV files: encoding, delimiter, header row, and a first guess of the mapping.

Chinese Excel saves "CSV" as GB18030/GBK without a BOM, "CSV UTF-8" with a BOM; other tools
write plain UTF-8. Semicolons come from European locales. An .xlsx workbook (a zip) is read
with openpyxl: its first sheet becomes the same table of strings. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time
from time import monotonic

from backend.errors import GendanError

MAX_ROWS = 200_000
MAX_COLUMNS = 200
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
MAX_CELLS = 2_000_000
MAX_XLSX_UNPACKED = 60_000_000  # bytes, all members of the zip together
MAX_READ_SECONDS = 60
# files that are surely not a table: PNG, JPEG, GIF, PDF, an old .xls/.doc (OLE2), gzip, 7z, RAR, ELF
BINARY_MAGIC = (b"\x89PNG\r\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"%PDF-", b"\xd0\xcf\x11\xe0\xa1\xb1",
                b"\x1f\x8b\x08", b"7z\xbc\xaf", b"Rar!\x1a", b"\x7fELF")
DELIMITERS = (",", ";", "\t")

# target field -> header spellings (compared after lower-casing and dropping spaces, _ and -)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": ("externalid", "orderid", "orderno", "ordernumber", "订单号", "订单编号", "单号", "外部单号",
                    "来源单号"),
    "number": ("number", "gendannumber", "系统单号"),
    "customer": ("customer", "customername", "client", "客户", "客户名称", "客户名", "购买方"),
    "customer_code": ("customercode", "customerid", "客户编号", "客户代码", "客户编码"),
    "amount": ("amount", "total", "ordertotal", "value", "金额", "订单金额", "总金额", "合同金额", "总价"),
    "currency": ("currency", "币种", "货币"),
    "stage": ("stage", "status", "orderstatus", "阶段", "状态", "订单状态"),
    "planned_delivery": ("planneddelivery", "deliverydate", "duedate", "estimateddeliverydate", "交货日期",
                         "交期", "计划交期", "计划交货日期", "预计交货日期"),
    "payment_due": ("paymentdue", "paymentduedate", "付款日期", "回款日期", "应付款日期", "收款日期"),
    "created": ("created", "createdat", "orderdate", "date", "下单日期", "下单时间", "订单日期", "创建时间"),
}


def decode(content: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with (utf-8-sig, utf-8 or gb18030)."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise GendanError("import.encoding_unknown", {"position": exc.start}) from exc


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header line into the most columns (quotes respected)."""
    first = text.splitlines()[0] if text else ""
    best, best_count = ",", 1
    for delimiter in DELIMITERS:
        count = len(next(csv.reader([first], delimiter=delimiter), []))
        if count > best_count:
            best, best_count = delimiter, count
    return best


XLSX = "xlsx"


def is_xlsx(content: bytes) -> bool:
    return content.startswith(b"PK\x03\x04")


def _cell_text(value: object) -> str:
    """An Excel cell as the text a CSV export would hold (dates ISO, 12.0 -> 12)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_zip(content: bytes) -> None:
    """Refuse a workbook whose members unpack to more than MAX_XLSX_UNPACKED bytes, from the sizes
    the zip declares (zipfile never inflates a member past its declared size)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise GendanError("import.xlsx_invalid") from exc
    if unpacked > MAX_XLSX_UNPACKED:
        raise GendanError("import.xlsx_too_large", {"limit": MAX_XLSX_UNPACKED})


def _xlsx_rows(content: bytes) -> list[list[str]]:
    """The first sheet's rows, streamed (read-only) under caps: columns, characters per cell,
    cells in all, and reading time. A 12.7 KB file with one 8 MB shared string in 40 cells, or
    500 x 16,384 cells, held the server for minutes (issue 18); these caps stop it early."""
    import zipfile

    from openpyxl import load_workbook

    _check_zip(content)
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise GendanError("import.xlsx_invalid") from exc
    deadline = monotonic() + MAX_READ_SECONDS
    rows: list[list[str]] = []
    cells = 0
    try:
        # one column more than allowed, to notice a row that goes past the limit
        for line, row in enumerate(book.worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS + 1), 1):
            texts = [_cell_text(v) for v in row]
            while texts and not texts[-1]:
                texts.pop()
            if len(texts) > MAX_COLUMNS:
                raise GendanError("import.too_many_columns", {"limit": MAX_COLUMNS})
            if any(len(t) > MAX_CELL_CHARS for t in texts):
                raise GendanError("import.cell_too_large", {"line": line, "limit": MAX_CELL_CHARS})
            cells += len(texts)
            if cells > MAX_CELLS:
                raise GendanError("import.too_many_cells", {"limit": MAX_CELLS})
            if monotonic() > deadline:
                raise GendanError("import.too_slow", {"seconds": MAX_READ_SECONDS})
            if not rows and any(t.strip() for t in texts):
                _checked_headers([h.strip() for h in texts])  # a wrong header row fails before the sheet is read
            if rows or any(t.strip() for t in texts):
                rows.append(texts)
            if len(rows) > MAX_ROWS + 1:
                raise GendanError("import.too_many_rows", {"limit": MAX_ROWS})
    except (KeyError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise GendanError("import.xlsx_invalid") from exc
    finally:
        book.close()
    width = max((len(r) for r in rows), default=0)
    return [r + [""] * (width - len(r)) for r in rows]


def read_table(content: bytes, *, encoding: str | None = None, delimiter: str | None = None
               ) -> tuple[list[str], list[list[str]], str, str]:
    """(headers, data rows, encoding, delimiter). Blank lines are skipped; headers must be unique."""
    if encoding == XLSX or (encoding is None and is_xlsx(content)):
        table = [r for r in _xlsx_rows(content) if any(c.strip() for c in r)]
        if not table:
            raise GendanError("import.empty_file")
        return _checked_headers([h.strip() for h in table[0]]), table[1:], XLSX, ","
    if encoding is None and content.startswith(BINARY_MAGIC):
        raise GendanError("import.not_a_table")
    if encoding:
        text = content.decode("utf-8-sig" if encoding.startswith("utf-8") else encoding)
    else:
        text, encoding = decode(content)
    if not text.strip():
        raise GendanError("import.empty_file")
    delimiter = delimiter or sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = [h.strip() for h in next(reader)]
        rows = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows.append(row)
            if len(rows) > MAX_ROWS:
                raise GendanError("import.too_many_rows", {"limit": MAX_ROWS})
    except csv.Error as exc:
        raise GendanError("import.csv_invalid", {"line": reader.line_num, "detail": str(exc)}) from exc
    return _checked_headers(headers), rows, encoding, delimiter


def _checked_headers(headers: list[str]) -> list[str]:
    if not any(headers):
        raise GendanError("import.no_header")
    if len(headers) > MAX_COLUMNS:
        raise GendanError("import.too_many_columns", {"limit": MAX_COLUMNS})
    seen: set[str] = set()
    for header in headers:
        if not header:
            raise GendanError("import.header_empty", {"position": headers.index(header) + 1})
        if header in seen:
            raise GendanError("import.header_duplicate", {"header": header})
        seen.add(header)
    return headers


def _norm(header: str) -> str:
    return re.sub(r"[\s_\-（）()]+", "", header).lower()


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """target field -> header, for the headers whose name says what they hold; each header used once."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for target, names in SYNONYMS.items():
        for header in headers:
            if header not in used and _norm(header) in names:
                mapping[target] = header
                used.add(header)
                break
    return mapping
