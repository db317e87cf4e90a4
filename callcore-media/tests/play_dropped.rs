//! A prompt whose future is dropped stops sounding: music on hold is dropped
//! the moment an agent connects (callcore-runtime's waiting), and what was
//! queued of it must not go on playing to the caller.
#![cfg(feature = "callcore-control")]

use std::time::Duration;

use callcore::{MediaControl, Prompt};
use callcore_media::control::VoiceLegMedia;
use callcore_media::endpoint::EndpointConfig;
use callcore_media::level::mean_power;
use callcore_media::tones::{ToneGenerator, TonePlan, ToneSegment};
use callcore_media::udp::{MediaSession, MediaSessionConfig, PortAllocator, SessionEvent};

/// Mean power of what `phone` receives over `frames` × 20 ms.
async fn heard(phone: &mut MediaSession, frames: usize) -> f64 {
    let mut power = 0.0;
    let mut n = 0;
    while n < frames {
        match tokio::time::timeout(Duration::from_secs(2), phone.next_event()).await {
            Ok(Some(SessionEvent::Audio(frame, _))) => {
                power += mean_power(&frame);
                n += 1;
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    power / n.max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_music_on_hold_stops_it() {
    let ports = PortAllocator::new("127.0.0.1".parse().expect("ip"), 33700..=33799);
    let config = |ssrc| MediaSessionConfig {
        endpoint: EndpointConfig {
            ssrc,
            ..Default::default()
        },
        ..Default::default()
    };
    let center = MediaSession::start(&ports, config(1))
        .await
        .expect("session");
    let mut phone = MediaSession::start(
        &ports,
        MediaSessionConfig {
            remote: Some(center.local_rtp()),
            ..config(2)
        },
    )
    .await
    .expect("session");
    // the phone speaks first so that the center's side latches onto it
    phone.command(callcore_media::udp::SessionCommand::Play(vec![0; 1600]));
    let dir = std::env::temp_dir().join(format!("callcore-play-dropped-{}", std::process::id()));
    // ten seconds of a steady tone as the music
    let music = ToneGenerator::new(
        TonePlan {
            segments: vec![ToneSegment::tone(&[440.0], -12.0, 10_000)],
            repeat: false,
        },
        8000,
    )
    .take_ms(10_000);
    let leg = VoiceLegMedia::new(center, dir.join("prompts"), dir.join("recordings"))
        .with_music_on_hold(music);
    let playing = tokio::time::timeout(
        Duration::from_millis(600),
        leg.play(&Prompt::MusicOnHold, true),
    );
    let (dropped, during) = tokio::join!(playing, heard(&mut phone, 25));
    assert!(dropped.is_err(), "the music plays until dropped");
    // a little of what was sent before the drop may still be in flight
    let _ = heard(&mut phone, 25).await;
    let after = heard(&mut phone, 50).await;
    assert!(during > 1e6, "the music was heard: {during:.0}");
    assert!(
        after < during / 100.0,
        "silence once dropped: {after:.0} (was {during:.0})"
    );
}
