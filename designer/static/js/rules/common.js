/* Shared pieces of the rule designer (loaded first): the page's data (translations, fact
 * catalogue, picker choices), a tiny element builder, and the pickers every editor uses — a
 * select of labelled options, a group of checkboxes, and the assignee editor (a kind, then a
 * user picker or a role picker; never an id box). */

function readJson(id) { return JSON.parse(document.getElementById(id).textContent); }

export const T = readJson("rd-i18n");
export const FIELDS = readJson("rd-fields");
export const CHOICES = readJson("rd-choices");
export const FIELD = {};
FIELDS.forEach(function (f) { FIELD[f.name] = f; });

export function el(tag, attrs, children) {
  let node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) {
    if (k === "text") node.textContent = attrs[k];
    else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
    else node.setAttribute(k, attrs[k]);
  });
  (children || []).forEach(function (c) { if (c) node.appendChild(c); });
  return node;
}

/* A <select> over [{value, label}]; `empty` (a label) adds a first "nothing chosen" option.
 * Values are compared as strings; onchange gets the chosen option's original value. */
export function select(label, options, value, onchange, empty) {
  let select = el("select", { "aria-label": label });
  if (empty !== undefined) select.appendChild(el("option", { value: "", text: empty }));
  options.forEach(function (o, i) {
    let opt = el("option", { value: String(i), text: o.label });
    if (value !== null && value !== undefined && String(o.value) === String(value)) opt.selected = true;
    select.appendChild(opt);
  });
  select.addEventListener("change", function () {
    onchange(select.value === "" ? null : options[Number(select.value)].value);
  });
  return select;
}

/* A labelled control: the visible text names the control for people and for tests. */
export function labelled(label, control) { return el("label", { text: label + " " }, [control]); }

/* Checkboxes over [{value, label}]; onchange gets the checked values in option order. */
export function checkboxes(legend, options, values, onchange) {
  let box = el("fieldset", { "class": "rd-checks" }, [el("legend", { text: legend })]);
  let inputs = options.map(function (o) {
    let input = el("input", { type: "checkbox" });
    input.checked = (values || []).indexOf(o.value) >= 0;
    input.addEventListener("change", function () {
      onchange(options.filter(function (_, i) { return inputs[i].checked; }).map(function (x) { return x.value; }));
    });
    box.appendChild(el("label", {}, [input, document.createTextNode(" " + o.label)]));
    return input;
  });
  if (!options.length) box.appendChild(el("span", { "class": "muted", text: T.none_available }));
  return box;
}

export function userPicker(label, userId, onchange) {
  return select(label, CHOICES.users, userId, onchange, T.choose_user);
}

const KINDS = ["current_approver", "current_approver_manager", "owner", "owner_manager", "owner_manager_manager", "role", "user"];

/* Who: a kind, and for "user" a user picker, for "role" a role picker. `allowNone` adds
 * "Nobody" (onchange(null)). */
export function assigneeEditor(label, value, onchange, allowNone) {
  let wrap = el("span", { "class": "rd-assignee" });
  let current = value ? { kind: value.kind, user_id: value.user_id, role: value.role } : null;
  let kinds = KINDS.map(function (k) { return { value: k, label: T[k] }; });
  let detail = el("span", { "class": "rd-assignee-detail" });
  function emit() {
    if (!current) return onchange(null);
    let out = { kind: current.kind };
    if (current.kind === "user") out.user_id = current.user_id == null ? null : current.user_id;
    if (current.kind === "role") out.role = current.role || null;
    onchange(out);
  }
  function renderDetail() {
    detail.innerHTML = "";
    if (current && current.kind === "user") {
      detail.appendChild(userPicker(label + ": " + T.user_short, current.user_id, function (v) { current.user_id = v; emit(); }));
    } else if (current && current.kind === "role") {
      detail.appendChild(select(label + ": " + T.role_name, CHOICES.roles, current.role,
        function (v) { current.role = v; emit(); }, T.choose_role));
    }
  }
  let kind = select(label, kinds, current && current.kind, function (v) {
    current = v ? { kind: v, user_id: null, role: null } : null;
    renderDetail();
    emit();
  }, allowNone ? T.nobody : undefined);
  if (!allowNone && !current) { current = { kind: kinds[0].value }; }
  wrap.appendChild(labelled(label, kind));
  wrap.appendChild(detail);
  renderDetail();
  return wrap;
}

/* Several people: one assignee editor per person ("Nobody" removes it) and an "add" button.
 * With none yet, one empty editor shows, so the first person is one choice away; "add" adds
 * the order owner, to be changed. */
export function peopleEditor(label, list, onchange, addLabel) {
  let box = el("div", { "class": "rd-people" });
  let people = (list || []).slice();
  function render() {
    box.innerHTML = "";
    let rows = people.length ? people : [null];
    rows.forEach(function (person, i) {
      box.appendChild(assigneeEditor(label, person, function (v) {
        if (v) { people[i] = v; } else if (i < people.length) { people.splice(i, 1); render(); }
        onchange(people.slice());
      }, true));
    });
    box.appendChild(el("button", { type: "button", "class": "rd-add-person", text: addLabel, onclick: function () {
      people.push({ kind: "owner" });
      onchange(people.slice());
      render();
    } }));
  }
  render();
  return box;
}
