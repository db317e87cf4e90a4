//! # callcore-web
//!
//! callcore's HTTP and WebSocket API, for any assembly to mount on its HTTP
//! listener (the premise center serves it on `--web ADDR`):
//!
//! - **users** with a role ([`Role`]: agent, supervisor, administrator) in a
//!   tenant ([`UserAccount`]); passwords hashed with argon2id when the
//!   account is made (agents configured with digest HA1 hashes only are
//!   checked against them);
//! - **sessions**: `POST /api/v1/login` sets an HttpOnly, SameSite=Strict
//!   cookie with a random id from the OS and answers a CSRF token that every
//!   unsafe request with the cookie repeats in `X-CSRF-Token`; API tokens
//!   (`Authorization: Bearer`) for administrators' tools; login rate limits
//!   per user and per address (429);
//! - **routes** under `/api/v1`: agents and their states, queues with live
//!   figures, live calls and every call-control action of
//!   [`CenterHandle`], offers, interaction history with pagination,
//!   recordings (streamed), interval reports (callcore-analytics),
//!   configuration reads, agents' scorecards, coaching items and reviews
//!   of new agents' calls; each declares its minimum
//!   role and sees only the user's tenant (an agent: their own calls; a
//!   supervisor limited to queues: those queues and their agents);
//! - **errors** in one shape, `{"error":{"code","message","field"}}`, 4xx
//!   naming the field for bad input;
//! - an **event feed** (WebSocket, `/api/v1/events`) filtered by role and
//!   tenant, resumable with `?since=SEQ`;
//! - the **OpenAPI 3.1 document** at `/api/openapi.json`, generated from the
//!   handlers.
//!
//! Other crates' routes (a browser phone's signalling) authenticate their
//! requests with [`WebApi::authenticator`].
//!
//! ```no_run
//! # async fn mount(center: callcore_runtime::CenterHandle) -> Result<(), callcore_web::WebError> {
//! use callcore::TenantId;
//! use callcore_web::{Role, UserAccount, WebApi};
//!
//! let tenant = TenantId::new("default");
//! let api = WebApi::builder()
//!     .center(center)
//!     .agent("1001", &tenant)
//!     .queue("support", &tenant)
//!     .user(UserAccount::with_password("1001", Role::Agent, tenant.clone(), "alice1001")?)
//!     .user(UserAccount::with_password("super", Role::Supervisor, tenant.clone(), "super1234")?)
//!     .build()?;
//! // serve it (with the peer's address, for the login limits) or merge it
//! // into the assembly's router
//! let app: axum::Router = api.router();
//! // who a request is, for another crate's routes (a browser phone)
//! let auth = api.authenticator();
//! # let _ = (app, auth);
//! # Ok(()) }
//! ```

mod api;
mod auth;
mod chat;
mod config_view;
mod error;
mod extract;
mod limits;
mod live;
pub mod messages;
pub mod notifications;
mod pages;
mod sessions;
mod state;
mod users;
mod wallboard;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callcore::{AgentId, QueueId, TenantId};
use callcore_runtime::CenterHandle;

pub use api::OPENAPI_PATH;
pub use auth::{
    AdminUser, AnyUser, Authed, Authenticate, AuthenticateFn, Authenticator, SupervisorUser,
};
pub use chat::identity::sign_identity;
pub use config_view::{CampaignConfig, Configuration, QueueConfig, TrunkConfig};
pub use error::{ApiError, ErrorBody, ErrorDetail, WebError};
pub use limits::LoginLimits;
pub use live::LiveCall;
pub use sessions::{CSRF_HEADER, SESSION_COOKIE};
pub use users::{Principal, Role, UserAccount, hash_password};

/// Events kept for feeds that reconnect, by default.
pub const DEFAULT_EVENT_BUFFER: usize = 4096;

/// The web API of a running center: its router, its OpenAPI document, its
/// authenticator.
pub struct WebApi {
    state: state::AppState,
    router: axum::Router,
    openapi: utoipa::openapi::OpenApi,
}

