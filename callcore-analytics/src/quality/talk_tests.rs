#![allow(clippy::unwrap_used)]

use super::*;

const LOUD: i16 = 3000;

/// A frame of `ms` (multiple of 10) of tone (`on`) or quiet.
fn frame(on: bool, ms: u64) -> Vec<i16> {
    let n = usize::try_from(ms * 8).unwrap();
    (0..n)
        .map(|i| {
            if on {
                if (i / 4) % 2 == 0 { LOUD } else { -LOUD }
            } else {
                0
            }
        })
        .collect()
}

/// Feeds `ms` of both sides in 20 ms frames from `from`: `customer` and
/// `agent` say whether each speaks at a time.
fn feed(
    meter: &mut TalkMeter,
    from: u64,
    to: u64,
    customer: impl Fn(u64) -> bool,
    agent: impl Fn(u64) -> bool,
) {
    let c: &dyn Fn(u64) -> bool = &customer;
    let a: &dyn Fn(u64) -> bool = &agent;
    let mut t = from;
    while t < to {
        for (speaker, on) in [(Speaker::Customer, c), (Speaker::Agent, a)] {
            let mut pcm = frame(on(t), 10);
            pcm.extend(frame(on(t + 10), 10));
            meter.handle_frame(speaker, t + 20, &pcm);
        }
        t += 20;
    }
}

fn within(t: u64, spans: &[(u64, u64)]) -> bool {
    spans.iter().any(|&(a, b)| a <= t && t < b)
}

fn drain(meter: &mut TalkMeter) -> Vec<TalkEvent> {
    std::iter::from_fn(|| meter.poll_event()).collect()
}

#[test]
fn gaps_and_talk_over_are_measured_to_the_slot() {
    // agent 0-2000 and 5000-6000 (a 150 ms pause inside the first, between
    // words); customer 3000-5400: gaps 2000-3000 and 6000-7000 (customer
    // again 7000-8000), talk-over 5000-5400
    let agent = [(0, 900), (1050, 2000), (5000, 6000)];
    let customer = [(3000, 5400), (7000, 8000)];
    let mut meter = TalkMeter::new(TalkSettings::default(), 0);
    feed(
        &mut meter,
        0,
        9000,
        |t| within(t, &customer),
        |t| within(t, &agent),
    );
    let f = meter.finish(9000);
    assert_eq!(f.silences, vec![(2000, 3000), (6000, 7000)]);
    assert_eq!(f.talk_overs, vec![(5000, 5400)]);
    assert_eq!(f.talk_over_ms, 400);
    assert_eq!(f.agent_talk_ms, 3000, "the pause between words is speech");
    assert_eq!(f.customer_talk_ms, 3400);
    // the trailing second is silence too
    assert_eq!(f.silence_ms, 3000);
    assert_eq!(f.conversation_ms, 9000);
}

#[test]
fn utterances_come_in_the_order_they_began_with_their_audio() {
    let agent = [(500, 1500), (4000, 6000)];
    let customer = [(1000, 3500)];
    let mut meter = TalkMeter::new(TalkSettings::default(), 0);
    feed(
        &mut meter,
        0,
        8000,
        |t| within(t, &customer),
        |t| within(t, &agent),
    );
    meter.finish(8000);
    let got: Vec<(Speaker, u64, u64, usize)> = drain(&mut meter)
        .into_iter()
        .filter_map(|e| match e {
            TalkEvent::Utterance {
                speaker,
                start_ms,
                end_ms,
                samples,
            } => Some((speaker, start_ms, end_ms, samples.len())),
            TalkEvent::Alert { .. } => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (Speaker::Agent, 500, 1500, 1400 * 8),
            (Speaker::Customer, 1000, 3500, 2900 * 8),
            (Speaker::Agent, 4000, 6000, 2400 * 8),
        ]
    );
}

