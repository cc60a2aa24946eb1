//! Signed machine requests, both directions: `X-Medclaim-Key` (key id), `X-Medclaim-Timestamp`
//! (Unix seconds), `X-Medclaim-Nonce` (≤ 64 chars) and `X-Medclaim-Signature` = lowercase hex
//! HMAC-SHA256(secret, method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + raw body).
//! The method and path are signed so a signature for one endpoint cannot be replayed at
//! another. Hospitals and insurers sign what they send us (checked by the `Signed<Hospital>` /
//! `Signed<Insurer>` extractors); we sign what we send insurers the same way.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::store::{self, Partner, PartnerKind};
use crate::db::{is_unique_violation, now_ms};
use crate::http::{AppError, AppState, ErrorCode};

pub const KEY_HEADER: &str = "x-medclaim-key";
pub const TIMESTAMP_HEADER: &str = "x-medclaim-timestamp";
pub const NONCE_HEADER: &str = "x-medclaim-nonce";
pub const SIGNATURE_HEADER: &str = "x-medclaim-signature";

/// How far a request's timestamp may be from our clock, either way.
pub const WINDOW_SECS: i64 = 300;
const MAX_NONCE: usize = 64;

/// Lowercase hex HMAC-SHA256 of `method\npath\ntimestamp\nnonce\nbody`.
pub fn sign(
    secret: &str,
    method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    hex::encode(
        mac(secret, method, path, timestamp, nonce, body)
            .finalize()
            .into_bytes(),
    )
}

fn mac(
    secret: &str,
    method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    for part in [method, path, &timestamp.to_string(), nonce] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac.update(body);
    mac
}

/// The four headers for an outbound `method` request to `path` (the URL's path), signed now
/// with a fresh nonce.
pub fn outbound_headers(
    key_id: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> [(&'static str, String); 4] {
    let timestamp = chrono::Utc::now().timestamp();
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let signature = sign(secret, method, path, timestamp, &nonce, body);
    [
        (KEY_HEADER, key_id.to_string()),
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (NONCE_HEADER, nonce),
        (SIGNATURE_HEADER, signature),
    ]
}

/// Which kind of partner an extractor admits.
pub trait PartnerRole {
    const KIND: PartnerKind;
}

/// A hospital's front server.
pub struct Hospital;
impl PartnerRole for Hospital {
    const KIND: PartnerKind = PartnerKind::Hospital;
}

/// An insurer; its webhooks name it in the path (`/api/v1/insurers/{id}/…`), and a request
/// signed with another insurer's key is refused.
pub struct Insurer;
impl PartnerRole for Insurer {
    const KIND: PartnerKind = PartnerKind::Insurer;
}

/// A request whose signature checked out, from a partner of kind `K`, with its raw body (what
/// was signed). Refusals are the JSON error body: 401 `bad_signature` / `stale_signature`,
/// 409 `replay`, 413 for a body over the limit.
#[derive(Debug)]
pub struct Signed<K> {
    pub partner: Partner,
    pub body: Bytes,
    kind: PhantomData<K>,
}

impl<K: PartnerRole + Send + Sync> FromRequest<AppState> for Signed<K> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let headers = req.headers().clone();
        // Insurer webhooks carry the insurer's id in the path: `/api/v1/insurers/{id}/…`.
        let expected_id = match K::KIND {
            PartnerKind::Hospital => None,
            PartnerKind::Insurer => Some(
                path.strip_prefix("/api/v1/insurers/")
                    .and_then(|rest| rest.split('/').next())
                    .and_then(|id| id.parse::<i64>().ok())
                    .ok_or_else(AppError::not_found)?,
            ),
        };
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                crate::http::json::payload_too_large()
            } else {
                crate::http::ErrorCode::MalformedBody
                    .with_message("The request body could not be read.")
            }
        })?;
        let partner = verify(state, K::KIND, expected_id, &method, &path, &headers, &body).await?;
        Ok(Signed {
            partner,
            body,
            kind: PhantomData,
        })
    }
}

