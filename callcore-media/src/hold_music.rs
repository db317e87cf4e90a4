//! The default music on hold: a short piece composed and synthesized here, in
//! code, so every build has pleasant hold music without shipping a file (it is
//! ours, free to use: CC0).
//!
//! Eight bars in C major at 96 beats a minute, the progression C – Am – F – G
//! played twice as soft arpeggios over a low chord tone; the second time a slow
//! melody sings over it. Every note is a sine (the telephone band carries it
//! cleanly through G.711) with a quick attack and a bell-like decay, and notes
//! ringing past the end wrap round to the start, so the 20 s loop has no seam.
//! It peaks at about -12 dBFS.
//!
//! ```
//! let music = callcore_media::hold_music::default_music();
//! assert_eq!(music.len(), 20 * 8000); // 20 s at 8 kHz, looped by the player
//! assert!(music.iter().any(|&s| s.abs() > 1000));
//! ```

use std::f64::consts::PI;
use std::sync::{Arc, OnceLock};

/// Sample rate of the music: 8 kHz, as prompts.
const RATE: f64 = 8000.0;
/// One eighth note at 96 beats a minute, in seconds.
const EIGHTH: f64 = 0.3125;
/// Peak level of the rendered piece (about -12 dBFS).
const PEAK: f64 = 8000.0;

/// The chords of one pass: root position triads as MIDI notes (C4 = 60); the
/// roots sound under each bar, the arpeggios an octave higher.
const CHORDS: [[i32; 3]; 4] = [[60, 64, 67], [57, 60, 64], [53, 57, 60], [55, 59, 62]];
/// The arpeggio of a bar: chord tones by index, 3 = the root an octave up.
const ARPEGGIO: [usize; 8] = [0, 1, 2, 3, 2, 1, 2, 1];
/// The melody over the second pass: two half notes a bar (MIDI, E6 to A6),
/// chord tones of each bar.
const MELODY: [[i32; 2]; 4] = [[88, 91], [88, 84], [89, 93], [91, 86]];

/// The default music on hold, 20 s at 8 kHz, rendered once per process.
pub fn default_music() -> Arc<[i16]> {
    static MUSIC: OnceLock<Arc<[i16]>> = OnceLock::new();
    MUSIC.get_or_init(|| compose().into()).clone()
}

fn hz(midi: i32) -> f64 {
    440.0 * 2f64.powf(f64::from(midi - 69) / 12.0)
}

/// Adds one note to the loop `out` (wrapping round its end).
fn note(out: &mut [f64], start: f64, midi: i32, ring: f64, level: f64) {
    let (f, len) = (hz(midi), out.len());
    let first = (start * RATE) as usize;
    let n = (ring * 4.0 * RATE) as usize; // rings out to about -35 dB
    for i in 0..n {
        let t = i as f64 / RATE;
        let envelope = (t / 0.01).min(1.0) * (-t / ring).exp();
        out[(first + i) % len] += level * envelope * (2.0 * PI * f * t).sin();
    }
}

/// Renders the piece (see the module docs).
pub fn compose() -> Vec<i16> {
    let bar = 8.0 * EIGHTH;
    let mut out = vec![0.0f64; (2.0 * 4.0 * bar * RATE) as usize];
    for pass in 0..2 {
        for (b, chord) in CHORDS.iter().enumerate() {
            let start = (pass * 4 + b) as f64 * bar;
            // the root under the bar, the arpeggio an octave up
            note(&mut out, start, chord[0], 1.2, 0.35);
            for (k, &i) in ARPEGGIO.iter().enumerate() {
                let midi = 12 + if i == 3 { chord[0] + 12 } else { chord[i] };
                note(&mut out, start + k as f64 * EIGHTH, midi, 0.45, 0.5);
            }
            if pass == 1 {
                for (h, &midi) in MELODY[b].iter().enumerate() {
                    note(&mut out, start + h as f64 * 4.0 * EIGHTH, midi, 0.9, 0.6);
                }
            }
        }
    }
    let peak = out.iter().fold(0.0f64, |m, s| m.max(s.abs())).max(1e-9);
    out.iter()
        .map(|s| (s / peak * PEAK).round() as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_piece_is_steady_and_loops_without_a_seam() {
        let music = compose();
        assert_eq!(music.len(), 160_000);
        let peak = music.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((7900..=8000).contains(&peak), "{peak}");
        // never a silent second: hold music must not sound like a dropped call
        for second in music.chunks(8000) {
            let rms = (second.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>()
                / second.len() as f64)
                .sqrt();
            assert!(rms > 500.0, "a quiet second: rms {rms:.0}");
        }
        // the wrap-around: the last sample leads smoothly into the first
        let (last, first) = (music[music.len() - 1], music[0]);
        assert!(
            (i32::from(last) - i32::from(first)).abs() < 2000,
            "{last} → {first}"
        );
        assert!(
            Arc::ptr_eq(&default_music(), &default_music()),
            "rendered once"
        );
    }
}
