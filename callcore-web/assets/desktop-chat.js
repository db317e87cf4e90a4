// callcore agent desktop: web chats beside calls. Hand-written, no build step;
// served by callcore-web at /desktop-chat.js and started by desktop.js. Offers of
// chat interactions show here (one card per chat, as many as the agent's chat
// capacity lets the router offer); the desktop's chat socket (/api/v1/chats)
// brings each chat's messages, the visitor's typing and the read marks, resumed
// after the last seq seen when it reconnects. Replies go through
// POST /api/v1/interactions/{id}/messages; ending is the call's hang-up, then a
// wrap-up in the card. What tests read: window.desktop.chats.
(function () {
  'use strict';
  window.DesktopChat = { start: start };

  function start(d) {
    // d: {api, note, me, voiceOffered}
    var chats = {};          // interaction -> chat
    var ws = null;
    var $list = document.getElementById('chat-list');
    var T = {
      chats: chats,
      onEvent: onEvent,
      // tests: drop the chat socket (it reconnects and resumes each chat)
      dropSocket: function () { if (ws) ws.close(); },
      active: function () { return Object.keys(chats).filter(function (k) { return chats[k].state === 'active'; }); },
    };

    function el(tag, cls, testid, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (testid) e.setAttribute('data-testid', testid);
      if (text != null) e.textContent = text;
      return e;
    }

    function paintCount() {
      document.getElementById('chat-count').textContent = String(T.active().length);
      document.getElementById('chats').hidden = Object.keys(chats).length === 0;
    }

    // ----- the socket ----------------------------------------------------------

    function connect() {
      var s = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/chats');
      ws = s;
      s.addEventListener('open', function () {
        d.note('chat-socket-open');
        Object.keys(chats).forEach(function (id) { if (chats[id].state !== 'wrapup') watch(chats[id]); });
      });
      s.addEventListener('message', function (ev) {
        var m;
        try { m = JSON.parse(ev.data); } catch (e) { return; }
        var c = m.interaction && chats[m.interaction];
        if (!c) return;
        onUpdate(c, m);
      });
      s.addEventListener('close', function () { if (ws === s) setTimeout(connect, 1000); });
    }

    function op(obj) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj)); }
    function watch(c) { op({ op: 'watch', interaction: c.id, since: c.lastSeq }); }

    // ----- events from the feed ---------------------------------------------------

    function onEvent(m) {
      if (m.type === 'offered') {
        if (m.agent !== d.me.agent) return false;
        // which channel? chats are taken here, the rest by the call panel
        d.api('GET', '/api/v1/calls/' + encodeURIComponent(m.interaction)).then(function (call) {
          if (call.channel === 'chat') offered(m, call); else d.voiceOffered(m);
        }, function () { d.voiceOffered(m); });
        return true;
      }
      var c = m.interaction && chats[m.interaction];
      if (!c) return false;
      switch (m.type) {
        case 'offer_ended':
          if (c.state === 'offered' && c.reservation === m.reservation) remove(c);
          break;
        case 'connected':
          if (m.agent === d.me.agent) activate(c);
          break;
        case 'ended':
          ended(c);
          break;
        default:
      }
      return true; // chat interactions never reach the call panel
    }

    function offered(m, call) {
      var c = chats[m.interaction];
      if (!c) {
        c = { id: m.interaction, lastSeq: 0, state: 'offered', receipts: null, agentMsgs: {} };
        chats[c.id] = c;
        build(c, call);
      }
      c.reservation = m.reservation;
      setState(c, 'offered');
      context(c);
      d.note('chat-offered:' + c.id);
      watch(c);
      paintCount();
    }

    function activate(c) {
      if (c.state === 'active') return;
      setState(c, 'active');
      d.note('chat-active:' + c.id);
      watch(c); // again: now the visitor is told who joined
      paintCount();
    }

    function ended(c) {
      if (c.state === 'ended' || c.state === 'wrapup') return;
      if (c.state === 'offered') { remove(c); return; }
      setState(c, 'wrapup');
      d.note('chat-ended:' + c.id);
      paintCount();
    }

    function remove(c) {
      if (c.card) c.card.remove();
      delete chats[c.id];
      paintCount();
    }

    // ----- a chat's card ------------------------------------------------------------

    function build(c, call) {
      var id = c.id;
      var card = el('article', 'card chat', 'chat-' + id);
      card.dataset.interaction = id;
      var h = el('h3', null, null, 'Chat with ');
      h.appendChild(el('span', null, 'chat-from-' + id, call.from || 'a visitor'));
      c.badge = el('span', 'badge', 'chat-state-' + id, 'offered');
      h.appendChild(document.createTextNode(' '));
      h.appendChild(c.badge);
      card.appendChild(h);

      c.offerRow = el('div', 'row');
      var accept = el('button', 'go', 'chat-accept-' + id, 'Accept');
      accept.type = 'button';
      accept.addEventListener('click', function () {
        accept.disabled = true;
        d.api('POST', '/api/v1/offers/' + encodeURIComponent(c.reservation) + '/accept')
          .then(function () { d.note('chat-accepted:' + id); }, function (e) { accept.disabled = false; d.note('error:' + e.message); });
      });
      var decline = el('button', 'stop', 'chat-decline-' + id, 'Decline');
      decline.type = 'button';
      decline.addEventListener('click', function () {
        d.api('POST', '/api/v1/offers/' + encodeURIComponent(c.reservation) + '/decline').catch(function () {});
        remove(c);
      });
      c.offerRow.appendChild(accept);
      c.offerRow.appendChild(decline);
      card.appendChild(c.offerRow);

      c.context = el('div', 'chat-context', 'chat-context-' + id);
      c.context.hidden = true;
      card.appendChild(c.context);

      c.log = el('ol', 'chat-log', 'chat-log-' + id);
      card.appendChild(c.log);
      c.typing = el('p', 'muted', 'chat-typing-' + id, 'The visitor is typing…');
      c.typing.hidden = true;
      card.appendChild(c.typing);

      c.talk = el('div', 'chat-talk');
      c.input = el('textarea', null, 'chat-input-' + id);
      c.input.rows = 2;
      c.input.maxLength = 4000;
      c.input.setAttribute('aria-label', 'Reply');
      c.input.addEventListener('input', function () { typing(c, c.input.value.length > 0); });
      c.input.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); reply(c); }
      });
      var send = el('button', null, 'chat-send-' + id, 'Send');
      send.type = 'button';
      send.addEventListener('click', function () { reply(c); });
      var end = el('button', 'stop', 'chat-end-' + id, 'End chat');
      end.type = 'button';
      end.addEventListener('click', function () {
        d.api('POST', '/api/v1/calls/' + encodeURIComponent(id) + '/hang-up')
          .then(function () { d.note('chat-end:' + id); }, function (e) { d.note('error:' + e.message); });
      });
      c.talk.appendChild(c.input);
      var row = el('div', 'row');
      row.appendChild(send);
      row.appendChild(end);
      c.talk.appendChild(row);
      card.appendChild(c.talk);

      c.wrap = el('div', 'chat-wrap');
      var code = el('input', null, 'chat-wrapup-code-' + id);
      code.setAttribute('list', 'wrapup-codes');
      code.placeholder = 'wrap-up code';
      code.maxLength = 64;
      var notes = el('textarea', null, 'chat-wrapup-notes-' + id);
      notes.rows = 2;
      notes.placeholder = 'notes';
      var save = el('button', 'go', 'chat-wrapup-submit-' + id, 'Save wrap-up');
      save.type = 'button';
      save.addEventListener('click', function () {
        var body = { code: code.value.trim() };
        if (notes.value.trim()) body.notes = notes.value.trim();
        d.api('POST', '/api/v1/interactions/' + encodeURIComponent(id) + '/wrap-up', body).then(function () {
          d.api('POST', '/api/v1/agents/' + encodeURIComponent(d.me.agent) + '/wrap-up/end').catch(function () {});
          d.note('chat-wrapup-saved:' + id);
          remove(c);
        }, function (e) { d.note('error:' + e.message); });
      });
      c.wrap.appendChild(code);
      c.wrap.appendChild(notes);
      c.wrap.appendChild(save);
      card.appendChild(c.wrap);

      c.card = card;
      $list.appendChild(card);
    }

    // ----- what the bot learned, the customer and their history (the screen pop) ----

    function context(c) {
      d.api('GET', '/api/v1/calls/' + encodeURIComponent(c.id) + '/screen-pop').then(function (pop) {
        var box = c.context;
        box.textContent = '';
        var h = pop.handoff;
        if (h) {
          var bot = el('ul', 'chat-handoff', 'chat-handoff-' + c.id);
          if (h.bot_question) bot.appendChild(el('li', null, 'chat-bot-question', 'Asked: ' + h.bot_question));
          if (h.bot_answered.length) bot.appendChild(el('li', null, 'chat-bot-answered', 'Bot answered: ' + h.bot_answered.join(', ')));
          if (h.bot_handoff) bot.appendChild(el('li', null, 'chat-bot-handoff', 'Handed off: ' + h.bot_handoff));
          if (h.intent) bot.appendChild(el('li', null, 'chat-intent', 'Intent: ' + h.intent));
          Object.keys(h.slots).forEach(function (k) {
            if (k.indexOf('bot_') !== 0) bot.appendChild(el('li', null, 'chat-slot', k + ': ' + h.slots[k]));
          });
          box.appendChild(bot);
        }
        var cu = pop.customer;
        if (cu) box.appendChild(el('p', null, 'chat-customer-' + c.id, 'Customer ' + (cu.name || cu.id) + ' · ' + cu.identities.join(', ')));
        var hist = el('ol', 'chat-history', 'chat-history-' + c.id);
        pop.history.forEach(function (x) {
          var li = el('li', null, 'chat-history-item', x.channel + ' · ' + new Date(x.created_at).toLocaleString() + (x.agent ? ' · ' + x.agent : '') + (x.disposition ? ' · ' + x.disposition : ''));
          li.dataset.channel = x.channel;
          hist.appendChild(li);
        });
        if (pop.history.length) box.appendChild(hist);
        box.hidden = !box.childNodes.length;
        d.note('chat-context:' + c.id);
      }, function () {});
    }

    function setState(c, s) {
      c.state = s;
      c.badge.textContent = s === 'wrapup' ? 'ended' : s;
      c.offerRow.hidden = s !== 'offered';
      c.talk.hidden = s !== 'active';
      c.wrap.hidden = s !== 'wrapup';
    }

    var typingTimers = {};
    function typing(c, on) {
      if (c.typingOn !== on) { c.typingOn = on; op({ op: 'typing', interaction: c.id, on: on }); }
      clearTimeout(typingTimers[c.id]);
      if (on) typingTimers[c.id] = setTimeout(function () { typing(c, false); }, 3000);
    }

    function reply(c) {
      var text = c.input.value.trim();
      if (!text || c.state !== 'active') return;
      c.input.value = '';
      typing(c, false);
      d.api('POST', '/api/v1/interactions/' + encodeURIComponent(c.id) + '/messages', { text: text })
        .then(function () { d.note('chat-sent:' + c.id); }, function (e) { c.input.value = text; d.note('error:' + e.message); });
    }

    // ----- updates of a chat ----------------------------------------------------------

    function onUpdate(c, m) {
      switch (m.type) {
        case 'attached':
          c.typing.hidden = !m.visitor_typing;
          c.receipts = m.receipts;
          paintReceipts(c);
          break;
        case 'message': case 'joined': case 'ended':
          if (m.seq <= c.lastSeq) return;
          c.lastSeq = m.seq;
          entry(c, m);
          break;
        case 'typing':
          if (m.side === 'visitor') c.typing.hidden = !m.on;
          break;
        case 'receipts':
          c.receipts = m;
          paintReceipts(c);
          break;
        case 'resync':
          watch(c);
          break;
        default:
      }
    }

    function entry(c, m) {
      var li;
      if (m.type === 'message') {
        var who = m.bot ? 'bot' : m.from;
        li = el('li', who === 'bot' ? 'agent bot' : who, 'chat-entry', m.text);
        li.dataset.from = who;
        if (m.file) {
          var a = el('a', 'file', 'chat-file-' + c.id + '-' + m.seq, 'File: ' + m.file.name + ' (' + m.file.size + ' bytes)');
          a.href = '/api/v1/interactions/' + encodeURIComponent(c.id) + '/chat-file?seq=' + m.seq;
          a.setAttribute('download', m.file.name);
          li.appendChild(a);
        }
        if (who === 'agent') c.agentMsgs[m.seq] = li;
        if (m.from === 'visitor') {
          c.typing.hidden = true;
          d.note('chat-message:' + c.id + ':' + m.text);
          if (c.state === 'active') op({ op: document.visibilityState === 'visible' ? 'read' : 'delivered', interaction: c.id, seq: m.seq });
          else op({ op: 'delivered', interaction: c.id, seq: m.seq });
        }
      } else if (m.type === 'joined') {
        li = el('li', 'note', 'chat-entry', m.agent + ' joined');
      } else {
        li = el('li', 'note', 'chat-entry', 'ended');
      }
      li.dataset.seq = m.seq;
      c.log.appendChild(li);
      li.scrollIntoView({ block: 'nearest' });
      paintReceipts(c);
    }

    function paintReceipts(c) {
      var r = c.receipts;
      Object.keys(c.agentMsgs).forEach(function (seq) {
        var n = Number(seq);
        var li = c.agentMsgs[seq];
        var s = li.querySelector('.state');
        if (!s) { s = el('span', 'state', 'chat-receipt'); li.appendChild(s); }
        s.textContent = r && n <= r.visitor_read ? 'read' : r && n <= r.visitor_delivered ? 'delivered' : 'sent';
      });
    }

    connect();
    return T;
  }
})();
