"""BPMN 2.0 XML export and import."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from flowkit import load

from engine.flows import FlowDefinitionError, validate
from engine.flows.bpmn import BPMN, from_bpmn, to_bpmn

NS = {"bpmn": BPMN}


@pytest.mark.parametrize("name", ["b2b_fulfilment", "parallel", "automatic", "rework_loop"])
def test_export_then_import_gives_the_same_definition(name):
    defn = load(name)
    assert from_bpmn(to_bpmn(defn)) == defn


def test_export_uses_standard_elements():
    root = ET.fromstring(to_bpmn(load("b2b_fulfilment")))
    process = root.find("bpmn:process", NS)
    assert process.get("id") == "b2b_fulfilment"
    assert len(process.findall("bpmn:userTask", NS)) == 9
    gateway = process.find("bpmn:exclusiveGateway", NS)
    assert gateway.get("default") == "e_small"
    big = process.find("bpmn:sequenceFlow[@id='e_big']/bpmn:conditionExpression", NS)
    assert big.get("language") == "application/json+jsonlogic" and '">="' in big.text
    shapes = root.findall(".//{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape")
    assert len(shapes) == 12


def test_parallel_gateways_and_timer():
    root = ET.fromstring(to_bpmn(load("parallel")))
    directions = sorted(g.get("gatewayDirection") for g in root.iter(f"{{{BPMN}}}parallelGateway"))
    assert directions == ["Converging", "Diverging"]
    root = ET.fromstring(to_bpmn(load("automatic")))
    durations = [d.text for d in root.iter(f"{{{BPMN}}}timeDuration")]
    assert durations == ["PT4H"]


FOREIGN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  id="d1" targetNamespace="x">
  <process id="order_check" name="Order check">
    <startEvent id="s"/>
    <userTask id="review" name="Review"/>
    <exclusiveGateway id="g" default="f_no"/>
    <parallelGateway id="p1"/>
    <serviceTask id="notify_erp" name="ERP"/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <sequenceFlow id="f2" sourceRef="review" targetRef="g"/>
    <sequenceFlow id="f_yes" sourceRef="g" targetRef="e">
      <conditionExpression>{"&gt;": [{"var": "amount"}, 10]}</conditionExpression>
    </sequenceFlow>
    <sequenceFlow id="f_no" sourceRef="g" targetRef="e"/>
  </process>
  <bpmndi:BPMNDiagram><bpmndi:BPMNPlane bpmnElement="order_check">
    <bpmndi:BPMNShape bpmnElement="review"><dc:Bounds x="100" y="60" width="100" height="80"/></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</definitions>"""


def test_import_from_another_tool():
    defn = from_bpmn(FOREIGN)
    assert defn.key == "order_check"
    review = defn.node("review")
    assert review.type == "task" and review.name == {"zh-CN": "Review"} and (review.x, review.y) == (150, 100)
    assert defn.node("notify_erp").type == "auto"
    edges = {e.key: e for e in defn.edges}
    assert edges["f_no"].is_default and edges["f_yes"].condition == {">": [{"var": "amount"}, 10]}
    # imported, but not publishable as is: the designer shows what to fill in
    codes = {(i.code, i.nodes) for i in validate(defn)}
    assert ("flow.approver_missing", ("review",)) in codes
    assert ("flow.auto_step_empty", ("notify_erp",)) in codes


def test_import_refuses_what_does_not_map():
    xml = FOREIGN.replace(
        '<endEvent id="e"/>', '<endEvent id="e"/><subProcess id="sub"/><boundaryEvent id="b"/>'
    )
    with pytest.raises(FlowDefinitionError) as err:
        from_bpmn(xml)
    assert [(i.code, i.nodes, i.params["element"]) for i in err.value.issues] == [
        ("flow.bpmn_unsupported", ("sub",), "subProcess"),
        ("flow.bpmn_unsupported", ("b",), "boundaryEvent"),
    ]


def test_non_jsonlogic_condition_is_kept_for_validation_to_name():
    xml = FOREIGN.replace('{"&gt;": [{"var": "amount"}, 10]}', "${amount &gt; 10}")
    defn = from_bpmn(xml)
    issues = [i for i in validate(defn) if i.code == "flow.condition_invalid"]
    assert [i.nodes for i in issues] == [("g",)]


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        ("<not-xml", "flow.bpmn_invalid"),
        ("<definitions/>", "flow.bpmn_invalid"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "flow.bpmn_invalid"),
        ("<x>" + "a" * 2_000_001 + "</x>", "flow.bpmn_too_large"),
    ],
)
def test_bad_xml_refused(xml, code):
    with pytest.raises(FlowDefinitionError) as err:
        from_bpmn(xml)
    assert err.value.issues[0].code == code