fn bad_signature() -> AppError {
    ErrorCode::BadSignature.with_message("Unknown key or wrong signature.")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Checks a signed request from a partner of `kind` (and, for insurer webhooks, that it is the
/// insurer named in the path). Order: headers present, timestamp fresh (401
/// `stale_signature`), key known and active and signature right (401 `bad_signature`, the
/// comparison in constant time), nonce never seen (409 `replay`; recorded in the database so
/// it holds across instances).
pub async fn verify(
    state: &AppState,
    kind: PartnerKind,
    expected_id: Option<i64>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Partner, AppError> {
    let (Some(key_id), Some(ts), Some(nonce), Some(sig)) = (
        header(headers, KEY_HEADER),
        header(headers, TIMESTAMP_HEADER),
        header(headers, NONCE_HEADER),
        header(headers, SIGNATURE_HEADER),
    ) else {
        return Err(bad_signature());
    };
    if key_id.is_empty() || key_id.len() > 64 || nonce.is_empty() || nonce.len() > MAX_NONCE {
        return Err(bad_signature());
    }
    let timestamp: i64 = ts.parse().map_err(|_| bad_signature())?;
    if !fresh(chrono::Utc::now().timestamp(), timestamp) {
        return Err(stale());
    }
    let partner = store::find_by_key(&state.db.pool, &state.keys, kind, key_id)
        .await?
        .filter(|p| p.active && expected_id.is_none_or(|id| id == p.id))
        .ok_or_else(bad_signature)?;
    let given = hex::decode(sig).map_err(|_| bad_signature())?;
    // `verify_slice` compares in constant time.
    mac(
        &partner.secret,
        method.as_str(),
        path,
        timestamp,
        nonce,
        body,
    )
    .verify_slice(&given)
    .map_err(|_| bad_signature())?;
    remember_nonce(state, key_id, nonce).await?;
    Ok(partner)
}

/// Within the window of our clock; any `i64` is safe (no overflow at the extremes).
fn fresh(now: i64, timestamp: i64) -> bool {
    now.checked_sub(timestamp)
        .and_then(i64::checked_abs)
        .is_some_and(|d| d <= WINDOW_SECS)
}

fn stale() -> AppError {
    ErrorCode::StaleSignature
        .with_message("The timestamp is more than 5 minutes away from our clock.")
}

/// Records the nonce (409 `replay` when already there). [`prune_nonces`] forgets the old ones.
async fn remember_nonce(state: &AppState, key_id: &str, nonce: &str) -> Result<(), AppError> {
    let now = now_ms();
    let inserted =
        sqlx::query("INSERT INTO gateway_nonces (key_id, nonce, seen_at) VALUES ($1, $2, $3)")
            .bind(key_id)
            .bind(nonce)
            .bind(now)
            .execute(&state.db.writer)
            .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(ErrorCode::Replay
                .with_message("This nonce was used before; sign each request with a new one."));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Deletes the nonces too old to matter (answers how many): a request is accepted only within
/// the window of its timestamp, which was within the window of when its nonce was first seen,
/// so after twice the window (plus a minute) a replay is stale anyway. Run now and then by the
/// instance leading the background work.
pub async fn prune_nonces(db: &crate::db::Db, now: i64) -> sqlx::Result<u64> {
    let horizon = now - (2 * WINDOW_SECS + 60) * 1000;
    let done = sqlx::query("DELETE FROM gateway_nonces WHERE seen_at < $1")
        .bind(horizon)
        .execute(&db.writer)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // Computed independently:
        // printf 'POST\n/api/v1/gateway/visits\n1700000000\nabc\n{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign(
                "secret",
                "POST",
                "/api/v1/gateway/visits",
                1_700_000_000,
                "abc",
                b"{}"
            ),
            "7e58f856164ae7bd926172146331d292ce3f64d26b0582dd472142b1fcdcf46d"
        );
    }

    #[test]
    fn freshness_cannot_overflow() {
        assert!(fresh(1_700_000_000, 1_700_000_100));
        assert!(!fresh(1_700_000_000, 1_700_000_400));
        assert!(!fresh(1_700_000_000, i64::MIN));
        assert!(!fresh(1_700_000_000, i64::MAX));
        assert!(!fresh(i64::MIN, i64::MAX));
    }
}
