//! The application: assembles every context's routes into one router with the OpenAPI
//! document, registers the background work of the contexts with the notification worker, and
//! runs the server. Nothing imports this module; it imports everything.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Settings;
use crate::crypto::Keys;
use crate::db::Db;
use crate::http::{AppError, AppState, middleware};
use crate::notify::worker::Worker;
use crate::notify::{Clock, SystemClock};

/// How long a stopping server waits for the outbox worker's tick in progress.
const WORKER_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long one call to an insurer may take before it counts as failed (and is retried).
const INSURER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The notification worker with every context's background work registered: the insurer
/// connector's jobs and the booking reminders.
pub fn worker(state: &AppState, clock: Arc<dyn Clock>) -> anyhow::Result<Worker> {
    let connector = crate::insurers::connector::Connector {
        db: state.db.clone(),
        keys: state.keys.clone(),
        time_zone: state.settings.time_zone,
        timeout: INSURER_TIMEOUT,
        urls: state.settings.partner_urls,
    };
    let reminders = crate::booking::reminders::Reminders {
        db: state.db.clone(),
        time_zone: state.settings.time_zone,
    };
    let forget = ForgetIdleAddresses {
        limiter: state.login_limiter.clone(),
        every: AtMostEvery::new(std::time::Duration::from_secs(600)),
    };
    let nonces = PruneNonces {
        db: state.db.clone(),
        every: AtMostEvery::new(std::time::Duration::from_secs(60)),
    };
    Ok(Worker::new(state, clock)?
        .with_job(Arc::new(connector))
        .with_task(Arc::new(reminders))
        .with_task(Arc::new(forget))
        .with_task(Arc::new(nonces)))
}

/// Lets housekeeping run at most once a `period` (its first call always runs).
struct AtMostEvery {
    period: std::time::Duration,
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl AtMostEvery {
    fn new(period: std::time::Duration) -> Self {
        Self {
            period,
            last: std::sync::Mutex::new(None),
        }
    }

    /// Whether the period has passed since the last run; if so, this call is the run.
    fn due(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < self.period) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        true
    }
}

/// Clears the shared sign-in buckets that have refilled, every ten minutes at most (a task of
/// the instance leading the background work).
struct ForgetIdleAddresses {
    limiter: Arc<crate::http::limiter::SignInLimiter>,
    every: AtMostEvery,
}

impl crate::notify::worker::PeriodicTask for ForgetIdleAddresses {
    fn run(&self, _now_ms: i64) -> futures_util::future::BoxFuture<'_, anyhow::Result<usize>> {
        Box::pin(async move {
            if !self.every.due() {
                return Ok(0);
            }
            let forgotten = self.limiter.forget_idle().await?;
            if forgotten > 0 {
                tracing::info!(forgotten, "idle sign-in limits forgotten");
            }
            // Housekeeping, not work done: the worker's pace is unchanged.
            Ok(0)
        })
    }
}

/// Forgets the partners' request nonces too old to replay, every minute at most (kept off the
/// push itself, which would otherwise pay a second write each time).
struct PruneNonces {
    db: Db,
    every: AtMostEvery,
}

impl crate::notify::worker::PeriodicTask for PruneNonces {
    fn run(&self, now_ms: i64) -> futures_util::future::BoxFuture<'_, anyhow::Result<usize>> {
        Box::pin(async move {
            if !self.every.due() {
                return Ok(0);
            }
            let pruned = crate::registry::signature::prune_nonces(&self.db, now_ms).await?;
            if pruned > 0 {
                tracing::debug!(pruned, "stale request nonces pruned");
            }
            Ok(0)
        })
    }
}

/// Every page: the shells and each context's pages.
fn page_routes() -> Router<AppState> {
    Router::new()
        .route("/app", get(crate::claims::pages::home))
        .merge(crate::http::web::router())
        .merge(crate::accounts::pages::router())
        .merge(crate::profile::staff_pages::router())
        .merge(crate::review::pages::router())
        .merge(crate::claims::pages::router())
        .merge(crate::profile::pages::router())
        .merge(crate::profile::reset_pages::router())
        .merge(crate::profile::activation_pages::router())
        .merge(crate::support::pages::router())
        .merge(crate::support::console_pages::router())
        .merge(crate::booking::pages::router())
        .merge(crate::notify::pages::router())
        .merge(crate::audit::pages::router())
        .merge(crate::policy::pages::router())
        .merge(crate::hospitals::pages::router())
        .merge(crate::branding::pages::router())
        .merge(crate::notices::pages::router())
        .merge(crate::registry::pages::router())
        .merge(crate::roster::pages::router())
        .merge(crate::reports::pages::router())
        .merge(crate::ledger::pages::router())
        .merge(crate::payouts::pages::router())
        .merge(crate::sso::router())
}

