//! The intents file: example utterances per intent plus custom entity lists.
//!
//! ```json
//! {"language": "en",
//!  "intents": [{"name": "check_bill", "examples": ["how much do I owe", "what's my balance"]}],
//!  "entities": [{"name": "plan", "values": ["basic", {"value": "premium", "synonyms": ["gold"]}]}]}
//! ```
//! `entities` is optional; an entity value is a string or an object with synonyms.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::IvrError;

const WHAT: &str = "intents file";

/// The language an intents file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Language {
    /// English.
    En,
    /// Chinese.
    Zh,
    /// English and Chinese.
    Mixed,
}

/// One intent with its example utterances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentSpec {
    /// Intent name returned by the classifier, e.g. `check_bill`.
    pub name: String,
    /// Example utterances.
    pub examples: Vec<String>,
}

/// A custom entity value, optionally with synonyms that map to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EntityValue {
    /// A value matched as written.
    Plain(String),
    /// A canonical value and other ways to say it.
    WithSynonyms {
        /// The canonical value reported in slots.
        value: String,
        /// Other phrasings that map to `value`.
        #[serde(default)]
        synonyms: Vec<String>,
    },
}

impl EntityValue {
    /// The canonical value.
    pub fn value(&self) -> &str {
        match self {
            EntityValue::Plain(v) | EntityValue::WithSynonyms { value: v, .. } => v,
        }
    }

    /// The canonical value followed by its synonyms.
    pub fn phrasings(&self) -> Vec<&str> {
        match self {
            EntityValue::Plain(v) => vec![v.as_str()],
            EntityValue::WithSynonyms { value, synonyms } => std::iter::once(value.as_str())
                .chain(synonyms.iter().map(String::as_str))
                .collect(),
        }
    }
}

/// A custom entity list, e.g. the plans a telecom sells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySpec {
    /// Slot name reported when a value matches, e.g. `plan`.
    pub name: String,
    /// The values.
    pub values: Vec<EntityValue>,
}

/// A whole intents file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentsFile {
    /// The language of the examples.
    pub language: Language,
    /// The intents.
    pub intents: Vec<IntentSpec>,
    /// Custom entity lists (optional in the file).
    #[serde(default)]
    pub entities: Vec<EntitySpec>,
}

impl IntentsFile {
    /// Parses and validates an intents file.
    pub fn from_json(json: &str) -> Result<Self, IvrError> {
        let file: IntentsFile = serde_json::from_str(json).map_err(|e| IvrError::json(WHAT, &e))?;
        file.validate()?;
        Ok(file)
    }

    /// Reads, parses and validates an intents file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, IvrError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| IvrError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Checks names are present and unique and every intent has an example.
    pub fn validate(&self) -> Result<(), IvrError> {
        if self.intents.is_empty() {
            return Err(IvrError::invalid(
                WHAT,
                "intents",
                "at least one intent is needed",
            ));
        }
        let mut names = HashSet::new();
        for (i, intent) in self.intents.iter().enumerate() {
            if intent.name.trim().is_empty() {
                return Err(IvrError::invalid(
                    WHAT,
                    format!("intents[{i}].name"),
                    "is empty",
                ));
            }
            if !names.insert(intent.name.as_str()) {
                return Err(IvrError::invalid(
                    WHAT,
                    format!("intents[{i}].name"),
                    format!("duplicate intent name {:?}", intent.name),
                ));
            }
            if intent.examples.iter().all(|e| e.trim().is_empty()) {
                return Err(IvrError::invalid(
                    WHAT,
                    format!("intents[{i}].examples"),
                    format!("intent {:?} has no example", intent.name),
                ));
            }
        }
        let mut names = HashSet::new();
        for (i, entity) in self.entities.iter().enumerate() {
            if entity.name.trim().is_empty() {
                return Err(IvrError::invalid(
                    WHAT,
                    format!("entities[{i}].name"),
                    "is empty",
                ));
            }
            if !names.insert(entity.name.as_str()) {
                return Err(IvrError::invalid(
                    WHAT,
                    format!("entities[{i}].name"),
                    format!("duplicate entity name {:?}", entity.name),
                ));
            }
            for (j, v) in entity.values.iter().enumerate() {
                if v.phrasings().iter().any(|p| p.trim().is_empty()) {
                    return Err(IvrError::invalid(
                        WHAT,
                        format!("entities[{i}].values[{j}]"),
                        "empty value or synonym",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_shape_loads_with_and_without_entities() {
        let f = IntentsFile::from_json(
            r#"{"language": "en", "intents": [{"name": "check_bill", "examples": ["how much do I owe"]}],
                "entities": [{"name": "plan", "values": ["basic", "premium"]}]}"#,
        )
        .unwrap();
        assert_eq!(f.entities[0].values[1].value(), "premium");
        let f = IntentsFile::from_json(
            r#"{"language": "mixed", "intents": [{"name": "a", "examples": ["x"]}]}"#,
        )
        .unwrap();
        assert!(f.entities.is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        let e = IntentsFile::from_json(
            r#"{"language": "en", "intents": [{"name": "a", "examples": ["x"]}, {"name": "a", "examples": ["y"]}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("intents[1].name"), "{e}");
        let e = IntentsFile::from_json(r#"{"language": "fr", "intents": []}"#).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = IntentsFile::from_json(
            r#"{"language": "en", "intents": [{"name": "a", "examples": [" "]}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("intents[0].examples"), "{e}");
    }
}
