use crate::{AgentId, CustomerId, InteractionId, Pii, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The kind of address a customer is known by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdentityKind {
    /// A phone number (E.164).
    Phone,
    /// An e-mail address.
    Email,
    /// A web-chat visitor id.
    ChatId,
    /// A WeChat open id.
    WeChat,
    /// An account or contract number.
    Account,
}

impl IdentityKind {
    /// The snake-case name (`phone`, `email`, `chat_id`, `we_chat`, `account`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
            Self::ChatId => "chat_id",
            Self::WeChat => "we_chat",
            Self::Account => "account",
        }
    }

    /// The kind named `name` (as [`as_str`](Self::as_str) writes it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Phone,
            Self::Email,
            Self::ChatId,
            Self::WeChat,
            Self::Account,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// The prefix of an interaction attribute that carries an identity the
/// customer proved on its channel (`proven.email` = `ann@example.org`: a
/// chat visitor logged in on the website, whose page passed the address
/// signed). Only channel adapters set it, after checking the proof; the
/// center then files the interaction under the profile known by that
/// identity, merging profiles when the customer was known under both.
pub const PROVEN_IDENTITY: &str = "proven.";

/// One address under which a customer is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// What kind of address.
    pub kind: IdentityKind,
    /// The address itself.
    pub value: Pii<String>,
}

/// One record per customer across channels (screen pop, routing by VIP or last
/// agent). Interaction history is read from the interaction store by customer id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CustomerProfile {
    /// Its id.
    pub id: CustomerId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: Option<Pii<String>>,
    /// Addresses across channels.
    pub identities: Vec<Identity>,
    /// A VIP customer (routed with higher priority).
    pub vip: bool,
    /// Preferences (`language=zh`, `channel=sms`).
    pub preferences: BTreeMap<String, String>,
    /// Free tags (`churn_risk`).
    pub tags: Vec<String>,
    /// The agent who served the customer last (sticky routing).
    pub last_agent: Option<AgentId>,
    /// Open business: cases, orders, tickets in progress.
    pub open_business: Vec<String>,
    /// Agents' notes on the customer (free text, personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Pii<String>>,
}

impl Default for CustomerId {
    fn default() -> Self {
        Self::new("")
    }
}

impl CustomerProfile {
    /// A profile known by one address (made on a customer's first contact).
    #[must_use]
    pub fn with_identity(
        id: CustomerId,
        tenant: TenantId,
        kind: IdentityKind,
        value: &str,
    ) -> Self {
        Self {
            id,
            tenant,
            identities: vec![Identity {
                kind,
                value: Pii::new(value.to_owned()),
            }],
            ..Self::default()
        }
    }

    /// Adds an address (once).
    pub fn add_identity(&mut self, kind: IdentityKind, value: &str) {
        if !self.has_identity(kind, value) {
            self.identities.push(Identity {
                kind,
                value: Pii::new(value.to_owned()),
            });
        }
    }

    /// This profile with `absorbed` merged in: identities, tags and open
    /// business are united; this profile's name, preferences and last agent
    /// win where both have one; VIP if either is; notes are joined (this
    /// profile's first).
    #[must_use]
    pub fn merged_with(&self, absorbed: &CustomerProfile) -> CustomerProfile {
        let mut out = self.clone();
        for i in &absorbed.identities {
            if !out.identities.contains(i) {
                out.identities.push(i.clone());
            }
        }
        for t in &absorbed.tags {
            if !out.tags.contains(t) {
                out.tags.push(t.clone());
            }
        }
        for b in &absorbed.open_business {
            if !out.open_business.contains(b) {
                out.open_business.push(b.clone());
            }
        }
        for (k, v) in &absorbed.preferences {
            out.preferences
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        if out.name.is_none() {
            out.name.clone_from(&absorbed.name);
        }
        match (&mut out.notes, &absorbed.notes) {
            (Some(mine), Some(theirs)) if mine.expose() != theirs.expose() => {
                *mine = Pii::new(format!("{}\n{}", mine.expose(), theirs.expose()));
            }
            (None, Some(theirs)) => out.notes = Some(theirs.clone()),
            _ => {}
        }
        if out.last_agent.is_none() {
            out.last_agent.clone_from(&absorbed.last_agent);
        }
        out.vip |= absorbed.vip;
        out
    }

    /// Whether the customer is known by this address.
    #[must_use]
    pub fn has_identity(&self, kind: IdentityKind, value: &str) -> bool {
        self.identities
            .iter()
            .any(|i| i.kind == kind && i.value.expose() == value)
    }
}

/// What a merge of two profiles changed, kept by the customer store with
/// the merge so that it can be undone ([`CustomerStore::unmerge`](crate::store::CustomerStore::unmerge)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeUndo {
    /// The kept profile as it was before the merge.
    pub kept_before: CustomerProfile,
    /// The absorbed profile as it was (deleted by the merge).
    pub absorbed: CustomerProfile,
    /// The interaction records that moved from the absorbed profile to the
    /// kept one.
    pub moved: Vec<InteractionId>,
}

