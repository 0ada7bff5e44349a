/* Flow designer: a LogicFlow canvas that edits the engine's FlowDefinition JSON.
 *
 * The canvas holds nodes (id = node key) whose `properties` carry the node's settings, and
 * polyline edges whose `properties` carry condition / is_default. `toDefinition()` turns the
 * graph back into the engine's JSON; everything else (validation, publishing, simulation,
 * BPMN) goes through /api/v1/flows, so the browser never decides what is valid.
 */
import { ApiError, api, showError, toast } from "../shared/api.js";

const root = document.getElementById("flow-designer");
const Core = window.Core;  // LogicFlow's UMD build, loaded by the page before this module
const KEY = root.dataset.flowKey;
const T = JSON.parse(document.getElementById("fd-i18n").textContent);
const PARTIES = JSON.parse((document.getElementById("fd-parties") || { textContent: "[]" }).textContent || "[]");
// the order form's fields that can name a step's company per order (external.party_field)
const PARTY_FIELDS = JSON.parse((document.getElementById("fd-party-fields") || { textContent: "[]" }).textContent || "[]");
const initial = JSON.parse(document.getElementById("fd-definition").textContent);
const PEOPLE = { approval: 1, task: 1 };
const SIZES = {
  start: [40, 40], end: [40, 40], wait: [44, 44], exclusive: [56, 56], parallel_split: [56, 56],
  parallel_join: [56, 56], approval: [130, 56], task: [130, 56], notify: [120, 50], auto: [120, 50],
};
const FILL = { approval: "#eef4ff", task: "#fff7e6", notify: "#f3f0ff", auto: "#eefbf3", start: "#e8f7ee", end: "#fdecec" };

// -- node and edge types -------------------------------------------------------------------
function styled(base) {
  return function (model) {
    let style = Object.assign({}, base.call(model));
    let p = model.properties || {};
    style.fill = FILL[model.type] || "#ffffff";
    style.stroke = "#4a5568";
    if (p._sim) { style.fill = "#d9f2e3"; style.stroke = "#1b7f4b"; style.strokeWidth = 2; }
    if (p._error) { style.stroke = "#c0262d"; style.strokeWidth = 3; style.strokeDasharray = "5 3"; }
    return style;
  };
}
function sizeProps(type, Model) {
  let s = SIZES[type];
  if (Model === Core.CircleNodeModel) return { r: s[0] / 2 };
  if (Model === Core.DiamondNodeModel) return { rx: s[0] / 2, ry: s[1] / 2 };
  return { width: s[0], height: s[1] };
}
function register(type, View, Model, radius) {
  // sizes go in through properties, which LogicFlow's own setAttributes reads (r / rx, ry /
  // width, height); they are stripped again by clean() on export
  class M extends Model {
    initNodeData(data) {
      data.properties = Object.assign(sizeProps(type, Model), data.properties || {});
      super.initNodeData(data);
    }
    setAttributes() {
      super.setAttributes();
      if (radius !== undefined) this.radius = radius;
    }
    getNodeStyle() { return styled(super.getNodeStyle)(this); }
  }
  class V extends View {}
  lf.register({ type: type, view: V, model: M });
}

let container = document.getElementById("fd-canvas");
let lf = new Core.LogicFlow({
  container: container, grid: { size: 10, visible: true, type: "dot" }, keyboard: { enabled: true },
  edgeType: "polyline", stopScrollGraph: false, stopZoomGraph: false, adjustEdgeStartAndEnd: true,
  idGenerator: function (type) { return (type || "n").replace(/[^A-Za-z0-9_]/g, "_") + "_" + Math.random().toString(36).slice(2, 7); },
});
register("start", Core.CircleNode, Core.CircleNodeModel);
register("end", Core.CircleNode, Core.CircleNodeModel);
register("wait", Core.CircleNode, Core.CircleNodeModel);
register("approval", Core.RectNode, Core.RectNodeModel, 8);
register("task", Core.RectNode, Core.RectNodeModel, 2);
register("notify", Core.RectNode, Core.RectNodeModel, 20);
register("auto", Core.RectNode, Core.RectNodeModel, 0);
register("exclusive", Core.DiamondNode, Core.DiamondNodeModel);
register("parallel_split", Core.DiamondNode, Core.DiamondNodeModel);
register("parallel_join", Core.DiamondNode, Core.DiamondNodeModel);

// -- definition <-> graph ------------------------------------------------------------------
function label(name, fallback) {
  name = name || {};
  let zh = document.documentElement.lang === "zh-CN";
  return (zh ? name["zh-CN"] || name.en : name.en || name["zh-CN"]) || fallback || "";
}
let meta = { name: initial.name || {}, description: initial.description || {}, calendar: initial.calendar };

