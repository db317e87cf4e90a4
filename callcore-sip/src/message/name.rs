//! Header names: the ones a call-center UA reads, their compact forms (RFC 3261 §7.3.3
//! and the IANA registry), and any other name kept as written.

use bytes::Bytes;
use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $canon:literal $(, $compact:literal)? ; )*) => {
        /// A header field name. Known names are matched case-insensitively, in full or
        /// compact form; others are kept as written and compared case-insensitively.
        #[derive(Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canon, "`")]
                $variant,
            )*
            /// Any other header, as written.
            Other(Bytes),
        }

        impl HeaderName {
            /// The canonical spelling (the name as written for unknown headers).
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canon, )*
                    HeaderName::Other(b) => std::str::from_utf8(b).unwrap_or(""),
                }
            }

            /// The compact form, when the header has one.
            pub fn compact(&self) -> Option<char> {
                match self {
                    $( $( HeaderName::$variant => Some($compact), )? )*
                    _ => None,
                }
            }

            fn lookup(name: &[u8]) -> Option<HeaderName> {
                if name.len() == 1 {
                    let c = name[0].to_ascii_lowercase() as char;
                    $( $( if c == $compact { return Some(HeaderName::$variant); } )? )*
                    return None;
                }
                let (len, first) = (name.len(), name.first()?.to_ascii_lowercase());
                // The headers of nearly every message first.
                let common = match (len, first) {
                    (3, b'v') => Some((&b"via"[..], HeaderName::Via)),
                    (4, b'f') => Some((&b"from"[..], HeaderName::From)),
                    (2, b't') => Some((&b"to"[..], HeaderName::To)),
                    (7, b'c') if name[5].eq_ignore_ascii_case(&b'i') => Some((&b"call-id"[..], HeaderName::CallId)),
                    (7, b'c') => Some((&b"contact"[..], HeaderName::Contact)),
                    (4, b'c') => Some((&b"cseq"[..], HeaderName::CSeq)),
                    (12, b'm') => Some((&b"max-forwards"[..], HeaderName::MaxForwards)),
                    (12, b'c') => Some((&b"content-type"[..], HeaderName::ContentType)),
                    (14, b'c') => Some((&b"content-length"[..], HeaderName::ContentLength)),
                    (5, b'a') => Some((&b"allow"[..], HeaderName::Allow)),
                    (9, b's') => Some((&b"supported"[..], HeaderName::Supported)),
                    (10, b'u') => Some((&b"user-agent"[..], HeaderName::UserAgent)),
                    (6, b's') => Some((&b"server"[..], HeaderName::Server)),
                    (5, b'r') => Some((&b"route"[..], HeaderName::Route)),
                    (12, b'r') => Some((&b"record-route"[..], HeaderName::RecordRoute)),
                    (7, b'e') => Some((&b"expires"[..], HeaderName::Expires)),
                    (7, b'r') => Some((&b"require"[..], HeaderName::Require)),
                    (13, b'a') => Some((&b"authorization"[..], HeaderName::Authorization)),
                    (16, b'w') => Some((&b"www-authenticate"[..], HeaderName::WwwAuthenticate)),
                    (15, b's') => Some((&b"session-expires"[..], HeaderName::SessionExpires)),
                    _ => None,
                };
                if let Some((canon, known)) = common
                    && name.eq_ignore_ascii_case(canon)
                {
                    return Some(known);
                }
                $(
                    // Length and first letter rule out almost every candidate cheaply.
                    if len == $canon.len()
                        && first == $canon.as_bytes()[0].to_ascii_lowercase()
                        && name.eq_ignore_ascii_case($canon.as_bytes())
                    {
                        return Some(HeaderName::$variant);
                    }
                )*
                None
            }
        }
    };
}

header_names! {
    Via => "Via", 'v';
    From => "From", 'f';
    To => "To", 't';
    CallId => "Call-ID", 'i';
    CSeq => "CSeq";
    Contact => "Contact", 'm';
    MaxForwards => "Max-Forwards";
    ContentLength => "Content-Length", 'l';
    ContentType => "Content-Type", 'c';
    ContentEncoding => "Content-Encoding", 'e';
    Route => "Route";
    RecordRoute => "Record-Route";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    AuthenticationInfo => "Authentication-Info";
    ReferTo => "Refer-To", 'r';
    ReferredBy => "Referred-By", 'b';
    Replaces => "Replaces";
    Supported => "Supported", 'k';
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    Allow => "Allow";
    Accept => "Accept";
    SessionExpires => "Session-Expires", 'x';
    MinSe => "Min-SE";
    Reason => "Reason";
    Subject => "Subject", 's';
    Event => "Event", 'o';
    SubscriptionState => "Subscription-State";
    Date => "Date";
    UserAgent => "User-Agent";
    Server => "Server";
    RSeq => "RSeq";
    RAck => "RAck";
    RetryAfter => "Retry-After";
    Warning => "Warning";
    AllowEvents => "Allow-Events", 'u';
}

impl HeaderName {
    /// Classifies a raw name (already checked to be a token) without copying when known.
    pub fn from_bytes(raw: &Bytes) -> HeaderName {
        HeaderName::lookup(raw).unwrap_or_else(|| HeaderName::Other(raw.clone()))
    }

    /// Classifies the name at `start..end` of a parsed message: known names without
    /// touching the buffer's reference count, others as a slice of it.
    pub(crate) fn from_raw(src: &Bytes, start: usize, end: usize) -> HeaderName {
        HeaderName::lookup(&src[start..end])
            .unwrap_or_else(|| HeaderName::Other(src.slice(start..end)))
    }

    /// Classifies a name given as text (copies only for unknown names).
    pub fn from_name(name: &str) -> HeaderName {
        HeaderName::lookup(name.as_bytes())
            .unwrap_or_else(|| HeaderName::Other(Bytes::copy_from_slice(name.as_bytes())))
    }

    /// Case-insensitive comparison with a name in full or compact form.
    pub fn matches(&self, name: &str) -> bool {
        match HeaderName::lookup(name.as_bytes()) {
            Some(known) => &known == self,
            None => match self {
                HeaderName::Other(b) => b.eq_ignore_ascii_case(name.as_bytes()),
                _ => false,
            },
        }
    }

    /// Headers whose values contain commas that do not separate values (RFC 3261 §7.3.1).
    pub fn is_comma_safe_list(&self) -> bool {
        !matches!(
            self,
            HeaderName::WwwAuthenticate
                | HeaderName::ProxyAuthenticate
                | HeaderName::Authorization
                | HeaderName::ProxyAuthorization
                | HeaderName::AuthenticationInfo
                | HeaderName::Date
                | HeaderName::RetryAfter
                | HeaderName::Subject
                | HeaderName::UserAgent
                | HeaderName::Server
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::Other(_)
        )
    }
}

impl PartialEq<HeaderName> for &HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        *self == other
    }
}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive() {
        assert_eq!(HeaderName::from_name("v"), HeaderName::Via);
        assert_eq!(
            HeaderName::from_name("MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_name("i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_name("x"), HeaderName::SessionExpires);
        assert!(HeaderName::from_name("X-Custom").matches("x-custom"));
        assert_eq!(HeaderName::Contact.compact(), Some('m'));
        assert_eq!(
            HeaderName::from_name("q"),
            HeaderName::Other(Bytes::from_static(b"q"))
        );
    }
}