impl std::fmt::Debug for WebApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebApi").finish_non_exhaustive()
    }
}

impl WebApi {
    /// A builder.
    #[must_use]
    pub fn builder() -> WebApiBuilder {
        WebApiBuilder::default()
    }

    /// The routes (`/api/v1/...`, `/api/openapi.json`), ready to serve or
    /// merge into an assembly's router. Serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so that login
    /// limits count per source address.
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// The OpenAPI document served at [`OPENAPI_PATH`].
    #[must_use]
    pub fn openapi(&self) -> &utoipa::openapi::OpenApi {
        &self.openapi
    }

    /// Who a request is (session cookie or API token), for other crates'
    /// routes; cheap to clone.
    #[must_use]
    pub fn authenticator(&self) -> Authenticator {
        Authenticator(self.state.clone())
    }
}

/// Assembles a [`WebApi`].
#[derive(Debug)]
pub struct WebApiBuilder {
    center: Option<CenterHandle>,
    users: Vec<UserAccount>,
    agents: Vec<(AgentId, TenantId)>,
    queues: Vec<(QueueId, TenantId)>,
    definitions: Vec<callcore::QueueDefinition>,
    notifications: Option<Arc<dyn notifications::NotificationReports>>,
    config: HashMap<TenantId, Configuration>,
    secure_cookies: bool,
    session_ttl: Duration,
    limits: LoginLimits,
    event_buffer: usize,
    messages: Option<Arc<dyn messages::MessageDesk>>,
    chat: Option<Arc<callcore_channels::chat::ChatHub>>,
    serving: HashMap<AgentId, Vec<QueueId>>,
    coaching: callcore_analytics::coaching::CoachingConfig,
}

impl Default for WebApiBuilder {
    fn default() -> Self {
        WebApiBuilder {
            center: None,
            users: Vec::new(),
            agents: Vec::new(),
            queues: Vec::new(),
            definitions: Vec::new(),
            notifications: None,
            config: HashMap::new(),
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 3600),
            limits: LoginLimits::default(),
            event_buffer: DEFAULT_EVENT_BUFFER,
            messages: None,
            chat: None,
            serving: HashMap::new(),
            coaching: callcore_analytics::coaching::CoachingConfig::default(),
        }
    }
}

impl WebApiBuilder {
    /// The center to control (required).
    #[must_use]
    pub fn center(mut self, center: CenterHandle) -> Self {
        self.center = Some(center);
        self
    }

    /// A user who may log in.
    #[must_use]
    pub fn user(mut self, user: UserAccount) -> Self {
        self.users.push(user);
        self
    }

    /// Users who may log in.
    #[must_use]
    pub fn users(mut self, users: impl IntoIterator<Item = UserAccount>) -> Self {
        self.users.extend(users);
        self
    }

    /// An agent the center already has, and their tenant (agents added later
    /// are learnt from the center's events).
    #[must_use]
    pub fn agent(mut self, agent: &str, tenant: &TenantId) -> Self {
        self.agents.push((AgentId::new(agent), tenant.clone()));
        self
    }

    /// A queue the center already has, and its tenant.
    #[must_use]
    pub fn queue(mut self, queue: &str, tenant: &TenantId) -> Self {
        self.queues.push((QueueId::new(queue), tenant.clone()));
        self
    }

    /// A queue the center already has, as defined (its tenant, service
    /// levels per channel and business hours): the `queue_service` report
    /// measures each channel against the definition's targets even when the
    /// journal it replays starts after the queue was added.
    #[must_use]
    pub fn queue_definition(mut self, definition: callcore::QueueDefinition) -> Self {
        self.queues
            .push((definition.id.clone(), definition.tenant.clone()));
        self.definitions.push(definition);
        self
    }

