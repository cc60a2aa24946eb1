//! `POST /api/v1/admin/users/{id}/reset-link`: a one-time link to set a password
//! (`crate::accounts::admin::issue_reset_link`), shown to the administrator once and also
//! e-mailed through the outbox when the person has an e-mail address.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::admin;
use crate::http::auth::{Admins, CurrentUser, RequireRole};
use crate::http::error::ErrorBodySchema;
use crate::http::web::rfc3339;
use crate::http::{AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(reset_link))
}

#[derive(Serialize, ToSchema)]
pub struct ResetLink {
    /// The page that sets the password: a full address under `MEDCLAIM_PUBLIC_URL` when it is
    /// set, else a path on this server; shown once.
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Whether it was also queued as an e-mail to the person.
    pub emailed: bool,
}

/// Issues a reset link for an active person (any earlier one stops working) and queues it by
/// e-mail when there is an address on file. Answers the link and when it expires.
pub async fn issue(state: &AppState, admin: &CurrentUser, id: i64) -> AppResult<ResetLink> {
    let mut tx = state.db.begin().await?;
    let (person, token, expires_at) = admin::issue_reset_link(&mut tx, state, admin, id).await?;
    let path = admin::link_path(&token);
    let url = match state.settings.sso.public_url.as_deref() {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => path,
    };
    let mut emailed = false;
    if let Some(address) = person.email.as_deref() {
        let lang = crate::accounts::store::find_by_id(&mut *tx, id)
            .await?
            .map(|u| u.lang)
            .unwrap_or_else(|| "zh-CN".into());
        let (subject, text) = if lang == "en" {
            (
                "[medclaim] Set your password".to_string(),
                format!(
                    "An administrator sent you a link to set your medclaim password: {url}\n\
                     It works once, for 24 hours."
                ),
            )
        } else {
            (
                "【医保通】设置密码".to_string(),
                format!("管理员为您发送了设置密码的链接：{url}\n仅可使用一次，24 小时内有效。"),
            )
        };
        let payload = crate::notify::outbox::Payload {
            kind: "password_reset_link".into(),
            lang,
            subject,
            text,
            to_phone_enc: None,
        };
        let key = format!("reset_link:{id}:{expires_at}");
        emailed = crate::notify::outbox::enqueue_for_user(
            &mut tx,
            "email",
            id,
            Some(address),
            &payload,
            &key,
        )
        .await?
        .is_some();
    }
    tx.commit().await?;
    Ok(ResetLink {
        url,
        expires_at: rfc3339(expires_at),
        emailed,
    })
}

/// A one-time link (24 h) to set a password; 409 `conflict` for a deactivated person; 401
/// `reauth_required` without a fresh authentication.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/reset-link", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 201, body = ResetLink), (status = 401, body = ErrorBodySchema),
              (status = 403, body = ErrorBodySchema), (status = 404, body = ErrorBodySchema),
              (status = 409, body = ErrorBodySchema)))]
async fn reset_link(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
) -> AppResult<(StatusCode, Json<ResetLink>)> {
    admin.require_fresh_auth(&state)?;
    Ok((StatusCode::CREATED, Json(issue(&state, &admin, id).await?)))
}
