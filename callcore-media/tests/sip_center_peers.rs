//! SIP calls with real media against real peers, through callcore's `Center`:
//! callcore-sip's `SipTransport` drives callcore-media's `RtpMedia` through
//! callcore's leg-media port only.
//! - a SIPp caller plays RFC 4733 digits (a pcap) into a flow that collects them;
//! - baresip registers as agent 1001 with a password (digest auth), the center
//!   routes a SIPp caller to it, and our B2BUA relays the audio both ways (SIPp
//!   plays A-law speech, baresip a µ-law tone: transcoded in the bridge), recorded
//!   in stereo because the center records calls (the port reports the recording's
//!   start and its stop); the interaction record is stored.
//!
//! Skipped with a notice when sipp/baresip are missing, unless
//! `CALLCORE_REQUIRE_PEERS=1`. SIPp's `play_pcap_audio` needs root or CAP_NET_RAW.

#![cfg(feature = "callcore-control")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod sip_support;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, BridgeRecording, CoreError, DigitSpec, EndReason, Endpoint,
    LegMediaPort, LegMediaRequest, MediaAttach, MediaControl, NegotiatedMedia, Prompt,
    QueueDefinition, RecordSpec, RecordingRequest, RecordingStarted, RecordingStopped, TenantId,
};
use callcore_media::leg_port::{RtpLeg, RtpMedia, RtpMediaConfig};
use callcore_runtime::{Center, Flow, FlowContext, FlowOutcome, SystemClock};
use callcore_sip::auth::{DigestAlgorithm, DigestConfig};
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::ua::UaConfig;
use sip_support::{
    dtmf_pcap, free_media_port, free_port, peer_available, temp_dir, tone_wav, wav_channel_power,
};
use tokio::process::Command;
use tokio::sync::mpsc;

/// What the port reported about bridged recordings.
type Reports = Arc<Mutex<Vec<(RecordingStarted, Option<RecordingStopped>)>>>;

/// RtpMedia that keeps every leg it reserved, to read their RTP figures, and
/// what the port reports about their recordings.
#[derive(Debug, Default)]
struct Watched {
    inner: Option<RtpMedia>,
    legs: Mutex<Vec<Arc<Observed>>>,
    reports: Reports,
}

impl Watched {
    fn new(inner: RtpMedia) -> Self {
        Self {
            inner: Some(inner),
            ..Self::default()
        }
    }

    fn rtp_legs(&self) -> Vec<Arc<Observed>> {
        self.legs.lock().unwrap().clone()
    }
}

#[async_trait]
impl MediaAttach for Watched {
    async fn reserve(&self, request: &LegMediaRequest) -> Result<Arc<dyn LegMediaPort>, CoreError> {
        let inner = self.inner.as_ref().unwrap().reserve(request).await?;
        let port = Arc::new(Observed {
            inner,
            reports: self.reports.clone(),
        });
        self.legs.lock().unwrap().push(port.clone());
        Ok(port)
    }
}

/// A leg's port as RtpMedia made it, noting the recordings it reports.
#[derive(Debug)]
struct Observed {
    inner: Arc<dyn LegMediaPort>,
    reports: Reports,
}

impl Observed {
    fn rtp(&self) -> &RtpLeg {
        self.inner.as_any().downcast_ref::<RtpLeg>().unwrap()
    }
}

