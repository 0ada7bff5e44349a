/* The condition model of the visual builder and its JSON-logic, both ways, plus the condition in
 * words (the summary under the builder).
 *
 * A node is {kind:"group", op:"and"|"or", items} | {kind:"raw", logic} | a condition
 * {kind:"cond", field, op, value, rhs:"value"|"field", other, n, unit}:
 * - rhs "field": the right-hand side is another field of the same type (`other`),
 *   e.g. {"<": [{"var": "planned_delivery"}, {"var": "data.expected_completion"}]};
 * - relative operators (date and datetime fields): `n` `unit` from today / now, written with the
 *   engine's `{"today": [k, unit]}` / `{"now": [k, unit]}` (engine/rules/relative.py);
 * - "one_of" on a field with options keeps `value` as a list of option values (ticked boxes).
 * What none of these can show stays a raw node holding its JSON-logic unchanged. */
import * as R from "./common.js";

const { T, FIELD } = R;

export const RELATIVE = ["ago_more", "ago_at_least", "within_last", "within_next", "due_within", "ahead_more"];
export const OPS = {
  number: ["gt", "ge", "lt", "le", "eq", "ne", "set", "empty"],
  string: ["eq", "ne", "one_of", "contains", "set", "empty"],
  date: ["before", "after", "on_or_before", "on_or_after", "eq"].concat(RELATIVE, ["set", "empty"]),
  datetime: ["before", "after"].concat(RELATIVE, ["set", "empty"]),
  bool: ["is_true", "is_false"],
  list: ["contains", "empty", "set"]
};
export const UNITS = { date: ["days", "working_days"], datetime: ["days", "hours"] };
const BINARY = { eq: "==", ne: "!=", gt: ">", ge: ">=", lt: "<", le: "<=", before: "<", after: ">",
               on_or_before: "<=", on_or_after: ">=" };
const BINARY_REV = { "==": ["eq", "eq"], "!=": ["ne", "ne"], ">": ["gt", "after"], ">=": ["ge", "on_or_after"],
                   "<": ["lt", "before"], "<=": ["le", "on_or_before"] };
const MAX_N = { days: 3650, working_days: 2600, hours: 87600 };  // the engine's bounds

export function typeOf(name) { return (FIELD[name] || {}).type || "string"; }
export function isRelative(op) { return RELATIVE.indexOf(op) >= 0; }
export function hasOptions(name) { let f = FIELD[name]; return !!(f && f.options && f.options.length); }
/* Whether the right-hand side may be another field (datetime comparisons only take one). */
export function canCompareFields(node) { return !!BINARY[node.op]; }
export function mustCompareFields(node) { return typeOf(node.field) === "datetime" && !!BINARY[node.op]; }
/* The fields a field may be compared with: the same type, not itself. */
export function comparable(name) {
  let type = typeOf(name);
  return R.FIELDS.filter(function (f) { return f.type === type && f.name !== name; });
}

function varName(x) {
  if (x && typeof x === "object" && !Array.isArray(x) && Object.keys(x).length === 1 && "var" in x) {
    let v = x["var"];
    return typeof v === "string" ? v : (Array.isArray(v) && v.length === 1 && typeof v[0] === "string" ? v[0] : null);
  }
  return null;
}

/* {today|now: [k, unit]} -> {op, k, unit}, else null */
function relNode(x) {
  if (!x || typeof x !== "object" || Array.isArray(x) || Object.keys(x).length !== 1) return null;
  let op = Object.keys(x)[0];
  if (op !== "today" && op !== "now") return null;
  let args = Array.isArray(x[op]) ? x[op] : [x[op]];
  let k = args.length ? args[0] : 0, unit = args.length > 1 ? args[1] : "days";
  if (typeof k !== "number" || Math.floor(k) !== k || args.length > 2) return null;
  return { op: op, k: k, unit: unit };
}

export function fromLogic(logic) {
  if (logic && typeof logic === "object" && !Array.isArray(logic) && Object.keys(logic).length === 1) {
    let op = Object.keys(logic)[0], args = logic[op];
    if ((op === "and" || op === "or") && Array.isArray(args)) {
      return { kind: "group", op: op, items: args.map(fromLogic) };
    }
    let cond = leafFromLogic(op, Array.isArray(args) ? args : [args]);
    if (cond) return cond;
  }
  return { kind: "raw", logic: logic };
}

function cond(field, op, extra) {
  return Object.assign({ kind: "cond", field: field, op: op, value: "", rhs: "value", other: "", n: 1, unit: "days" }, extra || {});
}

function relativeLeaf(op, args) {
  let name, a, b;
  let wants = function (field, rel) {
    let t = typeOf(field);
    return FIELD[field] && ((t === "date" && rel.op === "today") || (t === "datetime" && rel.op === "now"))
      && UNITS[t].indexOf(rel.unit) >= 0;
  };
  if (args.length === 2 && (name = varName(args[0])) && (a = relNode(args[1])) && wants(name, a)) {
    if (op === "<" && a.k <= 0) return cond(name, "ago_more", { n: -a.k, unit: a.unit });
    if (op === "<=" && a.k <= 0) return cond(name, "ago_at_least", { n: -a.k, unit: a.unit });
    if (op === "<=" && a.k > 0) return cond(name, "due_within", { n: a.k, unit: a.unit });
    if (op === ">" && a.k >= 0) return cond(name, "ahead_more", { n: a.k, unit: a.unit });
  }
  if (op === "<=" && args.length === 3 && (a = relNode(args[0])) && (name = varName(args[1])) && (b = relNode(args[2]))
      && wants(name, a) && a.unit === b.unit) {
    if (a.k <= 0 && b.k === 0) return cond(name, "within_last", { n: -a.k, unit: a.unit });
    if (a.k === 0 && b.k >= 0) return cond(name, "within_next", { n: b.k, unit: a.unit });
  }
  return null;
}