#[test]
fn clicks_are_not_speech_and_a_silent_side_needs_no_frames() {
    let mut meter = TalkMeter::new(TalkSettings::default(), 1000);
    // the customer's phone sends nothing at all; the agent clicks once (40 ms)
    let mut t = 1000;
    while t < 4000 {
        let on = (2000..2040).contains(&t);
        meter.handle_frame(Speaker::Agent, t + 20, &frame(on, 20));
        t += 20;
    }
    meter.handle_timeout(4000 + 60);
    let f = meter.finish(4000);
    assert_eq!((f.agent_talk_ms, f.customer_talk_ms), (0, 0));
    assert_eq!(f.silence_ms, 3000);
    assert!(f.silences.is_empty(), "no speech, so no gap between speech");
}

#[test]
fn late_frames_follow_on_and_a_long_hole_is_silence() {
    let mut meter = TalkMeter::new(TalkSettings::default(), 0);
    // the customer speaks 0-1000 with frames arriving up to 30 ms late,
    // then nothing arrives until 3000, then speech to 4000
    let mut t = 0;
    while t < 1000 {
        let late = if (t / 20) % 3 == 0 { 30 } else { 0 };
        meter.handle_frame(Speaker::Customer, t + 20 + late, &frame(true, 20));
        meter.handle_frame(Speaker::Agent, t + 20, &frame(false, 20));
        t += 20;
    }
    let mut t = 3000;
    while t < 4000 {
        meter.handle_frame(Speaker::Customer, t + 20, &frame(true, 20));
        t += 20;
    }
    let f = meter.finish(4000);
    assert_eq!(f.customer_talk_ms, 2000);
    assert_eq!(f.silences, vec![(1000, 3000)]);
}

#[test]
fn dead_air_and_talk_over_alert_live_once_per_stretch() {
    let settings = TalkSettings {
        silence_alert_ms: Some(3000),
        talk_over_alert_ms: Some(1000),
        ..TalkSettings::default()
    };
    let mut meter = TalkMeter::new(settings, 0);
    let agent = [(0, 1000), (6000, 8000)];
    let customer = [(6500, 8000)];
    // nothing arrives at all between 1000 and 6000: the timer sees the dead air
    feed(
        &mut meter,
        0,
        1000,
        |t| within(t, &customer),
        |t| within(t, &agent),
    );
    let mut alerts = Vec::new();
    for now in (1000..=5000).step_by(100) {
        meter.handle_timeout(now);
        alerts.extend(drain(&mut meter).into_iter().filter_map(|e| match e {
            TalkEvent::Alert {
                rule, offset_ms, ..
            } => Some((rule, offset_ms, now)),
            TalkEvent::Utterance { .. } => None,
        }));
    }
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (rule, offset, seen) = alerts[0];
    assert_eq!((rule, offset), ("long_silence", 1000));
    // the timeline settles `jitter_ms` behind the clock
    let hold = TalkSettings::default().jitter_ms;
    assert!(
        seen <= 4000 + hold + 100,
        "raised at {seen} ms, 3 s after 1000 ms"
    );
    feed(
        &mut meter,
        6000,
        9000,
        |t| within(t, &customer),
        |t| within(t, &agent),
    );
    meter.finish(9000);
    let rest: Vec<(&str, u64)> = drain(&mut meter)
        .into_iter()
        .filter_map(|e| match e {
            TalkEvent::Alert {
                rule, offset_ms, ..
            } => Some((rule, offset_ms)),
            TalkEvent::Utterance { .. } => None,
        })
        .collect();
    assert_eq!(rest, vec![("talk_over", 6500)]);
}

/// Frames of one side as a sender on a schedule sends them: `speech` says
/// whether it speaks at a time, `arrival` when the 20 ms frame due to end at
/// a time arrives.
fn stream(
    meter: &mut TalkMeter,
    speaker: Speaker,
    to: u64,
    speech: &[(u64, u64)],
    arrival: impl Fn(u64) -> u64,
) {
    let mut t = 0;
    while t < to {
        let mut pcm = frame(within(t, speech), 10);
        pcm.extend(frame(within(t + 10, speech), 10));
        meter.handle_frame(speaker, arrival(t + 20), &pcm);
        t += 20;
    }
}

