//! Do-not-call lists: a global one (the national registry, the company's
//! suppression list) and one per campaign. Checked at import and again right
//! before every dial, since numbers are added while a campaign runs.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, RwLock};

/// A set of E.164 numbers not to be called. Clones share the same set, so a
/// number added through one clone is seen at once by every dialer holding
/// another.
#[derive(Clone, Default)]
pub struct DoNotCallList {
    numbers: Arc<RwLock<HashSet<String>>>,
}

impl fmt::Debug for DoNotCallList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoNotCallList")
            .field("len", &self.len())
            .finish()
    }
}

impl DoNotCallList {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an E.164 number.
    pub fn add(&self, e164: &str) {
        self.numbers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(e164.to_owned());
    }

    /// Removes a number (consent given).
    pub fn remove(&self, e164: &str) {
        self.numbers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(e164);
    }

    /// Whether the number is listed.
    #[must_use]
    pub fn contains(&self, e164: &str) -> bool {
        self.numbers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(e164)
    }

    /// How many numbers are listed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.numbers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The lists a campaign checks: the global one and its own.
#[derive(Debug, Clone, Default)]
pub struct DncLists {
    /// Shared by every campaign (and tenant policy).
    pub global: DoNotCallList,
    /// This campaign's own.
    pub campaign: DoNotCallList,
}

impl DncLists {
    /// Whether either list holds the number.
    #[must_use]
    pub fn blocks(&self, e164: &str) -> bool {
        self.global.contains(e164) || self.campaign.contains(e164)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_and_both_lists_block() {
        let lists = DncLists::default();
        let global = lists.global.clone();
        global.add("+14155550100");
        lists.campaign.add("+14155550101");
        assert!(lists.blocks("+14155550100"));
        assert!(lists.blocks("+14155550101"));
        assert!(!lists.blocks("+14155550102"));
        global.remove("+14155550100");
        assert!(!lists.blocks("+14155550100"));
        assert_eq!(lists.campaign.len(), 1);
    }
}
