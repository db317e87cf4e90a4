//! Phone numbers normalised to E.164 (`+` country code and national number)
//! through the `phonenumber` crate, a port of libphonenumber with its
//! per-country metadata: what a lead file holds is parsed in the campaign's
//! default region (a [`NumberPlan`]), checked against that country's numbering
//! plan (lengths, prefixes, number ranges in use) and typed (mobile, fixed
//! line, toll free ...), which the campaign's rules for mobiles use.
//!
//! libphonenumber cannot tell mobiles from fixed lines in the North American
//! plan (both come from the same area codes): those numbers are
//! [`LineType::FixedLineOrMobile`], which the rules treat as possibly mobile.

use std::fmt;

use phonenumber::country::Id as Region;

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
    /// Not a phone number at all (too short, too long, no country code).
    #[error("not a phone number: {0}")]
    NotANumber(String),
    /// A number that no numbering plan hands out (wrong length or range for
    /// its country).
    #[error("not a valid number of {region}")]
    Invalid {
        /// The country it was read as (`"US"`, `"GB"`), or its calling code.
        region: String,
    },
    /// A region code that libphonenumber does not know.
    #[error("unknown region {0:?}")]
    UnknownRegion(String),
}

/// The country that numbers written without an international prefix belong
/// to (the campaign's default region). Its international and national trunk
/// prefixes come from libphonenumber's metadata (`011` and none in North
/// America, `00` and `0` in most of Europe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberPlan {
    region: Option<Region>,
}

impl NumberPlan {
    /// North America (NANP, read as the US): `011` international prefix.
    #[must_use]
    pub const fn north_america() -> Self {
        Self {
            region: Some(Region::US),
        }
    }

    /// The main region of a country calling code (`44` → GB, `49` → DE);
    /// kept for configurations written with calling codes. Numbers without
    /// an international prefix are rejected when the code is unknown.
    #[must_use]
    pub fn with_trunk_zero(country_code: u16) -> Self {
        let region = phonenumber::metadata::DATABASE
            .by_code(&country_code)
            .and_then(|m| m.into_iter().next())
            .and_then(|m| m.id().parse().ok());
        Self { region }
    }

    /// A region by its ISO 3166 code (`"GB"`, `"de"`).
    ///
    /// # Errors
    /// [`PhoneNumberError::UnknownRegion`].
    pub fn region(code: &str) -> Result<Self, PhoneNumberError> {
        code.trim()
            .to_ascii_uppercase()
            .parse::<Region>()
            .map(|r| Self { region: Some(r) })
            .map_err(|_| PhoneNumberError::UnknownRegion(code.to_owned()))
    }

    /// The region's ISO code, if the plan has one.
    #[must_use]
    pub fn region_code(&self) -> Option<&'static str> {
        self.region.map(region_str)
    }
}

impl Default for NumberPlan {
    fn default() -> Self {
        Self::north_america()
    }
}

/// What kind of line a number is, from its country's number ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LineType {
    /// A mobile phone.
    Mobile,
    /// A fixed (landline) phone.
    FixedLine,
    /// Either: the plan does not tell them apart (North America).
    FixedLineOrMobile,
    /// Free for the caller (800 numbers).
    TollFree,
    /// Premium rate.
    PremiumRate,
    /// Shared cost.
    SharedCost,
    /// Voice over IP.
    Voip,
    /// A personal (follow-me) number.
    PersonalNumber,
    /// A pager.
    Pager,
    /// A company's universal access number.
    Uan,
    /// Voicemail access.
    Voicemail,
    /// Valid, but of no known type.
    Unknown,
}

impl LineType {
    /// Whether the line may be a mobile (mobile, or a plan that cannot tell):
    /// the conservative reading consent rules need.
    #[must_use]
    pub const fn may_be_mobile(self) -> bool {
        matches!(self, Self::Mobile | Self::FixedLineOrMobile)
    }

    fn of(t: phonenumber::Type) -> Self {
        use phonenumber::Type as T;
        match t {
            T::Mobile => Self::Mobile,
            T::FixedLine => Self::FixedLine,
            T::FixedLineOrMobile => Self::FixedLineOrMobile,
            T::TollFree => Self::TollFree,
            T::PremiumRate => Self::PremiumRate,
            T::SharedCost => Self::SharedCost,
            T::Voip => Self::Voip,
            T::PersonalNumber => Self::PersonalNumber,
            T::Pager => Self::Pager,
            T::Uan => Self::Uan,
            T::Voicemail => Self::Voicemail,
            _ => Self::Unknown,
        }
    }
}

/// A valid phone number in E.164 form (`+14155550100`), with its country and
/// line type.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164 {
    number: String,
    region: Option<&'static str>,
    line_type: LineType,
}

fn region_str(r: Region) -> &'static str {
    // `Region` names are the ISO codes; its `Debug` is the variant name.
    REGIONS
        .iter()
        .find(|(id, _)| *id == r)
        .map_or("ZZ", |(_, s)| *s)
}

