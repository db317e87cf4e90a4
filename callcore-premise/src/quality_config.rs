//! `[quality]`: its fields, their checks, and the rules they make (see
//! [`crate::quality`] for what the center does with them).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use callcore::Speaker;
use callcore_analytics::quality::talk::TalkSettings;
use callcore_analytics::quality::{QualityInspector, QualityRule};
use callcore_ivr::kb::KnowledgeBase;
use serde::Deserialize;

use crate::live_qa::LiveRules;

/// `[quality]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualitySection {
    /// Measure every answered call from its two legs' audio.
    pub enabled: bool,
    /// Also transcribe both sides (needs the `asr-whisper` feature and a model,
    /// see `[ivr] asr_model`); without one, the figures alone.
    pub transcribe: bool,
    /// Dead air (nobody speaking) this long raises a `long_silence` alert; 0: never.
    pub silence_alert_secs: f64,
    /// Both speaking this long raises a `talk_over` alert; 0: never.
    pub talk_over_alert_secs: f64,
    /// Frame level (RMS, 16-bit scale) from which a side is speaking.
    pub speech_level: f64,
    /// Words or phrases the agent must not say: a `forbidden_words` rule
    /// (20 points each time).
    pub forbidden: Vec<String>,
    /// Phrases one of which the agent must say (the recording notice): a
    /// `required_phrase` rule (15 points when missed).
    pub required: Vec<String>,
    /// Seconds after the connection by which a `required` phrase is due.
    pub required_within_secs: u32,
    /// More rules, as callcore-analytics' `QualityRule` (`[[quality.rules]]`
    /// with `rule = "negative_sentiment"`, …).
    pub rules: Vec<QualityRule>,
    /// A JSON file holding a list of more rules in the same form.
    pub rules_file: Option<PathBuf>,
    /// Agent assist: the agent of a transcribed call gets knowledge-base
    /// articles and the intent matching what the customer says, and
    /// reminders of required phrases.
    pub assist: bool,
    /// A required phrase the agent has not said this long after the
    /// connection is suggested to them (0: at the rule's deadline).
    pub remind_after_secs: f64,
    /// Utterances recognised at once, all calls together (default: as many
    /// as the recognizer decodes at once — 1 for the built-in Whisper, one
    /// CTranslate2 replica — else the cores this process may use); the
    /// others wait, oldest first.
    pub transcription_workers: Option<usize>,
    /// An utterance that waited longer than this for a worker is shed (not
    /// transcribed; its call gets a `transcription_shed` alert); 0: never.
    pub max_transcription_lag_secs: f64,
    /// Audio (seconds) that may wait for the recognizer: past it the oldest
    /// waiting utterance is shed, so memory stays bounded even with
    /// `max_transcription_lag_secs = 0`.
    pub max_transcription_backlog_secs: f64,
}

impl Default for QualitySection {
    fn default() -> Self {
        QualitySection {
            enabled: false,
            transcribe: true,
            silence_alert_secs: 10.0,
            talk_over_alert_secs: 2.0,
            speech_level: 300.0,
            forbidden: Vec::new(),
            required: Vec::new(),
            required_within_secs: 30,
            rules: Vec::new(),
            rules_file: None,
            assist: true,
            remind_after_secs: 0.0,
            transcription_workers: None,
            max_transcription_lag_secs: 20.0,
            max_transcription_backlog_secs: 600.0,
        }
    }
}

impl QualitySection {
    /// Checks the numbers, naming the field.
    pub(crate) fn validate(&self) -> Result<(), crate::PremiseError> {
        let bad = |field: &str, detail: &str| crate::PremiseError::Config {
            field: format!("quality.{field}"),
            detail: detail.to_owned(),
        };
        for (field, v) in [
            ("silence_alert_secs", self.silence_alert_secs),
            ("talk_over_alert_secs", self.talk_over_alert_secs),
        ] {
            if !(0.0..=3600.0).contains(&v) {
                return Err(bad(field, "must be within 0..=3600 seconds"));
            }
        }
        if !(1.0..=30_000.0).contains(&self.speech_level) {
            return Err(bad("speech_level", "must be within 1..=30000"));
        }
        if !(0.0..=3600.0).contains(&self.remind_after_secs) {
            return Err(bad("remind_after_secs", "must be within 0..=3600 seconds"));
        }
        if let Some(w) = self.transcription_workers
            && !(1..=1024).contains(&w)
        {
            return Err(bad("transcription_workers", "must be within 1..=1024"));
        }
        if !(0.0..=3600.0).contains(&self.max_transcription_lag_secs) {
            return Err(bad(
                "max_transcription_lag_secs",
                "must be within 0..=3600 seconds (0: never shed by age)",
            ));
        }
        if !(1.0..=36_000.0).contains(&self.max_transcription_backlog_secs) {
            return Err(bad(
                "max_transcription_backlog_secs",
                "must be within 1..=36000 seconds of audio",
            ));
        }
        self.all_rules().map(|_| ())
    }