function toGraph(defn) {
  let nodes = (defn.nodes || []).map(function (n) {
    let props = {};
    Object.keys(n).forEach(function (k) { if (["key", "type", "x", "y"].indexOf(k) < 0) props[k] = n[k]; });
    return { id: n.key, type: n.type, x: n.x || 0, y: n.y || 0, text: label(n.name, ""), properties: props };
  });
  let edges = (defn.edges || []).map(function (e) {
    return {
      id: e.key, type: "polyline", sourceNodeId: e.source, targetNodeId: e.target, text: label(e.name, ""),
      properties: { name: e.name || {}, condition: e.condition === undefined ? null : e.condition, is_default: !!e.is_default },
    };
  });
  return { nodes: nodes, edges: edges };
}

function textOf(item) { return item.text && typeof item.text === "object" ? item.text.value || "" : item.text || ""; }
function localized(old, text) {
  let out = Object.assign({}, old || {});
  let lang = document.documentElement.lang === "zh-CN" ? "zh-CN" : "en";
  if (text) out[lang] = text; else delete out[lang];
  return out;
}
let CANVAS_ONLY = { width: 1, height: 1, r: 1, rx: 1, ry: 1, style: 1 };
function clean(props) {
  let out = {};
  Object.keys(props || {}).forEach(function (k) { if (k.charAt(0) !== "_" && !CANVAS_ONLY[k]) out[k] = props[k]; });
  return out;
}

function toDefinition() {
  let data = lf.getGraphData();
  let nodes = data.nodes.map(function (n) {
    let props = clean(n.properties);
    let node = Object.assign({}, props, { key: n.id, type: n.type, x: Math.round(n.x), y: Math.round(n.y) });
    node.name = localized(props.name, textOf(n));
    return node;
  });
  let edges = data.edges.map(function (e) {
    let props = clean(e.properties);
    let edge = { key: e.id, source: e.sourceNodeId, target: e.targetNodeId, name: localized(props.name, textOf(e)) };
    if (props.is_default) edge.is_default = true;
    else if (props.condition !== null && props.condition !== undefined && props.condition !== "") edge.condition = props.condition;
    return edge;
  });
  let defn = { schema_version: 1, key: KEY, name: meta.name, description: meta.description, nodes: nodes, edges: edges };
  if (meta.calendar) defn.calendar = meta.calendar;
  return defn;
}

// -- API -----------------------------------------------------------------------------------
const flowUrl = (rest) => "/api/v1/flows/" + encodeURIComponent(KEY) + rest;
function status(text) { document.getElementById("fd-status").textContent = text; }

// -- problems on the canvas ------------------------------------------------------------------
function clearMarks(flag) {
  lf.getGraphData().nodes.forEach(function (n) {
    if (n.properties && n.properties[flag]) { let p = {}; p[flag] = false; lf.setProperties(n.id, p); }
  });
}
function showIssues(issues) {
  clearMarks("_error");
  let list = document.getElementById("fd-issues");
  list.innerHTML = "";
  if (!issues.length) {
    let ok = document.createElement("li"); ok.className = "ok"; ok.textContent = T.no_problems; list.appendChild(ok);
    return;
  }
  issues.forEach(function (issue) {
    let li = document.createElement("li");
    li.className = "issue"; li.dataset.code = issue.code; li.dataset.nodes = (issue.nodes || []).join(" ");
    let names = (issue.nodes || []).map(function (k) { let m = lf.getNodeModelById(k); return m ? (textOf(m.getData()) || k) : k; });
    li.textContent = (issue.message || issue.code) + (names.length ? " — " + names.join(", ") : "");
    li.addEventListener("click", function () { if (issue.nodes && issue.nodes[0]) lf.selectElementById(issue.nodes[0]); });
    list.appendChild(li);
    (issue.nodes || []).forEach(function (k) { if (lf.getNodeModelById(k)) lf.setProperties(k, { _error: true }); });
  });
}
/* A failed call: the toast says it in the user's words; the problems it lists go on the canvas. */
function failed(err) {
  showError(err);
  if (!(err instanceof ApiError)) return;
  if (Array.isArray(err.body)) { showIssues(err.body); return; }
  const paths = Object.keys(err.fields);
  showIssues(paths.length ? paths.map(function (path) {
    const f = err.fields[path];
    return { path: path, code: f.code, message: f.message, nodes: (f.params && f.params.nodes) || [] };
  }) : [{ code: err.code, message: err.message, nodes: [] }]);
}

