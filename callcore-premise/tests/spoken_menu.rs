//! Spoken IVR menus in the premise center (feature `asr-whisper`): SIPp callers
//! whose audio is espeak-ng speech (µ-law, 8 kHz, over RTP) say what they want
//! after the menu, and five different requests reach the right queues through
//! Whisper and the menu's words; a caller who says nothing is asked again and
//! gets through with a key.
//!
//! `cargo test -p callcore-premise --features asr-whisper --test spoken_menu`
//! (the model: `scripts/fetch-asr-model.sh`, then `CALLCORE_WHISPER_MODEL`).
//! Skipped with a notice without sipp, espeak-ng or the model, unless
//! `CALLCORE_REQUIRE_PEERS=1`.

#![cfg(feature = "asr-whisper")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "call_support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use callcore::EventKind;
use callcore_premise::{Premise, PremiseConfig};
use support::{Caller, config, data_dir, rms, wait_for};

fn required() -> bool {
    std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1")
}

fn skip(why: &str) {
    assert!(!required(), "{why} (CALLCORE_REQUIRE_PEERS=1)");
    eprintln!("NOTICE: {why}; skipping the spoken menu test");
}

/// espeak-ng's speech of `text` at 8 kHz.
fn speech(text: &str) -> Option<Vec<i16>> {
    let out = Command::new("espeak-ng")
        .args(["--stdout", "-v", "en-us", "-s", "150", text])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let clip = callcore_media::wav::read_wav(&out.stdout).ok()?;
    Some(callcore_media::resample::resample_i16(
        &clip.to_mono(),
        clip.sample_rate,
        8000,
    ))
}

/// Waits until the center has spoken and then been quiet for 800 ms (the menu
/// is read out and the IVR listens).
async fn menu_read_out(caller: &Caller) {
    assert!(
        caller.phone.wait_audio(Duration::from_secs(10)).await,
        "the center says nothing"
    );
    let first = caller.phone.first_audio().unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let now = Instant::now();
        if now - first > Duration::from_millis(1500)
            && rms(&caller.phone.heard(now - Duration::from_millis(800), now)) < 200.0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the menu never ended");
}

fn spoken_config(dir: &std::path::Path) -> PremiseConfig {
    let mut cfg = config(dir, "");
    // a third queue for billing, beside the support config's support and sales
    let extra = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(
        "[[queues]]\nid = \"billing\"\nskill = \"support\"\n",
    ))
    .unwrap();
    cfg.queues.extend(extra.queues);
    let menu = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(
        r#"[ivr]
greeting = "Hello."
default_queue = "support"
menu = [
  { key = "1", label = "billing", queue = "billing", words = ["bill", "invoice", "charge", "payment"] },
  { key = "2", label = "technical support", queue = "support", words = ["internet", "not working", "broken", "signal"] },
  { key = "3", label = "sales", queue = "sales", words = ["buy", "new phone", "upgrade", "order"] },
]
"#,
    ))
    .unwrap();
    cfg.ivr = menu.ivr;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_say_what_they_want_and_reach_the_right_queue() {
    if !support::sipp_ready("the spoken menu test") {
        return;
    }
    if std::env::var_os("CALLCORE_WHISPER_MODEL").is_none() {
        return skip("CALLCORE_WHISPER_MODEL is not set (scripts/fetch-asr-model.sh)");
    }
    let Some(_) = speech("test") else {
        return skip("espeak-ng is not installed");
    };
    let dir = data_dir("spoken-menu");
    let premise = Premise::start(spoken_config(&dir)).await.unwrap();
    assert!(
        premise.banner().contains("IVR menus: spoken or keyed"),
        "{}",
        premise.banner()
    );
    let center = premise.center().clone();
    let mut events = center.subscribe();

    let requests = [
        ("I have a question about my bill.", "billing"),
        ("My internet is not working.", "support"),
        ("I would like to buy a new phone.", "sales"),
        (
            "There is a charge on my account that I do not recognize.",
            "billing",
        ),
        ("I want to upgrade my plan.", "sales"),
    ];
    let mut right = 0;
    for (text, queue) in requests {
        let caller = Caller::silent(premise.sip_addr()).await;
        menu_read_out(&caller).await;
        caller.phone.say(speech(text).unwrap());
        let reached = wait_for(&mut events, 30, "the caller queued", |e| match e {
            EventKind::Queued { queue, .. } => Some(queue.as_str().to_owned()),
            _ => None,
        })
        .await;
        eprintln!("said {text:?}: queued in {reached} (expected {queue})");
        right += usize::from(reached == queue);
        drop(caller);
    }
    assert_eq!(right, requests.len(), "spoken requests in the wrong queue");

    // silence: asked again (the keys are read out again), then a key press works
    let caller = Caller::silent(premise.sip_addr()).await;
    menu_read_out(&caller).await;
    // after the no-input timeout the center speaks again ...
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let now = Instant::now();
        assert!(now < until, "the silent caller was not asked again");
        if rms(&caller.phone.heard(now - Duration::from_millis(300), now)) > 500.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ... reads the keys out again, and the caller presses one
    menu_read_out(&caller).await;
    caller.phone.press(3);
    let reached = wait_for(&mut events, 20, "the keyed caller queued", |e| match e {
        EventKind::Queued { queue, .. } => Some(queue.as_str().to_owned()),
        _ => None,
    })
    .await;
    assert_eq!(reached, "sales");
    drop(caller);
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
