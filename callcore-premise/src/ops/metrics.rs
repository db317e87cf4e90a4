//! The premise's Prometheus exposition: call counters folded from the center's
//! events, the analytics engine's live queue and agent figures
//! ([`callcore_analytics::prometheus`]), SIP traffic, RTP packets and journal lag.
//!
//! Counters (`_total`) count since the process started; gauges are read at
//! scrape time. No label ever carries a phone number or a transfer target:
//! transfers are labelled by the kind of target only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use callcore::{Channel, Direction, Event, EventKind, Timestamp};
use callcore_analytics::{MetricsConfig, MetricsEngine, prometheus};
use callcore_sip::ua::stats::{CLASSES, METHODS, SipStatsSnapshot};

use super::meters::{JITTER_BUCKETS, RtpTotals};

/// Call counters folded from the center's events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallCounters {
    /// Inbound voice interactions created.
    pub offered: u64,
    /// Outbound voice interactions created (dialer lines, callbacks).
    pub outbound: u64,
    /// Entries into a queue, per queue.
    pub queued: BTreeMap<String, u64>,
    /// Connections to an agent, per queue.
    pub answered: BTreeMap<String, u64>,
    /// Callers who hung up while waiting, per queue.
    pub abandoned: BTreeMap<String, u64>,
    /// Transfers by the kind of target (`queue`, `agent`, `external`) and overflows
    /// (`overflow`).
    pub transferred: BTreeMap<&'static str, u64>,
    /// Interactions over, by end reason (`customer_hangup`, `abandoned` ...).
    pub ended: BTreeMap<String, u64>,
    /// Voice interactions created and not yet over.
    pub active: u64,
    /// The highest event sequence number seen (events emitted so far).
    pub last_seq: u64,
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
    *map.entry(key).or_default() += 1;
}

/// The kind of a transfer target as the runtime labels it (`queue:…`,
/// `agent:…`, else a number or address): never the target itself.
fn transfer_kind(target: &str) -> &'static str {
    if target.starts_with("queue:") {
        "queue"
    } else if target.starts_with("agent:") {
        "agent"
    } else {
        "external"
    }
}

impl CallCounters {
    /// Folds one event.
    pub fn apply(&mut self, event: &Event) {
        self.last_seq = self.last_seq.max(event.seq);
        match &event.kind {
            EventKind::InteractionCreated { interaction }
                if interaction.channel == Channel::Voice =>
            {
                if interaction.direction == Direction::Inbound {
                    self.offered += 1;
                } else {
                    self.outbound += 1;
                }
                self.active += 1;
            }
            EventKind::Queued { queue, .. } => bump(&mut self.queued, queue.to_string()),
            EventKind::Connected { queue, .. } => bump(&mut self.answered, queue.to_string()),
            EventKind::Abandoned { queue, .. } => bump(&mut self.abandoned, queue.to_string()),
            EventKind::Transferred { target, .. } => {
                bump(&mut self.transferred, transfer_kind(target));
            }
            EventKind::Overflowed { .. } => bump(&mut self.transferred, "overflow"),
            EventKind::Ended { reason, .. } => {
                let name = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "other".into());
                bump(&mut self.ended, name);
                self.active = self.active.saturating_sub(1);
            }
            _ => {}
        }
    }
}

/// Everything one scrape shows.
#[derive(Debug)]
pub struct Scrape<'a> {
    /// Call counters.
    pub calls: &'a CallCounters,
    /// The analytics engine (queues waiting, longest wait, agents by state).
    pub analytics: Option<&'a mut MetricsEngine>,
    /// The scrape's time.
    pub now: Timestamp,
    /// SIP traffic.
    pub sip: SipStatsSnapshot,
    /// Whether the SIP endpoint runs.
    pub sip_up: bool,
    /// RTP packets.
    pub rtp: RtpTotals,
    /// Events written to the journal.
    pub journaled: u64,
    /// Draining.
    pub draining: bool,
    /// The transcription queue of `[quality]` (when calls are transcribed).
    pub transcription: Option<crate::transcription_queue::TranscriptionFigures>,
}

/// A fresh analytics engine with the default configuration.
pub fn analytics_engine() -> Option<MetricsEngine> {
    MetricsEngine::new(MetricsConfig::default()).ok()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{}}} {value}", labels.join(","));
        }
    }
    fn family(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        rows: &BTreeMap<impl AsRef<str>, u64>,
    ) {
        self.head(name, "counter", help);
        for (k, v) in rows {
            self.line(name, &[(label, k.as_ref())], v);
        }
    }
}

