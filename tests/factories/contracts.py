"""Contracts the OCR tests and bench/ocr_accuracy.py render themselves (Pillow + Noto CJK).

`make_contract(seed, lang)` draws the truth (number, customer, dates, currency, line items);
`render(contract)` draws it as a clean A4 page at ~150 dpi; `photograph(image, seed)` makes it look
like a phone photo of paper: rotated 2-4°, gaussian noise, a blur, JPEG at quality 60.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_INDEX = 2  # the .ttc's Simplified Chinese face (0 = JP, 1 = KR, 2 = SC)

ZH_CUSTOMERS = ["上海华东贸易有限公司", "宁波海曙进出口有限公司", "深圳前海电子科技有限公司", "杭州西湖纺织品有限公司",
                "苏州工业园区机械制造有限公司", "广州天河五金有限公司", "青岛港湾物流有限公司", "成都锦江食品有限公司"]
EN_CUSTOMERS = ["Acme Trading Co., Ltd.", "Northwind Imports LLC", "Blue Harbor Supplies Inc.", "Contoso Hardware GmbH",
                "Globex Industrial Ltd.", "Initech Components Corp.", "Riverside Textiles Ltd.", "Summit Foods Pty Ltd"]
ZH_PRODUCTS = ["不锈钢螺栓M8", "铝合金型材", "纯棉针织面料", "工业轴承", "液压油管", "包装纸箱", "电源适配器", "塑料粒子"]
EN_PRODUCTS = ["Stainless bolt M8", "Aluminium profile", "Cotton knit fabric", "Ball bearing 6204", "Hydraulic hose",
               "Carton box", "Power adapter", "LED panel light"]


@dataclass
class Contract:
    lang: str  # zh / en
    number: str
    customer: str
    seller: str
    signed_on: date
    delivery: date
    currency: str
    items: list[tuple[str, int, Decimal]] = field(default_factory=list)
    date_style: int = 0

    @property
    def total(self) -> Decimal:
        return sum((q * p for _, q, p in self.items), Decimal("0")).quantize(Decimal("0.01"))

    def truth(self) -> dict:
        return {"contract_no": self.number, "customer": self.customer, "amount": str(self.total),
                "currency": self.currency, "signed_on": self.signed_on.isoformat(),
                "delivery_date": self.delivery.isoformat(),
                "items": [{"product": p, "quantity": q, "unit_price": str(u)} for p, q, u in self.items]}


def make_contract(seed: int, lang: str) -> Contract:
    rnd = random.Random(f"{lang}{seed}")
    signed = date(2026, 1, 1) + timedelta(days=rnd.randrange(360))
    prefix = rnd.choice(["HT", "GD", "CG"] if lang == "zh" else ["SC", "PO", "CT"])
    number = f"{prefix}-{signed.year}-{rnd.randrange(1, 9999):04d}"
    products = rnd.sample(ZH_PRODUCTS if lang == "zh" else EN_PRODUCTS, rnd.randint(2, 4))
    items = [(p, rnd.choice([50, 100, 120, 200, 250, 300, 500, 800, 1000, 1200, 2000, 3600]) + rnd.randrange(0, 10),
              Decimal(rnd.randrange(50, 50000)) / 100) for p in products]
    return Contract(lang=lang, number=number,
                    customer=rnd.choice(ZH_CUSTOMERS if lang == "zh" else EN_CUSTOMERS),
                    seller="宁波跟单制造有限公司" if lang == "zh" else "Gendan Manufacturing Co., Ltd.",
                    signed_on=signed, delivery=signed + timedelta(days=rnd.randrange(20, 120)),
                    currency="CNY" if lang == "zh" else rnd.choice(["USD", "EUR"]), items=items,
                    date_style=rnd.randrange(2))


def _date(c: Contract, d: date) -> str:
    if c.lang == "zh":
        return f"{d.year}年{d.month}月{d.day}日" if c.date_style == 0 else d.isoformat()
    return d.isoformat() if c.date_style == 0 else f"{d.month:02d}/{d.day:02d}/{d.year}"


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def lines_of(c: Contract) -> tuple[str, list[str], list[list[str]], list[str]]:
    """(title, header lines, table rows incl. header, footer lines)."""
    if c.lang == "zh":
        head = [f"合同编号：{c.number}", f"买方（甲方）：{c.customer}", f"卖方（乙方）：{c.seller}",
                f"签订日期：{_date(c, c.signed_on)}", f"交货日期：{_date(c, c.delivery)}", "币种：人民币（CNY）"]
        table = [["序号", "产品名称", "数量", "单价（元）", "金额（元）"]]
        table += [[str(i), p, str(q), _money(u), _money(q * u)] for i, (p, q, u) in enumerate(c.items, 1)]
        foot = [f"合计：¥{_money(c.total)}", "付款方式：电汇，发货前付清。", "本合同一式两份，双方各执一份。"]
        return "购销合同", head, table, foot
    symbol = {"USD": "$", "EUR": "EUR "}[c.currency]
    head = [f"Contract No.: {c.number}", f"Buyer: {c.customer}", f"Seller: {c.seller}",
            f"Date: {_date(c, c.signed_on)}", f"Delivery date: {_date(c, c.delivery)}", f"Currency: {c.currency}"]
    table = [["No.", "Product", "Quantity", "Unit price", "Amount"]]
    table += [[str(i), p, str(q), _money(u), _money(q * u)] for i, (p, q, u) in enumerate(c.items, 1)]
    foot = [f"Total: {symbol}{_money(c.total)}", "Payment: T/T before shipment.", "Signed in two copies."]
    return "SALES CONTRACT", head, table, foot


def render(c: Contract, width: int = 1240, height: int = 1754) -> Image.Image:
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    title_font = ImageFont.truetype(str(FONT), 44, index=FONT_INDEX)
    font = ImageFont.truetype(str(FONT), 28, index=FONT_INDEX)
    title, head, table, foot = lines_of(c)
    tw = draw.textlength(title, font=title_font)
    draw.text(((width - tw) / 2, 90), title, font=title_font, fill=0)
    y = 200
    for line in head:
        draw.text((100, y), line, font=font, fill=0)
        y += 50
    y += 30
    cols = [100, 180, 560, 730, 900, 1140]
    row_h = 52
    for row in table:
        draw.line([(cols[0], y), (cols[-1], y)], fill=0, width=2)
        for i, cell in enumerate(row):
            x = cols[i] + 12 if i < 2 else cols[i + 1] - 12 - draw.textlength(cell, font=font)
            draw.text((x, y + 10), cell, font=font, fill=0)
        y += row_h
    draw.line([(cols[0], y), (cols[-1], y)], fill=0, width=2)
    top = y - row_h * len(table)
    for x in cols:
        draw.line([(x, top), (x, y)], fill=0, width=2)
    y += 40
    for line in foot:
        draw.text((100, y), line, font=font, fill=0)
        y += 50
    return img


def photograph(img: Image.Image, seed: int) -> Image.Image:
    """A skewed, noisy phone photo of the page (returned decoded from JPEG quality 60)."""
    rnd = random.Random(seed)
    angle = rnd.choice([-1, 1]) * rnd.uniform(2.0, 4.0)
    out = img.convert("L").rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=200)
    out = out.filter(ImageFilter.GaussianBlur(1.0))
    # gaussian noise σ 18 from the seed (Image.effect_noise cannot be seeded: runs would differ)
    gauss = rnd.gauss
    noise = Image.frombytes("L", out.size, bytes(max(0, min(255, int(128 + gauss(0, 18))))
                                                 for _ in range(out.width * out.height)))
    out = ImageChops.add(out, noise, scale=1.0, offset=-128)
    buf = io.BytesIO()
    out.convert("RGB").save(buf, "JPEG", quality=60)
    buf.seek(0)
    return Image.open(buf)


def to_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.convert("RGB" if fmt == "JPEG" else img.mode).save(buf, fmt, **({"quality": 60} if fmt == "JPEG" else {}))
    return buf.getvalue()