function leafFromLogic(op, args) {
  let name, other;
  if ((op === "!!" || op === "!") && args.length === 1 && (name = varName(args[0])) && FIELD[name]) {
    if (typeOf(name) === "bool") return cond(name, op === "!!" ? "is_true" : "is_false");
    return cond(name, op === "!!" ? "set" : "empty");
  }
  if (op === "in" && args.length === 2) {
    if ((name = varName(args[1])) && FIELD[name] && typeof args[0] !== "object") {
      return cond(name, "contains", { value: String(args[0]) });
    }
    if ((name = varName(args[0])) && FIELD[name] && Array.isArray(args[1])) {
      let values = args[1].map(String);
      return cond(name, "one_of", { value: hasOptions(name) ? values : values.join(", ") });
    }
  }
  let rel = relativeLeaf(op, args);
  if (rel) return rel;
  if (BINARY_REV[op] && args.length === 2 && (name = varName(args[0])) && FIELD[name]) {
    let type = typeOf(name);
    let key = BINARY_REV[op][type === "date" || type === "datetime" ? 1 : 0];
    if (OPS[type] && OPS[type].indexOf(key) >= 0 && (other = varName(args[1])) && FIELD[other] && typeOf(other) === type) {
      return cond(name, key, { rhs: "field", other: other });
    }
    if (args[1] !== null && typeof args[1] === "object") return null;
    if (type === "bool" && op === "==" && typeof args[1] === "boolean") {
      return cond(name, args[1] ? "is_true" : "is_false");
    }
    if (type !== "datetime" && OPS[type] && OPS[type].indexOf(key) >= 0) {
      return cond(name, key, { value: args[1] === null ? "" : String(args[1]) });
    }
  }
  return null;
}

function typedValue(field, text) {
  if (typeOf(field) === "number") {
    let n = Number(text);
    return text === "" || isNaN(n) ? text : n;
  }
  return text;
}

export function clampN(n, unit) {
  let v = Math.floor(Number(n));
  if (!isFinite(v) || v < 0) v = 0;
  return Math.min(v, MAX_N[unit] || 3650);
}

function relativeLogic(node, v) {
  let which = typeOf(node.field) === "datetime" ? "now" : "today";
  let n = clampN(node.n, node.unit);
  let at = function (k) { let o = {}; o[which] = [k === 0 ? 0 : k, node.unit]; return o; };
  switch (node.op) {
    case "ago_more": return { "<": [v, at(-n)] };
    case "ago_at_least": return { "<=": [v, at(-n)] };
    case "within_last": return { "<=": [at(-n), v, at(0)] };
    case "within_next": return { "<=": [at(0), v, at(n)] };
    case "due_within": return n === 0 ? { "<=": [v, at(0)] } : { "<=": [v, at(n)] };
    default: return { ">": [v, at(n)] };  // ahead_more
  }
}

export function toLogic(node) {
  if (node.kind === "group") { let o = {}; o[node.op] = node.items.map(toLogic); return o; }
  if (node.kind === "raw") return node.logic;
  let v = { "var": node.field };
  if (isRelative(node.op)) return relativeLogic(node, v);
  switch (node.op) {
    case "set": return { "!!": [v] };
    case "empty": return { "!": [v] };
    case "is_true": return { "==": [v, true] };
    case "is_false": return { "!": [v] };
    case "contains": return { "in": [node.value, v] };
    case "one_of": {
      let items = Array.isArray(node.value) ? node.value : String(node.value || "").split(",");
      return { "in": [v, items.map(function (s) { return typedValue(node.field, String(s).trim()); })
                               .filter(function (s) { return s !== ""; })] };
    }
    default: {
      let out = {};
      out[BINARY[node.op]] = [v, node.rhs === "field" || mustCompareFields(node) ? { "var": node.other } : typedValue(node.field, node.value)];
      return out;
    }
  }
}

// --- in words

function fmt(template, params) {
  return template.replace(/%\((\w+)\)s/g, function (_, k) { return params[k] === undefined ? "" : String(params[k]); });
}
function label(name) { return FIELD[name] ? FIELD[name].label : (name || "—"); }
function optionLabel(name, value) {
  let f = FIELD[name] || {};
  return (f.option_labels && f.option_labels[value]) || value;
}

/* The condition in the page's language: "计划交期 (订单) 早于 预计生产完成日期，并且 …". */
export function describe(node, nested) {
  if (node.kind === "group") {
    if (!node.items.length) return T.sum_nothing;
    let parts = node.items.map(function (item) { return describe(item, true); });
    let text = parts.join(node.op === "and" ? T.sum_and : T.sum_or);
    return nested && parts.length > 1 ? "(" + text + ")" : text;
  }
  if (node.kind === "raw") return T.raw;
  let field = label(node.field);
  if (isRelative(node.op)) {
    return fmt(T["sum_" + node.op], { field: field, n: clampN(node.n, node.unit), unit: T[node.unit] || node.unit });
  }
  if (["set", "empty", "is_true", "is_false"].indexOf(node.op) >= 0) return fmt(T.sum_state, { field: field, op: T[node.op] });
  if (node.op === "one_of") {
    let items = Array.isArray(node.value) ? node.value : String(node.value || "").split(",").map(function (s) { return s.trim(); });
    return fmt(T.sum_one_of, { field: field, values: items.filter(Boolean).map(function (v) { return optionLabel(node.field, v); }).join(T.sum_list_sep) });
  }
  let right = node.rhs === "field" || mustCompareFields(node) ? label(node.other) : optionLabel(node.field, node.value);
  return fmt(T.sum_binary, { field: field, op: T[node.op], value: right === "" ? "—" : right });
}
