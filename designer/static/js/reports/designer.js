/* The report designer: drag fields onto Dimensions / Measures / Filters (SortableJS), a live
 * preview (POST /api/v1/reports/run) drawn as a table, a pivot table or an ECharts chart, and a
 * click on a bar / slice / cell that opens the orders behind it (POST /api/v1/reports/drill).
 * The filter well is the rule builder's condition model: condition.js turns it into JSON-logic and
 * reads it back, so a report filter means what a rule condition means. */
import * as R from "../rules/common.js";
import * as C from "../rules/condition.js";
import { api, ApiError } from "../shared/api.js";
import { chartOption, funnelList } from "./draw.js";

const { FIELDS, FIELD, el } = R;
const W = JSON.parse(document.getElementById("rp-words").textContent);
const initial = JSON.parse(document.getElementById("rd-definition").textContent);
const NUMERIC_OPS = ["sum", "avg", "min", "max", "median", "p90"];

const DATASET_FIELDS = JSON.parse(document.getElementById("rp-dataset-fields").textContent);
const state = {
  dataset: initial.dataset || "orders", key: initial.key || "", name: initial.name || {}, view: (initial.view || {}).type || "bar",
  limit: initial.limit || 100, sort: initial.sort || [],
  dimensions: (initial.dimensions || []).slice(), measures: (initial.measures || []).slice(),
  filters: initial.filter ? C.fromLogic(initial.filter) : { kind: "group", op: "and", items: [] },
  conversion: !!(initial.view || {}).conversion,  // a funnel: each stage's share of the stage before
};
if (state.filters.kind !== "group") state.filters = { kind: "group", op: "and", items: [state.filters] };

const $ = (id) => document.getElementById(id);
const label = (name) => (FIELD[name] ? FIELD[name].label : name);
const typeOf = (name) => (FIELD[name] || {}).type || "string";
const isTime = (name) => ["date", "datetime"].indexOf(typeOf(name)) >= 0;

function definition() {
  let filter = state.filters.items.length ? C.toLogic(state.filters) : null;
  return { schema_version: 1, key: $("rp-key").value.trim(), name: { zh: $("rp-name-zh").value, en: $("rp-name-en").value },
           dataset: state.dataset, dimensions: state.dimensions, measures: state.measures, filter: filter,
           sort: state.sort.filter(function (s) { return valid(s.by); }), limit: Number($("rp-limit").value) || 100,
           view: viewOf($("rp-view").value) };
}
/* the view with its options: a funnel's conversion only on a funnel (other options kept as loaded) */
function viewOf(type) {
  let view = Object.assign({}, initial.view || {}, { type: type });
  delete view.conversion;
  if (type === "funnel" && state.conversion) view.conversion = true;
  return view;
}
function isConversion() { return $("rp-view").value === "funnel" && state.conversion; }
function valid(by) {
  let list = by[0] === "d" ? state.dimensions : state.measures;
  return Number(by.slice(1)) < list.length;
}

/* --- the data set: its own fields (the rule builder's FIELDS / FIELD are swapped in place) */
function countLabel() { return (W.nouns || {})[state.dataset] || W.count; }
function useDataset(name) {
  state.dataset = name;
  FIELDS.length = 0;
  Object.keys(FIELD).forEach(function (k) { delete FIELD[k]; });
  (DATASET_FIELDS[name] || []).forEach(function (f) { FIELDS.push(f); FIELD[f.name] = f; });
}
function switchDataset(name) {
  // fields of one data set mean nothing in another: start the wells over
  useDataset(name);
  state.dimensions = []; state.measures = [{ op: "count" }]; state.sort = [];
  state.filters = { kind: "group", op: "and", items: [] };
  renderFields();
  changed();
}

/* --- adding fields to the wells */
function addTo(well, name) {
  if (well === "dimensions") {
    if (state.dimensions.length >= 3 || typeOf(name) === "list" || name.indexOf("stage_hours.") === 0) return;
    state.dimensions.push(isTime(name) ? { field: name, bucket: "month" } : { field: name });
  } else if (well === "measures") {
    if (state.measures.length >= 6) return;
    // a number: its sum (stage hours: p90); another field: how many distinct values (a list: the rows)
    let type = typeOf(name);
    state.measures.push(type === "number" ? { op: name.indexOf("stage_hours.") === 0 ? "p90" : "sum", field: name }
      : (type === "list" ? { op: "count" } : { op: "count_distinct", field: name }));
  } else {
    let ops = C.OPS[typeOf(name)] || C.OPS.string;
    state.filters.items.push({ kind: "cond", field: name, op: ops[0], value: "", rhs: "value", n: 1, unit: "days" });
  }
  changed();
}

