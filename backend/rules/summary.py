"""What enabling a rule would do to the orders matching now, counted: per action how many to-dos
or messages go to whom, how often an assignee or a copy finds nobody and why, and who would get
more than HEAVY_TODOS to-dos at once.

Why this exists: enabling the follow-up rule on loaded history made 24,365 to-dos, and a rule whose
approver was absent on 36 of 37 orders sent them all to the owner; both were visible only after the
fact. The counts plan each matching order with the engine's own `plan_actions` (what a firing would
do), for at most SUMMARY_LIMIT orders; beyond that the counts say they are a sample.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from backend import i18n
from backend.customers.models import Customer
from backend.orders.models import Order, load_predictions
from backend.people.models import User
from backend.rules import sentences
from backend.rules.context import order_values, people_for_many
from backend.rules.schemas import ActionSummary, DryRunSummary, HeavyLoad, RecipientCount
from engine.facts import Catalogue, FactContext, build_facts
from engine.rules.actions import plan_actions
from engine.rules.definition import RuleDefinition

SUMMARY_LIMIT = 1000  # matching orders planned for the counts (each costs a few queries)
HEAVY_TODOS = 20  # more to-dos than this for one person at once is worth a warning
TOP = 5  # recipients listed per action


def names_of(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {uid: name for uid, name in session.exec(select(User.id, User.display_name).where(User.id.in_(ids))).all()}


def customers_of(session: Session, ids: set[int]) -> dict[int, tuple[str, str, str]]:
    """Customer id -> (name, locale, preferred channel)."""
    if not ids:
        return {}
    rows = session.exec(select(Customer.id, Customer.name, Customer.preferred_locale, Customer.preferred_channel)
                        .where(Customer.id.in_(ids))).all()
    return {cid: (name, locale, channel) for cid, name, locale, channel in rows}


def summarize(session: Session, rule: RuleDefinition, order_ids: list[int], matching: int, catalogue: Catalogue,
              ctx: FactContext, now: datetime) -> DryRunSummary:
    """Counts over the first SUMMARY_LIMIT of `order_ids` (the orders matching now, `matching` in all)."""
    ids = order_ids[:SUMMARY_LIMIT]
    made: Counter[int] = Counter()  # action index -> orders where it does something
    people: dict[int, Counter[int]] = {}  # action index -> user id -> to-dos / notifications
    customers: dict[int, Counter[int]] = {}  # action index -> customer id -> messages
    fallbacks: dict[int, Counter[tuple[str, str]]] = {}  # action index -> (asked kind, used kind) -> orders
    no_cc: Counter[int] = Counter()  # action index -> orders where its copy-to names nobody
    skipped: Counter[int] = Counter()  # action index -> orders where it reaches nobody at all
    load: Counter[int] = Counter()  # user id -> to-dos (and copies) at once
    for start in range(0, len(ids), 200):
        orders = list(session.exec(select(Order).where(Order.id.in_(ids[start:start + 200])).order_by(Order.id))
                      .scalars())
        people_of = people_for_many(session, orders, rule)
        load_predictions(session, orders)
        for order in orders:
            facts = build_facts(order_values(order), catalogue, ctx)
            plan = plan_actions(rule, order_id=order.id, facts=facts, episode=1, people=people_of[order.id], now=now)
            for effect in plan.effects:
                index = int(effect.dedupe_key.rsplit(":", 1)[1])
                made[index] += 1
                action = rule.actions[index]
                kind = type(effect).__name__
                if kind == "CreateTodo":
                    for uid in dict.fromkeys(effect.assignee_ids):
                        people.setdefault(index, Counter())[uid] += 1
                        load[uid] += 1
                    for uid in dict.fromkeys(effect.cc_user_ids):
                        load[uid] += 1
                    if getattr(action, "cc", ()) and not effect.cc_user_ids:
                        no_cc[index] += 1
                elif kind == "Notify":
                    for uid in dict.fromkeys(effect.user_ids):
                        people.setdefault(index, Counter())[uid] += 1
                elif kind == "MessageCustomer" and order.customer_id is not None:
                    customers.setdefault(index, Counter())[order.customer_id] += 1
            for code, params in plan.problems:
                index = params.get("action", -1)
                if code == "rule.assignee_fallback":
                    fallbacks.setdefault(index, Counter())[(params.get("assignee", ""), params.get("to", ""))] += 1
                elif code == "rule.assignee_unresolved":
                    skipped[index] += 1
    planned = len(ids)
    names = names_of(session, {u for c in people.values() for u in c} | {u for u, n in load.items() if n > HEAVY_TODOS})
    named_customers = customers_of(session, {c for counter in customers.values() for c in counter})
    actions = []
    for index, action in enumerate(rule.actions):
        notes = []
        for (asked, used), n in sorted(fallbacks.get(index, Counter()).items(), key=lambda kv: -kv[1]):
            notes.append(i18n.gettext("%(n)s of %(total)s orders %(why)s: it goes to %(to)s instead.", n=n,
                                      total=planned, why=_why(asked, action), to=sentences.who(used)))
        if no_cc[index]:
            kinds = [c.kind for c in getattr(action, "cc", ())]
            notes.append(i18n.gettext("%(n)s of %(total)s orders %(why)s: nobody is copied.", n=no_cc[index],
                                      total=planned, why=_why(kinds[0] if len(kinds) == 1 else "recipients", action)))
        if skipped[index]:
            notes.append(i18n.gettext("%(n)s of %(total)s orders have nobody to give it to (no owner either): "
                                      "it is skipped.", n=skipped[index], total=planned))
        top = [RecipientCount(name=names.get(u, f"#{u}"), count=n) for u, n in people.get(index, Counter()).most_common(TOP)]
        top += [RecipientCount(name=i18n.gettext("%(customer)s (%(language)s)", customer=named_customers[c][0],
                                                 language=named_customers[c][1].replace("_", "-")), count=n)
                for c, n in customers.get(index, Counter()).most_common(TOP) if c in named_customers]
        kind = sentences.action_kind(action.type)
        sentence = i18n.gettext("Action %(n)s (%(kind)s): on %(orders)s orders", n=index + 1, kind=kind,
                                orders=made[index])
        if top:
            sentence = i18n.gettext("%(text)s: %(people)s", text=sentence, people=i18n.gettext(", ").join(
                i18n.gettext("%(name)s %(count)s", name=r.name, count=r.count) for r in top))
        actions.append(ActionSummary(index=index, type=action.type, kind=kind, orders=made[index], recipients=top,
                                     notes=notes, sentence=sentence))
    heavy = [HeavyLoad(user_id=u, name=names.get(u, f"#{u}"), count=n,
                       message=i18n.gettext("%(name)s would get %(count)s to-dos at once.", name=names.get(u, f"#{u}"),
                                            count=n))
             for u, n in load.most_common() if n > HEAVY_TODOS]
    return DryRunSummary(matching=matching, planned=planned, sampled=planned < matching, actions=actions, heavy=heavy)


def _why(kind: str, action: object) -> str:
    text = sentences._t(sentences.WHY_NOBODY, kind)
    if kind == "role":
        role = getattr(getattr(action, "assignee", None) or getattr(action, "to", None), "role", None)
        return f"{text} {role}" if role else text
    return text
