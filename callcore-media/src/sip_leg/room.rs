//! Mixing rooms: conferences, supervisor listen/whisper/barge and muted parties
//! over [`LegMedia`] legs.
//!
//! A [`Room`] is a task ticking every 20 ms on the tokio runtime it was opened on.
//! Each member keeps its sockets and its own leg task: the task decodes what its
//! far end sends (jitter buffer, RFC 4733 digits still reported to the leg's
//! session) into the member's input queue and sends the room's output for it, in
//! the leg's own law, as the next packets of the leg's one continuous RTP stream.
//! Every tick the room takes one frame per member (silence when none arrived),
//! mixes them with [`Conference`] by role, and hands each member its frame. Both
//! queues hold at most [`QUEUE_FRAMES`] frames (60 ms): a late reader loses the
//! oldest audio, never grows memory. Nothing is allocated per packet or tick.
//!
//! Joining takes a leg out of its bridge (the partner goes back to its own
//! session) or its previous room; leaving, closing the room, or bridging the leg
//! elsewhere returns it to its own session (prompts and music go on where they
//! were). A room can record itself in stereo: left what its first member says,
//! right what that member hears; the file is finished when the room closes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use super::task::Control;
use super::{LegMedia, closed, locked};
use crate::error::Result;
use crate::mixer::{Conference, ParticipantId, Role};
use crate::wav::{ChannelLayout, RecordingInfo, WavRecorder};

/// Samples in one 20 ms frame at 8 kHz: the room's tick.
pub const ROOM_FRAME: usize = 160;

/// Frames a member's input (and output) queue holds: 60 ms.
pub const QUEUE_FRAMES: usize = 3;

const TICK: Duration = Duration::from_millis(20);

/// Rooms get distinct ids, so a leg knows which room its seat is in.
static NEXT_ROOM: AtomicU64 = AtomicU64::new(1);

/// A bounded queue of 20 ms frames; a full queue drops its oldest frame.
#[derive(Debug)]
struct FrameQueue {
    frames: [[i16; ROOM_FRAME]; QUEUE_FRAMES],
    head: usize,
    len: usize,
    dropped: u64,
}

