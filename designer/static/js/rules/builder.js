/* The rule designer: a visual AND/OR builder that edits the RuleDefinition's JSON-logic condition,
 * a JSON-logic tab that round-trips with it, the basics, and calls to /api/v1/rules (check,
 * preview, dry run, save, publish, enable). Actions live in actions.js, the scope in scope.js,
 * event details in trigger.js, shared pickers in common.js (all loaded before this file).
 * Anything the visual builder cannot show (e.g. arithmetic) stays as an "advanced" row holding its
 * JSON-logic unchanged, so switching tabs never loses a condition. */
import { ApiError, api, showError } from "../shared/api.js";
import * as R from "./common.js";
import { actionsEditor } from "./actions.js";
import { scopeEditor } from "./scope.js";
import { triggerDetails } from "./trigger.js";
import * as C from "./condition.js";

const { T, FIELDS, FIELD, el } = R;
const { OPS, fromLogic, toLogic } = C;
const definition = JSON.parse(document.getElementById("rd-definition").textContent);

let root = fromLogic(definition.condition && Object.keys(definition.condition).length ? definition.condition : { and: [] });
if (root.kind !== "group") root = { kind: "group", op: "and", items: [root] };

// --- rendering the builder

let dragged = null;

function fieldSelect(node) {
  let select = el("select", { "aria-label": T.field });
  select.appendChild(el("option", { value: "", text: "—" }));
  ["core", "designed", "derived"].forEach(function (source) {
    let group = el("optgroup", { label: T[source] });
    FIELDS.filter(function (f) { return f.source === source; }).forEach(function (f) {
      let opt = el("option", { value: f.name, text: f.label });
      if (f.name === node.field) opt.selected = true;
      group.appendChild(opt);
    });
    if (group.children.length) select.appendChild(group);
  });
  select.addEventListener("change", function () {
    let before = C.typeOf(node.field);
    node.field = select.value;
    let ops = OPS[C.typeOf(node.field)] || OPS.string;
    if (ops.indexOf(node.op) < 0) node.op = ops[0];
    if (C.typeOf(node.field) !== before || node.other === node.field) { node.other = ""; node.value = ""; }
    if (node.unit && C.UNITS[C.typeOf(node.field)] && C.UNITS[C.typeOf(node.field)].indexOf(node.unit) < 0) node.unit = "days";
    changed(true);
  });
  return select;
}

/* The right-hand side: a value (constant) or another field of the same type. */
function rhsSelect(node) {
  return R.select(T.compare_with, [{ value: "value", label: T.rhs_value }, { value: "field", label: T.rhs_field }],
    node.rhs === "field" ? "field" : "value", function (v) { node.rhs = v || "value"; changed(true); });
}

function otherFieldSelect(node) {
  let options = C.comparable(node.field).map(function (f) { return { value: f.name, label: f.label, source: f.source }; });
  let select = el("select", { "aria-label": T.other_field });
  select.appendChild(el("option", { value: "", text: "—" }));
  ["core", "designed", "derived"].forEach(function (source) {
    let group = el("optgroup", { label: T[source] });
    options.filter(function (o) { return o.source === source; }).forEach(function (o) {
      let opt = el("option", { value: o.value, text: o.label });
      if (o.value === node.other) opt.selected = true;
      group.appendChild(opt);
    });
    if (group.children.length) select.appendChild(group);
  });
  select.addEventListener("change", function () { node.other = select.value; changed(false); });
  return select;
}

/* "more than [3] [days] ago": the number and its unit (working days where the calendar counts). */
function relativeInputs(node) {
  let n = el("input", { type: "number", min: "0", step: "1", "aria-label": T.how_many, "class": "rd-n" });
  n.value = String(node.n === undefined ? 1 : node.n);
  n.addEventListener("input", function () { node.n = C.clampN(n.value, node.unit); changed(false); });
  let units = (C.UNITS[C.typeOf(node.field)] || ["days"]).map(function (u) { return { value: u, label: T[u] }; });
  let unit = R.select(T.unit, units, node.unit, function (v) { node.unit = v || "days"; changed(false); });
  return [n, unit];
}

