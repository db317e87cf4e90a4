//! Outbound side: placing calls, provisional/final responses, the 2xx ACK, CANCEL,
//! hang-up by BYE, hold and resume by re-INVITE, transaction timeouts.

use bytes::Bytes;
use std::time::Duration;

use super::core::{Call, CallRef, CallState, UaEvent, UserAgent};
use crate::Error;
use crate::message::{HeaderName, Message, Method};
use crate::session::{
    Dialog, Direction, LocalMedia, SessionDescription, create_offer, process_answer,
};
use crate::transaction::{Peer, TxId};

impl UserAgent {
    /// Places a call to `target` (a SIP URI) through `peer`, presenting `from` (a SIP
    /// URI) and offering `local` media.
    pub fn place_call(
        &mut self,
        target: &str,
        peer: Peer,
        from: &str,
        local: LocalMedia,
        now: Duration,
    ) -> Result<CallRef, Error> {
        let local_tag = self.ids.token();
        let call_id = format!("{}@{}", self.ids.token(), self.config.local_addr.ip());
        // Via and Contact name the transport the INVITE goes over
        let via = self.new_via_for(peer.transport);
        let offer = create_offer(&local, 1);
        // Headers in the target URI (`?Replaces=...`) become request headers (§19.1.5).
        let (target, uri_headers) = match target.split_once('?') {
            Some((t, h)) => (t, h),
            None => (target, ""),
        };
        let mut invite = Message::request(Method::Invite, target);
        invite.push_header(HeaderName::Via, &via);
        invite.push_header(HeaderName::MaxForwards, "70");
        invite.push_header(HeaderName::From, &format!("<{from}>;tag={local_tag}"));
        invite.push_header(HeaderName::To, &format!("<{target}>"));
        invite.push_header(HeaderName::CallId, &call_id);
        invite.push_header(HeaderName::CSeq, "1 INVITE");
        invite.push_header(HeaderName::Contact, &self.contact_for(peer.transport));
        invite.push_header(HeaderName::Allow, super::uas::ALLOW);
        invite.push_header(HeaderName::Supported, "timer, 100rel");
        invite.push_header(HeaderName::UserAgent, &self.config.user_agent.clone());
        for kv in uri_headers.split('&').filter(|kv| !kv.is_empty()) {
            if let Some((name, value)) = kv.split_once('=') {
                let name = HeaderName::from_name(&percent_decode(name));
                if matches!(
                    name,
                    HeaderName::Replaces | HeaderName::Other(_) | HeaderName::Subject
                ) {
                    invite.push_header(name, &percent_decode(value));
                }
            }
        }
        invite.set_body("application/sdp", Bytes::from(offer.to_body()));
        // Validate what we built before it leaves (bad target URIs fail here).
        let invite = Message::parse(invite.to_bytes())?;
        let tx = self.layer.send_request(invite.clone(), peer, now)?;
        let call = self.alloc_call(Call {
            state: CallState::OutboundPending,
            peer,
            invite,
            invite_tx: Some(tx),
            local_tag: local_tag.clone(),
            dialog: None,
            local_media: Some(local),
            offer: Some(offer),
            sdp_version: 1,
            last_rseq: None,
            reliable: None,
            replaces: None,
        });
        self.by_tx.insert(tx, call);
        self.by_dialog.insert((call_id, local_tag), call);
        self.pump(now);
        Ok(call)
    }