function fieldItem(f) {
  let li = el("li", { "class": "rp-field", "data-field": f.name, tabindex: "0" }, [el("span", { text: f.label })]);
  let buttons = el("span", { "class": "rp-field-buttons" });
  // the buttons' short words come translated (a zh-CN page showed the letters D, M and F)
  [["dimensions", W.short_dimension || "D", W.add_dimension], ["measures", W.short_measure || "M", W.add_measure],
   ["filters", W.short_filter || "F", W.add_filter]].forEach(function (b) {
    buttons.appendChild(el("button", { type: "button", title: b[2], "aria-label": b[2] + ": " + f.label, text: b[1],
                                       onclick: function () { addTo(b[0], f.name); } }));
  });
  li.appendChild(buttons);
  return li;
}

function renderFields() {
  let list = $("rp-field-list"), q = $("rp-field-search").value.trim().toLowerCase();
  list.textContent = "";
  list.appendChild(fieldItem({ name: "__count", label: countLabel() }));
  FIELDS.forEach(function (f) {
    if (f.name === "data") return;
    if (q && f.label.toLowerCase().indexOf(q) < 0 && f.name.indexOf(q) < 0) return;
    list.appendChild(fieldItem(f));
  });
}

function selectOf(labelText, options, value, onchange) {
  let s = el("select", { "aria-label": labelText });
  Object.keys(options).forEach(function (k) {
    let o = el("option", { value: k, text: options[k] });
    if (k === value) o.selected = true;
    s.appendChild(o);
  });
  s.addEventListener("change", function () { onchange(s.value); });
  return s;
}
function removeButton(list, i) {
  return el("button", { type: "button", "class": "rp-remove", "aria-label": W.remove, title: W.remove, text: "×",
                        onclick: function () { list.splice(i, 1); changed(); } });
}

function renderWells() {
  let dims = $("rp-dimensions"); dims.textContent = "";
  state.dimensions.forEach(function (d, i) {
    let li = el("li", { "class": "rp-chip", "data-field": d.field }, [el("span", { text: label(d.field) })]);
    if (isTime(d.field)) li.appendChild(selectOf(W.bucket, W.buckets, d.bucket || "month", function (v) { d.bucket = v; changed(); }));
    li.appendChild(removeButton(state.dimensions, i));
    dims.appendChild(li);
  });
  let meas = $("rp-measures"); meas.textContent = "";
  state.measures.forEach(function (m, i) {
    let li = el("li", { "class": "rp-chip", "data-field": m.field || "" });
    if (m.op === "count") li.appendChild(el("span", { text: countLabel() }));
    else if (m.op === "rate") li.appendChild(el("span", { text: W.ops.rate + ": " + C.describe(C.fromLogic(m.where)) }));
    else {
      li.appendChild(selectOf(W.measure, measureOps(m.field), m.op, function (v) { m.op = v; changed(); }));
      li.appendChild(el("span", { text: label(m.field) }));
    }
    li.appendChild(removeButton(state.measures, i));
    meas.appendChild(li);
  });
  let filters = $("rp-filters"); filters.textContent = "";
  state.filters.items.forEach(function (node, i) {
    let li = el("li", { "class": "rp-chip rp-filter", "data-field": node.field || "" });
    if (node.kind !== "cond") { li.appendChild(el("span", { text: C.describe(node) })); }
    else {
      li.appendChild(el("span", { text: label(node.field) }));
      let ops = {}; (C.OPS[typeOf(node.field)] || C.OPS.string).forEach(function (o) { ops[o] = R.T[o] || o; });
      li.appendChild(selectOf(W.operator, ops, node.op, function (v) { node.op = v; changed(); }));
      if (C.isRelative(node.op)) {
        li.appendChild(el("input", { type: "number", min: "0", value: String(node.n || 1), "aria-label": W.value,
                                     oninput: function (e) { node.n = Number(e.target.value); changed(true); } }));
        let units = {}; (C.UNITS[typeOf(node.field)] || ["days"]).forEach(function (u) { units[u] = R.T[u] || u; });
        li.appendChild(selectOf(W.value, units, node.unit, function (v) { node.unit = v; changed(); }));
      } else if (["set", "empty", "is_true", "is_false"].indexOf(node.op) < 0) {
        let f = FIELD[node.field] || {};
        if (f.options && f.options.length && node.op !== "contains") {
          let opts = {}; f.options.forEach(function (o) { opts[o] = (f.option_labels || {})[o] || o; });
          if (node.op === "one_of") {
            let vals = Array.isArray(node.value) ? node.value : [];
            f.options.forEach(function (o) {
              let box = el("input", { type: "checkbox", value: o });
              box.checked = vals.indexOf(o) >= 0;
              box.addEventListener("change", function () {
                node.value = Array.from(li.querySelectorAll("input[type=checkbox]:checked")).map(function (b) { return b.value; });
                changed(true);
              });
              li.appendChild(el("label", {}, [box, el("span", { text: opts[o] })]));
            });
          } else {
            if (node.value === "" || node.value === undefined) node.value = f.options[0];
            li.appendChild(selectOf(W.value, opts, String(node.value), function (v) { node.value = v; changed(); }));
          }
        } else {
          li.appendChild(el("input", { type: typeOf(node.field) === "date" ? "date" : (typeOf(node.field) === "number" ? "number" : "text"),
                                       value: node.value === undefined ? "" : String(node.value), "aria-label": W.value,
                                       oninput: function (e) { node.value = e.target.value; changed(true); } }));
        }
      }
    }
    li.appendChild(removeButton(state.filters.items, i));
    filters.appendChild(li);
  });
  $("rp-filter-words").textContent = C.describe(state.filters);
  renderSort();
}

