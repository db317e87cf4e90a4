//! Dialogs (RFC 3261 §12): identity, route set, remote target, CSeq spaces, in-dialog
//! requests, the ACK for a 2xx, target refresh.

use crate::Error;
use crate::message::{HeaderName, Message, Method, NameAddr};

/// Dialog identity: Call-ID and both tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Dialog state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended by BYE or a failure.
    Terminated,
}

/// Which side of the dialog-creating INVITE we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE.
    Uac,
    /// We received it.
    Uas,
}

/// A SIP dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Identity.
    pub id: DialogId,
    /// State.
    pub state: DialogState,
    /// Our role.
    pub role: Role,
    /// Our CSeq (last used).
    pub local_seq: u32,
    /// The peer's last CSeq.
    pub remote_seq: Option<u32>,
    /// Our address as it appears in From (UAC) / To (UAS), without tag.
    pub local_uri: String,
    /// The peer's address, without tag.
    pub remote_uri: String,
    /// Where in-dialog requests go (the peer's Contact URI).
    pub remote_target: String,
    /// Route set (Record-Route URIs in the order requests use them).
    pub route_set: Vec<String>,
    /// Our Contact header value.
    pub local_contact: String,
}

/// Why an in-dialog request was refused (the response to send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogFault {
    /// CSeq lower than the last one: 500 (RFC 3261 §12.2.2).
    CSeqOutOfOrder,
    /// Not for this dialog: 481.
    NoSuchDialog,
}

impl DialogFault {
    /// Status code to answer with.
    pub fn status(self) -> u16 {
        match self {
            DialogFault::CSeqOutOfOrder => 500,
            DialogFault::NoSuchDialog => 481,
        }
    }
}

fn without_tag(addr: &NameAddr<'_>) -> String {
    match addr.display_raw() {
        Some(d) => format!("{d} <{}>", addr.uri()),
        None => format!("<{}>", addr.uri()),
    }
}

fn route_uris(msg: &Message) -> Result<Vec<String>, Error> {
    Ok(msg
        .record_routes()?
        .iter()
        .map(|r| format!("<{}>{}", r.uri(), params_suffix(r)))
        .collect())
}

fn params_suffix(a: &NameAddr<'_>) -> String {
    if a.params().is_empty() {
        String::new()
    } else {
        format!(";{}", a.params().as_str())
    }
}

