//! callcore's [`MixRoom`] over a callcore-media [`Room`]: conferences,
//! supervisor listen/whisper/barge and muted parties for legs of one
//! [`RtpMedia`](super::RtpMedia) engine.

use std::sync::Mutex;

use callcore::{
    BridgeRecording, CoreError, LegId, LegMediaPort, LegMediaRequest, MixRole, MixRoom,
    RecordingRequest,
};

use super::{RtpLeg, RtpMedia, media_error};
use crate::mixer::{ParticipantId, Role};
use crate::sip_leg::Room;

/// A mixing room of [`RtpLeg`]s, opened with
/// [`LegMediaPort::open_room`](callcore::LegMediaPort::open_room) on any leg of
/// the engine.
#[derive(Debug)]
pub struct RtpRoom {
    room: Room,
    engine: RtpMedia,
    /// The leg the room was opened from (it names recordings).
    opened_by: LegMediaRequest,
    /// Members as callcore knows them, in the order they joined.
    members: Mutex<Vec<(LegId, ParticipantId, MixRole)>>,
}

impl RtpRoom {
    /// Opens a room on `engine`'s runtime, from the leg `opened_by`.
    pub(super) fn open(engine: RtpMedia, opened_by: LegMediaRequest) -> Result<Self, CoreError> {
        Ok(RtpRoom {
            room: Room::open().map_err(media_error)?,
            engine,
            opened_by,
            members: Mutex::new(Vec::new()),
        })
    }

    /// The callcore-media room underneath (stats, tests).
    #[must_use]
    pub const fn room(&self) -> &Room {
        &self.room
    }

    /// The members, dropping those whose leg left by itself (bridged elsewhere,
    /// media ended).
    fn live(&self) -> std::sync::MutexGuard<'_, Vec<(LegId, ParticipantId, MixRole)>> {
        let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let present = self.room.members();
        members.retain(|(_, id, _)| present.iter().any(|(p, _)| p == id));
        members
    }
}

impl MixRoom for RtpRoom {
    fn join(&self, leg: &LegId, port: &dyn LegMediaPort, role: MixRole) -> Result<(), CoreError> {
        let rtp = port
            .as_any()
            .downcast_ref::<RtpLeg>()
            .ok_or(CoreError::Unsupported(
                "mixing legs of different media engines",
            ))?;
        let mut members = self.live();
        let mixer_role = match &role {
            MixRole::Party => Role::Party,
            MixRole::Listen => Role::Listen,
            MixRole::Whisper { to } => members
                .iter()
                .find(|(l, _, _)| l == to && l != leg)
                .map(|(_, id, _)| Role::Whisper { to: *id })
                .ok_or_else(|| CoreError::NotFound {
                    what: "room member",
                    id: to.to_string(),
                })?,
            _ => return Err(CoreError::Unsupported("this mixing role")),
        };
        let id = self
            .room
            .join(&rtp.media, mixer_role)
            .map_err(media_error)?;
        match members.iter_mut().find(|(l, _, _)| l == leg) {
            Some(entry) => *entry = (leg.clone(), id, role),
            None => members.push((leg.clone(), id, role)),
        }
        tracing::debug!(%leg, room_member = ?id, "joined a mixing room");
        Ok(())
    }

    fn leave(&self, leg: &LegId) {
        let mut members = self.live();
        if let Some(at) = members.iter().position(|(l, _, _)| l == leg) {
            let (_, id, _) = members.remove(at);
            self.room.leave(id);
        }
    }

    fn members(&self) -> Vec<(LegId, MixRole)> {
        self.live()
            .iter()
            .map(|(leg, _, role)| (leg.clone(), role.clone()))
            .collect()
    }

    fn record(&self, request: &RecordingRequest) -> Result<BridgeRecording, CoreError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| CoreError::Media("recording a room outside a tokio runtime".into()))?;
        let dir = self.engine.recordings_dir()?;
        let first = self
            .live()
            .first()
            .map_or_else(|| self.opened_by.leg.clone(), |(leg, _, _)| leg.clone());
        let name =
            format!("room-{}-{first}.wav", self.engine.stamp()).replace(['/', ':', '\\'], "_");
        let path = dir.join(&name);
        let finished = self.room.record(&path).map_err(media_error)?;
        tracing::debug!(recording = %name, "recording the room");
        Ok(self
            .engine
            .report_recording(&runtime, request, name, &path, finished))
    }

    fn close(&self) {
        self.room.close();
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
