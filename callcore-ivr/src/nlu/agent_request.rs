//! Built-in knowledge of how callers ask a phone menu for a person.
//!
//! Every tenant's agent-request intent is asked for in the same few ways —
//! "operator", "zero", "human!", "a real person", "人工", "转人工", "活人" — and
//! those short lines are exactly the ones a tenant's own examples cover worst:
//! one or two words sit as close to small talk as to anything the tenant wrote,
//! so the out-of-domain vote turns them away. The classifier therefore carries
//! a list of such requests per language (`background/agent_{en,zh}.txt`) and,
//! at training time, adds them to the tenant's own agent-request intent as
//! examples.
//!
//! Which intent that is, is not read from its name: in the sentence-embedding
//! space, each built-in line votes for the intent whose examples it sits
//! nearest to (the mean of its `k` best cosines to that intent's examples), and
//! the intent that gets at least [`MAJORITY`] of the votes adopts the list. A
//! tenant without such an intent gets nothing added (the votes scatter), and
//! `ClassifierConfig::agent_request = false` turns the knowledge off.

use super::background::{dot, lines_of};
use super::intents::Language;

const AGENT_EN: &str = include_str!("background/agent_en.txt");
const AGENT_ZH: &str = include_str!("background/agent_zh.txt");

/// The share of the built-in lines that must be nearest to one intent for it
/// to adopt them.
pub(crate) const MAJORITY: f32 = 0.6;

/// Examples of an intent compared with a line (mean of the best `K` cosines).
const K: usize = 3;

/// The built-in agent requests for a model in `language` (both lists for `mixed`).
pub(crate) fn phrases(language: Language) -> Vec<&'static str> {
    match language {
        Language::En => lines_of(AGENT_EN).collect(),
        Language::Zh => lines_of(AGENT_ZH).collect(),
        Language::Mixed => lines_of(AGENT_EN).chain(lines_of(AGENT_ZH)).collect(),
    }
}

/// The intent (index) that adopts the built-in lines, if any: the one most
/// `phrases` are nearest to, when that is at least [`MAJORITY`] of them.
/// `examples` are the training examples' embeddings with their intents in
/// `labels`; all vectors unit length (raw encoder output).
pub(crate) fn adopting_intent(
    phrases: &[Vec<f32>],
    examples: &[Vec<f32>],
    labels: &[u32],
    intents: usize,
) -> Option<usize> {
    if phrases.is_empty() || intents == 0 {
        return None;
    }
    let mut votes = vec![0usize; intents];
    for p in phrases {
        let mut per_intent: Vec<Vec<f32>> = vec![Vec::new(); intents];
        for (e, &c) in examples.iter().zip(labels) {
            if let Some(v) = per_intent.get_mut(c as usize) {
                v.push(dot(p, e));
            }
        }
        let best = per_intent
            .iter_mut()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(c, s)| {
                s.sort_unstable_by(|a, b| b.total_cmp(a));
                let k = K.min(s.len());
                (c, s[..k].iter().sum::<f32>() / k as f32)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((c, _)) = best {
            votes[c] += 1;
        }
    }
    let (c, &n) = votes.iter().enumerate().max_by_key(|(_, n)| **n)?;
    (n as f32 >= MAJORITY * phrases.len() as f32).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = dot(v, v).sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn both_lists_have_lines_and_no_comments() {
        let en = phrases(Language::En);
        let zh = phrases(Language::Zh);
        assert!(
            en.len() >= 25 && zh.len() >= 25,
            "{} {}",
            en.len(),
            zh.len()
        );
        assert!(en.contains(&"operator") && zh.contains(&"转人工"));
        assert!(en.iter().chain(&zh).all(|l| !l.starts_with('#')));
        assert_eq!(phrases(Language::Mixed).len(), en.len() + zh.len());
    }

    #[test]
    fn the_intent_most_lines_sit_nearest_to_adopts_them() {
        // intent 0 points along x, intent 1 along y; the lines lean to y
        let examples = vec![unit(&[1.0, 0.1]), unit(&[1.0, -0.1]), unit(&[0.1, 1.0])];
        let labels = [0, 0, 1];
        let phrases = vec![unit(&[0.2, 1.0]), unit(&[0.3, 1.0]), unit(&[1.0, 0.2])];
        assert_eq!(adopting_intent(&phrases, &examples, &labels, 2), Some(1));
    }

    #[test]
    fn scattered_votes_adopt_nothing() {
        let examples = vec![unit(&[1.0, 0.0]), unit(&[0.0, 1.0])];
        let labels = [0, 1];
        let phrases = vec![unit(&[1.0, 0.1]), unit(&[0.1, 1.0])];
        assert_eq!(adopting_intent(&phrases, &examples, &labels, 2), None);
        assert_eq!(adopting_intent(&[], &examples, &labels, 2), None);
    }
}
