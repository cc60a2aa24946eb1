//! Shared HTTP plumbing: state, errors, extractors, middleware and the application itself.

pub mod error;
pub mod json;
pub mod metrics;
mod middleware;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use error::{AppError, AppResult};
pub use json::ApiJson;

use crate::config::Settings;
use crate::crypto::Keys;
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: Keys,
    pub settings: Arc<Settings>,
    pub metrics: Arc<metrics::Metrics>,
    /// Login attempts per client address; per process (the per-account lockout is in the
    /// database, so it holds across instances).
    pub login_limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl AppState {
    pub fn new(db: Db, keys: Keys, settings: Settings) -> AppState {
        let per_minute = NonZeroU32::new(settings.login_per_minute.max(1)).expect("non-zero");
        AppState {
            db,
            keys,
            metrics: Arc::new(metrics::Metrics::default()),
            login_limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            settings: Arc::new(settings),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "medclaim API", version = "1", description = "Medical reimbursement and insurance claims (SPEC §11)."),
    components(schemas(error::ErrorBodySchema)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every JSON API route, with its OpenAPI description.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::accounts::api::router())
        .merge(crate::audit::api::router())
        .merge(crate::review::api::router())
        .merge(crate::notices::admin::router())
        .merge(crate::claims::api::router())
        .merge(crate::storage::api::router())
        .merge(crate::notices::api::router())
        .merge(crate::notify::inbox::router())
        .merge(crate::profile::api::router())
        .merge(crate::support::api::router())
        .merge(crate::booking::api::router())
        .merge(crate::notify::api_router())
        .merge(crate::registry::api::router())
        .merge(crate::gateway::api::router())
        .merge(crate::insurers::api::router())
        .merge(crate::ledger::api::router())
        .merge(crate::reports::api::router())
        .merge(crate::roster::api::router())
}

/// The whole application as a router (used by the server and by router-level tests).
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api_routes().split_for_parts();
    let openapi = Arc::new(openapi);
    let max_body = state.settings.max_json_bytes;
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(middleware::ops_router())
        .merge(crate::web::router())
        .fallback(middleware::not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .with_state(state)
}

/// The server: bound, migrated, ready to run.
pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let (db, keys) = settings.open().await?;
        Self::build_with(settings, db, keys).await
    }

    pub async fn build_with(settings: Settings, db: Db, keys: Keys) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        Ok(Application {
            listener,
            port,
            state: AppState::new(db, keys, settings),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM, then lets requests in flight finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let worker = crate::notify::worker::spawn(&self.state);
        let app = router(self.state);
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await;
        if let Some(worker) = worker {
            worker.abort();
        }
        served?;
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// The client's address as seen on the connection (a proxy's, behind one).
pub fn client_ip(parts: &axum::http::request::Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The client's address, when the server was started with connection info.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}
