// callcore browser phone: answers calls the center offers over WebRTC.
// Reusable without a build step: <script src="/phone.js"></script>, then
//   const phone = CallcorePhone.connect({ token, onOffer(call) {...}, onEnd(call) {...} });
//   phone.answer(call.id); phone.decline(call.id); phone.hangup(call.id);
// Messages (JSON over the WebSocket /api/v1/phone, sub-protocol "callcore-phone"):
//   center -> page {type:"offer", call, sdp, from}, {type:"hangup", call}
//   page -> center {type:"answer", call, sdp}, {type:"decline", call}, {type:"hangup", call}
(function (global) {
  'use strict';

  // Hex of a string's UTF-8 bytes: the token of an id:password login.
  function hex(text) {
    return Array.from(new TextEncoder().encode(text))
      .map(function (b) { return b.toString(16).padStart(2, '0'); }).join('');
  }

  // Resolves once ICE gathering is complete (non-trickle answer), at most 3 s.
  function gathered(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(resolve, 3000);
      pc.addEventListener('icegatheringstatechange', function () {
        if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
      });
    });
  }

  // A meter of a stream's audio: returns a function giving the RMS (0..1) now.
  function meter(stream) {
    var ctx = new (global.AudioContext || global.webkitAudioContext)();
    var source = ctx.createMediaStreamSource(stream);
    var analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    source.connect(analyser);
    var data = new Float32Array(analyser.fftSize);
    ctx.resume();
    return function () {
      analyser.getFloatTimeDomainData(data);
      var sum = 0;
      for (var i = 0; i < data.length; i++) sum += data[i] * data[i];
      return Math.sqrt(sum / data.length);
    };
  }

  function connect(opts) {
    opts = opts || {};
    var url = opts.url || ((location.protocol === 'https:' ? 'wss://' : 'ws://') +
      location.host + '/api/v1/phone');
    var protocols = ['callcore-phone'];
    if (opts.token) protocols.push('token.' + opts.token);
    var ws = new WebSocket(url, protocols);
    var calls = new Map();
    var phone = { ws: ws, calls: calls, answer: answer, decline: decline, hangup: hangup };
    phone.ready = new Promise(function (resolve, reject) {
      ws.addEventListener('open', function () { resolve(phone); });
      ws.addEventListener('error', function (e) { reject(e); });
    });

    function send(message) {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
    }

    function end(id, by) {
      var call = calls.get(id);
      if (!call) return;
      calls.delete(id);
      call.state = 'ended';
      call.endedBy = by;
      if (call.pc) call.pc.close();
      if (call.local) call.local.getTracks().forEach(function (t) { t.stop(); });
      if (call.audio) { call.audio.srcObject = null; }
      if (opts.onEnd) opts.onEnd(call);
    }

    async function answer(id) {
      var call = calls.get(id);
      if (!call || call.state !== 'ringing') return;
      call.state = 'answering';
      try {
        var pc = new RTCPeerConnection({ iceServers: [] });
        call.pc = pc;
        pc.addEventListener('track', function (e) {
          call.remote = e.streams[0] || new MediaStream([e.track]);
          var audio = new Audio();
          audio.autoplay = true;
          audio.srcObject = call.remote;
          audio.play().catch(function () {});
          call.audio = audio;
          if (opts.onAudio) opts.onAudio(call);
        });
        pc.addEventListener('connectionstatechange', function () {
          if (pc.connectionState === 'failed') { send({ type: 'hangup', call: id }); end(id, 'failed'); }
        });
        await pc.setRemoteDescription({ type: 'offer', sdp: call.sdp });
        call.local = await navigator.mediaDevices.getUserMedia({ audio: true });
        call.local.getTracks().forEach(function (t) { pc.addTrack(t, call.local); });
        await pc.setLocalDescription(await pc.createAnswer());
        await gathered(pc);
        if (!calls.has(id)) return; // ended while answering
        send({ type: 'answer', call: id, sdp: pc.localDescription.sdp });
        call.state = 'answered';
        if (opts.onAnswered) opts.onAnswered(call);
      } catch (e) {
        call.error = String(e);
        send({ type: 'decline', call: id });
        end(id, 'error');
      }
    }

    function decline(id) { send({ type: 'decline', call: id }); end(id, 'declined'); }
    function hangup(id) { send({ type: 'hangup', call: id }); end(id, 'local'); }

    ws.addEventListener('message', function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === 'offer') {
        var call = { id: m.call, from: m.from, sdp: m.sdp, state: 'ringing' };
        calls.set(m.call, call);
        if (opts.onOffer) opts.onOffer(call);
        if (opts.autoAnswer) answer(m.call);
      } else if (m.type === 'hangup') {
        end(m.call, 'remote');
      }
    });
    ws.addEventListener('close', function () {
      Array.from(calls.keys()).forEach(function (id) { end(id, 'offline'); });
      if (opts.onClose) opts.onClose();
    });
    return phone;
  }

  global.CallcorePhone = { connect: connect, meter: meter, hex: hex };
})(window);