    /// The queues `agent` serves: a supervisor limited to queues
    /// ([`UserAccount::with_queues`]) sees and steers the agents serving
    /// theirs.
    #[must_use]
    pub fn serving(mut self, agent: &str, queues: &[&str]) -> Self {
        self.serving
            .entry(AgentId::new(agent))
            .or_default()
            .extend(queues.iter().map(|q| QueueId::new(*q)));
        self
    }

    /// The coaching rules' thresholds (`/api/v1/coaching`, the scorecards'
    /// items); default [`CoachingConfig::default`](callcore_analytics::coaching::CoachingConfig).
    #[must_use]
    pub fn coaching(mut self, config: callcore_analytics::coaching::CoachingConfig) -> Self {
        self.coaching = config;
        self
    }

    /// The message conversations (e-mail, SMS) agents read and answer at
    /// `/api/v1/interactions/{id}/messages`.
    #[must_use]
    pub fn messages(mut self, desk: Arc<dyn messages::MessageDesk>) -> Self {
        self.messages = Some(desk);
        self
    }

    /// Proactive notification runs (SMS, e-mail campaigns), reported at
    /// `GET /api/v1/reports/notifications` beside the voice campaigns.
    #[must_use]
    pub fn notifications(mut self, reports: Arc<dyn notifications::NotificationReports>) -> Self {
        self.notifications = Some(reports);
        self
    }

    /// Web chat: the widget page `/chat` and its socket `/chat/ws` for
    /// visitors, the desktop's socket `/api/v1/chats` and file downloads.
    /// Give the chat's inbox to [`messages`](Self::messages) too, so that
    /// agents reply through `/api/v1/interactions/{id}/messages`.
    #[must_use]
    pub fn chat(mut self, hub: Arc<callcore_channels::chat::ChatHub>) -> Self {
        self.chat = Some(hub);
        self
    }

    /// What the configuration routes show for `tenant`.
    #[must_use]
    pub fn configuration(mut self, tenant: &TenantId, config: Configuration) -> Self {
        self.config.insert(tenant.clone(), config);
        self
    }

    /// Marks the session cookie `Secure` (served over HTTPS; default off).
    #[must_use]
    pub fn secure_cookies(mut self, on: bool) -> Self {
        self.secure_cookies = on;
        self
    }

    /// How long a session lasts (default 12 hours).
    #[must_use]
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Login rate limits.
    #[must_use]
    pub fn login_limits(mut self, limits: LoginLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Events kept for reconnecting feeds (default [`DEFAULT_EVENT_BUFFER`]).
    #[must_use]
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events;
        self
    }

    /// Builds the API and starts following the center's events (call it
    /// inside a tokio runtime).
    ///
    /// # Errors
    /// [`WebError::Missing`] without a center; [`WebError::User`] for a user
    /// id given twice.
    pub fn build(self) -> Result<WebApi, WebError> {
        let center = self.center.ok_or(WebError::Missing("a center"))?;
        let live = live::Live::new(self.event_buffer);
        for (a, t) in self.agents {
            live.add_agent(a, t);
        }
        for (q, t) in self.queues {
            live.add_queue(q, t);
        }
        for d in self.definitions {
            live.add_queue_definition(d);
        }
        tokio::spawn(live.clone().follow(center.subscribe()));
        let state = state::AppState(Arc::new(state::Inner {
            center,
            users: users::Users::new(self.users)?,
            sessions: sessions::Sessions::new(self.session_ttl),
            limiter: Mutex::new(limits::LoginLimiter::new(self.limits)),
            live,
            config: self.config,
            secure_cookies: self.secure_cookies,
            messages: self.messages,
            notifications: self.notifications,
            chat: self.chat.clone(),
            serving: self.serving,
            coaching: self.coaching,
        }));
        let (router, openapi) = api::build(state.clone());
        let mut router = router.merge(pages::routes()).merge(wallboard::routes());
        if let Some(hub) = self.chat {
            router = router.merge(chat::routes(hub));
        }
        Ok(WebApi {
            state,
            router,
            openapi,
        })
    }
}
