//! `/app/me`: own profile (personal data masked), the phone change, the password change and
//! the list of one's sessions (sign out one, or all the others).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts::sessions::{self, OwnSession};
use crate::accounts::store as users;
use crate::crypto::{mask_id_number, mask_phone};
use crate::http::auth::CsrfForm;
use crate::http::auth::CurrentUser;
use crate::http::web::{PageUser, Tr, render};
use crate::http::{AppError, AppState, ClientIp};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/me", get(profile))
        .route("/app/me/phone/code", post(send_code))
        .route("/app/me/phone", post(apply_code))
        .route("/app/me/password", post(change_password))
        .route("/app/me/sessions/{id}/revoke", post(revoke_session))
        .route("/app/me/sessions/revoke-others", post(revoke_others))
}

/// Which card a notice or an error belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    Phone,
    Password,
    Sessions,
}

/// A session as "我的" lists it.
struct SessionLine {
    id: i64,
    device: String,
    created: String,
    last_seen: String,
    current: bool,
}

fn session_line(state: &AppState, tr: Tr, s: OwnSession) -> SessionLine {
    let local = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| {
                t.with_timezone(&state.settings.time_zone)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    };
    SessionLine {
        id: s.id,
        device: s.device.unwrap_or_else(|| tr.t("account.unknown_device")),
        created: local(s.created_at),
        last_seen: local(s.last_seen_at),
        current: s.current,
    }
}

#[derive(Template)]
#[template(path = "student/profile.html")]
struct Profile<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    /// Where `notice` and `error` show.
    card: Card,
    class_name: String,
    enrolment: String,
    phone_masked: String,
    id_number_masked: String,
    notice: Option<String>,
    error: Option<String>,
    /// WeChat bound for sign-on (SPEC §13); "我的" can unbind it.
    wechat_bound: bool,
    sessions: Vec<SessionLine>,
}

async fn page(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    card: Card,
    notice: Option<String>,
    error: Option<AppError>,
) -> Response {
    let row = match users::find_by_id(&state.db.pool, user.id).await {
        Ok(Some(row)) => row,
        Ok(None) => return crate::claims::pages::error_page(tr, user, AppError::not_found()),
        Err(e) => return crate::claims::pages::error_page(tr, user, e.into()),
    };
    let sessions = match sessions::list(state, user).await {
        Ok(list) => list
            .into_iter()
            .map(|s| session_line(state, tr, s))
            .collect(),
        Err(e) => return crate::claims::pages::error_page(tr, user, e),
    };
    let status = error
        .as_ref()
        .map(|e| e.status)
        .unwrap_or(axum::http::StatusCode::OK);
    let page = Profile {
        tr,
        user,
        tab: "me",
        card,
        class_name: row.class_name.clone().unwrap_or_default(),
        enrolment: tr.t(&format!("intake.enrolment_{}", row.enrolment_status)),
        phone_masked: users::open_phone(&state.keys, &row)
            .map(|p| mask_phone(&p))
            .unwrap_or_default(),
        id_number_masked: users::open_id_number(&state.keys, &row)
            .map(|i| mask_id_number(&i))
            .unwrap_or_default(),
        notice,
        error: error.map(|e| crate::claims::pages::message(&tr, &e)),
        wechat_bound: crate::sso::pages::wechat_bound(state, user.id).await,
        sessions,
    };
    (status, render(&page)).into_response()
}

async fn profile(State(state): State<AppState>, tr: Tr, PageUser(user): PageUser) -> Response {
    page(&state, tr, &user, Card::Phone, None, None).await
}

#[derive(Deserialize)]
struct PhoneForm {
    #[serde(default)]
    phone: String,
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn send_code(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, form: f }: CsrfForm<PhoneForm>,
) -> Response {
    match super::phone::request_code(&state, &user, &f.phone).await {
        Ok(masked) => {
            page(
                &state,
                tr,
                &user,
                Card::Phone,
                Some(format!("{} {masked}", tr.t("intake.code_sent"))),
                None,
            )
            .await
        }
        Err(e) => page(&state, tr, &user, Card::Phone, None, Some(e)).await,
    }
}

async fn apply_code(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, form: f }: CsrfForm<CodeForm>,
) -> Response {
    match super::phone::apply_code(&state, &user, &f.code).await {
        Ok(_) => {
            let notice = Some(tr.t("intake.phone_changed"));
            page(&state, tr, &user, Card::Phone, notice, None).await
        }
        Err(e) => page(&state, tr, &user, Card::Phone, None, Some(e)).await,
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    tr: Tr,
    ClientIp(ip): ClientIp,
    CsrfForm { user, form: f }: CsrfForm<PasswordForm>,
) -> Response {
    let changed =
        crate::accounts::password::change(&state, &user, &f.current_password, &f.new_password, ip)
            .await;
    match changed {
        Ok(()) => {
            let notice = Some(tr.t("account.password_changed"));
            page(&state, tr, &user, Card::Password, notice, None).await
        }
        Err(mut e) => {
            // The person is signed in; a wrong current password is a form error here (401
            // would read as "signed out").
            if e.status == axum::http::StatusCode::UNAUTHORIZED {
                e.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            }
            page(&state, tr, &user, Card::Password, None, Some(e)).await
        }
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
struct NoFields {}

async fn revoke_session(
    State(state): State<AppState>,
    tr: Tr,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Response {
    match sessions::revoke(&state, &user, id).await {
        // Ending the session this page came with is signing out.
        Ok(()) if id == user.session_id => Redirect::to("/login").into_response(),
        Ok(()) => {
            let notice = Some(tr.t("account.session_signed_out"));
            page(&state, tr, &user, Card::Sessions, notice, None).await
        }
        Err(e) => page(&state, tr, &user, Card::Sessions, None, Some(e)).await,
    }
}

async fn revoke_others(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Response {
    match sessions::revoke_others(&state, &user).await {
        Ok(_) => {
            let notice = Some(tr.t("account.others_signed_out"));
            page(&state, tr, &user, Card::Sessions, notice, None).await
        }
        Err(e) => page(&state, tr, &user, Card::Sessions, None, Some(e)).await,
    }
}
