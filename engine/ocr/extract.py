"""From a contract's OCR lines to a draft order's fields, each with a confidence.

A field's confidence is half what OCR said about the words it came from (the mean of their
confidences) and half what checking it said: 0.5 when there was nothing to check it against, 0.2
when a check failed or the value was found without its label. A value a check confirmed (quantity
× unit price = the line's amount, the lines add up to the total, the delivery date is after the
signing date, the customer is one we know) gets 0.8 plus a fifth of its OCR confidence. So a clean read that adds up is green, a clean read
nothing confirms is amber, and a guess is red.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from difflib import SequenceMatcher
from typing import Any

from engine.ocr.values import clean_token, find_currency, parse_date, parse_number
from engine.ocr.words import OcrLine, is_cjk, norm

CHECKED, UNCHECKED, DOUBTFUL = 1.0, 0.5, 0.2

NUMBER_LABELS = re.compile(r"(合同编号|合同号|合同编|同编号|订单号|Contract\s*(No|Number|#)|Order\s*No)", re.I)
CONTRACT_NO = re.compile(r"\b([A-Z]{1,5}[-_/]?\d{2,}(?:[-_/][A-Z0-9]+)*)\b")
BUYER_LABELS = re.compile(r"(买方|甲方|需方|购方|客户|Buyer|Customer|Purchaser|Bill\s*to)", re.I)
SELLER_LABELS = re.compile(r"(卖方|乙方|供方|Seller|Supplier|Vendor)", re.I)
TOTAL_LABELS = re.compile(r"(合计|总计|总金额|合同总额|总价|Grand\s*total|Total\s*amount|Total|Amount\s*due)", re.I)
CURRENCY_LABELS = re.compile(r"(币种|币别|货币|Currency)", re.I)
DELIVERY_LABELS = re.compile(r"(交货|交期|交付|货日期|Delivery|Ship)", re.I)
SIGNED_LABELS = re.compile(r"(签订|签约|签署|订日期|Contract\s*date|Date\s*of\s*contract|Signed\s*on|^Date)", re.I)
PRODUCT_HEAD = re.compile(r"(产品|品名|名称|货物|Product|Description|Item|Goods)", re.I)
QTY_HEAD = re.compile(r"(数量|Quantity|Qty)", re.I)
PRICE_HEAD = re.compile(r"(单价|金额|Unit\s*price|Price|Amount)", re.I)


@dataclass
class Found:
    value: Any
    confidence: float
    text: str = ""

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, date):
            value = value.isoformat()
        return {"value": value, "confidence": round(self.confidence, 2), "text": self.text}


@dataclass
class Draft:
    fields: dict[str, Found] = field(default_factory=dict)
    items: list[dict[str, Found]] = field(default_factory=list)
    language: str = "en"

    def as_dict(self) -> dict[str, Any]:
        return {"language": self.language, "fields": {k: f.as_dict() for k, f in self.fields.items()},
                "items": [{k: f.as_dict() for k, f in item.items()} for item in self.items]}


def _score(ocr: float, check: float) -> float:
    if check >= CHECKED:  # confirmed by other values read apart from it: a low-confidence "¥" beside it matters not
        return max(0.0, min(1.0, 0.8 + 0.2 * ocr))
    return max(0.0, min(1.0, 0.5 * ocr + 0.5 * check))


def _after_label(line: OcrLine, label: re.Pattern) -> tuple[str, float] | None:
    """The text after the label (and its colon) on the line, with the mean confidence of its words."""
    text = norm(line.text)
    m = label.search(text)
    if not m:
        return None
    rest = text[m.end():]
    colon = rest.find(":")
    value = rest[colon + 1:] if colon >= 0 and colon <= 8 else re.sub(r"^[^:]*\)", "", rest)
    value = value.strip(" .:;|")
    return value, _words_conf(line, value)


def _words_conf(line: OcrLine, value: str) -> float:
    """The mean confidence of the line's words that make up `value` (junk like "|" left out)."""
    wanted = norm(value).replace(" ", "")
    confs = [w.conf for w in line.words if clean_token(norm(w.text)) and any(
        part in wanted for part in (clean_token(norm(w.text)).split(":")[-1],) if part)]
    return sum(confs) / len(confs) if confs else line.conf


