/* A dashboard: each tile fetches its report's rows with the page's filters (the GET parameters:
 * from, to, team, tier) and draws them (draw.js, as the report designer does); a click on a bar or
 * slice opens the orders behind it, and each tile links to itself in Excel with the same filters.
 * Designers arrange tiles: drag a tile by its title to move it (SortableJS), drag its corner to
 * resize it on the 12-column grid, add reports, share, rename, save. */
import { api, ApiError } from "../shared/api.js";
import { chartOption, funnelList } from "./draw.js";

const $ = (id) => document.getElementById(id);
const read = (id) => JSON.parse($(id).textContent);
const definition = read("db-definition"), FIELDS = read("db-fields"), W = read("db-words");
const root = $("dashboard"), key = root.dataset.key, editing = root.dataset.edit === "true";
const grid = $("db-grid");
// the reports' names in the reader's language: a tile added since the last save is named, not keyed
const REPORT_NAMES = {};
read("db-reports").forEach(function (r) { REPORT_NAMES[r.value] = r.label; });
const charts = [];

function label(name) { return FIELDS[name] || name; }
let countWord = W.count;  // what a count counts: the drawn tile's data set (orders, to-dos, ...)
function measureName(m) {
  if (m.op === "count") return countWord;
  if (m.op === "rate") return W.rate;
  return W.ops[m.op] + " · " + label(m.field);
}
function valueLabel(result, i, v) {
  if (v === null || v === undefined) return W.empty_value;
  let named = (result.labels[i] || {})[String(v)];
  return named !== undefined ? named : String(v);
}
function num(v) { return v === null || v === undefined ? null : Math.round(Number(v) * 100) / 100; }
const words = { valueLabel: valueLabel, num: num, measureName: measureName };

function el(tag, attrs, text) {
  let node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
  if (text !== undefined) node.textContent = text;
  return node;
}

function drill(report, cell) {
  let filters = {};
  new URLSearchParams(window.location.search).forEach(function (v, k) {
    if (["from", "to", "team", "tier"].indexOf(k) >= 0 && v) filters[k] = v;
  });
  api("POST", "/api/v1/reports/drill", { definition: report, cell: cell, key: report.key, filters: filters })
    .then(function (answer) { window.location.href = answer.url; })
    .catch(function (err) { window.alert(err instanceof ApiError ? err.message : String(err)); });
}

function table(result, report) {
  let nd = result.dimensions.length, t = el("table", { "class": "table rp-result" }), head = el("tr");
  result.dimensions.forEach(function (d) { head.appendChild(el("th", {}, label(d.field))); });
  result.measures.forEach(function (m) { head.appendChild(el("th", {}, measureName(m))); });
  t.appendChild(el("thead")).appendChild(head);
  let body = t.appendChild(el("tbody"));
  result.rows.forEach(function (row) {
    let tr = body.appendChild(el("tr"));
    row.forEach(function (v, i) { tr.appendChild(el("td", i >= nd ? { "class": "num" } : {}, i < nd ? valueLabel(result, i, v) : String(num(v)))); });
    tr.addEventListener("click", function () { drill(report, row.slice(0, nd)); });
  });
  return t;
}

function pivot(result, report) {
  let nd = result.dimensions.length, rowsKeys = [], colKeys = [], cells = {};
  result.rows.forEach(function (r) {
    if (rowsKeys.indexOf(r[0]) < 0) rowsKeys.push(r[0]);
    if (colKeys.indexOf(r[1]) < 0) colKeys.push(r[1]);
    cells[JSON.stringify([r[0], r[1]])] = r;
  });
  let t = el("table", { "class": "table rp-result rp-pivot" }), head = el("tr");
  head.appendChild(el("th", {}, label(result.dimensions[0].field) + " / " + label(result.dimensions[1].field)));
  colKeys.forEach(function (c) { head.appendChild(el("th", {}, valueLabel(result, 1, c))); });
  t.appendChild(el("thead")).appendChild(head);
  let body = t.appendChild(el("tbody"));
  rowsKeys.forEach(function (rk) {
    let tr = body.appendChild(el("tr"));
    tr.appendChild(el("th", {}, valueLabel(result, 0, rk)));
    colKeys.forEach(function (ck) {
      let r = cells[JSON.stringify([rk, ck])];
      let td = tr.appendChild(el("td", { "class": "num" }, r ? String(num(r[nd])) : ""));
      if (r) td.addEventListener("click", function () { drill(report, r.slice(0, nd)); });
    });
  });
  return t;
}

