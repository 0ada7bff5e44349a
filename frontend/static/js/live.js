// The order page's live link (templates/orders/_live.html, backend/live/order_socket.py).
// A websocket to /ws/live/orders/<id> says which parts of the page changed ("flow", "timeline",
// "head", "details", "messages"); each element marked data-live-part="<part>" is re-read from its
// data-live-src over plain HTTP (htmx swaps it), at most once per part per COALESCE_MS: a flood of
// changes to one order becomes a refresh now and one more after the flood. While the socket is
// closed the page reconnects with backoff and, as a fallback, re-reads every part each
// FALLBACK_MS (window.GENDAN_LIVE_FALLBACK_MS overrides it; tests make it long to prove the
// socket did the work).
(function () {
  var root = document.getElementById("live-order");
  if (!root || window.gendanLive) { return; }
  var orderId = root.dataset.order;
  var COALESCE_MS = 100;
  var FALLBACK_MS = window.GENDAN_LIVE_FALLBACK_MS || 60000;
  var live = window.gendanLive = {state: "connecting", messages: 0, refreshes: 0, polls: 0, connects: 0};
  var parts = {};  // part -> {busy, again, last, timer}
  var socket = null, backoff = 500, fallback = null, everOpen = false;

  function show(state) {
    live.state = state;
    root.dataset.state = state;
    var key = "label" + state.charAt(0).toUpperCase() + state.slice(1);
    root.querySelector(".live-text").textContent = root.dataset[key] || state;
  }

  function refresh(part) {
    var p = parts[part] || (parts[part] = {busy: false, again: false, last: 0, timer: null});
    if (p.busy || p.timer) { p.again = true; return; }
    var wait = p.last + COALESCE_MS - Date.now();
    if (wait > 0) { p.timer = setTimeout(function () { p.timer = null; refresh(part); }, wait); return; }
    var els = document.querySelectorAll('[data-live-part="' + part + '"]');
    if (!els.length) { return; }
    p.busy = true;
    p.again = false;
    p.last = Date.now();
    var jobs = Array.prototype.map.call(els, function (el) {
      return htmx.ajax("GET", el.dataset.liveSrc, {source: el, target: el, swap: "outerHTML"});
    });
    Promise.all(jobs).catch(function () {}).then(function () {
      live.refreshes += 1;
      p.busy = false;
      if (p.again) { refresh(part); }
    });
  }

  function refreshAll() {
    var seen = {};
    document.querySelectorAll("[data-live-part]").forEach(function (el) { seen[el.dataset.livePart] = 1; });
    Object.keys(seen).forEach(refresh);
  }

  function startFallback() {
    if (fallback) { return; }
    fallback = setInterval(function () { live.polls += 1; refreshAll(); }, FALLBACK_MS);
  }

  function stopFallback() {
    if (fallback) { clearInterval(fallback); fallback = null; }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/live/orders/" + encodeURIComponent(orderId));
    socket.onmessage = function (evt) {
      var data;
      try { data = JSON.parse(evt.data); } catch (e) { return; }
      if (data.hello) {
        live.connects += 1;
        backoff = 500;
        stopFallback();
        show("live");
        if (everOpen) { refreshAll(); }  // what changed while we were away
        everOpen = true;
        return;
      }
      if (String(data.order) !== String(orderId) || !Array.isArray(data.parts)) { return; }
      live.messages += 1;
      data.parts.forEach(refresh);
    };
    socket.onclose = function (evt) {
      socket = null;
      if (evt.code === 1008 || evt.code === 4401) {  // not allowed: retrying will not help
        show("off");
        startFallback();
        return;
      }
      show("reconnecting");
      startFallback();
      var delay = backoff * (0.75 + Math.random() / 2);
      backoff = Math.min(backoff * 2, 30000);
      setTimeout(connect, delay);
    };
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !socket && live.state === "reconnecting") {
      backoff = 500;
    }
  });
  connect();
})();
