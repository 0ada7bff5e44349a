// The contract page: each field the OCR pre-filled gets its confidence badge (green checked, amber
// read but unchecked, red a guess), from the marks the server put in #ocr-marks.
(function () {
  "use strict";
  var source = document.getElementById("ocr-marks");
  if (!source) { return; }
  var marks = JSON.parse(source.textContent);
  Object.keys(marks).forEach(function (name) {
    var input = document.querySelector('#orders-form [name="' + CSS.escape(name) + '"]');
    if (!input) { return; }
    var badge = document.createElement("span");
    badge.className = "ocr-conf " + marks[name].level;
    badge.dataset.for = name;
    badge.title = source.dataset.title || "";
    badge.textContent = marks[name].pct + "%";
    var field = input.closest(".form-field");
    var label = field && field.querySelector("label");
    if (label && !input.closest("table")) { label.appendChild(badge); } else { input.insertAdjacentElement("afterend", badge); }
  });
})();
