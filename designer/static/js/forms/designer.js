// The form designer: edits the FormDefinition JSON in the browser; the server validates it.
// Palette -> canvas by drag (SortableJS, pointer fallback so it also works with a mouse driver),
// reorder by drag, click a card to edit its properties; every change is undoable.
import { ApiError, api, showError } from "../shared/api.js";

const KEY = "order";
const T = JSON.parse(document.getElementById("forms-i18n").textContent);
let defn = JSON.parse(document.getElementById("forms-definition").textContent);
defn.fields = defn.fields || [];
let selected = null;          // index of the selected field
let issues = {};              // field index -> [messages]; "_" -> form-level messages
const undoStack = [];

const $ = (id) => document.getElementById(id);
const canvas = $("forms-canvas");
const props = $("forms-properties");
const message = $("forms-message");

function snapshot() {
  undoStack.push(JSON.stringify(defn));
  if (undoStack.length > 100) undoStack.shift();
  $("forms-undo").disabled = false;
}

function change(mutate) {
  snapshot();
  mutate();
  render();
}

function uniqueKey(base) {
  const keys = new Set(defn.fields.map((f) => f.key));
  let n = 1;
  while (keys.has(`${base}_${n}`)) n += 1;
  return `${base}_${n}`;
}

function both(zh, en) { return { "zh-CN": zh, en: en }; }

function newField(type) {
  const name = T.types[type] || type;
  const f = { key: uniqueKey(type), type: type, label: both(name, name), width: 1 };
  if (type === "single_select" || type === "multi_select") {
    f.options = [{ value: "option_1", label: both("选项1", "Option 1") },
                 { value: "option_2", label: both("选项2", "Option 2") }];
  } else if (type === "computed") {
    f.expression = 0;
    f.result_type = "number";
  } else if (type === "money") {
    f.currency = "CNY";
  } else if (type === "description") {
    f.label = {};
    f.content = both("说明文字", "Description");
  } else if (type === "line_items") {
    f.label = both("明细", "Line items");
    f.columns = [
      { key: "product", type: "text", label: both("产品", "Product") },
      { key: "qty", type: "number", label: both("数量", "Quantity") },
      { key: "price", type: "money", label: both("单价", "Unit price") },
      { key: "amount", type: "computed", result_type: "money", label: both("金额", "Amount"),
        expression: { "*": [{ var: "qty" }, { var: "price" }] } },
    ];
    f.totals = ["amount"];
  }
  return f;
}

function label(f) {
  const lang = document.documentElement.lang === "en" ? "en" : "zh-CN";
  const text = (f.label && (f.label[lang] || f.label.en || f.label["zh-CN"])) ||
    (f.content && (f.content[lang] || f.content.en)) || f.key;
  return text;
}

// --- canvas -----------------------------------------------------------------------------------

function render() {
  canvas.textContent = "";
  if (!defn.fields.length) {
    const li = document.createElement("li");
    li.className = "fd-empty";
    li.textContent = T.empty;
    canvas.appendChild(li);
  }
  defn.fields.forEach((f, i) => {
    const li = document.createElement("li");
    li.dataset.index = i;
    li.className = `w${f.width || 1}` + (i === selected ? " selected" : "") + (issues[i] ? " has-issues" : "");
    li.setAttribute("aria-label", `${label(f)} (${T.types[f.type] || f.type})`);
    li.tabIndex = 0;
    const head = document.createElement("div");
    head.className = "fd-card-head";
    const name = document.createElement("strong");
    name.textContent = label(f) + (f.required ? " *" : "");
    const type = document.createElement("span");
    type.className = "fd-type";
    type.textContent = `${T.types[f.type] || f.type} · ${f.key}`;
    const tools = document.createElement("span");
    tools.className = "fd-tools";
    tools.append(button(T.duplicate, () => duplicate(i)), button(T.delete, () => remove(i)));
    head.append(name, type, tools);
    li.appendChild(head);
    (issues[i] || []).forEach((text) => {
      const p = document.createElement("p");
      p.className = "fd-issue";
      p.setAttribute("role", "alert");
      p.textContent = text;
      li.appendChild(p);
    });
    li.addEventListener("click", (e) => { if (!e.target.closest("button")) select(i); });
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") select(i); });
    canvas.appendChild(li);
  });
  const formLevel = issues._ || [];
  if (formLevel.length) showMessage(formLevel.join(" "), true);
  renderProps();
}

