"""Saving the connector form keeps every part of the mapping the form does not edit: what the
mapping editor added (transforms, line columns, data types, defaults, history) survives a save of
the form, even of a form page opened before the editor saved; the form's own parts (columns, stage
map, source, ...) are what it sent. One merge (backend/connectors/mapping.py merge_form_mapping),
nothing of the mapping carried hidden through the page. SQLite and PostgreSQL."""

from __future__ import annotations

from backend.connectors.mapping import FORM_PARTS, merge_form_mapping
from tests.backend.connectors.test_pages import _admin, _form
from tests.backend.connectors.test_runner import payload
from tests.backend.connectors.vendors.test_template_pages import _fields

EDITOR_PARTS = {
    "transforms": {"amount": [{"op": "scale", "mode": "multiply", "by": "2"}],
                   "currency": [{"op": "constant", "value": "USD"}],
                   "stage": [{"op": "map", "values": {"已签约": "approval"}, "default": "draft"}]},
    "line_columns": {"lines": {"sku": "code", "quantity": "qty"}},
    "data_types": {"weight": "number"},
    "defaults": {"currency": "CNY"},
    "history": [{"stage": "approval", "column": "no"}],  # a path the form maps too
}


def test_saving_a_stale_form_keeps_what_the_mapping_editor_added(session, client, source):
    _admin(session, client)
    url = source.url + "/orders/link?page=1"
    cid = client.post("/api/v1/connectors", json=payload(url, name="merge shop").model_dump(mode="json")).json()["id"]
    stale = _fields(client.get(f"/admin/connectors/{cid}/edit").text)  # opened before the editor saves
    assert "mapping_extra" not in stale and "transforms" not in stale
    current = client.get(f"/api/v1/connectors/{cid}").json()["mapping"]
    edited = {**current, "columns": {**current["columns"], "data.weight": "total"}, **EDITOR_PARTS}
    saved = client.put(f"/api/v1/connectors/{cid}/mapping", json={"mapping": edited})
    assert saved.status_code == 200, saved.text
    # the form: a new schedule, the stage no longer mapped, another source name
    form = {**_form(url, name="merge shop", schedule_minutes="15", source="mergeshop", secret_header_value=""),
            **{k: v for k, v in stale.items() if k == "csrf_token"}}
    form = {k: v for k, v in form.items() if not (k.startswith("map_") and form.get(k) in ("status", "stage"))}
    posted = client.post(f"/admin/connectors/{cid}", data=form, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    after = client.get(f"/api/v1/connectors/{cid}").json()
    mapping = after["mapping"]
    assert after["schedule_minutes"] == 15 and mapping["source"] == "mergeshop"
    assert "stage" not in mapping["columns"] and "data.weight" not in mapping["columns"]  # the form's columns
    for part in ("line_columns", "data_types", "defaults", "history"):
        assert mapping[part] == EDITOR_PARTS[part], part
    # the transform of the field the form stopped mapping goes; the constant (maps no path) stays
    assert mapping["transforms"] == {k: v for k, v in EDITOR_PARTS["transforms"].items() if k != "stage"}
    # saving the form again changes nothing more
    again = client.post(f"/admin/connectors/{cid}", data=form, follow_redirects=False)
    assert again.status_code == 303 and client.get(f"/api/v1/connectors/{cid}").json()["mapping"] == mapping


def test_the_merge_takes_the_forms_parts_and_keeps_the_rest():
    base = {"columns": {"amount": "total", "stage": "status"}, "source": "old", "stage_map": {"a": "draft"},
            **EDITOR_PARTS}
    sent = {"columns": {"amount": "sum"}, "source": "new", "stage_map": {}, "status_map": {},
            "create_customers": True, "timezone": ""}
    merged = merge_form_mapping(base, sent)
    assert {k: merged[k] for k in FORM_PARTS} == sent
    assert {k: merged[k] for k in ("line_columns", "data_types", "defaults", "history")} == {
        k: EDITOR_PARTS[k] for k in ("line_columns", "data_types", "defaults", "history")}
    assert set(merged["transforms"]) == {"amount", "currency"}
    assert merge_form_mapping({}, sent) == sent  # a new connector without a template