function validate() {
  return api("POST", "/api/v1/flows/validate", toDefinition()).then(function (issues) { showIssues(issues); return issues; })
    .catch(failed);
}
function save() {
  return api("PUT", flowUrl("/draft"), toDefinition()).then(function (read) {
    status(T.saved + " v" + read.version);
    showIssues(read.issues || []);
    return read;
  });
}
function publish() {
  return save().then(function () {
    return api("POST", flowUrl("/publish"));
  }).then(function (read) {
    status(T.published.replace("%(v)s", read.version));
    showIssues([]);
    refreshVersions();
  }).catch(failed);
}
function refreshVersions() {
  api("GET", flowUrl("/versions")).then(function (rows) {
    let body = document.getElementById("fd-versions");
    body.innerHTML = "";
    rows.slice().reverse().forEach(function (v) {
      let tr = document.createElement("tr");
      let base = "/api/v1/flows/" + encodeURIComponent(KEY) + "/versions/" + v.version + "/export?format=";
      tr.innerHTML = "<td></td><td></td><td></td><td><a>JSON</a> · <a>BPMN</a></td>";
      tr.children[0].textContent = v.version; tr.children[1].textContent = v.status;
      tr.children[2].textContent = (v.updated_at || "").replace("T", " ").slice(0, 16);
      let links = tr.querySelectorAll("a"); links[0].href = base + "json"; links[1].href = base + "bpmn";
      body.appendChild(tr);
    });
  }).catch(failed);
}

// -- palette: drag (or click, then click the canvas) -----------------------------------------
let pending = null;
document.querySelectorAll(".fd-palette-item").forEach(function (btn) {
  btn.addEventListener("pointerdown", function (e) {
    e.preventDefault();
    lf.dnd.startDrag({ type: btn.dataset.type, text: btn.dataset.label });
  });
  btn.addEventListener("click", function () { pending = { type: btn.dataset.type, text: btn.dataset.label }; });
});
lf.on("blank:click", function (ev) {
  if (pending) {
    let p = lf.graphModel.getPointByClient({ x: ev.e.clientX, y: ev.e.clientY }).canvasOverlayPosition;
    lf.addNode({ type: pending.type, x: p.x, y: p.y, text: pending.text });
    pending = null;
  }
  showProps(null);
});

// -- properties panel --------------------------------------------------------------------------
let panel = document.getElementById("fd-props");
function field(labelText, input) {
  let wrap = document.createElement("label"); wrap.className = "fd-field";
  let span = document.createElement("span"); span.textContent = labelText;
  // the label wraps the control; name it explicitly so a select's value is not part of its name
  if (labelText) input.setAttribute("aria-label", labelText);
  wrap.appendChild(span); wrap.appendChild(input); return wrap;
}
function input(value, attrs) {
  let el = document.createElement("input");
  el.value = value === undefined || value === null ? "" : value;
  Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
  return el;
}
function select(value, options) {
  let el = document.createElement("select");
  options.forEach(function (o) { let opt = document.createElement("option"); opt.value = o; opt.textContent = T[o] || o; el.appendChild(opt); });
  el.value = value; return el;
}
function textarea(value) { let el = document.createElement("textarea"); el.rows = 3; el.value = value; return el; }
function parseJSON(text, fallback) {
  if (!text.trim()) return fallback;
  try { return JSON.parse(text); } catch (e) { toast(T.invalid_json); throw e; }
}
let KINDS = ["users", "role", "manager_chain", "owner_manager", "field", "initiator_choice", "initiator"];
function specValue(spec) {
  if (!spec) return "";
  if (spec.kind === "users") return (spec.user_ids || []).join(",");
  if (spec.kind === "role") return spec.role || "";
  if (spec.kind === "manager_chain") return spec.levels || 1;
  if (spec.kind === "field") return spec.field || "";
  return "";
}
function specFrom(kind, value) {
  value = String(value || "").trim();
  if (kind === "users") return { kind: kind, user_ids: value.split(/[\s,]+/).filter(Boolean).map(Number) };
  if (kind === "role") return { kind: kind, role: value };
  if (kind === "manager_chain") return { kind: kind, levels: Number(value || 1) };
  if (kind === "field") return { kind: kind, field: value };
  return { kind: kind };
}