impl Dialog {
    /// The dialog a UAS creates when it answers `invite` with a To tag (RFC 3261 §12.1.1).
    pub fn new_uas(
        invite: &Message,
        local_tag: &str,
        local_contact: &str,
        confirmed: bool,
    ) -> Result<Dialog, Error> {
        let from = invite.from()?;
        let to = invite.to()?;
        // without Contact (an RFC 2543 caller) requests go to the From address
        let target = match invite.contact()? {
            Some(c) => c.uri().to_string(),
            None => from.uri().to_string(),
        };
        Ok(Dialog {
            id: DialogId {
                call_id: invite.call_id()?.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: from.tag().unwrap_or("").to_owned(),
            },
            state: if confirmed {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            role: Role::Uas,
            local_seq: 0,
            remote_seq: Some(invite.cseq()?.seq),
            local_uri: without_tag(&to),
            remote_uri: without_tag(&from),
            remote_target: target,
            route_set: route_uris(invite)?,
            local_contact: local_contact.to_owned(),
        })
    }

    /// The dialog a UAC creates from a provisional or 2xx response (§12.1.2).
    pub fn new_uac(
        invite: &Message,
        response: &Message,
        local_contact: &str,
    ) -> Result<Dialog, Error> {
        let from = invite.from()?;
        let to = response.to()?;
        let remote_tag = to.tag().ok_or(Error::State("response without To tag"))?;
        let code = response.status().unwrap_or(0);
        let target = match response.contact()? {
            Some(c) => c.uri().to_string(),
            None => invite.request_uri_str().unwrap_or("").to_owned(),
        };
        let mut route_set = route_uris(response)?;
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: invite.call_id()?.to_owned(),
                local_tag: from.tag().unwrap_or("").to_owned(),
                remote_tag: remote_tag.to_owned(),
            },
            state: if (200..300).contains(&code) {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            role: Role::Uac,
            local_seq: invite.cseq()?.seq,
            remote_seq: None,
            local_uri: without_tag(&from),
            remote_uri: without_tag(&to),
            remote_target: target,
            route_set,
            local_contact: local_contact.to_owned(),
        })
    }

    /// True when `msg` (request or response) belongs to this dialog.
    pub fn matches(&self, msg: &Message) -> bool {
        let (Ok(cid), Ok(from), Ok(to)) = (msg.call_id(), msg.from(), msg.to()) else {
            return false;
        };
        let (local, remote) = if msg.is_request() {
            (to.tag(), from.tag())
        } else {
            (from.tag(), to.tag())
        };
        cid == self.id.call_id
            && local == Some(self.id.local_tag.as_str())
            && remote == Some(self.id.remote_tag.as_str())
    }

    /// Builds an in-dialog request (§12.2.1.1): Request-URI and Route from the route
    /// set (loose or strict routing), From/To with tags, the next CSeq (ACK and CANCEL
    /// keep the INVITE's), Contact for target-refresh methods.
    pub fn request(&mut self, method: Method, via: &str) -> Message {
        let seq = match method {
            Method::Ack | Method::Cancel => self.local_seq,
            _ => {
                self.local_seq = self.local_seq.wrapping_add(1).max(1);
                self.local_seq
            }
        };
        let strict = self.route_set.first().is_some_and(|r| !r.contains(";lr"));
        let (ruri, routes): (String, Vec<String>) = if strict {
            let first = self.route_set[0]
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_owned();
            let mut rest: Vec<String> = self.route_set[1..].to_vec();
            rest.push(format!("<{}>", self.remote_target));
            (first, rest)
        } else {
            (self.remote_target.clone(), self.route_set.clone())
        };
        let mut m = Message::request(method.clone(), &ruri);
        m.push_header(HeaderName::Via, via);
        m.push_header(HeaderName::MaxForwards, "70");
        for r in routes {
            m.push_header(HeaderName::Route, &r);
        }
        m.push_header(
            HeaderName::From,
            &format!("{};tag={}", self.local_uri, self.id.local_tag),
        );
        m.push_header(
            HeaderName::To,
            &format!("{};tag={}", self.remote_uri, self.id.remote_tag),
        );
        m.push_header(HeaderName::CallId, &self.id.call_id);
        m.push_header(HeaderName::CSeq, &format!("{seq} {method}"));
        if matches!(
            method,
            Method::Invite | Method::Update | Method::Refer | Method::Subscribe | Method::Notify
        ) {
            m.push_header(HeaderName::Contact, &self.local_contact);
        }
        m
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_seq` (§13.2.2.4).
    pub fn ack(&mut self, invite_seq: u32, via: &str) -> Message {
        let saved = self.local_seq;
        self.local_seq = invite_seq;
        let ack = self.request(Method::Ack, via);
        self.local_seq = saved;
        ack
    }

    /// Checks and records an in-dialog request from the peer (§12.2.2); updates the
    /// remote target on target-refresh requests (re-INVITE, UPDATE).
    pub fn on_request(&mut self, req: &Message) -> Result<(), DialogFault> {
        if !self.matches(req) {
            return Err(DialogFault::NoSuchDialog);
        }
        let seq = req.cseq().map_err(|_| DialogFault::NoSuchDialog)?.seq;
        let method = req.method().cloned().unwrap_or(Method::Options);
        if !matches!(method, Method::Ack | Method::Cancel) {
            if self.remote_seq.is_some_and(|r| seq <= r) {
                return Err(DialogFault::CSeqOutOfOrder);
            }
            self.remote_seq = Some(seq);
        }
        if matches!(method, Method::Invite | Method::Update)
            && let Ok(Some(c)) = req.contact()
        {
            self.remote_target = c.uri().to_string();
        }
        if method == Method::Bye {
            self.state = DialogState::Terminated;
        }
        Ok(())
    }

    /// Records a 2xx to our target-refresh request (new remote target) or the 2xx that
    /// confirms an early dialog.
    pub fn on_2xx(&mut self, resp: &Message) {
        if let Ok(Some(c)) = resp.contact() {
            self.remote_target = c.uri().to_string();
        }
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn invite() -> Message {
        Message::parse(Bytes::from_static(b"INVITE sip:queue@cc.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nRecord-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:p2.example.com;lr>\r\nFrom: \"Caller\" <sip:c@example.com>;tag=ft\r\nTo: <sip:queue@cc.example.com>\r\nCall-ID: d1\r\nCSeq: 10 INVITE\r\nContact: <sip:c@192.0.2.1:5060>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")).unwrap()
    }

    #[test]
    fn uas_dialog_builds_bye_with_route_set_and_tags() {
        let mut d = Dialog::new_uas(&invite(), "lt", "<sip:cc@127.0.0.1:5080>", true).unwrap();
        let bye = d.request(Method::Bye, "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKb");
        let bye = Message::parse(bye.to_bytes()).unwrap();
        assert_eq!(bye.request_uri_str(), Some("sip:c@192.0.2.1:5060"));
        let routes: Vec<String> = bye
            .routes()
            .unwrap()
            .iter()
            .map(|r| r.uri().host().to_owned())
            .collect();
        assert_eq!(routes, ["p1.example.com", "p2.example.com"]);
        assert_eq!(bye.from().unwrap().tag(), Some("lt"));
        assert_eq!(bye.to().unwrap().tag(), Some("ft"));
        assert_eq!(bye.cseq().unwrap().seq, 1);
    }

    #[test]
    fn uac_dialog_reverses_route_set_and_acks_with_invite_cseq() {
        let inv = invite();
        let mut ok = inv.build_response(crate::message::ResponseSpec::code(200).to_tag("rt"));
        ok.push_header(HeaderName::Contact, "<sip:agent@10.0.0.7>");
        let ok = Message::parse(ok.to_bytes()).unwrap();
        let mut d = Dialog::new_uac(&inv, &ok, "<sip:c@192.0.2.1>").unwrap();
        assert_eq!(d.route_set[0], "<sip:p2.example.com;lr>");
        let ack = d.ack(10, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa");
        assert_eq!(ack.cseq().unwrap().seq, 10);
        assert_eq!(ack.request_uri_str(), Some("sip:agent@10.0.0.7"));
        assert_eq!(d.request(Method::Bye, "v").cseq().unwrap().seq, 11);
    }

    #[test]
    fn remote_cseq_must_rise_and_reinvite_refreshes_target() {
        let inv = invite();
        let mut d = Dialog::new_uas(&inv, "lt", "<sip:cc@127.0.0.1>", true).unwrap();
        let mut re = Message::parse(inv.to_bytes()).unwrap();
        re.set_header(HeaderName::To, "<sip:queue@cc.example.com>;tag=lt");
        re.set_header(HeaderName::CSeq, "11 INVITE");
        re.set_header(HeaderName::Contact, "<sip:c@192.0.2.99>");
        assert_eq!(d.on_request(&re), Ok(()));
        assert_eq!(d.remote_target, "sip:c@192.0.2.99");
        assert_eq!(d.on_request(&re), Err(DialogFault::CSeqOutOfOrder));
        re.set_header(HeaderName::To, "<sip:queue@cc.example.com>;tag=other");
        assert_eq!(d.on_request(&re), Err(DialogFault::NoSuchDialog));
    }
}
