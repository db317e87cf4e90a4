//! Conference mixing with supervision: N parties hear everyone but themselves
//! (mix-minus); a supervisor can listen (hears everyone, heard by none), whisper
//! (hears everyone, heard only by one agent) or barge (a full party).
//!
//! Sans-IO: set each participant's input frame for this tick (or leave it silent),
//! call [`Conference::mix`], read each participant's output frame.
//!
//! ```
//! use callcore_media::mixer::{Conference, Role};
//! let mut conf = Conference::new(160);
//! let caller = conf.join(Role::Party);
//! let agent = conf.join(Role::Party);
//! let sup = conf.join(Role::Whisper { to: agent });
//! conf.set_input(caller, &[100; 160]);
//! conf.set_input(agent, &[20; 160]);
//! conf.set_input(sup, &[3; 160]);
//! conf.mix();
//! assert_eq!(conf.output(caller)[0], 20);       // the agent only: the whisper is private
//! assert_eq!(conf.output(agent)[0], 103);       // the caller and the supervisor
//! assert_eq!(conf.output(sup)[0], 120);         // the supervisor hears both sides
//! ```

/// A participant handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(u32);

/// How a participant takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// A normal party (caller, agent, conference member): hears and is heard by all.
    Party,
    /// Supervisor listen: hears all parties, is heard by nobody.
    Listen,
    /// Supervisor whisper (coach): hears all parties, is heard only by `to`.
    Whisper {
        /// The participant (usually the agent) who hears the supervisor.
        to: ParticipantId,
    },
    /// Supervisor barge: a full party.
    Barge,
}

impl Role {
    fn heard_by_all(self) -> bool {
        matches!(self, Role::Party | Role::Barge)
    }
}

#[derive(Debug, Clone)]
struct Participant {
    id: ParticipantId,
    role: Role,
    input: Vec<i16>,
    has_input: bool,
    output: Vec<i16>,
    muted: bool,
}

/// An N-party mixer with supervision roles.
#[derive(Debug, Clone)]
pub struct Conference {
    frame: usize,
    next_id: u32,
    parts: Vec<Participant>,
    total: Vec<i32>,
    extra: Vec<i32>,
    silence: Vec<i16>,
}

impl Conference {
    /// A conference of `frame`-sample frames (160 = 20 ms at 8 kHz).
    pub fn new(frame: usize) -> Self {
        Conference {
            frame,
            next_id: 0,
            parts: Vec::new(),
            total: vec![0; frame],
            extra: vec![0; frame],
            silence: vec![0; frame],
        }
    }

    /// Adds a participant.
    pub fn join(&mut self, role: Role) -> ParticipantId {
        let id = ParticipantId(self.next_id);
        self.next_id += 1;
        self.parts.push(Participant {
            id,
            role,
            input: vec![0; self.frame],
            has_input: false,
            output: vec![0; self.frame],
            muted: false,
        });
        id
    }

    /// Removes a participant; whispers aimed at them fall silent.
    pub fn leave(&mut self, id: ParticipantId) -> bool {
        let before = self.parts.len();
        self.parts.retain(|p| p.id != id);
        before != self.parts.len()
    }

    /// Changes a participant's role (e.g. a supervisor going from listen to barge).
    pub fn set_role(&mut self, id: ParticipantId, role: Role) -> bool {
        self.parts
            .iter_mut()
            .find(|p| p.id == id)
            .map(|p| p.role = role)
            .is_some()
    }

