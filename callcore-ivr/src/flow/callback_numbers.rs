//! Which numbers a callback may dial (toll fraud). The number of an inbound call is
//! only what its `From` header says: anyone can call in claiming a premium-rate or
//! far-away number, press the callback key and have the center dial it through the
//! trunks at the center's cost. A callback is therefore placed only to a number a
//! trusted trunk asserted (the call carries the trunk attribute that IP-authenticated
//! trunks' calls get) or one an allow-list permits.

use std::collections::BTreeMap;

/// The rule; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackNumbers {
    /// The interaction attribute that marks a call from a trusted trunk (its
    /// number asserted by the carrier); `None`: no call is trusted that way.
    /// Default: `trunk` (what the SIP transport sets for IP-authenticated trunks).
    pub trusted_attribute: Option<String>,
    /// Numbers that may be called back whatever the call came from: exact numbers,
    /// or prefixes ending in `*` (`+4930*`); `*` alone permits every number.
    pub allow: Vec<String>,
}

impl Default for CallbackNumbers {
    fn default() -> Self {
        CallbackNumbers {
            trusted_attribute: Some("trunk".into()),
            allow: Vec::new(),
        }
    }
}

/// Why a callback is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRefused {
    /// The caller's number came from an untrusted source and no allow-list entry
    /// permits it.
    #[error(
        "the caller's number is not asserted by a trusted trunk nor on the callback allow-list"
    )]
    Untrusted,
    /// No number to call.
    #[error("the call has no number to call back")]
    NoNumber,
}

impl CallbackNumbers {
    /// Every number, whatever the call came from (closed test setups only).
    pub fn any() -> Self {
        CallbackNumbers {
            trusted_attribute: None,
            allow: vec!["*".into()],
        }
    }

    /// Trusted trunks' numbers and those `allow` permits.
    pub fn allowing<S: Into<String>>(allow: impl IntoIterator<Item = S>) -> Self {
        CallbackNumbers {
            allow: allow.into_iter().map(Into::into).collect(),
            ..CallbackNumbers::default()
        }
    }

    /// Whether `number`, of a call with `attributes`, may be called back.
    pub fn check(
        &self,
        number: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), CallbackRefused> {
        let number = number.trim();
        if number.is_empty() {
            return Err(CallbackRefused::NoNumber);
        }
        let trusted = self
            .trusted_attribute
            .as_ref()
            .is_some_and(|a| attributes.get(a).is_some_and(|v| !v.is_empty()));
        if trusted || self.allow.iter().any(|p| matches(p, number)) {
            Ok(())
        } else {
            Err(CallbackRefused::Untrusted)
        }
    }
}

fn matches(pattern: &str, number: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => number.starts_with(prefix),
        None => pattern == number,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_trunks_and_the_allow_list_only() {
        let rule = CallbackNumbers::allowing(["+4930*", "+15550100"]);
        let none = BTreeMap::new();
        let trunk = BTreeMap::from([("trunk".to_owned(), "carrier".to_owned())]);
        assert_eq!(rule.check("+4930123", &none), Ok(()));
        assert_eq!(rule.check("+15550100", &none), Ok(()));
        assert_eq!(
            rule.check("+15550101", &none),
            Err(CallbackRefused::Untrusted)
        );
        assert_eq!(
            rule.check("+882999", &none),
            Err(CallbackRefused::Untrusted),
            "a premium number claimed in From"
        );
        assert_eq!(rule.check("+882999", &trunk), Ok(()), "asserted by a trunk");
        assert_eq!(rule.check("", &trunk), Err(CallbackRefused::NoNumber));
        assert_eq!(CallbackNumbers::any().check("+882999", &none), Ok(()));
        assert_eq!(
            CallbackNumbers::default().check("+4930123", &none),
            Err(CallbackRefused::Untrusted)
        );
    }
}
