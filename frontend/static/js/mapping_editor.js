// The connector mapping editor (issue 13). State is the mapping JSON the API takes
// ({columns: {target: path}, transforms: {target: [steps]}, ...}); every change re-renders the
// badges and asks the server for a preview (the connectors' own record path, so what the preview
// shows is what a run does). Connect by dragging a source onto an order field, by clicking a source
// then "Connect", or with the order field's select (keyboard and phones).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("mapping-data").textContent);
  var W = data.words;
  var cid = data.connector_id;
  var mapping = JSON.parse(JSON.stringify(data.mapping || {}));
  mapping.columns = mapping.columns || {};
  mapping.transforms = mapping.transforms || {};
  var records = [];
  var paths = [];
  var selected = null;  // the source path clicked (click-to-connect)
  var timer = null;
  var MAX_RECORDS = 50;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
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
  function csrf() { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
  function status(text) { $("#mapping-status").textContent = text || ""; }
  function error(text) { var e = $("#mapping-error"); e.textContent = text || ""; e.hidden = !text; }

  function api(method, url, body, raw) {
    var headers = {"X-CSRF-Token": csrf(), "Accept": "application/json"};
    if (body !== undefined && !raw) { headers["Content-Type"] = "application/json"; }
    return fetch(url, {method: method, headers: headers, credentials: "same-origin",
                       body: body === undefined ? undefined : (raw ? body : JSON.stringify(body))})
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (json) {
          if (!resp.ok) {
            var err = json.error || {};
            var fields = err.fields ? Object.keys(err.fields).map(function (k) {
              var f = err.fields[k]; return k + ": " + (f.message || f);
            }) : [];
            throw new Error([err.message || resp.status].concat(fields).join(" · "));
          }
          return json;
        });
      });
  }

  // ------------------------------------------------------------ sample records
  function leafPaths(list) {
    var seen = [];
    list.forEach(function (record) {
      var stack = [["", record, 0]];
      while (stack.length && seen.length < 200) {
        var item = stack.shift(), prefix = item[0], value = item[1], level = item[2];
        if (value && typeof value === "object" && !Array.isArray(value) && level < 6) {
          Object.keys(value).forEach(function (k) {
            if (/^[^.\[\]]+$/.test(k)) { stack.push([prefix ? prefix + "." + k : k, value[k], level + 1]); }
          });
        } else if (Array.isArray(value) && value.length && prefix && level < 6) {
          stack.push([prefix + "[0]", value[0], level + 1]);
        } else if (prefix && seen.indexOf(prefix) < 0) { seen.push(prefix); }
      }
    });
    return seen;
  }
  function valueAt(record, path) {
    var steps = path.match(/[^.\[\]]+|\[\d+\]/g) || [];
    var value = record;
    for (var i = 0; i < steps.length && value !== undefined && value !== null; i++) {
      var s = steps[i];
      value = s.charAt(0) === "[" ? (Array.isArray(value) ? value[parseInt(s.slice(1), 10)] : undefined) : value[s];
    }
    return value === undefined || value === null ? "" : (typeof value === "object" ? JSON.stringify(value) : String(value));
  }
  function setRecords(list, found) {
    records = list.slice(0, MAX_RECORDS);
    paths = found && found.length ? found : leafPaths(records);
    Object.keys(mapping.columns).forEach(function (t) {
      if (paths.indexOf(mapping.columns[t]) < 0) { paths.push(mapping.columns[t]); }
    });
    $("#mapping-sample-count").textContent = records.length ? fmt(W.records, {n: records.length}) : W.no_records;
    renderSources();
    renderTargets();
    schedulePreview();
  }
  function parsePaste(text) {
    text = text.trim();
    if (!text) { return []; }
    if (text.charAt(0) === "[" || text.charAt(0) === "{") {
      var value = JSON.parse(text);
      return Array.isArray(value) ? value : [value];
    }
    var lines = text.split(/\r?\n/).filter(function (l) { return l.trim(); });
    var delimiter = lines[0].indexOf("\t") >= 0 ? "\t" : (lines[0].indexOf(";") >= 0 && lines[0].indexOf(",") < 0 ? ";" : ",");
    function cells(line) {
      var out = [], cur = "", quoted = false;
      for (var i = 0; i < line.length; i++) {
        var ch = line.charAt(i);
        if (quoted) {
          if (ch === '"' && line.charAt(i + 1) === '"') { cur += '"'; i++; }
          else if (ch === '"') { quoted = false; } else { cur += ch; }
        } else if (ch === '"') { quoted = true; }
        else if (ch === delimiter) { out.push(cur); cur = ""; } else { cur += ch; }
      }
      out.push(cur);
      return out;
    }
    var header = cells(lines[0]).map(function (h) { return h.trim(); });
    if (lines.length < 2 || header.some(function (h) { return !h; })) { throw new Error("csv"); }
    return lines.slice(1, MAX_RECORDS + 1).map(function (line) {
      var row = cells(line), record = {};
      header.forEach(function (h, i) { record[h] = (row[i] || "").trim(); });
      return record;
    });
  }

  // ------------------------------------------------------------ source fields
  function connectionsOf(path) {
    return Object.keys(mapping.columns).filter(function (t) { return mapping.columns[t] === path; });
  }
  function renderSources() {
    var list = $("#mapping-sources");
    list.innerHTML = "";
    paths.forEach(function (path) {
      var sample = records.length ? valueAt(records[0], path) : "";
      var count = connectionsOf(path).length;
      var button = el("button", {type: "button", "class": "mapping-source", draggable: "true", "data-path": path,
                                 "aria-pressed": selected === path ? "true" : "false"},
        [el("code", {text: path}), sample ? el("span", {"class": "muted mapping-sample", text: sample.slice(0, 40)}) : null,
         count ? el("span", {"class": "badge", title: fmt(W.connected_to, {n: count}), text: String(count)}) : null]);
      button.addEventListener("dragstart", function (evt) {
        evt.dataTransfer.setData("text/plain", path);
        evt.dataTransfer.effectAllowed = "link";
      });
      button.addEventListener("click", function () {
        selected = selected === path ? null : path;
        renderSources();
        renderTargets();
      });
      list.appendChild(el("li", {}, [button]));
    });
  }

  // ------------------------------------------------------------ order fields and transforms

  var Steps = window.GendanMappingSteps;
  function stepEditor(target, step, index) {
    return Steps.editor({words: W, labels: data.transforms, chain: mapping.transforms[target], step: step, index: index,
                         changed: schedulePreview, removed: function () {
                           if (!mapping.transforms[target].length) { delete mapping.transforms[target]; }
                           renderTargets();
                           schedulePreview();
                         }});
  }
  function connect(target, path) {
    if (path) { mapping.columns[target] = path; } else { delete mapping.columns[target]; }
    selected = null;
    renderSources();
    renderTargets();
    schedulePreview();
  }
  function renderTargets() {
    $$(".mapping-target").forEach(function (li) {
      var target = li.dataset.target;
      var path = mapping.columns[target] || "";
      li.classList.toggle("is-connected", !!path);
      var badge = $(".mapping-badge", li);
      badge.textContent = path ? "← " + path : "";
      var sel = $(".mapping-select", li);
      var options = [["", "—"]].concat(paths.map(function (p) { return [p, p]; }));
      if (path && paths.indexOf(path) < 0) { options.push([path, path]); }
      sel.innerHTML = "";
      options.forEach(function (o) {
        var opt = el("option", {value: o[0], text: o[1]});
        if (o[0] === path) { opt.selected = true; }
        sel.appendChild(opt);
      });
      var button = $(".mapping-connect", li);
      button.hidden = !selected;
      button.textContent = selected ? fmt(W.connect, {path: selected}) : "";
      var chain = $(".mapping-chain", li);
      chain.innerHTML = "";
      (mapping.transforms[target] || []).forEach(function (step, i) { chain.appendChild(stepEditor(target, step, i)); });
    });
    if (typeof scheduleLines === "function") { scheduleLines(); }
  }
  $$(".mapping-target").forEach(function (li) {
    var target = li.dataset.target;
    li.addEventListener("dragover", function (evt) { evt.preventDefault(); li.classList.add("is-over"); });
    li.addEventListener("dragleave", function () { li.classList.remove("is-over"); });
    li.addEventListener("drop", function (evt) {
      evt.preventDefault();
      li.classList.remove("is-over");
      var path = evt.dataTransfer.getData("text/plain");
      if (path) { connect(target, path); }
    });
    $(".mapping-select", li).addEventListener("change", function (evt) { connect(target, evt.target.value); });
    $(".mapping-connect", li).addEventListener("click", function () { if (selected) { connect(target, selected); } });
    $(".mapping-add", li).addEventListener("change", function (evt) {
      var preset = Steps.PRESETS[evt.target.value];
      evt.target.value = "";
      if (!preset) { return; }
      (mapping.transforms[target] = mapping.transforms[target] || []).push(JSON.parse(JSON.stringify(preset)));
      renderTargets();
      schedulePreview();
      var steps = $$(".mapping-step", li);
      var last = steps[steps.length - 1];
      var focus = last && $("input, textarea, select", last);
      if (focus) { focus.focus(); }
    });
  });

  // ------------------------------------------------------------ lines between the columns (wide screens)
  var columns = $(".mapping-columns");
  var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "mapping-lines");
  svg.setAttribute("aria-hidden", "true");
  columns.appendChild(svg);
  var drawing = false;
  function drawLines() {
    drawing = false;
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    if (window.matchMedia("(max-width: 720px)").matches) { return; }
    var box = columns.getBoundingClientRect();
    svg.setAttribute("viewBox", "0 0 " + box.width + " " + box.height);
    Object.keys(mapping.columns).forEach(function (target) {
      var from = $$(".mapping-source").filter(function (b) { return b.dataset.path === mapping.columns[target]; })[0];
      var to = $('.mapping-target[data-target="' + target + '"]');
      if (!from || !to) { return; }
      var a = from.getBoundingClientRect(), b = to.getBoundingClientRect();
      var x1 = a.right - box.left, y1 = a.top + a.height / 2 - box.top;
      var x2 = b.left - box.left, y2 = b.top + 16 - box.top;
      var line = document.createElementNS("http://www.w3.org/2000/svg", "path");
      var mid = (x1 + x2) / 2;
      line.setAttribute("d", "M" + x1 + " " + y1 + " C" + mid + " " + y1 + " " + mid + " " + y2 + " " + x2 + " " + y2);
      line.setAttribute("data-line", target);
      svg.appendChild(line);
    });
  }
  function scheduleLines() {
    if (!drawing) { drawing = true; window.requestAnimationFrame(drawLines); }
  }
  window.addEventListener("scroll", scheduleLines, {passive: true});
  window.addEventListener("resize", scheduleLines);
  $(".mapping-columns > section").addEventListener("scroll", scheduleLines, {passive: true});

  // ------------------------------------------------------------ settings
  var sourceInput = $("#mapping-source"), zoneInput = $("#mapping-timezone"), createBox = $("#mapping-create-customers");
  function loadSettings() {
    sourceInput.value = mapping.source || "";
    zoneInput.value = mapping.timezone || "";
    createBox.checked = !!mapping.create_customers;
  }
  sourceInput.addEventListener("input", function () { mapping.source = sourceInput.value.trim() || "connector"; schedulePreview(); });
  zoneInput.addEventListener("input", function () { mapping.timezone = zoneInput.value.trim(); schedulePreview(); });
  createBox.addEventListener("change", function () { mapping.create_customers = createBox.checked; schedulePreview(); });

  // ------------------------------------------------------------ preview
  function cleaned() {
    var out = JSON.parse(JSON.stringify(mapping));
    Object.keys(out.transforms).forEach(function (t) { if (!out.transforms[t].length) { delete out.transforms[t]; } });
    return out;
  }
  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }
  function preview() {
    var body = $("#mapping-preview tbody");
    if (!records.length || !Object.keys(mapping.columns).length) { body.innerHTML = ""; return; }
    api("POST", "/api/v1/connectors/mapping-preview", {records: records, mapping: cleaned()}).then(function (result) {
      error("");
      body.innerHTML = "";
      result.previews.forEach(function (p) {
        var values = el("td", {"data-label": $$("#mapping-preview th")[3].textContent});
        Object.keys(p.values).forEach(function (k) {
          if (k !== "external_id") { values.appendChild(el("span", {"class": "chip", "data-field": k, text: k + ": " + (typeof p.values[k] === "object" ? JSON.stringify(p.values[k]) : p.values[k])})); values.appendChild(document.createTextNode(" ")); }
        });
        var heads = $$("#mapping-preview th").map(function (th) { return th.textContent; });
        body.appendChild(el("tr", {"data-position": String(p.position)}, [
          el("td", {"data-label": heads[0], text: String(p.position)}),
          el("td", {"data-label": heads[1], text: p.external_id || "—"}),
          el("td", {"data-label": heads[2], text: p.customer || "—"}), values,
          el("td", {"data-label": heads[4], "class": p.errors.length ? "error" : "", text: p.errors.length ? p.errors.join("; ") : W.ok})]));
      });
    }).catch(function (e) { error(e.message); });
  }

  // ------------------------------------------------------------ save, versions, export, import
  function noteText(note) {
    if (!note) { return ""; }
    if (note === "imported") { return W.note_imported; }
    if (note.indexOf("restored:") === 0) { return fmt(W.note_restored, {n: note.slice(9)}); }
    return note;
  }
  /* A version's date as the pages write times: in the installation's zone, without seconds. */
  function savedAt(iso) {
    var options = {year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
                   hour12: false};
    try {
      return new Date(iso).toLocaleString(document.documentElement.lang, Object.assign({timeZone: data.zone}, options));
    } catch (e) {  // a zone this browser does not know: its own
      return new Date(iso).toLocaleString(document.documentElement.lang, options);
    }
  }
  function renderVersions(list) {
    var ol = $("#mapping-versions");
    if (!ol) { return; }
    ol.innerHTML = "";
    list.forEach(function (v, i) {
      var when = savedAt(v.saved_at);
      var restore = i === 0 ? null : el("button", {type: "button", "class": "link", text: W.restore,
                                                    "aria-label": W.restore + " " + fmt(W.version, {n: v.version})});
      if (restore) {
        restore.addEventListener("click", function () {
          api("POST", "/api/v1/connectors/" + cid + "/mapping/versions/" + v.version + "/restore").then(function (saved) {
            return reloadMapping().then(function () { status(fmt(W.restored, {n: v.version, m: saved.version})); });
          }).catch(function (e) { error(e.message); });
        });
      }
      ol.appendChild(el("li", {"data-version": String(v.version)}, [
        el("strong", {text: fmt(W.version, {n: v.version})}),
        document.createTextNode(" · " + when + (v.saved_by_name ? " · " + fmt(W.by, {name: v.saved_by_name}) : "") +
                                " · " + fmt(W.fields, {n: v.fields}) + (v.note ? " · " + noteText(v.note) : "") + " "),
        restore]));
    });
  }
  function reloadMapping() {
    return Promise.all([api("GET", "/api/v1/connectors/" + cid), api("GET", "/api/v1/connectors/" + cid + "/mapping/versions")])
      .then(function (r) {
        mapping = r[0].mapping; mapping.columns = mapping.columns || {}; mapping.transforms = mapping.transforms || {};
        loadSettings();
        setRecords(records);
        renderVersions(r[1]);
      });
  }
  var saveButton = $("#mapping-save");
  if (saveButton) {
    saveButton.addEventListener("click", function () {
      error("");
      api("PUT", "/api/v1/connectors/" + cid + "/mapping", {mapping: cleaned()}).then(function (saved) {
        return api("GET", "/api/v1/connectors/" + cid + "/mapping/versions").then(function (list) {
          renderVersions(list);
          status(fmt(W.saved, {n: saved.version}));
        });
      }).catch(function (e) { error(e.message); });
    });
  }
  var exportNew = $("#mapping-export-new");
  if (exportNew) {
    exportNew.addEventListener("click", function () {
      var doc = {format: "gendan.connector_mapping", format_version: 1, connector: null, kind: null, version: null, mapping: cleaned()};
      var link = el("a", {href: URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], {type: "application/json"})),
                          download: "connector-mapping.json"});
      document.body.appendChild(link); link.click(); link.remove();
    });
  }
  $("#mapping-import").addEventListener("change", function (evt) {
    var file = evt.target.files[0];
    evt.target.value = "";
    if (!file) { return; }
    error("");
    if (cid) {
      var form = new FormData();
      form.append("file", file);
      api("POST", "/api/v1/connectors/" + cid + "/mapping/import", form, true).then(function (saved) {
        return reloadMapping().then(function () { status(fmt(W.imported, {n: saved.version})); });
      }).catch(function (e) { error(e.message); });
      return;
    }
    file.text().then(function (text) {
      var doc;
      try { doc = JSON.parse(text); } catch (e) { error(W.bad_file); return; }
      var next = doc && doc.format ? doc.mapping : doc;
      if (!next || typeof next !== "object" || Array.isArray(next)) { error(W.bad_file); return; }
      mapping = next; mapping.columns = mapping.columns || {}; mapping.transforms = mapping.transforms || {};
      loadSettings();
      setRecords(records);
    });
  });

  // ------------------------------------------------------------ sample buttons
  var fetchButton = $("#mapping-fetch");
  if (fetchButton) {
    fetchButton.addEventListener("click", function () {
      error("");
      fetchButton.disabled = true;
      api("POST", "/api/v1/connectors/" + cid + "/mapping/sample").then(function (sample) {
        setRecords(sample.records, sample.paths);
      }).catch(function (e) { error(e.message); }).then(function () { fetchButton.disabled = false; });
    });
  }
  $("#mapping-use-paste").addEventListener("click", function () {
    error("");
    var list;
    try { list = parsePaste($("#mapping-paste").value); } catch (e) { error(W.bad_paste); return; }
    setRecords(list);
  });

  loadSettings();
  setRecords([]);
  renderVersions(data.versions || []);
})();
