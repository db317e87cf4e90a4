// callcore wallboard: live quality alerts. Hand-written, no build step; served by
// callcore-web at /wallboard-alerts.js and fed by wallboard.js with every event of
// the feed. The center's live inspection raises `quality_alert` events while a
// call is on (a forbidden word, a required phrase not said in time, the
// customer's sentiment falling, dead air, talk-over); they are listed here,
// newest first, with the call's agent and queue as the board knows them, and a
// call's `quality_scored` evaluation when it ends, and a new agent's call
// flagged for review (`review_flagged`; reviewed through /api/v1/reviews).
// What tests read:
// window.wallboardAlerts.items.
(function () {
  'use strict';
  var KEEP = 50;
  var A = { items: [], onEvent: onEvent };
  window.wallboardAlerts = A;

  function row(kind, m, call, what, detail) {
    var list = document.getElementById('alert-list');
    if (!list) return;
    var item = {
      kind: kind, interaction: m.interaction, what: what, detail: detail,
      agent: call && call.agent, queue: call && call.queue,
    };
    A.items.unshift(item);
    if (A.items.length > KEEP) A.items.pop();
    var li = document.createElement('li');
    li.className = 'alert-' + kind;
    li.setAttribute('data-testid', 'alert-' + kind);
    var head = document.createElement('strong');
    head.textContent = what;
    var who = document.createElement('span');
    who.className = 'who';
    who.textContent = ' ' + (item.agent ? 'agent ' + item.agent : 'call ' + m.interaction) +
      (item.queue ? ' · ' + item.queue : '') + ' · ' + new Date(m.at).toLocaleTimeString();
    var p = document.createElement('p');
    p.textContent = detail;
    li.appendChild(head);
    li.appendChild(who);
    li.appendChild(p);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > KEEP) list.removeChild(list.lastChild);
    document.getElementById('alerts').hidden = false;
  }

  // m: an event of the feed; calls: the live calls the board read last
  function onEvent(m, calls) {
    if (m.type !== 'quality_alert' && m.type !== 'quality_scored' &&
      m.type !== 'review_flagged') return;
    var call = (calls || []).find(function (c) { return c.id === m.interaction; });
    if (m.type === 'review_flagged') {
      row('review', m, call || { agent: m.agent }, 'review',
        'call ' + m.ordinal + ' of a new agent: to review');
    } else if (m.type === 'quality_alert') {
      row('live', m, call, m.rule, m.detail);
    } else {
      var e = m.evaluation || {};
      var missed = (e.findings || []).map(function (f) { return f.rule; }).join(', ');
      row('score', m, call, 'score ' + Math.round(e.score), missed ? 'findings: ' + missed : 'no findings');
    }
  }
})();