function showProps(selected) {
  panel.innerHTML = "";
  if (!selected) return;
  let data = selected.data, isEdge = selected.isEdge;
  let props = Object.assign({}, data.properties || {});
  let form = document.createElement("form"); form.className = "fd-form";
  form.setAttribute("aria-label", isEdge ? "edge " + data.id : "node " + data.id);
  let heading = document.createElement("h2"); heading.textContent = (isEdge ? "→ " : "") + data.id; form.appendChild(heading);
  let name = input(textOf(data), { name: "name" });
  form.appendChild(field(T.name, name));
  let get = {};
  if (isEdge) {
    let cond = props.condition || null;
    let op = cond && typeof cond === "object" ? Object.keys(cond)[0] : ">=";
    let args = cond && typeof cond === "object" ? cond[op] : null;
    let simple = Array.isArray(args) && args.length === 2 && args[0] && typeof args[0] === "object" && "var" in args[0];
    let cField = input(simple ? args[0]["var"] : "", { name: "condition_field", placeholder: "amount" });
    let cOp = select(simple ? op : ">=", [">=", ">", "<=", "<", "==", "!="]); cOp.name = "condition_op";
    let cValue = input(simple ? JSON.stringify(args[1]) : "", { name: "condition_value" });
    let cJson = textarea(cond && !simple ? JSON.stringify(cond) : ""); cJson.name = "condition_json";
    let isDefault = input("", { type: "checkbox", name: "is_default" }); isDefault.checked = !!props.is_default;
    form.appendChild(field(T.condition_field, cField));
    form.appendChild(field(T.condition_op, cOp));
    form.appendChild(field(T.condition_value, cValue));
    form.appendChild(field(T.condition_json, cJson));
    form.appendChild(field(T.is_default, isDefault));
    get.apply = function () {
      let condition = null;
      if (cJson.value.trim()) condition = parseJSON(cJson.value, null);
      else if (cField.value.trim()) {
        let v = cValue.value.trim(), val;
        try { val = JSON.parse(v); } catch (e) { val = v; }
        condition = {}; condition[cOp.value] = [{ "var": cField.value.trim() }, val];
      }
      lf.setProperties(data.id, { condition: isDefault.checked ? null : condition, is_default: isDefault.checked });
    };
  } else {
    let stage = input(props.stage || "", { name: "stage" });
    form.appendChild(field(T.stage, stage));
    let type = data.type;
    if (PEOPLE[type] || type === "notify") {
      let specs = (type === "notify" ? props.recipients : props.assignees) || [];
      let spec = specs[0] || { kind: "role", role: "" };
      let kind = select(spec.kind, KINDS); kind.name = "handler_kind";
      Array.prototype.forEach.call(kind.options, function (o) { o.textContent = T["kind_" + o.value] || o.value; });
      let kindValue = input(specValue(spec), { name: "handler_value" });
      form.appendChild(field(T.handlers, kind));
      form.appendChild(field(T.handlers + " …", kindValue));
      get.handlers = function () { return [specFrom(kind.value, kindValue.value)].concat(specs.slice(1)); };
    }
    if (PEOPLE[type]) {
      let mode = select(props.mode || "any_of", ["any_of", "all_of", "in_sequence"]); mode.name = "mode";
      let noOne = select(props.on_no_approver || "admin", ["skip", "admin", "block"]); noOne.name = "on_no_approver";
      let limit = props.time_limit || {};
      let hours = input(limit.hours || "", { name: "time_limit_hours", type: "number", min: "0", step: "0.5" });
      let unit = select(limit.unit || "working_hours", ["working_hours", "calendar_hours"]); unit.name = "time_limit_unit";
      let onTimeout = select(limit.on_timeout || "remind",
                             ["remind", "escalate", "climb", "send_back", "auto_approve", "auto_reject", "reassign"]);
      onTimeout.name = "on_timeout";
      let levels = input(limit.levels || 1, { name: "time_limit_levels", type: "number", min: "1", max: "5", step: "1" });
      let required = input((props.required_fields || []).join(", "), { name: "required_fields" });
      let perms = textarea(props.field_permissions ? JSON.stringify(props.field_permissions) : ""); perms.name = "field_permissions";
      [[T.mode, mode], [T.on_no_approver, noOne], [T.time_limit, hours], [T.time_limit_unit, unit], [T.on_timeout, onTimeout], [T.levels, levels],
       [T.required_fields, required], [T.field_permissions, perms]].forEach(function (p) { form.appendChild(field(p[0], p[1])); });
      // given to an external party (backend/portal/): who, and the field whose value completes the step
      let ext = props.external || null;
      let extKind = select(ext ? ext.kind : "", ["", "supplier", "carrier", "customer"]); extKind.name = "external_kind";
      Array.prototype.forEach.call(extKind.options, function (o) { o.textContent = T["external_" + (o.value || "none")]; });
      let extParty = document.createElement("select"); extParty.name = "external_party";
      // "which company": one fixed company, or (value "field") the one the order's field names
      let extField = document.createElement("select"); extField.name = "external_party_field";
      let fieldChoices = PARTY_FIELDS.slice();
      if (ext && ext.party_field && !fieldChoices.some(function (f) { return f.path === ext.party_field; })) {
        fieldChoices.push({ path: ext.party_field, label: ext.party_field });  // kept even if the form lost it
      }
      fieldChoices.forEach(function (f) {
        let opt = document.createElement("option"); opt.value = f.path; opt.textContent = f.label + " (" + f.path + ")"; extField.appendChild(opt);
      });
      if (ext && ext.party_field) extField.value = ext.party_field;
      function syncField() { extField.disabled = extParty.disabled || extParty.value !== "field"; }
      function fillParties() {
        let was = extParty.disabled ? "" : extParty.value;  // a choice made for another kind, if it still fits
        extParty.innerHTML = "";
        PARTIES.filter(function (p) { return p.kind === extKind.value; }).forEach(function (p) {
          let opt = document.createElement("option"); opt.value = String(p.id); opt.textContent = p.name; extParty.appendChild(opt);
        });
        let byField = document.createElement("option"); byField.value = "field"; byField.textContent = T.external_by_field;
        extParty.appendChild(byField);
        if (was) extParty.value = was;
        else if (ext && ext.party_field) extParty.value = "field";
        else if (ext && ext.party_id) extParty.value = String(ext.party_id);
        if (!extParty.value && extParty.options.length) extParty.selectedIndex = 0;
        extParty.disabled = extKind.value === "" || extKind.value === "customer";
        syncField();
      }
      extKind.addEventListener("change", fillParties); extParty.addEventListener("change", syncField); fillParties();
      let doneField = input(ext && ext.done_field || "", { name: "external_done_field", placeholder: "data.production_progress" });
      let doneAt = input(ext ? ext.done_at : 100, { name: "external_done_at", type: "number", step: "any" });
      [[T.external, extKind], [T.external_party, extParty], [T.external_party_field, extField], [T.done_field, doneField], [T.done_at, doneAt]]
        .forEach(function (p) { form.appendChild(field(p[0], p[1])); });
      get.people = function () {
        let out = { mode: mode.value, on_no_approver: noOne.value,
                    required_fields: required.value.split(/[\s,]+/).filter(Boolean),
                    field_permissions: parseJSON(perms.value, {}) };
        let byField = extKind.value !== "customer" && extParty.value === "field";
        out.external = extKind.value ? { kind: extKind.value,
                                         party_id: extKind.value === "customer" || byField || !extParty.value ? null : Number(extParty.value),
                                         done_field: doneField.value.trim() || null,
                                         done_at: doneAt.value === "" ? 100 : Number(doneAt.value) } : null;
        if (out.external && byField) out.external.party_field = extField.value || null;
        out.time_limit = Number(hours.value) > 0 ? Object.assign({}, limit, { hours: Number(hours.value), unit: unit.value, on_timeout: onTimeout.value,
                                                                     levels: Number(levels.value) || 1 }) : null;
        return out;
      };
    }
    if (type === "approval") get.autoApprove = autoApproveEditor(form, data.id, props.auto_approve || null);
    if (type === "notify") {
      let title = input(props.title || "", { name: "title" });
      form.appendChild(field(T.title, title));
      get.notify = function () { return { title: title.value }; };
    }
    if (type === "wait") {
      let until = input(props.until_field || "", { name: "until_field", placeholder: "data.ship_on" });
      let waitHours = input(props.hours || "", { name: "hours", type: "number", min: "0" });
      form.appendChild(field(T.until_field, until)); form.appendChild(field(T.hours, waitHours));
      get.wait = function () { return { until_field: until.value || null, hours: Number(waitHours.value) > 0 ? Number(waitHours.value) : null }; };
    }
    if (type === "auto") {
      let setFields = textarea(props.set_fields ? JSON.stringify(props.set_fields) : ""); setFields.name = "set_fields";
      let hook = input(props.webhook_url || "", { name: "webhook_url", type: "url" });
      form.appendChild(field(T.set_fields, setFields)); form.appendChild(field(T.webhook_url, hook));
      get.auto = function () { return { set_fields: parseJSON(setFields.value, {}), webhook_url: hook.value || null }; };
    }
    get.apply = function () {
      let next = { stage: stage.value || null };
      if (get.handlers) next[type === "notify" ? "recipients" : "assignees"] = get.handlers();
      ["people", "notify", "wait", "auto", "autoApprove"].forEach(function (k) { if (get[k]) Object.assign(next, get[k]()); });
      lf.setProperties(data.id, next);
    };
  }
  let apply = document.createElement("button"); apply.type = "submit"; apply.textContent = T.apply;
  form.appendChild(apply);
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    try {
      get.apply();
    } catch (err) {
      if (!(err instanceof SyntaxError)) showError(err);  // bad JSON: parseJSON has told the user already
      return;  // the form keeps what was typed
    }
    lf.updateText(data.id, name.value);
    let model = isEdge ? lf.getEdgeModelById(data.id) : lf.getNodeModelById(data.id);
    if (model) {
      let p = model.getProperties();
      lf.setProperties(data.id, { name: localized(p.name, name.value) });
    }
  });
  panel.appendChild(form);
}