impl FrameQueue {
    const fn new() -> Self {
        FrameQueue {
            frames: [[0; ROOM_FRAME]; QUEUE_FRAMES],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    fn push(&mut self, frame: &[i16]) {
        if self.len == QUEUE_FRAMES {
            self.head = (self.head + 1) % QUEUE_FRAMES;
            self.len -= 1;
            self.dropped += 1;
        }
        let slot = &mut self.frames[(self.head + self.len) % QUEUE_FRAMES];
        let k = frame.len().min(ROOM_FRAME);
        slot[..k].copy_from_slice(&frame[..k]);
        slot[k..].fill(0);
        self.len += 1;
    }

    fn pop(&mut self, out: &mut [i16; ROOM_FRAME]) -> bool {
        if self.len == 0 {
            return false;
        }
        *out = self.frames[self.head];
        self.head = (self.head + 1) % QUEUE_FRAMES;
        self.len -= 1;
        true
    }
}

#[derive(Debug)]
struct SeatIo {
    /// What the member's far end said, waiting for the room.
    heard: FrameQueue,
    /// The room's mix for the member, waiting for the leg's task.
    mix: FrameQueue,
}

/// A member's place in a room, shared by the room and the member's leg task.
#[derive(Debug)]
pub(super) struct Seat {
    room: u64,
    id: ParticipantId,
    present: AtomicBool,
    io: Mutex<SeatIo>,
}

impl Seat {
    fn new(room: u64, id: ParticipantId) -> Self {
        Seat {
            room,
            id,
            present: AtomicBool::new(true),
            io: Mutex::new(SeatIo {
                heard: FrameQueue::new(),
                mix: FrameQueue::new(),
            }),
        }
    }

    /// Whether the member is still in the room (neither side has left).
    pub(super) fn is_present(&self) -> bool {
        self.present.load(Ordering::Acquire)
    }

    /// Leaves the room: the room drops the seat on its next tick, the leg's task
    /// returns to its own session on its next tick.
    pub(super) fn leave(&self) {
        self.present.store(false, Ordering::Release);
    }

    /// The leg's tick: hands the room what the far end said and takes the next
    /// frame to send (`false`, `out` untouched: nothing mixed yet).
    pub(super) fn exchange(&self, heard: &[i16], out: &mut [i16; ROOM_FRAME]) -> bool {
        let mut io = locked(&self.io);
        io.heard.push(heard);
        io.mix.pop(out)
    }
}

/// A room's recording: the file and who learns its figures at the end.
#[derive(Debug)]
struct RoomRecording {
    wav: WavRecorder<std::io::BufWriter<std::fs::File>>,
    done: Option<oneshot::Sender<RecordingInfo>>,
}

impl RoomRecording {
    fn finish(self) {
        match self.wav.finish() {
            Ok((info, _)) => {
                if let Some(done) = self.done {
                    let _ = done.send(info);
                }
            }
            Err(e) => tracing::warn!(error = %e, "finishing the room's recording failed"),
        }
    }
}

#[derive(Debug)]
struct RoomState {
    conference: Conference,
    /// Members in the order they joined, with their roles.
    seats: Vec<(Arc<Seat>, Role)>,
    recording: Option<RoomRecording>,
    closed: bool,
    /// Scratch frames of the tick (no allocation per tick).
    frame: [i16; ROOM_FRAME],
    first_heard: [i16; ROOM_FRAME],
}

impl RoomState {
    /// One 20 ms tick: every member's frame in, every member's mix out.
    fn mix_tick(&mut self) {
        let RoomState {
            conference,
            seats,
            recording,
            frame,
            first_heard,
            ..
        } = self;
        // members whose leg went elsewhere (bridged, closed, another room)
        seats.retain(|(seat, _)| {
            let stay = seat.is_present();
            if !stay {
                conference.leave(seat.id);
            }
            stay
        });
        first_heard.fill(0);
        for (k, (seat, _)) in seats.iter().enumerate() {
            if locked(&seat.io).heard.pop(frame) {
                conference.set_input(seat.id, frame.as_slice());
                if k == 0 {
                    *first_heard = *frame;
                }
            }
        }
        conference.mix();
        for (seat, _) in seats.iter() {
            locked(&seat.io).mix.push(conference.output(seat.id));
        }
        if let Some(rec) = recording.as_mut() {
            let hears = seats
                .first()
                .map_or(&[0i16; ROOM_FRAME][..], |(s, _)| conference.output(s.id));
            if let Err(e) = rec.wav.write_frame(first_heard.as_slice(), hears) {
                tracing::warn!(error = %e, "the room's recording failed; finishing it");
                if let Some(rec) = recording.take() {
                    rec.finish();
                }
            }
        }
    }

    /// The room ends: every member leaves, the recording is finished.
    fn shut_down(&mut self) {
        self.closed = true;
        for (seat, _) in self.seats.drain(..) {
            seat.leave();
            self.conference.leave(seat.id);
        }
        if let Some(rec) = self.recording.take() {
            rec.finish();
        }
    }
}

#[derive(Debug)]
struct RoomShared {
    id: u64,
    state: Mutex<RoomState>,
}

impl RoomShared {
    fn state(&self) -> MutexGuard<'_, RoomState> {
        locked(&self.state)
    }
}

/// A mixing room of [`LegMedia`] legs: conferences, supervisor listen, whisper
/// and barge, muted parties (see the [`sip_leg`](super) overview).
///
/// A task on the tokio runtime the room was opened on ticks every 20 ms: it
/// takes one frame from each member (silence when none arrived), mixes them
/// with [`Conference`] by [`Role`], and hands each member its mix. Each member's
/// own leg task keeps its sockets: it feeds the room what its far end says
/// (jitter-buffered, RFC 4733 digits still reported to the leg's session) and
/// sends the room's mix in the leg's law as the next packets of its one RTP
/// stream. Both of a member's queues hold at most [`QUEUE_FRAMES`] frames
/// (60 ms): a late reader loses the oldest audio. Nothing is allocated per tick.
///
/// ```no_run
/// # async fn demo(caller: callcore_media::sip_leg::LegMedia,
/// #               agent: callcore_media::sip_leg::LegMedia,
/// #               supervisor: callcore_media::sip_leg::LegMedia) -> callcore_media::Result<()> {
/// use callcore_media::mixer::Role;
/// use callcore_media::sip_leg::Room;
/// let room = Room::open()?;
/// room.join(&caller, Role::Party)?;
/// let agent_id = room.join(&agent, Role::Party)?;
/// let sup = room.join(&supervisor, Role::Whisper { to: agent_id })?; // coaching
/// let done = room.record(std::path::Path::new("recordings/room.wav"))?;
/// room.set_role(sup, Role::Party); // barge
/// room.close();
/// let info = done.await.ok(); // the file is complete
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Room {
    shared: Arc<RoomShared>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

fn room_error(detail: impl Into<String>) -> crate::MediaError {
    crate::MediaError::Config {
        field: "room",
        detail: detail.into(),
    }
}

impl Room {
    /// Opens an empty room; its task runs on the current tokio runtime until
    /// [`close`](Self::close) or until the room is dropped.
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] outside a tokio runtime.
    pub fn open() -> Result<Room> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| room_error("a room needs a tokio runtime"))?;
        let shared = Arc::new(RoomShared {
            id: NEXT_ROOM.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(RoomState {
                conference: Conference::new(ROOM_FRAME),
                seats: Vec::new(),
                recording: None,
                closed: false,
                frame: [0; ROOM_FRAME],
                first_heard: [0; ROOM_FRAME],
            }),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        runtime.spawn(run(shared.clone(), stop_rx));
        Ok(Room {
            shared,
            stop: Mutex::new(Some(stop_tx)),
        })
    }

    /// Adds `leg` with `role` and returns its participant id; a leg already in
    /// this room only changes its role. The leg leaves its bridge (its partner
    /// returns to its own session) or its previous room first.
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] when the leg has no negotiated media or has
    /// ended, the room is closed, or a whisper names a participant that is not a
    /// member.
    pub fn join(&self, leg: &LegMedia, role: Role) -> Result<ParticipantId> {
        if locked(&leg.law).is_none() {
            return Err(room_error("the leg needs negotiated media to join a room"));
        }
        let mut st = self.shared.state();
        if st.closed {
            return Err(room_error("the room is closed"));
        }
        let mut mine = locked(&leg.seat);
        let current = mine
            .as_ref()
            .filter(|s| s.room == self.shared.id && s.is_present())
            .map(|s| s.id);
        if let Role::Whisper { to } = role
            && (Some(to) == current || !st.seats.iter().any(|(s, _)| s.id == to && s.is_present()))
        {
            return Err(room_error("a whisper must name another member of the room"));
        }
        if let Some(id) = current {
            st.conference.set_role(id, role);
            if let Some(entry) = st.seats.iter_mut().find(|(s, _)| s.id == id) {
                entry.1 = role;
            }
            return Ok(id);
        }
        if let Some(old) = mine.take() {
            old.leave(); // out of its previous room
        }
        if let Some(link) = locked(&leg.link).as_ref() {
            link.stop(); // out of its bridge: the partner goes home
        }
        let id = st.conference.join(role);
        let seat = Arc::new(Seat::new(self.shared.id, id));
        if leg.ctl.send(Control::Room(seat.clone())).is_err() {
            st.conference.leave(id);
            return Err(closed("join a room"));
        }
        st.seats.push((seat.clone(), role));
        *mine = Some(seat);
        Ok(id)
    }

