//! Out-of-dialog requests the center originates towards trunks: outbound registration
//! with digest auth and refresh, and OPTIONS keep-alives feeding trunk health.

use std::time::Duration;

use super::core::{UaEvent, UserAgent};
use crate::Error;
use crate::auth::{authorization_for, choose_challenge};
use crate::message::{HeaderName, Message, Method};
use crate::transaction::TxId;
use crate::trunk::{CallOutcome, Trunk, TrunkRouter};

/// Outbound registration state of one trunk.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) trunk: Trunk,
    call_id: String,
    from_tag: String,
    cseq: u32,
    nc: u32,
    pub(crate) refresh_at: Option<Duration>,
    pending: Option<TxId>,
    auth_tried: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Outbound {
    pub(crate) registrations: Vec<Registration>,
    pub(crate) router: Option<TrunkRouter>,
    probes: Vec<(TxId, String)>,
}

impl Outbound {
    pub(crate) fn next_deadline(&self) -> Option<Duration> {
        let reg = self
            .registrations
            .iter()
            .filter(|r| r.pending.is_none())
            .filter_map(|r| r.refresh_at)
            .min();
        let probe = self.router.as_ref().and_then(TrunkRouter::next_probe);
        [reg, probe].into_iter().flatten().min()
    }
}

impl UserAgent {
    /// Keeps trunks' health with OPTIONS probes (each trunk's `keepalive` interval);
    /// outcomes are recorded in the router ([`UserAgent::trunks`]).
    pub fn set_trunks(&mut self, router: TrunkRouter, now: Duration) {
        self.outbound.router = Some(router);
        self.on_outbound_timers(now);
        self.pump(now);
    }

    /// The trunk router with its health as probed.
    pub fn trunks(&self) -> Option<&TrunkRouter> {
        self.outbound.router.as_ref()
    }

    /// Registers with a trunk that needs it (`trunk.registration`), answering digest
    /// challenges and refreshing at half the granted expiry.
    pub fn register_trunk(&mut self, trunk: Trunk, now: Duration) -> Result<(), Error> {
        let Some(creds) = trunk.registration.clone() else {
            return Err(Error::State("trunk has no registration credentials"));
        };
        // calls through this trunk answer its challenges with the same account
        self.set_call_credentials(trunk.peer, creds);
        let reg = Registration {
            call_id: format!("{}@{}", self.ids.token(), self.config.local_addr.ip()),
            from_tag: self.ids.token(),
            cseq: 0,
            nc: 0,
            refresh_at: Some(now),
            pending: None,
            auth_tried: false,
            trunk,
        };
        self.outbound.registrations.push(reg);
        self.on_outbound_timers(now);
        self.pump(now);
        Ok(())
    }

    fn register_request(&mut self, i: usize, challenge: Option<&Message>) -> Option<Message> {
        let transport = self.outbound.registrations.get(i)?.trunk.peer.transport;
        let via = self.new_via_for(transport);
        let contact = self.contact_for(transport);
        let cnonce = self.ids.token();
        let r = self.outbound.registrations.get_mut(i)?;
        let creds = r.trunk.registration.clone()?;
        r.cseq += 1;
        let host = r.trunk.peer.addr.to_string();
        let aor = format!("sip:{}@{host}", creds.user);
        let ruri = format!("sip:{host}");
        let mut m = Message::request(Method::Register, &ruri);
        m.push_header(HeaderName::Via, &via);
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(HeaderName::From, &format!("<{aor}>;tag={}", r.from_tag));
        m.push_header(HeaderName::To, &format!("<{aor}>"));
        m.push_header(HeaderName::CallId, &r.call_id);
        m.push_header(HeaderName::CSeq, &format!("{} REGISTER", r.cseq));
        m.push_header(HeaderName::Contact, &contact);
        m.push_header(HeaderName::Expires, &creds.expires.to_string());
        if let Some(ch) = challenge {
            let (name, values) = if ch.status() == Some(407) {
                (
                    HeaderName::ProxyAuthorization,
                    ch.proxy_authenticate().unwrap_or_default(),
                )
            } else {
                (
                    HeaderName::Authorization,
                    ch.www_authenticate().unwrap_or_default(),
                )
            };
            r.nc += 1;
            // credentials go only to the carrier's realm when the trunk names one
            let values: Vec<_> = values
                .into_iter()
                .filter(|v| {
                    creds.realm.as_deref().is_none_or(|want| {
                        v.param("realm")
                            .is_some_and(|got| got.eq_ignore_ascii_case(want))
                    })
                })
                .collect();
            let chosen = choose_challenge(&values, &creds.digest);
            let value = chosen.and_then(|c| {
                authorization_for(
                    c,
                    &creds.user,
                    &creds.password,
                    "REGISTER",
                    &ruri,
                    &cnonce,
                    r.nc,
                )
            });
            m.push_header(name, &value?);
        }
        Some(m)
    }

