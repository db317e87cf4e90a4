//! Inbound side: new calls, answer/reject/redirect, in-dialog requests from the peer
//! (ACK, BYE, re-INVITE/UPDATE hold and resume), OPTIONS and unsupported methods.

use bytes::Bytes;
use std::time::Duration;

use super::core::{Call, CallRef, CallState, UaEvent, UserAgent};
use crate::Error;
use crate::auth::AuthOutcome;
use crate::message::{HeaderName, Message, Method, Refresher, ResponseSpec, Scheme};
use crate::session::{
    Dialog, LocalMedia, NegotiatedAudio, SessionDescription, SessionTimer, TimerDecision,
    answer_offer,
};
use crate::transaction::{Peer, TxId};

fn with_server(mut resp: Message, server: &str) -> Message {
    resp.push_header(HeaderName::Server, server);
    resp
}

pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY";

fn sdp_of(msg: &Message) -> Result<Option<SessionDescription>, Error> {
    if msg.body().is_empty() {
        return Ok(None);
    }
    match msg.content_type()? {
        Some(ct) if ct.is("application", "sdp") => SessionDescription::parse(msg.body()).map(Some),
        _ => Ok(None),
    }
}

/// The Content-Type of an INVITE body that is neither SDP nor a multipart container
/// (SIP-I trunks send SDP inside multipart/mixed), `None` when the body can be taken.
fn unreadable_body(msg: &Message) -> Option<String> {
    if msg.body().is_empty() {
        return None;
    }
    match msg.content_type() {
        Ok(Some(ct)) if ct.is("application", "sdp") => None,
        Ok(Some(ct)) if ct.kind.eq_ignore_ascii_case("multipart") => None,
        Ok(Some(ct)) => Some(format!("{}/{}", ct.kind, ct.subtype)),
        // No Content-Type: RFC 3261 §20.15 says a body has one; SDP is assumed.
        Ok(None) | Err(_) => None,
    }
}