/// The regions the dialer names (others read as "ZZ" in [`E164::region`];
/// their numbers are still parsed, validated and typed).
const REGIONS: &[(Region, &str)] = &[
    (Region::US, "US"),
    (Region::CA, "CA"),
    (Region::GB, "GB"),
    (Region::IE, "IE"),
    (Region::DE, "DE"),
    (Region::FR, "FR"),
    (Region::ES, "ES"),
    (Region::IT, "IT"),
    (Region::NL, "NL"),
    (Region::BE, "BE"),
    (Region::CH, "CH"),
    (Region::AT, "AT"),
    (Region::SE, "SE"),
    (Region::NO, "NO"),
    (Region::DK, "DK"),
    (Region::FI, "FI"),
    (Region::PL, "PL"),
    (Region::PT, "PT"),
    (Region::CN, "CN"),
    (Region::HK, "HK"),
    (Region::TW, "TW"),
    (Region::JP, "JP"),
    (Region::KR, "KR"),
    (Region::SG, "SG"),
    (Region::IN, "IN"),
    (Region::BR, "BR"),
    (Region::MX, "MX"),
    (Region::AR, "AR"),
    (Region::AU, "AU"),
    (Region::NZ, "NZ"),
    (Region::ZA, "ZA"),
    (Region::AE, "AE"),
    (Region::IL, "IL"),
    (Region::TR, "TR"),
    (Region::RU, "RU"),
];

impl E164 {
    /// Normalises `raw` as written in a lead file, in `plan`'s region unless
    /// it carries an international prefix (`+`, or the region's own: `011`
    /// from the US, `00` from most of Europe).
    ///
    /// ```
    /// use callcore_dialer::rules::{E164, LineType, NumberPlan};
    /// let uk = NumberPlan::region("GB").unwrap();
    /// let n = E164::parse("07400 123456", &uk).unwrap();
    /// assert_eq!((n.as_str(), n.region(), n.line_type()), ("+447400123456", Some("GB"), LineType::Mobile));
    /// assert_eq!(E164::parse("(415) 555-0100", &NumberPlan::north_america()).unwrap().as_str(), "+14155550100");
    /// assert!(E164::parse("555-0100", &NumberPlan::north_america()).is_err());
    /// ```
    ///
    /// # Errors
    /// [`PhoneNumberError`] naming what is wrong.
    pub fn parse(raw: &str, plan: &NumberPlan) -> Result<Self, PhoneNumberError> {
        let trimmed = raw.trim();
        let mut digits = 0;
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits += 1,
                '+' if i == 0 => {}
                ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
                other => return Err(PhoneNumberError::BadCharacter(other)),
            }
        }
        if digits == 0 {
            return Err(PhoneNumberError::Empty);
        }
        let number = phonenumber::parse(plan.region, trimmed)
            .map_err(|e| PhoneNumberError::NotANumber(e.to_string()))?;
        let region = number.country().id();
        if !phonenumber::is_valid(&number) {
            let code = number.code().value();
            // An invalid number has no country of its own: name the plan's
            // when the calling code is its.
            let plan_region = plan.region.filter(|r| {
                phonenumber::metadata::DATABASE
                    .by_id(region_str(*r))
                    .is_some_and(|m| m.country_code() == code)
            });
            return Err(PhoneNumberError::Invalid {
                region: region
                    .or(plan_region)
                    .map_or_else(|| format!("+{code}"), |r| region_str(r).to_owned()),
            });
        }
        let line_type = LineType::of(number.number_type(&phonenumber::metadata::DATABASE));
        Ok(Self {
            number: number.format().mode(phonenumber::Mode::E164).to_string(),
            region: region.map(region_str),
            line_type,
        })
    }

    /// The number with its leading `+`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// Unwraps the string.
    #[must_use]
    pub fn into_string(self) -> String {
        self.number
    }

    /// The country (ISO 3166 code) the number belongs to: `"US"`, `"CA"`,
    /// `"GB"`; `"ZZ"` for a country the dialer has no name for; `None` for
    /// non-geographic numbers (+800 ...).
    #[must_use]
    pub fn region(&self) -> Option<&'static str> {
        self.region
    }

    /// Mobile, fixed line, toll free ...
    #[must_use]
    pub fn line_type(&self) -> LineType {
        self.line_type
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.number)
    }
}

impl fmt::Debug for E164 {
    /// Redacted: numbers are personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "E164(<redacted>, {}, {:?})",
            self.region.unwrap_or("-"),
            self.line_type
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plan(region: &str) -> NumberPlan {
        NumberPlan::region(region).unwrap()
    }