    /// Sends a REGISTER (answering `challenge`); false when none could be built
    /// (no challenge we may answer) or sent.
    fn send_register(&mut self, i: usize, challenge: Option<&Message>, now: Duration) -> bool {
        let Some(req) = self.register_request(i, challenge) else {
            return false;
        };
        let Some(peer) = self.outbound.registrations.get(i).map(|r| r.trunk.peer) else {
            return false;
        };
        if let Ok(tx) = self.layer.send_request(req, peer, now)
            && let Some(r) = self.outbound.registrations.get_mut(i)
        {
            r.pending = Some(tx);
            return true;
        }
        false
    }

    /// Sends due REGISTER refreshes and OPTIONS probes.
    pub(crate) fn on_outbound_timers(&mut self, now: Duration) {
        let due: Vec<usize> = (0..self.outbound.registrations.len())
            .filter(|&i| {
                let r = &self.outbound.registrations[i];
                r.pending.is_none() && r.refresh_at.is_some_and(|t| t <= now)
            })
            .collect();
        for i in due {
            if let Some(r) = self.outbound.registrations.get_mut(i) {
                r.auth_tried = false;
                r.refresh_at = None;
            }
            if !self.send_register(i, None, now)
                && let Some(r) = self.outbound.registrations.get_mut(i)
            {
                r.refresh_at = Some(now + Duration::from_secs(60));
            }
        }
        let probes = self
            .outbound
            .router
            .as_mut()
            .map(|r| r.probes_due(now))
            .unwrap_or_default();
        for t in probes {
            let via = self.new_via_for(t.peer.transport);
            let tag = self.ids.token();
            let cid = format!("{}@{}", self.ids.token(), self.config.local_addr.ip());
            let uri = format!("sip:{}", t.peer.addr);
            let mut m = Message::request(Method::Options, &uri);
            m.push_header(HeaderName::Via, &via);
            m.push_header(HeaderName::MaxForwards, "70");
            m.push_header(
                HeaderName::From,
                &format!("<sip:callcore@{}>;tag={tag}", self.config.local_addr),
            );
            m.push_header(HeaderName::To, &format!("<{uri}>"));
            m.push_header(HeaderName::CallId, &cid);
            m.push_header(HeaderName::CSeq, "1 OPTIONS");
            if let Ok(tx) = self.layer.send_request(m, t.peer, now) {
                self.outbound.probes.push((tx, t.name.clone()));
            }
        }
    }

    /// Routes a response or timeout of an outbound request; true when it was one.
    pub(crate) fn on_outbound_result(
        &mut self,
        tx: TxId,
        resp: Option<&Message>,
        now: Duration,
    ) -> bool {
        if let Some(p) = self.outbound.probes.iter().position(|(t, _)| *t == tx) {
            let code = resp.and_then(Message::status);
            if code.is_some_and(|c| c < 200) {
                return true;
            }
            let (_, name) = self.outbound.probes.swap_remove(p);
            // Any final answer means the trunk is alive; only silence counts against it.
            let outcome = match code {
                Some(c) if (500..600).contains(&c) => CallOutcome::Status(c),
                Some(_) => CallOutcome::Answered,
                None => CallOutcome::Timeout,
            };
            if let Some(r) = self.outbound.router.as_mut() {
                r.record(&name, outcome);
            }
            return true;
        }
        let Some(i) = self
            .outbound
            .registrations
            .iter()
            .position(|r| r.pending == Some(tx))
        else {
            return false;
        };
        let code = resp.and_then(Message::status);
        if code.is_some_and(|c| c < 200) {
            return true;
        }
        let name = self.outbound.registrations[i].trunk.name.clone();
        self.outbound.registrations[i].pending = None;
        let answered = match (code, resp) {
            (Some(401 | 407), Some(r)) if !self.outbound.registrations[i].auth_tried => {
                self.outbound.registrations[i].auth_tried = true;
                // false: no challenge our policy may answer (e.g. MD5 only offered
                // to a SHA-256-only registration), reported as the 401/407
                self.send_register(i, Some(r), now)
            }
            _ => false,
        };
        if answered {
            return true;
        }
        match (code, resp) {
            (Some(200..=299), Some(r)) => {
                let asked = self.outbound.registrations[i]
                    .trunk
                    .registration
                    .as_ref()
                    .map_or(3600, |c| c.expires);
                let granted = r
                    .contact()
                    .ok()
                    .flatten()
                    .and_then(|c| c.expires())
                    .or_else(|| r.expires())
                    .unwrap_or(asked)
                    .max(2);
                self.outbound.registrations[i].refresh_at =
                    Some(now + Duration::from_secs(u64::from(granted / 2)));
                self.emit(UaEvent::TrunkRegistered {
                    trunk: name,
                    expires: granted,
                });
            }
            (c, _) => {
                // Failed or timed out: try again in a minute.
                self.outbound.registrations[i].refresh_at = Some(now + Duration::from_secs(60));
                self.emit(UaEvent::TrunkRegistrationFailed {
                    trunk: name,
                    status: c.unwrap_or(408),
                });
            }
        }
        true
    }
}
