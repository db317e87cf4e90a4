//! The premise IVR: a greeting, then a DTMF menu whose keys lead to queues, built
//! with callcore-ivr's flow builder (so it is validated like any flow file).

use callcore_ivr::flow::{FlowBuilder, IvrFlow, MenuChoice};

use crate::PremiseError;
use crate::config::IvrSection;

/// Node ids of the flow.
fn queue_node(queue: &str) -> String {
    format!("to_{queue}")
}

/// Builds the IVR flow of `ivr`: `welcome` (say), `menu` (keys to `to_<queue>`),
/// the default queue when nothing is chosen.
///
/// # Errors
/// [`PremiseError::Config`] when callcore-ivr's validation rejects the flow.
pub fn premise_flow(ivr: &IvrSection) -> Result<IvrFlow, PremiseError> {
    let choices = ivr
        .menu
        .iter()
        .map(|m| MenuChoice::new(&m.key, &m.label, &queue_node(&m.queue)))
        .collect();
    let mut b = FlowBuilder::new("premise_ivr", "welcome")
        .say("welcome", &ivr.greeting, "menu")
        .menu("menu", "", choices, &queue_node(&ivr.default_queue));
    let mut queues: Vec<&str> = ivr.menu.iter().map(|m| m.queue.as_str()).collect();
    queues.push(&ivr.default_queue);
    queues.sort_unstable();
    queues.dedup();
    for q in queues {
        b = b.queue(&queue_node(q), q);
    }
    let spec = b.build().map_err(|e| PremiseError::Config {
        field: "ivr".into(),
        detail: e.to_string(),
    })?;
    Ok(IvrFlow::new(spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PremiseConfig;

    #[test]
    fn the_default_menu_builds() {
        let cfg = PremiseConfig::defaults();
        assert!(premise_flow(&cfg.ivr).is_ok());
    }
}