// -- auto-approval of an approval node and its back-test (docs/decisions-auto.md) ---------------
const AUTO_FIELDS = JSON.parse(document.getElementById("fd-auto-fields").textContent);
const AUTO_OPS = ["<", "<=", ">", ">=", "==", "!="];
/* {"and": [{op: [{"var": f}, v]}, ...]} (or one comparison) as rows; null when it is something else. */
function conditionRows(cond) {
  if (!cond || typeof cond !== "object") return [];
  let items = cond.and && Array.isArray(cond.and) ? cond.and : [cond];
  let rows = [];
  for (let i = 0; i < items.length; i++) {
    let it = items[i], op = it && typeof it === "object" ? Object.keys(it)[0] : null, args = op ? it[op] : null;
    if (AUTO_OPS.indexOf(op) < 0 || !Array.isArray(args) || args.length !== 2 || !args[0] || typeof args[0] !== "object"
        || !("var" in args[0]) || (args[1] !== null && typeof args[1] === "object")) return null;
    rows.push({ field: args[0]["var"], op: op, value: args[1] });
  }
  return rows;
}
function autoApproveEditor(form, nodeKey, auto) {
  let box = document.createElement("fieldset"); box.className = "fd-auto";
  let legend = document.createElement("legend"); legend.textContent = T.auto_title; box.appendChild(legend);
  let hint = document.createElement("p"); hint.className = "muted"; hint.textContent = T.auto_hint; box.appendChild(hint);
  let enabled = input("", { type: "checkbox", name: "auto_enabled" }); enabled.checked = !!(auto && auto.enabled);
  box.appendChild(field(T.auto_enabled, enabled));
  let rowsBox = document.createElement("div"); rowsBox.className = "fd-auto-rows"; box.appendChild(rowsBox);
  let parsed = conditionRows(auto && auto.condition);
  let raw = textarea(parsed === null ? JSON.stringify(auto.condition) : ""); raw.name = "auto_json";
  function addRow(r) {
    let row = document.createElement("div"); row.className = "fd-auto-row";
    let f = document.createElement("select"); f.name = "auto_field"; f.setAttribute("aria-label", T.condition_field);
    AUTO_FIELDS.forEach(function (o) { let opt = document.createElement("option"); opt.value = o.name; opt.textContent = o.label; f.appendChild(opt); });
    f.value = r.field || "amount";
    let op = select(r.op || "<", AUTO_OPS); op.name = "auto_op"; op.setAttribute("aria-label", T.condition_op);
    let v = input(r.value === undefined || r.value === null ? "" : r.value, { name: "auto_value", "aria-label": T.condition_value, size: "8" });
    let del = document.createElement("button"); del.type = "button"; del.textContent = "×"; del.setAttribute("aria-label", T.auto_remove);
    del.addEventListener("click", function () { row.remove(); });
    row.appendChild(f); row.appendChild(op); row.appendChild(v); row.appendChild(del); rowsBox.appendChild(row);
  }
  (parsed || []).forEach(addRow);
  let add = document.createElement("button"); add.type = "button"; add.textContent = T.auto_add; add.name = "auto_add";
  add.addEventListener("click", function () { addRow({}); });
  box.appendChild(add);
  box.appendChild(field(T.condition_json, raw));
  function condition() {
    if (raw.value.trim()) return parseJSON(raw.value, null);
    let parts = Array.prototype.map.call(rowsBox.querySelectorAll(".fd-auto-row"), function (row) {
      let text = row.querySelector("[name=auto_value]").value.trim(), val;
      try { val = JSON.parse(text); } catch (e) { val = text; }
      let c = {}; c[row.querySelector("[name=auto_op]").value] = [{ "var": row.querySelector("[name=auto_field]").value }, val];
      return c;
    });
    if (!parts.length) return null;
    return parts.length === 1 ? parts[0] : { and: parts };
  }
  let weeks = input(8, { type: "number", min: "1", max: "26", step: "1", name: "auto_weeks" });
  box.appendChild(field(T.auto_weeks, weeks));
  let run = document.createElement("button"); run.type = "button"; run.textContent = T.auto_backtest; run.name = "auto_backtest";
  let out = document.createElement("div"); out.className = "fd-backtest"; out.id = "fd-backtest"; out.setAttribute("role", "status");
  run.addEventListener("click", function () {
    let cond;
    try { cond = condition(); } catch (e) { return; }
    out.textContent = T.auto_running;
    // replays the orders that reached this step of the saved flow (a step not saved yet has none)
    api("POST", flowUrl("/backtest"), { node_key: nodeKey, condition: cond, weeks: Number(weeks.value) || 8 }).then(function (res) { showBacktest(out, res); }).catch(function (err) { out.textContent = ""; showError(err); });
  });
  box.appendChild(run); box.appendChild(out);
  form.appendChild(box);
  return function () {
    let cond = condition();
    return { auto_approve: enabled.checked || cond ? { enabled: enabled.checked, condition: cond } : null };
  };
}
function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, function (m, k) { return values[k] === undefined ? m : values[k]; });
}
function showBacktest(out, res) {
  out.innerHTML = "";
  let lang = document.documentElement.lang === "zh-CN" ? "zh-CN" : "en";
  let share = res.reached ? Math.round(100 * res.auto.orders / res.reached) : 0;
  [fill(T.auto_bt_reached, { n: res.reached, weeks: res.weeks }),
   fill(T.auto_bt_auto, { n: res.auto.orders, share: share }),
   fill(T.auto_bt_outcome, res.auto),
   fill(T.auto_bt_people, res.people),
   (res.condition_words || {})[lang] ? fill(T.auto_bt_condition, { words: res.condition_words[lang] }) : "",
   res.capped ? T.auto_bt_capped : "", res.failed ? fill(T.auto_bt_failed, { n: res.failed }) : ""]
    .filter(Boolean).forEach(function (text) { let p = document.createElement("p"); p.textContent = text; out.appendChild(p); });
  if (res.examples && res.examples.length) {
    let ul = document.createElement("ul");
    res.examples.forEach(function (e) {
      let li = document.createElement("li"), a = document.createElement("a");
      a.href = "/orders/" + e.order_id; a.textContent = e.number; li.appendChild(a);
      li.appendChild(document.createTextNode(" " + e.outcome.map(function (o) { return T["auto_bt_" + o] || o; }).join(", ")));
      ul.appendChild(li);
    });
    out.appendChild(ul);
  }
}

