//! The mailbox poller: every `poll_ms`, log in, take the unseen mail in UID
//! order, mark each seen once taken. A connection failure is logged and the
//! next poll reconnects. With `imap_tls`, the session runs over TLS (from
//! the start, or after STARTTLS), the server's certificate verified.

use std::sync::Arc;

use callcore::Clock;
use futures::TryStreamExt;

use crate::email::tls::MailTls;
use crate::email::{EmailConfig, MailCounters, poll_every, take_mail};
use crate::tls::{client_config, handshake};
use crate::{ChannelError, Inbox};

/// Polls until the task is aborted.
pub(crate) async fn poll_forever(
    config: EmailConfig,
    inbox: Arc<Inbox>,
    clock: Arc<dyn Clock>,
    counters: Arc<MailCounters>,
) {
    let mut failing = false;
    loop {
        let polled = poll_once(&config, &inbox, &*clock, &counters).await;
        counters.set_mailbox_failure(polled.as_ref().err().map(ToString::to_string));
        match polled {
            Ok(_) if failing => {
                tracing::info!("IMAP mailbox reachable again");
                failing = false;
            }
            Ok(_) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "IMAP poll failed; retrying");
                }
                failing = true;
            }
        }
        clock.sleep(poll_every(&config)).await;
    }
}

/// One poll: how many mails were taken.
async fn poll_once(
    config: &EmailConfig,
    inbox: &Arc<Inbox>,
    clock: &dyn Clock,
    counters: &MailCounters,
) -> Result<usize, ChannelError> {
    let tcp = tokio::net::TcpStream::connect(&config.imap)
        .await
        .map_err(|e| ChannelError::peer("imap", e))?;
    match config.imap_tls {
        MailTls::None => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            take_unseen(client, config, inbox, clock, counters).await
        }
        MailTls::Implicit => {
            let tls = handshake(
                "imap",
                client_config("email.ca_file", config.ca_file.as_deref())?,
                &config.imap,
                tcp,
            )
            .await?;
            let mut client = async_imap::Client::new(tls);
            greeting(&mut client).await?;
            take_unseen(client, config, inbox, clock, counters).await
        }
        MailTls::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| ChannelError::peer("imap", format!("STARTTLS refused: {e}")))?;
            let tls = handshake(
                "imap",
                client_config("email.ca_file", config.ca_file.as_deref())?,
                &config.imap,
                client.into_inner(),
            )
            .await?;
            // no greeting after STARTTLS (RFC 9051 6.2.1)
            take_unseen(async_imap::Client::new(tls), config, inbox, clock, counters).await
        }
    }
}

/// Reads the server's greeting.
async fn greeting<S>(client: &mut async_imap::Client<S>) -> Result<(), ChannelError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    client
        .read_response()
        .await
        .map_err(|e| ChannelError::peer("imap", e))?;
    Ok(())
}

/// Logs in, takes the unseen mail, logs out.
async fn take_unseen<S>(
    client: async_imap::Client<S>,
    config: &EmailConfig,
    inbox: &Arc<Inbox>,
    clock: &dyn Clock,
    counters: &MailCounters,
) -> Result<usize, ChannelError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let imap = |e: async_imap::error::Error| ChannelError::peer("imap", e);
    let mut session = client
        .login(&config.user, &config.password)
        .await
        .map_err(|(e, _)| imap(e))?;
    session.select(&config.mailbox).await.map_err(imap)?;
    let mut uids: Vec<u32> = session
        .uid_search("UNSEEN")
        .await
        .map_err(imap)?
        .into_iter()
        .collect();
    uids.sort_unstable();
    let mut taken = 0;
    for uid in uids {
        let raw = {
            let fetches: Vec<_> = session
                .uid_fetch(uid.to_string(), "BODY.PEEK[]")
                .await
                .map_err(imap)?
                .try_collect()
                .await
                .map_err(imap)?;
            fetches.iter().find_map(|f| f.body().map(<[u8]>::to_vec))
        };
        if let Some(raw) = raw {
            take_mail(&raw, config, inbox, clock, counters).await;
            taken += 1;
        }
        // taken (or refused): not taken again, but left in the mailbox
        let _: Vec<_> = session
            .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
            .await
            .map_err(imap)?
            .try_collect()
            .await
            .map_err(imap)?;
    }
    let _ = session.logout().await;
    Ok(taken)
}
