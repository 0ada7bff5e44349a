// The inbox's ticks live here, not in the list's HTML: a live refresh replaces the list, and
// issue 17 saw it wipe the ticks so that bulk approve reported "0 approvals approved". Every swap
// re-applies them; the count says how many of the visible page are ticked; "select all" ticks the
// visible page only.
(function () {
  var selected = new Set();

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll("#inbox-list input[type=checkbox][name=item_id]"));
  }

  function sync() {
    var all = boxes();
    all.forEach(function (b) { b.checked = selected.has(b.value); });
    var n = all.filter(function (b) { return b.checked; }).length;
    var label = document.getElementById("inbox-selected");
    if (label) { label.textContent = n ? label.dataset.template.replace("{n}", n) : label.dataset.none; }
    var all_box = document.getElementById("inbox-select-all");
    if (all_box) {
      all_box.checked = all.length > 0 && n === all.length;
      all_box.indeterminate = n > 0 && n < all.length;
    }
    var button = document.querySelector("#inbox-bulk button[type=submit]");
    if (button) { button.disabled = n === 0; }
  }

  document.addEventListener("change", function (evt) {
    var t = evt.target;
    if (t.id === "inbox-select-all") {
      boxes().forEach(function (b) { if (t.checked) { selected.add(b.value); } else { selected.delete(b.value); } });
    } else if (t.type === "checkbox" && t.name === "item_id") {
      if (t.checked) { selected.add(t.value); } else { selected.delete(t.value); }
    } else {
      return;
    }
    sync();
  });
  document.addEventListener("htmx:afterSwap", sync);
  document.addEventListener("htmx:afterSettle", sync);
  sync();
})();
