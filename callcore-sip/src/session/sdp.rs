//! The SDP subset a voice call center needs (RFC 4566): one or more `m=` lines with RTP
//! payload maps, connection addresses and direction attributes.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::Error;

/// Media direction (RFC 3264 §5.1, §8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways.
    #[default]
    SendRecv,
    /// We send only (the other side is on hold by us).
    SendOnly,
    /// We receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn parse(s: &str) -> Option<Direction> {
        Some(match s {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The direction seen from the other side.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Intersection of what we want with what the offer allows (offer already reversed).
    pub fn intersect(self, other: Direction) -> Direction {
        let send = matches!(self, Direction::SendRecv | Direction::SendOnly)
            && matches!(other, Direction::SendRecv | Direction::SendOnly);
        let recv = matches!(self, Direction::SendRecv | Direction::RecvOnly)
            && matches!(other, Direction::SendRecv | Direction::RecvOnly);
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }
}

/// `a=rtpmap:<pt> <name>/<clock>[/<channels>]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name (`PCMU`, `telephone-event`).
    pub encoding: String,
    /// Clock rate.
    pub clock: u32,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`...
    pub kind: String,
    /// RTP port (0 = rejected/disabled).
    pub port: u16,
    /// `RTP/AVP`...
    pub proto: String,
    /// Payload types in preference order.
    pub formats: Vec<String>,
    /// rtpmap attributes.
    pub rtpmaps: Vec<RtpMap>,
    /// fmtp attributes (payload type, parameters).
    pub fmtps: Vec<(u8, String)>,
    /// Media-level `c=` address.
    pub connection: Option<String>,
    /// Direction attribute (session-level one applied when absent).
    pub direction: Option<Direction>,
    /// `a=ptime`.
    pub ptime: Option<u32>,
    /// `a=crypto` lines (SDES keys, RFC 4568), in the order written.
    pub crypto: Vec<super::sdes::SdpCrypto>,
}

impl MediaDescription {
    /// The encoding of a payload type: rtpmap, or the RFC 3551 static table.
    pub fn encoding_of(&self, pt: u8) -> Option<(String, u32)> {
        if let Some(m) = self.rtpmaps.iter().find(|m| m.pt == pt) {
            return Some((m.encoding.clone(), m.clock));
        }
        match pt {
            0 => Some(("PCMU".into(), 8000)),
            8 => Some(("PCMA".into(), 8000)),
            _ => None,
        }
    }

    /// Payload types as numbers (non-numeric formats skipped).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` username.
    pub origin_user: String,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version (must rise with every changed offer).
    pub version: u64,
    /// `o=` address.
    pub origin_addr: String,
    /// `s=`
    pub name: String,
    /// Session-level `c=` address.
    pub connection: Option<String>,
    /// Session-level direction.
    pub direction: Option<Direction>,
    /// Media sections.
    pub media: Vec<MediaDescription>,
}

fn sdp_err(line: usize, what: &str) -> Error {
    Error::Sdp(format!("line {line}: {what}"))
}

fn addr_of(c: &str) -> Option<String> {
    // c=IN IP4 192.0.2.1[/ttl]
    let mut it = c.split_ascii_whitespace();
    let (net, _kind, addr) = (it.next()?, it.next()?, it.next()?);
    // an empty address (`c=IN IP4 /127`) would be written back as a line
    // nothing parses: refused here (found by fuzzing)
    let addr = addr.split('/').next().unwrap_or(addr);
    (net == "IN" && !addr.is_empty()).then(|| addr.to_owned())
}

