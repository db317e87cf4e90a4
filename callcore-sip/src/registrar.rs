//! A registrar (RFC 3261 §10.3): agents' phones register contacts for their address of
//! record; bindings expire, several contacts per AOR, un-register one or all.
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use callcore_sip::message::Message;
//! use callcore_sip::registrar::Registrar;
//! let mut reg = Registrar::default();
//! let req = Message::parse(Bytes::from_static(b"REGISTER sip:cc.example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKr1\r\nFrom: <sip:1001@cc.example.com>;tag=a\r\n\
//! To: <sip:1001@cc.example.com>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\n\
//! Contact: <sip:1001@10.0.0.7:5060>;expires=120\r\nContent-Length: 0\r\n\r\n")).unwrap();
//! let bound = reg.register(&req, Duration::ZERO).unwrap();
//! assert_eq!(bound[0].expires_in, 120);
//! assert_eq!(reg.lookup("sip:1001@cc.example.com", Duration::from_secs(60)).len(), 1);
//! assert!(reg.lookup("sip:1001@cc.example.com", Duration::from_secs(121)).is_empty());
//! ```

use std::collections::HashMap;
use std::time::Duration;

use crate::message::{ContactValue, HeaderName, Message, ResponseSpec, Scheme, Uri};

/// One contact bound to an address of record.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The contact URI.
    pub contact: String,
    /// When it expires (on the caller's clock).
    pub expires_at: Duration,
    /// `q` preference (0..=1, default 1).
    pub q: f32,
    /// Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
}

/// A binding as reported in the 200 OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundContact {
    /// The contact URI.
    pub contact: String,
    /// Seconds left.
    pub expires_in: u32,
}

/// Why a REGISTER was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// 400 with a reason.
    Bad(&'static str),
    /// 423 Interval Too Brief, with our Min-Expires.
    TooBrief(u32),
    /// 500: an older REGISTER of the same Call-ID arrived late.
    OutOfOrder,
}

impl RegisterError {
    /// The response to send.
    pub fn response(&self, req: &Message, to_tag: &str) -> Message {
        match self {
            RegisterError::Bad(why) => {
                req.build_response(ResponseSpec::new(400, why).to_tag(to_tag))
            }
            RegisterError::TooBrief(min) => req.build_response(
                ResponseSpec::code(423)
                    .to_tag(to_tag)
                    .header(HeaderName::MinExpires, &min.to_string()),
            ),
            RegisterError::OutOfOrder => {
                req.build_response(ResponseSpec::new(500, "Out of order REGISTER").to_tag(to_tag))
            }
        }
    }
}

/// The binding table (sans-IO; `now` is passed in).
#[derive(Debug, Clone)]
pub struct Registrar {
    bindings: HashMap<String, Vec<Binding>>,
    /// Shortest accepted expiry (423 below).
    pub min_expires: u32,
    /// Longest granted expiry (longer requests are shortened).
    pub max_expires: u32,
    /// Expiry when the request names none.
    pub default_expires: u32,
}

impl Default for Registrar {
    fn default() -> Self {
        Registrar {
            bindings: HashMap::new(),
            min_expires: 60,
            max_expires: 7200,
            default_expires: 3600,
        }
    }
}

/// Canonical AOR key: `sip:user@host` lower-cased host, no params or port.
pub fn aor_key(uri: &Uri<'_>) -> String {
    let scheme = match uri.scheme() {
        Scheme::Sips => "sips",
        _ => "sip",
    };
    format!(
        "{scheme}:{}@{}",
        uri.user().unwrap_or(""),
        uri.host().to_ascii_lowercase()
    )
}