/* "is one of": a box per option, labelled in the page's language (stage: 审批, 生产, …). */
function optionBoxes(node) {
  let f = FIELD[node.field];
  let values = Array.isArray(node.value) ? node.value : String(node.value || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  node.value = values;
  let listed = f.options.slice();
  values.forEach(function (v) { if (listed.indexOf(v) < 0) listed.push(v); });
  let options = listed.map(function (o) { return { value: o, label: (f.option_labels && f.option_labels[o]) || o }; });
  return R.checkboxes(T.values, options, values, function (picked) { node.value = picked; changed(false); });
}

function opSelect(node) {
  let type = (FIELD[node.field] || {}).type || "string";
  let select = el("select", { "aria-label": T.operator });
  (OPS[type] || OPS.string).forEach(function (op) {
    let opt = el("option", { value: op, text: T[op] });
    if (op === node.op) opt.selected = true;
    select.appendChild(opt);
  });
  select.addEventListener("change", function () {
    let wasList = node.op === "one_of";
    node.op = select.value;
    if (wasList !== (node.op === "one_of")) node.value = node.op === "one_of" && C.hasOptions(node.field) ? [] : "";
    changed(true);
  });
  return select;
}

function valueInput(node) {
  let f = FIELD[node.field] || { type: "string" };
  if (["set", "empty", "is_true", "is_false"].indexOf(node.op) >= 0) return null;
  let input;
  if (node.field === "owner_id" && node.op !== "one_of") {
    // the owner is a person: pick one by name (the condition stores the user's id)
    return R.userPicker(T.value, node.value, function (v) { node.value = v == null ? "" : String(v); changed(false); });
  }
  if (f.options && f.options.length && node.op !== "one_of") {
    input = el("select", { "aria-label": T.value });
    input.appendChild(el("option", { value: "", text: "—" }));
    let listed = f.options.slice();
    if (node.value && listed.indexOf(node.value) < 0) listed.push(node.value);  // e.g. typed in the JSON tab
    listed.forEach(function (o) {
      let opt = el("option", { value: o, text: (f.option_labels && f.option_labels[o]) || o });
      if (o === node.value) opt.selected = true;
      input.appendChild(opt);
    });
  } else {
    let type = node.op === "one_of" || node.op === "contains" ? "text" : (f.type === "number" ? "number" : (f.type === "date" ? "date" : "text"));
    input = el("input", { type: type, "aria-label": T.value });
    input.value = node.value || "";
  }
  input.addEventListener("input", function () { node.value = input.value; changed(false); });
  input.addEventListener("change", function () { node.value = input.value; changed(false); });
  return input;
}

function renderNode(node, parent) {
  if (node.kind === "group") return renderGroup(node, parent);
  let row = el("div", { "class": "rd-row", draggable: "true", role: "group", "aria-label": T.condition });
  row.addEventListener("dragstart", function (e) { dragged = { node: node, from: parent }; e.dataTransfer.setData("text/plain", "cond"); });
  row.appendChild(el("span", { "class": "rd-handle", title: T.drag, text: "\u283f" }));  // grab here: selects swallow drags
  if (node.kind === "raw") {
    row.appendChild(el("span", { "class": "rd-raw", text: T.raw + ": " + JSON.stringify(node.logic) }));
  } else {
    row.appendChild(fieldSelect(node));
    if (FIELD[node.field]) row.appendChild(el("span", { "class": "rd-type", text: T["type_" + FIELD[node.field].type] || "" }));
    row.appendChild(opSelect(node));
    if (C.isRelative(node.op)) {
      relativeInputs(node).forEach(function (x) { row.appendChild(x); });
    } else if (node.op === "one_of" && C.hasOptions(node.field)) {
      row.appendChild(optionBoxes(node));
    } else if (C.canCompareFields(node)) {
      let byField = node.rhs === "field" || C.mustCompareFields(node);
      if (!C.mustCompareFields(node)) row.appendChild(rhsSelect(node));
      if (byField) {
        row.appendChild(otherFieldSelect(node));
      } else {
        let input = valueInput(node);
        if (input) row.appendChild(input);
        let unit = (FIELD[node.field] || {}).unit;
        if (unit && input) row.appendChild(el("span", { "class": "rd-unit", text: T[unit] || unit }));
      }
    } else {
      let input = valueInput(node);
      if (input) row.appendChild(input);
    }
  }
  row.appendChild(el("button", { type: "button", "class": "rd-remove", text: T.remove,
    onclick: function () { parent.items.splice(parent.items.indexOf(node), 1); changed(true); } }));
  return row;
}

function renderGroup(group, parent) {
  let box = el("div", { "class": "rd-group", role: "group", "aria-label": group.op === "and" ? T.all : T.any });
  let op = el("select", { "aria-label": T.match });
  [["and", T.all], ["or", T.any]].forEach(function (o) {
    let opt = el("option", { value: o[0], text: o[1] }); if (o[0] === group.op) opt.selected = true; op.appendChild(opt);
  });
  op.addEventListener("change", function () { group.op = op.value; changed(true); });
  box.appendChild(op);
  group.items.forEach(function (item) { box.appendChild(renderNode(item, group)); });
  box.appendChild(el("button", { type: "button", text: T.add_condition, onclick: function () {
    group.items.push({ kind: "cond", field: "", op: "eq", value: "", rhs: "value", other: "", n: 1, unit: "days" }); changed(true); } }));
  box.appendChild(el("button", { type: "button", text: T.add_group, onclick: function () {
    group.items.push({ kind: "group", op: group.op === "and" ? "or" : "and", items: [] }); changed(true); } }));
  if (parent) {
    box.appendChild(el("button", { type: "button", text: T.remove, onclick: function () {
      parent.items.splice(parent.items.indexOf(group), 1); changed(true); } }));
  }
  box.addEventListener("dragover", function (e) { e.preventDefault(); });
  box.addEventListener("drop", function (e) {
    e.preventDefault(); e.stopPropagation();
    if (!dragged || dragged.from === group || dragged.node === group) return;
    dragged.from.items.splice(dragged.from.items.indexOf(dragged.node), 1);
    group.items.push(dragged.node);
    dragged = null;
    changed(true);
  });
  return box;
}

let builder = document.getElementById("rd-builder");
let jsonBox = document.getElementById("rd-json");

function changed(rerender) {
  jsonBox.value = JSON.stringify(toLogic(root), null, 2);
  document.getElementById("rd-summary").textContent = C.describe(root, false);
  if (rerender) { builder.innerHTML = ""; builder.appendChild(renderGroup(root, null)); }
}

function showTab(which) {
  let visual = which === "visual";
  document.getElementById("rd-tab-visual").setAttribute("aria-selected", String(visual));
  document.getElementById("rd-tab-json").setAttribute("aria-selected", String(!visual));
  builder.hidden = !visual;
  document.getElementById("rd-json-panel").hidden = visual;
}

function applyJson() {
  try {
    let parsed = JSON.parse(jsonBox.value);
    root = fromLogic(parsed);
    if (root.kind !== "group") root = { kind: "group", op: "and", items: [root] };
    changed(true);
    status("");
    return true;
  } catch (e) { status(T.json_invalid); return false; }
}
document.getElementById("rd-tab-visual").addEventListener("click", function () { if (applyJson()) showTab("visual"); });
document.getElementById("rd-tab-json").addEventListener("click", function () { changed(false); showTab("json"); });
document.getElementById("rd-json-apply").addEventListener("click", applyJson);

// --- basics

let keyInput = document.getElementById("rd-key");
let trigger = document.getElementById("rd-trigger");
let firing = document.getElementById("rd-firing");
keyInput.value = definition.key || "";
document.getElementById("rd-name-zh").value = (definition.name || {}).zh || "";
document.getElementById("rd-name-en").value = (definition.name || {}).en || "";
trigger.value = (definition.trigger || {}).kind || "time";
((definition.trigger || {}).events || []).forEach(function (ev) {
  let box = document.querySelector('input[name="rd-event"][value="' + ev + '"]'); if (box) box.checked = true;
});
firing.value = (definition.firing || {}).mode || "once_per_episode";
document.getElementById("rd-every-hours").value = (definition.firing || {}).every_hours || "";
document.getElementById("rd-quiet").checked = !!(definition.firing || {}).quiet_hours;
function syncTrigger() { document.getElementById("rd-events").hidden = trigger.value !== "event"; }
trigger.addEventListener("change", syncTrigger);

function collect() {
  let trig = trigger.value === "time"
    ? { kind: "time", every_minutes: (definition.trigger || {}).every_minutes || 1 }
    : Object.assign({ kind: "event", events: Array.prototype.map.call(document.querySelectorAll('input[name="rd-event"]:checked'),
                                                          function (b) { return b.value; }) }, triggerDetails.details());
  let fire = { mode: firing.value, quiet_hours: document.getElementById("rd-quiet").checked };
  let hours = Number(document.getElementById("rd-every-hours").value);
  if (firing.value === "every_n_hours" && hours) fire.every_hours = hours;
  let out = {};
  Object.keys(definition).forEach(function (k) { out[k] = definition[k]; });
  out.key = keyInput.value.trim();
  out.name = { zh: document.getElementById("rd-name-zh").value, en: document.getElementById("rd-name-en").value };
  out.trigger = trig;
  out.condition = toLogic(root);
  out.actions = actionsEditor.list();
  out.scope = scopeEditor.get();
  out.firing = fire;
  delete out.version; delete out.status; delete out.enabled;
  return out;
}

// --- talking to the API

// Where an issue is, in words ("Action 1 (To-do), Title"), for problems the server names by path.
const PARTS = { title_template: "title", body_template: "body", subject_template: "subject", reason_template: "reason",
  assignee: "assignee", to: "escalate_to", cc: "cc", recipients: "recipients", url: "url", field: "field_to_set",
  value: "new_value", tag: "tag", flag: "flag_name", flow_key: "flow", due_in_hours: "due", priority: "priority",
  channels: "channels", channel: "channel" };
function placeOf(path) {
  let parts = String(path || "").split(".");
  if (parts[0] === "actions" && /^\d+$/.test(parts[1] || "")) {
    let index = Number(parts[1]), action = (collect().actions || [])[index] || {};
    let kind = T["action_" + action.type];
    let head = T.action_n.replace("%(n)s", index + 1) + (kind ? " (" + kind + ")" : "");
    return parts[2] && T[PARTS[parts[2]]] ? head + ", " + T[PARTS[parts[2]]] : head;
  }
  return T[parts[0]] || path;
}

function status(text) { document.getElementById("rd-status").textContent = text; }
function issues(list) {
  let ul = document.getElementById("rd-issues");
  ul.innerHTML = "";
  actionsEditor.clearPreviews();
  (list || []).forEach(function (i) {
    ul.appendChild(el("li", { text: (i.place || placeOf(i.path)) + ": " + (i.message || i.code) }));
    let m = /^actions\.(\d+)/.exec(i.path || "");
    if (m) actionsEditor.showProblem(Number(m[1]), i.message || i.code);  // also under the action it concerns
  });
}

/* A refused call: the server's message in the toast and the status line, its problems listed
 * (and under the action they concern). Anything else (a bug, the network) is only toasted. */
function refused(err) {
  showError(err);
  if (!(err instanceof ApiError)) return;
  status(err.message);
  const fields = err.fields;
  issues(Object.keys(fields).map(function (path) { return { path: path, code: fields[path].code, message: fields[path].message }; }));
}

function scanNote(warnings) {
  let eventOnly = (warnings || []).some(function (w) { return w.code === "rule.event_only"; });
  document.getElementById("rd-scan-note").textContent = eventOnly ? T.event_only : T.scan_ok;
}

document.getElementById("rd-check").addEventListener("click", function () {
  api("POST", "/api/v1/rules/validate", collect()).then(function (found) {
    issues(found);
    status(found.length ? "" : T.no_problems);
  }).catch(refused);
});

document.getElementById("rd-preview-run").addEventListener("click", function () {
  let body = { definition: collect(), order: document.getElementById("rd-preview-number").value.trim() };
  actionsEditor.clearPreviews();
  api("POST", "/api/v1/rules/preview", body).then(function (preview) {
    status("");
    issues([]);
    actionsEditor.showPreview(preview);
  }).catch(refused);
});

/* The dry run in words: how many orders match, per action who gets how many (and the fallbacks,
 * with why), who would get too many to-dos at once, then the first matching orders. */
document.getElementById("rd-dry-run").addEventListener("click", function () {
  api("POST", "/api/v1/rules/dry-run", collect()).then(function (dry) {
    scanNote(dry.warnings);
    let box = document.getElementById("rd-dry");
    box.innerHTML = "";
    box.appendChild(el("p", { role: "status", text: T.matches.replace("%(n)s", dry.count) }));
    let summary = dry.summary;
    if (summary) {
      let list = el("ul", { "class": "rd-summary", "aria-label": T.dry_summary });
      summary.actions.forEach(function (a) {
        list.appendChild(el("li", { text: a.sentence }, a.notes.length
          ? [el("ul", {}, a.notes.map(function (n) { return el("li", { "class": "rd-note", text: n }); }))] : []));
      });
      summary.heavy.forEach(function (h) { list.appendChild(el("li", { "class": "rd-problem", text: h.message })); });
      box.appendChild(list);
      if (summary.sampled) box.appendChild(el("p", { "class": "muted", text: T.dry_sampled.replace("%(n)s", summary.planned) }));
    }
    let table = el("table", { "class": "table", "aria-label": T.matches.replace("%(n)s", dry.count) });
    table.appendChild(el("thead", {}, [el("tr", {}, [el("th", { text: T.order }), el("th", { text: T.stage }), el("th", { text: T.would })])]));
    let body = el("tbody");
    dry.orders.forEach(function (o) {
      let what = o.words.map(function (w) { return el("div", { text: w }); })
        .concat(o.problem_words.map(function (w) { return el("div", { "class": "rd-problem", text: w }); }));
      body.appendChild(el("tr", {}, [el("td", { text: o.number }), el("td", { text: o.stage_label || o.stage }), el("td", {}, what)]));
    });
    table.appendChild(body);
    box.appendChild(table);
  }).catch(refused);
});

function save() {
  return api("POST", "/api/v1/rules", collect()).then(function (rule) {
    keyInput.readOnly = true;
    issues(rule.issues);
    status(T.saved);
    return rule;
  });
}
const ruleUrl = (rest) => "/api/v1/rules/" + encodeURIComponent(keyInput.value.trim()) + rest;
document.getElementById("rd-save").addEventListener("click", function () { save().catch(refused); });
/* What if? The draft is saved, then the replay page compares it with the published version over
 * the last N weeks of real orders (the page answers when the bounded replay is done). */
document.getElementById("rd-whatif").addEventListener("click", function () {
  let weeks = document.getElementById("rd-whatif-weeks").value;
  save().then(function () {
    status(T.whatif_running);
    window.location.href = ruleUrl("").replace("/api/v1/rules/", "/designer/rules/") + "/whatif?weeks=" + encodeURIComponent(weeks);
  }).catch(refused);
});
const designer = document.getElementById("rule-designer");
const isEnabled = () => designer.dataset.enabled === "true";

/* "Confirm before enabling": a rule matching every order says so; a person getting too many
 * to-dos at once is named by the server's message. */
function confirmText(err) {
  let every = Object.keys(err.fields).some(function (p) { return err.fields[p].code === "rule.matches_every_order"; });
  return every ? T.confirm_all : err.message;
}

/* Enabling, and republishing an enabled rule, ask which orders it acts on: from now on (the
 * default: orders matching now are the baseline), or also the N orders matching now, with who
 * would get too many to-dos at once if they fired. `summary` is a dry-run summary. */
const startBox = document.getElementById("rd-start");
let startThen = null;
function askStart(title, summary, then) {
  document.getElementById("rd-start-title").textContent = title;
  document.getElementById("rd-start-matching").textContent = T.start_matching.replace("%(n)s", summary.matching);
  let warnings = document.getElementById("rd-start-warnings");
  warnings.innerHTML = "";
  summary.heavy.forEach(function (h) { warnings.appendChild(el("li", { "class": "rd-problem", text: h.message })); });
  if (!summary.heavy.length && summary.matching) warnings.appendChild(el("li", { "class": "muted", text: T.no_heavy }));
  if (summary.sampled) warnings.appendChild(el("li", { "class": "muted", text: T.start_sampled.replace("%(n)s", summary.planned) }));
  startBox.querySelector('input[value="from_now"]').checked = true;
  startThen = then;
  startBox.hidden = false;
  startBox.querySelector('input[value="from_now"]').focus();
}
document.getElementById("rd-start-cancel").addEventListener("click", function () { startBox.hidden = true; startThen = null; });
document.getElementById("rd-start-go").addEventListener("click", function () {
  let start = startBox.querySelector('input[name="rd-start"]:checked').value;
  let then = startThen;
  startBox.hidden = true;
  startThen = null;
  if (then) then(start);
});

/* A large rule's due times are computed by the worker after enabling: the progress paragraph
 * (rules/_due_build.html) re-reads itself until they are done. */
function watchDueBuild(rule) {
  let box = document.getElementById("rd-due-build");
  if (!box || rule.due_build_percent === null || rule.due_build_percent === undefined) return;
  htmx.ajax("GET", box.dataset.url, { target: "#rd-due-build", swap: "outerHTML" });
}

function publish(confirm, start) {
  // an enabled rule stays enabled: the server asks, as for enabling, when it matches every order
  return api("POST", ruleUrl("/publish"), { confirm: confirm, start: start }).then(function (rule) {
    status(T.published);
    watchDueBuild(rule);
    document.getElementById("rd-version").textContent = "v" + rule.version + " · " + rule.status;
  }).catch(function (err) {
    if (err instanceof ApiError && err.code === "rule.confirm_required" && window.confirm(confirmText(err))) return publish(true, start);
    refused(err);
  });
}
document.getElementById("rd-publish").addEventListener("click", function () {
  save().then(function () {
    if (!isEnabled()) return publish(false, "from_now");
    return api("POST", "/api/v1/rules/dry-run", collect()).then(function (dry) {
      askStart(T.start_publish, dry.summary, function (start) { publish(false, start); });
    });
  }).catch(refused);
});
function enable(confirm, start) {
  return api("POST", ruleUrl("/enable"), { confirm: confirm, start: start }).then(function (rule) {
    designer.dataset.enabled = "true";
    watchDueBuild(rule);
    status(T.enabled);
  }).catch(function (err) {
    if (err instanceof ApiError && err.code === "rule.confirm_required" && window.confirm(confirmText(err))) return enable(true, start);
    refused(err);
  });
}
document.getElementById("rd-enable").addEventListener("click", function () {
  api("GET", ruleUrl("/enable-preview")).then(function (preview) {
    askStart(T.start_enable, preview.summary, function (start) { enable(false, start); });
  }).catch(refused);
});
document.getElementById("rd-disable").addEventListener("click", function () {
  api("POST", ruleUrl("/disable")).then(function () { designer.dataset.enabled = "false"; status(T.disabled); }).catch(refused);
});

syncTrigger();
triggerDetails.init(definition.trigger);
scopeEditor.init(definition.scope);
actionsEditor.init(definition.actions);
document.getElementById("rd-preview-number").value = R.CHOICES.first_order;
changed(true);
window.gendanRuleDesigner = { toLogic: function () { return toLogic(root); }, collect: collect };