    pub(crate) fn on_response(&mut self, tx: TxId, resp: Message, now: Duration) {
        let Some(&call) = self.by_tx.get(&tx) else {
            return;
        };
        let Some(code) = resp.status() else { return };
        let is_invite = resp
            .cseq()
            .map(|c| c.method == Method::Invite)
            .unwrap_or(false);
        let state = self.calls.get(&call).map(|c| c.state);
        if !is_invite {
            let method = resp.cseq().map(|c| c.method).ok();
            if method == Some(Method::Update) && (200..300).contains(&code) {
                self.note_session_refreshed(call, now);
            }
            if method == Some(Method::Refer) && code >= 200 {
                self.emit(UaEvent::TransferProgress { call, status: code });
            }
            // A final answer to our BYE ends the call.
            if method == Some(Method::Bye) && state == Some(CallState::Terminating) && code >= 200 {
                self.end_call(call, false);
            }
            return;
        }
        let invite_tx = self.calls.get(&call).and_then(|c| c.invite_tx);
        if invite_tx != Some(tx) {
            // Answer to our re-INVITE (hold/resume).
            if (200..300).contains(&code) {
                self.ack_2xx(call, &resp);
                self.apply_answer(call, &resp);
                self.note_session_refreshed(call, now);
            }
            return;
        }
        if (100..200).contains(&code) {
            self.proceeding.insert(call);
        }
        match code {
            100 => {}
            101..=199 => {
                let contact = self.contact_of_call(call);
                if resp.to().ok().and_then(|t| t.tag()).is_some()
                    && let Some(c) = self.calls.get_mut(&call)
                    && c.dialog.is_none()
                {
                    c.dialog = Dialog::new_uac(&c.invite, &resp, &contact).ok();
                }
                self.prack_if_reliable(call, &resp, now);
                self.emit(UaEvent::Ringing { call, status: code });
            }
            200..=299 => {
                let first = self.calls.get(&call).is_some_and(|c| {
                    !matches!(
                        c.state,
                        CallState::Confirmed | CallState::Terminating | CallState::Ended
                    )
                });
                let contact = self.contact_of_call(call);
                if let Some(c) = self.calls.get_mut(&call) {
                    match &mut c.dialog {
                        Some(d)
                            if d.id.remote_tag
                                == resp.to().ok().and_then(|t| t.tag()).unwrap_or("") =>
                        {
                            d.on_2xx(&resp)
                        }
                        _ => c.dialog = Dialog::new_uac(&c.invite, &resp, &contact).ok(),
                    }
                }
                self.ack_2xx(call, &resp);
                if !first {
                    return;
                }
                let cancelling = state == Some(CallState::OutboundCancelling);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Confirmed;
                }
                if cancelling {
                    // The 2xx crossed our CANCEL: end the call properly.
                    let _ = self.hangup(call, now);
                    return;
                }
                let audio = self.apply_answer(call, &resp);
                if let Some(t) = crate::session::SessionTimer::from_2xx(&resp) {
                    let use_update = allows_update(&resp);
                    let we_refresh = t.refresher == crate::message::Refresher::Uac;
                    self.session_timers
                        .arm(call, t, we_refresh, use_update, now);
                }
                self.emit(UaEvent::Answered { call, audio });
            }
            // a trunk that authenticates calls: answered once with its credentials
            401 | 407 if self.retry_invite_with_credentials(call, &resp, now) => {
                self.pump(now);
            }
            _ => {
                let redirect = (300..400)
                    .contains(&code)
                    .then(|| resp.contact().ok().flatten().map(|c| c.uri().to_string()))
                    .flatten();
                if state != Some(CallState::Ended) {
                    self.emit(UaEvent::Failed {
                        call,
                        status: code,
                        redirect,
                    });
                }
                self.reap(call);
            }
        }
    }

    /// RFC 3262: acknowledges a reliable provisional (Require: 100rel + RSeq) with a
    /// PRACK carrying RAck, once per RSeq.
    fn prack_if_reliable(&mut self, call: CallRef, resp: &Message, now: Duration) {
        let reliable = resp
            .require()
            .iter()
            .any(|t| t.eq_ignore_ascii_case("100rel"));
        let (Some(rseq), true) = (resp.rseq(), reliable) else {
            return;
        };
        let Ok(cseq) = resp.cseq() else { return };
        let via = self.via_for_call(call);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.last_rseq.is_some_and(|last| rseq <= last) {
            return; // a retransmission we already acknowledged
        }
        let peer = c.peer;
        let Some(d) = c.dialog.as_mut() else { return };
        let mut prack = d.request(Method::Prack, &via);
        prack.push_header(HeaderName::RAck, &format!("{rseq} {} INVITE", cseq.seq));
        c.last_rseq = Some(rseq);
        if let Ok(tx) = self.layer.send_request(prack, peer, now) {
            self.by_tx.insert(tx, call);
        }
    }

    fn apply_answer(
        &mut self,
        call: CallRef,
        resp: &Message,
    ) -> Option<crate::session::NegotiatedAudio> {
        let c = self.calls.get(&call)?;
        let offer = c.offer.as_ref()?;
        if resp.body().is_empty() {
            return None;
        }
        let answer = SessionDescription::parse(resp.body()).ok()?;
        match process_answer(offer, &answer) {
            Ok(audio) => Some(audio),
            Err(e) => {
                // e.g. no a=crypto in the answer to our RTP/SAVP offer
                tracing::warn!(call = call.0, error = %e, "answer not usable: the call has no media");
                None
            }
        }
    }

    fn ack_2xx(&mut self, call: CallRef, resp: &Message) {
        let via = self.via_for_call(call);
        let seq = resp.cseq().map(|c| c.seq).unwrap_or(1);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let peer = c.peer;
        let Some(d) = c.dialog.as_mut() else { return };
        let ack = d.ack(seq, &via);
        self.layer.transmit(peer, &ack);
    }

    /// A 2xx retransmission outside its transaction: ACK it again (RFC 6026 §8.4).
    pub(crate) fn on_stray_response(&mut self, resp: &Message, _peer: crate::transaction::Peer) {
        let is_invite_2xx = resp.status().is_some_and(|c| (200..300).contains(&c))
            && resp
                .cseq()
                .map(|c| c.method == Method::Invite)
                .unwrap_or(false);
        if is_invite_2xx && let Some(call) = self.find_dialog_call(resp) {
            self.ack_2xx(call, resp);
        }
    }

    pub(crate) fn on_tx_timeout(&mut self, tx: TxId, now: Duration) {
        let Some(&call) = self.by_tx.get(&tx) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let is_invite_tx = c.invite_tx == Some(tx);
        match c.state {
            CallState::OutboundPending | CallState::OutboundCancelling if is_invite_tx => {
                self.emit(UaEvent::Failed {
                    call,
                    status: 408,
                    redirect: None,
                });
                self.reap(call);
            }
            // Our 2xx was never acknowledged (Timer L): end the call with a BYE.
            CallState::InboundAnswered if is_invite_tx => {
                let _ = self.hangup(call, now);
            }
            CallState::Terminating => self.end_call(call, false),
            _ => {}
        }
    }

    /// Ends a call however far it got: CANCEL (outbound, unanswered), 480 (inbound,
    /// unanswered) or BYE (established).
    pub fn hangup(&mut self, call: CallRef, now: Duration) -> Result<(), Error> {
        let state = self
            .calls
            .get(&call)
            .map(|c| c.state)
            .ok_or(Error::State("no such call"))?;
        match state {
            CallState::InboundPending => self.reject(call, 480, now),
            CallState::OutboundPending => {
                let tx = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.invite_tx)
                    .ok_or(Error::State("no INVITE"))?;
                let ctx = self.layer.cancel(tx, now)?;
                self.by_tx.insert(ctx, call);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::OutboundCancelling;
                }
                self.pump(now);
                Ok(())
            }
            CallState::InboundAnswered | CallState::Confirmed => {
                let via = self.via_for_call(call);
                let c = self
                    .calls
                    .get_mut(&call)
                    .ok_or(Error::State("no such call"))?;
                let peer = c.peer;
                let d = c.dialog.as_mut().ok_or(Error::State("no dialog"))?;
                let bye = d.request(Method::Bye, &via);
                c.state = CallState::Terminating;
                let tx = self.layer.send_request(bye, peer, now)?;
                self.by_tx.insert(tx, call);
                self.pump(now);
                Ok(())
            }
            CallState::OutboundCancelling | CallState::Terminating | CallState::Ended => Ok(()),
        }
    }

    pub(crate) fn in_dialog_request(
        &mut self,
        call: CallRef,
        method: Method,
        headers: &[(HeaderName, String)],
        body: Option<(&str, String)>,
        now: Duration,
    ) -> Result<(), Error> {
        let via = self.via_for_call(call);
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(Error::State("no such call"))?;
        if c.state != CallState::Confirmed {
            return Err(Error::State("call not established"));
        }
        let peer = c.peer;
        let d = c.dialog.as_mut().ok_or(Error::State("no dialog"))?;
        let mut req = d.request(method, &via);
        for (n, v) in headers {
            req.push_header(n.clone(), v);
        }
        if let Some((ct, b)) = body {
            req.set_body(ct, Bytes::from(b));
        }
        let tx = self.layer.send_request(req, peer, now)?;
        self.by_tx.insert(tx, call);
        self.pump(now);
        Ok(())
    }

    /// Blind transfer: asks the far end to call `target` (REFER, RFC 3515). Progress
    /// arrives as [`UaEvent::TransferProgress`].
    pub fn refer(&mut self, call: CallRef, target: &str, now: Duration) -> Result<(), Error> {
        let referred_by = self.contact();
        self.in_dialog_request(
            call,
            Method::Refer,
            &[
                (HeaderName::ReferTo, format!("<{target}>")),
                (HeaderName::ReferredBy, referred_by),
            ],
            None,
            now,
        )
    }

    /// Attended transfer: asks the far end of `call` to call the far end of
    /// `consult` with `Replaces`, taking that call over (RFC 3891, RFC 5589).
    pub fn refer_replacing(
        &mut self,
        call: CallRef,
        consult: CallRef,
        now: Duration,
    ) -> Result<(), Error> {
        let c = self
            .calls
            .get(&consult)
            .ok_or(Error::State("no such consultation call"))?;
        let d = c
            .dialog
            .as_ref()
            .ok_or(Error::State("consultation call has no dialog"))?;
        // From the consulted party's side: its tag is the To tag, ours the From tag.
        let replaces = format!(
            "{};to-tag={};from-tag={}",
            d.id.call_id, d.id.remote_tag, d.id.local_tag
        );
        let target = format!("{}?Replaces={}", d.remote_target, percent_encode(&replaces));
        self.refer(call, &target, now)
    }

    /// Reports the progress of a transfer the far end asked for (NOTIFY with a sipfrag
    /// of the new call's status; a final status ends the implicit subscription).
    pub fn notify_transfer(
        &mut self,
        call: CallRef,
        status: u16,
        now: Duration,
    ) -> Result<(), Error> {
        let state = if status >= 200 {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let frag = format!(
            "SIP/2.0 {status} {}\r\n",
            crate::message::default_reason(status)
        );
        self.in_dialog_request(
            call,
            Method::Notify,
            &[
                (HeaderName::Event, "refer".into()),
                (HeaderName::SubscriptionState, state.into()),
            ],
            Some(("message/sipfrag;version=2.0", frag)),
            now,
        )
    }

    /// Puts the far end on hold (re-INVITE with `sendonly`) or resumes (`sendrecv`).
    pub fn set_hold(&mut self, call: CallRef, hold: bool, now: Duration) -> Result<(), Error> {
        let via = self.via_for_call(call);
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(Error::State("no such call"))?;
        if c.state != CallState::Confirmed {
            return Err(Error::State("call not established"));
        }
        let mut local: LocalMedia = c
            .local_media
            .clone()
            .ok_or(Error::State("no local media"))?;
        local.direction = if hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        c.sdp_version += 1;
        let offer = create_offer(&local, c.sdp_version);
        c.local_media = Some(local);
        let peer = c.peer;
        let d = c.dialog.as_mut().ok_or(Error::State("no dialog"))?;
        let mut reinvite = d.request(Method::Invite, &via);
        reinvite.set_body("application/sdp", Bytes::from(offer.to_body()));
        c.offer = Some(offer);
        let tx = self.layer.send_request(reinvite, peer, now)?;
        self.by_tx.insert(tx, call);
        self.pump(now);
        Ok(())
    }
}

/// Whether a message's Allow names UPDATE.
pub(crate) fn allows_update(msg: &Message) -> bool {
    msg.allow().iter().any(|m| m.eq_ignore_ascii_case("UPDATE"))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
