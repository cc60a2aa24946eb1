//! Where a person's messages go: their e-mail address and language (`GET/PUT
//! /api/v1/me/contact`). The phone comes from the roster (changing it needs an SMS code, not
//! here).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Event};
use crate::db::now_ms;
use crate::http::auth::CurrentUser;
use crate::http::error::ErrorBodySchema;
use crate::http::{ApiJson, AppError, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_contact, put_contact))
}

#[derive(Serialize, ToSchema)]
pub struct Contact {
    /// E-mail notifications go here; `null`: none.
    pub email: Option<String>,
    /// Language of messages: `zh-CN` or `en`.
    pub lang: String,
    /// Whether SMS can reach this person (a phone number is on file).
    pub sms: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct ContactChange {
    /// A new address, or `null` / `""` for no e-mail.
    #[serde(default)]
    pub email: Option<String>,
    pub lang: Option<String>,
}

async fn load(state: &AppState, user_id: i64) -> AppResult<Contact> {
    let (email, lang, phone): (Option<String>, String, Option<String>) =
        sqlx::query_as("SELECT email, lang, phone_enc FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&state.db.pool)
            .await?;
    Ok(Contact {
        email,
        lang,
        sms: phone.is_some(),
    })
}

/// My message settings.
#[utoipa::path(get, path = "/api/v1/me/contact", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Contact), (status = 401, body = ErrorBodySchema)))]
async fn get_contact(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<Contact>> {
    Ok(Json(load(&state, user.id).await?))
}

/// Parses an address; `Ok(None)` for none.
pub fn parse_email(raw: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let valid = raw.len() <= 254
        && raw
            .parse::<lettre::Address>()
            .is_ok_and(|a| a.domain().contains('.'));
    if valid {
        Ok(Some(raw.to_string()))
    } else {
        Err(ErrorCode::InvalidEmail
            .with_message("The e-mail address is not valid.")
            .with_field("email", "invalid_email"))
    }
}

/// Change my e-mail address and message language.
#[utoipa::path(put, path = "/api/v1/me/contact", tag = "notifications", request_body = ContactChange, security(("bearer" = [])),
    responses((status = 200, body = Contact), (status = 422, body = ErrorBodySchema)))]
async fn put_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<ContactChange>,
) -> AppResult<Json<Contact>> {
    let email = parse_email(body.email.as_deref())?;
    let lang = match body.lang.as_deref() {
        None => None,
        Some(l @ ("zh-CN" | "en")) => Some(l.to_string()),
        Some(_) => {
            return Err(ErrorCode::InvalidInput
                .with_message("Unknown language.")
                .with_field("lang", "zh-CN or en"));
        }
    };
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "UPDATE users SET email = $1, lang = COALESCE($2, lang), updated_at = $3 WHERE id = $4",
    )
    .bind(email.as_deref())
    .bind(lang.as_deref())
    .bind(now_ms())
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    let summary = format!(
        "e-mail {}, language {}",
        if email.is_some() { "set" } else { "cleared" },
        lang.as_deref().unwrap_or("unchanged")
    );
    let event = Event {
        action: "user.contact",
        object_type: "user",
        object_id: user.id.to_string(),
        summary,
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(Json(load(&state, user.id).await?))
}
