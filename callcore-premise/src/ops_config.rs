//! Checks of the operations part of the config: agents' login states against
//! the reason codes, the analytics section, the campaigns.

use crate::PremiseError;
use crate::config::PremiseConfig;

/// Checks `agent_states`, `agents[].login` and `campaigns`.
pub(crate) fn validate(config: &PremiseConfig) -> Result<(), PremiseError> {
    config.agent_states.validate()?;
    for (i, a) in config.agents.iter().enumerate() {
        if let Some(login) = &a.login {
            config
                .agent_states
                .parse_state(login)
                .map_err(|detail| PremiseError::Config {
                    field: format!("agents[{i}].login"),
                    detail,
                })?;
        }
    }
    crate::campaigns::validate(config)
}

#[cfg(test)]
mod tests {
    use crate::PremiseConfig;
    use crate::campaigns::Destination;

    fn error_of(toml: &str) -> Option<String> {
        PremiseConfig::from_toml(&crate::config::with_demo_agents(toml))
            .err()
            .map(|e| e.to_string())
    }

    const CAMPAIGN: &str =
        "[[campaigns]]\nname = \"renewals\"\nqueue = \"support\"\nleads = \"leads.csv\"\n";

    #[test]
    fn logins_name_a_state_and_a_configured_reason() {
        let ok = "[[agents]]\nid = \"1\"\npassword = \"secret1\"\nlogin = \"not_ready:lunch\"\n";
        assert!(error_of(ok).is_none());
        assert_eq!(
            error_of("[[agents]]\nid = \"1\"\npassword = \"secret1\"\nlogin = \"not_ready:nap\"\n")
                .as_deref(),
            Some(
                "config field `agents[0].login`: `nap` is not a reason code of agent_states.reasons (break, lunch, training, meeting)"
            )
        );
        assert!(
            error_of("[[agents]]\nid = \"1\"\npassword = \"secret1\"\nlogin = \"busy\"\n")
                .is_some_and(|e| e.starts_with("config field `agents[0].login`"))
        );
    }

    #[test]
    fn a_campaign_names_a_queue_and_where_it_dials() {
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(&format!(
            "{CAMPAIGN}carrier = \"127.0.0.1:5070\"\n"
        )))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.campaigns[0].mode, callcore::DialMode::Progressive);
        assert!(c.campaigns[0].autostart);
        assert_eq!(
            c.campaigns[0].destination(),
            Ok(Destination::Carrier {
                addr: "127.0.0.1:5070".parse().unwrap_or_else(|e| panic!("{e}")),
                prefix: String::new()
            })
        );
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(&format!(
            "{CAMPAIGN}trunk = \"carrier-a\"\n"
        )))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.campaigns[0].destination(),
            Ok(Destination::Trunk("carrier-a".into()))
        );
        assert_eq!(
            error_of(CAMPAIGN).as_deref(),
            Some("config field `campaigns[0].carrier`: give either `carrier` (IP:port) or `trunk`")
        );
        assert_eq!(
            error_of(&format!("{CAMPAIGN}carrier = \"carrier.example.com\"\n")).as_deref(),
            Some("config field `campaigns[0].carrier`: `carrier.example.com` is not IP:port")
        );
        assert_eq!(
            error_of(&CAMPAIGN.replace("\"support\"", "\"sales\"")).as_deref(),
            Some("config field `campaigns[0].queue`: no queue `sales`")
        );
        assert!(
            error_of(&format!(
                "{CAMPAIGN}carrier = \"127.0.0.1:5070\"\nmode = \"notification\"\n"
            ))
            .is_some_and(|e| e.starts_with("config field `campaigns[0].mode`"))
        );
    }
}
