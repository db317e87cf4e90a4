//! What the agent's desktop does to the call besides consultations and
//! conferences: hold, mute, blind transfer, the center's hang-up, wrap-up
//! notes, and the connection of a click-to-dial call.

use super::TransferTarget;
use super::control::CallTarget;
use super::machine::{Call, Phase};
use crate::QueueOutcome;
use callcore::{AgentId, CoreError, EndReason, EventKind, LegId, Pii, QueueId, Timestamp};

impl Call {
    // ----- hold, mute, blind transfer -------------------------------------

    /// The agent puts the customer on hold (`on`) or takes them off: the
    /// agent's leg is taken out of the bridge and the customer hears music.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent, is
    /// already (or not) on hold, or a consultation is under way.
    pub fn handle_hold(&mut self, on: bool) -> Result<(), CoreError> {
        let action = if on { "hold" } else { "resume" };
        self.talking(action)?;
        if self.control.consult.is_some() {
            return Err(self.invalid(action, None));
        }
        if self.control.held == on {
            let why = if on {
                "the call is on hold already"
            } else {
                "the call is not on hold"
            };
            return Err(self.invalid(action, Some(why)));
        }
        self.control.held = on;
        self.arrange();
        self.sync_hold();
        Ok(())
    }

    /// The agent mutes (`on`) or unmutes themselves: the customer does not
    /// hear them (the agent listens in the call's mixing room).
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent on a
    /// phone, or is muted already (or not muted).
    pub fn handle_mute(&mut self, on: bool) -> Result<(), CoreError> {
        let action = if on { "mute" } else { "unmute" };
        let (agent, _, agent_leg) = self.talking(action)?;
        if agent_leg.is_none() {
            return Err(self.invalid(action, Some("the agent has no phone leg")));
        }
        if self.control.muted == on {
            let why = if on {
                "the agent is muted already"
            } else {
                "the agent is not muted"
            };
            return Err(self.invalid(action, Some(why)));
        }
        self.control.muted = on;
        self.events.push_back(EventKind::Muted {
            interaction: self.id.clone(),
            agent,
            on,
        });
        self.arrange();
        Ok(())
    }

    /// Checks that the agent may transfer the call now.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent, or a
    /// consultation or conference is under way.
    pub fn can_transfer(&self) -> Result<(), CoreError> {
        self.talking("transfer")?;
        if self.control.is_busy() {
            return Err(self.invalid("transfer", None));
        }
        Ok(())
    }

    /// Blind transfer asked for on the agent's desktop: to a queue (back to
    /// routing at once, the agent released), to an agent the glue reserved
    /// or to a number (placed; the agent stays until it answers).
    ///
    /// # Errors
    /// As [`can_transfer`](Self::can_transfer).
    pub fn handle_transfer(&mut self, target: CallTarget, now: Timestamp) -> Result<(), CoreError> {
        self.can_transfer()?;
        let target = match target {
            CallTarget::Agent(a) => TransferTarget::Agent(a),
            CallTarget::Queue(q) => TransferTarget::Queue(q),
            CallTarget::Number(n) => TransferTarget::Number(n),
        };
        self.transfer_out(target, false, now);
        Ok(())
    }

    // ----- the end --------------------------------------------------------

    /// The agent (or the center) hangs up: the call ends as if the customer
    /// had hung up, with [`EndReason::AgentHangup`]; the customer's leg is
    /// hung up.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent (or
    /// transferred by one), or has ended.
    pub fn handle_hang_up(&mut self, now: Timestamp) -> Result<(), CoreError> {
        if self.ended() || matches!(self.phase, Phase::Flow | Phase::Waiting { .. }) {
            return Err(self.invalid("hang_up", None));
        }
        self.close_control(now);
        self.control.end_reason = Some(EndReason::AgentHangup);
        let customer = self.customer.clone();
        self.hang_up(&customer);
        self.customer_left(now);
        self.customer_hung_up = false;
        if let Some(Ok(QueueOutcome::Served {
            customer_hung_up, ..
        })) = &mut self.outcome
        {
            *customer_hung_up = false;
        }
        Ok(())
    }

    /// The agent's wrap-up notes, journaled for `by` (an agent who took
    /// part in the call) or, when `None`, the last agent connected.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when no agent has been connected, or `by`
    /// never took part.
    pub fn handle_wrap_up_notes(
        &mut self,
        notes: String,
        by: Option<&AgentId>,
    ) -> Result<(), CoreError> {
        let agent = self.wrap_up_agent(by)?;
        self.events.push_back(EventKind::WrapUpNoted {
            interaction: self.id.clone(),
            agent,
            notes: Pii::new(notes),
        });
        Ok(())
    }

    /// Click-to-dial: the agent's leg (answered first) and the customer's
    /// are up; the agent was taken directly, not offered by the router.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is past its flow.
    pub fn handle_direct_connect(
        &mut self,
        agent: AgentId,
        queue: QueueId,
        leg: LegId,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let _ = now;
        if !matches!(self.phase, Phase::Flow) || self.ended() || self.customer_gone() {
            return Err(self.invalid("dial", None));
        }
        self.control.direct.insert(agent.clone());
        self.connect(agent, queue, Some(leg));
        Ok(())
    }
}
