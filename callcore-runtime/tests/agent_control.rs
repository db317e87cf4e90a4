//! The agent controls of `CenterHandle` beside the chosen state: reachability
//! (journaled, in the snapshot, the state kept) and after-call work that is
//! refused when there is none. Calls through it are tested with the premise
//! (callcore-premise/tests/agent_states.rs), callcore-acd's engine in
//! callcore-acd/tests/agent_control.rs.

#![allow(clippy::unwrap_used)]

use callcore::{AgentProfile, AgentState, CoreError, EventKind, QueueDefinition};
use callcore_runtime::{Center, CenterHandle};

async fn center() -> CenterHandle {
    let center = Center::builder().build().unwrap().start().await.unwrap();
    center
        .add_queue(QueueDefinition::new("support"))
        .await
        .unwrap();
    center.add_agent(AgentProfile::new("ann")).await.unwrap();
    center
        .set_agent_state(&"ann".into(), AgentState::Available)
        .await
        .unwrap();
    center
}

#[tokio::test]
async fn reachability_is_journaled_and_keeps_the_state() {
    {
        let center = center().await;
        let mut events = center.subscribe();
        center
            .set_agent_reachable(&"ann".into(), false)
            .await
            .unwrap();
        let e = events.recv().await.unwrap();
        assert!(
            matches!(&e.kind, EventKind::AgentReachabilityChanged { agent, reachable: false } if agent.as_str() == "ann"),
            "{e:?}"
        );
        let snap = center.snapshot().await.unwrap();
        assert_eq!(snap.agents[0].state, AgentState::Available);
        assert!(!snap.agents[0].reachable);
        center
            .set_agent_reachable(&"ann".into(), true)
            .await
            .unwrap();
        assert!(center.snapshot().await.unwrap().agents[0].reachable);
        assert!(matches!(
            center.set_agent_reachable(&"bob".into(), true).await,
            Err(CoreError::NotFound { .. })
        ));
        // no after-call work to end or extend
        assert!(matches!(
            center.end_wrap_up(&"ann".into()).await,
            Err(CoreError::NotFound { .. })
        ));
        assert!(matches!(
            center.extend_wrap_up(&"ann".into(), 60).await,
            Err(CoreError::NotFound { .. })
        ));
        center.shutdown().await;
    }
}
