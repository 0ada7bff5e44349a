"""The audit trail on SQLite and PostgreSQL: each master-data use case writes exactly one audit row
with the changed fields before and after, secrets never appear, a refused change writes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.audit import service as audit
from backend.audit.models import AuditEvent
from backend.auth import service as auth_service
from backend.auth.service import load_actor
from backend.customers import service as customers_service
from backend.customers.schemas import CustomerCreate, CustomerUpdate
from backend.errors import GendanError
from backend.flows import service as flows_service
from backend.forms import service as forms_service
from backend.ingest import inbound
from backend.ingest.schemas import InboundSourceCreate
from backend.notify import service as notify_service
from backend.people import service as people_service
from backend.people.schemas import DepartmentCreate, DepartmentUpdate, UserCreate, UserUpdate
from backend.rules import definitions as rule_definitions
from tests.factories.orders import make_customer
from tests.factories.people import make_department, make_user


@pytest.fixture
def admin(session):
    return load_actor(session, make_user(session, roles=["admin", "designer"], display_name="Ada Admin").id)


def events(session, entity_type: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    return list(session.exec(stmt).scalars().all())


def only_event(session, entity_type: str) -> AuditEvent:
    found = events(session, entity_type)
    assert len(found) == 1, [(e.action, e.before, e.after) for e in found]
    return found[0]


class TestCustomers:
    def test_create_records_every_given_field(self, session, admin, now):
        read = customers_service.create_customer(session, actor=admin, now=now, payload=CustomerCreate(
            name="Suzhou Mould", code="SZ-1", email="wang@szmold.cn"))
        event = only_event(session, "customer")
        assert (event.entity_key, event.action, event.actor_id, event.at) == (str(read.id), "create", admin.user_id, now)
        assert event.before == {}
        assert event.after["email"] == "wang@szmold.cn" and event.after["name"] == "Suzhou Mould"
        assert "region" not in event.after  # left empty: nothing changed

    def test_update_records_only_the_changed_fields(self, session, admin, now):
        customer = make_customer(session, email="old@example.com", tier="standard")
        session.commit()
        customers_service.update_customer(session, actor=admin, customer_id=customer.id, now=now,
                                          payload=CustomerUpdate(email="new@example.com", tier="standard",
                                                                 is_unsubscribed=True))
        event = only_event(session, "customer")
        assert event.action == "update"
        assert event.before == {"email": "old@example.com", "is_unsubscribed": False}
        assert event.after == {"email": "new@example.com", "is_unsubscribed": True}

    def test_saving_the_same_values_records_nothing(self, session, admin, now):
        customer = make_customer(session, email="same@example.com")
        session.commit()
        customers_service.update_customer(session, actor=admin, customer_id=customer.id, now=now,
                                          payload=CustomerUpdate(email="same@example.com"))
        assert events(session, "customer") == []

    def test_a_refused_update_records_nothing(self, session, admin, now):
        make_customer(session, code="TAKEN")
        customer = make_customer(session, code="MINE")
        session.commit()
        with pytest.raises(GendanError):
            customers_service.update_customer(session, actor=admin, customer_id=customer.id, now=now,
                                              payload=CustomerUpdate(code="TAKEN", email="x@example.com"))
        session.rollback()
        assert events(session, "customer") == []


class TestUsersAndDepartments:
    def test_create_user_records_roles_and_redacts_the_password(self, session, admin, now):
        read = people_service.create_user(session, actor=admin, now=now, payload=UserCreate(
            username="li.lei", display_name="Li Lei", password="correct horse 1", roles=["sales", "viewer"]))
        event = only_event(session, "user")
        assert (event.entity_key, event.action) == (str(read.id), "create")
        assert event.after["roles"] == ["sales", "viewer"]
        assert event.after["password_hash"] == audit.REDACTED

    def test_update_user_records_roles_department_and_deactivation(self, session, admin, now):
        dept = make_department(session, name="East")
        user = make_user(session, roles=["sales"])
        session.commit()
        people_service.update_user(session, actor=admin, user_id=user.id, now=now, payload=UserUpdate(
            roles=["sales", "approver"], department_id=dept.id, is_active=False, password="a new secret 2"))
        event = only_event(session, "user")
        assert event.before == {"department_id": None, "is_active": True, "password_hash": audit.REDACTED,
                                "roles": ["sales"]}
        assert event.after == {"department_id": dept.id, "is_active": False, "password_hash": audit.REDACTED,
                               "roles": ["approver", "sales"]}

    def test_departments_record_create_rename_move_and_head(self, session, admin, now):
        parent = make_department(session, name="HQ")
        head = make_user(session)
        dep = people_service.create_department(session, actor=admin, payload=DepartmentCreate(name="Sales"), now=now)
        people_service.update_department(session, actor=admin, department_id=dep.id, now=now,
                                         payload=DepartmentUpdate(name="Sales East", parent_id=parent.id,
                                                                  head_id=head.id))
        created, updated = events(session, "department")
        assert (created.action, created.after) == ("create", {"name": "Sales"})
        assert updated.before == {"name": "Sales", "parent_id": None, "head_id": None}
        assert updated.after == {"name": "Sales East", "parent_id": parent.id, "head_id": head.id}

    def test_a_command_line_user_has_no_actor(self, session, now):
        people_service.create_user(session, actor=None, now=now, payload=UserCreate(
            username="root.admin", display_name="Root", password="first password", roles=["admin"]))
        assert only_event(session, "user").actor_id is None


class TestSecrets:
    def test_api_keys_record_create_and_revoke_without_the_hash(self, session, admin, now):
        key, clear = auth_service.create_api_key(session, actor=admin, name="ERP", scope="write", user_id=None,
                                                 now=now)
        later = now + timedelta(hours=1)
        auth_service.revoke_api_key(session, actor=admin, key_id=key.id, now=later)
        auth_service.revoke_api_key(session, actor=admin, key_id=key.id, now=later + timedelta(hours=1))
        created, revoked = events(session, "api_key")
        assert created.after["key_hash"] == audit.REDACTED and created.after["name"] == "ERP"
        assert (revoked.action, revoked.before, revoked.after) == (
            "revoke", {"revoked_at": None}, {"revoked_at": later.isoformat()})
        dumped = json.dumps([created.before, created.after, revoked.before, revoked.after])
        assert clear not in dumped and key.key_hash not in dumped

    def test_inbound_sources_record_create_and_rotation_without_the_secret(self, session, admin, now):
        created = inbound.create_source(session, actor=admin, now=now,
                                        payload=InboundSourceCreate(key="erp", name="ERP"))
        rotated = inbound.rotate_secret(session, actor=admin, source_id=created.id, now=now)
        first, second = events(session, "inbound_source")
        assert first.after["secret"] == audit.REDACTED and first.after["key"] == "erp"
        assert (second.action, second.before, second.after) == (
            "rotate_secret", {"secret": audit.REDACTED}, {"secret": audit.REDACTED})
        dumped = json.dumps([first.after, second.before, second.after])
        assert created.secret not in dumped and rotated.secret not in dumped

    def test_channels_record_create_and_edit_without_the_secret(self, session, admin, now):
        config = notify_service.save_channel(session, actor=admin, name="Robot", kind="dingtalk",
                                             target="https://oapi.dingtalk.com/robot/send?access_token=t",
                                             secret="SEC-top-secret", options={}, is_enabled=True, now=now)
        notify_service.save_channel(session, actor=admin, name="Robot", kind="dingtalk", channel_id=config.id,
                                    target="https://oapi.dingtalk.com/robot/send?access_token=t",
                                    secret="SEC-another", options={}, is_enabled=False, now=now)
        created, edited = events(session, "channel")
        assert created.after["secret"] == audit.REDACTED
        assert edited.before == {"secret": audit.REDACTED, "is_enabled": True}
        assert edited.after == {"secret": audit.REDACTED, "is_enabled": False}
        assert "SEC-" not in json.dumps([created.after, edited.before, edited.after])


class TestDefinitions:
    def test_publishing_a_form_and_a_flow(self, session, admin, now):
        from backend.demo_designs import DEMO_FORM

        forms_service.save_draft(session, actor=admin, key="order", definition=DEMO_FORM, now=now)
        forms_service.publish_form(session, actor=admin, key="order", now=now)
        flows_service.install_template(session, actor=admin, key="b2b", template="b2b_fulfilment", now=now)
        flows_service.publish_flow(session, actor=admin, key="b2b", now=now)
        form, flow = only_event(session, "form"), only_event(session, "flow")
        assert (form.entity_key, form.action, form.before, form.after) == ("order", "publish", {"version": None},
                                                                           {"version": 1})
        assert (flow.entity_key, flow.action, flow.after) == ("b2b", "publish", {"version": 1})

    def test_a_rule_publish_enable_disable(self, session, admin, now):
        from engine.rules.classics import CLASSIC_RULES, classic_rule

        key = next(iter(CLASSIC_RULES))
        rule_definitions.save_draft(session, actor=admin, definition=classic_rule(key), now=now)
        rule_definitions.publish_rule(session, actor=admin, key=key, now=now)
        rule_definitions.enable_rule(session, actor=admin, key=key, confirm=True, now=now)
        rule_definitions.disable_rule(session, actor=admin, key=key, now=now)
        found = [(e.entity_key, e.action, e.before, e.after) for e in events(session, "rule")]
        assert found == [
            (key, "publish", {"version": None}, {"version": 1, "enabled": False}),
            (key, "enable", {"enabled": False}, {"enabled": True, "version": 1, "start": "include_matching"}),
            (key, "disable", {"enabled": True}, {"enabled": False, "version": 1}),
        ]
        assert {e.actor_id for e in events(session, "rule")} == {admin.user_id}


class TestTransaction:
    def test_record_only_adds_so_a_rollback_leaves_no_row(self, session, admin, now):
        customer = make_customer(session)
        session.commit()
        audit.record(session, admin, "customer", customer.id, "update", {"email": "a@x.cn"}, {"email": "b@x.cn"}, now)
        session.rollback()
        assert events(session) == []

    def test_a_forbidden_update_records_nothing(self, session, now):
        customer = make_customer(session)
        viewer = load_actor(session, make_user(session, roles=["viewer"]).id)
        session.commit()
        with pytest.raises(GendanError):
            customers_service.update_customer(session, actor=viewer, customer_id=customer.id,
                                              payload=CustomerUpdate(name="Nope"), now=now)
        session.rollback()
        assert events(session) == []
