// Charts of the early-warning pages (ECharts): the series behind an alert (observed items per hour against the
// expected count, or the negative share) and the hourly timeline of each emerging issue. The figures are also
// on the page as text, so the pages work without this script.
(function () {
  "use strict";
  function hours(start, n) {
    var t0 = start ? Date.parse(start) : Date.now() - n * 3600000;
    var out = [];
    for (var i = 0; i < n; i++) {
      var d = new Date(t0 + i * 3600000);
      out.push(("0" + d.getHours()).slice(-2) + ":00");
    }
    return out;
  }
  function big(box) {
    var data = JSON.parse(box.getAttribute("data-chart") || "{}");
    var observed = data.observed || data.counts || [];
    if (!observed.length || !window.echarts) { return; }
    var series = [{ name: box.getAttribute("data-label-observed"), type: "bar", data: observed }];
    if (data.expected) {
      series.push({ name: box.getAttribute("data-label-expected"), type: "line", data: data.expected,
                    symbol: "none", lineStyle: { type: "dashed" } });
    }
    var axes = [{ type: "value" }];
    if (data.share) {
      axes.push({ type: "value", min: 0, max: 1 });
      series.push({ name: box.getAttribute("data-label-share"), type: "line", yAxisIndex: 1, data: data.share,
                    connectNulls: true });
    }
    var chart = window.echarts.init(box, null, { renderer: "svg", height: 260 });
    chart.setOption({ grid: { left: 40, right: 40, top: 24, bottom: 30 }, tooltip: { trigger: "axis" },
                      legend: { top: 0 }, xAxis: { type: "category", data: hours(data.start, observed.length) },
                      yAxis: axes, series: series });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function spark(box) {
    var data = JSON.parse(box.getAttribute("data-chart") || "{}");
    var counts = data.counts || [];
    if (!counts.length || !window.echarts) { return; }
    var chart = window.echarts.init(box, null, { renderer: "svg", width: 160, height: 32 });
    chart.setOption({ grid: { left: 0, right: 0, top: 2, bottom: 2 }, tooltip: { trigger: "axis" },
                      xAxis: { type: "category", show: false, data: hours(data.start, counts.length) },
                      yAxis: { type: "value", show: false }, series: [{ type: "bar", data: counts }] });
  }
  function init() {
    document.querySelectorAll(".alert-chart").forEach(big);
    document.querySelectorAll(".alert-spark").forEach(spark);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