impl Registrar {
    /// Applies a REGISTER; returns the AOR's bindings after the update.
    pub fn register(
        &mut self,
        req: &Message,
        now: Duration,
    ) -> Result<Vec<BoundContact>, RegisterError> {
        let to = req.to().map_err(|_| RegisterError::Bad("Bad To header"))?;
        if !matches!(to.uri().scheme(), Scheme::Sip | Scheme::Sips) {
            return Err(RegisterError::Bad("AOR must be a SIP URI"));
        }
        let aor = aor_key(&to.uri());
        let call_id = req
            .call_id()
            .map_err(|_| RegisterError::Bad("Bad Call-ID"))?
            .to_owned();
        let cseq = req.cseq().map_err(|_| RegisterError::Bad("Bad CSeq"))?.seq;
        let header_expires = req.expires();
        let contacts = req
            .contacts()
            .map_err(|_| RegisterError::Bad("Bad Contact header"))?;
        self.purge(now);
        let list = self.bindings.entry(aor.clone()).or_default();
        if contacts.contains(&ContactValue::Star) {
            if contacts.len() != 1 || header_expires != Some(0) {
                return Err(RegisterError::Bad(
                    "Contact * needs Expires: 0 and no other contact",
                ));
            }
            if list.iter().any(|b| b.call_id == call_id && cseq <= b.cseq) {
                return Err(RegisterError::OutOfOrder);
            }
            list.clear();
        }
        for c in &contacts {
            let ContactValue::Addr(a) = c else { continue };
            let expires = a
                .expires()
                .or(header_expires)
                .unwrap_or(self.default_expires);
            if expires != 0 && expires < self.min_expires {
                return Err(RegisterError::TooBrief(self.min_expires));
            }
            let uri = a.uri().to_string();
            let q = a
                .params()
                .value("q")
                .and_then(|q| q.parse().ok())
                .unwrap_or(1.0);
            if let Some(existing) = list.iter().find(|b| b.contact == uri)
                && existing.call_id == call_id
                && cseq <= existing.cseq
            {
                return Err(RegisterError::OutOfOrder);
            }
            list.retain(|b| b.contact != uri);
            if expires > 0 {
                let granted = expires.min(self.max_expires);
                list.push(Binding {
                    contact: uri,
                    expires_at: now + Duration::from_secs(u64::from(granted)),
                    q,
                    call_id: call_id.clone(),
                    cseq,
                });
            }
        }
        let out = self.current(&aor, now);
        if self.bindings.get(&aor).is_some_and(Vec::is_empty) {
            self.bindings.remove(&aor);
        }
        Ok(out)
    }

    fn current(&self, aor: &str, now: Duration) -> Vec<BoundContact> {
        self.bindings
            .get(aor)
            .map(|l| {
                l.iter()
                    .filter(|b| b.expires_at > now)
                    .map(|b| BoundContact {
                        contact: b.contact.clone(),
                        expires_in: u32::try_from((b.expires_at - now).as_secs())
                            .unwrap_or(u32::MAX),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Live contacts of an AOR (`sip:user@host`), best `q` first.
    pub fn lookup(&self, aor: &str, now: Duration) -> Vec<String> {
        let key = Uri::parse(aor)
            .map(|u| aor_key(&u))
            .unwrap_or_else(|_| aor.to_owned());
        let mut live: Vec<&Binding> = self
            .bindings
            .get(&key)
            .map(|l| l.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default();
        live.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
        live.into_iter().map(|b| b.contact.clone()).collect()
    }

    /// Drops expired bindings.
    pub fn purge(&mut self, now: Duration) {
        self.bindings.retain(|_, l| {
            l.retain(|b| b.expires_at > now);
            !l.is_empty()
        });
    }

    /// The 200 OK for a successful REGISTER, listing every binding.
    pub fn ok_response(req: &Message, bound: &[BoundContact], to_tag: &str) -> Message {
        let mut spec = ResponseSpec::code(200).to_tag(to_tag);
        for b in bound {
            spec = spec.header(
                HeaderName::Contact,
                &format!("<{}>;expires={}", b.contact, b.expires_in),
            );
        }
        req.build_response(spec)
    }
}
