/* The rule designer's actions: one editor per action type of engine/rules/definition.py, add and
 * remove buttons, and the preview on a real order (POST /api/v1/rules/preview) shown under each
 * action: the rendered texts, who gets them, and any template problem, translated by the server.
 * Editors change the action objects in place; actionsEditor.list() is what gets saved. */
import * as R from "./common.js";

const { T, el } = R;
let actions = [];
let box = document.getElementById("rd-actions");

let DEFAULTS = {
  create_todo: function () {
    return { type: "create_todo", assignee: { kind: "current_approver" }, cc: [], priority: "normal",
             title_template: both(), body_template: both() };
  },
  notify: function () {
    return { type: "notify", recipients: [{ kind: "owner" }], channels: ["in_app"], title_template: both(), body_template: both() };
  },
  message_customer: function () { return { type: "message_customer", subject_template: both(), body_template: both(), channel: null }; },
  call_webhook: function () { return { type: "call_webhook", url: "https://" }; },
  set_field: function () { return { type: "set_field", field: "", value: null }; },
  add_tag: function () { return { type: "add_tag", tag: "" }; },
  add_risk_flag: function () { return { type: "add_risk_flag", flag: "", reason_template: both() }; },
  start_flow: function () {
    let first = R.CHOICES.flows[0];
    return { type: "start_flow", flow_key: first ? first.value : "" };
  },
  escalate: function () { return { type: "escalate", to: { kind: "owner_manager" }, title_template: both(), body_template: both() }; }
};
function both() { return { zh: "", en: "" }; }
let NOTIFY_CHANNELS = ["in_app", "email", "chat", "webhook"].map(function (c) { return { value: c, label: T["channel_" + c] }; });
let CUSTOMER_CHANNELS = ["email", "sms", "dingtalk", "wecom"].map(function (c) { return { value: c, label: T["channel_" + c] }; });
let PRIORITIES = ["low", "normal", "high", "urgent"].map(function (p) { return { value: p, label: T[p] }; });

function textInput(label, value, onchange, multiline, type) {
  let input = el(multiline ? "textarea" : "input", { "aria-label": label });
  if (multiline) input.setAttribute("rows", "2");
  if (type) input.setAttribute("type", type);
  input.value = value == null ? "" : value;
  input.addEventListener("input", function () { onchange(input.value); });
  return R.labelled(label, input);
}

/* A message template in each reader language: one text box, a tab per language switching what it
 * edits (the designer's own language first), and a list of the variables a template can read;
 * clicking one inserts `{{ name }}` where the cursor is. The server keeps {zh, en}; plain text from an older rule counts
 * as written in the language it is written in (Chinese characters: zh), as the engine reads it. */
const LANGS = [["zh", T.lang_zh], ["en", T.lang_en]];
const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;

function asLocalized(value) {
  if (value && typeof value === "object") return { zh: value.zh || "", en: value.en || "" };
  let text = value == null ? "" : String(value);
  return CJK.test(text) ? { zh: text, en: "" } : { zh: "", en: text };
}

function templateEditor(label, a, key, multiline) {
  a[key] = asLocalized(a[key]);
  let open = T.ui_lang === "en" ? "en" : "zh";
  let input = el(multiline ? "textarea" : "input", { "aria-label": label });
  if (multiline) input.setAttribute("rows", "2");
  input.addEventListener("input", function () { a[key][open] = input.value; });
  let tabs = el("span", { "class": "rd-template-tabs", role: "tablist", "aria-label": T.text_language });
  let buttons = {};
  function show(lang) {
    open = lang;
    input.value = a[key][lang];
    input.setAttribute("lang", lang === "zh" ? "zh-CN" : "en");
    LANGS.forEach(function (l) {
      buttons[l[0]].setAttribute("aria-selected", String(l[0] === lang));
      buttons[l[0]].classList.toggle("rd-template-filled", !!a[key][l[0]].trim());
    });
  }
  LANGS.forEach(function (l) {
    buttons[l[0]] = el("button", { type: "button", role: "tab", "class": "rd-template-tab", text: l[1],
      onclick: function () { show(l[0]); } });
    tabs.appendChild(buttons[l[0]]);
  });
  let wrap = el("div", { "class": "rd-template" }, [R.labelled(label, input), tabs]);
  wrap.appendChild(variableList(label, function (text) {
    let at = input.selectionStart == null ? input.value.length : input.selectionStart;
    let end = input.selectionEnd == null ? at : input.selectionEnd;
    input.setRangeText(text, at, end, "end");
    input.dispatchEvent(new Event("input"));
    input.focus();
  }));
  show(open);
  return wrap;
}

