"""Demo data that looks like a real small manufacturer: an org chart, a dozen users, ~200 customers
and ~3,000 orders spread over every stage of the fulfilment template, each with a history.

Why it exists: `make run` must show a living system on first start, and the browser and rule work
needs realistic volumes (stages, overdue deliveries, late payments) to look at.

- Deterministic: the same `seed` and `now` give the same rows (one `random.Random`, no wall clock
  except the default `now`).
- Loaded once: orders with source "demo" are the marker; people, departments and customers are
  reused by username / name / code, so an admin created earlier with `gendan user create` is kept.
- Fast: core bulk inserts (executemany with RETURNING), one transaction, one argon2 hash.
- Timings are inspired by the olist orders (/work/shared/datasets/olist): approval within hours,
  carrier hand-over in ~2 days, transit median ~7 days with a long tail, ~7 % delivered late.
- Patterns to learn (issue 14, the delay-risk models): a slow supplier (data.supplier), slow
  shipping to some regions (the customer's region), longer production before Double 11 and the
  Spring Festival; see SUPPLIERS and below.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine

import backend.models  # noqa: F401  (every table in the metadata)
from backend.auth.passwords import hash_password
from backend.clock import utcnow
from backend.customers.models import Customer, CustomerContact
from backend.db import IMMEDIATE
from backend.orders.models import Order, OrderEvent
from backend.people.models import Department, User, UserRole
from engine.reports.reached import stages_mask

DEMO_PASSWORD = "gendan123"
DEMO_SOURCE = "demo"
DEMO_SEED = 20261124

STAGES = ("draft", "approval", "tech_confirm", "production", "shipping", "delivered", "invoicing",
          "payment", "completed")
CANCELLABLE = ("draft", "approval", "tech_confirm", "production")

# (username, display name, roles, department key, email local part)
USERS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("admin", "系统管理员", ("admin",), "company"),
    ("director.chen", "陈志远", ("sales", "approver"), "company"),
    ("viewer.qian", "钱晓雯", ("viewer",), "company"),
    ("manager.wang", "王建国", ("sales", "approver"), "sales"),
    ("sales.zhang", "张伟", ("sales",), "east"),
    ("sales.li", "李娜", ("sales",), "east"),
    ("sales.liu", "刘洋", ("sales",), "south"),
    ("approver.wu", "吴敏", ("approver",), "operations"),
    ("designer.zhou", "周婷", ("designer",), "operations"),
    ("tech.huang", "黄磊", ("approver",), "tech"),
    ("warehouse.zhao", "赵强", ("warehouse",), "warehouse"),
    ("finance.sun", "孙丽", ("finance",), "finance"),
)

# department key -> (name, parent key, head username): company -> sales -> East/South teams (3 levels)
DEPARTMENTS: tuple[tuple[str, str, str | None, str], ...] = (
    ("company", "跟单精密制造有限公司", None, "director.chen"),
    ("sales", "销售部", "company", "manager.wang"),
    ("east", "华东销售组", "sales", "sales.zhang"),
    ("south", "华南销售组", "sales", "sales.liu"),
    ("operations", "运营部", "company", "approver.wu"),
    ("tech", "技术支持组", "operations", "tech.huang"),
    ("warehouse", "仓储物流组", "operations", "warehouse.zhao"),
    ("finance", "财务部", "company", "finance.sun"),
)

# customers: city (region, pinyin), brand (hanzi, pinyin), industry (hanzi, pinyin)
CITIES = (("苏州", "华东", "suzhou"), ("无锡", "华东", "wuxi"), ("宁波", "华东", "ningbo"),
          ("杭州", "华东", "hangzhou"), ("上海", "华东", "shanghai"), ("南京", "华东", "nanjing"),
          ("常州", "华东", "changzhou"), ("深圳", "华南", "shenzhen"), ("东莞", "华南", "dongguan"),
          ("佛山", "华南", "foshan"), ("广州", "华南", "guangzhou"), ("厦门", "华南", "xiamen"),
          ("青岛", "华北", "qingdao"), ("天津", "华北", "tianjin"), ("成都", "西南", "chengdu"))
BRANDS = (("恒达", "hengda"), ("鑫源", "xinyuan"), ("华锐", "huarui"), ("宏图", "hongtu"),
          ("中科", "zhongke"), ("联创", "lianchuang"), ("金桥", "jinqiao"), ("瑞丰", "ruifeng"),
          ("永盛", "yongsheng"), ("东方", "dongfang"), ("天成", "tiancheng"), ("博远", "boyuan"),
          ("嘉禾", "jiahe"), ("汇通", "huitong"), ("精工", "jinggong"), ("凯达", "kaida"),
          ("新宇", "xinyu"), ("同力", "tongli"), ("安捷", "anjie"), ("明泰", "mingtai"))
INDUSTRIES = (("精密机械", "machinery"), ("电子科技", "electronics"), ("汽车零部件", "autoparts"),
              ("新能源", "energy"), ("医疗器械", "medical"), ("自动化设备", "automation"),
              ("包装材料", "packaging"), ("五金制品", "hardware"))
FOREIGN = (("Hamburg Industrietechnik GmbH", "EUR", "hamburg-it.de"), ("Rotterdam Parts B.V.", "EUR", "rdparts.nl"),
           ("Lyon Automation SAS", "EUR", "lyon-automation.fr"), ("Milano Meccanica S.r.l.", "EUR", "milanomec.it"),
           ("Ohio Fluid Systems Inc.", "USD", "ohiofluid.com"), ("Pacific Components LLC", "USD", "pacomp.com"),
           ("Monterrey Metales S.A.", "USD", "mtymetales.mx"), ("Saigon Precision Co., Ltd.", "USD", "saigonprecision.vn"),
           ("Bangkok Motor Supply Co.", "USD", "bkkmotor.co.th"), ("Melbourne Mining Equipment Pty", "USD", "mme.com.au"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰春梅海燕晓东文博思雨欣怡浩然子涵"
EN_NAMES = ("Anna Schmidt", "Jan de Vries", "Claire Martin", "Luca Rossi", "Mike Johnson", "Sarah Lee",
            "Carlos Garcia", "Nguyen Van An", "Somchai Wong", "Olivia Brown")
PRODUCTS = (("数控机床主轴", "CNC spindle", 18000), ("伺服电机", "servo motor", 2600), ("精密轴承", "precision bearing", 180),
            ("液压阀组", "hydraulic valve block", 5200), ("工业控制柜", "control cabinet", 36000),
            ("传感器模组", "sensor module", 420), ("不锈钢法兰", "stainless flange", 95), ("减速机", "gear reducer", 7800))

# stage -> (median days spent in it before moving on, spread of the lognormal, who moves it on)
DWELL: dict[str, tuple[float, float, str]] = {
    "draft": (1.0, 1.0, "owner"),
    "approval": (1.0, 1.0, "approver"),
    "tech_confirm": (1.5, 0.8, "tech.huang"),
    "production": (12.0, 0.5, "warehouse.zhao"),
    "shipping": (7.0, 0.6, "warehouse.zhao"),  # olist: carrier -> customer median 7.4 d, p90 18 d
    "delivered": (2.0, 0.7, "finance.sun"),
    "invoicing": (3.0, 0.6, "finance.sun"),
    "payment": (35.0, 0.4, "finance.sun"),
}
PAYMENT_TERMS_DAYS = (30, 30, 45, 60, 60, 90)

# Patterns in the history for the delay-risk models to learn (issue 14), drawn from their own random
# stream so the rest of the demo keeps its numbers:
# - suppliers (外协厂) making the goods: one is slow, its production takes about twice as long;
SUPPLIERS: tuple[tuple[str, float], ...] = (  # (name, production time factor)
    ("苏州精工机械厂", 1.0), ("宁波华力铸造", 1.0), ("东莞联合五金", 1.0), ("成都西部重工", 2.0),
)
SLOW_SUPPLIER = "成都西部重工"
# - shipping to some regions is slower (sea freight abroad, the long haul to the south-west);
SHIPPING_FACTOR_BY_REGION = {"海外": 2.0, "西南": 1.6}
# - the seasonal peaks: production started in the 30 days before Double 11 or the Spring Festival
#   takes 1.6× as long (every factory is full);
PEAK_PRODUCTION_FACTOR = 1.6
PEAK_DAYS = 30
SPRING_FESTIVALS = (date(2024, 2, 10), date(2025, 1, 29), date(2026, 2, 17), date(2027, 2, 6),
                    date(2028, 1, 26), date(2029, 2, 13), date(2030, 2, 3), date(2031, 1, 23))
# so orders of the slow supplier, the slow regions and the peaks are late against planned_delivery
# far more often than the rest (tests/backend/test_demo_patterns.py checks each pattern).
BIG_ORDER_CNY = 500_000  # approved by the director rather than the approver or the sales manager


@dataclass(frozen=True)
class DemoSummary:
    departments: int
    users: int
    customers: int
    orders: int
    events: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.departments} departments, {self.users} users, {self.customers} customers, "
                f"{self.orders} orders, {self.events} order events in {self.seconds:.1f} s")


def load_demo(engine: Engine, orders: int = 3000, force: bool = False, *, now: datetime | None = None,
              seed: int = DEMO_SEED, customers: int = 200) -> DemoSummary | None:
    """Load the demo company unless it is loaded already (then return None).

    `force` adds another `orders` orders to an existing demo (people and customers are reused).
    Everything happens in one transaction: a failure leaves nothing behind.
    """
    if orders < 0 or customers < 1:
        raise ValueError("orders must be >= 0 and customers >= 1")
    now = (now or utcnow()).astimezone(UTC).replace(microsecond=0)
    started = time.perf_counter()
    rng = random.Random(seed)
    # SQLite: it reads, then writes, so it takes the write lock at BEGIN (backend/db.py): a deferred
    # transaction's upgrade fails at once while a running server or worker writes
    with engine.execution_options(**IMMEDIATE).begin() as conn:
        existing = conn.execute(select(func.count()).select_from(Order).where(Order.source == DEMO_SOURCE)).scalar_one()
        if existing and not force:
            return None
        users, departments = _people(conn, now)
        customer_rows = _customers(conn, rng, users, now, customers)
        if existing:  # a forced reload gets its own random stream, so its orders differ
            rng = random.Random(seed + existing)
        n_orders, n_events = _orders(conn, rng, users, customer_rows, now, orders, first_seq=existing + 1)
    if not existing:
        from backend.demo_designs import install_designs  # the designs import the use cases, loaded late

        install_designs(engine, users["designer.zhou"], users["admin"], now)
        with engine.connect() as conn:  # the flows started on the drafts wrote events of their own
            n_events = conn.execute(select(func.count()).select_from(OrderEvent).join(Order)
                                    .where(Order.source == DEMO_SOURCE)).scalar_one()
    return DemoSummary(departments=departments, users=len(users), customers=len(customer_rows),
                       orders=n_orders, events=n_events, seconds=time.perf_counter() - started)


# --- people -------------------------------------------------------------------------------------

def _people(conn: Connection, now: datetime) -> tuple[dict[str, int], int]:
    """Departments and users (get or create by name / username); returns username -> id."""
    dep_table, user_table, role_table = Department.__table__, User.__table__, UserRole.__table__
    dep_ids: dict[str, int] = {}
    for key, name, parent, _head in DEPARTMENTS:
        found = conn.execute(select(dep_table.c.id).where(dep_table.c.name == name)).scalar()
        if found is None:
            found = conn.execute(insert(dep_table).values(name=name, parent_id=dep_ids.get(parent))
                                 .returning(dep_table.c.id)).scalar_one()
        dep_ids[key] = found
    password_hash = hash_password(DEMO_PASSWORD)  # argon2 is slow on purpose: hash once
    user_ids: dict[str, int] = {}
    for username, display, roles, dep in USERS:
        found = conn.execute(select(user_table.c.id).where(user_table.c.username == username)).scalar()
        if found is None:
            found = conn.execute(insert(user_table).values(
                username=username, display_name=display, email=f"{username}@gendan.example",
                phone=None, password_hash=password_hash, department_id=dep_ids[dep],
                locale="en" if username == "viewer.qian" else None, is_active=True,
                created_at=now - timedelta(days=400),
            ).returning(user_table.c.id)).scalar_one()
            conn.execute(insert(role_table), [{"user_id": found, "role": r} for r in roles])
        user_ids[username] = found
    for key, _name, _parent, head in DEPARTMENTS:
        conn.execute(dep_table.update().where(dep_table.c.id == dep_ids[key], dep_table.c.head_id.is_(None))
                     .values(head_id=user_ids[head]))
    return user_ids, len(dep_ids)


# --- customers ----------------------------------------------------------------------------------

def _contacts(conn: Connection, rng: random.Random, customers: list[dict[str, Any]], now: datetime) -> None:
    """Each new demo customer's contact as its primary contact, and a second one (finance) at key
    customers: the customer page shows several contacts from the first start."""
    rows = []
    for c in customers:
        rows.append(dict(customer_id=c["id"], name=c["contact_name"], role=None, phone=c["phone"], email=c["email"],
                         locale=c["preferred_locale"], is_primary=True, position=0, created_at=now))
        if c["tier"] == "key":
            zh = c["preferred_locale"] == "zh_CN"
            name = (rng.choice(SURNAMES) + rng.choice(GIVEN)) if zh else EN_NAMES[rng.randrange(len(EN_NAMES))]
            rows.append(dict(customer_id=c["id"], name=name, role="财务" if zh else "Accounts payable",
                             phone=None, email=f"finance.{c['email']}", locale=c["preferred_locale"],
                             is_primary=False, position=1, created_at=now))
    if rows:
        conn.execute(insert(CustomerContact.__table__), rows)


def _customers(conn: Connection, rng: random.Random, users: dict[str, int], now: datetime,
               count: int) -> list[dict[str, Any]]:
    table = Customer.__table__
    existing = {row.code: row for row in conn.execute(
        select(table.c.id, table.c.code, table.c.region, table.c.owner_id, table.c.preferred_locale)
        .where(table.c.code.like("DEMO-C%")))}
    names_seen: set[str] = set()
    planned: list[dict[str, Any]] = []
    for i in range(1, count + 1):
        code = f"DEMO-C{i:04d}"
        if i % 7 == 0:  # about one customer in seven is abroad
            name, currency, domain = FOREIGN[(i // 7 - 1) % len(FOREIGN)]
            if name in names_seen:
                name = f"{name} ({i})"
            contact = EN_NAMES[rng.randrange(len(EN_NAMES))]
            row = dict(region="海外", currency=currency, preferred_locale="en", contact_name=contact,
                       email=f"{contact.split()[0].lower()}@{domain}", phone=f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}",
                       dingtalk_id=None, wecom_id=None, preferred_channel=rng.choice(("email", "email", "none")))
        else:
            for _ in range(20):
                city, region, city_py = CITIES[rng.randrange(len(CITIES))]
                brand, brand_py = BRANDS[rng.randrange(len(BRANDS))]
                industry, industry_py = INDUSTRIES[rng.randrange(len(INDUSTRIES))]
                suffix = "股份有限公司" if rng.random() < 0.2 else "有限公司"
                name = f"{city}{brand}{industry}{suffix}"
                if name not in names_seen:
                    break
            else:
                name = f"{name}（{i}）"
            contact = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            slug = f"{brand_py}-{industry_py}"
            channel = rng.choices(("wecom", "dingtalk", "email", "sms", "none"), (35, 30, 25, 7, 3))[0]
            row = dict(region=region, currency="CNY", preferred_locale="zh_CN", contact_name=contact,
                       email=f"purchase{i}@{city_py}-{slug}.com.cn", phone=f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}",
                       dingtalk_id=f"dt_{city_py}_{i:04d}" if channel == "dingtalk" or rng.random() < 0.3 else None,
                       wecom_id=f"wx_{brand_py}{i:04d}" if channel == "wecom" or rng.random() < 0.3 else None,
                       preferred_channel=channel)
        names_seen.add(name)
        if region in ("华南", "西南"):
            owner = "sales.liu"
        elif region == "海外":
            owner = rng.choice(("manager.wang", "sales.zhang"))
        else:
            owner = rng.choice(("sales.zhang", "sales.zhang", "sales.li", "sales.li", "manager.wang"))
        tier = rng.choices(("key", "standard", "small"), (15, 60, 25))[0]
        planned.append(dict(code=code, name=name, tier=tier, owner_id=users[owner],
                            created_at=now - timedelta(days=rng.randint(200, 900)), is_unsubscribed=False, **row))
    new_rows = [{k: v for k, v in p.items() if k != "currency"} for p in planned if p["code"] not in existing]
    ids: dict[str, int] = {code: row.id for code, row in existing.items()}
    if new_rows:
        result = conn.execute(insert(table).returning(table.c.id, table.c.code, sort_by_parameter_order=True),
                              new_rows)
        ids.update({code: cid for cid, code in result.all()})
        _contacts(conn, rng, [dict(p, id=ids[p["code"]]) for p in planned if p["code"] not in existing], now)
    out = []
    for p in planned:
        p = dict(p, id=ids[p["code"]])
        if p["code"] in existing:  # keep what the database says (it may have been edited)
            p["owner_id"] = existing[p["code"]].owner_id or p["owner_id"]
        out.append(p)
    return out


# --- orders and their history -------------------------------------------------------------------

def _dwell(rng: random.Random, stage: str) -> timedelta:
    median, sigma, _ = DWELL[stage]
    days = median * math.exp(rng.gauss(0, sigma))
    if rng.random() < 0.06:  # a few orders get stuck: the ones rules should catch
        days *= rng.uniform(3, 6)
    return timedelta(seconds=max(600, int(days * 86400)))


def in_peak_season(day: date) -> bool:
    """True in the PEAK_DAYS before Double 11 (11 November) or before a Spring Festival."""
    peaks = [date(day.year, 11, 11), date(day.year + 1, 11, 11), *SPRING_FESTIVALS]
    return any(timedelta(0) <= peak - day <= timedelta(days=PEAK_DAYS) for peak in peaks)


def _pattern_factor(stage: str, start: datetime, supplier_factor: float, region: str) -> float:
    """How much longer than usual `stage`, entered at `start`, takes for this order (the patterns)."""
    if stage == "production":
        return supplier_factor * (PEAK_PRODUCTION_FACTOR if in_peak_season(start.date()) else 1.0)
    if stage == "shipping":
        return SHIPPING_FACTOR_BY_REGION.get(region, 1.0)
    return 1.0


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _orders(conn: Connection, rng: random.Random, users: dict[str, int], customers: list[dict[str, Any]],
            now: datetime, count: int, *, first_seq: int) -> tuple[int, int]:
    if count == 0:
        return 0, 0
    sales_team = {users[u] for u in ("sales.zhang", "sales.li", "sales.liu", "manager.wang")}
    approvers = (users["approver.wu"], users["approver.wu"], users["manager.wang"])
    # own stream, so the main one draws as before; seeded by the state's integers alone: hashing the
    # whole state hashed its `None` by address (Python 3.11), so every process drew other patterns
    patterns = random.Random(hash(rng.getstate()[1]))
    taken = set(conn.execute(select(Order.__table__.c.number).where(Order.__table__.c.number.like("SO%"))).scalars())
    weights = [3.0 if c["tier"] == "key" else 1.0 if c["tier"] == "standard" else 0.4 for c in customers]
    order_rows: list[dict[str, Any]] = []
    histories: list[list[dict[str, Any]]] = []
    # recent orders are denser than old ones (most of a year, weighted to the last months); numbers
    # and ids follow creation time, as they would have in real life
    created_times = sorted((now - timedelta(days=365 * rng.random() ** 2.0)).replace(microsecond=0)
                           for _ in range(count))
    for k in range(count):
        seq = first_seq + k
        customer = rng.choices(customers, weights)[0]
        owner_id = customer["owner_id"] if customer["owner_id"] in sales_team else users["sales.zhang"]
        if rng.random() < 0.08:  # colleagues cover for each other
            owner_id = rng.choice(sorted(sales_team))
        created = created_times[k]
        name_zh, name_en, unit = PRODUCTS[rng.randrange(len(PRODUCTS))]
        quantity = max(1, int(rng.lognormvariate(math.log(120 if unit < 1000 else 8), 0.9)))
        unit_price = unit * rng.uniform(0.85, 1.2)
        if customer["currency"] != "CNY":
            unit_price /= 7.2 if customer["currency"] == "USD" else 7.8
        unit_price = float(_money(unit_price))
        amount = _money(unit_price * quantity)
        amount_cny = amount * (1 if customer["currency"] == "CNY" else 7)
        lead_days = int(sum(DWELL[s][0] for s in STAGES[:5]) + rng.choice((5, 7, 10, 14)))
        planned_delivery = (created + timedelta(days=lead_days)).date()
        terms = rng.choice(PAYMENT_TERMS_DAYS)
        supplier, supplier_factor = SUPPLIERS[patterns.randrange(len(SUPPLIERS))]
        # events: created, then one stage change per step while the step happened before `now`
        cancel_at_stage = rng.choice(CANCELLABLE) if rng.random() < 0.06 else None
        stage, status, at = "draft", "open", created
        closed_at: datetime | None = None
        delivered_on: date | None = None
        signed_at: datetime | None = None
        shipped_at: datetime | None = None
        events: list[dict[str, Any]] = [dict(type="created", actor_id=owner_id, at=created, before=None,
                                             after=None, note=None)]
        for nxt in STAGES[1:]:
            if stage == cancel_at_stage:
                when = at + _dwell(rng, stage) / 2
                if when <= now:
                    status, closed_at = "cancelled", when
                    events.append(dict(type="updated", actor_id=rng.choice((owner_id, users["manager.wang"])),
                                       at=when, before={"status": "open"}, after={"status": "cancelled"},
                                       note=rng.choice(("客户取消订单", "Customer cancelled", "价格未谈妥", "重复下单"))))
                break
            when = at + _dwell(rng, stage) * _pattern_factor(stage, at, supplier_factor, customer["region"])
            if when > now:
                break
            mover = DWELL[stage][2]
            if mover == "owner":
                actor = owner_id
            elif mover == "approver":  # big orders go up the chain: 逐级主管
                actor = users["director.chen"] if amount_cny >= BIG_ORDER_CNY else rng.choice(approvers)
            else:
                actor = users[mover]
            before: dict[str, Any] = {"stage": stage}
            after: dict[str, Any] = {"stage": nxt}
            if nxt == "completed":
                before["status"], after["status"] = "open", "completed"
                status, closed_at = "completed", when
            events.append(dict(type="stage_entered", actor_id=actor, at=when, before=before, after=after, note=None))
            if nxt == "shipping":  # handed to the carrier within hours to 2.5 days (its own draw: the
                # rest of the demo keeps its numbers)
                shipped_at = when + timedelta(hours=random.Random(seq).uniform(4, 60))
            if nxt == "delivered":
                delivered_on, signed_at = when.date(), when  # delivered = signed for (logistics)
                shipped_at = min(shipped_at or when, when)
            stage, at = nxt, when
        payment_due = max(delivered_on or planned_delivery, planned_delivery) + timedelta(days=terms)
        last_event_at = events[-1]["at"]
        # open orders that sit too long get urged: the kind of history the rules will produce
        urge_count = 0
        if status == "open" and stage not in ("draft", "completed") and now - at > timedelta(days=10):
            urge_count = rng.randint(1, 3)
            for u in range(urge_count):
                when = at + (now - at) * (u + 1) / (urge_count + 1)
                events.append(dict(type="urged", actor_id=rng.choice((owner_id, users["manager.wang"])), at=when,
                                   before=None, after={"urge_count": u + 1}, note=rng.choice(("请尽快处理", "客户在催货", "Please follow up"))))
            last_event_at = max(last_event_at, events[-1]["at"])
        number = f"SO{created:%Y%m%d}-{seq:05d}"
        while number in taken:
            number += "X"
        taken.add(number)
        currency = customer["currency"]
        data = {"product": name_zh, "product_en": name_en, "quantity": quantity, "unit_price": str(unit_price),
                "incoterm": "FOB" if currency != "CNY" else "DAP", "customer_po": f"PO-{rng.randint(100000, 999999)}",
                "supplier": supplier}
        if status == "open" and stage in ("tech_confirm", "production"):
            # production planning's estimate; now and then it runs past the promised date (delay risk)
            slack = rng.randint(1, 9) if rng.random() < 0.15 else -rng.randint(3, 15)
            data["expected_completion"] = (planned_delivery + timedelta(days=slack)).isoformat()
        created_snapshot = {
            "customer_id": customer["id"], "owner_id": owner_id, "amount": str(amount), "currency": currency,
            "stage": "draft", "status": "open", "planned_delivery": planned_delivery.isoformat(),
            "payment_due": payment_due.isoformat(), "data": data, "tags": [], "risk_flags": [],
        }
        events[0]["after"] = created_snapshot
        tags = ["key-account"] if customer["tier"] == "key" else []
        risk = ["late-delivery"] if status == "open" and stage in STAGES[:5] and planned_delivery < now.date() else []
        order_rows.append(dict(
            number=number, customer_id=customer["id"], owner_id=owner_id, amount=amount, currency=currency,
            stage=stage, status=status, stage_entered_at=at, planned_delivery=planned_delivery,
            payment_due=payment_due, source=DEMO_SOURCE, external_id=f"demo-{seq:06d}", data=data,
            form_key=None, form_version=None, tags=tags, risk_flags=risk, urge_count=urge_count,
            last_customer_contact_at=at if rng.random() < 0.5 else None,
            version=len([e for e in events if e["type"] != "urged"]), created_at=created,
            updated_at=last_event_at, closed_at=closed_at, signed_at=signed_at, delivered_at=signed_at,
            stages_entered=stages_mask((e["after"] or {}).get("stage") for e in events),
            # one in eight orders still in shipping waits for the warehouse ("not shipped within 3 days")
            shipped_at=None if shipped_at is None or shipped_at > now or (
                stage == "shipping" and random.Random(-seq).random() < 0.125) else shipped_at,
        ))
        histories.append(events)
    table = Order.__table__
    ids = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), order_rows).scalars().all()
    event_rows = [dict(e, order_id=order_id, actor_label=None) for order_id, events in zip(ids, histories, strict=True)
                  for e in events]
    for start in range(0, len(event_rows), 5000):
        conn.execute(insert(OrderEvent.__table__), event_rows[start:start + 5000])
    return len(order_rows), len(event_rows)
