// Every time series of the console: a [data-chart] element names a json_script with its data;
// this draws it with the vendored uPlot (values on hover, drag to zoom, double-click to reset,
// resized with its card). Sparklines ([data-spark]) are the same without axes. Colours come
// from charts.css custom properties, so the charts follow the console's light or dark CSS.
// No inline style or script: uPlot sets its styles through the CSSOM, which the CSP allows.
(function () {
  "use strict";
  if (typeof window.uPlot !== "function") return;

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }
  function colour(role) { return cssVar("--chart-" + role, cssVar("--accent", "#2457c5")); }

  function figure(v, unit) {
    if (v == null || isNaN(v)) return "—";
    var abs = Math.abs(v), text;
    if (abs >= 1e9) text = (v / 1e9).toFixed(1) + " G";
    else if (abs >= 1e6) text = (v / 1e6).toFixed(1) + " M";
    else if (abs >= 1e4) text = (v / 1e3).toFixed(1) + " k";
    else if (Number.isInteger(v)) text = v.toLocaleString("en");
    else text = abs >= 10 ? v.toFixed(1) : String(Math.round(v * 100) / 100);
    return unit ? text + " " + unit : text;
  }

  function readData(el) {
    var script = document.getElementById(el.getAttribute("data-chart"));
    if (!script) return null;
    try { return JSON.parse(script.textContent); } catch (e) { return null; }
  }

  function width(el) { return Math.max(120, Math.floor(el.getBoundingClientRect().width)); }

  function watch(el, plot, height) {
    if (typeof ResizeObserver !== "function") return;
    var last = width(el);
    new ResizeObserver(function () {
      var w = width(el);
      if (w !== last) { last = w; plot.setSize({ width: w, height: height(w) }); }
    }).observe(el);
  }

  function timeChart(el, data) {
    var unit = data.unit || "";
    // 24-hour times in the browser's time zone, like the rest of the console's pickers.
    var fmtFull = window.uPlot.fmtDate("{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}");
    var fmtTime = window.uPlot.fmtDate("{HH}:{mm}");
    var fmtDay = window.uPlot.fmtDate("{MMM} {D} {HH}:{mm}");
    var series = [{ label: "time", value: function (u, ts) { return ts == null ? "—" : fmtFull(new Date(ts * 1000)); } }];
    var columns = [data.x];
    var bands = [];
    data.series.forEach(function (s, i) {
      var role = s.role || "rate";
      var base = s.stacked_on;
      series.push({
        label: s.label,
        stroke: colour(role),
        width: 2,
        dash: base == null ? undefined : [5, 3],
        spanGaps: true,
        points: { show: data.x.length < 3 },
        // A stacked line is drawn at its sum; hover shows its own part.
        value: function (u, v, si, idx) {
          if (v == null) return "—";
          if (base == null || idx == null) return figure(v, unit);
          var under = u.data[base + 1][idx];
          return figure(v - (under || 0), unit);
        },
      });
      if (base != null) bands.push({ series: [i + 1, base + 1], fill: cssVar("--chart-" + role + "-fill", "rgba(240,180,41,0.3)") });
      columns.push(s.values);
    });
    var height = function (w) { return w < 500 ? 180 : 240; };
    var axis = { stroke: cssVar("--muted", "#5a6272"), grid: { stroke: cssVar("--line", "#dfe3ea"), width: 1 }, ticks: { stroke: cssVar("--line", "#dfe3ea"), width: 1 } };
    var opts = {
      width: width(el),
      height: height(width(el)),
      series: series,
      bands: bands,
      cursor: { drag: { x: true, y: false, setScale: true } },
      scales: { y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } },
      axes: [
        Object.assign({}, axis, {
          values: function (u, splits) {
            var span = (u.scales.x.max || 0) - (u.scales.x.min || 0);
            var fmt = span > 86400 ? fmtDay : fmtTime;
            return splits.map(function (ts) { return fmt(new Date(ts * 1000)); });
          },
        }),
        Object.assign({}, axis, { size: 60, values: function (u, vals) { return vals.map(function (v) { return figure(v); }); } }),
      ],
      legend: { live: true },
    };
    return { opts: opts, columns: columns, height: height };
  }

  function sparkChart(el, data) {
    var values = data.spark;
    var xs = values.map(function (_, i) { return i; });
    var unit = data.unit || "";
    var out = document.createElement("span");
    out.className = "spark-value";
    out.setAttribute("aria-hidden", "true");
    var height = function () { return 24; };
    var opts = {
      width: Math.max(40, Math.min(Math.floor(el.getBoundingClientRect().width), 160)),
      height: 24,
      pxAlign: false,
      legend: { show: false },
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      series: [{}, { stroke: colour(data.role || "rate"), width: 1.5, points: { show: false } }],
      cursor: { y: false, points: { size: 5 }, drag: { x: false, y: false } },
      hooks: {
        setCursor: [function (u) {
          var i = u.cursor.idx;
          out.textContent = i == null ? "" : figure(u.data[1][i], unit);
        }],
      },
    };
    return { opts: opts, columns: [xs, values], height: height, after: function () { el.appendChild(out); } };
  }

  function draw(el) {
    if (el.hasAttribute("data-chart-drawn")) return;
    var data = readData(el);
    if (!data) return;
    var spark = Array.isArray(data.spark);
    if (!spark && (!data.x || !data.x.length)) return;
    var made = spark ? sparkChart(el, data) : timeChart(el, data);
    var plot = new window.uPlot(made.opts, made.columns, el);
    plot.root.setAttribute("aria-hidden", "true");
    el.setAttribute("data-chart-drawn", "");
    el.classList.add("chart-drawn");
    if (made.after) made.after();
    if (!spark) watch(el, plot, made.height);
  }

  function drawAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-chart]")) draw(scope);
    scope.querySelectorAll("[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  else drawAll(document);
  // Tables swapped in by htmx (search, sort, paging) bring new sparklines.
  document.addEventListener("htmx:load", function (event) { drawAll(event.target); });
})();
