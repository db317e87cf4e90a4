// callcore agent desktop: the agent's own scorecard. Hand-written, no build
// step; served by callcore-web at /desktop-scorecard.js and started by
// desktop.js. GET /api/v1/agents/{me}/scorecard (an agent reads only their own)
// over the last 7 days: scored calls, mean score against the team's, rank,
// silence, talk-over and talk ratio, findings by rule, and the coaching items.
// Read again when one of the agent's calls is scored (quality_scored, when the
// feed brings it), and with the refresh button. Stable data-testids:
// my-scorecard, my-scorecard-{calls,mean,team-mean,rank,talk-ratio,findings,items,
// refresh}; raw values in data-value. What tests read: window.desktop.scorecard.
(function () {
  'use strict';
  window.DesktopScorecard = { start: start };
  var DAY = 24 * 3600 * 1000;

  function start(d) {
    // d: {api, me}
    var $ = function (id) { return document.getElementById(id); };
    var S = { card: null, loads: 0, onEvent: onEvent, reload: load };
    var pct = function (v) { return v === null || v === undefined ? '–' : (v * 100).toFixed(1) + ' %'; };
    var num = function (v) { return v === null || v === undefined ? '–' : v.toFixed(1); };

    function set(id, value, text) {
      var e = $(id);
      e.textContent = text;
      e.setAttribute('data-value', value === null || value === undefined ? '' : String(value));
    }

    async function load() {
      var to = Date.now();
      try {
        var c = await d.api('GET', '/api/v1/agents/' + encodeURIComponent(d.me.agent) +
          '/scorecard?from=' + (to - 7 * DAY) + '&to=' + to);
        S.card = c;
        set('my-scorecard-calls', c.calls, String(c.calls));
        set('my-scorecard-mean', c.mean_score, num(c.mean_score));
        set('my-scorecard-team-mean', c.team.mean_score, num(c.team.mean_score));
        set('my-scorecard-rank', c.rank, c.calls ? c.rank + ' of ' + c.team_agents : '–');
        set('my-scorecard-talk-ratio', c.figures.agent_talk_ratio,
          pct(c.figures.agent_talk_ratio) + ' (team ' + pct(c.team.agent_talk_ratio) + ')');
        var rules = Object.keys(c.figures.rule_misses || {}).map(function (r) {
          return r + ': ' + c.figures.rule_misses[r].calls + ' of ' + c.calls;
        });
        set('my-scorecard-findings', rules.length, rules.length ? rules.join(', ') : 'none');
        var items = $('my-scorecard-items');
        items.textContent = '';
        (c.items || []).forEach(function (i) {
          var li = document.createElement('li');
          li.textContent = i.detail;
          items.appendChild(li);
        });
        $('my-scorecard').hidden = false;
        S.loads++;
      } catch (e) { /* the desktop works without it */ }
    }

    function onEvent(m) {
      if (m.type === 'quality_scored' || (m.type === 'ended' && m.agent === d.me.agent)) {
        setTimeout(load, 500);
      }
      return false;
    }

    $('my-scorecard-refresh').addEventListener('click', load);
    load();
    return S;
  }
})();
