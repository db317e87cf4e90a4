// callcore browser phone: answers calls the center offers over WebRTC.
// Reusable without a build step: <script src="/phone.js"></script>, then
//   const phone = CallcorePhone.connect({ token, onOffer(call) {...}, onEnd(call) {...} });
//   phone.answer(call.id); phone.decline(call.id); phone.hangup(call.id);
// With { keypad: true } the microphone goes through a WebAudio mixer and
//   phone.dtmf(call.id, "123#") plays the digits' DTMF tones into the call (in-band:
//   they reach a SIP caller over any codec, as the agent's audio).
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

  // DTMF pairs (Hz): low group by row, high group by column.
  var DTMF = {
    '1': [697, 1209], '2': [697, 1336], '3': [697, 1477], 'A': [697, 1633],
    '4': [770, 1209], '5': [770, 1336], '6': [770, 1477], 'B': [770, 1633],
    '7': [852, 1209], '8': [852, 1336], '9': [852, 1477], 'C': [852, 1633],
    '*': [941, 1209], '0': [941, 1336], '#': [941, 1477], 'D': [941, 1633],
  };

  // The microphone through a mixer that can add DTMF tones: returns the
  // stream to send and a function playing digits (100 ms on, 70 ms off).
  function keypadMixer(mic) {
    var ctx = new (global.AudioContext || global.webkitAudioContext)();
    var out = ctx.createMediaStreamDestination();
    ctx.createMediaStreamSource(mic).connect(out);
    var gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(out);
    var low = ctx.createOscillator(), high = ctx.createOscillator();
    low.connect(gain); high.connect(gain);
    low.start(); high.start();
    ctx.resume();
    var until = 0;
    function play(digits) {
      var t = Math.max(ctx.currentTime + 0.02, until);
      String(digits).toUpperCase().split('').forEach(function (d) {
        var pair = DTMF[d];
        if (!pair) return;
        low.frequency.setValueAtTime(pair[0], t);
        high.frequency.setValueAtTime(pair[1], t);
        gain.gain.setValueAtTime(0.3, t);
        gain.gain.setValueAtTime(0, t + 0.1);
        t += 0.17;
      });
      until = t;
    }
    return { stream: out.stream, play: play, close: function () { ctx.close(); } };
  }

  function connect(opts) {
    opts = opts || {};
    var url = opts.url || ((location.protocol === 'https:' ? 'wss://' : 'ws://') +
      location.host + '/api/v1/phone');
    var protocols = ['callcore-phone'];
    if (opts.token) protocols.push('token.' + opts.token);
    var ws = new WebSocket(url, protocols);
    var calls = new Map();
    var phone = { ws: ws, calls: calls, answer: answer, decline: decline, hangup: hangup,
      dtmf: dtmf };
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
      if (call.mixer) call.mixer.close();
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
        var sent = call.local;
        if (opts.keypad) {
          call.mixer = keypadMixer(call.local);
          sent = call.mixer.stream;
        }
        sent.getTracks().forEach(function (t) { pc.addTrack(t, sent); });
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

    // Plays DTMF digits into an answered call (needs { keypad: true }); false
    // when the call has no keypad.
    function dtmf(id, digits) {
      var call = calls.get(id);
      if (!call || !call.mixer) return false;
      call.mixer.play(digits);
      return true;
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