def _cjk_tight(text: str) -> str:
    return re.sub(r"(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff\w])|(?<=\w) (?=[\u4e00-\u9fff])", "", text) \
        if any(is_cjk(c) for c in text) else text


def extract(lines: list[OcrLine], *, customers: list[str] | None = None) -> Draft:
    """Every field found in the contract's lines. `customers` are the names (and codes) of the
    customers we know: the buyer is matched to one of them, and confirmed by it."""
    draft = Draft(language=_language(lines))
    texts = [norm(ln.text) for ln in lines]
    table_at = next((i for i, t in enumerate(texts)
                     if sum(1 for h in (PRODUCT_HEAD, QTY_HEAD, PRICE_HEAD) if h.search(t)) >= 2), None)
    head = lines[:table_at] if table_at is not None else lines
    _contract_no(draft, head)
    _customer(draft, head, customers or [])
    _dates(draft, head)
    _currency(draft, lines)
    if table_at is not None:
        draft.items = _items(lines[table_at + 1:])
    _amount(draft, lines[table_at + 1:] if table_at is not None else lines)
    return draft


def _language(lines: list[OcrLine]) -> str:
    chars = "".join(ln.text for ln in lines)
    cjk = sum(1 for c in chars if is_cjk(c))
    letters = sum(1 for c in chars if c.isalpha())
    return "zh" if letters and cjk / letters > 0.2 else "en"


def _contract_no(draft: Draft, head: list[OcrLine]) -> None:
    for line in head:
        got = _after_label(line, NUMBER_LABELS)
        if got:
            m = CONTRACT_NO.search(got[0]) or CONTRACT_NO.search(got[0].replace(" ", ""))
            if m:
                draft.fields["contract_no"] = Found(m[1], _score(got[1], UNCHECKED), got[0])
                return
    for line in head:  # no label read: the first thing shaped like a contract number
        m = CONTRACT_NO.search(norm(line.text)) or CONTRACT_NO.search(norm(line.text).replace(" ", ""))
        if m and not SELLER_LABELS.search(norm(line.text)):
            draft.fields["contract_no"] = Found(m[1], _score(line.conf, DOUBTFUL), norm(line.text))
            return


def match_customer(text: str, customers: list[str]) -> tuple[str, float] | None:
    """The known customer `text` names (the similarity 0..1 of the best), when it is at least 0.6."""
    key = re.sub(r"[\s.,()（）]", "", text).lower()
    best, score = None, 0.0
    for name in customers:
        candidate = re.sub(r"[\s.,()（）]", "", name).lower()
        if not candidate or not key:
            continue
        ratio = SequenceMatcher(None, key, candidate).ratio()
        if candidate in key:  # "Buyer: Acme Ltd. (signature)" still names Acme Ltd.
            ratio = max(ratio, 0.95)
        if ratio > score:
            best, score = name, ratio
    return (best, score) if best is not None and score >= 0.6 else None


def _customer(draft: Draft, head: list[OcrLine], customers: list[str]) -> None:
    for line in head:
        if SELLER_LABELS.search(norm(line.text)) and not BUYER_LABELS.search(norm(line.text)):
            continue
        got = _after_label(line, BUYER_LABELS)
        if not got or len(got[0]) < 2:
            continue
        value = _cjk_tight(got[0])
        matched = match_customer(value, customers)
        if matched:
            draft.fields["customer"] = Found(matched[0], _score(max(got[1], matched[1]), CHECKED), value)
        else:
            draft.fields["customer"] = Found(value, _score(got[1], UNCHECKED), value)
        return
    best = None  # the buyer's label unread: the known customer some line names best
    for line in head:
        text = norm(line.text)
        if SELLER_LABELS.search(text):
            continue
        matched = match_customer(text.split(":", 1)[-1], customers)
        if matched and (best is None or matched[1] > best[1]):
            best = (matched[0], matched[1], text)
    if best is not None and best[1] >= 0.75:
        draft.fields["customer"] = Found(best[0], _score(best[1], UNCHECKED), best[2])


