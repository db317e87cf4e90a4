// callcore agent desktop. Hand-written, no build step; served by callcore-web at
// /desktop.js. Speaks the web API (cookie session, X-CSRF-Token on unsafe
// requests), follows the event feed (/api/v1/events, resumed with ?since=) and
// takes calls in the browser through the browser phone (/phone.js) when the
// assembly serves it. What the tests read: window.desktop (state) and
// window.desktop.level() (RMS of what the call brings, 0..1).
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var S = {
    me: null,          // the login answer: user, role, tenant, agent
    csrf: '',
    phone: null,       // CallcorePhone connection, if /phone.js is served
    feed: null,        // the event feed's WebSocket
    seq: 0,            // the last event seen (resume point)
    offer: null,       // {interaction, reservation, queue} from an `offered` event
    ringing: null,     // the phone's ringing call {id, from}
    call: null,        // {interaction, from, phoneCall, since}
    held: false,
    muted: false,
    consulting: false,
    consultAnswered: false, // the consulted party answered (`consult_answered`)
    wrap: null,        // interaction whose wrap-up is open
    pop: null,         // interaction whose screen pop is shown
    meter: null,
    log: [],           // what happened, for tests and diagnosis
  };
  window.desktop = S;
  S.level = function () { return S.meter ? S.meter() : 0; };

  function note(what) { S.log.push(what); }
  function show(id, on) { $(id).hidden = !on; }
  function text(id, t) { $(id).textContent = t == null ? '' : String(t); }
  function fail(e) { text('error', e && e.message ? e.message : String(e)); note('error:' + (e && e.message)); }

  async function api(method, path, body) {
    var headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET') headers['X-CSRF-Token'] = S.csrf;
    var r = await fetch(path, {
      method: method, headers: headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 204) return null;
    var data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      var detail = data && data.error ? data.error : {};
      var err = new Error((detail.message || ('HTTP ' + r.status)) +
        (detail.field ? ' (' + detail.field + ')' : ''));
      err.status = r.status;
      throw err;
    }
    return data;
  }

  // ----- log in / out ---------------------------------------------------------

  $('login-form').addEventListener('submit', async function (e) {
    e.preventDefault();
    text('login-error', '');
    try {
      var a = await api('POST', '/api/v1/login',
        { user: $('login-user').value.trim(), password: $('login-password').value });
      S.csrf = a.csrf_token;
      sessionStorage.setItem('callcore-csrf', a.csrf_token);
      $('login-password').value = '';
      start(a);
    } catch (err) {
      text('login-error', err.status === 401 ? 'Wrong agent id or password.' :
        err.status === 429 ? 'Too many attempts: wait a minute.' : err.message);
    }
  });

  $('logout').addEventListener('click', async function () {
    try { await api('POST', '/api/v1/logout'); } catch (e) { /* gone already */ }
    sessionStorage.removeItem('callcore-csrf');
    location.reload();
  });

  async function start(me) {
    S.me = me;
    if (!me.agent) { text('login-error', 'This desktop is for agents; ' + me.user + ' is a ' + me.role + '.'); return; }
    show('login', false); show('desk', true); show('who', true);
    text('me', me.agent);
    note('logged-in');
    try {
      var codes = await api('GET', '/api/v1/config/reason-codes');
      var sel = $('agent-reason');
      sel.textContent = '';
      codes.forEach(function (c) { var o = document.createElement('option'); o.value = c; o.textContent = c; sel.appendChild(o); });
    } catch (e) { fail(e); }
    await refreshAgent();
    if (window.DesktopChat) {
      S.chats = window.DesktopChat.start({ api: api, note: note, me: me, voiceOffered: voiceOffered });
    }
    if (window.DesktopAssist) S.assist = window.DesktopAssist.start({ me: me });
    if (window.DesktopScorecard) S.scorecard = window.DesktopScorecard.start({ api: api, me: me });
    openFeed();
    connectPhone();
  }

  // ----- agent state ----------------------------------------------------------

  async function refreshAgent() {
    try {
      var a = await api('GET', '/api/v1/agents/' + encodeURIComponent(S.me.agent));
      text('state-now', a.state + (a.reason ? ' (' + a.reason + ')' : ''));
      if (a.state === 'available') $('agent-state').value = 'ready';
      if (a.state === 'not_ready') {
        $('agent-state').value = 'not_ready';
        if (a.reason) $('agent-reason').value = a.reason;
      }
      show('reason-label', $('agent-state').value === 'not_ready');
      S.state = a.state;
    } catch (e) { fail(e); }
  }

  // one state change at a time, in the order chosen: the last choice wins
  var stateChain = Promise.resolve();
  function setState() {
    var want = $('agent-state').value;
    var body = want === 'ready' ? { state: 'ready' } : { state: 'not_ready', reason: $('agent-reason').value || null };
    show('reason-label', want === 'not_ready');
    stateChain = stateChain.then(function () { return putState(want, body); });
  }

  async function putState(want, body) {
    try {
      await api('PUT', '/api/v1/agents/' + encodeURIComponent(S.me.agent) + '/state', body);
      text('error', '');
      note('state:' + want);
    } catch (e) { fail(e); }
    refreshAgent();
  }
  $('agent-state').addEventListener('change', setState);
  $('agent-reason').addEventListener('change', function () { if ($('agent-state').value === 'not_ready') setState(); });

  // ----- event feed -------------------------------------------------------------

  function openFeed() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
      '/api/v1/events' + (S.seq ? '?since=' + S.seq : '');
    var ws = new WebSocket(url);
    S.feed = ws;
    ws.addEventListener('message', function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === 'hello') { if (!S.seq) S.seq = m.last_seq || 0; return; }
      if (m.type === 'resync_required') { refreshAgent(); return; }
      if (m.seq) S.seq = Math.max(S.seq, m.seq);
      onEvent(m);
    });
    ws.addEventListener('close', function () { if (S.me && S.feed === ws) setTimeout(openFeed, 1000); });
  }

  function mine(m) { return m.agent === S.me.agent; }

  function voiceOffered(m) {
    S.offer = { interaction: m.interaction, reservation: m.reservation, queue: m.queue };
    note('offered');
    text('offer-queue', m.queue);
    showOffer();
    loadPop(m.interaction);
  }

  function onEvent(m) {
    var current = S.call && S.call.interaction;
    // agent assist's suggestions (desktop-assist.js)
    if (S.assist) S.assist.onEvent(m);
    // the agent's own scorecard (desktop-scorecard.js)
    if (S.scorecard) S.scorecard.onEvent(m);
    // web chats are the chat panel's (desktop-chat.js)
    if (S.chats && S.chats.onEvent(m)) return;
    switch (m.type) {
      case 'offered':
        if (!mine(m)) break;
        voiceOffered(m);
        break;
      case 'offer_ended':
        if (mine(m) && S.offer && S.offer.reservation === m.reservation) {
          S.offer = null;
          if (!S.ringing) show('offer', false);
        }
        break;
      case 'connected':
        if (!mine(m)) break;
        S.offer = null;
        if (S.call && S.call.interaction === m.interaction) { S.call.consulted = false; S.consultedIn = null; paintCall(); }
        startCall(m.interaction);
        break;
      case 'agent_state_changed':
        if (mine(m)) refreshAgent();
        break;
      case 'wrap_up_started':
        if (mine(m)) openWrap(m.interaction);
        break;
      case 'held': if (m.interaction === current) { S.held = true; paintCall(); } break;
      case 'resumed': if (m.interaction === current) { S.held = false; paintCall(); } break;
      case 'muted': if (m.interaction === current && mine(m)) { S.muted = m.on; paintCall(); } break;
      case 'consult_started':
        if (m.interaction === current && mine(m)) { S.consulting = true; S.consultAnswered = false; paintCall(); }
        else if (m.target === 'agent:' + S.me.agent) { S.consultedIn = m.interaction; note('consulted'); }
        break;
      case 'consult_answered':
        // the consulted party is on the line: swap, complete and conference may go
        if (m.interaction === current && mine(m)) { S.consultAnswered = true; note('consult-answered'); paintCall(); }
        break;
      case 'consult_ended':
        if (m.interaction === current) { S.consulting = false; S.consultAnswered = false; paintCall(); }
        // completed: this agent's `connected` follows; conference: they stay on
        if (m.interaction === S.consultedIn && m.outcome !== 'completed' && m.outcome !== 'conference') S.consultedIn = null;
        break;
      case 'conference_joined': if (m.interaction === current) { S.conference = true; S.consulting = false; paintCall(); } break;
      case 'transferred':
        // the transferring agent's part is over; the new agent's `connected` follows
        // (the consulted agent's own call goes on: the transfer is to them)
        if (m.interaction === current && S.call && S.call.answeredHere && !S.call.consulted) endCall('transferred');
        break;
      case 'ended':
        if (m.interaction === S.consultedIn) S.consultedIn = null;
        if (m.interaction === current) endCall('ended');
        if (S.offer && S.offer.interaction === m.interaction) { S.offer = null; show('offer', false); }
        break;
      default:
    }
  }

  // ----- offers and the phone ---------------------------------------------------

  function connectPhone() {
    if (!window.CallcorePhone) { text('phone-status', 'no browser phone'); return; }
    var phone = window.CallcorePhone.connect({
      keypad: true,
      onOffer: function (call) {
        S.ringing = call;
        note('ringing');
        showOffer();
      },
      onAnswered: function (call) { note('answered'); if (S.call) S.call.phoneCall = call.id; },
      onAudio: function (call) {
        S.meter = window.CallcorePhone.meter(call.remote);
        note('audio');
      },
      onEnd: function (call) {
        note('phone-ended:' + call.endedBy);
        if (S.ringing && S.ringing.id === call.id) {
          S.ringing = null;
          if (!S.offer) show('offer', false);
        }
        if (S.call && S.call.phoneCall === call.id) endCall('phone-' + call.endedBy);
      },
      onClose: function () { text('phone-status', 'phone offline'); },
    });
    S.phone = phone;
    phone.ready.then(function () { text('phone-status', 'phone online'); note('phone-online'); },
      function () { text('phone-status', 'phone refused'); });
  }

  function showOffer() {
    var from = S.ringing ? S.ringing.from : '';
    text('offer-from', from || (S.offer ? 'a caller' : ''));
    show('offer', true);
    show('idle', false);
  }

  async function accept() {
    show('offer', false);
    try {
      if (!S.ringing && S.phone && S.offer) {
        // the phone rings right after the offer: give it a moment
        for (var i = 0; i < 30 && !S.ringing; i++) await new Promise(function (r) { setTimeout(r, 100); });
      }
      if (S.ringing) {
        var ringing = S.ringing;
        S.ringing = null;
        S.pendingAnswer = ringing.id;
        await S.phone.answer(ringing.id);
        if (S.call && !S.call.phoneCall) S.call.phoneCall = ringing.id;
        // a consultation rings the consulted agent's phone with no offer: the
        // call is theirs to show (and hang up) from now on
        if (!S.call && S.consultedIn) { startCall(S.consultedIn); S.call.consulted = true; paintCall(); }
      } else if (S.offer) {
        await api('POST', '/api/v1/offers/' + encodeURIComponent(S.offer.reservation) + '/accept');
      }
      note('accepted');
    } catch (e) { fail(e); }
  }

  async function decline() {
    show('offer', false);
    try {
      if (S.ringing) { S.phone.decline(S.ringing.id); S.ringing = null; }
      if (S.offer) {
        var r = S.offer.reservation;
        S.offer = null;
        await api('POST', '/api/v1/offers/' + encodeURIComponent(r) + '/decline').catch(function () {});
      }
      note('declined');
    } catch (e) { fail(e); }
    paintIdle();
  }
  $('offer-accept').addEventListener('click', accept);
  $('offer-decline').addEventListener('click', decline);

  // ----- the call ---------------------------------------------------------------

  function startCall(interaction) {
    if (S.call && S.call.interaction === interaction) return;
    S.call = { interaction: interaction, phoneCall: S.pendingAnswer || null, since: Date.now(), answeredHere: true };
    S.pendingAnswer = null;
    S.held = false; S.muted = false; S.consulting = false; S.consultAnswered = false; S.conference = false;
    show('offer', false); show('call', true); show('idle', false);
    note('call');
    loadPop(interaction);
    paintCall();
  }

  function paintCall() {
    if (!S.call) return;
    text('call-state', S.conference ? 'conference' : S.consulting ? 'consulting' :
      S.call.consulted ? 'consulted' : S.held ? 'on hold' : 'talking');
    text('call-hold', S.held ? 'Resume' : 'Hold');
    $('call-hold').setAttribute('aria-pressed', String(S.held));
    text('call-mute', S.muted ? 'Unmute' : 'Mute');
    $('call-mute').setAttribute('aria-pressed', String(S.muted));
    show('consult', S.consulting);
    // until the consulted party answers, the center refuses these (409)
    ['consult-swap', 'consult-complete', 'call-conference'].forEach(function (id) {
      $(id).disabled = !S.consultAnswered;
    });
    show('conference-leave', S.conference);
  }

  function endCall(why) {
    if (!S.call) return;
    var interaction = S.call.interaction;
    var phoneCall = S.call.phoneCall;
    S.call = null;
    S.meter = null;
    if (phoneCall && S.phone && S.phone.calls.has(phoneCall)) S.phone.hangup(phoneCall);
    show('call', false);
    note('call-ended:' + why);
    openWrap(interaction);
  }

  function callPath(action) {
    return '/api/v1/calls/' + encodeURIComponent(S.call.interaction) + '/' + action;
  }

  async function act(action, body) {
    if (!S.call) return;
    try { await api('POST', callPath(action), body); text('error', ''); note('did:' + action); } catch (e) { fail(e); }
  }

  $('call-hold').addEventListener('click', function () { act(S.held ? 'resume' : 'hold'); });
  $('call-mute').addEventListener('click', function () { act('mute', { on: !S.muted }); });
  $('call-hangup').addEventListener('click', async function () {
    if (!S.call) return;
    if (S.call.phoneCall && S.phone && S.phone.calls.has(S.call.phoneCall)) {
      S.phone.hangup(S.call.phoneCall);
      endCall('hung-up');
    } else {
      await act('hang-up');
    }
  });
  $('call-transfer').addEventListener('click', function () {
    var target = { kind: $('transfer-kind').value, to: $('transfer-target').value.trim() };
    act($('transfer-mode').value === 'consult' ? 'consult' : 'transfer', target);
  });
  $('consult-swap').addEventListener('click', function () { act('swap'); });
  $('consult-complete').addEventListener('click', function () { act('complete-transfer'); });
  $('consult-cancel').addEventListener('click', function () { act('cancel-consult'); });
  $('call-conference').addEventListener('click', function () { act('conference'); });
  $('conference-leave').addEventListener('click', function () { act('conference/leave'); });

  // keypad: DTMF tones into the call (in-band, through the browser phone's mixer)
  '123456789*0#'.split('').forEach(function (d) {
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = d;
    b.setAttribute('data-testid', 'keypad-' + (d === '*' ? 'star' : d === '#' ? 'hash' : d));
    b.addEventListener('click', function () {
      var id = S.call && S.call.phoneCall;
      if (id && S.phone && S.phone.dtmf(id, d)) note('dtmf:' + d);
      else fail(new Error('the keypad needs a call in this browser'));
    });
    $('keypad').appendChild(b);
  });

  setInterval(function () {
    if (!S.call) return;
    var s = Math.floor((Date.now() - S.call.since) / 1000);
    text('call-timer', Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0'));
    $('call-level').value = S.level();
  }, 250);

  // ----- screen pop -------------------------------------------------------------

  function item(list, t) { var li = document.createElement('li'); li.textContent = t; list.appendChild(li); }

  async function loadPop(interaction) {
    S.pop = interaction;
    var pop;
    try { pop = await api('GET', '/api/v1/calls/' + encodeURIComponent(interaction) + '/screen-pop'); }
    catch (e) { if (e.status !== 404) fail(e); return; }
    if (S.pop !== interaction) return;
    var c = pop.customer;
    if (S.call && S.call.interaction === interaction) text('call-from', c && c.name ? c.name + ' (' + pop.call.from + ')' : pop.call.from);
    var cust = $('pop-customer');
    cust.textContent = '';
    var head = document.createElement('p');
    head.className = 'name';
    head.textContent = c ? (c.name || c.id) + (c.vip ? ' ★ VIP' : '') : 'Unknown caller';
    cust.appendChild(head);
    var facts = document.createElement('ul');
    item(facts, 'Calling from ' + pop.call.from + ' to ' + pop.call.to + (pop.call.queue ? ' · queue ' + pop.call.queue : ''));
    if (c) {
      if (c.identities.length) item(facts, 'Known as ' + c.identities.join(', '));
      Object.keys(c.preferences).forEach(function (k) { item(facts, k + ': ' + c.preferences[k]); });
      if (c.tags.length) item(facts, 'Tags: ' + c.tags.join(', '));
      if (c.open_business.length) item(facts, 'Open: ' + c.open_business.join('; '));
      if (c.last_agent) item(facts, 'Last served by ' + c.last_agent);
    }
    cust.appendChild(facts);
    var ivr = $('pop-ivr');
    ivr.textContent = '';
    var intent = document.createElement('p');
    intent.textContent = 'Intent: ' + (pop.ivr.intent || 'none recognised');
    ivr.appendChild(intent);
    var steps = document.createElement('ol');
    pop.ivr.steps.forEach(function (s) { item(steps, s.step + (s.detail ? ': ' + s.detail : '')); });
    if (!pop.ivr.steps.length) item(steps, 'no IVR steps');
    ivr.appendChild(steps);
    popContext(ivr, pop.ivr);
    var hist = $('pop-history');
    hist.textContent = '';
    pop.history.forEach(function (h) {
      item(hist, new Date(h.created_at).toLocaleString() + ' · ' + h.channel + ' ' + h.direction +
        (h.queue ? ' · ' + h.queue : '') + (h.agent ? ' · agent ' + h.agent : '') +
        (h.intent ? ' · ' + h.intent : '') + (h.disposition ? ' · ' + h.disposition : '') +
        (h.notes ? ' · “' + h.notes + '”' : ''));
    });
    if (!pop.history.length) item(hist, 'no earlier contacts');
    show('screen-pop', true);
    note('screen-pop');
  }

  // what the flow collected (slots, sensitive ones masked by the server) and
  // what the bot asked and heard, so that the customer is not asked twice
  function popContext(ivr, ctx) {
    var slots = document.createElement('dl');
    slots.setAttribute('data-testid', 'pop-slots');
    (ctx.slots || []).forEach(function (s) {
      var dt = document.createElement('dt');
      dt.textContent = s.name;
      var dd = document.createElement('dd');
      dd.textContent = s.value + (s.sensitive ? ' (sensitive)' : '');
      if (s.sensitive) dd.className = 'sensitive';
      slots.appendChild(dt); slots.appendChild(dd);
    });
    if ((ctx.slots || []).length) ivr.appendChild(slots);
    var talk = document.createElement('ol');
    talk.setAttribute('data-testid', 'pop-conversation');
    (ctx.conversation || []).forEach(function (l) {
      item(talk, (l.speaker === 'bot' ? 'Asked: ' : 'Answered: ') + l.text);
    });
    if ((ctx.conversation || []).length) ivr.appendChild(talk);
  }

  // ----- wrap-up ----------------------------------------------------------------

  function openWrap(interaction) {
    if (S.wrap === interaction) return;
    S.wrap = interaction;
    $('wrapup-code').value = '';
    $('wrapup-notes').value = '';
    text('wrapup-status', '');
    show('wrapup', true);
    note('wrapup');
  }

  $('wrapup-submit').addEventListener('click', async function () {
    if (!S.wrap) return;
    var body = { code: $('wrapup-code').value.trim() };
    var notes = $('wrapup-notes').value.trim();
    if (notes) body.notes = notes;
    try {
      await api('POST', '/api/v1/interactions/' + encodeURIComponent(S.wrap) + '/wrap-up', body);
      // end after-call work early (409 when it is already over: fine)
      await api('POST', '/api/v1/agents/' + encodeURIComponent(S.me.agent) + '/wrap-up/end').catch(function () {});
      text('wrapup-status', 'Saved.');
      note('wrapup-saved');
      S.wrap = null;
      show('wrapup', false);
      show('screen-pop', false);
      paintIdle();
    } catch (e) { text('wrapup-status', e.message); }
  });

  function paintIdle() { show('idle', !S.call && !S.wrap && $('offer').hidden); }

  // ----- resume a session after a reload ---------------------------------------

  (async function () {
    var csrf = sessionStorage.getItem('callcore-csrf');
    if (!csrf) return;
    S.csrf = csrf;
    try { start(await api('GET', '/api/v1/me')); } catch (e) { sessionStorage.removeItem('callcore-csrf'); }
  })();
})();
