//! Typed accessors for the headers a call-center UA reads.

use super::fault::{Fault, MessageKind, ParseError};
use super::lex::{split_outside, trim_lws};
use super::{
    AuthValue, CSeq, ContactValue, HeaderName, MediaType, Message, NameAddr, Reason, Replaces,
    SessionExpires, Via,
};

impl Message {
    fn fault(&self, fault: Fault) -> ParseError {
        let kind = if self.is_request() {
            MessageKind::Request
        } else {
            MessageKind::Response
        };
        ParseError::new(fault, kind)
    }

    fn bad(&self, header: HeaderName, why: &'static str) -> ParseError {
        self.fault(Fault::BadHeader { header, why })
    }

    fn required(&self, name: HeaderName) -> Result<&str, ParseError> {
        self.header(&name)
            .ok_or_else(|| self.fault(Fault::MissingHeader(name)))
    }

    fn name_addr(&self, name: HeaderName) -> Result<Option<NameAddr<'_>>, ParseError> {
        match self.header(&name) {
            Some(v) => NameAddr::parse(v).map(Some).map_err(|w| self.bad(name, w)),
            None => Ok(None),
        }
    }

    fn addr_list(&self, name: HeaderName) -> Result<Vec<NameAddr<'_>>, ParseError> {
        let mut out = Vec::new();
        for line in self.header_lines(&name) {
            let items = split_outside(line, b',')
                .ok_or_else(|| self.bad(name.clone(), "unbalanced quotes or <>"))?;
            for item in items {
                out.push(NameAddr::parse(item).map_err(|w| self.bad(name.clone(), w))?);
            }
        }
        Ok(out)
    }

    fn tokens(&self, name: HeaderName) -> Vec<&str> {
        self.header_lines(&name)
            .flat_map(|l| l.split(','))
            .map(trim_lws)
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// All Via values, top first.
    pub fn vias(&self) -> Result<Vec<Via<'_>>, ParseError> {
        let mut out = Vec::with_capacity(2);
        for line in self.header_lines(&HeaderName::Via) {
            let items = split_outside(line, b',')
                .ok_or_else(|| self.bad(HeaderName::Via, "unbalanced quotes"))?;
            for item in items {
                out.push(Via::parse(item).map_err(|w| self.bad(HeaderName::Via, w))?);
            }
        }
        Ok(out)
    }

    /// The topmost Via (the one that names the transaction).
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        let line = self.required(HeaderName::Via)?;
        let first = super::lex::first_outside(line, b',')
            .ok_or_else(|| self.bad(HeaderName::Via, "unbalanced quotes"))?;
        Via::parse(first).map_err(|w| self.bad(HeaderName::Via, w))
    }

    /// From.
    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        self.name_addr(HeaderName::From)?
            .ok_or_else(|| self.fault(Fault::MissingHeader(HeaderName::From)))
    }

    /// To.
    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        self.name_addr(HeaderName::To)?
            .ok_or_else(|| self.fault(Fault::MissingHeader(HeaderName::To)))
    }

    /// Call-ID.
    pub fn call_id(&self) -> Result<&str, ParseError> {
        self.required(HeaderName::CallId).map(trim_lws)
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(self.required(HeaderName::CSeq)?).map_err(|w| self.bad(HeaderName::CSeq, w))
    }

    /// Contact values (`*` or addresses).
    pub fn contacts(&self) -> Result<Vec<ContactValue<'_>>, ParseError> {
        if self
            .header_lines(&HeaderName::Contact)
            .any(|l| trim_lws(l) == "*")
        {
            return Ok(vec![ContactValue::Star]);
        }
        Ok(self
            .addr_list(HeaderName::Contact)?
            .into_iter()
            .map(ContactValue::Addr)
            .collect())
    }

    /// The first Contact address.
    pub fn contact(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        Ok(self.addr_list(HeaderName::Contact)?.into_iter().next())
    }

    /// Route values in order.
    pub fn routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.addr_list(HeaderName::Route)
    }

    /// Record-Route values in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.addr_list(HeaderName::RecordRoute)
    }

    /// Max-Forwards.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        match self.header(&HeaderName::MaxForwards) {
            None => Ok(None),
            Some(v) => super::lex::parse_decimal(trim_lws(v), 255)
                .and_then(|n| u8::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.bad(HeaderName::MaxForwards, "not an integer 0-255")),
        }
    }

    /// Content-Type.
    pub fn content_type(&self) -> Result<Option<MediaType<'_>>, ParseError> {
        match self.header(&HeaderName::ContentType) {
            None => Ok(None),
            Some(v) => MediaType::parse(v)
                .map(Some)
                .map_err(|w| self.bad(HeaderName::ContentType, w)),
        }
    }

    /// The length of the body (what Content-Length announced for parsed messages).
    pub fn content_length(&self) -> usize {
        self.body.len()
    }

    /// Expires in seconds; `None` when absent or not a delta-seconds in range (RFC 4475
    /// §3.1.2.4: treat out-of-range values as absent).
    pub fn expires(&self) -> Option<u32> {
        self.header(&HeaderName::Expires)
            .and_then(|v| super::lex::parse_decimal(trim_lws(v), u64::from(u32::MAX)))
            .and_then(|v| u32::try_from(v).ok())
    }

    /// Min-Expires.
    pub fn min_expires(&self) -> Option<u32> {
        self.header(&HeaderName::MinExpires)
            .and_then(|v| super::lex::parse_decimal(trim_lws(v), u64::from(u32::MAX)))
            .and_then(|v| u32::try_from(v).ok())
    }

    fn auth(&self, name: HeaderName) -> Result<Vec<AuthValue<'_>>, ParseError> {
        self.header_lines(&name)
            .map(|l| AuthValue::parse(l).map_err(|w| self.bad(name.clone(), w)))
            .collect()
    }

    /// Authorization credentials (one per line).
    pub fn authorization(&self) -> Result<Vec<AuthValue<'_>>, ParseError> {
        self.auth(HeaderName::Authorization)
    }

    /// Proxy-Authorization credentials.
    pub fn proxy_authorization(&self) -> Result<Vec<AuthValue<'_>>, ParseError> {
        self.auth(HeaderName::ProxyAuthorization)
    }

    /// WWW-Authenticate challenges.
    pub fn www_authenticate(&self) -> Result<Vec<AuthValue<'_>>, ParseError> {
        self.auth(HeaderName::WwwAuthenticate)
    }

    /// Proxy-Authenticate challenges.
    pub fn proxy_authenticate(&self) -> Result<Vec<AuthValue<'_>>, ParseError> {
        self.auth(HeaderName::ProxyAuthenticate)
    }

    /// Refer-To (RFC 3515).
    pub fn refer_to(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.name_addr(HeaderName::ReferTo)
    }

    /// Referred-By (RFC 3892).
    pub fn referred_by(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.name_addr(HeaderName::ReferredBy)
    }

    /// Replaces (RFC 3891).
    pub fn replaces(&self) -> Result<Option<Replaces<'_>>, ParseError> {
        match self.header(&HeaderName::Replaces) {
            None => Ok(None),
            Some(v) => Replaces::parse(v)
                .map(Some)
                .map_err(|w| self.bad(HeaderName::Replaces, w)),
        }
    }

    /// Supported option tags.
    pub fn supported(&self) -> Vec<&str> {
        self.tokens(HeaderName::Supported)
    }

    /// Required option tags.
    pub fn require(&self) -> Vec<&str> {
        self.tokens(HeaderName::Require)
    }

    /// Allowed methods.
    pub fn allow(&self) -> Vec<&str> {
        self.tokens(HeaderName::Allow)
    }

    /// Session-Expires (RFC 4028).
    pub fn session_expires(&self) -> Result<Option<SessionExpires>, ParseError> {
        match self.header(&HeaderName::SessionExpires) {
            None => Ok(None),
            Some(v) => SessionExpires::parse(v)
                .map(Some)
                .map_err(|w| self.bad(HeaderName::SessionExpires, w)),
        }
    }

    /// Reason values (RFC 3326).
    pub fn reasons(&self) -> Result<Vec<Reason<'_>>, ParseError> {
        let mut out = Vec::new();
        for line in self.header_lines(&HeaderName::Reason) {
            for item in split_outside(line, b',')
                .ok_or_else(|| self.bad(HeaderName::Reason, "unbalanced quotes"))?
            {
                out.push(Reason::parse(item).map_err(|w| self.bad(HeaderName::Reason, w))?);
            }
        }
        Ok(out)
    }

    /// RSeq (RFC 3262).
    pub fn rseq(&self) -> Option<u32> {
        self.header(&HeaderName::RSeq)
            .and_then(|v| trim_lws(v).parse().ok())
    }

    /// RAck (RFC 3262): response number, CSeq number, method.
    pub fn rack(&self) -> Option<(u32, u32, &str)> {
        let v = self.header(&HeaderName::RAck)?;
        let mut it = v.split_ascii_whitespace();
        Some((
            it.next()?.parse().ok()?,
            it.next()?.parse().ok()?,
            it.next()?,
        ))
    }
}
