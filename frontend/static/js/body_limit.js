// Refuse, in the page, a form too large for the server (see templates/_body_limit.html); the limit
// is the body's data-body-limit (GENDAN_MAX_BODY_BYTES).
(function () {
  var BODY = parseInt(document.body.dataset.bodyLimit, 10) || 1048576, PART = 1048576;
  var encoder = new TextEncoder();
  function mb(n) { return (n / 1e6).toFixed(n < 1e6 ? 2 : 1) + " MB"; }
  function labelOf(el) {
    var label = el.labels && el.labels[0];
    return (label ? label.textContent : el.name).trim().split("\n")[0].trim();
  }
  // the biggest field if the form cannot be sent: [element, bytes, limit], or null
  function overLimit(form, isMultipart) {
    var total = 0, worst = null, worstSize = 0;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === "file" || ((el.type === "checkbox" || el.type === "radio") && !el.checked)) { return; }
      var n = encoder.encode(el.value || "").length;
      total += n + el.name.length + 2;
      if (n > worstSize) { worst = el; worstSize = n; }
    });
    if (worst === null) { return null; }
    if (isMultipart && worstSize > PART) { return [worst, worstSize, PART]; }
    if (!isMultipart && total > BODY) { return [worst, worstSize, BODY]; }
    return null;
  }
  function show(form, over) {
    var text = document.getElementById("body-limit-message").content.textContent
      .replace("{field}", labelOf(over[0])).replace("{size}", mb(over[1])).replace("{limit}", mb(over[2]));
    var box = form.querySelector(".body-limit-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "field-error body-limit-error";
      box.setAttribute("role", "alert");
      form.insertBefore(box, form.firstChild);
    }
    box.textContent = text;  // labels are designed data: never parsed as HTML
    over[0].setAttribute("aria-invalid", "true");
  }
  function clear(form) {
    var box = form && form.querySelector(".body-limit-error");
    if (box) { box.remove(); }
  }
  document.addEventListener("submit", function (evt) {
    var form = evt.target, over = overLimit(form, form.enctype === "multipart/form-data");
    if (over) { evt.preventDefault(); evt.stopImmediatePropagation(); show(form, over); }
  }, true);
  document.body.addEventListener("htmx:confirm", function (evt) {
    var elt = evt.detail.elt, form = elt.form || elt.closest("form") ||
      (elt.getAttribute("hx-include") && document.querySelector(elt.getAttribute("hx-include")));
    if (!form || form.tagName !== "FORM") { return; }
    var over = overLimit(form, (elt.getAttribute("hx-encoding") || form.getAttribute("hx-encoding") || form.enctype) === "multipart/form-data");
    if (over) { evt.preventDefault(); show(form, over); } else { clear(form); }
  });
})();