def _dates(draft: Draft, head: list[OcrLine]) -> None:
    signed, delivery, loose = None, None, []
    for line in head:
        text = norm(line.text)
        d = parse_date(text.replace(" ", ""))
        if d is None:
            continue
        conf = _words_conf(line, text.split(":", 1)[-1])
        if DELIVERY_LABELS.search(text) and delivery is None:
            delivery = Found(d, conf, text)
        elif SIGNED_LABELS.search(text) and signed is None:
            signed = Found(d, conf, text)
        else:
            loose.append(Found(d, conf * 0.5, text))
    for found in loose:  # a date whose label was not read: the earlier one is the signing
        if signed is None and (delivery is None or found.value <= delivery.value):
            signed = found
        elif delivery is None:
            delivery = found
    ordered = signed is not None and delivery is not None and signed.value <= delivery.value
    for key, found in (("signed_on", signed), ("delivery_date", delivery)):
        if found is not None:
            check = CHECKED if ordered else (DOUBTFUL if signed and delivery else UNCHECKED)
            draft.fields[key] = Found(found.value, _score(found.confidence, check), found.text)


def _currency(draft: Draft, lines: list[OcrLine]) -> None:
    for line in lines:
        text = norm(line.text)
        if CURRENCY_LABELS.search(text):
            code = find_currency(text.split(":", 1)[-1])
            if code:
                draft.fields["currency"] = Found(code, _score(line.conf, UNCHECKED), text)
                break
    for line in lines:  # the total's sign: confirms a labelled currency, or stands alone
        text = norm(line.text)
        if TOTAL_LABELS.search(text):
            code = find_currency(text.split(":", 1)[-1])
            known = draft.fields.get("currency")
            if code and known is not None:
                if code == known.value:
                    known.confidence = _score(max(line.conf, known.confidence), CHECKED)
            elif code:
                draft.fields["currency"] = Found(code, _score(line.conf, UNCHECKED), text)
            break
    if "currency" not in draft.fields:  # no label nor sign read: a currency word anywhere ("单价（元）")
        for line in lines:
            code = find_currency(norm(line.text))
            if code:
                draft.fields["currency"] = Found(code, _score(line.conf, DOUBTFUL), norm(line.text))
                break


Cell = tuple[str, float]  # a word's text and confidence


def _strip_marks(text: str) -> str:
    """Without the punctuation specks OCR puts around a cell (", 】 液压油管" → "液压油管")."""
    chars = list(text)
    while chars and (unicodedata.category(chars[0])[0] in "PSZ"):
        chars.pop(0)
    while chars and (unicodedata.category(chars[-1])[0] in "PSZ") and chars[-1] not in ")）":
        chars.pop()
    return "".join(chars)


def _row_cells(line: OcrLine) -> list[Cell]:
    """The row's words, junk dropped, from its row number on ("i 2 Carton box" → "Carton box")."""
    cells = [(clean_token(norm(w.text)).lstrip("-"), w.conf) for w in line.words]
    cells = [c for c in cells if any(ch.isalnum() for ch in c[0])]  # ":" and "|" specks are no cells
    start = 0
    for i in range(min(3, len(cells) - 1)):
        if re.fullmatch(r"\d{1,2}", cells[i][0]) and parse_number(cells[i + 1][0]) is None:
            start = i + 1  # the last such: "1 4 Cotton" is row 4 after a speck read as "1"
    cells = cells[start:]
    if cells and start == 0:  # "1液压油管": the row number glued to the name
        cells[0] = (re.sub(r"^\d{1,2}(?=[\u4e00-\u9fff])", "", cells[0][0]), cells[0][1])
    return cells


def _number_runs(nums: list[Cell]) -> list[list[Cell]]:
    """The trailing numbers as read, and with a thousands group OCR split off joined back
    ("99 395.34" → "99395.34")."""
    runs = [nums]
    for k in range(len(nums) - 1):
        if re.fullmatch(r"\d{1,3}", nums[k][0]) and re.fullmatch(r"\d{3}([.,]\d+)?", nums[k + 1][0]):
            joined = (nums[k][0] + nums[k + 1][0], min(nums[k][1], nums[k + 1][1]))
            runs.append(nums[:k] + [joined] + nums[k + 2:])
    return runs


