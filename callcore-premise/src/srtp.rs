//! SRTP in the premise center: SDES keys (RFC 4568) exchanged in SDP, media
//! protected with SRTP/SRTCP (RFC 3711, AES_CM_128_HMAC_SHA1_80 or _32) on every
//! leg that negotiates it, bridged or not.
//!
//! ```toml
//! [sip]
//! srtp = "offer"          # phones: "off" (default), "offer" or "require"
//!
//! [[agents]]
//! id = "1001"
//! password = "secret-1001"
//! srtp = "require"        # this agent's phone, over sip.srtp
//!
//! [[trunks]]
//! name = "carrier"
//! host = "192.0.2.10:5061"
//! transport = "tls"
//! tls_ca_file = "/etc/callcore/carrier-ca.pem"
//! srtp = "require"        # this trunk's calls, both ways
//! ```
//!
//! `off` keeps plain RTP (and refuses `RTP/SAVP` offers with 488), `offer` uses SRTP
//! when the far end takes it, `require` refuses calls without it (488 to an offer
//! without a usable `a=crypto`; our offers are `RTP/SAVP`). The keys travel in the
//! SDP, so they are protected only when the signalling is: over UDP or TCP anyone
//! who sees the SIP sees the keys. The center logs a warning at start for every
//! SRTP setting on a transport that is not TLS.

use callcore_sip::center::SipTransport;
use callcore_sip::session::SrtpPolicy;

use crate::PremiseError;
use crate::config::PremiseConfig;
use crate::trunks::TrunkSection;

fn policy(at: &str, value: &str) -> Result<SrtpPolicy, PremiseError> {
    value
        .parse()
        .map_err(|detail: String| PremiseError::Config {
            field: at.to_owned(),
            detail,
        })
}

/// A validated trunk's policy (off when absent).
pub fn trunk_policy(t: &TrunkSection) -> SrtpPolicy {
    t.srtp
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

/// Checks `sip.srtp`, `agents[].srtp` and `trunks[].srtp`.
///
/// # Errors
/// [`PremiseError::Config`] naming the field.
pub(crate) fn validate(config: &PremiseConfig) -> Result<(), PremiseError> {
    policy("sip.srtp", &config.sip.srtp)?;
    for (i, a) in config.agents.iter().enumerate() {
        if let Some(v) = &a.srtp {
            policy(&format!("agents[{i}].srtp"), v)?;
        }
    }
    for (i, t) in config.trunks.iter().enumerate() {
        if let Some(v) = &t.srtp {
            policy(&format!("trunks[{i}].srtp"), v)?;
        }
    }
    Ok(())
}

/// Sets the phones' and agents' policies on the transport (trunks carry theirs)
/// and warns about every SRTP setting whose keys would travel in clear-text SIP.
pub(crate) fn apply(config: &PremiseConfig, sip: &SipTransport) {
    let phones = policy("sip.srtp", &config.sip.srtp).unwrap_or_default();
    sip.set_phone_srtp(phones);
    let mut phones_on = phones != SrtpPolicy::Off;
    for a in &config.agents {
        if let Some(p) = a.srtp.as_deref().and_then(|v| v.parse().ok()) {
            sip.set_agent_srtp(&a.id, p);
            phones_on |= p != SrtpPolicy::Off;
        }
    }
    if phones_on {
        // phones reach the premise over UDP/TCP: the keys in their SDP are readable
        tracing::warn!(
            "SRTP is on for phones, but their SIP is UDP/TCP: the SRTP keys in the SDP \
             travel unencrypted; only signalling over TLS protects them"
        );
    }
    for t in &config.trunks {
        if trunk_policy(t) != SrtpPolicy::Off && !t.transport.eq_ignore_ascii_case("tls") {
            tracing::warn!(
                trunk = %t.name,
                transport = %t.transport,
                "SRTP is on for a trunk whose SIP is not TLS: the SRTP keys in the SDP \
                 travel unencrypted"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::PremiseConfig;

    fn error_of(toml: &str) -> Option<String> {
        PremiseConfig::from_toml(&crate::config::with_demo_agents(toml))
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn srtp_settings_are_read_and_their_errors_name_the_field() {
        let ok = "[sip]\nsrtp = \"offer\"\n[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\n\
                  srtp = \"require\"\n";
        let config = PremiseConfig::from_toml(&crate::config::with_demo_agents(ok)).expect("ok");
        assert_eq!(config.sip.srtp, "offer");
        assert_eq!(
            super::trunk_policy(&config.trunks[0]),
            callcore_sip::session::SrtpPolicy::Require
        );
        let e = error_of("[sip]\nsrtp = \"mandatory\"\n").expect("refused");
        assert!(
            e.starts_with("config field `sip.srtp`: unknown SRTP policy"),
            "{e}"
        );
        let e = error_of("[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\nsrtp = \"yes\"\n")
            .expect("refused");
        assert!(e.starts_with("config field `trunks[0].srtp`"), "{e}");
    }
}
