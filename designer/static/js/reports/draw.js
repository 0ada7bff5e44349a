/* Drawing a report result with ECharts: shared by the report designer and the dashboards.
 * `words` gives valueLabel(result, i, v), num(v) and measureName(m); each data point carries its
 * `cell` (the row's dimension values) so a click can open the orders behind it. */
/* A funnel's steps, each with its share of the step before it (null for the first): the conversion
 * from one stage to the next when the measure counts distinct orders reaching a stage. Stages come
 * in the flow's order when the server says so (`flow_order`: engine/reports/funnel.py), else
 * largest first. */
export function funnelSteps(result, words) {
  let nd = result.dimensions.length, prev = null;
  let steps = result.rows.map(function (r) { return { name: words.valueLabel(result, 0, r[0]), value: words.num(r[nd]), cell: r.slice(0, nd) }; });
  if (!result.flow_order) steps.sort(function (a, b) { return (b.value || 0) - (a.value || 0); });
  steps.forEach(function (s) { s.share = prev ? (s.value || 0) / prev : null; prev = s.value || 0; });
  return steps;
}

export function percent(share) { return share === null ? "" : Math.round(share * 100) + "%"; }

/* The funnel's steps in words (under the chart, for screen readers and phones): each stage, how many
 * reached it and its share of the stage before (`ofPrevious`: "{share} of the stage before");
 * clicking a step calls onPick(cell). Shared by the report designer and the dashboards. */
export function funnelList(result, words, ofPrevious, onPick) {
  let span = function (cls, text) { let s = document.createElement("span"); s.className = cls; s.textContent = text; return s; };
  let list = document.createElement("ol");
  list.className = "db-funnel-steps";
  funnelSteps(result, words).forEach(function (s) {
    let li = list.appendChild(document.createElement("li"));
    li.appendChild(span("db-step-name", s.name));
    li.appendChild(span("num db-step-count", String(s.value)));
    li.appendChild(span("db-step-share", s.share === null ? "" : ofPrevious.replace("{share}", percent(s.share))));
    li.addEventListener("click", function () { onPick(s.cell); });
  });
  return list;
}

export function chartOption(result, view, words, conversion) {
  const valueLabel = words.valueLabel, num = words.num, measureName = words.measureName;

  let nd = result.dimensions.length, rows = result.rows;
  if (view === "pie" || view === "ring" || view === "funnel") {
    let data = rows.map(function (r) { return { name: valueLabel(result, 0, r[0]), value: num(r[nd]), cell: r.slice(0, nd) }; });
    if (view === "funnel" && conversion) {  // each step labelled with its share of the step before
      data = funnelSteps(result, words).map(function (s) {
        return { name: s.name, value: s.value, cell: s.cell,
                 label: { formatter: s.share === null ? "{b}: {c}" : "{b}: {c} (" + percent(s.share) + ")" } };
      });
    }
    let inOrder = view === "funnel" && conversion && result.flow_order;  // draw the steps as the flow runs
    let series = view === "funnel" ? { type: "funnel", data: data, sort: inOrder ? "none" : "descending" }
      : { type: "pie", data: data, radius: view === "ring" ? ["45%", "70%"] : "70%" };
    return { tooltip: { trigger: "item" }, legend: { type: "scroll", bottom: 0 }, series: [series] };
  }
  if (view === "heatmap") {
    let xs = [], ys = [], data = [], max = 0;
    rows.forEach(function (r) {
      if (xs.indexOf(r[0]) < 0) xs.push(r[0]);
      if (ys.indexOf(r[1]) < 0) ys.push(r[1]);
    });
    rows.forEach(function (r) {
      let v = num(r[nd]); max = Math.max(max, v || 0);
      data.push({ value: [xs.indexOf(r[0]), ys.indexOf(r[1]), v], cell: r.slice(0, nd) });
    });
    return { tooltip: {}, grid: { containLabel: true, left: 8, right: 8, top: 8, bottom: 60 },
             xAxis: { type: "category", data: xs.map(function (x) { return valueLabel(result, 0, x); }) },
             yAxis: { type: "category", data: ys.map(function (y) { return valueLabel(result, 1, y); }) },
             visualMap: { min: 0, max: max || 1, calculable: true, orient: "horizontal", left: "center", bottom: 0 },
             series: [{ type: "heatmap", data: data, label: { show: true } }] };
  }
  let type = view === "line" ? "line" : "bar", stacked = view === "stacked_bar";
  let cats = [], series = [];
  rows.forEach(function (r) { if (cats.indexOf(r[0]) < 0) cats.push(r[0]); });
  if (nd >= 2) {  // one series per value of the second dimension, the first measure
    let groups = [];
    rows.forEach(function (r) { if (groups.indexOf(r[1]) < 0) groups.push(r[1]); });
    groups.forEach(function (g) {
      let data = cats.map(function (c) {
        let r = rows.find(function (x) { return x[0] === c && x[1] === g; });
        return r ? { value: num(r[nd]), cell: r.slice(0, nd) } : null;
      });
      series.push({ type: type, name: valueLabel(result, 1, g), data: data, stack: stacked ? "all" : undefined });
    });
  } else {
    result.measures.forEach(function (m, j) {
      series.push({ type: type, name: measureName(m), stack: stacked ? "all" : undefined,
                    data: rows.map(function (r) { return { value: num(r[nd + j]), cell: r.slice(0, nd) }; }) });
    });
  }
  return { tooltip: { trigger: "axis" }, legend: { type: "scroll", top: 0 },
           grid: { containLabel: true, left: 8, right: 8, top: 32, bottom: 8 },
           xAxis: { type: "category", data: cats.map(function (c) { return valueLabel(result, 0, c); }) },
           yAxis: { type: "value" }, series: series };
}

