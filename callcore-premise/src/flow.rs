//! The premise IVR: a greeting, then a DTMF menu whose keys lead to queues, built
//! with callcore-ivr's flow builder (so it is validated like any flow file).

use std::sync::Arc;

use callcore_ivr::flow::{FlowBuilder, IvrFlow, MenuChoice, Node};
use callcore_ivr::kb::KnowledgeBase;

use crate::PremiseError;
use crate::config::IvrSection;

/// Node ids of the flow: `to_<queue>`, or `to_<queue>__<skill>_<skill>` for a
/// menu choice that needs skills.
fn queue_node(queue: &str, skills: &[String]) -> String {
    if skills.is_empty() {
        format!("to_{queue}")
    } else {
        format!("to_{queue}__{}", skills.join("_"))
    }
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
        .map(|m| {
            let mut c = MenuChoice::new(&m.key, &m.label, &queue_node(&m.queue, &m.skills));
            // spoken: the label itself, then the entry's own words
            c.words = std::iter::once(m.label.clone())
                .chain(m.words.iter().cloned())
                .collect();
            c.intent.clone_from(&m.intent);
            c
        })
        .collect();
    let mut b = FlowBuilder::new("premise_ivr", "welcome");
    if let Some(language) = &ivr.language {
        b = b.language(language);
    }
    let mut b = b
        .say("welcome", &ivr.greeting, "menu")
        .menu("menu", "", choices, &queue_node(&ivr.default_queue, &[]))
        .min_confidence("menu", ivr.min_confidence);
    let mut targets: Vec<(&str, &[String])> = ivr
        .menu
        .iter()
        .map(|m| (m.queue.as_str(), m.skills.as_slice()))
        .collect();
    targets.push((&ivr.default_queue, &[]));
    targets.sort_unstable();
    targets.dedup();
    for (q, skills) in targets {
        let id = queue_node(q, skills);
        // the builder's queue node, with the choice's skills
        b = b.queue(&id, q).node(
            &id,
            Node::Queue {
                queue: q.into(),
                priority: 0,
                skills: skills.to_vec(),
                on_failure: format!("{id}__failed"),
            },
        );
    }
    let spec = b.build().map_err(|e| PremiseError::Config {
        field: "ivr".into(),
        detail: e.to_string(),
    })?;
    Ok(IvrFlow::new(spec))
}

/// Loads `[ivr] knowledge_bases`; errors name `ivr.knowledge_bases.<name>`.
///
/// # Errors
/// [`PremiseError::Config`] when a file cannot be read or is not a valid
/// knowledge base.
pub fn knowledge_bases(
    ivr: &IvrSection,
) -> Result<Vec<(String, Arc<KnowledgeBase>)>, PremiseError> {
    ivr.knowledge_bases
        .iter()
        .map(|(name, path)| {
            KnowledgeBase::load(path)
                .map(|kb| (name.clone(), Arc::new(kb)))
                .map_err(|e| PremiseError::Config {
                    field: format!("ivr.knowledge_bases.{name}"),
                    detail: format!("{}: {e}", path.display()),
                })
        })
        .collect()
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

    #[test]
    fn a_menu_choice_with_skills_queues_with_them() {
        let cfg = PremiseConfig::from_toml(&crate::config::with_demo_agents("[ivr]\ndefault_queue = \"support\"\nmenu = [\n\
             { key = \"1\", label = \"support\", queue = \"support\" },\n\
             { key = \"2\", label = \"support in French\", queue = \"support\", skills = [\"french\"] },\n]\n"))
        .unwrap_or_else(|e| panic!("{e}"));
        let flow = premise_flow(&cfg.ivr).unwrap_or_else(|e| panic!("{e}"));
        let node = flow.spec().nodes.get("to_support__french");
        assert!(
            matches!(node, Some(Node::Queue { queue, skills, .. }) if queue == "support" && skills == &["french"]),
            "{node:?}"
        );
        assert!(matches!(
            flow.spec().nodes.get("to_support"),
            Some(Node::Queue { skills, .. }) if skills.is_empty()
        ));
    }

    #[test]
    fn the_menu_takes_the_configured_least_confidence() {
        let cfg = PremiseConfig::from_toml(&crate::config::with_demo_agents(
            "[ivr]\ndefault_queue = \"support\"\nmin_confidence = 0.5\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let flow = premise_flow(&cfg.ivr).unwrap_or_else(|e| panic!("{e}"));
        let menu = flow.spec().nodes.get("menu");
        assert!(
            matches!(menu, Some(Node::Menu { min_confidence, .. }) if (*min_confidence - 0.5).abs() < 1e-6),
            "{menu:?}"
        );
    }
}
