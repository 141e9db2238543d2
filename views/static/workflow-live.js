// Live refresh of the Workflow Manager (no inline script: the Content-Security-Policy allows
// files of /static only). On a workflow's page it polls the workflow's JSON twin and updates
// its status and per-step counts; on Recent/History it polls the list's twin and updates
// each row. It stops once nothing shown is RUNNING or PAUSED. Every element it changes gets
// data-updated (the poll's number), and the container data-polls and, when it stops,
// data-live-state="stopped": what a browser test waits for. Text is set as text.
(function () {
  'use strict';
  var ENDED = { SUCCESS: true, FAILED: true, CANCELLED: true };

  function utc(ms) {
    return ms === null || ms === undefined ? '' : new Date(Number(ms)).toISOString().replace('T', ' ').slice(0, 19);
  }

  // Sets an element's text (a state as its coloured badge); marks it when it changed.
  function put(el, text, poll, badge) {
    if (!el || el.textContent.trim() === String(text)) return false;
    if (badge) {
      var span = document.createElement('span');
      span.className = 'state ' + text;
      span.textContent = text;
      el.replaceChildren(span);
    } else el.textContent = text;
    el.setAttribute('data-updated', String(poll));
    return true;
  }

  function follow(container, url, apply) {
    var every = Number(container.getAttribute('data-poll-ms')) || 3000;
    var polls = 0;
    function stop(why) {
      container.setAttribute('data-live-state', why);
    }
    function poll() {
      fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
        .then(function (res) {
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return res.json();
        })
        .then(function (body) {
          polls += 1;
          var running = apply(body, polls);
          container.setAttribute('data-polls', String(polls));
          if (running) setTimeout(poll, every);
          else stop('stopped');
        })
        .catch(function () {
          stop('failed');
        });
    }
    container.setAttribute('data-live-state', 'polling');
    setTimeout(poll, every);
  }

  var wf = document.getElementById('workflow');
  if (wf && wf.getAttribute('data-live')) {
    var graph = document.getElementById('graph');
    var graphSrc = graph ? graph.getAttribute('src') : null;
    var note = document.getElementById('live-state');
    follow(wf, wf.getAttribute('data-live'), function (w, poll) {
      put(wf.querySelector('#facts [data-field="status"]'), w.status, poll, true);
      put(wf.querySelector('#facts [data-field="endtime"]'), utc(w.endtime), poll);
      put(wf.querySelector('#facts [data-field="reason"]'), w.reason || '', poll);
      var stepChanged = false;
      (w.steps || []).forEach(function (s) {
        var row = wf.querySelector('tr[data-step="' + s.id + '"]');
        if (!row) return;
        if (put(row.querySelector('[data-field="status"]'), s.status, poll, true)) stepChanged = true;
        put(row.querySelector('[data-field="starttime"]'), utc(s.starttime), poll);
        put(row.querySelector('[data-field="endtime"]'), utc(s.endtime), poll);
        Object.keys(s.counts).forEach(function (st) {
          if (put(row.querySelector('[data-count="' + st + '"]'), s.counts[st], poll)) stepChanged = true;
        });
      });
      var total = wf.querySelector('tr[data-step="total"]');
      if (total) Object.keys(w.counts || {}).forEach(function (st) { put(total.querySelector('[data-count="' + st + '"]'), w.counts[st], poll); });
      // The graph is drawn by the server: fetch it again when a step changed.
      if (stepChanged && graph && graphSrc) graph.setAttribute('src', graphSrc + '&at=' + Date.now());
      wf.setAttribute('data-status', w.status);
      var running = !ENDED[w.status];
      if (!running && note) note.textContent = 'The workflow has ended ' + w.status + '; reload the page for its jobs.';
      return running;
    });
  }

  var list = document.getElementById('workflows');
  if (list && list.getAttribute('data-live-list')) {
    follow(list, list.getAttribute('data-live-list'), function (body, poll) {
      var running = false;
      (body.workflows || []).forEach(function (w) {
        var row = list.querySelector('tr[data-workflow="' + w.id + '"]');
        if (!row) return;
        if (!ENDED[w.status]) running = true;
        put(row.querySelector('[data-field="status"]'), w.status, poll, true);
        put(row.querySelector('[data-field="starttime"]'), utc(w.starttime), poll);
        put(row.querySelector('[data-field="endtime"]'), utc(w.endtime), poll);
        if (w.jobs) {
          put(row.querySelector('[data-field="jobs"]'), w.jobs.done + '/' + w.jobs.total, poll);
          put(row.querySelector('[data-field="failed"]'), w.jobs.failed, poll);
        }
      });
      return running;
    });
  }
})();
