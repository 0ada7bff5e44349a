"""Shared steps of the vendor template tests: a connector from a template, a run, the orders."""

from __future__ import annotations

from sqlalchemy import select

from backend.connectors import runner, service, vendors
from backend.connectors.models import Connector
from backend.connectors.schemas import ConnectorCreate
from backend.orders.models import Order


def from_template(session, admin, now, key: str, base_url: str, *, options: dict | None = None,
                  secrets: dict | None = None, name: str | None = None, **settings):
    """Saved exactly as the "New from template" form would save it: the template's settings,
    schedule and mapping, with the user's address, options and secrets."""
    template = vendors.get(key)
    values = template.default_settings()
    values.update({"base_url": base_url, "rate_limit_per_second": 100, **settings})
    values["options"] = {**values["options"], **(options or {})}
    body = {"name": name or f"t-{key}", "kind": "vendor", "settings": values, "secrets": secrets or {},
            "mapping": {**template.mapping, "timezone": "Asia/Shanghai"},
            "schedule_minutes": template.schedule_minutes}
    return service.create_connector(session, actor=admin, payload=ConnectorCreate.model_validate(body), now=now)


def run(connection, connector_id, now):
    return runner.run_connector(connection, connector_id, now, trigger="manual", sleep=lambda s: None)


def orders(session, source: str) -> dict[str, Order]:
    session.expire_all()
    return {o.external_id: o for o in session.exec(select(Order).where(Order.source == source)).scalars()}


def cursor(session, connector_id: int) -> dict:
    session.expire_all()
    return session.get(Connector, connector_id).cursor


def health(session, connector_id: int) -> dict:
    session.expire_all()
    c = session.get(Connector, connector_id)
    return {"status": c.last_status, "error": c.last_error, "failures": c.failures_in_row}
