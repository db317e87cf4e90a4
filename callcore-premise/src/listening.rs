//! How the premise IVR hears a caller: keys only, or speech too.
//!
//! With the `asr-whisper` feature and a Whisper model (`[ivr] asr_model`, or the
//! folder `CALLCORE_WHISPER_MODEL` names), a caller may say the menu option ("I
//! have a question about my bill") or press its key. The menu's labels and
//! `words` go to the recognizer as phrase hints on every listen; a spoken answer
//! picks the choice whose words it contains, or — with an intents file (`[ivr]
//! intents`) — the choice naming the intent the classifier finds. An answer the
//! classifier is not sure of matches nothing, and the caller is asked again (the
//! keys are read out each time, so a caller who says nothing can still press one).
//!
//! ```toml
//! [ivr]
//! asr_model = "/var/lib/callcore/whisper-tiny.en"   # CTranslate2 Whisper folder
//! intents = "/etc/callcore/intents.json"            # optional
//! menu = [
//!   { key = "1", label = "billing", queue = "billing", words = ["bill", "invoice"], intent = "check_balance" },
//! ]
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use callcore::{IntentRecognizer, SpeechRecognizer};

use crate::PremiseError;
use crate::config::IvrSection;
use crate::speech::KeypadOnly;

/// The recognizers of the premise IVR.
#[derive(Clone)]
pub(crate) struct Listening {
    /// Speech to text (a keypad-only stand-in without a model).
    pub(crate) asr: Arc<dyn SpeechRecognizer>,
    /// Text to intent, when an intents file is configured.
    pub(crate) nlu: Option<Arc<dyn IntentRecognizer>>,
    /// The model folder when callers are heard, for the banner.
    pub(crate) model: Option<PathBuf>,
}

fn field(field: &str, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field: field.to_owned(),
        detail: detail.into(),
    }
}

/// Whether the menu is in Chinese (`[ivr] language`).
fn chinese(ivr: &IvrSection) -> bool {
    callcore_ivr::flow::is_chinese(ivr.language.as_deref())
}

/// The model folder: `[ivr] asr_model`, else (only in a build that can use it)
/// `CALLCORE_WHISPER_MODEL_ZH` for a Chinese menu, else `CALLCORE_WHISPER_MODEL`.
fn model_dir(ivr: &IvrSection) -> Option<(PathBuf, &'static str)> {
    if let Some(dir) = &ivr.asr_model {
        return Some((dir.clone(), "ivr.asr_model"));
    }
    if !cfg!(feature = "asr-whisper") {
        return None;
    }
    let env = |name: &'static str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(|v| (PathBuf::from(v), name))
    };
    chinese(ivr)
        .then(|| env("CALLCORE_WHISPER_MODEL_ZH"))
        .flatten()
        .or_else(|| env("CALLCORE_WHISPER_MODEL"))
}

/// Checks the fields without loading anything.
pub(crate) fn validate(ivr: &IvrSection) -> Result<(), PremiseError> {
    if ivr.asr_model.is_some() && !cfg!(feature = "asr-whisper") {
        return Err(field(
            "ivr.asr_model",
            "this build has no speech recognition: build callcore-premise with \
             --features asr-whisper",
        ));
    }
    if let Some(language) = &ivr.language {
        let primary = language.trim().split(['-', '_']).next().unwrap_or_default();
        if !(primary.eq_ignore_ascii_case("en") || chinese(ivr)) {
            return Err(field(
                "ivr.language",
                format!(
                    "{language:?}: menus speak \"en\" (English) or \"zh\" (Mandarin; \
                     \"zh-CN\", \"cmn\")"
                ),
            ));
        }
    }
    if !(0.0..=1.0).contains(&ivr.min_confidence) {
        return Err(field("ivr.min_confidence", "must be within 0..=1"));
    }
    for (i, m) in ivr.menu.iter().enumerate() {
        if m.words.iter().any(|w| w.trim().is_empty()) {
            return Err(field(&format!("ivr.menu[{i}].words"), "an empty phrase"));
        }
        if m.intent.is_some() && ivr.intents.is_none() {
            return Err(field(
                &format!("ivr.menu[{i}].intent"),
                "an intent needs an intents file in ivr.intents",
            ));
        }
    }
    Ok(())
}

/// Loads the recognizers `ivr` asks for (the model takes a moment to load).
///
/// # Errors
/// [`PremiseError::Config`] naming `ivr.asr_model` or `ivr.intents` when a model or
/// intents file cannot be loaded.
pub(crate) fn load(ivr: &IvrSection) -> Result<Listening, PremiseError> {
    let nlu = match &ivr.intents {
        Some(path) => {
            let c = callcore_ivr::nlu::IntentClassifier::from_path(path)
                .map_err(|e| field("ivr.intents", format!("{}: {e}", path.display())))?;
            Some(Arc::new(c) as Arc<dyn IntentRecognizer>)
        }
        None => None,
    };
    let keypad = |nlu| Listening {
        asr: Arc::new(KeypadOnly),
        nlu,
        model: None,
    };
    let Some((dir, from)) = model_dir(ivr) else {
        return Ok(keypad(nlu));
    };
    match whisper(&dir, chinese(ivr)) {
        Ok(asr) => Ok(Listening {
            asr,
            nlu,
            model: Some(dir),
        }),
        // a model the config names must load; one the environment names is a hint
        Err(e) if from == "ivr.asr_model" => Err(field(from, e)),
        Err(e) => {
            tracing::warn!(error = %e, "speech recognition off: menus take keys only");
            Ok(keypad(nlu))
        }
    }
}