/// Renders a scrape in the Prometheus text format (0.0.4).
pub fn render(scrape: Scrape<'_>) -> String {
    let mut o = Out(String::new());
    let c = scrape.calls;
    o.head(
        "callcore_calls_offered_total",
        "counter",
        "Inbound calls that reached the center.",
    );
    o.line("callcore_calls_offered_total", &[], c.offered);
    o.head(
        "callcore_calls_outbound_total",
        "counter",
        "Outbound calls handed to the center.",
    );
    o.line("callcore_calls_outbound_total", &[], c.outbound);
    o.family(
        "callcore_calls_queued_total",
        "Calls that entered a queue.",
        "queue",
        &c.queued,
    );
    o.family(
        "callcore_calls_answered_total",
        "Calls connected to an agent.",
        "queue",
        &c.answered,
    );
    o.family(
        "callcore_calls_abandoned_total",
        "Callers who hung up while waiting in queue.",
        "queue",
        &c.abandoned,
    );
    o.family(
        "callcore_calls_transferred_total",
        "Transfers by kind of target (queue, agent, external) and overflows.",
        "reason",
        &c.transferred,
    );
    o.family(
        "callcore_calls_ended_total",
        "Calls over, by end reason.",
        "reason",
        &c.ended,
    );
    o.head("callcore_calls_active", "gauge", "Voice calls in progress.");
    o.line("callcore_calls_active", &[], c.active);

    if let Some(engine) = scrape.analytics {
        // queue waiting, longest wait, agents by state (and the day's figures)
        o.0.push_str(&prometheus::render(&engine.snapshot(scrape.now, &[])));
    }

    let sip = &scrape.sip;
    o.head("callcore_sip_up", "gauge", "1 while the SIP endpoint runs.");
    o.line("callcore_sip_up", &[], u8::from(scrape.sip_up));
    for (name, help, counts) in [
        (
            "callcore_sip_requests_received_total",
            "SIP requests received (retransmissions included).",
            &sip.received,
        ),
        (
            "callcore_sip_requests_sent_total",
            "SIP requests sent (retransmissions included).",
            &sip.sent,
        ),
    ] {
        o.head(name, "counter", help);
        for (m, n) in METHODS.iter().zip(counts.requests) {
            o.line(name, &[("method", m)], n);
        }
    }
    for (name, help, counts) in [
        (
            "callcore_sip_responses_received_total",
            "SIP responses received, by class.",
            &sip.received,
        ),
        (
            "callcore_sip_responses_sent_total",
            "SIP responses sent, by class.",
            &sip.sent,
        ),
    ] {
        o.head(name, "counter", help);
        for (class, n) in CLASSES.iter().zip(counts.responses) {
            o.line(name, &[("class", class)], n);
        }
    }
    o.head(
        "callcore_sip_transactions",
        "gauge",
        "SIP transactions alive.",
    );
    o.line("callcore_sip_transactions", &[], sip.transactions);
    o.head(
        "callcore_sip_dialogs",
        "gauge",
        "SIP INVITE dialogs (ringing or established) alive.",
    );
    o.line("callcore_sip_dialogs", &[], sip.calls);

    let rtp = scrape.rtp;
    for (name, help, v) in [
        (
            "callcore_rtp_packets_received_total",
            "RTP packets received from far ends.",
            rtp.received,
        ),
        (
            "callcore_rtp_packets_sent_total",
            "RTP packets sent to far ends.",
            rtp.sent,
        ),
        (
            "callcore_rtp_packets_relayed_total",
            "RTP packets relayed between bridged legs.",
            rtp.relayed,
        ),
        (
            "callcore_srtp_packets_rejected_total",
            "SRTP/SRTCP packets dropped for failing authentication.",
            rtp.srtp_rejected,
        ),
        (
            "callcore_rtp_packets_expected_total",
            "RTP packets far ends sent by their sequence numbers (RFC 3550 A.3).",
            rtp.expected,
        ),
        (
            "callcore_rtp_packets_lost_total",
            "RTP packets lost on the way from far ends (expected - received).",
            rtp.lost,
        ),
    ] {
        o.head(name, "counter", help);
        o.line(name, &[], v);
    }
    o.head(
        "callcore_rtp_legs",
        "gauge",
        "Legs with RTP ports reserved.",
    );
    o.line("callcore_rtp_legs", &[], rtp.legs);
    jitter(&mut o, &rtp);

    o.head(
        "callcore_events_emitted_total",
        "counter",
        "Events the center emitted.",
    );
    o.line("callcore_events_emitted_total", &[], c.last_seq);
    o.head(
        "callcore_events_journaled_total",
        "counter",
        "Events written to the journal.",
    );
    o.line("callcore_events_journaled_total", &[], scrape.journaled);
    o.head(
        "callcore_journal_lag_events",
        "gauge",
        "Events emitted and not yet journaled.",
    );
    o.line(
        "callcore_journal_lag_events",
        &[],
        c.last_seq.saturating_sub(scrape.journaled),
    );
    o.head(
        "callcore_draining",
        "gauge",
        "1 while the center drains (refuses new calls).",
    );
    o.line("callcore_draining", &[], u8::from(scrape.draining));
    if let Some(t) = scrape.transcription {
        transcription(&mut o, &t);
    }
    o.0
}

