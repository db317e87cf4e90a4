//! Phone numbers normalised to E.164 (`+` country code and national number,
//! 15 digits at most).
//!
//! This is the validation a lead import needs, not a full numbering-plan
//! database: the punctuation people type is removed, the international prefix
//! (`00`, `011`) or the national trunk prefix (`0`) is handled according to a
//! [`NumberPlan`], and lengths are checked (North American numbers strictly: ten
//! digits, area code and exchange not starting with 0 or 1).

use std::fmt;

/// Why a number is not a valid E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneNumberError {
    /// Nothing but punctuation.
    #[error("empty number")]
    Empty,
    /// A character that is not a digit or phone punctuation.
    #[error("unexpected character {0:?}")]
    BadCharacter(char),
    /// Too few or too many digits.
    #[error("{digits} digits; E.164 allows {min} to 15")]
    Length {
        /// Digits found (country code included).
        digits: usize,
        /// The least this plan accepts.
        min: usize,
    },
    /// A country code cannot start with 0.
    #[error("country code starts with 0")]
    CountryCode,
    /// A North American number breaks the NANP rules.
    #[error("not a valid North American number: {0}")]
    Nanp(&'static str),
}

/// The numbering plan that numbers without an international prefix belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPlan {
    /// Country calling code (`1` for North America, `44` for the UK).
    pub country_code: u16,
    /// The national trunk prefix dropped from national numbers (`"0"` in most of
    /// Europe; none in North America).
    pub trunk_prefix: Option<&'static str>,
    /// The international call prefixes recognised (`"00"`, `"011"`).
    pub international_prefixes: &'static [&'static str],
}

impl NumberPlan {
    /// North America (NANP): country code 1, `011` international prefix.
    #[must_use]
    pub const fn north_america() -> Self {
        Self {
            country_code: 1,
            trunk_prefix: None,
            international_prefixes: &["011"],
        }
    }

    /// A plan with trunk prefix `0` and international prefix `00` (most of Europe,
    /// China, ...).
    #[must_use]
    pub const fn with_trunk_zero(country_code: u16) -> Self {
        Self {
            country_code,
            trunk_prefix: Some("0"),
            international_prefixes: &["00"],
        }
    }
}

impl Default for NumberPlan {
    fn default() -> Self {
        Self::north_america()
    }
}

/// A phone number in E.164 form (`+14155550100`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164(String);

impl E164 {
    /// Normalises `raw` as written in a lead file under `plan`.
    ///
    /// ```
    /// use callcore_dialer::rules::{E164, NumberPlan};
    /// let uk = NumberPlan::with_trunk_zero(44);
    /// assert_eq!(E164::parse("020 7946 0018", &uk).unwrap().as_str(), "+442079460018");
    /// assert_eq!(E164::parse("(415) 555-0100", &NumberPlan::north_america()).unwrap().as_str(), "+14155550100");
    /// assert!(E164::parse("555-0100", &NumberPlan::north_america()).is_err());
    /// ```
    ///
    /// # Errors
    /// [`PhoneNumberError`] naming what is wrong.
    pub fn parse(raw: &str, plan: &NumberPlan) -> Result<Self, PhoneNumberError> {
        let trimmed = raw.trim();
        let mut digits = String::with_capacity(trimmed.len());
        let mut plus = false;
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
                other => return Err(PhoneNumberError::BadCharacter(other)),
            }
        }
        if digits.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        let international = if plus {
            Some(digits.as_str())
        } else {
            plan.international_prefixes
                .iter()
                .find_map(|p| digits.strip_prefix(p))
        };
        let full = if let Some(intl) = international {
            intl.to_owned()
        } else {
            let cc = plan.country_code.to_string();
            let national = match plan.trunk_prefix {
                Some(tp) => digits.strip_prefix(tp).unwrap_or(&digits),
                // NANP: "1 415 555 0100" carries the country code already.
                None if digits.len() == 11 && digits.starts_with(&cc) => &digits[cc.len()..],
                None => &digits,
            };
            format!("{cc}{national}")
        };
        validate(&full)?;
        Ok(Self(format!("+{full}")))
    }

    /// The number with its leading `+`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the string.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

fn validate(full: &str) -> Result<(), PhoneNumberError> {
    const MIN: usize = 8;
    if full.starts_with('0') {
        return Err(PhoneNumberError::CountryCode);
    }
    if !(MIN..=15).contains(&full.len()) {
        return Err(PhoneNumberError::Length {
            digits: full.len(),
            min: MIN,
        });
    }
    if let Some(national) = full.strip_prefix('1') {
        let b = national.as_bytes();
        if b.len() != 10 {
            return Err(PhoneNumberError::Nanp("needs ten digits after the 1"));
        }
        if matches!(b[0], b'0' | b'1') {
            return Err(PhoneNumberError::Nanp("area code starts with 0 or 1"));
        }
        if matches!(b[3], b'0' | b'1') {
            return Err(PhoneNumberError::Nanp("exchange starts with 0 or 1"));
        }
    }
    Ok(())
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for E164 {
    /// Redacted: numbers are personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("E164(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_common_spellings() {
        let na = NumberPlan::north_america();
        for raw in [
            "+1 415 555 0100",
            "1-415-555-0100",
            "415.555.0100",
            "(415) 555-0100",
        ] {
            assert_eq!(
                E164::parse(raw, &na).unwrap().as_str(),
                "+14155550100",
                "{raw}"
            );
        }
        assert_eq!(
            E164::parse("011 44 20 7946 0018", &na).unwrap().as_str(),
            "+442079460018"
        );
        let de = NumberPlan::with_trunk_zero(49);
        assert_eq!(
            E164::parse("030 1234567", &de).unwrap().as_str(),
            "+49301234567"
        );
        assert_eq!(
            E164::parse("0049 30 1234567", &de).unwrap().as_str(),
            "+49301234567"
        );
    }

    #[test]
    fn rejects_with_a_reason() {
        let na = NumberPlan::north_america();
        assert_eq!(E164::parse("  ", &na), Err(PhoneNumberError::Empty));
        assert_eq!(
            E164::parse("415x5550100", &na),
            Err(PhoneNumberError::BadCharacter('x'))
        );
        assert!(matches!(
            E164::parse("+1234567890123456", &na),
            Err(PhoneNumberError::Length { .. })
        ));
        assert!(matches!(
            E164::parse("(015) 555-0100", &na),
            Err(PhoneNumberError::Nanp(_))
        ));
        assert!(matches!(
            E164::parse("415 155 0100", &na),
            Err(PhoneNumberError::Nanp(_))
        ));
        assert_eq!(
            E164::parse("+0441234567", &na),
            Err(PhoneNumberError::CountryCode)
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_output_is_e164(raw in "\\PC{0,24}") {
            if let Ok(n) = E164::parse(&raw, &NumberPlan::with_trunk_zero(33)) {
                let s = n.as_str();
                prop_assert!(s.starts_with('+'));
                prop_assert!(s[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((9..=16).contains(&s.len()));
            }
        }

        #[test]
        fn normalisation_is_idempotent(national in "[2-9][0-9]{2}[2-9][0-9]{6}") {
            let na = NumberPlan::north_america();
            let once = E164::parse(&national, &na).unwrap();
            let twice = E164::parse(once.as_str(), &na).unwrap();
            prop_assert_eq!(once, twice);
        }
    }
}