/* "Insert a variable": each variable the server offers (labels in the designer's language). */
function variableList(label, insert) {
  let list = el("ul", { "class": "rd-variables" });
  (R.CHOICES.variables || []).forEach(function (v) {
    let text = "{{ " + v.name + " }}";
    list.appendChild(el("li", {}, [el("button", { type: "button", "class": "rd-variable",
      "aria-label": T.insert_variable + ": " + v.label + " " + text, title: text,
      onclick: function () { insert(text); } }, [el("span", { text: v.label }), el("code", { text: text })])]));
  });
  return el("details", { "class": "rd-variables-box" }, [el("summary", { text: T.variables }), list]);
}

function templates(a, pairs) {
  return pairs.map(function (p) { return templateEditor(p[0], a, p[1], p[2]); });
}

/* The value of a set_field action, typed like the field: a user picker for owner_id, the
 * field's options, a date picker, yes / no, numbers, a comma-separated list, or text. */
function typedValue(a) {
  let f = R.FIELD[a.field];
  let label = T.new_value;
  if (!f) return null;
  let set = function (v) { a.value = v === "" ? null : v; };
  if (f.name === "owner_id") return R.labelled(label, R.userPicker(label, a.value, set));
  if (f.options && f.options.length) {
    return R.labelled(label, R.select(label, f.options.map(function (o) { return { value: o, label: o }; }), a.value, set, T.clear_value));
  }
  if (f.type === "bool") {
    return R.labelled(label, R.select(label, [{ value: true, label: T.yes }, { value: false, label: T.no }], a.value, set, T.clear_value));
  }
  if (f.type === "number") {
    return textInput(label, a.value, function (v) { a.value = v === "" || isNaN(Number(v)) ? null : Number(v); }, false, "number");
  }
  if (f.type === "date") return textInput(label, a.value, set, false, "date");
  if (f.type === "list") {
    return textInput(label, (a.value || []).join(", "), function (v) {
      a.value = v.split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s; });
    });
  }
  return textInput(label, a.value, set);
}

let EDITORS = {
  create_todo: function (a) {
    return [
      R.assigneeEditor(T.assignee, a.assignee, function (v) { a.assignee = v; }, false),
      R.peopleEditor(T.cc, a.cc, function (v) { a.cc = v; }, T.add_cc),
      R.labelled(T.priority, R.select(T.priority, PRIORITIES, a.priority || "normal", function (v) { a.priority = v; })),
      textInput(T.due, a.due_in_hours, function (v) { a.due_in_hours = v === "" ? null : Number(v); }, false, "number")
    ].concat(templates(a, [[T.title, "title_template"], [T.body, "body_template", true]]));
  },
  notify: function (a) {
    return [
      R.peopleEditor(T.recipients, a.recipients, function (v) { a.recipients = v; }, T.add_recipient),
      R.checkboxes(T.channels, NOTIFY_CHANNELS, a.channels || ["in_app"], function (v) { a.channels = v; })
    ].concat(templates(a, [[T.title, "title_template"], [T.body, "body_template", true]]));
  },
  message_customer: function (a) {
    return [R.labelled(T.channel, R.select(T.channel, CUSTOMER_CHANNELS, a.channel, function (v) { a.channel = v; }, T.preferred_channel))]
      .concat(templates(a, [[T.subject, "subject_template"], [T.body, "body_template", true]]));
  },
  call_webhook: function (a) { return [textInput(T.url, a.url, function (v) { a.url = v; }, false, "url")]; },
  set_field: function (a, rerender) {
    let settable = R.FIELDS.filter(function (f) { return f.settable; }).map(function (f) { return { value: f.name, label: f.label }; });
    return [
      R.labelled(T.field_to_set, R.select(T.field_to_set, settable, a.field, function (v) {
        a.field = v || ""; a.value = null; rerender();
      }, "—")),
      typedValue(a)
    ];
  },
  add_tag: function (a) { return [textInput(T.tag, a.tag, function (v) { a.tag = v; })]; },
  add_risk_flag: function (a) {
    return [textInput(T.flag_name, a.flag, function (v) { a.flag = v; })]
      .concat(templates(a, [[T.reason, "reason_template"]]));
  },
  start_flow: function (a) {
    if (!R.CHOICES.flows.length) return [el("span", { "class": "muted", text: T.no_flows })];
    return [R.labelled(T.flow, R.select(T.flow, R.CHOICES.flows, a.flow_key, function (v) { a.flow_key = v || ""; }, "—"))];
  },
  escalate: function (a) {
    return [R.assigneeEditor(T.escalate_to, a.to, function (v) { a.to = v; }, false)]
      .concat(templates(a, [[T.title, "title_template"], [T.body, "body_template", true]]));
  }
};

