/* The details of an event trigger (engine EventTrigger.fields / .stages): "field changed" can be
 * narrowed to some fields, "stage entered / left" to some stages, each as checkboxes (nothing
 * ticked: any). Shown, and saved, only while the matching event is ticked. */
import * as R from "./common.js";

const { T } = R;
let details = { fields: [], stages: [] };
let box = document.getElementById("rd-event-details");

function ticked(event) {
  let input = document.querySelector('input[name="rd-event"][value="' + event + '"]');
  return !!(input && input.checked);
}

function render() {
  box.innerHTML = "";
  if (ticked("field_changed")) {
    let fields = R.FIELDS.filter(function (f) { return f.source !== "derived"; })
      .map(function (f) { return { value: f.name, label: f.label }; });
    box.appendChild(R.checkboxes(T.only_fields, fields, details.fields, function (v) { details.fields = v; }));
  }
  if (ticked("stage_entered") || ticked("stage_left")) {
    let stages = R.CHOICES.stages.slice();
    details.stages.forEach(function (v) {
      if (!stages.some(function (o) { return o.value === v; })) stages.push({ value: v, label: v });
    });
    box.appendChild(R.checkboxes(T.only_stages, stages, details.stages, function (v) { details.stages = v; }));
  }
}

Array.prototype.forEach.call(document.querySelectorAll('input[name="rd-event"]'), function (input) {
  input.addEventListener("change", render);
});

export const triggerDetails = {
  /* `trigger`: the stored trigger. */
  init: function (trigger) {
    details = { fields: ((trigger || {}).fields || []).slice(), stages: ((trigger || {}).stages || []).slice() };
    render();
  },
  /* The fields / stages to save with an event trigger. */
  details: function () {
    let out = {};
    if (ticked("field_changed") && details.fields.length) out.fields = details.fields;
    if ((ticked("stage_entered") || ticked("stage_left")) && details.stages.length) out.stages = details.stages;
    return out;
  }
};
