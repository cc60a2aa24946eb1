//! Structured logs. Spans and events carry ids, routes and codes — never personal or
//! medical data.

use tracing_subscriber::EnvFilter;

/// JSON lines when `MEDCLAIM_LOG_FORMAT=json`, readable text otherwise; level from `RUST_LOG`.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = std::env::var("MEDCLAIM_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
