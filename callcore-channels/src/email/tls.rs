//! The e-mail channel's TLS setting; the TLS itself is [`crate::tls`]'s.

use serde::Deserialize;

/// How a mail server is spoken to: `tls = "implicit" | "starttls" | "none"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// Plain TCP (a local test server only: passwords and mail in clear).
    #[default]
    None,
    /// Plain TCP upgraded with STARTTLS before logging in (IMAP 143, SMTP 587).
    Starttls,
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::ChannelError;
    use crate::email::EmailConfig;

    fn config(extra: &str) -> Result<EmailConfig, toml::de::Error> {
        toml::from_str(&format!(
            "address = \"support@center.test\"\nimap = \"mail.center.test:993\"\n\
             smtp = \"mail.center.test:465\"\nuser = \"support\"\nqueue = \"support\"\n{extra}"
        ))
    }

    fn field(e: ChannelError) -> String {
        match e {
            ChannelError::Config { field, .. } => field,
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn plain_is_the_default_and_each_mode_is_spelled_out() {
        let c = config("").unwrap();
        assert_eq!(c.imap_tls, super::MailTls::None);
        assert!(c.validate("email").is_ok());
        let c = config("imap_tls = \"implicit\"\nsmtp_tls = \"starttls\"").unwrap();
        assert_eq!(c.imap_tls, super::MailTls::Implicit);
        assert_eq!(c.smtp_tls, super::MailTls::Starttls);
        let e = config("imap_tls = \"ssl\"").unwrap_err().to_string();
        assert!(e.contains("imap_tls") && e.contains("implicit"), "{e}");
    }

    #[test]
    fn a_missing_or_empty_ca_file_names_the_field() {
        let c = config("imap_tls = \"implicit\"\nca_file = \"/nonexistent/ca.pem\"").unwrap();
        assert_eq!(field(c.validate("email").unwrap_err()), "email.ca_file");
        let empty =
            std::env::temp_dir().join(format!("callcore-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let c = config(&format!("smtp_tls = \"implicit\"\nca_file = {empty:?}")).unwrap();
        let e = c.validate("email").unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        assert_eq!(field(e), "email.ca_file");
        let _ = std::fs::remove_file(empty);
        // a CA file with no TLS side is a mistake, not silently ignored
        let c = config("ca_file = \"/etc/hosts\"").unwrap();
        assert_eq!(field(c.validate("email").unwrap_err()), "email.ca_file");
    }
}
