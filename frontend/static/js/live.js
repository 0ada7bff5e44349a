// The order page's live link (templates/orders/_live.html, backend/live/order_socket.py).
// A websocket to /ws/live/orders/<id> says which parts of the page changed ("flow", "timeline",
// "head", "details", "messages") and, usually, carries them rendered for this user ("html": each
// part an out-of-band swap by its id), swapped in at once. A message without them (too large, or
// failed to render) makes the elements marked data-live-part="<part>" be re-read over
// plain HTTP, all due parts in one request (htmx swaps each in by its id), at most one request per
// COALESCE_MS: a flood of changes to one order becomes a refresh now and one more after the flood. While the socket is
// closed the page reconnects with backoff and, as a fallback, re-reads every part each
// FALLBACK_MS (window.GENDAN_LIVE_FALLBACK_MS overrides it; tests make it long to prove the
// socket did the work).
// A part the reader is typing in (the focus in one of its forms, or a form of it they changed and
// have not sent) is not replaced under their hands: its update waits ("held") until they leave the
// form unchanged or send it; then it is re-read once.
(function () {
  var root = document.getElementById("live-order");
  if (!root || window.gendanLive) { return; }
  var orderId = root.dataset.order;
  var COALESCE_MS = 100;
  var FALLBACK_MS = window.GENDAN_LIVE_FALLBACK_MS || 60000;
  var live = window.gendanLive = {state: "connecting", messages: 0, pushes: 0, refreshes: 0, polls: 0, connects: 0};
  var socket = null, backoff = 500, fallback = null, everOpen = false;

  function show(state) {
    live.state = state;
    root.dataset.state = state;
    var key = "label" + state.charAt(0).toUpperCase() + state.slice(1);
    root.querySelector(".live-text").textContent = root.dataset[key] || state;
  }

  // every part due is re-read in ONE request (/orders/<id>/live?parts=a,b: each part swaps itself
  // in by its id); one request at a time, at most one per COALESCE_MS
  var pending = {}, busy = false, last = 0, timer = null, held = {};

  function typingIn(el) {
    var active = document.activeElement;
    if (active && active !== document.body && el.contains(active) && active.closest("form")) { return true; }
    return !!el.querySelector("form[data-changed]");
  }

  // whether the part is held now (and remembered as held, to be re-read when released)
  function holds(part) {
    var el = document.querySelector('[data-live-part="' + part + '"]');
    if (el && typingIn(el)) { held[part] = 1; live.held = Object.keys(held).length; return true; }
    return false;
  }

  function release() {
    setTimeout(function () {  // once the focus has moved on
      Object.keys(held).forEach(function (part) {
        if (!holds(part)) { delete held[part]; refresh(part); }
      });
      live.held = Object.keys(held).length;
    }, 0);
  }
  document.addEventListener("input", function (evt) {
    var form = evt.target.closest && evt.target.closest("[data-live-part] form");
    if (form) { form.dataset.changed = "1"; }
  });
  document.addEventListener("focusout", release);
  document.addEventListener("submit", function (evt) {
    if (evt.target.dataset) { delete evt.target.dataset.changed; }
  }, true);

  function refresh(part) {
    pending[part] = 1;
    if (busy || timer) { return; }
    var wait = last + COALESCE_MS - Date.now();
    if (wait > 0) { timer = setTimeout(function () { timer = null; refresh(part); }, wait); return; }
    var shown = Object.keys(pending).filter(function (p) {
      return document.querySelector('[data-live-part="' + p + '"]') && !holds(p);
    });
    pending = {};
    if (!shown.length) { return; }
    busy = true;
    last = Date.now();
    htmx.ajax("GET", "/orders/" + encodeURIComponent(orderId) + "/live?parts=" + shown.join(","),
              {source: root, target: root, swap: "none"})
      .catch(function () {})
      .then(function () {
        live.refreshes += 1;
        busy = false;
        var again = Object.keys(pending);
        if (again.length) { refresh(again[0]); }
      });
  }

  // the parts a message carried, swapped in by id; only those this page shows (the flow page shows
  // fewer than the order page). A re-read in flight may answer older state after this: its parts
  // are read once more when it ends.
  function swapIn(html, parts) {
    if (busy) { parts.forEach(function (p) { pending[p] = 1; }); }
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var shown = Array.prototype.filter.call(tpl.content.children, function (el) {
      var here = el.id && document.getElementById(el.id);
      return here && !(here.dataset.livePart && holds(here.dataset.livePart));
    });
    if (shown.length) {
      htmx.swap(root, shown.map(function (el) { return el.outerHTML; }).join(""), {swapStyle: "none"});
    }
    live.pushes += 1;
  }

  function refreshAll() {
    document.querySelectorAll("[data-live-part]").forEach(function (el) { pending[el.dataset.livePart] = 1; });
    var any = Object.keys(pending);
    if (any.length) { refresh(any[0]); }
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
      live.lastMessageAt = performance.timeOrigin + performance.now();  // read by bench/live_latency.py
      if (typeof data.html === "string") { swapIn(data.html, data.parts); } else { data.parts.forEach(refresh); }
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