function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", (e) => { e.stopPropagation(); onClick(); });
  return b;
}

function select(i) { selected = i; render(); }

function duplicate(i) {
  change(() => {
    const copy = JSON.parse(JSON.stringify(defn.fields[i]));
    copy.key = uniqueKey(copy.type);
    defn.fields.splice(i + 1, 0, copy);
    selected = i + 1;
    issues = {};
  });
}

function remove(i) {
  change(() => {
    defn.fields.splice(i, 1);
    selected = null;
    issues = {};
  });
}

function insert(type, index) {
  change(() => {
    defn.fields.splice(index, 0, newField(type));
    selected = index;
    issues = {};
  });
}

// --- properties -------------------------------------------------------------------------------

const OPTION_TYPES = ["single_select", "multi_select"];
const RANGE_TYPES = ["number", "money", "percent", "multi_select", "line_items", "attachment", "image"];
const LAYOUT = ["section", "description"];

function renderProps() {
  props.textContent = "";
  if (selected === null || !defn.fields[selected]) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = T.select_field;
    props.appendChild(p);
    return;
  }
  const f = defn.fields[selected];
  const data = !LAYOUT.includes(f.type);
  text(T.key, f.key, (v) => { f.key = v; });
  if (f.type !== "description") {
    text(T.label_zh, (f.label || {})["zh-CN"] || "", (v) => { f.label = { ...f.label, "zh-CN": v }; });
    text(T.label_en, (f.label || {}).en || "", (v) => { f.label = { ...f.label, en: v }; });
  } else {
    text(T.label_zh, (f.content || {})["zh-CN"] || "", (v) => { f.content = { ...f.content, "zh-CN": v }; }, true);
    text(T.label_en, (f.content || {}).en || "", (v) => { f.content = { ...f.content, en: v }; }, true);
  }
  if (data) {
    text(T.help_zh, (f.help || {})["zh-CN"] || "", (v) => { f.help = clean({ ...f.help, "zh-CN": v }); });
    text(T.help_en, (f.help || {}).en || "", (v) => { f.help = clean({ ...f.help, en: v }); });
  }
  const width = field(T.width, document.createElement("select"));
  [1, 2, 3].forEach((n) => {
    const o = document.createElement("option");
    o.value = n; o.textContent = n; o.selected = (f.width || 1) === n;
    width.appendChild(o);
  });
  width.addEventListener("change", () => change(() => { f.width = Number(width.value); }));
  if (data && f.type !== "computed") {
    check(T.required, !!f.required, (v) => { f.required = v; });
    check(T.read_only, !!f.read_only, (v) => { f.read_only = v; });
    if (["text", "number", "phone", "email", "date"].includes(f.type)) {
      check(T.unique, !!f.unique, (v) => { f.unique = v; });
    }
    json(T.required_if, f.required_if, (v) => { f.required_if = v; });
  }
  if (data) {
    stagePicker(f);
    json(T.visible_if, f.visible_if, (v) => { f.visible_if = v; });
  }
  if (RANGE_TYPES.includes(f.type)) {
    num(T.min, f.min, (v) => { f.min = v; });
    num(T.max, f.max, (v) => { f.max = v; });
  }
  if (OPTION_TYPES.includes(f.type)) {
    const lines = (f.options || []).map((o) =>
      [o.value, (o.label || {})["zh-CN"] || "", (o.label || {}).en || "", o.color || ""].join("|"));
    text(T.options, lines.join("\n"), (v) => {
      f.options = v.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
        const [value, zh, en, color] = l.split("|").map((s) => (s || "").trim());
        const o = { value: value, label: clean({ "zh-CN": zh || value, en: en || zh || value }) };
        if (color) o.color = color;
        return o;
      });
    }, true);
  }
  if (f.type === "computed") json(T.expression, f.expression, (v) => { f.expression = v; });
  if (f.type === "line_items") {
    columnsEditor(f);
    text(T.totals, (f.totals || []).join(", "), (v) => {
      f.totals = v.split(",").map((s) => s.trim()).filter(Boolean);
    });
  }
  if (data && !["computed", "line_items", "attachment", "image"].includes(f.type)) {
    text(T.default, f.default === undefined || f.default === null ? "" : String(f.default), (v) => {
      if (v === "") delete f.default; else f.default = v;
    });
  }
  // every other property (placeholder, pattern, lengths, dates, decimals, currency, result
  // type, file size, ...) through the field's own JSON; the server checks it on save
  json(T.advanced, f, (v) => { if (v && typeof v === "object") defn.fields[selected] = v; });
}