impl UserAgent {
    pub(crate) fn respond(&mut self, tx: TxId, req: &Message, spec: ResponseSpec, now: Duration) {
        let spec = spec.header(HeaderName::Server, &self.config.user_agent.clone());
        let resp = req.build_response(spec);
        if let Err(e) = self.layer.send_response(tx, &resp, now) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    pub(crate) fn on_request(&mut self, tx: TxId, req: Message, peer: Peer, now: Duration) {
        let method = req.method().cloned().unwrap_or(Method::Options);
        let in_dialog = req.to().ok().and_then(|t| t.tag().map(str::to_owned));
        if let (Method::Invite, None, Some(secs)) = (&method, &in_dialog, self.draining) {
            let spec = ResponseSpec::new(503, "Draining")
                .to_tag(&self.ids.token())
                .header(HeaderName::RetryAfter, &secs.to_string());
            self.respond(tx, &req, spec, now);
            return;
        }
        let needs_auth = match (&method, &in_dialog) {
            (Method::Register, None) => true,
            (Method::Invite, None) => self.config.auth_invites,
            _ => false,
        };
        if method == Method::Invite && in_dialog.is_none() && self.calls_over_limits(peer.addr.ip())
        {
            let spec = ResponseSpec::new(503, "Service Unavailable: Too Many Calls")
                .to_tag(&self.ids.token())
                .header(
                    HeaderName::RetryAfter,
                    &self.config.limits.transactions.retry_after_secs.to_string(),
                );
            self.respond(tx, &req, spec, now);
            return;
        }
        let mut user = None;
        if needs_auth && let Some((_, store)) = self.config.auth.clone() {
            let Some(auth) = self.authenticator.as_mut() else {
                return;
            };
            match auth.check(&req, peer.addr.ip(), store.as_ref(), now) {
                AuthOutcome::Authorized { user: u } => user = Some(u),
                AuthOutcome::Challenge { www_authenticate } => {
                    let mut spec = ResponseSpec::code(401).to_tag(&self.ids.token());
                    for v in &www_authenticate {
                        spec = spec.header(HeaderName::WwwAuthenticate, v);
                    }
                    self.respond(tx, &req, spec, now);
                    return;
                }
                AuthOutcome::Forbidden(why) => {
                    let spec = ResponseSpec::new(403, why).to_tag(&self.ids.token());
                    self.respond(tx, &req, spec, now);
                    return;
                }
            }
        }
        match (method, in_dialog) {
            (Method::Invite, None) => self.on_new_invite(tx, req, peer, now),
            (Method::Register, None) if self.config.registrar => {
                self.on_register(tx, &req, user, now);
                self.note_contact_sources(&req, peer, now);
            }
            (Method::Options, None) => {
                let spec = ResponseSpec::code(200)
                    .to_tag(&self.ids.token())
                    .header(HeaderName::Allow, ALLOW)
                    .header(HeaderName::Accept, "application/sdp")
                    .header(HeaderName::Supported, "timer");
                self.respond(tx, &req, spec, now);
            }
            (m, Some(tag)) => self.on_in_dialog(tx, req, m, &tag, now),
            (
                Method::Bye | Method::Update | Method::Info | Method::Notify | Method::Refer,
                None,
            ) => {
                let tag = self.ids.token();
                self.respond(tx, &req, ResponseSpec::code(481).to_tag(&tag), now);
            }
            (Method::Other(_), None) => {
                let tag = self.ids.token();
                self.respond(
                    tx,
                    &req,
                    ResponseSpec::code(501)
                        .to_tag(&tag)
                        .header(HeaderName::Allow, ALLOW),
                    now,
                );
            }
            (_, None) => {
                let tag = self.ids.token();
                self.respond(
                    tx,
                    &req,
                    ResponseSpec::code(405)
                        .to_tag(&tag)
                        .header(HeaderName::Allow, ALLOW),
                    now,
                );
            }
        }
    }

    fn on_register(&mut self, tx: TxId, req: &Message, user: Option<String>, now: Duration) {
        let tag = self.ids.token();
        let aor = req
            .to()
            .map(|t| crate::registrar::aor_key(&t.uri()))
            .unwrap_or_default();
        // an account binds its own address only: 1002's password does not register 1001
        let aor_user = req
            .to()
            .ok()
            .and_then(|t| t.uri().user().map(str::to_owned));
        if let Some(u) = &user
            && aor_user.as_deref() != Some(u.as_str())
        {
            tracing::debug!(user = %u, "REGISTER for another user's address refused");
            let spec = ResponseSpec::new(403, "Not your address of record").to_tag(&tag);
            self.respond(tx, req, spec, now);
            return;
        }
        // An address of record in a scheme we do not serve (RFC 4475 §3.3.4's isbn:):
        // 416, as for a Request-URI in such a scheme (RFC 3261 §8.2.2.1).
        if req
            .to()
            .is_ok_and(|t| !matches!(t.uri().scheme(), Scheme::Sip | Scheme::Sips))
        {
            let spec = ResponseSpec::code(416).to_tag(&tag);
            self.respond(tx, req, spec, now);
            return;
        }
        let resp = match self.registrar.register(req, now) {
            Ok(bound) => {
                let contacts = bound.iter().map(|b| b.contact.clone()).collect();
                self.emit(UaEvent::Registered {
                    aor,
                    contacts,
                    user,
                });
                crate::registrar::Registrar::ok_response(req, &bound, &tag)
            }
            Err(e) => e.response(req, &tag),
        };
        let resp = with_server(resp, &self.config.user_agent);
        if let Err(e) = self.layer.send_response(tx, &resp, now) {
            tracing::debug!(error = %e, "REGISTER response not sent");
        }
    }

    fn on_new_invite(&mut self, tx: TxId, req: Message, peer: Peer, now: Duration) {
        let local_tag = self.ids.token();
        if let Some(kind) = unreadable_body(&req) {
            // A session description we cannot read (RFC 3261 §21.4.13, RFC 4475
            // §3.3.6): 415, saying what we accept.
            tracing::debug!(content_type = %kind, "INVITE body of an unsupported type");
            let spec = ResponseSpec::code(415)
                .to_tag(&local_tag)
                .header(HeaderName::Accept, "application/sdp");
            self.respond(tx, &req, spec, now);
            return;
        }
        let offer = match sdp_of(&req) {
            Ok(o) => o,
            Err(e) => {
                let spec = ResponseSpec::new(400, &format!("Bad SDP: {e}")).to_tag(&local_tag);
                self.respond(tx, &req, spec, now);
                return;
            }
        };
        if SessionTimer::negotiate_uas_with(&req, self.config.min_se) == TimerDecision::TooSmall {
            let spec = ResponseSpec::code(422)
                .to_tag(&local_tag)
                .header(HeaderName::MinSe, &self.config.min_se.to_string());
            self.respond(tx, &req, spec, now);
            return;
        }
        // An RFC 2543 caller may leave Contact out (RFC 4475 §3.4.1): requests in the
        // call then go to its From address, which must be a SIP one.
        let target_known = req.contact().ok().flatten().is_some()
            || req
                .from()
                .is_ok_and(|f| matches!(f.uri().scheme(), Scheme::Sip | Scheme::Sips));
        if !target_known {
            let spec = ResponseSpec::new(400, "Missing Contact header").to_tag(&local_tag);
            self.respond(tx, &req, spec, now);
            return;
        }
        let replaces = match req.replaces() {
            Ok(None) => None,
            Ok(Some(r)) => {
                let key = (r.call_id.to_owned(), r.to_tag.to_owned());
                let found = self.by_dialog.get(&key).copied().filter(|c| {
                    self.calls.get(c).is_some_and(|call| {
                        let remote = call.dialog.as_ref().map(|d| d.id.remote_tag.as_str());
                        remote == Some(r.from_tag) && call.state == CallState::Confirmed
                    })
                });
                match found {
                    Some(c) => Some(c),
                    None => {
                        let spec = ResponseSpec::code(481).to_tag(&local_tag);
                        self.respond(tx, &req, spec, now);
                        return;
                    }
                }
            }
            Err(_) => {
                let spec = ResponseSpec::new(400, "Bad Replaces header").to_tag(&local_tag);
                self.respond(tx, &req, spec, now);
                return;
            }
        };
        let from = req.from().map(|f| f.uri().to_string()).unwrap_or_default();
        let to = req.to().map(|t| t.uri().to_string()).unwrap_or_default();
        let request_uri = req.request_uri_str().unwrap_or("").to_owned();
        let call_id = req.call_id().unwrap_or("").to_owned();
        let asserted = req
            .header_named("P-Asserted-Identity")
            .map(Box::<str>::from);
        let call = self.alloc_call(Call {
            state: CallState::InboundPending,
            peer,
            invite: req,
            invite_tx: Some(tx),
            local_tag: local_tag.clone(),
            dialog: None,
            local_media: None,
            offer: offer.clone(),
            sdp_version: 1,
            last_rseq: None,
            reliable: None,
            replaces,
        });
        self.by_tx.insert(tx, call);
        self.by_dialog.insert((call_id.clone(), local_tag), call);
        tracing::debug!(call = call.0, "inbound call");
        self.emit(UaEvent::IncomingCall {
            call,
            from,
            to,
            request_uri,
            offer,
            replaces,
            source: peer.addr.ip(),
            asserted,
            call_id,
        });
    }

    fn pending_inbound(&self, call: CallRef) -> Result<(TxId, Message, String), Error> {
        let c = self.calls.get(&call).ok_or(Error::State("no such call"))?;
        if c.state != CallState::InboundPending {
            return Err(Error::State("call is not a pending inbound call"));
        }
        let tx = c.invite_tx.ok_or(Error::State("no INVITE transaction"))?;
        Ok((tx, c.invite.clone(), c.local_tag.clone()))
    }

    /// Our Contact for a call: over the transport its INVITE came in on.
    fn call_contact(&self, call: CallRef) -> String {
        match self.calls.get(&call) {
            Some(c) => self.contact_for(c.peer.transport),
            None => self.contact(),
        }
    }

    /// Sends 180 Ringing (or 183 with `early_media`) for an inbound call.
    pub fn ring(&mut self, call: CallRef, now: Duration) -> Result<(), Error> {
        let (tx, invite, tag) = self.pending_inbound(call)?;
        let contact = self.call_contact(call);
        let spec = ResponseSpec::code(180)
            .to_tag(&tag)
            .header(HeaderName::Contact, &contact);
        if Self::requires_100rel(&invite) {
            self.send_reliable_provisional(call, tx, &invite, spec, now);
        } else {
            self.respond(tx, &invite, spec, now);
        }
        self.pump(now);
        Ok(())
    }

    /// Answers an inbound call with 200 OK and an SDP answer built from `local`. Fails
    /// (and answers 488) when no codec is common.
    pub fn answer(
        &mut self,
        call: CallRef,
        local: LocalMedia,
        now: Duration,
    ) -> Result<Option<NegotiatedAudio>, Error> {
        let (tx, invite, tag) = self.pending_inbound(call)?;
        let offer = self.calls.get(&call).and_then(|c| c.offer.clone());
        let contact = self.call_contact(call);
        let mut spec = ResponseSpec::code(200)
            .to_tag(&tag)
            .header(HeaderName::Contact, &contact)
            .header(HeaderName::Allow, ALLOW)
            .header(HeaderName::Supported, "timer");
        let mut negotiated = None;
        let body = match &offer {
            Some(o) => match answer_offer(o, &local, 1) {
                Ok((sdp, neg)) => {
                    negotiated = Some(neg);
                    sdp
                }
                Err(e) => {
                    self.respond(tx, &invite, ResponseSpec::code(488).to_tag(&tag), now);
                    self.end_call(call, false);
                    return Err(e);
                }
            },
            None => crate::session::create_offer(&local, 1),
        };
        spec = spec.body("application/sdp", Bytes::from(body.to_body()));
        let mut resp = invite.build_response(spec);
        let timer = match SessionTimer::negotiate_uas_with(&invite, self.config.min_se) {
            TimerDecision::Use(t) => {
                t.decorate_2xx(&mut resp, supports_timer(&invite));
                Some(t)
            }
            _ => None,
        };
        self.layer.send_response(tx, &resp, now)?;
        if let Some(t) = timer {
            let we_refresh = t.refresher == Refresher::Uas;
            let use_update = super::uac::allows_update(&invite);
            self.session_timers
                .arm(call, t, we_refresh, use_update, now);
        }
        let dialog = Dialog::new_uas(&invite, &tag, &contact, true)?;
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::InboundAnswered;
            c.dialog = Some(dialog);
            c.local_media = Some(local);
        }
        let replaced = self.calls.get(&call).and_then(|c| c.replaces);
        if let Some(old) = replaced {
            let _ = self.hangup(old, now);
        }
        self.pump(now);
        Ok(negotiated)
    }

