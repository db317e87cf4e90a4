//! The inspector's state per call, the live rules and the end-of-call score.

use super::lexicon::{contains_term, sentiment, spoken_ms};
use super::{QualityHit, QualityRule};
use callcore::{AgentId, Event, EventKind, InteractionId, Speaker, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One interaction's quality score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionScore {
    /// The tenant.
    pub tenant: TenantId,
    /// The interaction.
    pub interaction: InteractionId,
    /// The agent, if one was connected.
    pub agent: Option<AgentId>,
    /// When it ended.
    pub ended_at: Timestamp,
    /// 100 minus the penalties of the hits, at least 0.
    pub score: f64,
    /// Every hit, live or found at the end.
    pub hits: Vec<QualityHit>,
    /// Share of the conversation nobody spoke (None without a conversation).
    pub silence_ratio: Option<f64>,
    /// Share of the conversation both spoke at once.
    pub talk_over_ratio: Option<f64>,
    /// The customer's mean sentiment over the call, −1..=1.
    pub customer_sentiment: Option<f64>,
}

/// An agent's mean score over one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentQualityDay {
    /// The day's start (UTC midnight).
    pub day: Timestamp,
    /// Interactions scored.
    pub interactions: u32,
    /// Their mean score.
    pub mean_score: f64,
}

#[derive(Debug, Clone)]
struct Segment {
    speaker: Speaker,
    start: u64,
    end: u64,
}

#[derive(Debug, Clone)]
struct Call {
    created_at: Timestamp,
    connected_at: Option<Timestamp>,
    agent: Option<AgentId>,
    segments: Vec<Segment>,
    /// Per rule index: required phrase said, or already reported.
    settled: Vec<bool>,
    sentiments: Vec<(Speaker, f64)>,
    hits: Vec<QualityHit>,
    /// Silence and talk-over shares measured from the audio, when known
    /// before the end (they replace the estimates from the segments).
    measured: Option<(f64, f64)>,
}

/// Applies the rules to the event stream. See the module docs.
#[derive(Debug, Clone)]
pub struct QualityInspector {
    rules: Vec<QualityRule>,
    calls: HashMap<(TenantId, InteractionId), Call>,
    scores: Vec<InteractionScore>,
    agent_days: BTreeMap<(TenantId, AgentId, i64), (f64, u32)>,
}

/// 100 minus the penalties of `hits`, within 0..=100.
fn score_of(hits: &[QualityHit]) -> f64 {
    (100.0 - hits.iter().map(|h| h.penalty).sum::<f64>()).clamp(0.0, 100.0)
}

impl InteractionScore {
    /// Keeps only the hits `keep` accepts and scores the interaction again
    /// from them (a finding that cannot be judged after all, say).
    pub fn retain_hits(&mut self, keep: impl FnMut(&QualityHit) -> bool) {
        self.hits.retain(keep);
        self.score = score_of(&self.hits);
    }
}

fn offset(call: &Call, at: Timestamp) -> u64 {
    u64::try_from(at.duration_since(call.created_at).as_millis()).unwrap_or(u64::MAX)
}

/// Total length of the union of `spans` clipped to `[lo, hi)`.
fn covered(mut spans: Vec<(u64, u64)>, lo: u64, hi: u64) -> u64 {
    spans.sort_unstable();
    let (mut total, mut cur) = (0, lo);
    for (s, e) in spans {
        let (s, e) = (s.max(cur), e.min(hi));
        if e > s {
            total += e - s;
            cur = e;
        }
    }
    total
}

impl QualityInspector {
    pub(super) fn with_rules(rules: Vec<QualityRule>) -> Self {
        Self {
            rules,
            calls: HashMap::new(),
            scores: Vec::new(),
            agent_days: BTreeMap::new(),
        }
    }