lf.on("node:click", function (ev) { showProps({ data: ev.data, isEdge: false }); });
lf.on("edge:click", function (ev) { showProps({ data: ev.data, isEdge: true }); });

// -- auto-layout: layers by longest path from the start (back edges ignored) ----------------
function autoLayout() {
  let defn = toDefinition();
  let out = {}, indeg = {};
  defn.nodes.forEach(function (n) { out[n.key] = []; indeg[n.key] = 0; });
  defn.edges.forEach(function (e) { if (out[e.source] && indeg[e.target] !== undefined) out[e.source].push(e.target); });
  let start = (defn.nodes.filter(function (n) { return n.type === "start"; })[0] || defn.nodes[0] || {}).key;
  let layer = {}, onStack = {}, order = [];
  (function dfs(k, depth) {
    if (onStack[k]) return;
    if (layer[k] !== undefined && layer[k] >= depth) return;
    layer[k] = depth; onStack[k] = true;
    if (order.indexOf(k) < 0) order.push(k);
    out[k].forEach(function (t) { dfs(t, depth + 1); });
    onStack[k] = false;
  })(start, 0);
  defn.nodes.forEach(function (n) { if (layer[n.key] === undefined) { layer[n.key] = 0; order.push(n.key); } });
  let rows = {};
  order.forEach(function (k) { (rows[layer[k]] = rows[layer[k]] || []).push(k); });
  defn.nodes.forEach(function (n) {
    let row = rows[layer[n.key]], i = row.indexOf(n.key);
    n.x = 100 + layer[n.key] * 190;
    n.y = 200 + (i - (row.length - 1) / 2) * 120;
  });
  lf.render(toGraph(defn));
  lf.fitView(40);
}