#[test]
fn a_stalled_first_frame_and_a_burst_after_a_stall_do_not_shift_a_side() {
    let truth = |customer_arrival: &dyn Fn(u64) -> u64| {
        let mut meter = TalkMeter::new(TalkSettings::default(), 0);
        let agent = [(0, 1500), (4000, 5000)];
        let customer = [(2000, 3600)];
        // the agent's frames come as due; feed the two sides in arrival order
        let mut frames: Vec<(u64, Speaker, Vec<i16>)> = Vec::new();
        let mut t = 0;
        while t < 6000 {
            for (speaker, spans, at) in [
                (Speaker::Agent, &agent[..], t + 20),
                (Speaker::Customer, &customer[..], customer_arrival(t + 20)),
            ] {
                let mut pcm = frame(within(t, spans), 10);
                pcm.extend(frame(within(t + 10, spans), 10));
                frames.push((at, speaker, pcm));
            }
            t += 20;
        }
        frames.sort_by_key(|f| f.0);
        for (at, speaker, pcm) in &frames {
            meter.handle_frame(*speaker, *at, pcm);
        }
        meter.finish(6000)
    };
    let on_time = truth(&|due| due);
    assert_eq!(on_time.silences, vec![(1500, 2000), (3600, 4000)]);
    // the customer's first frame held up 180 ms, the next ones in a burst
    // right after it (a sender catching up), then on time
    let stalled_first = truth(&|due| due.max(200));
    assert_eq!(stalled_first, on_time, "a late first frame");
    // a 250 ms stall inside the customer's speech, then a burst
    let stalled_inside = truth(&|due| {
        if (2500..2750).contains(&due) {
            2750
        } else {
            due
        }
    });
    assert_eq!(stalled_inside, on_time, "a stall and a burst");
}

#[test]
fn a_side_placed_by_arrival_alone_would_drift_but_its_schedule_does_not() {
    let mut meter = TalkMeter::new(TalkSettings::default(), 0);
    // the customer: first frame 150 ms late, then jitter of up to 40 ms on
    // every frame; speech 1000-2000 against the agent's 0-900
    stream(&mut meter, Speaker::Agent, 3000, &[(0, 900)], |due| due);
    let jitter = |due: u64| {
        if due < 150 {
            150
        } else {
            due + (due / 20 % 3) * 20
        }
    };
    stream(&mut meter, Speaker::Customer, 3000, &[(1000, 2000)], jitter);
    let f = meter.finish(3200);
    assert_eq!(f.silences, vec![(900, 1000)]);
    assert_eq!(f.customer_talk_ms, 1000);
}

#[test]
fn a_sides_utterances_are_known_until_its_first_one_going_on_or_queued() {
    // the agent speaks 500-1500, the customer 1500-3500
    let agent = [(500, 1500)];
    let customer = [(1500, 3500)];
    let mut meter = TalkMeter::new(TalkSettings::default(), 0);
    let known = |m: &TalkMeter| {
        (
            m.utterances_known_until(Speaker::Agent),
            m.utterances_known_until(Speaker::Customer),
        )
    };
    // nothing said yet: known up to the settled timeline (the jitter behind)
    feed(&mut meter, 0, 400, |_| false, |_| false);
    assert_eq!(known(&meter), (100, 100));
    // the agent's utterance is going on: theirs known to where it began
    feed(&mut meter, 400, 1400, |_| false, |t| within(t, &agent));
    assert_eq!(known(&meter), (500, 1100));
    // it ended (the gap) and is queued, not taken yet: still known to where it
    // began; the customer's is going on
    feed(
        &mut meter,
        1400,
        3000,
        |t| within(t, &customer),
        |t| within(t, &agent),
    );
    assert_eq!(known(&meter), (500, 1500));
    // taken: the agent's known to the settled timeline
    assert_eq!(drain(&mut meter).len(), 1);
    assert_eq!(known(&meter), (2700, 1500));
    // the customer's ended and queued, then taken
    feed(&mut meter, 3000, 5000, |t| within(t, &customer), |_| false);
    assert_eq!(known(&meter), (4700, 1500));
    assert_eq!(drain(&mut meter).len(), 1);
    assert_eq!(known(&meter), (4700, 4700));
}
