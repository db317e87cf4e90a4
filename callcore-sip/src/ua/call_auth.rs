//! Calls through a trunk that authenticates them: a 401/407 to our INVITE is
//! answered once with the trunk's digest credentials (RFC 3261 §22.2) — and only
//! when the INVITE went to that trunk's address: a challenge to a call sent
//! anywhere else gets no credentials and fails the call as usual.

use std::time::Duration;

use super::core::{CallRef, CallState, UserAgent};
use crate::auth::{authorization_for, choose_challenge};
use crate::message::{HeaderName, Message};
use crate::transaction::Peer;
use crate::trunk::TrunkRegistration;

impl UserAgent {
    /// Answers INVITE challenges on calls sent to `peer` with `credentials`
    /// (set for every trunk that registers, see
    /// [`register_trunk`](UserAgent::register_trunk)).
    pub fn set_call_credentials(&mut self, peer: Peer, credentials: TrunkRegistration) {
        self.call_credentials.insert(peer, credentials);
    }

    /// Sends the INVITE of `call` again with credentials answering `challenge`;
    /// false when the call is not ours to authenticate (no credentials for its
    /// peer, already tried, no challenge our policy may answer).
    pub(crate) fn retry_invite_with_credentials(
        &mut self,
        call: CallRef,
        challenge: &Message,
        now: Duration,
    ) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        if c.state != CallState::OutboundPending || self.auth_retried.contains(&call) {
            return false;
        }
        let peer = c.peer;
        let Some(creds) = self.call_credentials.get(&peer).cloned() else {
            return false;
        };
        let (name, values) = if challenge.status() == Some(407) {
            (
                HeaderName::ProxyAuthorization,
                challenge.proxy_authenticate().unwrap_or_default(),
            )
        } else {
            (
                HeaderName::Authorization,
                challenge.www_authenticate().unwrap_or_default(),
            )
        };
        let values: Vec<_> = values
            .into_iter()
            .filter(|v| {
                creds.realm.as_deref().is_none_or(|want| {
                    v.param("realm")
                        .is_some_and(|got| got.eq_ignore_ascii_case(want))
                })
            })
            .collect();
        let Some(chosen) = choose_challenge(&values, &creds.digest) else {
            return false;
        };
        let uri = c.invite.request_uri_str().unwrap_or("").to_owned();
        let seq = c.invite.cseq().map(|s| s.seq).unwrap_or(1);
        let cnonce = self.ids.token();
        let Some(value) = authorization_for(
            chosen,
            &creds.user,
            &creds.password,
            "INVITE",
            &uri,
            &cnonce,
            1,
        ) else {
            return false;
        };
        let via = self.via_for_call(call);
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let mut invite = c.invite.clone();
        invite.replace_first_header(&HeaderName::Via, &via);
        invite.replace_first_header(&HeaderName::CSeq, &format!("{} INVITE", seq + 1));
        invite.push_header(name, &value);
        let Ok(invite) = Message::parse(invite.to_bytes()) else {
            return false;
        };
        let Ok(tx) = self.layer.send_request(invite.clone(), peer, now) else {
            return false;
        };
        if let Some(c) = self.calls.get_mut(&call) {
            c.invite = invite;
            c.invite_tx = Some(tx);
        }
        self.by_tx.insert(tx, call);
        self.auth_retried.insert(call);
        tracing::debug!(
            call = call.0,
            "INVITE sent again with the trunk's credentials"
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::message::ResponseSpec;
    use crate::session::LocalMedia;
    use crate::ua::{UaConfig, UaEvent, UaOutput};

    fn invites(ua: &mut UserAgent) -> Vec<(Peer, Message)> {
        let mut out = Vec::new();
        while let Some(o) = ua.poll_output() {
            if let UaOutput::Transmit { peer, data } = o
                && data.starts_with(b"INVITE")
                && let Ok(m) = Message::parse(data)
            {
                out.push((peer, m));
            }
        }
        out
    }

    fn events(ua: &mut UserAgent) -> Vec<UaEvent> {
        let mut out = Vec::new();
        while let Some(o) = ua.poll_output() {
            if let UaOutput::Event(e) = o {
                out.push(e);
            }
        }
        out
    }

    fn challenge(invite: &Message, code: u16, realm: &str) -> Bytes {
        let header = if code == 407 {
            HeaderName::ProxyAuthenticate
        } else {
            HeaderName::WwwAuthenticate
        };
        let value =
            format!("Digest realm=\"{realm}\", nonce=\"n0nce\", algorithm=MD5, qop=\"auth\"");
        invite
            .build_response(
                ResponseSpec::code(code)
                    .to_tag("carrier")
                    .header(header, &value),
            )
            .to_bytes()
    }

    fn ua_with_trunk(realm: Option<&str>) -> (UserAgent, Peer) {
        let mut ua = UserAgent::new(
            UaConfig::new("127.0.0.1:5080".parse().unwrap_or_else(|_| panic!())),
            9,
        );
        let trunk = Peer::udp("127.0.0.1:5071".parse().unwrap_or_else(|_| panic!()));
        let mut creds = TrunkRegistration::new("centre42", "s3cret", 600);
        creds.realm = realm.map(str::to_owned);
        ua.set_call_credentials(trunk, creds);
        (ua, trunk)
    }

    fn media() -> LocalMedia {
        LocalMedia::g711("127.0.0.1:40000".parse().unwrap_or_else(|_| panic!()), 1)
    }

    #[test]
    fn a_trunk_challenge_is_answered_once_with_its_credentials() {
        let (mut ua, trunk) = ua_with_trunk(Some("carrier"));
        let now = Duration::ZERO;
        let call = ua
            .place_call(
                "sip:+4930123@127.0.0.1:5071",
                trunk,
                "sip:1001@cc",
                media(),
                now,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, first) = invites(&mut ua)
            .pop()
            .unwrap_or_else(|| panic!("an INVITE"));
        ua.handle_datagram(challenge(&first, 407, "carrier"), trunk, now);
        let sent = invites(&mut ua);
        let (to, second) = sent
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("INVITE again"));
        assert_eq!(to, trunk);
        let auth = second
            .header(&HeaderName::ProxyAuthorization)
            .unwrap_or_else(|| panic!("credentials"));
        assert!(auth.contains("username=\"centre42\""), "{auth}");
        assert!(auth.contains("realm=\"carrier\""), "{auth}");
        assert_eq!(second.cseq().map(|c| c.seq).ok(), Some(2));
        assert_eq!(second.call_id().ok(), first.call_id().ok());
        // a second challenge is not answered again: the call fails
        ua.handle_datagram(challenge(&second, 407, "carrier"), trunk, now);
        assert!(
            events(&mut ua)
                .iter()
                .any(|e| matches!(e, UaEvent::Failed { call: c, status: 407, .. } if *c == call))
        );
    }

    #[test]
    fn no_credentials_for_another_address_or_realm() {
        let (mut ua, _trunk) = ua_with_trunk(Some("carrier"));
        let now = Duration::ZERO;
        let elsewhere = Peer::udp("127.0.0.1:5099".parse().unwrap_or_else(|_| panic!()));
        ua.place_call(
            "sip:+4930123@127.0.0.1:5099",
            elsewhere,
            "sip:1001@cc",
            media(),
            now,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (_, first) = invites(&mut ua)
            .pop()
            .unwrap_or_else(|| panic!("an INVITE"));
        ua.handle_datagram(challenge(&first, 401, "carrier"), elsewhere, now);
        assert!(invites(&mut ua).is_empty(), "no credentials sent elsewhere");

        let (mut ua, trunk) = ua_with_trunk(Some("carrier"));
        ua.place_call(
            "sip:+4930123@127.0.0.1:5071",
            trunk,
            "sip:1001@cc",
            media(),
            now,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (_, first) = invites(&mut ua)
            .pop()
            .unwrap_or_else(|| panic!("an INVITE"));
        ua.handle_datagram(challenge(&first, 401, "phisher"), trunk, now);
        assert!(
            invites(&mut ua).is_empty(),
            "no credentials for another realm"
        );
    }
}