const COLUMN_TYPES = ["text", "long_text", "number", "money", "percent", "date", "datetime", "single_select",
  "multi_select", "checkbox", "user", "department", "customer", "phone", "email", "attachment", "image",
  "computed"];

function columnsEditor(f) {
  const box = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = T.columns;
  box.appendChild(legend);
  (f.columns || []).forEach((c, ci) => {
    const row = document.createElement("div");
    row.className = "fd-column";
    const n = ci + 1;
    const input = (caption, value, set) => {
      const el = document.createElement("input");
      el.value = value || "";
      el.setAttribute("aria-label", `${T.columns} ${n} ${caption}`);
      el.placeholder = caption;
      el.addEventListener("change", () => change(() => set(el.value)));
      row.appendChild(el);
    };
    input(T.key, c.key, (v) => { c.key = v; });
    input(T.label_zh, (c.label || {})["zh-CN"], (v) => { c.label = { ...c.label, "zh-CN": v }; });
    input(T.label_en, (c.label || {}).en, (v) => { c.label = { ...c.label, en: v }; });
    const type = document.createElement("select");
    type.setAttribute("aria-label", `${T.columns} ${n}`);
    COLUMN_TYPES.forEach((t) => {
      const o = document.createElement("option");
      o.value = t; o.textContent = T.types[t] || t; o.selected = c.type === t;
      type.appendChild(o);
    });
    type.addEventListener("change", () => change(() => {
      c.type = type.value;
      if (c.type === "computed" && c.expression === undefined) { c.expression = 0; c.result_type = "number"; }
    }));
    row.appendChild(type);
    const req = document.createElement("input");
    req.type = "checkbox"; req.checked = !!c.required;
    req.setAttribute("aria-label", `${T.columns} ${n} ${T.required}`);
    req.addEventListener("change", () => change(() => { c.required = req.checked; }));
    row.appendChild(req);
    row.appendChild(button(T.delete, () => change(() => {
      f.columns.splice(ci, 1);
      f.totals = (f.totals || []).filter((k) => k !== c.key);
    })));
    if (c.type === "computed") {
      const expr = document.createElement("textarea");
      expr.value = JSON.stringify(c.expression === undefined ? 0 : c.expression);
      expr.setAttribute("aria-label", `${T.columns} ${n} ${T.expression}`);
      expr.addEventListener("change", () => {
        try { const v = JSON.parse(expr.value); expr.setCustomValidity(""); change(() => { c.expression = v; }); }
        catch (e) { expr.setCustomValidity(e.message); expr.reportValidity(); }
      });
      row.appendChild(expr);
    }
    box.appendChild(row);
  });
  box.appendChild(button(T.add_column, () => change(() => {
    const keys = new Set((f.columns || []).map((c) => c.key));
    let k = 1;
    while (keys.has(`column_${k}`)) k += 1;
    f.columns = [...(f.columns || []), { key: `column_${k}`, type: "text", label: both(`列${k}`, `Column ${k}`) }];
  })));
  props.appendChild(box);
}

function clean(obj) {
  Object.keys(obj).forEach((k) => { if (!obj[k]) delete obj[k]; });
  return obj;
}

function field(caption, control, inline) {
  const l = document.createElement("label");
  if (inline) { l.className = "inline"; l.append(control, document.createTextNode(caption)); }
  else { l.append(document.createTextNode(caption), control); }
  props.appendChild(l);
  return control;
}

