//! Intent classification latency (callcore-ivr), beside its baseline: tokenizing
//! the same utterance, the floor any classifier over these terms pays.
//!
//! `cargo bench -p benches --bench nlu`

use std::hint::black_box;

use callcore_ivr::nlu::{IntentClassifier, IntentsFile};
use callcore_ivr::tokenize::Tokenizer;
use criterion::{Criterion, criterion_group, criterion_main};

fn model(file: &str) -> IntentClassifier {
    let path = format!("{}/../callcore-ivr/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let intents = IntentsFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    IntentClassifier::train(&intents).unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let tokenizer = Tokenizer::new();
    for (file, utterance) in [
        (
            "intents_en.json",
            "um hi, I think somebody stole my credit card yesterday, can you block it",
        ),
        (
            "intents_zh.json",
            "喂你好，我的信用卡好像被人偷了，帮我冻结一下",
        ),
        (
            "intents_mixed.json",
            "I want to pay $25.50 of my bill tomorrow",
        ),
    ] {
        let classifier = model(file);
        let mut group = c.benchmark_group(file);
        group.bench_function("baseline_tokenize", |b| {
            b.iter(|| tokenizer.terms(black_box(utterance)))
        });
        group.bench_function("classify", |b| {
            b.iter(|| classifier.classify(black_box(utterance)))
        });
        group.finish();
    }
    let mut group = c.benchmark_group("training");
    group.sample_size(10);
    let intents = IntentsFile::load(format!(
        "{}/../callcore-ivr/data/intents_en.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    group.bench_function("train_en_200_examples", |b| {
        b.iter(|| IntentClassifier::train(black_box(&intents)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
