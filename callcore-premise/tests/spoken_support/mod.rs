//! What the spoken-menu tests (`spoken_menu.rs`, `spoken_menu_zh.rs`) share:
//! how long the center speaks before it listens, and where the next caller
//! was queued with the words the center heard.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use callcore::{EventKind, InteractionId, SpeechSynthesizer, VoiceOptions};
use callcore_ivr::flow::spoken_choice;
use callcore_premise::PremiseConfig;
use callcore_premise::speech::PremiseVoice;
use callcore_runtime::EventSubscriber;

/// How long the center speaks before it listens: the greeting, then the menu
/// as the flow words it in the menu's language (the clips the center speaks).
pub async fn menu_ms(cfg: &PremiseConfig) -> u64 {
    let voice = PremiseVoice::detect();
    let language = cfg.ivr.language.as_deref();
    let menu: String = cfg
        .ivr
        .menu
        .iter()
        .map(|m| spoken_choice(language, &m.label, &m.key))
        .collect();
    let mut ms = 0;
    for text in [cfg.ivr.greeting.clone(), menu] {
        let clip = voice
            .synthesize(&text, &VoiceOptions::default())
            .await
            .unwrap();
        ms += clip.samples.len() as u64 * 1000 / u64::from(clip.sample_rate);
    }
    ms
}

/// What became of the next caller: its queue, the words the center heard
/// (the customer's transcript segments) and when it was queued.
pub async fn next_queued(
    events: &mut EventSubscriber,
    secs: u64,
) -> (String, Vec<String>, Instant) {
    let mut heard: Vec<(InteractionId, String)> = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let e = tokio::time::timeout_at(until, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no caller queued within {secs} s"))
            .unwrap();
        match &e.kind {
            EventKind::TranscriptSegment {
                interaction, text, ..
            } => {
                eprintln!("heard: {:?}", text.expose());
                heard.push((interaction.clone(), text.expose().clone()));
            }
            EventKind::Queued {
                interaction, queue, ..
            } => {
                let words = heard
                    .iter()
                    .filter(|(i, _)| i == interaction)
                    .map(|(_, t)| t.clone())
                    .collect();
                return (queue.as_str().to_owned(), words, Instant::now());
            }
            _ => {}
        }
    }
}
