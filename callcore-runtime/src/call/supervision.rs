//! Supervision: a supervisor's leg joins the call's room listening (hears
//! customer and agent), whispering (only the agent hears them) or barging
//! (everyone hears everyone).

use super::control::{CallTarget, Monitor, Purpose};
use super::machine::Call;
use callcore::{AgentId, CoreError, EventKind, LegId, MonitorMode, Timestamp};

impl Call {
    // ----- supervision ----------------------------------------------------

    /// Checks that a supervisor may start monitoring now.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent, or
    /// `supervisor` monitors it already or is its agent.
    pub fn can_monitor(&self, supervisor: &AgentId) -> Result<(), CoreError> {
        let (agent, _, _) = self.talking("monitor")?;
        if agent == *supervisor {
            return Err(self.invalid("monitor", Some("the supervisor is the call's agent")));
        }
        if self
            .control
            .monitors
            .iter()
            .any(|m| m.supervisor == *supervisor)
        {
            return Err(self.invalid("monitor", Some("the supervisor monitors it already")));
        }
        Ok(())
    }

    /// A supervisor starts monitoring (the glue checked the permission): a
    /// leg is placed to them, joined to the room once it answers.
    ///
    /// # Errors
    /// As [`can_monitor`](Self::can_monitor).
    pub fn handle_monitor(
        &mut self,
        supervisor: AgentId,
        mode: MonitorMode,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let _ = now;
        self.can_monitor(&supervisor)?;
        let seq = self.place_for(
            Purpose::Monitor(supervisor.clone()),
            CallTarget::Agent(supervisor.clone()),
        );
        self.control.monitors.push(Monitor {
            seq,
            supervisor,
            mode,
            leg: None,
        });
        Ok(())
    }

    /// A monitoring supervisor switches mode.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when `supervisor` does not monitor the
    /// call.
    pub fn handle_monitor_mode(
        &mut self,
        supervisor: &AgentId,
        mode: MonitorMode,
    ) -> Result<(), CoreError> {
        let Some(m) = self
            .control
            .monitors
            .iter_mut()
            .find(|m| m.supervisor == *supervisor)
        else {
            return Err(self.invalid(
                "set_monitor_mode",
                Some("the supervisor does not monitor the call"),
            ));
        };
        m.mode = mode;
        self.events.push_back(EventKind::MonitorModeChanged {
            interaction: self.id.clone(),
            supervisor: supervisor.clone(),
            mode,
        });
        self.arrange();
        Ok(())
    }

    pub(super) fn monitor_placed(&mut self, seq: u64, supervisor: &AgentId, leg: &LegId) -> bool {
        let Some(m) = self
            .control
            .monitors
            .iter_mut()
            .find(|m| m.seq == seq && m.leg.is_none())
        else {
            return false;
        };
        m.leg = Some(leg.clone());
        let mode = m.mode;
        self.events.push_back(EventKind::MonitorStarted {
            interaction: self.id.clone(),
            supervisor: supervisor.clone(),
            mode,
        });
        self.arrange();
        true
    }
}