// -- simulation ---------------------------------------------------------------------------------
function simulate() {
  let facts;
  try { facts = parseJSON(document.getElementById("fd-sim-facts").value, {}); } catch (e) { return; }
  clearMarks("_sim");
  api("POST", "/api/v1/flows/simulate", { definition: toDefinition(), facts: facts }).then(function (res) {
    let list = document.getElementById("fd-sim-result");
    list.innerHTML = "";
    let head = document.createElement("li"); head.className = "sim-status"; head.dataset.status = res.status;
    head.textContent = T.simulate_status.replace("%(status)s", res.status); list.appendChild(head);
    (res.visited || []).forEach(function (k) { if (lf.getNodeModelById(k)) lf.setProperties(k, { _sim: true }); });
    (res.steps || []).forEach(function (s) {
      let li = document.createElement("li"); li.dataset.node = s.node_key;
      let m = lf.getNodeModelById(s.node_key);
      let who = (s.assignees || []).map(function (a) { return a.name; }).join(", ");
      li.textContent = (m ? textOf(m.getData()) || s.node_key : s.node_key) + ": " + (who ? who + " " + T.would_get : s.action);
      list.appendChild(li);
    });
    if (res.issues && res.issues.length) showIssues(res.issues);
  }).catch(failed);
}

// -- import / export ------------------------------------------------------------------------------
function download(name, text, type) {
  let a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: type }));
  a.download = name; document.body.appendChild(a); a.click(); a.remove();
}
document.getElementById("fd-import").addEventListener("change", function (e) {
  let file = e.target.files[0];
  if (!file) return;
  file.text().then(function (text) {
    return api("POST", flowUrl("/import"), text, { raw: true });
  }).then(function (read) {
    lf.render(toGraph(read.definition)); showIssues(read.issues || []); status(T.saved + " v" + read.version);
  }).catch(failed);
});