/* The funnel's steps in words under the chart: how many reached each, and the share of the step before. */
function stepsList(result, report) {
  let list = funnelList(result, words, W.of_previous, function (cell) { drill(report, cell); });
  list.setAttribute("aria-label", W.conversion);
  return list;
}

function drawTile(box, report, result) {
  let view = (report.view || {}).type || "table", nd = result.dimensions.length;
  countWord = (W.nouns || {})[result.dataset || "orders"] || W.count;
  box.textContent = "";
  // no rows (a team or a date range without orders): said in words, not an empty frame of axes
  if (!result.rows.length) { box.appendChild(el("p", { "class": "muted db-empty" }, W.no_rows)); return; }
  if (view === "pivot" && nd >= 2) { box.appendChild(pivot(result, report)); return; }
  if (view === "kpi") { box.appendChild(el("div", { "class": "rp-kpi" }, result.rows[0] ? String(num(result.rows[0][nd])) : "—")); return; }
  let charted = ["line", "bar", "stacked_bar", "pie", "ring", "funnel", "heatmap"].indexOf(view) >= 0 && nd >= (view === "heatmap" ? 2 : 1);
  if (!charted || !window.echarts) { box.appendChild(table(result, report)); return; }
  let conversion = view === "funnel" && !!(report.view || {}).conversion;
  let holder = box.appendChild(el("div", { "class": conversion ? "db-chart db-chart-short" : "db-chart" }));
  if (conversion) box.appendChild(stepsList(result, report));
  let chart = window.echarts.init(holder);
  chart.setOption(chartOption(result, view, words, conversion));
  chart.on("click", function (p) { if (p.data && p.data.cell) drill(report, p.data.cell); });
  holder.dataset.rows = String(result.rows.length);
  charts.push(chart);
}

function place(node, tile) {
  node.style.gridColumn = "span " + tile.w;
  node.style.gridRow = "span " + tile.h;
}

function render() {
  grid.textContent = "";
  charts.length = 0;
  definition.tiles.forEach(function (tile, i) {
    let node = el("section", { "class": "db-tile", "data-index": String(i), "data-report": tile.report });
    place(node, tile);
    let title = node.appendChild(el("h2", {}, REPORT_NAMES[tile.report] || tile.report));
    let body = node.appendChild(el("div", { "class": "db-body" }, W.loading));
    if (editing) {
      let remove = el("button", { type: "button", "class": "rp-remove", "aria-label": W.remove, title: W.remove }, "×");
      remove.addEventListener("click", function () { definition.tiles.splice(i, 1); render(); });
      title.appendChild(remove);
      let handle = node.appendChild(el("button", { type: "button", "class": "db-resize", "aria-label": W.resize, title: W.resize }));
      resizable(node, handle, tile);
    }
    grid.appendChild(node);
    // the server knows a tile by its place in the stored definition, not on the page (a tile removed,
    // moved or added since changes the page's order): added since the last save, drawn once saved
    let stored = STORED_INDEX.get(tile);
    if (stored === undefined) { body.textContent = ""; return; }
    // the tile in Excel, as drawn: the same report and the dashboard's filters (the page's GET parameters)
    let tools = node.appendChild(el("p", { "class": "db-tools" }));
    tools.appendChild(el("a", { href: "/dashboards/" + encodeURIComponent(key) + "/tiles/" + stored + "/export.xlsx" + window.location.search,
                                download: "", "class": "db-export" }, W.export));
    api("GET", "/api/v1/dashboards/" + encodeURIComponent(key) + "/tiles/" + stored + window.location.search).then(function (answer) {
      let name = answer.report.name || {};
      title.firstChild.textContent = (document.documentElement.lang === "en" ? name.en : name.zh) || name.en || name.zh || tile.report;
      drawTile(body, answer.report, answer.result);
      node.dataset.ready = "true";
    }).catch(function (err) { body.textContent = err instanceof ApiError ? err.message : String(err); });
  });
}

function resizable(node, handle, tile) {
  handle.addEventListener("pointerdown", function (e) {
    e.preventDefault();
    handle.setPointerCapture(e.pointerId);
    let box = node.getBoundingClientRect(), col = grid.getBoundingClientRect().width / 12;
    let row = 80, startX = e.clientX, startY = e.clientY;
    function move(ev) {
      tile.w = Math.max(1, Math.min(12, Math.round((box.width + ev.clientX - startX) / col)));
      tile.h = Math.max(2, Math.min(12, Math.round((box.height + ev.clientY - startY) / row)));
      place(node, tile);
    }
    function up() {
      handle.removeEventListener("pointermove", move);
      handle.removeEventListener("pointerup", up);
      charts.forEach(function (c) { c.resize(); });
    }
    handle.addEventListener("pointermove", move);
    handle.addEventListener("pointerup", up);
  });
}