/// What a Chinese menu's recognizer reads before the menu's phrases, as the
/// text said before the caller's words: a sentence in Simplified characters
/// (Whisper otherwise writes Mandarin in Traditional ones as often as not, and
/// the menu's words are Simplified).
#[cfg(feature = "asr-whisper")]
const CHINESE_PROMPT: &str = "以下是普通话的句子。";

/// Loads the model in `dir`; for a Chinese menu (`chinese`) one that hears
/// Mandarin: Chinese by default, the Simplified-Chinese prompt, no repeated
/// 3-grams (Whisper loops on unclear Mandarin, "试试试试…").
#[cfg(feature = "asr-whisper")]
fn whisper(dir: &std::path::Path, chinese: bool) -> Result<Arc<dyn SpeechRecognizer>, String> {
    use callcore_ivr::speech::whisper::{WhisperConfig, WhisperRecognizer};
    let mut config = WhisperConfig::new(dir);
    if chinese {
        config.language = Some("zh".into());
        config.initial_prompt = Some(CHINESE_PROMPT.into());
        config.no_repeat_ngram_size = 3;
    }
    let r = WhisperRecognizer::load(config).map_err(|e| e.to_string())?;
    if chinese && r.language_for(Some("zh")).is_none() {
        return Err(format!(
            "{} is an English-only model; ivr.language \"zh\" needs a multilingual one \
             (Whisper base: scripts/fetch-asr-model-zh.sh)",
            dir.display()
        ));
    }
    Ok(Arc::new(r))
}

#[cfg(not(feature = "asr-whisper"))]
fn whisper(_dir: &std::path::Path, _chinese: bool) -> Result<Arc<dyn SpeechRecognizer>, String> {
    Err("this build has no speech recognition (feature asr-whisper)".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::PremiseConfig;

    fn error_of(ivr: &str) -> String {
        PremiseConfig::from_toml(&crate::config::with_demo_agents(ivr))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn spoken_menu_fields_are_checked_naming_the_field() {
        let e = error_of(
            "[ivr]\ndefault_queue = \"support\"\nmenu = [{ key = \"1\", label = \"billing\", \
             queue = \"support\", words = [\"bill\", \" \"] }]\n",
        );
        assert!(e.contains("ivr.menu[0].words"), "{e}");
        let e = error_of(
            "[ivr]\ndefault_queue = \"support\"\nmenu = [{ key = \"1\", label = \"billing\", \
             queue = \"support\", intent = \"check_balance\" }]\n",
        );
        assert!(e.contains("ivr.menu[0].intent"), "{e}");
        let e = error_of("[ivr]\ndefault_queue = \"support\"\nlanguage = \"fr\"\n");
        assert!(e.contains("ivr.language") && e.contains("\"zh\""), "{e}");
        for fine in ["zh", "zh-CN", "cmn", "en", "en-US"] {
            let toml = format!("[ivr]\ndefault_queue = \"support\"\nlanguage = \"{fine}\"\n");
            assert!(
                PremiseConfig::from_toml(&crate::config::with_demo_agents(&toml)).is_ok(),
                "{fine}"
            );
        }
        let e = error_of("[ivr]\ndefault_queue = \"support\"\nmin_confidence = 1.5\n");
        assert!(e.contains("ivr.min_confidence"), "{e}");
        if !cfg!(feature = "asr-whisper") {
            let e = error_of("[ivr]\ndefault_queue = \"support\"\nasr_model = \"/m\"\n");
            assert!(e.contains("ivr.asr_model"), "{e}");
        }
    }

    #[cfg(feature = "asr-whisper")]
    #[test]
    fn a_chinese_menu_refuses_an_english_only_model() {
        let tiny = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/asr/whisper-tiny.en");
        if !std::path::Path::new(tiny).join("model.bin").is_file() {
            eprintln!("notice: no whisper-tiny.en (scripts/fetch-asr-model.sh); skipping");
            return;
        }
        let cfg = PremiseConfig::from_toml(&crate::config::with_demo_agents(&format!(
            "[ivr]\ndefault_queue = \"support\"\nlanguage = \"zh\"\nasr_model = \"{tiny}\"\n"
        )))
        .unwrap();
        let e = super::load(&cfg.ivr).err().unwrap().to_string();
        assert!(
            e.contains("ivr.asr_model") && e.contains("English-only"),
            "{e}"
        );
    }

    #[test]
    fn without_a_model_menus_take_keys_and_an_intents_file_loads() {
        let intents = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../callcore-ivr/data/intents_en.json"
        );
        let cfg = PremiseConfig::from_toml(&crate::config::with_demo_agents(&format!(
            "[ivr]\ndefault_queue = \"support\"\nintents = \"{intents}\"\n"
        )))
        .unwrap();
        let mut ivr = cfg.ivr.clone();
        ivr.asr_model = None;
        let l = super::load(&ivr).unwrap();
        assert!(l.nlu.is_some());
        ivr.intents = Some("/nonexistent/intents.json".into());
        let e = super::load(&ivr).err().unwrap().to_string();
        assert!(e.contains("ivr.intents"), "{e}");
    }
}
