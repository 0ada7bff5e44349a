"""Messages for import and inbound error codes (English msgids; Chinese in ingest.po)."""

from __future__ import annotations

from backend import i18n
from backend.errors import STATUS_BY_CODE

MESSAGES: dict[str, str] = {
    "import.*": "The import could not be processed.",
    "import.not_found": "Import %(id)s was not found.",
    "import.encoding_unknown": "The file is neither UTF-8 nor GB18030/GBK text (byte %(position)s).",
    "import.empty_file": "The file is empty.",
    "import.no_rows": "The file has a header row but no data rows.",
    "import.no_header": "The first line must name the columns.",
    "import.header_empty": "Column %(position)s has no name in the header row.",
    "import.header_duplicate": "Two columns are named %(header)s.",
    "import.csv_invalid": "The file is not valid CSV near line %(line)s.",
    "import.too_many_rows": "At most %(limit)s rows per file.",
    "import.file_too_large": "The file is too large (at most %(limit)s bytes).",
    "import.file_type": "%(filename)s is not a CSV or .xlsx file.",
    "import.xlsx_invalid": "The file is not a readable .xlsx workbook.",
    "import.xlsx_too_large": "The workbook unpacks to more than %(limit)s bytes; split it into smaller files.",
    "import.too_many_columns": "At most %(limit)s columns per file.",
    "import.too_many_cells": "At most %(limit)s cells per file; split it into smaller files.",
    "import.cell_too_large": "A cell in row %(line)s holds more than %(limit)s characters.",
    "import.too_slow": "Reading the file took more than %(seconds)s seconds; split it into smaller files.",
    "import.file_missing": "Choose a CSV file to upload.",
    "import.already_started": "Import %(id)s has already been started (%(state)s).",
    "import.target_unknown": "There is no order field %(target)s.",
    "import.column_unknown": "The file has no column %(column)s.",
    "import.amount_unmapped": "Choose the column with the amount, or give a default amount.",
    "import.customer_unmapped": "Choose the column with the customer.",
    "import.timezone_unknown": "Unknown time zone %(timezone)s.",
    "import.mapping_invalid": "The column mapping is not valid JSON.",
    "import.owner_inactive": "The user who started this import (%(id)s) is no longer an active administrator.",
    "import.row_internal": "The row could not be saved (%(error)s); the details are in the server log.",
    "import.value_missing": "The value is missing.",
    "import.date_invalid": "%(value)s is not a date (use 2026-12-31).",
    "import.amount_invalid": "%(value)s is not an amount.",
    "import.amount_negative": "The amount %(value)s is negative.",
    "import.stage_unknown": "%(value)s is not a stage; map it to one.",
    "import.customer_unknown": "There is no customer %(value)s (tick \"Create missing customers\").",
    "import.customer_ambiguous": "Several customers are called %(value)s; use the customer code.",
    "import.customer_code_invalid": "%(value)s cannot be a customer code.",
    "inbound.*": "The delivery was refused.",
    "inbound.source_unknown": "There is no active inbound source %(source)s.",
    "inbound.signature_missing": "The X-Gendan-Signature and X-Gendan-Timestamp headers are required.",
    "inbound.signature_invalid": "The signature does not match the body.",
    "inbound.timestamp_invalid": "The timestamp must be Unix seconds.",
    "inbound.timestamp_stale": "The timestamp is %(skew)s seconds away from the server's clock (at most %(window)s).",
    "inbound.body_invalid": "The body is not a JSON object.",
    "inbound.duplicate": "This delivery was already received; it is not applied twice.",
    "inbound.out_of_order": "This update was signed at %(sent_at)s, before the last one applied to the order "
                            "(%(newest)s); it is not applied.",
    "inbound.rate_limited": "Too many deliveries to unknown sources from your address. Try again in a minute.",
    "inbound.payload_invalid": "%(count)s field(s) of the order are not valid.",
    "inbound.customer_unknown": "There is no customer %(value)s.",
    "inbound.source_taken": "The inbound source %(key)s already exists.",
    "inbound.source_not_found": "Inbound source %(id)s was not found.",
}

STATUSES = {
    "inbound.source_unknown": 404,
    "inbound.signature_missing": 401,
    "inbound.signature_invalid": 401,
    "inbound.timestamp_invalid": 401,
    "inbound.timestamp_stale": 401,
    "inbound.body_invalid": 400,
    "inbound.duplicate": 409,
    "inbound.out_of_order": 409,
    "inbound.rate_limited": 429,
    "inbound.payload_invalid": 422,
    "inbound.customer_unknown": 422,
    "inbound.source_taken": 409,
    "import.already_started": 409,
}


def register() -> None:
    i18n.register_error_messages(MESSAGES)
    STATUS_BY_CODE.update(STATUSES)
