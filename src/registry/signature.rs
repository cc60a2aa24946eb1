//! Signed machine requests, both directions: `X-Medclaim-Key` (key id), `X-Medclaim-Timestamp`
//! (Unix seconds), `X-Medclaim-Nonce` (≤ 64 chars) and `X-Medclaim-Signature` = lowercase hex
//! HMAC-SHA256(secret, timestamp + "." + nonce + "." + raw body). Hospitals and insurers sign
//! what they send us; we sign what we send insurers the same way.

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::store::{self, Partner, PartnerKind};
use crate::db::{is_unique_violation, now_ms};
use crate::http::{AppError, AppState};

pub const KEY_HEADER: &str = "x-medclaim-key";
pub const TIMESTAMP_HEADER: &str = "x-medclaim-timestamp";
pub const NONCE_HEADER: &str = "x-medclaim-nonce";
pub const SIGNATURE_HEADER: &str = "x-medclaim-signature";

/// How far a request's timestamp may be from our clock, either way.
pub const WINDOW_SECS: i64 = 300;
const MAX_NONCE: usize = 64;

/// Lowercase hex HMAC-SHA256 of `timestamp.nonce.body`.
pub fn sign(secret: &str, timestamp: i64, nonce: &str, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, nonce, body).finalize().into_bytes())
}

fn mac(secret: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(nonce.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The four headers for an outbound request signed now with a fresh nonce.
pub fn outbound_headers(key_id: &str, secret: &str, body: &[u8]) -> [(&'static str, String); 4] {
    let timestamp = chrono::Utc::now().timestamp();
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let signature = sign(secret, timestamp, &nonce, body);
    [
        (KEY_HEADER, key_id.to_string()),
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (NONCE_HEADER, nonce),
        (SIGNATURE_HEADER, signature),
    ]
}

/// A request whose signature checked out, from this partner.
#[derive(Debug)]
pub struct Signed {
    pub partner: Partner,
}

fn bad_signature() -> AppError {
    AppError::new(
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        "Unknown key or wrong signature.",
    )
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
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Signed, AppError> {
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
    let now = chrono::Utc::now().timestamp();
    if (now - timestamp).abs() > WINDOW_SECS {
        return Err(stale());
    }
    let partner = store::find_by_key(&state.db.pool, &state.keys, kind, key_id)
        .await?
        .filter(|p| p.active && expected_id.is_none_or(|id| id == p.id))
        .ok_or_else(bad_signature)?;
    let given = hex::decode(sig).map_err(|_| bad_signature())?;
    // `verify_slice` compares in constant time.
    mac(&partner.secret, timestamp, nonce, body)
        .verify_slice(&given)
        .map_err(|_| bad_signature())?;
    remember_nonce(state, key_id, nonce).await?;
    Ok(Signed { partner })
}

fn stale() -> AppError {
    AppError::new(
        StatusCode::UNAUTHORIZED,
        "stale_signature",
        "The timestamp is more than 5 minutes away from our clock.",
    )
}

/// Records the nonce (409 `replay` when already there) and prunes nonces too old to matter: a
/// request is accepted only within the window of its timestamp, which was within the window of
/// when its nonce was first seen, so after twice the window (plus a minute) a replay is stale.
async fn remember_nonce(state: &AppState, key_id: &str, nonce: &str) -> Result<(), AppError> {
    let now = now_ms();
    let inserted =
        sqlx::query("INSERT INTO gateway_nonces (key_id, nonce, seen_at) VALUES ($1, $2, $3)")
            .bind(key_id)
            .bind(nonce)
            .bind(now)
            .execute(&state.db.pool)
            .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(AppError::conflict(
                "replay",
                "This nonce was used before; sign each request with a new one.",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let horizon = now - (2 * WINDOW_SECS + 60) * 1000;
    sqlx::query("DELETE FROM gateway_nonces WHERE seen_at < $1")
        .bind(horizon)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // Computed independently: printf '1700000000.abc.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign("secret", 1_700_000_000, "abc", b"{}"),
            "c298f98d541d2a5fa6efc81e6cfe35504abeb3847802a5791eeac7a19a12361b"
        );
    }
}
