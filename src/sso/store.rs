//! SQL for sign-on: flows in progress, used tickets/codes, WeChat bindings.

use sqlx::{Any, Executor, FromRow};

use crate::crypto::sha256_hex;
use crate::db::{Tx, now_ms};

/// How long a sign-on may take at the provider.
pub const FLOW_TTL_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Clone, FromRow)]
pub struct Flow {
    pub provider: String,
    pub nonce: Option<String>,
    pub pkce_verifier: Option<String>,
    pub next_path: String,
    pub bind_user_id: Option<i64>,
    pub expires_at: i64,
}

pub struct NewFlow<'a> {
    pub state: &'a str,
    pub provider: &'a str,
    pub nonce: Option<&'a str>,
    pub pkce_verifier: Option<&'a str>,
    pub next_path: &'a str,
    pub bind_user_id: Option<i64>,
}

pub async fn create_flow<'e>(
    exec: impl Executor<'e, Database = Any> + Copy,
    flow: NewFlow<'_>,
) -> sqlx::Result<()> {
    let now = now_ms();
    sqlx::query("DELETE FROM sso_flows WHERE expires_at < $1")
        .bind(now)
        .execute(exec)
        .await?;
    sqlx::query(
        "INSERT INTO sso_flows (state_hash, provider, nonce, pkce_verifier, next_path, bind_user_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(sha256_hex(flow.state.as_bytes()))
    .bind(flow.provider)
    .bind(flow.nonce)
    .bind(flow.pkce_verifier)
    .bind(flow.next_path)
    .bind(flow.bind_user_id)
    .bind(now)
    .bind(now + FLOW_TTL_MS)
    .execute(exec)
    .await?;
    Ok(())
}

/// Takes (deletes) the flow of `state`: a state works once. `None` when unknown, used or expired.
pub async fn take_flow(tx: &mut Tx, state: &str) -> sqlx::Result<Option<Flow>> {
    let flow = sqlx::query_as::<_, Flow>(
        "DELETE FROM sso_flows WHERE state_hash = $1
         RETURNING provider, nonce, pkce_verifier, next_path, bind_user_id, expires_at",
    )
    .bind(sha256_hex(state.as_bytes()))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(flow.filter(|f| f.expires_at >= now_ms()))
}

/// Records a ticket or code as used; `false` when it was presented before.
pub async fn use_ticket(tx: &mut Tx, provider: &str, ticket: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO sso_tickets (ticket_hash, provider, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(sha256_hex(format!("{provider}|{ticket}").as_bytes()))
    .bind(provider)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_ticket_session<'e>(
    exec: impl Executor<'e, Database = Any>,
    provider: &str,
    ticket: &str,
    session_id: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE sso_tickets SET session_id = $1 WHERE ticket_hash = $2")
        .bind(session_id)
        .bind(sha256_hex(format!("{provider}|{ticket}").as_bytes()))
        .execute(exec)
        .await?;
    Ok(())
}

pub async fn session_of_ticket<'e>(
    exec: impl Executor<'e, Database = Any>,
    provider: &str,
    ticket: &str,
) -> sqlx::Result<Option<i64>> {
    let id: Option<Option<i64>> =
        sqlx::query_scalar("SELECT session_id FROM sso_tickets WHERE ticket_hash = $1")
            .bind(sha256_hex(format!("{provider}|{ticket}").as_bytes()))
            .fetch_optional(exec)
            .await?;
    Ok(id.flatten())
}

pub async fn user_of_openid<'e>(
    exec: impl Executor<'e, Database = Any>,
    openid: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT user_id FROM wechat_bindings WHERE openid = $1")
        .bind(openid)
        .fetch_optional(exec)
        .await
}

pub async fn is_bound<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: i64,
) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wechat_bindings WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(exec)
        .await?;
    Ok(n > 0)
}

/// Binds `openid` to the user, replacing the user's earlier binding; `false` when the openid is
/// bound to someone else.
pub async fn bind(tx: &mut Tx, user_id: i64, openid: &str) -> sqlx::Result<bool> {
    if let Some(other) = user_of_openid(&mut **tx, openid).await? {
        return Ok(other == user_id);
    }
    sqlx::query("DELETE FROM wechat_bindings WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO wechat_bindings (openid, user_id, bound_at) VALUES ($1, $2, $3)")
        .bind(openid)
        .bind(user_id)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

pub async fn unbind(tx: &mut Tx, user_id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM wechat_bindings WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}
