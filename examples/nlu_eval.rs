//! Measures the intent classifier: accuracy, out-of-domain rejection, macro-F1
//! and per-intent figures on labelled sets, or by k-fold cross-validation on the
//! intents file itself.
//!
//! ```text
//! cargo run --release --example nlu_eval -- --model callcore-ivr/data/intents_en.json \
//!     --test callcore-ivr/data/heldout_en.tsv
//! cargo run --release --example nlu_eval -- --model callcore-ivr/data/intents_en.json --cv 5 \
//!     --ood callcore-ivr/data/dev_en.tsv --ood callcore-ivr/data/intents_airline_en.json
//! ```
//! A `.tsv` set has `intent<TAB>utterance` lines (`none` = out of domain, `#` comments).
//! `--ood FILE` adds out-of-domain utterances to every cross-validation: the `none`
//! lines of a `.tsv`, or every example of a `.json` intents file whose intent name
//! the model does not have (another domain). `--no-embeddings` measures the n-gram
//! classifier alone; `--set name=value` overrides a `ClassifierConfig` field
//! (`embedding_weight`, `accept_rate`, `temperature`, `linear_weight`,
//! `centroid_weight`, `neighbours`, `linear_l2`, `similarity_power`,
//! `background` (0/1), `background_quantile`, `background_weight`, `embedding_accept_rate`, `background_neighbours` (0 = off), `background_services` (0/1),
//! `background_accept_rate`, `ood_detector` (0/1), `ood_accept_rate`, `ood_vote` (0/1), `ood_cut_weight`,
//! `ood_cut_reject`, `ood_cut_min_accept`, `ood_cut_max_accept`); `--errors` lists the misses.
//! The text report goes to stderr, one JSON object per measurement to stdout.

use std::process::ExitCode;
use std::sync::Arc;

use callcore_ivr::nlu::{
    CachedEncoder, ClassifierConfig, EvalReport, IntentClassifier, IntentsFile, SentenceEncoder,
    cross_validate, default_encoder, evaluate, parse_labelled,
};

#[path = "cli.rs"]
mod cli;

use clap::Parser;

/// Measures the intent classifier: accuracy, out-of-domain rejection, macro-F1 and
/// per-intent figures on labelled sets, or by k-fold cross-validation.
#[derive(Debug, Parser)]
#[command(
    name = "nlu_eval",
    args_override_self = true,
    after_help = "Examples:\n  \
cargo run --release --example nlu_eval -- --model callcore-ivr/data/intents_en.json --test callcore-ivr/data/heldout_en.tsv\n  \
cargo run --release --example nlu_eval -- --model callcore-ivr/data/intents_en.json --cv 5 --ood callcore-ivr/data/dev_en.tsv"
)]
struct Cmd {
    /// intents file (JSON) to train on
    #[arg(long, value_name = "FILE", required = true)]
    model: String,
    /// a labelled set (intent<TAB>utterance, `none` = out of domain); repeatable [default: none]
    #[arg(long = "test", value_name = "SET.tsv", action = clap::ArgAction::Append)]
    tests: Vec<String>,
    /// k-fold cross-validation on the intents file [default: off]
    #[arg(long, value_name = "K")]
    cv: Option<usize>,
    /// out-of-domain utterances added to every cross-validation; repeatable [default: none]
    #[arg(long, value_name = "SET.tsv|INTENTS.json", action = clap::ArgAction::Append)]
    ood: Vec<String>,
    /// measure the n-gram classifier alone [default: off]
    #[arg(long)]
    no_embeddings: bool,
    /// override a ClassifierConfig field; repeatable [default: the defaults]
    #[arg(long = "set", value_name = "NAME=VALUE", action = clap::ArgAction::Append)]
    set: Vec<String>,
    /// try each value of a ClassifierConfig field; repeatable [default: none]
    #[arg(long, value_name = "NAME=V1,V2,..", action = clap::ArgAction::Append)]
    sweep: Vec<String>,
    /// list the misses [default: off]
    #[arg(long)]
    errors: bool,
}

struct Args {
    model: String,
    tests: Vec<String>,
    cv: Option<usize>,
    ood: Vec<String>,
    embeddings: bool,
    errors: bool,
    config: ClassifierConfig,
    sweep: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let cmd = Cmd::parse();
    let mut config = ClassifierConfig::default();
    for kv in &cmd.set {
        set_config(&mut config, kv)?;
    }
    if cmd.tests.is_empty() && cmd.cv.is_none() {
        return Err("--model and at least one of --test or --cv are needed".into());
    }
    Ok(Args {
        model: cmd.model,
        tests: cmd.tests,
        cv: cmd.cv,
        ood: cmd.ood,
        embeddings: !cmd.no_embeddings,
        errors: cmd.errors,
        config,
        sweep: cmd.sweep,
    })
}

fn set_config(c: &mut ClassifierConfig, kv: &str) -> Result<(), String> {
    let (k, v) = kv
        .split_once('=')
        .ok_or(format!("--set {kv}: expected name=value"))?;
    let x: f32 = v.parse().map_err(|_| format!("--set {kv}: not a number"))?;
    match k {
        "embedding_weight" => c.embedding_weight = x,
        "accept_rate" => {
            c.accept_rate = x;
            c.embedding_accept_rate = x;
        }
        "temperature" => c.temperature = x,
        "linear_weight" => c.linear_weight = x,
        "centroid_weight" => c.centroid_weight = x,
        "linear_l2" => c.linear_l2 = x,
        "neighbours" => c.neighbours = x as usize,
        "similarity_power" => c.similarity_power = x,
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
        _ => return Err(format!("--set: unknown field {k}")),
    }
    Ok(())
}