// -- moving running orders to a newer version (admins; previewed, recorded per order) ----------
let lastPreview = null;
function migrationBody() {
  let mapping;
  try { mapping = parseJSON(document.getElementById("fd-mig-mapping").value, {}); } catch (e) { return null; }
  return { to_version: Number(document.getElementById("fd-mig-version").value), mapping: mapping };
}
function previewMigration() {
  let body = migrationBody();
  if (!body) return;
  let list = document.getElementById("fd-mig-result");
  let apply = root.querySelector("[data-cmd=migrate-apply]");
  api("POST", flowUrl("/migrations/preview"), body).then(function (res) {
    lastPreview = body;
    list.innerHTML = "";
    let head = document.createElement("li");
    head.textContent = T.mig_counts.replace("%(movable)s", res.movable).replace("%(blocked)s", res.blocked);
    list.appendChild(head);
    res.instances.forEach(function (p) {
      let li = document.createElement("li");
      li.className = p.movable ? "ok" : "issue";
      li.textContent = T.order + " " + p.order_id + " (v" + p.from_version + "): " + p.moves.map(function (m) {
        return m.problem ? m.source + " ✗ " + m.problem : m.source + " → " + m.target;
      }).join("; ");
      list.appendChild(li);
    });
    apply.disabled = res.movable === 0;
  }).catch(failed);
}
function applyMigration() {
  if (!lastPreview || !confirm(T.mig_confirm)) return;
  api("POST", flowUrl("/migrations"), lastPreview).then(function (res) {
    let list = document.getElementById("fd-mig-result");
    let li = document.createElement("li"); li.className = "ok";
    li.textContent = T.mig_done.replace("%(moved)s", res.moved.length).replace("%(skipped)s", res.skipped.length);
    list.appendChild(li);
    root.querySelector("[data-cmd=migrate-apply]").disabled = true;
  }).catch(failed);
}

const commands = {
  "migrate-preview": previewMigration, "migrate-apply": applyMigration,
  undo: function () { lf.undo(); }, redo: function () { lf.redo(); },
  "delete": function () {
    let sel = lf.getSelectElements(true);
    sel.edges.forEach(function (e) { lf.deleteEdge(e.id); });
    sel.nodes.forEach(function (n) { lf.deleteNode(n.id); });
    showProps(null);
  },
  "zoom-in": function () { lf.zoom(true); }, "zoom-out": function () { lf.zoom(false); },
  fit: function () { lf.fitView(40); }, layout: autoLayout,
  validate: validate, save: function () { save().catch(failed); },
  publish: publish, simulate: simulate,
  // What if? The draft is saved, then the replay page compares it with the published version
  whatif: function () {
    let weeks = document.getElementById("fd-whatif-weeks").value;
    save().then(function () {
      status(T.whatif_running);
      window.location.href = "/designer/flows/" + encodeURIComponent(KEY) + "/whatif?weeks=" + encodeURIComponent(weeks);
    }).catch(failed);
  },
  template: function () {
    if (lf.getGraphData().nodes.length && !confirm(T.confirm_template)) return;
    api("POST", flowUrl("/template?template=b2b_fulfilment")).then(function (read) {
      lf.render(toGraph(read.definition)); lf.fitView(40); showIssues(read.issues || []);
    }).catch(failed);
  },
  "export-json": function () { download(KEY + ".json", JSON.stringify(toDefinition(), null, 1), "application/json"); },
  "export-bpmn": function () {
    // the server writes the BPMN of the saved draft; the browser only follows the link
    save().then(function (read) {
      const a = document.createElement("a");
      a.href = flowUrl("/versions/" + read.version + "/export?format=bpmn");
      a.download = KEY + ".bpmn"; document.body.appendChild(a); a.click(); a.remove();
    }).catch(failed);
  },
};
// a phone: the palette starts folded so the canvas is on the first screen
if (window.matchMedia("(max-width: 600px)").matches) document.getElementById("fd-palette-box").open = false;
root.querySelectorAll("[data-cmd]").forEach(function (btn) {
  btn.addEventListener("click", function () { commands[btn.dataset.cmd](); });
});

lf.render(toGraph(initial));
if (initial.nodes && initial.nodes.length) lf.fitView(40);
window.gendanFlowDesigner = { lf: lf, toDefinition: toDefinition, validate: validate };
