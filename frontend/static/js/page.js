// What every page does, from this file and not from inline code: the Content-Security-Policy allows
// scripts from this server only (no inline scripts, no inline handlers, no eval), so a designer's
// text that slipped through escaping still could not run. Templates ask for behaviour with data-*
// attributes; the listeners below are delegated from the document, so fragments htmx swaps in
// later behave the same.
(function () {
  "use strict";

  function toast(html) { document.getElementById("toast").innerHTML = html; }

  // Errors of htmx requests are not swapped into the page (responseHandling in base.html): our error
  // handler answers with a toast fragment retargeted to #toast, so show it there; anything else
  // (a proxy error, a crash) gets a generic message instead of silence.
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr.getResponseHeader("HX-Retarget") === "#toast") { toast(xhr.responseText); }
    else { toast(document.getElementById("toast-failed").innerHTML); }
  });
  document.addEventListener("htmx:sendError", function () {
    toast(document.getElementById("toast-unreachable").innerHTML);
  });

  // the live socket says "something changed": the badge and the lists re-fetch themselves
  document.addEventListener("htmx:wsAfterMessage", function () {
    htmx.trigger(document.body, "gendan:inbox");
  });
  // the inbox list refreshes unless the reader is typing or ticking inside it
  document.addEventListener("gendan:inbox", function () {
    var active = document.activeElement;
    if (!active || !active.closest("#inbox-list form")) { htmx.trigger(document.body, "gendan:inbox-list"); }
  });

  document.addEventListener("click", function (evt) {
    var t = evt.target;
    // the user menu closes when you click elsewhere, like any menu
    document.querySelectorAll("details.userdrop[open]").forEach(function (d) {
      if (!d.contains(t)) { d.removeAttribute("open"); }
    });
    var dismiss = t.closest("[data-dismiss]");
    if (dismiss) { dismiss.parentElement.remove(); return; }
    var copy = t.closest("[data-copy-previous]");
    if (copy) { copyText(copy.previousElementSibling); return; }
    var copyFrom = t.closest("[data-copy-from]");
    if (copyFrom) {
      copyText(document.querySelector(copyFrom.dataset.copyFrom));
      var said = copyFrom.dataset.copiedInto && document.querySelector(copyFrom.dataset.copiedInto);
      if (said) { said.textContent = copyFrom.dataset.copied || ""; }
      return;
    }
    if (t.matches("input[data-select-all-text]")) { t.select(); }
  });
  document.addEventListener("focusin", function (evt) {
    if (evt.target.matches("input[data-select-all-text]")) { evt.target.select(); }
  });

  // the clipboard API needs a secure context (https or localhost); elsewhere select and copy
  function copyText(input) {
    if (!input) { return; }
    var fallback = function () { input.select(); document.execCommand("copy"); };
    if (navigator.clipboard) { navigator.clipboard.writeText(input.value).catch(fallback); } else { fallback(); }
  }

  // capture phase: before htmx sends the form this change triggers
  document.addEventListener("change", function (evt) {
    var t = evt.target;
    // a phone's sort menu: "field:direction" into the filter form's two hidden fields
    if (t.matches("select[data-sort-pair]")) {
      var v = t.value.split(":");
      t.form.elements.sort.value = v[0];
      t.form.elements.direction.value = v[1];
    }
    if (t.matches("select[data-shows-fieldsets]")) { showFieldsets(t); }
    // "select all" ticks every box of the form it names
    if (t.matches("input[data-check-all]")) {
      document.querySelectorAll("input[name=order_id][form=\"" + t.dataset.checkAll + "\"]")
        .forEach(function (c) { c.checked = t.checked; });
    }
  }, true);

  // capture phase: runs before htmx and before the body-size check
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (form.hasAttribute("data-no-submit")) { evt.preventDefault(); return; }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      evt.preventDefault(); evt.stopImmediatePropagation(); return;
    }
    // a form that opens /prefix/<what the reader typed>
    if (form.dataset.actionPrefix) {
      var field = form.elements[form.dataset.actionField || "key"];
      form.action = form.dataset.actionPrefix + encodeURIComponent((field && field.value) || form.dataset.actionDefault || "");
    }
  }, true);

  // a flow drawing wider than its box scrolls its current step into view, once per render
  function centreActiveStep(box) {
    var step = box.querySelector(".flow-active"), svg = box.querySelector("svg");
    if (!step || !svg || box.scrollWidth <= box.clientWidth) { return; }
    var b = step.getBBox(), scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    box.scrollLeft = Math.max(0, (b.x + b.width / 2) * scale - box.clientWidth / 2);
  }
  // a "kind" menu shows the fieldsets whose data-kinds name the chosen kind (the others are
  // disabled too, so their fields are not sent)
  function showFieldsets(select) {
    document.querySelectorAll(select.dataset.showsFieldsets).forEach(function (box) {
      var on = box.dataset.kinds.split(" ").indexOf(select.value) >= 0;
      box.hidden = !on; box.disabled = !on;
    });
  }

  // `root` itself when it matches, then its descendants that do
  function within(root, selector) {
    if (!root.querySelectorAll) { return []; }
    return (root.matches(selector) ? [root] : []).concat(Array.prototype.slice.call(root.querySelectorAll(selector)));
  }
  // htmx:load: the page once loaded, then every fragment swapped in (live.js swaps the flow panel)
  document.addEventListener("htmx:load", function (evt) {
    within(evt.target, "[data-scroll-to-active]").forEach(centreActiveStep);
    within(evt.target, "select[data-shows-fieldsets]").forEach(showFieldsets);
  });
})();
