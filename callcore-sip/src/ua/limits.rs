//! Limits that keep a scanner or a flood from exhausting the node, all on by default:
//! message shape (header lines, line length), server transactions and calls in total
//! and per source address (503 with `Retry-After` over them), and an optional
//! per-source request rate (token bucket per IP address), and TCP/TLS connections
//! ([`StreamLimits`]: caps, handshake and idle timeouts, write queues). Sans-IO: `now`
//! is passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::message::{DEFAULT_MAX_HEADER_LINES, DEFAULT_MAX_LINE_LEN};
use crate::transaction::TxLimits;

/// The user agent's bounds (see the module docs); every one is configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Header lines per message (513 above).
    pub max_header_lines: usize,
    /// Bytes per line (513 above).
    pub max_line_len: usize,
    /// Server transactions (503 above).
    pub transactions: TxLimits,
    /// Inbound calls not yet ended (503 above).
    pub max_calls: usize,
    /// Inbound calls not yet ended from one source IP address (503 above); a trunk
    /// carrying many calls needs this raised.
    pub max_calls_per_source: usize,
    /// TCP/TLS connections (caps, timeouts, write queues).
    pub streams: super::connections::StreamLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_lines: DEFAULT_MAX_HEADER_LINES,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            transactions: TxLimits::default(),
            max_calls: 5_000,
            max_calls_per_source: 1_000,
            streams: super::connections::StreamLimits::default(),
        }
    }
}

/// Token-bucket settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second allowed from one address.
    pub per_second: f64,
    /// Burst size (bucket capacity).
    pub burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Duration,
}

/// Buckets per source address.
#[derive(Debug, Clone)]
pub struct SourceLimiter {
    limit: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Duration,
}

impl SourceLimiter {
    /// A limiter with these settings.
    pub fn new(limit: RateLimit) -> Self {
        SourceLimiter {
            limit,
            buckets: HashMap::new(),
            last_sweep: Duration::ZERO,
        }
    }

    /// Takes one token for `source`; false when the source is over its rate.
    pub fn allow(&mut self, source: IpAddr, now: Duration) -> bool {
        let RateLimit { per_second, burst } = self.limit;
        if now.saturating_sub(self.last_sweep) > Duration::from_secs(60) {
            // Forget sources whose bucket has refilled completely.
            self.buckets.retain(|_, b| {
                b.tokens + now.saturating_sub(b.at).as_secs_f64() * per_second < burst
            });
            self.last_sweep = now;
        }
        let b = self.buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_sub(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_second).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Number of sources currently tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate_per_source() {
        let mut l = SourceLimiter::new(RateLimit {
            per_second: 10.0,
            burst: 5.0,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Duration::ZERO;
        assert_eq!((0..8).filter(|_| l.allow(a, t0)).count(), 5, "burst of 5");
        assert!(l.allow(b, t0), "another source is unaffected");
        assert!(!l.allow(a, t0 + Duration::from_millis(50)));
        assert!(
            l.allow(a, t0 + Duration::from_millis(150)),
            "refills at 10/s"
        );
        assert_eq!(l.tracked(), 2);
        assert!(l.allow(a, Duration::from_secs(120)));
        assert_eq!(l.tracked(), 1, "idle sources are forgotten");
    }
}
