//! `[wechat]`: a WeChat Official Account as a message channel of the premise.
//! WeChat's server calls the center back at `/wechat/{tenant}` on the HTTP
//! listener (set that URL, the token and the EncodingAESKey in the account's
//! console); each user's message becomes an interaction of the WeChat inbox
//! (the openid is the customer's address and identity), routed through the
//! same ACD with the channel's capacity per agent, or first through
//! `[wechat] flow`; agents answer on the desktop
//! (`POST /api/v1/interactions/{id}/messages`) and the answer goes out as a
//! customer-service message.
//!
//! ```toml
//! [wechat]
//! token = "callcore2024"                 # the console's Token
//! encoding_aes_key = "…43 characters…"   # the console's EncodingAESKey
//! appid = "wx…"
//! secret = "…"                           # AppSecret, for the access token
//! mode = "safe"                          # plain | compatible | safe
//! queue = "support"
//! # agent_capacity = 3, acknowledgement = "…", flow = "wechat-bot.toml"
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use callcore::{Channel, Clock, IdSource, TenantId};
use callcore_channels::Inbox;
use callcore_channels::wechat::WeChatChannel;

use crate::PremiseError;
use crate::config::PremiseConfig;

/// The entry (the `to` of interactions) and flow name of WeChat.
pub const WECHAT_ENTRY: &str = "channel:wechat";

/// Checks `[wechat]`; errors name the field (`wechat.token`, `wechat.queue` ...).
pub(crate) fn validate(config: &PremiseConfig) -> Result<(), PremiseError> {
    let Some(w) = &config.wechat else {
        return Ok(());
    };
    w.validate("wechat")
        .map_err(crate::channels::config_error)?;
    if !config.queues.iter().any(|q| q.id == w.queue) {
        return Err(PremiseError::Config {
            field: "wechat.queue".into(),
            detail: format!("no queue `{}`", w.queue),
        });
    }
    Ok(())
}

/// The WeChat inbox, when `[wechat]` is set.
pub(crate) fn inbox(
    config: &PremiseConfig,
    tenant: &TenantId,
    clock: &Arc<dyn Clock>,
    ids: &Arc<dyn IdSource>,
) -> Option<Arc<Inbox>> {
    config.wechat.as_ref().map(|_| {
        Inbox::new(
            Channel::WeChat,
            tenant.clone(),
            WECHAT_ENTRY,
            clock.clone(),
            ids.clone(),
        )
    })
}

/// Starts the channel (its API client becomes the inbox's outbox).
///
/// # Errors
/// [`PremiseError::Config`] naming `http.enabled` when the HTTP listener WeChat
/// calls back is off, or the field of a bad setting.
pub(crate) fn start(
    config: &PremiseConfig,
    inbox: Option<&Arc<Inbox>>,
    clock: &Arc<dyn Clock>,
) -> Result<Option<Arc<WeChatChannel>>, PremiseError> {
    match (&config.wechat, inbox) {
        (Some(_), _) if config.http_bind().is_none() => Err(PremiseError::Config {
            field: "http.enabled".into(),
            detail: "[wechat]: WeChat calls back over HTTP; the listener is off".into(),
        }),
        (Some(c), Some(inbox)) => WeChatChannel::start(c.clone(), inbox.clone(), clock.clone())
            .map(Some)
            .map_err(crate::channels::config_error),
        _ => Ok(None),
    }
}

#[derive(Clone)]
struct Callback {
    tenant: String,
    channel: Arc<WeChatChannel>,
}

async fn callback(
    post: bool,
    cb: Callback,
    tenant: String,
    query: Option<String>,
    body: axum::body::Bytes,
) -> Response {
    if tenant != cb.tenant {
        return StatusCode::NOT_FOUND.into_response();
    }
    let r = cb
        .channel
        .callback(post, query.as_deref().unwrap_or(""), &body);
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [(header::CONTENT_TYPE, r.content_type)], r.body).into_response()
}

/// `/wechat/{tenant}`: the URL check (GET) and users' messages (POST).
pub(crate) fn routes(tenant: &TenantId, channel: Arc<WeChatChannel>) -> Router {
    let state = Callback {
        tenant: tenant.as_str().to_owned(),
        channel,
    };
    Router::new()
        .route(
            "/wechat/{tenant}",
            get(
                |State(cb): State<Callback>, Path(t): Path<String>, RawQuery(q): RawQuery| {
                    callback(false, cb, t, q, axum::body::Bytes::new())
                },
            )
            .post(
                |State(cb): State<Callback>,
                 Path(t): Path<String>,
                 RawQuery(q): RawQuery,
                 body: axum::body::Bytes| callback(true, cb, t, q, body),
            ),
        )
        .with_state(state)
}

impl crate::Premise {
    /// The WeChat channel's inbox (`[wechat]`).
    pub fn wechat_inbox(&self) -> Option<&Arc<Inbox>> {
        self.inboxes.wechat.as_ref()
    }

    /// The running WeChat channel (`[wechat]`): its counters and API client.
    pub fn wechat(&self) -> Option<&Arc<WeChatChannel>> {
        self.channels.wechat.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use crate::PremiseConfig;

    fn error_of(wechat: &str) -> String {
        PremiseConfig::from_toml(&format!(
            "[ivr]\nmenu = [{{ key = \"1\", label = \"web\", queue = \"web\" }}]\n\
             default_queue = \"web\"\n[[queues]]\nid = \"web\"\n[[agents]]\nid = \"a\"\n\
             password = \"secret-a\"\n[wechat]\nappid = \"wxapp1\"\nsecret = \"s3cret-never-shown\"\n{wechat}\n"
        ))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
    }

    #[test]
    fn bad_wechat_settings_name_the_field_and_never_the_secret() {
        assert_eq!(error_of("token = \"callcore2024\"\nqueue = \"web\""), "");
        for (wechat, field) in [
            (
                "token = \"callcore2024\"\nqueue = \"nowhere\"",
                "wechat.queue",
            ),
            ("token = \"no spaces\"\nqueue = \"web\"", "wechat.token"),
            (
                "token = \"callcore2024\"\nqueue = \"web\"\nmode = \"safe\"",
                "wechat.encoding_aes_key",
            ),
            (
                "token = \"callcore2024\"\nqueue = \"web\"\nencoding_aes_key = \"tooshort\"",
                "wechat.encoding_aes_key",
            ),
            (
                "token = \"callcore2024\"\nqueue = \"web\"\napi_base = \"ftp://x\"",
                "wechat.api_base",
            ),
        ] {
            let e = error_of(wechat);
            assert!(e.contains(field), "{wechat}: {e}");
            assert!(!e.contains("s3cret-never-shown"), "{e}");
        }
        let c = PremiseConfig::from_toml(
            "[ivr]\nmenu = [{ key = \"1\", label = \"web\", queue = \"web\" }]\n\
             default_queue = \"web\"\n[[queues]]\nid = \"web\"\n[[agents]]\nid = \"a\"\n\
             password = \"secret-a\"\n[wechat]\nappid = \"wxapp1\"\nsecret = \"s3cret-never-shown\"\n\
             token = \"callcore2024\"\nqueue = \"web\"\nagent_capacity = 4\n"
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{:?}", c.wechat).contains("s3cret"));
        let p = crate::channels::Inboxes::agent_profile(
            &c,
            &c.agents[0],
            callcore::AgentProfile::new("x"),
        );
        assert_eq!(p.capacity_for(callcore::Channel::WeChat), 4);
    }
}
