//! [`IntentClassifier`] as callcore's [`IntentRecognizer`] port.

use async_trait::async_trait;
use callcore::{CoreError, IntentRecognizer, IntentResult, NluContext};

use super::classifier::IntentClassifier;
use crate::slots::{DateValue, Slot, SlotValue};

fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// The normalised text form of a slot value used by callcore:
/// numbers `"1200"`, amounts `"25.50"` or `"25.50 USD"`, dates `"2026-03-05"`,
/// `"--03-05"` (no year), `"day+1"` (relative) or `"weekday:5"`, digits as digits.
pub fn slot_value_text(value: &SlotValue) -> String {
    match value {
        SlotValue::Number(n) => number(*n),
        SlotValue::Amount { amount, currency } => match currency {
            Some(c) => format!("{amount:.2} {c}"),
            None => format!("{amount:.2}"),
        },
        SlotValue::Date(DateValue::Calendar { year, month, day }) => match (year, month) {
            (Some(y), Some(m)) => format!("{y:04}-{m:02}-{day:02}"),
            (None, Some(m)) => format!("--{m:02}-{day:02}"),
            _ => format!("---{day:02}"),
        },
        SlotValue::Date(DateValue::Relative { days }) => format!("day{days:+}"),
        SlotValue::Date(DateValue::Weekday { weekday }) => format!("weekday:{weekday}"),
        SlotValue::Text(t) => t.clone(),
    }
}

/// Converts a slot to callcore's form.
pub fn to_core_slot(slot: &Slot) -> callcore::Slot {
    callcore::Slot {
        name: slot.entity.clone(),
        value: slot_value_text(&slot.value),
        raw: slot.text.clone(),
    }
}

impl IntentClassifier {
    /// Classifies `text` into callcore's [`IntentResult`].
    ///
    /// When the flow expects certain intents (`context.expected_intents`) and
    /// the best intent is not one of them, an expected alternative that is
    /// itself above the rejection threshold is preferred.
    pub fn recognize_sync(&self, text: &str, context: &NluContext) -> IntentResult {
        let c = self.classify(text);
        let mut intent = c.intent.clone();
        let mut confidence = c.confidence;
        let mut alternatives: Vec<callcore::IntentScore> = c
            .alternatives
            .iter()
            .map(|a| callcore::IntentScore {
                intent: a.intent.clone(),
                confidence: a.confidence,
            })
            .collect();
        if !context.expected_intents.is_empty()
            && intent
                .as_ref()
                .is_none_or(|i| !context.expected_intents.contains(i))
            && let Some(pos) = alternatives
                .iter()
                .position(|a| a.confidence >= 0.5 && context.expected_intents.contains(&a.intent))
        {
            let preferred = alternatives.remove(pos);
            if let Some(previous) = intent.take() {
                alternatives.insert(
                    0,
                    callcore::IntentScore {
                        intent: previous,
                        confidence,
                    },
                );
            }
            intent = Some(preferred.intent);
            confidence = preferred.confidence;
        }
        IntentResult {
            intent,
            confidence,
            alternatives,
            slots: c.slots.iter().map(to_core_slot).collect(),
        }
    }
}

#[async_trait]
impl IntentRecognizer for IntentClassifier {
    async fn recognize(&self, text: &str, context: &NluContext) -> Result<IntentResult, CoreError> {
        Ok(self.recognize_sync(text, context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::IntentsFile;

    fn classifier() -> IntentClassifier {
        let file = IntentsFile::from_json(
            r#"{"language": "en", "intents": [
                {"name": "check_bill", "examples": ["how much do I owe", "what is my balance", "show my bill"]},
                {"name": "lost_card", "examples": ["I lost my card", "my card was stolen", "block my card"]},
                {"name": "agent", "examples": ["talk to a person", "speak to an agent", "operator"]}]}"#,
        )
        .unwrap();
        IntentClassifier::train(&file).unwrap()
    }

    #[tokio::test]
    async fn implements_callcores_port() {
        let nlu: std::sync::Arc<dyn IntentRecognizer> = std::sync::Arc::new(classifier());
        let r = nlu
            .recognize(
                "my card was stolen yesterday, I owe $25",
                &NluContext::default(),
            )
            .await
            .unwrap();
        assert_eq!(r.intent.as_deref(), Some("lost_card"));
        assert!(r.confidence > 0.5 && r.confidence <= 1.0);
        let slots: Vec<(&str, &str)> = r
            .slots
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(slots, [("date", "day-1"), ("amount", "25.00 USD")]);
    }

    #[test]
    fn slot_values_have_a_text_form() {
        assert_eq!(slot_value_text(&SlotValue::Number(1200.0)), "1200");
        assert_eq!(slot_value_text(&SlotValue::Number(2.5)), "2.5");
        let d = DateValue::Calendar {
            year: Some(2026),
            month: Some(3),
            day: 5,
        };
        assert_eq!(slot_value_text(&SlotValue::Date(d)), "2026-03-05");
        let d = DateValue::Calendar {
            year: None,
            month: Some(3),
            day: 5,
        };
        assert_eq!(slot_value_text(&SlotValue::Date(d)), "--03-05");
    }
}

#[cfg(test)]
mod robustness {
    use crate::nlu::{IntentClassifier, IntentsFile};

    #[test]
    fn tiny_models_and_odd_input_do_not_panic() {
        for json in [
            r#"{"language": "en", "intents": [{"name": "only", "examples": ["hello there friend"]}]}"#,
            r#"{"language": "zh", "intents": [{"name": "a", "examples": ["查余额"]}, {"name": "b", "examples": ["转人工"]}]}"#,
            r#"{"language": "mixed", "intents": [{"name": "a", "examples": ["pay", "付款"]}, {"name": "b", "examples": ["um", "block card"]}]}"#,
        ] {
            let c = IntentClassifier::train(&IntentsFile::from_json(json).unwrap()).unwrap();
            let long = "lorem ipsum dolor sit amet ".repeat(400);
            for text in [
                "",
                "   ",
                "🙂🙂",
                "\u{0}",
                "ÄÖÜ ß",
                "12345",
                long.as_str(),
                "查余额",
                "hello there friend",
            ] {
                let r = c.classify(text);
                assert!(
                    (0.0..=1.0).contains(&r.confidence),
                    "{text:?}: {}",
                    r.confidence
                );
            }
        }
        // An intent whose examples are all stop words cannot be learned: a clear error.
        let e = IntentClassifier::train(
            &IntentsFile::from_json(
                r#"{"language": "en", "intents": [{"name": "a", "examples": ["um", "the"]}]}"#,
            )
            .unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("intents[0].examples"), "{e}");
    }
}
