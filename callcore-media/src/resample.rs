//! Sample-rate conversion, the one callcore uses (prompts, speech engines'
//! 8 ⇄ 16 / 22.05 kHz): a windowed-sinc resampler (Blackman window,
//! low-pass at 0.45 × the lower rate) for any pair of rates, and mono down-mixing.
//!
//! ```
//! use callcore_media::resample::resample;
//! let at_16k: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.2).sin()).collect();
//! let at_8k = resample(&at_16k, 16000, 8000);
//! assert_eq!(at_8k.len(), 800);
//! ```

/// Kernel half-width in zero crossings of the low-pass filter.
const ZERO_CROSSINGS: f64 = 12.0;

/// Resamples mono `input` from `from` Hz to `to` Hz.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || from == 0 || to == 0 || input.is_empty() {
        return input.to_vec();
    }
    let ratio = f64::from(to) / f64::from(from);
    let out_len = ((input.len() as f64) * ratio).round() as usize;
    // cutoff as a fraction of the input rate
    let cutoff = 0.5 * ratio.min(1.0) * 0.9;
    let half_width = (ZERO_CROSSINGS / (2.0 * cutoff)).ceil() as i64; // in input samples
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let t = n as f64 / ratio;
        let center = t.floor() as i64;
        let mut acc = 0.0f64;
        let mut norm = 0.0f64;
        for k in (center - half_width + 1)..=(center + half_width) {
            let d = t - k as f64;
            let x = 2.0 * cutoff * d;
            let sinc = if x.abs() < 1e-9 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            let w_pos = (d / half_width as f64 + 1.0) / 2.0; // 0..1 across the window
            if !(0.0..=1.0).contains(&w_pos) {
                continue;
            }
            let w = 0.42 - 0.5 * (2.0 * std::f64::consts::PI * w_pos).cos()
                + 0.08 * (4.0 * std::f64::consts::PI * w_pos).cos();
            let h = sinc * w;
            norm += h;
            if k >= 0
                && let Some(&v) = input.get(k as usize)
            {
                acc += f64::from(v) * h;
            }
        }
        out.push(if norm.abs() > 1e-12 {
            (acc / norm) as f32
        } else {
            0.0
        });
    }
    out
}

/// Resamples mono 16-bit `input` from `from` Hz to `to` Hz (through
/// [`resample`]; the input unchanged when the rates are equal).
pub fn resample_i16(input: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to {
        return input.to_vec();
    }
    let f: Vec<f32> = input.iter().map(|&s| f32::from(s) / 32768.0).collect();
    to_i16(&resample(&f, from, to))
}

/// Averages interleaved channels into mono.
pub fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|c| c.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// Converts float samples in [-1, 1] to 16-bit.
pub fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        (0..(f64::from(rate) * secs) as usize)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as f32
            })
            .collect()
    }

    fn power(x: &[f32]) -> f64 {
        x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64
    }

    #[test]
    fn keeps_passband_tones_and_removes_aliases() {
        for from in [16000, 22050, 44100, 48000] {
            let pass = resample(&tone(1000.0, from, 0.5), from, 8000);
            assert_eq!(pass.len(), 4000);
            let p = power(&pass[400..3600]);
            assert!((p - 0.125).abs() < 0.01, "{from}: passband power {p}");
            // 6 kHz would alias to 2 kHz at 8 kHz: it must be suppressed (> 40 dB)
            let stop = resample(&tone(6000.0, from, 0.5), from, 8000);
            let p = power(&stop[400..3600]);
            assert!(p < 0.125e-4, "{from}: alias power {p}");
        }
    }

    #[test]
    fn upsampling_and_helpers() {
        let up = resample(&tone(440.0, 8000, 0.1), 8000, 16000);
        assert_eq!(up.len(), 1600);
        assert!((power(&up[100..1500]) - 0.125).abs() < 0.01);
        assert_eq!(downmix(&[1.0, 0.0, 0.5, 0.5], 2), vec![0.5, 0.5]);
        assert_eq!(to_i16(&[1.0, -1.0, 2.0]), vec![32767, -32767, 32767]);
        assert!(resample(&[], 44100, 8000).is_empty());
    }
}