function text(caption, value, set, multiline) {
  const input = field(caption, document.createElement(multiline ? "textarea" : "input"));
  input.value = value;
  input.addEventListener("change", () => change(() => set(input.value)));
}

function num(caption, value, set) {
  const input = field(caption, document.createElement("input"));
  input.type = "number"; input.step = "any";
  input.value = value === undefined || value === null ? "" : value;
  input.addEventListener("change", () => change(() => set(input.value === "" ? null : Number(input.value))));
}

function check(caption, value, set) {
  const input = document.createElement("input");
  input.type = "checkbox"; input.checked = value;
  field(caption, input, true);
  input.addEventListener("change", () => change(() => set(input.checked)));
}

function json(caption, value, set) {
  const input = field(caption, document.createElement("textarea"));
  input.value = value === undefined || value === null ? "" : JSON.stringify(value);
  input.addEventListener("change", () => {
    let parsed = null;
    try { parsed = input.value.trim() ? JSON.parse(input.value) : null; }
    catch (e) { input.setCustomValidity(e.message); input.reportValidity(); return; }
    input.setCustomValidity("");
    change(() => set(parsed));
  });
}

// "Shown from stage": writes the visible_if {"in": [{"var": "stage"}, [that stage, ...later ones]]}
// (backend/forms/service.py:shown_from_stage has the same shape), so nobody types JSON for it.
function stageFrom(cond) {
  const keys = T.stages.map((s) => s[0]);
  if (!cond || typeof cond !== "object" || !Array.isArray(cond.in) || cond.in.length !== 2) return null;
  const [v, list] = cond.in;
  if (!v || v.var !== "stage" || !Array.isArray(list) || !list.length) return null;
  const i = keys.indexOf(list[0]);
  if (i < 0 || JSON.stringify(keys.slice(i)) !== JSON.stringify(list)) return null;
  return list[0];
}

function stagePicker(f) {
  const picker = field(T.shown_from, document.createElement("select"));
  picker.name = "shown_from_stage";
  const current = stageFrom(f.visible_if);
  const custom = f.visible_if !== undefined && f.visible_if !== null && current === null;
  const choices = [["", T.always_shown]].concat(T.stages);
  if (custom) choices.push(["_custom", T.custom_condition]);
  choices.forEach(([value, label]) => {
    const o = document.createElement("option");
    o.value = value; o.textContent = label;
    o.selected = custom ? value === "_custom" : value === (current || "");
    picker.appendChild(o);
  });
  picker.addEventListener("change", () => change(() => {
    if (picker.value === "_custom") return;
    if (picker.value === "") { delete f.visible_if; return; }
    const keys = T.stages.map((s) => s[0]);
    f.visible_if = { in: [{ var: "stage" }, keys.slice(keys.indexOf(picker.value))] };
  }));
}

// --- server -----------------------------------------------------------------------------------

function showMessage(text, bad) {
  message.textContent = text;
  message.className = bad ? "error" : "";
}

function issuesFrom(error) {
  // error.fields: {"fields[3].options": {message}} -> issues by field index
  const out = {};
  Object.entries(error.fields || {}).forEach(([path, e]) => {
    const m = /^fields\[(\d+)\]/.exec(path);
    const slot = m ? Number(m[1]) : "_";
    (out[slot] = out[slot] || []).push(e.message);
  });
  if (!Object.keys(out).length) out._ = [error.message];
  return out;
}

/* A refused call: the server's message goes to the toast; the problems it lists go under the
 * fields they concern. Anything else (a bug, the network) is only toasted. */
function refused(err) {
  showError(err);
  if (!(err instanceof ApiError)) return;
  issues = issuesFrom(err);
  render();
  showMessage(err.status === 409 ? err.message : T.fix, true);
}

async function save() {
  let saved;
  try {
    saved = await api("PUT", `/api/v1/forms/${KEY}/draft`, { definition: defn });
  } catch (err) {
    refused(err);
    return null;
  }
  issues = {};
  saved.issues.forEach((i) => {
    const m = /^fields\[(\d+)\]/.exec(i.path);
    const slot = m ? Number(m[1]) : "_";
    (issues[slot] = issues[slot] || []).push(i.message);
  });
  render();
  showStatus(saved);
  refreshPreviews();
  return saved;
}

