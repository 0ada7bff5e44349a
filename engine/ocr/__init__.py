"""Contract OCR, the pure part: from OCR words with confidences to a draft order's fields, each
with a confidence (no I/O; the reading itself is backend/ocr/reader.py)."""

from engine.ocr.extract import Draft, Found, extract, match_customer
from engine.ocr.words import OcrLine, OcrWord, group_lines, norm

__all__ = ["Draft", "Found", "OcrLine", "OcrWord", "extract", "group_lines", "match_customer", "norm"]