    /// Mutes or unmutes a participant's voice (hold, or a pause for card numbers).
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) -> bool {
        self.parts
            .iter_mut()
            .find(|p| p.id == id)
            .map(|p| p.muted = muted)
            .is_some()
    }

    /// Number of participants.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// True with no participants.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Sets a participant's input for this tick (shorter frames are zero-padded).
    pub fn set_input(&mut self, id: ParticipantId, frame: &[i16]) -> bool {
        let n = self.frame;
        let Some(p) = self.parts.iter_mut().find(|p| p.id == id) else {
            return false;
        };
        let k = frame.len().min(n);
        p.input[..k].copy_from_slice(&frame[..k]);
        p.input[k..].iter_mut().for_each(|s| *s = 0);
        p.has_input = true;
        true
    }

    /// Mixes this tick's inputs into every participant's output and clears the inputs.
    pub fn mix(&mut self) {
        self.total.iter_mut().for_each(|t| *t = 0);
        for p in &self.parts {
            if p.has_input && !p.muted && p.role.heard_by_all() {
                for (t, &s) in self.total.iter_mut().zip(&p.input) {
                    *t += i32::from(s);
                }
            }
        }
        for i in 0..self.parts.len() {
            let me = self.parts[i].id;
            let own_in_total = {
                let p = &self.parts[i];
                p.has_input && !p.muted && p.role.heard_by_all()
            };
            self.extra.iter_mut().for_each(|e| *e = 0);
            let mut any_extra = false;
            for q in &self.parts {
                if let Role::Whisper { to } = q.role
                    && to == me
                    && q.has_input
                    && !q.muted
                {
                    any_extra = true;
                    for (e, &s) in self.extra.iter_mut().zip(&q.input) {
                        *e += i32::from(s);
                    }
                }
            }
            let (total, extra) = (&self.total, &self.extra);
            let p = &mut self.parts[i];
            for k in 0..total.len() {
                let mut v = total[k];
                if own_in_total {
                    v -= i32::from(p.input[k]);
                }
                if any_extra {
                    v += extra[k];
                }
                p.output[k] = v.clamp(-32768, 32767) as i16;
            }
        }
        for p in &mut self.parts {
            p.has_input = false;
        }
    }

    /// A participant's output from the last [`mix`](Self::mix) (silence if unknown).
    pub fn output(&self, id: ParticipantId) -> &[i16] {
        self.parts
            .iter()
            .find(|p| p.id == id)
            .map_or(&self.silence, |p| &p.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(conf: &mut Conference, inputs: &[(ParticipantId, i16)]) {
        for &(id, v) in inputs {
            conf.set_input(id, &[v; 160]);
        }
        conf.mix();
    }

    #[test]
    fn two_party_bridge_is_a_cross_connect() {
        let mut c = Conference::new(160);
        let a = c.join(Role::Party);
        let b = c.join(Role::Party);
        tick(&mut c, &[(a, 11), (b, 22)]);
        assert_eq!((c.output(a)[0], c.output(b)[0]), (22, 11));
    }

    #[test]
    fn n_party_mix_minus_and_clipping() {
        let mut c = Conference::new(160);
        let ids: Vec<_> = (0..5).map(|_| c.join(Role::Party)).collect();
        let inputs: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, (i as i16 + 1) * 10))
            .collect();
        tick(&mut c, &inputs);
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(i32::from(c.output(id)[0]), 150 - (i as i32 + 1) * 10);
        }
        tick(&mut c, &[(ids[0], 30000), (ids[1], 30000), (ids[2], 30000)]);
        assert_eq!(c.output(ids[3])[0], 32767);
        // inputs are per tick: nothing set, silence out
        c.mix();
        assert!(c.output(ids[0]).iter().all(|&s| s == 0));
    }

    #[test]
    fn supervisor_listen_whisper_barge() {
        let mut c = Conference::new(160);
        let caller = c.join(Role::Party);
        let agent = c.join(Role::Party);
        let sup = c.join(Role::Listen);
        let speak = [(caller, 100), (agent, 20), (sup, 3)];
        tick(&mut c, &speak);
        assert_eq!(
            [c.output(caller)[0], c.output(agent)[0], c.output(sup)[0]],
            [20, 100, 120]
        );
        c.set_role(sup, Role::Whisper { to: agent });
        tick(&mut c, &speak);
        assert_eq!(
            [c.output(caller)[0], c.output(agent)[0], c.output(sup)[0]],
            [20, 103, 120]
        );
        c.set_role(sup, Role::Barge);
        tick(&mut c, &speak);
        assert_eq!(
            [c.output(caller)[0], c.output(agent)[0], c.output(sup)[0]],
            [23, 103, 120]
        );
        // mute the caller (e.g. hold): nobody hears them
        c.set_muted(caller, true);
        tick(&mut c, &speak);
        assert_eq!(
            [c.output(caller)[0], c.output(agent)[0], c.output(sup)[0]],
            [23, 3, 20]
        );
        assert!(c.leave(sup));
        assert!(!c.leave(sup));
        assert_eq!(c.len(), 2);
    }
}
