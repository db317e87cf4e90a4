//! Sweeps classifier settings on the development sets (not the held-out sets).
//! Run: `cargo test -p callcore-ivr --release --test tune -- --ignored --nocapture`

#![allow(clippy::unwrap_used)]

use callcore_ivr::nlu::{
    ClassifierConfig, IntentClassifier, IntentsFile, evaluate, parse_labelled,
};

fn load(lang: &str, set: &str) -> (IntentsFile, Vec<callcore_ivr::nlu::LabelledUtterance>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");
    let file = IntentsFile::load(format!("{dir}intents_{lang}.json")).unwrap();
    let tsv = std::fs::read_to_string(format!("{dir}{set}_{lang}.tsv")).unwrap();
    (file, parse_labelled(&tsv).unwrap())
}

#[test]
#[ignore = "parameter sweep; run by hand"]
fn sweep_on_dev_sets() {
    let set = std::env::var("TUNE_SET").unwrap_or_else(|_| "dev".into());
    let data = [load("en", &set), load("zh", &set)];
    let mut configs = Vec::new();
    for spelling in [false, true] {
        for linear_weight in [0.5, 0.7, 1.0] {
            for linear_l2 in [1e-4] {
                for char_weight in [0.5, 0.8, 1.2] {
                    for temperature in [0.03, 0.05, 0.1] {
                        for accept_rate in [0.9, 0.95] {
                            configs.push(ClassifierConfig {
                                linear_weight,
                                spelling,
                                linear_l2,
                                char_weight,
                                temperature,
                                accept_rate,
                                ..ClassifierConfig::default()
                            });
                        }
                    }
                }
            }
        }
    }
    let mut rows = Vec::new();
    for c in configs {
        let mut cells = Vec::new();
        let mut score = 0.0;
        for (file, cases) in &data {
            let clf = IntentClassifier::train_with(file, c).unwrap();
            let r = evaluate(&clf, cases);
            score += r.accuracy() + 0.5 * r.rejection_rate();
            cells.push(format!(
                "acc {:.3} rej {:.3} cv {:.3}",
                r.accuracy(),
                r.rejection_rate(),
                clf.report().cv_accuracy
            ));
        }
        rows.push((
            score,
            format!(
                "sp {} lw {:.1} l2 {} ch {:.1} t {:.2} ar {:.2} | {}",
                c.spelling,
                c.linear_weight,
                c.linear_l2,
                c.char_weight,
                c.temperature,
                c.accept_rate,
                cells.join(" | ")
            ),
        ));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (s, r) in rows.iter().take(25) {
        println!("{s:.3} {r}");
    }
    let d = ClassifierConfig::default();
    for (file, cases) in &data {
        let clf = IntentClassifier::train_with(file, d).unwrap();
        let r = evaluate(&clf, cases);
        println!(
            "default: acc {:.3} rej {:.3} report {:?}",
            r.accuracy(),
            r.rejection_rate(),
            clf.report()
        );
        for e in &r.errors {
            println!("  {e:?}");
        }
    }
}