    /// Changes a member's role (listen → whisper → barge, mute and unmute);
    /// `false` when it is not a member.
    pub fn set_role(&self, id: ParticipantId, role: Role) -> bool {
        let mut st = self.shared.state();
        let Some(entry) = st
            .seats
            .iter_mut()
            .find(|(s, _)| s.id == id && s.is_present())
        else {
            return false;
        };
        entry.1 = role;
        st.conference.set_role(id, role)
    }

    /// Takes a member out; its leg returns to its own session within a tick.
    /// `false` when it was not a member.
    pub fn leave(&self, id: ParticipantId) -> bool {
        let mut st = self.shared.state();
        let Some(at) = st.seats.iter().position(|(s, _)| s.id == id) else {
            return false;
        };
        let (seat, _) = st.seats.remove(at);
        seat.leave();
        st.conference.leave(id);
        true
    }

    /// The members still in the room and their roles, in the order they joined.
    pub fn members(&self) -> Vec<(ParticipantId, Role)> {
        self.shared
            .state()
            .seats
            .iter()
            .filter(|(s, _)| s.is_present())
            .map(|(s, r)| (s.id, *r))
            .collect()
    }

    /// Records the room to `path` from now until it closes, in stereo: left what
    /// its first member (the earliest to have joined still there) says, right
    /// what that member hears. The receiver learns the figures once the file is
    /// complete.
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] when the room is closed or already records;
    /// a file error when the file cannot be created.
    pub fn record(&self, path: &std::path::Path) -> Result<oneshot::Receiver<RecordingInfo>> {
        let mut st = self.shared.state();
        if st.closed {
            return Err(room_error("the room is closed"));
        }
        if st.recording.is_some() {
            return Err(room_error("the room is already recorded"));
        }
        let wav = WavRecorder::create(path, ChannelLayout::Stereo)?;
        let (tx, rx) = oneshot::channel();
        st.recording = Some(RoomRecording {
            wav,
            done: Some(tx),
        });
        Ok(rx)
    }

    /// Whether the room has closed.
    pub fn is_closed(&self) -> bool {
        self.shared.state().closed
    }

    /// Ends the room: every member returns to its own session, the recording is
    /// finished. Idempotent.
    pub fn close(&self) {
        self.shared.state().shut_down();
        if let Some(stop) = locked(&self.stop).take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.close();
    }
}

