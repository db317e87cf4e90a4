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