    /// The transcription queue's limits (`transcription_workers`, else what
    /// the recognizer decodes at once, `recognizer`, else the cores this
    /// process may use).
    pub(crate) fn transcription_limits(
        &self,
        recognizer: Option<usize>,
    ) -> crate::transcription_queue::Limits {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = |secs: f64| (secs * 1000.0).round() as u64;
        let workers = self
            .transcription_workers
            .or(recognizer)
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            });
        crate::transcription_queue::Limits {
            workers: workers.max(1),
            max_lag: (self.max_transcription_lag_secs > 0.0)
                .then(|| Duration::from_millis(ms(self.max_transcription_lag_secs))),
            max_backlog_ms: ms(self.max_transcription_backlog_secs),
        }
    }

    /// The rules: `forbidden`, `required`, `rules` and `rules_file`'s, each
    /// checked (errors name the field, and the rule's place in its list).
    pub(crate) fn all_rules(&self) -> Result<Vec<QualityRule>, crate::PremiseError> {
        let bad = |field: String, detail: String| crate::PremiseError::Config {
            field: format!("quality.{field}"),
            detail,
        };
        for (field, list) in [("forbidden", &self.forbidden), ("required", &self.required)] {
            if let Some(i) = list.iter().position(|w| w.trim().is_empty()) {
                return Err(bad(format!("{field}[{i}]"), "an empty phrase".into()));
            }
        }
        if !self.required.is_empty() && self.required_within_secs == 0 {
            return Err(bad(
                "required_within_secs".into(),
                "must be at least 1".into(),
            ));
        }
        let mut rules = Vec::new();
        if !self.forbidden.is_empty() {
            rules.push(QualityRule::ForbiddenWords {
                name: "forbidden_words".into(),
                words: self.forbidden.clone(),
                speaker: Some(Speaker::Agent),
                penalty: 20.0,
            });
        }
        if !self.required.is_empty() {
            rules.push(QualityRule::RequiredPhrase {
                name: "required_phrase".into(),
                phrases: self.required.clone(),
                within_secs: self.required_within_secs,
                speaker: Speaker::Agent,
                penalty: 15.0,
            });
        }
        let check = |at: String, r: &QualityRule| {
            QualityInspector::new(vec![r.clone()]).map_err(|e| bad(at, e.to_string()))
        };
        for (i, r) in self.rules.iter().enumerate() {
            check(format!("rules[{i}]"), r)?;
            rules.push(r.clone());
        }
        if let Some(path) = &self.rules_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad("rules_file".into(), format!("{}: {e}", path.display())))?;
            let list: Vec<QualityRule> = serde_json::from_str(&text).map_err(|e| {
                bad(
                    "rules_file".into(),
                    format!("{}: not a list of rules: {e}", path.display()),
                )
            })?;
            for (i, r) in list.iter().enumerate() {
                check(format!("rules_file[{i}]"), r)?;
            }
            rules.extend(list);
        }
        let mut names = HashSet::new();
        if let Some(r) = rules.iter().find(|r| !names.insert(r.name().to_owned())) {
            return Err(bad(
                "rules".into(),
                format!("two rules are named {:?}", r.name()),
            ));
        }
        Ok(rules)
    }

    /// What the live inspection of each transcribed call uses: the rules,
    /// `[ivr] knowledge_bases` and whether an intents file classifies.
    pub(crate) fn live_rules(
        &self,
        knowledge: Vec<(String, Arc<KnowledgeBase>)>,
        classify: bool,
    ) -> Result<LiveRules, crate::PremiseError> {
        let rules = self.all_rules()?;
        let mut live = LiveRules::new(rules).map_err(|e| crate::PremiseError::Config {
            field: "quality.rules".into(),
            detail: e.to_string(),
        })?;
        live.assist = self.assist;
        live.knowledge = knowledge;
        live.classify = classify;
        live.remind_after =
            (self.remind_after_secs > 0.0).then(|| Duration::from_secs_f64(self.remind_after_secs));
        Ok(live)
    }

    pub(crate) fn settings(&self) -> TalkSettings {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = |secs: f64| (secs > 0.0).then(|| (secs * 1000.0).round() as u64);
        let mut s = TalkSettings::default();
        s.speech_rms = self.speech_level;
        s.silence_alert_ms = ms(self.silence_alert_secs);
        s.talk_over_alert_ms = ms(self.talk_over_alert_secs);
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::PremiseConfig;

    fn load(quality: &str) -> Result<PremiseConfig, String> {
        PremiseConfig::from_toml(&crate::config::with_demo_agents(&format!(
            "[quality]\nenabled = true\n{quality}"
        )))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_shorthands_and_the_inline_rules_make_one_list() {
        let c = load(
            "forbidden = [\"stupid\"]\nrequired = [\"this call is recorded\"]\n\
             required_within_secs = 20\nremind_after_secs = 5\n\
             [[quality.rules]]\nrule = \"negative_sentiment\"\nname = \"unhappy\"\n\
             speaker = \"customer\"\nthreshold = -0.3\nwindow = 2\npenalty = 5\n",
        )
        .unwrap();
        let rules = c.quality.all_rules().unwrap();
        let names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
        assert_eq!(names, ["forbidden_words", "required_phrase", "unhappy"]);
        let live = c.quality.live_rules(Vec::new(), false).unwrap();
        assert_eq!(live.remind_after, Some(std::time::Duration::from_secs(5)));
        assert!(live.assist);
    }

    #[test]
    fn the_transcription_queue_defaults_to_the_cores_and_a_20_s_lag() {
        let c = load("").unwrap();
        let l = c.quality.transcription_limits(None);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        assert_eq!(l.workers, cores);
        assert_eq!(l.max_lag, Some(std::time::Duration::from_secs(20)));
        assert_eq!(l.max_backlog_ms, 600_000);
        // A recognizer that decodes one utterance at a time (the built-in
        // Whisper) gets one worker unless the section says otherwise.
        assert_eq!(c.quality.transcription_limits(Some(1)).workers, 1);
        let c = load(
            "transcription_workers = 3\nmax_transcription_lag_secs = 0\n\
             max_transcription_backlog_secs = 90\n",
        )
        .unwrap();
        let l = c.quality.transcription_limits(Some(1));
        assert_eq!((l.workers, l.max_lag, l.max_backlog_ms), (3, None, 90_000));
    }

    #[test]
    fn bad_rules_are_refused_naming_the_field() {
        let e = load(
            "[[quality.rules]]\nrule = \"max_silence_ratio\"\nname = \"quiet\"\n\
             max_ratio = 2.0\npenalty = 5\n",
        )
        .unwrap_err();
        assert!(
            e.contains("quality.rules[0]") && e.contains("max_ratio"),
            "{e}"
        );
        let e = load("forbidden = [\"ok\", \" \"]\n").unwrap_err();
        assert!(e.contains("quality.forbidden[1]"), "{e}");
        let e = load("required = [\"x\"]\nrequired_within_secs = 0\n").unwrap_err();
        assert!(e.contains("quality.required_within_secs"), "{e}");
        let e = load("remind_after_secs = -1\n").unwrap_err();
        assert!(e.contains("quality.remind_after_secs"), "{e}");
        for (field, value) in [
            ("transcription_workers", "0"),
            ("max_transcription_lag_secs", "-1"),
            ("max_transcription_backlog_secs", "0"),
        ] {
            let e = load(&format!("{field} = {value}\n")).unwrap_err();
            assert!(e.contains(&format!("quality.{field}")), "{e}");
        }
        let e = load("rules_file = \"/nonexistent/quality.json\"\n").unwrap_err();
        assert!(e.contains("quality.rules_file"), "{e}");
        let e = load(
            "forbidden = [\"x\"]\n[[quality.rules]]\nrule = \"forbidden_words\"\n\
             name = \"forbidden_words\"\nwords = [\"y\"]\npenalty = 1\n",
        )
        .unwrap_err();
        assert!(e.contains("two rules are named"), "{e}");
    }

    #[test]
    fn a_rules_file_adds_its_rules_and_names_its_bad_one() {
        let dir = std::env::temp_dir().join(format!("callcore-qrules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rules.json");
        std::fs::write(
            &file,
            r#"[{"rule": "forbidden_words", "name": "rude", "words": ["idiot"], "penalty": 10}]"#,
        )
        .unwrap();
        let c = load(&format!("rules_file = {:?}\n", file.display().to_string())).unwrap();
        assert_eq!(c.quality.all_rules().unwrap()[0].name(), "rude");
        std::fs::write(
            &file,
            r#"[{"rule": "forbidden_words", "name": "rude", "words": [], "penalty": 10}]"#,
        )
        .unwrap();
        let e = load(&format!("rules_file = {:?}\n", file.display().to_string())).unwrap_err();
        assert!(e.contains("quality.rules_file[0]"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
