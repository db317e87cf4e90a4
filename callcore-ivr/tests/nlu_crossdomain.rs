//! Out-of-domain rejection across domains, by cross-validation on the repository's
//! own files only (never `data/independent*/`): each of the four intents files
//! (telecom/bank and airline, English and Chinese) is 5-fold cross-validated with
//! three kinds of out-of-domain input dealt into the folds —
//! - `ood_dev_{en,zh}.tsv` (generic: small talk, wrong numbers, other businesses,
//!   requests sharing a service line's words; written apart from the background lists),
//! - the `none` lines of `dev_{en,zh}.tsv`,
//! - the other domain's examples (cross-domain: another customer-service line).
//!
//! Run by hand (prints the figures; `NLU_E5_CACHE=/path.json` keeps embeddings between runs):
//! `cargo test -p callcore-ivr --features embeddings --config 'profile.dev.package.callcore-ivr.opt-level=3' --test nlu_crossdomain -- --ignored --nocapture`

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use callcore_ivr::IvrError;
use callcore_ivr::nlu::{
    ClassifierConfig, IntentsFile, SentenceEncoder, cross_validate, default_encoder, parse_labelled,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");

/// An encoder whose vectors persist in a JSON file between runs.
#[derive(Debug)]
struct DiskCache {
    inner: Arc<dyn SentenceEncoder>,
    path: Option<String>,
    map: Mutex<HashMap<String, Vec<f32>>>,
}

impl DiskCache {
    fn new(inner: Arc<dyn SentenceEncoder>) -> Self {
        let path = std::env::var("NLU_E5_CACHE").ok();
        let map = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        DiskCache {
            inner,
            path,
            map: Mutex::new(map),
        }
    }

    fn save(&self) {
        if let Some(p) = &self.path {
            let map = self.map.lock().unwrap();
            std::fs::write(p, serde_json::to_string(&*map).unwrap()).unwrap();
        }
    }
}

impl SentenceEncoder for DiskCache {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, IvrError> {
        let missing: Vec<&str> = {
            let map = self.map.lock().unwrap();
            let mut m: Vec<&str> = texts
                .iter()
                .copied()
                .filter(|t| !map.contains_key(*t))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        if !missing.is_empty() {
            let v = self.inner.encode(&missing)?;
            let mut map = self.map.lock().unwrap();
            for (t, e) in missing.iter().zip(v) {
                map.insert((*t).to_string(), e);
            }
        }
        let map = self.map.lock().unwrap();
        Ok(texts.iter().map(|t| map[*t].clone()).collect())
    }
}

fn none_lines(name: &str) -> Vec<String> {
    let tsv = std::fs::read_to_string(format!("{DATA}{name}")).unwrap();
    parse_labelled(&tsv)
        .unwrap()
        .into_iter()
        .filter(|u| u.intent.is_none())
        .map(|u| u.text)
        .collect()
}

fn other_domain(own: &IntentsFile, other: &str) -> Vec<String> {
    let other = IntentsFile::load(format!("{DATA}{other}")).unwrap();
    let names: Vec<&str> = own.intents.iter().map(|i| i.name.as_str()).collect();
    other
        .intents
        .iter()
        .filter(|i| !names.contains(&i.name.as_str()))
        .flat_map(|i| i.examples.iter().step_by(3).cloned())
        .collect()
}

/// `NLU_SET="name=value,name=value;..."`: the configurations to compare (`;` apart).
fn configs() -> Vec<(String, ClassifierConfig)> {
    let spec = std::env::var("NLU_SET").unwrap_or_default();
    let mut out = Vec::new();
    for variant in spec.split(';') {
        let mut c = ClassifierConfig::default();
        for kv in variant.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = kv.split_once('=').unwrap();
            let x: f32 = v.trim().parse().unwrap();
            match k.trim() {
                "background" => c.background = x != 0.0,
                "background_quantile" => c.background_quantile = x,
                "background_weight" => c.background_weight = x,
                "embedding_accept_rate" => c.embedding_accept_rate = x,
                "background_neighbours" => c.background_neighbours = x as usize,
                "background_services" => c.background_services = x != 0.0,
                "background_accept_rate" => c.background_accept_rate = x,
                "ood_detector" => c.ood_detector = x != 0.0,
                "ood_accept_rate" => c.ood_accept_rate = x,
                "ood_vote" => c.ood_vote = x != 0.0,
                "ood_cut_weight" => c.ood_cut_weight = x,
                "agent_request" => c.agent_request = x != 0.0,
                "ood_cut_reject" => c.ood_cut_reject = x,
                "ood_cut_min_accept" => c.ood_cut_min_accept = x,
                "ood_cut_max_accept" => c.ood_cut_max_accept = x,
                "linear_weight" => c.linear_weight = x,
                "embedding_weight" => c.embedding_weight = x,
                "centroid_weight" => c.centroid_weight = x,
                "neighbours" => c.neighbours = x as usize,
                other => panic!("unknown field {other}"),
            }
        }
        out.push((variant.to_string(), c));
    }
    out
}

#[test]
#[ignore = "cross-domain figures; run by hand"]
fn cross_domain_rejection() {
    let disk = match default_encoder() {
        Ok(e) => Arc::new(DiskCache::new(e)),
        Err(e) => panic!("sentence embeddings needed: {e}"),
    };
    let encoder: Arc<dyn SentenceEncoder> = disk.clone();
    let files = [
        ("intents_en.json", "en", "intents_airline_en.json"),
        ("intents_zh.json", "zh", "intents_airline_zh.json"),
        ("intents_airline_en.json", "en", "intents_en.json"),
        ("intents_airline_zh.json", "zh", "intents_zh.json"),
    ];
    for (label, config) in configs() {
        let mut sum = [0.0f64; 3];
        for (model, lang, other) in files {
            let file = IntentsFile::load(format!("{DATA}{model}")).unwrap();
            let mut generic = none_lines(&format!("ood_dev_{lang}.tsv"));
            generic.extend(none_lines(&format!("dev_{lang}.tsv")));
            let cross = other_domain(&file, other);
            let n_generic = generic.len();
            let mut ood = generic;
            ood.extend(cross.iter().cloned());
            let r = cross_validate(&file, 5, config, Some(encoder.clone()), &ood).unwrap();
            let missed_generic = r
                .errors
                .iter()
                .filter(|(t, w, _)| w.is_none() && !cross.contains(t))
                .count();
            let missed_cross = r
                .errors
                .iter()
                .filter(|(t, w, _)| w.is_none() && cross.contains(t))
                .count();
            let rej_g = 1.0 - missed_generic as f64 / n_generic as f64;
            let rej_c = 1.0 - missed_cross as f64 / cross.len() as f64;
            println!(
                "[{label}] {model}: accuracy {:.3} (wrongly rejected {}), generic OOD rejection {rej_g:.3} ({n_generic}), cross-domain {rej_c:.3} ({}), macro-F1 {:.3}",
                r.accuracy(),
                r.wrongly_rejected,
                cross.len(),
                r.macro_f1()
            );
            if std::env::var_os("NLU_ERRORS").is_some() {
                for (t, w, g) in &r.errors {
                    if w.is_none() && !cross.contains(t) {
                        println!("    accepted {t:?} as {g:?}");
                    } else if w.is_some() && g.is_none() {
                        println!("    rejected {t:?} ({w:?})");
                    }
                }
            }
            sum[0] += r.accuracy() / 4.0;
            sum[1] += rej_g / 4.0;
            sum[2] += rej_c / 4.0;
        }
        disk.save();
        println!(
            "[{label}] MEAN accuracy {:.3}, generic rejection {:.3}, cross-domain rejection {:.3}",
            sum[0], sum[1], sum[2]
        );
    }
}