async function publish() {
  if (!(await save())) return;
  let published;
  try {
    published = await api("POST", `/api/v1/forms/${KEY}/publish`);
  } catch (err) {
    refused(err);
    return;
  }
  issues = {};
  render();
  showStatus(published);
  showMessage(T.published.replace("%(version)s", published.version), false);
}

function showStatus(version) {
  $("forms-status").textContent =
    `${T.version.replace("%(version)s", version.version)} · ${T.status[version.status] || version.status}`;
}

function refreshPreviews() {
  ["forms-preview-desktop", "forms-preview-phone"].forEach((id) => {
    const frame = $(id);
    if (frame) frame.src = `/designer/forms/${KEY}/preview?t=${Date.now()}`;
  });
}

async function compare() {
  const oldV = $("forms-diff-old").value, newV = $("forms-diff-new").value;
  const out = $("forms-diff-result");
  if (!oldV || !newV) return;
  out.textContent = "";
  let d;
  try {
    d = await api("GET", `/api/v1/forms/${KEY}/diff?old=${oldV}&new=${newV}`);
  } catch (err) {
    showError(err);
    if (err instanceof ApiError) out.textContent = err.message;
    return;
  }
  [["+", d.added], ["−", d.archived], ["~", d.changed],
   ["!", d.incompatible.map((c) => `${c.path}: ${c.old_type} → ${c.new_type}`)]].forEach(([mark, list]) => {
    if (!list.length) return;
    const ul = document.createElement("ul");
    list.forEach((item) => { const li = document.createElement("li"); li.textContent = `${mark} ${item}`; ul.appendChild(li); });
    out.appendChild(ul);
  });
}

async function importFile(file) {
  const body = new FormData();
  body.append("file", file);
  try {
    await api("POST", "/api/v1/forms/import", body);
  } catch (err) {
    refused(err);
    return;
  }
  window.location.reload();
}

// --- wiring -----------------------------------------------------------------------------------

Sortable.create($("forms-palette"), {
  group: { name: "fields", pull: "clone", put: false }, sort: false, forceFallback: true, fallbackTolerance: 3,
});
Sortable.create(canvas, {
  group: { name: "fields", pull: false, put: true }, forceFallback: true, fallbackTolerance: 3,
  filter: ".fd-empty", animation: 120,
  onAdd: (evt) => {
    const type = evt.item.dataset.type;
    const empty = canvas.querySelector(".fd-empty") ? 1 : 0;
    evt.item.remove();
    insert(type, Math.max(0, Math.min(evt.newIndex - (empty && evt.newIndex > 0 ? 1 : 0), defn.fields.length)));
  },
  onUpdate: (evt) => {
    const from = evt.oldIndex, to = evt.newIndex;
    change(() => {
      const [moved] = defn.fields.splice(from, 1);
      defn.fields.splice(to, 0, moved);
      selected = to;
      issues = {};
    });
  },
});
document.querySelectorAll("#forms-palette li").forEach((li) => {
  const add = () => insert(li.dataset.type, defn.fields.length);
  li.addEventListener("dblclick", add);
  li.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); add(); } });
});
$("forms-undo").addEventListener("click", () => {
  if (!undoStack.length) return;
  defn = JSON.parse(undoStack.pop());
  if (selected !== null && selected >= defn.fields.length) selected = null;
  issues = {};
  $("forms-undo").disabled = !undoStack.length;
  render();
});
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "z" && !e.target.closest("input, textarea")) {
    e.preventDefault();
    $("forms-undo").click();
  }
});
$("forms-save").addEventListener("click", async () => { if (await save()) showMessage(T.saved, false); });
$("forms-publish").addEventListener("click", publish);
$("forms-diff").addEventListener("click", compare);
$("forms-import").addEventListener("change", (e) => { if (e.target.files[0]) importFile(e.target.files[0]); });
render();