/// The transcription queue: utterances started and shed (by reason), and
/// what waits now.
fn transcription(o: &mut Out, t: &crate::transcription_queue::TranscriptionFigures) {
    o.head(
        "callcore_transcriptions_started_total",
        "counter",
        "Utterances of live calls handed to the speech recognizer.",
    );
    o.line("callcore_transcriptions_started_total", &[], t.started);
    let name = "callcore_transcriptions_shed_total";
    o.head(
        name,
        "counter",
        "Utterances of live calls not transcribed because the recognizer was behind: \
         waited past max_transcription_lag_secs (late) or the backlog was full (full).",
    );
    o.line(name, &[("reason", "late")], t.shed_late);
    o.line(name, &[("reason", "full")], t.shed_full);
    for (name, help, v) in [
        (
            "callcore_transcriptions_waiting",
            "Utterances waiting for the speech recognizer.",
            t.waiting,
        ),
        (
            "callcore_transcriptions_running",
            "Utterances being recognised.",
            t.running,
        ),
    ] {
        o.head(name, "gauge", help);
        o.line(name, &[], v);
    }
    let secs = |ms: u64| ms as f64 / 1000.0;
    o.head(
        "callcore_transcription_backlog_seconds",
        "gauge",
        "Audio waiting for the speech recognizer.",
    );
    o.line(
        "callcore_transcription_backlog_seconds",
        &[],
        secs(t.waiting_ms),
    );
    o.head(
        "callcore_transcription_wait_max_seconds",
        "gauge",
        "The longest an utterance waited before the recognizer took it.",
    );
    o.line(
        "callcore_transcription_wait_max_seconds",
        &[],
        secs(t.max_wait_ms),
    );
}

