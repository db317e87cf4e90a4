// callcore agent desktop: the assist panel. Hand-written, no build step; served
// by callcore-web at /desktop-assist.js and started by desktop.js. While a call
// is on, the center's live inspection sends the agent `agent_assist` events on
// the event feed (only the call's agents and supervisors see them): the
// knowledge-base article and the intent matching what the customer said, and a
// reminder of a required phrase not said yet (the recording notice). They are
// listed here, newest first; a new call clears the list. What tests read:
// window.desktop.assist.items.
(function () {
  'use strict';
  window.DesktopAssist = { start: start };

  var LABEL = { article: 'Article', intent: 'Intent', reminder: 'Reminder' };

  function start(d) {
    // d: {me}
    var panel = document.getElementById('assist');
    var list = document.getElementById('assist-list');
    var A = { items: [], call: null, onEvent: onEvent };

    function clear(call) {
      A.call = call;
      A.items = [];
      list.textContent = '';
      panel.hidden = true;
    }

    function add(m) {
      var s = m.suggestion || {};
      A.items.push({ interaction: m.interaction, kind: s.kind, title: s.title, text: s.text });
      var li = document.createElement('li');
      li.className = 'assist-' + s.kind;
      li.setAttribute('data-testid', 'assist-' + s.kind);
      var head = document.createElement('strong');
      head.textContent = (LABEL[s.kind] || s.kind) + ': ' + (s.title || '');
      var body = document.createElement('p');
      body.textContent = s.text || '';
      li.appendChild(head);
      li.appendChild(body);
      list.insertBefore(li, list.firstChild);
      panel.hidden = false;
    }

    // never consumes an event: the call panel handles the same feed
    function onEvent(m) {
      if (m.type === 'connected' && m.agent === d.me.agent && m.interaction !== A.call) {
        clear(m.interaction);
      } else if (m.type === 'agent_assist' && m.agent === d.me.agent) {
        if (m.interaction !== A.call) clear(m.interaction);
        add(m);
      }
      return false;
    }

    clear(null);
    return A;
  }
})();
