"""Form definitions in the database: drafts, publishing, versions, and orders validated by them."""

from __future__ import annotations

import pytest

from backend.errors import GendanError
from backend.forms import service
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderCreate, OrderUpdate
from tests.backend.forms.formdefs import order_form, raw, with_field
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def actor_of(session, *roles):
    from backend.auth.service import load_actor

    user = make_user(session, roles=list(roles))
    return load_actor(session, user.id)


@pytest.fixture
def designer(session):
    return actor_of(session, "designer")


@pytest.fixture
def rep(session):
    return actor_of(session, "sales")


def publish(session, designer, definition, now):
    service.save_draft(session, actor=designer, key="order", definition=definition, now=now)
    return service.publish_form(session, actor=designer, key="order", now=now)


class TestDrafts:
    def test_saving_twice_keeps_one_draft_version(self, session, designer, now):
        first = service.save_draft(session, actor=designer, key="order", definition=order_form(), now=now)
        second = service.save_draft(session, actor=designer, key="order", definition=order_form(), now=now)
        assert (first.version, second.version, second.status) == (1, 1, "draft")
        assert [v.version for v in service.list_versions(session, actor=designer, key="order")] == [1]

    def test_a_draft_may_have_issues_and_reports_them(self, session, designer, now):
        bad = with_field(order_form(), "po_number", key="planned_delivery")
        draft = service.save_draft(session, actor=designer, key="order", definition=bad, now=now)
        assert [(i.path, i.code) for i in draft.issues] == [("fields[1].key", "form.key_duplicate")]

    def test_a_draft_must_have_the_right_shape(self, session, designer, now):
        with pytest.raises(GendanError) as exc:
            service.save_draft(session, actor=designer, key="order",
                               definition={"fields": [{"key": "a", "type": "slider"}]}, now=now)
        assert exc.value.code == "form.definition_invalid" and "fields[0].type" in exc.value.fields

    def test_only_designers_edit_forms(self, session, rep, now):
        with pytest.raises(GendanError) as exc:
            service.save_draft(session, actor=rep, key="order", definition=order_form(), now=now)
        assert exc.value.code == "auth.forbidden"


class TestPublish:
    def test_publish_then_edit_makes_a_new_draft_version(self, session, designer, now):
        v1 = publish(session, designer, order_form(), now)
        assert (v1.version, v1.status) == (1, "published")
        v2 = service.save_draft(session, actor=designer, key="order", definition=order_form(), now=now)
        assert v2.version == 2
        service.publish_form(session, actor=designer, key="order", now=now)
        statuses = {v.version: v.status for v in service.list_versions(session, actor=designer, key="order")}
        assert statuses == {1: "retired", 2: "published"}
        assert service.get_published(session).version == 2

    def test_invalid_draft_is_refused_with_every_issue_and_nothing_published(self, session, designer, now):
        bad = order_form()
        bad["fields"][1]["key"] = "planned_delivery"
        bad["fields"].append({"key": "status", "type": "single_select", "label": {"en": "Status"}})
        bad["fields"].append({"key": "c", "type": "computed", "label": {"en": "C"}, "expression": {"nope": []}})
        service.save_draft(session, actor=designer, key="order", definition=bad, now=now)
        with pytest.raises(GendanError) as exc:
            service.publish_form(session, actor=designer, key="order", now=now)
        assert exc.value.status == 422
        assert set(exc.value.fields) == {"fields[1].key", "fields[4].options", "fields[5].expression.nope"}
        assert service.get_published(session) is None

    def test_incompatible_change_is_refused_with_the_number_of_orders(self, session, designer, rep, now):
        publish(session, designer, order_form(), now)
        customer = make_customer(session)
        for day in ("2026-12-01", "2026-12-02"):
            orders_service.create_order(session, actor=rep, now=now, payload=OrderCreate(
                customer_id=customer.id, amount="1", data={"planned_delivery": day}))
        changed = with_field(order_form(), "planned_delivery", type="number")
        service.save_draft(session, actor=designer, key="order", definition=changed, now=now)
        with pytest.raises(GendanError) as exc:
            service.publish_form(session, actor=designer, key="order", now=now)
        assert (exc.value.code, exc.value.status, exc.value.params) == (
            "form.incompatible_change", 409, {"fields": "planned_delivery", "orders": 2})
        assert service.get_published(session).version == 1

    def test_incompatible_change_without_affected_orders_publishes(self, session, designer, now):
        publish(session, designer, order_form(), now)
        changed = with_field(order_form(), "po_number", type="number")
        assert publish(session, designer, changed, now).version == 2

    def test_no_draft(self, session, designer, now):
        with pytest.raises(GendanError) as exc:
            service.publish_form(session, actor=designer, key="order", now=now)
        assert exc.value.code == "form.no_draft"

    def test_diff_between_versions(self, session, designer, now):
        publish(session, designer, order_form(), now)
        v2 = order_form()
        v2["fields"] = [f for f in v2["fields"] if f["key"] != "po_number"]
        v2["fields"].append({"key": "incoterm", "type": "text", "label": {"en": "Incoterm"}})
        publish(session, designer, v2, now)
        diff = service.diff_versions(session, actor=designer, key="order", old=1, new=2)
        assert (diff.archived, diff.added, diff.incompatible) == (["po_number"], ["incoterm"], [])


