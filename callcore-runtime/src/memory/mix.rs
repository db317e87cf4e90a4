//! The memory transport's media port and mixing-room double: bridges and
//! unbridges both sides, and rooms that record their members and roles for
//! tests to assert (no audio is mixed).

use super::LegShared;
use callcore::{
    BridgeRecording, CoreError, FrameSink, LegId, LegMediaPort, MediaControl, MixRole, MixRoom,
    NegotiatedMedia, RecordingRequest,
};
use std::any::Any;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Bridges `a` and `b` (each leaves the bridge or room it was in).
pub(super) fn bridge(a: &Arc<LegShared>, b: &Arc<LegShared>) {
    for (x, y) in [(a, b), (b, a)] {
        unbridge(x);
        leave_room(x);
        let mut st = x.lock();
        st.bridged_to = Some(y.id.clone());
        st.peer = Some(Arc::downgrade(y));
    }
}

/// Takes `leg` and its peer out of their bridge.
fn unbridge(leg: &Arc<LegShared>) {
    let peer = {
        let mut st = leg.lock();
        st.bridged_to = None;
        st.peer.take()
    };
    if let Some(p) = peer.and_then(|p| p.upgrade()) {
        let mut st = p.lock();
        if st.bridged_to.as_ref() == Some(&leg.id) {
            st.bridged_to = None;
            st.peer = None;
        }
    }
}

fn leave_room(leg: &Arc<LegShared>) {
    let room = leg.lock().room.take();
    if let Some(r) = room {
        r.remove(&leg.id);
    }
}

/// A memory leg's media port.
#[derive(Debug)]
pub struct MemoryMediaPort {
    leg: Arc<LegShared>,
}

impl MemoryMediaPort {
    pub(super) const fn new(leg: Arc<LegShared>) -> Self {
        Self { leg }
    }
}

impl LegMediaPort for MemoryMediaPort {
    fn local_rtp(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
    }

    fn apply(&self, media: &NegotiatedMedia) -> Result<Option<Arc<dyn MediaControl>>, CoreError> {
        let _ = media;
        Ok(None)
    }

    fn bridge(
        &self,
        other: &dyn LegMediaPort,
        recording: Option<&RecordingRequest>,
    ) -> Result<Option<BridgeRecording>, CoreError> {
        let _ = recording;
        let other = other
            .as_any()
            .downcast_ref::<Self>()
            .ok_or(CoreError::Unsupported("bridging to another media engine"))?;
        bridge(&self.leg, &other.leg);
        Ok(None)
    }

    fn unbridge(&self) {
        unbridge(&self.leg);
    }

    fn tap(&self, sink: Box<dyn FrameSink>) -> Result<(), CoreError> {
        drop(sink);
        Err(CoreError::Unsupported("memory legs carry no audio"))
    }

    fn close(&self) {}

    fn open_room(&self) -> Result<Arc<dyn MixRoom>, CoreError> {
        Ok(Arc::new_cyclic(|me: &Weak<MemoryRoom>| MemoryRoom {
            state: Mutex::new(RoomState::default()),
            me: Mutex::new(me.clone()),
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[derive(Debug, Default)]
struct RoomState {
    members: Vec<(LegId, MixRole, Weak<LegShared>)>,
    closed: bool,
}

/// A mixing-room double: who is in it, with which role (see
/// [`FarEnd::room_members`](super::FarEnd::room_members)).
#[derive(Debug)]
pub struct MemoryRoom {
    state: Mutex<RoomState>,
    me: Mutex<Weak<MemoryRoom>>,
}

impl MemoryRoom {
    fn lock(&self) -> MutexGuard<'_, RoomState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remove(&self, leg: &LegId) {
        self.lock().members.retain(|(l, _, _)| l != leg);
    }
}

impl MixRoom for MemoryRoom {
    fn join(&self, leg: &LegId, port: &dyn LegMediaPort, role: MixRole) -> Result<(), CoreError> {
        let port =
            port.as_any()
                .downcast_ref::<MemoryMediaPort>()
                .ok_or(CoreError::Unsupported(
                    "joining a leg of another media engine",
                ))?;
        if port.leg.is_ended() {
            return Err(CoreError::Media(format!("leg {leg} has no media")));
        }
        let mut st = self.lock();
        if st.closed {
            return Err(CoreError::Media("the room is closed".to_owned()));
        }
        if let MixRole::Whisper { to } = &role
            && !st.members.iter().any(|(l, _, _)| l == to)
        {
            return Err(CoreError::NotFound {
                what: "room member",
                id: to.to_string(),
            });
        }
        if let Some(m) = st.members.iter_mut().find(|(l, _, _)| l == leg) {
            m.1 = role;
            return Ok(());
        }
        st.members
            .push((leg.clone(), role, Arc::downgrade(&port.leg)));
        drop(st);
        unbridge(&port.leg);
        let me = self
            .me
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .upgrade();
        port.leg.lock().room = me;
        Ok(())
    }

    fn leave(&self, leg: &LegId) {
        let gone = {
            let mut st = self.lock();
            let i = st.members.iter().position(|(l, _, _)| l == leg);
            i.map(|i| st.members.remove(i))
        };
        if let Some(shared) = gone.and_then(|(_, _, w)| w.upgrade()) {
            shared.lock().room = None;
        }
    }

    fn members(&self) -> Vec<(LegId, MixRole)> {
        self.lock()
            .members
            .iter()
            .map(|(l, r, _)| (l.clone(), r.clone()))
            .collect()
    }

    fn record(&self, request: &RecordingRequest) -> Result<BridgeRecording, CoreError> {
        let _ = request;
        Err(CoreError::Unsupported("memory rooms record nothing"))
    }

    fn close(&self) {
        let members = {
            let mut st = self.lock();
            st.closed = true;
            std::mem::take(&mut st.members)
        };
        for (_, _, w) in members {
            if let Some(shared) = w.upgrade() {
                shared.lock().room = None;
            }
        }
    }
}