/* what a measure of a field may be: a number's sum … p90, and for any field but stage hours the
 * number of distinct values (e.g. distinct customers, or orders of order events) */
function measureOps(field) {
  let ops = {}, numeric = typeOf(field) === "number";
  if (numeric) NUMERIC_OPS.forEach(function (o) { ops[o] = W.ops[o]; });
  if (field.indexOf("stage_hours.") !== 0) ops.count_distinct = W.ops.count_distinct;
  return ops;
}

function renderSort() {
  let s = $("rp-sort"), current = state.sort.length ? state.sort[0].by + ":" + state.sort[0].dir : "";
  s.textContent = "";
  s.appendChild(el("option", { value: "", text: W.default_order }));
  let add = function (by, text) {
    ["desc", "asc"].forEach(function (dir) {
      let o = el("option", { value: by + ":" + dir, text: text + " · " + W[dir] });
      if (o.value === current) o.selected = true;
      s.appendChild(o);
    });
  };
  state.dimensions.forEach(function (d, i) { add("d" + i, label(d.field)); });
  state.measures.forEach(function (m, i) { add("m" + i, measureName(m)); });
}
function measureName(m) {
  if (m.op === "count") return countLabel();
  if (m.op === "rate") return W.ops.rate;
  return W.ops[m.op] + " · " + label(m.field);
}

/* --- preview */
let timer = null, seq = 0, chart = null, lastResult = null, lastDefinition = null;
function changed(keepInputs) {
  if (!keepInputs) renderWells();
  else $("rp-filter-words").textContent = C.describe(state.filters);
  clearTimeout(timer);
  $("rp-preview").setAttribute("aria-busy", "true");  // what is drawn is not what is designed yet
  timer = setTimeout(preview, 350);
}
function status(text) { $("rp-status").textContent = text; }

function preview() {
  let mine = ++seq, def = definition();
  $("rp-note").textContent = W.loading;
  api("POST", "/api/v1/reports/run", { definition: def }).then(function (result) {
    if (mine !== seq) return;
    lastResult = result; lastDefinition = def;
    $("rp-preview").setAttribute("aria-busy", "false");
    $("rp-note").textContent = result.more ? W.more : "";
    draw(result, def.view.type);
  }).catch(function (err) {
    if (mine !== seq) return;
    $("rp-preview").setAttribute("aria-busy", "false");
    $("rp-note").textContent = err instanceof ApiError ? err.message : String(err);
  });
}