class TestExportImport:
    def test_round_trip(self, session, designer, now):
        publish(session, designer, order_form(), now)
        document = service.export_form(session, actor=designer, key="order", version=1)
        imported = service.import_form(session, actor=designer, document=document, now=now)
        assert (imported.key, imported.version, imported.status) == ("order", 2, "draft")
        assert imported.definition["fields"] == document["fields"]

    def test_invalid_import_is_refused_whole(self, session, designer, now):
        with pytest.raises(GendanError) as exc:
            service.import_form(session, actor=designer, document=raw("bad"), now=now)
        assert len(exc.value.fields) >= 10
        assert service.list_versions(session, actor=designer, key="bad") == []

    def test_import_from_v1_json_text(self, session, designer, now):
        import json

        imported = service.import_form(session, actor=designer, document=json.dumps(raw("legacy_v1")), now=now)
        assert imported.definition["schema_version"] == 2
        assert imported.definition["fields"][1]["type"] == "single_select"


class TestOrdersValidatedByTheirForm:
    def test_new_order_is_pinned_to_the_published_version_and_computed_on_the_server(
            self, session, designer, rep, now):
        publish(session, designer, order_form(), now)
        customer = make_customer(session)
        order, _ = orders_service.create_order(session, actor=rep, now=now, payload=OrderCreate(
            customer_id=customer.id, amount="1", data={
                "planned_delivery": "2026-12-01", "total": 999999,
                "items": [{"product": "Bolt", "qty": "3", "price": "19.99"}, {"qty": 2, "price": 0.5}]}))
        assert (order.form_key, order.form_version) == ("order", 1)
        assert order.data["total"] == 60.97
        assert [r["amount"] for r in order.data["items"]] == [59.97, 1]

    def test_every_error_comes_back_per_field(self, session, designer, rep, now):
        publish(session, designer, order_form(), now)
        customer = make_customer(session)
        with pytest.raises(GendanError) as exc:
            orders_service.create_order(session, actor=rep, now=now, payload=OrderCreate(
                customer_id=customer.id, amount="1", data={"items": [{"qty": "many"}], "colour": "red"}))
        assert exc.value.code == "form.validation_failed" and exc.value.status == 422
        assert {p: c for p, (c, _) in exc.value.fields.items()} == {
            "colour": "form.unknown_field", "items[0].qty": "form.number_invalid",
            "planned_delivery": "form.required"}
        assert session.exec(Order.__table__.select()).first() is None

    def test_unique_field_across_orders(self, session, designer, rep, now):
        publish(session, designer, order_form(), now)
        customer = make_customer(session)
        data = {"planned_delivery": "2026-12-01", "po_number": "PO-7"}
        first, _ = orders_service.create_order(session, actor=rep, now=now,
                                               payload=OrderCreate(customer_id=customer.id, amount="1", data=data))
        with pytest.raises(GendanError) as exc:
            orders_service.create_order(session, actor=rep, now=now,
                                        payload=OrderCreate(customer_id=customer.id, amount="1", data=data))
        assert exc.value.fields == {"po_number": ("form.value_taken", {"field": "po_number", "number": first.number})}

    def test_update_validates_with_the_version_the_order_was_created_with(self, session, designer, rep, now):
        publish(session, designer, order_form(), now)
        customer = make_customer(session)
        order, _ = orders_service.create_order(session, actor=rep, now=now, payload=OrderCreate(
            customer_id=customer.id, amount="1", data={"planned_delivery": "2026-12-01"}))
        v2 = order_form()
        v2["fields"].append({"key": "incoterm", "type": "text", "required": True, "label": {"en": "Incoterm"}})
        publish(session, designer, v2, now)
        updated = orders_service.update_order(session, actor=rep, order_id=order.id, now=now, payload=OrderUpdate(
            version=order.version, data={"items": [{"qty": 2, "price": 3}]}))
        assert (updated.form_version, updated.data["total"]) == (1, 6)  # v2's required incoterm not asked
        with pytest.raises(GendanError) as exc:
            orders_service.update_order(session, actor=rep, order_id=order.id, now=now, payload=OrderUpdate(
                version=updated.version, data={"planned_delivery": "soon"}))
        assert list(exc.value.fields) == ["planned_delivery"]

    def test_without_a_published_form_data_is_kept_as_sent(self, session, rep, now):
        customer = make_customer(session)
        order, _ = orders_service.create_order(session, actor=rep, now=now, payload=OrderCreate(
            customer_id=customer.id, amount="1", data={"anything": 1}))
        assert order.form_key is None and order.data == {"anything": 1}

    def test_affected_orders_are_counted_from_stored_data(self, session, designer, rep, now):
        publish(session, designer, order_form(), now)
        owner = make_user(session)
        make_order(session, owner=owner, form_key="order", form_version=1, data={"items": [{"qty": 1}]})
        make_order(session, owner=owner, form_key="order", form_version=1, data={"items": []})
        make_order(session, owner=owner, form_key="other", form_version=1, data={"items": [{"qty": 1}]})
        from engine.forms import compatibility, parse_definition

        new = order_form()
        new["fields"][2]["columns"][1]["type"] = "text"
        compat = compatibility(parse_definition(order_form()), parse_definition(new))
        assert service.count_affected_orders(session, "order", compat) == 1