    pub(super) fn deadlines(&self) -> impl Iterator<Item = Timestamp> + '_ {
        self.calls.values().flat_map(move |c| {
            self.rules
                .iter()
                .enumerate()
                .filter_map(move |(i, r)| match r {
                    QualityRule::RequiredPhrase { within_secs, .. } if !c.settled[i] => c
                        .connected_at
                        .map(|t| t + std::time::Duration::from_secs(u64::from(*within_secs))),
                    _ => None,
                })
        })
    }

    fn call(&mut self, tenant: &TenantId, id: &InteractionId, at: Timestamp) -> &mut Call {
        let n = self.rules.len();
        self.calls
            .entry((tenant.clone(), id.clone()))
            .or_insert_with(|| Call {
                created_at: at,
                connected_at: None,
                agent: None,
                segments: Vec::new(),
                settled: vec![false; n],
                sentiments: Vec::new(),
                hits: Vec::new(),
                measured: None,
            })
    }

    /// Starts following a call that arrived at `created_at` (the origin of
    /// its segments' offsets) and was connected to `agent` at
    /// `connected_at`, for a caller who sees the conversation but not its
    /// `interaction_created` and `connected` events (a live tap).
    pub fn begin(
        &mut self,
        tenant: &TenantId,
        interaction: &InteractionId,
        created_at: Timestamp,
        connected_at: Timestamp,
        agent: Option<AgentId>,
    ) {
        let c = self.call(tenant, interaction, created_at);
        c.created_at = created_at;
        c.connected_at.get_or_insert(connected_at);
        if agent.is_some() {
            c.agent = agent;
        }
    }

    /// Folds one event; returns the hits found live (alerts for supervisors).
    /// An `audio_measured` event before the `ended` one gives the silence and
    /// talk-over shares as measured from the audio.
    pub fn handle(&mut self, event: &Event) -> Vec<QualityHit> {
        let (t, at) = (&event.tenant, event.at);
        match &event.kind {
            EventKind::InteractionCreated { interaction } => {
                self.call(t, &interaction.id, interaction.created_at);
                Vec::new()
            }
            EventKind::Connected {
                interaction, agent, ..
            } => {
                let c = self.call(t, interaction, at);
                c.connected_at.get_or_insert(at);
                c.agent = Some(agent.clone());
                Vec::new()
            }
            EventKind::TranscriptSegment {
                interaction,
                speaker,
                text,
                offset_ms,
            } => self.segment(t, interaction, *speaker, text.expose(), *offset_ms, at),
            EventKind::AudioMeasured { interaction, audio } if audio.conversation_ms > 0 => {
                if let Some(c) = self.calls.get_mut(&(t.clone(), interaction.clone())) {
                    #[allow(clippy::cast_precision_loss)]
                    let share = |ms: u64| ms as f64 / audio.conversation_ms as f64;
                    c.measured = Some((share(audio.silence_ms), share(audio.talk_over_ms)));
                }
                Vec::new()
            }
            EventKind::Ended { interaction, .. } => {
                let mut hits = self.due(at, Some((t, interaction)), true);
                self.finish(t, interaction, at);
                hits.retain(|h| h.live);
                hits
            }
            _ => Vec::new(),
        }
    }

    /// Required phrases whose deadline passed by `now` without being said:
    /// live hits. Call it from a timer (see
    /// [`next_deadline`](Self::next_deadline)).
    pub fn poll(&mut self, now: Timestamp) -> Vec<QualityHit> {
        self.due(now, None, false)
    }

    /// Required phrases not said by their deadline (or by the end of the
    /// call, `at_end`) become hits; live when the deadline passed first.
    fn due(
        &mut self,
        now: Timestamp,
        only: Option<(&TenantId, &InteractionId)>,
        at_end: bool,
    ) -> Vec<QualityHit> {
        let mut out = Vec::new();
        for ((tenant, id), c) in &mut self.calls {
            if only.is_some_and(|(t, i)| (t, i) != (tenant, id)) {
                continue;
            }
            let Some(connected) = c.connected_at else {
                continue;
            };
            for (i, rule) in self.rules.iter().enumerate() {
                if let QualityRule::RequiredPhrase {
                    name,
                    within_secs,
                    penalty,
                    ..
                } = rule
                {
                    let deadline =
                        connected + std::time::Duration::from_secs(u64::from(*within_secs));
                    if !c.settled[i] && (now >= deadline || at_end) {
                        c.settled[i] = true;
                        let hit = QualityHit {
                            tenant: tenant.clone(),
                            interaction: id.clone(),
                            agent: c.agent.clone(),
                            rule: name.clone(),
                            offset_ms: offset(c, deadline.min(now.max(connected))),
                            detail: format!("not said within {within_secs} s"),
                            penalty: *penalty,
                            live: now >= deadline,
                        };
                        c.hits.push(hit.clone());
                        out.push(hit);
                    }
                }
            }
        }
        out
    }

    fn segment(
        &mut self,
        t: &TenantId,
        id: &InteractionId,
        speaker: Speaker,
        text: &str,
        offset_ms: u64,
        at: Timestamp,
    ) -> Vec<QualityHit> {
        let rules = self.rules.clone();
        let mut out = Vec::new();
        let c = self.call(t, id, at);
        c.segments.push(Segment {
            speaker,
            start: offset_ms,
            end: offset_ms + spoken_ms(text),
        });
        let score = sentiment(text);
        if let Some(s) = score {
            c.sentiments.push((speaker, s));
        }
        let connected_offset = c.connected_at.map(|t| offset(c, t));
        let mut hit = |c: &mut Call, rule: &str, detail: String, penalty: f64| {
            let h = QualityHit {
                tenant: t.clone(),
                interaction: id.clone(),
                agent: c.agent.clone(),
                rule: rule.to_owned(),
                offset_ms,
                detail,
                penalty,
                live: true,
            };
            c.hits.push(h.clone());
            out.push(h);
        };
        for (i, rule) in rules.iter().enumerate() {
            match rule {
                QualityRule::ForbiddenWords {
                    name,
                    words,
                    speaker: who,
                    penalty,
                } if who.is_none_or(|w| w == speaker) => {
                    if let Some(w) = words
                        .iter()
                        .find(|w| !w.trim().is_empty() && contains_term(text, w))
                    {
                        hit(c, name, format!("said {w:?}"), *penalty);
                    }
                }
                QualityRule::RequiredPhrase {
                    phrases,
                    within_secs,
                    speaker: who,
                    ..
                } if *who == speaker && !c.settled[i] => {
                    let in_time = connected_offset
                        .is_none_or(|co| offset_ms <= co + u64::from(*within_secs) * 1000);
                    if in_time && phrases.iter().any(|p| contains_term(text, p)) {
                        c.settled[i] = true;
                    }
                }
                QualityRule::NegativeSentiment {
                    name,
                    speaker: who,
                    threshold,
                    window,
                    penalty,
                } if *who == speaker && score.is_some() && !c.settled[i] => {
                    let recent: Vec<f64> = c
                        .sentiments
                        .iter()
                        .rev()
                        .filter(|(s, _)| s == who)
                        .take(*window)
                        .map(|(_, v)| *v)
                        .collect();
                    #[allow(clippy::cast_precision_loss)]
                    let mean = recent.iter().sum::<f64>() / recent.len() as f64;
                    if recent.len() >= (*window).min(2) && mean <= *threshold {
                        c.settled[i] = true;
                        hit(
                            c,
                            name,
                            format!(
                                "sentiment {mean:.2} over the last {} segments",
                                recent.len()
                            ),
                            *penalty,
                        );
                    }
                }
                _ => {}
            }
        }
        out.extend(self.due(at, Some((t, id)), false));
        out
    }

    fn finish(&mut self, t: &TenantId, id: &InteractionId, at: Timestamp) {
        let Some(mut c) = self.calls.remove(&(t.clone(), id.clone())) else {
            return;
        };
        let end = offset(&c, at);
        let window = c
            .connected_at
            .map(|co| (offset(&c, co), end))
            .filter(|(a, b)| b > a);
        let spans = |who: Option<Speaker>| -> Vec<(u64, u64)> {
            c.segments
                .iter()
                .filter(|s| who.is_none_or(|w| s.speaker == w))
                .map(|s| (s.start, s.end))
                .collect()
        };
        #[allow(clippy::cast_precision_loss)]
        let estimated = window.map_or((None, None), |(lo, hi)| {
            let len = (hi - lo) as f64;
            let speech = covered(spans(None), lo, hi) as f64;
            let agent = covered(spans(Some(Speaker::Agent)), lo, hi);
            let customer = covered(spans(Some(Speaker::Customer)), lo, hi);
            let both = (agent + customer) as f64 - speech;
            (Some(1.0 - speech / len), Some(both.max(0.0) / len))
        });
        let (silence, talk_over) = c.measured.map_or(estimated, |(s, o)| (Some(s), Some(o)));
        let customer: Vec<f64> = c
            .sentiments
            .iter()
            .filter(|(s, _)| *s == Speaker::Customer)
            .map(|(_, v)| *v)
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let customer_sentiment =
            (!customer.is_empty()).then(|| customer.iter().sum::<f64>() / customer.len() as f64);
        let mut end_hit = |rule: &str, detail: String, penalty: f64| {
            c.hits.push(QualityHit {
                tenant: t.clone(),
                interaction: id.clone(),
                agent: c.agent.clone(),
                rule: rule.to_owned(),
                offset_ms: end,
                detail,
                penalty,
                live: false,
            });
        };
        for (i, rule) in self.rules.iter().enumerate() {
            match rule {
                QualityRule::MaxSilenceRatio {
                    name,
                    max_ratio,
                    penalty,
                } => {
                    if let Some(s) = silence.filter(|s| s > max_ratio) {
                        end_hit(
                            name,
                            format!("silence {:.0}% of the conversation", s * 100.0),
                            *penalty,
                        );
                    }
                }
                QualityRule::MaxTalkOverRatio {
                    name,
                    max_ratio,
                    penalty,
                } => {
                    if let Some(s) = talk_over.filter(|s| s > max_ratio) {
                        end_hit(
                            name,
                            format!("talk-over {:.0}% of the conversation", s * 100.0),
                            *penalty,
                        );
                    }
                }
                QualityRule::NegativeSentiment {
                    name,
                    speaker,
                    threshold,
                    penalty,
                    ..
                } if !c.settled[i] => {
                    let all: Vec<f64> = c
                        .sentiments
                        .iter()
                        .filter(|(s, _)| s == speaker)
                        .map(|(_, v)| *v)
                        .collect();
                    #[allow(clippy::cast_precision_loss)]
                    let mean =
                        (!all.is_empty()).then(|| all.iter().sum::<f64>() / all.len() as f64);
                    if let Some(m) = mean.filter(|m| m <= threshold) {
                        end_hit(name, format!("sentiment {m:.2} over the call"), *penalty);
                    }
                }
                _ => {}
            }
        }
        let score = score_of(&c.hits);
        if let Some(agent) = &c.agent {
            let day = at.as_millis().div_euclid(86_400_000) * 86_400_000;
            let e = self
                .agent_days
                .entry((t.clone(), agent.clone(), day))
                .or_default();
            e.0 += score;
            e.1 += 1;
        }
        self.scores.push(InteractionScore {
            tenant: t.clone(),
            interaction: id.clone(),
            agent: c.agent.clone(),
            ended_at: at,
            score,
            hits: c.hits,
            silence_ratio: silence,
            talk_over_ratio: talk_over,
            customer_sentiment,
        });
    }

    /// The scores of the interactions that ended since the last call.
    pub fn take_scores(&mut self) -> Vec<InteractionScore> {
        std::mem::take(&mut self.scores)
    }

    /// An agent's mean score per day, oldest first.
    #[must_use]
    pub fn agent_scores(&self, tenant: &TenantId, agent: &AgentId) -> Vec<AgentQualityDay> {
        self.agent_days
            .iter()
            .filter(|((t, a, _), _)| t == tenant && a == agent)
            .map(|((_, _, day), (sum, n))| AgentQualityDay {
                day: Timestamp::from_millis(*day),
                interactions: *n,
                mean_score: sum / f64::from(*n),
            })
            .collect()
    }
}
