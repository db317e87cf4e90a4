// callcore wallboard: the coaching panel. Hand-written, no build step; served by
// callcore-web at /wallboard-coaching.js and started by wallboard.js once a
// supervisor is logged in (window.wallboardCoaching.start(api, who)). A client of
// the API only, which limits it to the supervisor's queues:
//   scorecards   GET /api/v1/coaching?from&to[&queue] names the team's agents
//                with scored calls; GET /api/v1/agents/{id}/scorecard for each
//                (calls, mean score vs the team, rank and percentile, findings by
//                rule, silence and talk-over shares, talk ratio, hold)
//   items        the coaching items of /api/v1/coaching, each with its calls
//   reviews      GET /api/v1/reviews?status=all (new agents' flagged calls);
//                POST /api/v1/reviews/{interaction} {note} completes one
// Read again (coalesced) when the feed brings quality_scored, review_flagged or
// review_completed. Stable data-testids: coaching, coaching-period, coaching-from,
// coaching-to, coaching-queue, coaching-show, coaching-team, scorecards,
// scorecard-<agent> and its cells scorecard-<agent>-{calls,mean,team-mean,rank,
// percentile,silence,talk-over,talk-ratio,hold,findings}, scorecard-<agent>-rule-<rule>,
// coaching-items (coaching-item, coaching-call), reviews, review-<interaction>,
// review-<interaction>-{agents,score,status,note,complete}. Each figure's raw value
// is in its data-value; the period shown in the scorecards' data-from / data-to.
// What tests read: window.wallboardCoaching.loads (completed loads), .last.
(function () {
  'use strict';
  var DAY = 24 * 3600 * 1000;
  var RELOAD_ON = ['quality_scored', 'review_flagged', 'review_completed'];
  var C = { loads: 0, last: null, start: start, stop: stop, onEvent: onEvent, reload: schedule };
  window.wallboardCoaching = C;
  var api = null;
  var timer = null, loading = false, again = false;

  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function num(v, digits) { return v === null || v === undefined ? '–' : v.toFixed(digits); }
  function pct(v) { return v === null || v === undefined ? '–' : (v * 100).toFixed(1) + ' %'; }
  function cell(testid, value, text, cls) {
    return el('td', { 'data-testid': testid, 'data-value': value === null || value === undefined ? '' : String(value), class: cls || 'num' }, text);
  }

  // the period chosen: [from, to) in milliseconds since the epoch
  function period() {
    var span = $('coaching-period').value;
    var to = Date.now(), from;
    if (span === 'custom') {
      var f = $('coaching-from').valueAsNumber, t = $('coaching-to').valueAsNumber;
      if (isNaN(f) || isNaN(t)) throw new Error('choose both dates of the period');
      // whole local days, the end day included
      var off = function (ms) { return ms + new Date(ms).getTimezoneOffset() * 60000; };
      from = off(f);
      to = off(t) + DAY;
    } else {
      from = to - Number(span) * DAY;
    }
    if (from >= to) throw new Error('the period ends before it starts');
    return { from: Math.max(0, Math.floor(from)), to: Math.floor(to) };
  }

  function start(apiFn, who) {
    api = apiFn;
    C.who = who;
    $('coaching').hidden = false;
    api('GET', '/api/v1/queues').then(function (queues) {
      var sel = $('coaching-queue');
      while (sel.children.length > 1) sel.removeChild(sel.lastChild);
      (queues || []).forEach(function (q) { sel.appendChild(el('option', { value: q.id }, q.id)); });
    }, function () {});
    schedule();
  }

  function stop() {
    api = null;
    clearTimeout(timer);
    timer = null;
    $('coaching').hidden = true;
  }

  function onEvent(m) { if (api && RELOAD_ON.indexOf(m.type) >= 0) schedule(); }

  function schedule() {
    if (loading) { again = true; return; }
    if (!timer) timer = setTimeout(load, 300);
  }

  async function load() {
    clearTimeout(timer);
    timer = null;
    if (!api) return;
    loading = true;
    again = false;
    $('coaching-error').textContent = '';
    try {
      var p = period();
      var q = 'from=' + p.from + '&to=' + p.to;
      var queue = $('coaching-queue').value;
      if (queue) q += '&queue=' + encodeURIComponent(queue);
      var coaching = await api('GET', '/api/v1/coaching?' + q);
      var cards = [];
      for (var i = 0; i < coaching.agents.length; i++) {
        var a = coaching.agents[i].agent;
        cards.push(await api('GET', '/api/v1/agents/' + encodeURIComponent(a) + '/scorecard?' + q));
      }
      var reviews = await api('GET', '/api/v1/reviews?status=all');
      if (!api) return;
      renderCards(p, coaching, cards);
      renderItems(coaching);
      renderReviews(reviews);
      C.last = { period: p, coaching: coaching, cards: cards, reviews: reviews };
      C.loads++;
    } catch (e) {
      $('coaching-error').textContent = String(e.message || e);
    } finally {
      loading = false;
      if (again) schedule();
    }
  }

  function renderCards(p, coaching, cards) {
    var body = $('scorecards');
    body.setAttribute('data-from', String(p.from));
    body.setAttribute('data-to', String(p.to));
    body.textContent = '';
    $('coaching-team').textContent = 'team mean ' + num(coaching.team_mean_score, 1) +
      ' · ' + new Date(p.from).toLocaleString() + ' – ' + new Date(p.to).toLocaleString();
    $('coaching-team').setAttribute('data-value', coaching.team_mean_score === null ? '' : String(coaching.team_mean_score));
    if (!cards.length) {
      body.appendChild(el('tr', {}, '')).appendChild(el('td', { colspan: '11', class: 'muted' }, 'No scored calls in the period.'));
    }
    cards.forEach(function (c) {
      var id = 'scorecard-' + c.agent;
      var f = c.figures, t = c.team;
      var tr = el('tr', { 'data-testid': id });
      tr.appendChild(el('td', {}, c.agent));
      tr.appendChild(cell(id + '-calls', c.calls, String(c.calls)));
      tr.appendChild(cell(id + '-mean', c.mean_score, num(c.mean_score, 1)));
      tr.appendChild(cell(id + '-team-mean', t.mean_score, num(t.mean_score, 1)));
      tr.appendChild(cell(id + '-rank', c.rank, c.rank + ' of ' + c.team_agents));
      tr.appendChild(cell(id + '-percentile', c.percentile, num(c.percentile, 0)));
      tr.appendChild(cell(id + '-silence', f.silence_share, pct(f.silence_share) + ' (team ' + pct(t.silence_share) + ')'));
      tr.appendChild(cell(id + '-talk-over', f.talk_over_share, pct(f.talk_over_share) + ' (team ' + pct(t.talk_over_share) + ')'));
      tr.appendChild(cell(id + '-talk-ratio', f.agent_talk_ratio, pct(f.agent_talk_ratio) + ' (team ' + pct(t.agent_talk_ratio) + ')'));
      tr.appendChild(cell(id + '-hold', f.mean_hold_ms, f.mean_hold_ms === null ? '–' : (f.mean_hold_ms / 1000).toFixed(1) + ' s'));
      var rules = el('td', { 'data-testid': id + '-findings', class: 'rules' });
      Object.keys(f.rule_misses || {}).forEach(function (rule) {
        var m = f.rule_misses[rule];
        rules.appendChild(el('span', {
          'data-testid': id + '-rule-' + rule, 'data-value': String(m.calls),
          'data-findings': String(m.findings), 'data-share': String(m.share), class: 'rule',
        }, rule + ': ' + m.calls + ' of ' + c.calls + ' calls'));
      });
      if (!rules.children.length) rules.textContent = 'none';
      tr.appendChild(rules);
      body.appendChild(tr);
    });
  }

  function callLink(id) {
    return el('a', { 'data-testid': 'coaching-call', 'data-interaction': id, href: '/api/v1/interactions/' + encodeURIComponent(id), target: '_blank', rel: 'noopener' }, id);
  }

  function renderItems(coaching) {
    var list = $('coaching-items');
    list.textContent = '';
    coaching.agents.forEach(function (a) {
      a.items.forEach(function (item) {
        var li = el('li', { 'data-testid': 'coaching-item', 'data-agent': a.agent, 'data-kind': item.kind, 'data-rule': item.rule || '' });
        li.appendChild(el('strong', {}, a.agent + ' · ' + item.kind.replace(/_/g, ' ') + (item.rule ? ' (' + item.rule + ')' : '')));
        li.appendChild(el('span', { class: 'detail' }, ' ' + item.detail + ' '));
        var calls = el('span', { class: 'calls' }, 'calls: ');
        item.interactions.forEach(function (id, n) {
          if (n) calls.appendChild(document.createTextNode(', '));
          calls.appendChild(callLink(id));
        });
        li.appendChild(calls);
        list.appendChild(li);
      });
    });
    if (!list.children.length) list.appendChild(el('li', { class: 'muted' }, 'No coaching items in the period.'));
  }

  function ordinal(n) {
    var s = ['th', 'st', 'nd', 'rd'], v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }

  function renderReviews(reviews) {
    var body = $('reviews');
    body.textContent = '';
    var rows = reviews.slice().sort(function (a, b) {
      return (a.done_at ? 1 : 0) - (b.done_at ? 1 : 0) || a.flagged_at - b.flagged_at;
    });
    rows.forEach(function (r) {
      var id = 'review-' + r.interaction;
      var tr = el('tr', { 'data-testid': id, class: r.done_at ? 'done' : 'pending' });
      var call = el('td', {});
      call.appendChild(callLink(r.interaction));
      tr.appendChild(call);
      tr.appendChild(el('td', { 'data-testid': id + '-agents' }, r.agents.map(function (a) {
        return a.agent + ' (' + ordinal(a.ordinal) + ' call)';
      }).join(', ')));
      tr.appendChild(el('td', {}, r.queue || ''));
      tr.appendChild(cell(id + '-score', r.score, num(r.score, 0)));
      tr.appendChild(el('td', {}, new Date(r.flagged_at).toLocaleString()));
      var status = el('td', { 'data-testid': id + '-status', 'data-value': r.done_at ? 'done' : 'pending' });
      var act = el('td', { class: 'review-act' });
      if (r.done_at) {
        status.textContent = 'done by ' + r.reviewer + ': ' + r.note;
      } else {
        status.textContent = 'pending';
        var note = el('textarea', { 'data-testid': id + '-note', rows: '1', maxlength: '4000', placeholder: 'note for the agent' });
        var btn = el('button', { 'data-testid': id + '-complete', type: 'button' }, 'Reviewed');
        btn.addEventListener('click', function () { complete(r.interaction, note, btn); });
        act.appendChild(note);
        act.appendChild(btn);
      }
      tr.appendChild(status);
      tr.appendChild(act);
      body.appendChild(tr);
    });
    if (!rows.length) body.appendChild(el('tr', {})).appendChild(el('td', { colspan: '7', class: 'muted' }, 'No calls flagged for review.'));
  }

  async function complete(interaction, note, btn) {
    $('coaching-error').textContent = '';
    var text = note.value.trim();
    if (!text) { $('coaching-error').textContent = 'write a note for the agent first'; return; }
    btn.disabled = true;
    try {
      await api('POST', '/api/v1/reviews/' + encodeURIComponent(interaction), { note: text });
      schedule();
    } catch (e) {
      $('coaching-error').textContent = String(e.message || e);
      btn.disabled = false;
    }
  }

  $('coaching-period').addEventListener('change', function () {
    var custom = $('coaching-period').value === 'custom';
    $('coaching-from').hidden = !custom;
    $('coaching-to').hidden = !custom;
  });
  $('coaching-form').addEventListener('submit', function (ev) { ev.preventDefault(); schedule(); });
})();
