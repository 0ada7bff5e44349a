// The model page's charts (ECharts, served locally): a reliability plot and feature importances per model.
(function () {
  function draw(section) {
    var data = JSON.parse(section.querySelector(".foresight-data").textContent || "{}");
    section.querySelectorAll(".foresight-chart").forEach(function (box) {
      var chart = echarts.init(box, null, { renderer: "svg" });
      if (box.dataset.chart === "reliability") {
        chart.setOption({
          grid: { left: 48, right: 16, top: 16, bottom: 40 },
          tooltip: { trigger: "item" },
          xAxis: { type: "value", min: 0, max: 1, name: "p", nameLocation: "middle", nameGap: 24 },
          yAxis: { type: "value", min: 0, max: 1 },
          series: [
            { type: "line", data: [[0, 0], [1, 1]], symbol: "none", lineStyle: { type: "dashed", color: "#999" } },
            { type: "line", data: data.reliability || [], symbolSize: 8 }
          ]
        });
      } else {
        var rows = (data.importances || []).slice().reverse();
        chart.setOption({
          grid: { left: 140, right: 16, top: 8, bottom: 24 },
          tooltip: { trigger: "item" },
          xAxis: { type: "value" },
          yAxis: { type: "category", data: rows.map(function (r) { return r[0]; }) },
          series: [{ type: "bar", data: rows.map(function (r) { return r[1]; }) }]
        });
      }
      box.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  document.querySelectorAll(".foresight-model").forEach(draw);
})();
