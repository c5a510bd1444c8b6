// KPI charts on a plan page: each KPI's values over time against its target and baseline (ECharts).
// The KPI table above the charts carries the same figures, so the page works without this script.
(function () {
  "use strict";
  function draw(box, kpis) {
    var labels = { target: box.getAttribute("data-label-target"), baseline: box.getAttribute("data-label-baseline"),
                   value: box.getAttribute("data-label-value") };
    kpis.forEach(function (k) {
      var points = k.points.filter(function (p) { return p.value !== null; });
      if (!points.length || !window.echarts) { return; }
      var fig = document.createElement("figure");
      fig.className = "kpi-chart";
      var cap = document.createElement("figcaption");
      cap.textContent = k.name;
      var div = document.createElement("div");
      div.className = "kpi-canvas";
      div.setAttribute("role", "img");
      div.setAttribute("aria-label", k.name);
      fig.appendChild(cap);
      fig.appendChild(div);
      box.appendChild(fig);
      var x = k.points.map(function (p) { return k.computed ? p.start + " – " + p.end : p.start; });
      var series = [{ name: labels.value, type: "line", data: k.points.map(function (p) { return p.value; }),
                      connectNulls: true, symbolSize: 6 }];
      var marks = [];
      if (k.target !== null) { marks.push({ name: labels.target, yAxis: k.target, lineStyle: { color: "#3a9a5b" } }); }
      if (k.baseline !== null) { marks.push({ name: labels.baseline, yAxis: k.baseline, lineStyle: { color: "#888", type: "dotted" } }); }
      series[0].markLine = { symbol: "none", data: marks, label: { formatter: "{b}: {c}" } };
      var chart = window.echarts.init(div, null, { renderer: "svg" });
      chart.setOption({
        grid: { left: 48, right: 90, top: 16, bottom: 40 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: x, axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", name: k.unit_label || "",
                 min: function (v) { return Math.min(v.min, k.target === null ? v.min : k.target, k.baseline === null ? v.min : k.baseline, 0); },
                 max: function (v) { return Math.max(v.max, k.target === null ? v.max : k.target, k.baseline === null ? v.max : k.baseline); } },
        series: series
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  function init() {
    var box = document.getElementById("kpi-charts");
    if (!box) { return; }
    fetch(box.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (kpis) { draw(box, kpis); })
      .catch(function () { /* the table stays */ });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