/// The room's clock: one mix every 20 ms until closed.
async fn run(shared: Arc<RoomShared>, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let mut st = shared.state();
                if st.closed {
                    break;
                }
                st.mix_tick();
            }
            _ = &mut stop => break,
        }
    }
    shared.state().shut_down();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_its_oldest_frame() {
        let mut q = FrameQueue::new();
        for v in 1..=5i16 {
            q.push(&[v; ROOM_FRAME]);
        }
        let mut out = [0; ROOM_FRAME];
        let mut got = Vec::new();
        while q.pop(&mut out) {
            got.push(out[0]);
        }
        assert_eq!(got, vec![3, 4, 5]);
        assert_eq!(q.dropped, 2);
        q.push(&[7; 10]);
        assert!(q.pop(&mut out));
        assert_eq!((out[0], out[10]), (7, 0), "a short frame is padded");
    }

    #[test]
    fn a_tick_mixes_minus_self_and_records_the_first_member() {
        let mut st = RoomState {
            conference: Conference::new(ROOM_FRAME),
            seats: Vec::new(),
            recording: None,
            closed: false,
            frame: [0; ROOM_FRAME],
            first_heard: [0; ROOM_FRAME],
        };
        let seats: Vec<_> = [Role::Party, Role::Party, Role::Listen]
            .into_iter()
            .map(|role| {
                let id = st.conference.join(role);
                let seat = Arc::new(Seat::new(1, id));
                st.seats.push((seat.clone(), role));
                seat
            })
            .collect();
        let mut out = [0; ROOM_FRAME];
        for (k, seat) in seats.iter().enumerate() {
            assert!(!seat.exchange(&[10_i16.pow(k as u32); ROOM_FRAME], &mut out));
        }
        st.mix_tick();
        let heard: Vec<i16> = seats
            .iter()
            .map(|s| {
                assert!(s.exchange(&[], &mut out));
                out[0]
            })
            .collect();
        assert_eq!(
            heard,
            vec![10, 1, 11],
            "mix-minus; the listener is heard by nobody"
        );
        assert_eq!(st.first_heard[0], 1);
        seats[0].leave();
        st.mix_tick();
        assert_eq!(
            st.seats.len(),
            2,
            "a member that left is dropped at the tick"
        );
    }
}