class TestUniqueLookup:
    @pytest.mark.parametrize(("field_type", "first", "clash", "other"),
                             [("text", "PO-7", "PO-7", "PO-8"), ("number", 42, "42", 43)])
    def test_unique_values_by_type(self, session, designer, rep, now, field_type, first, clash, other):
        definition = order_form()
        definition["fields"][1] = {"key": "ref", "type": field_type, "unique": True, "label": {"en": "Ref"}}
        publish(session, designer, definition, now)
        customer = make_customer(session)

        def create(value):
            return orders_service.create_order(session, actor=rep, now=now, payload=OrderCreate(
                customer_id=customer.id, amount="1", data={"planned_delivery": "2026-12-01", "ref": value}))[0]

        made = create(first)
        create(other)
        with pytest.raises(GendanError) as exc:
            create(clash)
        assert exc.value.fields["ref"] == ("form.value_taken", {"field": "ref", "number": made.number})
        # updating the order itself keeps its own value
        orders_service.update_order(session, actor=rep, order_id=made.id, now=now,
                                    payload=OrderUpdate(version=made.version, data={"ref": first, "items": []}))


class TestFieldsShownByStage:
    """Issue 17: the shipped form's later-stage fields are hidden on a new order, not required
    while hidden, and never wiped by a change made while they are hidden."""

    def demo_form(self):
        from backend.demo_designs import DEMO_FORM

        return DEMO_FORM

    def test_the_shipped_form_publishes_with_payment_due_and_stage_gates(self, session, designer, now):
        from engine.forms import parse_definition

        publish(session, designer, self.demo_form(), now)
        defn = parse_definition(self.demo_form())
        assert defn.field("payment_due").type.value == "date" and defn.field("payment_due").visible_if is None
        assert defn.field("carrier").visible_if == service.shown_from_stage("shipping")

    def test_a_new_order_does_not_hold_later_fields_and_keeps_them_later(self, session, designer, rep, now):
        form = {**self.demo_form(), "fields": [
            {**f, "required": True} if f["key"] == "carrier" else f for f in self.demo_form()["fields"]]}
        publish(session, designer, form, now)
        customer = make_customer(session)
        base = {"product": "FRM-bolt", "quantity": 2, "unit_price": 5}
        order, _ = orders_service.create_order(session, actor=rep, now=now, payload=OrderCreate(
            customer_id=customer.id, amount="10", data=base))  # carrier required, but not at draft
        assert order.stage == "draft" and "carrier" not in order.data
        session.execute(Order.__table__.update().where(Order.id == order.id).values(stage="shipping"))
        session.expire_all()
        with pytest.raises(GendanError) as exc:  # at shipping the carrier is asked for
            orders_service.update_order(session, actor=rep, order_id=order.id, now=now, payload=OrderUpdate(
                version=session.get(Order, order.id).version, data={**base, "quantity": 3}))
        assert list(exc.value.fields) == ["carrier"]
        orders_service.update_order(session, actor=rep, order_id=order.id, now=now, payload=OrderUpdate(
            version=session.get(Order, order.id).version, data={**base, "carrier": "FRM-SF"}))
        session.execute(Order.__table__.update().where(Order.id == order.id).values(stage="production"))
        session.expire_all()
        back = orders_service.update_order(session, actor=rep, order_id=order.id, now=now, payload=OrderUpdate(
            version=session.get(Order, order.id).version, data={"quantity": 4}))
        assert (back.data["carrier"], back.data["amount"]) == ("FRM-SF", 20)  # hidden again, not wiped
