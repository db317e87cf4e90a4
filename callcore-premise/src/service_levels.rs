//! A queue's service levels: its threshold, a target per channel (voice
//! 80 % in 20 s, chat 60 s, e-mail 4 hours counted in business hours) and
//! the business hours they count in.
//!
//! ```toml
//! [[queues]]
//! id = "support"
//! service_level_secs = 20                       # channels without a target
//! service_levels = [
//!   { channel = "voice", target_secs = 20, goal = 0.8 },
//!   { channel = "chat", target_secs = 60 },
//!   { channel = "email", target_secs = 14400, business_hours = true, goal = 0.9 },
//! ]
//! hours = { time_zone = "Europe/London", holidays = ["2026-12-25"],
//!           weekly = [{ days = [1, 2, 3, 4, 5], open = "09:00", close = "17:00" }] }
//! ```
//!
//! The queue's definition carries them (journaled with `queue_added`);
//! callcore-analytics measures each channel against its target and the web
//! API's `queue_service` report shows them per channel.

use callcore::QueueDefinition;
use callcore_analytics::{AnalyticsError, BusinessCalendar};

use crate::PremiseError;
use crate::config::{QueueSection, field};

/// Checks the service-level fields of `queues[i]`.
pub(crate) fn check(i: usize, q: &QueueSection) -> Result<(), PremiseError> {
    let at = |f: &str| format!("queues[{i}].{f}");
    if q.service_level_secs == Some(0) {
        return Err(field(at("service_level_secs"), "must be at least 1"));
    }
    if let Some(hours) = &q.hours {
        match BusinessCalendar::new(hours) {
            Ok(_) => {}
            Err(AnalyticsError::Hours { field: f, reason }) => return Err(field(at(&f), reason)),
            Err(e) => return Err(field(at("hours"), e.to_string())),
        }
    }
    for (j, t) in q.service_levels.iter().enumerate() {
        let at = |f: &str| at(&format!("service_levels[{j}].{f}"));
        if t.target_secs == 0 {
            return Err(field(at("target_secs"), "must be at least 1"));
        }
        if t.goal.is_some_and(|g| !(g > 0.0 && g <= 1.0)) {
            return Err(field(at("goal"), "a share above 0, at most 1 (0.8 = 80 %)"));
        }
        if t.business_hours && q.hours.is_none() {
            return Err(field(at("business_hours"), "needs the queue's `hours`"));
        }
        if q.service_levels[..j].iter().any(|o| o.channel == t.channel) {
            return Err(field(
                at("channel"),
                format!("`{}` has a target already", t.channel.as_str()),
            ));
        }
    }
    Ok(())
}

/// Puts the (checked) service-level fields into the queue's definition.
pub(crate) fn apply(def: &mut QueueDefinition, q: &QueueSection) {
    if let Some(secs) = q.service_level_secs {
        def.service_level_secs = secs;
    }
    def.channel_service_levels.clone_from(&q.service_levels);
    def.hours.clone_from(&q.hours);
}

#[cfg(test)]
mod tests {
    use crate::config::PremiseConfig;

    fn load(queue_extra: &str) -> Result<PremiseConfig, String> {
        let toml = format!(
            "{}\n[[queues]]\nid = \"mail\"\n{queue_extra}\n",
            crate::config::DEFAULT_CONFIG
        );
        PremiseConfig::from_toml(&toml).map_err(|e| e.to_string())
    }

    #[test]
    fn targets_and_hours_reach_the_definition_and_mistakes_name_the_field() {
        let cfg = load(
            "service_levels = [{ channel = \"email\", target_secs = 14400, business_hours = true, goal = 0.9 },\n\
             { channel = \"chat\", target_secs = 60 }]\n\
             hours = { time_zone = \"Europe/London\", weekly = [{ days = [1, 2, 3, 4, 5], open = \"09:00\", close = \"17:00\" }] }",
        )
        .expect("valid");
        let q = cfg.queues.iter().find(|q| q.id == "mail").expect("queue");
        let mut def = callcore::QueueDefinition::new("mail");
        super::apply(&mut def, q);
        let email = def.service_level_of(callcore::Channel::Email);
        assert_eq!((email.target_secs, email.business_hours), (14_400, true));
        assert_eq!(
            def.service_level_of(callcore::Channel::Voice).target_secs,
            20
        );
        assert!(def.hours.is_some());

        let err = load(
            "service_levels = [{ channel = \"email\", target_secs = 60, business_hours = true }]",
        )
        .unwrap_err();
        assert!(
            err.contains("queues[2].service_levels[0].business_hours"),
            "{err}"
        );
        let err = load("hours = { weekly = [{ days = [1], open = \"9\", close = \"17:00\" }] }")
            .unwrap_err();
        assert!(err.contains("queues[2].hours.weekly[0].open"), "{err}");
        let err = load("service_levels = [{ channel = \"chat\", target_secs = 60, goal = 80.0 }]")
            .unwrap_err();
        assert!(err.contains("queues[2].service_levels[0].goal"), "{err}");
        let err = load("service_levels = [{ channel = \"chat\", target_secs = 60 }, { channel = \"chat\", target_secs = 90 }]")
            .unwrap_err();
        assert!(err.contains("queues[2].service_levels[1].channel"), "{err}");
    }
}