/// A merge undone ([`CustomerStore::unmerge`](crate::store::CustomerStore::unmerge)).
#[derive(Debug, Clone, PartialEq)]
pub struct Unmerged {
    /// The profile that had been kept, as restored.
    pub kept: CustomerProfile,
    /// The profile that had been absorbed, back as it was.
    pub absorbed: CustomerProfile,
    /// The interaction records given back to `absorbed`.
    pub interactions: Vec<InteractionId>,
}

impl MergeUndo {
    /// The kept profile with the merge undone: each field not edited since
    /// the merge (equal to what the merge made of it) goes back to what it
    /// was; identities, tags and open business edited since keep the edits
    /// but lose what came only from the absorbed profile; other fields
    /// edited since stay as edited.
    #[must_use]
    pub fn kept_restored(&self, current: &CustomerProfile) -> CustomerProfile {
        let merged = self.kept_before.merged_with(&self.absorbed);
        let before = &self.kept_before;
        let mut out = current.clone();
        fn minus<T: PartialEq + Clone>(now: &[T], only_theirs: &[T], mine: &[T]) -> Vec<T> {
            now.iter()
                .filter(|x| mine.contains(x) || !only_theirs.contains(x))
                .cloned()
                .collect()
        }
        out.identities = if current.identities == merged.identities {
            before.identities.clone()
        } else {
            minus(
                &current.identities,
                &self.absorbed.identities,
                &before.identities,
            )
        };
        out.tags = if current.tags == merged.tags {
            before.tags.clone()
        } else {
            minus(&current.tags, &self.absorbed.tags, &before.tags)
        };
        out.open_business = if current.open_business == merged.open_business {
            before.open_business.clone()
        } else {
            minus(
                &current.open_business,
                &self.absorbed.open_business,
                &before.open_business,
            )
        };
        if current.name == merged.name {
            out.name.clone_from(&before.name);
        }
        if current.notes == merged.notes {
            out.notes.clone_from(&before.notes);
        }
        if current.preferences == merged.preferences {
            out.preferences.clone_from(&before.preferences);
        }
        if current.last_agent == merged.last_agent {
            out.last_agent.clone_from(&before.last_agent);
        }
        if current.vip == merged.vip {
            out.vip = before.vip;
        }
        out
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    fn profile(id: &str, ids: &[(IdentityKind, &str)], tags: &[&str]) -> CustomerProfile {
        let mut p = CustomerProfile {
            id: id.into(),
            tenant: "t".into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..CustomerProfile::default()
        };
        for (k, v) in ids {
            p.add_identity(*k, v);
        }
        p
    }

    #[test]
    fn an_undone_merge_restores_what_was_not_edited_since() {
        let ann = profile(
            "ann",
            &[(IdentityKind::Email, "ann@example.org")],
            &["fibre"],
        );
        let mut phone = profile("phone", &[(IdentityKind::Phone, "+4930111")], &["sms"]);
        phone.name = Some(Pii::new("Ann L.".into()));
        let undo = MergeUndo {
            kept_before: ann.clone(),
            absorbed: phone.clone(),
            moved: Vec::new(),
        };
        let merged = ann.merged_with(&phone);
        assert_eq!(merged.identities.len(), 2);
        // nothing edited since: exactly as before
        assert_eq!(undo.kept_restored(&merged), ann);
        // edited since: the edits stay, the absorbed profile's part goes
        let mut edited = merged.clone();
        edited.add_identity(IdentityKind::ChatId, "v-1");
        edited.tags.push("vip-list".into());
        edited.name = Some(Pii::new("Ann Lee".into()));
        let restored = undo.kept_restored(&edited);
        assert!(restored.has_identity(IdentityKind::Email, "ann@example.org"));
        assert!(restored.has_identity(IdentityKind::ChatId, "v-1"));
        assert!(!restored.has_identity(IdentityKind::Phone, "+4930111"));
        assert_eq!(restored.tags, ["fibre", "vip-list"]);
        assert_eq!(
            restored.name.as_ref().map(|n| n.expose().as_str()),
            Some("Ann Lee")
        );
    }
}
