//! Campaign rules: lead import and numbers, do-not-call lists, calling windows,
//! retries, abandonment rule sets and dispositions.

mod config;
mod disposition;
mod dnc;
mod e164;
mod import;
mod lead_book;
mod lead_file;
mod window;

pub use config::{AbandonmentRules, CampaignConfig, MobileRules, RetryRules};
pub use disposition::{
    SitTone, disposition_for_cause, disposition_for_sip_status, disposition_for_sit,
    is_person_answer,
};
pub use dnc::{DncLists, DoNotCallList};
pub use e164::{E164, LineType, NumberPlan, PhoneNumberError};
pub use import::{ImportReport, ImportSettings, ImportedLead, RowError, import_csv, import_reader};
pub use lead_book::{LeadBook, LeadTicket};
pub use lead_file::{LeadReader, LeadRow};
pub use window::{CallingWindows, LeadZone, LocalHours};