function valueLabel(result, i, v) {
  if (v === null || v === undefined) return W.empty_value;
  let named = (result.labels[i] || {})[String(v)];
  return named !== undefined ? named : String(v);
}
function num(v) { return v === null || v === undefined ? null : Math.round(Number(v) * 100) / 100; }
const WORDS = { valueLabel: valueLabel, num: num, measureName: measureName };

function drill(cell) {
  api("POST", "/api/v1/reports/drill", { definition: lastDefinition, cell: cell, key: $("rp-key").readOnly ? $("rp-key").value : null })
    .then(function (answer) { window.location.href = answer.url; })
    .catch(function (err) { status(err instanceof ApiError ? err.message : String(err)); });
}

function drawTable(result) {
  let nd = result.dimensions.length, box = $("rp-table");
  let table = el("table", { "class": "table rp-result" });
  let head = el("tr");
  result.dimensions.forEach(function (d) { head.appendChild(el("th", { text: label(d.field) })); });
  result.measures.forEach(function (m) { head.appendChild(el("th", { text: measureName(m) })); });
  table.appendChild(el("thead", {}, [head]));
  let body = el("tbody");
  result.rows.forEach(function (row) {
    let tr = el("tr", { "class": "rp-row" });
    row.forEach(function (v, i) {
      let td = el("td", { text: i < nd ? valueLabel(result, i, v) : String(num(v) === null ? "—" : num(v)) });
      if (i >= nd) td.className = "num";
      tr.appendChild(td);
    });
    tr.addEventListener("click", function () { drill(row.slice(0, nd)); });
    body.appendChild(tr);
  });
  table.appendChild(body);
  box.textContent = "";
  box.appendChild(table);
}

