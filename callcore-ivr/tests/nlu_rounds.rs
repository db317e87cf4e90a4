//! Development on the **spent** independent rounds (`data/independent*/`): every
//! round, both domains (telecom/bank, airline), both languages, measured with one or
//! more classifier configurations side by side, with a leave-one-round-out choice
//! among them (the configuration with the best mean on the other rounds, measured on
//! the round left out). These rounds were measured and published before; they are
//! development data now, and a fresh round is the honest measure.
//!
//! Run by hand (`NLU_E5_CACHE=/path.json` keeps the embeddings between runs;
//! `NLU_SET="name=value,...;name=value,..."` lists the configurations, `;` apart, an
//! empty one being the defaults; `NLU_ERRORS=1` lists the misses of the first):
//!
//! ```text
//! NLU_E5_CACHE=/tmp/e5cache.json NLU_SET=";ood_accept_rate=0.96" cargo test -p callcore-ivr \
//!   --features embeddings --config 'profile.dev.package.callcore-ivr.opt-level=3' \
//!   --test nlu_rounds -- --ignored --nocapture
//! ```

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use callcore_ivr::IvrError;
use callcore_ivr::nlu::{
    ClassifierConfig, IntentClassifier, IntentsFile, SentenceEncoder, default_encoder, evaluate,
    parse_labelled,
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

fn config(variant: &str) -> ClassifierConfig {
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
            "ood_cut_reject" => c.ood_cut_reject = x,
            "ood_cut_min_accept" => c.ood_cut_min_accept = x,
            "ood_cut_max_accept" => c.ood_cut_max_accept = x,
            "agent_request" => c.agent_request = x != 0.0,
            "linear_weight" => c.linear_weight = x,
            "linear_l2" => c.linear_l2 = x,
            "embedding_weight" => c.embedding_weight = x,
            "centroid_weight" => c.centroid_weight = x,
            "neighbours" => c.neighbours = x as usize,
            "temperature" => c.temperature = x,
            other => panic!("unknown field {other}"),
        }
    }
    c
}

/// (round, domain, language, set file, intents file)
fn sets() -> Vec<(usize, &'static str, &'static str, String, String)> {
    let mut out = Vec::new();
    let rounds = [
        ("independent", "indep_a", "indep_b"),
        ("independent2", "indep_c", "indep_d"),
        ("independent3", "indep_c", "indep_d"),
        ("independent4", "indep_c", "indep_d"),
        ("independent5", "indep_c", "indep_d"),
        ("independent6", "indep_c", "indep_d"),
        ("independent7", "indep_c", "indep_d"),
        ("independent8", "indep_c", "indep_d"),
    ];
    for (r, (dir, tel, air)) in rounds.iter().enumerate() {
        for lang in ["en", "zh"] {
            out.push((
                r + 1,
                "telecom",
                lang,
                format!("{dir}/{tel}_{lang}.tsv"),
                format!("intents_{lang}.json"),
            ));
            out.push((
                r + 1,
                "airline",
                lang,
                format!("{dir}/{air}_{lang}.tsv"),
                format!("intents_airline_{lang}.json"),
            ));
        }
    }
    out
}

#[test]
#[ignore = "development figures on the spent rounds; run by hand"]
fn spent_rounds() {
    let disk = match default_encoder() {
        Ok(e) => Arc::new(DiskCache::new(e)),
        Err(e) => panic!("sentence embeddings needed: {e}"),
    };
    let encoder: Arc<dyn SentenceEncoder> = disk.clone();
    let spec = std::env::var("NLU_SET").unwrap_or_default();
    let variants: Vec<&str> = spec.split(';').collect();
    let sets = sets();
    // results[variant][set] = (accuracy, rejection)
    let mut results: Vec<Vec<(f64, f64)>> = Vec::new();
    for (v, variant) in variants.iter().enumerate() {
        let c = config(variant);
        let mut models: HashMap<String, IntentClassifier> = HashMap::new();
        let mut row = Vec::new();
        let mut f1_sum = 0.0;
        for (round, domain, lang, set, model) in &sets {
            let classifier = models.entry(model.clone()).or_insert_with(|| {
                let file = IntentsFile::load(format!("{DATA}{model}")).unwrap();
                // Wall time of training, for the report (a dev measurement, not engine code).
                #[allow(clippy::disallowed_methods)]
                let t = std::time::Instant::now();
                let m =
                    IntentClassifier::train_with_encoder(&file, c, Some(encoder.clone())).unwrap();
                let r = m.report();
                println!(
                    "[{variant}] model {model}: margin {:?}, calibration {:?}, agent requests to {:?}, trained in {:.2?}",
                    r.neighbour_margin,
                    r.neighbour_cut,
                    r.agent_request_intent.map(|i| m.intents()[i].clone()),
                    t.elapsed()
                );
                m
            });
            let cases =
                parse_labelled(&std::fs::read_to_string(format!("{DATA}{set}")).unwrap()).unwrap();
            let r = evaluate(classifier, &cases);
            println!(
                "[{variant}] R{round} {domain} {lang}: accuracy {:.3} rejection {:.3} macro-F1 {:.3}",
                r.accuracy(),
                r.rejection_rate(),
                r.macro_f1()
            );
            if v == 0 && std::env::var_os("NLU_ERRORS").is_some() {
                for (t, want, got) in &r.errors {
                    println!("    {want:?} -> {got:?}: {t}");
                }
            }
            row.push((r.accuracy(), r.rejection_rate()));
            f1_sum += r.macro_f1();
        }
        disk.save();
        let n = row.len() as f64;
        let met = row.iter().filter(|(a, j)| *a >= 0.93 && *j >= 0.85).count();
        println!(
            "[{variant}] MEAN accuracy {:.3} rejection {:.3} macro-F1 {:.3}; min {:.3} / {:.3}; sets meeting 0.93/0.85: {met}/{}",
            row.iter().map(|x| x.0).sum::<f64>() / n,
            row.iter().map(|x| x.1).sum::<f64>() / n,
            f1_sum / n,
            row.iter().map(|x| x.0).fold(1.0, f64::min),
            row.iter().map(|x| x.1).fold(1.0, f64::min),
            row.len()
        );
        results.push(row);
    }
    // Leave one round out: choose on the other three rounds by the mean of
    // min(accuracy / 0.93, 1) + min(rejection / 0.85, 1) (how far each set is
    // from the target), measure on the round left out.
    let score = |v: usize, keep: &dyn Fn(usize) -> bool| -> f64 {
        let picked: Vec<&(f64, f64)> = sets
            .iter()
            .zip(&results[v])
            .filter(|(s, _)| keep(s.0))
            .map(|(_, r)| r)
            .collect();
        picked
            .iter()
            .map(|(a, j)| (a / 0.93).min(1.0) + (j / 0.85).min(1.0))
            .sum::<f64>()
            / picked.len() as f64
    };
    let rounds = sets.iter().map(|s| s.0).max().unwrap_or(0);
    for held in 1..=rounds {
        let best = (0..variants.len())
            .max_by(|&a, &b| score(a, &|r| r != held).total_cmp(&score(b, &|r| r != held)))
            .unwrap();
        let on_held: Vec<String> = sets
            .iter()
            .zip(&results[best])
            .filter(|(s, _)| s.0 == held)
            .map(|(s, r)| format!("{} {} {:.3}/{:.3}", s.1, s.2, r.0, r.1))
            .collect();
        println!(
            "LORO R{held}: chose [{}] on the other rounds; on R{held}: {}",
            variants[best],
            on_held.join(", ")
        );
    }
}