/// Interarrival jitter (RFC 3550 A.8): the highest among live legs, and a
/// histogram of the ended legs' last jitter.
fn jitter(o: &mut Out, rtp: &RtpTotals) {
    let secs = |us: u64| us as f64 / 1e6;
    o.head(
        "callcore_rtp_jitter_max_seconds",
        "gauge",
        "The highest interarrival jitter among live legs.",
    );
    o.line(
        "callcore_rtp_jitter_max_seconds",
        &[],
        secs(rtp.jitter_max_us),
    );
    let name = "callcore_rtp_leg_jitter_seconds";
    o.head(
        name,
        "histogram",
        "Interarrival jitter of ended legs that received RTP, at their end.",
    );
    let bucket = format!("{name}_bucket");
    for (bound, n) in JITTER_BUCKETS.iter().zip(rtp.jitter_legs) {
        o.line(&bucket, &[("le", &bound.to_string())], n);
    }
    let total = rtp.jitter_legs[JITTER_BUCKETS.len()];
    o.line(&bucket, &[("le", "+Inf")], total);
    o.line(&format!("{name}_sum"), &[], secs(rtp.jitter_sum_us));
    o.line(&format!("{name}_count"), &[], total);
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::{EndReason, Interaction};

    fn ev(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            at: Timestamp::from_secs(1_700_000_000),
            tenant: "default".into(),
            kind,
        }
    }

    #[test]
    fn counters_fold_events_and_never_label_a_number() {
        let mut c = CallCounters::default();
        let call = Interaction::new(
            "c1".into(),
            "default".into(),
            Channel::Voice,
            Direction::Inbound,
            "+15550100",
            "ivr",
            Timestamp::from_secs(1_700_000_000),
        );
        c.apply(&ev(
            1,
            EventKind::InteractionCreated {
                interaction: Box::new(call),
            },
        ));
        c.apply(&ev(
            2,
            EventKind::Queued {
                interaction: "c1".into(),
                queue: "support".into(),
                position: 1,
                estimated_wait_secs: None,
            },
        ));
        c.apply(&ev(
            3,
            EventKind::Transferred {
                interaction: "c1".into(),
                target: "+15550199".into(),
            },
        ));
        assert_eq!(c.active, 1);
        c.apply(&ev(
            4,
            EventKind::Ended {
                interaction: "c1".into(),
                reason: EndReason::Transferred,
            },
        ));
        assert_eq!((c.offered, c.active, c.last_seq), (1, 0, 4));
        let text = render(Scrape {
            calls: &c,
            analytics: None,
            now: Timestamp::from_secs(1_700_000_001),
            sip: SipStatsSnapshot::default(),
            sip_up: true,
            rtp: RtpTotals::default(),
            journaled: 3,
            draining: false,
            transcription: None,
        });
        assert!(text.contains("callcore_calls_offered_total 1\n"), "{text}");
        assert!(text.contains("callcore_calls_queued_total{queue=\"support\"} 1\n"));
        assert!(text.contains("callcore_calls_transferred_total{reason=\"external\"} 1\n"));
        assert!(text.contains("callcore_calls_ended_total{reason=\"transferred\"} 1\n"));
        assert!(text.contains("callcore_journal_lag_events 1\n"));
        assert!(!text.contains("555"), "no number in the exposition");
    }

    #[test]
    fn rtp_loss_the_jitter_histogram_and_the_transcription_queue_render() {
        let mut legs = [0; JITTER_BUCKETS.len() + 1];
        // two ended legs: 3 ms and 30 ms of jitter
        for (i, bound) in JITTER_BUCKETS.iter().enumerate() {
            legs[i] = u64::from(*bound >= 0.003) + u64::from(*bound >= 0.03);
        }
        legs[JITTER_BUCKETS.len()] = 2;
        let text = render(Scrape {
            calls: &CallCounters::default(),
            analytics: None,
            now: Timestamp::from_secs(1_700_000_001),
            sip: SipStatsSnapshot::default(),
            sip_up: true,
            rtp: RtpTotals {
                received: 90,
                expected: 100,
                lost: 10,
                jitter_max_us: 2500,
                jitter_legs: legs,
                jitter_sum_us: 33_000,
                ..RtpTotals::default()
            },
            journaled: 0,
            draining: false,
            transcription: Some(crate::transcription_queue::TranscriptionFigures {
                started: 40,
                shed_late: 7,
                shed_full: 1,
                waiting: 2,
                waiting_ms: 2500,
                running: 2,
                max_wait_ms: 19_800,
            }),
        });
        for line in [
            "callcore_rtp_packets_expected_total 100\n",
            "callcore_rtp_packets_lost_total 10\n",
            "callcore_rtp_jitter_max_seconds 0.0025\n",
            "# TYPE callcore_rtp_leg_jitter_seconds histogram\n",
            "callcore_rtp_leg_jitter_seconds_bucket{le=\"0.001\"} 0\n",
            "callcore_rtp_leg_jitter_seconds_bucket{le=\"0.005\"} 1\n",
            "callcore_rtp_leg_jitter_seconds_bucket{le=\"0.05\"} 2\n",
            "callcore_rtp_leg_jitter_seconds_bucket{le=\"+Inf\"} 2\n",
            "callcore_rtp_leg_jitter_seconds_sum 0.033\n",
            "callcore_rtp_leg_jitter_seconds_count 2\n",
            "callcore_transcriptions_started_total 40\n",
            "callcore_transcriptions_shed_total{reason=\"late\"} 7\n",
            "callcore_transcriptions_shed_total{reason=\"full\"} 1\n",
            "callcore_transcriptions_waiting 2\n",
            "callcore_transcription_backlog_seconds 2.5\n",
            "callcore_transcription_wait_max_seconds 19.8\n",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
    }
}