/// Out-of-domain utterances from a `.tsv` (its `none` lines) or another domain's intents file.
fn ood_utterances(path: &str, model: &IntentsFile) -> Result<Vec<String>, String> {
    if path.ends_with(".json") {
        let other = IntentsFile::load(path).map_err(|e| e.to_string())?;
        let own: Vec<&str> = model.intents.iter().map(|i| i.name.as_str()).collect();
        Ok(other
            .intents
            .iter()
            .filter(|i| !own.contains(&i.name.as_str()))
            .flat_map(|i| i.examples.iter().cloned())
            .collect())
    } else {
        let tsv = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let set = parse_labelled(&tsv).map_err(|e| format!("{path}: {e}"))?;
        Ok(set
            .into_iter()
            .filter(|u| u.intent.is_none())
            .map(|u| u.text)
            .collect())
    }
}

fn print(what: &str, r: &EvalReport, embeddings: bool, errors: bool) {
    eprintln!(
        "{what}: accuracy {}/{} = {:.3}, rejection {}/{} = {:.3}, macro-F1 {:.3}, wrongly rejected {} (embeddings: {embeddings})",
        r.correct,
        r.in_domain,
        r.accuracy(),
        r.rejected,
        r.out_of_domain,
        r.rejection_rate(),
        r.macro_f1(),
        r.wrongly_rejected,
    );
    for f in &r.per_intent {
        eprintln!(
            "  {:<22} support {:>3}  precision {:.3}  recall {:.3}  F1 {:.3}",
            f.intent,
            f.support,
            f.precision(),
            f.recall(),
            f.f1()
        );
    }
    if errors {
        for (text, want, got) in &r.errors {
            eprintln!("  miss: {text:?} expected {want:?} got {got:?}");
        }
    }
    let per_intent: Vec<_> = r
        .per_intent
        .iter()
        .map(|f| {
            serde_json::json!({"intent": f.intent, "support": f.support, "precision": f.precision(),
                "recall": f.recall(), "f1": f.f1()})
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "set": what, "embeddings": embeddings,
            "in_domain": r.in_domain, "correct": r.correct, "accuracy": r.accuracy(),
            "out_of_domain": r.out_of_domain, "rejected": r.rejected, "rejection": r.rejection_rate(),
            "wrongly_rejected": r.wrongly_rejected, "macro_f1": r.macro_f1(), "per_intent": per_intent,
        })
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nlu_eval: {e} (see --help)");
            return ExitCode::from(2);
        }
    };
    let file = match IntentsFile::load(&args.model) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("nlu_eval: {e}");
            return ExitCode::FAILURE;
        }
    };
    let encoder: Option<Arc<dyn SentenceEncoder>> = if args.embeddings {
        match default_encoder() {
            Ok(e) => Some(Arc::new(CachedEncoder::new(e))),
            Err(e) => {
                eprintln!("nlu_eval: WARNING: {e}; measuring the n-gram classifier alone");
                None
            }
        }
    } else {
        None
    };
    let with_embeddings = encoder.is_some();
    if let Some(k) = args.cv {
        let mut ood = Vec::new();
        for path in &args.ood {
            match ood_utterances(path, &file) {
                Ok(mut u) => ood.append(&mut u),
                Err(e) => {
                    eprintln!("nlu_eval: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        // Every combination of the swept values (one run without --sweep).
        let mut configs = vec![(args.config, String::new())];
        for sweep in &args.sweep {
            let Some((name, values)) = sweep.split_once('=') else {
                eprintln!("nlu_eval: --sweep {sweep}: expected name=v1,v2");
                return ExitCode::from(2);
            };
            let mut next = Vec::new();
            for (c, label) in &configs {
                for v in values.split(',') {
                    let mut c = *c;
                    if let Err(e) = set_config(&mut c, &format!("{name}={v}")) {
                        eprintln!("nlu_eval: {e}");
                        return ExitCode::from(2);
                    }
                    next.push((c, format!("{label} {name}={v}")));
                }
            }
            configs = next;
        }
        for (config, label) in configs {
            match cross_validate(&file, k, config, encoder.clone(), &ood) {
                Ok(r) => print(
                    &format!("{} ({k}-fold cross-validation){label}", args.model),
                    &r,
                    with_embeddings,
                    args.errors,
                ),
                Err(e) => {
                    eprintln!("nlu_eval: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    if args.tests.is_empty() {
        return ExitCode::SUCCESS;
    }
    let classifier = match IntentClassifier::train_with_encoder(&file, args.config, encoder) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nlu_eval: {e}");
            return ExitCode::FAILURE;
        }
    };
    for path in &args.tests {
        let set = match std::fs::read_to_string(path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|t| parse_labelled(&t).map_err(|e| format!("{path}: {e}")))
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("nlu_eval: {e}");
                return ExitCode::FAILURE;
            }
        };
        print(
            path,
            &evaluate(&classifier, &set),
            classifier.report().embeddings,
            args.errors,
        );
    }
    ExitCode::SUCCESS
}
