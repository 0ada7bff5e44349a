/* The rule's scope (engine Scope): which forms, flows, customer tiers and order statuses it looks
 * at, as checkboxes over what the server lists (published form and flow keys, the three tiers,
 * the order statuses). Nothing checked in a group means no restriction by that group. */
import * as R from "./common.js";

const { T } = R;
let scope = {};
let GROUPS = [["form_keys", "scope_forms", "forms"], ["flow_keys", "scope_flows", "flows"],
              ["customer_tiers", "scope_tiers", "tiers"], ["statuses", "scope_statuses", "statuses"]];

function render() {
  let box = document.getElementById("rd-scope");
  box.innerHTML = "";
  GROUPS.forEach(function (g) {
    let options = R.CHOICES[g[2]].slice();
    // a key stored earlier but no longer published stays visible, so saving does not drop it
    (scope[g[0]] || []).forEach(function (v) {
      if (!options.some(function (o) { return o.value === v; })) options.push({ value: v, label: v });
    });
    box.appendChild(R.checkboxes(T[g[1]], options, scope[g[0]] || [], function (values) { scope[g[0]] = values; }));
  });
}

export const scopeEditor = {
  /* `value`: the stored scope, or undefined for a new rule (the engine's default: open orders). */
  init: function (value) {
    scope = { form_keys: [], flow_keys: [], customer_tiers: [], statuses: ["open"] };
    Object.keys(value || {}).forEach(function (k) { scope[k] = (value[k] || []).slice(); });
    render();
  },
  get: function () { return scope; }
};
