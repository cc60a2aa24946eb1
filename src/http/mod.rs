//! Shared HTTP plumbing: state, errors, extractors (who is asking, with which role) and
//! middleware. It imports no bounded context; the application that assembles the contexts
//! is `crate::app`.

pub mod access;
pub mod auth;
pub mod budget;
pub mod error;
pub mod error_code;
pub mod json;
pub mod limiter;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod text;
pub mod web;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use error::{AppError, AppResult};
pub use error_code::ErrorCode;
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
    /// Login attempts per client address: in the database on PostgreSQL, so the limit holds
    /// across instances (as does the per-account lockout); in this process on SQLite.
    pub login_limiter: Arc<limiter::SignInLimiter>,
    /// Activation codes sent per client address; per process, like the sign-in limit.
    pub activation_limiter: Arc<limiter::AddressLimiter>,
    /// Uploads per account; per process, like the address limit.
    pub upload_limiter: Arc<limiter::KeyedLimiter<i64>>,
    /// Invoice QR scans per account (they store nothing); per process, like uploads.
    pub scan_limiter: Arc<limiter::KeyedLimiter<i64>>,
    /// Bounds the memory image decoding may take, across all requests.
    pub decodes: Arc<budget::DecodeBudget>,
    /// Where uploads are stored (sealed): a directory or an S3-compatible bucket.
    pub files: crate::db::FileStore,
    /// Whether this instance leads the once-per-cluster background work.
    pub leadership: crate::db::lease::Leadership,
}

impl AppState {
    pub fn new(db: Db, keys: Keys, settings: Settings, files: crate::db::FileStore) -> AppState {
        let logins = limiter::LimiterSettings {
            per_minute: settings.login_per_minute,
            burst: settings.login_burst,
        };
        let activations = limiter::LimiterSettings {
            per_minute: settings.activation_per_minute,
            burst: settings.activation_burst,
        };
        let uploads = limiter::LimiterSettings {
            per_minute: settings.uploads_per_minute,
            burst: settings.upload_burst,
        };
        let scans = limiter::LimiterSettings {
            per_minute: settings.scans_per_minute,
            burst: settings.scan_burst,
        };
        let metrics = Arc::new(metrics::Metrics::default());
        let login_limiter = Arc::new(limiter::SignInLimiter::new(logins, &db));
        AppState {
            leadership: crate::db::lease::Leadership::new(db.clone(), metrics.leader.clone()),
            db,
            keys,
            metrics,
            login_limiter,
            activation_limiter: Arc::new(limiter::AddressLimiter::new(activations)),
            upload_limiter: Arc::new(limiter::KeyedLimiter::new(uploads)),
            scan_limiter: Arc::new(limiter::KeyedLimiter::new(scans)),
            decodes: Arc::new(budget::DecodeBudget::new(settings.image_decodes)),
            files,
            settings: Arc::new(settings),
        }
    }
}

/// The client's address, as [`resolve_client_addr`] found it.
#[derive(Clone, Copy, Debug)]
struct ClientAddr(IpAddr);

/// The client's address: the connection's peer, or — when the peer is a trusted proxy — the
/// address that proxy put in `X-Forwarded-For`.
pub fn client_ip(parts: &axum::http::request::Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ClientAddr>()
        .map(|c| c.0)
        .or_else(|| {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
}

/// The client behind a chain of proxies: `X-Forwarded-For` read from the right, skipping the
/// trusted proxies; the first address that is not one is the client. A client can write
/// anything in the header itself, so only what trusted proxies appended is believed, and an
/// untrusted peer's header is ignored altogether.
pub fn forwarded_client(peer: IpAddr, forwarded_for: &[&str], trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Garbage in the chain: the last address believed stands.
            Err(_) => break,
        }
    }
    client
}

pub async fn resolve_client_addr(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let trusted = &state.settings.trusted_proxies;
        let client = if trusted.is_empty() {
            peer
        } else {
            let headers: Vec<&str> = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            forwarded_client(peer, &headers, trusted)
        };
        req.extensions_mut().insert(ClientAddr(client));
    }
    next.run(req).await
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

#[cfg(test)]
mod tests {
    use super::forwarded_client;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = crate::config::parse_networks("10.0.0.0/8, 192.0.2.7");
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        // An untrusted peer cannot choose its address.
        assert_eq!(
            forwarded_client(ip("198.51.100.1"), &["1.2.3.4"], &trusted),
            ip("198.51.100.1")
        );
        // Behind the proxy: the address it appended.
        assert_eq!(
            forwarded_client(ip("10.0.0.5"), &["203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        // A client's own forged entry sits left of what the proxies appended.
        assert_eq!(
            forwarded_client(
                ip("10.0.0.5"),
                &["6.6.6.6, 203.0.113.9, 192.0.2.7"],
                &trusted
            ),
            ip("203.0.113.9")
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(
            forwarded_client(ip("10.0.0.5"), &[], &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            forwarded_client(ip("10.0.0.5"), &["not-an-ip"], &trusted),
            ip("10.0.0.5")
        );
    }
}
