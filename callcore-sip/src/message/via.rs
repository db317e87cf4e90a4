//! The Via header (RFC 3261 §18.2, §20.42; RFC 3581 rport).

use super::lex::find_byte;
use super::lex::{Params, is_token, trim_lws};
use super::uri::split_hostport;

/// One Via value: `SIP/2.0/UDP host:port;branch=...;received=...;rport`.
///
/// ```
/// use callcore_sip::message::Via;
/// let v = Via::parse("SIP / 2.0 / UDP 192.0.2.7:5060;branch=z9hG4bK1;rport").unwrap();
/// assert_eq!(v.transport(), "UDP");
/// assert_eq!(v.port(), Some(5060));
/// assert_eq!(v.branch(), Some("z9hG4bK1"));
/// assert_eq!(v.rport(), Some(None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    protocol: &'a str,
    version: &'a str,
    transport: &'a str,
    host: &'a str,
    port: Option<u16>,
    params: Params<'a>,
}

/// The RFC 3261 branch magic cookie.
pub const BRANCH_MAGIC: &str = "z9hG4bK";

impl<'a> Via<'a> {
    /// Parses one Via value.
    pub fn parse(value: &'a str) -> Result<Via<'a>, &'static str> {
        let s = trim_lws(value);
        // sent-protocol and sent-by hold no quotes: the first `;` starts the parameters.
        let (head, params_raw) = match find_byte(s, b';') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        if head.contains('"') {
            return Err("bad sent-by");
        }
        // sent-protocol: name SLASH version SLASH transport, LWS allowed around SLASH.
        let mut it = head.splitn(3, '/');
        let protocol = trim_lws(it.next().unwrap_or(""));
        let version = trim_lws(it.next().ok_or("missing protocol version")?);
        let rest = trim_lws(it.next().ok_or("missing transport")?);
        let split = rest
            .find([' ', '\t', '\r', '\n'])
            .ok_or("missing sent-by")?;
        let transport = &rest[..split];
        let sent_by = trim_lws(&rest[split..]);
        if !is_token(protocol) || !is_token(version) || !is_token(transport) {
            return Err("bad sent-protocol");
        }
        let (host, port) = split_hostport(sent_by).ok_or("bad sent-by")?;
        let params = Params::new(params_raw);
        if !params.validate(b"") {
            return Err("bad Via parameters");
        }
        Ok(Via {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        })
    }

    /// Protocol name (`SIP`).
    pub fn protocol(&self) -> &'a str {
        self.protocol
    }

    /// Protocol version (`2.0`).
    pub fn version(&self) -> &'a str {
        self.version
    }

    /// Transport token as written (`UDP`, `TCP`, `TLS`, `WS`...).
    pub fn transport(&self) -> &'a str {
        self.transport
    }

    /// sent-by host (IPv6 bracketed).
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// sent-by port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// All parameters.
    pub fn params(&self) -> Params<'a> {
        self.params
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.value("branch")
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&'a str> {
        self.params.value("received")
    }

    /// `rport`: `Some(None)` when requested (flag), `Some(Some(p))` when filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// True when the branch carries the RFC 3261 magic cookie.
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(BRANCH_MAGIC))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_torture_via() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n 192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport(), "UDP");
        assert_eq!(v.host(), "192.0.2.2");
        let v = Via::parse(" SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239")
            .unwrap();
        assert_eq!(v.branch(), Some("z9hG4bK30239"));
        let v = Via::parse(
            "SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas;received=[2001:db8::9:255]",
        )
        .unwrap();
        assert_eq!(v.port(), Some(5070));
        assert_eq!(v.received(), Some("[2001:db8::9:255]"));
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
    }
}
