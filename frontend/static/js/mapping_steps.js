// The transform steps of the mapping editor (frontend/static/js/mapping_editor.js): the presets the
// "Add transform" select offers and one small editor per step (engine/connectors/transforms.py
// says what each step does). Editing a field changes the step in place and calls `changed`.
window.GendanMappingSteps = (function () {
  "use strict";
  var PRESETS = {
    scale100: {op: "scale", mode: "divide", by: "100"}, scale1000: {op: "scale", mode: "divide", by: "1000"},
    scale: {op: "scale", mode: "multiply", by: "1"}, date: {op: "date", format: "pattern", pattern: "%Y-%m-%d"},
    map: {op: "map", values: {}}, split: {op: "split", separator: "-", index: 0},
    join: {op: "join", paths: [], separator: " "}, trim: {op: "trim"}, upper: {op: "upper"}, lower: {op: "lower"},
    "default": {op: "default", value: ""}, constant: {op: "constant", value: ""}
  };
  function fmt(text, params) {
    return text.replace(/%\((\w+)\)s/g, function (_, k) { return params[k] === undefined ? "" : String(params[k]); });
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }
  var changed = function () {};  // the open editor's callback (editors are built one at a time)
  function input(label, value, onchange, attrs) {
    var field = el("input", Object.assign({value: value === undefined || value === null ? "" : String(value)}, attrs || {}));
    var notify = changed;
    field.addEventListener("input", function () { onchange(field.value); notify(); });
    return el("label", {}, [document.createTextNode(label + " "), field]);
  }
  function select(label, value, options, onchange) {
    var field = el("select", {});
    options.forEach(function (o) {
      var opt = el("option", {value: o[0], text: o[1]});
      if (o[0] === value) { opt.selected = true; }
      field.appendChild(opt);
    });
    var notify = changed;
    field.addEventListener("change", function () { onchange(field.value); notify(); });
    return el("label", {}, [document.createTextNode(label + " "), field]);
  }
  function editor(o) {
    var W = o.words, step = o.step, index = o.index, chain = o.chain;
    var notify = o.changed;
    changed = notify;  // input() and select() below take it
    var label = o.labels[step.op] || step.op;
    var parts = [];
    if (step.op === "scale") {
      parts.push(select(W.mode, step.mode, [["divide", W.divide], ["multiply", W.multiply]], function (v) { step.mode = v; }));
      parts.push(input(W.number, step.by, function (v) { step.by = v; }, {inputmode: "decimal", maxlength: "40"}));
    } else if (step.op === "date") {
      parts.push(select(W.format, step.format || "pattern", [["pattern", W.fmt_pattern], ["epoch_s", W.fmt_epoch_s],
        ["epoch_ms", W.fmt_epoch_ms], ["excel", W.fmt_excel]], function (v) { step.format = v; }));
      parts.push(input(W.pattern, step.pattern, function (v) { step.pattern = v; }, {maxlength: "60"}));
    } else if (step.op === "map") {
      var area = el("textarea", {rows: "2", maxlength: "50000"});
      area.value = Object.keys(step.values || {}).map(function (k) { return k + "=" + step.values[k]; }).join("\n");
      area.addEventListener("input", function () {
        var values = {};
        area.value.split(/\r?\n/).forEach(function (line) {
          var at = line.indexOf("=");
          if (at > 0) { values[line.slice(0, at).trim()] = line.slice(at + 1).trim(); }
        });
        step.values = values;
        notify();
      });
      parts.push(el("label", {}, [document.createTextNode(W.values + " "), area]));
      parts.push(input(W["default"], step["default"], function (v) { if (v) { step["default"] = v; } else { delete step["default"]; } }, {maxlength: "200"}));
      var strict = el("input", {type: "checkbox"});
      strict.checked = !!step.strict;
      strict.addEventListener("change", function () { step.strict = strict.checked; notify(); });
      parts.push(el("label", {"class": "check"}, [strict, document.createTextNode(" " + W.strict)]));
    } else if (step.op === "split") {
      parts.push(input(W.separator, step.separator, function (v) { step.separator = v; }, {maxlength: "10"}));
      parts.push(input(W.index, step.index, function (v) { step.index = parseInt(v, 10) || 0; }, {type: "number", min: "-20", max: "20"}));
    } else if (step.op === "join") {
      parts.push(input(W.paths, (step.paths || []).join(", "), function (v) {
        step.paths = v.split(",").map(function (p) { return p.trim(); }).filter(Boolean);
      }, {maxlength: "2000"}));
      parts.push(input(W.separator, step.separator, function (v) { step.separator = v; }, {maxlength: "10"}));
    } else if (step.op === "default" || step.op === "constant") {
      parts.push(input(W.value, step.value, function (v) { step.value = v; }, {maxlength: "200"}));
    }
    var remove = el("button", {type: "button", "class": "link", text: W.remove,
                               "aria-label": W.remove + " " + fmt(W.step, {n: index + 1}) + " (" + label + ")"});
    remove.addEventListener("click", function () {
      chain.splice(index, 1);
      o.removed();
    });
    return el("li", {"class": "mapping-step", "data-op": step.op},
      [el("div", {"class": "mapping-step-head"}, [el("span", {text: fmt(W.step, {n: index + 1}) + " · " + label}), remove])].concat(parts));
  }
  return {PRESETS: PRESETS, editor: editor};
})();