impl SessionDescription {
    /// Parses an SDP body.
    pub fn parse(body: &[u8]) -> Result<SessionDescription, Error> {
        let text = std::str::from_utf8(body).map_err(|_| sdp_err(0, "not UTF-8"))?;
        let mut sd = SessionDescription {
            origin_user: "-".into(),
            session_id: 0,
            version: 0,
            // an o= line is mandatory (RFC 4566 §5.2) but some peers leave it out:
            // the unspecified address keeps a relayed description writable
            origin_addr: "0.0.0.0".into(),
            name: "-".into(),
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        let mut saw_v = false;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| sdp_err(n + 1, "expected <type>=<value>"))?;
            match (k, sd.media.last_mut()) {
                ("v", _) => {
                    if v != "0" {
                        return Err(sdp_err(n + 1, "version must be 0"));
                    }
                    saw_v = true;
                }
                ("o", _) => {
                    let f: Vec<&str> = v.split_ascii_whitespace().collect();
                    if f.len() != 6 {
                        return Err(sdp_err(n + 1, "o= needs 6 fields"));
                    }
                    sd.origin_user = f[0].into();
                    sd.session_id = f[1].parse().map_err(|_| sdp_err(n + 1, "o= session id"))?;
                    sd.version = f[2].parse().map_err(|_| sdp_err(n + 1, "o= version"))?;
                    sd.origin_addr = f[5].into();
                }
                ("s", _) => sd.name = v.into(),
                ("c", None) => {
                    sd.connection = Some(addr_of(v).ok_or_else(|| sdp_err(n + 1, "bad c="))?)
                }
                ("c", Some(m)) => {
                    m.connection = Some(addr_of(v).ok_or_else(|| sdp_err(n + 1, "bad c="))?)
                }
                ("m", _) => {
                    let mut it = v.split_ascii_whitespace();
                    let kind = it.next().ok_or_else(|| sdp_err(n + 1, "m= media"))?;
                    let port = it.next().ok_or_else(|| sdp_err(n + 1, "m= port"))?;
                    let port: u16 = port
                        .split('/')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| sdp_err(n + 1, "m= port"))?;
                    let proto = it.next().ok_or_else(|| sdp_err(n + 1, "m= proto"))?;
                    sd.media.push(MediaDescription {
                        kind: kind.into(),
                        port,
                        proto: proto.into(),
                        formats: it.map(str::to_owned).collect(),
                        rtpmaps: Vec::new(),
                        fmtps: Vec::new(),
                        connection: None,
                        direction: None,
                        ptime: None,
                        crypto: Vec::new(),
                    });
                }
                ("a", m) => {
                    let (name, value) = v.split_once(':').unwrap_or((v, ""));
                    if let Some(d) = Direction::parse(name) {
                        match m {
                            Some(m) => m.direction = Some(d),
                            None => sd.direction = Some(d),
                        }
                        continue;
                    }
                    let Some(m) = m else { continue };
                    match name {
                        "rtpmap" => {
                            let (pt, enc) = value
                                .split_once(' ')
                                .ok_or_else(|| sdp_err(n + 1, "bad rtpmap"))?;
                            let pt = pt
                                .parse()
                                .map_err(|_| sdp_err(n + 1, "rtpmap payload type"))?;
                            let mut e = enc.split('/');
                            let encoding = e.next().unwrap_or("").to_owned();
                            // An rtpmap without a clock rate (RFC 4475's `a=rtpmap:31
                            // LPC`) names no codec we could use: the format is kept,
                            // unmapped, and never chosen.
                            let Some(clock) = e.next().and_then(|c| c.parse().ok()) else {
                                continue;
                            };
                            m.rtpmaps.push(RtpMap {
                                pt,
                                encoding,
                                clock,
                            });
                        }
                        "fmtp" => {
                            if let Some((pt, params)) = value.split_once(' ')
                                && let Ok(pt) = pt.parse()
                            {
                                m.fmtps.push((pt, params.to_owned()));
                            }
                        }
                        "ptime" => m.ptime = value.parse().ok(),
                        "crypto" => {
                            let line = super::sdes::SdpCrypto::parse(value).map_err(|e| {
                                sdp_err(n + 1, e.to_string().trim_start_matches("bad SDP: "))
                            })?;
                            m.crypto.push(line);
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if !saw_v {
            return Err(sdp_err(1, "missing v=0"));
        }
        Ok(sd)
    }

    /// The direction that applies to media section `i`.
    pub fn direction_of(&self, i: usize) -> Direction {
        self.media
            .get(i)
            .and_then(|m| m.direction)
            .or(self.direction)
            .unwrap_or_default()
    }

    /// The connection address of media section `i` (media level, else session level).
    pub fn address_of(&self, i: usize) -> Option<IpAddr> {
        self.media
            .get(i)
            .and_then(|m| m.connection.clone())
            .or_else(|| self.connection.clone())
            .and_then(|a| a.parse().ok())
    }

    /// Serializes with CRLF line ends.
    pub fn to_body(&self) -> String {
        let ip_kind = |a: &str| if a.contains(':') { "IP6" } else { "IP4" };
        let mut s = String::with_capacity(256);
        let _ = write!(
            s,
            "v=0\r\no={} {} {} IN {} {}\r\ns={}\r\n",
            self.origin_user,
            self.session_id,
            self.version,
            ip_kind(&self.origin_addr),
            self.origin_addr,
            self.name
        );
        if let Some(c) = &self.connection {
            let _ = write!(s, "c=IN {} {}\r\n", ip_kind(c), c);
        }
        s.push_str("t=0 0\r\n");
        if let Some(d) = self.direction {
            let _ = write!(s, "a={}\r\n", d.as_str());
        }
        for m in &self.media {
            let _ = write!(
                s,
                "m={} {} {} {}\r\n",
                m.kind,
                m.port,
                m.proto,
                m.formats.join(" ")
            );
            if let Some(c) = &m.connection {
                let _ = write!(s, "c=IN {} {}\r\n", ip_kind(c), c);
            }
            for r in &m.rtpmaps {
                let _ = write!(s, "a=rtpmap:{} {}/{}\r\n", r.pt, r.encoding, r.clock);
            }
            for (pt, p) in &m.fmtps {
                let _ = write!(s, "a=fmtp:{pt} {p}\r\n");
            }
            for c in &m.crypto {
                let _ = write!(s, "a=crypto:{}\r\n", c.to_value());
            }
            if let Some(p) = m.ptime {
                let _ = write!(s, "a=ptime:{p}\r\n");
            }
            if let Some(d) = m.direction {
                let _ = write!(s, "a={}\r\n", d.as_str());
            }
        }
        s
    }
}
