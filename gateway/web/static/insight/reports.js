// The reports' graphs, drawn with uPlot from the numbers the page carries (each graph's table is beside it).
(function () {
  "use strict";
  var COLORS = ["#0b4f9c", "#b3261e", "#1b6e20", "#6a3d9a", "#8a5300", "#00696b", "#5c5c5c", "#a0004d"];

  function draw(holder) {
    var spec = JSON.parse(holder.querySelector("script[type='application/json']").textContent);
    var n = spec.labels.length;
    var xs = [];
    for (var i = 0; i < n; i++) {
      xs.push(i);
    }
    var bars = spec.kind === "bars";
    var series = [{ label: spec.x_label }];
    spec.series.forEach(function (s, k) {
      var color = COLORS[k % COLORS.length];
      var one = { label: s[0], stroke: color, width: 2 };
      if (bars) {
        one.fill = color;
        one.paths = uPlot.paths.bars({ size: [0.6 / Math.max(1, spec.series.length), 64], align: 0 });
        one.points = { show: false };
      }
      series.push(one);
    });
    var data = [xs].concat(spec.series.map(function (s) { return s[1]; }));
    var width = Math.max(280, holder.clientWidth);
    var options = {
      width: width,
      height: 280,
      series: series,
      scales: { x: { time: false, range: [-0.5, n - 0.5] } },
      axes: [
        {
          values: function (u, splits) {
            return splits.map(function (v) { return Number.isInteger(v) && spec.labels[v] !== undefined ? spec.labels[v] : ""; });
          },
          incrs: [1, 2, 4, 7, 14, 30],
        },
        { label: spec.unit },
      ],
    };
    var target = holder.querySelector(".plot");
    var plot = new uPlot(options, data, target);
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(280, holder.clientWidth), height: 280 });
    });
  }

  if (window.uPlot) {
    document.querySelectorAll(".chart").forEach(draw);
  }
})();
