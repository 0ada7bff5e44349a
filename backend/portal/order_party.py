"""Which company a step given to someone outside goes to, on one order.

A fixed company (`party_id`) is the same for every order; the order's customer step goes to the
customer's party; a step with `party_field` goes to *this order's* supplier or carrier: the active
party of the step's kind whose name is the value of that field of the order (`data.supplier`).
Everything that hands out or honours a link asks here (the due-links job, the order page's panel,
the party's own access check), so a link of supplier A stops working the moment the order's field
names supplier B: the party is worked out from the order as it is now, not from the link.

The name rule: both sides are NFKC-normalised (full-width ＡＢＣ and half-width ABC are one name, as
Chinese input methods type either), trimmed, and compared without regard to case (`casefold`);
anything else must be equal, inner spaces included. Two active parties of the kind with the same
name under that rule are *ambiguous* and get nobody: a link to the wrong company is worse than none.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.orders.models import Order
from backend.portal.models import ExternalParty
from engine.flows.definition import ExternalAccess

# why no company was found (the order page says it): the field is empty, names no company of the
# kind, names two, or the fixed company is gone / switched off / another kind
NO_PARTY_REASONS = ("field_empty", "no_match", "ambiguous", "party_unavailable")
CACHE_KEY = "portal_parties_by_kind"


@dataclass(frozen=True)
class Resolution:
    party: ExternalParty | None
    reason: str | None = None  # one of NO_PARTY_REASONS when party is None
    value: str = ""  # what the order's field holds (party_field only), for the message


def name_key(name: Any) -> str:
    """The form of a company name that is compared (see the module's rule)."""
    return unicodedata.normalize("NFKC", str(name)).strip().casefold()


def field_value(order: Order, path: str) -> Any:
    """The value of a designed field `data.<key>` of the order (None when absent)."""
    if not path.startswith("data."):
        return None
    return (order.data or {}).get(path[5:])


def _parties_of_kind(session: Session, kind: str) -> list[ExternalParty]:
    """The active parties of a kind; read once per kind in a session that `cache_parties` marked
    (a job resolving many orders; parties are few), else each time (a request sees them as now)."""
    cache = session.info.get(CACHE_KEY)
    if cache is not None and kind in cache:
        return cache[kind]
    parties = list(session.exec(select(ExternalParty).where(
        ExternalParty.kind == kind, ExternalParty.is_active.is_(True)).order_by(ExternalParty.id)).scalars())
    if cache is not None:
        cache[kind] = parties
    return parties


def cache_parties(session: Session) -> None:
    """Let this session read each kind's parties once (for a job's own short session)."""
    session.info[CACHE_KEY] = {}


def party_for(session: Session, external: ExternalAccess, order: Order) -> Resolution:
    """The company the step goes to on this order, or why there is none."""
    if external.kind == "customer":
        party = session.exec(select(ExternalParty).where(
            ExternalParty.kind == "customer", ExternalParty.customer_id == order.customer_id,
            ExternalParty.is_active.is_(True)).order_by(ExternalParty.id)).scalars().first()
        return Resolution(party, None if party is not None else "party_unavailable")
    if external.party_field:
        raw = field_value(order, external.party_field)
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool) or not name_key(raw):
            return Resolution(None, "field_empty")
        wanted = name_key(raw)
        found = [p for p in _parties_of_kind(session, external.kind) if name_key(p.name) == wanted]
        if len(found) != 1:
            return Resolution(None, "no_match" if not found else "ambiguous", str(raw).strip()[:200])
        return Resolution(found[0], value=str(raw).strip()[:200])
    party = session.get(ExternalParty, external.party_id or 0)
    if party is None or not party.is_active or party.kind != external.kind:
        return Resolution(None, "party_unavailable")
    return Resolution(party)


def names_party(session: Session, external: ExternalAccess, order: Order, party: ExternalParty) -> bool:
    """Whether the step, on this order, is given to `party` (the access check of its links)."""
    if external.kind != party.kind:
        return False
    if external.kind == "customer":
        return party.customer_id == order.customer_id and external.party_id in (None, party.id)
    if external.party_field:
        found = party_for(session, external, order).party
        return found is not None and found.id == party.id
    return external.party_id == party.id