function drawPivot(result) {
  if (result.dimensions.length < 2) { drawTable(result); return; }
  let rowsKeys = [], colKeys = [], cells = {};
  result.rows.forEach(function (r) {
    if (rowsKeys.indexOf(r[0]) < 0) rowsKeys.push(r[0]);
    if (colKeys.indexOf(r[1]) < 0) colKeys.push(r[1]);
    cells[JSON.stringify([r[0], r[1]])] = r;
  });
  let table = el("table", { "class": "table rp-result rp-pivot" });
  let head = el("tr", {}, [el("th", { text: label(result.dimensions[0].field) + " / " + label(result.dimensions[1].field) })]);
  colKeys.forEach(function (c) { head.appendChild(el("th", { text: valueLabel(result, 1, c) })); });
  table.appendChild(el("thead", {}, [head]));
  let body = el("tbody");
  rowsKeys.forEach(function (rk) {
    let tr = el("tr", {}, [el("th", { text: valueLabel(result, 0, rk) })]);
    colKeys.forEach(function (ck) {
      let r = cells[JSON.stringify([rk, ck])];
      let td = el("td", { "class": "num", text: r ? String(num(r[result.dimensions.length])) : "" });
      if (r) td.addEventListener("click", function () { drill(r.slice(0, result.dimensions.length)); });
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  table.appendChild(body);
  $("rp-table").textContent = "";
  $("rp-table").appendChild(table);
}

function draw(result, view) {
  let chartBox = $("rp-chart"), kpi = $("rp-kpi"), steps = $("rp-funnel-steps");
  kpi.hidden = view !== "kpi";
  if (view === "kpi") {
    let r = result.rows[0];
    kpi.textContent = r ? String(num(r[result.dimensions.length])) : "—";
  }
  let charted = ["line", "bar", "stacked_bar", "pie", "ring", "funnel", "heatmap"].indexOf(view) >= 0;
  if (charted && !result.dimensions.length) { charted = false; $("rp-note").textContent = W.need_dimension; }
  if (charted && view === "heatmap" && result.dimensions.length < 2) { charted = false; $("rp-note").textContent = W.need_dimension; }
  chartBox.hidden = !charted;
  if (charted && window.echarts) {
    if (!chart) {
      chart = window.echarts.init(chartBox);
      chart.on("click", function (p) { if (p.data && p.data.cell) drill(p.data.cell); });
      window.addEventListener("resize", function () { chart.resize(); });
    }
    chart.setOption(chartOption(result, view, WORDS, view === "funnel" && state.conversion), true);
    chart.resize();
    chartBox.dataset.rows = String(result.rows.length);
  }
  // a conversion funnel also lists its steps in words: how many reached each, the share of the one before
  steps.textContent = "";
  steps.hidden = !(charted && view === "funnel" && state.conversion);
  if (!steps.hidden) steps.appendChild(funnelList(result, WORDS, W.of_previous, drill)).setAttribute("aria-label", W.conversion);
  if (view === "pivot") drawPivot(result); else drawTable(result);
}

/* --- save, publish */
function save() {
  return api("POST", "/api/v1/reports", definition()).then(function (row) {
    status(W.saved);
    $("rp-key").readOnly = true;
    $("rp-version").textContent = "v" + row.version + " · " + row.status;
    let link = $("rp-export");
    link.href = "/reports/" + encodeURIComponent(row.key) + "/export.xlsx";
    link.hidden = false;
    if (window.location.pathname.endsWith("/new")) history.replaceState(null, "", "/designer/reports/" + row.key);
    return row;
  }).catch(function (err) { status(said(err)); throw err; });
}
/* What a refused save says: the summary ("the report has 2 problems") and each problem after it. */
function said(err) {
  if (!(err instanceof ApiError)) return String(err);
  const each = Object.values(err.fields).map(function (f) { return f.message; })
    .filter(function (m, i, all) { return m && m !== err.message && all.indexOf(m) === i; });
  return [err.message].concat(each).join(" ");
}
function publish() {
  save().then(function (row) {
    return api("POST", "/api/v1/reports/" + encodeURIComponent(row.key) + "/publish");
  }).then(function (row) { status(W.published); $("rp-version").textContent = "v" + row.version + " · " + row.status; })
    .catch(function (err) { if (err instanceof ApiError) status(said(err)); });
}

/* --- start */
useDataset(state.dataset);
$("rp-dataset").value = state.dataset;
$("rp-dataset").addEventListener("change", function (e) { switchDataset(e.target.value); });
$("rp-key").value = state.key;
$("rp-name-zh").value = state.name.zh || state.name["zh-CN"] || "";
$("rp-name-en").value = state.name.en || "";
$("rp-view").value = state.view;
$("rp-limit").value = String(state.limit);
$("rp-conversion").checked = state.conversion;
function showConversion() { $("rp-conversion-option").hidden = $("rp-view").value !== "funnel"; }
showConversion();
// the server orders a conversion funnel's stages as the flow runs: such a change runs the preview again
$("rp-view").addEventListener("change", function () {
  showConversion();
  if (lastResult && !state.conversion) draw(lastResult, $("rp-view").value); else changed(true);
});
$("rp-conversion").addEventListener("change", function (e) { state.conversion = e.target.checked; changed(true); });
$("rp-limit").addEventListener("change", function () { changed(true); });
$("rp-sort").addEventListener("change", function (e) {
  let v = e.target.value;
  state.sort = v ? [{ by: v.split(":")[0], dir: v.split(":")[1] }] : [];
  changed(true);
});
$("rp-field-search").addEventListener("input", renderFields);
$("rp-save").addEventListener("click", function () { save().catch(function () {}); });
$("rp-publish").addEventListener("click", publish);
renderFields();
renderWells();
if (window.Sortable) {
  window.Sortable.create($("rp-field-list"), { group: { name: "rp", pull: "clone", put: false }, sort: false,
    forceFallback: true, fallbackTolerance: 3, filter: "button", preventOnFilter: false });
  ["rp-dimensions", "rp-measures", "rp-filters"].forEach(function (id) {
    let well = $(id);
    window.Sortable.create(well, {
      group: { name: "rp", pull: false, put: true }, forceFallback: true, fallbackTolerance: 3,
      filter: "select, input, button", preventOnFilter: false,
      onAdd: function (evt) {
        let name = evt.item.dataset.field;
        evt.item.remove();
        renderFields();  // SortableJS left a clone without handlers in the field list: its buttons would be dead
        if (name === "__count") { if (well.dataset.well === "measures") { state.measures.push({ op: "count" }); changed(); } return; }
        addTo(well.dataset.well, name);
      },
      onUpdate: function (evt) {
        let list = well.dataset.well === "filters" ? state.filters.items : state[well.dataset.well];
        let moved = list.splice(evt.oldIndex, 1)[0];
        list.splice(evt.newIndex, 0, moved);
        changed();
      },
    });
  });
}
preview();
