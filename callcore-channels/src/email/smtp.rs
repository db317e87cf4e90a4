//! Replies out through SMTP, threaded: In-Reply-To the customer's last
//! mail, References every mail of the conversation, a fresh Message-ID the
//! customer's reply will name. With `smtp_tls`, over TLS (SMTPS or
//! STARTTLS, required), the server's certificate verified.

use std::sync::Arc;

use async_trait::async_trait;
use callcore::IdSource;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::email::EmailConfig;
use crate::email::tls::MailTls;
use crate::message::Outgoing;
use crate::tls::host_of;
use crate::{ChannelError, Outbox};

/// `Auto-Submitted: auto-replied` (RFC 3834) on the center's automatic mail.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-replied".to_owned())
    }
}

/// Sends a channel's replies through its SMTP server.
pub struct SmtpOutbox {
    from: lettre::message::Mailbox,
    domain: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    ids: Arc<dyn IdSource>,
}

impl std::fmt::Debug for SmtpOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpOutbox").finish_non_exhaustive()
    }
}

impl SmtpOutbox {
    /// An outbox for `config`'s SMTP server.
    ///
    /// # Errors
    /// [`ChannelError::Config`] when the address or server is invalid.
    pub fn new(config: &EmailConfig, ids: Arc<dyn IdSource>) -> Result<Self, ChannelError> {
        let from = config
            .address
            .parse()
            .map_err(|e: lettre::address::AddressError| ChannelError::Config {
                field: "email.address".into(),
                detail: e.to_string(),
            })?;
        let (host, port) = config
            .smtp
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| ChannelError::Config {
                field: "email.smtp".into(),
                detail: "expected host:port".into(),
            })?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(std::time::Duration::from_secs(30)));
        if config.smtp_tls != MailTls::None {
            let parameters = tls_parameters(config)?;
            builder = builder.tls(match config.smtp_tls {
                MailTls::Implicit => Tls::Wrapper(parameters),
                _ => Tls::Required(parameters),
            });
        }
        if !config.password.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.user.clone(),
                config.password.clone(),
            ));
        }
        Ok(Self {
            from,
            domain: config.domain().to_owned(),
            transport: builder.build(),
            ids,
        })
    }
}

/// lettre's TLS parameters: `ca_file`'s certificates only, or the system's roots.
fn tls_parameters(config: &EmailConfig) -> Result<TlsParameters, ChannelError> {
    let bad = |field: &str, detail: String| ChannelError::Config {
        field: field.into(),
        detail,
    };
    let mut b = TlsParameters::builder(host_of(&config.smtp).to_owned());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| bad("email.ca_file", format!("{}: {e}", path.display())))?;
        let ca = Certificate::from_pem(&pem)
            .map_err(|e| bad("email.ca_file", format!("{}: {e}", path.display())))?;
        b = b
            .certificate_store(CertificateStore::None)
            .add_root_certificate(ca);
    }
    b.build().map_err(|e| bad("email.smtp_tls", e.to_string()))
}

#[async_trait]
impl Outbox for SmtpOutbox {
    async fn send(&self, reply: &Outgoing) -> Result<String, ChannelError> {
        let to: lettre::message::Mailbox =
            reply
                .customer
                .parse()
                .map_err(|e: lettre::address::AddressError| {
                    ChannelError::Unsendable(format!("to: {e}"))
                })?;
        let id = format!("{}@{}", self.ids.mint(), self.domain);
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(
                reply
                    .subject
                    .clone()
                    .unwrap_or_else(|| "Your message".into()),
            )
            .message_id(Some(format!("<{id}>")));
        if let Some(r) = &reply.in_reply_to {
            b = b.in_reply_to(format!("<{r}>"));
        }
        if !reply.references.is_empty() {
            let refs: Vec<String> = reply.references.iter().map(|r| format!("<{r}>")).collect();
            b = b.references(refs.join(" "));
        }
        if reply.auto {
            b = b.header(AutoSubmitted);
        }
        let mail = b
            .header(ContentType::TEXT_PLAIN)
            .body(reply.text.clone())
            .map_err(|e| ChannelError::Unsendable(e.to_string()))?;
        self.transport
            .send(mail)
            .await
            .map_err(|e| ChannelError::peer("smtp", e))?;
        Ok(id)
    }
}