def _items(rows: list[OcrLine]) -> list[dict[str, Found]]:
    items = []
    for line in rows:
        text = norm(line.text)
        if TOTAL_LABELS.search(text) or len(items) >= 200:
            break
        cells = _row_cells(line)
        j = len(cells)
        while j > 0 and parse_number(cells[j - 1][0]) is not None:
            j -= 1
        head, nums = cells[:j], cells[j:]
        if len(nums) < 2 or not head:
            if items and not nums:
                break  # the table has ended
            continue
        chosen = None
        for run in _number_runs(nums):
            for start in range(len(run) - 3, -1, -1):  # the rightmost three that add up
                q, p, t = (parse_number(c[0]) for c in run[start:start + 3])
                price = _repair(q, p, t) if q == q.to_integral_value() else None
                if price is not None:
                    chosen = (run[:start], run[start:start + 3], price, CHECKED)
                    break
            if chosen:
                break
        if chosen is None:
            window = nums[-3:] if len(nums) >= 3 else nums[-2:] + [None]
            chosen = (nums[:len(nums) - 3] if len(nums) >= 3 else [], window, parse_number(window[1][0]),
                      DOUBTFUL if len(nums) >= 3 else UNCHECKED)
        extra, window, price, check = chosen
        product_cells = head + extra
        product = _strip_marks(_cjk_tight(" ".join(c[0] for c in product_cells)))
        product_conf = sum(c[1] for c in product_cells) / len(product_cells)
        quantity = parse_number(window[0][0])
        total = parse_number(window[2][0]) if window[2] is not None else quantity * price
        if check == CHECKED:
            total = (quantity * price).quantize(Decimal("0.01"))
        items.append({"product": Found(product, _score(product_conf, UNCHECKED if check != DOUBTFUL else DOUBTFUL),
                                       text),
                      "quantity": Found(quantity, _score(window[0][1], check), text),
                      "unit_price": Found(price, _score(window[1][1], check), text),
                      "line_total": Found(total, _score(window[2][1] if window[2] else 0.5, check), text)})
    return items


def _fits(q: Decimal, p: Decimal, t: Decimal) -> bool:
    """quantity × price is the line's amount to the cent (amounts are rounded to cents)."""
    return q > 0 and p > 0 and abs(q * p - t) <= Decimal("0.01")


def _repair(q: Decimal, p: Decimal, t: Decimal) -> Decimal | None:
    """The unit price that makes quantity × price the line's amount, trying the price as read and
    with a decimal point OCR lost ("13904" for "139.04"); None when none fits."""
    for price, total in ((p, t), (p / 100, t), (p, t / 100)):  # one lost point, not two
        if _fits(q, price, total):
            return price.quantize(Decimal("0.01"))
    return None


def _amount(draft: Draft, lines: list[OcrLine]) -> None:
    lines_sum = sum((i["line_total"].value for i in draft.items), Decimal("0")) if draft.items else None
    all_checked = bool(draft.items) and all(i["quantity"].confidence >= 0.8 for i in draft.items)
    for line in lines:
        text = norm(line.text)
        if not TOTAL_LABELS.search(text):
            continue
        after = re.sub(r"(?<=\d) (?=\d{3}\b)", "", text.split(":", 1)[-1])  # "24 679.34": a comma read as a space
        numbers = [parse_number(t) for t in re.findall(r"\d[\d,.]*\d", after)]
        numbers = [n for n in numbers if n is not None]
        if not numbers:
            continue
        value = numbers[-1]
        conf = _words_conf(line, text.split(":", 1)[-1])
        if lines_sum is not None and value != lines_sum and value / 100 == lines_sum:
            value = lines_sum  # the decimal point was lost
        check = UNCHECKED if lines_sum is None else (CHECKED if value == lines_sum else DOUBTFUL)
        if check == DOUBTFUL and all_checked and conf < 0.6:  # a poor read of the total, lines that add up
            lines_conf = min(i["line_total"].confidence for i in draft.items)
            draft.fields["amount"] = Found(lines_sum.quantize(Decimal("0.01")), _score(lines_conf, UNCHECKED), text)
        else:
            draft.fields["amount"] = Found(value.quantize(Decimal("0.01")), _score(conf, check), text)
        return
    if lines_sum is not None:
        draft.fields["amount"] = Found(lines_sum.quantize(Decimal("0.01")), _score(0.5, UNCHECKED if all_checked
                                                                                   else DOUBTFUL), "")