    #[test]
    fn normalises_common_spellings() {
        let na = NumberPlan::north_america();
        for raw in [
            "+1 415 555 0100",
            "1-415-555-0100",
            "415.555.0100",
            "(415) 555-0100",
            "011 1 415 555 0100",
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
        assert_eq!(de.region_code(), Some("DE"));
        assert_eq!(
            E164::parse("030 1234567", &de).unwrap().as_str(),
            "+49301234567"
        );
        assert_eq!(
            E164::parse("0049 30 1234567", &de).unwrap().as_str(),
            "+49301234567"
        );
    }

    /// (region, as written there, E.164, line type): valid numbers of each
    /// country, a mobile and a fixed line where the plan tells them apart.
    const VALID: &[(&str, &str, &str, LineType)] = &[
        (
            "US",
            "(212) 555-2368",
            "+12125552368",
            LineType::FixedLineOrMobile,
        ),
        (
            "US",
            "1 650 253 0000",
            "+16502530000",
            LineType::FixedLineOrMobile,
        ),
        (
            "CA",
            "(416) 555-0199",
            "+14165550199",
            LineType::FixedLineOrMobile,
        ),
        (
            "CA",
            "604-555-0142",
            "+16045550142",
            LineType::FixedLineOrMobile,
        ),
        ("US", "1-800-555-0199", "+18005550199", LineType::TollFree),
        ("GB", "020 7946 0018", "+442079460018", LineType::FixedLine),
        ("GB", "07400 123456", "+447400123456", LineType::Mobile),
        ("DE", "030 1234567", "+49301234567", LineType::FixedLine),
        ("DE", "0151 23456789", "+4915123456789", LineType::Mobile),
        ("FR", "01 23 45 67 89", "+33123456789", LineType::FixedLine),
        ("FR", "06 12 34 56 78", "+33612345678", LineType::Mobile),
        ("CN", "010 1234 5678", "+861012345678", LineType::FixedLine),
        ("CN", "138 0013 8000", "+8613800138000", LineType::Mobile),
        ("IN", "011 2345 6789", "+911123456789", LineType::FixedLine),
        ("IN", "098765 43210", "+919876543210", LineType::Mobile),
        ("BR", "(11) 3456-7890", "+551134567890", LineType::FixedLine),
        ("BR", "(11) 96123-4567", "+5511961234567", LineType::Mobile),
        ("AU", "(02) 9876 5432", "+61298765432", LineType::FixedLine),
        ("AU", "0412 345 678", "+61412345678", LineType::Mobile),
    ];

    #[test]
    fn valid_numbers_of_several_countries_with_their_line_type() {
        for &(region, raw, e164, line) in VALID {
            let n =
                E164::parse(raw, &plan(region)).unwrap_or_else(|e| panic!("{region} {raw}: {e}"));
            assert_eq!(n.as_str(), e164, "{region} {raw}");
            assert_eq!(n.line_type(), line, "{region} {raw}");
            assert_eq!(n.region(), Some(region), "{region} {raw}");
            // Written internationally from anywhere, the same number.
            let again = E164::parse(e164, &plan("JP")).unwrap();
            assert_eq!((again.as_str(), again.line_type()), (e164, line));
        }
    }

    #[test]
    fn mobiles_are_told_from_fixed_lines_where_the_plan_can() {
        assert!(LineType::Mobile.may_be_mobile());
        assert!(LineType::FixedLineOrMobile.may_be_mobile());
        assert!(!LineType::FixedLine.may_be_mobile());
        assert!(!LineType::TollFree.may_be_mobile());
    }

    #[test]
    fn invalid_numbers_of_several_countries_are_rejected() {
        for (region, raw) in [
            ("US", "(015) 555-0100"),   // area code starts with 0
            ("US", "555-0100"),         // no area code
            ("CA", "416 555 01"),       // too short
            ("GB", "020 7946 001"),     // one digit short
            ("GB", "07400 1234567"),    // mobile, one digit long
            ("DE", "0151 2"),           // too short
            ("FR", "06 12 34 56"),      // too short
            ("FR", "09 12 34 56 78 9"), // too long
            ("CN", "138 0013 800"),     // mobile, a digit short
            ("IN", "012345"),           // too short
            ("BR", "(11) 1234-567"),    // too short
            ("AU", "0412 345 67"),      // too short
        ] {
            let err = E164::parse(raw, &plan(region));
            assert!(err.is_err(), "{region} {raw} accepted as {:?}", err);
        }
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
            Err(PhoneNumberError::NotANumber(_) | PhoneNumberError::Invalid { .. })
        ));
        assert_eq!(
            E164::parse("(015) 555-0100", &na),
            Err(PhoneNumberError::Invalid {
                region: "US".into()
            })
        );
        assert!(matches!(
            NumberPlan::region("XX"),
            Err(PhoneNumberError::UnknownRegion(_))
        ));
        let debug = format!("{:?}", E164::parse("07400 123456", &plan("GB")).unwrap());
        assert!(!debug.contains("7400"), "{debug}");
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
            if let Ok(once) = E164::parse(&national, &na) {
                let twice = E164::parse(once.as_str(), &na).unwrap();
                prop_assert_eq!(once, twice);
            }
        }
    }
}
