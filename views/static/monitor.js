// The Monitor's charts: each figure names its series and range; their points come from the
// page's JSON twin (/api/smas/monitor), downsampled on the server. No inline script: the
// page works without this file (its tables show the latest values).
(function () {
  'use strict';
  if (typeof uPlot === 'undefined') return;

  function labelsOf(s) {
    var parts = [];
    for (var k in s.labels) parts.push(k + '=' + s.labels[k]);
    return parts.join(' ') || s.name;
  }

  var COLOURS = ['#1f6fb4', '#d1495b', '#2e933c', '#e89005', '#6c4ab6', '#00798c', '#8a6d3b', '#444'];

  /** One x axis for all the series of a chart: the union of their bucket times. */
  function align(series) {
    var times = {};
    series.forEach(function (s) { s.points.forEach(function (p) { times[p[0]] = true; }); });
    var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (t, i) { index[t] = i; });
    var data = [xs.map(function (t) { return t / 1000; })];
    series.forEach(function (s) {
      var ys = new Array(xs.length).fill(null);
      s.points.forEach(function (p) { ys[index[p[0]]] = p[2]; });
      data.push(ys);
    });
    return data;
  }

  /** Room for the widest tick label of the value axis (78,475.56 MiB needs more than 0.75 ms), so that the unit's label never covers it. */
  function valueAxisSize(u, values, axisIdx, cycleNum) {
    var axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    var widest = 0;
    u.ctx.font = axis.font[0];
    (values || []).forEach(function (v) { widest = Math.max(widest, u.ctx.measureText(v).width); });
    return Math.ceil(axis.ticks.size + axis.gap + widest / devicePixelRatio) + 4;
  }

  function draw(figure) {
    var q = new URLSearchParams({ series: figure.dataset.series, from: figure.dataset.from, to: figure.dataset.to });
    fetch(figure.dataset.api + '?' + q.toString(), { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (res) { if (!res.ok) throw new Error('HTTP ' + res.status); return res.json(); })
      .then(function (json) {
        var target = figure.querySelector('.plot');
        var unit = figure.dataset.unit;
        var opts = {
          width: Math.min(560, Math.max(320, window.innerWidth - 80)),
          height: 200,
          // UTC, as the tables and every time on the console.
          tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'); },
          scales: { x: { time: true, min: json.from / 1000, max: json.to / 1000 } },
          axes: [{}, { label: unit, size: valueAxisSize }],
          series: [{}].concat(json.series.map(function (s, i) {
            return { label: labelsOf(s), stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: false };
          })),
        };
        new uPlot(opts, align(json.series), target);
        figure.dataset.drawn = String(json.series.reduce(function (n, s) { return n + s.points.length; }, 0));
      })
      .catch(function (err) {
        var p = document.createElement('p');
        p.className = 'error';
        p.textContent = 'could not draw the chart: ' + err.message;
        figure.querySelector('.plot').appendChild(p);
      });
  }

  document.querySelectorAll('figure.chart').forEach(draw);
})();