function render() {
  box.innerHTML = "";
  actions.forEach(function (a, i) {
    let fieldset = el("fieldset", { "class": "rd-action", "data-index": String(i) });
    fieldset.appendChild(el("legend", { text: (i + 1) + ". " + (T["action_" + a.type] || a.type) }));
    let editor = EDITORS[a.type];
    (editor ? editor(a, render) : [el("pre", { text: JSON.stringify(a, null, 2) })]).forEach(function (n) {
      if (n) fieldset.appendChild(n);
    });
    fieldset.appendChild(el("button", { type: "button", "class": "rd-remove", text: T.remove_action,
      onclick: function () { actions.splice(i, 1); render(); } }));
    fieldset.appendChild(el("div", { "class": "rd-preview", role: "status", "aria-label": T.preview }));
    box.appendChild(fieldset);
  });
}

Object.keys(DEFAULTS).forEach(function (type) {
  let button = document.getElementById("rd-add-" + type.replace(/_/g, "-"));
  if (button) button.addEventListener("click", function () { actions.push(DEFAULTS[type]()); render(); });
});

function line(label, text, cls) {
  return el("p", { "class": cls || "rd-preview-line" }, [el("strong", { text: label + ": " }), document.createTextNode(text)]);
}

let TEXT_LABELS = { subject: "subject", title: "title", body: "body", reason: "reason" };
let PEOPLE_LABELS = { assignee_ids: "assignee", cc_user_ids: "cc", user_ids: "recipients" };
let EFFECT_LABELS = { tag: "tag", flag: "flag_name", field: "field_to_set", value: "new_value", url: "url", flow_key: "flow" };

/* Show a preview result (PreviewRead) under each action. */
function showPreview(result) {
  document.getElementById("rd-preview-order").textContent = T.previewed_on.replace("%(number)s", result.number);
  result.actions.forEach(function (p) {
    let target = box.querySelector('.rd-action[data-index="' + p.index + '"] .rd-preview');
    if (!target) return;
    target.innerHTML = "";
    Object.keys(TEXT_LABELS).forEach(function (k) {
      if (p.texts[k]) target.appendChild(line(T[TEXT_LABELS[k]], p.texts[k]));
    });
    Object.keys(PEOPLE_LABELS).forEach(function (k) {
      if (p.people[k]) target.appendChild(line(T[PEOPLE_LABELS[k]], p.people[k].join(", ")));
    });
    Object.keys(EFFECT_LABELS).forEach(function (k) {
      if (p.effect && p.effect[k] !== undefined && p.effect[k] !== null && !p.texts[k]) {
        target.appendChild(line(T[EFFECT_LABELS[k]], String(p.effect[k])));
      }
    });
    p.problems.forEach(function (problem) {
      target.appendChild(el("p", { "class": "rd-problem", text: problem.message }));
    });
  });
}

function clearPreviews() {
  Array.prototype.forEach.call(box.querySelectorAll(".rd-preview"), function (n) { n.innerHTML = ""; });
}

function showProblem(index, message) {
  let target = box.querySelector('.rd-action[data-index="' + index + '"] .rd-preview');
  if (target) target.appendChild(el("p", { "class": "rd-problem", text: message }));
}

export const actionsEditor = {
  init: function (list) { actions = (list || []).slice(); render(); },
  list: function () { return actions; },
  showPreview: showPreview,
  clearPreviews: clearPreviews,
  showProblem: showProblem
};
