"""BPMN 2.0 XML export and import, for the node types that map (pure, xml.etree).

| Gendan          | BPMN                                                   |
|-----------------|--------------------------------------------------------|
| start / end     | startEvent / endEvent (a cancelled end: terminate)     |
| approval / task | userTask (`gendan:type` says which)                    |
| exclusive       | exclusiveGateway, `default` names the default flow     |
| parallel split / join | parallelGateway (Diverging / Converging)         |
| notify          | sendTask                                               |
| wait            | intermediateCatchEvent with a timerEventDefinition     |
| auto            | serviceTask                                            |
| edge            | sequenceFlow; a condition is a tFormalExpression whose |
|                 | language is `application/json+jsonlogic`               |

Gendan settings that BPMN has no words for (approvers, mode, time limits, field permissions)
travel in `extensionElements/gendan:config` as JSON, so export → import gives back the same
definition; other tools keep but ignore them. Positions go to BPMNDI shapes. Import refuses
elements we cannot run (sub-processes, boundary events, …), naming them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from pydantic import ValidationError

from engine.flows.definition import FlowDefinition, load_definition
from engine.flows.errors import FlowDefinitionError, FlowIssue

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
GENDAN = "https://gendan.dev/schema/bpmn/1"
JSONLOGIC = "application/json+jsonlogic"
MAX_XML_BYTES = 2_000_000

for _prefix, _uri in (
    ("bpmn", BPMN),
    ("bpmndi", BPMNDI),
    ("dc", DC),
    ("di", DI),
    ("xsi", XSI),
    ("gendan", GENDAN),
):
    ET.register_namespace(_prefix, _uri)

_TAG_OF_TYPE = {
    "start": "startEvent",
    "end": "endEvent",
    "approval": "userTask",
    "task": "userTask",
    "exclusive": "exclusiveGateway",
    "parallel_split": "parallelGateway",
    "parallel_join": "parallelGateway",
    "notify": "sendTask",
    "wait": "intermediateCatchEvent",
    "auto": "serviceTask",
}
_BASE_FIELDS = {"key", "type", "name", "x", "y"}
_SIZE = {
    "start": (36, 36),
    "end": (36, 36),
    "exclusive": (50, 50),
    "parallel_split": (50, 50),
    "parallel_join": (50, 50),
    "wait": (36, 36),
}


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _label(name: dict[str, str], fallback: str) -> str:
    return name.get("zh-CN") or name.get("en") or fallback


def to_bpmn(defn: FlowDefinition) -> str:
    """The definition as a BPMN 2.0 XML document (UTF-8 string)."""
    root = ET.Element(
        _q(BPMN, "definitions"),
        {
            "id": f"defs_{defn.key}",
            "targetNamespace": GENDAN,
            "exporter": "Gendan",
            "exporterVersion": str(defn.schema_version),
        },
    )
    process = ET.SubElement(
        root,
        _q(BPMN, "process"),
        {"id": defn.key, "name": _label(defn.name, defn.key), "isExecutable": "true"},
    )
    _config(
        process,
        {
            "version": defn.version,
            "name": defn.name,
            "description": defn.description,
            "calendar": defn.calendar.model_dump(mode="json"),
        },
    )
    for node in defn.nodes:
        attrs = {"id": node.key, "name": _label(node.name, node.key)}
        if node.type in ("parallel_split", "parallel_join"):
            attrs["gatewayDirection"] = "Diverging" if node.type == "parallel_split" else "Converging"
        if node.type == "exclusive":
            default = next((e.key for e in defn.outgoing(node.key) if e.is_default), None)
            if default:
                attrs["default"] = default
        element = ET.SubElement(process, _q(BPMN, _TAG_OF_TYPE[node.type]), attrs)
        data = node.model_dump(mode="json", exclude=_BASE_FIELDS)
        _config(element, {"type": node.type, "name": node.name, **data})
        for edge in defn.incoming(node.key):
            ET.SubElement(element, _q(BPMN, "incoming")).text = edge.key
        for edge in defn.outgoing(node.key):
            ET.SubElement(element, _q(BPMN, "outgoing")).text = edge.key
        if node.type == "end" and node.status == "cancelled":
            ET.SubElement(element, _q(BPMN, "terminateEventDefinition"))
        if node.type == "wait":
            timer = ET.SubElement(element, _q(BPMN, "timerEventDefinition"))
            if node.hours:
                duration = ET.SubElement(
                    timer, _q(BPMN, "timeDuration"), {_q(XSI, "type"): "bpmn:tFormalExpression"}
                )
                duration.text = f"PT{node.hours:g}H"
            else:
                when = ET.SubElement(timer, _q(BPMN, "timeDate"), {_q(XSI, "type"): "bpmn:tFormalExpression"})
                when.text = f"${{{node.until_field}}}"
    for edge in defn.edges:
        flow = ET.SubElement(
            process,
            _q(BPMN, "sequenceFlow"),
            {"id": edge.key, "sourceRef": edge.source, "targetRef": edge.target},
        )
        if edge.name:
            flow.set("name", _label(edge.name, edge.key))
            _config(flow, {"name": edge.name})
        if edge.condition is not None and not edge.is_default:
            cond = ET.SubElement(
                flow,
                _q(BPMN, "conditionExpression"),
                {_q(XSI, "type"): "bpmn:tFormalExpression", "language": JSONLOGIC},
            )
            cond.text = json.dumps(edge.condition, ensure_ascii=False)
    diagram = ET.SubElement(root, _q(BPMNDI, "BPMNDiagram"), {"id": f"diagram_{defn.key}"})
    plane = ET.SubElement(
        diagram, _q(BPMNDI, "BPMNPlane"), {"id": f"plane_{defn.key}", "bpmnElement": defn.key}
    )
    centre: dict[str, tuple[float, float]] = {}
    for node in defn.nodes:
        width, height = _SIZE.get(node.type, (100, 80))
        centre[node.key] = (node.x, node.y)
        shape = ET.SubElement(
            plane, _q(BPMNDI, "BPMNShape"), {"id": f"{node.key}_di", "bpmnElement": node.key}
        )
        ET.SubElement(
            shape,
            _q(DC, "Bounds"),
            {
                "x": f"{node.x - width / 2:g}",
                "y": f"{node.y - height / 2:g}",
                "width": str(width),
                "height": str(height),
            },
        )
    for edge in defn.edges:
        shape = ET.SubElement(
            plane, _q(BPMNDI, "BPMNEdge"), {"id": f"{edge.key}_di", "bpmnElement": edge.key}
        )
        for end in (edge.source, edge.target):
            x, y = centre.get(end, (0, 0))
            ET.SubElement(shape, _q(DI, "waypoint"), {"x": f"{x:g}", "y": f"{y:g}"})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _config(element: ET.Element, data: dict[str, Any]) -> None:
    ext = ET.SubElement(element, _q(BPMN, "extensionElements"))
    ET.SubElement(ext, _q(GENDAN, "config")).text = json.dumps(data, ensure_ascii=False, sort_keys=True)


def _read_config(element: ET.Element) -> dict[str, Any]:
    node = element.find(f"{_q(BPMN, 'extensionElements')}/{_q(GENDAN, 'config')}")
    if node is None or not (node.text or "").strip():
        return {}
    try:
        data = json.loads(node.text)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


_SUPPORTED = {
    "startEvent",
    "endEvent",
    "userTask",
    "task",
    "manualTask",
    "exclusiveGateway",
    "parallelGateway",
    "sendTask",
    "intermediateCatchEvent",
    "serviceTask",
    "scriptTask",
    "sequenceFlow",
    "extensionElements",
    "documentation",
    "laneSet",
}


def from_bpmn(xml: str | bytes, *, key: str | None = None) -> FlowDefinition:
    """Parse BPMN 2.0 XML into a definition; `FlowDefinitionError` names what does not map.

    The result is not validated as a graph: call `validate` before publishing it.
    """
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    if len(raw) > MAX_XML_BYTES:
        raise FlowDefinitionError([FlowIssue("", "flow.bpmn_too_large", (), {"max_bytes": MAX_XML_BYTES})])
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        # entity expansion is the classic XML bomb; BPMN never needs a DTD
        raise FlowDefinitionError([FlowIssue("", "flow.bpmn_invalid", (), {"detail": "doctype"})])
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise FlowDefinitionError([FlowIssue("", "flow.bpmn_invalid", (), {"detail": str(exc)})]) from exc
    process = root.find(_q(BPMN, "process"))
    if root.tag != _q(BPMN, "definitions") or process is None:
        raise FlowDefinitionError([FlowIssue("", "flow.bpmn_invalid", (), {"detail": "no bpmn:process"})])
    positions = _positions(root)
    meta = _read_config(process)
    issues: list[FlowIssue] = []
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    defaults: set[str] = set()
    for element in process:
        tag = element.tag.split("}", 1)[-1]
        ident = element.get("id", "")
        if tag not in _SUPPORTED or element.tag.split("}", 1)[0].strip("{") != BPMN:
            issues.append(
                FlowIssue("process", "flow.bpmn_unsupported", (ident,) if ident else (), {"element": tag})
            )
            continue
        if tag in ("extensionElements", "documentation", "laneSet"):
            continue
        if tag == "sequenceFlow":
            edges.append(_edge(element))
            continue
        node = _node(element, tag)
        if node is None:
            issues.append(FlowIssue("process", "flow.bpmn_unsupported", (ident,), {"element": tag}))
            continue
        if element.get("default"):
            defaults.add(element.get("default"))
        node["x"], node["y"] = positions.get(ident, (0, 0))
        nodes.append(node)
    for edge in edges:
        if edge["key"] in defaults:
            edge["is_default"] = True
            edge["condition"] = None
    if issues:
        raise FlowDefinitionError(issues)
    data = {
        "key": key or process.get("id") or "imported",
        "version": meta.get("version", 1),
        "name": meta["name"]
        if "name" in meta
        else ({"zh-CN": process.get("name")} if process.get("name") else {}),
        "description": meta.get("description", {}),
        "nodes": nodes,
        "edges": edges,
    }
    if "calendar" in meta:
        data["calendar"] = meta["calendar"]
    try:
        return load_definition(data)
    except ValidationError as exc:
        raise FlowDefinitionError(
            [
                FlowIssue(".".join(map(str, e["loc"])), "flow.schema_invalid", (), {"msg": e["msg"]})
                for e in exc.errors()
            ]
        ) from exc


def _node(element: ET.Element, tag: str) -> dict[str, Any] | None:
    ident = element.get("id")
    config = _read_config(element)
    if "name" in config:
        name = config.pop("name") or {}
    else:
        name = {"zh-CN": element.get("name")} if element.get("name") else {}
    gendan_type = config.pop("type", None)
    if tag == "startEvent":
        kind = "start"
    elif tag == "endEvent":
        kind = "end"
        if element.find(_q(BPMN, "terminateEventDefinition")) is not None and "status" not in config:
            config["status"] = "cancelled"
    elif tag in ("userTask", "task", "manualTask"):
        kind = gendan_type if gendan_type in ("approval", "task") else "task"
    elif tag == "exclusiveGateway":
        kind = "exclusive"
    elif tag == "parallelGateway":
        direction = element.get("gatewayDirection")
        if gendan_type in ("parallel_split", "parallel_join"):
            kind = gendan_type
        elif direction == "Converging" or len(element.findall(_q(BPMN, "incoming"))) > 1:
            kind = "parallel_join"
        else:
            kind = "parallel_split"
    elif tag == "sendTask":
        kind = "notify"
    elif tag == "intermediateCatchEvent":
        timer = element.find(_q(BPMN, "timerEventDefinition"))
        if timer is None:
            return None
        kind = "wait"
        if not config:
            config = _timer_config(timer)
    elif tag in ("serviceTask", "scriptTask"):
        kind = "auto"
    else:
        return None
    return {"key": ident, "type": kind, "name": name, **config}


def _timer_config(timer: ET.Element) -> dict[str, Any]:
    duration = timer.find(_q(BPMN, "timeDuration"))
    if duration is not None and duration.text:
        text = duration.text.strip().upper()
        if text.startswith("PT") and text.endswith("H"):
            try:
                return {"hours": float(text[2:-1]), "unit": "calendar_hours"}
            except ValueError:
                return {}
    when = timer.find(_q(BPMN, "timeDate"))
    if when is not None and when.text and when.text.strip().startswith("${"):
        return {"until_field": when.text.strip()[2:-1]}
    return {}


def _edge(element: ET.Element) -> dict[str, Any]:
    config = _read_config(element)
    edge: dict[str, Any] = {
        "key": element.get("id"),
        "source": element.get("sourceRef"),
        "target": element.get("targetRef"),
        "name": config["name"]
        if "name" in config
        else ({"zh-CN": element.get("name")} if element.get("name") else {}),
    }
    cond = element.find(_q(BPMN, "conditionExpression"))
    if cond is not None and (cond.text or "").strip():
        try:
            edge["condition"] = json.loads(cond.text)
        except json.JSONDecodeError:
            # not JSON-logic (e.g. a JUEL expression from another tool): kept as text so
            # validation names the branch instead of silently dropping the condition
            edge["condition"] = cond.text.strip()
    return edge


def _positions(root: ET.Element) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for shape in root.iter(_q(BPMNDI, "BPMNShape")):
        bounds = shape.find(_q(DC, "Bounds"))
        if bounds is None:
            continue
        try:
            x = float(bounds.get("x", 0)) + float(bounds.get("width", 0)) / 2
            y = float(bounds.get("y", 0)) + float(bounds.get("height", 0)) / 2
        except ValueError:
            continue
        out[shape.get("bpmnElement", "")] = (x, y)
    return out