    /// Rejects an inbound call with a final status (486 busy, 603 decline, 480...).
    pub fn reject(&mut self, call: CallRef, status: u16, now: Duration) -> Result<(), Error> {
        let (tx, invite, tag) = self.pending_inbound(call)?;
        self.respond(tx, &invite, ResponseSpec::code(status).to_tag(&tag), now);
        self.end_call(call, false);
        self.pump(now);
        Ok(())
    }

    /// Redirects an inbound call (302 with the given Contact URIs).
    pub fn redirect(
        &mut self,
        call: CallRef,
        targets: &[&str],
        now: Duration,
    ) -> Result<(), Error> {
        let (tx, invite, tag) = self.pending_inbound(call)?;
        let contacts: Vec<String> = targets.iter().map(|t| format!("<{t}>")).collect();
        let spec = ResponseSpec::code(302)
            .to_tag(&tag)
            .header(HeaderName::Contact, &contacts.join(", "));
        self.respond(tx, &invite, spec, now);
        self.end_call(call, false);
        self.pump(now);
        Ok(())
    }

    pub(crate) fn on_ack(&mut self, ack: &Message) {
        let Some(call) = self.find_dialog_call(ack) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&call)
            && c.state == CallState::InboundAnswered
        {
            c.state = CallState::Confirmed;
            self.emit(UaEvent::Confirmed { call });
        }
    }

    pub(crate) fn on_cancelled(&mut self, invite: TxId) {
        if let Some(&call) = self.by_tx.get(&invite) {
            self.emit(UaEvent::Cancelled { call });
            self.end_call(call, true);
        }
    }

    pub(crate) fn find_dialog_call(&self, msg: &Message) -> Option<CallRef> {
        let cid = msg.call_id().ok()?.to_owned();
        let local = if msg.is_request() {
            msg.to().ok()?.tag()?
        } else {
            msg.from().ok()?.tag()?
        };
        self.by_dialog.get(&(cid, local.to_owned())).copied()
    }

    fn on_in_dialog(&mut self, tx: TxId, req: Message, method: Method, _tag: &str, now: Duration) {
        let Some(call) = self.find_dialog_call(&req) else {
            self.respond(tx, &req, ResponseSpec::code(481), now);
            return;
        };
        let check = match self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) {
            Some(d) => d.on_request(&req),
            None => Err(crate::session::DialogFault::NoSuchDialog),
        };
        if let Err(f) = check {
            self.respond(tx, &req, ResponseSpec::code(f.status()), now);
            return;
        }
        match method {
            Method::Bye => {
                self.respond(tx, &req, ResponseSpec::code(200), now);
                self.end_call(call, true);
            }
            Method::Invite | Method::Update => self.on_session_refresh(call, tx, &req, now),
            Method::Refer => self.on_refer(call, tx, req, now),
            Method::Notify => {
                self.respond(tx, &req, ResponseSpec::code(200), now);
                let is_refer = req
                    .header(&HeaderName::Event)
                    .is_some_and(|e| e.trim().starts_with("refer"));
                // message/sipfrag: "SIP/2.0 200 OK" on the first line.
                let frag = std::str::from_utf8(req.body())
                    .ok()
                    .and_then(|b| b.lines().next())
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|c| c.parse().ok());
                if let (true, Some(status)) = (is_refer, frag) {
                    self.emit(UaEvent::TransferProgress { call, status });
                }
            }
            Method::Prack => self.on_prack(call, tx, &req, now),
            Method::Info | Method::Options => self.respond(tx, &req, ResponseSpec::code(200), now),
            _ => self.respond(
                tx,
                &req,
                ResponseSpec::code(405).header(HeaderName::Allow, ALLOW),
                now,
            ),
        }
    }

    /// re-INVITE / UPDATE from the peer: answer its offer with our current media
    /// (hold: they send sendonly, we answer recvonly).
    fn on_session_refresh(&mut self, call: CallRef, tx: TxId, req: &Message, now: Duration) {
        // RFC 4028 §9 within the dialog: the request may set new terms, answered in
        // our 2xx; a refresh without Session-Expires keeps the running terms.
        let timer = match SessionTimer::negotiate_uas_with(req, self.config.min_se) {
            TimerDecision::TooSmall => {
                let spec = ResponseSpec::code(422)
                    .header(HeaderName::MinSe, &self.config.min_se.to_string());
                self.respond(tx, req, spec, now);
                return;
            }
            TimerDecision::Use(t) => Some(t),
            TimerDecision::None => None,
        };
        self.on_session_offer(call, tx, req, timer, now);
    }

    fn on_session_offer(
        &mut self,
        call: CallRef,
        tx: TxId,
        req: &Message,
        timer: Option<SessionTimer>,
        now: Duration,
    ) {
        let contact = self.contact();
        let mut timer_headers = ResponseSpec::code(200);
        if let Some(t) = timer {
            let r = match t.refresher {
                Refresher::Uac => "uac",
                Refresher::Uas => "uas",
            };
            timer_headers = timer_headers.header(
                HeaderName::SessionExpires,
                &format!("{};refresher={r}", t.interval),
            );
            if supports_timer(req) {
                timer_headers = timer_headers.header(HeaderName::Require, "timer");
            }
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let offer = match sdp_of(req) {
            Ok(o) => o,
            Err(_) => {
                self.respond(tx, req, ResponseSpec::new(400, "Bad SDP"), now);
                return;
            }
        };
        let (Some(offer), Some(local)) = (offer, c.local_media.clone()) else {
            // No offer (session refresh only): confirm without changing media.
            self.respond(
                tx,
                req,
                timer_headers.header(HeaderName::Contact, &contact),
                now,
            );
            self.refreshed_by_peer(call, timer, now);
            return;
        };
        c.sdp_version += 1;
        match answer_offer(&offer, &local, c.sdp_version) {
            Ok((answer, audio)) => {
                let spec = timer_headers
                    .header(HeaderName::Contact, &contact)
                    .body("application/sdp", Bytes::from(answer.to_body()));
                self.respond(tx, req, spec, now);
                self.refreshed_by_peer(call, timer, now);
                self.emit(UaEvent::MediaChanged { call, audio });
            }
            Err(_) => self.respond(tx, req, ResponseSpec::code(488), now),
        }
    }

    /// The peer's re-INVITE/UPDATE was answered 2xx: with new terms the timer restarts
    /// on them (the request's sender is this transaction's UAC), otherwise it is
    /// refreshed.
    fn refreshed_by_peer(&mut self, call: CallRef, timer: Option<SessionTimer>, now: Duration) {
        match timer {
            Some(t) => {
                let we_refresh = t.refresher == Refresher::Uas;
                self.session_timers.arm(call, t, we_refresh, false, now);
            }
            None => self.note_session_refreshed(call, now),
        }
    }
}

fn supports_timer(msg: &Message) -> bool {
    msg.supported()
        .iter()
        .any(|s| s.eq_ignore_ascii_case("timer"))
}
