// callcore web-chat widget. Hand-written, no build step; served by callcore-web at
// /chat.js. One WebSocket (/chat/ws): it says hello with the session token (kept in
// sessionStorage) and the last seq it saw, so a reconnect misses nothing (a reload
// asks for the whole chat again);
// messages typed while offline wait in an outbox and are sent again, each with its
// own client_id, which the server keeps once. What tests read: window.chat.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var C = {
    token: sessionStorage.getItem('callcore-chat-token') || null,
    lastSeq: 0,        // the last entry shown (a reload shows the whole chat again)
    ws: null,
    online: false,
    offline: false,    // tests: stay disconnected until online() is called
    outbox: [],        // {client_id, text, file, el} not yet acknowledged
    sent: {},          // client_id -> li element
    bySeq: {},         // seq -> li element of the visitor's messages
    receipts: null,
    maxFile: 1048576,
    open: false,
    log: [],
    counter: Number(sessionStorage.getItem('callcore-chat-counter') || 0),
  };
  window.chat = C;
  function note(what) { C.log.push(what); }
  function status(t) { $('chat-status').textContent = t; }
  function error(t) { $('chat-error').textContent = t || ''; }

  function connect() {
    if (C.offline) return;
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat/ws');
    C.ws = ws;
    status('connecting');
    ws.addEventListener('open', function () {
      ws.send(JSON.stringify({ op: 'hello', token: C.token, since: C.lastSeq }));
    });
    ws.addEventListener('message', function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      onMessage(m);
    });
    ws.addEventListener('close', function () {
      if (C.ws !== ws) return;
      C.online = false;
      status('reconnecting');
      note('disconnected');
      setTimeout(connect, 700);
    });
  }

  function onMessage(m) {
    switch (m.type) {
      case 'welcome':
        if (C.token && m.token !== C.token) {
          // the server did not know our session (restarted): start again
          C.lastSeq = 0; C.bySeq = {};
          $('chat-messages').textContent = '';
        }
        C.token = m.token;
        C.visitor = m.visitor;
        sessionStorage.setItem('callcore-chat-token', m.token);
        C.maxFile = m.max_file_bytes;
        C.online = true;
        C.open = m.open;
        status('online');
        note(m.resumed ? 'resumed' : 'welcome');
        showTyping(m.agent_typing);
        $('chat-transcript-box').hidden = !m.transcript_email;
        identify(C.ws);
        // what waited in the outbox goes now, in order
        C.outbox.forEach(function (o) { transmit(o); });
        break;
      case 'message': case 'joined': case 'ended':
        entry(m);
        break;
      case 'ack': {
        var i = C.outbox.findIndex(function (o) { return o.client_id === m.client_id; });
        if (i >= 0) {
          var o = C.outbox.splice(i, 1)[0];
          o.el.dataset.seq = m.seq;
          o.el.dataset.from = 'visitor';
          place(o.el, m.seq);
          C.bySeq[m.seq] = o.el;
          stateOf(o.el, 'sent');
          paintReceipts();
        }
        note('ack:' + m.seq);
        break;
      }
      case 'refused': {
        var j = C.outbox.findIndex(function (o) { return o.client_id === m.client_id; });
        if (j >= 0) { var r = C.outbox.splice(j, 1)[0]; stateOf(r.el, 'not sent'); r.el.classList.add('refused'); }
        error(m.reason);
        note('refused:' + m.reason);
        break;
      }
      case 'typing':
        if (m.side === 'agent') showTyping(m.on);
        break;
      case 'receipts':
        C.receipts = m;
        paintReceipts();
        break;
      case 'error':
        error(m.reason);
        break;
      case 'identified':
        note('identified:' + m.kind);
        break;
      case 'identify_refused':
        note('identify-refused:' + m.reason);
        break;
      case 'transcript_sent':
        $('chat-transcript-status').textContent = 'The transcript is on its way to ' + m.email + '.';
        $('chat-transcript-form').hidden = true;
        note('transcript-sent:' + m.email);
        break;
      case 'transcript_refused':
        $('chat-transcript-status').textContent = 'Not sent: ' + m.reason;
        note('transcript-refused:' + m.reason);
        break;
      default:
    }
  }

  // A logged-in visitor: the website passes their identity signed
  // (/chat?identity=email:…&expires=…&signature=…); sent on every welcome,
  // before any message, so the session's chats are filed under that customer.
  function identify(ws) {
    var q = new URLSearchParams(location.search);
    var identity = q.get('identity');
    if (!identity || !ws || ws.readyState !== 1) return;
    ws.send(JSON.stringify({ op: 'identify', identity: identity, expires: Number(q.get('expires')), signature: q.get('signature') || '' }));
  }

  function remember(seq) { if (seq > C.lastSeq) C.lastSeq = seq; }

  function bubble(cls, text) {
    var li = document.createElement('li');
    li.className = cls;
    li.setAttribute('data-testid', 'chat-msg');
    li.textContent = text;
    $('chat-messages').appendChild(li);
    li.scrollIntoView({ block: 'end' });
    return li;
  }

  // entries stand in seq order (data-pos); drafts not yet numbered stay last
  function place(li, seq) {
    li.dataset.pos = seq;
    var list = $('chat-messages');
    var before = null;
    for (var i = 0; i < list.children.length; i++) {
      var other = list.children[i];
      if (other === li) continue;
      var pos = other.dataset.pos;
      if (pos === undefined ? other.classList.contains('visitor') : Number(pos) > seq) { before = other; break; }
    }
    if (before) list.insertBefore(li, before); else list.appendChild(li);
  }

  function stateOf(li, t) {
    var s = li.querySelector('.state');
    if (!s) { s = document.createElement('span'); s.className = 'state'; s.setAttribute('data-testid', 'chat-msg-state'); li.appendChild(s); }
    s.textContent = t;
  }

  function entry(m) {
    if (m.seq <= C.lastSeq) return; // seen already (a replay)
    remember(m.seq);
    if (m.type === 'joined') {
      C.open = true;
      place(bubble('note', 'An agent (' + m.agent + ') joined the chat.'), m.seq);
      note('joined:' + m.agent);
    } else if (m.type === 'ended') {
      C.open = false;
      showTyping(false);
      place(bubble('note', 'The chat has ended. Write again to start a new one.'), m.seq);
      note('ended');
    } else if (m.from === 'visitor') {
      // ours: from this page (matched by client_id) or from before a reload
      var li = m.client_id && C.sent[m.client_id];
      if (!li) li = bubble('visitor', m.text);
      li.dataset.seq = m.seq;
      li.dataset.from = 'visitor';
      place(li, m.seq);
      C.bySeq[m.seq] = li;
      if (m.file) fileLine(li, m.file);
      stateOf(li, 'sent');
      var k = C.outbox.findIndex(function (o) { return o.client_id === m.client_id; });
      if (k >= 0) C.outbox.splice(k, 1);
      paintReceipts();
    } else {
      var who = m.bot ? 'bot' : 'agent';
      var a = bubble(m.bot ? 'agent bot' : 'agent', m.text);
      a.dataset.seq = m.seq;
      a.dataset.from = who;
      place(a, m.seq);
      quickReplies(m.quick_replies || []);
      if (!m.bot) showTyping(false);
      note(who + ':' + m.text);
      markSeen();
    }
  }

  function fileLine(li, f) {
    if (li.querySelector('.file')) return;
    var s = document.createElement('span');
    s.className = 'file';
    s.textContent = 'File: ' + f.name + ' (' + f.size + ' bytes)';
    li.appendChild(s);
  }

  function quickReplies(options) {
    var box = $('chat-quick');
    box.textContent = '';
    options.forEach(function (o, i) {
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = o;
      b.setAttribute('data-testid', 'chat-quick-reply-' + i);
      b.addEventListener('click', function () { box.textContent = ''; submit(o, null); });
      box.appendChild(b);
    });
  }

  function paintReceipts() {
    var r = C.receipts;
    if (!r) return;
    Object.keys(C.bySeq).forEach(function (seq) {
      var n = Number(seq);
      var li = C.bySeq[seq];
      stateOf(li, n <= r.agent_read ? 'read' : n <= r.agent_delivered ? 'delivered' : 'sent');
    });
  }

  // the agent's messages: received at once; read while the page is visible
  function markSeen() {
    if (!C.online) return;
    send({ op: document.visibilityState === 'visible' ? 'read' : 'delivered', seq: C.lastSeq });
  }
  document.addEventListener('visibilitychange', markSeen);

  function showTyping(on) { $('chat-typing').hidden = !on; }

  function send(obj) {
    if (C.ws && C.online && C.ws.readyState === 1) { C.ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  function transmit(o) {
    var f = o.file ? { name: o.file.name, type: o.file.type, data: o.file.data } : undefined;
    send({ op: 'send', client_id: o.client_id, text: o.text, file: f });
  }

  function submit(text, file) {
    error('');
    text = (text || '').trim();
    if (!text && !file) return;
    C.counter += 1;
    sessionStorage.setItem('callcore-chat-counter', String(C.counter));
    var o = { client_id: 'c' + C.counter + '-' + Date.now().toString(36), text: text, file: file };
    o.el = bubble('visitor', text);
    if (file) fileLine(o.el, { name: file.name, size: file.size });
    stateOf(o.el, C.online ? 'sending' : 'waiting for connection');
    C.sent[o.client_id] = o.el;
    C.outbox.push(o);
    transmit(o);
    note('submitted:' + text);
  }

  async function readFile(f) {
    if (f.size > C.maxFile) throw new Error('The file is larger than ' + C.maxFile + ' bytes.');
    var buf = new Uint8Array(await f.arrayBuffer());
    var bin = '';
    for (var i = 0; i < buf.length; i += 0x8000) bin += String.fromCharCode.apply(null, buf.subarray(i, i + 0x8000));
    return { name: f.name, type: f.type, size: f.size, data: btoa(bin) };
  }

  $('chat-form').addEventListener('submit', async function (e) {
    e.preventDefault();
    var input = $('chat-input');
    var picker = $('chat-file');
    var file = null;
    if (picker.files && picker.files[0]) {
      try { file = await readFile(picker.files[0]); } catch (err) { error(err.message); note('refused:local'); return; }
    }
    submit(input.value, file);
    input.value = '';
    picker.value = '';
    typing(false);
  });
  $('chat-input').addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('chat-send').click(); }
  });

  // typing: on with the first key, off after 3 s without one (or when sent)
  var typingOn = false;
  var typingTimer = null;
  function typing(on) {
    if (on !== typingOn) { typingOn = on; send({ op: 'typing', on: on }); }
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { typing(false); }, 3000);
  }
  $('chat-input').addEventListener('input', function () { typing($('chat-input').value.length > 0); });

  // "E-mail me the transcript", during or after the chat: one address
  $('chat-transcript').addEventListener('click', function () {
    $('chat-transcript-form').hidden = false;
    $('chat-transcript-status').textContent = '';
    $('chat-transcript-email').focus();
  });
  $('chat-transcript-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var email = $('chat-transcript-email').value.trim();
    if (!C.online) { $('chat-transcript-status').textContent = 'Not sent: offline, try again in a moment'; return; }
    $('chat-transcript-status').textContent = 'Sending…';
    send({ op: 'email_transcript', email: email });
  });
  $('chat-end').addEventListener('click', function () { send({ op: 'leave' }); note('left'); });

  // tests: drop the connection (and stay offline until online())
  C.drop = function (stayOffline) {
    C.offline = !!stayOffline;
    C.online = false;
    if (C.ws) C.ws.close();
  };
  C.goOnline = function () { C.offline = false; if (!C.online) connect(); };
  C.texts = function () {
    return Array.prototype.map.call(document.querySelectorAll('#chat-messages li[data-seq]'), function (li) {
      return { seq: Number(li.dataset.seq), from: li.dataset.from || li.className, text: li.firstChild ? li.firstChild.textContent : '' };
    });
  };

  connect();
})();
