// callcore supervisor wallboard (served at /wallboard): hand-written, no build step,
// nothing fetched from another origin. A client of the web API only:
//   login           POST /api/v1/login (the CSRF token kept in sessionStorage)
//   live figures    the event feed /api/v1/events; each event that changes a figure
//                   reads /api/v1/queues, /api/v1/agents and /api/v1/calls again
//                   (coalesced, never polled); today's answered, abandoned and service
//                   level from /api/v1/reports/queue_service when calls end
//   agent state     PUT /api/v1/agents/{id}/state
//   coaching        the coaching panel (wallboard-coaching.js): scorecards, items,
//                   reviews of new agents' calls
//   supervision     the supervisor's own browser phone (/phone.js, WebSocket
//                   /api/v1/phone) answers the leg POST /api/v1/calls/{id}/monitor
//                   places; .../monitor/mode switches listen, whisper and barge
// What tests read: window.wallboard.level() (the RMS of what the monitoring leg
// brings now), window.wallboard.heard (its highest so far), window.wallboard.log.
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };
  var SVG = 'http://www.w3.org/2000/svg'; // an XML namespace name, never fetched
  var HISTORY_MS = 10 * 60 * 1000;
  var COLORS = ['#2563eb', '#dc2626', '#1f9d55', '#d97706', '#7c3aed', '#0891b2', '#be185d'];
  // events that change nothing the board shows
  var QUIET = ['flow_step', 'transcript_segment', 'usage', 'quality_alert', 'quality_scored',
    'agent_assist', 'audio_measured', 'review_flagged', 'review_completed',
    'recording_started', 'recording_stopped', 'dial_attempted', 'disposition_set', 'wrap_up_noted'];
  // events after which today's answered / abandoned / service level change
  var COUNTED = ['connected', 'abandoned', 'ended', 'queue_exited', 'overflowed'];

  var csrf = sessionStorage.getItem('callcore.csrf') || '';
  var me = null;
  var board = {
    queues: [], agents: [], calls: [], today: {}, fetchedAt: Date.now(), history: [],
  };
  var lastSeq = 0;
  var feed = null;
  var phone = null;
  var monitor = null; // { call, agent, mode, state, phoneCall, level }
  var timers = [];

  var hooks = { log: [], heard: 0, level: function () { return monitor && monitor.level ? monitor.level() : 0; } };
  window.wallboard = hooks;
  function log(what) { hooks.log.push(what); if (hooks.log.length > 200) hooks.log.shift(); }

  // ---- helpers ----------------------------------------------------------------

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function duration(secs) {
    secs = Math.max(0, Math.floor(secs));
    var h = Math.floor(secs / 3600), m = Math.floor(secs / 60) % 60, s = secs % 60;
    var mm = (h ? String(m).padStart(2, '0') : String(m)) + ':' + String(s).padStart(2, '0');
    return h ? h + ':' + mm : mm;
  }

  function pill(id, cls, text) {
    var p = $(id);
    p.className = 'pill ' + cls;
    p.textContent = text;
  }

  function showError(e) {
    $('error').textContent = e ? String(e.message || e) : '';
    if (e) log('error:' + (e.message || e));
  }

  async function api(method, path, body) {
    var opts = { method: method, headers: {}, credentials: 'same-origin' };
    if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    var r = await fetch(path, opts);
    var text = await r.text();
    var data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (r.status === 401) { loggedOut(); throw new Error('logged out'); }
    if (!r.ok) {
      var err = data && data.error;
      throw new Error(err ? err.message + (err.field ? ' (' + err.field + ')' : '') : 'HTTP ' + r.status);
    }
    return data;
  }

  // ---- login ------------------------------------------------------------------

  function isSupervisor(role) { return role === 'supervisor' || role === 'administrator'; }

  $('login').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    $('login-error').textContent = '';
    try {
      var r = await fetch('/api/v1/login', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: $('login-user').value, password: $('login-password').value }),
      });
      var data = await r.json();
      if (!r.ok) { $('login-error').textContent = data.error ? data.error.message : 'login failed'; return; }
      csrf = data.csrf_token;
      sessionStorage.setItem('callcore.csrf', csrf);
      if (!isSupervisor(data.role)) {
        $('login-error').textContent = 'The wallboard is for supervisors.';
        await api('POST', '/api/v1/logout').catch(function () {});
        return;
      }
      $('login-password').value = '';
      start(data);
    } catch (e) {
      $('login-error').textContent = String(e.message || e);
    }
  });

  $('logout').addEventListener('click', async function () {
    await api('POST', '/api/v1/logout').catch(function () {});
    loggedOut();
  });

  function loggedOut() {
    if (!me) return;
    me = null;
    sessionStorage.removeItem('callcore.csrf');
    timers.forEach(clearInterval);
    timers = [];
    if (feed) { feed.onclose = null; feed.close(); feed = null; }
    if (phone) { phone.ws.close(); phone = null; }
    monitor = null;
    if (window.wallboardCoaching) window.wallboardCoaching.stop();
    $('wallboard').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('who').textContent = '';
    pill('feed', 'off', 'offline');
    pill('phone', 'off', 'phone off');
  }

  function start(who) {
    me = who;
    log('logged-in');
    $('login').hidden = true;
    $('wallboard').hidden = false;
    $('logout').hidden = false;
    $('who').textContent = who.user + ' · ' + who.role + ' · ' + who.tenant;
    openFeed();
    connectPhone();
    refresh();
    refreshToday();
    if (window.wallboardCoaching) window.wallboardCoaching.start(api, who);
    timers.push(setInterval(tick, 1000));
    timers.push(setInterval(sample, 5000));
    timers.push(setInterval(meterTick, 100));
  }

  // ---- the event feed ---------------------------------------------------------

  function openFeed() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
      '/api/v1/events' + (lastSeq ? '?since=' + lastSeq : '');
    var ws = new WebSocket(url);
    feed = ws;
    ws.onopen = function () { pill('feed', 'on', 'live'); log('feed-open'); };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === 'hello') {
        if (!lastSeq) lastSeq = m.last_seq || 0;
        refresh();
        return;
      }
      if (m.type === 'resync_required') { refresh(); refreshToday(); return; }
      if (typeof m.seq === 'number') lastSeq = Math.max(lastSeq, m.seq);
      onEvent(m);
    };
    ws.onclose = function () {
      if (feed !== ws) return;
      feed = null;
      pill('feed', 'off', 'reconnecting');
      // a closed session ends here: the next request says 401
      if (me) setTimeout(function () { if (me && !feed) { api('GET', '/api/v1/me').then(openFeed, function () {}); } }, 1000);
    };
  }

  function onEvent(m) {
    if (QUIET.indexOf(m.type) < 0) scheduleRefresh();
    if (COUNTED.indexOf(m.type) >= 0) scheduleToday();
    if (me && m.supervisor && m.supervisor === me.agent) onMonitorEvent(m);
    // live quality alerts (wallboard-alerts.js)
    if (window.wallboardAlerts) window.wallboardAlerts.onEvent(m, board.calls);
    // scorecards, coaching items, reviews (wallboard-coaching.js)
    if (window.wallboardCoaching) window.wallboardCoaching.onEvent(m);
  }

  // ---- reading the API again ----------------------------------------------------

  var refreshTimer = null, refreshing = false, again = false;

  function scheduleRefresh() {
    if (refreshing) { again = true; return; }
    if (!refreshTimer) refreshTimer = setTimeout(refresh, 20);
  }

  async function refresh() {
    clearTimeout(refreshTimer);
    refreshTimer = null;
    if (!me) return;
    if (refreshing) { again = true; return; }
    refreshing = true;
    again = false;
    try {
      var got = await Promise.all([
        api('GET', '/api/v1/queues'), api('GET', '/api/v1/agents'), api('GET', '/api/v1/calls'),
      ]);
      board.queues = got[0];
      board.agents = got[1];
      board.calls = got[2];
      board.fetchedAt = Date.now();
      sample();
      render();
      log('refreshed');
    } catch (e) {
      showError(e);
    } finally {
      refreshing = false;
      if (again) scheduleRefresh();
    }
  }

  var todayTimer = null;
  function scheduleToday() {
    if (!todayTimer) todayTimer = setTimeout(refreshToday, 500);
  }

  function serviceLevel(c, formula) {
    var ratio = function (a, b) { return b > 0 ? a / b : null; };
    switch (formula) {
      case 'answered_only': return ratio(c.answered_within_sl, c.answered);
      case 'answered_or_abandoned_within':
        return ratio(c.answered_within_sl + c.abandoned_within_sl, c.answered + c.abandoned);
      case 'removed_from_queue': return ratio(c.removed_within_sl, c.offered);
      default: return ratio(c.answered_within_sl, Math.max(0, c.offered - c.short_abandoned));
    }
  }

  // Today's figures per queue: the interval report since local midnight, its
  // intervals summed.
  async function refreshToday() {
    clearTimeout(todayTimer);
    todayTimer = null;
    if (!me) return;
    var now = Date.now();
    var midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    var from = Math.min(midnight.getTime(), now - 1000);
    try {
      var report = await api('GET', '/api/v1/reports/queue_service?interval=day&from=' + from + '&to=' + (now + 1000));
      var sums = {};
      var channels = {};
      (report.rows || []).forEach(function (row) {
        var d = row.dimension;
        if (!d || d.dimension !== 'queue') return;
        var c = row.figures.counters;
        var s = sums[d.queue] || (sums[d.queue] = {});
        Object.keys(c).forEach(function (k) { s[k] = (s[k] || 0) + (c[k] || 0); });
        // each channel against its own target (e-mail's in business hours)
        var per = channels[d.queue] || (channels[d.queue] = {});
        Object.keys(row.channels || {}).forEach(function (ch) {
          var f = row.channels[ch];
          var t = per[ch] || (per[ch] = { target: f.target_secs, hours: f.business_hours, goal: f.goal, c: {} });
          Object.keys(f.counters).forEach(function (k) { t.c[k] = (t.c[k] || 0) + (f.counters[k] || 0); });
        });
      });
      var today = {};
      Object.keys(sums).forEach(function (q) {
        var c = sums[q];
        var per = channels[q] || {};
        today[q] = { answered: c.answered || 0, abandoned: c.abandoned || 0, offered: c.offered || 0,
          sl: serviceLevel(c, report.service_level_formula),
          channels: Object.keys(per).sort().map(function (ch) {
            var t = per[ch];
            return { channel: ch, target: t.target, hours: t.hours, goal: t.goal,
              sl: serviceLevel(t.c, report.service_level_formula) };
          }) };
      });
      board.today = today;
      render();
      log('today');
    } catch (e) {
      showError(e);
    }
  }

  // ---- rendering --------------------------------------------------------------

  function queueRow(id) {
    var row = document.querySelector('tr[data-queue="' + CSS.escape(id) + '"]');
    if (row) return row;
    row = el('tr', { 'data-queue': id });
    row.appendChild(el('td', {}, id));
    row.appendChild(el('td', { 'class': 'big num', 'data-testid': 'queue-' + id + '-waiting' }, '0'));
    row.appendChild(el('td', { 'class': 'num', 'data-testid': 'queue-' + id + '-longest' }, '0:00'));
    row.appendChild(el('td', { 'class': 'num', 'data-testid': 'queue-' + id + '-service-level' }, '—'));
    row.appendChild(el('td', { 'class': 'num', 'data-testid': 'queue-' + id + '-answered' }, '0'));
    row.appendChild(el('td', { 'class': 'num', 'data-testid': 'queue-' + id + '-abandoned' }, '0'));
    row.appendChild(el('td', { 'class': 'num' }, ''));
    row.appendChild(el('td', { 'class': 'channels', 'data-testid': 'queue-' + id + '-channels' }, ''));
    $('queues').appendChild(row);
    return row;
  }

  function renderQueues() {
    var ids = board.queues.map(function (q) { return q.id; });
    Array.from($('queues').children).forEach(function (tr) {
      if (ids.indexOf(tr.getAttribute('data-queue')) < 0) tr.remove();
    });
    board.queues.slice().sort(function (a, b) { return a.id < b.id ? -1 : 1; }).forEach(function (q) {
      var cells = queueRow(q.id).children;
      var t = board.today[q.id] || {};
      cells[1].textContent = String(q.waiting);
      cells[1].classList.toggle('alert', q.waiting > 0);
      cells[3].textContent = t.sl === null || t.sl === undefined ? '—' : Math.round(t.sl * 100) + '%';
      cells[4].textContent = String(t.answered || 0);
      cells[5].textContent = String(t.abandoned || 0);
      var by = q.agents_by_state || {};
      var total = Object.keys(by).reduce(function (n, k) { return n + (k === 'offline' ? 0 : by[k]); }, 0);
      cells[6].textContent = (by.available || 0) + ' ready / ' + total + ' on';
      renderChannels(cells[7], q.id, t.channels || []);
    });
    tick();
  }

  // One line per channel: its service level against its own target.
  function target(secs, hours) {
    var t = secs % 3600 === 0 ? secs / 3600 + ' h' : secs % 60 === 0 ? secs / 60 + ' min' : secs + ' s';
    return hours ? t + ' (business hours)' : t;
  }

  function renderChannels(cell, queue, list) {
    cell.textContent = '';
    list.forEach(function (f) {
      var sl = f.sl === null || f.sl === undefined ? '—' : Math.round(f.sl * 100) + '%';
      var goal = typeof f.goal === 'number' ? ' / goal ' + Math.round(f.goal * 100) + '%' : '';
      var line = el('div', { 'data-testid': 'queue-' + queue + '-sl-' + f.channel },
        f.channel + ' ' + sl + ' in ' + target(f.target, f.hours) + goal);
      if (typeof f.goal === 'number' && typeof f.sl === 'number' && f.sl < f.goal) line.classList.add('alert');
      cell.appendChild(line);
    });
  }

  function callOf(agent) {
    return board.calls.find(function (c) { return c.agent === agent && c.state !== 'offered' && c.state !== 'queued'; });
  }

  var SETTABLE = { available: 'ready', not_ready: 'not_ready', offline: 'offline' };

  function agentRow(id) {
    var row = document.querySelector('tr[data-agent="' + CSS.escape(id) + '"]');
    if (row) return row;
    row = el('tr', { 'data-agent': id });
    row.appendChild(el('td', {}, id));
    var stateCell = el('td');
    var select = el('select', { 'data-testid': 'agent-' + id + '-state', 'aria-label': 'state of ' + id });
    [['ready', 'available'], ['not_ready', 'not ready'], ['offline', 'offline']].forEach(function (o) {
      select.appendChild(el('option', { value: o[0] }, o[1]));
    });
    select.addEventListener('change', function () { setState(id, select.value); });
    stateCell.appendChild(select);
    stateCell.appendChild(el('span', { 'class': 'muted reason' }, ''));
    row.appendChild(stateCell);
    row.appendChild(el('td', { 'class': 'num', 'data-testid': 'agent-' + id + '-time' }, '0:00'));
    row.appendChild(el('td', { 'data-testid': 'agent-' + id + '-call' }, ''));
    var buttons = el('div', { 'class': 'buttons' });
    ['listen', 'whisper', 'barge'].forEach(function (mode) {
      var b = el('button', { 'data-testid': mode + '-' + id, 'data-mode': mode, type: 'button' }, mode);
      b.addEventListener('click', function () { startMonitor(id, mode); });
      buttons.appendChild(b);
    });
    var td = el('td');
    td.appendChild(buttons);
    row.appendChild(td);
    $('agents').appendChild(row);
    return row;
  }

  function renderAgents() {
    var ids = board.agents.map(function (a) { return a.id; });
    Array.from($('agents').children).forEach(function (tr) {
      if (ids.indexOf(tr.getAttribute('data-agent')) < 0) tr.remove();
    });
    var counts = {};
    board.agents.slice().sort(function (a, b) { return a.id < b.id ? -1 : 1; }).forEach(function (a) {
      counts[a.state] = (counts[a.state] || 0) + 1;
      var row = agentRow(a.id);
      var cells = row.children;
      var select = cells[1].querySelector('select');
      var shown = SETTABLE[a.state];
      var extra = select.querySelector('option[data-extra]');
      if (!shown) {
        if (!extra) { extra = el('option', { 'data-extra': '1', disabled: '' }); select.appendChild(extra); }
        extra.value = a.state;
        extra.textContent = a.state.replace('_', ' ');
        shown = a.state;
      } else if (extra) {
        extra.remove();
      }
      if (document.activeElement !== select || !select.dataset.pending) select.value = shown;
      select.setAttribute('data-state', a.state);
      select.className = 's-' + a.state;
      cells[1].querySelector('.reason').textContent = a.reason ? ' ' + a.reason : '';
      row.setAttribute('data-since', String(a.since));
      row.classList.toggle('unreachable', !a.reachable);
      var call = callOf(a.id);
      cells[3].textContent = call ? (call.queue || call.direction) + ' · ' + call.state : (a.reachable ? '' : 'phone offline');
      var mine = me && me.agent === a.id;
      Array.from(cells[4].querySelectorAll('button')).forEach(function (b) {
        var mode = b.getAttribute('data-mode');
        b.disabled = !call || mine;
        b.classList.toggle('active', !!(monitor && call && monitor.call === call.id && monitor.mode === mode));
      });
    });
    var states = $('states');
    states.textContent = '';
    Object.keys(counts).sort().forEach(function (s) {
      states.appendChild(el('span', { 'class': 'state s-' + s }, s.replace('_', ' ') + ' ' + counts[s]));
    });
  }

  function render() {
    renderQueues();
    renderAgents();
    renderMonitor();
    drawWaiting();
    drawServiceLevel();
  }

  // Time in state and longest wait, from what was read and the page's clock.
  function tick() {
    var now = Date.now();
    var since = (now - board.fetchedAt) / 1000;
    board.queues.forEach(function (q) {
      var cell = document.querySelector('[data-testid="queue-' + CSS.escape(q.id) + '-longest"]');
      if (cell) cell.textContent = duration(q.waiting > 0 ? q.longest_wait_secs + since : 0);
    });
    Array.from($('agents').children).forEach(function (tr) {
      var s = Number(tr.getAttribute('data-since'));
      if (s) tr.children[2].textContent = duration((now - s) / 1000);
    });
  }

  // ---- charts -------------------------------------------------------------------

  function sample() {
    var now = Date.now();
    var point = { t: now, q: {} };
    board.queues.forEach(function (q) { point.q[q.id] = q.waiting; });
    board.history.push(point);
    while (board.history.length && board.history[0].t < now - HISTORY_MS) board.history.shift();
    drawWaiting();
  }

  function queueIds() {
    return board.queues.map(function (q) { return q.id; }).sort();
  }

  function drawWaiting() {
    var chart = $('chart-waiting');
    chart.textContent = '';
    var W = 480, H = 180, L = 30, R = 90, T = 10, B = 22;
    var now = Date.now();
    var ids = queueIds();
    var max = 2;
    board.history.forEach(function (p) { ids.forEach(function (id) { max = Math.max(max, p.q[id] || 0); }); });
    var x = function (t) { return L + (W - L - R) * (1 - (now - t) / HISTORY_MS); };
    var y = function (v) { return H - B - (H - T - B) * v / max; };
    for (var v = 0; v <= max; v += Math.max(1, Math.ceil(max / 4))) {
      chart.appendChild(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), 'class': 'grid' }));
      chart.appendChild(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
    }
    [10, 5, 0].forEach(function (m) {
      chart.appendChild(svg('text', { x: x(now - m * 60000), y: H - 6, 'text-anchor': 'middle' }, m ? '-' + m + ' min' : 'now'));
    });
    ids.forEach(function (id, i) {
      var color = COLORS[i % COLORS.length];
      var d = '';
      var prev = null;
      // a step line: each value holds until the next sample
      board.history.forEach(function (p) {
        var v = p.q[id] || 0;
        var px = x(p.t).toFixed(1);
        d += prev === null ? 'M' + px + ' ' + y(v).toFixed(1)
          : ' L' + px + ' ' + y(prev).toFixed(1) + ' L' + px + ' ' + y(v).toFixed(1);
        prev = v;
      });
      if (prev !== null) d += ' L' + x(now).toFixed(1) + ' ' + y(prev).toFixed(1);
      if (d) chart.appendChild(svg('path', { d: d, fill: 'none', stroke: color, 'stroke-width': 2 }));
      chart.appendChild(svg('rect', { x: W - R + 8, y: T + i * 16, width: 10, height: 10, fill: color }));
      chart.appendChild(svg('text', { x: W - R + 22, y: T + i * 16 + 9 }, id));
    });
  }

  function drawServiceLevel() {
    var chart = $('chart-sl');
    chart.textContent = '';
    var W = 480, H = 180, L = 110, R = 40, T = 10, B = 22;
    var ids = queueIds();
    var row = Math.min(28, (H - T - B) / Math.max(1, ids.length));
    var x = function (v) { return L + (W - L - R) * v; };
    [0, 0.5, 1].forEach(function (v) {
      chart.appendChild(svg('line', { x1: x(v), x2: x(v), y1: T, y2: H - B, 'class': 'grid' }));
      chart.appendChild(svg('text', { x: x(v), y: H - 6, 'text-anchor': 'middle' }, Math.round(v * 100) + '%'));
    });
    chart.appendChild(svg('line', { x1: x(0.8), x2: x(0.8), y1: T, y2: H - B, 'class': 'target' }));
    ids.forEach(function (id, i) {
      var t = board.today[id] || {};
      var yy = T + i * row;
      chart.appendChild(svg('text', { x: L - 6, y: yy + row / 2 + 4, 'text-anchor': 'end' }, id));
      if (t.sl === null || t.sl === undefined) {
        chart.appendChild(svg('text', { x: L + 4, y: yy + row / 2 + 4 }, 'no calls yet'));
        return;
      }
      var color = t.sl >= 0.8 ? '#1f9d55' : (t.sl >= 0.6 ? '#d97706' : '#dc2626');
      chart.appendChild(svg('rect', { x: L, y: yy + 3, width: Math.max(1, x(t.sl) - L), height: row - 6, fill: color, rx: 2 }));
      chart.appendChild(svg('text', { x: x(t.sl) + 4, y: yy + row / 2 + 4 }, Math.round(t.sl * 100) + '%'));
    });
  }

  // ---- agent state --------------------------------------------------------------

  async function setState(agent, value) {
    var select = document.querySelector('[data-testid="agent-' + CSS.escape(agent) + '-state"]');
    if (select) select.dataset.pending = '1';
    try {
      await api('PUT', '/api/v1/agents/' + encodeURIComponent(agent) + '/state', { state: value });
      log('state:' + agent + ':' + value);
      showError(null);
    } catch (e) {
      showError(e);
    } finally {
      if (select) delete select.dataset.pending;
      scheduleRefresh();
    }
  }

  // ---- supervision with the browser phone ------------------------------------------

  function connectPhone() {
    if (!window.CallcorePhone) {
      pill('phone', 'off', 'no phone');
      return;
    }
    phone = window.CallcorePhone.connect({
      onOffer: function (call) {
        if (monitor && monitor.state === 'ringing' && !monitor.phoneCall) {
          monitor.phoneCall = call.id;
          log('offer');
          phone.answer(call.id);
        } else {
          // the wallboard's phone carries supervision only
          phone.decline(call.id);
        }
      },
      onAnswered: function (call) {
        if (monitor && monitor.phoneCall === call.id) { monitor.state = 'answered'; log('answered'); renderMonitor(); }
      },
      onAudio: function (call) {
        if (monitor && monitor.phoneCall === call.id) {
          monitor.level = window.CallcorePhone.meter(call.remote);
          log('audio');
        }
      },
      onEnd: function (call) {
        if (monitor && monitor.phoneCall === call.id) {
          log('monitor-ended:' + call.endedBy);
          monitor = null;
          render();
        }
      },
      onClose: function () {
        pill('phone', 'off', 'phone off');
        phone = null;
        if (me) setTimeout(function () { if (me && !phone) connectPhone(); }, 2000);
      },
    });
    var mine = phone;
    phone.ready.then(function () { if (phone === mine) { pill('phone', 'on', 'phone ready'); log('phone-ready'); } },
      function () { pill('phone', 'off', 'phone off'); });
  }

  function phoneReady() { return phone && phone.ws.readyState === WebSocket.OPEN; }

  async function startMonitor(agent, mode) {
    var call = callOf(agent);
    if (!call) { showError('agent ' + agent + ' has no call'); return; }
    if (monitor && monitor.call === call.id) {
      try {
        await api('POST', '/api/v1/calls/' + encodeURIComponent(call.id) + '/monitor/mode', { mode: mode });
        monitor.mode = mode;
        log('mode:' + mode);
        showError(null);
      } catch (e) { showError(e); }
      render();
      return;
    }
    if (!phoneReady()) { showError('your browser phone is not connected: no audio for supervision'); return; }
    if (monitor) await stopMonitor();
    monitor = { call: call.id, agent: agent, mode: mode, state: 'ringing', phoneCall: null, level: null };
    render();
    try {
      await api('POST', '/api/v1/calls/' + encodeURIComponent(call.id) + '/monitor', { mode: mode });
      log('monitor:' + mode);
      showError(null);
    } catch (e) {
      monitor = null;
      showError(e);
    }
    render();
  }

  async function stopMonitor() {
    var m = monitor;
    if (!m) return;
    monitor = null;
    if (m.phoneCall && phone) {
      phone.hangup(m.phoneCall);
    } else if (me && me.agent) {
      await api('POST', '/api/v1/calls/' + encodeURIComponent(m.call) + '/kick', { leg: me.agent }).catch(function () {});
    }
    render();
  }

  $('monitor-stop').addEventListener('click', function () { stopMonitor(); });

  function onMonitorEvent(m) {
    if (!monitor || m.interaction !== monitor.call) return;
    if (m.type === 'monitor_started') { monitor.state = 'on'; monitor.mode = m.mode; }
    if (m.type === 'monitor_mode_changed') monitor.mode = m.mode;
    if (m.type === 'monitor_ended') { log('monitor-ended:center'); monitor = null; }
    render();
  }

  function renderMonitor() {
    $('monitor').hidden = !monitor;
    if (!monitor) return;
    $('monitor-what').textContent = monitor.mode + ' · agent ' + monitor.agent;
    $('monitor-state').textContent = monitor.state === 'ringing' ? 'connecting…' : 'on air';
    $('monitor-state').className = 'pill ' + (monitor.state === 'ringing' ? 'warn' : 'on');
  }

  function meterTick() {
    var v = hooks.level();
    if (v > hooks.heard) hooks.heard = v;
    $('monitor-level').style.width = Math.min(100, Math.round(v * 400)) + '%';
  }

  // ---- start --------------------------------------------------------------------

  (async function () {
    if (!csrf) return;
    try {
      var r = await fetch('/api/v1/me', { credentials: 'same-origin' });
      if (!r.ok) return;
      var who = await r.json();
      if (!isSupervisor(who.role)) return;
      start({ user: who.user, role: who.role, tenant: who.tenant, agent: who.agent });
    } catch (e) { /* stay on the login form */ }
  })();
})();