impl LegMediaPort for Observed {
    fn local_rtp(&self) -> std::net::SocketAddr {
        self.inner.local_rtp()
    }
    fn apply(&self, media: &NegotiatedMedia) -> Result<Option<Arc<dyn MediaControl>>, CoreError> {
        self.inner.apply(media)
    }
    fn bridge(
        &self,
        other: &dyn LegMediaPort,
        recording: Option<&RecordingRequest>,
    ) -> Result<Option<BridgeRecording>, CoreError> {
        let other = other.as_any().downcast_ref::<Observed>().unwrap();
        let Some(rec) = self.inner.bridge(other.inner.as_ref(), recording)? else {
            return Ok(None);
        };
        let (started, reports) = (rec.started.clone(), self.reports.clone());
        let i = {
            let mut r = reports.lock().unwrap();
            r.push((started.clone(), None));
            r.len() - 1
        };
        let stopped = rec.stopped;
        tokio::spawn(async move {
            let end = stopped.await;
            reports.lock().unwrap()[i].1 = end;
        });
        Ok(Some(BridgeRecording::new(started, std::future::pending())))
    }
    fn unbridge(&self) {
        self.inner.unbridge();
    }
    fn tap(&self, sink: Box<dyn callcore::FrameSink>) -> Result<(), CoreError> {
        self.inner.tap(sink)
    }
    fn close(&self) {
        self.inner.close();
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn sip_config(port: u16, auth: bool) -> SipCenterConfig {
    let mut ua = UaConfig::new(format!("127.0.0.1:{port}").parse().unwrap());
    if auth {
        ua.registrar = true;
        let users: HashMap<String, String> = [("1001".to_owned(), "s3cret".to_owned())].into();
        // baresip 1.0 gives up on a SHA-256 challenge instead of taking the MD5 one
        // that follows it (RFC 7616 §3.7), so these phones get MD5 only
        let mut digest = DigestConfig::new("callcore");
        digest.algorithms = vec![DigestAlgorithm::Md5];
        ua.auth = Some((digest, Arc::new(users)));
    }
    SipCenterConfig {
        ua,
        seed: 11.into(),
        tcp: false,
        tenant: TenantId::new("t1"),
        media_addr: "127.0.0.1:9".parse().unwrap(),
        trunks: Vec::new(),
        from_domain: "127.0.0.1".into(),
    }
}

fn sipp(port: u16, target: u16) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.arg(format!("127.0.0.1:{target}"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_media_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[derive(Debug)]
struct CollectDigits(mpsc::UnboundedSender<(String, String)>);

#[async_trait]
impl Flow for CollectDigits {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        call.play(&Prompt::SilenceMs(100), false).await?;
        let spec = DigitSpec {
            min: 1,
            max: 8,
            terminator: Some('#'),
            first_digit_timeout: Duration::from_secs(8),
            inter_digit_timeout: Duration::from_secs(3),
        };
        let got = call.collect_digits(&spec).await?;
        // and half a second of what the caller sends, through the leg's media
        let rec = call
            .leg()
            .media()
            .record(&RecordSpec {
                max_duration: Duration::from_millis(500),
                silence_timeout: Duration::from_secs(5),
                terminator: None,
            })
            .await?;
        let _ = self.0.send((got.digits, rec.to_string()));
        // the caller hangs up (SIPp's BYE)
        call.leg().ended().await;
        Ok(FlowOutcome::Done(EndReason::Completed))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_caller_plays_rfc4733_digits_into_a_center_flow() {
    if !peer_available("sipp", "-v", "sip-tester") {
        return;
    }
    let dir = temp_dir("sipp-dtmf");
    let pcap = dir.join("dtmf_1234.pcap");
    std::fs::write(&pcap, dtmf_pcap("1234#")).unwrap();
    let base = 28000 + (std::process::id() % 10) as u16 * 16;
    let mut media = RtpMediaConfig::loopback(base..=base + 15);
    media.recordings_dir = dir.clone();
    let media = RtpMedia::new(media);
    let sip = SipTransport::start(
        sip_config(0, false),
        Arc::new(SystemClock),
        Some(Arc::new(media)),
    )
    .await
    .unwrap();
    let target = sip.local_addr().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let center = Center::builder()
        .clock(Arc::new(SystemClock))
        .transport(Arc::new(sip))
        .flow("ivr", Arc::new(CollectDigits(tx)))
        .route("*", "ivr")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/uac_dtmf.xml");
    let out = sipp(free_port(), target)
        .args(["-sf", scenario, "-s", "ivr", "-trace_err"])
        .args(["-key", "dtmf_pcap", pcap.to_str().unwrap()])
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    let (digits, recording) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the flow collected digits")
        .expect("digits");
    assert_eq!(digits, "1234", "RFC 4733 digits from SIPp, '#' terminates");
    let wav = std::fs::read(dir.join(&recording)).unwrap();
    // 44-byte header, then 8 kHz 16-bit mono: 0.5 s is 8000 bytes
    assert!(wav.len() >= 44 + 7000, "{recording}: {} bytes", wav.len());
    assert_eq!(
        out.status.code(),
        Some(0),
        "sipp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    center.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[derive(Debug)]
struct WaitForHangup;

#[async_trait]
impl Flow for WaitForHangup {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        call.leg().ended().await;
        Ok(FlowOutcome::Done(EndReason::CustomerHangup))
    }
}

/// SIPp holds us with a re-INVITE (`a=sendonly`): our leg answers `recvonly` and its
/// media stops sending; the resume (`a=sendrecv`) starts it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_reinvite_hold_stops_our_rtp_and_resume_restarts_it() {
    if !peer_available("sipp", "-v", "sip-tester") {
        return;
    }
    let base = 28200 + (std::process::id() % 10) as u16 * 16;
    let watched = Arc::new(Watched::new(RtpMedia::new(RtpMediaConfig::loopback(
        base..=base + 15,
    ))));
    let sip = SipTransport::start(
        sip_config(0, false),
        Arc::new(SystemClock),
        Some(watched.clone()),
    )
    .await
    .unwrap();
    let target = sip.local_addr().port();
    let center = Center::builder()
        .clock(Arc::new(SystemClock))
        .transport(Arc::new(sip))
        .flow("wait", Arc::new(WaitForHangup))
        .route("*", "wait")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/uac_hold.xml");
    let mut child = sipp(free_port(), target)
        .args(["-sf", scenario, "-s", "hold", "-trace_err"])
        .spawn()
        .unwrap();
    // RTP packets our leg has sent, every 100 ms
    let mut samples = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let sent = watched.rtp_legs().first().map(|l| l.rtp().stats().sent);
        samples.push(sent.unwrap_or(0));
        assert!(samples.len() < 300, "sipp did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut stderr).await;
    }
    assert_eq!(status.code(), Some(0), "sipp failed: {stderr}");
    // the longest stretch without a packet sent, after sending had started
    let start = samples
        .iter()
        .position(|&s| s > 0)
        .expect("our leg sent RTP");
    let (mut best, mut run, mut best_end) = (0usize, 0usize, 0usize);
    for i in start + 1..samples.len() {
        run = if samples[i] == samples[i - 1] {
            run + 1
        } else {
            0
        };
        if run > best {
            best = run;
            best_end = i;
        }
    }
    eprintln!("sent every 100 ms: {samples:?}");
    assert!(best >= 14, "no hold gap of about 2 s: {samples:?}");
    let before = samples[best_end - best] - samples[start];
    let after = samples.last().copied().unwrap_or(0) - samples[best_end];
    assert!(before >= 40, "sending before the hold: {samples:?}");
    assert!(after >= 40, "sending after the resume: {samples:?}");
    center.shutdown().await;
}

#[derive(Debug)]
struct ToSupport;

#[async_trait]
impl Flow for ToSupport {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        let outcome = call.enqueue("support").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

fn baresip_dir(sip_port: u16, rtp_base: u16) -> std::path::PathBuf {
    let dir = temp_dir("baresip");
    std::fs::create_dir_all(dir.join("rec")).unwrap();
    std::fs::write(dir.join("tone.wav"), tone_wav(440.0, 30)).unwrap();
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{}\nnet_interface 127.0.0.1\n\
         call_local_timeout 120\ncall_max_calls 4\n\
         audio_source aufile,{}\naudio_player aubridge,nil\naudio_alert aubridge,nil\n\
         ausrc_srate 8000\nauplay_srate 8000\nausrc_channels 1\nauplay_channels 1\n\
         audio_buffer 20-160\nrtp_ports {}-{}\nrtcp_mux no\njitter_buffer_delay 5-10\n\
         snd_path {}\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
         module_tmp uuid.so\nmodule_tmp account.so\n",
        free_port(),
        dir.join("tone.wav").display(),
        rtp_base,
        rtp_base + 9,
        dir.join("rec").display(),
    );
    std::fs::write(dir.join("config"), config).unwrap();
    // Agent 1001 registers here with its password and answers automatically.
    let account = format!(
        "<sip:1001@127.0.0.1>;auth_pass=s3cret;outbound=\"sip:127.0.0.1:{sip_port}\";\
         regint=60;answermode=auto;audio_codecs=PCMU\n"
    );
    std::fs::write(dir.join("accounts"), account).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_agent_registers_and_takes_a_bridged_call_from_sipp() {
    if !peer_available("sipp", "-v", "sip-tester") || !peer_available("baresip", "-h", "baresip") {
        return;
    }
    let clock = Arc::new(SystemClock);
    let recordings = temp_dir("bridged-rec");
    let base = 28400 + (std::process::id() % 10) as u16 * 16;
    let mut media = RtpMediaConfig::loopback(base..=base + 15);
    media.recordings_dir = recordings.clone();
    let stores = callcore::Stores::in_memory();
    let watched = Arc::new(Watched::new(
        RtpMedia::new(media).with_recording_store(stores.recordings.clone(), clock.clone()),
    ));
    let sip_port = free_port();
    let sip = SipTransport::start(
        sip_config(sip_port, true),
        clock.clone(),
        Some(watched.clone()),
    )
    .await
    .unwrap();
    let sip_port = sip.local_addr().port();
    let sip = Arc::new(sip);
    let center = Center::builder()
        .clock(clock.clone())
        .stores(stores.clone())
        .transport(sip.clone())
        .flow("support", Arc::new(ToSupport))
        .route("*", "support")
        // the runtime asks the port to record each bridged conversation
        .record_calls(true)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("support"))
        .await
        .unwrap();
    center
        .add_agent(
            AgentProfile::new("1001").with_endpoint(Endpoint::Sip("sip:1001@127.0.0.1".into())),
        )
        .await
        .unwrap();
    center
        .set_agent_state(&"1001".into(), AgentState::Available)
        .await
        .unwrap();

    let bdir = baresip_dir(sip_port, 28600 + (std::process::id() % 8) as u16 * 10);
    let log = std::fs::File::create(bdir.join("baresip.log")).unwrap();
    let mut baresip = Command::new("baresip")
        .args(["-f", bdir.to_str().unwrap(), "-t", "40", "-s"])
        .current_dir(&bdir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // baresip registers with digest auth (401, then REGISTER with credentials)
    let registered = tokio::time::timeout(Duration::from_secs(10), async {
        while sip.sip().lookup("sip:1001@127.0.0.1").await.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        registered.is_ok(),
        "baresip did not register as agent 1001: {}",
        std::fs::read_to_string(bdir.join("baresip.log")).unwrap_or_default()
    );

    // SIPp's built-in uac_pcap plays pcap/g711a.pcap (7 s of A-law speech) and
    // pcap/dtmf_2833_1.pcap from its working folder: Debian ships them
    std::os::unix::fs::symlink("/usr/share/sip-tester", bdir.join("pcap")).unwrap();
    let mut events = center.subscribe();
    let out = sipp(free_port(), sip_port)
        .args(["-sn", "uac_pcap", "-s", "support", "-trace_err"])
        .current_dir(&bdir)
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "sipp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the interaction ends, the record is stored
    let mut interaction = None;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(e) = events.recv().await {
            if let callcore::EventKind::Ended { interaction: i, .. } = &e.kind {
                interaction = Some(i.clone());
                return;
            }
        }
    })
    .await;
    let interaction = interaction.expect("the call ended");
    center.flush().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let record = stores
        .interactions
        .get(&TenantId::new("t1"), &interaction)
        .await
        .unwrap()
        .expect("record stored");
    assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("1001"));
    assert!(
        record.answered_at.is_some() && record.talk_ms >= 3000,
        "{record:?}"
    );

    let legs = watched.rtp_legs();
    assert_eq!(legs.len(), 2, "one caller leg and one agent leg");
    let stats: Vec<_> = legs.iter().map(|l| l.rtp().stats()).collect();
    eprintln!("leg media: {stats:?}");
    for (name, s) in ["caller (SIPp)", "agent (baresip)"].iter().zip(&stats) {
        assert!(s.received >= 150, "{name}: {s:?}");
        assert!(s.relayed >= 150, "{name}: relayed {s:?}");
        assert!(s.voiced_frames >= 100, "{name}: voiced {s:?}");
        assert!(s.sent >= 150, "{name}: sent {s:?}");
    }
    // the stereo recording holds both sides' audio, and is filed
    let files = stores
        .recordings
        .for_interaction(&TenantId::new("t1"), &interaction)
        .await
        .unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    let wav = std::fs::read(&files[0].path).unwrap();
    let power = wav_channel_power(&wav, 2);
    eprintln!("recording {:?}: channel power {power:?} dB", files[0]);
    assert!(power[0] > -45.0 && power[1] > -45.0, "{power:?}");
    assert!(files[0].duration_ms >= 3000, "{:?}", files[0]);
    // the port reported the recording's start and stop, for the runtime's events
    let reports = watched.reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (started, stopped) = &reports[0];
    assert_eq!(started.interaction, interaction);
    assert_eq!(
        (started.channels, started.path.as_str()),
        (2, files[0].path.as_str())
    );
    let stopped = stopped
        .as_ref()
        .expect("the port reported the recording's end");
    assert_eq!(stopped.id, files[0].id);
    assert_eq!(stopped.duration_ms, files[0].duration_ms);

    let _ = baresip.kill().await;
    center.shutdown().await;
    let _ = std::fs::remove_dir_all(&bdir);
    let _ = std::fs::remove_dir_all(&recordings);
}