/* x, y from the order on the grid: tiles fill rows of 12 columns left to right */
function packed() {
  let x = 0, y = 0, rowHeight = 0;
  return definition.tiles.map(function (t) {
    if (x + t.w > 12) { x = 0; y += rowHeight; rowHeight = 0; }
    let out = { report: t.report, x: x, y: y, w: t.w, h: t.h };
    x += t.w; rowHeight = Math.max(rowHeight, t.h);
    return out;
  });
}

const STORED_INDEX = new Map();  // tile → its index in the stored definition (what /tiles/<i> reads)
definition.tiles.forEach(function (t, i) { STORED_INDEX.set(t, i); });
definition.tiles.sort(function (a, b) { return a.y - b.y || a.x - b.x; });
render();
window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });

const SAVED_FLAG = "gendan.dashboard.saved";
try {
  if (editing && window.sessionStorage.getItem(SAVED_FLAG) === definition.key) {
    window.sessionStorage.removeItem(SAVED_FLAG);
    $("db-status").closest("details").open = true;  // said where it can be read, and arranging goes on
    $("db-status").textContent = W.saved;
  }
} catch (e) { /* no session storage: nothing to say */ }

if (editing) {
  const reports = read("db-reports"), roles = read("db-roles"), departments = read("db-departments");
  const add = $("db-add");
  reports.forEach(function (r) { add.appendChild(el("option", { value: r.value }, r.label)); });
  $("db-add-button").addEventListener("click", function () {
    definition.tiles.push({ report: add.value, x: 0, y: 0, w: 6, h: 4 });
    render();
  });
  const share = definition.shared_with || (definition.shared_with = { roles: [], departments: [] });
  const fieldset = $("db-share");
  [[W.roles, roles, "roles"], [W.departments, departments, "departments"]].forEach(function (group) {
    let p = fieldset.appendChild(el("p", {}, group[0] + ": "));
    group[1].forEach(function (o) {
      let box = el("input", { type: "checkbox", value: String(o.value) });
      box.checked = (share[group[2]] || []).map(String).indexOf(String(o.value)) >= 0;
      box.addEventListener("change", function () {
        let list = (share[group[2]] || []).filter(function (v) { return String(v) !== String(o.value); });
        if (box.checked) list.push(o.value);
        share[group[2]] = list;
      });
      let lab = el("label");
      lab.appendChild(box);
      lab.appendChild(document.createTextNode(" " + o.label + " "));
      p.appendChild(lab);
    });
  });
  window.Sortable.create(grid, {
    handle: "h2", forceFallback: true, fallbackTolerance: 3, animation: 120,
    onUpdate: function (evt) {
      let moved = definition.tiles.splice(evt.oldIndex, 1)[0];
      definition.tiles.splice(evt.newIndex, 0, moved);
    },
  });
  /* the name box renames in the reader's language; a name made on the dashboards page is the same
   * in both languages, and stays so */
  const nameBox = $("db-name"), lang = document.documentElement.lang === "en" ? "en" : "zh";
  function renamed() {
    let name = Object.assign({}, definition.name || {}), typed = nameBox.value;
    if (name.zh === name.en || !name.zh || !name.en) { name.zh = typed; name.en = typed; } else { name[lang] = typed; }
    return name;
  }
  $("db-save").addEventListener("click", function () {
    let body = Object.assign({}, definition, { tiles: packed(), name: renamed() });
    // the last save's "saved" must not stand for this one while it is on its way
    $("db-status").textContent = W.saving;
    api("POST", "/api/v1/dashboards", body).then(function () {
      // the page is read again (the tiles drawn by the server); it says "saved" once it is back, and
      // only then: said before the reload, a reader (or a test) acting on it lost the page under it
      try {
        window.sessionStorage.setItem(SAVED_FLAG, definition.key);
      } catch (e) {
        $("db-status").textContent = W.saved;  // private mode: no flag survives, say it now
      }
      window.location.reload();
    }).catch(function (err) { $("db-status").textContent = err instanceof ApiError ? err.message : String(err); });
  });
}