/// Unknown paths: the JSON error under `/api/`, the not-found page elsewhere.
async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        AppError::not_found().into_response()
    } else {
        crate::http::web::not_found_page(&req)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "medclaim API", version = "1", description = "Medical reimbursement and insurance claims (SPEC §11)."),
    components(schemas(crate::http::error::ErrorBodySchema)),
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
    api_contexts()
        .into_iter()
        .fold(OpenApiRouter::with_openapi(ApiDoc::openapi()), |all, r| {
            all.merge(r)
        })
}

/// Each context's API routes (merged by `api_routes`; checked one by one by `schema_clashes`).
fn api_contexts() -> Vec<OpenApiRouter<AppState>> {
    vec![
        crate::accounts::admin_api::router(),
        crate::accounts::api::router(),
        crate::accounts::passkeys_api::router(),
        crate::accounts::self_api::router(),
        crate::audit::api::router(),
        crate::review::api::router(),
        crate::notices::admin::router(),
        crate::claims::api::router(),
        crate::hospitals::api::router(),
        crate::branding::api::router(),
        crate::storage::api::router(),
        crate::notices::api::router(),
        crate::notify::inbox::router(),
        crate::profile::api::router(),
        crate::profile::reset_link::router(),
        crate::support::api::router(),
        crate::booking::api::router(),
        crate::notify::api_router(),
        crate::registry::api::router(),
        crate::gateway::api::router(),
        crate::insurers::api::router(),
        crate::ledger::api::router(),
        crate::payouts::api::router(),
        crate::reports::api::router(),
        crate::roster::api::router(),
    ]
}

/// Schema names two contexts define differently: merged, only one of them would be published.
pub fn schema_clashes() -> Vec<String> {
    let mut seen = std::collections::BTreeMap::<String, serde_json::Value>::new();
    let mut clashes = Vec::new();
    for routes in api_contexts() {
        let (_, doc) = routes.split_for_parts();
        for (name, schema) in doc.components.map(|c| c.schemas).unwrap_or_default() {
            let schema = serde_json::to_value(&schema).expect("a schema serialises");
            match seen.get(&name) {
                Some(earlier) if *earlier != schema => clashes.push(name),
                Some(_) => {}
                None => {
                    seen.insert(name, schema);
                }
            }
        }
    }
    clashes
}

/// The published OpenAPI document (what `/api/v1/openapi.json` answers).
pub fn openapi_document() -> serde_json::Value {
    let (_, doc) = api_routes().split_for_parts();
    crate::http::openapi::document(&doc)
}

/// The whole application as a router (used by the server and by router-level tests).
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api_routes().split_for_parts();
    let openapi = Arc::new(crate::http::openapi::document(&openapi));
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
        .merge(page_routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::access::enforce,
        ))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::text::refuse_nul,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(middleware::api_json_errors))
        .layer(axum::middleware::map_response(
            crate::http::budget::retry_after,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::resolve_client_addr,
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
        // Medical content written before sealing existed is sealed before anything is served.
        crate::seal::migrate::seal_existing(
            &db,
            &keys,
            &settings.data_dir,
            crate::storage::path_of,
        )
        .await?;
        Self::build_with(settings, db, keys).await
    }

    pub async fn build_with(settings: Settings, db: Db, keys: Keys) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let files = settings.file_store()?;
        Ok(Application {
            listener,
            port,
            state: AppState::new(db, keys, settings, files),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM, then stops taking connections, answers the requests in
    /// flight, lets the outbox worker finish its tick and gives up background leadership.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let worker = if self.state.settings.notify.worker {
            match worker(&self.state, Arc::new(SystemClock)) {
                Ok(worker) => Some(worker.spawn()),
                Err(e) => {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "outbox worker not started: bad channel settings"
                    );
                    None
                }
            }
        } else {
            None
        };
        let sweeper = crate::storage::spawn_sweeper(
            self.state.db.clone(),
            self.state.files.clone(),
            self.state.leadership.clone(),
        );
        let db = self.state.db.clone();
        let sealer = crate::audit::spawn_sealer(db.clone());
        let leadership = self.state.leadership.clone();
        let app = router(self.state);
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await;
        // Requests in flight have been answered; the delivery in progress finishes too.
        if let Some(worker) = worker {
            worker.stop(WORKER_GRACE).await;
        }
        sweeper.abort();
        sealer.abort();
        // What was written before the stop is sealed now rather than by the next start.
        if let Err(e) = crate::audit::seal(&db).await {
            tracing::warn!(error = %e, "sealing audit events at shutdown");
        }
        leadership.resign().await;
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
